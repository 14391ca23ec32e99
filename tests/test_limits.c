/*
 * Resource bounds on inputs that claim more than they hold: broadcast
 * (stride 0) axes of 2^59 elements over a few bytes, working arrays larger
 * than any allocation, streams larger than the machine's memory.  Each must
 * cost what the data costs, or fail with ATTNROLL_E_MEMORY and a message --
 * never hang, abort, or get the process killed.  Public header only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "attnroll.h"
#include "test_util.h"

/* 16 bytes seen as [2, 2^59, 2, 2]: selecting instance 1 indexes axis 0 and
 * leaves the 2^59 broadcast axis to average.  The shape query reads the shape
 * only; the selection is the 2x2 matrix itself (the mean of copies). */
static void test_select_broadcast_axis(void **state) {
    (void)state;
    float data[4] = {1, 2, 3, 4};
    const int64_t shape[4] = {2, (int64_t)1 << 59, 2, 2};
    const int64_t strides[4] = {0, 0, 2, 1};
    const attnroll_tensor a = tu_view(data, ATTNROLL_F32, 4, shape, strides);
    int64_t rows = -1, cols = -1;
    TU_ASSERT_OK(attnroll_select_shape(&a, 1, &rows, &cols));
    assert_int_equal(rows, 2);
    assert_int_equal(cols, 2);

    double got[4] = {0};
    const int64_t out_shape[2] = {2, 2};
    const attnroll_tensor out = tu_view(got, ATTNROLL_F64, 2, out_shape, NULL);
    TU_ASSERT_OK(attnroll_select_instance(&a, 1, &out));
    const double want[4] = {1, 2, 3, 4};
    TU_ASSERT_EQUAL(got, want, 4);

    /* A leftover axis of 2^28 (issue: 2.1 GB and 1.5 s before) */
    const int64_t shape28[4] = {3, (int64_t)1 << 28, 2, 2};
    const attnroll_tensor a28 = tu_view(data, ATTNROLL_F32, 4, shape28, strides);
    TU_ASSERT_OK(attnroll_select_shape(&a28, 2, &rows, &cols));
    TU_ASSERT_OK(attnroll_select_instance(&a28, 2, &out));
    TU_ASSERT_EQUAL(got, want, 4);
}

/* A leftover axis that is not broadcast is still averaged: [1, 3, 2, 2] with
 * three distinct matrices, instance 0 -> mean of the three. */
static void test_select_averages_real_axis(void **state) {
    (void)state;
    const float data[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 6};
    const int64_t shape[4] = {1, 3, 2, 2};
    const attnroll_tensor a = tu_view((void *)data, ATTNROLL_F32, 4, shape, NULL);
    double got[4] = {0};
    const int64_t out_shape[2] = {2, 2};
    const attnroll_tensor out = tu_view(got, ATTNROLL_F64, 2, out_shape, NULL);
    TU_ASSERT_OK(attnroll_select_instance(&a, 0, &out));
    const double want[4] = {2, 3, 4, 6}; /* (1+5+0)/3, (2+6+1)/3, (3+7+2)/3, (4+8+6)/3 */
    TU_ASSERT_CLOSE(got, want, 4, 1e-15);
}

/* Temporal rollout over two layers that broadcast a 2x2 map along a 2^59
 * axis.  Residual 0 and rows summing to 1 make T = A, so the rollout is A @ A:
 * [[.5,.5],[.25,.75]]^2 = [[.375,.625],[.3125,.6875]]. */
static void test_temporal_broadcast_axis(void **state) {
    (void)state;
    double data[4] = {0.5, 0.5, 0.25, 0.75};
    const int64_t shape[4] = {2, (int64_t)1 << 59, 2, 2};
    const int64_t strides[4] = {0, 0, 2, 1};
    attnroll_tensor layers[2];
    layers[0] = tu_view(data, ATTNROLL_F64, 4, shape, strides);
    layers[1] = layers[0];
    attnroll_config *config = NULL;
    TU_ASSERT_OK(attnroll_config_create(&config));
    TU_ASSERT_OK(attnroll_config_set_float(config, ATTNROLL_OPT_RESIDUAL, 0.0));
    double got[4] = {0};
    const int64_t out_shape[2] = {2, 2};
    const attnroll_tensor out = tu_view(got, ATTNROLL_F64, 2, out_shape, NULL);
    TU_ASSERT_OK(attnroll_temporal(layers, 2, 1, config, &out));
    const double want[4] = {0.375, 0.625, 0.3125, 0.6875};
    TU_ASSERT_CLOSE(got, want, 4, 1e-15);
    attnroll_config_destroy(config);
}

