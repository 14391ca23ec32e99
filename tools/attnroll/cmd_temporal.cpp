// attnroll temporal: rolls out the temporal refiner's attention of each
// video's top prediction and writes the maps, column means, CSVs and plots.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.hpp"
#include "attnroll.h"
#include "cli_error.hpp"
#include "commands.hpp"
#include "dump_layout.hpp"
#include "formats/npy.hpp"
#include "formats/npz.hpp"
#include "formats/png.hpp"
#include "library.hpp"
#include "outputs.hpp"
#include "progress.hpp"

namespace fs = std::filesystem;

namespace cli {
namespace {

std::vector<unsigned char> image_of(const std::vector<double> &values, const std::vector<int64_t> &shape) {
    return npy_image(values.data(), ATTNROLL_F64, shape);
}

const char *kTemporalHelp =
    "usage: attnroll temporal RUN_DIR [-o OUT] [--force] [--quiet]\n"
    "\n"
    "For each video's top-scoring prediction in RUN_DIR/inference/results_temporal.json,\n"
    "rolls out the refiner's temporal self-attention layers (attention under\n"
    "RUN_DIR/attention_maps/ or RUN_DIR/inference/attention_maps/, one file per layer\n"
    "with a .meta.json, or one file per video with a .meta.json list of layers and keys)\n"
    "for that prediction's refiner_id, with and without layer 0. Writes to OUT (default\n"
    "RUN_DIR/attnroll_temporal), P = video_<vid>_refiner_<id>, S = rollout, rollout_nolayer0:\n"
    "  P_S.npz, P_S_col_avg.npz, P_S_col_avg_norm.npz, P_S_rownorm.npz, P_S_rownorm_col_avg.npz\n"
    "  P_S_col_avg.csv, P_S_col_avg_norm.csv, P_S_rownorm_col_avg.csv   (column_index,mean_value)\n"
    "  P_S.png, P_S_rownorm.png                                         heat maps\n";

struct Prediction {
    std::string vid;
    double score = 0;
    long refiner = 0;
};

std::string id_text(const nlohmann::json &v, const std::string &where) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<long long>());
    throw Error(where + ": video_id must be a string or an integer");
}

std::vector<Prediction> top_predictions(const std::string &path) {
    std::ifstream in(path);
    if (!in) throw Error(path + ": cannot be read");
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception &e) {
        throw Error(path + ": not valid JSON (" + e.what() + ")");
    }
    if (!doc.is_array()) throw Error(path + ": expected a JSON list of predictions");
    std::map<std::string, Prediction> best;
    std::vector<std::string> order;
    for (size_t i = 0; i < doc.size(); ++i) {
        const auto &p = doc[i];
        const std::string where = path + ": prediction " + std::to_string(i);
        if (!p.is_object() || !p.contains("video_id") || !p.contains("score") || !p.contains("refiner_id"))
            throw Error(where + ": needs video_id, score and refiner_id");
        if (!p["score"].is_number() || !p["refiner_id"].is_number_integer())
            throw Error(where + ": score must be a number and refiner_id an integer");
        Prediction pred{id_text(p["video_id"], where), p["score"].get<double>(), p["refiner_id"].get<long>()};
        auto it = best.find(pred.vid);
        if (it == best.end()) {
            order.push_back(pred.vid);
            best[pred.vid] = pred;
        } else if (pred.score > it->second.score) {
            it->second = pred;
        }
    }
    std::vector<Prediction> out;
    for (const auto &vid : order) out.push_back(best[vid]);
    return out;
}

nlohmann::json read_meta(const fs::path &array_file) {
    const fs::path a = fs::path(array_file).replace_extension(".meta.json");
    const fs::path b = array_file.string() + ".meta.json";
    const fs::path &meta = fs::exists(a) ? a : b;
    std::ifstream in(meta);
    if (!in) throw Error(array_file.string() + ": no meta file beside it (" + a.filename().string() + ")");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception &e) {
        throw Error(meta.string() + ": not valid JSON (" + e.what() + ")");
    }
}

// The k in "...self_attention_layers.<k>", or -1.
struct NamedArray {
    std::string name;  // "file" or "file:key", for messages
    Array array;
};

