#include "method.hpp"

#include <algorithm>
#include <cmath>

#include "discard.hpp"
#include "entropy.hpp"

namespace attnroll {

namespace {
// Rows fused together: each head's stretch of them is read in one go while
// the chunk's partial results stay in cache (as average_rows does).
constexpr int64_t kChunk = 32;

// Element-wise max/min that keep a NaN they meet, whichever side it is on.
template <class T> inline T keep_max(T acc, T x) { return (x > acc || x != x) ? x : acc; }
template <class T> inline T keep_min(T acc, T x) { return (x < acc || x != x) ? x : acc; }
}  // namespace

Method method_of(const attnroll_config &config, int64_t kept) {
    Method m;
    m.drop = config.drop_tokens;
    m.fusion = config.head_fusion;
    m.weights = config.head_weights;
    m.discard = config.discard_ratio;
    m.protect.assign(static_cast<size_t>(kept), 0);
    for (int64_t c : config.protect)
        if (c < kept) m.protect[static_cast<size_t>(c)] = 1;  // the callers refuse c >= kept
    m.rule = config.rule;
    m.residual = config.residual;
    return m;
}

LayerView drop_view(LayerView v, int64_t k) {
    if (k == 0) return v;
    const int64_t elem = attnroll_dtype_size(v.dtype);
    v.base += elem * k * (v.row_stride + v.col_stride);
    v.rows -= k;
    v.cols -= k;
    return v;
}

template <class T>
LayerFuser<T>::LayerFuser(const LayerView &layer, const LayerView *grads, const Method &method)
    : a_(layer), g_(grads), m_(method) {}

template <class T>
bool LayerFuser<T>::whole_frame() const {
    return m_.fusion == ATTNROLL_FUSE_ENTROPY || m_.discard > 0.0;
}

// Step 1's re-normalisation happens per head and row, as the row is read.
template <class T>
void LayerFuser<T>::load(const LayerView &v, int64_t f, int64_t h, int64_t i, T *row) const {
    load_row(v, f, h, i, row);
    if (m_.drop == 0 || &v != &a_) return;  // gradients are cut, not rescaled
    const T sum = row_sum(row, v.cols);
    if (sum == T(0)) return;
    for (int64_t j = 0; j < v.cols; ++j) row[j] /= sum;
}

template <class T>
void LayerFuser<T>::fuse(int64_t f, int64_t r0, int64_t r1, const double *weights, T *dst, int64_t ld) const {
    const int64_t n = a_.cols, heads = static_cast<int64_t>(a_.offsets.size());
    if (m_.fusion == ATTNROLL_FUSE_MEAN && m_.drop == 0) {
        // The spec's own case: the grouped-heads loop of fuse.cpp.
        average_rows(a_, f, r0, r1, dst, ld);
        return;
    }
    std::vector<T> row(static_cast<size_t>(n)), grad(g_ ? static_cast<size_t>(n) : 0);
    for (int64_t c0 = r0; c0 < r1; c0 += kChunk) {
        const int64_t c1 = std::min(c0 + kChunk, r1);
        for (int64_t h = 0; h < heads; ++h) {
            const T w = weights ? static_cast<T>(weights[h]) : T(1);
            for (int64_t i = c0; i < c1; ++i) {
                T *acc = dst + (i - r0) * ld;
                load(a_, f, h, i, row.data());
                const T *x = row.data();
                switch (m_.fusion) {
                    case ATTNROLL_FUSE_MAX:
                        if (h == 0) std::copy(x, x + n, acc);
                        else for (int64_t j = 0; j < n; ++j) acc[j] = keep_max(acc[j], x[j]);
                        break;
                    case ATTNROLL_FUSE_MIN:
                        if (h == 0) std::copy(x, x + n, acc);
                        else for (int64_t j = 0; j < n; ++j) acc[j] = keep_min(acc[j], x[j]);
                        break;
                    case ATTNROLL_FUSE_GRAD: {
                        load(*g_, f, h, i, grad.data());
                        const T *gr = grad.data();
                        for (int64_t j = 0; j < n; ++j) {
                            const T v = x[j] * gr[j];
                            const T pos = (v > T(0) || v != v) ? v : T(0);
                            acc[j] = h == 0 ? pos : acc[j] + pos;
                        }
                        break;
                    }
                    default:  // MEAN (summed here, divided below), WEIGHTS, ENTROPY
                        if (h == 0) for (int64_t j = 0; j < n; ++j) acc[j] = w * x[j];
                        else for (int64_t j = 0; j < n; ++j) acc[j] += w * x[j];
                        break;
                }
            }
        }
    }
    if (m_.fusion == ATTNROLL_FUSE_MEAN || m_.fusion == ATTNROLL_FUSE_GRAD) {
        const T inv = static_cast<T>(1.0 / static_cast<double>(heads));
        for (int64_t i = r0; i < r1; ++i)
            for (int64_t j = 0; j < n; ++j) dst[(i - r0) * ld + j] *= inv;
    }
}

// softmax(-e_h) over the heads of frame f, e_h the mean row entropy.
template <class T>
std::vector<double> LayerFuser<T>::entropy_weights(int64_t f) const {
    const int64_t n = a_.cols, heads = static_cast<int64_t>(a_.offsets.size());
    std::vector<T> row(static_cast<size_t>(n));
    std::vector<double> w(static_cast<size_t>(heads));
    for (int64_t h = 0; h < heads; ++h) {
        T total = 0;
        for (int64_t i = 0; i < a_.rows; ++i) {
            load(a_, f, h, i, row.data());
            total += row_entropy(row.data(), n);
        }
        w[static_cast<size_t>(h)] = -static_cast<double>(total) / static_cast<double>(a_.rows);
    }
    const double top = *std::max_element(w.begin(), w.end());
    double sum = 0;
    for (double &x : w) sum += (x = std::exp(x - top));
    for (double &x : w) x /= sum;
    return w;
}

template <class T>
void LayerFuser<T>::apply_rule(T *row, int64_t i) const {
    row[i] += static_cast<T>(m_.residual);
    if (m_.rule == ATTNROLL_RULE_CHEFER) return;
    const T sum = row_sum(row, a_.cols);
    if (sum == T(0)) return;  // the spec divides a zero row sum by 1
    for (int64_t j = 0; j < a_.cols; ++j) row[j] /= sum;
}

template <class T>
void LayerFuser<T>::rows(int64_t f, int64_t r0, int64_t r1, T *dst, int64_t ld) const {
    fuse(f, r0, r1, m_.fusion == ATTNROLL_FUSE_WEIGHTS ? m_.weights.data() : nullptr, dst, ld);
    for (int64_t i = r0; i < r1; ++i) apply_rule(dst + (i - r0) * ld, i);
}

template <class T>
void LayerFuser<T>::frame(int64_t f, T *dst) const {
    const int64_t n = a_.cols;
    std::vector<double> entropy;
    if (m_.fusion == ATTNROLL_FUSE_ENTROPY) entropy = entropy_weights(f);
    fuse(f, 0, n, m_.fusion == ATTNROLL_FUSE_ENTROPY ? entropy.data()
                  : m_.fusion == ATTNROLL_FUSE_WEIGHTS ? m_.weights.data() : nullptr,
         dst, n);
    if (m_.discard > 0.0) discard_smallest(dst, n, m_.discard, m_.protect);
    for (int64_t i = 0; i < n; ++i) apply_rule(dst + i * n, i);
}

template class LayerFuser<float>;
template class LayerFuser<double>;

}  // namespace attnroll
