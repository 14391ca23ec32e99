/*
 * attnroll_flow: the maximum flow through the layered attention graph
 * (attnroll.h, "Attention flow").  The oracle is a plain Edmonds-Karp in
 * double on the whole graph (every level, every node), built from the
 * reference pipeline's factors (reference.c, ref_factor); hand cases (one
 * layer, identity stack, a disconnected token), random cases with every
 * method option, query rows, frames, dtypes and threads; and every bad input.
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
#include "reference.h"
#include "test_util.h"

/* ---- Edmonds-Karp on a dense capacity matrix ---------------------------- */

/* Maximum flow from s to t in the network with cap[u*v_count + v] (>= 0):
 * shortest augmenting paths by breadth-first search, residuals in double. */
static double edmonds_karp(const double *cap, int64_t v_count, int64_t s, int64_t t)
{
    const size_t vv = (size_t)(v_count * v_count);
    double *res = malloc(vv * sizeof *res);
    int64_t *parent = malloc((size_t)v_count * sizeof *parent);
    int64_t *queue = malloc((size_t)v_count * sizeof *queue);
    assert_non_null(res);
    assert_non_null(parent);
    assert_non_null(queue);
    memcpy(res, cap, vv * sizeof *res);
    double total = 0;
    for (;;) {
        for (int64_t v = 0; v < v_count; ++v) parent[v] = -1;
        parent[s] = s;
        int64_t head = 0, tail = 0;
        queue[tail++] = s;
        while (head < tail && parent[t] < 0) {
            const int64_t u = queue[head++];
            for (int64_t v = 0; v < v_count; ++v)
                if (parent[v] < 0 && res[u * v_count + v] > 0) {
                    parent[v] = u;
                    queue[tail++] = v;
                }
        }
        if (parent[t] < 0) break;
        double push = INFINITY;
        for (int64_t v = t; v != s; v = parent[v]) {
            const double r = res[parent[v] * v_count + v];
            if (r < push) push = r;
        }
        for (int64_t v = t; v != s; v = parent[v]) {
            res[parent[v] * v_count + v] -= push;
            res[v * v_count + parent[v]] += push;
        }
        total += push;
    }
    free(res);
    free(parent);
    free(queue);
    return total;
}

/* The flow of attnroll.h for one frame: factors[l] (n x n, l = 0 .. levels-1),
 * nodes (l, i) -> l*n + i, arcs (l+1, i) -> (l, j) of capacity factors[l][i,j].
 * out[r, j] = max flow from (levels, rows[r]) to (0, j). */
static void ref_flow(double *const *factors, int64_t levels, int64_t n, const int64_t *rows,
                     int64_t k, double *out)
{
    const int64_t v_count = (levels + 1) * n;
    double *cap = calloc((size_t)(v_count * v_count), sizeof *cap);
    assert_non_null(cap);
    for (int64_t l = 0; l < levels; ++l)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j)
                cap[((l + 1) * n + i) * v_count + l * n + j] = factors[l][i * n + j];
    for (int64_t r = 0; r < k; ++r)
        for (int64_t j = 0; j < n; ++j)
            out[r * n + j] = edmonds_karp(cap, v_count, levels * n + rows[r], j);
    free(cap);
}

/* ---- running the library ------------------------------------------------ */

/* attnroll_flow on num_layers layers [frames, heads, n, n] (C-ordered doubles
 * stored as in_dtype / layout); out [frames, k, n'] (F32/F64), filled with the
 * sentinel first; on failure checks it untouched.  Returns the status. */
static int32_t run_flow(const double *const *layers, int32_t num_layers, int64_t frames, int64_t heads,
                        int64_t n, int32_t in_dtype, int layout, const attnroll_config *cfg,
                        int out_ndim, const int64_t *out_shape, int32_t out_dtype, double *result)
{
    const int64_t shape[4] = {frames, heads, n, n};
    tu_tensor *tt[32];
    attnroll_tensor views[32];
    assert_true(num_layers <= 32);
    for (int32_t l = 0; l < num_layers; ++l) {
        tt[l] = tu_from(layers[l], 4, shape, in_dtype, layout);
        views[l] = tt[l]->view;
    }
    tu_tensor *out = tu_new(out_ndim, out_shape, out_dtype, TU_CNULL);
    tu_fill_sentinel(out);
    const int32_t st = attnroll_flow(views, num_layers, cfg, &out->view);
    if (st == ATTNROLL_OK) {
        tu_get(out, result);
        assert_string_equal(attnroll_last_error(), "");
    } else {
        TU_ASSERT_UNTOUCHED(out);
        assert_true(attnroll_last_error()[0] != '\0');
    }
    tu_free(out);
    for (int32_t l = 0; l < num_layers; ++l) tu_free(tt[l]);
    return st;
}

