// PNG heat maps for the attnroll command-line tool, through libpng.
//
// Pixels are drawn into an 8-bit RGB buffer, encoded in memory (libpng errors
// come back through setjmp/longjmp as cli::Error, nothing is printed) and
// written with write_file_atomic.  Text uses an embedded 3x5 pixel font drawn
// at twice its size: digits, '.', '-', '+', '*', a few punctuation marks and
// the capital letters (lower case is drawn as upper case, so 1e-05 reads 1E-05).
// A map larger than 8192 pixels on a side is drawn with a smaller cell.

#include "formats/png.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "io/atomic_file.hpp"

namespace cli {

namespace {

// matplotlib's viridis, 256 entries of 8-bit R, G, B (rounded from
// matplotlib._cm_listed._viridis_data), 8 entries per line.
const char kViridisHex[] =
    "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769"
    "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a"
    "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85"
    "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b"
    "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d"
    "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e"
    "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e"
    "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d"
    "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88"
    "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81"
    "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74"
    "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863"
    "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d"
    "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32"
    "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a"
    "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725";
static_assert(sizeof kViridisHex == 256 * 6 + 1, "viridis table must have 256 entries");

struct Rgb {
    unsigned char r, g, b;
};

const Rgb kBlack{0, 0, 0};
const Rgb kNanGrey{128, 128, 128};
const Rgb kFrame{96, 96, 96};

int hex_digit(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

const Rgb *viridis() {
    static const std::vector<Rgb> table = [] {
        std::vector<Rgb> t(256);
        for (size_t i = 0; i < 256; ++i) {
            unsigned char v[3];
            for (size_t c = 0; c < 3; ++c)
                v[c] = static_cast<unsigned char>(hex_digit(kViridisHex[6 * i + 2 * c]) * 16 +
                                                  hex_digit(kViridisHex[6 * i + 2 * c + 1]));
            t[i] = Rgb{v[0], v[1], v[2]};
        }
        return t;
    }();
    return table.data();
}

// 3x6 glyphs: six octal digits, the rows from the top; in each the bits
// 4, 2, 1 are the left, middle and right pixel.  Capitals and digits use the
// top five rows; lower case letters have a three- or four-row body, and the
// sixth row holds their descenders (g, j, p, q, y).
struct Glyph {
    char c;
    const char *rows;
};
const Glyph kFont[] = {
    {'0', "755570"}, {'1', "262270"}, {'2', "717470"}, {'3', "717170"}, {'4', "557110"}, {'5', "747170"},
    {'6', "747570"}, {'7', "711220"}, {'8', "757570"}, {'9', "757170"}, {'.', "000020"}, {'-', "007000"},
    {'+', "027200"}, {':', "020200"}, {'_', "000070"}, {'(', "122210"}, {')', "422240"}, {'/', "112440"},
    {',', "000240"}, {'*', "052500"}, {'=', "070700"}, {' ', "000000"}, {'?', "712020"}, {'A', "257550"}, {'B', "656560"},
    {'C', "344430"}, {'D', "655560"}, {'E', "746470"}, {'F', "746440"}, {'G', "345530"}, {'H', "557550"},
    {'I', "722270"}, {'J', "111520"}, {'K', "556550"}, {'L', "444470"}, {'M', "577550"}, {'N', "655550"},
    {'O', "255520"}, {'P', "656440"}, {'Q', "255630"}, {'R', "656550"}, {'S', "342160"}, {'T', "722220"},
    {'U', "555570"}, {'V', "555520"}, {'W', "557750"}, {'X', "552550"}, {'Y', "552220"}, {'Z', "712470"},
    {'a', "003530"}, {'b', "446560"}, {'c', "003430"}, {'d', "113530"}, {'e', "035630"}, {'f', "327220"},
    {'g', "035316"}, {'h', "446550"}, {'i', "202220"}, {'j', "101116"}, {'k', "445650"}, {'l', "622230"},
    {'m', "007750"}, {'n', "006550"}, {'o', "002520"}, {'p', "065644"}, {'q', "035311"}, {'r', "003440"},
    {'s', "003260"}, {'t', "027230"}, {'u', "005530"}, {'v', "005520"}, {'w', "005770"}, {'x', "005250"},
    {'y', "055316"}, {'z', "007270"},
};

const char *glyph_rows(char c) {
    for (const Glyph &g : kFont)
        if (g.c == c) return g.rows;
    return "712020";  // '?'
}

constexpr int kScale = 2;                // font pixels are kScale x kScale
constexpr int kGlyphW = 3 * kScale;
constexpr int kGlyphH = 6 * kScale;
constexpr int kAdvance = 4 * kScale;
constexpr int kMargin = 6;
constexpr int kMaxSide = 8192;           // largest map side before the cell shrinks
constexpr int64_t kMaxPixels = int64_t{1} << 28;

int text_width(const std::string &s) { return s.empty() ? 0 : static_cast<int>(s.size()) * kAdvance - kScale; }

class Canvas {
public:
    Canvas(const std::string &path, int64_t width, int64_t height) {
        if (width < 1 || height < 1 || width > 65535 || height > 65535 || width * height > kMaxPixels)
            throw Error(path + ": image too large (" + std::to_string(width) + " x " + std::to_string(height) +
                        " pixels)");
        w_ = static_cast<int>(width);
        h_ = static_cast<int>(height);
        px_.assign(static_cast<size_t>(width * height * 3), 255);
    }
    int width() const { return w_; }
    int height() const { return h_; }
    const std::vector<unsigned char> &pixels() const { return px_; }

    void fill(int x0, int y0, int w, int h, Rgb c) {
        const int x1 = std::min(w_, x0 + w), y1 = std::min(h_, y0 + h);
        for (int y = std::max(0, y0); y < y1; ++y) {
            unsigned char *row = px_.data() + (static_cast<size_t>(y) * static_cast<size_t>(w_)) * 3;
            for (int x = std::max(0, x0); x < x1; ++x) {
                row[3 * x] = c.r;
                row[3 * x + 1] = c.g;
                row[3 * x + 2] = c.b;
            }
        }
    }
    void rect_outline(int x0, int y0, int w, int h, Rgb c) {
        fill(x0, y0, w, 1, c);
        fill(x0, y0 + h - 1, w, 1, c);
        fill(x0, y0, 1, h, c);
        fill(x0 + w - 1, y0, 1, h, c);
    }
    void text(int x, int y, const std::string &s, Rgb c) {
        for (const char ch : s) {
            const char *rows = glyph_rows(ch);
            for (int r = 0; r < 6; ++r) {
                const int bits = rows[r] - '0';
                for (int col = 0; col < 3; ++col)
                    if (bits & (4 >> col)) fill(x + col * kScale, y + r * kScale, kScale, kScale, c);
            }
            x += kAdvance;
        }
    }

private:
    int w_ = 0, h_ = 0;
    std::vector<unsigned char> px_;
};

struct Range {
    bool any = false;  // some finite value
    double lo = 0, hi = 0;
};

Range finite_range(const float *v, size_t n) {
    Range r;
    for (size_t i = 0; i < n; ++i) {
        const double x = v[i];
        if (!std::isfinite(x)) continue;
        if (!r.any) {
            r.lo = r.hi = x;
            r.any = true;
        } else {
            r.lo = std::min(r.lo, x);
            r.hi = std::max(r.hi, x);
        }
    }
    return r;
}

Rgb colour_of(float v, const Range &r) {
    if (std::isnan(v)) return kNanGrey;
    const Rgb *lut = viridis();
    if (!r.any || !(r.hi > r.lo)) return lut[0];
    double t = (static_cast<double>(v) - r.lo) / (r.hi - r.lo);  // +-inf clamp to the ends
    t = std::min(1.0, std::max(0.0, t));
    const int idx = std::min(255, static_cast<int>(t * 256.0));
    return lut[idx];
}

std::string format_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

// The smallest multiple of `step` whose spacing leaves room for a label.
int spaced_step(int step, int cell, int needed) {
    int s = std::max(1, step);
    while (static_cast<int64_t>(s) * cell < needed) s += std::max(1, step);
    return s;
}

void draw_map(Canvas &cv, int x0, int y0, const float *values, int rows, int cols, int cell) {
    const Range r = finite_range(values, static_cast<size_t>(rows) * static_cast<size_t>(cols));
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j)
            cv.fill(x0 + j * cell, y0 + i * cell, cell, cell,
                    colour_of(values[static_cast<size_t>(i) * static_cast<size_t>(cols) + static_cast<size_t>(j)], r));
}

int fitted_cell(int cell, int rows, int cols) {
    const int side = std::max(rows, cols);
    if (static_cast<int64_t>(side) * cell > kMaxSide) cell = std::max(1, kMaxSide / side);
    return cell;
}

void check_dims(const std::string &path, int rows, int cols, int cell) {
    if (rows < 1 || cols < 1) throw Error(path + ": cannot draw an empty map (" + std::to_string(rows) + " x " +
                                          std::to_string(cols) + ")");
    if (cell < 1) throw Error(path + ": heat map cell size must be >= 1 (got " + std::to_string(cell) + ")");
}

// libpng glue: errors longjmp back to encode_rows, output goes to a vector.
struct PngSink {
    std::vector<unsigned char> *out;
    bool out_of_memory;
    char message[256];
};

void png_error_fn(png_structp png, png_const_charp msg) {
    auto *sink = static_cast<PngSink *>(png_get_error_ptr(png));
    std::snprintf(sink->message, sizeof sink->message, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

void png_warning_fn(png_structp, png_const_charp) {}

void png_write_fn(png_structp png, png_bytep data, png_size_t length) {
    auto *sink = static_cast<PngSink *>(png_get_io_ptr(png));
    try {
        sink->out->insert(sink->out->end(), data, data + length);
    } catch (const std::bad_alloc &) {
        sink->out_of_memory = true;
    }
    if (sink->out_of_memory) png_error(png, "out of memory");
}

void png_flush_fn(png_structp) {}

// No object with a destructor lives in this frame, so the longjmp is safe.
bool encode_rows(png_structp png, png_infop info, png_bytepp rows, png_uint_32 width, png_uint_32 height) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    // Heat maps are runs of equal pixels: the SUB filter turns them into
    // zeros and zlib's fastest level packs those nearly as well as its
    // default, at a third of the time of libpng's adaptive filtering.
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_compression_level(png, 1);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, nullptr);
    return true;
}

}  // namespace

std::vector<unsigned char> encode_png(const std::vector<unsigned char> &rgb, int width, int height) {
    if (width < 1 || height < 1 || rgb.size() != static_cast<size_t>(width) * static_cast<size_t>(height) * 3)
        throw Error("encode_png: " + std::to_string(rgb.size()) + " bytes do not make a " + std::to_string(width) +
                    " x " + std::to_string(height) + " RGB image");
    std::vector<unsigned char> out;
    std::vector<png_bytep> rows(static_cast<size_t>(height));
    for (size_t y = 0; y < rows.size(); ++y)
        rows[y] = const_cast<png_bytep>(rgb.data() + y * static_cast<size_t>(width) * 3);  // libpng only reads them
    PngSink sink{&out, false, {0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, png_error_fn, png_warning_fn);
    if (!png) throw Error("encode_png: cannot create the libpng writer");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, nullptr);
        throw Error("encode_png: cannot create the libpng writer");
    }
    png_set_write_fn(png, &sink, png_write_fn, png_flush_fn);
    const bool ok = encode_rows(png, info, rows.data(), static_cast<png_uint_32>(width), static_cast<png_uint_32>(height));
    png_destroy_write_struct(&png, &info);
    if (!ok) throw Error(std::string("encode_png: ") + sink.message);
    return out;
}

