// The BLAS kernel in use against what the CPU supports, and a check of the
// kernel's products against plain loops (attnroll_blas_report,
// attnroll_blas_kernel_level, attnroll_blas_selfcheck).
#pragma once

#include <cstdint>

#include "attnroll.h"

namespace attnroll {

void blas_report(attnroll_blas_info &info);
int32_t blas_kernel_level(const char *core_name);
// Largest |error| / sum |a_ik b_kj| over the single precision products in
// `single` and the double precision ones in `dbl`.
void blas_selfcheck(double &single, double &dbl);

}  // namespace attnroll
