#include "blas_report.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <strings.h>
#include <vector>

#include "cpu.hpp"
#include "parallel.hpp"

namespace attnroll {

namespace {

// OpenBLAS's x86-64 core names (driver/others/dynamic.c) and the vector
// level each kernel set is written for.  Names OpenBLAS may add later map to
// ATTNROLL_SIMD_UNKNOWN, and attnroll then claims nothing about them.
struct KernelLevel {
    const char *name;
    int32_t level;
};
constexpr KernelLevel kKernels[] = {
    {"Katmai", ATTNROLL_SIMD_SSE},          {"Coppermine", ATTNROLL_SIMD_SSE},
    {"Northwood", ATTNROLL_SIMD_SSE},       {"Prescott", ATTNROLL_SIMD_SSE},
    {"Banias", ATTNROLL_SIMD_SSE},          {"Atom", ATTNROLL_SIMD_SSE},
    {"Core2", ATTNROLL_SIMD_SSE},           {"Penryn", ATTNROLL_SIMD_SSE},
    {"Dunnington", ATTNROLL_SIMD_SSE},      {"Nehalem", ATTNROLL_SIMD_SSE},
    {"Athlon", ATTNROLL_SIMD_SSE},          {"Opteron", ATTNROLL_SIMD_SSE},
    {"Opteron(SSE3)", ATTNROLL_SIMD_SSE},   {"Barcelona", ATTNROLL_SIMD_SSE},
    {"Nano", ATTNROLL_SIMD_SSE},            {"Bobcat", ATTNROLL_SIMD_SSE},
    {"Sandybridge", ATTNROLL_SIMD_AVX},     {"Bulldozer", ATTNROLL_SIMD_AVX},
    {"Piledriver", ATTNROLL_SIMD_AVX},      {"Steamroller", ATTNROLL_SIMD_AVX},
    {"Haswell", ATTNROLL_SIMD_AVX2},        {"Excavator", ATTNROLL_SIMD_AVX2},
    {"Zen", ATTNROLL_SIMD_AVX2},            {"SkylakeX", ATTNROLL_SIMD_AVX512},
    {"Cooperlake", ATTNROLL_SIMD_AVX512},   {"SapphireRapids", ATTNROLL_SIMD_AVX512},
};

const char *best_kernel_for(int32_t level) {
    switch (level) {
        case ATTNROLL_SIMD_AVX512: return "SkylakeX";
        case ATTNROLL_SIMD_AVX2: return "Haswell";
        case ATTNROLL_SIMD_AVX: return "Sandybridge";
        default: return "";
    }
}

template <size_t Size>
void copy_text(char (&dst)[Size], const char *src) {
    std::snprintf(dst, Size, "%s", src ? src : "");
}

// Fixed pseudo-random values in [-1, 1): the check is the same on every run.
std::vector<double> filled(size_t count, uint32_t seed) {
    std::vector<double> v(count);
    for (double &x : v) {
        seed = seed * 1664525u + 1013904223u;
        x = static_cast<double>(seed >> 8) / 8388608.0 - 1.0;
    }
    return v;
}

// C = op(A) op(B) through BLAS in T's precision, against a double loop; the
// largest |error| relative to sum_k |a_ik b_kj|.
template <class T>
double gemm_error(int m, int n, int k, bool trans_a, bool trans_b, uint32_t seed) {
    const size_t mk = static_cast<size_t>(m) * k, kn = static_cast<size_t>(k) * n, mn = static_cast<size_t>(m) * n;
    // The operands as BLAS sees them (rounded to T), row-major m x k and k x n...
    std::vector<double> a = filled(mk, seed), b = filled(kn, seed + 7);
    for (double &x : a) x = static_cast<T>(x);
    for (double &x : b) x = static_cast<T>(x);
    // ...and stored transposed where op() transposes them.
    std::vector<T> at(mk), bt(kn), c(mn);
    for (int i = 0; i < m; ++i)
        for (int p = 0; p < k; ++p)
            at[trans_a ? static_cast<size_t>(p) * m + i : static_cast<size_t>(i) * k + p] = static_cast<T>(a[static_cast<size_t>(i) * k + p]);
    for (int p = 0; p < k; ++p)
        for (int j = 0; j < n; ++j)
            bt[trans_b ? static_cast<size_t>(j) * k + p : static_cast<size_t>(p) * n + j] = static_cast<T>(b[static_cast<size_t>(p) * n + j]);
    const int lda = trans_a ? m : k, ldb = trans_b ? k : n;
    const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    if constexpr (sizeof(T) == sizeof(float))
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, at.data(), lda, bt.data(), ldb, 0.0f, c.data(), n);
    else
        cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, at.data(), lda, bt.data(), ldb, 0.0, c.data(), n);
    // The reference, row by row with a contiguous inner loop.
    std::vector<double> exact(static_cast<size_t>(n)), scale(static_cast<size_t>(n));
    double worst = 0;
    for (int i = 0; i < m; ++i) {
        std::fill(exact.begin(), exact.end(), 0.0);
        std::fill(scale.begin(), scale.end(), 0.0);
        for (int p = 0; p < k; ++p) {
            const double x = a[static_cast<size_t>(i) * k + p];
            const double *row = &b[static_cast<size_t>(p) * n];
            for (int j = 0; j < n; ++j) {
                exact[j] += x * row[j];
                scale[j] += std::fabs(x * row[j]);
            }
        }
        for (int j = 0; j < n; ++j) {
            const double err = std::fabs(static_cast<double>(c[static_cast<size_t>(i) * n + j]) - exact[j]);
            if (std::isnan(err)) return INFINITY;
            worst = std::max(worst, scale[j] > 0 ? err / scale[j] : err);
        }
    }
    return worst;
}

