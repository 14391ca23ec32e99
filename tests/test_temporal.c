/*
 * attnroll_select_instance and attnroll_temporal: every instance-selection
 * branch (by hand and against the reference), hand-worked rollouts, layers of
 * different ranks and layouts, layer ranges, random cases.
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

/* Fills a C-ordered array so that each element's value spells its index:
 * value = sum_d idx[d] * 10^(ndim-1-d), e.g. A[1][2][3] = 123. */
static double *index_valued(int ndim, const int64_t *shape)
{
    int64_t n = tu_numel(ndim, shape);
    double *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; ++i) {
        int64_t rem = i;
        double val = 0, place = 1;
        for (int d = ndim - 1; d >= 0; --d) {
            val += (double)(rem % shape[d]) * place;
            rem /= shape[d];
            place *= 10;
        }
        v[i] = val;
    }
    return v;
}

/* Runs attnroll_select_instance for every input dtype (values must be exact in
 * it) and layout (F32 and F64 out) and compares with want (rows x cols). */
static void check_select_tol(const double *vals, int ndim, const int64_t *shape, int64_t id,
                             int64_t rows, int64_t cols, const double *want, int exact_in_half,
                             double tol)
{
    const int32_t in_dtypes[] = {ATTNROLL_F64, ATTNROLL_F32, ATTNROLL_F16, ATTNROLL_BF16};
    const int layouts[] = {TU_CNULL, TU_FORTRAN, TU_NEGATIVE, TU_SLICED, TU_TRANSPOSED};
    const int64_t oshape[2] = {rows, cols};
    double *got = malloc((size_t)(rows * cols) * sizeof *got);
    assert_non_null(got);
    for (size_t d = 0; d < 4; ++d) {
        if (!exact_in_half && (in_dtypes[d] == ATTNROLL_F16 || in_dtypes[d] == ATTNROLL_BF16))
            continue;
        for (size_t lo = 0; lo < sizeof layouts / sizeof layouts[0]; ++lo) {
            tu_tensor *in = tu_from(vals, ndim, shape, in_dtypes[d], layouts[lo]);
            for (int o = 0; o < 2; ++o) {
                tu_tensor *out = tu_new(2, oshape, o ? ATTNROLL_F32 : ATTNROLL_F64,
                                        o ? TU_TRANSPOSED : TU_CNULL);
                tu_fill_sentinel(out);
                TU_ASSERT_OK(attnroll_select_instance(&in->view, id, &out->view));
                assert_true(tu_gaps_untouched(out));
                tu_get(out, got);
                if (tol == 0.0)
                    TU_ASSERT_EQUAL(got, want, rows * cols);
                else
                    TU_ASSERT_CLOSE(got, want, rows * cols, tol);
                tu_free(out);
            }
            tu_free(in);
        }
    }
    free(got);
}

/* Exact comparison: the hand cases average 1, 2 or 4 matrices (exact). */
static void check_select(const double *vals, int ndim, const int64_t *shape, int64_t id,
                         int64_t rows, int64_t cols, const double *want, int exact_in_half)
{
    check_select_tol(vals, ndim, shape, id, rows, cols, want, exact_in_half, 0.0);
}

/* 2-D: A itself. */
static void test_select_2d(void **state)
{
    (void)state;
    const int64_t shape[] = {2, 2};
    const double a[] = {1, 2, 3, 4};
    check_select(a, 2, shape, 0, 2, 2, a, 1);
    check_select(a, 2, shape, 7, 2, 2, a, 1); /* the id does not matter */
}

/* 3-D, square last two: A[i] while shape[0] > i. */
static void test_select_3d_axis0(void **state)
{
    (void)state;
    const int64_t shape[] = {3, 2, 2};
    double *a = index_valued(3, shape); /* A[q][i][j] = 100q + 10i + j */
    const double want1[] = {100, 101, 110, 111};
    check_select(a, 3, shape, 1, 2, 2, want1, 1);
    const double want2[] = {200, 201, 210, 211};
    check_select(a, 3, shape, 2, 2, 2, want2, 1);
    const double want0[] = {0, 1, 10, 11};
    check_select(a, 3, shape, 0, 2, 2, want0, 1);
    free(a);
}

