/*
 * Post-processing: attnroll_minmax_rows, attnroll_column_mean, attnroll_minmax.
 * Hand-worked values, constant rows / arrays -> zeros, in-place use, every
 * input dtype and layout, output layouts, shape/dtype errors.
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

typedef int32_t (*post_fn)(const attnroll_tensor *, const attnroll_tensor *);

static const int32_t all_in_dtypes[] = {ATTNROLL_F64, ATTNROLL_F32, ATTNROLL_F16, ATTNROLL_BF16};
static const int in_layouts[] = {TU_CNULL, TU_C, TU_FORTRAN, TU_TRANSPOSED, TU_NEGATIVE, TU_SLICED};

/* Runs fn for every input dtype and layout and both output dtypes, comparing
 * with want (values chosen exact in every dtype). */
static void check_post(post_fn fn, const double *in, int ndim, const int64_t *shape,
                       int out_ndim, const int64_t *out_shape, const double *want, double tol32)
{
    int64_t nout = tu_numel(out_ndim, out_shape);
    double *got = malloc((size_t)nout * sizeof *got);
    assert_non_null(got);
    for (size_t d = 0; d < 4; ++d) {
        for (size_t lo = 0; lo < sizeof in_layouts / sizeof in_layouts[0]; ++lo) {
            tu_tensor *t = tu_from(in, ndim, shape, all_in_dtypes[d], in_layouts[lo]);
            for (int o = 0; o < 2; ++o) {
                tu_tensor *out = tu_new(out_ndim, out_shape, o ? ATTNROLL_F32 : ATTNROLL_F64,
                                        o ? TU_NEGATIVE : TU_CNULL);
                tu_fill_sentinel(out);
                TU_ASSERT_OK(fn(&t->view, &out->view));
                assert_true(tu_gaps_untouched(out));
                tu_get(out, got);
                TU_ASSERT_CLOSE(got, want, nout, o ? tol32 : 1e-15);
                tu_free(out);
            }
            tu_free(t);
        }
    }
    free(got);
}

/* in = [[1,2,3],[4,4,4],[-1,0,3],[0,-2,-1]]
 *   row 0: min 1, max 3 -> (x-1)/2        = [0, .5, 1]
 *   row 1: constant     -> zeros          = [0, 0, 0]
 *   row 2: min -1, max 3 -> (x+1)/4       = [0, .25, 1]
 *   row 3: min -2, max 0 -> (x+2)/2       = [1, 0, .5]                         */
static void test_minmax_rows_hand(void **state)
{
    (void)state;
    const double in[] = {1, 2, 3, 4, 4, 4, -1, 0, 3, 0, -2, -1};
    const double want[] = {0, .5, 1, 0, 0, 0, 0, .25, 1, 1, 0, .5};
    const int64_t shape[] = {4, 3};
    check_post(attnroll_minmax_rows, in, 2, shape, 2, shape, want, 0.0);
    /* a single column: every row constant -> zeros */
    const double col[] = {5, -3, 7};
    const double zeros[] = {0, 0, 0};
    const int64_t cshape[] = {3, 1};
    check_post(attnroll_minmax_rows, col, 2, cshape, 2, cshape, zeros, 0.0);
}

/* in = [[1,2],[3,6],[5,1],[7,3]]: column means (1+3+5+7)/4 = 4, (2+6+1+3)/4 = 3.
 * in = [[1,2,4]] (one row): the row itself.
 * in = [[1],[2],[4]]: (1+2+4)/3 = 7/3 (F32 out: nearest float).               */
static void test_column_mean_hand(void **state)
{
    (void)state;
    const double in[] = {1, 2, 3, 6, 5, 1, 7, 3};
    const double want[] = {4, 3};
    const int64_t shape[] = {4, 2}, oshape[] = {2};
    check_post(attnroll_column_mean, in, 2, shape, 1, oshape, want, 0.0);
    const double one_row[] = {1, 2, 4};
    const int64_t s1[] = {1, 3}, o1[] = {3};
    check_post(attnroll_column_mean, one_row, 2, s1, 1, o1, one_row, 0.0);
    const double one_col[] = {1, 2, 4};
    const double third[] = {7.0 / 3.0};
    const int64_t s2[] = {3, 1}, o2[] = {1};
    check_post(attnroll_column_mean, one_col, 2, s2, 1, o2, third, 2e-7);
}

