// Unit tests of the attnroll tool's file formats (formats/: npy, npz, png) and
// io/ (atomic files, ranged reads):
// round trips, hand-made .npy images of every header variant, each malformed
// case with its message, .npz reading and atomic writing, PNG encoding.
// Usage: test_formats [DIR]   (files go to a fresh directory under DIR, default /tmp)

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <zlib.h>

#include "cli_error.hpp"
#include "formats/npy.hpp"
#include "formats/npz.hpp"
#include "io/atomic_file.hpp"
#include "io/crc32.hpp"
#include "io/file_map.hpp"
#include "io/file_read.hpp"
#include "outputs.hpp"
#include "parallel_for.hpp"
#include "formats/png.hpp"

namespace {

int g_passed = 0, g_failed = 0;

void check(bool ok, const char *what, int line) {
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::printf("FAIL line %d: %s\n", line, what);
    }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

// Runs f, expecting cli::Error whose message contains `needle`.
void expect_error(const std::function<void()> &f, const std::string &needle, int line) {
    try {
        f();
        ++g_failed;
        std::printf("FAIL line %d: no error (expected one containing \"%s\")\n", line, needle.c_str());
    } catch (const cli::Error &e) {
        if (std::string(e.what()).find(needle) != std::string::npos) {
            ++g_passed;
        } else {
            ++g_failed;
            std::printf("FAIL line %d: message \"%s\" lacks \"%s\"\n", line, e.what(), needle.c_str());
        }
    } catch (const std::exception &e) {
        ++g_failed;
        std::printf("FAIL line %d: wrong exception type: %s\n", line, e.what());
    }
}
#define EXPECT_ERROR(expr, needle) expect_error([&] { expr; }, needle, __LINE__)

using Bytes = std::vector<unsigned char>;

// A .npy image: magic, version, header dict (padded to 16 and ended with
// '\n' unless raw), data.
Bytes make_npy(int major, const std::string &dict, const Bytes &data, bool raw_header = false) {
    std::string header = dict;
    const size_t prefix = major == 1 ? 10 : 12;
    if (!raw_header) {
        size_t total = prefix + header.size() + 1;
        header.append((16 - total % 16) % 16, ' ');
        header += '\n';
    }
    Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<unsigned char>(major), 0};
    const size_t n = header.size();
    out.push_back(static_cast<unsigned char>(n & 0xff));
    out.push_back(static_cast<unsigned char>((n >> 8) & 0xff));
    if (major != 1) {
        out.push_back(static_cast<unsigned char>((n >> 16) & 0xff));
        out.push_back(static_cast<unsigned char>((n >> 24) & 0xff));
    }
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

template <typename T>
Bytes bytes_of(const std::vector<T> &v) {
    Bytes b(v.size() * sizeof(T));
    if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

template <typename T>
T element(const cli::Array &a, int64_t offset) {
    T v;
    std::memcpy(&v, static_cast<const unsigned char *>(a.data()) + offset * static_cast<int64_t>(sizeof(T)), sizeof(T));
    return v;
}

bool file_exists(const std::string &p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}

Bytes read_file(const std::string &p) {
    Bytes b;
    if (std::FILE *f = std::fopen(p.c_str(), "rb")) {
        unsigned char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) b.insert(b.end(), buf, buf + n);
        std::fclose(f);
    }
    return b;
}

void write_raw(const std::string &p, const Bytes &b) {
    std::FILE *f = std::fopen(p.c_str(), "wb");
    if (!f) return;
    if (!b.empty()) std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
}

// Files in dir whose names start with '.' and contain ".tmp-" (leftovers).
int leftover_temps(const std::string &dir) {
    int n = 0;
    const std::string cmd = "ls -a '" + dir + "'";
    if (std::FILE *p = ::popen(cmd.c_str(), "r")) {
        char line[512];
        while (std::fgets(line, sizeof line, p))
            if (line[0] == '.' && std::strstr(line, ".tmp-")) ++n;
        ::pclose(p);
    }
    return n;
}

uint32_t be32(const Bytes &b, size_t at) {
    return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | uint32_t{b[at + 3]};
}

void test_roundtrip() {
    const std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 1e-7f, 42.0f};
    Bytes img = cli::npy_image(v.data(), ATTNROLL_F32, {2, 3});
    CHECK(img.size() % 64 == 24);  // header padded to 64, then 24 bytes of data
    cli::Array a = cli::parse_npy(img, "rt");
    CHECK(a.dtype == ATTNROLL_F32);
    CHECK(a.shape == (std::vector<int64_t>{2, 3}));
    CHECK(a.strides == (std::vector<int64_t>{3, 1}));
    CHECK(!a.fortran_order);
    CHECK(a.count() == 6);
    CHECK(a.data_offset % 64 == 0);
    CHECK(std::memcmp(a.data(), v.data(), 24) == 0);
    const attnroll_tensor t = a.tensor();
    CHECK(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3 && t.strides[0] == 3 && t.strides[1] == 1);
    CHECK(t.dtype == ATTNROLL_F32 && t.data == a.data());

