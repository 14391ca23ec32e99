// attnroll spatial: rolls out every (video, frame window) of spatial
// attention dumps and writes the rollout and CLS heat maps.
#include <algorithm>
#include <climits>
#include <cstring>
#include <set>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "args.hpp"
#include "attnroll.h"
#include "cli_error.hpp"
#include "commands.hpp"
#include "diagnostics.hpp"
#include "dump_layout.hpp"
#include "formats/csv.hpp"
#include "formats/npy.hpp"
#include "formats/npz.hpp"
#include "formats/png.hpp"
#include "io/crc32.hpp"
#include "io/file_map.hpp"
#include "io/output_lock.hpp"
#include "io/file_read.hpp"
#include "library.hpp"
#include "outputs.hpp"
#include "parallel_for.hpp"
#include "progress.hpp"
#include "run_report.hpp"

namespace fs = std::filesystem;

namespace cli {
namespace {

const char *kSpatialHelp =
    "usage: attnroll spatial DIR [-o BASE] [--layout original|flat] [--grid RxC]\n"
    "                        [--query-rows R[,R...]] [--layers N|A:B] [--videos V[,V...]]\n"
    "                        [--heads mean|max|min|entropy|grad] [--drop-tokens K | --drop-cls]\n"
    "                        [--discard P] [--protect C[,C...]|none] [--rule rollout|chefer]\n"
    "                        [--cumulative] [--grad-key NAME]\n"
    "                        [--threads N] [--keep-going] [--strict] [--force] [--quiet]\n"
    "\n"
    "Rolls out every (video, frame window) in DIR/attention_maps/ (or in DIR itself):\n"
    "  video_<v>_frames<a>-<b>_backbone_vit_layer_<l>_attn.npz\n"
    "  video_<v>_frames<a>-<b>_layer_backbone_vit_module_blocks_<l>_attn.npz   (older naming)\n"
    "(or ..._attn_collapsed.npz with heads already fused, or .npy), each holding\n"
    "attention_weights [F,H,N,N] (collapsed: [F,N,N]), float32 or float16. Every window\n"
    "of a video must have the same layers 0..L-1, and windows must not overlap. By\n"
    "default heads are averaged (the spec's rollout); the method options below select\n"
    "the other methods of attnroll.h's pipeline. The users' newest spatial_rollout.py\n"
    "is --heads entropy --drop-tokens 1. Stored (np.savez) C-order layers are read in\n"
    "place a frame at a time by each worker, their CRC-32 checked as they are read;\n"
    "others a layer at a time.\n"
    "\n"
    "Writes to BASE/attention_maps/rolled_out/ (default: DIR/attention_maps/rolled_out/,\n"
    "or DIR/rolled_out/ when DIR holds the layer files), as spatial_rollout.py does:\n"
    "  video_<v>_backbone_vit_rolled_out.npz   attention_weights: float32 [sum F, N', N']\n"
    "                                          (or [sum F, k, N']), windows in frame order;\n"
    "                                          N' = N - K; --cumulative: [L', sum F, ...]\n"
    "  video_<v>_frames<a>-<b>_cls_f<i>.png    extra: CLS row over the patch grid, per frame\n"
    "                                          (with tokens dropped: the mean over rows)\n"
    "  video_<v>_frames<a>-<b>_cls_contact.png extra: all frames of the window\n"
    "  attnroll_run.json                       what this run read and wrote\n"
    "With --layout flat: -o OUT (default DIR/attnroll_spatial) gets, per window,\n"
    "  video_<v>_frames<a>-<b>_rollout.npz     rollout: float32 [F,N',N'], and the PNGs.\n"
    "\n"
    "  -o, --out BASE    base folder of the outputs (see above)\n"
    "  --layout L        original (the script's tree, default) or flat\n"
    "  --grid RxC        patch grid (default: inferred when the patches are a square)\n"
    "  --query-rows R,.. rows of the rollout to compute (the first is drawn); default all\n"
    "  --layers N        require exactly N layers in every window (the script needs 24)\n"
    "  --layers A:B      roll out layers A..B-1 only (either side may be empty; 1: drops layer 0)\n"
    "  --videos V,...    only these videos\n"
    "method (attnroll.h, 'The pipeline'):\n"
    "  --heads F         head fusion: mean (default), max, min, entropy (the newest script),\n"
    "                    grad (Chefer et al.; needs --grad-key)\n"
    "  --drop-tokens K   drop the first K tokens (CLS, registers) and renormalise rows\n"
    "  --drop-cls        the same as --drop-tokens 1\n"
    "  --discard P       zero the fraction P in [0,1) of smallest fused entries (vit-explain)\n"
    "  --protect C,..    columns --discard spares (default 0, the CLS column; 'none': no column)\n"
    "  --rule R          rollout (default: normalize_rows(A + I)) or chefer (A + I, R += A R)\n"
    "  --cumulative      write every partial product R_l (a leading layer axis)\n"
    "  --grad-key NAME   the gradients' array in each layer file (implies --heads grad)\n"
    "diagnostics (each layer is read once more, whole):\n"
    "  --flow            attention flow (attnroll_flow) from the CLS row (or --query-rows):\n"
    "                    video_<v>_backbone_vit_flow.npz, key flow [sum F, q, N'], and\n"
    "                    <stem>_flow_f<i>.png heat maps; exact but slow (seconds a frame)\n"
    "  --spectrum        <stem>_effective_rank.csv (frame, layer, effective rank of the\n"
    "                    layer's fused map and of the partial rollout) and a line plot\n"
    "run:\n"
    "  --threads N       worker threads (default: one per core)\n"
    "  --no-crc          skip the CRC-32 check of stored layers read in place (np.load checks\n"
    "                    it; it costs one pass of the CPU's CRC over every byte)\n"
    "  --keep-going      after a video fails, go on with the next (exit status 1 at the end)\n"
    "  --strict          treat every warning as an error\n"
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

// Every window of the layer folder, by video, each video's windows in frame
// order.  A layer number found twice in a window is an error naming both files.
std::map<std::string, std::vector<Window>> find_videos(const fs::path &dir, const std::set<std::string> &only) {
    std::map<std::string, Window> windows;
    for (const auto &entry : fs::directory_iterator(dir)) {
        const std::string file = entry.path().filename().string();
        SpatialLayerName name;
        if (!entry.is_regular_file() || !parse_spatial_layer_name(file, name)) continue;
        if (!only.empty() && !only.count(name.vid)) continue;
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
    std::map<std::string, std::vector<Window>> videos;
    for (auto &kv : windows) videos[kv.second.vid].push_back(std::move(kv.second));
    for (auto &kv : videos)
        std::sort(kv.second.begin(), kv.second.end(),
                  [](const Window &a, const Window &b) { return a.first != b.first ? a.first < b.first : a.last < b.last; });
    if (videos.empty())
        throw Error(dir.string() + ": no attention files (video_<v>_frames<a>-<b>_backbone_vit_layer_<l>_attn.npz)" +
                    (only.empty() ? std::string() : " of the videos given to --videos"));
    for (const std::string &v : only)
        if (!videos.count(v)) throw Error("--videos: video " + v + " has no attention files in " + dir.string());
    return videos;
}

std::string layer_list(const Window &w) {
    std::string s;
    for (const auto &kv : w.layers) s += (s.empty() ? "" : ",") + std::to_string(kv.first);
    return s;
}

// The users' rules for one video's windows: layers 0..L-1 without a gap, the
// same layers in every window (exactly --layers N when given), and no two
// windows sharing a frame (a full-range set beside windowed sets is one way).
void check_video(const std::vector<Window> &windows, long layer_count) {
    for (const Window &w : windows) {
        const long count = w.layers.rbegin()->first + 1;
        for (long l = 0; l < count; ++l)
            if (!w.layers.count(l))
                throw Error(w.layers.rbegin()->second.path + ": " + w.stem() + " has layers " + layer_list(w) +
                            ": layer " + std::to_string(l) + " is missing");
        if (layer_count >= 0 && count != layer_count)
            throw Error(w.layers.rbegin()->second.path + ": " + w.stem() + " has " + std::to_string(count) +
                        " layers (0.." + std::to_string(count - 1) + "), but --layers " + std::to_string(layer_count) +
                        " requires " + std::to_string(layer_count));
        if (w.layers.size() != windows[0].layers.size())
            throw Error(w.layers.rbegin()->second.path + ": " + w.stem() + " has layers " + layer_list(w) + " but " +
                        windows[0].stem() + " has layers " + layer_list(windows[0]) +
                        " (windows of one video must have the same layers)");
    }
    for (size_t i = 1; i < windows.size(); ++i) {
        const Window &a = windows[i - 1], &b = windows[i];
        if (b.first > a.last) continue;
        const bool nested = (a.first <= b.first && b.last <= a.last) || (b.first <= a.first && a.last <= b.last);
        throw Error(b.layers.begin()->second.path + ": frames " + std::to_string(b.first) + "-" + std::to_string(b.last) +
                    " overlap frames " + std::to_string(a.first) + "-" + std::to_string(a.last) + " of " +
                    a.layers.begin()->second.path +
                    (nested ? " (a full-range file set beside windowed ones)" : "") +
                    "; keep one set of windows per video");
    }
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

// Where each layer's elements are (and its gradients' with --grad-key),
// when every layer of the window can be read a frame at a time; else empty.
struct LayerSpans {
    ArrayInFile attn, grad;
};
std::vector<LayerSpans> layer_spans(const Window &w, long begin, long end, const std::string &grad_key) {
    std::vector<LayerSpans> spans(static_cast<size_t>(end - begin));
    for (long l = begin; l < end; ++l) {
        const LayerFile &f = w.layers.at(l);
        LayerSpans &span = spans[static_cast<size_t>(l - begin)];
        if (!locate_frames(f.path, f.npy, span.attn)) return {};
        span.attn.shape = layer_shape(f, span.attn.shape);
        if (grad_key.empty()) continue;
        if (!locate_npz_member(f.path, grad_key, span.grad) || span.grad.fortran_order) return {};
        if (span.grad.shape != span.attn.shape)
            throw Error(f.path + ": " + grad_key + " has shape " + shape_text(span.grad.shape) +
                        ", attention_weights " + shape_text(span.attn.shape) + " (--grad-key)");
    }
    return spans;
}

// One window's rollout: [L', F, rows, N'] with --cumulative (L' the layer
// range), else [F, rows, N'] (L' = 1), float32, inside its .npy image.
struct WindowRollout {
    int64_t layers = 1, frames = 0, rows = 0, n = 0;  // n = N' = N - dropped tokens
    long dropped = 0;
    Grid grid;
    std::vector<unsigned char> image;
    float *data = nullptr;  // inside image (64-byte offset: aligned)

    // Once the shape is known, before any work: a bad --grid is refused here.
    void allocate(int64_t f, const SpatialOptions &o, int64_t tokens, long layer_range) {
        const Method &m = o.method;
        if (m.drop_tokens >= tokens)
            throw Error("--drop-tokens: " + std::to_string(m.drop_tokens) + " is not below the " +
                            std::to_string(tokens) + " tokens",
                        kExitUsage);
        dropped = m.drop_tokens;
        cumulative_axis = m.cumulative;
        layers = m.cumulative ? layer_range : 1;
        frames = f;
        n = tokens - dropped;
        rows = o.query_rows.empty() ? n : static_cast<int64_t>(o.query_rows.size());
        // The patches: everything after the CLS token, or after the dropped ones.
        const long patches = static_cast<long>(dropped ? n : n - 1);
        grid = grid_for(patches, o.grid,
                        "N=" + std::to_string(tokens) + ": " +
                            (dropped ? std::to_string(dropped) + " dropped" : std::string("1 CLS")) + " + " +
                            std::to_string(patches) + " patches");
        size_t offset = 0;
        image = npy_image_for(ATTNROLL_F32, shape(f), &offset);
        data = reinterpret_cast<float *>(image.data() + offset);
    }
    std::vector<int64_t> shape(int64_t f) const {
        return cumulative_axis ? std::vector<int64_t>{layers, f, rows, n} : std::vector<int64_t>{f, rows, n};
    }
    // Frames [first, first + count) as an output view: a strided one into the
    // [L', F, rows, N'] image with --cumulative.
    attnroll_tensor frames_out(int64_t first, int64_t count, std::vector<int64_t> &shape_store,
                               std::vector<int64_t> &stride_store) const {
        shape_store = shape(count);
        stride_store = cumulative_axis ? std::vector<int64_t>{frames * rows * n, rows * n, n, 1}
                                       : std::vector<int64_t>{rows * n, n, 1};
        return {data + first * rows * n, ATTNROLL_F32, static_cast<int32_t>(shape_store.size()), shape_store.data(),
                stride_store.data()};
    }
    // The last (or only) layer's [F, rows, N'] block: the ordinary rollout.
    const float *final_block() const { return data + (layers - 1) * frames * rows * n; }
    bool cumulative_axis = false;
};

std::string frames_mismatch(const std::string &path, int64_t frames, int64_t n, long first_layer, int64_t want_frames,
                            int64_t want_n) {
    return path + ": attention_weights has " + std::to_string(frames) + " frames of " + std::to_string(n) +
           " tokens, but layer " + std::to_string(first_layer) + " has " + std::to_string(want_frames) + " of " +
           std::to_string(want_n);
}

// Layers read in place, a frame at a time: each worker thread takes whole
// frames and, for each, maps its slice of every layer (MappedRange: the page
// cache itself, no copy) and pushes it to a one-frame stream of its own,
// single-threaded.  Reading and rolling out overlap across workers with no
// barrier between them, and nothing is held but one frame-slice mapping per
// worker.
// The CRC-32 the archive records for a stored member, checked from the CRCs
// of its frame slices as the workers read them (no second read of the
// elements): a corrupted layer file is an error, as np.load makes it.
class MemberCrc {
public:
    MemberCrc(const ArrayInFile &a, size_t frames, size_t slice_bytes, bool verify)
        : array_(a), verify_(verify && a.has_crc), slice_bytes_(slice_bytes), slices_(verify_ ? frames : 0) {}
    bool wanted() const { return verify_; }
    void slice(size_t frame, const unsigned char *bytes) { slices_[frame] = crc32_update(0, bytes, slice_bytes_); }
    void verify(const std::string &key) const {
        if (!verify_) return;
        const uint64_t header = array_.offset - array_.member_offset;
        const uint64_t elements = slices_.size() * slice_bytes_;
        std::vector<unsigned char> head(static_cast<size_t>(header));
        read_range(array_.path, array_.member_offset, head.data(), head.size());
        uint32_t crc = crc32_update(0, head.data(), head.size());
        for (const uint32_t c : slices_) crc = crc32_join(crc, c, slice_bytes_);
        if (array_.member_size > header + elements) {  // bytes after the elements, if any
            std::vector<unsigned char> tail(static_cast<size_t>(array_.member_size - header - elements));
            read_range(array_.path, array_.offset + elements, tail.data(), tail.size());
            crc = crc32_update(crc, tail.data(), tail.size());
        }
        if (crc != array_.crc) {
            char text[96];
            std::snprintf(text, sizeof text, ": %s is corrupted (CRC-32 %08x, the archive records %08x)", key.c_str(),
                          crc, array_.crc);
            throw Error(array_.path + text);
        }
    }

private:
    const ArrayInFile &array_;
    bool verify_;
    size_t slice_bytes_;
    std::vector<uint32_t> slices_;  // per frame
};

void roll_out_by_frame(const Window &w, const std::vector<LayerSpans> &spans, const Config &config,
                       const SpatialOptions &o, Progress &progress, WindowRollout &r) {
    const std::string &grad_key = o.method.grad_key;
    const long threads = o.threads;
    const int64_t n = r.n + r.dropped;  // the tokens in the files
    const size_t frames = static_cast<size_t>(r.frames), workers = worker_count(frames, static_cast<size_t>(threads));
    const auto slice_bytes = [&](const ArrayInFile &a) {
        return static_cast<size_t>(a.shape[1] * n * n * attnroll_dtype_size(a.dtype));
    };
    std::vector<MemberCrc> attn_crcs, grad_crcs;
    for (const LayerSpans &s : spans) {
        attn_crcs.emplace_back(s.attn, frames, slice_bytes(s.attn), o.verify_crc);
        grad_crcs.emplace_back(s.grad, frames, s.grad.path.empty() ? 0 : slice_bytes(s.grad), o.verify_crc);
    }
    std::mutex progress_mutex;
    parallel_for(frames, workers, [&](size_t frame, size_t) {
        const auto f = static_cast<int64_t>(frame);
        auto stream = make_stream(config, 1, n, w.stem());
        for (size_t l = 0; l < spans.size(); ++l) {
            const LayerSpans &s = spans[l];
            const int64_t heads = s.attn.shape[1];
            const std::vector<int64_t> shape{1, heads, n, n};
            // Inputs are only read (attnroll.h); the mappings are read-only.
            const auto slice_of = [&](const ArrayInFile &a, MemberCrc &crc) {
                const size_t bytes = slice_bytes(a);
                auto m = std::make_unique<MappedRange>(a.path, a.offset + static_cast<uint64_t>(f) * bytes, bytes);
                if (crc.wanted()) crc.slice(frame, m->data());  // leaves the slice in cache for the push
                return m;
            };
            const auto attn = slice_of(s.attn, attn_crcs[l]);
            const attnroll_tensor t{const_cast<unsigned char *>(attn->data()), s.attn.dtype, 4, shape.data(), nullptr};
            if (s.grad.path.empty()) {
                check(attnroll_stream_push(stream.get(), &t), s.attn.path);
            } else {
                const auto grad = slice_of(s.grad, grad_crcs[l]);
                const attnroll_tensor g{const_cast<unsigned char *>(grad->data()), s.grad.dtype, 4, shape.data(), nullptr};
                check(attnroll_stream_push_grad(stream.get(), &t, &g), s.attn.path);
                grad->check();
            }
            attn->check();
            std::lock_guard<std::mutex> lock(progress_mutex);
            progress.step(1.0 / static_cast<double>(frames));
        }
        std::vector<int64_t> shape, strides;
        const attnroll_tensor out = r.frames_out(f, 1, shape, strides);
        check(attnroll_stream_result(stream.get(), &out), w.stem() + " frame " + std::to_string(f));
    });
    for (size_t l = 0; l < spans.size(); ++l) {
        attn_crcs[l].verify("attention_weights");
        grad_crcs[l].verify(grad_key);
    }
}

// Layers read whole (deflated, Fortran order, byte-swapped), one in memory at
// a time, each pushed for all frames to one stream (multi-threaded inside).
void roll_out_by_layer(const Window &w, long begin, long end, const Config &config, const SpatialOptions &o,
                       Progress &progress, WindowRollout &r) {
    StreamPtr stream(nullptr, attnroll_stream_destroy);
    std::vector<unsigned char> recycled;  // the previous layer's buffer
    int64_t tokens = 0;
    for (long l = begin; l < end; ++l) {
        const LayerFile &f = w.layers.at(l);
        Array a = load_layer(f, std::move(recycled));
        if (!stream) {
            tokens = a.shape[3];
            r.allocate(a.shape[0], o, tokens, end - begin);
            stream = make_stream(config, r.frames, tokens, f.path);
        } else if (a.shape[0] != r.frames || a.shape[3] != tokens) {
            throw Error(frames_mismatch(f.path, a.shape[0], a.shape[3], begin, r.frames, tokens));
        }
        const attnroll_tensor t = a.tensor();
        if (o.method.grad_key.empty()) {
            check(attnroll_stream_push(stream.get(), &t), f.path);
        } else {
            Array g = read_npz(f.path, o.method.grad_key, {});
            if (g.shape != std::vector<int64_t>(a.shape.begin(), a.shape.end()))
                throw Error(f.path + ": " + o.method.grad_key + " has shape " + shape_text(g.shape) +
                            ", attention_weights " + shape_text(a.shape) + " (--grad-key)");
            const attnroll_tensor gt = g.tensor();
            check(attnroll_stream_push_grad(stream.get(), &t, &gt), f.path);
        }
        recycled = std::move(a.storage);
        progress.step();
    }
    std::vector<int64_t> shape, strides;
    const attnroll_tensor out = r.frames_out(0, r.frames, shape, strides);
    check(attnroll_stream_result(stream.get(), &out), w.stem());
}

// The method's options, set on a config (the library checks them against
// the shapes when the stream is created, and its message names the option).
void set_method(const Config &config, const SpatialOptions &o) {
    const Method &m = o.method;
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_HEAD_FUSION, m.fusion), "--heads");
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_DROP_TOKENS, m.drop_tokens), "--drop-tokens");
    check(attnroll_config_set_float(config.handle, ATTNROLL_OPT_DISCARD_RATIO, m.discard), "--discard");
    if (m.protect_given)
        check(attnroll_config_set_ints(config.handle, ATTNROLL_OPT_PROTECT, m.protect.data(),
                                       static_cast<int64_t>(m.protect.size())),
              "--protect");
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_RULE, m.rule), "--rule");
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_CUMULATIVE, m.cumulative ? 1 : 0), "--cumulative");
}

