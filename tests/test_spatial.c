/*
 * attnroll_spatial: hand-worked tiny cases, [H,N,N] vs [F,H,N,N], random cases
 * against the double-precision reference, the row-sum invariant, layer ranges
 * and the residual weight.
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

/* Runs one hand case (layers stored back to back in `vals`, each of the given
 * rank/shape, exactly representable in F16) for every input dtype and both
 * output dtypes, and compares with `want` (worked out by hand). */
static void check_hand(const double *vals, int32_t num_layers, int ndim, const int64_t *shape,
                       const attnroll_config *cfg, int out_ndim, const int64_t *out_shape,
                       const double *want)
{
    int64_t per = tu_numel(ndim, shape);
    int64_t nout = tu_numel(out_ndim, out_shape);
    const double **layers = malloc((size_t)num_layers * sizeof *layers);
    double *got = malloc((size_t)nout * sizeof *got);
    assert_non_null(layers);
    assert_non_null(got);
    for (int32_t l = 0; l < num_layers; ++l) layers[l] = vals + l * per;
    const int32_t in_dtypes[] = {ATTNROLL_F64, ATTNROLL_F32, ATTNROLL_F16, ATTNROLL_BF16};
    for (size_t d = 0; d < 4; ++d) {
        TU_ASSERT_OK(tu_run_spatial(layers, num_layers, ndim, shape, in_dtypes[d], TU_CNULL, cfg,
                                    out_ndim, out_shape, ATTNROLL_F64, TU_CNULL, got));
        TU_ASSERT_CLOSE(got, want, nout, 1e-15);
        TU_ASSERT_OK(tu_run_spatial(layers, num_layers, ndim, shape, in_dtypes[d], TU_CNULL, cfg,
                                    out_ndim, out_shape, ATTNROLL_F32, TU_CNULL, got));
        TU_ASSERT_CLOSE(got, want, nout, 1e-7);
    }
    free(got);
    free(layers);
}

/* One layer, one head, N = 2.
 *   A     = [[0.5 , 0.5 ], [0.25, 0.75]]
 *   A + I = [[1.5 , 0.5 ], [0.25, 1.75]]   row sums 2, 2
 *   R     = [[0.75, 0.25], [0.125, 0.875]]                                   */
static void test_hand_one_layer(void **state)
{
    (void)state;
    const double a[] = {0.5, 0.5, 0.25, 0.75};
    const double want[] = {0.75, 0.25, 0.125, 0.875};
    const int64_t shape3[] = {1, 2, 2}, out2[] = {2, 2};
    check_hand(a, 1, 3, shape3, NULL, 2, out2, want);
    const int64_t shape4[] = {1, 1, 2, 2}, out3[] = {1, 2, 2};
    check_hand(a, 1, 4, shape4, NULL, 3, out3, want);
}

/* Two layers, one head, N = 2: the order of the product matters.
 *   Abar0 = normalize([[1.5,0.5],[0.25,1.75]]) = [[0.75,0.25],[0.125,0.875]]
 *   A1 = [[0,1],[1,0]]: A1 + I = [[1,1],[1,1]] -> Abar1 = [[0.5,0.5],[0.5,0.5]]
 *   R = Abar1 @ Abar0: each row = 0.5*[0.75,0.25] + 0.5*[0.125,0.875]
 *                                = [0.4375, 0.5625]
 *   (the wrong order Abar0 @ Abar1 would give all 0.5)                        */
static void test_hand_two_layers(void **state)
{
    (void)state;
    const double a[] = {0.5, 0.5, 0.25, 0.75, /* layer 0 */
                        0, 1, 1, 0};          /* layer 1 */
    const double want[] = {0.4375, 0.5625, 0.4375, 0.5625};
    const int64_t shape[] = {1, 2, 2}, out[] = {2, 2};
    check_hand(a, 2, 3, shape, NULL, 2, out, want);
}

/* Two heads averaged, N = 2.
 *   head0 = I, head1 = [[0,1],[1,0]]: mean = [[0.5,0.5],[0.5,0.5]]
 *   + I = [[1.5,0.5],[0.5,1.5]], row sums 2 -> R = [[0.75,0.25],[0.25,0.75]]   */
static void test_hand_two_heads(void **state)
{
    (void)state;
    const double a[] = {1, 0, 0, 1, 0, 1, 1, 0};
    const double want[] = {0.75, 0.25, 0.25, 0.75};
    const int64_t shape3[] = {2, 2, 2}, out2[] = {2, 2};
    check_hand(a, 1, 3, shape3, NULL, 2, out2, want);
    const int64_t shape4[] = {1, 2, 2, 2}, out3[] = {1, 2, 2};
    check_hand(a, 1, 4, shape4, NULL, 3, out3, want);
}

