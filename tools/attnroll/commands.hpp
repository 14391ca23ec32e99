// The tool's commands.  Each takes argc/argv with argv[0] its own name, and
// returns the exit status (see cli_error.hpp); errors are thrown as cli::Error.
// main.cpp's table lists them with their one-line summaries.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "args.hpp"
#include "dump_layout.hpp"

namespace cli {

class RunReport;

int cmd_spatial(int argc, char **argv);
int cmd_temporal(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_demo(int argc, char **argv);

// What the commands share: where and how outputs go, which videos, and what
// a failure or a warning does.
struct RunOptions {
    std::string out;                  // BASE (original layout) or the folder (flat)
    Layout layout = Layout::original;
    std::set<std::string> videos;     // --videos; empty: all
    bool keep_going = false, strict = false, force = false, quiet = false;
};

// What `attnroll spatial` does after parsing its options (the demo runs it too).
// The rollout method (attnroll.h's pipeline): --heads, --drop-tokens,
// --discard, --protect, --rule, --cumulative, --grad-key.
struct Method {
    int32_t fusion = 0;                // ATTNROLL_FUSE_*
    std::string fusion_name = "mean";
    long drop_tokens = 0;
    double discard = 0;
    bool protect_given = false;
    std::vector<int64_t> protect;      // with protect_given: the columns (may be empty)
    int32_t rule = 0;                  // ATTNROLL_RULE_*
    std::string rule_name = "rollout";
    bool cumulative = false;
    std::string grad_key;              // the gradients' array beside attention_weights
};

struct SpatialOptions : RunOptions {
    Method method;
    Grid grid;  // from --grid; rows == 0: inferred from the tokens
    std::vector<int64_t> query_rows;
    long begin = 0, end = -1;  // --layers A:B (-1: all)
    long layer_count = -1;     // --layers N: exactly N layers per window (-1: any)
    long threads = 0;
    bool verify_crc = true;  // --no-crc turns off the CRC-32 check of stored layers
    bool flow = false, spectrum = false;
};
// Rolls out every video, recording each in `report`; returns the exit status.
int run_spatial(const std::string &dir, const SpatialOptions &options, RunReport &report);

// What `attnroll temporal` does after parsing its options.
struct TemporalOptions : RunOptions {
    long refiner_id = -1;  // --refiner-id; -1: the prediction's
    bool all_predictions = false;
};
int run_temporal(const std::string &run_dir, const TemporalOptions &options, RunReport &report);

}  // namespace cli
