// .npy / .npz reading and writing for the attnroll command-line tool.
//
// The .npy header is read with a small strict tokenizer for the one Python
// dict literal NumPy writes ({'descr': ..., 'fortran_order': ..., 'shape': (...), }),
// never with eval-like leniency.  Big-endian data ('>f4') is byte-swapped into
// native order when read, so an Array always holds native (little-endian on
// every machine we run on) elements.  .npz archives go through libzip.

#include "npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "cli_error.hpp"

namespace cli {

namespace {

constexpr unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

bool host_is_little_endian() {
    const uint16_t probe = 1;
    unsigned char first = 0;
    std::memcpy(&first, &probe, 1);
    return first == 1;
}

// ---------------------------------------------------------------------------
// Header dict tokenizer
// ---------------------------------------------------------------------------

class HeaderParser {
public:
    HeaderParser(const std::string &text, const std::string &where) : s_(text), where_(where) {}

    [[noreturn]] void fail(const std::string &what) const {
        throw Error(where_ + ": malformed .npy header: " + what);
    }

    void skip_space() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }
    bool at_end() const { return pos_ >= s_.size(); }
    char peek() const { return at_end() ? '\0' : s_[pos_]; }

    void expect(char c, const char *context) {
        skip_space();
        if (at_end()) fail(std::string("dict not terminated (expected '") + c + "' " + context + ")");
        if (s_[pos_] != c)
            fail(std::string("expected '") + c + "' " + context + ", found '" + printable(s_[pos_]) + "'");
        ++pos_;
    }

    // A quoted string without escapes ('...' or "...").
    std::string string_literal(const char *context) {
        skip_space();
        if (at_end()) fail(std::string("dict not terminated (expected a string ") + context + ")");
        const char quote = s_[pos_];
        if (quote != '\'' && quote != '"')
            fail(std::string("expected a quoted string ") + context + ", found '" + printable(quote) + "'");
        ++pos_;
        std::string out;
        while (true) {
            if (at_end()) fail("string not terminated");
            const char c = s_[pos_++];
            if (c == quote) break;
            if (c == '\\') fail("escape sequences in strings are not supported");
            if (c == '\n') fail("string not terminated");
            out += c;
        }
        return out;
    }

    std::string identifier() {
        skip_space();
        std::string out;
        while (!at_end() && (std::isalpha(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) out += s_[pos_++];
        return out;
    }

    bool boolean(const char *key) {
        skip_space();
        const std::string word = identifier();
        if (word == "True") return true;
        if (word == "False") return false;
        fail(std::string("'") + key + "' must be True or False");
    }

    int64_t integer() {
        skip_space();
        if (peek() == '-') fail("negative extent in 'shape'");
        if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected an integer in 'shape'");
        int64_t value = 0;
        while (std::isdigit(static_cast<unsigned char>(peek()))) {
            const int digit = s_[pos_++] - '0';
            if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) fail("extent too large in 'shape'");
            value = value * 10 + digit;
        }
        if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long literal, as old NumPy wrote
        return value;
    }

    // ( ) | ( int , ) | ( int , int [, int]* [,] )
    std::vector<int64_t> shape_tuple() {
        skip_space();
        if (peek() != '(') fail("'shape' must be a tuple");
        ++pos_;
        std::vector<int64_t> shape;
        skip_space();
        if (peek() == ')') {
            ++pos_;
            return shape;
        }
        bool saw_comma = false;
        while (true) {
            shape.push_back(integer());
            skip_space();
            if (at_end()) fail("'shape' tuple not terminated");
            if (s_[pos_] == ')') {
                ++pos_;
                break;
            }
            if (s_[pos_] != ',') fail(std::string("expected ',' or ')' in 'shape', found '") + printable(s_[pos_]) + "'");
            ++pos_;
            saw_comma = true;
            skip_space();
            if (peek() == ')') {
                ++pos_;
                break;
            }
        }
        if (shape.size() == 1 && !saw_comma) fail("'shape' must be a tuple (a 1-tuple needs a trailing comma)");
        return shape;
    }

    static std::string printable(char c) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f) return std::string(1, c);
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", u);
        return buf;
    }

