/*
 * Input dtypes and strides: every dtype (F32, F64, F16, BF16) and every kind of
 * strided view (explicit C strides, column-major, last two axes transposed in
 * storage, negative, sliced every other element, zero-stride broadcast over
 * heads, heads stored innermost) gives exactly the numbers of the contiguous
 * array of the same dtype; a transposed view of a contiguous buffer gives the
 * rollout of the transposed matrices; strided / negative-stride outputs; layers
 * of different dtypes and layouts in one call; strided temporal inputs.
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

static const int32_t in_dtypes[] = {ATTNROLL_F32, ATTNROLL_F64, ATTNROLL_F16, ATTNROLL_BF16};
static const int32_t out_dtypes[] = {ATTNROLL_F64, ATTNROLL_F32};
static const int in_layouts[] = {TU_C,      TU_FORTRAN,   TU_TRANSPOSED,    TU_NEGATIVE,
                                 TU_SLICED, TU_HEADS_LAST, TU_TRANSPOSED_NEG};

enum { F = 2, H = 3, N = 13, L = 3 };

typedef struct data {
    double *layers[L];
    int64_t heads[L];
} data;

static void make_data(data *d, uint64_t seed, int32_t dtype, int bcast_heads)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    const int64_t shape[] = {F, H, N, N};
    for (int l = 0; l < L; ++l) {
        d->layers[l] = tu_peaky_alloc(&rng, F * H * N * N, N, 4.0);
        if (bcast_heads) tu_broadcast_fill(d->layers[l], 4, shape, 1);
        tu_quantize(d->layers[l], F * H * N * N, dtype);
        d->heads[l] = H;
    }
}

static void free_data(data *d)
{
    for (int l = 0; l < L; ++l) free(d->layers[l]);
}

/* For every input dtype (data from seed0 + its index, heads broadcast or not)
 * and output dtype: the contiguous input gives the reference's result, and
 * each of `layouts` gives exactly the contiguous result. */
static void check_layouts_match_contiguous(uint64_t seed0, int bcast_heads, const int *layouts, size_t count)
{
    const int64_t shape[] = {F, H, N, N}, oshape[] = {F, N, N};
    double *base = malloc(sizeof(double) * F * N * N);
    double *got = malloc(sizeof(double) * F * N * N);
    double *want = malloc(sizeof(double) * F * N * N);
    assert_non_null(base);
    assert_non_null(got);
    assert_non_null(want);
    for (size_t d = 0; d < 4; ++d) {
        data dd;
        make_data(&dd, seed0 + d, in_dtypes[d], bcast_heads);
        ref_spatial((const double *const *)dd.layers, dd.heads, L, F, N, 0, L, 1.0, NULL, 0,
                    want);
        for (size_t o = 0; o < 2; ++o) {
            TU_ASSERT_OK(tu_run_spatial((const double *const *)dd.layers, L, 4, shape,
                                        in_dtypes[d], TU_CNULL, NULL, 3, oshape, out_dtypes[o],
                                        TU_CNULL, base));
            TU_ASSERT_CLOSE(base, want, F * N * N, o ? TOL_F32 : TOL_F64);
            for (size_t lo = 0; lo < count; ++lo) {
                TU_ASSERT_OK(tu_run_spatial((const double *const *)dd.layers, L, 4, shape,
                                            in_dtypes[d], layouts[lo], NULL, 3, oshape,
                                            out_dtypes[o], TU_CNULL, got));
                if (tu_max_abs_diff(got, base, F * N * N) != 0.0)
                    print_error("input dtype %d layout %s, output dtype %d:\n", in_dtypes[d],
                                tu_layout_name(layouts[lo]), out_dtypes[o]);
                TU_ASSERT_EQUAL(got, base, F * N * N);
            }
        }
        free_data(&dd);
    }
    free(base);
    free(got);
    free(want);
}

/* Every (input dtype, input layout, output dtype): same numbers as contiguous
 * input of that dtype (exactly), and the contiguous result is the reference's. */
static void test_input_layouts(void **state)
{
    (void)state;
    check_layouts_match_contiguous(100, 0, in_layouts, sizeof in_layouts / sizeof in_layouts[0]);
}

/* Zero stride over heads (one stored head broadcast to H): same as the
 * contiguous array holding H equal heads; also for [H,N,N] layers, and a zero
 * stride over frames. */
