/*
 * Streaming spatial rollout: streaming equals batch and the reference (F32 /
 * F64, with and without query rows, layer ranges, H varying per push, mixed
 * dtypes/layouts), attnroll_stream_info counts and bytes, refused pushes leave
 * the stream usable, state errors, result asked twice, [H,N,N] pushes.
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

static int64_t pushed(const attnroll_stream *s)
{
    int64_t n = -1;
    TU_ASSERT_OK(attnroll_stream_info(s, &n, NULL));
    return n;
}

static int64_t held(const attnroll_stream *s)
{
    int64_t b = -1;
    TU_ASSERT_OK(attnroll_stream_info(s, NULL, &b));
    return b;
}

/* Pushes layer l ([F,H,N,N] doubles) as dtype/layout. */
static int32_t push(attnroll_stream *s, const double *vals, int ndim, const int64_t *shape,
                    int32_t dtype, int layout)
{
    tu_tensor *t = tu_from(vals, ndim, shape, dtype, layout);
    int32_t st = attnroll_stream_push(s, &t->view);
    tu_free(t);
    return st;
}

/* Reads the result into a fresh output of the given shape/dtype/layout. */
static int32_t result(attnroll_stream *s, int ndim, const int64_t *shape, int32_t dtype,
                      int layout, double *got)
{
    tu_tensor *out = tu_new(ndim, shape, dtype, layout);
    tu_fill_sentinel(out);
    int32_t st = attnroll_stream_result(s, &out->view);
    if (st == ATTNROLL_OK) {
        tu_get(out, got);
        assert_true(tu_gaps_untouched(out));
    } else {
        TU_ASSERT_UNTOUCHED(out);
    }
    tu_free(out);
    return st;
}

typedef struct scase {
    int64_t frames, n;
    int32_t layers;
    int64_t heads[8]; /* per layer */
    int32_t stream_dtype;
    int64_t begin, end; /* TU_DEF: default */
    const int64_t *rows;
    int64_t k;
    double residual; /* < 0 default */
} scase;

/* Streams the layers, checks the result against the reference, and (when all
 * heads agree) against attnroll_spatial on the same layers. */