/* |got - want| <= rel * |want| + floor for every element. */
static void assert_flow_close(const double *got, const double *want, int64_t count, double rel, double floor_,
                              const char *what)
{
    for (int64_t i = 0; i < count; ++i) {
        const double err = fabs(got[i] - want[i]);
        if (!(err <= rel * fabs(want[i]) + floor_)) {
            print_error("%s: element %lld: got %.17g, want %.17g (error %.3g)\n", what, (long long)i, got[i],
                        want[i], err);
            fail();
        }
    }
}

/* The expected flow: the reference factors of each frame, then Edmonds-Karp. */
static void expected_flow(const double *const *layers, int64_t num_layers, int64_t begin, int64_t end,
                          int64_t frames, int64_t heads, int64_t n, const ref_method *m, const int64_t *rows,
                          int64_t k, double *out)
{
    const int64_t kept = n - m->drop, levels = end - begin;
    double *factors[32];
    for (int64_t l = 0; l < levels; ++l) factors[l] = malloc((size_t)(kept * kept) * sizeof(double));
    int64_t *all = malloc((size_t)kept * sizeof *all);
    for (int64_t i = 0; i < kept; ++i) all[i] = i;
    const int64_t *src = rows ? rows : all;
    const int64_t count = rows ? k : kept;
    (void)num_layers;
    for (int64_t f = 0; f < frames; ++f) {
        for (int64_t l = 0; l < levels; ++l)
            ref_factor(layers[begin + l] + f * heads * n * n, NULL, heads, n, m, factors[l]);
        ref_flow(factors, levels, kept, src, count, out + f * count * kept);
    }
    for (int64_t l = 0; l < levels; ++l) free(factors[l]);
    free(all);
}

/* ---- hand cases ---------------------------------------------------------- */

/* One layer: the flow is Abar itself (every row). */
static void test_flow_one_layer(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 1);
    const int64_t n = 5, heads = 2;
    double *a = tu_peaky_alloc(&rng, heads * n * n, n, 3.0);
    const double *layers[] = {a};
    double got[25], want[25];
    const int64_t shape[] = {1, n, n};
    TU_ASSERT_OK(run_flow(layers, 1, 1, heads, n, ATTNROLL_F64, TU_CNULL, NULL, 3, shape, ATTNROLL_F64, got));
    ref_method m = ref_method_default();
    ref_factor(a, NULL, heads, n, &m, want);
    assert_flow_close(got, want, 25, 1e-15, 1e-17, "one layer");
    free(a);
}

/* Identity heads and any residual: every Abar is I, so flow 1 from q to
 * itself and 0 elsewhere, through any number of layers. */
static void test_flow_identity(void **state)
{
    (void)state;
    const int64_t n = 4, heads = 3, levels = 5;
    double a[3 * 16] = {0};
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < n; ++i) a[h * 16 + i * 5] = 1.0;
    const double *layers[5] = {a, a, a, a, a};
    double got[16];
    const int64_t shape[] = {1, n, n};
    TU_ASSERT_OK(run_flow(layers, (int32_t)levels, 1, heads, n, ATTNROLL_F32, TU_TRANSPOSED, NULL, 3, shape,
                          ATTNROLL_F64, got));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) assert_true(got[i * n + j] == (i == j ? 1.0 : 0.0));
}

/* Every token attends to token 0 only, residual 0: each sink arc into token
 * 0 carries the source's whole capacity (2^61 once scaled), so the sink arcs
 * sum past int64 (found by fuzz_api; UBSan in CI).  The flow is 1 into token
 * 0 from every source and 0 elsewhere. */
static void test_flow_all_into_one_token(void **state)
{
    (void)state;
    const int64_t n = 8, heads = 1;
    double a[64] = {0};
    for (int64_t i = 0; i < n; ++i) a[i * n] = 1.0;
    const double *layers[3] = {a, a, a};
    attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, 0.0, NULL, 0, TU_DEF);
    double got[64];
    const int64_t shape[] = {1, n, n};
    for (int32_t levels = 2; levels <= 3; ++levels) {
        TU_ASSERT_OK(run_flow(layers, levels, 1, heads, n, ATTNROLL_F64, TU_CNULL, cfg, 3, shape, ATTNROLL_F64, got));
        for (int64_t q = 0; q < n; ++q)
            for (int64_t j = 0; j < n; ++j) assert_true(got[q * n + j] == (j == 0 ? 1.0 : 0.0));
    }
    attnroll_config_destroy(cfg);
}