    const std::vector<double> d = {1.0, 2.0, 3.0};
    cli::Array b = cli::parse_npy(cli::npy_image(d.data(), ATTNROLL_F64, {3}), "rt1");
    CHECK(b.dtype == ATTNROLL_F64 && b.shape == std::vector<int64_t>{3} && element<double>(b, 2) == 3.0);

    // A library call on the parsed view: column mean of [[1.5,-2,3.25],[0,1e-7,42]].
    std::vector<double> mean(3);
    const int64_t mshape[1] = {3};
    attnroll_tensor out{mean.data(), ATTNROLL_F64, 1, mshape, nullptr};
    CHECK(attnroll_column_mean(&t, &out) == ATTNROLL_OK);
    CHECK(std::fabs(mean[2] - 22.625) < 1e-9);
}

void test_header_variants() {
    const std::vector<float> v = {1, 2, 3, 4, 5, 6};
    // Version 1.0, keys in another order, double quotes, no trailing comma.
    cli::Array a = cli::parse_npy(
        make_npy(1, "{\"shape\": (2, 3), \"fortran_order\": False, \"descr\": \"<f4\"}", bytes_of(v)), "v1");
    CHECK(a.shape == (std::vector<int64_t>{2, 3}) && a.strides == (std::vector<int64_t>{3, 1}));
    // Version 2.0 (4-byte header length) and 3.0.
    cli::Array b = cli::parse_npy(make_npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", bytes_of(v)), "v2");
    CHECK(b.shape == std::vector<int64_t>{6} && element<float>(b, 5) == 6.0f);
    cli::Array c = cli::parse_npy(make_npy(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", bytes_of(v)), "v3");
    CHECK(c.shape == (std::vector<int64_t>{3, 2}));
    // Fortran order: strides reversed.  Element [i,j] of a 2x3 is at i + 2*j.
    cli::Array f = cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", bytes_of(v)), "fo");
    CHECK(f.fortran_order);
    CHECK(f.strides == (std::vector<int64_t>{1, 2}));
    CHECK(element<float>(f, 1 * f.strides[0] + 2 * f.strides[1]) == 6.0f);
    cli::Array f3 = cli::parse_npy(
        make_npy(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 4), }", Bytes(24 * 8)), "fo3");
    CHECK(f3.strides == (std::vector<int64_t>{1, 2, 6}));
    // float16: 1.0 = 0x3c00, -2.0 = 0xc000.
    const std::vector<uint16_t> h = {0x3c00, 0xc000};
    cli::Array g = cli::parse_npy(make_npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2), }", bytes_of(h)), "f16");
    CHECK(g.dtype == ATTNROLL_F16 && element<uint16_t>(g, 1) == 0xc000);
    // '=' and '|' are native (little-endian here), '>' is byte-swapped.
    CHECK(cli::parse_npy(make_npy(1, "{'descr': '=f4', 'fortran_order': False, 'shape': (6,), }", bytes_of(v)), "eq").dtype ==
          ATTNROLL_F32);
    CHECK(cli::parse_npy(make_npy(1, "{'descr': '|f8', 'fortran_order': False, 'shape': (1,), }", Bytes(8)), "bar").dtype ==
          ATTNROLL_F64);
    Bytes be = {0x3f, 0x80, 0, 0, 0x40, 0, 0, 0};  // 1.0f, 2.0f big-endian
    cli::Array s = cli::parse_npy(make_npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be), "be");
    CHECK(s.dtype == ATTNROLL_F32 && element<float>(s, 0) == 1.0f && element<float>(s, 1) == 2.0f);
    // Zero-size arrays parse (the caller decides), unaligned data is realigned.
    CHECK(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", {}), "empty").count() == 0);
    const std::vector<double> d = {7.5};
    cli::Array u = cli::parse_npy(
        make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}\n", bytes_of(d), true), "unaligned");
    CHECK(u.data_offset % 8 == 0 && element<double>(u, 0) == 7.5);
    // Python 2 era long literals.
    CHECK(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", bytes_of(v)), "long")
              .shape == (std::vector<int64_t>{2, 3}));
}

void test_malformed() {
    const std::vector<float> v = {1, 2, 3, 4, 5, 6};
    const Bytes data = bytes_of(v);
    const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    Bytes bad_magic = make_npy(1, ok, data);
    bad_magic[1] = 'X';
    EXPECT_ERROR(cli::parse_npy(bad_magic, "m.npy"), "m.npy: not a .npy file (bad magic)");
    EXPECT_ERROR(cli::parse_npy(Bytes{0x93, 'N', 'U'}, "short"), "bad magic");
    Bytes bad_version = make_npy(1, ok, data);
    bad_version[6] = 4;
    EXPECT_ERROR(cli::parse_npy(bad_version, "x"), "version 4.0");
    bad_version[6] = 1;
    bad_version[7] = 1;
    EXPECT_ERROR(cli::parse_npy(bad_version, "x"), "version 1.1");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", data), "x"),
                 "unsupported dtype '<i4'");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }", data), "x"),
                 "object arrays");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", data), "x"),
                 "structured");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'shape': (2, 3), }", data), "x"), "missing key 'fortran_order'");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, }", data), "x"), "missing key 'shape'");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1, }", data), "x"),
                 "unexpected key 'x'");
    EXPECT_ERROR(
        cli::parse_npy(make_npy(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data), "x"),
        "duplicate key 'descr'");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", data), "x"),
                 "True or False");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", data), "x"),
                 "must be a tuple");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", data), "x"),
                 "negative");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Bytes(4)), "x"),
                 "rank 0");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", data), "x"),
                 "after the dict");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }", data), "x"),
                 "expected ',' or '}'");
    // Truncated and over-long data.
    Bytes cut = make_npy(1, ok, data);
    cut.resize(cut.size() - 5);
    EXPECT_ERROR(cli::parse_npy(cut, "t.npy"), "t.npy: truncated: expected 24 bytes of data, found 19");
    Bytes longer = make_npy(1, ok, data);
    longer.push_back(0);
    EXPECT_ERROR(cli::parse_npy(longer, "x"), "trailing data: expected 24 bytes of data, found 25");
    // Header not terminated: the dict never closes / no final newline /
    // the announced header length runs past the end.
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", data), "x"),
                 "not terminated");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}   ", data, true), "x"),
                 "header not terminated by a newline");
    Bytes short_header = make_npy(1, ok, {});
    short_header.resize(40);
    EXPECT_ERROR(cli::parse_npy(short_header, "x"), "truncated header");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f4, 'fortran_order': False}", data), "x"), "malformed");
    // Overflowing shapes.
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", data),
                                "x"),
                 "too large");
    EXPECT_ERROR(cli::parse_npy(make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", data),
                                "x"),
                 "too large");
}

