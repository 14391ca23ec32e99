// The options behind the opaque attnroll_config, and their checks.
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
};

namespace attnroll {

struct OptionInfo {
    int32_t key;
    int32_t kind;
    const char *name;
    double lower, upper;
};

// The option's description; throws an argument error naming `key` if unknown.
const OptionInfo &option_info(int32_t key);
// The same, also refusing a key of another kind.
const OptionInfo &option_of_kind(int32_t key, int32_t kind);

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

}  // namespace attnroll
