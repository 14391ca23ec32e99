// .npy reading and writing for the attnroll command-line tool.
//
// The header is read with a small strict tokenizer for the one Python dict
// literal NumPy writes ({'descr': ..., 'fortran_order': ..., 'shape': (...), }),
// never with eval-like leniency.  Big-endian data ('>f4') is byte-swapped into
// native order when read, so an Array always holds native (little-endian on
// every machine we run on) elements.

#include "formats/npy.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "cli_error.hpp"
#include "io/file_read.hpp"

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

bool is_npy_magic(const unsigned char *bytes) { return std::memcmp(bytes, kMagic, sizeof kMagic) == 0; }

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

NpyLayout npy_layout_in_file(const std::string &path, const std::vector<unsigned char> &head, uint64_t at,
                             uint64_t total, const std::string &where) {
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

ArrayInFile npy_span(const std::string &path, uint64_t at, const NpyLayout &l) {
    ArrayInFile a;
    a.path = path;
    a.offset = at + l.data_offset;
    a.dtype = l.dtype;
    a.shape = l.shape;
    a.fortran_order = l.fortran_order;
    return a;
}

bool locate_npy(const std::string &path, ArrayInFile &out) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    const auto size = static_cast<uint64_t>(st.st_size);
    const NpyLayout l = npy_layout_in_file(path, file_head(path, size), 0, size, path);
    if (l.swap) return false;
    out = npy_span(path, 0, l);
    return true;
}

}  // namespace cli