// Sizes chosen to reach the kernels' full register blocks and every edge:
// odd, prime, below and above one block, transposed or not, and one long
// inner dimension.  About 0.5 M multiply-adds per precision: a millisecond
// or two with the reference loop.
struct GemmCase {
    int m, n, k;
    bool ta, tb;
};
constexpr GemmCase kCases[] = {
    {1, 1, 1, false, false},    {3, 5, 7, false, true},   {17, 31, 13, true, false},
    {37, 29, 41, false, false}, {64, 48, 33, true, true}, {67, 35, 129, false, true},
};

}  // namespace

int32_t blas_kernel_level(const char *core_name) {
    if (!core_name) return ATTNROLL_SIMD_UNKNOWN;
    for (const KernelLevel &k : kKernels)
        if (strcasecmp(k.name, core_name) == 0) return k.level;
    return ATTNROLL_SIMD_UNKNOWN;
}

void blas_report(attnroll_blas_info &info) {
    info = attnroll_blas_info{};
    copy_text(info.blas, openblas_get_config());
    copy_text(info.kernel, openblas_get_corename());
    info.kernel_level = blas_kernel_level(info.kernel);
    info.cpu_level = cpu_simd_level();
    info.kernel_below_cpu = info.kernel_level != ATTNROLL_SIMD_UNKNOWN &&
                            info.cpu_level != ATTNROLL_SIMD_UNKNOWN && info.kernel_level < info.cpu_level;
    copy_text(info.best_kernel, best_kernel_for(info.cpu_level));
    if (info.kernel_below_cpu)
        std::snprintf(info.fix, sizeof info.fix, "OPENBLAS_CORETYPE=%s", info.best_kernel);
    copy_text(info.coretype_env, std::getenv("OPENBLAS_CORETYPE"));
}

void blas_selfcheck(double &single, double &dbl) {
    BlasSingleThreaded one_thread;  // the check is small; no thread start-up
    single = dbl = 0;
    uint32_t seed = 12345;
    for (const GemmCase &c : kCases) {
        single = std::max(single, gemm_error<float>(c.m, c.n, c.k, c.ta, c.tb, seed));
        dbl = std::max(dbl, gemm_error<double>(c.m, c.n, c.k, c.ta, c.tb, seed));
        seed += 101;
    }
}

}  // namespace attnroll
