// Steps 1-4 of the pipeline (attnroll.h, "The pipeline") for one layer:
// drop tokens, head fusion, discard, rule.  The product (step 5) is the chain's.
#pragma once

#include <cstdint>
#include <vector>

#include "attnroll.h"
#include "config.hpp"
#include "fuse.hpp"

namespace attnroll {

// The options of steps 1-4, resolved against N' tokens.
struct Method {
    int64_t drop = 0;                  // k; the views are already cut (drop_view)
    int64_t fusion = ATTNROLL_FUSE_MEAN;
    std::vector<double> weights;       // WEIGHTS: one per head
    double discard = 0.0;
    std::vector<char> protect;         // per remaining column: never discarded
    int64_t rule = ATTNROLL_RULE_ROLLOUT;
    double residual = 1.0;
};
Method method_of(const attnroll_config &config, int64_t kept);

// Step 1's cut: the view of the last N-k rows and columns.
LayerView drop_view(LayerView v, int64_t k);

// One layer's factor M = rule(discard(fuse(drop(A)))), by rows or whole frames.
template <class T>
class LayerFuser {
public:
    // `grads` is the gradient's view (GRAD fusion) or null.  Both views and
    // the method must outlive the fuser.
    LayerFuser(const LayerView &layer, const LayerView *grads, const Method &method);

    // ENTROPY and DISCARD need every row of a frame before any row is final.
    bool whole_frame() const;
    // Rows [r0, r1) of frame f's factor into dst (leading dimension ld); only
    // when !whole_frame().
    void rows(int64_t f, int64_t r0, int64_t r1, T *dst, int64_t ld) const;
    // Frame f's whole n x n factor into dst (leading dimension n).
    void frame(int64_t f, T *dst) const;

private:
    void fuse_heads(int64_t f, int64_t r0, int64_t r1, int64_t h0, int64_t h1, const double *weights, T *dst,
                    int64_t ld) const;
    void fuse(int64_t f, int64_t r0, int64_t r1, T *dst, int64_t ld) const;
    void fuse_entropy(int64_t f, T *dst) const;
    void apply_rule(T *row, int64_t i) const;

    const LayerView &a_;
    const LayerView *g_;
    const Method &m_;
};

}  // namespace attnroll
