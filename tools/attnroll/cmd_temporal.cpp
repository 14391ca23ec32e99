// attnroll temporal: rolls out the temporal refiner's attention of the chosen
// predictions and writes what temporal_rollout.py and plot_temporal_attn.py
// write, where they write it (or, with --layout flat, one folder).
#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "args.hpp"
#include "attnroll.h"
#include "cli_error.hpp"
#include "commands.hpp"
#include "dump_layout.hpp"
#include "formats/csv.hpp"
#include "formats/npy.hpp"
#include "formats/npz.hpp"
#include "formats/png.hpp"
#include "io/output_lock.hpp"
#include "library.hpp"
#include "outputs.hpp"
#include "progress.hpp"
#include "run_report.hpp"
#include "warnings.hpp"

namespace fs = std::filesystem;

namespace cli {
namespace {

const char *kTemporalHelp =
    "usage: attnroll temporal RUN_DIR [-o BASE] [--layout original|flat] [--refiner-id R]\n"
    "                         [--all-predictions] [--videos V[,V...]] [--keep-going] [--strict]\n"
    "                         [--force] [--quiet]\n"
    "\n"
    "For each video's top-scoring prediction in RUN_DIR/inference/results_temporal.json,\n"
    "rolls out the refiner's temporal self-attention layers for that prediction's\n"
    "refiner_id, with and without layer 0. Attention is read from RUN_DIR/attention_maps/\n"
    "and RUN_DIR/inference/attention_maps/: one file per layer with a .meta.json\n"
    "(video_<v>_frames<a>-<b>_refiner_temporal_layer_<l>_attn.npz), or one file per video\n"
    "with a .meta.json list of layers and keys (video_<v>.npz, video_<v>_*temporal_refiner_attn.npz);\n"
    "when both are present the per-layer files are used and a warning names the other.\n"
    "\n"
    "Writes, under BASE (default RUN_DIR), P = video_<v>_refiner_<r>:\n"
    "  attention_maps/rolled_out/   (temporal_rollout.py)\n"
    "    P_rollout.npz [rollout], P_rollout_col_avg.npz [col_avg],\n"
    "    P_rollout_col_avg_norm.npz [col_avg_norm; a constant vector gives ones],\n"
    "    the same three for P_rollout_nolayer0 (with >= 2 layers)\n"
    "    extras: P_rollout[_nolayer0]_col_avg[_norm].csv\n"
    "  inference/attention_maps/    (plot_temporal_attn.py)\n"
    "    P_rollout.npz [rollout], P_rollout_rownorm.npz [rollout_rownorm],\n"
    "    P_rollout_rownorm_colavg.npz/.csv, P_rollout_rownorm_colavg_norm.npz/.csv\n"
    "    extras: P_rollout_nolayer0_rownorm.npz [rollout_nolayer0_rownorm]\n"
    "  inference/attention_plots/   P_rollout.png, P_rollout_rownorm.png (extras: the nolayer0 ones)\n"
    "  attnroll_run.json            what this run read and wrote, video by video\n"
    "\n"
    "  -o, --out BASE      base folder of the outputs (flat: the folder; default RUN_DIR/attnroll_temporal)\n"
    "  --layout L          original (the scripts' tree, default) or flat (one folder)\n"
    "  --refiner-id R      roll out instance R for every chosen video\n"
    "  --all-predictions   every prediction, not only the top-scoring one per video\n"
    "  --videos V,...      only these videos\n"
    "  --keep-going        after a video fails, go on with the next (exit status 1 at the end)\n"
    "  --strict            treat every warning as an error\n"
    "  --force             replace existing outputs\n"
    "  --quiet             no progress bar\n";

// One rollout to make: a video and a refiner instance.
struct Choice {
    std::string vid;
    long refiner = 0;
    double score = 0;
};

std::string id_text(const nlohmann::json &v, const std::string &where) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<long long>());
    throw Error(where + ": video_id must be a string or an integer");
}

nlohmann::json read_json(const fs::path &path) {
    std::ifstream in(path);
    if (!in) throw Error(path.string() + ": cannot be read");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception &e) {
        throw Error(path.string() + ": not valid JSON (" + e.what() + ")");
    }
}