/* 3-D [2,4,4], id 3: shape[0] = 2 is not > 3, shape[1] = 4 is, so A[:, 3, :],
 * a [2,4] matrix: rows q = 0, 1 of A[q][3][j] = 100q + 30 + j. */
static void test_select_3d_axis1(void **state)
{
    (void)state;
    const int64_t shape[] = {2, 4, 4};
    double *a = index_valued(3, shape);
    const double want[] = {30, 31, 32, 33, 130, 131, 132, 133};
    check_select(a, 3, shape, 3, 2, 4, want, 1);
    const double want2[] = {20, 21, 22, 23, 120, 121, 122, 123};
    check_select(a, 3, shape, 2, 2, 4, want2, 1);
    free(a);
}

/* 3-D [2,3,3], id 5: no axis is long enough -> A[0]. */
static void test_select_3d_fallback(void **state)
{
    (void)state;
    const int64_t shape[] = {2, 3, 3};
    double *a = index_valued(3, shape);
    const double want[] = {0, 1, 2, 10, 11, 12, 20, 21, 22};
    check_select(a, 3, shape, 5, 3, 3, want, 1);
    free(a);
}

/* 3-D [3,3,4] (last two differ), id 1: A[0] (NOT A[1]), a [3,4] matrix. */
static void test_select_3d_nonsquare(void **state)
{
    (void)state;
    const int64_t shape[] = {3, 3, 4};
    double *a = index_valued(3, shape);
    const double want[] = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
    check_select(a, 3, shape, 1, 3, 4, want, 1);
    free(a);
}

/* 4-D [3,2,2,2], id 1: axis 0 (3 > 1) indexed with 1, the remaining leading
 * axis (extent 2) averaged: mean(A[1][0], A[1][1]) = 1000 + 50 + 10i + j. */
static void test_select_4d_first_axis(void **state)
{
    (void)state;
    const int64_t shape[] = {3, 2, 2, 2};
    double *a = index_valued(4, shape);
    const double want[] = {1050, 1051, 1060, 1061};
    check_select(a, 4, shape, 1, 2, 2, want, 0);
    /* id 0: mean(A[0][0], A[0][1]) = 50 + 10i + j */
    const double want0[] = {50, 51, 60, 61};
    check_select(a, 4, shape, 0, 2, 2, want0, 0);
    free(a);
}

/* 4-D [1,4,2,2], id 2: axis 0 (1) is not > 2, axis 1 (4) is: A[0][2]. */
static void test_select_4d_second_axis(void **state)
{
    (void)state;
    const int64_t shape[] = {1, 4, 2, 2};
    double *a = index_valued(4, shape);
    const double want[] = {200, 201, 210, 211};
    check_select(a, 4, shape, 2, 2, 2, want, 1);
    free(a);
}

/* 4-D [2,2,2,2], id 7: no leading axis > 7 -> the first slice A[0][0]
 * (no averaging). */
static void test_select_4d_fallback(void **state)
{
    (void)state;
    const int64_t shape[] = {2, 2, 2, 2};
    double *a = index_valued(4, shape);
    const double want[] = {0, 1, 10, 11};
    check_select(a, 4, shape, 7, 2, 2, want, 1);
    free(a);
}

/* 5-D [2,3,2,2,2], id 2: axis 0 (2) not > 2, axis 1 (3) is -> b = 2; axes 0
 * and 2 averaged: mean over a,c of 10000a + 1000*2 + 100c + 10i + j
 *   = 5000 + 2000 + 50 + 10i + j.
 * 5-D [3,2,2,2,2], id 1: axis 0 -> a = 1, average over b, c:
 *   10000 + 500 + 50 + 10i + j.
 * 5-D [2,2,2,2,2], id 4: fallback A[0][0][0]. */
static void test_select_5d(void **state)
{
    (void)state;
    const int64_t s1[] = {2, 3, 2, 2, 2};
    double *a = index_valued(5, s1);
    const double want1[] = {7050, 7051, 7060, 7061};
    check_select(a, 5, s1, 2, 2, 2, want1, 0);
    free(a);
    const int64_t s2[] = {3, 2, 2, 2, 2};
    a = index_valued(5, s2);
    const double want2[] = {10550, 10551, 10560, 10561};
    check_select(a, 5, s2, 1, 2, 2, want2, 0);
    free(a);
    const int64_t s3[] = {2, 2, 2, 2, 2};
    a = index_valued(5, s3);
    const double want3[] = {0, 1, 10, 11};
    check_select(a, 5, s3, 4, 2, 2, want3, 1);
    free(a);
}

