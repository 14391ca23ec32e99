// attnroll info: what is in .npz/.npy files, and what the other commands
// would do with them.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "args.hpp"
#include "blas_autofix.h"
#include "cli_error.hpp"
#include "commands.hpp"
#include "dump_layout.hpp"
#include "formats/npy.hpp"
#include "formats/npz.hpp"
#include "library.hpp"

namespace fs = std::filesystem;

namespace cli {
namespace {

const char *kInfoHelp =
    "usage: attnroll info FILE...\n"
    "\n"
    "For each .npz or .npy: every array's key, shape, dtype and memory order, and\n"
    "what attnroll spatial or temporal would do with the file.\n";

std::string role_of(const std::string &path, const std::string &file, const Array &a) {
    SpatialLayerName sp;
    TemporalLayerName tp;
    if (parse_spatial_layer_name(file, sp)) {
        const size_t rank = sp.collapsed ? 3 : 4;
        std::string what = "spatial layer " + std::to_string(sp.layer) + " of video " + sp.vid + " frames " +
                           std::to_string(sp.first) + "-" + std::to_string(sp.last);
        if (a.shape.size() != rank) return what + ": WRONG RANK, expected " + (sp.collapsed ? "[F,N,N]" : "[F,H,N,N]");
        ArrayInFile span;
        const bool ranged = sp.npy ? locate_npy(path, span) : locate_npz_member(path, "attention_weights", span);
        const std::string reading = ranged && !span.fortran_order
                                        ? "; read a frame at a time (when every layer of its window is)"
                                        : "; read whole, one layer in memory at a time (deflated, Fortran order or "
                                          "byte-swapped)";
        return what +
               (sp.collapsed ? ": [F=" + std::to_string(a.shape[0]) + ", heads averaged, N=" + std::to_string(a.shape[2]) + "]"
                             : ": [F=" + std::to_string(a.shape[0]) + ",H=" + std::to_string(a.shape[1]) +
                                   ",N=" + std::to_string(a.shape[3]) + "]") +
               reading;
    }
    if (parse_temporal_layer_name(file, tp))
        return "temporal layer file " + std::to_string(tp.layer) + " of video " + tp.vid +
               " (order from its .meta.json; instance selection by refiner_id)";
    return "not a name attnroll spatial/temporal looks for (usable through the library)";
}

}  // namespace

int cmd_info(int argc, char **argv) {
    const Args args = parse_args(argc, argv, {}, {"--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kInfoHelp, stdout);
        return kExitOk;
    }
    if (args.positional.empty()) throw Error("info: needs at least one FILE (see --help)", kExitUsage);
    int status = kExitOk;
    for (const std::string &path : args.positional) {
        try {
            const std::string file = fs::path(path).filename().string();
            std::vector<std::pair<std::string, Array>> arrays;
            std::vector<std::string> storage;
            if (file.size() > 4 && file.compare(file.size() - 4, 4, ".npy") == 0) {
                arrays.emplace_back("(npy)", read_npy(path));
                storage.push_back("npy file");
            } else {
                for (const NpzMember &m : npz_members(path)) {
                    arrays.emplace_back(m.key, read_npz(path, m.key));
                    storage.push_back(m.deflated ? "deflated" : "stored");
                }
            }
            std::printf("%s\n", path.c_str());
            for (size_t i = 0; i < arrays.size(); ++i) {
                const Array &a = arrays[i].second;
                std::printf("  %-20s %-18s %-8s %-7s order  %s\n", arrays[i].first.c_str(), shape_text(a.shape).c_str(),
                            dtype_text(a.dtype), a.fortran_order ? "Fortran" : "C", storage[i].c_str());
            }
            const auto main_array = std::find_if(arrays.begin(), arrays.end(), [](const auto &kv) {
                return kv.first == "attention_weights" || kv.first == "(npy)";
            });
            if (main_array != arrays.end()) std::printf("  -> %s\n", role_of(path, file, main_array->second).c_str());
        } catch (const Error &e) {
            std::fprintf(stderr, "attnroll: %s\n", e.what());
            status = kExitBadInput;
        }
    }
    // What the rollouts of these files would run on (see --blas-core).
    std::printf("BLAS kernel   %s\n", blas_autofix_summary());
    return status;
}

}  // namespace cli
