/*
 * attnroll_singular_values and attnroll_effective_rank: hand cases (identity,
 * rank one, zero), random matrices of several sizes, batch shapes, dtypes and
 * layouts against a one-sided Jacobi SVD in double written here, and every
 * bad input.  With ATTNROLL_TEST_EXPECT_GESDD_FAILURE=1 (a stand-in ?gesdd
 * preloaded, failing_gesdd.c) every call must report ATTNROLL_E_INTERNAL
 * with LAPACK's info code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnroll.h"
#include "test_util.h"

/* Singular values of an m x m matrix (C order), descending: one-sided Jacobi
 * (Hestenes) rotations of the columns until they are orthogonal; the values
 * are then the column norms. */
static void jacobi_svd(const double *a, int64_t m, double *s)
{
    double *u = malloc((size_t)(m * m) * sizeof *u);
    assert_non_null(u);
    memcpy(u, a, (size_t)(m * m) * sizeof *u);
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0;
        for (int64_t p = 0; p < m; ++p)
            for (int64_t q = p + 1; q < m; ++q) {
                double alpha = 0, beta = 0, gamma = 0;
                for (int64_t i = 0; i < m; ++i) {
                    alpha += u[i * m + p] * u[i * m + p];
                    beta += u[i * m + q] * u[i * m + q];
                    gamma += u[i * m + p] * u[i * m + q];
                }
                if (gamma == 0 || fabs(gamma) <= 1e-17 * sqrt(alpha * beta)) continue;
                off = fmax(off, fabs(gamma) / sqrt(alpha * beta));
                const double zeta = (beta - alpha) / (2 * gamma);
                const double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                const double c = 1 / sqrt(1 + t * t), sn = c * t;
                for (int64_t i = 0; i < m; ++i) {
                    const double x = u[i * m + p], y = u[i * m + q];
                    u[i * m + p] = c * x - sn * y;
                    u[i * m + q] = sn * x + c * y;
                }
            }
        if (off < 1e-16) break;
    }
    for (int64_t j = 0; j < m; ++j) {
        double norm = 0;
        for (int64_t i = 0; i < m; ++i) norm += u[i * m + j] * u[i * m + j];
        s[j] = sqrt(norm);
    }
    for (int64_t i = 0; i < m; ++i) /* descending */
        for (int64_t j = i + 1; j < m; ++j)
            if (s[j] > s[i]) {
                const double x = s[i];
                s[i] = s[j];
                s[j] = x;
            }
    free(u);
}

static double entropy_rank(const double *s, int64_t m)
{
    double total = 0, h = 0;
    for (int64_t i = 0; i < m; ++i) total += s[i];
    if (total == 0) return 0;
    for (int64_t i = 0; i < m; ++i) {
        const double p = s[i] / total;
        if (p > 0) h -= p * log(p);
    }
    return exp(h);
}

static int expect_gesdd_failure(void)
{
    const char *e = getenv("ATTNROLL_TEST_EXPECT_GESDD_FAILURE");
    return e && strcmp(e, "1") == 0;
}

/* Runs both functions on `batch` matrices m x m given in C order, stored as
 * in_dtype / layout with leading shape lead[0..nlead); results into s
 * ([batch, m]) and r ([batch]). */
static int32_t run_both(const double *vals, int nlead, const int64_t *lead, int64_t m, int32_t in_dtype,
                        int layout, int32_t out_dtype, double *s, double *r)
{
    int64_t shape[8], batch = 1;
    for (int d = 0; d < nlead; ++d) shape[d] = lead[d], batch *= lead[d];
    shape[nlead] = m;
    shape[nlead + 1] = m;
    tu_tensor *in = tu_from(vals, nlead + 2, shape, in_dtype, layout);
    int64_t sshape[8];
    memcpy(sshape, shape, sizeof sshape);
    tu_tensor *sv = tu_new(nlead + 1, sshape, out_dtype, TU_CNULL);
    const int64_t one[] = {1};
    tu_tensor *rk = nlead ? tu_new(nlead, lead, out_dtype, TU_CNULL) : tu_new(1, one, out_dtype, TU_CNULL);
    tu_fill_sentinel(sv);
    tu_fill_sentinel(rk);
    int32_t st = attnroll_singular_values(&in->view, &sv->view);
    const int32_t st2 = attnroll_effective_rank(&in->view, &rk->view);
    assert_int_equal(st, st2);
    if (st == ATTNROLL_OK) {
        tu_get(sv, s);
        tu_get(rk, r);
    } else {
        TU_ASSERT_UNTOUCHED(sv);
        TU_ASSERT_UNTOUCHED(rk);
    }
    (void)batch;
    tu_free(in);
    tu_free(sv);
    tu_free(rk);
    return st;
}

