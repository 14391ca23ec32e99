/*
 * test_tools_common -- tools/common: half-precision conversions against values
 * worked out from the IEEE formats' definitions, the shared number parser,
 * and the synthetic attention rows.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parse_long.h"
#include "synth.h"

/* The value of a binary16 bit pattern, from the format's definition. */
static double half_value(uint16_t h)
{
    const int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp((double)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(1024.0 + m, e - 25);
    return sign ? -v : v;
}

static void test_f16_to_f32_every_value(void **state)
{
    uint32_t h;
    (void)state;
    for (h = 0; h < 65536u; h++) {
        const double want = half_value((uint16_t)h);
        const float got = synth_f16_to_f32((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(got));
        } else {
            assert_true((double)got == want);
            assert_int_equal(signbit(got) != 0, (h >> 15) != 0);
        }
    }
}

static void test_f32_to_f16_round_trip_and_ties(void **state)
{
    uint32_t h;
    (void)state;
    for (h = 0; h < 0x7C00u; h++) { /* every finite positive half, and its negative */
        const float v = (float)half_value((uint16_t)h);
        assert_int_equal(synth_f32_to_f16(v), h);
        assert_int_equal(synth_f32_to_f16(-v), h | 0x8000u);
        if (h + 1 < 0x7C00u) {
            /* Halfway to the next half: ties go to the even pattern; just off
             * the tie, to the nearer one.  The midpoint needs 12 significant
             * bits, so it is exact in float. */
            const float mid = (float)((half_value((uint16_t)h) + half_value((uint16_t)(h + 1))) / 2.0);
            assert_int_equal(synth_f32_to_f16(mid), (h & 1u) ? h + 1 : h);
            assert_int_equal(synth_f32_to_f16(nextafterf(mid, INFINITY)), h + 1);
            assert_int_equal(synth_f32_to_f16(nextafterf(mid, 0.0f)), h);
        }
    }
    assert_int_equal(synth_f32_to_f16(65504.0f), 0x7BFFu);      /* largest half */
    assert_int_equal(synth_f32_to_f16(65519.99f), 0x7BFFu);
    assert_int_equal(synth_f32_to_f16(65520.0f), 0x7C00u);      /* the tie rounds to infinity */
    assert_int_equal(synth_f32_to_f16(1e30f), 0x7C00u);
    assert_int_equal(synth_f32_to_f16(-INFINITY), 0xFC00u);
    assert_int_equal(synth_f32_to_f16(ldexpf(1.0f, -25)), 0x0000u); /* tie between 0 and 2^-24: even */
    assert_int_equal(synth_f32_to_f16(nextafterf(ldexpf(1.0f, -25), 1.0f)), 0x0001u);
    assert_true((synth_f32_to_f16(NAN) & 0x7C00u) == 0x7C00u && (synth_f32_to_f16(NAN) & 0x03FFu) != 0);
}

static void test_bf16(void **state)
{
    uint32_t b;
    (void)state;
    for (b = 0; b < 0x7F80u; b++) { /* finite positive bfloat16: the top half of a float */
        const uint32_t bits = b << 16;
        float v, up;
        memcpy(&v, &bits, sizeof v);
        assert_true(synth_bf16_to_f32((uint16_t)b) == v);
        assert_int_equal(synth_f32_to_bf16(v), b);
        /* The float halfway to the next bfloat16 has the low 16 bits 0x8000. */
        {
            const uint32_t mid_bits = bits | 0x8000u;
            float mid;
            memcpy(&mid, &mid_bits, sizeof mid);
            assert_int_equal(synth_f32_to_bf16(mid), (b & 1u) ? b + 1 : b);
            up = nextafterf(mid, INFINITY);
            assert_int_equal(synth_f32_to_bf16(up), b + 1);
        }
    }
    assert_int_equal(synth_f32_to_bf16(-1.0f), 0xBF80u);
    assert_true((synth_f32_to_bf16(NAN) & 0x7FC0u) == 0x7FC0u);
}

static void test_parse_long_in(void **state)
{
    long v = 77;
    (void)state;
    assert_int_equal(parse_long_in("12", 0, 100, &v), 1);
    assert_int_equal(v, 12);
    assert_int_equal(parse_long_in("-3", -5, 5, &v), 1);
    assert_int_equal(v, -3);
    v = 77;
    assert_int_equal(parse_long_in("", 0, 100, &v), 0);
    assert_int_equal(parse_long_in(" 1", 0, 100, &v), 0);
    assert_int_equal(parse_long_in("+1", 0, 100, &v), 0);
    assert_int_equal(parse_long_in("1x", 0, 100, &v), 0);
    assert_int_equal(parse_long_in("0x10", 0, 100, &v), 0);
    assert_int_equal(parse_long_in("-", -5, 5, &v), 0);
    assert_int_equal(parse_long_in("101", 0, 100, &v), 0);
    assert_int_equal(parse_long_in("-1", 0, 100, &v), 0);
    assert_int_equal(parse_long_in("99999999999999999999999", 0, 100, &v), 0);
    assert_int_equal(v, 77); /* untouched on failure */
}

static void test_peaky_rows(void **state)
{
    float a[433], b[433], c[433];
    double sum = 0.0, top = 0.0;
    size_t j;
    (void)state;
    synth_peaky_row(a, 433, 5);
    synth_peaky_row(b, 433, 5);
    synth_peaky_row(c, 433, 6);
    assert_memory_equal(a, b, sizeof a);          /* a function of the seed */
    assert_true(memcmp(a, c, sizeof a) != 0);
    for (j = 0; j < 433; j++) {
        assert_true(a[j] > 0.0f);
        sum += a[j];
        if (a[j] > top) top = a[j];
    }
    assert_true(fabs(sum - 1.0) < 1e-5);
    assert_true(top > 0.1); /* a peak at exp(5..8) against a background below e^2 */
}

static void test_blob_layer(void **state)
{
    const synth_blob spec = {3, 4, 6, 5, 7, 11};
    const long n = 1 + 5 * 7;
    float *a = malloc((size_t)(3 * 4 * n * n) * sizeof *a), *b = malloc((size_t)(3 * 4 * n * n) * sizeof *b);
    long r, f, row, col;
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(synth_blob_layer(a, &spec, 5), 0);
    assert_int_equal(synth_blob_layer(b, &spec, 5), 0);
    assert_memory_equal(a, b, (size_t)(3 * 4 * n * n) * sizeof *a);
    for (r = 0; r < 3 * 4 * n; r++) {
        double sum = 0.0;
        long j;
        for (j = 0; j < n; j++) sum += a[r * n + j];
        assert_true(fabs(sum - 1.0) < 1e-5);
    }
    /* The CLS query of head 0 puts its largest weight on the blob's centre. */
    for (f = 0; f < 3; f++) {
        const float *cls = a + (size_t)(f * 4) * (size_t)(n * n);
        long best = 1, j;
        for (j = 2; j < n; j++)
            if (cls[j] > cls[best]) best = j;
        synth_blob_centre(&spec, f, &row, &col);
        assert_true(labs((best - 1) / 7 - row) <= 1 && labs((best - 1) % 7 - col) <= 1);
    }
    synth_blob_centre(&spec, 0, &row, &col);
    assert_int_equal(row, 1); /* 0.2 * 4 = 0.8 -> 1 */
    assert_int_equal(col, 2); /* 0.25 * 6 = 1.5 -> 2 */
    synth_blob_centre(&spec, 2, &row, &col);
    assert_int_equal(row, 3); /* 0.8 * 4 = 3.2 -> 3 */
    assert_int_equal(col, 5); /* 0.75 * 6 = 4.5 -> 5 */
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_to_f32_every_value),
        cmocka_unit_test(test_f32_to_f16_round_trip_and_ties),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_parse_long_in),
        cmocka_unit_test(test_peaky_rows),
        cmocka_unit_test(test_blob_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