void write_heatmap(const std::string &path, const float *values, int rows, int cols, const HeatmapStyle &style,
                   bool force) {
    check_dims(path, rows, cols, style.cell);
    const int cell = fitted_cell(style.cell, rows, cols);
    const int map_w = cols * cell, map_h = rows * cell;
    const Range range = finite_range(values, static_cast<size_t>(rows) * static_cast<size_t>(cols));

    // Ticks: labels every `row_step` rows on the left, `col_step` columns below.
    constexpr int kTick = 4, kTickGap = 2;
    int row_step = 0, col_step = 0, left_w = 0, bottom_h = 0, right_overhang = 0;
    if (style.ticks) {
        const int widest = text_width(std::to_string(std::max(rows, cols) - 1));
        row_step = spaced_step(style.tick_step, cell, kGlyphH + 2);
        col_step = spaced_step(style.tick_step, cell, widest + 4);
        left_w = text_width(std::to_string(((rows - 1) / row_step) * row_step)) + kTickGap + kTick;
        bottom_h = kTick + kTickGap + kGlyphH;
        const int last_col = ((cols - 1) / col_step) * col_step;
        const int centre = last_col * cell + cell / 2;
        right_overhang = std::max(0, centre + text_width(std::to_string(last_col)) / 2 + 1 - map_w);
    }
    // Colour bar: tick values at five evenly spaced levels, at least tall
    // enough for them to be read.
    constexpr int kBarGap = 10, kBarW = 14, kBarTick = 3, kBarLabelGap = 2, kBarTicks = 5;
    std::vector<std::string> bar_labels;
    int bar_label_w = 0;
    if (range.any)
        for (int k = 0; k < kBarTicks; ++k) {
            bar_labels.push_back(format_number(range.lo + (range.hi - range.lo) * k / (kBarTicks - 1)));
            bar_label_w = std::max(bar_label_w, text_width(bar_labels.back()));
        }
    const int bar_h = std::max(map_h, kBarTicks * (kGlyphH + 4));
    int bar_block = 0;
    if (style.colour_bar) bar_block = kBarGap + kBarW + kBarTick + kBarLabelGap + bar_label_w;
    // Title lines above; the x label under the ticks; the y label, one letter
    // per line, left of the tick numbers.
    std::vector<std::string> title_lines;
    for (size_t from = 0; !style.title.empty() && from <= style.title.size();) {
        const size_t nl = style.title.find('\n', from);
        title_lines.push_back(style.title.substr(from, nl == std::string::npos ? std::string::npos : nl - from));
        if (nl == std::string::npos) break;
        from = nl + 1;
    }
    int title_w = 0;
    for (const std::string &line : title_lines) title_w = std::max(title_w, text_width(line));
    const int title_h = static_cast<int>(title_lines.size()) * (kGlyphH + 4) + (title_lines.empty() ? 0 : 4);
    const int x_label_h = style.x_label.empty() ? 0 : kGlyphH + 6;
    const int y_label_w = style.y_label.empty() ? 0 : kGlyphW + 6;
    const int y_label_h = static_cast<int>(style.y_label.size()) * (kGlyphH + 2);

    const int map_x = kMargin + y_label_w + left_w, map_y = kMargin + title_h;
    int64_t width = int64_t{map_x} + map_w + std::max(style.colour_bar ? bar_block : 0, right_overhang) + kMargin;
    width = std::max<int64_t>(width, 2 * kMargin + title_w);
    const int64_t height = int64_t{map_y} +
                           std::max({map_h + bottom_h + x_label_h, style.colour_bar ? bar_h : 0, y_label_h}) + kMargin;
    Canvas cv(path, width, height);

    for (size_t i = 0; i < title_lines.size(); ++i)
        cv.text(static_cast<int>((width - text_width(title_lines[i])) / 2), kMargin + static_cast<int>(i) * (kGlyphH + 4),
                title_lines[i], kBlack);
    draw_map(cv, map_x, map_y, values, rows, cols, cell);
    if (!style.x_label.empty())
        cv.text(map_x + (map_w - text_width(style.x_label)) / 2, map_y + map_h + bottom_h + 4, style.x_label, kBlack);
    for (size_t i = 0; i < style.y_label.size(); ++i)
        cv.text(kMargin, map_y + (map_h - y_label_h) / 2 + static_cast<int>(i) * (kGlyphH + 2),
                std::string(1, style.y_label[i]), kBlack);

    if (style.ticks) {
        for (int i = 0; i < rows; i += row_step) {
            const int y = map_y + i * cell + cell / 2;
            cv.fill(map_x - kTick, y, kTick, 1, kBlack);
            const std::string s = std::to_string(i);
            cv.text(map_x - kTick - kTickGap - text_width(s), y - kGlyphH / 2, s, kBlack);
        }
        for (int j = 0; j < cols; j += col_step) {
            const int x = map_x + j * cell + cell / 2;
            cv.fill(x, map_y + map_h, 1, kTick, kBlack);
            const std::string s = std::to_string(j);
            cv.text(x - text_width(s) / 2, map_y + map_h + kTick + kTickGap, s, kBlack);
        }
    }
    if (style.colour_bar) {
        const int bx = map_x + map_w + kBarGap;
        const Rgb *lut = viridis();
        for (int y = 0; y < bar_h; ++y) {
            const double t = bar_h > 1 ? 1.0 - static_cast<double>(y) / (bar_h - 1) : 1.0;
            cv.fill(bx, map_y + y, kBarW, 1, lut[std::min(255, static_cast<int>(t * 256.0))]);
        }
        cv.rect_outline(bx - 1, map_y - 1, kBarW + 2, bar_h + 2, kFrame);
        for (int k = 0; k < static_cast<int>(bar_labels.size()); ++k) {
            const int y = map_y + (bar_h - 1) - (bar_h - 1) * k / (kBarTicks - 1);  // level k of the bar
            cv.fill(bx + kBarW, y, kBarTick, 1, kBlack);
            const int ty = std::min(std::max(map_y, y - kGlyphH / 2), map_y + bar_h - kGlyphH);
            cv.text(bx + kBarW + kBarTick + kBarLabelGap, ty, bar_labels[static_cast<size_t>(k)], kBlack);
        }
    }
    const std::vector<unsigned char> png = encode_png(cv.pixels(), cv.width(), cv.height());
    write_file_atomic(path, png.data(), png.size(), force);
}