/* in = [[1,2],[3,5]]: min 1, max 5 -> (x-1)/4 = [[0,.25],[.5,1]]
 * 1-D [-2, 0, 2, 6]: (x+2)/8 = [0, .25, .5, 1]
 * 3-D [2,1,2] = [3,3,3,3]: constant -> zeros                                   */
static void test_minmax_hand(void **state)
{
    (void)state;
    const double in[] = {1, 2, 3, 5};
    const double want[] = {0, .25, .5, 1};
    const int64_t shape[] = {2, 2};
    check_post(attnroll_minmax, in, 2, shape, 2, shape, want, 0.0);
    const double v[] = {-2, 0, 2, 6};
    const int64_t s1[] = {4};
    check_post(attnroll_minmax, v, 1, s1, 1, s1, want, 0.0);
    const double c[] = {3, 3, 3, 3};
    const double zeros[] = {0, 0, 0, 0};
    const int64_t s3[] = {2, 1, 2};
    check_post(attnroll_minmax, c, 3, s3, 3, s3, zeros, 0.0);
    /* a single element is constant too */
    const double one[] = {42};
    const double zero[] = {0};
    const int64_t s0[] = {1};
    check_post(attnroll_minmax, one, 1, s0, 1, s0, zero, 0.0);
}

/* Random inputs of every dtype against the reference. */
static void test_post_random(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 5150);
    for (int it = 0; it < 12; ++it) {
        int64_t r = tu_randint(&rng, 1, 40), c = tu_randint(&rng, 1, 40);
        int32_t dt = all_in_dtypes[it % 4];
        double *in = malloc((size_t)(r * c) * sizeof *in);
        double *want = malloc((size_t)(r * c) * sizeof *want);
        double *got = malloc((size_t)(r * c) * sizeof *got);
        assert_non_null(in);
        assert_non_null(want);
        assert_non_null(got);
        for (int64_t i = 0; i < r * c; ++i) in[i] = 10.0 * tu_normal(&rng);
        tu_quantize(in, r * c, dt);
        const int64_t shape[] = {r, c}, cshape[] = {c};
        tu_tensor *t = tu_from(in, 2, shape, dt, in_layouts[it % 6]);
        for (int o = 0; o < 2; ++o) {
            int32_t odt = o ? ATTNROLL_F32 : ATTNROLL_F64;
            double tol = o ? 1e-6 : 1e-13;
            tu_tensor *out = tu_new(2, shape, odt, TU_FORTRAN);
            ref_minmax_rows(in, r, c, want);
            TU_ASSERT_OK(attnroll_minmax_rows(&t->view, &out->view));
            tu_get(out, got);
            TU_ASSERT_CLOSE(got, want, r * c, tol);
            ref_minmax(in, r * c, want);
            TU_ASSERT_OK(attnroll_minmax(&t->view, &out->view));
            tu_get(out, got);
            TU_ASSERT_CLOSE(got, want, r * c, tol);
            tu_free(out);
            out = tu_new(1, cshape, odt, TU_SLICED);
            ref_column_mean(in, r, c, want);
            TU_ASSERT_OK(attnroll_column_mean(&t->view, &out->view));
            tu_get(out, got);
            TU_ASSERT_CLOSE(got, want, c, o ? 1e-5 : 1e-13);
            tu_free(out);
        }
        tu_free(t);
        free(in);
        free(want);
        free(got);
    }
}

/* In place: out.data == in.data (same view), for F32 and F64, and reversed
 * views of the same memory (out overlapping in "in any way"). */