// Rolls out one window, streaming its layers.
WindowRollout roll_out_window(const Window &w, const SpatialOptions &o, Progress &progress) {
    const long count = static_cast<long>(w.layers.size());
    const long begin = o.begin, end = o.end < 0 ? count : o.end;
    if (begin >= end || end > count)
        throw Error("--layers: " + std::to_string(begin) + ":" + std::to_string(o.end < 0 ? count : o.end) + " is not a non-empty range within the " +
                        std::to_string(count) + " layers of " + w.stem(),
                    kExitUsage);
    if (!o.method.grad_key.empty())
        for (const auto &kv : w.layers)
            if (kv.second.npy || kv.second.collapsed)
                throw Error(kv.second.path + ": --grad-key needs .npz layer files holding every head (" +
                            (kv.second.npy ? "a .npy file holds one array" : "a collapsed file has no heads") + ")");
    Config config;
    if (!o.query_rows.empty())
        check(attnroll_config_set_ints(config.handle, ATTNROLL_OPT_QUERY_ROWS, o.query_rows.data(),
                                       static_cast<int64_t>(o.query_rows.size())),
              "--query-rows");
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_THREADS, o.threads), "--threads");
    set_method(config, o);

    WindowRollout r;
    const std::vector<LayerSpans> spans = layer_spans(w, begin, end, o.method.grad_key);
    if (!spans.empty()) {
        const int64_t frames = spans[0].attn.shape[0], n = spans[0].attn.shape[3];
        for (const LayerSpans &s : spans)
            if (s.attn.shape[0] != frames || s.attn.shape[3] != n)
                throw Error(frames_mismatch(s.attn.path, s.attn.shape[0], s.attn.shape[3], begin, frames, n));
        r.allocate(frames, o, n, end - begin);
        check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_THREADS, 1), "--threads");
        roll_out_by_frame(w, spans, config, o, progress, r);
    } else {
        roll_out_by_layer(w, begin, end, config, o, progress, r);
    }
    return r;
}

