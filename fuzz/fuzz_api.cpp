// fuzz_api: the bytes choose one computing function of the C API and its
// arguments -- rank, shape, strides (negative, zero, huge), dtype code,
// options, misaligned inputs, NULLs, an output that aliases an input -- and
// the call must keep the header's promises (spatial, spatial_grad, flow,
// select_instance, select_shape, temporal, the post-processing functions,
// singular_values, effective_rank):
//   - the status is one the header lists for that function;
//   - a failure has a message, and leaves every output byte (and input) unchanged;
//   - an output that overlaps an input (where that is refused) is never OK;
//   - a success on finite, non-negative, small input with moderate options
//     writes finite numbers.
#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_common.hpp"
#include "fuzz_config_decode.hpp"

using namespace fz;

namespace {

// attnroll_singular_values / attnroll_effective_rank: kCompute and LAPACK's failure.
constexpr std::initializer_list<int32_t> kSpectral = {ATTNROLL_OK,      ATTNROLL_E_ARGUMENT, ATTNROLL_E_SHAPE,
                                                      ATTNROLL_E_DTYPE, ATTNROLL_E_OVERLAP,  ATTNROLL_E_MEMORY,
                                                      ATTNROLL_E_INTERNAL};

struct Bytes {
    const unsigned char *lo, *hi;  // [lo, hi)
};

Bytes bytes_of(View &v) {
    __int128 lo, hi, count;
    span_of(v, lo, hi, count);
    const int64_t es = static_cast<int64_t>(dtype_size(v.dtype));
    return {v.data + static_cast<int64_t>(lo) * es, v.data + (static_cast<int64_t>(hi) + 1) * es};
}

bool overlaps(View &out, View &in) {
    if (!out.valid_span || !in.valid_span || out.null_data || in.null_data) return false;
    const Bytes a = bytes_of(out), b = bytes_of(in);
    return a.lo < b.hi && b.lo < a.hi;
}

// Places `out` inside `in`'s memory (same offsets) when it fits.
void alias(View &out, View &in) {
    if (!out.valid_span || !in.valid_span || in.own.size < out.own.size) return;
    out.data = in.own.p + (out.data - out.own.p);
}

struct Scene {
    std::vector<View> inputs;
    View out;
    Snapshot snaps[8];
    size_t nsnaps = 0;
    bool finite_in = true;