// The rollouts to make, in the order of results_temporal.json: the top
// prediction of each video (or every prediction), as the scripts choose them.
std::vector<Choice> choose(const fs::path &path, const TemporalOptions &o, Warnings &warnings) {
    const nlohmann::json doc = read_json(path);
    if (!doc.is_array()) throw Error(path.string() + ": expected a JSON list of predictions");
    struct Candidate {
        Choice choice;
        bool has_refiner = false;
    };
    std::vector<Candidate> all;
    for (size_t i = 0; i < doc.size(); ++i) {
        const auto &p = doc[i];
        const std::string where = path.string() + ": prediction " + std::to_string(i);
        if (!p.is_object()) throw Error(where + ": is not a JSON object");
        if (!p.contains("video_id")) continue;  // the scripts ignore these
        if (!p.contains("score") || !p["score"].is_number()) throw Error(where + ": needs a numeric score");
        Candidate c;
        c.choice.vid = id_text(p["video_id"], where);
        c.choice.score = p["score"].get<double>();
        if (p.contains("refiner_id")) {
            if (!p["refiner_id"].is_number_integer() || p["refiner_id"].get<long long>() < 0)
                throw Error(where + ": refiner_id must be a whole number >= 0");
            c.choice.refiner = p["refiner_id"].get<long>();
            c.has_refiner = true;
        }
        if (!o.videos.empty() && !o.videos.count(c.choice.vid)) continue;
        all.push_back(c);
    }
    std::vector<Candidate> picked;
    if (o.all_predictions) {
        picked = all;
    } else {
        std::map<std::string, size_t> best;  // video -> index in picked
        for (const Candidate &c : all) {
            auto it = best.find(c.choice.vid);
            if (it == best.end()) {
                best[c.choice.vid] = picked.size();
                picked.push_back(c);
            } else if (c.choice.score > picked[it->second].choice.score) {
                picked[it->second] = c;
            }
        }
    }
    std::vector<Choice> out;
    std::set<std::pair<std::string, long>> seen;
    for (Candidate &c : picked) {
        if (o.refiner_id >= 0) {
            c.choice.refiner = o.refiner_id;
            c.has_refiner = true;
        }
        if (!c.has_refiner) {
            warnings.warn("video " + c.choice.vid + ": the chosen prediction has no refiner_id; skipped (as the scripts do)");
            continue;
        }
        if (seen.insert({c.choice.vid, c.choice.refiner}).second) out.push_back(c.choice);
    }
    for (const std::string &v : o.videos)
        if (std::none_of(all.begin(), all.end(), [&](const Candidate &c) { return c.choice.vid == v; }))
            throw Error("--videos: video " + v + " has no prediction in " + path.string());
    return out;
}

nlohmann::json read_meta(const fs::path &array_file) {
    const fs::path a = fs::path(array_file).replace_extension(".meta.json");
    const fs::path b = array_file.string() + ".meta.json";
    if (!fs::exists(a) && !fs::exists(b))
        throw Error(array_file.string() + ": no meta file beside it (" + a.filename().string() + ")");
    return read_json(fs::exists(a) ? a : b);
}

struct NamedArray {
    std::string name;  // "file" or "file:key", for messages
    std::string file;
    Array array;
};