    size_t pos_ = 0;

private:
    const std::string &s_;
    const std::string &where_;
};

struct Header {
    std::string descr;
    bool fortran_order = false;
    std::vector<int64_t> shape;
};

Header parse_header_dict(const std::string &text, const std::string &where) {
    HeaderParser p(text, where);
    Header h;
    bool have_descr = false, have_order = false, have_shape = false;
    p.expect('{', "at the start of the header");
    while (true) {
        p.skip_space();
        if (p.at_end()) p.fail("dict not terminated");
        if (p.peek() == '}') {
            ++p.pos_;
            break;
        }
        const std::string key = p.string_literal("(a dict key)");
        p.expect(':', "after a key");
        if (key == "descr") {
            if (have_descr) p.fail("duplicate key 'descr'");
            have_descr = true;
            p.skip_space();
            if (p.peek() == '[') throw Error(where + ": structured dtypes are not supported (only float16, float32, float64)");
            h.descr = p.string_literal("for 'descr'");
        } else if (key == "fortran_order") {
            if (have_order) p.fail("duplicate key 'fortran_order'");
            have_order = true;
            h.fortran_order = p.boolean("fortran_order");
        } else if (key == "shape") {
            if (have_shape) p.fail("duplicate key 'shape'");
            have_shape = true;
            h.shape = p.shape_tuple();
        } else {
            std::string shown;
            for (const char c : key) shown += HeaderParser::printable(c);
            p.fail("unexpected key '" + shown + "' (only 'descr', 'fortran_order', 'shape')");
        }
        p.skip_space();
        if (p.at_end()) p.fail("dict not terminated");
        if (p.peek() == ',') {
            ++p.pos_;
            continue;
        }
        if (p.peek() == '}') {
            ++p.pos_;
            break;
        }
        p.fail(std::string("expected ',' or '}' after a value, found '") + HeaderParser::printable(p.peek()) + "'");
    }
    p.skip_space();
    if (!p.at_end()) p.fail(std::string("unexpected '") + HeaderParser::printable(p.peek()) + "' after the dict");
    if (!have_descr) p.fail("missing key 'descr'");
    if (!have_order) p.fail("missing key 'fortran_order'");
    if (!have_shape) p.fail("missing key 'shape'");
    return h;
}

// descr -> dtype, and whether the data must be byte-swapped into native order.
void decode_descr(const std::string &descr, const std::string &where, int32_t *dtype, bool *swap) {
    const bool little = host_is_little_endian();
    if (descr.size() == 3 && descr[1] == 'f') {
        const char order = descr[0];
        int32_t dt = 0;
        if (descr[2] == '2') dt = ATTNROLL_F16;
        if (descr[2] == '4') dt = ATTNROLL_F32;
        if (descr[2] == '8') dt = ATTNROLL_F64;
        if (dt != 0 && (order == '<' || order == '>' || order == '=' || order == '|')) {
            bool file_little = little;  // '=' and '|' are native order
            if (order == '<') file_little = true;
            if (order == '>') file_little = false;
            *dtype = dt;
            *swap = file_little != little;
            return;
        }
    }
    std::string shown;
    for (const char c : descr) shown += HeaderParser::printable(c);
    std::string what = "unsupported dtype '" + shown + "'";
    if (descr.find('O') != std::string::npos) what = "object arrays are not supported ('" + shown + "')";
    throw Error(where + ": " + what + " (only float16, float32, float64: '<f2', '<f4', '<f8')");
}