// The window's heat maps over the patch grid, from the final rollout: the CLS
// row (row 0, or the first query row) without its CLS column; with tokens
// dropped there is no CLS row, so the map is the first query row, or the mean
// over rows (how much each patch is drawn on).  One per frame, titled with
// the video and the frame, and a contact sheet.  Extras: no script writes them.
// `kind` names the files ("cls": the rollout, "flow": the attention flow);
// `block` is [frames, rows, N'] with r's frames, N' and grid.
void add_maps(Outputs &outputs, const fs::path &folder, const Window &w, const WindowRollout &r, const float *block,
              int64_t rows, const std::string &kind, const std::string &title) {
    auto maps = std::make_shared<std::vector<std::vector<float>>>(static_cast<size_t>(r.frames));
    const bool mean_over_rows = r.dropped > 0 && rows == r.n;
    for (int64_t f = 0; f < r.frames; ++f) {
        const float *frame = block + f * rows * r.n;
        std::vector<float> &map = (*maps)[static_cast<size_t>(f)];
        if (r.dropped == 0) {
            map.assign(frame + 1, frame + r.n);
        } else if (!mean_over_rows) {
            map.assign(frame, frame + r.n);
        } else {
            std::vector<double> sum(static_cast<size_t>(r.n), 0.0);
            for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < r.n; ++j) sum[static_cast<size_t>(j)] += frame[i * r.n + j];
            map.resize(sum.size());
            for (size_t j = 0; j < sum.size(); ++j) map[j] = static_cast<float>(sum[j] / static_cast<double>(rows));
        }
    }
    const Grid grid = r.grid;
    const std::string base = (folder / w.stem()).string();
    HeatmapStyle style;
    style.cell = std::max(1, static_cast<int>(256 / std::max(grid.rows, grid.cols)));
    for (int64_t f = 0; f < r.frames; ++f) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "_f%03lld.png", static_cast<long long>(f));
        const std::string path = base + "_" + kind + suffix;
        style.title = title + "Video " + w.vid + ", frame " + std::to_string(w.first + f);
        outputs.add(path, [path, maps, f, grid, style](bool force) {
            write_heatmap(path, (*maps)[static_cast<size_t>(f)].data(), static_cast<int>(grid.rows),
                          static_cast<int>(grid.cols), style, force);
        });
    }
    const std::string sheet = base + "_" + kind + "_contact.png";
    outputs.add(sheet, [sheet, maps, grid, style](bool force) {
        std::vector<const float *> all;
        for (const auto &m : *maps) all.push_back(m.data());
        write_contact_sheet(sheet, all, static_cast<int>(grid.rows), static_cast<int>(grid.cols), style.cell, force);
    });
}