void test_files(const std::string &dir) {
    const std::vector<float> v = {1, 2, 3, 4, 5, 6};
    const std::vector<double> d = {0.5, 0.25};
    // write_file_atomic + read_npy
    const std::string npy = dir + "/a.npy";
    const Bytes img = cli::npy_image(v.data(), ATTNROLL_F32, {3, 2});
    cli::write_file_atomic(npy, img.data(), img.size(), false);
    CHECK(read_file(npy) == img);
    cli::Array a = cli::read_npy(npy);
    CHECK(a.shape == (std::vector<int64_t>{3, 2}) && element<float>(a, 5) == 6.0f);
    EXPECT_ERROR(cli::write_file_atomic(npy, "x", 1, false), "a.npy: already exists (use --force");
    CHECK(read_file(npy) == img);
    cli::write_file_atomic(npy, "xyz", 3, true);
    CHECK(read_file(npy) == (Bytes{'x', 'y', 'z'}));
    EXPECT_ERROR(cli::read_npy(npy), "bad magic");
    EXPECT_ERROR(cli::read_npy(dir + "/missing.npy"), "missing.npy: cannot open");
    EXPECT_ERROR(cli::write_file_atomic(dir + "/no/such/dir.txt", "x", 1, false), "cannot create");

    // write_npz + read_npz + npz_keys
    const std::string npz = dir + "/b.npz";
    std::vector<cli::NpzEntry> entries;
    entries.push_back({"attention_weights", img});
    entries.push_back({"rollout", cli::npy_image(d.data(), ATTNROLL_F64, {2})});
    cli::write_npz(npz, entries, false);
    CHECK(file_exists(npz));
    CHECK(cli::npz_keys(npz) == (std::vector<std::string>{"attention_weights", "rollout"}));
    const std::vector<cli::NpzMember> members = cli::npz_members(npz);
    CHECK(members.size() == 2 && !members[0].deflated && members[0].size == img.size());
    cli::Array w = cli::read_npz(npz, "attention_weights");
    CHECK(w.shape == (std::vector<int64_t>{3, 2}) && element<float>(w, 3) == 4.0f);
    cli::Array r = cli::read_npz(npz, "rollout");
    CHECK(r.dtype == ATTNROLL_F64 && element<double>(r, 1) == 0.25);
    EXPECT_ERROR(cli::read_npz(npz, "nope"), "b.npz: no array 'nope' (has: attention_weights, rollout)");
    // Refused without force, replaced with it.
    const Bytes before = read_file(npz);
    EXPECT_ERROR(cli::write_npz(npz, {entries[1]}, false), "b.npz: already exists (use --force");
    CHECK(read_file(npz) == before);
    cli::write_npz(npz, {entries[1]}, true);
    CHECK(cli::npz_keys(npz) == std::vector<std::string>{"rollout"});
    // Deflated members.
    const std::vector<float> zeros(10000, 0.0f);
    const std::string npz_c = dir + "/c.npz";
    cli::NpzEntry big{"z", cli::npy_image(zeros.data(), ATTNROLL_F32, {100, 100})};
    big.deflate = true;
    cli::write_npz(npz_c, {big}, false);
    const std::vector<cli::NpzMember> cm = cli::npz_members(npz_c);
    CHECK(cm.size() == 1 && cm[0].deflated && cm[0].compressed_size < cm[0].size);
    CHECK(cli::read_npz(npz_c, "z").count() == 10000);
    // Duplicate keys are refused and leave nothing behind.
    EXPECT_ERROR(cli::write_npz(dir + "/dup.npz", {entries[1], entries[1]}, false), "duplicate array name 'rollout'");
    CHECK(!file_exists(dir + "/dup.npz"));
    // An empty archive is still a zip.
    cli::write_npz(dir + "/empty.npz", {}, false);
    CHECK(cli::npz_keys(dir + "/empty.npz").empty());
    EXPECT_ERROR(cli::read_npz(dir + "/empty.npz", "x"), "no array 'x' (has: none)");

    // Damaged archives.
    write_raw(dir + "/notzip.npz", Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_ERROR(cli::read_npz(dir + "/notzip.npz", "x"), "notzip.npz: not a zip archive");
    Bytes cut = before;
    cut.resize(cut.size() / 2);
    write_raw(dir + "/cut.npz", cut);
    EXPECT_ERROR(cli::read_npz(dir + "/cut.npz", "rollout"), "cut.npz: truncated");
    write_raw(dir + "/zero.npz", {});
    EXPECT_ERROR(cli::npz_keys(dir + "/zero.npz"), "zero.npz: empty file");
    Bytes corrupt = read_file(npz_c);
    corrupt[corrupt.size() / 3] ^= 0x55;  // inside the deflated data
    write_raw(dir + "/corrupt.npz", corrupt);
    EXPECT_ERROR(cli::read_npz(dir + "/corrupt.npz", "z"), "corrupt.npz:z.npy: ");
    EXPECT_ERROR(cli::read_npz(dir + "/missing.npz", "x"), "missing.npz: cannot open");
    // A member that is not a valid .npy names the member.
    cli::write_npz(dir + "/badmember.npz", {cli::NpzEntry{"m", Bytes{'n', 'o', 'p', 'e'}}}, false);
    EXPECT_ERROR(cli::read_npz(dir + "/badmember.npz", "m"), "badmember.npz:m.npy: not a .npy file (bad magic)");

    CHECK(leftover_temps(dir) == 0);
}

void test_png(const std::string &dir) {
    std::vector<unsigned char> rgb(7 * 5 * 3, 0);
    for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<unsigned char>(i);
    const Bytes png = cli::encode_png(rgb, 7, 5);
    const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(png.size() > 33 && std::memcmp(png.data(), sig, 8) == 0);
    CHECK(png.size() > 33 && std::memcmp(png.data() + 12, "IHDR", 4) == 0);
    CHECK(png.size() > 33 && be32(png, 16) == 7 && be32(png, 20) == 5);
    CHECK(png.size() > 33 && png[24] == 8 && png[25] == 2 && png[28] == 0);  // 8-bit RGB, no interlace
    CHECK(png.size() > 12 && std::memcmp(png.data() + png.size() - 8, "IEND", 4) == 0);
    EXPECT_ERROR(cli::encode_png(rgb, 8, 5), "encode_png");
    // libpng's own refusal (wider than its 1e6-pixel limit) comes back as an Error.
    EXPECT_ERROR(cli::encode_png(std::vector<unsigned char>(size_t{2000000} * 3), 2000000, 1), "encode_png: ");

    // A 3x4 heat map with a NaN, ticks, colour bar and title.
    std::vector<float> m = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, NAN};
    cli::HeatmapStyle style;
    style.cell = 10;
    style.ticks = true;
    style.tick_step = 1;
    style.title = "Test map";
    const std::string hm = dir + "/map.png";
    cli::write_heatmap(hm, m.data(), 3, 4, style, false);
    const Bytes h = read_file(hm);
    CHECK(h.size() > 33 && std::memcmp(h.data(), sig, 8) == 0);
    CHECK(h.size() > 33 && be32(h, 16) > 40 && be32(h, 20) > 30);
    EXPECT_ERROR(cli::write_heatmap(hm, m.data(), 3, 4, style, false), "map.png: already exists");
    cli::write_heatmap(hm, m.data(), 3, 4, cli::HeatmapStyle(), true);
    // Lower case letters are drawn as such, not as capitals (the scripts'
    // titles and labels are mixed case): the same title in both cases differs.
    style.title = "Frame";
    cli::write_heatmap(dir + "/lower.png", m.data(), 3, 4, style, false);
    style.title = "FRAME";
    cli::write_heatmap(dir + "/upper.png", m.data(), 3, 4, style, false);
    CHECK(read_file(dir + "/lower.png") != read_file(dir + "/upper.png"));
    style.title = "Test map";
    // Constant and all-NaN maps draw too.
    const std::vector<float> flat(16, 0.5f), nans(4, NAN);
    cli::write_heatmap(dir + "/flat.png", flat.data(), 4, 4, style, false);
    cli::write_heatmap(dir + "/nan.png", nans.data(), 2, 2, style, false);
    EXPECT_ERROR(cli::write_heatmap(dir + "/bad.png", m.data(), 0, 4, style, false), "bad.png: cannot draw an empty map");

    // Line plots: lines of equal length; a NaN breaks a line, not the plot.
    cli::write_line_plot(dir + "/lines.png", {{1, 2, 3}, {3, NAN, 1}}, 4, "Title\nSecond line", "Layer", "Rank", false);
    const Bytes lp = read_file(dir + "/lines.png");
    CHECK(lp.size() > 33 && std::memcmp(lp.data(), sig, 8) == 0 && be32(lp, 16) > 400 && be32(lp, 20) > 240);
    EXPECT_ERROR(cli::write_line_plot(dir + "/l2.png", {{1, 2}, {1}}, 0, "", "", "", false), "l2.png: the plot's lines differ");
    EXPECT_ERROR(cli::write_line_plot(dir + "/l3.png", {}, 0, "", "", "", false), "l3.png: cannot draw a plot without values");
    cli::write_line_plot(dir + "/flat.line.png", {{0, 0}}, 0, "", "", "", false);  // all zero: still drawn

    std::vector<const float *> maps;
    for (int k = 0; k < 5; ++k) maps.push_back(m.data());
    const std::string sheet = dir + "/sheet.png";
    cli::write_contact_sheet(sheet, maps, 3, 4, 6, false);
    const Bytes s = read_file(sheet);
    CHECK(s.size() > 33 && std::memcmp(s.data(), sig, 8) == 0);
    // 5 maps: 3 columns x 2 rows of 24x18 tiles.
    CHECK(s.size() > 33 && be32(s, 16) >= 3 * 24 && be32(s, 20) >= 2 * 18);
    EXPECT_ERROR(cli::write_contact_sheet(dir + "/none.png", {}, 3, 4, 6, false), "no maps");
    CHECK(leftover_temps(dir) == 0);
}

}  // namespace


