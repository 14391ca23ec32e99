// The users' file-naming rules: how the model's scripts name the attention
// they dump, in one place (the commands and `attnroll info` read them here).
#pragma once

#include <string>

namespace cli {

// A spatial layer file:
//   video_{v}_frames{a}-{b}_backbone_vit_layer_{l}_attn[_collapsed].{npz,npy}
//   video_{v}_frames{a}-{b}_layer_backbone_vit_module_blocks_{l}_attn[_collapsed].{npz,npy}  (older)
// `_collapsed` marks [F,N,N] arrays whose heads are already fused.
struct SpatialLayerName {
    std::string vid;
    long first = 0, last = 0, layer = 0;
    bool collapsed = false, npy = false;
};
bool parse_spatial_layer_name(const std::string &file_name, SpatialLayerName &out);

// A temporal per-layer file: video_{v}_frames{a}-{b}_refiner_temporal_layer_{l}_attn.npz
struct TemporalLayerName {
    std::string vid;
    long first = 0, last = 0, layer = 0;
};
bool parse_temporal_layer_name(const std::string &file_name, TemporalLayerName &out);

// A temporal per-video file of video `vid`: video_{v}.npz or video_{v}_*temporal_refiner_attn.npz.
bool is_temporal_video_file(const std::string &file_name, const std::string &vid);

// The n in a refiner layer name "...self_attention_layers.<n>", or -1.
long self_attention_index(const std::string &layer_name);

// "video_{v}_frames{a}-{b}": one spatial window.
std::string window_stem(const std::string &vid, long first, long last);

}  // namespace cli

namespace cli {

// Where outputs go.  `original` writes the scripts' tree, names and keys
// (ORIGINAL_OUTPUTS.md); `flat` writes everything in one folder with the
// names the tool used before it wrote the scripts' tree.
enum class Layout { original, flat };
Layout parse_layout(const std::string &text);  // "original" | "flat", else a usage error
const char *layout_name(Layout layout);

// The scripts' folders under BASE.
constexpr const char *kRolledOutDir = "attention_maps/rolled_out";  // temporal_rollout.py, spatial_rollout.py
constexpr const char *kPlotMapsDir = "inference/attention_maps";    // plot_temporal_attn.py: npz, csv
constexpr const char *kPlotImagesDir = "inference/attention_plots"; // plot_temporal_attn.py: png
// The run manifest the tool writes beside its outputs (no script writes it).
constexpr const char *kManifestName = "attnroll_run.json";

// spatial_rollout.py's per-video file (key attention_weights).
std::string spatial_video_file(const std::string &vid);
// "video_{v}_refiner_{r}": the temporal scripts' file prefix.
std::string refiner_stem(const std::string &vid, long refiner);

}  // namespace cli