/* A working copy of 2^62 elements cannot exist: ATTNROLL_E_MEMORY naming the
 * cause (it was ATTNROLL_E_INTERNAL, "vector::reserve"), out untouched. */
static void test_post_processing_too_large(void **state) {
    (void)state;
    float data[4] = {1, 2, 3, 4};
    const int64_t shape[2] = {(int64_t)1 << 60, 4};
    const int64_t strides[2] = {0, 1};
    const attnroll_tensor in = tu_view(data, ATTNROLL_F32, 2, shape, strides);
    double got[4] = {-7, -7, -7, -7};
    const int64_t out_shape[1] = {4};
    const attnroll_tensor out = tu_view(got, ATTNROLL_F64, 1, out_shape, NULL);
    TU_ASSERT_FAILS(attnroll_column_mean(&in, &out), ATTNROLL_E_MEMORY, "out of memory");
    const double sentinel[4] = {-7, -7, -7, -7};
    TU_ASSERT_EQUAL(got, sentinel, 4);
}

/* MemAvailable from /proc/meminfo in bytes, or 0 when unknown. */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    fclose(f);
    return (uint64_t)kib * 1024;
}

/* A stream whose running product alone is 1.25x the memory available (plus
 * 1 GiB) is refused at creation with both sizes in the message; it used to
 * be committed page by page until the kernel killed the process. */
static void test_stream_larger_than_memory(void **state) {
    (void)state;
    const uint64_t available = mem_available();
    if (available == 0) {
        print_message("no /proc/meminfo: nothing to bound against here\n");
        skip();
    }
    const int64_t tokens = 1024; /* 4 MiB per F32 frame */
    const int64_t frames = (int64_t)((available + available / 4 + ((uint64_t)1 << 30)) / ((uint64_t)4 << 20)) + 1;
    attnroll_stream *stream = (attnroll_stream *)&stream; /* must come back NULL */
    TU_ASSERT_FAILS(attnroll_stream_create(NULL, frames, tokens, ATTNROLL_F32, &stream), ATTNROLL_E_MEMORY,
                    "available");
    assert_null(stream);
}

/* stream_result documents ATTNROLL_E_OVERLAP: an output that overlaps itself. */
static void test_stream_result_overlap(void **state) {
    (void)state;
    attnroll_stream *stream = NULL;
    TU_ASSERT_OK(attnroll_stream_create(NULL, 1, 2, ATTNROLL_F64, &stream));
    double layer[4] = {0.5, 0.5, 0.25, 0.75};
    const int64_t layer_shape[3] = {1, 2, 2};
    const attnroll_tensor l = tu_view(layer, ATTNROLL_F64, 3, layer_shape, NULL);
    TU_ASSERT_OK(attnroll_stream_push(stream, &l));
    double got[2] = {-7, -7};
    const int64_t out_shape[2] = {2, 2};
    const int64_t out_strides[2] = {1, 1}; /* out[0,1] and out[1,0] are one element */
    const attnroll_tensor out = tu_view(got, ATTNROLL_F64, 2, out_shape, out_strides);
    TU_ASSERT_FAILS(attnroll_stream_result(stream, &out), ATTNROLL_E_OVERLAP, "share an element");
    assert_true(got[0] == -7 && got[1] == -7);
    attnroll_stream_destroy(stream);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_broadcast_axis),
        cmocka_unit_test(test_select_averages_real_axis),
        cmocka_unit_test(test_temporal_broadcast_axis),
        cmocka_unit_test(test_post_processing_too_large),
        cmocka_unit_test(test_stream_larger_than_memory),
        cmocka_unit_test(test_stream_result_overlap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