/* A token no head attends to in the first layer, with no residual: nothing
 * reaches it, whatever the later layers do; the others match the oracle. */
static void test_flow_disconnected(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 2);
    const int64_t n = 6, heads = 2, levels = 3, dead = 4;
    double *a[3];
    for (int64_t l = 0; l < levels; ++l) a[l] = tu_peaky_alloc(&rng, heads * n * n, n, 2.0);
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < n; ++i) a[0][(h * n + i) * n + dead] = 0.0;
    const double *layers[] = {a[0], a[1], a[2]};
    attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, 0.0, NULL, 0, TU_DEF);
    double got[36], want[36];
    const int64_t shape[] = {1, n, n};
    TU_ASSERT_OK(run_flow(layers, 3, 1, heads, n, ATTNROLL_F64, TU_CNULL, cfg, 3, shape, ATTNROLL_F64, got));
    for (int64_t q = 0; q < n; ++q) assert_true(got[q * n + dead] == 0.0);
    ref_method m = ref_method_default();
    m.residual = 0.0;
    expected_flow(layers, 3, 0, 3, 1, heads, n, &m, NULL, 0, want);
    assert_flow_close(got, want, 36, 1e-12, 1e-16, "disconnected");
    attnroll_config_destroy(cfg);
    for (int64_t l = 0; l < levels; ++l) free(a[l]);
}

/* ---- random cases against Edmonds-Karp ----------------------------------- */

static void random_case(uint64_t seed, int64_t n, int64_t levels, int64_t heads, int64_t frames, int sparse,
                        int32_t out_dtype, int32_t in_dtype, int layout, int64_t threads)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    double *a[8];
    for (int64_t l = 0; l < levels; ++l) {
        a[l] = tu_peaky_alloc(&rng, frames * heads * n * n, n, 1.0 + 4.0 * tu_uniform(&rng));
        if (sparse)
            for (int64_t e = 0; e < frames * heads * n * n; ++e)
                if (tu_uniform(&rng) < 0.5) a[l][e] = 0.0;
        tu_quantize(a[l], frames * heads * n * n, in_dtype);
    }
    ref_method m = ref_method_default();
    attnroll_config *cfg;
    assert_int_equal(attnroll_config_create(&cfg), ATTNROLL_OK);
    const double residuals[] = {1.0, 0.0, 0.5, 2.0};
    m.residual = residuals[tu_randint(&rng, 0, 3)];
    TU_ASSERT_OK(attnroll_config_set_float(cfg, ATTNROLL_OPT_RESIDUAL, m.residual));
    TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_THREADS, threads));
    const int options = (int)tu_randint(&rng, 0, 3);
    if (options == 1 && n > 2) {
        m.drop = 1;
        TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_DROP_TOKENS, 1));
    } else if (options == 2) {
        m.fusion = ATTNROLL_FUSE_MAX;
        m.discard = 0.3;
        static const int64_t protect0[] = {0};
        m.protect = protect0;
        m.num_protect = 1;
        TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MAX));
        TU_ASSERT_OK(attnroll_config_set_float(cfg, ATTNROLL_OPT_DISCARD_RATIO, 0.3));
    } else if (options == 3) {
        m.fusion = ATTNROLL_FUSE_ENTROPY;
        TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_ENTROPY));
    }
    const int64_t kept = n - m.drop;
    int64_t begin = 0, end = levels;
    if (levels > 2 && tu_uniform(&rng) < 0.3) {
        begin = 1;
        TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_LAYER_BEGIN, begin));
    }
    int64_t rows[6], k = 0;
    if (n > 12 || tu_uniform(&rng) < 0.6) { /* the oracle is slow for all rows of a large n */
        k = tu_randint(&rng, 1, 4);
        for (int64_t r = 0; r < k; ++r) rows[r] = tu_randint(&rng, 0, kept - 1);
        TU_ASSERT_OK(attnroll_config_set_ints(cfg, ATTNROLL_OPT_QUERY_ROWS, rows, k));
    }
    const int64_t count = k ? k : kept;
    double *got = malloc((size_t)(frames * count * kept) * sizeof *got);
    double *want = malloc((size_t)(frames * count * kept) * sizeof *want);
    const int64_t shape[] = {frames, count, kept};
    const double *layers[8];
    for (int64_t l = 0; l < levels; ++l) layers[l] = a[l];
    TU_ASSERT_OK(run_flow(layers, (int32_t)levels, frames, heads, n, in_dtype, layout, cfg, 3, shape, out_dtype,
                          got));
    expected_flow(layers, levels, begin, end, frames, heads, n, &m, k ? rows : NULL, k, want);
    char what[160];
    snprintf(what, sizeof what, "seed %llu n %lld L %lld H %lld F %lld sparse %d out %d options %d k %lld",
             (unsigned long long)seed, (long long)n, (long long)levels, (long long)heads, (long long)frames, sparse,
             (int)out_dtype, options, (long long)k);
    if (out_dtype == ATTNROLL_F64)
        assert_flow_close(got, want, frames * count * kept, 1e-12, 1e-16, what);
    else
        assert_flow_close(got, want, frames * count * kept, 2e-6, 1e-9, what);
    /* A flow never exceeds what leaves the source (rows of Abar sum to 1). */
    for (int64_t e = 0; e < frames * count * kept; ++e) assert_true(got[e] <= 1.0 + 1e-6);
    free(got);
    free(want);
    attnroll_config_destroy(cfg);
    for (int64_t l = 0; l < levels; ++l) free(a[l]);
}

