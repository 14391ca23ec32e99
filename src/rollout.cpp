#include "rollout.hpp"

#include <algorithm>
#include <climits>

#include "chain.hpp"
#include "error.hpp"
#include "parallel.hpp"

namespace attnroll {

std::string layer_name(int64_t index) { return "layers[" + std::to_string(index) + "]"; }

std::vector<int64_t> rollout_shape(int64_t frames, int64_t rows, int64_t n, bool with_frames) {
    if (with_frames) return {frames, rows, n};
    return {rows, n};
}

void check_blas_extent(int64_t n, const char *what) {
    if (n > INT_MAX)
        fail(ATTNROLL_E_SHAPE, "%s: %lld tokens exceed the BLAS index range (%d)", what,
             static_cast<long long>(n), INT_MAX);
}

std::vector<int64_t> output_shape(const attnroll_config &config, int64_t range, int64_t frames, int64_t n,
                                  bool with_frames) {
    const int64_t rows = config.query_rows.empty() ? n : static_cast<int64_t>(config.query_rows.size());
    std::vector<int64_t> shape = rollout_shape(frames, rows, n, with_frames);
    if (config.cumulative) shape.insert(shape.begin(), range);
    return shape;
}

namespace {

// The last `keep` axes of v, starting `offset` elements in.
View tail_view(const View &v, int64_t offset, int32_t keep) {
    View t = v;
    t.data = v.data + offset * v.element_size();
    t.ndim = keep;
    for (int32_t d = 0; d < keep; ++d) {
        t.shape[d] = v.shape[v.ndim - keep + d];
        t.strides[d] = v.strides[v.ndim - keep + d];
    }
    return t;
}

// Writes frame f's state after layer l to out[l, f] (CUMULATIVE): all of it,
// or its query rows when the chain ran forward on full matrices.
template <class T>
void store_partial(const T *state, int64_t l, int64_t f, int64_t n, const std::vector<int64_t> &query,
                   const View &out) {
    const bool framed = out.ndim == 4;
    const int64_t at = l * out.strides[0] + (framed ? f * out.strides[1] : 0);
    if (query.empty()) {
        store(state, tail_view(out, at, 2));
        return;
    }
    for (size_t i = 0; i < query.size(); ++i)
        store(state + query[i] * n, tail_view(out, at + static_cast<int64_t>(i) * out.strides[out.ndim - 2], 1));
}

template <class T>
void roll_out_typed(const std::vector<LayerView> &layers, const std::vector<LayerView> *grads, int64_t frames,
                    int64_t n, const attnroll_config &config, const View &out) {
    const Method method = method_of(config, n);
    const bool cumulative = config.cumulative != 0;
    // Query rows alone run backwards over k rows; with CUMULATIVE every
    // partial product is needed, so the chain runs forward on full matrices.
    const std::vector<int64_t> chain_rows = cumulative ? std::vector<int64_t>{} : config.query_rows;
    const int64_t rows = chain_rows.empty() ? n : static_cast<int64_t>(chain_rows.size());
    const double per_row = static_cast<double>(n) *
                           (static_cast<double>(layers.front().entries.count) * (grads ? 2 : 1) +
                            static_cast<double>(rows));
    BlasSingleThreaded blas;
    Workers workers(choose_workers(config.threads, per_row, frames * n));
    Chain<T> chain(frames, n, chain_rows, workers);

    std::vector<LayerFuser<T>> fusers;
    fusers.reserve(layers.size());
    for (size_t i = 0; i < layers.size(); ++i) fusers.emplace_back(layers[i], grads ? &(*grads)[i] : nullptr, method);
    std::vector<typename Chain<T>::Source> sources;
    for (const LayerFuser<T> &fuser : fusers) sources.push_back(layer_source(fuser, n));
    if (!chain_rows.empty()) std::reverse(sources.begin(), sources.end());

    if (!cumulative) {
        chain.apply_all(sources);
        store(chain.result(), out);
        return;
    }
    const typename Chain<T>::Observer observe = [&](int64_t l, int64_t f, const T *state) {
        store_partial(state, l, f, n, config.query_rows, out);
    };
    chain.apply_all(sources, &observe);
}
}  // namespace

template <class T>
typename Chain<T>::Source layer_source(const LayerFuser<T> &fuser, int64_t n) {
    typename Chain<T>::Source source;
    if (fuser.whole_frame())
        source.whole = [&fuser](int64_t f, T *frame) { fuser.frame(f, frame); };
    else
        source.rows = [&fuser, n](int64_t f, int64_t r0, int64_t r1, T *scratch) -> const T * {
            fuser.rows(f, r0, r1, scratch, n);
            return scratch;
        };
    return source;
}
template Chain<float>::Source layer_source<float>(const LayerFuser<float> &, int64_t);
template Chain<double>::Source layer_source<double>(const LayerFuser<double> &, int64_t);

void roll_out(const std::vector<LayerView> &layers, const std::vector<LayerView> *grads, int64_t frames,
              int64_t n, const attnroll_config &config, const View &out) {
    if (out.dtype == ATTNROLL_F32)
        roll_out_typed<float>(layers, grads, frames, n, config, out);
    else
        roll_out_typed<double>(layers, grads, frames, n, config, out);
}

}  // namespace attnroll
