// fuzz_json: the tool's JSON readers, through `attnroll temporal`'s own code
// (run_temporal) on a run folder holding:
//   inference/results_temporal.json                       the fuzzed predictions
//   attention_maps/video_1_frames0-7_refiner_temporal_layer_<k>_attn.npz
//     and its .meta.json                                  a fuzzed per-layer meta file
//   inference/attention_maps/video_1.npz and video_1.meta.json   a fuzzed per-video meta file
// (the .npz files are empty, so the run stops at reading the arrays).  Any
// failure must be a cli::Error (or a filesystem error naming the path): a
// JSON library exception reaching the top would name no file.
#include <cstdint>
#include <filesystem>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "cli_error.hpp"
#include "commands.hpp"
#include "fuzz_tool_common.hpp"
#include "run_report.hpp"

namespace fs = std::filesystem;

namespace {

// The run folder, made once; each input writes the files it needs and removes
// the ones of the previous input it does not have.
struct RunFolder {
    std::string run, results, layer_npz, layer_meta, video_npz, video_meta, out;
    bool layer = false, video = false;  // is that pair in the folder now
};

RunFolder &run_folder() {
    static RunFolder f = [] {
        RunFolder r;
        const fs::path run = fz::scratch() + "/run";
        fs::remove_all(run);
        fs::create_directories(run / "inference" / "attention_maps");
        fs::create_directories(run / "attention_maps");
        const fs::path layer = run / "attention_maps" / "video_1_frames0-7_refiner_temporal_layer_0_attn.npz";
        const fs::path video = run / "inference" / "attention_maps" / "video_1.npz";
        r.run = run.string();
        r.results = (run / "inference" / "results_temporal.json").string();
        r.layer_npz = layer.string();
        r.layer_meta = fs::path(layer).replace_extension(".meta.json").string();
        r.video_npz = video.string();
        r.video_meta = fs::path(video).replace_extension(".meta.json").string();
        r.out = fz::scratch() + "/out";
        return r;
    }();
    return f;
}

// An empty .npz and its meta file, or neither.
void pair(bool want, bool &have, const std::string &npz, const std::string &meta, const std::string &text) {
    if (want) {
        fz::write_file(npz, "", 0);
        fz::write_file(meta, text.data(), text.size());
    } else if (have) {
        fz::remove_file(npz);
        fz::remove_file(meta);
    }
    have = want;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider fdp(data, size);
    RunFolder &f = run_folder();
    const int which = fdp.ConsumeIntegralInRange<int>(0, 3);
    const std::string results = fdp.ConsumeRandomLengthString(2048);
    const std::string layer_meta = fdp.ConsumeRandomLengthString(1024);
    const std::string video_meta = fdp.ConsumeRandomLengthString(2048);
    cli::TemporalOptions o;
    o.out = f.out;
    o.quiet = true;
    o.keep_going = fdp.ConsumeBool();
    o.all_predictions = fdp.ConsumeBool();
    o.refiner_id = fdp.ConsumeBool() ? -1 : fdp.ConsumeIntegralInRange<long>(0, 3);
    fz::write_file(f.results, results.data(), results.size());
    pair(which & 1, f.layer, f.layer_npz, f.layer_meta, layer_meta);
    pair(which & 2, f.video, f.video_npz, f.video_meta, video_meta);
    cli::RunReport report("temporal", nlohmann::json::object());
    try {
        cli::run_temporal(f.run, o, report);
    } catch (const cli::Error &) {
    } catch (const fs::filesystem_error &) {
    }
    std::error_code ec;
    fs::remove_all(f.out, ec);
    return 0;
}
