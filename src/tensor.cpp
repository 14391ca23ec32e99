#include "tensor.hpp"

#include <algorithm>

#include "convert.hpp"
#include "error.hpp"

namespace attnroll {

int64_t View::count() const {
    int64_t n = 1;
    for (int32_t d = 0; d < ndim; ++d) n *= shape[d];
    return n;
}

int64_t View::element_size() const { return attnroll_dtype_size(dtype); }

uintptr_t View::first_byte() const {
    return reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(lo * element_size());
}

uintptr_t View::end_byte() const {
    return reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>((hi + 1) * element_size());
}

std::string shape_string(const int64_t *shape, int32_t ndim) {
    std::string s = "[";
    for (int32_t d = 0; d < ndim; ++d) {
        if (d) s += ',';
        s += std::to_string(shape[d]);
    }
    return s + "]";
}

std::string shape_string(const View &v) { return shape_string(v.shape, v.ndim); }

std::string shape_string(const std::vector<int64_t> &shape) {
    return shape_string(shape.data(), static_cast<int32_t>(shape.size()));
}

const char *dtype_name(int32_t dtype) {
    switch (dtype) {
        case ATTNROLL_F32: return "F32";
        case ATTNROLL_F64: return "F64";
        case ATTNROLL_F16: return "F16";
        case ATTNROLL_BF16: return "BF16";
        default: return "unknown";
    }
}

namespace {

// Checks pointers, dtype, rank and extents, fills strides and the offset span,
// refusing anything whose extents or byte offsets overflow.
View check_common(const attnroll_tensor *t, const std::string &name) {
    const char *n = name.c_str();
    if (!t) fail(ATTNROLL_E_ARGUMENT, "%s: tensor pointer is NULL", n);
    if (!t->data) fail(ATTNROLL_E_ARGUMENT, "%s.data: is NULL", n);
    if (attnroll_dtype_size(t->dtype) == 0)
        fail(ATTNROLL_E_DTYPE, "%s.dtype: %d is not a known dtype (F32=1, F64=2, F16=3, BF16=4)",
             n, static_cast<int>(t->dtype));
    if (t->ndim < 1 || t->ndim > ATTNROLL_MAX_NDIM)
        fail(ATTNROLL_E_SHAPE, "%s.ndim: %d is outside 1..%d", n, static_cast<int>(t->ndim),
             ATTNROLL_MAX_NDIM);
    if (!t->shape) fail(ATTNROLL_E_ARGUMENT, "%s.shape: is NULL", n);

    View v;
    v.data = static_cast<const char *>(t->data);
    v.dtype = t->dtype;
    v.ndim = t->ndim;
    int64_t count = 1;
    for (int32_t d = 0; d < v.ndim; ++d) {
        v.shape[d] = t->shape[d];
        if (v.shape[d] < 1)
            fail(ATTNROLL_E_SHAPE, "%s: shape %s has extent %lld in dim %d; extents must be >= 1",
                 n, shape_string(t->shape, t->ndim).c_str(), static_cast<long long>(v.shape[d]),
                 static_cast<int>(d));
        if (__builtin_mul_overflow(count, v.shape[d], &count))
            fail(ATTNROLL_E_SHAPE, "%s: shape %s has more elements than fit in 64 bits", n,
                 shape_string(t->shape, t->ndim).c_str());
    }
    if (t->strides) {
        for (int32_t d = 0; d < v.ndim; ++d) v.strides[d] = t->strides[d];
    } else {
        int64_t s = 1;
        for (int32_t d = v.ndim - 1; d >= 0; --d) {
            v.strides[d] = s;
            s *= v.shape[d];  // cannot overflow: bounded by count
        }
    }
    const int64_t max_offset = INT64_MAX / 16;  // leaves room for byte offsets of any dtype
    for (int32_t d = 0; d < v.ndim; ++d) {
        int64_t step = 0;
        if (__builtin_mul_overflow(v.shape[d] - 1, v.strides[d], &step) ||
            __builtin_add_overflow(v.strides[d] > 0 ? v.hi : v.lo, step,
                                   v.strides[d] > 0 ? &v.hi : &v.lo) ||
            v.hi > max_offset || v.lo < -max_offset)
            fail(ATTNROLL_E_SHAPE, "%s: strides %s with shape %s reach offsets that overflow", n,
                 shape_string(v.strides, v.ndim).c_str(), shape_string(v).c_str());
    }
    return v;
}

}  // namespace

View check_input(const attnroll_tensor *t, const std::string &name) {
    return check_common(t, name);
}

View check_output(const attnroll_tensor *t, const std::string &name) {
    View v = check_common(t, name);
    if (v.dtype != ATTNROLL_F32 && v.dtype != ATTNROLL_F64)
        fail(ATTNROLL_E_DTYPE, "%s.dtype: %s is not an output dtype (F32 or F64)", name.c_str(),
             dtype_name(v.dtype));
    if (reinterpret_cast<uintptr_t>(v.data) % static_cast<uintptr_t>(v.element_size()) != 0)
        fail(ATTNROLL_E_ARGUMENT, "%s.data: %p is not aligned to its %lld-byte elements", name.c_str(),
             static_cast<const void *>(v.data), static_cast<long long>(v.element_size()));
    // Non-overlap: with dims sorted by |stride|, each stride must step past
    // everything the smaller dims reach.  Sufficient, and what numpy checks too.
    int32_t order[ATTNROLL_MAX_NDIM];
    int32_t m = 0;
    for (int32_t d = 0; d < v.ndim; ++d)
        if (v.shape[d] > 1) order[m++] = d;
    std::sort(order, order + m, [&](int32_t a, int32_t b) {
        return std::llabs(v.strides[a]) < std::llabs(v.strides[b]);
    });
    int64_t reach = 0;
    for (int32_t i = 0; i < m; ++i) {
        const int32_t d = order[i];
        const int64_t s = std::llabs(v.strides[d]);
        if (s <= reach)
            fail(ATTNROLL_E_OVERLAP,
                 "%s: strides %s with shape %s make distinct indices share an element", name.c_str(),
                 shape_string(v.strides, v.ndim).c_str(), shape_string(v).c_str());
        reach += s * (v.shape[d] - 1);
    }
    return v;
}

void expect_shape(const View &v, const std::vector<int64_t> &shape, const std::string &name) {
    bool same = v.ndim == static_cast<int32_t>(shape.size());
    for (int32_t d = 0; same && d < v.ndim; ++d) same = v.shape[d] == shape[d];
    if (!same)
        fail(ATTNROLL_E_SHAPE, "%s: shape %s, expected %s", name.c_str(), shape_string(v).c_str(),
             shape_string(shape).c_str());
}

void expect_disjoint(const View &out, const std::string &out_name, const View &in,
                     const std::string &in_name) {
    if (out.first_byte() < in.end_byte() && in.first_byte() < out.end_byte())
        fail(ATTNROLL_E_OVERLAP, "%s: overlaps the memory of %s", out_name.c_str(),
             in_name.c_str());
}

std::vector<double> gather(const View &in) {
    std::vector<double> dst(static_cast<size_t>(in.count()));
    for_each_offset(in.shape, in.strides, in.ndim, [&](int64_t i, int64_t off) {
        dst[static_cast<size_t>(i)] = load_element<double>(in.data, in.dtype, off);
    });
    return dst;
}

template <class T>
void store(const T *src, const View &out) {
    char *base = const_cast<char *>(out.data);
    for_each_offset(out.shape, out.strides, out.ndim, [&](int64_t i, int64_t off) {
        if (out.dtype == ATTNROLL_F32)
            reinterpret_cast<float *>(base)[off] = static_cast<float>(src[i]);
        else
            reinterpret_cast<double *>(base)[off] = static_cast<double>(src[i]);
    });
}

template void store<float>(const float *, const View &);
template void store<double>(const double *, const View &);

}  // namespace attnroll