static void run_case(const scase *c, uint64_t seed)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    const int32_t dtypes[] = {ATTNROLL_F32, ATTNROLL_F16, ATTNROLL_F64, ATTNROLL_BF16};
    const int layouts[] = {TU_CNULL, TU_FORTRAN, TU_NEGATIVE, TU_SLICED, TU_TRANSPOSED};
    double *layers[8];
    int same_heads = 1;
    for (int32_t l = 0; l < c->layers; ++l) {
        int64_t cnt = c->frames * c->heads[l] * c->n * c->n;
        layers[l] = tu_peaky_alloc(&rng, cnt, c->n, 4.0);
        tu_quantize(layers[l], cnt, dtypes[l % 4]);
        if (c->heads[l] != c->heads[0]) same_heads = 0;
    }
    int64_t b = c->begin == TU_DEF ? 0 : c->begin;
    int64_t e = (c->end == TU_DEF || c->end == -1) ? c->layers : c->end;
    double r = c->residual < 0 ? 1.0 : c->residual;
    int64_t orows = c->k ? c->k : c->n;
    int64_t nout = c->frames * orows * c->n;
    double *want = malloc((size_t)nout * sizeof *want);
    double *got = malloc((size_t)nout * sizeof *got);
    double *got2 = malloc((size_t)nout * sizeof *got2);
    double *batch = malloc((size_t)nout * sizeof *batch);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(got2);
    assert_non_null(batch);
    ref_spatial((const double *const *)layers, c->heads, c->layers, c->frames, c->n, b, e, r,
                c->rows, c->k, want);

    attnroll_config *cfg = tu_config(c->begin, c->end, c->residual, c->rows, c->k, TU_DEF);
    attnroll_stream *s = NULL;
    TU_ASSERT_OK(attnroll_stream_create(cfg, c->frames, c->n, c->stream_dtype, &s));
    assert_non_null(s);
    assert_int_equal(pushed(s), 0);
    for (int32_t l = 0; l < c->layers; ++l) {
        const int64_t shape[] = {c->frames, c->heads[l], c->n, c->n};
        TU_ASSERT_OK(push(s, layers[l], 4, shape, dtypes[l % 4], layouts[l % 5]));
        assert_int_equal(pushed(s), l + 1);
    }
    const int64_t oshape[] = {c->frames, orows, c->n};
    double tol = c->stream_dtype == ATTNROLL_F32 ? TOL_F32 : TOL_F64;
    int32_t odt = c->stream_dtype;
    TU_ASSERT_OK(result(s, 3, oshape, odt, TU_CNULL, got));
    TU_ASSERT_CLOSE(got, want, nout, tol);
    /* asked again: identical, also through a strided output */
    TU_ASSERT_OK(result(s, 3, oshape, odt, TU_NEGATIVE, got2));
    TU_ASSERT_EQUAL(got2, got, nout);
    /* read in the other precision: the same numbers (F32 stream -> exact in
     * F64; F64 stream -> rounded to F32) */
    int32_t other = odt == ATTNROLL_F32 ? ATTNROLL_F64 : ATTNROLL_F32;
    TU_ASSERT_OK(result(s, 3, oshape, other, TU_FORTRAN, got2));
    for (int64_t i = 0; i < nout; ++i)
        batch[i] = odt == ATTNROLL_F32 ? got[i] : (double)(float)got[i];
    TU_ASSERT_EQUAL(got2, batch, nout);
    /* finished: pushes refused */
    const int64_t shape0[] = {c->frames, c->heads[0], c->n, c->n};
    TU_ASSERT_FAILS(push(s, layers[0], 4, shape0, dtypes[0], TU_CNULL), ATTNROLL_E_STATE, NULL);
    assert_int_equal(pushed(s), c->layers);
    attnroll_stream_destroy(s);

    /* the batch call on the same layers (all heads equal) */
    if (same_heads) {
        const int64_t shape[] = {c->frames, c->heads[0], c->n, c->n};
        TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, c->layers, 4, shape,
                                    ATTNROLL_F64, TU_CNULL, cfg, 3, oshape, odt, TU_CNULL,
                                    batch));
        TU_ASSERT_CLOSE(got, batch, nout, odt == ATTNROLL_F32 ? 2 * TOL_F32 : 2 * TOL_F64);
        TU_ASSERT_CLOSE(batch, want, nout, tol);
    }
    attnroll_config_destroy(cfg);
    for (int32_t l = 0; l < c->layers; ++l) free(layers[l]);
    free(want);
    free(got);
    free(got2);
    free(batch);
}

static void test_stream_equals_batch(void **state)
{
    (void)state;
    scase a = {2, 16, 5, {3, 3, 3, 3, 3}, ATTNROLL_F64, TU_DEF, TU_DEF, NULL, 0, -1};
    run_case(&a, 1);
    scase b = {2, 16, 5, {3, 3, 3, 3, 3}, ATTNROLL_F32, TU_DEF, TU_DEF, NULL, 0, -1};
    run_case(&b, 2);
    scase c = {1, 40, 8, {4, 4, 4, 4, 4, 4, 4, 4}, ATTNROLL_F32, TU_DEF, TU_DEF, NULL, 0, -1};
    run_case(&c, 3);
    scase d = {3, 7, 1, {2}, ATTNROLL_F64, TU_DEF, TU_DEF, NULL, 0, -1};
    run_case(&d, 4);
}

static void test_stream_query_rows(void **state)
{
    (void)state;
    const int64_t cls[] = {0}, several[] = {5, 0, 5, 15};
    scase a = {2, 16, 5, {3, 3, 3, 3, 3}, ATTNROLL_F64, TU_DEF, TU_DEF, cls, 1, -1};
    run_case(&a, 11);
    scase b = {2, 16, 5, {3, 3, 3, 3, 3}, ATTNROLL_F32, TU_DEF, TU_DEF, several, 4, -1};
    run_case(&b, 12);
    scase c = {1, 16, 6, {2, 2, 2, 2, 2, 2}, ATTNROLL_F64, 1, 5, several, 4, 0.5};
    run_case(&c, 13);
}