// Byte-range reading: where locate_* say the elements are, read_range finds
// exactly the values written; anything to be read whole is declined.
void test_ranges(const std::string &dir) {
    std::vector<float> v(24);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f;
    const Bytes img = cli::npy_image(v.data(), ATTNROLL_F32, {2, 3, 4});
    const std::string npz = dir + "/ranges.npz";
    cli::write_npz(npz, {{"other", cli::npy_image(v.data(), ATTNROLL_F32, {24})}, {"attention_weights", img}}, false);
    cli::ArrayInFile span;
    CHECK(cli::locate_npz_member(npz, "attention_weights", span));
    CHECK(span.dtype == ATTNROLL_F32 && span.shape == (std::vector<int64_t>{2, 3, 4}) && !span.fortran_order);
    std::vector<float> second(12);
    cli::read_range(npz, span.offset + 12 * sizeof(float), second.data(), 12 * sizeof(float));
    CHECK(second[0] == 6.0f && second[11] == 11.5f);
    Bytes past_end(1 << 20);
    EXPECT_ERROR(cli::read_range(npz, span.offset, past_end.data(), past_end.size()), "ranges.npz: truncated");
    CHECK(!cli::locate_npz_member(npz, "missing", span));
    cli::NpzEntry deflated{"attention_weights", img};
    deflated.deflate = true;
    cli::write_npz(dir + "/deflated.npz", {deflated}, false);
    CHECK(!cli::locate_npz_member(dir + "/deflated.npz", "attention_weights", span));
    EXPECT_ERROR(cli::locate_npz_member(dir + "/nothing.npz", "attention_weights", span), "nothing.npz: cannot open");

    // .npy: C order, Fortran order (located, flagged), big-endian (declined).
    const std::string npy = dir + "/ranges.npy";
    write_raw(npy, img);
    CHECK(cli::locate_npy(npy, span) && span.offset == img.size() - 24 * sizeof(float));
    write_raw(dir + "/fortran.npy", make_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", bytes_of(std::vector<float>(6))));
    CHECK(cli::locate_npy(dir + "/fortran.npy", span) && span.fortran_order);
    write_raw(dir + "/big.npy", make_npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", Bytes(8)));
    CHECK(!cli::locate_npy(dir + "/big.npy", span));
    // A header that promises more data than the file holds is the same error as read_npy's.
    Bytes cut = img;
    cut.resize(cut.size() - 8);
    write_raw(dir + "/cut.npy", cut);
    EXPECT_ERROR(cli::locate_npy(dir + "/cut.npy", span), "cut.npy: truncated: expected 96 bytes of data, found 88");
}

// An archive with two local headers of one member name (found by fuzz_npz):
// the ranged path must read the member the central directory means, as
// libzip's whole read does, not the first header of that name.
const unsigned char kTwoLocalHeaders[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x1d, 0xd5,
    0xac, 0x22, 0xc8, 0x00, 0x00, 0x44, 0x3f, 0xa8, 0x8f, 0x06, 0x3f, 0x50, 0x4b, 0x03, 0x04, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x24, 0x21, 0xe1, 0x2b, 0x98, 0x00, 0x00,
    0x00, 0x98, 0x00, 0x00, 0x00, 0x09, 0x00, 0x14, 0x00, 0x6f, 0x74, 0x68, 0x65, 0x72, 0x2e, 0x6e,
    0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x98, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00,
    0x7b, 0x27, 0x64, 0x65, 0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x66, 0x38, 0x27, 0x2c,
    0x20, 0x27, 0x66, 0x6f, 0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27,
    0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27,
    0x3a, 0x20, 0x28, 0x33, 0x2c, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x9a, 0x8b, 0x30, 0x3f, 0x5c, 0x17, 0x00, 0x3f, 0x1e, 0xde, 0x9d, 0x3d, 0x04,
    0x16, 0xfa, 0x3e, 0x5e, 0xf0, 0x59, 0x3e, 0x8a, 0xe1, 0x07, 0x3e, 0x79, 0x8d, 0x01, 0x3f, 0x5a,
    0xfb, 0x48, 0x3f, 0x16, 0x03, 0x50, 0x4b, 0x06, 0x07, 0x44, 0x3f, 0xa8, 0x8f, 0x06, 0x3f, 0x50,
    0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x24, 0x21, 0xe1,
    0x2b, 0x98, 0x00, 0x00, 0x00, 0x98, 0x00, 0x00, 0x00, 0x09, 0x00, 0x14, 0x00, 0x6f, 0x74, 0x68,
    0x65, 0x72, 0x2e, 0x6e, 0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x98, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59,
    0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c,
    0x66, 0x38, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72,
    0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68,
    0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x33, 0x2c, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x40, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x21, 0x00, 0x1d, 0xd5, 0xac, 0x22, 0xc8, 0x00, 0x00, 0x00, 0xc8, 0x00, 0x00, 0x00, 0x15, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x06, 0x07, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x61, 0x74, 0x74, 0x65, 0x6e, 0x74, 0x69, 0x6f, 0x6e, 0x5f, 0x77, 0x65, 0x69, 0x67, 0x68, 0x74,
    0x73, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x21, 0x00, 0x24, 0x21, 0xe1, 0x2b, 0x98, 0x00, 0x00, 0x00, 0x98, 0x00, 0x00,
    0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x0f,
    0x01, 0x00, 0x00, 0x6f, 0x74, 0x68, 0x65, 0x72, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b, 0x05, 0x06,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, 0x7a, 0x00, 0x00, 0x00, 0xe2, 0x01, 0x00, 0x00,
    0x00, 0x00,
};

void test_duplicate_local_headers(const std::string &dir) {
    const std::string path = dir + "/two_headers.npz";
    write_raw(path, Bytes(kTwoLocalHeaders, kTwoLocalHeaders + sizeof kTwoLocalHeaders));
    cli::ArrayInFile span;
    const cli::Array whole = cli::read_npz(path, "other");  // libzip, by the directory
    CHECK(whole.shape == std::vector<int64_t>{3});
    // Located by the directory too: the same 24 bytes, not the first header's.
    CHECK(cli::locate_npz_member(path, "other", span));
    CHECK(span.shape == whole.shape && span.dtype == whole.dtype);
    std::vector<unsigned char> got(24);
    cli::read_range(path, span.offset, got.data(), got.size());
    CHECK(std::memcmp(got.data(), whole.data(), got.size()) == 0);
}

// Mapped ranges: the bytes at any (unaligned) offset, a range past the end
// refused, and a file that shrinks while mapped turned into an error naming
// it (the SIGBUS guard), not a crash.
void test_mapped_ranges(const std::string &dir) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    Bytes data(3 * page + 100);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7 + 3);
    const std::string path = dir + "/mapped.bin";
    write_raw(path, data);
    {
        const cli::MappedRange r(path, page + 13, page + 50);  // crosses a page boundary
        CHECK(r.size() == page + 50);
        CHECK(std::memcmp(r.data(), data.data() + page + 13, page + 50) == 0);
        r.check();
    }
    {
        const cli::MappedRange empty(path, data.size(), 0);
        empty.check();
    }
    EXPECT_ERROR(cli::MappedRange(path, 2 * page, 2 * page), "mapped.bin: truncated");
    EXPECT_ERROR(cli::MappedRange(dir + "/absent.bin", 0, 1), "absent.bin: cannot open");

    // Shrink the file under a live mapping: the vanished pages read as zeros,
    // the pages still there as the file's, and check() names the file.
    const cli::MappedRange r(path, 10, 3 * page);
    CHECK(truncate(path.c_str(), static_cast<off_t>(page)) == 0);
    unsigned long sum_tail = 0;
    for (size_t i = 2 * page; i < 3 * page; ++i) sum_tail += r.data()[i];
    CHECK(sum_tail == 0);
    CHECK(r.data()[5] == data[15]);
    EXPECT_ERROR(r.check(), "mapped.bin: changed while it was being read");
    // A second, unrelated mapping of the same file is not marked.
    const cli::MappedRange still(path, 0, 100);
    still.check();
}