/* Two frames are independent: frame 0 is the one-layer case above, frame 1 the
 * two-heads case; layer 1 is I for both frames (I + I = 2I -> Abar1 = I).
 *   frame0: [[0.75,0.25],[0.125,0.875]] (head 1 of frame 0 is equal to head 0)
 *   frame1: [[0.75,0.25],[0.25,0.75]]                                         */
static void test_hand_two_frames(void **state)
{
    (void)state;
    const double a[] = {/* layer 0 [F=2,H=2,2,2] */
                        0.5, 0.5, 0.25, 0.75, 0.5, 0.5, 0.25, 0.75, /* frame 0 */
                        1, 0, 0, 1, 0, 1, 1, 0,                     /* frame 1 */
                        /* layer 1 */
                        1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1};
    const double want[] = {0.75, 0.25, 0.125, 0.875, 0.75, 0.25, 0.25, 0.75};
    const int64_t shape[] = {2, 2, 2, 2}, out[] = {2, 2, 2};
    check_hand(a, 2, 4, shape, NULL, 3, out, want);
}

/* Three 3x3 layers, checked over every layer range:
 *   A0 = [[1,0,0],[0,0,1],[.5,.5,0]] -> +I = [[2,0,0],[0,1,1],[.5,.5,1]], sums 2
 *        Abar0 = [[1,0,0],[0,.5,.5],[.25,.25,.5]]
 *   A1 = cyclic shift [[0,1,0],[0,0,1],[1,0,0]] -> Abar1 = [[.5,.5,0],[0,.5,.5],[.5,0,.5]]
 *   A2 = the other shift [[0,0,1],[1,0,0],[0,1,0]] -> Abar2 = [[.5,0,.5],[.5,.5,0],[0,.5,.5]]
 *   Abar1 @ Abar0: row0 = .5*[1,0,0] + .5*[0,.5,.5]        = [.5,.25,.25]
 *                  row1 = .5*[0,.5,.5] + .5*[.25,.25,.5]   = [.125,.375,.5]
 *                  row2 = .5*[1,0,0] + .5*[.25,.25,.5]     = [.625,.125,.25]
 *   Abar2 @ Abar1 @ Abar0: row0 = .5*row0 + .5*row2 = [.5625,.1875,.25]
 *                          row1 = .5*row0 + .5*row1 = [.3125,.3125,.375]
 *                          row2 = .5*row1 + .5*row2 = [.375,.25,.375]
 *   Abar2 @ Abar1 ("without layer 0"): row0 = .5*[.5,.5,0] + .5*[.5,0,.5] = [.5,.25,.25]
 *                          row1 = .5*[.5,.5,0] + .5*[0,.5,.5]  = [.25,.5,.25]
 *                          row2 = .5*[0,.5,.5] + .5*[.5,0,.5]  = [.25,.25,.5]          */
static const double hand3_layers[] = {1, 0, 0, 0, 0, 1, 0.5, 0.5, 0, /* A0 */
                                      0, 1, 0, 0, 0, 1, 1, 0, 0,     /* A1 */
                                      0, 0, 1, 1, 0, 0, 0, 1, 0};    /* A2 */
static const double hand3_abar0[] = {1, 0, 0, 0, .5, .5, .25, .25, .5};
static const double hand3_abar1[] = {.5, .5, 0, 0, .5, .5, .5, 0, .5};
static const double hand3_abar2[] = {.5, 0, .5, .5, .5, 0, 0, .5, .5};
static const double hand3_r01[] = {.5, .25, .25, .125, .375, .5, .625, .125, .25};
static const double hand3_r012[] = {.5625, .1875, .25, .3125, .3125, .375, .375, .25, .375};
static const double hand3_r12[] = {.5, .25, .25, .25, .5, .25, .25, .25, .5};