/* Random arrays of many ranks/shapes/ids: select_instance == the reference. */
static void test_select_random(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 2024);
    for (int it = 0; it < 60; ++it) {
        int ndim = (int)tu_randint(&rng, 2, 6);
        int64_t shape[6];
        int64_t t = tu_randint(&rng, 1, 6);
        for (int d = 0; d < ndim - 2; ++d) shape[d] = tu_randint(&rng, 1, 4);
        shape[ndim - 2] = t;
        shape[ndim - 1] = (it % 7 == 3) ? t + 1 : t; /* sometimes not square */
        int64_t id = tu_randint(&rng, 0, 5);
        int64_t n = tu_numel(ndim, shape);
        double *a = malloc((size_t)n * sizeof *a);
        assert_non_null(a);
        for (int64_t i = 0; i < n; ++i) a[i] = tu_uniform(&rng);
        int64_t rows, cols;
        ref_select_shape(ndim, shape, id, &rows, &cols);
        double *want = malloc((size_t)(rows * cols) * sizeof *want);
        double *got = malloc((size_t)(rows * cols) * sizeof *got);
        assert_non_null(want);
        assert_non_null(got);
        ref_select(a, ndim, shape, id, want);
        const int layout = (int)tu_randint(&rng, 0, TU_NUM_LAYOUTS - 1);
        const int safe = (layout == TU_BCAST0 || layout == TU_BCAST1) ? TU_FORTRAN : layout;
        tu_tensor *in = tu_from(a, ndim, shape, ATTNROLL_F64, safe);
        const int64_t oshape[2] = {rows, cols};
        tu_tensor *out = tu_new(2, oshape, ATTNROLL_F64, TU_CNULL);
        TU_ASSERT_OK(attnroll_select_instance(&in->view, id, &out->view));
        tu_get(out, got);
        TU_ASSERT_CLOSE(got, want, rows * cols, 1e-15);
        tu_free(in);
        tu_free(out);
        free(a);
        free(want);
        free(got);
    }
}

/* ---- temporal rollout ---------------------------------------------------- */

/* Runs a temporal case for F64 and F32 outputs and several input dtypes. */
static void check_temporal_hand(const double *const *layers, int32_t L, const int *ndims,
                                const int64_t *const *shapes, int64_t id,
                                const attnroll_config *cfg, int64_t rows, int64_t t,
                                const double *want)
{
    const int64_t oshape[2] = {rows, t};
    double *got = malloc((size_t)(rows * t) * sizeof *got);
    assert_non_null(got);
    const int32_t in_dtypes[] = {ATTNROLL_F64, ATTNROLL_F32, ATTNROLL_F16, ATTNROLL_BF16};
    for (size_t d = 0; d < 4; ++d) {
        TU_ASSERT_OK(tu_run_temporal(layers, L, ndims, shapes, in_dtypes[d], TU_CNULL, id, cfg, 2,
                                     oshape, ATTNROLL_F64, TU_CNULL, got));
        TU_ASSERT_CLOSE(got, want, rows * t, 1e-15);
        TU_ASSERT_OK(tu_run_temporal(layers, L, ndims, shapes, in_dtypes[d], TU_NEGATIVE, id, cfg,
                                     2, oshape, ATTNROLL_F32, TU_FORTRAN, got));
        TU_ASSERT_CLOSE(got, want, rows * t, 1e-7);
    }
    free(got);
}

/* 2-D layers, T = 2 and T = 3 (same numbers as the spatial hand cases: the
 * temporal product is also T_{e-1} @ ... @ T_b).
 *   T0 from [[.5,.5],[.25,.75]] = [[.75,.25],[.125,.875]]
 *   T1 from [[0,1],[1,0]]       = [[.5,.5],[.5,.5]]
 *   rollout = T1 @ T0: rows .5*[.75,.25] + .5*[.125,.875] = [.4375,.5625]      */
