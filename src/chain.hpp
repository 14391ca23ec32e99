// Products of fused layer matrices through BLAS, for every frame at once.
//
// Full mode (no query rows): layers are applied first to last, R <- Abar @ R.
// Query mode (k rows):       layers are applied LAST TO FIRST, Q <- Q @ Abar,
//                            starting from rows q of the last layer, so each
//                            step costs k*N^2 instead of N^3.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "buffer.hpp"

namespace attnroll {

class Workers;

template <class T>
class Chain {
public:
    // One layer's factor.  `rows` gives rows [r0, r1) for frame f, leading
    // dimension N: it may write them to `scratch` (room for r1-r0 rows) and
    // return it, or return a pointer to rows it already holds.  A layer that
    // needs a whole frame at once (ENTROPY, DISCARD) sets `whole` instead,
    // which writes frame f's N x N factor to a per-worker frame buffer.
    struct Source {
        std::function<const T *(int64_t f, int64_t r0, int64_t r1, T *scratch)> rows;
        std::function<void(int64_t f, T *frame)> whole;
    };
    // Called with each frame's state [rows(), N] once `layer` (the index in
    // the order applied) is applied to it; frames may come from several
    // workers at once.
    using Observer = std::function<void(int64_t layer, int64_t f, const T *state)>;

    Chain(int64_t frames, int64_t n, std::vector<int64_t> query_rows, Workers &workers);

    // Applies one layer to every frame (one parallel step, then a barrier).
    // If it throws, the chain is as it was (a stream's push can be retried).
    void apply(const Source &layer, const Observer *observe = nullptr);
    // Applies layers in order; when every worker can own whole frames it runs
    // each frame through all of them without a barrier between layers.
    void apply_all(const std::vector<Source> &layers, const Observer *observe = nullptr);

    int64_t layers_applied() const { return applied_; }
    int64_t rows() const;  // N, or k in query mode
    // [F, rows(), N], C-contiguous; valid once a layer has been applied.
    const T *result() const { return state_.data(); }
    int64_t bytes_held() const;

private:
    void step(const Source &layer, bool first, int64_t f, int64_t b, int worker, const T *cur, T *dst);
    void need_frames(bool whole);

    int64_t frames_, n_;
    std::vector<int64_t> query_;
    Workers &workers_;
    int64_t blocks_;
    int64_t applied_ = 0;
    Buffer<T> state_, next_;    // [F, rows, N]
    Buffer<T> scratch_;         // per worker: one row block, [rows_per_block, N]
    Buffer<T> partial_;         // query mode with blocks > 1: [F, blocks, k, N]
    Buffer<T> frames_buf_;      // per worker: one whole frame [N, N], for `whole` sources
};

// C = A @ B (or C += A @ B when accumulate) with row-major A [m,k] (lda),
// B [k,n] (ldb), C [m,n] (ldc).
template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b, int64_t ldb, T *c,
          int64_t ldc, bool accumulate);

}  // namespace attnroll