static void test_broadcast_heads(void **state)
{
    (void)state;
    static const int bcast_heads[] = {TU_BCAST1};
    check_layouts_match_contiguous(200, 1, bcast_heads, 1);
    const int64_t shape[] = {F, H, N, N}, oshape[] = {F, N, N};
    double *base = malloc(sizeof(double) * F * N * N);
    double *got = malloc(sizeof(double) * F * N * N);
    double *want = malloc(sizeof(double) * F * N * N);
    assert_non_null(base);
    assert_non_null(got);
    assert_non_null(want);
    for (size_t d = 0; d < 4; ++d) {
        data dd;
        make_data(&dd, 200 + d, in_dtypes[d], 1);
        ref_spatial((const double *const *)dd.layers, dd.heads, L, F, N, 0, L, 1.0, NULL, 0,
                    want);
        /* [H,N,N] with stride 0 on axis 0: frame 0 only */
        const int64_t s3[] = {H, N, N}, o2[] = {N, N};
        TU_ASSERT_OK(tu_run_spatial((const double *const *)dd.layers, L, 3, s3, in_dtypes[d],
                                    TU_CNULL, NULL, 2, o2, ATTNROLL_F64, TU_CNULL, base));
        TU_ASSERT_CLOSE(base, want, N * N, TOL_F64);
        TU_ASSERT_OK(tu_run_spatial((const double *const *)dd.layers, L, 3, s3, in_dtypes[d],
                                    TU_BCAST0, NULL, 2, o2, ATTNROLL_F64, TU_CNULL, got));
        TU_ASSERT_EQUAL(got, base, N * N);
        free_data(&dd);
    }
    /* [H,N,N] with stride 0 on the row axis: every row of a head is its row 0 */
    {
        data rw;
        make_data(&rw, 250, ATTNROLL_F64, 0);
        const int64_t s3[] = {H, N, N}, o2[] = {N, N};
        for (int l = 0; l < L; ++l) tu_broadcast_fill(rw.layers[l], 3, s3, 1);
        ref_spatial((const double *const *)rw.layers, rw.heads, L, 1, N, 0, L, 1.0, NULL, 0, want);
        TU_ASSERT_OK(tu_run_spatial((const double *const *)rw.layers, L, 3, s3, ATTNROLL_F64,
                                    TU_CNULL, NULL, 2, o2, ATTNROLL_F64, TU_CNULL, base));
        TU_ASSERT_CLOSE(base, want, N * N, TOL_F64);
        TU_ASSERT_OK(tu_run_spatial((const double *const *)rw.layers, L, 3, s3, ATTNROLL_F64,
                                    TU_BCAST1, NULL, 2, o2, ATTNROLL_F64, TU_CNULL, got));
        TU_ASSERT_EQUAL(got, base, N * N);
        free_data(&rw);
    }
    /* zero stride over frames: both frames are frame 0 */
    data dd;
    make_data(&dd, 299, ATTNROLL_F32, 0);
    for (int l = 0; l < L; ++l) tu_broadcast_fill(dd.layers[l], 4, shape, 0);
    ref_spatial((const double *const *)dd.layers, dd.heads, L, F, N, 0, L, 1.0, NULL, 0, want);
    TU_ASSERT_OK(tu_run_spatial((const double *const *)dd.layers, L, 4, shape, ATTNROLL_F32,
                                TU_BCAST0, NULL, 3, oshape, ATTNROLL_F64, TU_CNULL, got));
    TU_ASSERT_CLOSE(got, want, F * N * N, TOL_F64);
    TU_ASSERT_EQUAL(got, got + N * N, N * N);
    free_data(&dd);
    free(base);
    free(got);
    free(want);
}

/* A view of a contiguous buffer with the last two strides swapped reads the
 * transposed matrices: the result is the rollout of the transposes (compared
 * with the reference on transposed data, and exactly with the contiguous
 * transposed copy). */
