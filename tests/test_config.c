/*
 * attnroll_config: defaults, set/get of every key, refusals (wrong kind,
 * unknown key, out of bounds, NULLs) with ATTNROLL_E_ARGUMENT and a message
 * while leaving the config unchanged, get_ints length queries,
 * attnroll_option_info, a NULL config meaning the defaults, destroy(NULL).
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

static attnroll_config *make(void)
{
    attnroll_config *c = NULL;
    TU_ASSERT_OK(attnroll_config_create(&c));
    assert_non_null(c);
    return c;
}

static int64_t get_int(const attnroll_config *c, int32_t key)
{
    int64_t v = -12345;
    TU_ASSERT_OK(attnroll_config_get_int(c, key, &v));
    return v;
}

static double get_float(const attnroll_config *c, int32_t key)
{
    double v = -12345;
    TU_ASSERT_OK(attnroll_config_get_float(c, key, &v));
    return v;
}

static int64_t get_rows(const attnroll_config *c, int64_t *vals, int64_t cap)
{
    int64_t n = -1;
    TU_ASSERT_OK(attnroll_config_get_ints(c, ATTNROLL_OPT_QUERY_ROWS, vals, cap, &n));
    return n;
}

static void test_defaults(void **state)
{
    (void)state;
    attnroll_config *c = make();
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_BEGIN), 0);
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_END), -1);
    assert_int_equal(get_int(c, ATTNROLL_OPT_THREADS), 0);
    assert_true(get_float(c, ATTNROLL_OPT_RESIDUAL) == 1.0);
    assert_int_equal(get_rows(c, NULL, 0), 0);
    attnroll_config_destroy(c);
}

static void test_set_get(void **state)
{
    (void)state;
    attnroll_config *c = make();
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, 3));
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_BEGIN), 3);
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, 2147483647));
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_BEGIN), 2147483647);
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, 0));
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_BEGIN), 0);

    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, 7));
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_END), 7);
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, -1));
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_END), -1);
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, 2147483647));
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_END), 2147483647);

    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, 1));
    assert_int_equal(get_int(c, ATTNROLL_OPT_THREADS), 1);
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, 1024));
    assert_int_equal(get_int(c, ATTNROLL_OPT_THREADS), 1024);
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, 0));
    assert_int_equal(get_int(c, ATTNROLL_OPT_THREADS), 0);

    TU_ASSERT_OK(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, 0.25));
    assert_true(get_float(c, ATTNROLL_OPT_RESIDUAL) == 0.25);
    TU_ASSERT_OK(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, 0.0));
    assert_true(get_float(c, ATTNROLL_OPT_RESIDUAL) == 0.0);
    TU_ASSERT_OK(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, 1e6));
    assert_true(get_float(c, ATTNROLL_OPT_RESIDUAL) == 1e6);

    const int64_t rows[] = {5, 0, 5, 432};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, rows, 4));
    int64_t got[6] = {-1, -1, -1, -1, -1, -1};
    assert_int_equal(get_rows(c, NULL, 0), 4); /* length first */
    assert_int_equal(get_rows(c, got, 6), 4);
    assert_memory_equal(got, rows, sizeof rows);
    assert_int_equal(got[4], -1); /* nothing past count */
    int64_t two[3] = {-1, -1, -1};
    assert_int_equal(get_rows(c, two, 2), 4); /* min(count, capacity) copied */
    assert_int_equal(two[0], 5);
    assert_int_equal(two[1], 0);
    assert_int_equal(two[2], -1);
    int64_t zero_cap[1] = {-7};
    assert_int_equal(get_rows(c, zero_cap, 0), 4);
    assert_int_equal(zero_cap[0], -7);
    /* the list is copied */
    int64_t mutable_rows[] = {1, 2};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, mutable_rows, 2));
    mutable_rows[0] = 99;
    assert_int_equal(get_rows(c, got, 6), 2);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 2);
    /* count 0 clears; values may then be NULL */
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, NULL, 0));
    assert_int_equal(get_rows(c, NULL, 0), 0);
    /* other keys kept their values */
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_END), 2147483647);
    assert_true(get_float(c, ATTNROLL_OPT_RESIDUAL) == 1e6);
    attnroll_config_destroy(c);
}