static void test_flow_random(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 12);
    /* every layout but the broadcasting ones, which would change the values */
    const int layouts[8] = {TU_CNULL, TU_C, TU_FORTRAN, TU_TRANSPOSED, TU_NEGATIVE, TU_SLICED, TU_HEADS_LAST,
                            TU_TRANSPOSED_NEG};
    for (uint64_t seed = 100; seed < 260; ++seed) {
        const int64_t n = tu_randint(&rng, 2, 7), levels = tu_randint(&rng, 1, 6);
        const int64_t heads = tu_randint(&rng, 1, 3), frames = tu_randint(&rng, 1, 3);
        const int sparse = (int)(seed % 2);
        const int32_t out_dtype = seed % 3 == 0 ? ATTNROLL_F32 : ATTNROLL_F64;
        const int32_t in_dtype = seed % 5 == 0 ? ATTNROLL_F16 : seed % 5 == 1 ? ATTNROLL_F32 : ATTNROLL_F64;
        random_case(seed, n, levels, heads, frames, sparse, out_dtype, in_dtype, layouts[seed % 8], 1);
    }
}

/* Large enough for several workers: the sinks are spread over threads. */
static void test_flow_threads(void **state)
{
    (void)state;
    random_case(7, 40, 4, 2, 2, 0, ATTNROLL_F64, ATTNROLL_F64, TU_CNULL, 2);
    random_case(8, 36, 5, 1, 1, 1, ATTNROLL_F32, ATTNROLL_F32, TU_TRANSPOSED, 2);
}

/* ---- bad input ------------------------------------------------------------ */

