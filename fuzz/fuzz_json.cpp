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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider fdp(data, size);
    const fs::path run = fz::scratch() + "/run";
    std::error_code ec;
    fs::remove_all(run, ec);
    fs::create_directories(run / "inference" / "attention_maps");
    fs::create_directories(run / "attention_maps");
    const int which = fdp.ConsumeIntegralInRange<int>(0, 3);
    const std::string results = fdp.ConsumeRandomLengthString(2048);
    const std::string layer_meta = fdp.ConsumeRandomLengthString(1024);
    const std::string video_meta = fdp.ConsumeRandomLengthString(2048);
    cli::TemporalOptions o;
    o.out = fz::scratch() + "/out";
    o.quiet = true;
    o.keep_going = fdp.ConsumeBool();
    o.all_predictions = fdp.ConsumeBool();
    o.refiner_id = fdp.ConsumeBool() ? -1 : fdp.ConsumeIntegralInRange<long>(0, 3);
    fz::write_file((run / "inference" / "results_temporal.json").string(), results.data(), results.size());
    if (which & 1) {
        const fs::path npz = run / "attention_maps" / "video_1_frames0-7_refiner_temporal_layer_0_attn.npz";
        fz::write_file(npz.string(), "", 0);
        fz::write_file(fs::path(npz).replace_extension(".meta.json").string(), layer_meta.data(), layer_meta.size());
    }
    if (which & 2) {
        const fs::path npz = run / "inference" / "attention_maps" / "video_1.npz";
        fz::write_file(npz.string(), "", 0);
        fz::write_file(fs::path(npz).replace_extension(".meta.json").string(), video_meta.data(), video_meta.size());
    }
    cli::RunReport report("temporal", nlohmann::json::object());
    try {
        cli::run_temporal(run.string(), o, report);
    } catch (const cli::Error &) {
    } catch (const fs::filesystem_error &) {
    }
    fs::remove_all(fz::scratch() + "/out", ec);
    return 0;
}
