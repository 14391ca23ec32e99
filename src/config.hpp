// The options behind the opaque attnroll_config: one table (config.cpp) holds
// each option's key, kind, bounds, meaning and where its value lives.
#pragma once

#include <cstdint>
#include <vector>

#include "attnroll.h"

struct attnroll_config {
    std::vector<int64_t> query_rows;  // empty: all rows
    int64_t layer_begin = 0;
    int64_t layer_end = -1;           // -1: number of layers
    int64_t threads = 0;              // 0: library default
    double residual = 1.0;
    int64_t drop_tokens = 0;
    int64_t head_fusion = ATTNROLL_FUSE_MEAN;
    std::vector<double> head_weights;  // empty: not set
    double discard_ratio = 0.0;
    std::vector<int64_t> protect{0};
    int64_t rule = ATTNROLL_RULE_ROLLOUT;
    int64_t cumulative = 0;
};

namespace attnroll {

struct OptionInfo {
    int32_t key;
    int32_t kind;
    const char *name;
    double lower, upper;
    bool upper_open;  // the upper bound itself is refused (DISCARD_RATIO < 1)
    const char *meaning;
    // Where the value lives: the one member of the option's kind.
    int64_t attnroll_config::*int_value;
    double attnroll_config::*float_value;
    std::vector<int64_t> attnroll_config::*ints_value;
    std::vector<double> attnroll_config::*floats_value;
};

// The option's description; throws an argument error naming `key` if unknown.
const OptionInfo &option_info(int32_t key);

// Typed access through the table: refuse a key of another kind, a value out of
// bounds (naming the option and the value), and leave the config unchanged on
// failure.
void set_int(attnroll_config &config, int32_t key, int64_t value);
void set_float(attnroll_config &config, int32_t key, double value);
void set_ints(attnroll_config &config, int32_t key, const int64_t *values, int64_t count);
void set_floats(attnroll_config &config, int32_t key, const double *values, int64_t count);
int64_t get_int(const attnroll_config &config, int32_t key);
double get_float(const attnroll_config &config, int32_t key);
const std::vector<int64_t> &get_ints(const attnroll_config &config, int32_t key);
const std::vector<double> &get_floats(const attnroll_config &config, int32_t key);

// The config, or the defaults for NULL.
const attnroll_config &options_or_defaults(const attnroll_config *config);

struct LayerRange {
    int64_t begin, end;
};
// The configured layer range resolved against `num_layers`; refuses empty or
// out-of-bounds ranges.
LayerRange resolve_range(const attnroll_config &config, int64_t num_layers);
// Refuses a query row >= n.
void check_query_rows(const attnroll_config &config, int64_t n, const char *what);

// The method options checked against N tokens (spatial and streams): k < N,
// query rows and protected columns < N - k, weights only with WEIGHTS fusion,
// GRAD fusion exactly when gradients are given.  Returns N' = N - k.
int64_t check_method(const attnroll_config &config, int64_t n, bool with_grads);
// Temporal has no heads or tokens to drop: refuses the spatial-only options.
void check_temporal_method(const attnroll_config &config);
// HEAD_WEIGHTS against a layer's head count (WEIGHTS fusion only).
void check_head_weights(const attnroll_config &config, int64_t heads, const char *layer);

}  // namespace attnroll