static void test_spectral_hand(void **state)
{
    (void)state;
    if (expect_gesdd_failure()) skip();
    const int64_t m = 5;
    double eye[25] = {0}, one[25], zero[25] = {0}, s[5], r[1];
    for (int64_t i = 0; i < m; ++i) eye[i * 6] = 1;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j) one[i * m + j] = (double)(i + 1) * (0.5 - (double)j);
    for (int out = 0; out < 2; ++out) {
        const int32_t od = out ? ATTNROLL_F32 : ATTNROLL_F64;
        const double tol = out ? 2e-6 : 1e-12;
        TU_ASSERT_OK(run_both(eye, 0, NULL, m, ATTNROLL_F64, TU_CNULL, od, s, r));
        for (int64_t i = 0; i < m; ++i) assert_true(fabs(s[i] - 1) <= tol);
        assert_true(fabs(r[0] - (double)m) <= tol * (double)m);
        TU_ASSERT_OK(run_both(one, 0, NULL, m, ATTNROLL_F64, TU_TRANSPOSED, od, s, r));
        assert_true(fabs(r[0] - 1) <= (out ? 1e-5 : 1e-12));
        TU_ASSERT_OK(run_both(zero, 0, NULL, m, ATTNROLL_F32, TU_NEGATIVE, od, s, r));
        for (int64_t i = 0; i < m; ++i) assert_true(s[i] == 0);
        assert_true(r[0] == 0);
    }
    /* M = 1: |a| and rank 1 (0 for a zero). */
    const double neg[] = {-2.5};
    TU_ASSERT_OK(run_both(neg, 0, NULL, 1, ATTNROLL_F64, TU_CNULL, ATTNROLL_F64, s, r));
    assert_true(s[0] == 2.5 && r[0] == 1);
}

static void test_spectral_random(void **state)
{
    (void)state;
    if (expect_gesdd_failure()) skip();
    tu_rng rng;
    tu_rng_seed(&rng, 42);
    const int64_t sizes[] = {2, 3, 7, 16, 33, 64};
    /* every layout but the broadcasting ones, which would change the values */
    const int layouts[8] = {TU_CNULL, TU_C, TU_FORTRAN, TU_TRANSPOSED, TU_NEGATIVE, TU_SLICED, TU_HEADS_LAST,
                            TU_TRANSPOSED_NEG};
    for (int si = 0; si < 6; ++si)
        for (int variant = 0; variant < 4; ++variant) {
            const int64_t m = sizes[si];
            const int64_t lead[] = {2, 3};
            const int nlead = variant % 3;  /* [M,M], [2,M,M], [2,3,M,M] */
            int64_t batch = 1;
            for (int d = 0; d < nlead; ++d) batch *= lead[d];
            double *a = malloc((size_t)(batch * m * m) * sizeof *a);
            if (variant % 2)
                tu_peaky_rows(&rng, a, batch * m, m, 3.0); /* attention-like: row-stochastic */
            else
                for (int64_t e = 0; e < batch * m * m; ++e) a[e] = tu_normal(&rng);
            const int32_t in_dtype = variant == 3 ? ATTNROLL_F16 : variant == 2 ? ATTNROLL_F32 : ATTNROLL_F64;
            tu_quantize(a, batch * m * m, in_dtype);
            double *want = malloc((size_t)(batch * m) * sizeof *want);
            double *got = malloc((size_t)(batch * m) * sizeof *got);
            double rank_got[6];
            for (int64_t b = 0; b < batch; ++b) jacobi_svd(a + b * m * m, m, want + b * m);
            for (int out = 0; out < 2; ++out) {
                const int32_t od = out ? ATTNROLL_F32 : ATTNROLL_F64;
                TU_ASSERT_OK(run_both(a, nlead, lead, m, in_dtype, layouts[(si + variant) % 8], od, got,
                                      rank_got));
                for (int64_t b = 0; b < batch; ++b) {
                    const double top = want[b * m];
                    /* backward stable: errors of order eps * M * s_max */
                    const double tol = (out ? 4e-7 : 1e-15) * (double)m * top;
                    for (int64_t i = 0; i < m; ++i)
                        if (!(fabs(got[b * m + i] - want[b * m + i]) <= tol)) {
                            print_error("M %lld batch %lld value %lld: got %.17g want %.17g (out %d, variant %d, layout %s)\n",
                                        (long long)m, (long long)b, (long long)i, got[b * m + i],
                                        want[b * m + i], out, variant, tu_layout_name(layouts[(si + variant) % 8]));
                            fail();
                        }
                    const double rw = entropy_rank(want + b * m, m);
                    assert_true(fabs(rank_got[b] - rw) <= (out ? 1e-5 : 1e-12) * rw);
                }
            }
            free(a);
            free(want);
            free(got);
        }
}

