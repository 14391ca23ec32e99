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