// spatial_rollout.py's per-video array: the windows' rollouts along frames, in
// frame order ([L', sum F, rows, N'] with --cumulative); one window: its own
// image, not copied.
std::vector<unsigned char> video_image(std::vector<WindowRollout> &rollouts, const std::vector<Window> &windows) {
    if (rollouts.size() == 1) return std::move(rollouts[0].image);
    int64_t frames = 0;
    const WindowRollout &first = rollouts[0];
    for (size_t i = 0; i < rollouts.size(); ++i) {
        if (rollouts[i].rows != first.rows || rollouts[i].n != first.n || rollouts[i].layers != first.layers)
            throw Error(windows[i].layers.begin()->second.path + ": " + windows[i].stem() + " has " +
                        std::to_string(rollouts[i].n + rollouts[i].dropped) + " tokens, but " + windows[0].stem() +
                        " has " + std::to_string(first.n + first.dropped));
        frames += rollouts[i].frames;
    }
    size_t offset = 0;
    std::vector<unsigned char> image = npy_image_for(ATTNROLL_F32, first.shape(frames), &offset);
    for (int64_t l = 0; l < first.layers; ++l)
        for (const WindowRollout &r : rollouts) {
            const size_t bytes = static_cast<size_t>(r.frames * r.rows * r.n) * sizeof(float);
            std::memcpy(image.data() + offset, r.data + l * r.frames * r.rows * r.n, bytes);
            offset += bytes;
        }
    return image;
}