static void test_temporal_hand_2d(void **state)
{
    (void)state;
    const double a0[] = {.5, .5, .25, .75}, a1[] = {0, 1, 1, 0};
    const double *layers[] = {a0, a1};
    const int ndims[] = {2, 2};
    const int64_t s[] = {2, 2};
    const int64_t *shapes[] = {s, s};
    const double want1[] = {.75, .25, .125, .875};
    check_temporal_hand(layers, 1, ndims, shapes, 0, NULL, 2, 2, want1);
    const double want2[] = {.4375, .5625, .4375, .5625};
    check_temporal_hand(layers, 2, ndims, shapes, 3, NULL, 2, 2, want2);

    /* 3x3, three layers (see test_spatial.c for the working):
     *   T0 = [[1,0,0],[0,.5,.5],[.25,.25,.5]], T1 = [[.5,.5,0],[0,.5,.5],[.5,0,.5]],
     *   T2 = [[.5,0,.5],[.5,.5,0],[0,.5,.5]]
     *   T2 @ T1 @ T0 = [[.5625,.1875,.25],[.3125,.3125,.375],[.375,.25,.375]]
     *   begin = 1:  T2 @ T1 = [[.5,.25,.25],[.25,.5,.25],[.25,.25,.5]]             */
    const double b0[] = {1, 0, 0, 0, 0, 1, .5, .5, 0};
    const double b1[] = {0, 1, 0, 0, 0, 1, 1, 0, 0};
    const double b2[] = {0, 0, 1, 1, 0, 0, 0, 1, 0};
    const double *l3[] = {b0, b1, b2};
    const int nd3[] = {2, 2, 2};
    const int64_t s3[] = {3, 3};
    const int64_t *sh3[] = {s3, s3, s3};
    const double r012[] = {.5625, .1875, .25, .3125, .3125, .375, .375, .25, .375};
    check_temporal_hand(l3, 3, nd3, sh3, 0, NULL, 3, 3, r012);
    const double r12[] = {.5, .25, .25, .25, .5, .25, .25, .25, .5};
    attnroll_config *cfg = tu_config(1, TU_DEF, -1.0, NULL, 0, TU_DEF);
    check_temporal_hand(l3, 3, nd3, sh3, 0, cfg, 3, 3, r12);
    attnroll_config_destroy(cfg);
    /* query rows {2, 0}: rows 2 and 0 of the full rollout */
    const int64_t q[] = {2, 0};
    cfg = tu_config(TU_DEF, TU_DEF, -1.0, q, 2, TU_DEF);
    const double rq[] = {.375, .25, .375, .5625, .1875, .25};
    check_temporal_hand(l3, 3, nd3, sh3, 0, cfg, 2, 3, rq);
    attnroll_config_destroy(cfg);
    /* residual 0: the raw product B1 @ B0 (both already row-stochastic):
     *   B1 @ B0 = rows of B0 permuted: [B0[1], B0[2], B0[0]]
     *           = [[0,0,1],[.5,.5,0],[1,0,0]] */
    cfg = tu_config(TU_DEF, 2, 0.0, NULL, 0, TU_DEF);
    const double raw[] = {0, 0, 1, .5, .5, 0, 1, 0, 0};
    check_temporal_hand(l3, 3, nd3, sh3, 0, cfg, 3, 3, raw);
    attnroll_config_destroy(cfg);
}

/* Layers of different ranks in one rollout, instance 1, T = 2:
 *   layer 0: 4-D [2,3,2,2]; A[1] holds I, [[0,1],[1,0]], [[.5,.5],[.5,.5]]
 *            (A[0] is junk): mean = [[.5,.5],[.5,.5]] -> T0 = [[.75,.25],[.25,.75]]
 *   layer 1: 2-D [[.5,.5],[.25,.75]] -> T1 = [[.75,.25],[.125,.875]]
 *   layer 2: 3-D [3,2,2]; A[1] = [[0,1],[.5,.5]] -> +I = [[1,1],[.5,1.5]]
 *            -> T2 = [[.5,.5],[.25,.75]]
 *   T1 @ T0 = [[.75*.75+.25*.25, .75*.25+.25*.75], [.125*.75+.875*.25, .125*.25+.875*.75]]
 *           = [[.625,.375],[.3125,.6875]]
 *   T2 @ (T1 @ T0) = [[.5*.625+.5*.3125, .5*.375+.5*.6875],
 *                     [.25*.625+.75*.3125, .25*.375+.75*.6875]]
 *                  = [[.46875,.53125],[.390625,.609375]]                          */
