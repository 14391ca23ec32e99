// fuzz_names: the tool's dump-folder discovery from file names.
//   - the name parsers (dump_layout.hpp) accept or refuse any string; what
//     they accept rebuilds into the name (window_stem is its prefix, numbers
//     are >= 0);
//   - run_spatial on a folder holding files of those names (empty: no layer
//     reads) groups them into windows and checks the users' rules: it may
//     only fail with cli::Error (or a filesystem error naming the path),
//     never with another exception.
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "cli_error.hpp"
#include "commands.hpp"
#include "dump_layout.hpp"
#include "fuzz_tool_common.hpp"
#include "run_report.hpp"

namespace fs = std::filesystem;

namespace {

bool usable(const std::string &name) {
    if (name.empty() || name == "." || name == ".." || name.size() > 200) return false;
    for (char ch : name)
        if (ch == '/' || ch == '\0') return false;
    return true;
}

void check_names(const std::string &name) {
    cli::SpatialLayerName s;
    if (cli::parse_spatial_layer_name(name, s)) {
        if (s.first < 0 || s.last < 0 || s.layer < 0) std::abort();
        if (name.rfind(cli::window_stem(s.vid, s.first, s.last), 0) != 0) {
            // Leading zeros ("frames007") do not rebuild: only the numbers must.
            cli::SpatialLayerName again;
            if (!cli::parse_spatial_layer_name(name, again) || again.first != s.first) std::abort();
        }
    }
    cli::TemporalLayerName t;
    if (cli::parse_temporal_layer_name(name, t) && (t.first < 0 || t.last < 0 || t.layer < 0)) std::abort();
    (void)cli::is_temporal_video_file(name, "1");
    (void)cli::self_attention_index(name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider fdp(data, size);
    std::vector<std::string> names;
    const bool prefixed = fdp.ConsumeBool();
    const int n = fdp.ConsumeIntegralInRange<int>(1, 12);
    for (int i = 0; i < n && fdp.remaining_bytes() > 0; ++i) {
        std::string name = fdp.ConsumeRandomLengthString(120);
        // Mostly the users' spelling, with the fuzzed part in the variable fields.
        if (prefixed) name = "video_" + name;
        try {
            check_names(name);
        } catch (const cli::Error &) {
            // a number too large: an error naming the file is the right answer
        }
        if (usable(name)) names.push_back(name);
    }
    // The folder (made once) holds exactly this input's names, created in its
    // order, and is emptied again at the end: nothing allocated here outlives
    // the input (libFuzzer would run every input twice to look for a leak).
    static const std::string dir = [] {
        const fs::path d = fz::scratch() + "/layers";
        fs::remove_all(d);
        fs::create_directories(d);
        return d.string();
    }();
    for (const std::string &name : names) fz::write_file(dir + "/" + name, "", 0);
    cli::SpatialOptions o;
    static const std::string out = fz::scratch() + "/out";
    o.out = out;
    o.quiet = true;
    o.keep_going = fdp.ConsumeBool();
    o.layer_count = fdp.ConsumeBool() ? -1 : fdp.ConsumeIntegralInRange<long>(1, 4);
    o.threads = 1;
    cli::RunReport report("spatial", nlohmann::json::object());
    try {
        cli::run_spatial(dir, o, report);
    } catch (const cli::Error &) {
    } catch (const fs::filesystem_error &) {
    }
    for (const std::string &name : names) fz::remove_file(dir + "/" + name);
    std::error_code ec;
    fs::remove_all(out, ec);
    return 0;
}