static void test_transposed_view_means_transposed_matrices(void **state)
{
    (void)state;
    const int64_t shape[] = {F, H, N, N}, oshape[] = {F, N, N};
    const int64_t tstrides[] = {H * N * N, N * N, 1, N};
    double *got = malloc(sizeof(double) * F * N * N);
    double *want = malloc(sizeof(double) * F * N * N);
    double *copy_res = malloc(sizeof(double) * F * N * N);
    assert_non_null(got);
    assert_non_null(want);
    assert_non_null(copy_res);
    for (size_t d = 0; d < 4; ++d) {
        data dd, tr;
        make_data(&dd, 300 + d, in_dtypes[d], 0);
        for (int l = 0; l < L; ++l) {
            tr.layers[l] = malloc(sizeof(double) * F * H * N * N);
            assert_non_null(tr.layers[l]);
            tu_transpose_last2(dd.layers[l], F * H, N, tr.layers[l]);
            tr.heads[l] = H;
        }
        ref_spatial((const double *const *)tr.layers, tr.heads, L, F, N, 0, L, 1.0, NULL, 0,
                    want);
        /* the transposed matrices are not row-stochastic: the reference and the
         * contiguous copy of the transposes are what the view must give */
        tu_tensor *t[L];
        attnroll_tensor v[L];
        for (int l = 0; l < L; ++l) {
            t[l] = tu_from(dd.layers[l], 4, shape, in_dtypes[d], TU_CNULL);
            v[l] = t[l]->view;
            v[l].strides = tstrides;
        }
        for (size_t o = 0; o < 2; ++o) {
            tu_tensor *out = tu_new(3, oshape, out_dtypes[o], TU_CNULL);
            TU_ASSERT_OK(attnroll_spatial(v, L, NULL, &out->view));
            tu_get(out, got);
            TU_ASSERT_CLOSE(got, want, F * N * N, o ? TOL_F32 : TOL_F64);
            TU_ASSERT_OK(tu_run_spatial((const double *const *)tr.layers, L, 4, shape,
                                        in_dtypes[d], TU_CNULL, NULL, 3, oshape, out_dtypes[o],
                                        TU_CNULL, copy_res));
            TU_ASSERT_EQUAL(got, copy_res, F * N * N);
            tu_free(out);
        }
        for (int l = 0; l < L; ++l) {
            tu_free(t[l]);
            free(tr.layers[l]);
        }
        free_data(&dd);
    }
    free(got);
    free(want);
    free(copy_res);
}

/* Output layouts: strided, column-major, transposed, negative, sliced outputs
 * hold exactly the contiguous output's numbers and nothing outside the view is
 * written (tu_run_spatial checks the gaps); a zero stride on an extent-1 axis
 * is allowed. */
static void test_output_layouts(void **state)
{
    (void)state;
    const int64_t shape[] = {F, H, N, N}, oshape[] = {F, N, N};
    const int out_layouts[] = {TU_C,        TU_FORTRAN, TU_TRANSPOSED, TU_NEGATIVE,
                               TU_SLICED,   TU_TRANSPOSED_NEG};
    double *base = malloc(sizeof(double) * F * N * N);
    double *got = malloc(sizeof(double) * F * N * N);
    assert_non_null(base);
    assert_non_null(got);
    data dd;
    make_data(&dd, 400, ATTNROLL_F32, 0);
    for (size_t o = 0; o < 2; ++o) {
        TU_ASSERT_OK(tu_run_spatial((const double *const *)dd.layers, L, 4, shape, ATTNROLL_F32,
                                    TU_CNULL, NULL, 3, oshape, out_dtypes[o], TU_CNULL, base));
        for (size_t lo = 0; lo < sizeof out_layouts / sizeof out_layouts[0]; ++lo) {
            TU_ASSERT_OK(tu_run_spatial((const double *const *)dd.layers, L, 4, shape,
                                        ATTNROLL_F32, TU_CNULL, NULL, 3, oshape, out_dtypes[o],
                                        out_layouts[lo], got));
            TU_ASSERT_EQUAL(got, base, F * N * N);
        }
    }
    /* one frame: out [1,N,N] with stride 0 on the extent-1 frame axis */
    const int64_t s1[] = {1, H, N, N}, o1[] = {1, N, N}, zstr[] = {0, N, 1};
    TU_ASSERT_OK(tu_run_spatial((const double *const *)dd.layers, L, 4, s1, ATTNROLL_F32,
                                TU_CNULL, NULL, 3, o1, ATTNROLL_F64, TU_CNULL, base));
    tu_tensor *t[L];
    attnroll_tensor v[L];
    for (int l = 0; l < L; ++l) {
        t[l] = tu_from(dd.layers[l], 4, s1, ATTNROLL_F32, TU_CNULL);
        v[l] = t[l]->view;
    }
    double *buf = malloc(sizeof(double) * N * N);
    assert_non_null(buf);
    attnroll_tensor out = {buf, ATTNROLL_F64, 3, o1, zstr};
    TU_ASSERT_OK(attnroll_spatial(v, L, NULL, &out));
    TU_ASSERT_EQUAL(buf, base, N * N);
    for (int l = 0; l < L; ++l) tu_free(t[l]);
    free(buf);
    free_data(&dd);
    free(base);
    free(got);
}