static void test_stream_layer_ranges(void **state)
{
    (void)state;
    scase a = {2, 12, 6, {2, 2, 2, 2, 2, 2}, ATTNROLL_F64, 1, TU_DEF, NULL, 0, -1};
    run_case(&a, 21);
    scase b = {2, 12, 6, {2, 2, 2, 2, 2, 2}, ATTNROLL_F32, 2, 4, NULL, 0, -1};
    run_case(&b, 22);
    scase c = {1, 12, 6, {2, 2, 2, 2, 2, 2}, ATTNROLL_F64, 5, -1, NULL, 0, 0.0};
    run_case(&c, 23);
    scase d = {1, 12, 6, {2, 2, 2, 2, 2, 2}, ATTNROLL_F64, 0, 1, NULL, 0, -1};
    run_case(&d, 24);
}

/* H may differ between pushes (compared with the reference only). */
static void test_stream_varying_heads(void **state)
{
    (void)state;
    scase a = {2, 14, 5, {1, 4, 2, 3, 1}, ATTNROLL_F64, TU_DEF, TU_DEF, NULL, 0, -1};
    run_case(&a, 31);
    scase b = {2, 14, 5, {3, 1, 5, 2, 2}, ATTNROLL_F32, 1, TU_DEF, NULL, 0, -1};
    run_case(&b, 32);
    const int64_t rows[] = {13, 2};
    scase c = {1, 14, 4, {2, 1, 4, 3}, ATTNROLL_F64, TU_DEF, TU_DEF, rows, 2, -1};
    run_case(&c, 33);
}

/* stream_info: bytes held without query rows do not grow with pushes and do
 * not depend on H; they hold at least the F*N*N product, at most a few copies.
 * With query rows the fused matrix of every layer in range is kept: bytes
 * grow, still independently of H. */
static void test_stream_info(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 41);
    const int64_t F = 2, n = 24;
    const int32_t dts[] = {ATTNROLL_F32, ATTNROLL_F64};
    for (int d = 0; d < 2; ++d) {
        const int64_t es = d ? 8 : 4;
        attnroll_stream *s1 = NULL, *s8 = NULL;
        TU_ASSERT_OK(attnroll_stream_create(NULL, F, n, dts[d], &s1));
        TU_ASSERT_OK(attnroll_stream_create(NULL, F, n, dts[d], &s8));
        int64_t np = -1, nb = -1;
        TU_ASSERT_OK(attnroll_stream_info(s1, &np, &nb));
        assert_int_equal(np, 0);
        assert_true(nb >= 0);
        TU_ASSERT_OK(attnroll_stream_info(s1, NULL, NULL));
        int64_t first = -1;
        for (int l = 0; l < 6; ++l) {
            const int64_t sh1[] = {F, 1, n, n}, sh8[] = {F, 8, n, n};
            double *a1 = tu_peaky_alloc(&rng, F * n * n, n, 4.0);
            double *a8 = tu_peaky_alloc(&rng, F * 8 * n * n, n, 4.0);
            TU_ASSERT_OK(push(s1, a1, 4, sh1, ATTNROLL_F32, TU_CNULL));
            TU_ASSERT_OK(push(s8, a8, 4, sh8, ATTNROLL_F32, TU_CNULL));
            free(a1);
            free(a8);
            assert_int_equal(pushed(s1), l + 1);
            assert_int_equal(held(s1), held(s8));
            if (l == 0) first = held(s1);
            assert_int_equal(held(s1), first);
            assert_true(held(s1) >= F * n * n * es);
            assert_true(held(s1) <= 4 * F * n * n * es + 65536);
        }
        attnroll_stream_destroy(s1);
        attnroll_stream_destroy(s8);

        /* with query rows {0}: L*F*N*N values kept for the layers in range */
        const int64_t rows[] = {0};
        attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, -1.0, rows, 1, TU_DEF);
        TU_ASSERT_OK(attnroll_stream_create(cfg, F, n, dts[d], &s1));
        TU_ASSERT_OK(attnroll_stream_create(cfg, F, n, dts[d], &s8));
        int64_t prev = held(s1);
        for (int l = 0; l < 5; ++l) {
            const int64_t sh1[] = {F, 1, n, n}, sh8[] = {F, 8, n, n};
            double *a1 = tu_peaky_alloc(&rng, F * n * n, n, 4.0);
            double *a8 = tu_peaky_alloc(&rng, F * 8 * n * n, n, 4.0);
            TU_ASSERT_OK(push(s1, a1, 4, sh1, ATTNROLL_F64, TU_CNULL));
            TU_ASSERT_OK(push(s8, a8, 4, sh8, ATTNROLL_F64, TU_CNULL));
            free(a1);
            free(a8);
            int64_t now = held(s1);
            assert_true(now > prev);
            assert_true(now >= (l + 1) * F * n * n * es);
            assert_int_equal(now, held(s8));
            prev = now;
        }
        attnroll_stream_destroy(s1);
        attnroll_stream_destroy(s8);
        attnroll_config_destroy(cfg);
    }
    attnroll_stream_destroy(NULL); /* no-op */
    TU_ASSERT_FAILS(attnroll_stream_info(NULL, NULL, NULL), ATTNROLL_E_ARGUMENT, "stream");
}

