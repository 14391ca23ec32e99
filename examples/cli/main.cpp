// attnroll: roll out attention dumps as written by the model's scripts, and
// write the maps, tables and heat maps those scripts wrote.
//
//   attnroll spatial DIR [-o OUT] [--grid RxC] [--query-rows R,...] [--layers A:B] [--threads N]
//   attnroll temporal RUN_DIR [-o OUT]
//   attnroll demo [-o OUT]
//   attnroll info FILE...
//
// Uses only the public header: it is also the proof that a plain tool links
// the library.  Exit status 0 (done), 1 (bad input), 2 (usage).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "attnroll.h"
#include "cli_error.hpp"
#include "npy.hpp"
#include "outputs.hpp"
#include "parallel_for.hpp"
#include "png.hpp"

namespace fs = std::filesystem;

namespace cli {
namespace {

// ------------------------------------------------------------------------
// Small helpers
// ------------------------------------------------------------------------

void check(int32_t status, const std::string &where) {
    if (status != ATTNROLL_OK) throw Error(where + ": " + attnroll_last_error());
}

std::string shape_text(const std::vector<int64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

const char *dtype_text(int32_t dtype) {
    switch (dtype) {
        case ATTNROLL_F16: return "float16";
        case ATTNROLL_F32: return "float32";
        case ATTNROLL_F64: return "float64";
        default: return "unknown";
    }
}

// Owns an attnroll_config.
struct Config {
    attnroll_config *handle = nullptr;
    Config() { check(attnroll_config_create(&handle), "attnroll_config_create"); }
    ~Config() { attnroll_config_destroy(handle); }
    Config(const Config &) = delete;
    Config &operator=(const Config &) = delete;
};

// A progress bar on stderr, only when stderr is a terminal and not --quiet.
class Progress {
public:
    Progress(const std::string &label, long total, bool quiet)
        : label_(label), total_(total), on_(!quiet && isatty(STDERR_FILENO) && total > 0) {
        draw();
    }
    ~Progress() {
        if (on_) std::fprintf(stderr, "\r\033[K");
    }
    void step(double amount = 1.0) {
        done_ += amount;
        draw();
    }

private:
    void draw() {
        if (!on_) return;
        const int width = 30;
        const int filled = std::min(width, static_cast<int>(width * done_ / static_cast<double>(total_)));
        std::fprintf(stderr, "\r%s [%s%s] %.0f/%ld", label_.c_str(), std::string(filled, '#').c_str(),
                     std::string(width - filled, '.').c_str(), std::floor(done_ + 1e-9), total_);
        std::fflush(stderr);
    }
    std::string label_;
    long total_;
    double done_ = 0;
    bool on_;
};

// Parsed command line: positional arguments and --options.
struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> values;
    std::set<std::string> flags;

    bool has(const std::string &flag) const { return flags.count(flag) > 0; }
    std::string value(const std::string &key, const std::string &fallback) const {
        auto it = values.find(key);
        return it == values.end() ? fallback : it->second;
    }
};

Args parse_args(int argc, char **argv, int first, const std::set<std::string> &with_value,
                const std::set<std::string> &flags) {
    Args args;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-o") a = "--output";
        if (a.size() > 1 && a[0] == '-') {
            std::string key = a, value;
            const size_t eq = a.find('=');
            if (eq != std::string::npos) {
                key = a.substr(0, eq);
                value = a.substr(eq + 1);
            }
            if (flags.count(key) && eq == std::string::npos) {
                args.flags.insert(key);
            } else if (with_value.count(key)) {
                if (eq == std::string::npos) {
                    if (i + 1 >= argc) throw Error(key + ": needs a value", kExitUsage);
                    value = argv[++i];
                }
                args.values[key] = value;
            } else {
                throw Error(a + ": unknown option (see --help)", kExitUsage);
            }
        } else {
            args.positional.push_back(a);
        }
    }
    return args;
}

long parse_long(const std::string &text, const std::string &what) {
    char *end = nullptr;
    errno = 0;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0)
        throw Error(what + ": '" + text + "' is not a whole number", kExitUsage);
    return v;
}

std::vector<unsigned char> image_of(const std::vector<double> &values, const std::vector<int64_t> &shape) {
    return npy_image(values.data(), ATTNROLL_F64, shape);
}

// ------------------------------------------------------------------------
// spatial
// ------------------------------------------------------------------------

const char *kSpatialHelp =
    "usage: attnroll spatial DIR [-o OUT] [--grid RxC] [--query-rows R[,R...]] [--layers A:B]\n"
    "                        [--threads N] [--force] [--quiet]\n"
    "\n"
    "Rolls out every (video, frame window) in DIR: files named\n"
    "  video_<vid>_frames<a>-<b>_backbone_vit_layer_<l>_attn.npz\n"
    "  video_<vid>_frames<a>-<b>_layer_backbone_vit_module_blocks_<l>_attn.npz\n"
    "(or ..._attn_collapsed.npz with heads already averaged, or .npy), each holding\n"
    "attention_weights [F,H,N,N] (collapsed: [F,N,N]), float32 or float16. Stored\n"
    "(np.savez) C-order layers are read a frame at a time by each worker; others a\n"
    "layer at a time. Writes to OUT (default DIR/attnroll_spatial):\n"
    "  video_<vid>_frames<a>-<b>_rollout.npz     rollout: float32 [F,N,N] (or [F,k,N])\n"
    "  video_<vid>_frames<a>-<b>_cls_f<i>.png    CLS row over the patch grid, per frame\n"
    "  video_<vid>_frames<a>-<b>_cls_contact.png all frames\n"
    "\n"
    "  --grid RxC        patch grid (default: inferred when N-1 is a perfect square)\n"
    "  --query-rows R,.. rows of the rollout to compute (the first is drawn); default all\n"
    "  --layers A:B      roll out layers A..B-1 only (either side may be empty; 1: drops layer 0)\n"
    "  --threads N       worker threads (default: one per core)\n"
    "  --force           replace existing outputs\n"
    "  --quiet           no progress bar\n";

struct LayerFile {
    std::string path;
    bool collapsed = false;
    bool npy = false;
};

struct Window {
    std::string vid;
    long first = 0, last = 0;
    std::map<long, LayerFile> layers;
    std::string stem() const {
        return "video_" + vid + "_frames" + std::to_string(first) + "-" + std::to_string(last);
    }
};

