/*
 * ATTNROLL_OPT_QUERY_ROWS: the rows asked for ({0}, several, repeats, every
 * row reversed, more rows than N) equal the corresponding rows of the full
 * rollout, for spatial ([F,k,N] and [k,N]) and temporal ([k,T]) outputs, with
 * layer ranges and residual weights; wrong output shapes are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnroll.h"
#include "reference.h"
#include "test_util.h"

#define TOL_F32 2e-6
#define TOL_F64 1e-12

/* Hand case: the three 3x3 layers of test_spatial.c,
 *   R = [[.5625,.1875,.25],[.3125,.3125,.375],[.375,.25,.375]];
 * rows {0}: [.5625,.1875,.25]; rows {2,0,2}: R[2], R[0], R[2]. */
static void test_query_hand(void **state)
{
    (void)state;
    const double a[] = {1, 0, 0, 0, 0, 1, .5, .5, 0,  0, 1, 0, 0, 0, 1, 1, 0, 0,
                        0, 0, 1, 1, 0, 0, 0, 1, 0};
    const double *layers[] = {a, a + 9, a + 18};
    const int64_t shape[] = {1, 3, 3};
    double got[9];
    const int64_t q0[] = {0}, o0[] = {1, 3};
    attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, -1.0, q0, 1, TU_DEF);
    TU_ASSERT_OK(tu_run_spatial(layers, 3, 3, shape, ATTNROLL_F64, TU_CNULL, cfg, 2, o0,
                                ATTNROLL_F64, TU_CNULL, got));
    const double w0[] = {.5625, .1875, .25};
    TU_ASSERT_CLOSE(got, w0, 3, 1e-15);
    attnroll_config_destroy(cfg);

    const int64_t q1[] = {2, 0, 2}, o1[] = {3, 3};
    cfg = tu_config(TU_DEF, TU_DEF, -1.0, q1, 3, TU_DEF);
    TU_ASSERT_OK(tu_run_spatial(layers, 3, 3, shape, ATTNROLL_F32, TU_CNULL, cfg, 2, o1,
                                ATTNROLL_F32, TU_CNULL, got));
    const double w1[] = {.375, .25, .375, .5625, .1875, .25, .375, .25, .375};
    TU_ASSERT_CLOSE(got, w1, 9, 1e-7);
    attnroll_config_destroy(cfg);

    /* rows {1} of the layers 1..2 ("without layer 0"): R12[1] = [.25,.5,.25] */
    const int64_t q2[] = {1};
    cfg = tu_config(1, TU_DEF, -1.0, q2, 1, TU_DEF);
    TU_ASSERT_OK(tu_run_spatial(layers, 3, 3, shape, ATTNROLL_F64, TU_CNULL, cfg, 2, o0,
                                ATTNROLL_F64, TU_CNULL, got));
    const double w2[] = {.25, .5, .25};
    TU_ASSERT_CLOSE(got, w2, 3, 1e-15);
    attnroll_config_destroy(cfg);
}

/* Random spatial layers: for several query lists, out [F,k,N] equals the
 * reference rows and the library's own full result rows. */
