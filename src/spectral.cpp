// Spectral diagnostics: singular values and effective rank of a batch of
// square matrices, through LAPACKE's ?gesdd (jobz = 'N') on a contiguous
// working copy per matrix, batched over the leading axes on the workers.
#include "spectral.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "convert.hpp"
#include "error.hpp"
#include "parallel.hpp"
#include "tensor.hpp"

namespace attnroll {

namespace {

// One worker's LAPACK working memory for M x M matrices, queried once.
template <class T> struct Gesdd;

template <> struct Gesdd<float> {
    static lapack_int run(lapack_int m, float *a, float *s, float *work, lapack_int lwork, lapack_int *iwork) {
        return LAPACKE_sgesdd_work(LAPACK_COL_MAJOR, 'N', m, m, a, m, s, nullptr, 1, nullptr, 1, work, lwork,
                                   iwork);
    }
};
template <> struct Gesdd<double> {
    static lapack_int run(lapack_int m, double *a, double *s, double *work, lapack_int lwork, lapack_int *iwork) {
        return LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', m, m, a, m, s, nullptr, 1, nullptr, 1, work, lwork,
                                   iwork);
    }
};

template <class T>
struct Workspace {
    std::vector<T> a, work;
    std::vector<lapack_int> iwork;
    lapack_int lwork = 0;

    explicit Workspace(int64_t m) : a(static_cast<size_t>(m * m)), iwork(static_cast<size_t>(8 * m)) {
        T query = 0;
        const lapack_int info = Gesdd<T>::run(static_cast<lapack_int>(m), a.data(), nullptr, &query, -1,
                                              iwork.data());
        if (info != 0) fail(ATTNROLL_E_INTERNAL, "LAPACKE ?gesdd workspace query failed: info = %d", int(info));
        lwork = std::max<lapack_int>(1, static_cast<lapack_int>(query));
        work.resize(static_cast<size_t>(lwork));
    }
};

struct Batch {
    View in;
    int64_t count = 1;  // product of the leading extents
    int64_t m = 0;
};

Batch check_square_batch(const attnroll_tensor *in) {
    Batch b;
    b.in = check_input(in, "in");
    const View &v = b.in;
    if (v.ndim < 2)
        fail(ATTNROLL_E_SHAPE, "in: shape %s has rank %d, expected [..., M, M]", shape_string(v).c_str(),
             static_cast<int>(v.ndim));
    if (v.shape[v.ndim - 1] != v.shape[v.ndim - 2])
        fail(ATTNROLL_E_SHAPE, "in: shape %s is not square in its last two dims", shape_string(v).c_str());
    b.m = v.shape[v.ndim - 1];
    if (b.m > (int64_t(1) << 30) / 8)
        fail(ATTNROLL_E_SHAPE, "in: M = %lld exceeds the LAPACK index range", static_cast<long long>(b.m));
    for (int32_t d = 0; d + 2 < v.ndim; ++d) b.count *= v.shape[d];
    return b;
}

// Matrix `index` (C order over the leading axes) of `in`, row-major into a
// column-major M x M buffer, i.e. its transpose: the same singular values.
// Refuses NaN and infinities, which ?gesdd does not handle.
template <class T>
void load_matrix(const Batch &b, int64_t index, T *dst) {
    const View &v = b.in;
    int64_t offset = 0, rest = index;
    for (int32_t d = v.ndim - 3; d >= 0; --d) {
        offset += (rest % v.shape[d]) * v.strides[d];
        rest /= v.shape[d];
    }
    const int64_t rs = v.strides[v.ndim - 2], cs = v.strides[v.ndim - 1];
    for (int64_t i = 0; i < b.m; ++i)
        for (int64_t j = 0; j < b.m; ++j) {
            const T x = load_element<T>(v.data, v.dtype, offset + i * rs + j * cs);
            if (!std::isfinite(x))
                fail(ATTNROLL_E_ARGUMENT, "in: matrix %lld, element [%lld,%lld] is %s; singular values need "
                     "finite entries", static_cast<long long>(index), static_cast<long long>(i),
                     static_cast<long long>(j), x != x ? "NaN" : "infinite");
            dst[i * b.m + j] = x;
        }
}

// Singular values of every matrix of the batch, descending, [count, M].
template <class T>
std::vector<T> singular_values_typed(const Batch &b) {
    std::vector<T> s(static_cast<size_t>(b.count * b.m));
    const double work = 4.0 * static_cast<double>(b.m) * static_cast<double>(b.m) * static_cast<double>(b.m);
    const int workers_wanted = choose_workers(0, work, b.count);
    // One matrix (or one worker): let ?gesdd use OpenBLAS's own threads for
    // its level-3 steps.  Several: one matrix per worker, OpenBLAS on one.
    std::unique_ptr<BlasSingleThreaded> single;
    if (workers_wanted > 1) single.reset(new BlasSingleThreaded());
    Workers workers(workers_wanted);
    std::vector<std::unique_ptr<Workspace<T>>> spaces(static_cast<size_t>(workers.count()));
    workers.run(b.count, [&](int64_t task, int worker) {
        std::unique_ptr<Workspace<T>> &ws = spaces[static_cast<size_t>(worker)];
        if (!ws) ws.reset(new Workspace<T>(b.m));
        load_matrix(b, task, ws->a.data());
        const lapack_int info = Gesdd<T>::run(static_cast<lapack_int>(b.m), ws->a.data(),
                                              s.data() + task * b.m, ws->work.data(), ws->lwork,
                                              ws->iwork.data());
        if (info != 0)
            fail(ATTNROLL_E_INTERNAL, "in: matrix %lld: LAPACKE_%cgesdd failed with info = %d%s",
                 static_cast<long long>(task), sizeof(T) == 4 ? 's' : 'd', static_cast<int>(info),
                 info > 0 ? " (the bidiagonal QR iteration did not converge)" : " (an illegal argument)");
    });
    return s;
}

// exp(-sum p ln p), p = s / sum s, 0 ln 0 = 0; all-zero gives 0.
double effective_rank_of(const double *s, int64_t m) {
    double total = 0;
    for (int64_t i = 0; i < m; ++i) total += s[i];
    if (!(total > 0)) return 0.0;
    double h = 0;
    for (int64_t i = 0; i < m; ++i) {
        const double p = s[i] / total;
        if (p > 0) h -= p * std::log(p);
    }
    return std::exp(h);
}

std::vector<int64_t> leading_shape(const View &v) {
    std::vector<int64_t> shape(v.shape, v.shape + v.ndim - 2);
    return shape;
}

}  // namespace

