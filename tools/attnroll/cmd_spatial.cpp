// attnroll spatial: rolls out every (video, frame window) of spatial
// attention dumps and writes the rollout and CLS heat maps.
#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "args.hpp"
#include "attnroll.h"
#include "cli_error.hpp"
#include "commands.hpp"
#include "dump_layout.hpp"
#include "formats/npy.hpp"
#include "formats/npz.hpp"
#include "formats/png.hpp"
#include "io/file_read.hpp"
#include "library.hpp"
#include "outputs.hpp"
#include "parallel_for.hpp"
#include "progress.hpp"

namespace fs = std::filesystem;

namespace cli {
namespace {

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
        return window_stem(vid, first, last);
    }
};

std::vector<Window> find_windows(const std::string &dir) {
    if (!fs::is_directory(dir)) throw Error(dir + ": is not a directory");
    std::map<std::string, Window> windows;
    for (const auto &entry : fs::directory_iterator(dir)) {
        const std::string file = entry.path().filename().string();
        SpatialLayerName name;
        if (!entry.is_regular_file() || !parse_spatial_layer_name(file, name)) continue;
        Window w;
        w.vid = name.vid;
        w.first = name.first;
        w.last = name.last;
        Window &slot = windows.emplace(w.stem(), w).first->second;
        if (slot.layers.count(name.layer))
            throw Error(entry.path().string() + ": layer " + std::to_string(name.layer) + " of " + w.stem() +
                        " also in " + slot.layers[name.layer].path);
        slot.layers[name.layer] = {entry.path().string(), name.collapsed, name.npy};
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
    StreamPtr stream(nullptr, attnroll_stream_destroy);
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

}  // namespace

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


namespace {

void parse_layers(const std::string &text, SpatialOptions &o) {
    const size_t colon = text.find(':');
    if (colon == std::string::npos) throw Error("--layers: '" + text + "' is not A:B (e.g. 1: or 0:12)", kExitUsage);
    const std::string a = text.substr(0, colon), b = text.substr(colon + 1);
    if (b.find(':') != std::string::npos) throw Error("--layers: '" + text + "' is not A:B (e.g. 1: or 0:12)", kExitUsage);
    o.begin = a.empty() ? 0 : parse_long(a, "--layers", 0, LONG_MAX);
    o.end = b.empty() ? -1 : parse_long(b, "--layers", 0, LONG_MAX);
    if (o.begin < 0 || (o.end >= 0 && o.end <= o.begin))
        throw Error("--layers: '" + text + "' is not a non-empty range of layers", kExitUsage);
}

}  // namespace

int cmd_spatial(int argc, char **argv) {
    const Args args = parse_args(argc, argv, {"--output", "--grid", "--query-rows", "--layers", "--threads"},
                                 {"--force", "--quiet", "--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kSpatialHelp, stdout);
        return kExitOk;
    }
    if (args.positional.size() != 1) throw Error("spatial: needs exactly one DIR (see --help)", kExitUsage);
    SpatialOptions o;
    const std::string dir = args.positional[0];
    o.out = args.value("--output", (fs::path(dir) / "attnroll_spatial").string());
    if (args.given("--grid")) o.grid = parse_grid(args.values.at("--grid"));
    if (args.given("--query-rows"))
        for (const long r : parse_long_list(args.values.at("--query-rows"), "--query-rows", 0, LONG_MAX))
            o.query_rows.push_back(r);
    if (args.values.count("--layers")) parse_layers(args.values.at("--layers"), o);
    o.threads = parse_long(args.value("--threads", "0"), "--threads", 0, 4096);
    o.force = args.has("--force");
    o.quiet = args.has("--quiet");
    for (const std::string &f : run_spatial(dir, o)) std::printf("wrote %s\n", f.c_str());
    return kExitOk;
}

}  // namespace cli
