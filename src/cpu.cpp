#include "cpu.hpp"

#include "attnroll.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ATTNROLL_X86 1
#endif

namespace attnroll {

namespace {

#if ATTNROLL_X86
// XCR0, the state components the OS saves on a context switch.  Written as
// the raw instruction (XGETBV, ECX = 0) so that no -mxsave is needed.
uint64_t read_xcr0() {
    uint32_t eax = 0, edx = 0;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures detect() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27), has_avx = c & (1u << 28);
    const bool has_fma = c & (1u << 12), has_f16c = c & (1u << 29);
    if (!osxsave) return f;  // the OS says nothing of YMM/ZMM state: SSE only
    const uint64_t xcr0 = read_xcr0();
    const bool ymm_saved = (xcr0 & 0x6) == 0x6;     // SSE and AVX state
    const bool zmm_saved = (xcr0 & 0xe6) == 0xe6;   // also opmask, ZMM_Hi256, Hi16_ZMM
    f.avx = has_avx && ymm_saved;
    f.f16c = f.avx && has_f16c;
    unsigned max_leaf = __get_cpuid_max(0, nullptr);
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        const bool avx2 = b & (1u << 5);
        const bool f512 = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
        f.avx2_fma = f.avx && avx2 && has_fma;
        f.avx512 = f.avx2_fma && zmm_saved && f512 && dq && bw && vl;
    }
    return f;
}
#else
CpuFeatures detect() { return CpuFeatures{}; }
#endif

}  // namespace

const CpuFeatures &cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

int32_t cpu_simd_level() {
#if ATTNROLL_X86
    const CpuFeatures &f = cpu_features();
    if (f.avx512) return ATTNROLL_SIMD_AVX512;
    if (f.avx2_fma) return ATTNROLL_SIMD_AVX2;
    if (f.avx) return ATTNROLL_SIMD_AVX;
    return ATTNROLL_SIMD_SSE;  // SSE2 is part of x86-64
#else
    return ATTNROLL_SIMD_UNKNOWN;
#endif
}

}  // namespace attnroll