// The temporal layers of one video, in refiner order.
std::vector<NamedArray> temporal_layers(const fs::path &maps_dir, const std::string &vid) {
    std::map<long, NamedArray> by_index;
    std::string window;
    for (const auto &entry : fs::directory_iterator(maps_dir)) {
        const std::string file = entry.path().filename().string();
        TemporalLayerName name;
        if (!entry.is_regular_file()) continue;
        if (parse_temporal_layer_name(file, name)) {
            if (name.vid != vid) continue;
            const std::string this_window = std::to_string(name.first) + "-" + std::to_string(name.last);
            if (!window.empty() && window != this_window)
                throw Error(entry.path().string() + ": window " + this_window + " differs from " + window +
                            " of the other layer files of video " + vid);
            window = this_window;
            const nlohmann::json meta = read_meta(entry.path());
            if (!meta.is_object() || !meta.contains("layer") || !meta["layer"].is_string())
                throw Error(entry.path().string() + ": meta file needs {\"layer\": \"...\"}");
            const long k = self_attention_index(meta["layer"].get<std::string>());
            if (k < 0) continue;
            by_index[k] = {entry.path().string(), read_npz(entry.path().string(), "attention_weights")};
            continue;
        }
        if (!is_temporal_video_file(file, vid)) continue;
        const nlohmann::json meta = read_meta(entry.path());
        if (!meta.is_array()) throw Error(entry.path().string() + ": meta file needs a list of {\"layer\", \"key\"}");
        std::map<long, std::string> keys;  // the last key listed for a layer wins
        for (const auto &item : meta) {
            if (!item.is_object() || !item.contains("layer") || !item.contains("key") || !item["layer"].is_string() ||
                !item["key"].is_string())
                throw Error(entry.path().string() + ": meta entries need string \"layer\" and \"key\"");
            const long k = self_attention_index(item["layer"].get<std::string>());
            if (k >= 0) keys[k] = item["key"].get<std::string>();
        }
        for (const auto &kv : keys)
            by_index[kv.first] = {entry.path().string() + ":" + kv.second, read_npz(entry.path().string(), kv.second)};
    }
    std::vector<NamedArray> layers;
    for (auto &kv : by_index) layers.push_back(std::move(kv.second));
    return layers;
}

std::string csv_of(const std::vector<double> &values) {
    std::string text = "column_index,mean_value\n";
    char line[64];
    for (size_t j = 0; j < values.size(); ++j) {
        std::snprintf(line, sizeof line, "%zu,%.17g\n", j, values[j]);
        text += line;
    }
    return text;
}

// out = f(in) for the post-processing functions, on contiguous doubles.
std::vector<double> post(int32_t (*f)(const attnroll_tensor *, const attnroll_tensor *), const std::vector<double> &in,
                         const std::vector<int64_t> &in_shape, const std::vector<int64_t> &out_shape,
                         const std::string &where) {
    size_t count = 1;
    for (int64_t e : out_shape) count *= static_cast<size_t>(e);
    std::vector<double> out(count);
    const attnroll_tensor a{const_cast<double *>(in.data()), ATTNROLL_F64, static_cast<int32_t>(in_shape.size()),
                            in_shape.data(), nullptr};
    const attnroll_tensor b{out.data(), ATTNROLL_F64, static_cast<int32_t>(out_shape.size()), out_shape.data(), nullptr};
    check(f(&a, &b), where);
    return out;
}

void add_temporal_outputs(Outputs &outputs, const std::string &base, const std::string &name,
                          const std::vector<double> &rollout, int64_t t) {
    const std::vector<int64_t> square{t, t}, vector{t};
    const std::string p = base + "_" + name;
    const auto col_avg = post(attnroll_column_mean, rollout, square, vector, p);
    const auto col_avg_norm = post(attnroll_minmax, col_avg, vector, vector, p);
    const auto rownorm = post(attnroll_minmax_rows, rollout, square, square, p);
    const auto rownorm_col_avg = post(attnroll_column_mean, rownorm, square, vector, p);
    outputs.npz(p + ".npz", {{name, image_of(rollout, square)}});
    outputs.npz(p + "_col_avg.npz", {{name + "_col_avg", image_of(col_avg, vector)}});
    outputs.npz(p + "_col_avg_norm.npz", {{name + "_col_avg_norm", image_of(col_avg_norm, vector)}});
    outputs.npz(p + "_rownorm.npz", {{name + "_rownorm", image_of(rownorm, square)}});
    outputs.npz(p + "_rownorm_col_avg.npz", {{name + "_rownorm_col_avg", image_of(rownorm_col_avg, vector)}});
    outputs.bytes(p + "_col_avg.csv", csv_of(col_avg));
    outputs.bytes(p + "_col_avg_norm.csv", csv_of(col_avg_norm));
    outputs.bytes(p + "_rownorm_col_avg.csv", csv_of(rownorm_col_avg));
    for (const auto &image : {std::make_pair(p + ".png", rollout), std::make_pair(p + "_rownorm.png", rownorm)}) {
        auto values = std::make_shared<std::vector<float>>(image.second.begin(), image.second.end());
        const std::string path = image.first;
        HeatmapStyle style;
        style.cell = std::max(2, static_cast<int>(384 / std::max<int64_t>(1, t)));
        style.ticks = true;
        style.tick_step = t > 40 ? 10 : 5;
        style.title = fs::path(path).stem().string();
        outputs.add(path, [path, values, t, style](bool force) {
            write_heatmap(path, values->data(), static_cast<int>(t), static_cast<int>(t), style, force);
        });
    }
}

}  // namespace