static void test_temporal_hand_mixed_ranks(void **state)
{
    (void)state;
    const double l0[] = {9, 9, 9, 9, 8, 8, 8, 8, 7, 7, 7, 7,             /* A[0]: junk */
                         1, 0, 0, 1, 0, 1, 1, 0, .5, .5, .5, .5};        /* A[1] */
    const double l1[] = {.5, .5, .25, .75};
    const double l2[] = {6, 6, 6, 6, 0, 1, .5, .5, 5, 5, 5, 5};
    const double *layers[] = {l0, l1, l2};
    const int ndims[] = {4, 2, 3};
    const int64_t s0[] = {2, 3, 2, 2}, s1[] = {2, 2}, s2[] = {3, 2, 2};
    const int64_t *shapes[] = {s0, s1, s2};
    const double want[] = {.46875, .53125, .390625, .609375};
    check_temporal_hand(layers, 3, ndims, shapes, 1, NULL, 2, 2, want);
    /* and the reference agrees */
    double ref[4];
    assert_int_equal(ref_temporal(layers, ndims, shapes, 0, 3, 1, 1.0, NULL, 0, ref), 2);
    TU_ASSERT_CLOSE(ref, want, 4, 1e-15);
}

/* Every selection branch through attnroll_temporal (one layer, random data,
 * against the reference), and the branches that select a non-square matrix
 * give ATTNROLL_E_SHAPE naming the layer. */
static void test_temporal_branches(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 77);
    struct {
        int ndim;
        int64_t shape[5];
        int64_t id;
        int ok;
    } cases[] = {
        {2, {5, 5}, 3, 1},             /* 2-D */
        {3, {4, 5, 5}, 2, 1},          /* 3-D axis 0 */
        {3, {2, 5, 5}, 3, 0},          /* 3-D axis 1: A[:,3,:] is [2,5] -> shape error */
        {3, {2, 5, 5}, 9, 1},          /* 3-D fallback A[0] */
        {3, {4, 5, 6}, 1, 0},          /* 3-D non-square: A[0] is [5,6] -> shape error */
        {4, {3, 4, 5, 5}, 2, 1},       /* 4-D axis 0, axis 1 averaged */
        {4, {1, 4, 5, 5}, 2, 1},       /* 4-D axis 1 */
        {4, {2, 2, 5, 5}, 6, 1},       /* 4-D fallback first slice */
        {5, {2, 3, 2, 5, 5}, 2, 1},    /* 5-D axis 1, axes 0 and 2 averaged */
        {4, {3, 2, 5, 6}, 0, 0},       /* 4-D non-square */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        int64_t n = tu_numel(cases[c].ndim, cases[c].shape);
        double *a = tu_peaky_alloc(&rng, n, cases[c].shape[cases[c].ndim - 1], 4.0);
        const double *layers[1] = {a};
        const int64_t *shapes[1] = {cases[c].shape};
        double want[25], got[36];
        int64_t t = ref_temporal(layers, &cases[c].ndim, shapes, 0, 1, cases[c].id, 1.0, NULL, 0,
                                 want);
        const int64_t t5[2] = {5, 5};
        if (cases[c].ok) {
            assert_int_equal(t, 5);
            for (int o = 0; o < 2; ++o) {
                TU_ASSERT_OK(tu_run_temporal(layers, 1, &cases[c].ndim, shapes, ATTNROLL_F64,
                                             o ? TU_FORTRAN : TU_CNULL, cases[c].id, NULL, 2, t5,
                                             o ? ATTNROLL_F32 : ATTNROLL_F64, TU_CNULL, got));
                TU_ASSERT_CLOSE(got, want, 25, o ? TOL_F32 : TOL_F64);
            }
        } else {
            assert_int_equal(t, -1);
            /* whatever output shape is offered, a non-square selection is refused */
            int64_t rows, cols;
            ref_select_shape(cases[c].ndim, cases[c].shape, cases[c].id, &rows, &cols);
            const int64_t sel[2] = {rows, cols};
            int32_t st = tu_run_temporal(layers, 1, &cases[c].ndim, shapes, ATTNROLL_F64,
                                         TU_CNULL, cases[c].id, NULL, 2, t5, ATTNROLL_F64,
                                         TU_CNULL, got);
            TU_ASSERT_FAILS(st, ATTNROLL_E_SHAPE, "layers[0]");
            st = tu_run_temporal(layers, 1, &cases[c].ndim, shapes, ATTNROLL_F64, TU_CNULL,
                                 cases[c].id, NULL, 2, sel, ATTNROLL_F64, TU_CNULL, got);
            TU_ASSERT_FAILS(st, ATTNROLL_E_SHAPE, "layers[0]");
        }
        free(a);
    }
}

