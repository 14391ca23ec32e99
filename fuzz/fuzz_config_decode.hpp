// Decoding bytes into an attnroll_config (every option the header has), and
// reading back what the config holds, for fuzz_api and fuzz_stream.
#pragma once

#include <cfloat>
#include <vector>

#include "fuzz_common.hpp"

namespace fz {

struct Options {
    std::vector<int64_t> query_rows;
    int64_t begin = 0, end = -1, threads = 0, drop = 0, fusion = 0, rule = 0, cumulative = 0;
    double residual = 1.0, discard = 0.0;
    std::vector<double> weights;
    bool moderate = true;  // nothing in the options can make a finite input give a non-finite output
};

struct ConfigHolder {
    attnroll_config *c = nullptr;
    ~ConfigHolder() { attnroll_config_destroy(c); }
};

inline int64_t small_or_wild(FuzzedDataProvider &fdp, int64_t lo, int64_t hi) {
    return fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fdp.ConsumeIntegral<int64_t>()
                                                       : fdp.ConsumeIntegralInRange<int64_t>(lo, hi);
}

// Returns NULL (the defaults) about one time in four.  Option values are
// mostly in range, sometimes not (then the set is refused and the default stays).
inline attnroll_config *decode_config(FuzzedDataProvider &fdp, ConfigHolder &holder) {
    if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) return nullptr;
    if (attnroll_config_create(&holder.c) != ATTNROLL_OK) fail("config_create failed", "attnroll_config_create", 0);
    attnroll_config *c = holder.c;
    const int n = fdp.ConsumeIntegralInRange<int>(0, 8);
    for (int i = 0; i < n; ++i) {
        const int which = fdp.ConsumeIntegralInRange<int>(0, 13);
        switch (which) {
            case 0: {
                std::vector<int64_t> rows(fdp.ConsumeIntegralInRange<size_t>(0, 4));
                for (int64_t &r : rows) r = small_or_wild(fdp, 0, 12);
                attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, rows.data(), static_cast<int64_t>(rows.size()));
                break;
            }
            case 1: attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, small_or_wild(fdp, 0, 4)); break;
            case 2: attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, small_or_wild(fdp, -1, 5)); break;
            case 3: attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, small_or_wild(fdp, 1, 2)); break;
            case 4: {
                const double r = fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fdp.ConsumeFloatingPoint<double>()
                                                                             : fdp.ConsumeFloatingPointInRange<double>(0, 2);
                attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, r);
                break;
            }
#ifdef ATTNROLL_OPT_DROP_TOKENS
            case 5: attnroll_config_set_int(c, ATTNROLL_OPT_DROP_TOKENS, small_or_wild(fdp, 0, 3)); break;
            case 6: attnroll_config_set_int(c, ATTNROLL_OPT_HEAD_FUSION, small_or_wild(fdp, 0, 5)); break;
            case 7: {
                std::vector<double> w(fdp.ConsumeIntegralInRange<size_t>(0, 5));
                for (double &x : w)
                    x = fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fdp.ConsumeFloatingPoint<double>()
                                                                   : fdp.ConsumeFloatingPointInRange<double>(0, 2);
                attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, w.data(), static_cast<int64_t>(w.size()));
                break;
            }
            case 8: {
                const double p = fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fdp.ConsumeFloatingPoint<double>()
                                                                             : fdp.ConsumeProbability<double>();
                attnroll_config_set_float(c, ATTNROLL_OPT_DISCARD_RATIO, p);
                break;
            }
            case 9: {
                std::vector<int64_t> cols(fdp.ConsumeIntegralInRange<size_t>(0, 3));
                for (int64_t &x : cols) x = small_or_wild(fdp, 0, 12);
                attnroll_config_set_ints(c, ATTNROLL_OPT_PROTECT, cols.data(), static_cast<int64_t>(cols.size()));
                break;
            }
            case 10: attnroll_config_set_int(c, ATTNROLL_OPT_RULE, small_or_wild(fdp, 0, 1)); break;
            case 11: attnroll_config_set_int(c, ATTNROLL_OPT_CUMULATIVE, small_or_wild(fdp, 0, 1)); break;
#endif
            default:  // any key, any kind
                attnroll_config_set_int(c, fdp.ConsumeIntegralInRange<int32_t>(-1, 20), fdp.ConsumeIntegral<int64_t>());
                break;
        }
    }
    return c;
}

// What the config holds now (the defaults for NULL).
inline Options read_options(const attnroll_config *c) {
    Options o;
    if (!c) return o;
    int64_t count = 0;
    attnroll_config_get_ints(c, ATTNROLL_OPT_QUERY_ROWS, nullptr, 0, &count);
    o.query_rows.resize(static_cast<size_t>(count));
    attnroll_config_get_ints(c, ATTNROLL_OPT_QUERY_ROWS, o.query_rows.data(), count, &count);
    attnroll_config_get_int(c, ATTNROLL_OPT_LAYER_BEGIN, &o.begin);
    attnroll_config_get_int(c, ATTNROLL_OPT_LAYER_END, &o.end);
    attnroll_config_get_int(c, ATTNROLL_OPT_THREADS, &o.threads);
    attnroll_config_get_float(c, ATTNROLL_OPT_RESIDUAL, &o.residual);
#ifdef ATTNROLL_OPT_DROP_TOKENS
    attnroll_config_get_int(c, ATTNROLL_OPT_DROP_TOKENS, &o.drop);
    attnroll_config_get_int(c, ATTNROLL_OPT_HEAD_FUSION, &o.fusion);
    attnroll_config_get_int(c, ATTNROLL_OPT_RULE, &o.rule);
    attnroll_config_get_int(c, ATTNROLL_OPT_CUMULATIVE, &o.cumulative);
    attnroll_config_get_float(c, ATTNROLL_OPT_DISCARD_RATIO, &o.discard);
    attnroll_config_get_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, nullptr, 0, &count);
    o.weights.resize(static_cast<size_t>(count));
    attnroll_config_get_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, o.weights.data(), count, &count);
    for (double w : o.weights) o.moderate = o.moderate && w >= 0 && w <= 2;
    // A fused map with negative entries (never from these weights) could sum a
    // row to almost zero; CHEFER products with a large residual grow fast.
#endif
    o.moderate = o.moderate && o.residual <= 2;
    return o;
}

// The output shape attnroll_spatial documents for layers of shape `layer`
// ([F,H,N,N] or [H,N,N]) and num_layers layers.
inline std::vector<int64_t> spatial_out_shape(const std::vector<int64_t> &layer, int32_t num_layers, const Options &o) {
    std::vector<int64_t> s;
    if (layer.size() != 3 && layer.size() != 4) return s;
    const int64_t n = layer.back() - o.drop;
    const int64_t end = o.end < 0 ? num_layers : o.end;
    if (o.cumulative) s.push_back(end - o.begin);
    if (layer.size() == 4) s.push_back(layer[0]);
    s.push_back(o.query_rows.empty() ? n : static_cast<int64_t>(o.query_rows.size()));
    s.push_back(n);
    return s;
}

}  // namespace fz