void byte_swap(unsigned char *p, size_t count, size_t itemsize) {
    for (size_t i = 0; i < count; ++i, p += itemsize)
        for (size_t a = 0, b = itemsize - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
}

std::string errno_text(int err) { return std::strerror(err); }

// Reads a whole file.  `what` is the name used in messages.
std::vector<unsigned char> read_whole_file(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + errno_text(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw Error(path + ": cannot stat: " + errno_text(err));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw Error(path + ": is a directory");
    }
    std::vector<unsigned char> buf;
    try {
        buf.resize(st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0);
    } catch (const std::bad_alloc &) {
        ::close(fd);
        throw Error(path + ": out of memory reading " + std::to_string(st.st_size) + " bytes");
    }
    size_t got = 0;
    while (true) {
        if (got == buf.size()) buf.resize(buf.size() + 65536);  // file grew, or size unknown
        const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            throw Error(path + ": read error: " + errno_text(err));
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    buf.resize(got);
    return buf;
}

std::string dir_of(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string base_of(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool path_exists(const std::string &path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

void refuse_existing(const std::string &path, bool force) {
    if (!force && path_exists(path)) throw Error(path + ": already exists (use --force to replace it)");
}

// A temporary name beside `path`, unique within this process and (with the
// pid) across processes writing to the same directory.
std::string temp_name(const std::string &path) {
    static std::atomic<unsigned long> counter{0};
    const std::string dir = dir_of(path);
    return (dir == "/" ? std::string("/") : dir + "/") + "." + base_of(path) + ".tmp-" +
           std::to_string(static_cast<long>(::getpid())) + "-" + std::to_string(counter++);
}

// Moves the complete temporary file onto `path`.  Without force an existing
// target is never replaced, even if it appeared after refuse_existing.
void commit_temp(const std::string &tmp, const std::string &path, bool force) {
    if (!force) {
#ifdef RENAME_NOREPLACE
        if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return;
        const int err = errno;
        if (err == EEXIST) {
            ::unlink(tmp.c_str());
            throw Error(path + ": already exists (use --force to replace it)");
        }
        if (err != EINVAL && err != ENOSYS && err != ENOTSUP) {
            ::unlink(tmp.c_str());
            throw Error(path + ": cannot rename " + tmp + " to it: " + errno_text(err));
        }
        // The file system cannot do RENAME_NOREPLACE: check, then rename.
#endif
        if (path_exists(path)) {
            ::unlink(tmp.c_str());
            throw Error(path + ": already exists (use --force to replace it)");
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(path + ": cannot rename " + tmp + " to it: " + errno_text(err));
    }
}

void fsync_path(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)::fsync(fd);
        ::close(fd);
    }
}

// ---------------------------------------------------------------------------
// libzip helpers
// ---------------------------------------------------------------------------

std::string zip_error_text(int code, int sys_err) {
    switch (code) {
    case ZIP_ER_NOZIP: return "not a zip archive";
    case ZIP_ER_INCONS: return "inconsistent zip archive (damaged or truncated)";
    case ZIP_ER_EOF: return "truncated (premature end of file)";
    case ZIP_ER_CRC: return "CRC error (corrupted data)";
    case ZIP_ER_ZLIB:
    case ZIP_ER_COMPRESSED_DATA: return "corrupted compressed data";
    case ZIP_ER_COMPNOTSUPP: return "unsupported compression method";
    case ZIP_ER_ENCRNOTSUPP:
    case ZIP_ER_NOPASSWD:
    case ZIP_ER_WRONGPASSWD: return "encrypted members are not supported";
    case ZIP_ER_MEMORY: return "out of memory";
    case ZIP_ER_NOENT: return "no such file";
    case ZIP_ER_OPEN: return std::string("cannot open: ") + std::strerror(sys_err);
    case ZIP_ER_READ: return std::string("read error: ") + std::strerror(sys_err);
    case ZIP_ER_SEEK: return std::string("seek error (truncated?): ") + std::strerror(sys_err);
    default: break;
    }
    zip_error_t err;
    zip_error_init_with_code(&err, code);
    std::string text = zip_error_strerror(&err);
    zip_error_fini(&err);
    (void)sys_err;
    return text;
}

std::string zip_error_text(zip_error_t *err) { return zip_error_text(zip_error_code_zip(err), zip_error_code_system(err)); }

struct ZipCloser {
    zip_t *za;
    ~ZipCloser() {
        if (za) zip_discard(za);
    }
};

zip_t *open_archive(const std::string &path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error(path + ": cannot open: " + errno_text(errno));
    if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory");
    if (st.st_size == 0) throw Error(path + ": empty file, not a zip archive");
    int code = 0;
    zip_t *za = zip_open(path.c_str(), ZIP_RDONLY, &code);
    if (za) return za;
    std::string what = zip_error_text(code, errno);
    if (code == ZIP_ER_NOZIP) {
        // A file that starts like a zip but has no end-of-central-directory
        // record was cut short.
        unsigned char head[4] = {0, 0, 0, 0};
        if (std::FILE *f = std::fopen(path.c_str(), "rb")) {
            const size_t n = std::fread(head, 1, 4, f);
            std::fclose(f);
            if (n == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4)
                what = "truncated or damaged zip archive (no central directory)";
        }
    }
    throw Error(path + ": " + what);
}

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> keys_of(zip_t *za, const std::string &path) {
    const zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0) throw Error(path + ": cannot list the archive");
    std::vector<std::string> keys;
    for (zip_int64_t i = 0; i < n; ++i) {
        const char *name = zip_get_name(za, static_cast<zip_uint64_t>(i), 0);
        if (!name) throw Error(path + ": " + zip_error_text(zip_get_error(za)));
        const std::string s(name);
        if (ends_with(s, ".npy")) keys.push_back(s.substr(0, s.size() - 4));
    }
    return keys;
}

void write_all(int fd, const unsigned char *p, size_t size, const std::string &path) {
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(path + ": write error: " + errno_text(errno));
        }
        p += n;
        size -= static_cast<size_t>(n);
    }
}

}  // namespace

