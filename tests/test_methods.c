/*
 * The method pipeline (attnroll.h, "The pipeline"): token dropping, head
 * fusion (MAX, MIN, ENTROPY, WEIGHTS, GRAD), discard, the Chefer rule and
 * cumulative outputs.  Hand-worked tiny cases first, then every option
 * against the float64 reference (reference.c) over dtypes, layouts, threads,
 * query rows, layer ranges and streaming, then the edge cases and every
 * refusal of the "Bad input" list (output untouched).
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

/* ---- helpers ---- */

static attnroll_config *cfg_new(void)
{
    attnroll_config *c = NULL;
    TU_ASSERT_OK(attnroll_config_create(&c));
    return c;
}

static void seti(attnroll_config *c, int32_t key, int64_t v) { TU_ASSERT_OK(attnroll_config_set_int(c, key, v)); }
static void setf(attnroll_config *c, int32_t key, double v) { TU_ASSERT_OK(attnroll_config_set_float(c, key, v)); }

/* Runs attnroll_spatial(_grad) on C-ordered doubles; on failure checks the
 * output untouched.  grads may be NULL. */
static int32_t run(const double *const *layers, const double *const *grads, int32_t num_layers,
                   int ndim, const int64_t *shape, int32_t in_dtype, int layout,
                   const attnroll_config *cfg, int out_ndim, const int64_t *out_shape,
                   int32_t out_dtype, double *result)
{
    tu_tensor *tl[32], *tg[32];
    attnroll_tensor vl[32], vg[32];
    assert_true(num_layers <= 32);
    for (int32_t l = 0; l < num_layers; ++l) {
        tl[l] = tu_from(layers[l], ndim, shape, in_dtype, layout);
        vl[l] = tl[l]->view;
        if (grads) {
            tg[l] = tu_from(grads[l], ndim, shape, in_dtype == ATTNROLL_F16 ? ATTNROLL_F32 : in_dtype,
                            layout == TU_C ? TU_TRANSPOSED : TU_C);
            vg[l] = tg[l]->view;
        }
    }
    tu_tensor *out = tu_new(out_ndim, out_shape, out_dtype, TU_C);
    tu_fill_sentinel(out);
    int32_t st = grads ? attnroll_spatial_grad(vl, vg, num_layers, cfg, &out->view)
                       : attnroll_spatial(vl, num_layers, cfg, &out->view);
    if (st == ATTNROLL_OK)
        tu_get(out, result);
    else
        TU_ASSERT_UNTOUCHED(out);
    tu_free(out);
    for (int32_t l = 0; l < num_layers; ++l) {
        tu_free(tl[l]);
        if (grads) tu_free(tg[l]);
    }
    return st;
}

/* |got - want| <= tol * max(1, max |want|) everywhere (Chefer products grow). */
static void assert_close_scaled(const double *got, const double *want, int64_t n, double tol)
{
    double scale = 1.0;
    for (int64_t i = 0; i < n; ++i)
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    TU_ASSERT_CLOSE(got, want, n, tol * scale);
}

/* One layer [1,H,n,n] (as [H,n,n]) with the options, F64 out [n',n']. */
static void one_layer(const double *a, const double *g, int64_t heads, int64_t n,
                      const attnroll_config *c, int64_t np, double *got)
{
    const double *layers[1] = {a};
    const double *grads[1] = {g};
    int64_t shape[3] = {heads, n, n}, oshape[2] = {np, np};
    TU_ASSERT_OK(run(layers, g ? grads : NULL, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, oshape,
                     ATTNROLL_F64, got));
}

/* ---- hand-worked cases ---- */

static const double two_heads[8] = {1.0, 0.0, 0.5, 0.5, /* head 0 */
                                    0.2, 0.8, 1.0, 0.0}; /* head 1 */

static void test_max_min_by_hand(void **state)
{
    (void)state;
    double got[4];
    attnroll_config *c = cfg_new();
    /* max: [[1,.8],[1,.5]] + I, rows normalised */
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MAX);
    one_layer(two_heads, NULL, 2, 2, c, 2, got);
    const double want_max[4] = {2.0 / 2.8, 0.8 / 2.8, 0.4, 0.6};
    TU_ASSERT_CLOSE(got, want_max, 4, 1e-15);
    /* min: [[.2,0],[.5,0]] + I -> [[1,0],[1/3,2/3]] */
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MIN);
    one_layer(two_heads, NULL, 2, 2, c, 2, got);
    const double want_min[4] = {1.0, 0.0, 1.0 / 3.0, 2.0 / 3.0};
    TU_ASSERT_CLOSE(got, want_min, 4, 1e-15);
    attnroll_config_destroy(c);
}

