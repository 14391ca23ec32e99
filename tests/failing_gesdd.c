/* A stand-in LAPACKE_sgesdd_work / LAPACKE_dgesdd_work, preloaded by the
 * test_spectral_lapack_failure test: a workspace query succeeds, every
 * decomposition "fails to converge" with info = 3. */
#include <lapacke.h>

lapack_int LAPACKE_sgesdd_work(int layout, char jobz, lapack_int m, lapack_int n, float *a, lapack_int lda,
                               float *s, float *u, lapack_int ldu, float *vt, lapack_int ldvt, float *work,
                               lapack_int lwork, lapack_int *iwork)
{
    (void)layout; (void)jobz; (void)m; (void)n; (void)a; (void)lda; (void)s; (void)u; (void)ldu;
    (void)vt; (void)ldvt; (void)iwork;
    if (lwork == -1) {
        work[0] = 1;
        return 0;
    }
    return 3;
}

lapack_int LAPACKE_dgesdd_work(int layout, char jobz, lapack_int m, lapack_int n, double *a, lapack_int lda,
                               double *s, double *u, lapack_int ldu, double *vt, lapack_int ldvt, double *work,
                               lapack_int lwork, lapack_int *iwork)
{
    (void)layout; (void)jobz; (void)m; (void)n; (void)a; (void)lda; (void)s; (void)u; (void)ldu;
    (void)vt; (void)ldvt; (void)iwork;
    if (lwork == -1) {
        work[0] = 1;
        return 0;
    }
    return 3;
}