// ---------------------------------------------------------------------------
// Array
// ---------------------------------------------------------------------------

int64_t Array::count() const {
    int64_t n = 1;
    for (const int64_t d : shape) n *= d;
    return n;
}

attnroll_tensor Array::tensor() const {
    attnroll_tensor t;
    t.data = const_cast<void *>(data());  // inputs are only read
    t.dtype = dtype;
    t.ndim = static_cast<int32_t>(shape.size());
    t.shape = shape.data();
    t.strides = strides.data();
    return t;
}

// ---------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------

namespace {
// What a .npy header says, checked against the image's size.
struct NpyLayout {
    int32_t dtype = 0;
    bool swap = false;
    bool fortran_order = false;
    std::vector<int64_t> shape;
    size_t data_offset = 0;
    uint64_t count = 0, bytes = 0;
};

// `image` holds at least the header (`size` bytes available); `total` is the
// size of the whole .npy (header and data), which the data must fill exactly.
NpyLayout parse_layout(const unsigned char *image, size_t size, uint64_t total, const std::string &where) {
    if (size < 8 || std::memcmp(image, kMagic, sizeof kMagic) != 0)
        throw Error(where + ": not a .npy file (bad magic)");
    const unsigned major = image[6], minor = image[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        throw Error(where + ": unsupported .npy format version " + std::to_string(major) + "." +
                    std::to_string(minor) + " (only 1.0, 2.0, 3.0)");
    size_t header_len = 0, prefix = 0;
    if (major == 1) {
        if (size < 10) throw Error(where + ": truncated header");
        header_len = size_t{image[8]} | size_t{image[9]} << 8;
        prefix = 10;
    } else {
        if (size < 12) throw Error(where + ": truncated header");
        header_len = size_t{image[8]} | size_t{image[9]} << 8 | size_t{image[10]} << 16 | size_t{image[11]} << 24;
        prefix = 12;
    }
    if (header_len > size - prefix)
        throw Error(where + ": truncated header (" + std::to_string(header_len) + " bytes announced, " +
                    std::to_string(size - prefix) + " present)");
    const std::string text(reinterpret_cast<const char *>(image + prefix), header_len);
    if (text.empty() || text.back() != '\n') throw Error(where + ": malformed .npy header: header not terminated by a newline");
    const Header h = parse_header_dict(text, where);

    NpyLayout l;
    decode_descr(h.descr, where, &l.dtype, &l.swap);
    if (h.shape.empty()) throw Error(where + ": rank 0 (scalar) arrays are not supported");
    if (h.shape.size() > ATTNROLL_MAX_NDIM)
        throw Error(where + ": rank " + std::to_string(h.shape.size()) + " exceeds the maximum of " +
                    std::to_string(ATTNROLL_MAX_NDIM));
    const size_t itemsize = static_cast<size_t>(attnroll_dtype_size(l.dtype));
    uint64_t count = 1;
    bool overflow = false;
    for (const int64_t d : h.shape) {
        const auto ud = static_cast<uint64_t>(d);
        if (ud != 0 && count > std::numeric_limits<uint64_t>::max() / itemsize / ud) overflow = true;
        count *= ud;
    }
    if (overflow) throw Error(where + ": shape too large");
    const uint64_t expected = count * itemsize;
    l.data_offset = prefix + header_len;
    const uint64_t found = total - l.data_offset;
    if (found < expected)
        throw Error(where + ": truncated: expected " + std::to_string(expected) + " bytes of data, found " +
                    std::to_string(found));
    if (found > expected)
        throw Error(where + ": trailing data: expected " + std::to_string(expected) + " bytes of data, found " +
                    std::to_string(found));
    l.shape = h.shape;
    l.fortran_order = h.fortran_order;
    l.count = count;
    l.bytes = expected;
    return l;
}

// Shape, order and element strides from a layout.
void describe(Array &a, const NpyLayout &l) {
    a.dtype = l.dtype;
    a.shape = l.shape;
    a.fortran_order = l.fortran_order;
    const size_t nd = a.shape.size();
    a.strides.assign(nd, 1);
    if (l.fortran_order) {
        for (size_t k = 1; k < nd; ++k) a.strides[k] = a.strides[k - 1] * a.shape[k - 1];
    } else {
        for (size_t k = nd - 1; k-- > 0;) a.strides[k] = a.strides[k + 1] * a.shape[k + 1];
    }
}
}  // namespace

Array parse_npy(std::vector<unsigned char> image, const std::string &where) {
    const NpyLayout l = parse_layout(image.data(), image.size(), image.size(), where);
    const size_t itemsize = static_cast<size_t>(attnroll_dtype_size(l.dtype));
    size_t data_offset = l.data_offset;
    // NumPy pads the header so the data is aligned (to 16 or 64 bytes); a
    // writer that did not gets its data moved so the elements are aligned.
    if (data_offset % itemsize != 0) {
        const size_t pad = itemsize - data_offset % itemsize;
        image.resize(image.size() + pad);
        std::memmove(image.data() + data_offset + pad, image.data() + data_offset, static_cast<size_t>(l.bytes));
        data_offset += pad;
    }
    if (l.swap) byte_swap(image.data() + data_offset, static_cast<size_t>(l.count), itemsize);
    Array a;
    a.storage = std::move(image);
    a.data_offset = data_offset;
    describe(a, l);
    return a;
}

Array read_npy(const std::string &path) { return parse_npy(read_whole_file(path), path); }

std::vector<unsigned char> npy_image_for(int32_t dtype, const std::vector<int64_t> &shape, size_t *data_offset) {
    const char *descr = nullptr;
    if (dtype == ATTNROLL_F16) descr = "<f2";
    if (dtype == ATTNROLL_F32) descr = "<f4";
    if (dtype == ATTNROLL_F64) descr = "<f8";
    if (!descr || !host_is_little_endian()) throw Error("npy_image: only float16/32/64 on a little-endian machine");
    if (shape.empty()) throw Error("npy_image: rank 0 arrays are not supported");
    std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
    uint64_t count = 1;
    for (size_t k = 0; k < shape.size(); ++k) {
        if (shape[k] < 0) throw Error("npy_image: negative extent");
        if (k) dict += ", ";
        dict += std::to_string(shape[k]);
        count *= static_cast<uint64_t>(shape[k]);
    }
    if (shape.size() == 1) dict += ",";
    dict += "), }";
    // Pad with spaces so magic + 2 + 2 + header is a multiple of 64, ending in '\n'.
    size_t total = 10 + dict.size() + 1;
    const size_t padded = (total + 63) / 64 * 64;
    dict.append(padded - total, ' ');
    dict += '\n';
    if (dict.size() > 65535) throw Error("npy_image: header too long");
    const size_t itemsize = static_cast<size_t>(attnroll_dtype_size(dtype));
    std::vector<unsigned char> out(10 + dict.size() + static_cast<size_t>(count) * itemsize);
    std::memcpy(out.data(), kMagic, sizeof kMagic);
    out[6] = 1;
    out[7] = 0;
    out[8] = static_cast<unsigned char>(dict.size() & 0xff);
    out[9] = static_cast<unsigned char>(dict.size() >> 8);
    std::memcpy(out.data() + 10, dict.data(), dict.size());
    *data_offset = 10 + dict.size();
    return out;
}

std::vector<unsigned char> npy_image(const void *data, int32_t dtype, const std::vector<int64_t> &shape) {
    size_t offset = 0;
    std::vector<unsigned char> out = npy_image_for(dtype, shape, &offset);
    if (out.size() > offset) std::memcpy(out.data() + offset, data, out.size() - offset);
    return out;
}

// ---------------------------------------------------------------------------
// .npz
// ---------------------------------------------------------------------------

std::vector<std::string> npz_keys(const std::string &path) {
    ZipCloser za{open_archive(path)};
    return keys_of(za.za, path);
}

std::vector<NpzMember> npz_members(const std::string &path) {
    ZipCloser za{open_archive(path)};
    const zip_int64_t n = zip_get_num_entries(za.za, 0);
    std::vector<NpzMember> out;
    for (zip_int64_t i = 0; i < n; ++i) {
        zip_stat_t sb;
        zip_stat_init(&sb);
        if (zip_stat_index(za.za, static_cast<zip_uint64_t>(i), 0, &sb) != 0)
            throw Error(path + ": " + zip_error_text(zip_get_error(za.za)));
        if (!(sb.valid & ZIP_STAT_NAME) || !ends_with(sb.name, ".npy")) continue;
        NpzMember m;
        const std::string name(sb.name);
        m.key = name.substr(0, name.size() - 4);
        m.deflated = (sb.valid & ZIP_STAT_COMP_METHOD) && sb.comp_method != ZIP_CM_STORE;
        m.size = (sb.valid & ZIP_STAT_SIZE) ? sb.size : 0;
        m.compressed_size = (sb.valid & ZIP_STAT_COMP_SIZE) ? sb.comp_size : 0;
        out.push_back(std::move(m));
    }
    return out;
}

Array read_npz(const std::string &path, const std::string &key, std::vector<unsigned char> reuse) {
    ZipCloser za{open_archive(path)};
    const std::string member = key + ".npy";
    const std::string where = path + ":" + member;
    const zip_int64_t index = zip_name_locate(za.za, member.c_str(), 0);
    if (index < 0) {
        const std::vector<std::string> keys = keys_of(za.za, path);
        std::string has;
        for (const std::string &k : keys) has += (has.empty() ? "" : ", ") + k;
        throw Error(path + ": no array '" + key + "' (has: " + (has.empty() ? std::string("none") : has) + ")");
    }
    const auto uindex = static_cast<zip_uint64_t>(index);
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(za.za, uindex, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_SIZE))
        throw Error(where + ": " + zip_error_text(zip_get_error(za.za)));
    if (sb.size > std::numeric_limits<size_t>::max() / 2) throw Error(where + ": member too large");
    // Reusing the caller's buffer keeps its pages: fresh pages for every
    // layer would be faulted in (and zeroed) all over again.
    std::vector<unsigned char> buf = std::move(reuse);
    try {
        buf.resize(static_cast<size_t>(sb.size));
    } catch (const std::bad_alloc &) {
        throw Error(where + ": out of memory reading " + std::to_string(sb.size) + " bytes");
    }
    zip_file_t *zf = zip_fopen_index(za.za, uindex, 0);
    if (!zf) throw Error(where + ": " + zip_error_text(zip_get_error(za.za)));
    size_t got = 0;
    std::string failure;
    while (got < buf.size()) {
        const zip_int64_t n = zip_fread(zf, buf.data() + got, buf.size() - got);
        if (n < 0) {
            failure = zip_error_text(zip_file_get_error(zf));
            break;
        }
        if (n == 0) {
            failure = "truncated: member has " + std::to_string(got) + " bytes, the archive says " +
                      std::to_string(sb.size);
            break;
        }
        got += static_cast<size_t>(n);
    }
    if (failure.empty()) {
        // One more read reaches the end, where libzip checks the CRC.
        unsigned char extra = 0;
        const zip_int64_t n = zip_fread(zf, &extra, 1);
        if (n < 0) failure = zip_error_text(zip_file_get_error(zf));
        if (n > 0) failure = "member longer than the archive says (" + std::to_string(sb.size) + " bytes)";
    }
    zip_fclose(zf);
    if (!failure.empty()) throw Error(where + ": " + failure);
    return parse_npy(std::move(buf), where);
}

