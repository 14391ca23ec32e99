// Head fusion: mean over the averaged axes, plus r*I, row normalisation -- one
// pass over the input rows, straight into the caller's buffer.
#pragma once

#include <cstdint>
#include <vector>

namespace attnroll {

// One layer as the fusion reads it: for frame f, row i, column j, averaged
// entry h, the element sits at base[f*frame_stride + offsets[h] + i*row_stride
// + j*col_stride] (element offsets, dtype `dtype`).
struct LayerView {
    const char *base = nullptr;
    int32_t dtype = 0;
    int64_t frames = 1;
    int64_t rows = 0, cols = 0;
    int64_t frame_stride = 0, row_stride = 0, col_stride = 0;
    std::vector<int64_t> offsets{0};  // one per averaged entry (heads, leftover axes)
};

// Rows [r0, r1) of frame `frame`, each the mean over offsets, written to dst
// with leading dimension ld.
template <class T>
void average_rows(const LayerView &v, int64_t frame, int64_t r0, int64_t r1, T *dst, int64_t ld);

// Rows [r0, r1) of normalize_rows(average + residual*I) for `frame`, written to
// dst with leading dimension ld.  A zero row sum divides by 1, as in the spec.
template <class T>
void fuse_rows(const LayerView &v, int64_t frame, int64_t r0, int64_t r1, double residual, T *dst,
               int64_t ld);

// Row `row` of averaged entry `entry` (a head) of `frame`, converted to T.
template <class T>
void load_row(const LayerView &v, int64_t frame, int64_t entry, int64_t row, T *dst);

// Sum of x[0..n) in a fixed order (eight interleaved partial sums).
template <class T>
T row_sum(const T *x, int64_t n);

}  // namespace attnroll
