#include "config.hpp"

#include <cfloat>
#include <cmath>

#include "error.hpp"

namespace attnroll {

namespace {
using C = attnroll_config;
constexpr double kIntMax = 2147483647.0;

// Every option, once.  The meaning is what the header documents at length.
const OptionInfo kOptions[] = {
    {ATTNROLL_OPT_QUERY_ROWS, ATTNROLL_OPTION_INTS, "ATTNROLL_OPT_QUERY_ROWS", 0.0, kIntMax - 1, false,
     "rows of R to compute (empty: all)", nullptr, nullptr, &C::query_rows, nullptr},
    {ATTNROLL_OPT_LAYER_BEGIN, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_LAYER_BEGIN", 0.0, kIntMax, false,
     "first layer of the range", &C::layer_begin, nullptr, nullptr, nullptr},
    {ATTNROLL_OPT_LAYER_END, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_LAYER_END", -1.0, kIntMax, false,
     "one past the last layer (-1: all; 0 refused)", &C::layer_end, nullptr, nullptr, nullptr},
    {ATTNROLL_OPT_THREADS, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_THREADS", 0.0, 1024.0, false,
     "worker threads (0: library default)", &C::threads, nullptr, nullptr, nullptr},
    {ATTNROLL_OPT_RESIDUAL, ATTNROLL_OPTION_FLOAT, "ATTNROLL_OPT_RESIDUAL", 0.0, 1e6, false,
     "weight r of the identity added by the rule", nullptr, &C::residual, nullptr, nullptr},
    {ATTNROLL_OPT_DROP_TOKENS, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_DROP_TOKENS", 0.0, kIntMax, false,
     "leading tokens removed before fusion, rows re-normalised", &C::drop_tokens, nullptr, nullptr, nullptr},
    {ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_HEAD_FUSION", 0.0, 5.0, false,
     "ATTNROLL_FUSE_MEAN, _MAX, _MIN, _ENTROPY, _WEIGHTS or _GRAD", &C::head_fusion, nullptr, nullptr, nullptr},
    {ATTNROLL_OPT_HEAD_WEIGHTS, ATTNROLL_OPTION_FLOATS, "ATTNROLL_OPT_HEAD_WEIGHTS", -DBL_MAX, DBL_MAX, false,
     "per-head weights for ATTNROLL_FUSE_WEIGHTS", nullptr, nullptr, nullptr, &C::head_weights},
    {ATTNROLL_OPT_DISCARD_RATIO, ATTNROLL_OPTION_FLOAT, "ATTNROLL_OPT_DISCARD_RATIO", 0.0, 1.0, true,
     "share of unprotected fused entries set to zero", nullptr, &C::discard_ratio, nullptr, nullptr},
    {ATTNROLL_OPT_PROTECT, ATTNROLL_OPTION_INTS, "ATTNROLL_OPT_PROTECT", 0.0, kIntMax - 1, false,
     "columns the discard never zeroes", nullptr, nullptr, &C::protect, nullptr},
    {ATTNROLL_OPT_RULE, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_RULE", 0.0, 1.0, false,
     "ATTNROLL_RULE_ROLLOUT (normalised) or _CHEFER (Abar + r*I)", &C::rule, nullptr, nullptr, nullptr},
    {ATTNROLL_OPT_CUMULATIVE, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_CUMULATIVE", 0.0, 1.0, false,
     "1: write every partial product (leading axis L')", &C::cumulative, nullptr, nullptr, nullptr},
};

const char *kind_name(int32_t kind) {
    switch (kind) {
        case ATTNROLL_OPTION_INT: return "int";
        case ATTNROLL_OPTION_FLOAT: return "float";
        case ATTNROLL_OPTION_INTS: return "ints";
        default: return "floats";
    }
}

const OptionInfo &option_of_kind(int32_t key, int32_t kind) {
    const OptionInfo &o = option_info(key);
    if (o.kind != kind)
        fail(ATTNROLL_E_ARGUMENT, "key: %s holds a value of kind %s, not %s; use the %s setter/getter",
             o.name, kind_name(o.kind), kind_name(kind), kind_name(o.kind));
    return o;
}

bool in_bounds(const OptionInfo &o, double value) {
    // Written so that NaN fails every comparison and is refused.
    return value >= o.lower && (o.upper_open ? value < o.upper : value <= o.upper);
}

const char *close_bracket(const OptionInfo &o) { return o.upper_open ? ")" : "]"; }

template <class V>
void check_list(const OptionInfo &o, const V *values, int64_t count) {
    if (count < 0) fail(ATTNROLL_E_ARGUMENT, "count: %lld, must be >= 0", static_cast<long long>(count));
    if (count > 0 && !values) fail(ATTNROLL_E_ARGUMENT, "values: is NULL");
    for (int64_t i = 0; i < count; ++i)
        if (!in_bounds(o, static_cast<double>(values[i])))
            fail(ATTNROLL_E_ARGUMENT, "values[%lld]: %.17g is outside the bounds of %s [%g, %g]",
                 static_cast<long long>(i), static_cast<double>(values[i]), o.name, o.lower, o.upper);
}
}  // namespace

const OptionInfo &option_info(int32_t key) {
    for (const OptionInfo &o : kOptions)
        if (o.key == key) return o;
    fail(ATTNROLL_E_ARGUMENT, "key: %d is not a known option (ATTNROLL_OPT_* 1..%d)",
         static_cast<int>(key), static_cast<int>(sizeof kOptions / sizeof kOptions[0]));
}

void set_int(attnroll_config &config, int32_t key, int64_t value) {
    const OptionInfo &o = option_of_kind(key, ATTNROLL_OPTION_INT);
    if (!in_bounds(o, static_cast<double>(value)) || (key == ATTNROLL_OPT_LAYER_END && value == 0))
        fail(ATTNROLL_E_ARGUMENT, "value: %lld is outside the bounds of %s [%.0f, %.0f]%s",
             static_cast<long long>(value), o.name, o.lower, o.upper,
             key == ATTNROLL_OPT_LAYER_END ? " (0 refused: -1 means all layers)"
             : key == ATTNROLL_OPT_HEAD_FUSION ? " (not an ATTNROLL_FUSE_* code)"
             : key == ATTNROLL_OPT_RULE ? " (not an ATTNROLL_RULE_* code)" : "");
    config.*o.int_value = value;
}

void set_float(attnroll_config &config, int32_t key, double value) {
    const OptionInfo &o = option_of_kind(key, ATTNROLL_OPTION_FLOAT);
    if (!in_bounds(o, value))
        fail(ATTNROLL_E_ARGUMENT, "value: %g is outside the bounds of %s [%g, %g%s", value, o.name, o.lower,
             o.upper, close_bracket(o));
    config.*o.float_value = value;
}

void set_ints(attnroll_config &config, int32_t key, const int64_t *values, int64_t count) {
    const OptionInfo &o = option_of_kind(key, ATTNROLL_OPTION_INTS);
    check_list(o, values, count);
    (config.*o.ints_value).assign(values, values + count);
}

void set_floats(attnroll_config &config, int32_t key, const double *values, int64_t count) {
    const OptionInfo &o = option_of_kind(key, ATTNROLL_OPTION_FLOATS);
    check_list(o, values, count);
    (config.*o.floats_value).assign(values, values + count);
}

int64_t get_int(const attnroll_config &config, int32_t key) {
    return config.*option_of_kind(key, ATTNROLL_OPTION_INT).int_value;
}
double get_float(const attnroll_config &config, int32_t key) {
    return config.*option_of_kind(key, ATTNROLL_OPTION_FLOAT).float_value;
}
const std::vector<int64_t> &get_ints(const attnroll_config &config, int32_t key) {
    return config.*option_of_kind(key, ATTNROLL_OPTION_INTS).ints_value;
}
const std::vector<double> &get_floats(const attnroll_config &config, int32_t key) {
    return config.*option_of_kind(key, ATTNROLL_OPTION_FLOATS).floats_value;
}

const attnroll_config &options_or_defaults(const attnroll_config *config) {
    static const attnroll_config defaults;
    return config ? *config : defaults;
}

LayerRange resolve_range(const attnroll_config &config, int64_t num_layers) {
    const int64_t begin = config.layer_begin;
    const int64_t end = config.layer_end < 0 ? num_layers : config.layer_end;
    if (end > num_layers)
        fail(ATTNROLL_E_ARGUMENT,
             "config ATTNROLL_OPT_LAYER_END: %lld is beyond the %lld layers given",
             static_cast<long long>(end), static_cast<long long>(num_layers));
    if (begin >= end)
        fail(ATTNROLL_E_ARGUMENT,
             "config ATTNROLL_OPT_LAYER_BEGIN/END: layer range [%lld, %lld) of %lld layers is empty",
             static_cast<long long>(begin), static_cast<long long>(end),
             static_cast<long long>(num_layers));
    return {begin, end};
}

void check_query_rows(const attnroll_config &config, int64_t n, const char *what) {
    for (size_t i = 0; i < config.query_rows.size(); ++i)
        if (config.query_rows[i] >= n)
            fail(ATTNROLL_E_ARGUMENT,
                 "config ATTNROLL_OPT_QUERY_ROWS[%zu]: row %lld is out of range for %s = %lld", i,
                 static_cast<long long>(config.query_rows[i]), what, static_cast<long long>(n));
}

int64_t check_method(const attnroll_config &config, int64_t n, bool with_grads) {
    if (config.drop_tokens >= n)
        fail(ATTNROLL_E_ARGUMENT, "config ATTNROLL_OPT_DROP_TOKENS: %lld drops every one of the N = %lld tokens",
             static_cast<long long>(config.drop_tokens), static_cast<long long>(n));
    const int64_t kept = n - config.drop_tokens;
    check_query_rows(config, kept, config.drop_tokens > 0 ? "N - DROP_TOKENS" : "N");
    for (size_t i = 0; i < config.protect.size(); ++i)
        if (config.protect[i] >= kept)
            fail(ATTNROLL_E_ARGUMENT,
                 "config ATTNROLL_OPT_PROTECT[%zu]: column %lld is out of range for %s = %lld", i,
                 static_cast<long long>(config.protect[i]),
                 config.drop_tokens > 0 ? "N - DROP_TOKENS" : "N", static_cast<long long>(kept));
    if (!config.head_weights.empty() && config.head_fusion != ATTNROLL_FUSE_WEIGHTS)
        fail(ATTNROLL_E_ARGUMENT,
             "config ATTNROLL_OPT_HEAD_WEIGHTS: %zu weights set but ATTNROLL_OPT_HEAD_FUSION is %lld, "
             "not ATTNROLL_FUSE_WEIGHTS (%d)",
             config.head_weights.size(), static_cast<long long>(config.head_fusion), ATTNROLL_FUSE_WEIGHTS);
    if (config.head_fusion == ATTNROLL_FUSE_GRAD && !with_grads)
        fail(ATTNROLL_E_ARGUMENT,
             "config ATTNROLL_OPT_HEAD_FUSION: ATTNROLL_FUSE_GRAD needs gradients "
             "(attnroll_spatial_grad or attnroll_stream_push_grad)");
    if (config.head_fusion != ATTNROLL_FUSE_GRAD && with_grads)
        fail(ATTNROLL_E_ARGUMENT,
             "grads: gradients given but config ATTNROLL_OPT_HEAD_FUSION is %lld, not ATTNROLL_FUSE_GRAD (%d)",
             static_cast<long long>(config.head_fusion), ATTNROLL_FUSE_GRAD);
    return kept;
}

void check_temporal_method(const attnroll_config &config) {
    if (config.drop_tokens != 0)
        fail(ATTNROLL_E_ARGUMENT, "config ATTNROLL_OPT_DROP_TOKENS: %lld, but temporal rollout drops no tokens "
             "(spatial only)", static_cast<long long>(config.drop_tokens));
    if (config.head_fusion != ATTNROLL_FUSE_MEAN)
        fail(ATTNROLL_E_ARGUMENT, "config ATTNROLL_OPT_HEAD_FUSION: %lld, but temporal rollout has no heads "
             "to fuse (spatial only)", static_cast<long long>(config.head_fusion));
    if (!config.head_weights.empty())
        fail(ATTNROLL_E_ARGUMENT, "config ATTNROLL_OPT_HEAD_WEIGHTS: %zu weights set, but temporal rollout has "
             "no heads (spatial only)", config.head_weights.size());
    if (config.discard_ratio != 0.0)
        fail(ATTNROLL_E_ARGUMENT, "config ATTNROLL_OPT_DISCARD_RATIO: %g, but discard is spatial only",
             config.discard_ratio);
}

void check_head_weights(const attnroll_config &config, int64_t heads, const char *layer) {
    if (config.head_fusion != ATTNROLL_FUSE_WEIGHTS) return;
    if (static_cast<int64_t>(config.head_weights.size()) != heads)
        fail(ATTNROLL_E_SHAPE, "config ATTNROLL_OPT_HEAD_WEIGHTS: %zu weights, but %s has H = %lld heads",
             config.head_weights.size(), layer, static_cast<long long>(heads));
}

}  // namespace attnroll