void write_npz(const std::string &path, const std::vector<NpzEntry> &entries, bool force) {
    refuse_existing(path, force);
    if (entries.empty()) {
        // libzip writes no file for an empty archive; np.savez() writes the
        // bare end-of-central-directory record.
        static const unsigned char empty_zip[22] = {'P', 'K', 5, 6};
        write_file_atomic(path, empty_zip, sizeof empty_zip, force);
        return;
    }
    std::string tmp;
    zip_t *za = nullptr;
    for (int attempt = 0; attempt < 100 && !za; ++attempt) {
        tmp = temp_name(path);
        int code = 0;
        za = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_EXCL, &code);
        if (!za && code != ZIP_ER_EXISTS) throw Error(path + ": cannot create " + tmp + ": " + zip_error_text(code, errno));
    }
    if (!za) throw Error(path + ": cannot find a free temporary name beside it");
    try {
        for (const NpzEntry &e : entries) {
            const std::string name = e.key + ".npy";
            zip_source_t *src = zip_source_buffer(za, e.image.data(), e.image.size(), 0);
            if (!src) throw Error(path + ": " + zip_error_text(zip_get_error(za)));
            const zip_int64_t idx = zip_file_add(za, name.c_str(), src, ZIP_FL_ENC_UTF_8);
            if (idx < 0) {
                zip_source_free(src);
                const int code = zip_error_code_zip(zip_get_error(za));
                if (code == ZIP_ER_EXISTS) throw Error(path + ": duplicate array name '" + e.key + "'");
                throw Error(path + ": " + zip_error_text(zip_get_error(za)));
            }
            if (zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), e.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                                         0) != 0)
                throw Error(path + ": " + zip_error_text(zip_get_error(za)));
        }
        if (zip_close(za) != 0) throw Error(path + ": cannot write " + tmp + ": " + zip_error_text(zip_get_error(za)));
        za = nullptr;
    } catch (...) {
        if (za) zip_discard(za);  // nothing was written yet
        ::unlink(tmp.c_str());
        throw;
    }
    fsync_path(tmp);
    commit_temp(tmp, path, force);
}

