#include "error.hpp"
#include "rollout.hpp"

namespace attnroll {

LayerView spatial_layer_view(const View &layer) {
    const bool framed = layer.ndim == 4;
    const int32_t h = framed ? 1 : 0;  // the heads axis
    LayerView v;
    v.base = layer.data;
    v.dtype = layer.dtype;
    v.frames = framed ? layer.shape[0] : 1;
    v.frame_stride = framed ? layer.strides[0] : 0;
    v.rows = layer.shape[h + 1];
    v.cols = layer.shape[h + 2];
    v.row_stride = layer.strides[h + 1];
    v.col_stride = layer.strides[h + 2];
    v.entries.add_axis(layer.shape[h], layer.strides[h]);
    return v;
}

void spatial(const attnroll_tensor *layers, const attnroll_tensor *grads, int32_t num_layers,
             const attnroll_config *config, const attnroll_tensor *out) {
    if (!layers) fail(ATTNROLL_E_ARGUMENT, "layers: is NULL");
    if (num_layers < 1)
        fail(ATTNROLL_E_ARGUMENT, "num_layers: %d, must be >= 1", static_cast<int>(num_layers));
    const attnroll_config &options = options_or_defaults(config);

    std::vector<View> views, grad_views;
    views.reserve(static_cast<size_t>(num_layers));
    for (int32_t i = 0; i < num_layers; ++i) {
        const std::string name = layer_name(i);
        View v = check_input(&layers[i], name);
        if (i == 0) {
            if (v.ndim != 3 && v.ndim != 4)
                fail(ATTNROLL_E_SHAPE, "%s: shape %s has rank %d, expected [F,H,N,N] or [H,N,N]",
                     name.c_str(), shape_string(v).c_str(), static_cast<int>(v.ndim));
            if (v.shape[v.ndim - 1] != v.shape[v.ndim - 2])
                fail(ATTNROLL_E_SHAPE, "%s: shape %s is not square in its last two dims",
                     name.c_str(), shape_string(v).c_str());
        } else {
            expect_shape(v, std::vector<int64_t>(views[0].shape, views[0].shape + views[0].ndim),
                         name + " (must match layers[0])");
        }
        views.push_back(v);
    }
    if (grads)
        for (int32_t i = 0; i < num_layers; ++i) {
            const std::string name = "grads[" + std::to_string(i) + "]";
            View g = check_input(&grads[i], name);
            expect_shape(g, std::vector<int64_t>(views[0].shape, views[0].shape + views[0].ndim),
                         name + " (must match " + layer_name(i) + ")");
            grad_views.push_back(g);
        }
    const View &first = views[0];
    const bool framed = first.ndim == 4;
    const int64_t n = first.shape[first.ndim - 1];
    const int64_t frames = framed ? first.shape[0] : 1;
    check_blas_extent(n, "layers[0]");
    const LayerRange range = resolve_range(options, num_layers);
    const int64_t kept = check_method(options, n, grads != nullptr);
    check_head_weights(options, first.shape[framed ? 1 : 0], "layers[0]");

    const View o = check_output(out, "out");
    expect_shape(o, output_shape(options, range.end - range.begin, frames, kept, framed), "out");
    for (int32_t i = 0; i < num_layers; ++i) expect_disjoint(o, "out", views[static_cast<size_t>(i)], layer_name(i));
    for (size_t i = 0; i < grad_views.size(); ++i)
        expect_disjoint(o, "out", grad_views[i], "grads[" + std::to_string(i) + "]");

    std::vector<LayerView> chain, chain_grads;
    for (int64_t i = range.begin; i < range.end; ++i) {
        chain.push_back(drop_view(spatial_layer_view(views[static_cast<size_t>(i)]), options.drop_tokens));
        if (grads)
            chain_grads.push_back(drop_view(spatial_layer_view(grad_views[static_cast<size_t>(i)]), options.drop_tokens));
    }
    roll_out(chain, grads ? &chain_grads : nullptr, frames, kept, options, o);
}

}  // namespace attnroll