static void test_spectral_bad_input(void **state)
{
    (void)state;
    double a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    const int64_t sq[] = {4, 4}, rect[] = {2, 8}, vec[] = {16}, s4[] = {4}, s5[] = {5}, r1[] = {1}, r2[] = {2};
    tu_tensor *in = tu_from(a, 2, sq, ATTNROLL_F64, TU_CNULL);
    tu_tensor *ok = tu_new(1, s4, ATTNROLL_F64, TU_CNULL);
    tu_tensor *wrong = tu_new(1, s5, ATTNROLL_F64, TU_CNULL);
    tu_tensor *rk = tu_new(1, r1, ATTNROLL_F64, TU_CNULL);
    tu_tensor *rk2 = tu_new(1, r2, ATTNROLL_F64, TU_CNULL);
    tu_fill_sentinel(wrong);
    tu_fill_sentinel(rk2);
    attnroll_tensor bad = in->view;
    bad.shape = rect;
    TU_ASSERT_FAILS(attnroll_singular_values(&bad, &ok->view), ATTNROLL_E_SHAPE, "not square");
    TU_ASSERT_FAILS(attnroll_effective_rank(&bad, &rk->view), ATTNROLL_E_SHAPE, "not square");
    bad.ndim = 1;
    bad.shape = vec;
    TU_ASSERT_FAILS(attnroll_singular_values(&bad, &ok->view), ATTNROLL_E_SHAPE, "rank");
    TU_ASSERT_FAILS(attnroll_singular_values(&in->view, &wrong->view), ATTNROLL_E_SHAPE, "out");
    TU_ASSERT_FAILS(attnroll_effective_rank(&in->view, &rk2->view), ATTNROLL_E_SHAPE, "out");
    TU_ASSERT_UNTOUCHED(wrong);
    TU_ASSERT_UNTOUCHED(rk2);
    TU_ASSERT_FAILS(attnroll_singular_values(NULL, &ok->view), ATTNROLL_E_ARGUMENT, "in");
    TU_ASSERT_FAILS(attnroll_effective_rank(&in->view, NULL), ATTNROLL_E_ARGUMENT, "out");
    attnroll_tensor half = ok->view;
    half.dtype = ATTNROLL_F16;
    TU_ASSERT_FAILS(attnroll_singular_values(&in->view, &half), ATTNROLL_E_DTYPE, "out");
    attnroll_tensor alias = ok->view;
    alias.data = in->view.data;
    TU_ASSERT_FAILS(attnroll_singular_values(&in->view, &alias), ATTNROLL_E_OVERLAP, "out");
    /* NaN and infinities are refused, naming the element */
    const double poison[] = {NAN, INFINITY};
    for (int p = 0; p < 2; ++p) {
        double b[16];
        memcpy(b, a, sizeof b);
        b[6] = poison[p];
        tu_tensor *pin = tu_from(b, 2, sq, ATTNROLL_F32, TU_FORTRAN);
        tu_fill_sentinel(wrong);
        tu_tensor *o = tu_new(1, s4, ATTNROLL_F32, TU_CNULL);
        tu_fill_sentinel(o);
        TU_ASSERT_FAILS(attnroll_singular_values(&pin->view, &o->view), ATTNROLL_E_ARGUMENT, "[1,2]");
        TU_ASSERT_UNTOUCHED(o);
        tu_free(o);
        tu_free(pin);
    }
    tu_free(in);
    tu_free(ok);
    tu_free(wrong);
    tu_free(rk);
    tu_free(rk2);
}

/* Under the preloaded failing ?gesdd: ATTNROLL_E_INTERNAL with info = 3. */
static void test_spectral_lapack_failure(void **state)
{
    (void)state;
    if (!expect_gesdd_failure()) skip();
    double a[9] = {1, 2, 3, 4, 5, 6, 7, 8, 10}, s[3], r[1];
    TU_ASSERT_STATUS(run_both(a, 0, NULL, 3, ATTNROLL_F64, TU_CNULL, ATTNROLL_F64, s, r), ATTNROLL_E_INTERNAL);
    assert_true(tu_message_matches(attnroll_last_error(), "info = 3"));
    TU_ASSERT_STATUS(run_both(a, 0, NULL, 3, ATTNROLL_F64, TU_CNULL, ATTNROLL_F32, s, r), ATTNROLL_E_INTERNAL);
    assert_true(tu_message_matches(attnroll_last_error(), "sgesdd"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spectral_hand),
        cmocka_unit_test(test_spectral_random),
        cmocka_unit_test(test_spectral_bad_input),
        cmocka_unit_test(test_spectral_lapack_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