// The temporal layers of one video, in refiner order, from the folders the
// scripts read.  Per-layer files win over a per-video file.
std::vector<NamedArray> temporal_layers(const std::vector<fs::path> &dirs, const std::string &vid, Warnings &warnings) {
    std::map<long, fs::path> per_layer;
    std::vector<fs::path> per_video;
    std::string window;
    for (const fs::path &dir : dirs) {
        if (!fs::is_directory(dir)) continue;
        std::vector<fs::path> files;
        for (const auto &entry : fs::directory_iterator(dir))
            if (entry.is_regular_file()) files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const fs::path &path : files) {
            const std::string file = path.filename().string();
            TemporalLayerName name;
            if (parse_temporal_layer_name(file, name)) {
                if (name.vid != vid) continue;
                const nlohmann::json meta = read_meta(path);
                if (!meta.is_object() || !meta.contains("layer") || !meta["layer"].is_string())
                    throw Error(path.string() + ": meta file needs {\"layer\": \"...\"}");
                const long k = self_attention_index(meta["layer"].get<std::string>());
                if (k < 0) continue;
                const std::string this_window = std::to_string(name.first) + "-" + std::to_string(name.last);
                if (!window.empty() && window != this_window)
                    throw Error(path.string() + ": window " + this_window + " differs from " + window +
                                " of the other layer files of video " + vid);
                window = this_window;
                if (per_layer.count(k))
                    throw Error(path.string() + ": refiner layer " + std::to_string(k) + " of video " + vid +
                                " is also in " + per_layer[k].string());
                per_layer[k] = path;
            } else if (is_temporal_video_file(file, vid)) {
                per_video.push_back(path);
            }
        }
    }
    std::vector<NamedArray> layers;
    if (!per_layer.empty()) {
        for (const fs::path &p : per_video)
            warnings.warn(p.string() + ": ignored: video " + vid + " also has per-layer files (" +
                          per_layer.begin()->second.filename().string() + ", ...), which are used");
        long expected = 0;
        for (const auto &kv : per_layer) {
            if (kv.first != expected)
                throw Error(kv.second.string() + ": refiner layer " + std::to_string(kv.first) + " of video " + vid +
                            " follows layer " + std::to_string(expected - 1) + ": layer " + std::to_string(expected) +
                            " is missing");
            ++expected;
            layers.push_back({kv.second.string(), kv.second.string(), read_npz(kv.second.string(), "attention_weights")});
        }
        return layers;
    }
    if (per_video.size() > 1)
        throw Error(per_video[1].string() + ": a second per-video attention file for video " + vid + " beside " +
                    per_video[0].string());
    if (per_video.empty()) return layers;
    const fs::path &path = per_video[0];
    const nlohmann::json meta = read_meta(path);
    if (!meta.is_array()) throw Error(path.string() + ": meta file needs a list of {\"layer\", \"key\"}");
    std::map<long, std::string> keys;  // the last key listed for a layer wins, as in the scripts
    for (const auto &item : meta) {
        if (!item.is_object() || !item.contains("layer") || !item.contains("key") || !item["layer"].is_string() ||
            !item["key"].is_string())
            throw Error(path.string() + ": meta entries need string \"layer\" and \"key\"");
        const long k = self_attention_index(item["layer"].get<std::string>());
        if (k >= 0) keys[k] = item["key"].get<std::string>();
    }
    long expected = 0;
    for (const auto &kv : keys) {
        if (kv.first != expected)
            throw Error(path.string() + ": its meta file lists refiner layer " + std::to_string(kv.first) + " after layer " +
                        std::to_string(expected - 1) + ": layer " + std::to_string(expected) + " is missing");
        ++expected;
        layers.push_back({path.string() + ":" + kv.second, path.string(), read_npz(path.string(), kv.second)});
    }
    return layers;
}