/* Refused pushes (wrong N, wrong F, wrong rank, non-square, bad dtype, NULL)
 * leave the stream as if they had not been made: the final result equals a
 * clean stream's exactly. */
static void test_stream_bad_push_keeps_stream(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 51);
    const int64_t F = 2, H = 2, n = 10;
    double *a[3];
    for (int l = 0; l < 3; ++l) a[l] = tu_peaky_alloc(&rng, F * H * n * n, n, 4.0);
    double *junk = tu_peaky_alloc(&rng, 4 * 4 * 12 * 12, 12, 4.0);
    const int64_t good[] = {F, H, n, n};
    const int64_t wrong_n[] = {F, H, n + 1, n + 1}, wrong_f[] = {F + 1, H, n, n};
    const int64_t nonsq[] = {F, H, n, n + 1}, r3[] = {H, n, n}, r5[] = {1, F, H, n, n};
    const int64_t zero_h[] = {F, 0, n, n};

    attnroll_stream *clean = NULL, *s = NULL;
    TU_ASSERT_OK(attnroll_stream_create(NULL, F, n, ATTNROLL_F64, &clean));
    TU_ASSERT_OK(attnroll_stream_create(NULL, F, n, ATTNROLL_F64, &s));
    for (int l = 0; l < 3; ++l) {
        TU_ASSERT_OK(push(clean, a[l], 4, good, ATTNROLL_F64, TU_CNULL));
        TU_ASSERT_FAILS(push(s, junk, 4, wrong_n, ATTNROLL_F64, TU_CNULL), ATTNROLL_E_SHAPE,
                        "layer");
        TU_ASSERT_FAILS(push(s, junk, 4, wrong_f, ATTNROLL_F64, TU_CNULL), ATTNROLL_E_SHAPE,
                        "layer");
        TU_ASSERT_FAILS(push(s, junk, 4, nonsq, ATTNROLL_F64, TU_CNULL), ATTNROLL_E_SHAPE,
                        "layer");
        TU_ASSERT_FAILS(push(s, junk, 3, r3, ATTNROLL_F64, TU_CNULL), ATTNROLL_E_SHAPE,
                        "layer"); /* [H,N,N] only when F == 1 */
        TU_ASSERT_FAILS(push(s, junk, 5, r5, ATTNROLL_F64, TU_CNULL), ATTNROLL_E_SHAPE, "layer");
        {
            tu_tensor *t = tu_from(a[l], 4, good, ATTNROLL_F64, TU_CNULL);
            attnroll_tensor bad = t->view;
            bad.dtype = 42;
            TU_ASSERT_FAILS(attnroll_stream_push(s, &bad), ATTNROLL_E_DTYPE, "layer");
            bad = t->view;
            bad.shape = zero_h;
            TU_ASSERT_FAILS(attnroll_stream_push(s, &bad), ATTNROLL_E_SHAPE, "layer");
            bad = t->view;
            bad.data = NULL;
            TU_ASSERT_FAILS(attnroll_stream_push(s, &bad), ATTNROLL_E_ARGUMENT, "layer");
            tu_free(t);
        }
        TU_ASSERT_FAILS(attnroll_stream_push(s, NULL), ATTNROLL_E_ARGUMENT, "layer");
        TU_ASSERT_FAILS(attnroll_stream_push(NULL, NULL), ATTNROLL_E_ARGUMENT, "stream");
        assert_int_equal(pushed(s), l);
        TU_ASSERT_OK(push(s, a[l], 4, good, ATTNROLL_F64, TU_CNULL));
        assert_int_equal(pushed(s), l + 1);
    }
    const int64_t o[] = {F, n, n};
    double want[2 * 10 * 10], got[2 * 10 * 10];
    TU_ASSERT_OK(result(clean, 3, o, ATTNROLL_F64, TU_CNULL, want));
    TU_ASSERT_OK(result(s, 3, o, ATTNROLL_F64, TU_CNULL, got));
    TU_ASSERT_EQUAL(got, want, F * n * n);
    attnroll_stream_destroy(clean);
    attnroll_stream_destroy(s);
    for (int l = 0; l < 3; ++l) free(a[l]);
    free(junk);
}

