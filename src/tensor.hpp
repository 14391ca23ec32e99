// Validated tensor views: everything the computing code may trust about an
// attnroll_tensor once it has passed the boundary checks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnroll.h"

namespace attnroll {

struct View {
    const char *data = nullptr;  // byte pointer to element [0, 0, ...]
    int32_t dtype = 0;
    int32_t ndim = 0;
    int64_t shape[ATTNROLL_MAX_NDIM] = {};
    int64_t strides[ATTNROLL_MAX_NDIM] = {};  // elements, never NULL-implicit
    int64_t lo = 0, hi = 0;                   // smallest and largest element offset reached

    int64_t count() const;                    // number of logical elements
    int64_t element_size() const;
    // Byte range [first, last) touched, for overlap tests.
    uintptr_t first_byte() const;
    uintptr_t end_byte() const;
};

// "[2,16,433,432]"
std::string shape_string(const int64_t *shape, int32_t ndim);
std::string shape_string(const View &v);
std::string shape_string(const std::vector<int64_t> &shape);
const char *dtype_name(int32_t dtype);

// Boundary checks.  `name` is how the message refers to the argument
// ("layers[3]", "out", ...).  Each throws Error with a message naming it.
View check_input(const attnroll_tensor *t, const std::string &name);
View check_output(const attnroll_tensor *t, const std::string &name);
void expect_shape(const View &v, const std::vector<int64_t> &shape, const std::string &name);
// Refuses an output whose bytes intersect the input's.
void expect_disjoint(const View &out, const std::string &out_name, const View &in,
                     const std::string &in_name);

// Visits every element of a logical C-order index space; fn(linear, offset)
// receives the C-order linear index and the element offset under `strides`.
template <class Fn>
void for_each_offset(const int64_t *shape, const int64_t *strides, int32_t ndim, Fn &&fn) {
    int64_t index[ATTNROLL_MAX_NDIM] = {};
    int64_t total = 1;
    for (int32_t d = 0; d < ndim; ++d) total *= shape[d];
    int64_t offset = 0;
    for (int64_t linear = 0; linear < total; ++linear) {
        fn(linear, offset);
        for (int32_t d = ndim - 1; d >= 0; --d) {
            if (++index[d] < shape[d]) {
                offset += strides[d];
                break;
            }
            offset -= (shape[d] - 1) * strides[d];
            index[d] = 0;
        }
    }
}

// Gathers any-dtype input into a contiguous C-order buffer of double.
std::vector<double> gather(const View &in);

// Writes a contiguous C-order buffer (logical shape = out's shape) to `out`,
// converting to out's dtype (F32 or F64).
template <class T>
void store(const T *src, const View &out);

}  // namespace attnroll
