#include "entropy.hpp"

#include "fastlog.hpp"
#include "fuse.hpp"

namespace attnroll {

template <class T>
T row_entropy(const T *row, int64_t n) {
    const T sum = row_sum(row, n);
    const T inv = sum == T(0) ? T(1) : T(1) / sum;
    // Eight partial sums, as row_sum, so the loop vectorises and its order is fixed.
    T part[8] = {};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; ++k) {
            const T p = row[j + k] * inv;
            part[k] -= p * fast_log(p + T(1e-10));
        }
    for (; j < n; ++j) {
        const T p = row[j] * inv;
        part[0] -= p * fast_log(p + T(1e-10));
    }
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

template float row_entropy<float>(const float *, int64_t);
template double row_entropy<double>(const double *, int64_t);

}  // namespace attnroll