    void snapshot_all() {
        nsnaps = 0;
        for (View &v : inputs)
            if (nsnaps < 8) snaps[nsnaps++].take(v.own.p, v.own.size);
        if (nsnaps < 8) snaps[nsnaps++].take(out.own.p, out.own.size);
    }
    void check_unchanged(const char *call, int32_t status) const {
        for (size_t i = 0; i < nsnaps; ++i)
            if (!snaps[i].same()) fail("memory written although the call failed", call, status);
    }
    bool inputs_nice() const {
        for (const View &v : inputs)
            if (!v.finite_nonneg || !v.valid_span) return false;
        return true;
    }
};

void after(Scene &s, const char *call, int32_t status, std::initializer_list<int32_t> allowed, bool overlap_refused,
           bool moderate) {
    check_status(call, status, allowed);
    if (status != ATTNROLL_OK) {
        s.check_unchanged(call, status);
        return;
    }
    if (overlap_refused)
        for (View &in : s.inputs)
            if (overlaps(s.out, in)) fail("OK although the output overlaps an input", call, status);
    if (moderate && s.inputs_nice() && s.out.valid_span && !s.out.null_data && !all_finite(s.out))
        fail("non-finite output from finite non-negative input", call, status);
}

enum class Layered { kSpatial, kGrad, kFlow };

// attnroll_spatial, attnroll_spatial_grad and attnroll_flow: the same layers,
// options and output shape ([F,]N',N' or [F,]q,N'; flow refuses CUMULATIVE).
void run_spatial(FuzzedDataProvider &fdp, Layered kind) {
    const bool with_grad = kind == Layered::kGrad;
    ConfigHolder holder;
    const attnroll_config *config = decode_config(fdp, holder);
    const Options o = read_options(config);
    const int32_t num_layers = fdp.ConsumeIntegralInRange<int>(0, 12) == 0 ? fdp.ConsumeIntegralInRange<int32_t>(-2, 5)
                                                                            : fdp.ConsumeIntegralInRange<int32_t>(1, 4);
    const int64_t n = fdp.ConsumeIntegralInRange<int64_t>(1, 12);
    std::vector<int64_t> want = {fdp.ConsumeIntegralInRange<int64_t>(1, 4), n, n};
    if (fdp.ConsumeBool()) want.insert(want.begin(), fdp.ConsumeIntegralInRange<int64_t>(1, 3));
    Scene s;
    const size_t count = static_cast<size_t>(std::max(num_layers, 0)) * (with_grad ? 2 : 1);
    s.inputs.resize(std::min<size_t>(count, 10));
    for (View &v : s.inputs) make_view(fdp, v, want, false);
    const std::vector<int64_t> out_shape = spatial_out_shape(want, num_layers, o);
    make_view(fdp, s.out, out_shape, true);
    if (!s.inputs.empty() && fdp.ConsumeIntegralInRange<int>(0, 7) == 0)
        alias(s.out, s.inputs[fdp.ConsumeIntegralInRange<size_t>(0, s.inputs.size() - 1)]);
    std::vector<attnroll_tensor> t;
    for (View &v : s.inputs) t.push_back(*v.tensor());
    const size_t nl = with_grad ? t.size() / 2 : t.size();
    const bool null_layers = t.empty() || fdp.ConsumeIntegralInRange<int>(0, 31) == 0;
    const attnroll_tensor *out = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : s.out.tensor();
    s.snapshot_all();
    const attnroll_tensor *layers = null_layers ? nullptr : t.data();
    int32_t status;
    const char *call;
    switch (kind) {
        case Layered::kFlow:
            call = "attnroll_flow";
            status = attnroll_flow(layers, num_layers, config, out);
            break;
        case Layered::kGrad:
            call = "attnroll_spatial_grad";
            status = attnroll_spatial_grad(layers, t.size() > nl ? t.data() + nl : nullptr, num_layers, config, out);
            break;
        default:
            call = "attnroll_spatial";
            status = attnroll_spatial(layers, num_layers, config, out);
            break;
    }
    after(s, call, status, kCompute, true, o.moderate);
}

void run_select(FuzzedDataProvider &fdp, bool shape_only) {
    Scene s;
    s.inputs.resize(1);
    const int64_t tdim = fdp.ConsumeIntegralInRange<int64_t>(1, 10);
    std::vector<int64_t> want;
    const int lead = fdp.ConsumeIntegralInRange<int>(0, 4);
    for (int i = 0; i < lead; ++i) want.push_back(fdp.ConsumeIntegralInRange<int64_t>(1, 4));
    want.push_back(tdim);
    want.push_back(fdp.ConsumeIntegralInRange<int>(0, 5) == 0 ? fdp.ConsumeIntegralInRange<int64_t>(1, 10) : tdim);
    make_view(fdp, s.inputs[0], want, false);
    const int64_t instance = small_or_wild(fdp, 0, 5);
    attnroll_tensor *in = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : const_cast<attnroll_tensor *>(s.inputs[0].tensor());
    if (shape_only) {
        int64_t rows = -7, cols = -7;
        const int nulls = fdp.ConsumeIntegralInRange<int>(0, 15);
        s.snapshot_all();
        const int32_t status = attnroll_select_shape(in, instance, nulls == 1 ? nullptr : &rows, nulls == 2 ? nullptr : &cols);
        check_status("attnroll_select_shape", status,
                     {ATTNROLL_OK, ATTNROLL_E_ARGUMENT, ATTNROLL_E_SHAPE, ATTNROLL_E_DTYPE});
        if (status == ATTNROLL_OK && (rows < 1 || cols < 1)) fail("extents < 1", "attnroll_select_shape", status);
        if (status != ATTNROLL_OK && ((nulls != 1 && rows != -7) || (nulls != 2 && cols != -7)))
            fail("rows/cols written although the call failed", "attnroll_select_shape", status);
        s.check_unchanged("attnroll_select_shape", status);
        return;
    }
    int64_t rows = 0, cols = 0;
    std::vector<int64_t> out_shape;
    if (in && attnroll_select_shape(in, instance, &rows, &cols) == ATTNROLL_OK) out_shape = {rows, cols};
    make_view(fdp, s.out, out_shape, true);
    if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) alias(s.out, s.inputs[0]);
    const attnroll_tensor *out = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : s.out.tensor();
    s.snapshot_all();
    describe("attn", s.inputs[0]);
    describe("out", s.out);
    const int32_t status = attnroll_select_instance(in, instance, out);
    after(s, "attnroll_select_instance", status, kCompute, true, true);
}

