#include "diagnostics.hpp"

#include "library.hpp"

namespace cli {

namespace {

// The fused layers as one-head [F,1,N',N'] views, for the library to take
// as layers again (mean over one head, nothing dropped: Abar itself).
struct FusedViews {
    std::vector<int64_t> shape;
    std::vector<attnroll_tensor> layers;
    explicit FusedViews(const FusedLayers &f) : shape{f.frames, 1, f.n, f.n} {
        for (const auto &m : f.maps)
            layers.push_back({const_cast<float *>(m.data()), ATTNROLL_F32, 4, shape.data(), nullptr});
    }
};

// Options for computing on fused layers: the rule and the threads; the
// residual stays at its default (1), as for the rollout.
void set_common(const Config &config, const Method &m, long threads) {
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_RULE, m.rule), "--rule");
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_THREADS, threads), "--threads");
}

}  // namespace

void add_fused_layer(FusedLayers &fused, const attnroll_tensor &layer, const attnroll_tensor *grad, const Method &m,
                     const std::string &where) {
    // The Chefer rule with no residual makes each layer's factor Abar itself.
    Config config;
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_HEAD_FUSION, m.fusion), "--heads");
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_DROP_TOKENS, m.drop_tokens), "--drop-tokens");
    check(attnroll_config_set_float(config.handle, ATTNROLL_OPT_DISCARD_RATIO, m.discard), "--discard");
    if (m.protect_given)
        check(attnroll_config_set_ints(config.handle, ATTNROLL_OPT_PROTECT, m.protect.data(),
                                       static_cast<int64_t>(m.protect.size())),
              "--protect");
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_RULE, ATTNROLL_RULE_CHEFER), "--rule");
    check(attnroll_config_set_float(config.handle, ATTNROLL_OPT_RESIDUAL, 0.0), "residual");
    const int64_t frames = layer.shape[0], n = layer.shape[3] - m.drop_tokens;
    if (fused.maps.empty()) {
        fused.frames = frames;
        fused.n = n;
    }
    std::vector<float> map(static_cast<size_t>(frames * n * n));
    const std::vector<int64_t> shape{frames, n, n};
    const attnroll_tensor out{map.data(), ATTNROLL_F32, 3, shape.data(), nullptr};
    if (grad)
        check(attnroll_spatial_grad(&layer, grad, 1, config.handle, &out), where);
    else
        check(attnroll_spatial(&layer, 1, config.handle, &out), where);
    fused.maps.push_back(std::move(map));
}

std::vector<float> flow_of(const FusedLayers &fused, const std::vector<int64_t> &rows, const Method &m, long threads,
                           const std::string &where) {
    const FusedViews views(fused);
    Config config;
    set_common(config, m, threads);
    check(attnroll_config_set_ints(config.handle, ATTNROLL_OPT_QUERY_ROWS, rows.data(), static_cast<int64_t>(rows.size())),
          "--query-rows");
    const int64_t q = static_cast<int64_t>(rows.size());
    std::vector<float> flow(static_cast<size_t>(fused.frames * q * fused.n));
    const std::vector<int64_t> shape{fused.frames, q, fused.n};
    const attnroll_tensor out{flow.data(), ATTNROLL_F32, 3, shape.data(), nullptr};
    check(attnroll_flow(views.layers.data(), static_cast<int32_t>(views.layers.size()), config.handle, &out),
          where + " (--flow)");
    return flow;
}

Spectrum spectrum_of(const FusedLayers &fused, const Method &m, long threads, const std::string &where) {
    const auto layers = static_cast<int64_t>(fused.maps.size());
    const int64_t f = fused.frames, n = fused.n;
    Spectrum s;
    s.layer.resize(static_cast<size_t>(layers * f));
    for (int64_t l = 0; l < layers; ++l) {
        const std::vector<int64_t> in_shape{f, n, n}, out_shape{f};
        const attnroll_tensor in{const_cast<float *>(fused.maps[static_cast<size_t>(l)].data()), ATTNROLL_F32, 3,
                                 in_shape.data(), nullptr};
        const attnroll_tensor out{s.layer.data() + l * f, ATTNROLL_F64, 1, out_shape.data(), nullptr};
        check(attnroll_effective_rank(&in, &out), where + " (--spectrum)");
    }
    // Every partial product at once (CUMULATIVE), then their ranks.
    const FusedViews views(fused);
    Config config;
    set_common(config, m, threads);
    check(attnroll_config_set_int(config.handle, ATTNROLL_OPT_CUMULATIVE, 1), "--spectrum");
    std::vector<float> partial(static_cast<size_t>(layers * f * n * n));
    const std::vector<int64_t> p_shape{layers, f, n, n}, r_shape{layers, f};
    const attnroll_tensor p{partial.data(), ATTNROLL_F32, 4, p_shape.data(), nullptr};
    check(attnroll_spatial(views.layers.data(), static_cast<int32_t>(layers), config.handle, &p), where + " (--spectrum)");
    s.rollout.resize(static_cast<size_t>(layers * f));
    const attnroll_tensor r{s.rollout.data(), ATTNROLL_F64, 2, r_shape.data(), nullptr};
    check(attnroll_effective_rank(&p, &r), where + " (--spectrum)");
    return s;
}

}  // namespace cli
