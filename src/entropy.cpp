#include "entropy.hpp"

#include "fastlog.hpp"
#include "fuse.hpp"

namespace attnroll {

// The terms go through a small buffer: a plain map loop vectorises (the log
// included), and row_sum then adds them in its fixed order.  A reduction
// written in the same loop would not vectorise without reassociation.
template <class T>
T row_entropy(const T *row, int64_t n) {
    constexpr int64_t kBlock = 256;
    const T sum = row_sum(row, n);
    const T inv = sum == T(0) ? T(1) : T(1) / sum;
    T terms[kBlock], total = 0;
    for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
        const int64_t m = n - j0 < kBlock ? n - j0 : kBlock;
        for (int64_t j = 0; j < m; ++j) {
            const T p = row[j0 + j] * inv;
            terms[j] = p * fast_log(p + T(1e-10));
        }
        total -= row_sum(terms, m);
    }
    return total;
}

template float row_entropy<float>(const float *, int64_t);
template double row_entropy<double>(const double *, int64_t);

}  // namespace attnroll