std::vector<Window> find_windows(const std::string &dir) {
    static const std::regex name(
        R"(^video_(.+)_frames(\d+)-(\d+)_(?:backbone_vit_layer_|layer_backbone_vit_module_blocks_)(\d+)_attn(_collapsed)?\.(npz|npy)$)");
    if (!fs::is_directory(dir)) throw Error(dir + ": is not a directory");
    std::map<std::string, Window> windows;
    for (const auto &entry : fs::directory_iterator(dir)) {
        const std::string file = entry.path().filename().string();
        std::smatch m;
        if (!entry.is_regular_file() || !std::regex_match(file, m, name)) continue;
        Window w;
        w.vid = m[1];
        w.first = std::stol(m[2]);
        w.last = std::stol(m[3]);
        Window &slot = windows.emplace(w.stem(), w).first->second;
        const long layer = std::stol(m[4]);
        if (slot.layers.count(layer))
            throw Error(entry.path().string() + ": layer " + std::to_string(layer) + " of " + w.stem() +
                        " also in " + slot.layers[layer].path);
        slot.layers[layer] = {entry.path().string(), m[5].matched, m[6] == "npy"};
    }
    std::vector<Window> out;
    for (auto &kv : windows) {
        const long count = kv.second.layers.rbegin()->first + 1;
        for (long l = 0; l < count; ++l)
            if (!kv.second.layers.count(l))
                throw Error(dir + ": " + kv.first + ": layer " + std::to_string(l) + " is missing (found layers up to " +
                            std::to_string(count - 1) + ")");
        out.push_back(std::move(kv.second));
    }
    if (out.empty()) throw Error(dir + ": no attention files (video_<vid>_frames<a>-<b>_..._layer_<l>_attn.npz)");
    return out;
}

// Checks a layer's shape ([F,H,N,N], or [F,N,N] collapsed) and returns it as
// [F,H,N,N] (a collapsed layer has one "head").
std::vector<int64_t> layer_shape(const LayerFile &f, std::vector<int64_t> shape) {
    const size_t rank = f.collapsed ? 3 : 4;
    if (shape.size() != rank)
        throw Error(f.path + ": attention_weights has shape " + shape_text(shape) + ", expected " +
                    (f.collapsed ? "[F,N,N] (collapsed)" : "[F,H,N,N]"));
    if (shape[rank - 1] != shape[rank - 2])
        throw Error(f.path + ": attention_weights has shape " + shape_text(shape) +
                    ", not square in its last two dims");
    if (f.collapsed) shape.insert(shape.begin() + 1, 1);
    return shape;
}

Array load_layer(const LayerFile &f, std::vector<unsigned char> reuse) {
    Array a = f.npy ? read_npy(f.path) : read_npz(f.path, "attention_weights", std::move(reuse));
    a.shape = layer_shape(f, a.shape);
    if (f.collapsed) a.strides.insert(a.strides.begin() + 1, 0);  // the one head, any stride
    return a;
}

// Whether a layer file can be read a frame at a time (stored or .npy, C
// order, native byte order), and where its elements are.
bool locate_frames(const std::string &path, bool npy, ArrayInFile &span) {
    return (npy ? locate_npy(path, span) : locate_npz_member(path, "attention_weights", span)) && !span.fortran_order;
}

// Where each layer's elements are, when every layer of the window can be read
// a frame at a time; else empty.
std::vector<ArrayInFile> layer_spans(const Window &w, long begin, long end) {
    std::vector<ArrayInFile> spans(static_cast<size_t>(end - begin));
    for (long l = begin; l < end; ++l) {
        const LayerFile &f = w.layers.at(l);
        ArrayInFile &span = spans[static_cast<size_t>(l - begin)];
        if (!locate_frames(f.path, f.npy, span)) return {};
        span.shape = layer_shape(f, span.shape);
    }
    return spans;
}

struct Grid {
    long rows = 0, cols = 0;
};

Grid parse_grid(const std::string &text) {
    const size_t x = text.find('x');
    if (x == std::string::npos) throw Error("--grid: '" + text + "' is not RxC (e.g. 24x18)", kExitUsage);
    if (x == 0 || x + 1 == text.size()) throw Error("--grid: '" + text + "' is not RxC (e.g. 24x18)", kExitUsage);
    Grid g{parse_long(text.substr(0, x), "--grid"), parse_long(text.substr(x + 1), "--grid")};
    if (g.rows < 1 || g.cols < 1) throw Error("--grid: '" + text + "' needs positive sizes", kExitUsage);
    return g;
}

Grid grid_for(long n, const std::string &option) {
    if (!option.empty()) {
        const Grid g = parse_grid(option);
        if (g.rows * g.cols != n - 1)
            throw Error("--grid: " + option + " has " + std::to_string(g.rows * g.cols) + " patches but the tokens are 1 CLS + " +
                            std::to_string(n - 1),
                        kExitUsage);
        return g;
    }
    const long side = std::lround(std::sqrt(static_cast<double>(n - 1)));
    if (n < 2 || side * side != n - 1)
        throw Error("--grid: " + std::to_string(n - 1) + " patches (N=" + std::to_string(n) +
                        ") are not a square grid; give --grid RxC",
                    kExitUsage);
    return {side, side};
}

struct SpatialOptions {
    std::string out;
    std::string grid;
    std::vector<int64_t> query_rows;
    long begin = 0, end = -1;  // -1: all
    long threads = 0;
    bool force = false, quiet = false;
};

// The rollout of one window, written into the .npy image saved as `rollout`,
// and the patch grid its maps are drawn on.
struct WindowRollout {
    int64_t frames = 0, rows = 0, n = 0;
    Grid grid;
    std::vector<unsigned char> image;
    float *data = nullptr;  // [frames, rows, n] inside image (64-byte offset: aligned)

    // Once the shape is known, before any work: a bad --grid is refused here.
    void allocate(int64_t f, const SpatialOptions &o, int64_t tokens) {
        frames = f;
        rows = o.query_rows.empty() ? tokens : static_cast<int64_t>(o.query_rows.size());
        n = tokens;
        grid = grid_for(n, o.grid);
        size_t offset = 0;
        image = npy_image_for(ATTNROLL_F32, {f, rows, tokens}, &offset);
        data = reinterpret_cast<float *>(image.data() + offset);
    }
    attnroll_tensor frames_out(int64_t first, const std::vector<int64_t> &shape) const {
        return {data + first * rows * n, ATTNROLL_F32, 3, shape.data(), nullptr};
    }
};

