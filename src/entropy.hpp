// The users' newest spatial script's head entropy (ATTNROLL_FUSE_ENTROPY).
#pragma once

#include <cstdint>

namespace attnroll {

// -sum_j p_j ln(p_j + 1e-10) with p = row / sum(row) (a zero sum divides by 1),
// in T's precision with a vectorised logarithm.
template <class T>
T row_entropy(const T *row, int64_t n);

}  // namespace attnroll
