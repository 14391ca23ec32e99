#include "config.hpp"

#include <cmath>

#include "error.hpp"

namespace attnroll {

namespace {
const OptionInfo kOptions[] = {
    {ATTNROLL_OPT_QUERY_ROWS, ATTNROLL_OPTION_INTS, "ATTNROLL_OPT_QUERY_ROWS", 0.0, 2147483646.0},
    {ATTNROLL_OPT_LAYER_BEGIN, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_LAYER_BEGIN", 0.0, 2147483647.0},
    {ATTNROLL_OPT_LAYER_END, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_LAYER_END", -1.0, 2147483647.0},
    {ATTNROLL_OPT_THREADS, ATTNROLL_OPTION_INT, "ATTNROLL_OPT_THREADS", 0.0, 1024.0},
    {ATTNROLL_OPT_RESIDUAL, ATTNROLL_OPTION_FLOAT, "ATTNROLL_OPT_RESIDUAL", 0.0, 1e6},
};

const char *kind_name(int32_t kind) {
    switch (kind) {
        case ATTNROLL_OPTION_INT: return "int";
        case ATTNROLL_OPTION_FLOAT: return "float";
        default: return "ints";
    }
}
}  // namespace

const OptionInfo &option_info(int32_t key) {
    for (const OptionInfo &o : kOptions)
        if (o.key == key) return o;
    fail(ATTNROLL_E_ARGUMENT, "key: %d is not a known option (ATTNROLL_OPT_* 1..5)",
         static_cast<int>(key));
}

const OptionInfo &option_of_kind(int32_t key, int32_t kind) {
    const OptionInfo &o = option_info(key);
    if (o.kind != kind)
        fail(ATTNROLL_E_ARGUMENT, "key: %s holds a value of kind %s, not %s; use the %s setter/getter",
             o.name, kind_name(o.kind), kind_name(kind), kind_name(o.kind));
    return o;
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

}  // namespace attnroll
