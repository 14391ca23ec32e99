// What the CPU and the operating system let us run, read once from CPUID and
// XGETBV.  Used to pick the F16C half-to-float path and to tell whether
// OpenBLAS's kernel leaves the CPU's vector units unused.
#pragma once

#include <cstdint>

namespace attnroll {

struct CpuFeatures {
    bool avx = false;     // AVX with YMM state saved by the OS
    bool f16c = false;    // F16C (needs AVX)
    bool avx2_fma = false;
    bool avx512 = false;  // AVX-512 F, BW, DQ and VL with ZMM state saved by the OS
};

// Detected on first use; all false off x86-64.
const CpuFeatures &cpu_features();

// The best ATTNROLL_SIMD_* level of this CPU.
int32_t cpu_simd_level();

}  // namespace attnroll