std::unique_ptr<attnroll_stream, void (*)(attnroll_stream *)> make_stream(const Config &config, int64_t frames,
                                                                          int64_t n, const std::string &where) {
    attnroll_stream *raw = nullptr;
    check(attnroll_stream_create(config.handle, frames, n, ATTNROLL_F32, &raw), where);
    return {raw, attnroll_stream_destroy};
}

std::string frames_mismatch(const std::string &path, int64_t frames, int64_t n, long first_layer, int64_t want_frames,
                            int64_t want_n) {
    return path + ": attention_weights has " + std::to_string(frames) + " frames of " + std::to_string(n) +
           " tokens, but layer " + std::to_string(first_layer) + " has " + std::to_string(want_frames) + " of " +
           std::to_string(want_n);
}

// Layers read by byte range, a frame at a time: each worker thread takes whole
// frames and, for each, reads its slice of every layer into one reused
// buffer and pushes it to a one-frame stream of its own, single-threaded.
// Reading and rolling out overlap across workers with no barrier between
// them, and the memory is one frame-slice per worker, not a layer.
void roll_out_by_frame(const Window &w, const std::vector<ArrayInFile> &spans, const Config &config,
                       long threads, Progress &progress, WindowRollout &r) {
    const int64_t n = r.n;
    const size_t frames = static_cast<size_t>(r.frames), workers = worker_count(frames, static_cast<size_t>(threads));
    std::vector<std::vector<unsigned char>> slices(workers);  // one reused buffer per worker
    std::mutex progress_mutex;
    parallel_for(frames, workers, [&](size_t frame, size_t worker) {
        const auto f = static_cast<int64_t>(frame);
        std::vector<unsigned char> &slice = slices[worker];
        auto stream = make_stream(config, 1, n, w.stem());
        for (const ArrayInFile &s : spans) {
            const int64_t heads = s.shape[1];
            const size_t bytes = static_cast<size_t>(heads * n * n * attnroll_dtype_size(s.dtype));
            slice.resize(bytes);
            read_range(s.path, s.offset + static_cast<uint64_t>(f) * bytes, slice.data(), bytes);
            const std::vector<int64_t> shape{1, heads, n, n};
            const attnroll_tensor t{slice.data(), s.dtype, 4, shape.data(), nullptr};
            check(attnroll_stream_push(stream.get(), &t), s.path);
            std::lock_guard<std::mutex> lock(progress_mutex);
            progress.step(1.0 / static_cast<double>(frames));
        }
        const std::vector<int64_t> part{1, r.rows, n};
        const attnroll_tensor out = r.frames_out(f, part);
        check(attnroll_stream_result(stream.get(), &out), w.stem() + " frame " + std::to_string(f));
    });
}

// Layers read whole (deflated, Fortran order, byte-swapped), one in memory at
// a time, each pushed for all frames to one stream (multi-threaded inside).
void roll_out_by_layer(const Window &w, long begin, long end, const Config &config, const SpatialOptions &o,
                       Progress &progress, WindowRollout &r) {
    std::unique_ptr<attnroll_stream, void (*)(attnroll_stream *)> stream(nullptr, attnroll_stream_destroy);
    std::vector<unsigned char> recycled;  // the previous layer's buffer
    for (long l = begin; l < end; ++l) {
        const LayerFile &f = w.layers.at(l);
        Array a = load_layer(f, std::move(recycled));
        if (!stream) {
            r.allocate(a.shape[0], o, a.shape[3]);
            stream = make_stream(config, r.frames, r.n, f.path);
        } else if (a.shape[0] != r.frames || a.shape[3] != r.n) {
            throw Error(frames_mismatch(f.path, a.shape[0], a.shape[3], begin, r.frames, r.n));
        }
        const attnroll_tensor t = a.tensor();
        check(attnroll_stream_push(stream.get(), &t), f.path);
        recycled = std::move(a.storage);
        progress.step();
    }
    const std::vector<int64_t> shape{r.frames, r.rows, r.n};
    const attnroll_tensor out = r.frames_out(0, shape);
    check(attnroll_stream_result(stream.get(), &out), w.stem());
}

// Rolls out one window, streaming its layers; returns what it wrote.
std::vector<std::string> spatial_window(const Window &w, const SpatialOptions &o, Progress &progress) {
    const long count = static_cast<long>(w.layers.size());
    const long begin = o.begin, end = o.end < 0 ? count : o.end;
    if (begin >= end || end > count)
        throw Error("--layers: " + std::to_string(begin) + ":" + std::to_string(o.end < 0 ? count : o.end) + " is not a non-empty range within the " +
                        std::to_string(count) + " layers of " + w.stem(),
                    kExitUsage);
    Config config;
    if (!o.query_rows.empty())
        check(attnroll_config_set_ints(config.handle, ATTNROLL_OPT_QUERY_ROWS, o.query_rows.data(),
                                       static_cast<int64_t>(o.query_rows.size())),
              "--query-rows");
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_THREADS, o.threads), "--threads");

    WindowRollout r;
    const std::vector<ArrayInFile> spans = layer_spans(w, begin, end);
    if (!spans.empty()) {
        const int64_t frames = spans[0].shape[0], n = spans[0].shape[3];
        for (const ArrayInFile &s : spans)
            if (s.shape[0] != frames || s.shape[3] != n)
                throw Error(frames_mismatch(s.path, s.shape[0], s.shape[3], begin, frames, n));
        r.allocate(frames, o, n);
        check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_THREADS, 1), "--threads");
        roll_out_by_frame(w, spans, config, o.threads, progress, r);
    } else {
        roll_out_by_layer(w, begin, end, config, o, progress, r);
    }
    const Grid grid = r.grid;
    const int64_t frames = r.frames, rows = r.rows, n = r.n;
    const float *result = r.data;
    std::vector<unsigned char> image = std::move(r.image);

    // The drawn row: row 0 (CLS), or the first query row; its CLS column dropped.
    std::vector<std::vector<float>> maps(static_cast<size_t>(frames));
    for (int64_t f = 0; f < frames; ++f) {
        const float *row = result + f * rows * n;
        maps[static_cast<size_t>(f)].assign(row + 1, row + n);
    }
    Outputs outputs;
    const std::string base = (fs::path(o.out) / w.stem()).string();
    std::vector<NpzEntry> rollout_npz(1);  // moved in, not copied from an initializer list
    rollout_npz[0] = {"rollout", std::move(image)};
    outputs.npz(base + "_rollout.npz", std::move(rollout_npz));
    HeatmapStyle style;
    style.cell = std::max(1, static_cast<int>(256 / std::max(grid.rows, grid.cols)));
    auto shared_maps = std::make_shared<std::vector<std::vector<float>>>(std::move(maps));
    for (int64_t f = 0; f < frames; ++f) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "_cls_f%03lld.png", static_cast<long long>(f));
        const std::string path = base + suffix;
        style.title = w.stem() + " frame " + std::to_string(f);
        outputs.add(path, [path, shared_maps, f, grid, style](bool force) {
            write_heatmap(path, (*shared_maps)[static_cast<size_t>(f)].data(), static_cast<int>(grid.rows),
                          static_cast<int>(grid.cols), style, force);
        });
    }
    const std::string sheet = base + "_cls_contact.png";
    outputs.add(sheet, [sheet, shared_maps, grid, style](bool force) {
        std::vector<const float *> all;
        for (const auto &m : *shared_maps) all.push_back(m.data());
        write_contact_sheet(sheet, all, static_cast<int>(grid.rows), static_cast<int>(grid.cols), style.cell, force);
    });
    outputs.commit(o.force, o.threads);
    return outputs.paths();
}