// --flow and --spectrum for one window, from the fused maps of its layers
// (read again, one at a time): the flow [F, q, N'] is returned for the
// video's file; the spectrum's CSV and plot are added to `outputs`.
std::vector<float> add_diagnostics(Outputs &outputs, const fs::path &out, const Window &w, const WindowRollout &r,
                                   const SpatialOptions &o) {
    const long begin = o.begin, end = o.end < 0 ? static_cast<long>(w.layers.size()) : o.end;
    FusedLayers fused;
    std::vector<unsigned char> recycled;
    for (long l = begin; l < end; ++l) {
        const LayerFile &f = w.layers.at(l);
        Array a = load_layer(f, std::move(recycled));
        const attnroll_tensor t = a.tensor();
        if (o.method.grad_key.empty()) {
            add_fused_layer(fused, t, nullptr, o.method, f.path);
        } else {
            const Array g = read_npz(f.path, o.method.grad_key, {});
            const attnroll_tensor gt = g.tensor();
            add_fused_layer(fused, t, &gt, o.method, f.path);
        }
        recycled = std::move(a.storage);
    }
    const std::string base = (out / w.stem()).string();
    std::vector<float> flow;
    if (o.flow) {
        const std::vector<int64_t> rows = o.query_rows.empty() ? std::vector<int64_t>{0} : o.query_rows;
        flow = flow_of(fused, rows, o.method, o.threads, w.stem());
        add_maps(outputs, out, w, r, flow.data(), static_cast<int64_t>(rows.size()), "flow", "Attention flow\n");
    }
    if (o.spectrum) {
        const Spectrum sp = spectrum_of(fused, o.method, o.threads, w.stem());
        const int64_t frames = fused.frames, layers = end - begin;
        std::string csv = "frame,layer,effective_rank_layer,effective_rank_rollout\n";
        std::vector<std::vector<double>> lines(static_cast<size_t>(frames));
        for (int64_t f = 0; f < frames; ++f)
            for (int64_t l = 0; l < layers; ++l) {
                const size_t at = static_cast<size_t>(l * frames + f);
                csv += std::to_string(w.first + f) + "," + std::to_string(begin + l) + "," +
                       python_float_text(sp.layer[at]) + "," + python_float_text(sp.rollout[at]) + "\n";
                lines[static_cast<size_t>(f)].push_back(sp.rollout[at]);
            }
        outputs.bytes(base + "_effective_rank.csv", std::move(csv));
        const std::string plot = base + "_effective_rank.png";
        const std::string title = "Effective rank of the partial rollout\nVideo " + w.vid + ", frames " +
                                  std::to_string(w.first) + "-" + std::to_string(w.last) + ", one line per frame";
        outputs.add(plot, [plot, lines, begin, title](bool force) {
            write_line_plot(plot, lines, begin, title, "Layer", "Rank", force);
        });
    }
    return flow;
}