static void test_weights_by_hand(void **state)
{
    (void)state;
    double got[4];
    attnroll_config *c = cfg_new();
    /* 2*A0 - A1 = [[1.8,-.8],[0,1]]; + I = [[2.8,-.8],[0,2]]; sums 2, 2 */
    const double w[2] = {2.0, -1.0};
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_WEIGHTS);
    TU_ASSERT_OK(attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, w, 2));
    one_layer(two_heads, NULL, 2, 2, c, 2, got);
    const double want[4] = {1.4, -0.4, 0.0, 1.0};
    TU_ASSERT_CLOSE(got, want, 4, 1e-15);
    double back[4] = {0};
    int64_t count = -1;
    TU_ASSERT_OK(attnroll_config_get_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, back, 4, &count));
    assert_int_equal(count, 2);
    assert_true(back[0] == 2.0 && back[1] == -1.0);
    attnroll_config_destroy(c);
}

static void test_drop_by_hand(void **state)
{
    (void)state;
    /* drop CLS: [[.4,.4],[.3,.6]] -> rows [[.5,.5],[1/3,2/3]] -> + I, normalised */
    const double a[9] = {0.5, 0.25, 0.25, 0.2, 0.4, 0.4, 0.1, 0.3, 0.6};
    double got[4];
    attnroll_config *c = cfg_new();
    seti(c, ATTNROLL_OPT_DROP_TOKENS, 1);
    one_layer(a, NULL, 1, 3, c, 2, got);
    const double want[4] = {0.75, 0.25, 1.0 / 6.0, 5.0 / 6.0};
    TU_ASSERT_CLOSE(got, want, 4, 1e-15);
    attnroll_config_destroy(c);
}

static void test_entropy_by_hand(void **state)
{
    (void)state;
    /* uniform head: entropy ln 2; identity head: ~0.  w = [1/3, 2/3];
     * fused [[5/6,1/6],[1/6,5/6]]; + I, normalised [[11/12,1/12],[1/12,11/12]]
     * (the 1e-10 inside the log moves this by ~1e-10) */
    const double a[8] = {0.5, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 1.0};
    double got[4];
    attnroll_config *c = cfg_new();
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_ENTROPY);
    one_layer(a, NULL, 2, 2, c, 2, got);
    const double want[4] = {11.0 / 12.0, 1.0 / 12.0, 1.0 / 12.0, 11.0 / 12.0};
    TU_ASSERT_CLOSE(got, want, 4, 1e-9);
    attnroll_config_destroy(c);
}

static void test_grad_by_hand(void **state)
{
    (void)state;
    /* G*A = [[.5,-.5],[.5,0]] -> clamp [[.5,0],[.5,0]] -> + I [[1.5,0],[.5,1]] */
    const double a[4] = {0.5, 0.5, 0.25, 0.75}, g[4] = {1.0, -1.0, 2.0, 0.0};
    double got[4];
    attnroll_config *c = cfg_new();
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_GRAD);
    one_layer(a, g, 1, 2, c, 2, got);
    const double want[4] = {1.0, 0.0, 1.0 / 3.0, 2.0 / 3.0};
    TU_ASSERT_CLOSE(got, want, 4, 1e-15);
    attnroll_config_destroy(c);
}

static void test_discard_by_hand(void **state)
{
    (void)state;
    double got[9];
    attnroll_config *c = cfg_new();
    /* protect {0}: M = 2 entries of column 1 (.5, .75); p = .5 zeroes .5 */
    const double a[4] = {0.5, 0.5, 0.25, 0.75};
    setf(c, ATTNROLL_OPT_DISCARD_RATIO, 0.5);
    one_layer(a, NULL, 1, 2, c, 2, got);
    const double want[4] = {1.0, 0.0, 0.125, 0.875};
    TU_ASSERT_CLOSE(got, want, 4, 1e-15);
    /* ties: a uniform 3x3, nothing protected, p = .5 of 9 -> the 4 lowest
     * indices (0,0) (0,1) (0,2) (1,0) */
    const double u[9] = {1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_PROTECT, NULL, 0));
    one_layer(u, NULL, 1, 3, c, 3, got);
    const double want_u[9] = {1.0, 0.0, 0.0, 0.0, 0.8, 0.2, 1.0 / 6, 1.0 / 6, 2.0 / 3};
    TU_ASSERT_CLOSE(got, want_u, 9, 1e-15);
    /* ties with protected entries equal to the threshold: protect {0}, the
     * same uniform map, p = .5 of the 6 open entries -> (0,1) (0,2) (1,1);
     * column 0 keeps every 1/3 although they tie with what goes */
    const int64_t col0[1] = {0};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_PROTECT, col0, 1));
    one_layer(u, NULL, 1, 3, c, 3, got);
    const double want_p[9] = {1.0, 0.0, 0.0, 0.2, 0.6, 0.2, 1.0 / 6, 1.0 / 6, 2.0 / 3};
    TU_ASSERT_CLOSE(got, want_p, 9, 1e-15);
    attnroll_config_destroy(c);
}