/* State errors: result before any push; result with LAYER_END beyond the
 * layers pushed (then more pushes make it work); no layer of the range
 * pushed; push after result; wrong result shape / dtype keeps the stream. */
static void test_stream_state(void **state)
{
    (void)state;
    /* hand data: A0 = [[.5,.5],[.25,.75]] -> [[.75,.25],[.125,.875]];
     * A1 = [[0,1],[1,0]] -> [[.5,.5],[.5,.5]]; A1-after-A0 = [.4375,.5625] rows */
    const double a0[] = {.5, .5, .25, .75}, a1[] = {0, 1, 1, 0};
    const int64_t s3[] = {1, 2, 2}, s4[] = {1, 1, 2, 2}, o2[] = {2, 2}, o3[] = {1, 2, 2};
    const double w0[] = {.75, .25, .125, .875}, w01[] = {.4375, .5625, .4375, .5625};
    double got[4];

    attnroll_stream *s = NULL;
    TU_ASSERT_OK(attnroll_stream_create(NULL, 1, 2, ATTNROLL_F64, &s));
    TU_ASSERT_FAILS(result(s, 2, o2, ATTNROLL_F64, TU_CNULL, got), ATTNROLL_E_STATE, NULL);
    /* [H,N,N] push when F == 1 */
    TU_ASSERT_OK(push(s, a0, 3, s3, ATTNROLL_F64, TU_CNULL));
    /* wrong output shape / dtype: refused, stream still usable */
    const int64_t bad_o[] = {3, 3};
    TU_ASSERT_FAILS(result(s, 2, bad_o, ATTNROLL_F64, TU_CNULL, got), ATTNROLL_E_SHAPE, "out");
    TU_ASSERT_FAILS(result(s, 2, o2, ATTNROLL_F16, TU_CNULL, got), ATTNROLL_E_DTYPE, "out");
    TU_ASSERT_FAILS(attnroll_stream_result(s, NULL), ATTNROLL_E_ARGUMENT, "out");
    TU_ASSERT_FAILS(attnroll_stream_result(NULL, NULL), ATTNROLL_E_ARGUMENT, NULL);
    TU_ASSERT_OK(push(s, a1, 4, s4, ATTNROLL_F32, TU_CNULL)); /* [F,H,N,N] mixes fine */
    TU_ASSERT_OK(result(s, 2, o2, ATTNROLL_F64, TU_CNULL, got));
    TU_ASSERT_CLOSE(got, w01, 4, 1e-15);
    /* F == 1: [1,N,N] output too */
    TU_ASSERT_OK(result(s, 3, o3, ATTNROLL_F32, TU_CNULL, got));
    TU_ASSERT_CLOSE(got, w01, 4, 1e-7);
    TU_ASSERT_FAILS(push(s, a0, 3, s3, ATTNROLL_F64, TU_CNULL), ATTNROLL_E_STATE, NULL);
    assert_int_equal(pushed(s), 2);
    attnroll_stream_destroy(s);

    /* F == 1 with query rows {1}: out [k,N] = [1,2] or [F,k,N] = [1,1,2];
     * row 1 of A1-after-A0 is [.4375,.5625] */
    {
        const int64_t q[] = {1}, ok2[] = {1, 2}, ok3[] = {1, 1, 2};
        attnroll_config *qc = tu_config(TU_DEF, TU_DEF, -1.0, q, 1, TU_DEF);
        TU_ASSERT_OK(attnroll_stream_create(qc, 1, 2, ATTNROLL_F32, &s));
        attnroll_config_destroy(qc);
        TU_ASSERT_OK(push(s, a0, 3, s3, ATTNROLL_F16, TU_CNULL));
        TU_ASSERT_OK(push(s, a1, 3, s3, ATTNROLL_BF16, TU_NEGATIVE));
        TU_ASSERT_FAILS(result(s, 2, o2, ATTNROLL_F64, TU_CNULL, got), ATTNROLL_E_SHAPE, "out");
        TU_ASSERT_OK(result(s, 2, ok2, ATTNROLL_F64, TU_CNULL, got));
        TU_ASSERT_CLOSE(got, w01, 2, 1e-7);
        TU_ASSERT_OK(result(s, 3, ok3, ATTNROLL_F32, TU_CNULL, got));
        TU_ASSERT_CLOSE(got, w01 + 2, 2, 1e-7);
        attnroll_stream_destroy(s);
    }

    /* LAYER_END = 2 with one layer pushed: E_STATE; one more push: fine */
    attnroll_config *cfg = tu_config(TU_DEF, 2, -1.0, NULL, 0, TU_DEF);
    TU_ASSERT_OK(attnroll_stream_create(cfg, 1, 2, ATTNROLL_F64, &s));
    TU_ASSERT_OK(push(s, a0, 3, s3, ATTNROLL_F64, TU_CNULL));
    TU_ASSERT_FAILS(result(s, 2, o2, ATTNROLL_F64, TU_CNULL, got), ATTNROLL_E_STATE, NULL);
    TU_ASSERT_OK(push(s, a1, 3, s3, ATTNROLL_F64, TU_CNULL));
    TU_ASSERT_OK(result(s, 2, o2, ATTNROLL_F64, TU_CNULL, got));
    TU_ASSERT_CLOSE(got, w01, 4, 1e-15);
    attnroll_stream_destroy(s);
    attnroll_config_destroy(cfg);

    /* LAYER_END = 1: the second push is validated and ignored */
    cfg = tu_config(TU_DEF, 1, -1.0, NULL, 0, TU_DEF);
    TU_ASSERT_OK(attnroll_stream_create(cfg, 1, 2, ATTNROLL_F64, &s));
    TU_ASSERT_OK(push(s, a0, 3, s3, ATTNROLL_F64, TU_CNULL));
    TU_ASSERT_OK(push(s, a1, 3, s3, ATTNROLL_F64, TU_CNULL));
    const int64_t wrong[] = {1, 3, 3};
    double junk[9] = {0};
    TU_ASSERT_FAILS(push(s, junk, 3, wrong, ATTNROLL_F64, TU_CNULL), ATTNROLL_E_SHAPE, "layer");
    assert_int_equal(pushed(s), 2);
    TU_ASSERT_OK(result(s, 2, o2, ATTNROLL_F64, TU_CNULL, got));
    TU_ASSERT_CLOSE(got, w0, 4, 1e-15);
    attnroll_stream_destroy(s);
    attnroll_config_destroy(cfg);

    /* LAYER_BEGIN = 3 with two layers pushed: nothing of the range: E_STATE */
    cfg = tu_config(3, TU_DEF, -1.0, NULL, 0, TU_DEF);
    TU_ASSERT_OK(attnroll_stream_create(cfg, 1, 2, ATTNROLL_F64, &s));
    TU_ASSERT_OK(push(s, a0, 3, s3, ATTNROLL_F64, TU_CNULL));
    TU_ASSERT_OK(push(s, a1, 3, s3, ATTNROLL_F64, TU_CNULL));
    TU_ASSERT_FAILS(result(s, 2, o2, ATTNROLL_F64, TU_CNULL, got), ATTNROLL_E_STATE, NULL);
    attnroll_stream_destroy(s);
    attnroll_config_destroy(cfg);
}