/* Random multi-layer temporal rollouts with mixed ranks, layouts, dtypes,
 * ranges and query rows, against the reference. */
static void test_temporal_random(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 8080);
    const int32_t dtypes[] = {ATTNROLL_F32, ATTNROLL_F64, ATTNROLL_F16, ATTNROLL_BF16};
    for (int it = 0; it < 20; ++it) {
        const int32_t L = (int32_t)tu_randint(&rng, 1, 7);
        const int64_t t = tu_randint(&rng, 1, 40);
        const int64_t id = tu_randint(&rng, 0, 4);
        double *layers[7];
        int ndims[7];
        int64_t shapes[7][5];
        const int64_t *shp[7];
        for (int32_t l = 0; l < L; ++l) {
            ndims[l] = (int)tu_randint(&rng, 2, 5);
            for (int d = 0; d < ndims[l] - 2; ++d) shapes[l][d] = tu_randint(&rng, 1, 3);
            /* 3-D arrays must not hit the (non-square) axis-1 branch */
            if (ndims[l] == 3 && shapes[l][0] <= id) shapes[l][0] = id + 1;
            shapes[l][ndims[l] - 2] = t;
            shapes[l][ndims[l] - 1] = t;
            shp[l] = shapes[l];
            int64_t n = tu_numel(ndims[l], shapes[l]);
            layers[l] = tu_peaky_alloc(&rng, n, t, 3.0 + 3.0 * tu_uniform(&rng));
            tu_quantize(layers[l], n, dtypes[it % 4]);
        }
        int64_t b = tu_randint(&rng, 0, L - 1);
        int64_t e = tu_randint(&rng, b + 1, L);
        int64_t rows[4];
        int64_t k = (it % 3 == 0) ? tu_randint(&rng, 1, 4) : 0;
        for (int64_t q = 0; q < k; ++q) rows[q] = tu_randint(&rng, 0, t - 1);
        double r = (it % 5 == 4) ? 0.5 : 1.0;
        int64_t orow = k ? k : t;
        double *want = malloc((size_t)(orow * t) * sizeof *want);
        double *got = malloc((size_t)(orow * t) * sizeof *got);
        assert_non_null(want);
        assert_non_null(got);
        assert_int_equal(ref_temporal((const double *const *)layers, ndims, shp, b, e, id, r,
                                      k ? rows : NULL, k, want),
                         t);
        attnroll_config *cfg = tu_config(b, e, r, rows, k, TU_DEF);
        const int64_t oshape[2] = {orow, t};
        const int layout = (int)tu_randint(&rng, 0, 5); /* no broadcast layouts */
        TU_ASSERT_OK(tu_run_temporal((const double *const *)layers, L, ndims, shp, dtypes[it % 4],
                                     layout, id, cfg, 2, oshape, ATTNROLL_F64, TU_CNULL, got));
        TU_ASSERT_CLOSE(got, want, orow * t, TOL_F64);
        TU_ASSERT_OK(tu_run_temporal((const double *const *)layers, L, ndims, shp, dtypes[it % 4],
                                     layout, id, cfg, 2, oshape, ATTNROLL_F32, TU_NEGATIVE, got));
        TU_ASSERT_CLOSE(got, want, orow * t, TOL_F32);
        if (k == 0 && r > 0) TU_ASSERT_ROW_SUMS_ONE(got, t, t, 1e-5);
        attnroll_config_destroy(cfg);
        for (int32_t l = 0; l < L; ++l) free(layers[l]);
        free(want);
        free(got);
    }
}