static void test_chefer_and_cumulative_by_hand(void **state)
{
    (void)state;
    const double a[4] = {0.5, 0.5, 0.25, 0.75};
    const double *layers[2] = {a, a};
    int64_t shape[3] = {1, 2, 2}, oshape[2] = {2, 2}, cshape[3] = {2, 2, 2};
    double got[8];
    attnroll_config *c = cfg_new();
    /* Chefer: (A + I)^2, not normalised */
    seti(c, ATTNROLL_OPT_RULE, ATTNROLL_RULE_CHEFER);
    TU_ASSERT_OK(run(layers, NULL, 2, 3, shape, ATTNROLL_F64, TU_C, c, 2, oshape, ATTNROLL_F64, got));
    const double want_c[4] = {2.375, 1.625, 0.8125, 3.1875};
    TU_ASSERT_CLOSE(got, want_c, 4, 1e-15);
    /* cumulative rollout: M = [[.75,.25],[.125,.875]], then M @ M */
    seti(c, ATTNROLL_OPT_RULE, ATTNROLL_RULE_ROLLOUT);
    seti(c, ATTNROLL_OPT_CUMULATIVE, 1);
    TU_ASSERT_OK(run(layers, NULL, 2, 3, shape, ATTNROLL_F64, TU_C, c, 3, cshape, ATTNROLL_F64, got));
    const double want_r[8] = {0.75, 0.25, 0.125, 0.875, 0.59375, 0.40625, 0.203125, 0.796875};
    TU_ASSERT_CLOSE(got, want_r, 8, 1e-15);
    /* the same with query row 1: [L', 1, 2] */
    const int64_t q[1] = {1};
    int64_t qshape[3] = {2, 1, 2};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, q, 1));
    TU_ASSERT_OK(run(layers, NULL, 2, 3, shape, ATTNROLL_F64, TU_C, c, 3, qshape, ATTNROLL_F64, got));
    const double want_q[4] = {0.125, 0.875, 0.203125, 0.796875};
    TU_ASSERT_CLOSE(got, want_q, 4, 1e-15);
    attnroll_config_destroy(c);
}

/* ---- every option against the reference ---- */

typedef struct method_case {
    const char *name;
    int fusion;
    int64_t drop;
    double discard;
    int64_t protect[3];
    int64_t num_protect; /* -1: leave the default {0} */
    int rule;
    double residual;
} method_case;

static const double case_weights[3] = {0.5, 2.0, -0.25};

static const method_case cases[] = {
    {"mean", ATTNROLL_FUSE_MEAN, 0, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"max", ATTNROLL_FUSE_MAX, 0, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"min", ATTNROLL_FUSE_MIN, 0, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"entropy", ATTNROLL_FUSE_ENTROPY, 0, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"weights", ATTNROLL_FUSE_WEIGHTS, 0, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"grad", ATTNROLL_FUSE_GRAD, 0, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"drop1", ATTNROLL_FUSE_MEAN, 1, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"newest script (drop1 entropy)", ATTNROLL_FUSE_ENTROPY, 1, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"drop2 max r=0.5", ATTNROLL_FUSE_MAX, 2, 0.0, {0}, -1, ATTNROLL_RULE_ROLLOUT, 0.5},
    {"discard .3", ATTNROLL_FUSE_MEAN, 0, 0.3, {0}, -1, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"discard .9 max none protected", ATTNROLL_FUSE_MAX, 0, 0.9, {0}, 0, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"discard .5 drop1 protect {0,2}", ATTNROLL_FUSE_ENTROPY, 1, 0.5, {0, 2}, 2, ATTNROLL_RULE_ROLLOUT, 1.0},
    {"chefer", ATTNROLL_FUSE_MEAN, 0, 0.0, {0}, -1, ATTNROLL_RULE_CHEFER, 1.0},
    {"chefer grad (Chefer et al.)", ATTNROLL_FUSE_GRAD, 0, 0.0, {0}, -1, ATTNROLL_RULE_CHEFER, 1.0},
    {"chefer min discard", ATTNROLL_FUSE_MIN, 0, 0.4, {1}, 1, ATTNROLL_RULE_CHEFER, 1.0},
};
#define NUM_CASES ((int)(sizeof cases / sizeof cases[0]))

#define FR 2
#define HE 3
#define NT 7
#define NL 4

static double *g_layers[NL], *g_grads[NL];

static int setup_data(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 1101);
    for (int l = 0; l < NL; ++l) {
        g_layers[l] = tu_peaky_alloc(&rng, FR * HE * NT * NT, NT, 3.0);
        g_grads[l] = malloc(sizeof(double) * FR * HE * NT * NT);
        assert_non_null(g_grads[l]);
        for (int e = 0; e < FR * HE * NT * NT; ++e) g_grads[l][e] = tu_normal(&rng);
        /* exact in every input dtype used below, so the reference sees the same numbers */
        tu_quantize(g_layers[l], FR * HE * NT * NT, ATTNROLL_F16);
        tu_quantize(g_grads[l], FR * HE * NT * NT, ATTNROLL_F16);
    }
    return 0;
}

static int teardown_data(void **state)
{
    (void)state;
    for (int l = 0; l < NL; ++l) {
        free(g_layers[l]);
        free(g_grads[l]);
    }
    return 0;
}

