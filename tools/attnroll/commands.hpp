// The tool's commands.  Each takes argc/argv with argv[0] its own name, and
// returns the exit status (see cli_error.hpp); errors are thrown as cli::Error.
// main.cpp's table lists them with their one-line summaries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "args.hpp"

namespace cli {

int cmd_spatial(int argc, char **argv);
int cmd_temporal(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_demo(int argc, char **argv);

// What `attnroll spatial` does after parsing its options (the demo runs it too).
struct SpatialOptions {
    std::string out;
    Grid grid;  // from --grid; rows == 0: inferred from the tokens
    std::vector<int64_t> query_rows;
    long begin = 0, end = -1;  // -1: all
    long threads = 0;
    bool force = false, quiet = false;
};
// Returns the files written.
std::vector<std::string> run_spatial(const std::string &dir, const SpatialOptions &options);

// What `attnroll temporal` does after parsing its options.
struct TemporalOptions {
    std::string out;
    bool force = false, quiet = false;
};
std::vector<std::string> run_temporal(const std::string &run_dir, const TemporalOptions &options);

}  // namespace cli