std::vector<std::string> run_spatial(const std::string &dir, const SpatialOptions &options) {
    const std::vector<Window> windows = find_windows(dir);
    fs::create_directories(options.out);
    long total = 0;
    for (const Window &w : windows) total += static_cast<long>(w.layers.size());
    Progress progress("spatial", total, options.quiet);
    std::vector<std::string> written;
    for (const Window &w : windows) {
        const auto files = spatial_window(w, options, progress);
        written.insert(written.end(), files.begin(), files.end());
    }
    return written;
}

void parse_layers(const std::string &text, SpatialOptions &o) {
    const size_t colon = text.find(':');
    if (colon == std::string::npos) throw Error("--layers: '" + text + "' is not A:B (e.g. 1: or 0:12)", kExitUsage);
    const std::string a = text.substr(0, colon), b = text.substr(colon + 1);
    if (b.find(':') != std::string::npos) throw Error("--layers: '" + text + "' is not A:B (e.g. 1: or 0:12)", kExitUsage);
    o.begin = a.empty() ? 0 : parse_long(a, "--layers");
    o.end = b.empty() ? -1 : parse_long(b, "--layers");
    if (o.begin < 0 || (o.end >= 0 && o.end <= o.begin))
        throw Error("--layers: '" + text + "' is not a non-empty range of layers", kExitUsage);
}

int cmd_spatial(int argc, char **argv) {
    const Args args = parse_args(argc, argv, 2, {"--output", "--grid", "--query-rows", "--layers", "--threads"},
                                 {"--force", "--quiet", "--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kSpatialHelp, stdout);
        return kExitOk;
    }
    if (args.positional.size() != 1) throw Error("spatial: needs exactly one DIR (see --help)", kExitUsage);
    SpatialOptions o;
    const std::string dir = args.positional[0];
    o.out = args.value("--output", (fs::path(dir) / "attnroll_spatial").string());
    o.grid = args.value("--grid", "");
    if (!o.grid.empty()) parse_grid(o.grid);
    if (args.values.count("--query-rows")) {
        std::stringstream list(args.values.at("--query-rows"));
        for (std::string item; std::getline(list, item, ',');) {
            const long r = parse_long(item, "--query-rows");
            if (r < 0) throw Error("--query-rows: " + item + " is negative", kExitUsage);
            o.query_rows.push_back(r);
        }
        if (o.query_rows.empty()) throw Error("--query-rows: is empty", kExitUsage);
    }
    if (args.values.count("--layers")) parse_layers(args.values.at("--layers"), o);
    o.threads = parse_long(args.value("--threads", "0"), "--threads");
    if (o.threads < 0) throw Error("--threads: must be >= 0", kExitUsage);
    o.force = args.has("--force");
    o.quiet = args.has("--quiet");
    for (const std::string &f : run_spatial(dir, o)) std::printf("wrote %s\n", f.c_str());
    return kExitOk;
}

// ------------------------------------------------------------------------
// temporal
// ------------------------------------------------------------------------

const char *kTemporalHelp =
    "usage: attnroll temporal RUN_DIR [-o OUT] [--force] [--quiet]\n"
    "\n"
    "For each video's top-scoring prediction in RUN_DIR/inference/results_temporal.json,\n"
    "rolls out the refiner's temporal self-attention layers (attention under\n"
    "RUN_DIR/attention_maps/ or RUN_DIR/inference/attention_maps/, one file per layer\n"
    "with a .meta.json, or one file per video with a .meta.json list of layers and keys)\n"
    "for that prediction's refiner_id, with and without layer 0. Writes to OUT (default\n"
    "RUN_DIR/attnroll_temporal), P = video_<vid>_refiner_<id>, S = rollout, rollout_nolayer0:\n"
    "  P_S.npz, P_S_col_avg.npz, P_S_col_avg_norm.npz, P_S_rownorm.npz, P_S_rownorm_col_avg.npz\n"
    "  P_S_col_avg.csv, P_S_col_avg_norm.csv, P_S_rownorm_col_avg.csv   (column_index,mean_value)\n"
    "  P_S.png, P_S_rownorm.png                                         heat maps\n";

struct Prediction {
    std::string vid;
    double score = 0;
    long refiner = 0;
};

std::string id_text(const nlohmann::json &v, const std::string &where) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<long long>());
    throw Error(where + ": video_id must be a string or an integer");
}

std::vector<Prediction> top_predictions(const std::string &path) {
    std::ifstream in(path);
    if (!in) throw Error(path + ": cannot be read");
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception &e) {
        throw Error(path + ": not valid JSON (" + e.what() + ")");
    }
    if (!doc.is_array()) throw Error(path + ": expected a JSON list of predictions");
    std::map<std::string, Prediction> best;
    std::vector<std::string> order;
    for (size_t i = 0; i < doc.size(); ++i) {
        const auto &p = doc[i];
        const std::string where = path + ": prediction " + std::to_string(i);
        if (!p.is_object() || !p.contains("video_id") || !p.contains("score") || !p.contains("refiner_id"))
            throw Error(where + ": needs video_id, score and refiner_id");
        if (!p["score"].is_number() || !p["refiner_id"].is_number_integer())
            throw Error(where + ": score must be a number and refiner_id an integer");
        Prediction pred{id_text(p["video_id"], where), p["score"].get<double>(), p["refiner_id"].get<long>()};
        auto it = best.find(pred.vid);
        if (it == best.end()) {
            order.push_back(pred.vid);
            best[pred.vid] = pred;
        } else if (pred.score > it->second.score) {
            it->second = pred;
        }
    }
    std::vector<Prediction> out;
    for (const auto &vid : order) out.push_back(best[vid]);
    return out;
}

