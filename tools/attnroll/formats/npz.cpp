// .npz reading and writing through libzip.

#include "formats/npz.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "io/atomic_file.hpp"
#include "io/file_read.hpp"

namespace cli {

namespace {


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

}  // namespace


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

namespace {

// The central directory's sizes are only claims: before anything is
// allocated for a member, they must fit the file.  A stored member is as
// long as its bytes in the file; deflate expands at most 1032:1, so a
// deflated member cannot hold more than that many times its compressed bytes.
// (Without this a 151-byte file claiming 3 GiB made the tool allocate and
// zero 3 GiB before finding it truncated.)
void check_claimed_size(const std::string &path, const std::string &where, const zip_stat_t &sb) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error(path + ": cannot stat: " + std::strerror(errno));
    const auto file_size = static_cast<uint64_t>(st.st_size);
    if (!(sb.valid & ZIP_STAT_COMP_SIZE) || !(sb.valid & ZIP_STAT_COMP_METHOD))
        throw Error(where + ": the archive gives no compressed size or method");
    if (sb.comp_size > file_size)
        throw Error(where + ": truncated: the archive says the member takes " + std::to_string(sb.comp_size) +
                    " bytes, the file has " + std::to_string(file_size));
    constexpr uint64_t kMaxDeflateRatio = 1032;
    const bool stored = sb.comp_method == ZIP_CM_STORE;
    if (stored ? sb.size != sb.comp_size : sb.size / kMaxDeflateRatio > sb.comp_size)
        throw Error(where + ": corrupt: the archive claims " + std::to_string(sb.size) + " bytes from " +
                    std::to_string(sb.comp_size) + (stored ? " stored" : " deflated") + " bytes");
}

}  // namespace

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
    check_claimed_size(path, where, sb);
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
            // Level 1: float maps barely compress at any level, and the
            // default level took most of a window's writing time.
            if (zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), e.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                                         e.deflate ? 1 : 0) != 0)
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

namespace {

uint64_t le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

// Where the central directory says `member`'s local header is (the first
// entry of that name, as zip_name_locate finds it), with zip64 offsets; 0 and
// false when the directory cannot be read this way (then libzip's whole read
// is used, which reports what is wrong).
bool local_header_offset(const std::string &path, uint64_t file_size, const std::string &member, uint64_t &offset) {
    // The end-of-central-directory record: in the last 22 + 65535 bytes.
    const uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 65535);
    std::vector<unsigned char> tail(static_cast<size_t>(tail_size));
    read_range(path, file_size - tail_size, tail.data(), tail.size());
    size_t eocd = tail.size();
    for (size_t i = tail.size() >= 22 ? tail.size() - 22 + 1 : 0; i-- > 0;)
        if (std::memcmp(&tail[i], "PK\5\6", 4) == 0) {
            eocd = i;
            break;
        }
    if (eocd == tail.size()) return false;
    uint64_t cd_size = le(&tail[eocd + 12], 4), cd_offset = le(&tail[eocd + 16], 4);
    if (cd_offset == 0xffffffff || cd_size == 0xffffffff) {  // zip64: its locator sits just before
        if (eocd < 20 || std::memcmp(&tail[eocd - 20], "PK\6\7", 4) != 0) return false;
        const uint64_t record = le(&tail[eocd - 20 + 8], 8);
        unsigned char z[56];
        if (record > file_size || file_size - record < sizeof z) return false;
        read_range(path, record, z, sizeof z);
        if (std::memcmp(z, "PK\6\6", 4) != 0) return false;
        cd_size = le(z + 40, 8);
        cd_offset = le(z + 48, 8);
    }
    if (cd_offset > file_size || cd_size > file_size - cd_offset || cd_size > (uint64_t{1} << 30)) return false;
    std::vector<unsigned char> cd(static_cast<size_t>(cd_size));
    read_range(path, cd_offset, cd.data(), cd.size());
    for (size_t at = 0; at + 46 <= cd.size();) {
        const unsigned char *e = &cd[at];
        if (std::memcmp(e, "PK\1\2", 4) != 0) return false;
        const size_t name_len = static_cast<size_t>(le(e + 28, 2)), extra_len = static_cast<size_t>(le(e + 30, 2)),
                     comment_len = static_cast<size_t>(le(e + 32, 2));
        if (at + 46 + name_len + extra_len > cd.size()) return false;
        if (name_len == member.size() && std::memcmp(e + 46, member.data(), name_len) == 0) {
            offset = le(e + 42, 4);
            if (offset != 0xffffffff) return true;
            // zip64 extra field: sizes first when they overflowed, then the offset.
            size_t skip = (le(e + 24, 4) == 0xffffffff ? 8 : 0) + (le(e + 20, 4) == 0xffffffff ? 8 : 0);
            for (size_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
                const uint64_t id = le(&cd[x], 2), len = le(&cd[x + 2], 2);
                if (id == 1 && skip + 8 <= len && x + 4 + skip + 8 <= cd.size()) {
                    offset = le(&cd[x + 4 + skip], 8);
                    return true;
                }
                x += 4 + static_cast<size_t>(len);
            }
            return false;
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    return false;
}

}  // namespace

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
    // libzip does not say where a member's data starts: the central directory
    // gives its local header ("PK\3\4", 26 bytes of fields, the name, an
    // extra field), which is checked against the name, the directory's size
    // and the .npy magic.  (Looking for the name in the archive's first bytes
    // instead was wrong for archives holding two headers of one name.)
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    const auto file_size = static_cast<uint64_t>(st.st_size);
    uint64_t header_at = 0;
    if (!local_header_offset(path, file_size, member, header_at) || header_at > file_size ||
        file_size - header_at < 30 + member.size())
        return false;
    unsigned char fixed[30];
    read_range(path, header_at, fixed, sizeof fixed);
    const size_t name_len = static_cast<size_t>(le(fixed + 26, 2)), extra_len = static_cast<size_t>(le(fixed + 28, 2));
    if (std::memcmp(fixed, "PK\3\4", 4) != 0 || name_len != member.size()) return false;
    std::string name(name_len, '\0');
    read_range(path, header_at + 30, name.data(), name_len);
    if (name != member) return false;
    const uint64_t data = header_at + 30 + name_len + extra_len;
    if (data > file_size || sb.size > file_size - data || sb.size < 12) return false;
    unsigned char magic[6];
    read_range(path, data, magic, sizeof magic);
    if (!is_npy_magic(magic)) return false;
    const std::vector<unsigned char> none;  // the header is read from the file at `data`
    const NpyLayout l = npy_layout_in_file(path, none, data, sb.size, path + ":" + member);
    if (l.swap) return false;
    out = npy_span(path, data, l);
    out.member_offset = data;
    out.member_size = sb.size;
    out.has_crc = (sb.valid & ZIP_STAT_CRC) != 0;
    out.crc = sb.crc;
    return true;
}

}  // namespace cli