static void test_hand_3x3_ranges(void **state)
{
    (void)state;
    const int64_t shape[] = {1, 3, 3}, out[] = {3, 3};
    struct {
        int64_t begin, end;
        const double *want;
    } cases[] = {
        {TU_DEF, TU_DEF, hand3_r012}, {0, 3, hand3_r012}, {0, -1, hand3_r012},
        {1, TU_DEF, hand3_r12},       {1, 3, hand3_r12},  {0, 2, hand3_r01},
        {0, 1, hand3_abar0},          {1, 2, hand3_abar1}, {2, 3, hand3_abar2},
        {2, -1, hand3_abar2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        attnroll_config *cfg = tu_config(cases[c].begin, cases[c].end, -1.0, NULL, 0, TU_DEF);
        check_hand(hand3_layers, 3, 3, shape, cfg, 2, out, cases[c].want);
        attnroll_config_destroy(cfg);
    }
}

/* Residual weight r (ATTNROLL_OPT_RESIDUAL).
 *  r = 0, one layer: A = [[2,2],[1,3]] -> rows / 4 = [[.5,.5],[.25,.75]]
 *  r = 0, zero row:  A = [[0,0],[.5,.5]]: row 0 sums to 0 and is divided by 1
 *                    -> [[0,0],[.5,.5]]
 *  r = 0, two layers: A0 = [[0,0],[.25,.75]] (stays), A1 = [[0,1],[.5,.5]] (stays)
 *                    R = A1 @ A0 = [[.25,.75],[.125,.375]]  (row sums 1 and .5)
 *  r = 3: A = [[0,1],[1,0]] + 3I = [[3,1],[1,3]] / 4 = [[.75,.25],[.25,.75]]
 *  r = 1, zero row sum from negative input: A = [[-1,0],[0,0]] + I = [[0,0],[0,1]]
 *                    row 0 sums to 0 -> divided by 1 -> [[0,0],[0,1]]          */
static void test_hand_residual(void **state)
{
    (void)state;
    const int64_t shape[] = {1, 2, 2}, out[] = {2, 2};
    attnroll_config *r0 = tu_config(TU_DEF, TU_DEF, 0.0, NULL, 0, TU_DEF);
    {
        const double a[] = {2, 2, 1, 3}, want[] = {.5, .5, .25, .75};
        check_hand(a, 1, 3, shape, r0, 2, out, want);
    }
    {
        const double a[] = {0, 0, .5, .5}, want[] = {0, 0, .5, .5};
        check_hand(a, 1, 3, shape, r0, 2, out, want);
    }
    {
        const double a[] = {0, 0, .25, .75, 0, 1, .5, .5}, want[] = {.25, .75, .125, .375};
        check_hand(a, 2, 3, shape, r0, 2, out, want);
    }
    attnroll_config_destroy(r0);
    attnroll_config *r3 = tu_config(TU_DEF, TU_DEF, 3.0, NULL, 0, TU_DEF);
    {
        const double a[] = {0, 1, 1, 0}, want[] = {.75, .25, .25, .75};
        check_hand(a, 1, 3, shape, r3, 2, out, want);
    }
    attnroll_config_destroy(r3);
    {
        const double a[] = {-1, 0, 0, 0}, want[] = {0, 0, 0, 1};
        check_hand(a, 1, 3, shape, NULL, 2, out, want);
    }
}

/* N = 1: every Abar is [[1]] (a / a after adding r), so R = [[1]]. */
static void test_hand_one_token(void **state)
{
    (void)state;
    const double a[] = {0.3, 0.9, 0.2, 0.7}; /* 2 layers of [F=2,H=1,1,1] */
    const double want[] = {1, 1};
    const int64_t shape[] = {2, 1, 1, 1}, out[] = {2, 1, 1};
    check_hand(a, 2, 4, shape, NULL, 3, out, want);
}

/* ---- random cases against the reference --------------------------------- */

typedef struct rcase {
    int64_t frames, heads, n;
    int32_t layers;
    int four_d;         /* [F,H,N,N] (1) or [H,N,N] (0, needs F == 1) */
    int64_t begin, end; /* TU_DEF = default */
    double residual;    /* < 0: default */
    int32_t in_dtype;
} rcase;

static void check_random(const rcase *c, uint64_t seed, int row_sum_check)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    int64_t shape4[4] = {c->frames, c->heads, c->n, c->n};
    int ndim = c->four_d ? 4 : 3;
    const int64_t *shape = c->four_d ? shape4 : shape4 + 1;
    int64_t per = tu_numel(ndim, shape);
    double **layers = malloc((size_t)c->layers * sizeof *layers);
    int64_t *heads = malloc((size_t)c->layers * sizeof *heads);
    assert_non_null(layers);
    assert_non_null(heads);
    for (int32_t l = 0; l < c->layers; ++l) {
        layers[l] = tu_peaky_alloc(&rng, per, c->n, 3.0 + 3.0 * tu_uniform(&rng));
        tu_quantize(layers[l], per, c->in_dtype);
        heads[l] = c->heads;
    }
    int64_t b = c->begin == TU_DEF ? 0 : c->begin;
    int64_t e = (c->end == TU_DEF || c->end == -1) ? c->layers : c->end;
    double r = c->residual < 0 ? 1.0 : c->residual;
    int64_t nout = c->frames * c->n * c->n;
    double *want = malloc((size_t)nout * sizeof *want);
    double *got = malloc((size_t)nout * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    ref_spatial((const double *const *)layers, heads, c->layers, c->frames, c->n, b, e, r, NULL,
                0, want);

    attnroll_config *cfg = NULL;
    if (c->begin != TU_DEF || c->end != TU_DEF || c->residual >= 0)
        cfg = tu_config(c->begin, c->end, c->residual, NULL, 0, TU_DEF);
    int64_t out3[3] = {c->frames, c->n, c->n};
    int out_ndim = c->four_d ? 3 : 2;
    const int64_t *out_shape = c->four_d ? out3 : out3 + 1;

    TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, c->layers, ndim, shape,
                                c->in_dtype, TU_CNULL, cfg, out_ndim, out_shape, ATTNROLL_F64,
                                TU_CNULL, got));
    TU_ASSERT_CLOSE(got, want, nout, TOL_F64);
    if (row_sum_check) TU_ASSERT_ROW_SUMS_ONE(got, c->frames * c->n, c->n, 1e-12);

    TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, c->layers, ndim, shape,
                                c->in_dtype, TU_CNULL, cfg, out_ndim, out_shape, ATTNROLL_F32,
                                TU_CNULL, got));
    TU_ASSERT_CLOSE(got, want, nout, TOL_F32);
    if (row_sum_check) TU_ASSERT_ROW_SUMS_ONE(got, c->frames * c->n, c->n, 1e-5);

    attnroll_config_destroy(cfg);
    for (int32_t l = 0; l < c->layers; ++l) free(layers[l]);
    free(layers);
    free(heads);
    free(want);
    free(got);
}

