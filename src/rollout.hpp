// The computations behind the extern "C" entry points: each validates its
// arguments completely, then computes, then writes the output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnroll.h"
#include "chain.hpp"
#include "config.hpp"
#include "fuse.hpp"
#include "tensor.hpp"

namespace attnroll {

// "layers[3]"
std::string layer_name(int64_t index);

// [F,H,N,N] or [H,N,N] as the fusion reads it (heads averaged).
LayerView spatial_layer_view(const View &layer);

// The spec's select_instance_attention as a LayerView of one frame (DESIGN.md
// rules; leftover leading axes become averaged entries).
LayerView select_instance_view(const View &attn, int64_t instance);

// The chain's source for one layer: its rows fused into the scratch rows.
template <class T>
typename Chain<T>::Source fused_source(const LayerView &layer, double residual, int64_t n) {
    return [&layer, residual, n](int64_t f, int64_t r0, int64_t r1, T *scratch) -> const T * {
        fuse_rows(layer, f, r0, r1, residual, scratch, n);
        return scratch;
    };
}

// Rolls out `layers` (already validated, all frames x n x n, in layer order)
// into `out` ([F, rows, n] logically; any validated output view).
void roll_out(const std::vector<LayerView> &layers, int64_t frames, int64_t n,
              const attnroll_config &config, const View &out);

// grads: NULL, or one gradient per layer (ATTNROLL_FUSE_GRAD).
void spatial(const attnroll_tensor *layers, const attnroll_tensor *grads, int32_t num_layers,
             const attnroll_config *config, const attnroll_tensor *out);
// TEMPORARY until the pipeline lands: refuses method options not yet computed.
void refuse_unimplemented(const attnroll_config &config);
void temporal(const attnroll_tensor *layers, int32_t num_layers, int64_t instance,
              const attnroll_config *config, const attnroll_tensor *out);
void select_instance(const attnroll_tensor *attn, int64_t instance, const attnroll_tensor *out);
void select_shape(const attnroll_tensor *attn, int64_t instance, int64_t *rows, int64_t *cols);

// Output shape for F frames of `rows` x n, dropping the frame axis if asked.
std::vector<int64_t> rollout_shape(int64_t frames, int64_t rows, int64_t n, bool with_frames);
// The largest n the BLAS index type allows.
void check_blas_extent(int64_t n, const char *what);

}  // namespace attnroll
