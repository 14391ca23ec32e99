// attnroll_singular_values and attnroll_effective_rank (spectral.cpp), and
// attnroll_flow (flow.cpp).
#pragma once

#include "attnroll.h"

namespace attnroll {

void singular_values(const attnroll_tensor *in, const attnroll_tensor *out);
void effective_rank(const attnroll_tensor *in, const attnroll_tensor *out);
void flow(const attnroll_tensor *layers, int32_t num_layers, const attnroll_config *config,
          const attnroll_tensor *out);

}  // namespace attnroll