// CRC-32: the folding paths (16-byte, 64-byte and 256-byte steps, any
// alignment) give zlib's values, and joining gives the CRC of the whole.
void test_crc32() {
    std::vector<unsigned char> bytes(70000);
    uint32_t seed = 12345;
    for (unsigned char &b : bytes) {
        seed = seed * 1664525u + 1013904223u;
        b = static_cast<unsigned char>(seed >> 24);
    }
    for (size_t size : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{63}, size_t{64}, size_t{65}, size_t{255},
                        size_t{256}, size_t{257}, size_t{1000}, size_t{4096}, size_t{65535}})
        for (size_t offset = 0; offset < 4; ++offset) {
            const unsigned char *p = bytes.data() + offset * 7;
            CHECK(cli::crc32_update(0, p, size) == crc32_z(0, p, size));
            CHECK(cli::crc32_update(0xdeadbeef, p, size) == crc32_z(0xdeadbeef, p, size));
        }
    const uint32_t a = cli::crc32_update(0, bytes.data(), 3000), b = cli::crc32_update(0, bytes.data() + 3000, 60000);
    CHECK(cli::crc32_join(a, b, 60000) == crc32_z(0, bytes.data(), 63000));
    CHECK(cli::crc32_update(0, "123456789", 9) == 0xcbf43926u);  // the standard check value
}