/* Layers of different dtypes and layouts in one call (allowed: "dtype and
 * strides may differ from layer to layer"), against the reference. */
static void test_mixed_layers(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 600);
    enum { ML = 6 };
    const int64_t shape[] = {F, H, N, N}, oshape[] = {F, N, N};
    const int32_t dt[ML] = {ATTNROLL_F16, ATTNROLL_F64, ATTNROLL_BF16,
                            ATTNROLL_F32, ATTNROLL_F16, ATTNROLL_F64};
    const int lay[ML] = {TU_FORTRAN, TU_NEGATIVE, TU_SLICED, TU_TRANSPOSED, TU_HEADS_LAST, TU_C};
    double *layers[ML];
    int64_t heads[ML];
    tu_tensor *t[ML];
    attnroll_tensor v[ML];
    for (int l = 0; l < ML; ++l) {
        layers[l] = tu_peaky_alloc(&rng, F * H * N * N, N, 5.0);
        tu_quantize(layers[l], F * H * N * N, dt[l]);
        heads[l] = H;
        t[l] = tu_from(layers[l], 4, shape, dt[l], lay[l]);
        v[l] = t[l]->view;
    }
    double *want = malloc(sizeof(double) * F * N * N);
    double *got = malloc(sizeof(double) * F * N * N);
    assert_non_null(want);
    assert_non_null(got);
    ref_spatial((const double *const *)layers, heads, ML, F, N, 0, ML, 1.0, NULL, 0, want);
    for (size_t o = 0; o < 2; ++o) {
        tu_tensor *out = tu_new(3, oshape, out_dtypes[o], o ? TU_NEGATIVE : TU_FORTRAN);
        TU_ASSERT_OK(attnroll_spatial(v, ML, NULL, &out->view));
        tu_get(out, got);
        TU_ASSERT_CLOSE(got, want, F * N * N, o ? TOL_F32 : TOL_F64);
        tu_free(out);
    }
    for (int l = 0; l < ML; ++l) {
        tu_free(t[l]);
        free(layers[l]);
    }
    free(want);
    free(got);
}

/* Temporal layers [Q,heads,T,T] in every layout and dtype: exactly the
 * contiguous numbers. */
static void test_temporal_layouts(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 700);
    enum { TL = 3, T = 9 };
    const int64_t s4[] = {3, 2, T, T};
    const int ndims[TL] = {4, 4, 4};
    const int64_t *shapes[TL] = {s4, s4, s4};
    const int64_t oshape[] = {T, T};
    double base[T * T], got[T * T], want[T * T];
    for (size_t d = 0; d < 4; ++d) {
        double *layers[TL];
        for (int l = 0; l < TL; ++l) {
            layers[l] = tu_peaky_alloc(&rng, 3 * 2 * T * T, T, 4.0);
            tu_quantize(layers[l], 3 * 2 * T * T, in_dtypes[d]);
        }
        assert_int_equal(ref_temporal((const double *const *)layers, ndims, shapes, 0, TL, 1, 1.0,
                                      NULL, 0, want),
                         T);
        for (size_t o = 0; o < 2; ++o) {
            TU_ASSERT_OK(tu_run_temporal((const double *const *)layers, TL, ndims, shapes,
                                         in_dtypes[d], TU_CNULL, 1, NULL, 2, oshape,
                                         out_dtypes[o], TU_CNULL, base));
            TU_ASSERT_CLOSE(base, want, T * T, o ? TOL_F32 : TOL_F64);
            for (size_t lo = 0; lo < sizeof in_layouts / sizeof in_layouts[0]; ++lo) {
                TU_ASSERT_OK(tu_run_temporal((const double *const *)layers, TL, ndims, shapes,
                                             in_dtypes[d], in_layouts[lo], 1, NULL, 2, oshape,
                                             out_dtypes[o], in_layouts[lo] == TU_HEADS_LAST
                                                                ? TU_C
                                                                : in_layouts[lo],
                                             got));
                TU_ASSERT_EQUAL(got, base, T * T);
            }
        }
        for (int l = 0; l < TL; ++l) free(layers[l]);
    }
}

