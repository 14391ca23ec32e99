// attnroll demo: writes a small synthetic dump in the users' layouts and runs
// `attnroll spatial` and `attnroll temporal` over it.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.hpp"
#include "attnroll.h"
#include "cli_error.hpp"
#include "commands.hpp"
#include "formats/npy.hpp"
#include "formats/npz.hpp"
#include "io/atomic_file.hpp"
#include "run_report.hpp"
#include "synth.h"

namespace fs = std::filesystem;

namespace cli {
namespace {

const char *kDemoHelp =
    "usage: attnroll demo [-o OUT] [--force] [--quiet]\n"
    "\n"
    "Writes a small synthetic dump to OUT (default ./attnroll_demo) in the users' layouts:\n"
    "OUT/spatial/attention_maps/, a ViT-shaped spatial stack (4 frames, 12 layers, 4 heads,\n"
    "1 CLS + 8x8 patches, float16, stored and deflated files, attention drawn to a blob\n"
    "that moves across the frames), and OUT/run/, a temporal refiner run (two videos, one\n"
    "per attention layout).  Then runs `attnroll spatial OUT/spatial` and\n"
    "`attnroll temporal OUT/run`, which write beside their inputs as the scripts do.\n";

const synth_blob kSpatial = {4, 4, 12, 8, 8, 42};  // frames, heads, layers, grid 8x8, seed

void write_demo_spatial(const fs::path &dir, bool force) {
    const int64_t frames = kSpatial.frames, heads = kSpatial.heads, n = 1 + kSpatial.grid_rows * kSpatial.grid_cols;
    std::vector<float> data(static_cast<size_t>(frames * heads * n * n));
    std::vector<uint16_t> halves(data.size());
    for (long l = 0; l < kSpatial.layers; ++l) {
        if (synth_blob_layer(data.data(), &kSpatial, l) != 0) throw Error("demo: out of memory");
        std::transform(data.begin(), data.end(), halves.begin(), synth_f32_to_f16);
        const std::string name = "video_demo_frames0-" + std::to_string(frames - 1) + "_backbone_vit_layer_" +
                                 std::to_string(l) + "_attn.npz";
        NpzEntry entry{"attention_weights", npy_image(halves.data(), ATTNROLL_F16, {frames, heads, n, n})};
        entry.deflate = l % 2 == 1;  // like np.savez_compressed, every other layer
        write_npz((dir / name).string(), {entry}, force);
    }
}

// [count, t, t] softmax rows: frames attend mostly to themselves and to frame
// 5 + q (an event the model tracks for instance q).
std::vector<double> demo_refiner_layer(int count, int t, uint64_t *rng) {
    std::vector<double> data(static_cast<size_t>(count * t * t)), logits(static_cast<size_t>(t));
    std::vector<float> row(static_cast<size_t>(t));
    for (int q = 0; q < count; ++q)
        for (int i = 0; i < t; ++i) {
            for (int j = 0; j < t; ++j)
                logits[static_cast<size_t>(j)] = (j == i ? 1.0 : 0.0) + (j == 5 + q ? 2.5 : 0.0) + synth_uniform(rng);
            synth_softmax(logits.data(), row.data(), row.size());
            std::copy(row.begin(), row.end(), data.begin() + (q * t + i) * t);
        }
    return data;
}

void write_json(const fs::path &path, const nlohmann::json &value, bool force) {
    const std::string text = value.dump(1);
    write_file_atomic(path.string(), text.data(), text.size(), force);
}

void write_demo_temporal(const fs::path &run, bool force) {
    const int t = 16, layers = 6, queries = 3;
    const fs::path maps = run / "inference" / "attention_maps";
    fs::create_directories(maps);
    uint64_t rng = synth_mix64(7);
    const auto layer_name = [](int l) { return "refiner.transformer_time_self_attention_layers." + std::to_string(l); };
    // Video 1: one file, a meta list of layers and keys.
    std::vector<NpzEntry> entries;
    nlohmann::json meta = nlohmann::json::array();
    for (int l = 0; l < layers; ++l) {
        const std::string key = "layer" + std::to_string(l);
        entries.push_back({key, npy_image(demo_refiner_layer(queries, t, &rng).data(), ATTNROLL_F64, {queries, t, t})});
        meta.push_back({{"layer", layer_name(l)}, {"key", key}});
    }
    write_npz((maps / "video_1_temporal_refiner_attn.npz").string(), entries, force);
    write_json(maps / "video_1_temporal_refiner_attn.meta.json", meta, force);
    // Video 2: one file per layer, each with its meta file.
    for (int l = 0; l < layers; ++l) {
        const std::string stem = "video_2_frames0-" + std::to_string(t - 1) + "_refiner_temporal_layer_" + std::to_string(l) + "_attn";
        write_npz((maps / (stem + ".npz")).string(),
                  {{"attention_weights", npy_image(demo_refiner_layer(queries, t, &rng).data(), ATTNROLL_F64, {queries, t, t})}},
                  force);
        write_json(maps / (stem + ".meta.json"), {{"layer", layer_name(l)}}, force);
    }
    write_json(run / "inference" / "results_temporal.json",
               nlohmann::json::array({
                   {{"video_id", 1}, {"score", 0.91}, {"refiner_id", 2}},
                   {{"video_id", 1}, {"score", 0.40}, {"refiner_id", 0}},
                   {{"video_id", 2}, {"score", 0.77}, {"refiner_id", 1}},
               }),
               force);
}

}  // namespace

int cmd_demo(int argc, char **argv) {
    const Args args = parse_args(argc, argv, {"--output"}, {"--force", "--quiet", "--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kDemoHelp, stdout);
        return kExitOk;
    }
    if (!args.positional.empty()) throw Error("demo: takes no positional arguments (see --help)", kExitUsage);
    const fs::path out = args.value("--output", "attnroll_demo");
    const bool force = args.has("--force"), quiet = args.has("--quiet");
    const fs::path spatial = out / "spatial", maps = spatial / "attention_maps", run = out / "run";
    fs::create_directories(maps);
    write_demo_spatial(maps, force);
    write_demo_temporal(run, force);
    std::printf("wrote a synthetic dump: %s (12 spatial layers) and %s (2 videos, 6 temporal layers)\n",
                maps.string().c_str(), run.string().c_str());

    SpatialOptions so;
    so.force = force;
    so.quiet = quiet;
    RunReport spatial_report("spatial", {{"demo", true}});
    if (run_spatial(spatial.string(), so, spatial_report) != kExitOk) return kExitBadInput;
    const Array r = read_npz((maps / "rolled_out" / spatial_video_file("demo")).string(), "attention_weights");
    const float *values = static_cast<const float *>(r.data());
    const int64_t n = r.shape[2], cols = kSpatial.grid_cols;
    for (int64_t f = 0; f < r.shape[0]; ++f) {
        const float *cls = values + f * n * n;
        const int64_t peak = std::max_element(cls + 1, cls + n) - (cls + 1);
        long blob_row = 0, blob_col = 0;
        synth_blob_centre(&kSpatial, static_cast<long>(f), &blob_row, &blob_col);
        std::printf("frame %lld: CLS row peaks at patch (%lld, %lld); the blob is at (%ld, %ld)\n",
                    static_cast<long long>(f), static_cast<long long>(peak / cols), static_cast<long long>(peak % cols),
                    blob_row, blob_col);
    }
    TemporalOptions to;
    to.out = run.string();
    to.force = force;
    to.quiet = quiet;
    RunReport temporal_report("temporal", {{"demo", true}});
    return run_temporal(run.string(), to, temporal_report);
}

}  // namespace cli