/* A layer in the range whose selection is not square is a shape error naming
 * that layer (here layers[0], with and without layers after it). */
static void test_temporal_nonsquare_in_range(void **state)
{
    (void)state;
    const double bad[] = {1, 2, 3, 4, 5, 6};     /* [2,3] */
    const double a1[] = {.5, .5, .25, .75};
    const double *layers[] = {bad, a1};
    const int ndims[] = {2, 2};
    const int64_t s0[] = {2, 3}, s1[] = {2, 2};
    const int64_t *shapes[] = {s0, s1};
    const int64_t o[] = {2, 2}, o23[] = {2, 3};
    double got[6];
    int32_t st = tu_run_temporal(layers, 2, ndims, shapes, ATTNROLL_F64, TU_CNULL, 0, NULL, 2, o,
                                 ATTNROLL_F64, TU_CNULL, got);
    TU_ASSERT_FAILS(st, ATTNROLL_E_SHAPE, "layers[0]");
    st = tu_run_temporal(layers, 1, ndims, shapes, ATTNROLL_F64, TU_CNULL, 0, NULL, 2, o23,
                         ATTNROLL_F64, TU_CNULL, got);
    TU_ASSERT_FAILS(st, ATTNROLL_E_SHAPE, "layers[0]");
    /* the good layer alone (begin = 1 in a range that excludes nothing bad is
     * not asked here: whether layers outside the range are validated is not
     * specified) */
    const double want[] = {.75, .25, .125, .875};
    st = tu_run_temporal(layers + 1, 1, ndims + 1, shapes + 1, ATTNROLL_F64, TU_CNULL, 0, NULL, 2,
                         o, ATTNROLL_F64, TU_CNULL, got);
    TU_ASSERT_OK(st);
    TU_ASSERT_CLOSE(got, want, 4, 1e-15);
}

/* High ranks (up to ATTNROLL_MAX_NDIM) and huge instance ids. */
static void test_select_high_rank(void **state)
{
    (void)state;
    /* rank 16: extents 1 except axis 5 (2), axis 9 (3) and the last two (2x2).
     * id 1: axis 5 is the first leading axis with extent > 1 -> index 1 there,
     * axis 9 (and the extent-1 axes) averaged:
     *   mean over c in 0..2 of A[..1 (axis5)..c (axis9)..][i][j]. */
    int64_t shape[16];
    for (int d = 0; d < 16; ++d) shape[d] = 1;
    shape[5] = 2;
    shape[9] = 3;
    shape[14] = 2;
    shape[15] = 2;
    const int64_t n = tu_numel(16, shape); /* 48 */
    double a[48];
    for (int64_t i = 0; i < n; ++i) a[i] = (double)i; /* C order: i = ((b*3 + c)*2 + r)*2 + s */
    /* b = 1: elements 12*1 + 4c + 2r + s; mean over c = 12 + 4 + 2r + s */
    const double want[] = {16, 17, 18, 19};
    check_select_tol(a, 16, shape, 1, 2, 2, want, 1, 1e-5); /* a mean of 3 */
    double ref[4];
    ref_select(a, 16, shape, 1, ref);
    TU_ASSERT_CLOSE(ref, want, 4, 1e-13);
    /* id 0 on the same array: axis 0 (extent 1 > 0) is indexed, everything
     * else averaged: mean over b, c = 6 + 4 + 2r + s */
    const double want0[] = {10, 11, 12, 13};
    check_select_tol(a, 16, shape, 0, 2, 2, want0, 1, 1e-5); /* a mean of 6 */
    /* a huge id: no axis is long enough -> the first slice */
    const double first[] = {0, 1, 2, 3};
    check_select(a, 16, shape, INT64_MAX, 2, 2, first, 1);
    const int64_t s3[] = {2, 2, 2};
    check_select(a, 3, s3, INT64_MAX, 2, 2, first, 1);
    /* rank 17 is refused */
    int64_t s17[17];
    for (int d = 0; d < 17; ++d) s17[d] = 1;
    s17[15] = s17[16] = 2;
    attnroll_tensor t = {a, ATTNROLL_F64, 17, s17, NULL};
    double outbuf[4];
    const int64_t o[] = {2, 2};
    attnroll_tensor out = {outbuf, ATTNROLL_F64, 2, o, NULL};
    TU_ASSERT_FAILS(attnroll_select_instance(&t, 0, &out), ATTNROLL_E_SHAPE, "attn");
}

