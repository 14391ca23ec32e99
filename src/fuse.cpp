#include "fuse.hpp"

#include <cstring>
#include <type_traits>

#include "attnroll.h"
#include "convert.hpp"
#include "cpu.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ATTNROLL_HAVE_F16C_PATH 1
#endif

namespace attnroll {

namespace {

struct Half { uint16_t bits; };
struct BFloat { uint16_t bits; };

// Element I at p, which need not be aligned (arrays inside .npz files
// rarely are): memcpy compiles to a plain (unaligned) load.
template <class I>
inline I load(const unsigned char *p) {
    I value;
    std::memcpy(&value, p, sizeof value);
    return value;
}

template <class T> inline T to_acc(float x) { return static_cast<T>(x); }
template <class T> inline T to_acc(double x) { return static_cast<T>(x); }
template <class T> inline T to_acc(Half h) { return static_cast<T>(half_to_float(h.bits)); }
template <class T> inline T to_acc(BFloat b) { return static_cast<T>(bf16_to_float(b.bits)); }

// Up to this many entries (heads) are summed per pass over a row: fewer
// passes over the partial sums, and few enough input streams for the
// hardware prefetchers to follow.
constexpr int kGroup = 4;

// acc[j] (=|+=) src[0][j*stride] + ... + src[G-1][j*stride].  `Stride1` lets
// the compiler vectorise the contiguous case; every layout goes through this
// one loop, so every layout gives the same bits.
template <class T, class I, bool Stride1, int G>
inline void accumulate(const unsigned char *const *src, int64_t stride, int64_t n, T *acc, bool first) {
    for (int64_t j = 0; j < n; ++j) {
        const int64_t at = static_cast<int64_t>(sizeof(I)) * (Stride1 ? j : j * stride);
        T x = to_acc<T>(load<I>(src[0] + at));
        for (int g = 1; g < G; ++g) x += to_acc<T>(load<I>(src[g] + at));
        acc[j] = first ? x : acc[j] + x;
    }
}

template <class T, class I, bool Stride1>
inline void accumulate_any(const unsigned char *const *src, int g, int64_t stride, int64_t n, T *acc,
                           bool first) {
    switch (g) {
        case 1: accumulate<T, I, Stride1, 1>(src, stride, n, acc, first); break;
        case 2: accumulate<T, I, Stride1, 2>(src, stride, n, acc, first); break;
        case 3: accumulate<T, I, Stride1, 3>(src, stride, n, acc, first); break;
        default: accumulate<T, I, Stride1, 4>(src, stride, n, acc, first); break;
    }
}

#if ATTNROLL_HAVE_F16C_PATH
// Contiguous half rows converted eight at a time with F16C where the CPU has
// it; the same sums in the same order as accumulate().
__attribute__((target("avx,f16c"))) void accumulate_half_f16c(const unsigned char *const *src, int g,
                                                               int64_t n, float *acc, bool first) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src[0] + 2 * j)));
        for (int k = 1; k < g; ++k)
            x = _mm256_add_ps(x, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src[k] + 2 * j))));
        _mm256_storeu_ps(acc + j, first ? x : _mm256_add_ps(_mm256_loadu_ps(acc + j), x));
    }
    for (; j < n; ++j) {
        float x = half_to_float(load<uint16_t>(src[0] + 2 * j));
        for (int k = 1; k < g; ++k) x += half_to_float(load<uint16_t>(src[k] + 2 * j));
        acc[j] = first ? x : acc[j] + x;
    }
}

// From our own CPUID reading: clang 14 rejects __builtin_cpu_supports("f16c").
bool cpu_has_f16c() { return cpu_features().f16c; }
#endif

// Rows [r0, r1) averaged over the entries.  Rows go in chunks with the
// entries (heads) as the outer loop inside a chunk: each pass then reads one
// contiguous stretch of one head while the chunk's sums stay in cache, instead
// of interleaving 16 head planes N*N apart; a column-major input also reuses
// each cache line across the chunk's rows.
template <class T, class I>
void average_rows_typed(const LayerView &v, int64_t frame, int64_t r0, int64_t r1, T *dst,
                        int64_t ld) {
    constexpr int64_t kChunk = 32;
    const auto *base = reinterpret_cast<const unsigned char *>(v.base) +
                       static_cast<int64_t>(sizeof(I)) * frame * v.frame_stride;
    for (int64_t c0 = r0; c0 < r1; c0 += kChunk) {
        const int64_t c1 = c0 + kChunk < r1 ? c0 + kChunk : r1;
        const int64_t entries = v.entries.count;
        for (int64_t h = 0; h < entries; h += kGroup) {
            const int g = static_cast<int>(entries - h < kGroup ? entries - h : kGroup);
            const bool first = h == 0;
            int64_t offset[kGroup];
            for (int k = 0; k < g; ++k) offset[k] = v.entries.offset(h + k);
            for (int64_t i = c0; i < c1; ++i) {
                const unsigned char *src[kGroup];
                for (int k = 0; k < g; ++k)
                    src[k] = base + static_cast<int64_t>(sizeof(I)) * (offset[k] + i * v.row_stride);
                T *row = dst + (i - r0) * ld;
#if ATTNROLL_HAVE_F16C_PATH
                if constexpr (std::is_same<I, Half>::value && std::is_same<T, float>::value) {
                    if (v.col_stride == 1 && cpu_has_f16c()) {
                        accumulate_half_f16c(src, g, v.cols, row, first);
                        continue;
                    }
                }
#endif
                if (v.col_stride == 1)
                    accumulate_any<T, I, true>(src, g, 1, v.cols, row, first);
                else
                    accumulate_any<T, I, false>(src, g, v.col_stride, v.cols, row, first);
            }
        }
    }
    const int64_t count = v.entries.count;
    if (count > 1) {
        const T inv = static_cast<T>(1.0 / static_cast<double>(count));
        for (int64_t i = r0; i < r1; ++i)
            for (int64_t j = 0; j < v.cols; ++j) dst[(i - r0) * ld + j] *= inv;
    }
}