// True when instance r is beyond every leading axis of `shape`, so the
// selection falls back to instance 0 (DESIGN.md "Instance selection").
bool selection_falls_back(const std::vector<int64_t> &shape, long r) {
    if (shape.size() < 3) return false;
    if (shape.size() == 3) return shape[1] == shape[2] && shape[0] <= r && shape[1] <= r;
    for (size_t d = 0; d + 2 < shape.size(); ++d)
        if (shape[d] > r) return false;
    return true;
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

bool constant(const std::vector<double> &v) {
    return std::all_of(v.begin(), v.end(), [&](double x) { return x == v.front(); });
}

std::vector<unsigned char> image_of(const std::vector<double> &values, const std::vector<int64_t> &shape) {
    return npy_image(values.data(), ATTNROLL_F64, shape);
}

// The maps of one rollout (with or without layer 0) and what is derived from it.
struct Derived {
    std::vector<double> rollout, col_avg, col_avg_minmax, rownorm, rownorm_colavg, rownorm_colavg_minmax;
    int64_t t = 0;
};

Derived derive(std::vector<double> rollout, int64_t t, const std::string &where) {
    const std::vector<int64_t> square{t, t}, vector{t};
    Derived d;
    d.t = t;
    d.col_avg = post(attnroll_column_mean, rollout, square, vector, where);
    d.col_avg_minmax = post(attnroll_minmax, d.col_avg, vector, vector, where);  // a constant vector: zeros
    d.rownorm = post(attnroll_minmax_rows, rollout, square, square, where);
    d.rownorm_colavg = post(attnroll_column_mean, d.rownorm, square, vector, where);
    d.rownorm_colavg_minmax = post(attnroll_minmax, d.rownorm_colavg, vector, vector, where);
    d.rollout = std::move(rollout);
    return d;
}

void heatmap(Outputs &outputs, const std::string &path, const std::vector<double> &values, int64_t t,
             const std::string &title) {
    auto shared = std::make_shared<std::vector<float>>(values.begin(), values.end());
    HeatmapStyle style;
    style.cell = std::max(2, static_cast<int>(384 / std::max<int64_t>(1, t)));
    style.ticks = true;
    style.tick_step = t > 40 ? 10 : 5;
    style.title = title;
    style.x_label = "Frame";
    style.y_label = "Frame";
    outputs.add(path, [path, shared, t, style](bool force) {
        write_heatmap(path, shared->data(), static_cast<int>(t), static_cast<int>(t), style, force);
    });
}

// The scripts' files (ORIGINAL_OUTPUTS.md) and the tool's extras beside them.
void add_original_outputs(Outputs &outputs, const fs::path &base, const Choice &c, const Derived &full,
                          const Derived *nolayer0, size_t layers) {
    const std::string p = refiner_stem(c.vid, c.refiner);
    const fs::path rolled = base / kRolledOutDir, maps = base / kPlotMapsDir, plots = base / kPlotImagesDir;
    const std::vector<int64_t> square{full.t, full.t}, vector{full.t};
    const auto ones_if_constant = [](const Derived &d) {
        return constant(d.col_avg) ? std::vector<double>(d.col_avg.size(), 1.0) : d.col_avg_minmax;
    };
    // temporal_rollout.py
    for (const Derived *d : {&full, nolayer0}) {
        if (!d) continue;
        const std::string s = (rolled / p).string() + (d == &full ? "_rollout" : "_rollout_nolayer0");
        const std::vector<double> norm = ones_if_constant(*d);
        outputs.npz(s + ".npz", {{"rollout", image_of(d->rollout, square)}});
        outputs.npz(s + "_col_avg.npz", {{"col_avg", image_of(d->col_avg, vector)}});
        outputs.npz(s + "_col_avg_norm.npz", {{"col_avg_norm", image_of(norm, vector)}});
        outputs.bytes(s + "_col_avg.csv", column_csv(d->col_avg, "mean_value"));             // extra
        outputs.bytes(s + "_col_avg_norm.csv", column_csv(norm, "mean_value_norm"));         // extra
    }
    // plot_temporal_attn.py (its rollout.npz holds the spec's R: see README)
    const std::string m = (maps / p).string() + "_rollout";
    outputs.npz(m + ".npz", {{"rollout", image_of(full.rollout, square)}});
    outputs.npz(m + "_rownorm.npz", {{"rollout_rownorm", image_of(full.rownorm, square)}});
    outputs.npz(m + "_rownorm_colavg.npz", {{"rollout_rownorm_colavg", image_of(full.rownorm_colavg, vector)}});
    outputs.bytes(m + "_rownorm_colavg.csv", column_csv(full.rownorm_colavg, "mean_value"));
    outputs.npz(m + "_rownorm_colavg_norm.npz",
                {{"rollout_rownorm_colavg_norm", image_of(full.rownorm_colavg_minmax, vector)}});
    outputs.bytes(m + "_rownorm_colavg_norm.csv", column_csv(full.rownorm_colavg_minmax, "mean_value_norm"));
    const std::string who = "Video " + c.vid + ", Refiner ID " + std::to_string(c.refiner);
    const std::string product = "T_" + std::to_string(layers - 1) + " * ... * T_0";
    heatmap(outputs, (plots / p).string() + "_rollout.png", full.rollout, full.t, "Rollout (" + product + ")\n" + who);
    heatmap(outputs, (plots / p).string() + "_rollout_rownorm.png", full.rownorm, full.t, "Rollout Row-Normalized\n" + who);
    if (nolayer0) {  // extras
        outputs.npz((maps / p).string() + "_rollout_nolayer0_rownorm.npz",
                    {{"rollout_nolayer0_rownorm", image_of(nolayer0->rownorm, square)}});
        const std::string without = "T_" + std::to_string(layers - 1) + " * ... * T_1";
        heatmap(outputs, (plots / p).string() + "_rollout_nolayer0.png", nolayer0->rollout, full.t,
                "Rollout (" + without + ")\n" + who);
        heatmap(outputs, (plots / p).string() + "_rollout_nolayer0_rownorm.png", nolayer0->rownorm, full.t,
                "Rollout Row-Normalized, without layer 0\n" + who);
    }
}

// --layout flat: one folder, the names and keys the tool used before.
void add_flat_outputs(Outputs &outputs, const fs::path &out, const Choice &c, const Derived &d, const std::string &name) {
    const std::vector<int64_t> square{d.t, d.t}, vector{d.t};
    const std::string p = (out / refiner_stem(c.vid, c.refiner)).string() + "_" + name;
    outputs.npz(p + ".npz", {{name, image_of(d.rollout, square)}});
    outputs.npz(p + "_col_avg.npz", {{name + "_col_avg", image_of(d.col_avg, vector)}});
    outputs.npz(p + "_col_avg_norm.npz", {{name + "_col_avg_norm", image_of(d.col_avg_minmax, vector)}});
    outputs.npz(p + "_rownorm.npz", {{name + "_rownorm", image_of(d.rownorm, square)}});
    outputs.npz(p + "_rownorm_col_avg.npz", {{name + "_rownorm_col_avg", image_of(d.rownorm_colavg, vector)}});
    outputs.bytes(p + "_col_avg.csv", column_csv(d.col_avg, "mean_value"));
    outputs.bytes(p + "_col_avg_norm.csv", column_csv(d.col_avg_minmax, "mean_value"));
    outputs.bytes(p + "_rownorm_col_avg.csv", column_csv(d.rownorm_colavg, "mean_value"));
    const std::string who = "Video " + c.vid + ", Refiner ID " + std::to_string(c.refiner);
    heatmap(outputs, p + ".png", d.rollout, d.t, name + "\n" + who);
    heatmap(outputs, p + "_rownorm.png", d.rownorm, d.t, name + " row-normalized\n" + who);
}

// Rolls out one choice and writes its files, all or nothing; returns them.
std::vector<std::string> roll_out(const std::vector<fs::path> &dirs, const Choice &c, const TemporalOptions &o,
                                  Warnings &warnings, RunReport &report, size_t *layer_count) {
    const std::vector<NamedArray> arrays = temporal_layers(dirs, c.vid, warnings);
    if (arrays.empty())
        throw Error(dirs[0].string() + " and " + dirs[1].string() + ": no temporal attention for video " + c.vid);
    std::vector<attnroll_tensor> layers;
    int64_t t = 0;
    const std::string where = "refiner_id " + std::to_string(c.refiner);
    std::set<std::string> files;
    for (const NamedArray &a : arrays) {
        if (files.insert(a.file).second) report.input(a.file);
        layers.push_back(a.array.tensor());
        if (selection_falls_back(a.array.shape, c.refiner))
            warnings.warn(a.name + ": shape " + shape_text(a.array.shape) + " has no instance " + std::to_string(c.refiner) +
                          " on any leading axis; instance 0 is used, as the scripts do");
        int64_t rows = 0, cols = 0;
        check(attnroll_select_shape(&layers.back(), c.refiner, &rows, &cols), a.name);
        if (rows != cols)
            throw Error(a.name + ": shape " + shape_text(a.array.shape) + " selects a [" + std::to_string(rows) + "," +
                        std::to_string(cols) + "] matrix for " + where + ", not square");
        if (t && rows != t)
            throw Error(a.name + ": selects T = " + std::to_string(rows) + " for " + where + ", but " + arrays[0].name +
                        " selects T = " + std::to_string(t));
        t = rows;
    }
    *layer_count = layers.size();
    std::vector<Derived> variants;
    for (int skip = 0; skip < 2; ++skip) {
        if (skip && layers.size() < 2) break;
        Config config;
        check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_LAYER_BEGIN, skip), "layer range");
        std::vector<double> rollout(static_cast<size_t>(t * t));
        const std::vector<int64_t> shape{t, t};
        const attnroll_tensor out{rollout.data(), ATTNROLL_F64, 2, shape.data(), nullptr};
        check(attnroll_temporal(layers.data(), static_cast<int32_t>(layers.size()), c.refiner, config.handle, &out),
              "video " + c.vid + " " + where);
        variants.push_back(derive(std::move(rollout), t, "video " + c.vid));
    }
    Outputs outputs;
    const Derived *nolayer0 = variants.size() > 1 ? &variants[1] : nullptr;
    if (o.layout == Layout::original) {
        add_original_outputs(outputs, o.out, c, variants[0], nolayer0, layers.size());
    } else {
        add_flat_outputs(outputs, o.out, c, variants[0], "rollout");
        if (nolayer0) add_flat_outputs(outputs, o.out, c, *nolayer0, "rollout_nolayer0");
    }
    outputs.commit(o.force);
    return outputs.paths();
}

}  // namespace

