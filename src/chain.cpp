#include "chain.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "parallel.hpp"

namespace attnroll {

namespace {
// Rows fused at a time in query mode (see step).
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
        state_.bytes() + next_.bytes() + scratch_.bytes() + partial_.bytes() + frames_buf_.bytes());
}

// One layer for rows [r0, r1) of frame f's result (full mode) or for row block
// b of frame f's k x N product (query mode), reading the frame's current
// state at `cur` and writing the new one at `dst` (both [rows, N] for f).
template <class T>
void Chain<T>::step(const Source &layer, bool first, int64_t f, int64_t b, int worker, const T *cur,
                    T *dst) {
    const int64_t n = n_, k = rows();
    const int64_t r0 = block_begin(b, blocks_, n), r1 = block_begin(b + 1, blocks_, n);
    T *scratch = scratch_.data() + worker * ((n + blocks_ - 1) / blocks_) * n;
    // A whole-frame layer is computed once per task; its rows are then read
    // from the worker's frame buffer.
    T *whole = nullptr;
    if (layer.whole && !(first && !query_.empty() && b != 0)) {
        whole = frames_buf_.data() + static_cast<int64_t>(worker) * n * n;
        layer.whole(f, whole);
    }
    auto get = [&](int64_t a, int64_t z, T *room) -> const T * {
        return whole ? whole + a * n : layer.rows(f, a, z, room);
    };
    if (query_.empty()) {
        if (first) {  // R = Abar_first: no product with the identity
            T *rows_out = dst + r0 * n;
            const T *src = get(r0, r1, rows_out);
            if (src != rows_out) std::memcpy(rows_out, src, sizeof(T) * (r1 - r0) * n);
            return;
        }
        const T *src = get(r0, r1, scratch);
        gemm<T>(r1 - r0, n, n, src, n, cur, n, dst + r0 * n, n, false);
        return;
    }
    if (first) {  // Q = rows q of the last layer: fuse only those rows
        if (b != 0) return;
        for (int64_t i = 0; i < k; ++i) {
            T *row = dst + i * n;
            const T *src = get(query_[i], query_[i] + 1, row);
            if (src != row) std::memcpy(row, src, sizeof(T) * n);
        }
        return;
    }
    // Q_new = sum over row blocks b of Q[:, rows_b] @ Abar[rows_b, :]; with
    // several blocks each writes its own partial sum, added up by apply().
    T *out = blocks_ == 1 ? dst : partial_.data() + (f * blocks_ + b) * k * n;
    // The block goes in chunks small enough to stay in cache between being
    // fused and multiplied: the fused matrix never makes a trip to memory.
    for (int64_t c0 = r0; c0 < r1; c0 += kQueryChunk) {
        const int64_t c1 = std::min(c0 + kQueryChunk, r1);
        const T *src = get(c0, c1, scratch);
        gemm<T>(k, n, c1 - c0, cur + c0, n, src, n, out, n, c0 > r0);
    }
}

template <class T>
void Chain<T>::need_frames(bool whole) {
    if (whole && frames_buf_.size() == 0) frames_buf_ = Buffer<T>(static_cast<size_t>(workers_.count() * n_ * n_));
}

template <class T>
void Chain<T>::apply(const Source &layer, const Observer *observe) {
    need_frames(static_cast<bool>(layer.whole));
    const bool first = applied_ == 0;
    const int64_t blocks = blocks_, per_frame = rows() * n_;
    // Made before the state changes: once the new state is in place nothing
    // may fail, so that a failed apply leaves the chain as it was (a stream
    // push that failed can be made again).
    std::function<void(int64_t, int)> report;
    if (observe) report = [&](int64_t f, int) { (*observe)(applied_, f, state_.data() + f * per_frame); };
    workers_.run(frames_ * blocks, [&](int64_t task, int worker) {
        const int64_t f = task / blocks;
        T *dst = (first ? state_.data() : next_.data()) + f * per_frame;
        step(layer, first, f, task % blocks, worker, state_.data() + f * per_frame, dst);
    });
    if (!first && !query_.empty() && blocks > 1) {
        for (int64_t f = 0; f < frames_; ++f) {
            T *dst = next_.data() + f * per_frame;
            const T *p = partial_.data() + f * blocks * per_frame;
            std::copy(p, p + per_frame, dst);
            for (int64_t b = 1; b < blocks; ++b)
                for (int64_t e = 0; e < per_frame; ++e) dst[e] += p[b * per_frame + e];
        }
    }
    if (!first) state_.swap(next_);
    if (report) workers_.run(frames_, report);
    ++applied_;
}

template <class T>
void Chain<T>::apply_all(const std::vector<Source> &layers, const Observer *observe) {
    if (blocks_ > 1 || layers.empty()) {
        for (const Source &layer : layers) apply(layer, observe);
        return;
    }
    for (const Source &layer : layers) need_frames(static_cast<bool>(layer.whole));
    // Whole frames per task: no barrier between layers, and workers drift
    // apart so one streams its input while another multiplies.  Every frame
    // alternates between the two buffers in step, so all end in the same one.
    const int64_t per_frame = rows() * n_;
    const bool fresh = applied_ == 0;
    // Layer j writes state_ when `parity(j)` is even, next_ otherwise, and
    // reads what layer j-1 wrote (state_ holds the current result on entry).
    auto parity = [&](size_t j) { return (j + (fresh ? 0 : 1)) % 2; };
    workers_.run(frames_, [&](int64_t f, int worker) {
        for (size_t j = 0; j < layers.size(); ++j) {
            Buffer<T> &written = parity(j) == 0 ? state_ : next_;
            Buffer<T> &read = parity(j) == 0 ? next_ : state_;
            step(layers[j], fresh && j == 0, f, 0, worker, read.data() + f * per_frame,
                 written.data() + f * per_frame);
            if (observe) (*observe)(applied_ + static_cast<int64_t>(j), f, written.data() + f * per_frame);
        }
    });
    applied_ += static_cast<int64_t>(layers.size());
    if (parity(layers.size() - 1) == 1) state_.swap(next_);
}

template class Chain<float>;
template class Chain<double>;

}  // namespace attnroll
