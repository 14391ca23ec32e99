#include "fuse.hpp"

#include <type_traits>

#include "attnroll.h"
#include "convert.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ATTNROLL_HAVE_F16C_PATH 1
#endif

namespace attnroll {

namespace {

struct Half { uint16_t bits; };
struct BFloat { uint16_t bits; };

template <class T> inline T to_acc(float x) { return static_cast<T>(x); }
template <class T> inline T to_acc(double x) { return static_cast<T>(x); }
template <class T> inline T to_acc(Half h) { return static_cast<T>(half_to_float(h.bits)); }
template <class T> inline T to_acc(BFloat b) { return static_cast<T>(bf16_to_float(b.bits)); }

// acc[j] (=|+=) src[j*stride].  `Stride1` lets the compiler vectorise the
// contiguous case; every layout goes through this one loop.
template <class T, class I, bool Stride1>
inline void accumulate(const I *src, int64_t stride, int64_t n, T *acc, bool first) {
    if (first) {
        for (int64_t j = 0; j < n; ++j) acc[j] = to_acc<T>(src[Stride1 ? j : j * stride]);
    } else {
        for (int64_t j = 0; j < n; ++j) acc[j] += to_acc<T>(src[Stride1 ? j : j * stride]);
    }
}

#if ATTNROLL_HAVE_F16C_PATH
// Contiguous half rows converted eight at a time with F16C where the CPU has it.
__attribute__((target("avx,f16c"))) void accumulate_half_f16c(const uint16_t *src, int64_t n,
                                                               float *acc, bool first) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src + j)));
        _mm256_storeu_ps(acc + j, first ? x : _mm256_add_ps(_mm256_loadu_ps(acc + j), x));
    }
    for (; j < n; ++j) acc[j] = first ? half_to_float(src[j]) : acc[j] + half_to_float(src[j]);
}

bool cpu_has_f16c() {
    static const bool has = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
    return has;
}
#endif

template <class T, class I>
void average_row_typed(const LayerView &v, int64_t frame, int64_t row, T *dst) {
    const I *base = reinterpret_cast<const I *>(v.base) + frame * v.frame_stride + row * v.row_stride;
    bool first = true;
    for (int64_t off : v.offsets) {
        const I *src = base + off;
#if ATTNROLL_HAVE_F16C_PATH
        if constexpr (std::is_same<I, Half>::value && std::is_same<T, float>::value) {
            if (v.col_stride == 1 && cpu_has_f16c()) {
                accumulate_half_f16c(reinterpret_cast<const uint16_t *>(src), v.cols, dst, first);
                first = false;
                continue;
            }
        }
#endif
        if (v.col_stride == 1)
            accumulate<T, I, true>(src, 1, v.cols, dst, first);
        else
            accumulate<T, I, false>(src, v.col_stride, v.cols, dst, first);
        first = false;
    }
    const int64_t count = static_cast<int64_t>(v.offsets.size());
    if (count > 1) {
        const T inv = static_cast<T>(1.0 / static_cast<double>(count));
        for (int64_t j = 0; j < v.cols; ++j) dst[j] *= inv;
    }
}

}  // namespace

template <class T>
void average_row(const LayerView &v, int64_t frame, int64_t row, T *dst) {
    switch (v.dtype) {
        case ATTNROLL_F32: average_row_typed<T, float>(v, frame, row, dst); break;
        case ATTNROLL_F64: average_row_typed<T, double>(v, frame, row, dst); break;
        case ATTNROLL_F16: average_row_typed<T, Half>(v, frame, row, dst); break;
        default: average_row_typed<T, BFloat>(v, frame, row, dst); break;
    }
}

template <class T>
void fuse_rows(const LayerView &v, int64_t frame, int64_t r0, int64_t r1, double residual, T *dst,
               int64_t ld) {
    for (int64_t i = r0; i < r1; ++i) {
        T *row = dst + (i - r0) * ld;
        average_row(v, frame, i, row);
        row[i] += static_cast<T>(residual);
        T sum = 0;
        for (int64_t j = 0; j < v.cols; ++j) sum += row[j];
        if (sum == T(0)) continue;  // the spec divides a zero row sum by 1
        for (int64_t j = 0; j < v.cols; ++j) row[j] /= sum;
    }
}

template void average_row<float>(const LayerView &, int64_t, int64_t, float *);
template void average_row<double>(const LayerView &, int64_t, int64_t, double *);
template void fuse_rows<float>(const LayerView &, int64_t, int64_t, int64_t, double, float *, int64_t);
template void fuse_rows<double>(const LayerView &, int64_t, int64_t, int64_t, double, double *, int64_t);

}  // namespace attnroll
