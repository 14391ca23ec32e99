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
#include "method.hpp"
#include "tensor.hpp"

namespace attnroll {

// "layers[3]"
std::string layer_name(int64_t index);

// [F,H,N,N] or [H,N,N] as the fusion reads it (heads averaged).
LayerView spatial_layer_view(const View &layer);

// The spec's select_instance_attention as a LayerView of one frame (DESIGN.md
// rules; leftover leading axes become averaged entries).
LayerView select_instance_view(const View &attn, int64_t instance);

// The chain's source for one layer's fuser (which must outlive it).
template <class T>
typename Chain<T>::Source layer_source(const LayerFuser<T> &fuser, int64_t n);

// Rolls out `layers` (already validated and cut to n x n tokens, all with
// `frames` frames, in layer order; `grads` null or one view per layer) into
// `out`: [F, rows, n] logically, with a leading L' axis when CUMULATIVE.
void roll_out(const std::vector<LayerView> &layers, const std::vector<LayerView> *grads, int64_t frames,
              int64_t n, const attnroll_config &config, const View &out);

// The output shape: [L',] [F,] rows, n.
std::vector<int64_t> output_shape(const attnroll_config &config, int64_t range, int64_t frames, int64_t n,
                                  bool with_frames);

void spatial(const attnroll_tensor *layers, const attnroll_tensor *grads, int32_t num_layers,
             const attnroll_config *config, const attnroll_tensor *out);

void temporal(const attnroll_tensor *layers, int32_t num_layers, int64_t instance,
              const attnroll_config *config, const attnroll_tensor *out);
void select_instance(const attnroll_tensor *attn, int64_t instance, const attnroll_tensor *out);
void select_shape(const attnroll_tensor *attn, int64_t instance, int64_t *rows, int64_t *cols);

// Output shape for F frames of `rows` x n, dropping the frame axis if asked.
std::vector<int64_t> rollout_shape(int64_t frames, int64_t rows, int64_t n, bool with_frames);
// The largest n the BLAS index type allows.
void check_blas_extent(int64_t n, const char *what);

}  // namespace attnroll