static attnroll_config *case_config(const method_case *mc, ref_method *m)
{
    attnroll_config *c = cfg_new();
    *m = ref_method_default();
    seti(c, ATTNROLL_OPT_HEAD_FUSION, mc->fusion);
    m->fusion = mc->fusion;
    if (mc->fusion == ATTNROLL_FUSE_WEIGHTS) {
        TU_ASSERT_OK(attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, case_weights, HE));
        m->weights = case_weights;
    }
    seti(c, ATTNROLL_OPT_DROP_TOKENS, mc->drop);
    m->drop = mc->drop;
    setf(c, ATTNROLL_OPT_DISCARD_RATIO, mc->discard);
    m->discard = mc->discard;
    if (mc->num_protect >= 0) {
        TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_PROTECT, mc->protect, mc->num_protect));
        m->protect = mc->protect;
        m->num_protect = mc->num_protect;
    }
    seti(c, ATTNROLL_OPT_RULE, mc->rule);
    m->rule = mc->rule;
    setf(c, ATTNROLL_OPT_RESIDUAL, mc->residual);
    m->residual = mc->residual;
    return c;
}

/* out shape for [L'?, F, rows, n'] */
static int out_shape_of(int cumulative, int64_t range, int64_t rows, int64_t np, int64_t *shape)
{
    int d = 0;
    if (cumulative) shape[d++] = range;
    shape[d++] = FR;
    shape[d++] = rows;
    shape[d++] = np;
    return d;
}

static void test_every_option_against_reference(void **state)
{
    (void)state;
    const int64_t query[2] = {3, 0};
    int64_t lshape[4] = {FR, HE, NT, NT};
    for (int ci = 0; ci < NUM_CASES; ++ci) {
        const method_case *mc = &cases[ci];
        const int grad = mc->fusion == ATTNROLL_FUSE_GRAD;
        const int64_t np = NT - mc->drop;
        for (int variant = 0; variant < 16; ++variant) {
            const int cumulative = variant & 1, use_query = (variant >> 1) & 1;
            const int32_t out_dtype = (variant >> 2) & 1 ? ATTNROLL_F32 : ATTNROLL_F64;
            const int ranged = (variant >> 3) & 1;
            /* inputs: F64 C-order, F16 transposed, F32 negative strides, F64 column-major */
            const int32_t in_dtypes[4] = {ATTNROLL_F64, ATTNROLL_F16, ATTNROLL_F32, ATTNROLL_F64};
            const int layouts[4] = {TU_C, TU_TRANSPOSED, TU_NEGATIVE, TU_FORTRAN};
            const int32_t in_dtype = in_dtypes[variant % 4];
            const int layout = layouts[(variant / 2) % 4];
            ref_method m;
            attnroll_config *c = case_config(mc, &m);
            m.cumulative = cumulative;
            seti(c, ATTNROLL_OPT_CUMULATIVE, cumulative);
            seti(c, ATTNROLL_OPT_THREADS, 1 + (variant % 3 == 0));
            int64_t begin = ranged ? 1 : 0, end = ranged ? 3 : NL;
            if (ranged) {
                seti(c, ATTNROLL_OPT_LAYER_BEGIN, begin);
                seti(c, ATTNROLL_OPT_LAYER_END, end);
            }
            if (use_query) TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, query, 2));
            const int64_t rows = use_query ? 2 : np;
            int64_t oshape[4];
            int ond = out_shape_of(cumulative, end - begin, rows, np, oshape);
            int64_t count = tu_numel(ond, oshape);
            double *got = malloc(sizeof(double) * (size_t)count);
            double *want = malloc(sizeof(double) * (size_t)count);
            assert_non_null(got);
            assert_non_null(want);
            ref_spatial_method((const double *const *)g_layers, grad ? (const double *const *)g_grads : NULL,
                               HE, NL, FR, NT, begin, end, &m, use_query ? query : NULL, 2, want);
            int32_t st = run((const double *const *)g_layers, grad ? (const double *const *)g_grads : NULL,
                             NL, 4, lshape, in_dtype, layout, c, ond, oshape, out_dtype, got);
            if (st != ATTNROLL_OK) print_error("case %s variant %d: %s\n", mc->name, variant, attnroll_last_error());
            TU_ASSERT_OK(st);
            if (tu_max_abs_diff(got, want, count) > (out_dtype == ATTNROLL_F32 ? TOL_F32 : TOL_F64) * 100)
                print_error("case %s variant %d\n", mc->name, variant);
            assert_close_scaled(got, want, count, out_dtype == ATTNROLL_F32 ? TOL_F32 : TOL_F64);
            free(got);
            free(want);
            attnroll_config_destroy(c);
        }
    }
}