int run_temporal(const std::string &run_dir, const TemporalOptions &o, RunReport &report) {
    const fs::path run(run_dir);
    if (!fs::is_directory(run)) throw Error(run_dir + ": is not a directory");
    const OutputLock lock(o.out, "temporal", o.videos);
    Warnings warnings(o.strict);
    const fs::path results = run / "inference" / "results_temporal.json";
    report.input(results.string());
    const std::vector<Choice> choices = choose(results, o, warnings);
    const std::vector<fs::path> dirs = {run / "attention_maps", run / "inference" / "attention_maps"};
    if (!fs::is_directory(dirs[0]) && !fs::is_directory(dirs[1]))
        throw Error(run_dir + ": has neither attention_maps/ nor inference/attention_maps/");
    Progress progress("temporal", static_cast<long>(choices.size()), o.quiet);
    for (const Choice &c : choices) {
        const std::string label = c.vid + " (refiner " + std::to_string(c.refiner) + ")";
        try {
            size_t layer_count = 0;
            const auto files = roll_out(dirs, c, o, warnings, report, &layer_count);
            report.video_done(label, files, std::to_string(layer_count) + " refiner layers");
        } catch (const Error &e) {
            if (e.exit_status() == kExitUsage) throw;
            std::fprintf(stderr, "attnroll: %s\n", e.what());
            report.video_failed(label, e.what());
            if (!o.keep_going) break;
        }
        progress.step();
    }
    return report.finish((fs::path(o.out) / kManifestName).string());
}