// Outputs: refused as a set before anything is written; the writers' first
// error comes back once the others have finished.
void test_outputs(const std::string &dir) {
    cli::Outputs set;
    for (int i = 0; i < 6; ++i) set.bytes(dir + "/out" + std::to_string(i) + ".txt", std::string(1000, static_cast<char>('a' + i)));
    set.commit(false, 3);
    CHECK(read_file(dir + "/out5.txt") == Bytes(1000, 'f'));
    CHECK(set.paths().size() == 6 && set.paths()[2] == dir + "/out2.txt");
    EXPECT_ERROR(set.commit(false, 3), "out0.txt: exists; pass --force");
    set.commit(true, 0);
    cli::Outputs failing;
    failing.bytes(dir + "/fine.txt", "ok");
    failing.add(dir + "/broken.txt", [](bool) { throw cli::Error("broken.txt: cannot draw"); });
    EXPECT_ERROR(failing.commit(false, 2), "broken.txt: cannot draw");
    CHECK(!file_exists(dir + "/broken.txt"));
    CHECK(leftover_temps(dir) == 0);
}

// parallel_for: every index once, worker ids in range, the first error back.
void test_parallel_for() {
    for (size_t threads : {size_t{0}, size_t{1}, size_t{3}, size_t{16}}) {
        std::vector<std::atomic<int>> seen(50);
        std::atomic<bool> worker_in_range{true};
        const size_t workers = cli::worker_count(seen.size(), threads);
        cli::parallel_for(seen.size(), threads, [&](size_t i, size_t worker) {
            ++seen[i];
            if (worker >= workers) worker_in_range = false;
        });
        bool once = true;
        for (const auto &s : seen) once = once && s.load() == 1;
        CHECK(once && worker_in_range.load());
    }
    CHECK(cli::worker_count(5, 16) == 5 && cli::worker_count(0, 4) == 1 && cli::worker_count(9, 2) == 2);
    std::atomic<int> ran{0};
    EXPECT_ERROR(cli::parallel_for(200, 2,
                                   [&](size_t i, size_t) {
                                       ++ran;
                                       if (i == 3) throw cli::Error("task 3 failed");
                                       std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                   }),
                 "task 3 failed");
    CHECK(ran.load() < 20);  // nothing new starts after the failure (a task lasts 1 ms)
    cli::parallel_for(0, 4, [&](size_t, size_t) { ran = -1; });
    CHECK(ran.load() != -1);
}

int main(int argc, char **argv) {
    std::string parent = argc > 1 ? argv[1] : "/tmp";
    std::string templ = parent + "/test_formats.XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) {
        std::printf("cannot create a directory under %s\n", parent.c_str());
        return 1;
    }
    const std::string dir(buf.data());
    try {
        test_roundtrip();
        test_header_variants();
        test_malformed();
        test_files(dir);
        test_ranges(dir);
        test_mapped_ranges(dir);
        test_duplicate_local_headers(dir);
        test_crc32();
        test_outputs(dir);
        test_parallel_for();
        test_png(dir);
    } catch (const std::exception &e) {
        ++g_failed;
        std::printf("FAIL: unexpected exception: %s\n", e.what());
    }
    if (g_failed == 0) {
        const std::string cmd = "rm -rf '" + dir + "'";
        if (std::system(cmd.c_str()) != 0) std::printf("(could not remove %s)\n", dir.c_str());
    } else {
        std::printf("files kept in %s\n", dir.c_str());
    }
    std::printf("test_formats: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
