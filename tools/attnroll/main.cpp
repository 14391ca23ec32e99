// attnroll: roll out attention dumps as written by the model's scripts, and
// write the maps, tables and heat maps those scripts wrote.
//
// This file holds only the command table, which both dispatch and --help
// read, and the global options (given before the command).  Each command
// lives in its own cmd_<name>.cpp.  Exit status 0 (done), 1 (bad input or a
// failed video), 2 (usage).
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include "attnroll.h"
#include "cli_error.hpp"
#include "commands.hpp"

namespace cli {
namespace {

struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

const Command kCommands[] = {
    {"spatial", cmd_spatial, "roll out spatial attention dumps, write rollout .npz and CLS heat maps"},
    {"temporal", cmd_temporal, "roll out the temporal refiner's attention, write .npz, .csv and heat maps"},
    {"info", cmd_info, "describe .npz/.npy files and what attnroll would do with them"},
    {"demo", cmd_demo, "write a synthetic dump and run spatial and temporal over it"},
};

void print_help(std::FILE *to) {
    std::fputs("usage: attnroll [--version] [--help] COMMAND [ARGS]   (attnroll COMMAND --help for details)\n\n", to);
    for (const Command &c : kCommands) std::fprintf(to, "  %-10s %s\n", c.name, c.summary);
}

void print_version() {
    std::printf("attnroll tool %s\n", ATTNROLL_TOOL_VERSION);
    std::printf("library       libattnroll %s\n", attnroll_version_string());
    attnroll_blas_info blas;
    if (attnroll_blas_report(&blas) == ATTNROLL_OK)
        std::printf("BLAS          %s (kernel %s)\n", blas.blas, blas.kernel[0] ? blas.kernel : "unknown");
}

int run(int argc, char **argv) {
    // Global options come before the command; each is handled (or refused)
    // here, before any command runs.
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; ++first) {
        const std::string option = argv[first];
        if (option == "--help" || option == "-h") {
            print_help(stdout);
            return kExitOk;
        }
        if (option == "--version") {
            print_version();
            return kExitOk;
        }
        throw Error(option + ": unknown option (see attnroll --help)", kExitUsage);
    }
    if (first == argc) {
        print_help(stderr);
        return kExitUsage;
    }
    const std::string name = argv[first];
    if (name == "help") {
        print_help(stdout);
        return kExitOk;
    }
    for (const Command &c : kCommands)
        if (name == c.name) return c.run(argc - first, argv + first);
    std::string known;
    for (const Command &c : kCommands) known += std::string(known.empty() ? "" : ", ") + c.name;
    throw Error(name + ": unknown command (" + known + ")", kExitUsage);
}

}  // namespace
}  // namespace cli

int main(int argc, char **argv) {
    try {
        return cli::run(argc, argv);
    } catch (const cli::Error &e) {
        std::fprintf(stderr, "attnroll: %s\n", e.what());
        return e.exit_status();
    } catch (const std::exception &e) {  // filesystem errors name their paths
        std::fprintf(stderr, "attnroll: %s\n", e.what());
        return cli::kExitBadInput;
    }
}