/* Every refusal: E_ARGUMENT, a message, and the config unchanged. */
static void test_refusals(void **state)
{
    (void)state;
    attnroll_config *c = make();
    const int64_t rows[] = {4, 1};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, rows, 2));
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, 2));
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, 5));
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, 3));
    TU_ASSERT_OK(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, 0.5));

    /* out of bounds; the message names the wrong value */
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, -1), ATTNROLL_E_ARGUMENT,
                    "-1");
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, 2147483648LL),
                    ATTNROLL_E_ARGUMENT, "2147483648");
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, 0), ATTNROLL_E_ARGUMENT,
                    "0");
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, -2), ATTNROLL_E_ARGUMENT,
                    "-2");
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, INT64_MIN),
                    ATTNROLL_E_ARGUMENT, NULL);
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, 1025), ATTNROLL_E_ARGUMENT,
                    "1025");
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, -1), ATTNROLL_E_ARGUMENT,
                    "-1");
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, -0.5),
                    ATTNROLL_E_ARGUMENT, "-0.5");
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, 2e6), ATTNROLL_E_ARGUMENT,
                    NULL);
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, NAN), ATTNROLL_E_ARGUMENT,
                    NULL);
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, INFINITY),
                    ATTNROLL_E_ARGUMENT, NULL);
    const int64_t neg[] = {0, -3};
    TU_ASSERT_FAILS(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, neg, 2),
                    ATTNROLL_E_ARGUMENT, "-3");
    TU_ASSERT_FAILS(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, rows, -1),
                    ATTNROLL_E_ARGUMENT, "count");
    TU_ASSERT_FAILS(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, NULL, 2),
                    ATTNROLL_E_ARGUMENT, "values");

    /* wrong kind */
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_RESIDUAL, 1), ATTNROLL_E_ARGUMENT,
                    NULL);
    TU_ASSERT_FAILS(attnroll_config_set_int(c, ATTNROLL_OPT_QUERY_ROWS, 1), ATTNROLL_E_ARGUMENT,
                    NULL);
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_THREADS, 1.0), ATTNROLL_E_ARGUMENT,
                    NULL);
    TU_ASSERT_FAILS(attnroll_config_set_float(c, ATTNROLL_OPT_QUERY_ROWS, 1.0),
                    ATTNROLL_E_ARGUMENT, NULL);
    TU_ASSERT_FAILS(attnroll_config_set_ints(c, ATTNROLL_OPT_LAYER_BEGIN, rows, 1),
                    ATTNROLL_E_ARGUMENT, NULL);
    TU_ASSERT_FAILS(attnroll_config_set_ints(c, ATTNROLL_OPT_RESIDUAL, rows, 1),
                    ATTNROLL_E_ARGUMENT, NULL);
    int64_t iv = 0, cnt = 0, buf[4];
    double fv = 0;
    TU_ASSERT_FAILS(attnroll_config_get_int(c, ATTNROLL_OPT_RESIDUAL, &iv), ATTNROLL_E_ARGUMENT,
                    NULL);
    TU_ASSERT_FAILS(attnroll_config_get_int(c, ATTNROLL_OPT_QUERY_ROWS, &iv),
                    ATTNROLL_E_ARGUMENT, NULL);
    TU_ASSERT_FAILS(attnroll_config_get_float(c, ATTNROLL_OPT_LAYER_END, &fv),
                    ATTNROLL_E_ARGUMENT, NULL);
    TU_ASSERT_FAILS(attnroll_config_get_ints(c, ATTNROLL_OPT_THREADS, buf, 4, &cnt),
                    ATTNROLL_E_ARGUMENT, NULL);

    /* unknown keys; the message names the key */
    const int32_t unknown[] = {0, 13, 99, -1};
    const char *names[] = {"0", "13", "99", "-1"};
    for (int i = 0; i < 4; ++i) {
        TU_ASSERT_FAILS(attnroll_config_set_int(c, unknown[i], 1), ATTNROLL_E_ARGUMENT, names[i]);
        TU_ASSERT_FAILS(attnroll_config_set_float(c, unknown[i], 1.0), ATTNROLL_E_ARGUMENT,
                        names[i]);
        TU_ASSERT_FAILS(attnroll_config_set_ints(c, unknown[i], rows, 1), ATTNROLL_E_ARGUMENT,
                        names[i]);
        TU_ASSERT_FAILS(attnroll_config_get_int(c, unknown[i], &iv), ATTNROLL_E_ARGUMENT,
                        names[i]);
        TU_ASSERT_FAILS(attnroll_config_get_float(c, unknown[i], &fv), ATTNROLL_E_ARGUMENT,
                        names[i]);
        TU_ASSERT_FAILS(attnroll_config_get_ints(c, unknown[i], buf, 4, &cnt),
                        ATTNROLL_E_ARGUMENT, names[i]);
    }

    /* NULL config / output pointers; negative capacity; NULL values with capacity */
    TU_ASSERT_FAILS(attnroll_config_set_int(NULL, ATTNROLL_OPT_THREADS, 1), ATTNROLL_E_ARGUMENT,
                    "config");
    TU_ASSERT_FAILS(attnroll_config_set_float(NULL, ATTNROLL_OPT_RESIDUAL, 1.0),
                    ATTNROLL_E_ARGUMENT, "config");
    TU_ASSERT_FAILS(attnroll_config_set_ints(NULL, ATTNROLL_OPT_QUERY_ROWS, rows, 1),
                    ATTNROLL_E_ARGUMENT, "config");
    TU_ASSERT_FAILS(attnroll_config_get_int(NULL, ATTNROLL_OPT_THREADS, &iv),
                    ATTNROLL_E_ARGUMENT, "config");
    TU_ASSERT_FAILS(attnroll_config_get_float(NULL, ATTNROLL_OPT_RESIDUAL, &fv),
                    ATTNROLL_E_ARGUMENT, "config");
    TU_ASSERT_FAILS(attnroll_config_get_ints(NULL, ATTNROLL_OPT_QUERY_ROWS, buf, 4, &cnt),
                    ATTNROLL_E_ARGUMENT, "config");
    TU_ASSERT_FAILS(attnroll_config_get_int(c, ATTNROLL_OPT_THREADS, NULL), ATTNROLL_E_ARGUMENT,
                    "value");
    TU_ASSERT_FAILS(attnroll_config_get_float(c, ATTNROLL_OPT_RESIDUAL, NULL),
                    ATTNROLL_E_ARGUMENT, "value");
    TU_ASSERT_FAILS(attnroll_config_get_ints(c, ATTNROLL_OPT_QUERY_ROWS, buf, 4, NULL),
                    ATTNROLL_E_ARGUMENT, "count");
    TU_ASSERT_FAILS(attnroll_config_get_ints(c, ATTNROLL_OPT_QUERY_ROWS, buf, -1, &cnt),
                    ATTNROLL_E_ARGUMENT, "capacity");
    TU_ASSERT_FAILS(attnroll_config_get_ints(c, ATTNROLL_OPT_QUERY_ROWS, NULL, 2, &cnt),
                    ATTNROLL_E_ARGUMENT, "values");
    TU_ASSERT_FAILS(attnroll_config_create(NULL), ATTNROLL_E_ARGUMENT, "config");

    /* nothing changed */
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_BEGIN), 2);
    assert_int_equal(get_int(c, ATTNROLL_OPT_LAYER_END), 5);
    assert_int_equal(get_int(c, ATTNROLL_OPT_THREADS), 3);
    assert_true(get_float(c, ATTNROLL_OPT_RESIDUAL) == 0.5);
    int64_t got[4];
    assert_int_equal(get_rows(c, got, 4), 2);
    assert_int_equal(got[0], 4);
    assert_int_equal(got[1], 1);
    attnroll_config_destroy(c);
}