static void test_flow_bad_input(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 3);
    const int64_t n = 4, heads = 2;
    double *a = tu_peaky_alloc(&rng, heads * n * n, n, 2.0);
    const double *layers[] = {a, a};
    double got[16];
    const int64_t good[] = {1, n, n}, bad[] = {1, n, n + 1};
    attnroll_config *cfg;

    /* wrong output shape */
    TU_ASSERT_STATUS(run_flow(layers, 2, 1, heads, n, ATTNROLL_F64, TU_CNULL, NULL, 3, bad, ATTNROLL_F64, got),
                     ATTNROLL_E_SHAPE);
    /* query rows out of range */
    const int64_t far[] = {0, 4};
    cfg = tu_config(TU_DEF, TU_DEF, -1.0, far, 2, TU_DEF);
    const int64_t two[] = {1, 2, n};
    TU_ASSERT_STATUS(run_flow(layers, 2, 1, heads, n, ATTNROLL_F64, TU_CNULL, cfg, 3, two, ATTNROLL_F64, got),
                     ATTNROLL_E_ARGUMENT);
    assert_true(tu_message_matches(attnroll_last_error(), "~query"));
    attnroll_config_destroy(cfg);
    /* Chefer's rule and per-layer outputs are refused */
    assert_int_equal(attnroll_config_create(&cfg), ATTNROLL_OK);
    TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_RULE, ATTNROLL_RULE_CHEFER));
    TU_ASSERT_STATUS(run_flow(layers, 2, 1, heads, n, ATTNROLL_F64, TU_CNULL, cfg, 3, good, ATTNROLL_F64, got),
                     ATTNROLL_E_ARGUMENT);
    assert_true(tu_message_matches(attnroll_last_error(), "ATTNROLL_OPT_RULE"));
    TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_RULE, ATTNROLL_RULE_ROLLOUT));
    TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_CUMULATIVE, 1));
    TU_ASSERT_STATUS(run_flow(layers, 2, 1, heads, n, ATTNROLL_F64, TU_CNULL, cfg, 3, good, ATTNROLL_F64, got),
                     ATTNROLL_E_ARGUMENT);
    assert_true(tu_message_matches(attnroll_last_error(), "ATTNROLL_OPT_CUMULATIVE"));
    attnroll_config_destroy(cfg);
    /* NaN, infinite and negative capacities */
    double *b = malloc((size_t)(heads * n * n) * sizeof *b);
    const double *mixed[] = {a, b};
    const double poison[] = {NAN, INFINITY, -INFINITY};
    /* an infinity becomes NaN through the row normalisation */
    for (int p = 0; p < 3; ++p) {
        memcpy(b, a, (size_t)(heads * n * n) * sizeof *b);
        b[n * n + 2 * n + 1] = poison[p];
        TU_ASSERT_STATUS(run_flow(mixed, 2, 1, heads, n, ATTNROLL_F64, TU_CNULL, NULL, 3, good, ATTNROLL_F64, got),
                         ATTNROLL_E_ARGUMENT);
        assert_true(tu_message_matches(attnroll_last_error(), "~nan|inf"));
        assert_true(tu_message_matches(attnroll_last_error(), "layers[1]"));
    }
    /* one negative entry in every head: a negative capacity */
    memcpy(b, a, (size_t)(heads * n * n) * sizeof *b);
    for (int64_t h = 0; h < heads; ++h) b[h * n * n + 2 * n + 1] = -0.05;
    TU_ASSERT_STATUS(run_flow(mixed, 2, 1, heads, n, ATTNROLL_F64, TU_CNULL, NULL, 3, good, ATTNROLL_F64, got),
                     ATTNROLL_E_ARGUMENT);
    assert_true(tu_message_matches(attnroll_last_error(), "non-negative"));
    assert_true(tu_message_matches(attnroll_last_error(), "Abar[2,1]"));
    free(b);

    /* NULLs, counts, non-square layers, output dtype, overlap */
    const int64_t sq[] = {heads, n, n}, nsq[] = {heads, n, n - 1}, out_shape[] = {n, n};
    tu_tensor *l0 = tu_from(a, 3, sq, ATTNROLL_F64, TU_CNULL);
    tu_tensor *out = tu_new(2, out_shape, ATTNROLL_F64, TU_CNULL);
    TU_ASSERT_FAILS(attnroll_flow(NULL, 1, NULL, &out->view), ATTNROLL_E_ARGUMENT, "layers");
    TU_ASSERT_FAILS(attnroll_flow(&l0->view, 0, NULL, &out->view), ATTNROLL_E_ARGUMENT, "num_layers");
    TU_ASSERT_FAILS(attnroll_flow(&l0->view, 1, NULL, NULL), ATTNROLL_E_ARGUMENT, "out");
    attnroll_tensor ns = l0->view;
    ns.shape = nsq;
    TU_ASSERT_FAILS(attnroll_flow(&ns, 1, NULL, &out->view), ATTNROLL_E_SHAPE, "not square");
    attnroll_tensor half = out->view;
    half.dtype = ATTNROLL_F16;
    TU_ASSERT_FAILS(attnroll_flow(&l0->view, 1, NULL, &half), ATTNROLL_E_DTYPE, "out");
    attnroll_tensor alias = out->view;
    alias.data = l0->view.data;
    TU_ASSERT_FAILS(attnroll_flow(&l0->view, 1, NULL, &alias), ATTNROLL_E_OVERLAP, "out");
    /* 3-D layers give [N', N'] */
    TU_ASSERT_OK(attnroll_flow(&l0->view, 1, NULL, &out->view));
    tu_free(l0);
    tu_free(out);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_one_layer),
        cmocka_unit_test(test_flow_identity),
        cmocka_unit_test(test_flow_disconnected),
        cmocka_unit_test(test_flow_all_into_one_token),
        cmocka_unit_test(test_flow_random),
        cmocka_unit_test(test_flow_threads),
        cmocka_unit_test(test_flow_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