// The flow array of windows [F, q, N'] along frames.
std::vector<unsigned char> flow_image(const std::vector<const std::vector<float> *> &flows, int64_t rows, int64_t n) {
    int64_t frames = 0;
    for (const auto *f : flows) frames += static_cast<int64_t>(f->size()) / (rows * n);
    size_t offset = 0;
    std::vector<unsigned char> image = npy_image_for(ATTNROLL_F32, {frames, rows, n}, &offset);
    for (const auto *fp : flows) {
        const std::vector<float> &f = *fp;
        std::memcpy(image.data() + offset, f.data(), f.size() * sizeof(float));
        offset += f.size() * sizeof(float);
    }
    return image;
}

// Rolls out one video's windows and writes its files, all or nothing.
std::vector<std::string> roll_out_video(const std::vector<Window> &windows, const fs::path &out, const SpatialOptions &o,
                                        Progress &progress) {
    check_video(windows, o.layer_count);
    std::vector<WindowRollout> rollouts;
    for (const Window &w : windows) rollouts.push_back(roll_out_window(w, o, progress));
    Outputs outputs;
    std::vector<std::vector<float>> flows;
    for (size_t i = 0; i < windows.size(); ++i) {
        add_maps(outputs, out, windows[i], rollouts[i], rollouts[i].final_block(), rollouts[i].rows, "cls", "");
        if (o.flow || o.spectrum) flows.push_back(add_diagnostics(outputs, out, windows[i], rollouts[i], o));
    }
    const int64_t flow_rows = o.query_rows.empty() ? 1 : static_cast<int64_t>(o.query_rows.size());
    if (o.layout == Layout::original) {
        if (o.flow) {
            std::vector<NpzEntry> entry(1);
            std::vector<const std::vector<float> *> all;
            for (const auto &f : flows) all.push_back(&f);
            entry[0] = {"flow", flow_image(all, flow_rows, rollouts[0].n)};
            outputs.npz((out / ("video_" + windows[0].vid + "_backbone_vit_flow.npz")).string(), std::move(entry));
        }
        std::vector<NpzEntry> entry(1);  // moved in, not copied from an initializer list
        entry[0] = {"attention_weights", video_image(rollouts, windows)};
        outputs.npz((out / spatial_video_file(windows[0].vid)).string(), std::move(entry));
    } else {
        for (size_t i = 0; i < windows.size(); ++i) {
            if (o.flow) {
                std::vector<NpzEntry> entry(1);
                entry[0] = {"flow", flow_image({&flows[i]}, flow_rows, rollouts[i].n)};
                outputs.npz((out / (windows[i].stem() + "_flow.npz")).string(), std::move(entry));
            }
            std::vector<NpzEntry> entry(1);
            entry[0] = {"rollout", std::move(rollouts[i].image)};
            outputs.npz((out / (windows[i].stem() + "_rollout.npz")).string(), std::move(entry));
        }
    }
    outputs.commit(o.force, o.threads);
    return outputs.paths();
}