/* Selected matrices of different T: shape error naming the second layer. */
static void test_temporal_t_mismatch(void **state)
{
    (void)state;
    const double a0[] = {1, 0, 0, 1};
    const double a1[] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    const double *layers[] = {a0, a1};
    const int ndims[] = {2, 2};
    const int64_t s0[] = {2, 2}, s1[] = {3, 3};
    const int64_t *shapes[] = {s0, s1};
    const int64_t o[] = {2, 2};
    double got[4];
    int32_t st = tu_run_temporal(layers, 2, ndims, shapes, ATTNROLL_F64, TU_CNULL, 0, NULL, 2, o,
                                 ATTNROLL_F64, TU_CNULL, got);
    TU_ASSERT_FAILS(st, ATTNROLL_E_SHAPE, "layers[1]");
}

/* attnroll_select_shape reports what each branch selects, without data. */
static void test_select_shape(void **state)
{
    (void)state;
    static float data[2 * 3 * 4 * 5];
    struct { int ndim; int64_t shape[4]; int64_t instance, rows, cols; } cases[] = {
        {2, {3, 4}, 7, 3, 4},          /* rank 2: itself                         */
        {3, {2, 3, 3}, 1, 3, 3},       /* A[1]                                   */
        {3, {2, 3, 3}, 2, 2, 3},       /* A[:, 2, :] is [2,3]                     */
        {3, {2, 3, 3}, 5, 3, 3},       /* A[0]                                   */
        {3, {2, 3, 4}, 0, 3, 4},       /* last two differ: A[0]                  */
        {4, {2, 3, 4, 5}, 2, 4, 5},    /* rank 4: last two dims                  */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        attnroll_tensor t = {data, ATTNROLL_F32, cases[c].ndim, cases[c].shape, NULL};
        int64_t rows = -1, cols = -1;
        assert_int_equal(attnroll_select_shape(&t, cases[c].instance, &rows, &cols), ATTNROLL_OK);
        assert_int_equal(rows, cases[c].rows);
        assert_int_equal(cols, cases[c].cols);
    }
    attnroll_tensor t = {data, ATTNROLL_F32, 2, cases[0].shape, NULL};
    int64_t rows = -1, cols = -1;
    assert_int_equal(attnroll_select_shape(&t, -1, &rows, &cols), ATTNROLL_E_ARGUMENT);
    assert_non_null(strstr(attnroll_last_error(), "instance"));
    assert_int_equal(rows, -1);
    assert_int_equal(attnroll_select_shape(&t, 0, NULL, &cols), ATTNROLL_E_ARGUMENT);
    assert_non_null(strstr(attnroll_last_error(), "rows"));
    t.ndim = 1;
    assert_int_equal(attnroll_select_shape(&t, 0, &rows, &cols), ATTNROLL_E_SHAPE);
    assert_non_null(strstr(attnroll_last_error(), "attn"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_2d),
        cmocka_unit_test(test_select_3d_axis0),
        cmocka_unit_test(test_select_3d_axis1),
        cmocka_unit_test(test_select_3d_fallback),
        cmocka_unit_test(test_select_3d_nonsquare),
        cmocka_unit_test(test_select_4d_first_axis),
        cmocka_unit_test(test_select_4d_second_axis),
        cmocka_unit_test(test_select_4d_fallback),
        cmocka_unit_test(test_select_5d),
        cmocka_unit_test(test_select_random),
        cmocka_unit_test(test_temporal_hand_2d),
        cmocka_unit_test(test_temporal_hand_mixed_ranks),
        cmocka_unit_test(test_temporal_branches),
        cmocka_unit_test(test_temporal_random),
        cmocka_unit_test(test_temporal_nonsquare_in_range),
        cmocka_unit_test(test_select_high_rank),
        cmocka_unit_test(test_temporal_t_mismatch),
        cmocka_unit_test(test_select_shape),
    };
    return cmocka_run_group_tests_name("temporal", tests, NULL, NULL);
}