namespace {

// A one-pixel line from (x0, y0) to (x1, y1) (Bresenham), two pixels thick
// so that it reads at the plot's size.
void draw_line(Canvas &cv, int x0, int y0, int x1, int y1, Rgb c) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    for (int err = dx + dy;;) {
        cv.fill(x0, y0, 2, 2, c);
        if (x0 == x1 && y0 == y1) break;
        const int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

}  // namespace

void write_line_plot(const std::string &path, const std::vector<std::vector<double>> &series, long x0,
                     const std::string &title, const std::string &x_label, const std::string &y_label,
                     bool force) {
    if (series.empty() || series[0].empty()) throw Error(path + ": cannot draw a plot without values");
    const size_t points = series[0].size();
    double top = 0;
    for (const auto &s : series) {
        if (s.size() != points) throw Error(path + ": the plot's lines differ in length");
        for (const double v : s)
            if (std::isfinite(v)) top = std::max(top, v);
    }
    if (!(top > 0)) top = 1;
    std::vector<std::string> title_lines;
    for (size_t from = 0; !title.empty();) {
        const size_t nl = title.find('\n', from);
        title_lines.push_back(title.substr(from, nl == std::string::npos ? std::string::npos : nl - from));
        if (nl == std::string::npos) break;
        from = nl + 1;
    }
    constexpr int kPlotW = 400, kPlotH = 240, kTickLen = 4, kYTicks = 5;
    const int title_h = static_cast<int>(title_lines.size()) * (kGlyphH + 4) + 4;
    const int y_label_w = y_label.empty() ? 0 : kGlyphW + 6;
    const int tick_label_w = 6 * kAdvance;
    const int px = kMargin + y_label_w + tick_label_w + kTickLen + 2, py = kMargin + title_h;
    const int width = px + kPlotW + kMargin + kAdvance, height = py + kPlotH + kTickLen + 2 * (kGlyphH + 6) + kMargin;
    Canvas cv(path, width, height);
    for (size_t i = 0; i < title_lines.size(); ++i)
        cv.text((width - text_width(title_lines[i])) / 2, kMargin + static_cast<int>(i) * (kGlyphH + 4), title_lines[i],
                kBlack);
    // Axes, ticks and their values.
    cv.fill(px, py, 1, kPlotH, kBlack);
    cv.fill(px, py + kPlotH, kPlotW, 1, kBlack);
    const auto x_at = [&](size_t i) {
        return px + (points > 1 ? static_cast<int>(static_cast<double>(i) * (kPlotW - 1) / static_cast<double>(points - 1)) : kPlotW / 2);
    };
    const auto y_at = [&](double v) { return py + kPlotH - static_cast<int>(std::lround(v / top * (kPlotH - 1))); };
    const size_t x_step = std::max<size_t>(1, (points + 11) / 12);
    for (size_t i = 0; i < points; i += x_step) {
        const std::string s = std::to_string(x0 + static_cast<long>(i));
        cv.fill(x_at(i), py + kPlotH, 1, kTickLen, kBlack);
        cv.text(x_at(i) - text_width(s) / 2, py + kPlotH + kTickLen + 2, s, kBlack);
    }
    for (int k = 0; k < kYTicks; ++k) {
        const double v = top * k / (kYTicks - 1);
        const std::string s = format_number(v);
        cv.fill(px - kTickLen, y_at(v), kTickLen, 1, kBlack);
        cv.text(px - kTickLen - 2 - text_width(s), y_at(v) - kGlyphH / 2, s, kBlack);
    }
    if (!x_label.empty())
        cv.text(px + (kPlotW - text_width(x_label)) / 2, py + kPlotH + kTickLen + kGlyphH + 8, x_label, kBlack);
    for (size_t i = 0; i < y_label.size(); ++i)
        cv.text(kMargin, py + (kPlotH - static_cast<int>(y_label.size()) * (kGlyphH + 2)) / 2 +
                             static_cast<int>(i) * (kGlyphH + 2),
                std::string(1, y_label[i]), kBlack);
    // The lines, coloured along viridis; a non-finite value breaks its line.
    const Rgb *lut = viridis();
    for (size_t k = 0; k < series.size(); ++k) {
        const Rgb c = lut[series.size() > 1 ? static_cast<int>(220 * k / (series.size() - 1)) : 0];
        for (size_t i = 0; i < points; ++i) {
            const double v = series[k][i];
            if (!std::isfinite(v)) continue;
            if (i + 1 < points && std::isfinite(series[k][i + 1]))
                draw_line(cv, x_at(i), y_at(v), x_at(i + 1), y_at(series[k][i + 1]), c);
            else
                cv.fill(x_at(i), y_at(v), 2, 2, c);
        }
    }
    const std::vector<unsigned char> png = encode_png(cv.pixels(), cv.width(), cv.height());
    write_file_atomic(path, png.data(), png.size(), force);
}

void write_contact_sheet(const std::string &path, const std::vector<const float *> &maps, int rows, int cols,
                         int cell, bool force) {
    check_dims(path, rows, cols, cell);
    if (maps.empty()) throw Error(path + ": no maps for the contact sheet");
    const int n = static_cast<int>(maps.size());
    int grid_cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
    while (grid_cols > 1 && (grid_cols - 1) * (grid_cols - 1) >= n) --grid_cols;  // guard against rounding
    while (grid_cols * grid_cols < n) ++grid_cols;
    const int grid_rows = (n + grid_cols - 1) / grid_cols;
    // Keep the whole sheet within kMaxSide pixels where the cell allows.
    cell = fitted_cell(cell, rows * grid_rows, cols * grid_cols);

    constexpr int kGap = 8, kLabelGap = 3;
    const int tile_w = cols * cell, tile_h = rows * cell;
    const int slot_w = std::max(tile_w, text_width(std::to_string(n - 1)));
    const int slot_h = tile_h + kLabelGap + kGlyphH;
    const int64_t width = 2 * kMargin + int64_t{grid_cols} * slot_w + int64_t{grid_cols - 1} * kGap;
    const int64_t height = 2 * kMargin + int64_t{grid_rows} * slot_h + int64_t{grid_rows - 1} * kGap;
    Canvas cv(path, width, height);
    for (int k = 0; k < n; ++k) {
        const int gx = k % grid_cols, gy = k / grid_cols;
        const int sx = kMargin + gx * (slot_w + kGap), sy = kMargin + gy * (slot_h + kGap);
        const int tx = sx + (slot_w - tile_w) / 2;
        draw_map(cv, tx, sy, maps[static_cast<size_t>(k)], rows, cols, cell);
        const std::string label = std::to_string(k);
        cv.text(sx + (slot_w - text_width(label)) / 2, sy + tile_h + kLabelGap, label, kBlack);
    }
    const std::vector<unsigned char> png = encode_png(cv.pixels(), cv.width(), cv.height());
    write_file_atomic(path, png.data(), png.size(), force);
}

}  // namespace cli
