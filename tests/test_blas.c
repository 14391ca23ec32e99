/*
 * attnroll_blas_report, attnroll_blas_kernel_level, attnroll_blas_selfcheck:
 * the kernel table, the report's internal consistency on whatever machine
 * runs the test, a forced OPENBLAS_CORETYPE being the kernel reported (the
 * blas_forced_kernel test runs this program with OPENBLAS_CORETYPE=Prescott),
 * the self-check passing on the kernel in use, and NULL arguments refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attnroll.h"
#include "test_util.h"

static void test_kernel_levels(void **state)
{
    (void)state;
    assert_int_equal(attnroll_blas_kernel_level("Prescott"), ATTNROLL_SIMD_SSE);
    assert_int_equal(attnroll_blas_kernel_level("Nehalem"), ATTNROLL_SIMD_SSE);
    assert_int_equal(attnroll_blas_kernel_level("Sandybridge"), ATTNROLL_SIMD_AVX);
    assert_int_equal(attnroll_blas_kernel_level("Haswell"), ATTNROLL_SIMD_AVX2);
    assert_int_equal(attnroll_blas_kernel_level("Zen"), ATTNROLL_SIMD_AVX2);
    assert_int_equal(attnroll_blas_kernel_level("SkylakeX"), ATTNROLL_SIMD_AVX512);
    assert_int_equal(attnroll_blas_kernel_level("SapphireRapids"), ATTNROLL_SIMD_AVX512);
    /* OpenBLAS reads OPENBLAS_CORETYPE case-insensitively; so does the table. */
    assert_int_equal(attnroll_blas_kernel_level("skylakex"), ATTNROLL_SIMD_AVX512);
    assert_int_equal(attnroll_blas_kernel_level("HASWELL"), ATTNROLL_SIMD_AVX2);
    assert_int_equal(attnroll_blas_kernel_level("Skylake"), ATTNROLL_SIMD_UNKNOWN);
    assert_int_equal(attnroll_blas_kernel_level(""), ATTNROLL_SIMD_UNKNOWN);
    assert_int_equal(attnroll_blas_kernel_level(NULL), ATTNROLL_SIMD_UNKNOWN);
}

static void test_report_is_consistent(void **state)
{
    (void)state;
    attnroll_blas_info info;
    memset(&info, 0x5a, sizeof info); /* every field must be written */
    TU_ASSERT_OK(attnroll_blas_report(&info));
    assert_string_equal(attnroll_last_error(), "");
    assert_non_null(memchr(info.blas, '\0', sizeof info.blas));
    assert_non_null(memchr(info.kernel, '\0', sizeof info.kernel));
    assert_true(strncmp(info.blas, "OpenBLAS", 8) == 0);
    assert_true(strlen(info.kernel) > 0);
    /* OpenBLAS's config string names the kernel it chose. */
    assert_non_null(strstr(info.blas, info.kernel));
    assert_int_equal(info.kernel_level, attnroll_blas_kernel_level(info.kernel));
    assert_in_range(info.cpu_level, ATTNROLL_SIMD_UNKNOWN, ATTNROLL_SIMD_AVX512);
#if defined(__x86_64__)
    assert_true(info.cpu_level >= ATTNROLL_SIMD_SSE);
#endif
    const int below = info.kernel_level != ATTNROLL_SIMD_UNKNOWN &&
                      info.cpu_level != ATTNROLL_SIMD_UNKNOWN && info.kernel_level < info.cpu_level;
    assert_int_equal(info.kernel_below_cpu, below);
    static const char *const best[] = {"", "", "Sandybridge", "Haswell", "SkylakeX"};
    assert_string_equal(info.best_kernel, best[info.cpu_level]);
    if (below) {
        char want[64];
        snprintf(want, sizeof want, "OPENBLAS_CORETYPE=%s", info.best_kernel);
        assert_string_equal(info.fix, want);
        assert_int_equal(attnroll_blas_kernel_level(info.best_kernel), info.cpu_level);
    } else {
        assert_string_equal(info.fix, "");
    }
    const char *env = getenv("OPENBLAS_CORETYPE");
    assert_string_equal(info.coretype_env, env ? env : "");
}

/* A kernel forced through the environment, which the CPU can run, is the one
 * OpenBLAS uses and the one reported. */
static void test_forced_kernel_is_reported(void **state)
{
    (void)state;
    const char *env = getenv("OPENBLAS_CORETYPE");
    attnroll_blas_info info;
    TU_ASSERT_OK(attnroll_blas_report(&info));
    if (!env || attnroll_blas_kernel_level(env) == ATTNROLL_SIMD_UNKNOWN ||
        attnroll_blas_kernel_level(env) > info.cpu_level) {
        skip();
    }
    assert_int_equal(strcasecmp(info.kernel, env), 0);
}

/* Under the test_blas_wrong_kernel test, cblas_sgemm is a stand-in that
 * spoils one element by 0.1% (wrong_sgemm.c): the check must fail. */
static int expect_wrong_sgemm(void)
{
    const char *v = getenv("ATTNROLL_TEST_EXPECT_WRONG_SGEMM");
    return v && strcmp(v, "1") == 0;
}

static void test_selfcheck_catches_a_wrong_kernel(void **state)
{
    (void)state;
    if (!expect_wrong_sgemm()) skip();
    int32_t passed = -1;
    double err = -1;
    TU_ASSERT_OK(attnroll_blas_selfcheck(&passed, &err));
    assert_int_equal(passed, 0);
    assert_true(err > 1e-4); /* 1e-3 relative to that element, at least 1e-4 of the sum of |terms| */
}

static void test_selfcheck_passes(void **state)
{
    (void)state;
    if (expect_wrong_sgemm()) skip();
    int32_t passed = -1;
    double err = -1;
    TU_ASSERT_OK(attnroll_blas_selfcheck(&passed, &err));
    assert_int_equal(passed, 1);
    /* sgemm's rounding over k <= 433 terms is far below the tolerance, and
     * something was measured (not a hard-coded zero). */
    assert_true(err > 0 && err < 1e-5);
    passed = -1;
    TU_ASSERT_OK(attnroll_blas_selfcheck(&passed, NULL));
    assert_int_equal(passed, 1);
}

static void test_null_arguments(void **state)
{
    (void)state;
    assert_int_equal(attnroll_blas_report(NULL), ATTNROLL_E_ARGUMENT);
    assert_non_null(strstr(attnroll_last_error(), "info"));
    double err = -1;
    assert_int_equal(attnroll_blas_selfcheck(NULL, &err), ATTNROLL_E_ARGUMENT);
    assert_non_null(strstr(attnroll_last_error(), "passed"));
    assert_true(err == -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_levels),
        cmocka_unit_test(test_report_is_consistent),
        cmocka_unit_test(test_forced_kernel_is_reported),
        cmocka_unit_test(test_selfcheck_passes),
        cmocka_unit_test(test_selfcheck_catches_a_wrong_kernel),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