static void test_option_info(void **state)
{
    (void)state;
    int32_t kind = -1;
    double lo = -1, hi = -1;
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_QUERY_ROWS, &kind, &lo, &hi));
    assert_int_equal(kind, ATTNROLL_OPTION_INTS);
    assert_true(lo == 0.0);
    assert_true(hi >= 2147483646.0); /* rows are < N <= 2^31-1 */
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_LAYER_BEGIN, &kind, &lo, &hi));
    assert_int_equal(kind, ATTNROLL_OPTION_INT);
    assert_true(lo == 0.0 && hi == 2147483647.0);
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_LAYER_END, &kind, &lo, &hi));
    assert_int_equal(kind, ATTNROLL_OPTION_INT);
    assert_true(lo == -1.0 && hi == 2147483647.0);
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_THREADS, &kind, &lo, &hi));
    assert_int_equal(kind, ATTNROLL_OPTION_INT);
    assert_true(lo == 0.0 && hi == 1024.0);
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_RESIDUAL, &kind, &lo, &hi));
    assert_int_equal(kind, ATTNROLL_OPTION_FLOAT);
    assert_true(lo == 0.0 && hi == 1e6);
    /* any output may be NULL */
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_RESIDUAL, NULL, NULL, NULL));
    kind = -1;
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_THREADS, &kind, NULL, NULL));
    assert_int_equal(kind, ATTNROLL_OPTION_INT);
    /* unknown keys */
    kind = -5;
    TU_ASSERT_FAILS(attnroll_option_info(0, &kind, &lo, &hi), ATTNROLL_E_ARGUMENT, "0");
    TU_ASSERT_FAILS(attnroll_option_info(13, NULL, NULL, NULL), ATTNROLL_E_ARGUMENT, "13");
    TU_ASSERT_FAILS(attnroll_option_info(-3, NULL, NULL, NULL), ATTNROLL_E_ARGUMENT, "-3");
}