void singular_values(const attnroll_tensor *in, const attnroll_tensor *out) {
    const Batch b = check_square_batch(in);
    const View o = check_output(out, "out");
    std::vector<int64_t> shape = leading_shape(b.in);
    shape.push_back(b.m);
    expect_shape(o, shape, "out");
    expect_disjoint(o, "out", b.in, "in");
    if (o.dtype == ATTNROLL_F32) {
        const std::vector<float> s = singular_values_typed<float>(b);
        store(s.data(), o);
    } else {
        const std::vector<double> s = singular_values_typed<double>(b);
        store(s.data(), o);
    }
}

void effective_rank(const attnroll_tensor *in, const attnroll_tensor *out) {
    const Batch b = check_square_batch(in);
    const View o = check_output(out, "out");
    std::vector<int64_t> shape = leading_shape(b.in);
    if (shape.empty()) shape.push_back(1);
    expect_shape(o, shape, "out");
    expect_disjoint(o, "out", b.in, "in");
    std::vector<double> ranks(static_cast<size_t>(b.count)), row(static_cast<size_t>(b.m));
    if (o.dtype == ATTNROLL_F32) {
        const std::vector<float> s = singular_values_typed<float>(b);
        for (int64_t k = 0; k < b.count; ++k) {
            std::copy(s.begin() + k * b.m, s.begin() + (k + 1) * b.m, row.begin());
            ranks[static_cast<size_t>(k)] = effective_rank_of(row.data(), b.m);
        }
    } else {
        const std::vector<double> s = singular_values_typed<double>(b);
        for (int64_t k = 0; k < b.count; ++k)
            ranks[static_cast<size_t>(k)] = effective_rank_of(s.data() + k * b.m, b.m);
    }
    store(ranks.data(), o);
}

}  // namespace attnroll