/* Strided post-processing input equals the contiguous one exactly. */
static void test_post_layouts(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 800);
    const int64_t shape[] = {7, 11}, cs[] = {11};
    double in[77], base[77], got[77];
    for (int i = 0; i < 77; ++i) in[i] = tu_normal(&rng);
    for (size_t d = 0; d < 4; ++d) {
        double q[77];
        memcpy(q, in, sizeof q);
        tu_quantize(q, 77, in_dtypes[d]);
        tu_tensor *c = tu_from(q, 2, shape, in_dtypes[d], TU_CNULL);
        tu_tensor *o = tu_new(2, shape, ATTNROLL_F64, TU_CNULL);
        tu_tensor *om = tu_new(1, cs, ATTNROLL_F64, TU_CNULL);
        for (size_t lo = 0; lo < sizeof in_layouts / sizeof in_layouts[0]; ++lo) {
            tu_tensor *s = tu_from(q, 2, shape, in_dtypes[d], in_layouts[lo]);
            TU_ASSERT_OK(attnroll_minmax_rows(&c->view, &o->view));
            tu_get(o, base);
            TU_ASSERT_OK(attnroll_minmax_rows(&s->view, &o->view));
            tu_get(o, got);
            TU_ASSERT_EQUAL(got, base, 77);
            TU_ASSERT_OK(attnroll_minmax(&c->view, &o->view));
            tu_get(o, base);
            TU_ASSERT_OK(attnroll_minmax(&s->view, &o->view));
            tu_get(o, got);
            TU_ASSERT_EQUAL(got, base, 77);
            TU_ASSERT_OK(attnroll_column_mean(&c->view, &om->view));
            tu_get(om, base);
            TU_ASSERT_OK(attnroll_column_mean(&s->view, &om->view));
            tu_get(om, got);
            TU_ASSERT_CLOSE(got, base, 11, 1e-15); /* summation order may follow storage */
            tu_free(s);
        }
        tu_free(c);
        tu_free(o);
        tu_free(om);
    }
}

/* Inputs need not be aligned (arrays inside .npz files rarely are): a float32
 * layer one byte off its alignment gives the same bits as the aligned copy;
 * a misaligned output is refused. */
static void test_unaligned_input(void **state)
{
    (void)state;
    enum { UH = 2, UN = 5 };
    float aligned[UH * UN * UN];
    unsigned char raw[sizeof aligned + 8];
    for (int i = 0; i < UH * UN * UN; ++i) aligned[i] = (float)((i * 7) % 11) / 11.0f;
    memcpy(raw + 1, aligned, sizeof aligned);
    int64_t shape[3] = {UH, UN, UN}, out_shape[2] = {UN, UN};
    attnroll_tensor a = {aligned, ATTNROLL_F32, 3, shape, NULL};
    attnroll_tensor u = {raw + 1, ATTNROLL_F32, 3, shape, NULL};
    float want[UN * UN], got[UN * UN];
    attnroll_tensor out_want = {want, ATTNROLL_F32, 2, out_shape, NULL};
    attnroll_tensor out_got = {got, ATTNROLL_F32, 2, out_shape, NULL};
    attnroll_tensor layers_a[2] = {a, a}, layers_u[2] = {u, u};
    assert_int_equal(attnroll_spatial(layers_a, 2, NULL, &out_want), ATTNROLL_OK);
    assert_int_equal(attnroll_spatial(layers_u, 2, NULL, &out_got), ATTNROLL_OK);
    assert_memory_equal(want, got, sizeof want);
    unsigned char out_raw[sizeof got + 8];
    attnroll_tensor out_bad = {out_raw + 2, ATTNROLL_F32, 2, out_shape, NULL};
    assert_int_equal(attnroll_spatial(layers_a, 2, NULL, &out_bad), ATTNROLL_E_ARGUMENT);
    assert_non_null(strstr(attnroll_last_error(), "out.data"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unaligned_input),
        cmocka_unit_test(test_input_layouts),
        cmocka_unit_test(test_broadcast_heads),
        cmocka_unit_test(test_transposed_view_means_transposed_matrices),
        cmocka_unit_test(test_output_layouts),
        cmocka_unit_test(test_mixed_layers),
        cmocka_unit_test(test_temporal_layouts),
        cmocka_unit_test(test_post_layouts),
    };
    return cmocka_run_group_tests_name("strides", tests, NULL, NULL);
}