/* The config is copied at create: later changes do not affect the stream,
 * and the config may be destroyed at once. */
static void test_stream_config_copied(void **state)
{
    (void)state;
    const double a0[] = {0, 1, 1, 0};
    const int64_t s3[] = {1, 2, 2}, o2[] = {2, 2};
    double got[4];
    /* r = 3: [[3,1],[1,3]]/4 */
    const double w3[] = {.75, .25, .25, .75};
    attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, 3.0, NULL, 0, TU_DEF);
    attnroll_stream *s = NULL;
    TU_ASSERT_OK(attnroll_stream_create(cfg, 1, 2, ATTNROLL_F64, &s));
    TU_ASSERT_OK(attnroll_config_set_float(cfg, ATTNROLL_OPT_RESIDUAL, 1.0));
    TU_ASSERT_OK(attnroll_config_set_int(cfg, ATTNROLL_OPT_LAYER_BEGIN, 5));
    attnroll_config_destroy(cfg);
    TU_ASSERT_OK(push(s, a0, 3, s3, ATTNROLL_F64, TU_CNULL));
    TU_ASSERT_OK(result(s, 2, o2, ATTNROLL_F64, TU_CNULL, got));
    TU_ASSERT_CLOSE(got, w3, 4, 1e-15);
    attnroll_stream_destroy(s);
}