// The folder holding the layer files: DIR/attention_maps when there is one
// (as the script reads it), else DIR.
fs::path layer_folder(const std::string &dir) {
    if (!fs::is_directory(dir)) throw Error(dir + ": is not a directory");
    const fs::path maps = fs::path(dir) / "attention_maps";
    return fs::is_directory(maps) ? maps : fs::path(dir);
}

}  // namespace

int run_spatial(const std::string &dir, const SpatialOptions &o, RunReport &report) {
    const fs::path layers = layer_folder(dir);
    const auto videos = find_videos(layers, o.videos);
    fs::path out = o.out;
    if (o.layout == Layout::original)
        out = o.out.empty() ? layers / "rolled_out" : fs::path(o.out) / kRolledOutDir;
    else if (o.out.empty())
        out = fs::path(dir) / "attnroll_spatial";
    const OutputLock lock(out.string(), "spatial", o.videos);
    long total = 0;
    for (const auto &kv : videos)
        for (const Window &w : kv.second) total += static_cast<long>(w.layers.size());
    Progress progress("spatial", total, o.quiet);
    for (const auto &kv : videos) {
        try {
            for (const Window &w : kv.second)
                for (const auto &l : w.layers) report.input(l.second.path);
            const auto files = roll_out_video(kv.second, out, o, progress);
            const long used = (o.end < 0 ? static_cast<long>(kv.second[0].layers.size()) : o.end) - o.begin;
            report.video_done(kv.first, files,
                              std::to_string(kv.second.size()) + " window" + (kv.second.size() == 1 ? "" : "s") + ", " +
                                  std::to_string(used) + " layers used of " +
                                  std::to_string(kv.second[0].layers.size()));
        } catch (const Error &e) {
            if (e.exit_status() == kExitUsage) throw;
            std::fprintf(stderr, "attnroll: %s\n", e.what());
            report.video_failed(kv.first, e.what());
            if (!o.keep_going) break;
        }
    }
    return report.finish((out / kManifestName).string());
}

namespace {

void parse_layers(const std::string &text, SpatialOptions &o) {
    const size_t colon = text.find(':');
    if (colon == std::string::npos) {
        o.layer_count = parse_long(text, "--layers", 1, LONG_MAX);
        return;
    }
    const std::string a = text.substr(0, colon), b = text.substr(colon + 1);
    if (b.find(':') != std::string::npos) throw Error("--layers: '" + text + "' is not N or A:B (e.g. 24, 1: or 0:12)", kExitUsage);
    o.begin = a.empty() ? 0 : parse_long(a, "--layers", 0, LONG_MAX);
    o.end = b.empty() ? -1 : parse_long(b, "--layers", 0, LONG_MAX);
    if (o.end >= 0 && o.end <= o.begin)
        throw Error("--layers: '" + text + "' is not a non-empty range of layers", kExitUsage);
}

}  // namespace

