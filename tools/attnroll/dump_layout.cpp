#include "dump_layout.hpp"

#include <climits>
#include <regex>

#include "cli_error.hpp"
#include "parse_long.h"

namespace cli {

namespace {

// A number in a file or layer name (frames, layer index), which the pattern
// has already checked is all digits; one that does not fit is an error
// naming where it is, not std::stol's bare "stol".
long number_in(const std::string &digits, const std::string &where, const char *what) {
    long value = 0;
    if (!parse_long_in(digits.c_str(), 0, LONG_MAX, &value))
        throw Error(where + ": " + what + " " + digits + " is too large");
    return value;
}

}  // namespace

bool parse_spatial_layer_name(const std::string &file_name, SpatialLayerName &out) {
    static const std::regex name(
        R"(^video_(.+)_frames(\d+)-(\d+)_(?:backbone_vit_layer_|layer_backbone_vit_module_blocks_)(\d+)_attn(_collapsed)?\.(npz|npy)$)");
    std::smatch m;
    if (!std::regex_match(file_name, m, name)) return false;
    out.vid = m[1];
    out.first = number_in(m[2], file_name, "frame number");
    out.last = number_in(m[3], file_name, "frame number");
    out.layer = number_in(m[4], file_name, "layer number");
    out.collapsed = m[5].matched;
    out.npy = m[6] == "npy";
    return true;
}

bool parse_temporal_layer_name(const std::string &file_name, TemporalLayerName &out) {
    static const std::regex name(R"(^video_(.+)_frames(\d+)-(\d+)_refiner_temporal_layer_(\d+)_attn\.npz$)");
    std::smatch m;
    if (!std::regex_match(file_name, m, name)) return false;
    out.vid = m[1];
    out.first = number_in(m[2], file_name, "frame number");
    out.last = number_in(m[3], file_name, "frame number");
    out.layer = number_in(m[4], file_name, "layer number");
    return true;
}

bool is_temporal_video_file(const std::string &file_name, const std::string &vid) {
    static const std::string suffix = "temporal_refiner_attn.npz";
    const std::string prefix = "video_" + vid + "_";
    return file_name == "video_" + vid + ".npz" ||
           (file_name.rfind(prefix, 0) == 0 && file_name.size() >= prefix.size() + suffix.size() &&
            file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) == 0);
}

long self_attention_index(const std::string &layer_name) {
    static const std::regex pattern(R"(self_attention_layers\.(\d+))");
    std::smatch m;
    return std::regex_search(layer_name, m, pattern) ? number_in(m[1], "layer '" + layer_name + "'", "index") : -1;
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
