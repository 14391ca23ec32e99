// attnroll spatial --flow and --spectrum: attention flow and effective ranks
// of a window, computed from the fused maps of its layers (attnroll.h's
// pipeline, steps 1-3: drop, fusion, discard) so that every method option
// applies to them as to the rollout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnroll.h"
#include "commands.hpp"

namespace cli {

// The fused maps Abar of a window's layers, [F, N', N'] float32 each.
struct FusedLayers {
    int64_t frames = 0, n = 0;  // n = N'
    std::vector<std::vector<float>> maps;
};

// Appends one layer's fused maps (grad: the gradients, with --heads grad;
// else NULL).  `where` names the layer file in errors.
void add_fused_layer(FusedLayers &fused, const attnroll_tensor &layer, const attnroll_tensor *grad, const Method &m,
                     const std::string &where);

// The maximum flow (attnroll_flow) from each of `rows` through the fused
// layers with the rollout's residual: [F, rows, N'].
std::vector<float> flow_of(const FusedLayers &fused, const std::vector<int64_t> &rows, const Method &m, long threads,
                           const std::string &where);

// The effective rank (attnroll_effective_rank) of each layer's fused map and
// of each partial rollout R_l = M_l ... M_first, both [L', F] (layer-major).
struct Spectrum {
    std::vector<double> layer, rollout;
};
Spectrum spectrum_of(const FusedLayers &fused, const Method &m, long threads, const std::string &where);

}  // namespace cli
