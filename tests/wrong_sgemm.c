/*
 * A stand-in for a broken BLAS kernel, loaded with LD_PRELOAD by the
 * test_blas_wrong_kernel test: cblas_sgemm calls OpenBLAS's own and then
 * spoils one element of the result by 0.1%, the kind of error a kernel forced
 * onto a CPU it does not know has been seen to make.  attnroll_blas_selfcheck
 * must notice.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include <cblas.h>

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE,
                         const blasint, const blasint, const blasint, const float, const float *,
                         const blasint, const float *, const blasint, const float, float *, const blasint);

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                 const blasint m, const blasint n, const blasint k, const float alpha, const float *a,
                 const blasint lda, const float *b, const blasint ldb, const float beta, float *c,
                 const blasint ldc)
{
    static sgemm_fn real = NULL;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "cblas_sgemm");
    real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (m > 8 && n > 8) c[(size_t)ldc * 3 + 5] *= 1.001f;
}
