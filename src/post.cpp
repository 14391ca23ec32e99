#include "post.hpp"

#include <algorithm>
#include <vector>

#include "error.hpp"
#include "tensor.hpp"

namespace attnroll {

namespace {

View check_matrix(const attnroll_tensor *in) {
    const View v = check_input(in, "in");
    if (v.ndim != 2)
        fail(ATTNROLL_E_SHAPE, "in: shape %s has rank %d, expected a matrix [R,C]",
             shape_string(v).c_str(), static_cast<int>(v.ndim));
    return v;
}

// (x - lo) / (hi - lo) over [first, last); a constant range divides by 1.
// As numpy's min/max, one NaN makes lo and hi NaN, so the whole range is NaN.
void scale_to_unit(double *first, double *last) {
    double lo = *first, hi = *first;
    for (double *p = first; p != last; ++p) {
        if (*p != *p) {
            lo = hi = *p;
            break;
        }
        lo = std::min(lo, *p);
        hi = std::max(hi, *p);
    }
    const double span = hi - lo == 0.0 ? 1.0 : hi - lo;
    for (double *p = first; p != last; ++p) *p = (*p - lo) / span;
}

}  // namespace

void minmax_rows(const attnroll_tensor *in, const attnroll_tensor *out) {
    const View a = check_matrix(in);
    const View o = check_output(out, "out");
    expect_shape(o, {a.shape[0], a.shape[1]}, "out");
    std::vector<double> values = gather(a);
    const int64_t cols = a.shape[1];
    for (int64_t i = 0; i < a.shape[0]; ++i) scale_to_unit(&values[i * cols], &values[i * cols] + cols);
    store(values.data(), o);
}

void column_mean(const attnroll_tensor *in, const attnroll_tensor *out) {
    const View a = check_matrix(in);
    const View o = check_output(out, "out");
    expect_shape(o, {a.shape[1]}, "out");
    const std::vector<double> values = gather(a);
    const int64_t rows = a.shape[0], cols = a.shape[1];
    std::vector<double> mean(static_cast<size_t>(cols), 0.0);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) mean[j] += values[i * cols + j];
    for (double &m : mean) m /= static_cast<double>(rows);
    store(mean.data(), o);
}

void minmax(const attnroll_tensor *in, const attnroll_tensor *out) {
    const View a = check_input(in, "in");
    const View o = check_output(out, "out");
    expect_shape(o, std::vector<int64_t>(a.shape, a.shape + a.ndim), "out");
    std::vector<double> values = gather(a);
    scale_to_unit(values.data(), values.data() + values.size());
    store(values.data(), o);
}

}  // namespace attnroll
