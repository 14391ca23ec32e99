#include "stream.hpp"

#include <cstdint>
#include <algorithm>
#include <vector>

#include "chain.hpp"
#include "error.hpp"
#include "fuse.hpp"
#include "parallel.hpp"
#include "rollout.hpp"

namespace attnroll {

namespace {

template <class T>
class Stream final : public attnroll_stream {
public:
    Stream(const attnroll_config &config, int64_t frames, int64_t tokens)
        : options_(config), frames_(frames), n_(tokens) {
        const int64_t rows = options_.query_rows.empty() ? n_ : static_cast<int64_t>(options_.query_rows.size());
        // Head count is not known yet; size the decision for a typical 16.
        workers_ = std::make_unique<Workers>(
            choose_workers(options_.threads, static_cast<double>(n_ * (16 + rows)), frames_ * n_));
        // Full mode keeps the running product; query mode keeps fused layers
        // and builds its backward chain in result().
        if (options_.query_rows.empty())
            chain_ = std::make_unique<Chain<T>>(frames_, n_, std::vector<int64_t>{}, *workers_);
    }

    void push(const attnroll_tensor *layer, const attnroll_tensor *grad) override {
        if ((grad != nullptr) != (options_.head_fusion == ATTNROLL_FUSE_GRAD)) check_method(options_, n_, grad != nullptr);
        if (finished_)
            fail(ATTNROLL_E_STATE,
                 "stream: finished by attnroll_stream_result; create a new stream for more layers");
        const View v = check_input(layer, "layer");
        const bool framed = v.ndim == 4;
        const bool shape_ok =
            (framed && v.shape[0] == frames_ && v.shape[2] == n_ && v.shape[3] == n_) ||
            (v.ndim == 3 && frames_ == 1 && v.shape[1] == n_ && v.shape[2] == n_);
        if (!shape_ok)
            fail(ATTNROLL_E_SHAPE, "layer: shape %s, expected [F=%lld,H,N=%lld,N=%lld]%s (layer %lld)",
                 shape_string(v).c_str(), static_cast<long long>(frames_), static_cast<long long>(n_),
                 static_cast<long long>(n_), frames_ == 1 ? " or [H,N,N]" : "",
                 static_cast<long long>(pushed_));
        const LayerView lv = spatial_layer_view(v);
        const int64_t index = pushed_;
        const bool in_range = index >= options_.layer_begin &&
                              (options_.layer_end < 0 || index < options_.layer_end);
        if (in_range) {
            BlasSingleThreaded blas;
            if (chain_)
                chain_->apply(fused_source<T>(lv, options_.residual, n_));
            else
                keep_fused(lv);
        }
        ++pushed_;
    }

    void result(const attnroll_tensor *out) override {
        const int64_t end = options_.layer_end < 0 ? pushed_ : options_.layer_end;
        if (end > pushed_)
            fail(ATTNROLL_E_STATE,
                 "stream: ATTNROLL_OPT_LAYER_END is %lld but only %lld layers were pushed",
                 static_cast<long long>(end), static_cast<long long>(pushed_));
        if (options_.layer_begin >= end)
            fail(ATTNROLL_E_STATE, "stream: no layer of the range [%lld, %lld) has been pushed (%lld pushed)",
                 static_cast<long long>(options_.layer_begin), static_cast<long long>(end),
                 static_cast<long long>(pushed_));
        const int64_t rows = options_.query_rows.empty() ? n_ : static_cast<int64_t>(options_.query_rows.size());
        const View o = check_output(out, "out");
        const bool flat = frames_ == 1 && o.ndim == 2;
        expect_shape(o, rollout_shape(frames_, rows, n_, !flat), "out");

        if (!chain_ && backward_.size() == 0) {  // query mode: first result runs the backward pass
            BlasSingleThreaded blas;
            Chain<T> chain(frames_, n_, options_.query_rows, *workers_);
            for (auto it = fused_.rbegin(); it != fused_.rend(); ++it) {
                const T *layer = it->data();
                const int64_t n = n_;
                chain.apply([&](int64_t f, int64_t r0, int64_t, T *) -> const T * {
                    return layer + (f * n + r0) * n;
                });
            }
            Buffer<T> result(static_cast<size_t>(frames_ * rows * n_));
            std::copy(chain.result(), chain.result() + frames_ * rows * n_, result.data());
            backward_ = std::move(result);
        }
        store(chain_ ? chain_->result() : backward_.data(), o);
        finished_ = true;
    }