/* create's own errors; *stream is NULL after a failure. */
static void test_stream_create_errors(void **state)
{
    (void)state;
    attnroll_stream *s = (attnroll_stream *)&s; /* not NULL */
    TU_ASSERT_FAILS(attnroll_stream_create(NULL, 0, 4, ATTNROLL_F32, &s), ATTNROLL_E_ARGUMENT,
                    "frames");
    assert_null(s);
    s = (attnroll_stream *)&s;
    TU_ASSERT_FAILS(attnroll_stream_create(NULL, -1, 4, ATTNROLL_F32, &s), ATTNROLL_E_ARGUMENT,
                    "frames");
    assert_null(s);
    s = (attnroll_stream *)&s;
    TU_ASSERT_FAILS(attnroll_stream_create(NULL, 1, 0, ATTNROLL_F32, &s), ATTNROLL_E_ARGUMENT,
                    "tokens");
    assert_null(s);
    s = (attnroll_stream *)&s;
    TU_ASSERT_FAILS(attnroll_stream_create(NULL, 1, (int64_t)1 << 31, ATTNROLL_F32, &s),
                    ATTNROLL_E_ARGUMENT, "tokens");
    assert_null(s);
    const int32_t bad_dt[] = {ATTNROLL_F16, ATTNROLL_BF16, 0, 9};
    for (int i = 0; i < 4; ++i) {
        s = (attnroll_stream *)&s;
        TU_ASSERT_FAILS(attnroll_stream_create(NULL, 1, 4, bad_dt[i], &s), ATTNROLL_E_DTYPE,
                        "dtype");
        assert_null(s);
    }
    TU_ASSERT_FAILS(attnroll_stream_create(NULL, 1, 4, ATTNROLL_F32, NULL), ATTNROLL_E_ARGUMENT,
                    "stream");
    /* query rows must be < N */
    const int64_t rows[] = {0, 4};
    attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, -1.0, rows, 2, TU_DEF);
    s = (attnroll_stream *)&s;
    TU_ASSERT_FAILS(attnroll_stream_create(cfg, 1, 4, ATTNROLL_F32, &s), ATTNROLL_E_ARGUMENT,
                    NULL);
    assert_null(s);
    TU_ASSERT_OK(attnroll_stream_create(cfg, 1, 5, ATTNROLL_F32, &s));
    assert_non_null(s);
    attnroll_stream_destroy(s);
    attnroll_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_equals_batch),
        cmocka_unit_test(test_stream_query_rows),
        cmocka_unit_test(test_stream_layer_ranges),
        cmocka_unit_test(test_stream_varying_heads),
        cmocka_unit_test(test_stream_info),
        cmocka_unit_test(test_stream_bad_push_keeps_stream),
        cmocka_unit_test(test_stream_state),
        cmocka_unit_test(test_stream_config_copied),
        cmocka_unit_test(test_stream_create_errors),
    };
    return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