/* Streaming gives exactly the batch numbers for every option. */
static void test_stream_equals_batch(void **state)
{
    (void)state;
    const int64_t query[2] = {3, 0};
    int64_t lshape[4] = {FR, HE, NT, NT};
    for (int ci = 0; ci < NUM_CASES; ++ci) {
        const method_case *mc = &cases[ci];
        const int grad = mc->fusion == ATTNROLL_FUSE_GRAD;
        const int64_t np = NT - mc->drop;
        for (int variant = 0; variant < 8; ++variant) {
            const int cumulative = variant & 1, use_query = (variant >> 1) & 1;
            const int32_t dtype = (variant >> 2) & 1 ? ATTNROLL_F32 : ATTNROLL_F64;
            ref_method m;
            attnroll_config *c = case_config(mc, &m);
            seti(c, ATTNROLL_OPT_CUMULATIVE, cumulative);
            seti(c, ATTNROLL_OPT_LAYER_BEGIN, 1);
            if (use_query) TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, query, 2));
            const int64_t rows = use_query ? 2 : np;
            int64_t oshape[4];
            int ond = out_shape_of(cumulative, NL - 1, rows, np, oshape);
            int64_t count = tu_numel(ond, oshape);
            double *batch = malloc(sizeof(double) * (size_t)count);
            double *streamed = malloc(sizeof(double) * (size_t)count);
            assert_non_null(batch);
            assert_non_null(streamed);
            TU_ASSERT_OK(run((const double *const *)g_layers, grad ? (const double *const *)g_grads : NULL,
                             NL, 4, lshape, ATTNROLL_F64, TU_C, c, ond, oshape, dtype, batch));
            attnroll_stream *s = NULL;
            TU_ASSERT_OK(attnroll_stream_create(c, FR, NT, dtype, &s));
            for (int l = 0; l < NL; ++l) {
                tu_tensor *t = tu_from(g_layers[l], 4, lshape, ATTNROLL_F64, TU_C);
                if (grad) {
                    tu_tensor *g = tu_from(g_grads[l], 4, lshape, ATTNROLL_F64, TU_TRANSPOSED);
                    /* the plain push is refused with GRAD fusion, and the stream stays usable */
                    TU_ASSERT_FAILS(attnroll_stream_push(s, &t->view), ATTNROLL_E_ARGUMENT, "ATTNROLL_FUSE_GRAD");
                    TU_ASSERT_OK(attnroll_stream_push_grad(s, &t->view, &g->view));
                    tu_free(g);
                } else {
                    TU_ASSERT_FAILS(attnroll_stream_push_grad(s, &t->view, &t->view), ATTNROLL_E_ARGUMENT,
                                    "gradients given");
                    TU_ASSERT_OK(attnroll_stream_push(s, &t->view));
                }
                tu_free(t);
            }
            tu_tensor *out = tu_new(ond, oshape, dtype, TU_C);
            TU_ASSERT_OK(attnroll_stream_result(s, &out->view));
            tu_get(out, streamed);
            tu_free(out);
            attnroll_stream_destroy(s);
            if (memcmp(batch, streamed, sizeof(double) * (size_t)count) != 0)
                print_error("case %s variant %d: stream differs from batch\n", mc->name, variant);
            TU_ASSERT_EQUAL(streamed, batch, count);
            free(batch);
            free(streamed);
            attnroll_config_destroy(c);
        }
    }
}

/* ---- edge cases ---- */