/* The full-size shape of the spec in miniature: 24 layers, N ~ 100. */
static void test_random_large(void **state)
{
    (void)state;
    const int flag = 1;
    rcase a = {2, 4, 97, 24, 1, TU_DEF, TU_DEF, -1.0, ATTNROLL_F32};
    check_random(&a, 11, flag);
    rcase b = {1, 8, 64, 12, 0, TU_DEF, TU_DEF, -1.0, ATTNROLL_F32};
    check_random(&b, 12, flag);
    rcase c = {3, 3, 50, 16, 1, TU_DEF, TU_DEF, -1.0, ATTNROLL_F64};
    check_random(&c, 13, flag);
    rcase d = {3, 6, 100, 24, 1, TU_DEF, TU_DEF, -1.0, ATTNROLL_F16};
    check_random(&d, 14, flag);
}

/* Many small random shapes, every input dtype. */
static void test_random_small(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 99);
    const int32_t dtypes[] = {ATTNROLL_F32, ATTNROLL_F64, ATTNROLL_F16, ATTNROLL_BF16};
    const int flag = 1;
    for (int i = 0; i < 24; ++i) {
        rcase c;
        c.four_d = (int)tu_randint(&rng, 0, 1);
        c.frames = c.four_d ? tu_randint(&rng, 1, 3) : 1;
        c.heads = tu_randint(&rng, 1, 5);
        c.n = tu_randint(&rng, 1, 33);
        c.layers = (int32_t)tu_randint(&rng, 1, 7);
        c.begin = TU_DEF;
        c.end = TU_DEF;
        c.residual = -1.0;
        c.in_dtype = dtypes[i % 4];
        check_random(&c, (uint64_t)(1000 + i), flag);
    }
}

/* Layer ranges on random data: begin = 1 ("without layer 0"), single layers,
 * end = -1, the last layer alone. */
static void test_random_layer_ranges(void **state)
{
    (void)state;
    const int flag = 1;
    const int64_t ranges[][2] = {{1, TU_DEF}, {1, 6}, {0, 1}, {5, 6}, {2, 4},
                                 {3, -1},     {0, 6}, {TU_DEF, 3}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; ++i) {
        rcase c = {2, 3, 24, 6, 1, ranges[i][0], ranges[i][1], -1.0, ATTNROLL_F32};
        check_random(&c, 500 + i, flag);
    }
}

/* Residual weights other than 1 on random data (rows still sum to 1 while
 * r > 0 and the attention is non-negative with positive row sums). */
static void test_random_residual(void **state)
{
    (void)state;
    const int flag = 1;
    const double rs[] = {0.0, 0.5, 2.5, 1e6};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; ++i) {
        rcase c = {2, 2, 20, 5, 1, TU_DEF, TU_DEF, rs[i], ATTNROLL_F64};
        check_random(&c, 700 + i, flag);
    }
    /* r = 0 and begin = 1 together */
    rcase c = {1, 3, 17, 4, 0, 1, TU_DEF, 0.0, ATTNROLL_F32};
    check_random(&c, 777, flag);
}

