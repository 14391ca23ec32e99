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

#include <vector>

#include "attnroll.h"
#include "blas_autofix.h"
#include "cli_error.hpp"
#include "commands.hpp"
#include "io/interrupt.hpp"
#include "run_report.hpp"

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
    std::fputs("usage: attnroll [--version] [--help] [--blas-core auto|keep|NAME] COMMAND [ARGS]\n"
               "       (attnroll COMMAND --help for details)\n\n", to);
    for (const Command &c : kCommands) std::fprintf(to, "  %-10s %s\n", c.name, c.summary);
    std::fputs("\n"
               "  --blas-core auto   (default) when OpenBLAS picked a kernel below what the CPU\n"
               "                     supports and OPENBLAS_CORETYPE is unset, run again once with\n"
               "                     OPENBLAS_CORETYPE set to the CPU's best kernel (checked first)\n"
               "  --blas-core keep   run on the kernel OpenBLAS picked\n"
               "  --blas-core NAME   force an OpenBLAS kernel the CPU can run (e.g. Haswell)\n"
               "  (may also follow the command; --version shows the kernel in use)\n",
               to);
}

void print_version() {
    std::printf("attnroll tool %s\n", ATTNROLL_TOOL_VERSION);
    std::printf("library       libattnroll %s\n", attnroll_version_string());
    attnroll_blas_info blas;
    if (attnroll_blas_report(&blas) == ATTNROLL_OK)
        std::printf("BLAS          %s\n", blas.blas);
    std::printf("BLAS kernel   %s\n", blas_autofix_summary());
}

// Applies --blas-core (anywhere on the command line: it concerns the whole
// process, which it may re-execute) and returns the arguments without it.
std::vector<char *> apply_blas_core(int argc, char **argv) {
    const char *mode = blas_autofix_mode_from_args(argc, argv);
    char err[256];
    if (blas_autofix(mode, argv, err, sizeof err) != 0) throw Error(err, kExitUsage);
    std::vector<char *> rest;
    for (int i = 0; i < argc; ++i) {
        const bool separate = std::strcmp(argv[i], "--blas-core") == 0;
        if (separate || std::strncmp(argv[i], "--blas-core=", 12) == 0) {
            if (separate && i + 1 < argc) ++i;
            continue;
        }
        if (std::strcmp(argv[i], "--") == 0) {
            rest.insert(rest.end(), argv + i, argv + argc);
            break;
        }
        rest.push_back(argv[i]);
    }
    rest.push_back(nullptr);
    return rest;
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
        cli::remember_command_line(argc, argv);
        std::vector<char *> args = cli::apply_blas_core(argc, argv);
        cli::start_interrupt_cleanup();  // before any thread starts
        return cli::run(static_cast<int>(args.size() - 1), args.data());
    } catch (const cli::Error &e) {
        std::fprintf(stderr, "attnroll: %s\n", e.what());
        return e.exit_status();
    } catch (const std::exception &e) {  // filesystem errors name their paths
        std::fprintf(stderr, "attnroll: %s\n", e.what());
        return cli::kExitBadInput;
    }
}