static void test_edge_cases(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 77);
    const int64_t n = 6;
    double *a1 = tu_peaky_alloc(&rng, 2 * 1 * n * n, n, 2.0), *a2 = tu_peaky_alloc(&rng, 2 * 1 * n * n, n, 2.0);
    const double *layers[2] = {a1, a2};
    int64_t shape[4] = {2, 1, n, n};
    double got[2 * 6 * 6], want[2 * 6 * 6];
    /* H = 1: every fusion but GRAD/WEIGHTS is the head itself */
    const int fusions[4] = {ATTNROLL_FUSE_MEAN, ATTNROLL_FUSE_MAX, ATTNROLL_FUSE_MIN, ATTNROLL_FUSE_ENTROPY};
    int64_t oshape[3] = {2, n, n};
    for (int i = 0; i < 4; ++i) {
        attnroll_config *c = cfg_new();
        seti(c, ATTNROLL_OPT_HEAD_FUSION, fusions[i]);
        TU_ASSERT_OK(run(layers, NULL, 2, 4, shape, ATTNROLL_F64, TU_C, c, 3, oshape, ATTNROLL_F64, got));
        TU_ASSERT_OK(run(layers, NULL, 2, 4, shape, ATTNROLL_F64, TU_C, NULL, 3, oshape, ATTNROLL_F64, want));
        TU_ASSERT_CLOSE(got, want, 2 * n * n, 1e-15);
        attnroll_config_destroy(c);
    }
    /* all-zero rows (row 2 of every map, and row 0 which drop k=1 removes the
     * rest of): zero sums divide by 1, for every fusion and with discard */
    for (int64_t f = 0; f < 2; ++f)
        for (int64_t j = 0; j < n; ++j) a1[(f * n + 2) * n + j] = a2[(f * n + 2) * n + j] = 0.0;
    for (int i = 0; i < 4; ++i)
        for (int k = 0; k < 2; ++k) {
            attnroll_config *c = cfg_new();
            ref_method m = ref_method_default();
            seti(c, ATTNROLL_OPT_HEAD_FUSION, fusions[i]);
            m.fusion = fusions[i];
            seti(c, ATTNROLL_OPT_DROP_TOKENS, k);
            m.drop = k;
            setf(c, ATTNROLL_OPT_DISCARD_RATIO, 0.25 * k);
            m.discard = 0.25 * k;
            int64_t os[3] = {2, n - k, n - k};
            TU_ASSERT_OK(run(layers, NULL, 2, 4, shape, ATTNROLL_F64, TU_C, c, 3, os, ATTNROLL_F64, got));
            ref_spatial_method(layers, NULL, 1, 2, 2, n, 0, 2, &m, NULL, 0, want);
            TU_ASSERT_CLOSE(got, want, 2 * (n - k) * (n - k), TOL_F64);
            attnroll_config_destroy(c);
        }
    /* p = 0 is the plain rollout; p close to 1 leaves only the largest entry
     * (and the protected column) */
    {
        attnroll_config *c = cfg_new();
        setf(c, ATTNROLL_OPT_DISCARD_RATIO, 0.0);
        TU_ASSERT_OK(run(layers, NULL, 2, 4, shape, ATTNROLL_F64, TU_C, c, 3, oshape, ATTNROLL_F64, got));
        TU_ASSERT_OK(run(layers, NULL, 2, 4, shape, ATTNROLL_F64, TU_C, NULL, 3, oshape, ATTNROLL_F64, want));
        TU_ASSERT_EQUAL(got, want, 2 * n * n);
        const double near_one = nextafter(1.0, 0.0);
        setf(c, ATTNROLL_OPT_DISCARD_RATIO, near_one);
        ref_method m = ref_method_default();
        m.discard = near_one;
        TU_ASSERT_OK(run(layers, NULL, 2, 4, shape, ATTNROLL_F64, TU_C, c, 3, oshape, ATTNROLL_F64, got));
        ref_spatial_method(layers, NULL, 1, 2, 2, n, 0, 2, &m, NULL, 0, want);
        TU_ASSERT_CLOSE(got, want, 2 * n * n, TOL_F64);
        attnroll_config_destroy(c);
    }
    /* k = N - 1: one token left, each frame's rollout is [[1]] */
    {
        attnroll_config *c = cfg_new();
        seti(c, ATTNROLL_OPT_DROP_TOKENS, n - 1);
        int64_t os[3] = {2, 1, 1};
        TU_ASSERT_OK(run(layers, NULL, 2, 4, shape, ATTNROLL_F64, TU_C, c, 3, os, ATTNROLL_F32, got));
        const double ones[2] = {1.0, 1.0};
        TU_ASSERT_CLOSE(got, ones, 2, 0.0);
        attnroll_config_destroy(c);
    }
    /* weights summing to 0: the fused map is ~0, the rule's identity remains */
    {
        double *b = tu_peaky_alloc(&rng, 2 * 3 * n * n, n, 2.0);
        const double *bl[1] = {b};
        int64_t bs[4] = {2, 3, n, n};
        const double w[3] = {1.0, -1.0, 0.0};
        attnroll_config *c = cfg_new();
        ref_method m = ref_method_default();
        seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_WEIGHTS);
        TU_ASSERT_OK(attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, w, 3));
        m.fusion = ATTNROLL_FUSE_WEIGHTS;
        m.weights = w;
        TU_ASSERT_OK(run(bl, NULL, 1, 4, bs, ATTNROLL_F64, TU_C, c, 3, oshape, ATTNROLL_F64, got));
        ref_spatial_method(bl, NULL, 3, 1, 2, n, 0, 1, &m, NULL, 0, want);
        TU_ASSERT_CLOSE(got, want, 2 * n * n, TOL_F64);
        attnroll_config_destroy(c);
        free(b);
    }
    free(a1);
    free(a2);
}

/* A NaN in the input: every method returns OK and the NaN reaches the output. */
static void test_nan_input(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    const int64_t n = 5;
    double *a = tu_peaky_alloc(&rng, 2 * n * n, n, 2.0), *g = tu_peaky_alloc(&rng, 2 * n * n, n, 2.0);
    a[n * n + 2 * n + 3] = NAN; /* head 1, row 2, column 3 */
    int64_t shape[3] = {2, n, n}, oshape[2] = {n, n};
    const double *layers[2] = {a, a}, *grads[2] = {g, g};
    for (int fusion = ATTNROLL_FUSE_MEAN; fusion <= ATTNROLL_FUSE_GRAD; ++fusion)
        for (int discard = 0; discard < 2; ++discard) {
            attnroll_config *c = cfg_new();
            seti(c, ATTNROLL_OPT_HEAD_FUSION, fusion);
            if (fusion == ATTNROLL_FUSE_WEIGHTS) {
                const double w[2] = {0.5, 0.5};
                TU_ASSERT_OK(attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, w, 2));
            }
            setf(c, ATTNROLL_OPT_DISCARD_RATIO, 0.5 * discard);
            double got[25];
            TU_ASSERT_OK(run(layers, fusion == ATTNROLL_FUSE_GRAD ? grads : NULL, 2, 3, shape, ATTNROLL_F32,
                             TU_C, c, 2, oshape, ATTNROLL_F32, got));
            int nans = 0;
            for (int e = 0; e < 25; ++e) nans += isnan(got[e]) != 0;
            assert_true(nans > 0);
            attnroll_config_destroy(c);
        }
    free(a);
    free(g);
}