static void test_post_in_place(void **state)
{
    (void)state;
    const double in[] = {1, 2, 3, 4, 4, 4, -1, 0, 3, 0, -2, -1};
    const double want_rows[] = {0, .5, 1, 0, 0, 0, 0, .25, 1, 1, 0, .5};
    /* minmax of the whole: min -2, max 4 -> (x+2)/6 */
    double want_all[12];
    for (int i = 0; i < 12; ++i) want_all[i] = (in[i] + 2.0) / 6.0;
    const int64_t shape[] = {4, 3};
    double got[12];
    for (int o = 0; o < 2; ++o) {
        int32_t dt = o ? ATTNROLL_F32 : ATTNROLL_F64;
        double tol = o ? 1e-7 : 1e-15;
        tu_tensor *t = tu_from(in, 2, shape, dt, TU_CNULL);
        TU_ASSERT_OK(attnroll_minmax_rows(&t->view, &t->view));
        tu_get(t, got);
        TU_ASSERT_CLOSE(got, want_rows, 12, tol);
        tu_set(t, in);
        TU_ASSERT_OK(attnroll_minmax(&t->view, &t->view));
        tu_get(t, got);
        TU_ASSERT_CLOSE(got, want_all, 12, tol);

        /* out = the same memory read backwards: out[i][j] is in's element
         * [3-i][2-j]; the whole result is computed before out is written. */
        tu_set(t, in);
        const int64_t rstr[] = {-3, -1};
        attnroll_tensor rev = t->view;
        rev.data = (char *)t->view.data + 11 * tu_dtype_bytes(dt);
        rev.strides = rstr;
        TU_ASSERT_OK(attnroll_minmax_rows(&t->view, &rev));
        tu_get(t, got);
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 3; ++j)
                assert_true(fabs(got[(3 - i) * 3 + (2 - j)] - want_rows[i * 3 + j]) <= tol);

        /* column mean written over the first row of its own input:
         * [[1,2],[3,6],[5,1],[7,3]] -> [4,3] */
        const double cin[] = {1, 2, 3, 6, 5, 1, 7, 3};
        const int64_t cs[] = {4, 2}, os[] = {2};
        tu_tensor *m = tu_from(cin, 2, cs, dt, TU_CNULL);
        attnroll_tensor first_row = {m->view.data, dt, 1, os, NULL};
        TU_ASSERT_OK(attnroll_column_mean(&m->view, &first_row));
        double cm[8];
        tu_get(m, cm);
        assert_true(cm[0] == 4.0 && cm[1] == 3.0);
        assert_true(cm[2] == 3.0 && cm[7] == 3.0); /* the rest untouched */
        tu_free(m);
        tu_free(t);
    }
}

/* NaN propagates: the NaN element comes out NaN. */
static void test_post_nan(void **state)
{
    (void)state;
    const double in[] = {1, NAN, 3, 4, 5, 6};
    const int64_t shape[] = {2, 3}, cs[] = {3};
    double got[6];
    tu_tensor *t = tu_from(in, 2, shape, ATTNROLL_F64, TU_CNULL);
    tu_tensor *out = tu_new(2, shape, ATTNROLL_F64, TU_CNULL);
    TU_ASSERT_OK(attnroll_minmax_rows(&t->view, &out->view));
    tu_get(out, got);
    assert_true(isnan(got[1]));
    TU_ASSERT_OK(attnroll_minmax(&t->view, &out->view));
    tu_get(out, got);
    assert_true(isnan(got[1]));
    tu_tensor *cm = tu_new(1, cs, ATTNROLL_F64, TU_CNULL);
    TU_ASSERT_OK(attnroll_column_mean(&t->view, &cm->view));
    tu_get(cm, got);
    assert_true(isnan(got[1]));
    assert_true(got[0] == 2.5 && got[2] == 4.5); /* (1+4)/2, (3+6)/2 */
    tu_free(cm);
    tu_free(out);
    tu_free(t);
}

/* Errors: wrong output shape, F16/BF16 output, wrong input rank for the
 * matrix functions, output overlapping itself, NULL arguments; the output is
 * left untouched every time. */
