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

void refuse_unimplemented(const attnroll_config &c) {
    if (c.drop_tokens || c.head_fusion || c.discard_ratio > 0 || c.rule || c.cumulative)
        fail(ATTNROLL_E_ARGUMENT, "config: method options are not implemented yet");
}

namespace {
template <class T>
void roll_out_typed(const std::vector<LayerView> &layers, int64_t frames, int64_t n,
                    const attnroll_config &config, const View &out) {
    const int64_t rows = config.query_rows.empty() ? n : static_cast<int64_t>(config.query_rows.size());
    const double per_row = static_cast<double>(n) *
                           static_cast<double>(layers.front().offsets.size() + static_cast<size_t>(rows));
    BlasSingleThreaded blas;
    Workers workers(choose_workers(config.threads, per_row, frames * n));
    Chain<T> chain(frames, n, config.query_rows, workers);
    const double residual = config.residual;
    // Full rollout runs first to last (R <- Abar @ R); query rows last to first.
    std::vector<typename Chain<T>::Source> sources;
    for (const LayerView &layer : layers) sources.push_back(fused_source<T>(layer, residual, n));
    if (!config.query_rows.empty()) std::reverse(sources.begin(), sources.end());
    chain.apply_all(sources);
    store(chain.result(), out);
}
}  // namespace

void roll_out(const std::vector<LayerView> &layers, int64_t frames, int64_t n,
              const attnroll_config &config, const View &out) {
    if (out.dtype == ATTNROLL_F32)
        roll_out_typed<float>(layers, frames, n, config, out);
    else
        roll_out_typed<double>(layers, frames, n, config, out);
}

}  // namespace attnroll