void run_temporal(FuzzedDataProvider &fdp) {
    ConfigHolder holder;
    const attnroll_config *config = decode_config(fdp, holder);
    const Options o = read_options(config);
    const int32_t num_layers = fdp.ConsumeIntegralInRange<int>(0, 12) == 0 ? fdp.ConsumeIntegralInRange<int32_t>(-2, 5)
                                                                            : fdp.ConsumeIntegralInRange<int32_t>(1, 4);
    const int64_t tdim = fdp.ConsumeIntegralInRange<int64_t>(1, 10);
    const int64_t instance = small_or_wild(fdp, 0, 4);
    Scene s;
    s.inputs.resize(static_cast<size_t>(std::max(num_layers, 0)));
    for (View &v : s.inputs) {
        std::vector<int64_t> want;
        const int lead = fdp.ConsumeIntegralInRange<int>(0, 3);
        for (int i = 0; i < lead; ++i) want.push_back(fdp.ConsumeIntegralInRange<int64_t>(1, 4));
        want.push_back(tdim);
        want.push_back(tdim);
        make_view(fdp, v, want, false);
    }
    std::vector<int64_t> out_shape;
    const int64_t end = o.end < 0 ? num_layers : o.end;
    if (o.cumulative) out_shape.push_back(end - o.begin);
    out_shape.push_back(o.query_rows.empty() ? tdim : static_cast<int64_t>(o.query_rows.size()));
    out_shape.push_back(tdim);
    make_view(fdp, s.out, out_shape, true);
    if (!s.inputs.empty() && fdp.ConsumeIntegralInRange<int>(0, 7) == 0)
        alias(s.out, s.inputs[fdp.ConsumeIntegralInRange<size_t>(0, s.inputs.size() - 1)]);
    std::vector<attnroll_tensor> t;
    for (View &v : s.inputs) t.push_back(*v.tensor());
    const bool null_layers = t.empty() || fdp.ConsumeIntegralInRange<int>(0, 31) == 0;
    const attnroll_tensor *out = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : s.out.tensor();
    s.snapshot_all();
    const int32_t status = attnroll_temporal(null_layers ? nullptr : t.data(), num_layers, instance, config, out);
    after(s, "attnroll_temporal", status, kCompute, true, o.moderate);
}

// attnroll_singular_values (which 0) and attnroll_effective_rank (1): in
// [..., M, M]; out [..., M] or [...] ([1] for one matrix).  A LAPACK failure
// is the documented ATTNROLL_E_INTERNAL.
void run_spectral(FuzzedDataProvider &fdp, int which) {
    Scene s;
    s.inputs.resize(1);
    const int64_t m = fdp.ConsumeIntegralInRange<int64_t>(1, 9);
    std::vector<int64_t> want;
    const int lead = fdp.ConsumeIntegralInRange<int>(0, 2);
    for (int i = 0; i < lead; ++i) want.push_back(fdp.ConsumeIntegralInRange<int64_t>(1, 3));
    want.push_back(m);
    want.push_back(fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fdp.ConsumeIntegralInRange<int64_t>(1, 9) : m);
    make_view(fdp, s.inputs[0], want, false);
    std::vector<int64_t> out_shape(want.begin(), want.end() - 2);
    if (which == 0) out_shape.push_back(m);
    if (out_shape.empty()) out_shape.push_back(1);
    make_view(fdp, s.out, out_shape, true);
    if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) alias(s.out, s.inputs[0]);
    const attnroll_tensor *in = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : s.inputs[0].tensor();
    const attnroll_tensor *out = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : s.out.tensor();
    s.snapshot_all();
    const char *call = which == 0 ? "attnroll_singular_values" : "attnroll_effective_rank";
    const int32_t status = which == 0 ? attnroll_singular_values(in, out) : attnroll_effective_rank(in, out);
    after(s, call, status, kSpectral, true, true);
}

void run_post(FuzzedDataProvider &fdp, int which) {
    Scene s;
    s.inputs.resize(1);
    std::vector<int64_t> want;
    if (which == 2) {
        const int rank = fdp.ConsumeIntegralInRange<int>(1, 4);
        for (int i = 0; i < rank; ++i) want.push_back(fdp.ConsumeIntegralInRange<int64_t>(1, 6));
    } else {
        want = {fdp.ConsumeIntegralInRange<int64_t>(1, 9), fdp.ConsumeIntegralInRange<int64_t>(1, 9)};
    }
    make_view(fdp, s.inputs[0], want, false);
    std::vector<int64_t> out_shape = which == 1 ? std::vector<int64_t>{want[1]} : want;
    make_view(fdp, s.out, out_shape, true);
    // In place (the same memory) or any overlap is allowed here.
    if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) alias(s.out, s.inputs[0]);
    const attnroll_tensor *in = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : s.inputs[0].tensor();
    const attnroll_tensor *out = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : s.out.tensor();
    s.snapshot_all();
    int32_t status;
    const char *call;
    switch (which) {
        case 0: call = "attnroll_minmax_rows"; status = attnroll_minmax_rows(in, out); break;
        case 1: call = "attnroll_column_mean"; status = attnroll_column_mean(in, out); break;
        default: call = "attnroll_minmax"; status = attnroll_minmax(in, out); break;
    }
    after(s, call, status, kCompute, false, true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider fdp(data, size);
    switch (fdp.ConsumeIntegralInRange<int>(0, 9)) {
        case 0: run_spatial(fdp, Layered::kSpatial); break;
        case 1: run_spatial(fdp, Layered::kGrad); break;
        case 2: run_select(fdp, false); break;
        case 3: run_select(fdp, true); break;
        case 4: run_temporal(fdp); break;
        case 5: run_spatial(fdp, Layered::kFlow); break;
        case 6: run_spectral(fdp, fdp.ConsumeIntegralInRange<int>(0, 1)); break;
        default: run_post(fdp, fdp.ConsumeIntegralInRange<int>(0, 2)); break;
    }
    return 0;
}