static void test_post_errors(void **state)
{
    (void)state;
    const double in[] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[] = {2, 3}, tshape[] = {3, 2}, c2[] = {2}, v6[] = {6};
    tu_tensor *t = tu_from(in, 2, shape, ATTNROLL_F64, TU_CNULL);
    tu_tensor *v = tu_from(in, 1, v6, ATTNROLL_F64, TU_CNULL);

    tu_tensor *o = tu_new(2, tshape, ATTNROLL_F64, TU_CNULL);
    tu_fill_sentinel(o);
    TU_ASSERT_FAILS(attnroll_minmax_rows(&t->view, &o->view), ATTNROLL_E_SHAPE, "out");
    TU_ASSERT_UNTOUCHED(o);
    TU_ASSERT_FAILS(attnroll_minmax(&t->view, &o->view), ATTNROLL_E_SHAPE, "out");
    TU_ASSERT_UNTOUCHED(o);
    tu_free(o);

    o = tu_new(1, c2, ATTNROLL_F64, TU_CNULL); /* column mean needs [3] */
    tu_fill_sentinel(o);
    TU_ASSERT_FAILS(attnroll_column_mean(&t->view, &o->view), ATTNROLL_E_SHAPE, "out");
    TU_ASSERT_UNTOUCHED(o);
    /* column mean and minmax_rows need a matrix */
    TU_ASSERT_FAILS(attnroll_column_mean(&v->view, &o->view), ATTNROLL_E_SHAPE, "in");
    TU_ASSERT_UNTOUCHED(o);
    tu_free(o);
    o = tu_new(1, v6, ATTNROLL_F64, TU_CNULL);
    tu_fill_sentinel(o);
    TU_ASSERT_FAILS(attnroll_minmax_rows(&v->view, &o->view), ATTNROLL_E_SHAPE, "in");
    TU_ASSERT_UNTOUCHED(o);
    tu_free(o);

    const int32_t bad_out[] = {ATTNROLL_F16, ATTNROLL_BF16};
    for (int i = 0; i < 2; ++i) {
        o = tu_new(2, shape, bad_out[i], TU_CNULL);
        tu_fill_sentinel(o);
        TU_ASSERT_FAILS(attnroll_minmax_rows(&t->view, &o->view), ATTNROLL_E_DTYPE, "out");
        TU_ASSERT_FAILS(attnroll_minmax(&t->view, &o->view), ATTNROLL_E_DTYPE, "out");
        TU_ASSERT_UNTOUCHED(o);
        tu_free(o);
    }
    /* unknown input dtype */
    o = tu_new(2, shape, ATTNROLL_F64, TU_CNULL);
    tu_fill_sentinel(o);
    attnroll_tensor bad = t->view;
    bad.dtype = 77;
    TU_ASSERT_FAILS(attnroll_minmax(&bad, &o->view), ATTNROLL_E_DTYPE, "in");
    TU_ASSERT_UNTOUCHED(o);
    /* output overlapping itself: zero stride on an extent > 1 */
    const int64_t zs[] = {0, 1};
    attnroll_tensor self = o->view;
    self.strides = zs;
    TU_ASSERT_FAILS(attnroll_minmax(&t->view, &self), ATTNROLL_E_OVERLAP, "out");
    TU_ASSERT_UNTOUCHED(o);
    /* NULLs */
    TU_ASSERT_FAILS(attnroll_minmax(NULL, &o->view), ATTNROLL_E_ARGUMENT, "in");
    TU_ASSERT_FAILS(attnroll_minmax(&t->view, NULL), ATTNROLL_E_ARGUMENT, "out");
    TU_ASSERT_FAILS(attnroll_minmax_rows(NULL, &o->view), ATTNROLL_E_ARGUMENT, "in");
    TU_ASSERT_FAILS(attnroll_column_mean(&t->view, NULL), ATTNROLL_E_ARGUMENT, "out");
    TU_ASSERT_UNTOUCHED(o);
    tu_free(o);
    tu_free(t);
    tu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minmax_rows_hand),
        cmocka_unit_test(test_column_mean_hand),
        cmocka_unit_test(test_minmax_hand),
        cmocka_unit_test(test_post_random),
        cmocka_unit_test(test_post_in_place),
        cmocka_unit_test(test_post_nan),
        cmocka_unit_test(test_post_errors),
    };
    return cmocka_run_group_tests_name("post", tests, NULL, NULL);
}
