#include "entropy.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu.hpp"
#include "fastlog.hpp"
#include "fuse.hpp"

namespace attnroll {

namespace {

// The terms go through a small buffer: a plain map loop vectorises (the log
// included), and row_sum then adds them in its fixed order.  A reduction
// written in the same loop would not vectorise without reassociation.
constexpr int64_t kBlock = 256;

template <class T, bool Clean>
__attribute__((always_inline)) inline T entropy_terms(const T *row, int64_t n, T inv) {
    T terms[kBlock], total = 0;
    for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
        const int64_t m = n - j0 < kBlock ? n - j0 : kBlock;
        for (int64_t j = 0; j < m; ++j) {
            const T p = row[j0 + j] * inv;
            terms[j] = p * (Clean ? log_normal(p + T(1e-10)) : fast_log(p + T(1e-10)));
        }
        total -= row_sum(terms, m);
    }
    return total;
}

// A row with no negative, infinite or NaN entry (no sign bit set, its sum and
// 1/sum finite) has every p + 1e-10 positive and normal: the log needs no
// special cases there.  Other rows take the full fast_log.
template <class T>
__attribute__((always_inline)) inline T entropy_of(const T *row, int64_t n) {
    using Bits = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
    const T sum = row_sum(row, n);
    Bits signs = 0;  // an OR of the bits: vectorises where a float min would not
    for (int64_t j = 0; j < n; ++j) {
        Bits b;
        std::memcpy(&b, row + j, sizeof b);
        signs |= b;
    }
    const T inv = sum == T(0) ? T(1) : T(1) / sum;
    // No sign bit set (-0 too takes the full path), sum and 1/sum finite.
    const bool clean = (signs >> (8 * sizeof(T) - 1)) == 0 && sum - sum == T(0) && inv - inv == T(0);
    return clean ? entropy_terms<T, true>(row, n, inv) : entropy_terms<T, false>(row, n, inv);
}

#if defined(__x86_64__) || defined(__i386__)
// The log is compute bound: two or four times the lanes and fused
// multiply-adds where the CPU has them.  One machine always takes the same
// path, so streaming and batch still agree bit for bit.
template <class T>
__attribute__((target("avx2,fma"))) T entropy_avx2(const T *row, int64_t n) {
    return entropy_of(row, n);
}
template <class T>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))) T entropy_avx512(const T *row, int64_t n) {
    return entropy_of(row, n);
}
#endif

}  // namespace

template <class T>
T row_entropy(const T *row, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (cpu_features().avx512) return entropy_avx512(row, n);
    if (cpu_features().avx2_fma) return entropy_avx2(row, n);
#endif
    return entropy_of(row, n);
}

template float row_entropy<float>(const float *, int64_t);
template double row_entropy<double>(const double *, int64_t);

}  // namespace attnroll
