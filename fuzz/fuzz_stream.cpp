// fuzz_stream: a stream created from decoded options and sizes, then a
// sequence of push / push_grad / info / result calls, then destroy.
//   - every status is one the header lists for that call, failures have a
//     message and leave the output (and the stream's count) unchanged;
//   - a result equals attnroll_spatial on the accepted layers with the same
//     config (to rounding), whenever both succeed.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "fuzz_common.hpp"
#include "fuzz_config_decode.hpp"

using namespace fz;

namespace {

struct StreamHolder {
    attnroll_stream *s = nullptr;
    ~StreamHolder() { attnroll_stream_destroy(s); }
};

// attnroll_stream_result's documented statuses.
constexpr std::initializer_list<int32_t> kResult = {ATTNROLL_OK,      ATTNROLL_E_ARGUMENT, ATTNROLL_E_SHAPE,
                                                    ATTNROLL_E_DTYPE, ATTNROLL_E_OVERLAP,  ATTNROLL_E_STATE,
                                                    ATTNROLL_E_MEMORY};

int64_t pushed(attnroll_stream *s) {
    int64_t n = -1;
    if (attnroll_stream_info(s, &n, nullptr) != ATTNROLL_OK) fail("info failed", "attnroll_stream_info", 0);
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider fdp(data, size);
    ConfigHolder holder;
    const attnroll_config *config = decode_config(fdp, holder);
    const Options o = read_options(config);
    int64_t frames = fdp.ConsumeIntegralInRange<int64_t>(1, 3), tokens = fdp.ConsumeIntegralInRange<int64_t>(1, 10);
    // Sometimes larger (enough to start worker threads), sometimes anything.
    if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0)
        frames = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int64_t>(1, 64) : fdp.ConsumeIntegral<int64_t>();
    if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0)
        tokens = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int64_t>(1, 128) : fdp.ConsumeIntegral<int64_t>();
    // Streams of more than 64 frames or 2^20 operations per product (F*N^3)
    // are left out.  They reach little code that smaller ones miss (worker
    // threads start at 10^6 operations, e.g. 64 frames of 25 tokens; the row
    // blocks are 32 and 64 tokens), but in this instrumented build they cost
    // up to a second each: a push of 3 frames of 111 tokens took 0.3 s, and
    // of 65,535 one-token frames 0.5 s.  The corpus gathered such inputs
    // until they took 95% of the run's time.  What they miss is tested
    // elsewhere: entropy's second 256-column block in the Python binding's
    // large cases (300 tokens), refusing what exceeds the memory available
    // in test_limits.
    if (frames > 0 && tokens > 0 &&
        (frames > 64 || tokens > 128 ||
         static_cast<__int128>(frames) * tokens * tokens * tokens > (static_cast<__int128>(1) << 20)))
        return 0;
    int32_t dtype = fdp.ConsumeBool() ? ATTNROLL_F32 : ATTNROLL_F64;
    if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) dtype = fdp.ConsumeIntegral<int32_t>();
    StreamHolder sh;
    attnroll_stream **where = fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : &sh.s;
    int32_t status = attnroll_stream_create(config, frames, tokens, dtype, where);
    check_status("attnroll_stream_create", status, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT, ATTNROLL_E_DTYPE, ATTNROLL_E_MEMORY});
    if (status != ATTNROLL_OK) {
        if (where && sh.s) fail("stream not NULL after a failure", "attnroll_stream_create", status);
        return 0;
    }
    const bool grad_fusion = o.fusion == 5;
    std::vector<std::unique_ptr<View>> accepted, accepted_grads;
    bool nice = true;
    const int ops = fdp.ConsumeIntegralInRange<int>(0, 10);
    for (int op = 0; op < ops && fdp.remaining_bytes() > 0; ++op) {
        switch (fdp.ConsumeIntegralInRange<int>(0, 7)) {
            case 0: case 1: case 2: case 3: {  // push (with a gradient sometimes)
                std::vector<int64_t> want = {fdp.ConsumeIntegralInRange<int64_t>(1, 3), tokens, tokens};
                if (frames != 1 || fdp.ConsumeBool()) want.insert(want.begin(), frames);
                auto layer = std::make_unique<View>();
                make_view(fdp, *layer, want, false);
                const bool with_grad = fdp.ConsumeIntegralInRange<int>(0, 3) != 0 ? grad_fusion : !grad_fusion;
                std::unique_ptr<View> grad;
                const int64_t before = pushed(sh.s);
                const char *call = "attnroll_stream_push";
#ifdef ATTNROLL_FUSE_GRAD
                if (with_grad) {
                    grad = std::make_unique<View>();
                    make_view(fdp, *grad, layer->shape, false);
                    call = "attnroll_stream_push_grad";
                    status = attnroll_stream_push_grad(sh.s, layer->tensor(), grad->tensor());
                } else
#endif
                {
                    (void)with_grad;
                    status = attnroll_stream_push(sh.s, fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : layer->tensor());
                }
                check_status(call, status,
                             {ATTNROLL_OK, ATTNROLL_E_ARGUMENT, ATTNROLL_E_SHAPE, ATTNROLL_E_DTYPE, ATTNROLL_E_STATE,
                              ATTNROLL_E_MEMORY});
                const int64_t after = pushed(sh.s);
                if (status == ATTNROLL_OK) {
                    if (after != before + 1) fail("layers_pushed did not grow by one", call, status);
                    nice = nice && layer->finite_nonneg && (!grad || grad->finite_nonneg);
                    accepted.push_back(std::move(layer));
                    if (grad) accepted_grads.push_back(std::move(grad));
                } else if (after != before) {
                    fail("a refused push changed layers_pushed", call, status);
                }
                break;
            }
            case 4: {  // info, with NULL outputs sometimes
                int64_t n = -1, bytes = -1;
                const bool a = fdp.ConsumeBool(), b = fdp.ConsumeBool();
                status = attnroll_stream_info(fdp.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : sh.s,
                                              a ? &n : nullptr, b ? &bytes : nullptr);
                check_status("attnroll_stream_info", status, {ATTNROLL_OK, ATTNROLL_E_ARGUMENT});
                if (status == ATTNROLL_OK && ((a && n != static_cast<int64_t>(accepted.size())) || (b && bytes < 0)))
                    fail("info disagrees with the pushes accepted", "attnroll_stream_info", status);
                break;
            }
            default: {  // result, compared with the batch call
                std::vector<int64_t> batch_shape, shape;
                if (!accepted.empty())
                    batch_shape = spatial_out_shape(accepted[0]->shape, static_cast<int32_t>(accepted.size()), o);
                shape = batch_shape;
                if (frames == 1 && !accepted.empty() && accepted[0]->shape.size() == 4 && !shape.empty())
                    shape.erase(shape.begin() + (o.cumulative ? 1 : 0));  // [N',N'] when F == 1
                View out;
                make_view(fdp, out, shape, true);
                Snapshot snap;
                snap.take(out.own.p, out.own.size);
                status = attnroll_stream_result(sh.s, fdp.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : out.tensor());
                check_status("attnroll_stream_result", status, kResult);
                if (status != ATTNROLL_OK) {
                    if (!snap.same()) fail("output written although the call failed", "attnroll_stream_result", status);
                    break;
                }
                if (!out.valid_span) break;
                const std::vector<double> got = values(out);
                if (nice && o.moderate) {
                    for (double x : got)
                        if (!std::isfinite(x)) fail("non-finite result from finite input", "attnroll_stream_result", status);
                }
                // The batch call on the same layers, config and output layout.
                std::vector<attnroll_tensor> layers, grads;
                for (auto &v : accepted) layers.push_back(*v->tensor());
                for (auto &v : accepted_grads) grads.push_back(*v->tensor());
                View batch;
                batch.shape = batch_shape;
                if (batch_shape.empty()) break;
                batch.dtype = dtype == ATTNROLL_F64 ? ATTNROLL_F64 : ATTNROLL_F32;
                batch.strides.assign(batch.shape.size(), 0);
                int64_t stride = 1;
                for (size_t i = batch.shape.size(); i-- > 0;) { batch.strides[i] = stride; stride *= batch.shape[i]; }
                batch.count = stride;
                batch.own.resize(static_cast<size_t>(stride) * dtype_size(batch.dtype));
                batch.data = batch.own.p;
                batch.valid_span = true;
                int32_t bs;
#ifdef ATTNROLL_FUSE_GRAD
                if (grad_fusion)
                    bs = grads.size() == layers.size()
                             ? attnroll_spatial_grad(layers.data(), grads.data(), static_cast<int32_t>(layers.size()), config, batch.tensor())
                             : ATTNROLL_E_ARGUMENT;
                else
#endif
                    bs = attnroll_spatial(layers.data(), static_cast<int32_t>(layers.size()), config, batch.tensor());
                if (bs != ATTNROLL_OK) break;
                const std::vector<double> want_values = values(batch);
                if (want_values.size() != got.size()) break;
                const bool single = dtype != ATTNROLL_F64 || out.dtype == ATTNROLL_F32;
                for (size_t i = 0; i < got.size(); ++i) {
                    const double a = got[i], b = want_values[i];
                    if (std::isnan(a) && std::isnan(b)) continue;
                    if (a == b) continue;
                    const double tol = (single ? 2e-4 : 1e-9) * std::max({1.0, std::fabs(a), std::fabs(b)});
                    if (!(std::fabs(a - b) <= tol)) {
                        std::fprintf(stderr, "element %zu: stream %.17g, batch %.17g\n", i, a, b);
                        fail("stream result differs from attnroll_spatial", "attnroll_stream_result", status);
                    }
                }
                break;
            }
        }
    }
    return 0;
}