static void check_spatial_query(int64_t frames, int64_t heads, int64_t n, int32_t nl,
                                int four_d, int64_t begin, int64_t end, double r,
                                const int64_t *rows, int64_t k, uint64_t seed, int32_t in_dtype)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    int64_t s4[] = {frames, heads, n, n};
    int ndim = four_d ? 4 : 3;
    const int64_t *shape = four_d ? s4 : s4 + 1;
    int64_t per = tu_numel(ndim, shape);
    double **layers = malloc((size_t)nl * sizeof *layers);
    int64_t *hs = malloc((size_t)nl * sizeof *hs);
    assert_non_null(layers);
    assert_non_null(hs);
    for (int32_t l = 0; l < nl; ++l) {
        layers[l] = tu_peaky_alloc(&rng, per, n, 5.0);
        tu_quantize(layers[l], per, in_dtype);
        hs[l] = heads;
    }
    int64_t b = begin == TU_DEF ? 0 : begin;
    int64_t e = (end == TU_DEF || end == -1) ? nl : end;
    double rr = r < 0 ? 1.0 : r;
    double *want = malloc((size_t)(frames * k * n) * sizeof *want);
    double *full = malloc((size_t)(frames * n * n) * sizeof *full);
    double *got = malloc((size_t)(frames * k * n) * sizeof *got);
    assert_non_null(want);
    assert_non_null(full);
    assert_non_null(got);
    ref_spatial((const double *const *)layers, hs, nl, frames, n, b, e, rr, rows, k, want);

    attnroll_config *fcfg = tu_config(begin, end, r, NULL, 0, TU_DEF);
    attnroll_config *qcfg = tu_config(begin, end, r, rows, k, TU_DEF);
    int64_t of[3] = {frames, n, n}, oq[3] = {frames, k, n};
    for (int o = 0; o < 2; ++o) {
        int32_t odt = o ? ATTNROLL_F32 : ATTNROLL_F64;
        double tol = o ? TOL_F32 : TOL_F64;
        TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, nl, ndim, shape, in_dtype,
                                    TU_CNULL, fcfg, four_d ? 3 : 2, four_d ? of : of + 1, odt,
                                    TU_CNULL, full));
        TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, nl, ndim, shape, in_dtype,
                                    TU_CNULL, qcfg, four_d ? 3 : 2, four_d ? oq : oq + 1, odt,
                                    o ? TU_NEGATIVE : TU_CNULL, got));
        TU_ASSERT_CLOSE(got, want, frames * k * n, tol);
        /* the rows of the library's own full result */
        for (int64_t f = 0; f < frames; ++f)
            for (int64_t q = 0; q < k; ++q)
                TU_ASSERT_CLOSE(got + (f * k + q) * n, full + (f * n + rows[q]) * n, n, 2 * tol);
        /* the full-size output is the wrong shape when k != N */
        if (k != n) {
            int32_t st = tu_run_spatial((const double *const *)layers, nl, ndim, shape, in_dtype,
                                        TU_CNULL, qcfg, four_d ? 3 : 2, four_d ? of : of + 1, odt,
                                        TU_CNULL, full);
            TU_ASSERT_FAILS(st, ATTNROLL_E_SHAPE, "out");
        }
    }
    attnroll_config_destroy(fcfg);
    attnroll_config_destroy(qcfg);
    for (int32_t l = 0; l < nl; ++l) free(layers[l]);
    free(layers);
    free(hs);
    free(want);
    free(full);
    free(got);
}

static void test_query_spatial_random(void **state)
{
    (void)state;
    const int64_t cls[] = {0};
    check_spatial_query(2, 3, 20, 5, 1, TU_DEF, TU_DEF, -1, cls, 1, 1, ATTNROLL_F32);
    check_spatial_query(1, 2, 20, 5, 0, TU_DEF, TU_DEF, -1, cls, 1, 2, ATTNROLL_F64);
    const int64_t several[] = {3, 1, 3, 19, 0, 3};
    check_spatial_query(2, 3, 20, 5, 1, TU_DEF, TU_DEF, -1, several, 6, 3, ATTNROLL_F16);
    check_spatial_query(1, 4, 20, 4, 0, 1, TU_DEF, -1, several, 6, 4, ATTNROLL_BF16);
    check_spatial_query(2, 2, 20, 6, 1, 2, 5, 0.5, several, 6, 5, ATTNROLL_F32);
    /* every row, reversed (k == N) */
    int64_t rev[17];
    for (int i = 0; i < 17; ++i) rev[i] = 16 - i;
    check_spatial_query(2, 2, 17, 4, 1, TU_DEF, TU_DEF, -1, rev, 17, 6, ATTNROLL_F32);
    /* more rows than N (repeats) */
    int64_t many[12];
    for (int i = 0; i < 12; ++i) many[i] = i % 5;
    check_spatial_query(1, 2, 5, 3, 1, TU_DEF, TU_DEF, -1, many, 12, 7, ATTNROLL_F64);
    /* the CLS row of a ViT-sized stack in miniature */
    check_spatial_query(2, 4, 100, 24, 1, TU_DEF, TU_DEF, -1, cls, 1, 8, ATTNROLL_F32);
    /* a single layer */
    check_spatial_query(1, 2, 9, 1, 1, TU_DEF, TU_DEF, -1, several, 3, 9, ATTNROLL_F32);
}