int cmd_temporal(int argc, char **argv) {
    const Args args = parse_args(argc, argv, {"--output", "--layout", "--refiner-id", "--videos"},
                                 {"--all-predictions", "--keep-going", "--strict", "--force", "--quiet", "--help", "-h"});
    if (args.has("--help") || args.has("-h")) {
        std::fputs(kTemporalHelp, stdout);
        return kExitOk;
    }
    if (args.positional.size() != 1) throw Error("temporal: needs exactly one RUN_DIR (see --help)", kExitUsage);
    TemporalOptions o;
    o.layout = parse_layout(args.value("--layout", "original"));
    const std::string run = args.positional[0];
    o.out = args.value("--output", o.layout == Layout::original ? run : (fs::path(run) / "attnroll_temporal").string());
    if (args.given("--refiner-id")) o.refiner_id = parse_long(args.values.at("--refiner-id"), "--refiner-id", 0, INT32_MAX);
    o.all_predictions = args.has("--all-predictions");
    if (args.given("--videos"))
        for (const std::string &v : parse_word_list(args.values.at("--videos"), "--videos")) o.videos.insert(v);
    o.keep_going = args.has("--keep-going");
    o.strict = args.has("--strict");
    o.force = args.has("--force");
    o.quiet = args.has("--quiet");
    RunReport report("temporal", {{"out", o.out},
                                  {"layout", layout_name(o.layout)},
                                  {"refiner_id", o.refiner_id >= 0 ? nlohmann::json(o.refiner_id) : nlohmann::json()},
                                  {"all_predictions", o.all_predictions},
                                  {"videos", o.videos},
                                  {"keep_going", o.keep_going},
                                  {"strict", o.strict},
                                  {"force", o.force}});
    return run_temporal(run, o, report);
}

}  // namespace cli
