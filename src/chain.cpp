#include "chain.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "parallel.hpp"

namespace attnroll {

namespace {
// Rows fused at a time in query mode (see apply_query).
constexpr int64_t kQueryChunk = 32;
}  // namespace

template <>
void gemm<float>(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                 int64_t ldb, float *c, int64_t ldc, bool accumulate) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
                static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda),
                b, static_cast<blasint>(ldb), accumulate ? 1.0f : 0.0f, c, static_cast<blasint>(ldc));
}

template <>
void gemm<double>(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda, const double *b,
                  int64_t ldb, double *c, int64_t ldc, bool accumulate) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
                static_cast<blasint>(n), static_cast<blasint>(k), 1.0, a, static_cast<blasint>(lda),
                b, static_cast<blasint>(ldb), accumulate ? 1.0 : 0.0, c, static_cast<blasint>(ldc));
}

template <class T>
Chain<T>::Chain(int64_t frames, int64_t n, std::vector<int64_t> query_rows, Workers &workers)
    : frames_(frames), n_(n), query_(std::move(query_rows)), workers_(workers) {
    blocks_ = row_blocks(frames_, n_, workers_.count());
    const size_t state = static_cast<size_t>(frames_ * rows() * n_);
    state_ = Buffer<T>(state);
    next_ = Buffer<T>(state);
    const int64_t block_rows = (n_ + blocks_ - 1) / blocks_;
    scratch_ = Buffer<T>(static_cast<size_t>(workers_.count() * block_rows * n_));
    if (!query_.empty() && blocks_ > 1)
        partial_ = Buffer<T>(static_cast<size_t>(frames_ * blocks_) * static_cast<size_t>(rows() * n_));
}

template <class T>
int64_t Chain<T>::rows() const {
    return query_.empty() ? n_ : static_cast<int64_t>(query_.size());
}

template <class T>
int64_t Chain<T>::bytes_held() const {
    return static_cast<int64_t>(
        state_.bytes() + next_.bytes() + scratch_.bytes() + partial_.bytes());
}

template <class T>
void Chain<T>::apply(const Source &layer) {
    if (query_.empty())
        apply_full(layer);
    else
        apply_query(layer);
    ++applied_;
}

template <class T>
void Chain<T>::apply_full(const Source &layer) {
    const int64_t n = n_, blocks = blocks_;
    const int64_t block_rows = (n + blocks - 1) / blocks;
    const bool first = applied_ == 0;
    workers_.run(frames_ * blocks, [&](int64_t task, int worker) {
        const int64_t f = task / blocks, b = task % blocks;
        const int64_t r0 = block_begin(b, blocks, n), r1 = block_begin(b + 1, blocks, n);
        T *rows_out = state_.data() + (f * n + r0) * n;
        if (first) {  // R = Abar_first: no product with the identity
            const T *src = layer(f, r0, r1, rows_out);
            if (src != rows_out) std::memcpy(rows_out, src, sizeof(T) * (r1 - r0) * n);
            return;
        }
        T *scratch = scratch_.data() + worker * block_rows * n;
        const T *src = layer(f, r0, r1, scratch);
        gemm<T>(r1 - r0, n, n, src, n, state_.data() + f * n * n, n,
                next_.data() + (f * n + r0) * n, n, false);
    });
    if (!first) state_.swap(next_);
}

template <class T>
void Chain<T>::apply_query(const Source &layer) {
    const int64_t n = n_, k = rows(), blocks = blocks_;
    const int64_t block_rows = (n + blocks - 1) / blocks;
    if (applied_ == 0) {  // Q = rows q of the last layer: fuse only those rows
        workers_.run(frames_, [&](int64_t f, int) {
            for (int64_t i = 0; i < k; ++i) {
                T *row = state_.data() + (f * k + i) * n;
                const T *src = layer(f, query_[i], query_[i] + 1, row);
                if (src != row) std::memcpy(row, src, sizeof(T) * n);
            }
        });
        return;
    }
    // Q_new = sum over row blocks b of Q[:, rows_b] @ Abar[rows_b, :].
    workers_.run(frames_ * blocks, [&](int64_t task, int worker) {
        const int64_t f = task / blocks, b = task % blocks;
        const int64_t r0 = block_begin(b, blocks, n), r1 = block_begin(b + 1, blocks, n);
        T *scratch = scratch_.data() + worker * block_rows * n;
        T *dst = blocks == 1 ? next_.data() + f * k * n : partial_.data() + task * k * n;
        // The block goes in chunks small enough to stay in cache between being
        // fused and multiplied: the fused matrix never makes a trip to memory.
        for (int64_t c0 = r0; c0 < r1; c0 += kQueryChunk) {
            const int64_t c1 = std::min(c0 + kQueryChunk, r1);
            const T *src = layer(f, c0, c1, scratch);
            gemm<T>(k, n, c1 - c0, state_.data() + f * k * n + c0, n, src, n, dst, n, c0 > r0);
        }
    });
    if (blocks > 1) {
        for (int64_t f = 0; f < frames_; ++f) {
            T *dst = next_.data() + f * k * n;
            const T *p = partial_.data() + f * blocks * k * n;
            std::copy(p, p + k * n, dst);
            for (int64_t b = 1; b < blocks; ++b)
                for (int64_t e = 0; e < k * n; ++e) dst[e] += p[b * k * n + e];
        }
    }
    state_.swap(next_);
}

template class Chain<float>;
template class Chain<double>;

}  // namespace attnroll
