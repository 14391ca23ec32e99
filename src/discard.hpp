// ATTNROLL_OPT_DISCARD_RATIO on one frame's fused map.
#pragma once

#include <cstdint>
#include <vector>

namespace attnroll {

// Sets to zero the floor(ratio*M) smallest of the M entries of the n x n
// row-major `map` whose column is not protected (protected[j] != 0).  Order:
// by value with NaN above +inf, equal values by lowest row-major index.  A
// radix selection on order-preserving integer keys, not a sort: a few passes
// over M keys.
template <class T>
void discard_smallest(T *map, int64_t n, double ratio, const std::vector<char> &protected_cols);

}  // namespace attnroll