void write_file_atomic(const std::string &path, const void *data, size_t size, bool force) {
    refuse_existing(path, force);
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        tmp = temp_name(path);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) throw Error(path + ": cannot create " + tmp + ": " + errno_text(errno));
    }
    if (fd < 0) throw Error(path + ": cannot find a free temporary name beside it");
    try {
        write_all(fd, static_cast<const unsigned char *>(data), size, path);
        if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            throw Error(path + ": fsync failed: " + errno_text(errno));
        const int rc = ::close(fd);
        fd = -1;
        if (rc != 0) throw Error(path + ": write error: " + errno_text(errno));
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    commit_temp(tmp, path, force);
}

// Reads exactly `size` bytes at `offset`; a file shorter than that is an
// error naming it.
void read_range(const std::string &path, uint64_t offset, void *dest, size_t size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + errno_text(errno));
    auto *p = static_cast<unsigned char *>(dest);
    for (size_t got = 0; got < size;) {
        const ssize_t n = ::pread(fd, p + got, size - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            if (n == 0)
                throw Error(path + ": truncated: " + std::to_string(size) + " bytes expected at offset " +
                            std::to_string(offset) + ", the file ends after " + std::to_string(got));
            throw Error(path + ": read error: " + errno_text(err));
        }
        got += static_cast<size_t>(n);
    }
    ::close(fd);
}

