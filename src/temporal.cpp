#include <vector>

#include "error.hpp"
#include "parallel.hpp"
#include "rollout.hpp"

namespace attnroll {

LayerView select_instance_view(const View &attn, int64_t instance) {
    const int32_t r = attn.ndim;
    LayerView v;
    v.base = attn.data;
    v.dtype = attn.dtype;
    int64_t base = 0;                 // element offset of the selected slice
    int32_t averaged[ATTNROLL_MAX_NDIM];  // leading axes left over, averaged
    int32_t num_averaged = 0;
    int32_t row_axis = r - 2, col_axis = r - 1;
    if (r == 3) {
        const bool square = attn.shape[1] == attn.shape[2];
        if (square && attn.shape[0] > instance) {
            base = instance * attn.strides[0];
        } else if (square && attn.shape[1] > instance) {
            base = instance * attn.strides[1];  // A[:, i, :]
            row_axis = 0;
            col_axis = 2;
        }  // else A[0]: base 0
    } else if (r >= 4) {
        int32_t chosen = -1;
        for (int32_t d = 0; d < r - 2 && chosen < 0; ++d)
            if (attn.shape[d] > instance) chosen = d;
        if (chosen >= 0) {
            base = instance * attn.strides[chosen];
            for (int32_t d = 0; d < r - 2; ++d)
                if (d != chosen) averaged[num_averaged++] = d;
        }  // else every leading axis at 0: the first [T,T] slice
    }
    v.rows = attn.shape[row_axis];
    v.cols = attn.shape[col_axis];
    v.row_stride = attn.strides[row_axis];
    v.col_stride = attn.strides[col_axis];
    // The leftover leading axes are averaged.  A broadcast (stride 0) or
    // single-element axis holds one value however long it is, and the mean of
    // copies is the value: only the others are kept, so the work and memory
    // follow the data the view covers, not its claimed extent.
    v.entries.base = base;
    for (int32_t i = 0; i < num_averaged; ++i) {
        const int32_t d = averaged[i];
        if (attn.strides[d] != 0 && attn.shape[d] > 1) v.entries.add_axis(attn.shape[d], attn.strides[d]);
    }
    return v;
}

namespace {
void check_instance(int64_t instance) {
    if (instance < 0)
        fail(ATTNROLL_E_ARGUMENT, "instance: %lld, must be >= 0", static_cast<long long>(instance));
}
}  // namespace

namespace {
// The checked attn argument and its selection.
LayerView checked_selection(const attnroll_tensor *attn, int64_t instance, View &a) {
    a = check_input(attn, "attn");
    if (a.ndim < 2)
        fail(ATTNROLL_E_SHAPE, "attn: shape %s has rank %d, expected rank >= 2",
             shape_string(a).c_str(), static_cast<int>(a.ndim));
    check_instance(instance);
    return select_instance_view(a, instance);
}
}  // namespace

void select_shape(const attnroll_tensor *attn, int64_t instance, int64_t *rows, int64_t *cols) {
    if (!rows) fail(ATTNROLL_E_ARGUMENT, "rows: is NULL");
    if (!cols) fail(ATTNROLL_E_ARGUMENT, "cols: is NULL");
    View a;
    const LayerView v = checked_selection(attn, instance, a);
    *rows = v.rows;
    *cols = v.cols;
}

void select_instance(const attnroll_tensor *attn, int64_t instance, const attnroll_tensor *out) {
    View a;
    const LayerView v = checked_selection(attn, instance, a);
    const View o = check_output(out, "out");
    expect_shape(o, {v.rows, v.cols}, "out");
    expect_disjoint(o, "out", a, "attn");

    std::vector<double> selected(static_cast<size_t>(v.rows * v.cols));
    average_rows(v, 0, 0, v.rows, selected.data(), v.cols);
    store(selected.data(), o);
}

void temporal(const attnroll_tensor *layers, int32_t num_layers, int64_t instance,
              const attnroll_config *config, const attnroll_tensor *out) {
    if (!layers) fail(ATTNROLL_E_ARGUMENT, "layers: is NULL");
    if (num_layers < 1)
        fail(ATTNROLL_E_ARGUMENT, "num_layers: %d, must be >= 1", static_cast<int>(num_layers));
    check_instance(instance);
    const attnroll_config &options = options_or_defaults(config);
    check_temporal_method(options);

    std::vector<View> views;
    std::vector<LayerView> selected;
    for (int32_t i = 0; i < num_layers; ++i) {
        const std::string name = layer_name(i);
        const View v = check_input(&layers[i], name);
        if (v.ndim < 2)
            fail(ATTNROLL_E_SHAPE, "%s: shape %s has rank %d, expected rank >= 2", name.c_str(),
                 shape_string(v).c_str(), static_cast<int>(v.ndim));
        const LayerView s = select_instance_view(v, instance);
        if (s.rows != s.cols)
            fail(ATTNROLL_E_SHAPE, "%s: shape %s selects a [%lld,%lld] matrix for instance %lld, not square",
                 name.c_str(), shape_string(v).c_str(), static_cast<long long>(s.rows),
                 static_cast<long long>(s.cols), static_cast<long long>(instance));
        if (i > 0 && s.rows != selected[0].rows)
            fail(ATTNROLL_E_SHAPE,
                 "%s: shape %s selects T = %lld for instance %lld, but layers[0] selects T = %lld",
                 name.c_str(), shape_string(v).c_str(), static_cast<long long>(s.rows),
                 static_cast<long long>(instance), static_cast<long long>(selected[0].rows));
        views.push_back(v);
        selected.push_back(s);
    }
    const int64_t t = selected[0].rows;
    check_blas_extent(t, "layers[0]");
    const LayerRange range = resolve_range(options, num_layers);
    check_query_rows(options, t, "T");

    const View o = check_output(out, "out");
    expect_shape(o, output_shape(options, range.end - range.begin, 1, t, false), "out");
    for (int32_t i = 0; i < num_layers; ++i) expect_disjoint(o, "out", views[static_cast<size_t>(i)], layer_name(i));

    std::vector<LayerView> chain(selected.begin() + range.begin, selected.begin() + range.end);
    roll_out(chain, nullptr, 1, t, options, o);
}

}  // namespace attnroll