/* ---- bad input: own status, message naming option and value, out untouched ---- */

static void test_bad_input(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 9);
    const int64_t n = 4;
    double *a = tu_peaky_alloc(&rng, 2 * n * n, n, 2.0);
    const double *layers[1] = {a};
    int64_t shape[3] = {2, n, n}, oshape[2] = {n, n};
    double got[16];
    attnroll_config *c = cfg_new();
    /* unknown fusion or rule codes; p outside [0, 1) (at set time) */
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_HEAD_FUSION, 6), ATTNROLL_E_ARGUMENT,
                    "ATTNROLL_OPT_HEAD_FUSION");
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_HEAD_FUSION, -1), ATTNROLL_E_ARGUMENT, "-1");
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_RULE, 2), ATTNROLL_E_ARGUMENT, "ATTNROLL_OPT_RULE");
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_DISCARD_RATIO, 1.0), ATTNROLL_E_ARGUMENT,
                    "ATTNROLL_OPT_DISCARD_RATIO");
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_DISCARD_RATIO, -0.1), ATTNROLL_E_ARGUMENT, "-0.1");
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_DISCARD_RATIO, NAN), ATTNROLL_E_ARGUMENT, "nan");
    const double bad_w[1] = {INFINITY};
    TU_ASSERT_FAILS(attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, bad_w, 1), ATTNROLL_E_ARGUMENT,
                    "inf");
    int64_t v = -7;
    TU_ASSERT_OK(attnroll_config_get_int(c, ATTNROLL_OPT_HEAD_FUSION, &v));
    assert_int_equal(v, ATTNROLL_FUSE_MEAN); /* unchanged by the refusals */
    /* k >= N */
    seti(c, ATTNROLL_OPT_DROP_TOKENS, n);
    TU_ASSERT_FAILS(run(layers, NULL, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, oshape, ATTNROLL_F64, got),
                    ATTNROLL_E_ARGUMENT, "ATTNROLL_OPT_DROP_TOKENS: 4");
    seti(c, ATTNROLL_OPT_DROP_TOKENS, 1);
    /* protected column >= N - k */
    const int64_t prot[2] = {0, 3};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_PROTECT, prot, 2));
    int64_t os3[2] = {3, 3};
    TU_ASSERT_FAILS(run(layers, NULL, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, os3, ATTNROLL_F64, got),
                    ATTNROLL_E_ARGUMENT, "ATTNROLL_OPT_PROTECT[1]: column 3");
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_PROTECT, prot, 1));
    /* a query row >= N - k */
    const int64_t q[1] = {3};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, q, 1));
    int64_t qs[2] = {1, 3};
    TU_ASSERT_FAILS(run(layers, NULL, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, qs, ATTNROLL_F64, got),
                    ATTNROLL_E_ARGUMENT, "ATTNROLL_OPT_QUERY_ROWS[0]: row 3");
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, NULL, 0));
    /* the output must have N - k tokens */
    TU_ASSERT_FAILS(run(layers, NULL, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, oshape, ATTNROLL_F64, got),
                    ATTNROLL_E_SHAPE, "out");
    seti(c, ATTNROLL_OPT_DROP_TOKENS, 0);
    /* weights of the wrong length */
    const double w3[3] = {1, 1, 1};
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_WEIGHTS);
    TU_ASSERT_OK(attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, w3, 3));
    TU_ASSERT_FAILS(run(layers, NULL, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, oshape, ATTNROLL_F64, got),
                    ATTNROLL_E_SHAPE, "3 weights, but layers[0] has H = 2");
    /* weights set while fusion is not WEIGHTS */
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MAX);
    TU_ASSERT_FAILS(run(layers, NULL, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, oshape, ATTNROLL_F64, got),
                    ATTNROLL_E_ARGUMENT, "ATTNROLL_OPT_HEAD_WEIGHTS: 3 weights set");
    attnroll_stream *s = NULL;
    TU_ASSERT_FAILS(attnroll_stream_create(c, 1, n, ATTNROLL_F64, &s), ATTNROLL_E_ARGUMENT,
                    "ATTNROLL_OPT_HEAD_WEIGHTS");
    assert_null(s);
    TU_ASSERT_OK(attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, NULL, 0));
    /* GRAD without gradients; gradients with another fusion */
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_GRAD);
    TU_ASSERT_FAILS(run(layers, NULL, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, oshape, ATTNROLL_F64, got),
                    ATTNROLL_E_ARGUMENT, "ATTNROLL_FUSE_GRAD needs gradients");
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MEAN);
    TU_ASSERT_FAILS(run(layers, layers, 1, 3, shape, ATTNROLL_F64, TU_C, c, 2, oshape, ATTNROLL_F64, got),
                    ATTNROLL_E_ARGUMENT, "gradients given");
    /* gradients of another shape or an unknown dtype */
    seti(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_GRAD);
    {
        tu_tensor *t = tu_from(a, 3, shape, ATTNROLL_F64, TU_C);
        int64_t gshape[3] = {1, n, n};
        tu_tensor *g = tu_from(a, 3, gshape, ATTNROLL_F64, TU_C);
        tu_tensor *out = tu_new(2, oshape, ATTNROLL_F64, TU_C);
        tu_fill_sentinel(out);
        TU_ASSERT_FAILS(attnroll_spatial_grad(&t->view, &g->view, 1, c, &out->view), ATTNROLL_E_SHAPE,
                        "grads[0]");
        TU_ASSERT_UNTOUCHED(out);
        attnroll_tensor bad = t->view;
        bad.dtype = 99;
        TU_ASSERT_FAILS(attnroll_spatial_grad(&t->view, &bad, 1, c, &out->view), ATTNROLL_E_DTYPE, "grads[0]");
        TU_ASSERT_UNTOUCHED(out);
        TU_ASSERT_FAILS(attnroll_spatial_grad(&t->view, NULL, 1, c, &out->view), ATTNROLL_E_ARGUMENT, "grads");
        /* a stream refuses a mismatched gradient and stays usable */
        TU_ASSERT_OK(attnroll_stream_create(c, 1, n, ATTNROLL_F64, &s));
        TU_ASSERT_FAILS(attnroll_stream_push_grad(s, &t->view, &g->view), ATTNROLL_E_SHAPE, "grad");
        TU_ASSERT_FAILS(attnroll_stream_push_grad(s, &t->view, NULL), ATTNROLL_E_ARGUMENT, "grad");
        TU_ASSERT_OK(attnroll_stream_push_grad(s, &t->view, &t->view));
        int64_t pushed = -1;
        TU_ASSERT_OK(attnroll_stream_info(s, &pushed, NULL));
        assert_int_equal(pushed, 1);
        attnroll_stream_destroy(s);
        tu_free(out);
        tu_free(g);
        tu_free(t);
    }
    /* temporal refuses the spatial-only options */
    {
        attnroll_config *t = cfg_new();
        int64_t tshape[2] = {n, n};
        double tout[16];
        const double *tl[1] = {a};
        const int nd[1] = {2};
        const int64_t *shp[1] = {tshape};
        seti(t, ATTNROLL_OPT_DROP_TOKENS, 1);
        TU_ASSERT_FAILS(tu_run_temporal(tl, 1, nd, shp, ATTNROLL_F64, TU_C, 0, t, 2, tshape, ATTNROLL_F64,
                                        TU_C, tout),
                        ATTNROLL_E_ARGUMENT, "spatial only");
        attnroll_config_destroy(t);
    }
    attnroll_config_destroy(c);
    free(a);
}