/* [H,N,N] layers with an [N,N] output give exactly the same numbers as the
 * same data as [1,H,N,N] layers with a [1,N,N] output. */
static void test_3d_equals_4d(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 4242);
    const int64_t n = 31, h = 3;
    const int32_t L = 5;
    double *layers[5];
    for (int32_t l = 0; l < L; ++l) layers[l] = tu_peaky_alloc(&rng, h * n * n, n, 4.0);
    const int64_t s3[] = {h, n, n}, s4[] = {1, h, n, n}, o2[] = {n, n}, o3[] = {1, n, n};
    double *g3 = malloc((size_t)(n * n) * sizeof *g3);
    double *g4 = malloc((size_t)(n * n) * sizeof *g4);
    assert_non_null(g3);
    assert_non_null(g4);
    const int32_t odt[] = {ATTNROLL_F32, ATTNROLL_F64};
    for (int i = 0; i < 2; ++i) {
        TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, L, 3, s3, ATTNROLL_F64,
                                    TU_CNULL, NULL, 2, o2, odt[i], TU_CNULL, g3));
        TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, L, 4, s4, ATTNROLL_F64,
                                    TU_CNULL, NULL, 3, o3, odt[i], TU_CNULL, g4));
        TU_ASSERT_EQUAL(g3, g4, n * n);
    }
    /* and a 3-D input with a 3-D output is a shape error, as is 4-D -> 2-D */
    int32_t st = tu_run_spatial((const double *const *)layers, L, 3, s3, ATTNROLL_F64, TU_CNULL,
                                NULL, 3, o3, ATTNROLL_F64, TU_CNULL, g3);
    assert_int_equal(st, ATTNROLL_E_SHAPE);
    st = tu_run_spatial((const double *const *)layers, L, 4, s4, ATTNROLL_F64, TU_CNULL, NULL, 2,
                        o2, ATTNROLL_F64, TU_CNULL, g3);
    assert_int_equal(st, ATTNROLL_E_SHAPE);
    for (int32_t l = 0; l < L; ++l) free(layers[l]);
    free(g3);
    free(g4);
}

/* Frames are rolled out independently: frame f of a 3-frame call equals the
 * 1-frame call on frame f's data (within the output tolerance). */
static void test_frames_independent(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 31337);
    const int64_t F = 3, H = 2, n = 19;
    const int32_t L = 4;
    double *layers[4], *single[4];
    for (int32_t l = 0; l < L; ++l) layers[l] = tu_peaky_alloc(&rng, F * H * n * n, n, 5.0);
    const int64_t s4[] = {F, H, n, n}, o3[] = {F, n, n}, s3[] = {H, n, n}, o2[] = {n, n};
    double *all = malloc((size_t)(F * n * n) * sizeof *all);
    double *one = malloc((size_t)(n * n) * sizeof *one);
    assert_non_null(all);
    assert_non_null(one);
    TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, L, 4, s4, ATTNROLL_F64, TU_CNULL,
                                NULL, 3, o3, ATTNROLL_F64, TU_CNULL, all));
    for (int64_t f = 0; f < F; ++f) {
        for (int32_t l = 0; l < L; ++l) single[l] = layers[l] + f * H * n * n;
        TU_ASSERT_OK(tu_run_spatial((const double *const *)single, L, 3, s3, ATTNROLL_F64,
                                    TU_CNULL, NULL, 2, o2, ATTNROLL_F64, TU_CNULL, one));
        TU_ASSERT_CLOSE(all + f * n * n, one, n * n, TOL_F64);
    }
    for (int32_t l = 0; l < L; ++l) free(layers[l]);
    free(all);
    free(one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_one_layer),
        cmocka_unit_test(test_hand_two_layers),
        cmocka_unit_test(test_hand_two_heads),
        cmocka_unit_test(test_hand_two_frames),
        cmocka_unit_test(test_hand_3x3_ranges),
        cmocka_unit_test(test_hand_residual),
        cmocka_unit_test(test_hand_one_token),
        cmocka_unit_test(test_random_small),
        cmocka_unit_test(test_random_large),
        cmocka_unit_test(test_random_layer_ranges),
        cmocka_unit_test(test_random_residual),
        cmocka_unit_test(test_3d_equals_4d),
        cmocka_unit_test(test_frames_independent),
    };
    return cmocka_run_group_tests_name("spatial", tests, NULL, NULL);
}
