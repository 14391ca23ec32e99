#include "stream.hpp"

#include <cstdint>
#include <algorithm>
#include <vector>

#include "chain.hpp"
#include "error.hpp"
#include "method.hpp"
#include "parallel.hpp"
#include "rollout.hpp"

namespace attnroll {

namespace {

template <class T>
class Stream final : public attnroll_stream {
public:
    Stream(const attnroll_config &config, int64_t frames, int64_t tokens, int64_t kept)
        : options_(config), frames_(frames), n_(tokens), kept_(kept), method_(method_of(config, kept)) {
        const int64_t rows = out_rows();
        // Head count is not known yet; size the decision for a typical 16.
        workers_ = std::make_unique<Workers>(
            choose_workers(options_.threads, static_cast<double>(kept_ * (16 + rows)), frames_ * kept_));
        // The running product, unless query rows alone let result() run the
        // backward chain over the kept fused layers.
        if (options_.query_rows.empty() || options_.cumulative)
            chain_ = std::make_unique<Chain<T>>(frames_, kept_, std::vector<int64_t>{}, *workers_);
    }

    void push(const attnroll_tensor *layer, const attnroll_tensor *grad) override {
        if (finished_)
            fail(ATTNROLL_E_STATE,
                 "stream: finished by attnroll_stream_result; create a new stream for more layers");
        check_method(options_, n_, grad != nullptr);
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
        const std::string name = "layer " + std::to_string(pushed_);
        check_head_weights(options_, v.shape[framed ? 1 : 0], name.c_str());
        View g;
        if (grad) {
            g = check_input(grad, "grad");
            expect_shape(g, std::vector<int64_t>(v.shape, v.shape + v.ndim), "grad (must match layer)");
        }
        const LayerView lv = drop_view(spatial_layer_view(v), options_.drop_tokens);
        const LayerView gv = grad ? drop_view(spatial_layer_view(g), options_.drop_tokens) : LayerView{};
        const LayerFuser<T> fuser(lv, grad ? &gv : nullptr, method_);
        const int64_t index = pushed_;
        const bool in_range = index >= options_.layer_begin &&
                              (options_.layer_end < 0 || index < options_.layer_end);
        if (in_range) {
            BlasSingleThreaded blas;
            if (chain_ && options_.cumulative) {
                keep_partial_room();
                try {
                    const typename Chain<T>::Observer observe = [&](int64_t, int64_t f, const T *state) {
                        keep_partial(f, state);
                    };
                    chain_->apply(layer_source(fuser, kept_), &observe);
                } catch (...) {
                    partials_.pop_back();  // as if the push had not been made
                    throw;
                }
            } else if (chain_) {
                chain_->apply(layer_source(fuser, kept_));
            } else {
                keep_fused(fuser);
            }
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
        const int64_t range = end - options_.layer_begin;
        const View o = check_output(out, "out");
        const bool flat = frames_ == 1 && o.ndim == (options_.cumulative ? 3 : 2);
        expect_shape(o, output_shape(options_, range, frames_, kept_, !flat), "out");

        if (options_.cumulative) {
            const int64_t per_layer = frames_ * out_rows() * kept_;
            Buffer<T> all(static_cast<size_t>(range * per_layer));
            for (int64_t l = 0; l < range; ++l)
                std::copy(partials_[static_cast<size_t>(l)].data(),
                          partials_[static_cast<size_t>(l)].data() + per_layer, all.data() + l * per_layer);
            store(all.data(), o);
        } else {
            if (!chain_ && backward_.size() == 0) run_backward();
            store(chain_ ? chain_->result() : backward_.data(), o);
        }
        finished_ = true;
    }

    int64_t layers_pushed() const override { return pushed_; }

    int64_t bytes_held() const override {
        int64_t bytes = chain_ ? chain_->bytes_held() : 0;
        for (const auto &layer : fused_) bytes += static_cast<int64_t>(layer.bytes());
        for (const auto &partial : partials_) bytes += static_cast<int64_t>(partial.bytes());
        return bytes + static_cast<int64_t>(backward_.bytes());
    }

private:
    int64_t out_rows() const {
        return options_.query_rows.empty() ? kept_ : static_cast<int64_t>(options_.query_rows.size());
    }

    // Query mode: the backward pass over the kept fused layers, once.
    void run_backward() {
        BlasSingleThreaded blas;
        Chain<T> chain(frames_, kept_, options_.query_rows, *workers_);
        for (auto it = fused_.rbegin(); it != fused_.rend(); ++it) {
            const T *layer = it->data();
            const int64_t n = kept_;
            typename Chain<T>::Source source;
            source.rows = [layer, n](int64_t f, int64_t r0, int64_t, T *) -> const T * {
                return layer + (f * n + r0) * n;
            };
            chain.apply(source);
        }
        const int64_t count = frames_ * out_rows() * kept_;
        Buffer<T> result(static_cast<size_t>(count));
        std::copy(chain.result(), chain.result() + count, result.data());
        backward_ = std::move(result);
    }

    void keep_fused(const LayerFuser<T> &fuser) {
        const int64_t n = kept_;
        Buffer<T> layer(static_cast<size_t>(frames_ * n * n));
        if (fuser.whole_frame()) {
            workers_->run(frames_, [&](int64_t f, int) { fuser.frame(f, layer.data() + f * n * n); });
        } else {
            const int64_t blocks = row_blocks(frames_, n, workers_->count());
            workers_->run(frames_ * blocks, [&](int64_t task, int) {
                const int64_t f = task / blocks, b = task % blocks;
                const int64_t r0 = block_begin(b, blocks, n), r1 = block_begin(b + 1, blocks, n);
                fuser.rows(f, r0, r1, layer.data() + (f * n + r0) * n, n);
            });
        }
        fused_.push_back(std::move(layer));
    }

    // CUMULATIVE: room for this layer's partial product, then each frame's
    // state (or its query rows) copied in as the chain finishes it.
    void keep_partial_room() { partials_.emplace_back(static_cast<size_t>(frames_ * out_rows() * kept_)); }
    void keep_partial(int64_t f, const T *state) {
        const int64_t n = kept_, rows = out_rows();
        T *dst = partials_.back().data() + f * rows * n;
        if (options_.query_rows.empty()) {
            std::copy(state, state + n * n, dst);
            return;
        }
        for (int64_t i = 0; i < rows; ++i) {
            const T *src = state + options_.query_rows[static_cast<size_t>(i)] * n;
            std::copy(src, src + n, dst + i * n);
        }
    }

    attnroll_config options_;
    int64_t frames_, n_, kept_;
    Method method_;
    std::unique_ptr<Workers> workers_;      // before chain_, which refers to it
    int64_t pushed_ = 0;
    bool finished_ = false;
    std::unique_ptr<Chain<T>> chain_;        // the running product
    std::vector<Buffer<T>> fused_;           // query mode: fused layers in the range
    std::vector<Buffer<T>> partials_;        // CUMULATIVE: each partial product
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
    const int64_t kept = check_method(options, tokens, options.head_fusion == ATTNROLL_FUSE_GRAD);
    if (dtype == ATTNROLL_F32) return std::make_unique<Stream<float>>(options, frames, tokens, kept);
    return std::make_unique<Stream<double>>(options, frames, tokens, kept);
}

}  // namespace attnroll