namespace {

// The file's first bytes (up to 64 KiB), where np.savez puts its first
// members' local headers and .npy headers, and a .npy file has its header.
std::vector<unsigned char> file_head(const std::string &path, uint64_t file_size) {
    std::vector<unsigned char> head(static_cast<size_t>(std::min<uint64_t>(file_size, 65536)));
    read_range(path, 0, head.data(), head.size());
    return head;
}

// The .npy header at `at` in the file; `total` is the .npy's whole size.  It
// is parsed from `head` when it lies within it, else read from the file.
NpyLayout layout_at(const std::string &path, const std::vector<unsigned char> &head, uint64_t at, uint64_t total,
                    const std::string &where) {
    auto bytes_at = [&](std::vector<unsigned char> &scratch, size_t size) -> const unsigned char * {
        if (at + size <= head.size()) return head.data() + at;
        scratch.resize(size);
        read_range(path, at, scratch.data(), size);
        return scratch.data();
    };
    std::vector<unsigned char> scratch;
    if (total < 12) return parse_layout(head.data(), 0, total, where);  // the "bad magic" error
    const unsigned char *prefix = bytes_at(scratch, 12);
    const size_t header_len = prefix[6] == 1 ? (size_t{prefix[8]} | size_t{prefix[9]} << 8)
                                             : (size_t{prefix[8]} | size_t{prefix[9]} << 8 |
                                                size_t{prefix[10]} << 16 | size_t{prefix[11]} << 24);
    const auto size = static_cast<size_t>(std::min<uint64_t>(total, 12 + uint64_t{header_len}));
    return parse_layout(bytes_at(scratch, size), size, total, where);
}

ArrayInFile span_of(const std::string &path, uint64_t at, const NpyLayout &l) {
    ArrayInFile a;
    a.path = path;
    a.offset = at + l.data_offset;
    a.dtype = l.dtype;
    a.shape = l.shape;
    a.fortran_order = l.fortran_order;
    return a;
}

}  // namespace