    int64_t layers_pushed() const override { return pushed_; }

    int64_t bytes_held() const override {
        int64_t bytes = chain_ ? chain_->bytes_held() : 0;
        for (const auto &layer : fused_) bytes += static_cast<int64_t>(layer.bytes());
        return bytes + static_cast<int64_t>(backward_.bytes());
    }

private:
    void keep_fused(const LayerView &lv) {
        Buffer<T> layer(static_cast<size_t>(frames_ * n_ * n_));
        const int64_t n = n_, blocks = row_blocks(frames_, n, workers_->count());
        workers_->run(frames_ * blocks, [&](int64_t task, int) {
            const int64_t f = task / blocks, b = task % blocks;
            const int64_t r0 = block_begin(b, blocks, n), r1 = block_begin(b + 1, blocks, n);
            fuse_rows(lv, f, r0, r1, options_.residual, layer.data() + (f * n + r0) * n, n);
        });
        fused_.push_back(std::move(layer));
    }

    attnroll_config options_;
    int64_t frames_, n_;
    std::unique_ptr<Workers> workers_;      // before chain_, which refers to it
    int64_t pushed_ = 0;
    bool finished_ = false;
    std::unique_ptr<Chain<T>> chain_;        // full mode
    std::vector<Buffer<T>> fused_;           // query mode: fused layers in the range
    Buffer<T> backward_;                     // query mode: the result, once computed
};

}  // namespace

std::unique_ptr<attnroll_stream> make_stream(const attnroll_config *config, int64_t frames,
                                             int64_t tokens, int32_t dtype) {
    const attnroll_config &options = options_or_defaults(config);
    if (frames < 1)
        fail(ATTNROLL_E_ARGUMENT, "frames: %lld, must be >= 1", static_cast<long long>(frames));
    if (tokens < 1)
        fail(ATTNROLL_E_ARGUMENT, "tokens: %lld, must be >= 1", static_cast<long long>(tokens));
    if (tokens > INT32_MAX)
        fail(ATTNROLL_E_ARGUMENT, "tokens: %lld exceeds the BLAS index range (%d)",
             static_cast<long long>(tokens), INT32_MAX);
    int64_t matrix = 0;
    if (__builtin_mul_overflow(tokens, tokens, &matrix) || __builtin_mul_overflow(matrix, frames, &matrix) ||
        matrix > INT64_MAX / 64)
        fail(ATTNROLL_E_ARGUMENT, "frames, tokens: %lld x %lld x %lld values overflow",
             static_cast<long long>(frames), static_cast<long long>(tokens), static_cast<long long>(tokens));
    if (dtype != ATTNROLL_F32 && dtype != ATTNROLL_F64)
        fail(ATTNROLL_E_DTYPE, "dtype: %d (%s) is not a stream precision (F32 or F64)",
             static_cast<int>(dtype), dtype_name(dtype));
    if (options.layer_end >= 0 && options.layer_begin >= options.layer_end)
        fail(ATTNROLL_E_ARGUMENT, "config ATTNROLL_OPT_LAYER_BEGIN/END: layer range [%lld, %lld) is empty",
             static_cast<long long>(options.layer_begin), static_cast<long long>(options.layer_end));
    check_method(options, tokens, options.head_fusion == ATTNROLL_FUSE_GRAD);
    refuse_unimplemented(options);
    if (dtype == ATTNROLL_F32) return std::make_unique<Stream<float>>(options, frames, tokens);
    return std::make_unique<Stream<double>>(options, frames, tokens);
}

}  // namespace attnroll