std::vector<std::string> run_temporal(const std::string &run_dir, const TemporalOptions &o) {
    const fs::path run(run_dir);
    if (!fs::is_directory(run)) throw Error(run_dir + ": is not a directory");
    const auto predictions = top_predictions((run / "inference" / "results_temporal.json").string());
    fs::path maps = run / "attention_maps";
    if (!fs::is_directory(maps)) maps = run / "inference" / "attention_maps";
    if (!fs::is_directory(maps))
        throw Error(run_dir + ": has neither attention_maps/ nor inference/attention_maps/");
    fs::create_directories(o.out);
    Progress progress("temporal", static_cast<long>(predictions.size()), o.quiet);
    std::vector<std::string> written;
    for (const Prediction &p : predictions) {
        const std::vector<NamedArray> arrays = temporal_layers(maps, p.vid);
        if (arrays.empty())
            throw Error(maps.string() + ": no temporal attention for video " + p.vid + " (from results_temporal.json)");
        // Each layer's selection checked here, so a message names its file.
        std::vector<attnroll_tensor> layers;
        int64_t t = 0;
        const std::string where = "refiner_id " + std::to_string(p.refiner);
        for (const NamedArray &a : arrays) {
            layers.push_back(a.array.tensor());
            int64_t rows = 0, cols = 0;
            check(attnroll_select_shape(&layers.back(), p.refiner, &rows, &cols), a.name);
            if (rows != cols)
                throw Error(a.name + ": shape " + shape_text(a.array.shape) + " selects a [" + std::to_string(rows) + "," +
                            std::to_string(cols) + "] matrix for " + where + ", not square");
            if (t && rows != t)
                throw Error(a.name + ": selects T = " + std::to_string(rows) + " for " + where + ", but " +
                            arrays[0].name + " selects T = " + std::to_string(t));
            t = rows;
        }
        Outputs outputs;
        const std::string base = (fs::path(o.out) / ("video_" + p.vid + "_refiner_" + std::to_string(p.refiner))).string();
        for (int skip = 0; skip < 2; ++skip) {
            if (skip && layers.size() < 2) break;
            Config config;
            check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_LAYER_BEGIN, skip), "layer range");
            std::vector<double> rollout(static_cast<size_t>(t * t));
            const std::vector<int64_t> shape{t, t};
            const attnroll_tensor out{rollout.data(), ATTNROLL_F64, 2, shape.data(), nullptr};
            check(attnroll_temporal(layers.data(), static_cast<int32_t>(layers.size()), p.refiner, config.handle, &out),
                  "video " + p.vid + " " + where);
            add_temporal_outputs(outputs, base, skip ? "rollout_nolayer0" : "rollout", rollout, t);
        }
        outputs.commit(o.force);
        const std::vector<std::string> paths = outputs.paths();
        written.insert(written.end(), paths.begin(), paths.end());
        progress.step();
    }
    return written;
}

int cmd_temporal(int argc, char **argv) {
    const Args args = parse_args(argc, argv, {"--output"}, {"--force", "--quiet", "--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kTemporalHelp, stdout);
        return kExitOk;
    }
    if (args.positional.size() != 1) throw Error("temporal: needs exactly one RUN_DIR (see --help)", kExitUsage);
    TemporalOptions o;
    o.out = args.value("--output", (fs::path(args.positional[0]) / "attnroll_temporal").string());
    o.force = args.has("--force");
    o.quiet = args.has("--quiet");
    for (const std::string &f : run_temporal(args.positional[0], o)) std::printf("wrote %s\n", f.c_str());
    return kExitOk;
}

}  // namespace cli