namespace {

// --heads, --drop-tokens/--drop-cls, --discard, --protect, --rule,
// --cumulative, --grad-key.
void parse_method(const Args &args, Method &m) {
    static const std::pair<const char *, int32_t> fusions[] = {{"mean", ATTNROLL_FUSE_MEAN},
                                                               {"max", ATTNROLL_FUSE_MAX},
                                                               {"min", ATTNROLL_FUSE_MIN},
                                                               {"entropy", ATTNROLL_FUSE_ENTROPY},
                                                               {"grad", ATTNROLL_FUSE_GRAD}};
    m.grad_key = args.value("--grad-key", "");
    if (args.given("--grad-key") && m.grad_key.empty()) throw Error("--grad-key: needs an array name", kExitUsage);
    m.fusion_name = args.value("--heads", m.grad_key.empty() ? "mean" : "grad");
    bool known = false;
    for (const auto &f : fusions)
        if (m.fusion_name == f.first) {
            m.fusion = f.second;
            known = true;
        }
    if (!known)
        throw Error("--heads: '" + m.fusion_name + "' is not one of mean, max, min, entropy, grad", kExitUsage);
    if ((m.fusion == ATTNROLL_FUSE_GRAD) != !m.grad_key.empty())
        throw Error(m.grad_key.empty() ? "--heads grad: needs --grad-key NAME (the gradients' array in each layer file)"
                                       : "--grad-key: gradients are used only by --heads grad, not --heads " + m.fusion_name,
                    kExitUsage);
    if (args.has("--drop-cls") && args.given("--drop-tokens") && args.values.at("--drop-tokens") != "1")
        throw Error("--drop-cls: means --drop-tokens 1, but --drop-tokens " + args.values.at("--drop-tokens") + " is given",
                    kExitUsage);
    m.drop_tokens = args.has("--drop-cls") ? 1 : parse_long(args.value("--drop-tokens", "0"), "--drop-tokens", 0, LONG_MAX);
    m.discard = parse_fraction(args.value("--discard", "0"), "--discard", 0.0, 1.0);
    if (args.given("--protect")) {
        m.protect_given = true;
        const std::string text = args.values.at("--protect");
        if (text != "none")
            for (const long c : parse_long_list(text, "--protect", 0, LONG_MAX)) m.protect.push_back(c);
    }
    m.rule_name = args.value("--rule", "rollout");
    if (m.rule_name != "rollout" && m.rule_name != "chefer")
        throw Error("--rule: '" + m.rule_name + "' is not rollout or chefer", kExitUsage);
    m.rule = m.rule_name == "chefer" ? ATTNROLL_RULE_CHEFER : ATTNROLL_RULE_ROLLOUT;
    m.cumulative = args.has("--cumulative");
}

}  // namespace

int cmd_spatial(int argc, char **argv) {
    const Args args = parse_args(argc, argv,
                                 {"--output", "--layout", "--grid", "--query-rows", "--layers", "--threads", "--videos",
                                  "--heads", "--drop-tokens", "--discard", "--protect", "--rule", "--grad-key"},
                                 {"--keep-going", "--strict", "--force", "--quiet", "--help", "-h", "--drop-cls",
                                  "--cumulative", "--no-crc", "--flow", "--spectrum"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kSpatialHelp, stdout);
        return kExitOk;
    }
    if (args.positional.size() != 1) throw Error("spatial: needs exactly one DIR (see --help)", kExitUsage);
    SpatialOptions o;
    const std::string dir = args.positional[0];
    o.layout = parse_layout(args.value("--layout", "original"));
    o.out = args.value("--output", "");
    if (args.given("--grid")) o.grid = parse_grid(args.values.at("--grid"));
    if (args.given("--query-rows"))
        for (const long r : parse_long_list(args.values.at("--query-rows"), "--query-rows", 0, LONG_MAX))
            o.query_rows.push_back(r);
    if (args.given("--layers")) parse_layers(args.values.at("--layers"), o);
    if (args.given("--videos"))
        for (const std::string &v : parse_word_list(args.values.at("--videos"), "--videos")) o.videos.insert(v);
    o.threads = parse_long(args.value("--threads", "0"), "--threads", 0, 4096);
    parse_method(args, o.method);
    o.verify_crc = !args.has("--no-crc");
    o.flow = args.has("--flow");
    o.spectrum = args.has("--spectrum");
    if ((o.flow || o.spectrum) && o.method.cumulative)
        throw Error(std::string(o.flow ? "--flow" : "--spectrum") + ": not with --cumulative (--spectrum covers every layer)",
                    kExitUsage);
    o.keep_going = args.has("--keep-going");
    o.strict = args.has("--strict");
    o.force = args.has("--force");
    o.quiet = args.has("--quiet");
    RunReport report("spatial", {{"out", o.out},
                                 {"layout", layout_name(o.layout)},
                                 {"grid", o.grid.rows ? std::to_string(o.grid.rows) + "x" + std::to_string(o.grid.cols) : ""},
                                 {"query_rows", o.query_rows},
                                 {"layers", args.value("--layers", "")},
                                 {"videos", o.videos},
                                 {"heads", o.method.fusion_name},
                                 {"drop_tokens", o.method.drop_tokens},
                                 {"discard", o.method.discard},
                                 {"protect", o.method.protect_given ? nlohmann::json(o.method.protect) : nlohmann::json("0 (default)")},
                                 {"rule", o.method.rule_name},
                                 {"cumulative", o.method.cumulative},
                                 {"grad_key", o.method.grad_key},
                                 {"threads", o.threads},
                                 {"verify_crc", o.verify_crc},
                                 {"flow", o.flow},
                                 {"spectrum", o.spectrum},
                                 {"keep_going", o.keep_going},
                                 {"strict", o.strict},
                                 {"force", o.force}});
    return run_spatial(dir, o, report);
}

}  // namespace cli
