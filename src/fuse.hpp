// Head fusion: mean over the averaged axes, plus r*I, row normalisation -- one
// pass over the input rows, straight into the caller's buffer.
#pragma once

#include <cstdint>

namespace attnroll {

// The averaged entries of a layer (its heads, or a selection's leftover
// leading axes), entry h in C order over the axes.  Kept as axes rather than
// a table of offsets, so describing an axis costs the same at any extent.
struct Entries {
    static constexpr int32_t kMaxAxes = 16;  // ATTNROLL_MAX_NDIM
    int64_t base = 0;                        // element offset of entry 0
    int32_t axes = 0;
    int64_t extent[kMaxAxes] = {}, stride[kMaxAxes] = {};
    int64_t count = 1;  // product of the extents (fits: the tensor's count does)

    void add_axis(int64_t n, int64_t step) {
        extent[axes] = n;
        stride[axes] = step;
        ++axes;
        count *= n;
    }
    // Element offset of entry h, 0 <= h < count.
    int64_t offset(int64_t h) const {
        int64_t off = base;
        for (int32_t d = axes - 1; d >= 0; --d) {
            off += (h % extent[d]) * stride[d];
            h /= extent[d];
        }
        return off;
    }
};

// One layer as the fusion reads it: for frame f, row i, column j, averaged
// entry h, the element sits at base[f*frame_stride + entries.offset(h) +
// i*row_stride + j*col_stride] (element offsets, dtype `dtype`).
struct LayerView {
    const char *base = nullptr;
    int32_t dtype = 0;
    int64_t frames = 1;
    int64_t rows = 0, cols = 0;
    int64_t frame_stride = 0, row_stride = 0, col_stride = 0;
    Entries entries;  // one entry (offset 0) unless heads or leftover axes are averaged
};

// Rows [r0, r1) of frame `frame`, each the mean over the entries, written to dst
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