/* The bounds reported by option_info are the ones set_* enforces: the bound
 * itself is accepted and one step outside is refused (for every INT key). */
static void test_info_matches_setters(void **state)
{
    (void)state;
    const int32_t keys[] = {ATTNROLL_OPT_LAYER_BEGIN, ATTNROLL_OPT_LAYER_END,
                            ATTNROLL_OPT_THREADS};
    attnroll_config *c = make();
    for (int i = 0; i < 3; ++i) {
        int32_t kind;
        double lo, hi;
        TU_ASSERT_OK(attnroll_option_info(keys[i], &kind, &lo, &hi));
        TU_ASSERT_OK(attnroll_config_set_int(c, keys[i], (int64_t)hi));
        TU_ASSERT_STATUS(attnroll_config_set_int(c, keys[i], (int64_t)hi + 1),
                         ATTNROLL_E_ARGUMENT);
        TU_ASSERT_OK(attnroll_config_set_int(c, keys[i], (int64_t)lo));
        TU_ASSERT_STATUS(attnroll_config_set_int(c, keys[i], (int64_t)lo - 1),
                         ATTNROLL_E_ARGUMENT);
    }
    /* the INTS key: each element within [lo, hi] */
    int32_t kind;
    double lo, hi;
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_QUERY_ROWS, &kind, &lo, &hi));
    int64_t v[2] = {(int64_t)lo, (int64_t)hi};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, v, 2));
    v[1] = (int64_t)hi + 1;
    TU_ASSERT_STATUS(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, v, 2),
                     ATTNROLL_E_ARGUMENT);
    v[1] = (int64_t)lo - 1;
    TU_ASSERT_STATUS(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, v, 2),
                     ATTNROLL_E_ARGUMENT);
    /* the FLOAT key */
    TU_ASSERT_OK(attnroll_option_info(ATTNROLL_OPT_RESIDUAL, &kind, &lo, &hi));
    TU_ASSERT_OK(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, hi));
    TU_ASSERT_STATUS(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, nextafter(hi, INFINITY)),
                     ATTNROLL_E_ARGUMENT);
    TU_ASSERT_OK(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, lo));
    TU_ASSERT_STATUS(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, nextafter(lo, -INFINITY)),
                     ATTNROLL_E_ARGUMENT);
    attnroll_config_destroy(c);
}