bool locate_npy(const std::string &path, ArrayInFile &out) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    const auto size = static_cast<uint64_t>(st.st_size);
    const NpyLayout l = layout_at(path, file_head(path, size), 0, size, path);
    if (l.swap) return false;
    out = span_of(path, 0, l);
    return true;
}

bool locate_npz_member(const std::string &path, const std::string &key, ArrayInFile &out) {
    const std::string member = key + ".npy";
    zip_stat_t sb;
    {
        ZipCloser za{open_archive(path)};
        const zip_int64_t index = zip_name_locate(za.za, member.c_str(), 0);
        zip_stat_init(&sb);
        if (index < 0 || zip_stat_index(za.za, static_cast<zip_uint64_t>(index), 0, &sb) != 0 ||
            !(sb.valid & ZIP_STAT_COMP_METHOD) || !(sb.valid & ZIP_STAT_SIZE) || sb.comp_method != ZIP_CM_STORE)
            return false;  // deflated, or an error read_npz reports
    }
    // libzip does not say where a member's data starts.  Its local header
    // ("PK\3\4", 26 bytes of fields, the name, an extra field) is looked for
    // in the archive's first bytes (file_head) and checked against the
    // directory's size and the .npy magic.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    const std::vector<unsigned char> head = file_head(path, static_cast<uint64_t>(st.st_size));
    for (size_t from = 30; from < head.size();) {
        const void *hit = memmem(head.data() + from, head.size() - from, member.data(), member.size());
        if (!hit) break;
        const size_t at = static_cast<size_t>(static_cast<const unsigned char *>(hit) - head.data());
        from = at + 1;
        const unsigned char *header = head.data() + at - 30;
        const size_t name_len = size_t{header[26]} | size_t{header[27]} << 8;
        const size_t extra_len = size_t{header[28]} | size_t{header[29]} << 8;
        if (std::memcmp(header, "PK\3\4", 4) != 0 || name_len != member.size()) continue;
        const uint64_t data = at + name_len + extra_len;
        if (data + sb.size > static_cast<uint64_t>(st.st_size) || data + sizeof kMagic > head.size() ||
            std::memcmp(head.data() + data, kMagic, sizeof kMagic) != 0)
            continue;
        const NpyLayout l = layout_at(path, head, data, sb.size, path + ":" + member);
        if (l.swap) return false;
        out = span_of(path, data, l);
        return true;
    }
    return false;
}

}  // namespace cli