/* Temporal query rows: out [k,T] = rows of the full [T,T]. */
static void test_query_temporal_random(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 31);
    enum { TL = 6, T = 15 };
    const int64_t s4[] = {3, 2, T, T}, s3[] = {4, T, T}, s2[] = {T, T};
    const int ndims[TL] = {4, 3, 2, 4, 2, 3};
    const int64_t *shapes[TL] = {s4, s3, s2, s4, s2, s3};
    double *layers[TL];
    for (int l = 0; l < TL; ++l) {
        int64_t n = tu_numel(ndims[l], shapes[l]);
        layers[l] = tu_peaky_alloc(&rng, n, T, 4.0);
    }
    const int64_t rows[] = {14, 0, 7, 0};
    const int64_t k = 4;
    double full[T * T], want[4 * T], got[4 * T];
    const int64_t of[] = {T, T}, oq[] = {k, T};
    for (int64_t begin = 0; begin < 2; ++begin) {
        assert_int_equal(ref_temporal((const double *const *)layers, ndims, shapes, begin, TL, 2,
                                      1.0, rows, k, want),
                         T);
        attnroll_config *fcfg = tu_config(begin, TU_DEF, -1.0, NULL, 0, TU_DEF);
        attnroll_config *qcfg = tu_config(begin, TU_DEF, -1.0, rows, k, TU_DEF);
        for (int o = 0; o < 2; ++o) {
            int32_t odt = o ? ATTNROLL_F32 : ATTNROLL_F64;
            double tol = o ? TOL_F32 : TOL_F64;
            TU_ASSERT_OK(tu_run_temporal((const double *const *)layers, TL, ndims, shapes,
                                         ATTNROLL_F64, TU_CNULL, 2, fcfg, 2, of, odt, TU_CNULL,
                                         full));
            TU_ASSERT_OK(tu_run_temporal((const double *const *)layers, TL, ndims, shapes,
                                         ATTNROLL_F64, TU_FORTRAN, 2, qcfg, 2, oq, odt,
                                         TU_TRANSPOSED, got));
            TU_ASSERT_CLOSE(got, want, k * T, tol);
            for (int64_t q = 0; q < k; ++q)
                TU_ASSERT_CLOSE(got + q * T, full + rows[q] * T, T, 2 * tol);
            int32_t st = tu_run_temporal((const double *const *)layers, TL, ndims, shapes,
                                         ATTNROLL_F64, TU_CNULL, 2, qcfg, 2, of, odt, TU_CNULL,
                                         full);
            TU_ASSERT_FAILS(st, ATTNROLL_E_SHAPE, "out");
        }
        attnroll_config_destroy(fcfg);
        attnroll_config_destroy(qcfg);
    }
    for (int l = 0; l < TL; ++l) free(layers[l]);
}

/* A row >= N is refused by the computing function (E_ARGUMENT), the output
 * untouched; the same list is fine for a larger N. */
static void test_query_row_out_of_range(void **state)
{
    (void)state;
    const double a[] = {.5, .5, .25, .75};
    const double *layers[] = {a};
    const int64_t shape[] = {1, 2, 2}, o[] = {2, 2}, t2[] = {2, 2};
    const int nd[] = {2};
    const int64_t *shapes[] = {t2};
    const int64_t rows[] = {0, 2};
    attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, -1.0, rows, 2, TU_DEF);
    double got[4];
    TU_ASSERT_FAILS(tu_run_spatial(layers, 1, 3, shape, ATTNROLL_F64, TU_CNULL, cfg, 2, o,
                                   ATTNROLL_F64, TU_CNULL, got),
                    ATTNROLL_E_ARGUMENT, NULL);
    TU_ASSERT_FAILS(tu_run_temporal(layers, 1, nd, shapes, ATTNROLL_F64, TU_CNULL, 0, cfg, 2, o,
                                    ATTNROLL_F64, TU_CNULL, got),
                    ATTNROLL_E_ARGUMENT, NULL);
    attnroll_config_destroy(cfg);
    /* rows {1, 1}: fine -- R[1] twice = [.125,.875] twice */
    const int64_t ok[] = {1, 1};
    cfg = tu_config(TU_DEF, TU_DEF, -1.0, ok, 2, TU_DEF);
    TU_ASSERT_OK(tu_run_spatial(layers, 1, 3, shape, ATTNROLL_F64, TU_CNULL, cfg, 2, o,
                                ATTNROLL_F64, TU_CNULL, got));
    const double want[] = {.125, .875, .125, .875};
    TU_ASSERT_CLOSE(got, want, 4, 1e-15);
    attnroll_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_hand),
        cmocka_unit_test(test_query_spatial_random),
        cmocka_unit_test(test_query_temporal_random),
        cmocka_unit_test(test_query_row_out_of_range),
    };
    return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