nlohmann::json read_meta(const fs::path &array_file) {
    const fs::path a = fs::path(array_file).replace_extension(".meta.json");
    const fs::path b = array_file.string() + ".meta.json";
    const fs::path &meta = fs::exists(a) ? a : b;
    std::ifstream in(meta);
    if (!in) throw Error(array_file.string() + ": no meta file beside it (" + a.filename().string() + ")");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception &e) {
        throw Error(meta.string() + ": not valid JSON (" + e.what() + ")");
    }
}

// The k in "...self_attention_layers.<k>", or -1.
long self_attention_index(const std::string &layer) {
    static const std::regex pattern(R"(self_attention_layers\.(\d+))");
    std::smatch m;
    return std::regex_search(layer, m, pattern) ? std::stol(m[1]) : -1;
}

struct NamedArray {
    std::string name;  // "file" or "file:key", for messages
    Array array;
};

// The temporal layers of one video, in refiner order.
std::vector<NamedArray> temporal_layers(const fs::path &maps_dir, const std::string &vid) {
    static const std::regex per_layer(R"(^video_(.+)_frames(\d+)-(\d+)_refiner_temporal_layer_(\d+)_attn\.npz$)");
    std::map<long, NamedArray> by_index;
    std::string window;
    for (const auto &entry : fs::directory_iterator(maps_dir)) {
        const std::string file = entry.path().filename().string();
        std::smatch m;
        if (!entry.is_regular_file()) continue;
        if (std::regex_match(file, m, per_layer)) {
            if (m[1] != vid) continue;
            const std::string this_window = std::string(m[2]) + "-" + std::string(m[3]);
            if (!window.empty() && window != this_window)
                throw Error(entry.path().string() + ": window " + this_window + " differs from " + window +
                            " of the other layer files of video " + vid);
            window = this_window;
            const nlohmann::json meta = read_meta(entry.path());
            if (!meta.is_object() || !meta.contains("layer") || !meta["layer"].is_string())
                throw Error(entry.path().string() + ": meta file needs {\"layer\": \"...\"}");
            const long k = self_attention_index(meta["layer"].get<std::string>());
            if (k < 0) continue;
            by_index[k] = {entry.path().string(), read_npz(entry.path().string(), "attention_weights")};
            continue;
        }
        const std::string plain = "video_" + vid + ".npz", prefix = "video_" + vid + "_";
        const bool per_video = file == plain || (file.rfind(prefix, 0) == 0 && file.size() > 25 &&
                                                 file.compare(file.size() - 25, 25, "temporal_refiner_attn.npz") == 0);
        if (!per_video) continue;
        const nlohmann::json meta = read_meta(entry.path());
        if (!meta.is_array()) throw Error(entry.path().string() + ": meta file needs a list of {\"layer\", \"key\"}");
        std::map<long, std::string> keys;  // the last key listed for a layer wins
        for (const auto &item : meta) {
            if (!item.is_object() || !item.contains("layer") || !item.contains("key") || !item["layer"].is_string() ||
                !item["key"].is_string())
                throw Error(entry.path().string() + ": meta entries need string \"layer\" and \"key\"");
            const long k = self_attention_index(item["layer"].get<std::string>());
            if (k >= 0) keys[k] = item["key"].get<std::string>();
        }
        for (const auto &kv : keys)
            by_index[kv.first] = {entry.path().string() + ":" + kv.second, read_npz(entry.path().string(), kv.second)};
    }
    std::vector<NamedArray> layers;
    for (auto &kv : by_index) layers.push_back(std::move(kv.second));
    return layers;
}

std::string csv_of(const std::vector<double> &values) {
    std::string text = "column_index,mean_value\n";
    char line[64];
    for (size_t j = 0; j < values.size(); ++j) {
        std::snprintf(line, sizeof line, "%zu,%.17g\n", j, values[j]);
        text += line;
    }
    return text;
}

// out = f(in) for the post-processing functions, on contiguous doubles.
std::vector<double> post(int32_t (*f)(const attnroll_tensor *, const attnroll_tensor *), const std::vector<double> &in,
                         const std::vector<int64_t> &in_shape, const std::vector<int64_t> &out_shape,
                         const std::string &where) {
    size_t count = 1;
    for (int64_t e : out_shape) count *= static_cast<size_t>(e);
    std::vector<double> out(count);
    const attnroll_tensor a{const_cast<double *>(in.data()), ATTNROLL_F64, static_cast<int32_t>(in_shape.size()),
                            in_shape.data(), nullptr};
    const attnroll_tensor b{out.data(), ATTNROLL_F64, static_cast<int32_t>(out_shape.size()), out_shape.data(), nullptr};
    check(f(&a, &b), where);
    return out;
}

void add_temporal_outputs(Outputs &outputs, const std::string &base, const std::string &name,
                          const std::vector<double> &rollout, int64_t t) {
    const std::vector<int64_t> square{t, t}, vector{t};
    const std::string p = base + "_" + name;
    const auto col_avg = post(attnroll_column_mean, rollout, square, vector, p);
    const auto col_avg_norm = post(attnroll_minmax, col_avg, vector, vector, p);
    const auto rownorm = post(attnroll_minmax_rows, rollout, square, square, p);
    const auto rownorm_col_avg = post(attnroll_column_mean, rownorm, square, vector, p);
    outputs.npz(p + ".npz", {{name, image_of(rollout, square)}});
    outputs.npz(p + "_col_avg.npz", {{name + "_col_avg", image_of(col_avg, vector)}});
    outputs.npz(p + "_col_avg_norm.npz", {{name + "_col_avg_norm", image_of(col_avg_norm, vector)}});
    outputs.npz(p + "_rownorm.npz", {{name + "_rownorm", image_of(rownorm, square)}});
    outputs.npz(p + "_rownorm_col_avg.npz", {{name + "_rownorm_col_avg", image_of(rownorm_col_avg, vector)}});
    outputs.bytes(p + "_col_avg.csv", csv_of(col_avg));
    outputs.bytes(p + "_col_avg_norm.csv", csv_of(col_avg_norm));
    outputs.bytes(p + "_rownorm_col_avg.csv", csv_of(rownorm_col_avg));
    for (const auto &image : {std::make_pair(p + ".png", rollout), std::make_pair(p + "_rownorm.png", rownorm)}) {
        auto values = std::make_shared<std::vector<float>>(image.second.begin(), image.second.end());
        const std::string path = image.first;
        HeatmapStyle style;
        style.cell = std::max(2, static_cast<int>(384 / std::max<int64_t>(1, t)));
        style.ticks = true;
        style.tick_step = t > 40 ? 10 : 5;
        style.title = fs::path(path).stem().string();
        outputs.add(path, [path, values, t, style](bool force) {
            write_heatmap(path, values->data(), static_cast<int>(t), static_cast<int>(t), style, force);
        });
    }
}