/* Temporal honours RULE and CUMULATIVE like the spatial pipeline. */
static void test_temporal_rule_cumulative(void **state)
{
    (void)state;
    const double a[4] = {0.5, 0.5, 0.25, 0.75};
    const double *tl[2] = {a, a};
    int64_t tshape[2] = {2, 2}, cshape[3] = {2, 2, 2};
    const int nd[2] = {2, 2};
    const int64_t *shp[2] = {tshape, tshape};
    double got[8];
    attnroll_config *c = cfg_new();
    seti(c, ATTNROLL_OPT_RULE, ATTNROLL_RULE_CHEFER);
    seti(c, ATTNROLL_OPT_CUMULATIVE, 1);
    TU_ASSERT_OK(tu_run_temporal(tl, 2, nd, shp, ATTNROLL_F64, TU_C, 0, c, 3, cshape, ATTNROLL_F64, TU_C, got));
    const double want[8] = {1.5, 0.5, 0.25, 1.75, 2.375, 1.625, 0.8125, 3.1875};
    TU_ASSERT_CLOSE(got, want, 8, 1e-15);
    attnroll_config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_min_by_hand),
        cmocka_unit_test(test_weights_by_hand),
        cmocka_unit_test(test_drop_by_hand),
        cmocka_unit_test(test_entropy_by_hand),
        cmocka_unit_test(test_grad_by_hand),
        cmocka_unit_test(test_discard_by_hand),
        cmocka_unit_test(test_chefer_and_cumulative_by_hand),
        cmocka_unit_test(test_every_option_against_reference),
        cmocka_unit_test(test_stream_equals_batch),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_nan_input),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_temporal_rule_cumulative),
    };
    return cmocka_run_group_tests(tests, setup_data, teardown_data);
}