// One entry's row converted to T, through the same loops as the averages.
template <class T, class I>
void load_row_typed(const LayerView &v, int64_t frame, int64_t entry, int64_t row, T *dst) {
    const unsigned char *src[1] = {reinterpret_cast<const unsigned char *>(v.base) +
                                   static_cast<int64_t>(sizeof(I)) *
                                       (frame * v.frame_stride + v.entries.offset(entry) +
                                        row * v.row_stride)};
#if ATTNROLL_HAVE_F16C_PATH
    if constexpr (std::is_same<I, Half>::value && std::is_same<T, float>::value) {
        if (v.col_stride == 1 && cpu_has_f16c()) {
            accumulate_half_f16c(src, 1, v.cols, dst, true);
            return;
        }
    }
#endif
    if (v.col_stride == 1)
        accumulate_any<T, I, true>(src, 1, 1, v.cols, dst, true);
    else
        accumulate_any<T, I, false>(src, 1, v.col_stride, v.cols, dst, true);
}

}  // namespace

template <class T>
void average_rows(const LayerView &v, int64_t frame, int64_t r0, int64_t r1, T *dst, int64_t ld) {
    switch (v.dtype) {
        case ATTNROLL_F32: average_rows_typed<T, float>(v, frame, r0, r1, dst, ld); break;
        case ATTNROLL_F64: average_rows_typed<T, double>(v, frame, r0, r1, dst, ld); break;
        case ATTNROLL_F16: average_rows_typed<T, Half>(v, frame, r0, r1, dst, ld); break;
        default: average_rows_typed<T, BFloat>(v, frame, r0, r1, dst, ld); break;
    }
}

template <class T>
void load_row(const LayerView &v, int64_t frame, int64_t entry, int64_t row, T *dst) {
    switch (v.dtype) {
        case ATTNROLL_F32: load_row_typed<T, float>(v, frame, entry, row, dst); break;
        case ATTNROLL_F64: load_row_typed<T, double>(v, frame, entry, row, dst); break;
        case ATTNROLL_F16: load_row_typed<T, Half>(v, frame, entry, row, dst); break;
        default: load_row_typed<T, BFloat>(v, frame, entry, row, dst); break;
    }
}

// Sum of x[0..n) in eight interleaved partial sums: vectorisable, and the same
// order every time.
template <class T>
T row_sum(const T *x, int64_t n) {
    T part[8] = {};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; ++k) part[k] += x[j + k];
    for (; j < n; ++j) part[0] += x[j];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

template <class T>
void fuse_rows(const LayerView &v, int64_t frame, int64_t r0, int64_t r1, double residual, T *dst,
               int64_t ld) {
    average_rows(v, frame, r0, r1, dst, ld);
    for (int64_t i = r0; i < r1; ++i) {
        T *row = dst + (i - r0) * ld;
        row[i] += static_cast<T>(residual);
        const T sum = row_sum(row, v.cols);
        if (sum == T(0)) continue;  // the spec divides a zero row sum by 1
        for (int64_t j = 0; j < v.cols; ++j) row[j] /= sum;
    }
}

template void average_rows<float>(const LayerView &, int64_t, int64_t, int64_t, float *, int64_t);
template void average_rows<double>(const LayerView &, int64_t, int64_t, int64_t, double *, int64_t);
template void load_row<float>(const LayerView &, int64_t, int64_t, int64_t, float *);
template void load_row<double>(const LayerView &, int64_t, int64_t, int64_t, double *);
template float row_sum<float>(const float *, int64_t);
template double row_sum<double>(const double *, int64_t);
template void fuse_rows<float>(const LayerView &, int64_t, int64_t, int64_t, double, float *, int64_t);
template void fuse_rows<double>(const LayerView &, int64_t, int64_t, int64_t, double, double *, int64_t);

}  // namespace attnroll