struct TemporalOptions {
    std::string out;
    bool force = false, quiet = false;
};

std::vector<std::string> run_temporal(const std::string &run_dir, const TemporalOptions &o) {
    const fs::path run(run_dir);
    if (!fs::is_directory(run)) throw Error(run_dir + ": is not a directory");
    const auto predictions = top_predictions((run / "inference" / "results_temporal.json").string());
    fs::path maps = run / "attention_maps";
    if (!fs::is_directory(maps)) maps = run / "inference" / "attention_maps";
    if (!fs::is_directory(maps))
        throw Error(run_dir + ": has neither attention_maps/ nor inference/attention_maps/");
    fs::create_directories(o.out);
    Progress progress("temporal", static_cast<long>(predictions.size()), o.quiet);
    std::vector<std::string> written;
    for (const Prediction &p : predictions) {
        const std::vector<NamedArray> arrays = temporal_layers(maps, p.vid);
        if (arrays.empty())
            throw Error(maps.string() + ": no temporal attention for video " + p.vid + " (from results_temporal.json)");
        // Each layer's selection checked here, so a message names its file.
        std::vector<attnroll_tensor> layers;
        int64_t t = 0;
        const std::string where = "refiner_id " + std::to_string(p.refiner);
        for (const NamedArray &a : arrays) {
            layers.push_back(a.array.tensor());
            int64_t rows = 0, cols = 0;
            check(attnroll_select_shape(&layers.back(), p.refiner, &rows, &cols), a.name);
            if (rows != cols)
                throw Error(a.name + ": shape " + shape_text(a.array.shape) + " selects a [" + std::to_string(rows) + "," +
                            std::to_string(cols) + "] matrix for " + where + ", not square");
            if (t && rows != t)
                throw Error(a.name + ": selects T = " + std::to_string(rows) + " for " + where + ", but " +
                            arrays[0].name + " selects T = " + std::to_string(t));
            t = rows;
        }
        Outputs outputs;
        const std::string base = (fs::path(o.out) / ("video_" + p.vid + "_refiner_" + std::to_string(p.refiner))).string();
        for (int skip = 0; skip < 2; ++skip) {
            if (skip && layers.size() < 2) break;
            Config config;
            check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_LAYER_BEGIN, skip), "layer range");
            std::vector<double> rollout(static_cast<size_t>(t * t));
            const std::vector<int64_t> shape{t, t};
            const attnroll_tensor out{rollout.data(), ATTNROLL_F64, 2, shape.data(), nullptr};
            check(attnroll_temporal(layers.data(), static_cast<int32_t>(layers.size()), p.refiner, config.handle, &out),
                  "video " + p.vid + " " + where);
            add_temporal_outputs(outputs, base, skip ? "rollout_nolayer0" : "rollout", rollout, t);
        }
        outputs.commit(o.force);
        const std::vector<std::string> paths = outputs.paths();
        written.insert(written.end(), paths.begin(), paths.end());
        progress.step();
    }
    return written;
}

