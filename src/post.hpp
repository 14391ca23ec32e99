// The spec's post-processing (plot_temporal_attn.py): min-max scaling and
// column means.  Inputs are gathered to double first, so out may alias in.
#pragma once

#include "attnroll.h"

namespace attnroll {
void minmax_rows(const attnroll_tensor *in, const attnroll_tensor *out);
void column_mean(const attnroll_tensor *in, const attnroll_tensor *out);
void minmax(const attnroll_tensor *in, const attnroll_tensor *out);
}
