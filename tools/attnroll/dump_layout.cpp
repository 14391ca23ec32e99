#include "dump_layout.hpp"

#include <climits>
#include <string_view>

#include "cli_error.hpp"
#include "name_tail.hpp"
#include "parse_long.h"

namespace cli {

namespace {

// A number in a file or layer name (frames, layer index), which the scan has
// already checked is all digits; one that does not fit is an error naming
// where it is, not std::stol's bare "stol".
long number_in(std::string_view digits, const std::string &where, const char *what) {
    const std::string text(digits);
    long value = 0;
    if (!parse_long_in(text.c_str(), 0, LONG_MAX, &value))
        throw Error(where + ": " + what + " " + text + " is too large");
    return value;
}

// "video_{v}_frames{a}-{b}" in front of a layer file's own part, already
// peeled off `tail`: the fields, or false.
bool take_window(NameTail &tail, std::string_view &vid, std::string_view &first, std::string_view &last) {
    static constexpr std::string_view kVideo = "video_";
    if (!tail.take_digits(last) || !tail.take("-") || !tail.take_digits(first) || !tail.take("_frames"))
        return false;
    const std::string_view front = tail.rest();
    if (front.substr(0, kVideo.size()) != kVideo) return false;
    vid = front.substr(kVideo.size());
    return NameTail::is_text(vid);
}

}  // namespace

// Matches ^video_(.+)_frames(\d+)-(\d+)_(?:backbone_vit_layer_|layer_backbone_vit_module_blocks_)(\d+)_attn(_collapsed)?\.(npz|npy)$
bool parse_spatial_layer_name(const std::string &file_name, SpatialLayerName &out) {
    NameTail tail(file_name);
    const bool npy = tail.take(".npy");
    if (!npy && !tail.take(".npz")) return false;
    const bool collapsed = tail.take("_collapsed");
    std::string_view layer, vid, first, last;
    if (!tail.take("_attn") || !tail.take_digits(layer)) return false;
    if (!tail.take("_backbone_vit_layer_") && !tail.take("_layer_backbone_vit_module_blocks_")) return false;
    if (!take_window(tail, vid, first, last)) return false;
    SpatialLayerName name;
    name.vid = std::string(vid);
    name.first = number_in(first, file_name, "frame number");
    name.last = number_in(last, file_name, "frame number");
    name.layer = number_in(layer, file_name, "layer number");
    name.collapsed = collapsed;
    name.npy = npy;
    out = std::move(name);
    return true;
}

// Matches ^video_(.+)_frames(\d+)-(\d+)_refiner_temporal_layer_(\d+)_attn\.npz$
bool parse_temporal_layer_name(const std::string &file_name, TemporalLayerName &out) {
    NameTail tail(file_name);
    std::string_view layer, vid, first, last;
    if (!tail.take("_attn.npz") || !tail.take_digits(layer) || !tail.take("_refiner_temporal_layer_") ||
        !take_window(tail, vid, first, last))
        return false;
    TemporalLayerName name;
    name.vid = std::string(vid);
    name.first = number_in(first, file_name, "frame number");
    name.last = number_in(last, file_name, "frame number");
    name.layer = number_in(layer, file_name, "layer number");
    out = std::move(name);
    return true;
}

bool is_temporal_video_file(const std::string &file_name, const std::string &vid) {
    static const std::string suffix = "temporal_refiner_attn.npz";
    const std::string prefix = "video_" + vid + "_";
    return file_name == "video_" + vid + ".npz" ||
           (file_name.rfind(prefix, 0) == 0 && file_name.size() >= prefix.size() + suffix.size() &&
            file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) == 0);
}

// The first "self_attention_layers.<digits>" (a search for self_attention_layers\.(\d+)).
long self_attention_index(const std::string &layer_name) {
    static constexpr std::string_view kKey = "self_attention_layers.";
    const std::string_view name(layer_name);
    for (size_t at = name.find(kKey); at != std::string_view::npos; at = name.find(kKey, at + 1)) {
        const size_t from = at + kKey.size();
        size_t to = from;
        while (to < name.size() && NameTail::is_digit(name[to])) ++to;
        if (to > from) return number_in(name.substr(from, to - from), "layer '" + layer_name + "'", "index");
    }
    return -1;
}

std::string window_stem(const std::string &vid, long first, long last) {
    return "video_" + vid + "_frames" + std::to_string(first) + "-" + std::to_string(last);
}

}  // namespace cli

#include "cli_error.hpp"

namespace cli {

Layout parse_layout(const std::string &text) {
    if (text == "original") return Layout::original;
    if (text == "flat") return Layout::flat;
    throw Error("--layout: '" + text + "' is not original or flat", kExitUsage);
}

const char *layout_name(Layout layout) { return layout == Layout::original ? "original" : "flat"; }

std::string spatial_video_file(const std::string &vid) { return "video_" + vid + "_backbone_vit_rolled_out.npz"; }

std::string refiner_stem(const std::string &vid, long refiner) {
    return "video_" + vid + "_refiner_" + std::to_string(refiner);
}

}  // namespace cli