int cmd_temporal(int argc, char **argv) {
    const Args args = parse_args(argc, argv, 2, {"--output"}, {"--force", "--quiet", "--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kTemporalHelp, stdout);
        return kExitOk;
    }
    if (args.positional.size() != 1) throw Error("temporal: needs exactly one RUN_DIR (see --help)", kExitUsage);
    TemporalOptions o;
    o.out = args.value("--output", (fs::path(args.positional[0]) / "attnroll_temporal").string());
    o.force = args.has("--force");
    o.quiet = args.has("--quiet");
    for (const std::string &f : run_temporal(args.positional[0], o)) std::printf("wrote %s\n", f.c_str());
    return kExitOk;
}

// ------------------------------------------------------------------------
// info
// ------------------------------------------------------------------------

const char *kInfoHelp =
    "usage: attnroll info FILE...\n"
    "\n"
    "For each .npz or .npy: every array's key, shape, dtype and memory order, and\n"
    "what attnroll spatial or temporal would do with the file.\n";

std::string role_of(const std::string &path, const std::string &file, const Array &a) {
    static const std::regex spatial(
        R"(^video_(.+)_frames(\d+)-(\d+)_(?:backbone_vit_layer_|layer_backbone_vit_module_blocks_)(\d+)_attn(_collapsed)?\.(npz|npy)$)");
    static const std::regex temporal(R"(^video_(.+)_frames(\d+)-(\d+)_refiner_temporal_layer_(\d+)_attn\.npz$)");
    std::smatch m;
    if (std::regex_match(file, m, spatial)) {
        const bool collapsed = m[5].matched;
        const size_t rank = collapsed ? 3 : 4;
        std::string what = "spatial layer " + std::string(m[4]) + " of video " + std::string(m[1]) + " frames " +
                           std::string(m[2]) + "-" + std::string(m[3]);
        if (a.shape.size() != rank) return what + ": WRONG RANK, expected " + (collapsed ? "[F,N,N]" : "[F,H,N,N]");
        ArrayInFile span;
        const std::string reading = locate_frames(path, m[6] == "npy", span)
                                        ? "; read a frame at a time (when every layer of its window is)"
                                        : "; read whole, one layer in memory at a time (deflated, Fortran order or "
                                          "byte-swapped)";
        return what +
               (collapsed ? ": [F=" + std::to_string(a.shape[0]) + ", heads averaged, N=" + std::to_string(a.shape[2]) + "]"
                          : ": [F=" + std::to_string(a.shape[0]) + ",H=" + std::to_string(a.shape[1]) +
                                ",N=" + std::to_string(a.shape[3]) + "]") +
               reading;
    }
    if (std::regex_match(file, m, temporal))
        return "temporal layer file " + std::string(m[4]) + " of video " + std::string(m[1]) +
               " (order from its .meta.json; instance selection by refiner_id)";
    return "not a name attnroll spatial/temporal looks for (usable through the library)";
}

int cmd_info(int argc, char **argv) {
    const Args args = parse_args(argc, argv, 2, {}, {"--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kInfoHelp, stdout);
        return kExitOk;
    }
    if (args.positional.empty()) throw Error("info: needs at least one FILE (see --help)", kExitUsage);
    int status = kExitOk;
    for (const std::string &path : args.positional) {
        try {
            const std::string file = fs::path(path).filename().string();
            std::vector<std::pair<std::string, Array>> arrays;
            std::vector<std::string> storage;
            if (file.size() > 4 && file.compare(file.size() - 4, 4, ".npy") == 0) {
                arrays.emplace_back("(npy)", read_npy(path));
                storage.push_back("npy file");
            } else {
                for (const NpzMember &m : npz_members(path)) {
                    arrays.emplace_back(m.key, read_npz(path, m.key));
                    storage.push_back(m.deflated ? "deflated" : "stored");
                }
            }
            std::printf("%s\n", path.c_str());
            for (size_t i = 0; i < arrays.size(); ++i) {
                const Array &a = arrays[i].second;
                std::printf("  %-20s %-18s %-8s %-7s order  %s\n", arrays[i].first.c_str(), shape_text(a.shape).c_str(),
                            dtype_text(a.dtype), a.fortran_order ? "Fortran" : "C", storage[i].c_str());
            }
            const auto main_array = std::find_if(arrays.begin(), arrays.end(), [](const auto &kv) {
                return kv.first == "attention_weights" || kv.first == "(npy)";
            });
            if (main_array != arrays.end()) std::printf("  -> %s\n", role_of(path, file, main_array->second).c_str());
        } catch (const Error &e) {
            std::fprintf(stderr, "attnroll: %s\n", e.what());
            status = kExitBadInput;
        }
    }
    return status;
}

// ------------------------------------------------------------------------
// demo
// ------------------------------------------------------------------------

const char *kDemoHelp =
    "usage: attnroll demo [-o OUT] [--force] [--quiet]\n"
    "\n"
    "Writes a small synthetic dump to OUT (default ./attnroll_demo): a ViT-shaped spatial\n"
    "stack (4 frames, 12 layers, 4 heads, 1 CLS + 8x8 patches, float16, stored and deflated\n"
    "files, attention drawn to a blob\n"
    "that moves across the frames) and a temporal refiner run (two videos, one per\n"
    "attention layout), then runs `attnroll spatial` and `attnroll temporal` over it.\n";

// Row-softmax of logits into out (n values).
void softmax(const std::vector<double> &logits, float *out) {
    const double top = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (double l : logits) sum += std::exp(l - top);
    for (size_t j = 0; j < logits.size(); ++j) out[j] = static_cast<float>(std::exp(logits[j] - top) / sum);
}

// IEEE binary16 bits of a float, rounded to nearest even (the demo's data
// lies in [0, 1], so overflow is not reached).
uint16_t float_to_half(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    const uint32_t sign = (bits >> 16) & 0x8000u;
    const int exponent = static_cast<int>((bits >> 23) & 0xffu) - 127;
    uint32_t mantissa = bits & 0x7fffffu;
    if (exponent > 15) return static_cast<uint16_t>(sign | 0x7c00u);
    if (exponent >= -14) {
        uint32_t half = sign | (static_cast<uint32_t>(exponent + 15) << 10) | (mantissa >> 13);
        const uint32_t rest = mantissa & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry moves to the exponent, as it should
        return static_cast<uint16_t>(half);
    }
    if (exponent < -25) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;  // subnormal half: value = m * 2^-24
    const int shift = -exponent - 1;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
}

struct Lcg {  // small deterministic generator, uniform in [0, 1)
    uint64_t state;
    double next() {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(state >> 11) / 9007199254740992.0;
    }
};

void write_demo_spatial(const fs::path &dir, bool force, std::vector<std::pair<int, int>> &blobs) {
    const int frames = 4, layers = 12, heads = 4, side = 8, n = 1 + side * side;
    Lcg rng{42};
    for (int f = 0; f < frames; ++f) blobs.emplace_back(1 + 2 * f, 2 + f);
    for (int l = 0; l < layers; ++l) {
        std::vector<float> data(static_cast<size_t>(frames * heads * n * n));
        std::vector<double> logits(static_cast<size_t>(n));
        for (int f = 0; f < frames; ++f)
            for (int h = 0; h < heads; ++h)
                for (int i = 0; i < n; ++i) {
                    for (int j = 0; j < n; ++j) {
                        double bonus = 0;
                        if (j > 0) {
                            const int r = (j - 1) / side, c = (j - 1) % side;
                            const double d2 = (r - blobs[static_cast<size_t>(f)].first) * (r - blobs[static_cast<size_t>(f)].first) +
                                              (c - blobs[static_cast<size_t>(f)].second) * (c - blobs[static_cast<size_t>(f)].second);
                            bonus = 3.0 * std::exp(-d2 / 2.0);
                        }
                        logits[static_cast<size_t>(j)] = bonus + 0.5 * rng.next();
                    }
                    softmax(logits, &data[static_cast<size_t>(((f * heads + h) * n + i) * n)]);
                }
        const std::string name = "video_demo_frames0-" + std::to_string(frames - 1) + "_backbone_vit_layer_" +
                                 std::to_string(l) + "_attn.npz";
        std::vector<uint16_t> halves(data.size());
        std::transform(data.begin(), data.end(), halves.begin(), float_to_half);
        NpzEntry entry{"attention_weights", npy_image(halves.data(), ATTNROLL_F16, {frames, heads, n, n})};
        entry.deflate = l % 2 == 1;  // like np.savez_compressed, every other layer
        write_npz((dir / name).string(), {entry}, force);
    }
}

void write_demo_temporal(const fs::path &run, bool force) {
    const int t = 16, layers = 6, queries = 3;
    const fs::path maps = run / "inference" / "attention_maps";
    fs::create_directories(maps);
    Lcg rng{7};
    // Frames attend mostly to themselves and to frame 5 (an event the model tracks).
    auto make = [&](int count) {
        std::vector<double> data(static_cast<size_t>(count * t * t));
        std::vector<double> logits(static_cast<size_t>(t));
        std::vector<float> row(static_cast<size_t>(t));
        for (int q = 0; q < count; ++q)
            for (int i = 0; i < t; ++i) {
                for (int j = 0; j < t; ++j)
                    logits[static_cast<size_t>(j)] = (j == i ? 1.0 : 0.0) + (j == 5 + q ? 2.5 : 0.0) + rng.next();
                softmax(logits, row.data());
                for (int j = 0; j < t; ++j) data[static_cast<size_t>((q * t + i) * t + j)] = row[static_cast<size_t>(j)];
            }
        return data;
    };
    // Video 1: one file, a meta list of layers and keys.
    std::vector<NpzEntry> entries;
    nlohmann::json meta = nlohmann::json::array();
    for (int l = 0; l < layers; ++l) {
        const std::string key = "layer" + std::to_string(l);
        entries.push_back({key, npy_image(make(queries).data(), ATTNROLL_F64, {queries, t, t})});
        meta.push_back({{"layer", "refiner.transformer_time_self_attention_layers." + std::to_string(l)}, {"key", key}});
    }
    write_npz((maps / "video_1_temporal_refiner_attn.npz").string(), entries, force);
    const std::string meta_text = meta.dump(1);
    write_file_atomic((maps / "video_1_temporal_refiner_attn.meta.json").string(), meta_text.data(), meta_text.size(), force);
    // Video 2: one file per layer, each with its meta file.
    for (int l = 0; l < layers; ++l) {
        const std::string stem = "video_2_frames0-" + std::to_string(t - 1) + "_refiner_temporal_layer_" + std::to_string(l) + "_attn";
        write_npz((maps / (stem + ".npz")).string(), {{"attention_weights", npy_image(make(queries).data(), ATTNROLL_F64, {queries, t, t})}},
                  force);
        const std::string m = nlohmann::json{{"layer", "refiner.transformer_time_self_attention_layers." + std::to_string(l)}}.dump();
        write_file_atomic((maps / (stem + ".meta.json")).string(), m.data(), m.size(), force);
    }
    const nlohmann::json results = nlohmann::json::array({
        {{"video_id", 1}, {"score", 0.91}, {"refiner_id", 2}},
        {{"video_id", 1}, {"score", 0.40}, {"refiner_id", 0}},
        {{"video_id", 2}, {"score", 0.77}, {"refiner_id", 1}},
    });
    const std::string text = results.dump(1);
    write_file_atomic((run / "inference" / "results_temporal.json").string(), text.data(), text.size(), force);
}

int cmd_demo(int argc, char **argv) {
    const Args args = parse_args(argc, argv, 2, {"--output"}, {"--force", "--quiet", "--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kDemoHelp, stdout);
        return kExitOk;
    }
    if (!args.positional.empty()) throw Error("demo: takes no positional arguments (see --help)", kExitUsage);
    const fs::path out = args.value("--output", "attnroll_demo");
    const bool force = args.has("--force"), quiet = args.has("--quiet");
    fs::create_directories(out / "spatial");
    std::vector<std::pair<int, int>> blobs;
    write_demo_spatial(out / "spatial", force, blobs);
    write_demo_temporal(out / "run", force);
    std::printf("wrote a synthetic dump: %s (12 spatial layers) and %s (2 videos, 6 temporal layers)\n",
                (out / "spatial").string().c_str(), (out / "run").string().c_str());

    SpatialOptions so;
    so.out = (out / "spatial_out").string();
    so.force = force;
    so.quiet = quiet;
    for (const std::string &f : run_spatial((out / "spatial").string(), so)) std::printf("wrote %s\n", f.c_str());
    const Array r = read_npz((fs::path(so.out) / "video_demo_frames0-3_rollout.npz").string(), "rollout");
    const float *values = static_cast<const float *>(r.data());
    const int64_t n = r.shape[2];
    for (int64_t f = 0; f < r.shape[0]; ++f) {
        const float *cls = values + f * n * n;
        const int64_t peak = std::max_element(cls + 1, cls + n) - (cls + 1);
        std::printf("frame %lld: CLS row peaks at patch (%lld, %lld); the blob is at (%d, %d)\n",
                    static_cast<long long>(f), static_cast<long long>(peak / 8), static_cast<long long>(peak % 8),
                    blobs[static_cast<size_t>(f)].first, blobs[static_cast<size_t>(f)].second);
    }
    TemporalOptions to;
    to.out = (out / "temporal_out").string();
    to.force = force;
    to.quiet = quiet;
    for (const std::string &f : run_temporal((out / "run").string(), to)) std::printf("wrote %s\n", f.c_str());
    return kExitOk;
}

// ------------------------------------------------------------------------

const char *kHelp =
    "usage: attnroll COMMAND [ARGS]   (attnroll COMMAND --help for details)\n"
    "\n"
    "  spatial DIR      roll out spatial attention dumps, write rollout .npz and CLS heat maps\n"
    "  temporal RUN     roll out the temporal refiner's attention, write .npz, .csv and heat maps\n"
    "  demo             write a synthetic dump and run both commands over it\n"
    "  info FILE...     describe .npz/.npy files and what attnroll would do with them\n";

int run(int argc, char **argv) {
    if (argc < 2) {
        std::fputs(kHelp, stderr);
        return kExitUsage;
    }
    const std::string command = argv[1];
    if (command == "--help" || command == "-h" || command == "help") {
        std::fputs(kHelp, stdout);
        return kExitOk;
    }
    if (command == "--version") {
        std::printf("attnroll %s\n", attnroll_version_string());
        return kExitOk;
    }
    if (command == "spatial") return cmd_spatial(argc, argv);
    if (command == "temporal") return cmd_temporal(argc, argv);
    if (command == "demo") return cmd_demo(argc, argv);
    if (command == "info") return cmd_info(argc, argv);
    throw Error(command + ": unknown command (spatial, temporal, demo, info)", kExitUsage);
}

}  // namespace
}  // namespace cli

int main(int argc, char **argv) {
    try {
        return cli::run(argc, argv);
    } catch (const cli::Error &e) {
        std::fprintf(stderr, "attnroll: %s\n", e.what());
        return e.exit_status();
    } catch (const fs::filesystem_error &e) {
        std::fprintf(stderr, "attnroll: %s\n", e.what());
        return cli::kExitBadInput;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "attnroll: %s\n", e.what());
        return cli::kExitBadInput;
    }
}
