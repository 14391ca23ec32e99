#include "method.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cpu.hpp"
#include "discard.hpp"
#include "entropy.hpp"

namespace attnroll {

namespace {
// Rows fused together: each head's stretch of them is read in one go while
// the chunk's partial results stay in cache (as average_rows does).
constexpr int64_t kChunk = 32;
// Heads combined per pass over a chunk, as average_rows' kGroup.
constexpr int kGroup = 4;

enum class Op { Sum, Max, Min };

// Element-wise max/min that keep a NaN they meet, whichever side it is on.
template <class T> inline T keep_max(T acc, T x) { return (x > acc || x != x) ? x : acc; }
template <class T> inline T keep_min(T acc, T x) { return (x < acc || x != x) ? x : acc; }
template <Op O, class T> inline T join(T a, T b) {
    return O == Op::Sum ? a + b : O == Op::Max ? keep_max(a, b) : keep_min(a, b);
}

// acc[j] (= | op=) op over g of x[g][j]*s[g], or with gradients of
// max(x[g][j]*s[g]*gr[g][j], 0) (a NaN product kept).  Contiguous rows of T
// only, so it vectorises; every dtype and layout reaches it the same way.
template <class T, Op O, bool Grad, int G>
__attribute__((always_inline)) inline void combine(const T *const *x, const T *s, const T *const *gr, int64_t n,
                                                   T *acc, bool first) {
    for (int64_t j = 0; j < n; ++j) {
        T c = T(0);
        for (int g = 0; g < G; ++g) {
            T v = x[g][j] * s[g];
            if (Grad) {
                v *= gr[g][j];
                v = v <= T(0) ? T(0) : v;  // NaN is not <= 0: kept (one compare, so it vectorises)
            }
            c = g == 0 ? v : join<O>(c, v);
        }
        acc[j] = first ? c : join<O>(acc[j], c);
    }
}

template <class T, Op O, bool Grad>
__attribute__((always_inline)) inline void combine_g(int g, const T *const *x, const T *s, const T *const *gr,
                                                     int64_t n, T *acc, bool first) {
    switch (g) {
        case 1: combine<T, O, Grad, 1>(x, s, gr, n, acc, first); break;
        case 2: combine<T, O, Grad, 2>(x, s, gr, n, acc, first); break;
        case 3: combine<T, O, Grad, 3>(x, s, gr, n, acc, first); break;
        default: combine<T, O, Grad, 4>(x, s, gr, n, acc, first); break;
    }
}

#if defined(__x86_64__) || defined(__i386__)
template <class T, Op O, bool Grad>
__attribute__((target("avx2,fma"))) void combine_avx2(int g, const T *const *x, const T *s, const T *const *gr,
                                                      int64_t n, T *acc, bool first) {
    combine_g<T, O, Grad>(g, x, s, gr, n, acc, first);
}
#endif

template <class T, Op O, bool Grad>
void combine_any(int g, const T *const *x, const T *s, const T *const *gr, int64_t n, T *acc, bool first) {
#if defined(__x86_64__) || defined(__i386__)
    // The same loops with twice the lanes where the CPU has AVX2: the NaN-
    // keeping max/min and the scaling cost more than the mean's plain adds.
    // One machine always takes one path, so streaming matches batch.
    if (cpu_features().avx2_fma) return combine_avx2<T, O, Grad>(g, x, s, gr, n, acc, first);
#endif
    combine_g<T, O, Grad>(g, x, s, gr, n, acc, first);
}

// out[k] = row_sum(x[k], n) for k < g, bit for bit, the rows read in turns
// of a few cache lines: several streams in flight, as in the fusion, instead
// of one row after another (which left step 1 waiting on memory).
template <class T>
void row_sums(int g, const T *const *x, int64_t n, T *out) {
    constexpr int64_t kTurn = 64;
    T part[kGroup][8] = {};
    const int64_t whole = n / 8 * 8;
    for (int64_t j0 = 0; j0 < whole; j0 += kTurn) {
        const int64_t j1 = std::min(j0 + kTurn, whole);
        for (int k = 0; k < g; ++k) {
            T p[8];
            std::copy(part[k], part[k] + 8, p);
            for (int64_t j = j0; j < j1; j += 8)
                for (int l = 0; l < 8; ++l) p[l] += x[k][j + l];
            std::copy(p, p + 8, part[k]);
        }
    }
    for (int k = 0; k < g; ++k) {
        T *p = part[k];
        for (int64_t j = whole; j < n; ++j) p[0] += x[k][j];
        out[k] = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
    }
}

template <class T> constexpr int32_t dtype_of() { return sizeof(T) == 4 ? ATTNROLL_F32 : ATTNROLL_F64; }

// Row i of head h of frame f as contiguous T: the input itself when it
// already is (and aligned), else converted into `room`.
template <class T>
const T *row_of(const LayerView &v, int64_t f, int64_t h, int64_t i, T *room) {
    if (v.dtype == dtype_of<T>() && v.col_stride == 1) {
        const char *p = v.base + static_cast<int64_t>(sizeof(T)) *
                                     (f * v.frame_stride + v.entries.offset(h) + i * v.row_stride);
        if (reinterpret_cast<uintptr_t>(p) % alignof(T) == 0) return reinterpret_cast<const T *>(p);
    }
    load_row(v, f, h, i, room);
    return room;
}
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

// Heads [h0, h1) of rows [r0, r1) into dst, scaled by weights[h] (or 1) and
// step 1's 1/row sum; the first head overwrites.  Heads go kGroup at a time
// over chunks of rows, as in average_rows.
template <class T>
void LayerFuser<T>::fuse_heads(int64_t f, int64_t r0, int64_t r1, int64_t h0, int64_t h1, const double *weights,
                               T *dst, int64_t ld) const {
    const int64_t n = a_.cols;
    std::vector<T> room(static_cast<size_t>(2 * kGroup * n));
    for (int64_t c0 = r0; c0 < r1; c0 += kChunk) {
        const int64_t c1 = std::min(c0 + kChunk, r1);
        for (int64_t h = h0; h < h1; h += kGroup) {
            const int g = static_cast<int>(std::min<int64_t>(kGroup, h1 - h));
            for (int64_t i = c0; i < c1; ++i) {
                const T *x[kGroup], *gr[kGroup] = {};
                T s[kGroup], sum[kGroup];
                for (int k = 0; k < g; ++k) {
                    x[k] = row_of(a_, f, h + k, i, room.data() + k * n);
                    if (g_) gr[k] = row_of(*g_, f, h + k, i, room.data() + (kGroup + k) * n);
                    s[k] = weights ? static_cast<T>(weights[h + k]) : T(1);
                }
                if (m_.drop > 0) {  // gradients are cut, not rescaled
                    row_sums(g, x, n, sum);
                    for (int k = 0; k < g; ++k)
                        if (sum[k] != T(0)) s[k] /= sum[k];  // a zero sum divides by 1
                }
                T *acc = dst + (i - r0) * ld;
                const bool first = h == 0;
                switch (m_.fusion) {
                    case ATTNROLL_FUSE_MAX: combine_any<T, Op::Max, false>(g, x, s, gr, n, acc, first); break;
                    case ATTNROLL_FUSE_MIN: combine_any<T, Op::Min, false>(g, x, s, gr, n, acc, first); break;
                    case ATTNROLL_FUSE_GRAD: combine_any<T, Op::Sum, true>(g, x, s, gr, n, acc, first); break;
                    default: combine_any<T, Op::Sum, false>(g, x, s, gr, n, acc, first); break;
                }
            }
        }
    }
}

template <class T>
void LayerFuser<T>::fuse(int64_t f, int64_t r0, int64_t r1, T *dst, int64_t ld) const {
    const int64_t n = a_.cols, heads = a_.entries.count;
    if (m_.fusion == ATTNROLL_FUSE_MEAN && m_.drop == 0) {
        // The spec's own case: the grouped-heads loop of fuse.cpp.
        average_rows(a_, f, r0, r1, dst, ld);
        return;
    }
    fuse_heads(f, r0, r1, 0, heads, m_.fusion == ATTNROLL_FUSE_WEIGHTS ? m_.weights.data() : nullptr, dst, ld);
    if (m_.fusion == ATTNROLL_FUSE_MEAN || m_.fusion == ATTNROLL_FUSE_GRAD) {
        const T inv = static_cast<T>(1.0 / static_cast<double>(heads));
        for (int64_t i = r0; i < r1; ++i)
            for (int64_t j = 0; j < n; ++j) dst[(i - r0) * ld + j] *= inv;
    }
}

// sum_h w_h A_h with w = softmax(-e), e_h the mean row entropy of head h.
// Each head is read twice, its entropy and then its share of the map, but
// the second read comes from cache: heads go a few at a time, their weights
// unnormalised (exp(-e_h - top), top from the first heads; e_h lies in
// [0, ln N] for A >= 0) and the map is divided by the weights' sum at the
// end.  Entropies use the rows as read: p = row/sum(row) is the same after
// step 1's re-normalisation.
template <class T>
void LayerFuser<T>::fuse_entropy(int64_t f, T *dst) const {
    constexpr int64_t kHeadsCached = 2;  // their planes stay in L2 with dst
    const int64_t n = a_.cols, heads = a_.entries.count;
    std::vector<T> room(static_cast<size_t>(n));
    std::vector<double> w(static_cast<size_t>(heads));
    double top = 0, total = 0;
    for (int64_t h0 = 0; h0 < heads; h0 += kHeadsCached) {
        const int64_t h1 = std::min(h0 + kHeadsCached, heads);
        for (int64_t h = h0; h < h1; ++h) {
            T e = 0;
            for (int64_t i = 0; i < a_.rows; ++i) e += row_entropy(row_of(a_, f, h, i, room.data()), n);
            w[static_cast<size_t>(h)] = -static_cast<double>(e) / static_cast<double>(a_.rows);
        }
        if (h0 == 0) top = *std::max_element(w.begin(), w.begin() + h1);
        for (int64_t h = h0; h < h1; ++h) total += (w[static_cast<size_t>(h)] = std::exp(w[static_cast<size_t>(h)] - top));
        fuse_heads(f, 0, n, h0, h1, w.data(), dst, n);
    }
    const T inv = static_cast<T>(1.0 / total);
    for (int64_t j = 0; j < n * n; ++j) dst[j] *= inv;
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
    fuse(f, r0, r1, dst, ld);
    for (int64_t i = r0; i < r1; ++i) apply_rule(dst + (i - r0) * ld, i);
}

template <class T>
void LayerFuser<T>::frame(int64_t f, T *dst) const {
    const int64_t n = a_.cols;
    if (m_.fusion == ATTNROLL_FUSE_ENTROPY)
        fuse_entropy(f, dst);
    else
        fuse(f, 0, n, dst, n);
    if (m_.discard > 0.0) discard_smallest(dst, n, m_.discard, m_.protect);
    for (int64_t i = 0; i < n; ++i) apply_rule(dst + i * n, i);
}

template class LayerFuser<float>;
template class LayerFuser<double>;

}  // namespace attnroll