/* A NULL config gives the same numbers as a fresh default config; a config
 * is read during the call only (destroying it afterwards changes nothing);
 * each option actually changes the computation. */
static void test_null_config_is_default(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, 3);
    const int64_t n = 9;
    double *layers[3];
    int64_t heads[3] = {2, 2, 2};
    for (int l = 0; l < 3; ++l) layers[l] = tu_peaky_alloc(&rng, 2 * n * n, n, 4.0);
    const int64_t shape[] = {2, n, n}, o[] = {n, n};
    double a[81], b[81], want[81];
    attnroll_config *c = make();
    TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, 3, 3, shape, ATTNROLL_F64,
                                TU_CNULL, NULL, 2, o, ATTNROLL_F64, TU_CNULL, a));
    TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, 3, 3, shape, ATTNROLL_F64,
                                TU_CNULL, c, 2, o, ATTNROLL_F64, TU_CNULL, b));
    TU_ASSERT_EQUAL(a, b, n * n);
    ref_spatial((const double *const *)layers, heads, 3, 1, n, 0, 3, 1.0, NULL, 0, want);
    TU_ASSERT_CLOSE(a, want, n * n, 1e-12);
    /* each option changes the result to the reference's for that option */
    TU_ASSERT_OK(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, 2.0));
    TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, 3, 3, shape, ATTNROLL_F64,
                                TU_CNULL, c, 2, o, ATTNROLL_F64, TU_CNULL, b));
    ref_spatial((const double *const *)layers, heads, 3, 1, n, 0, 3, 2.0, NULL, 0, want);
    TU_ASSERT_CLOSE(b, want, n * n, 1e-12);
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, 1));
    TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, 3, 3, shape, ATTNROLL_F64,
                                TU_CNULL, c, 2, o, ATTNROLL_F64, TU_CNULL, b));
    ref_spatial((const double *const *)layers, heads, 3, 1, n, 1, 3, 2.0, NULL, 0, want);
    TU_ASSERT_CLOSE(b, want, n * n, 1e-12);
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, 2));
    TU_ASSERT_OK(tu_run_spatial((const double *const *)layers, 3, 3, shape, ATTNROLL_F64,
                                TU_CNULL, c, 2, o, ATTNROLL_F64, TU_CNULL, b));
    ref_spatial((const double *const *)layers, heads, 3, 1, n, 1, 2, 2.0, NULL, 0, want);
    TU_ASSERT_CLOSE(b, want, n * n, 1e-12);
    attnroll_config_destroy(c);
    /* destroying after use is fine; NULL is a no-op */
    attnroll_config_destroy(NULL);
    for (int l = 0; l < 3; ++l) free(layers[l]);
}

/* A config can be used by many calls and then by a stream; set_ints with a
 * count of 0 and a non-NULL pointer also clears. */
static void test_clear_with_pointer(void **state)
{
    (void)state;
    attnroll_config *c = make();
    const int64_t rows[] = {1, 2, 3};
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, rows, 3));
    assert_int_equal(get_rows(c, NULL, 0), 3);
    TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, rows, 0));
    assert_int_equal(get_rows(c, NULL, 0), 0);
    attnroll_config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_option_info),
        cmocka_unit_test(test_info_matches_setters),
        cmocka_unit_test(test_null_config_is_default),
        cmocka_unit_test(test_clear_with_pointer),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
