/*
 * Allocation failures, SQLite's method (a library built with
 * -DATTNROLL_ALLOC_FAULTS=ON; the hook is tests/alloc_fault.h).  For every
 * computing function and every step of a stream, on small inputs and with the
 * options that allocate (query rows, DROP_TOKENS, ENTROPY / WEIGHTS / GRAD
 * fusion, DISCARD, CUMULATIVE, CHEFER) and two worker threads where the
 * function has workers, the call is repeated with its k-th allocation made to
 * fail, k = 1, 2, ..., until it makes fewer than k allocations.  Each failing
 * run must give ATTNROLL_E_MEMORY with a message and leave the output (a
 * sentinel pattern) untouched, or the object (a config, a stream) as it was:
 * a stream whose push or result failed takes the same call again and ends
 * with the right result.  The run that no longer fails must equal the run
 * without injection, byte for byte.  One failure is allowed not to be an
 * error: a worker thread that cannot be started, whose work then runs on the
 * other threads (parallel.hpp); the result must still be the same, and a
 * case with two worker threads must show it (which proves that allocations
 * on the path to the workers are counted).  Every case must have injected at
 * least one failure.  Leaks are LeakSanitizer's (the ASan build runs this).
 * Functions documented without ATTNROLL_E_MEMORY must make no allocation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fault.h"
#include "attnroll.h"
#include "test_util.h"

#define SENTINEL 0xA5
#define MAX_LAYERS 4


static int64_t total_cases, total_allocations, total_injected, total_tolerated;

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */
/* ------------------------------------------------------------------------ */

/* Worker threads in a case: NONE (THREADS = 1: every injected failure must be
 * ATTNROLL_E_MEMORY), STARTED (a worker thread is started, so some failure
 * must be the tolerated one), MAYBE (the library picks the count). */
enum { NONE, STARTED, MAYBE };

typedef struct walk_case {
    const char *name;
    void *ctx;
    /* The call under test, writing its output (if any) to out. */
    int32_t (*call)(void *ctx, void *out);
    size_t out_bytes; /* 0: no output to compare (the object is checked) */
    /* Optional, run with nothing armed: before each call (make the object
     * the call needs) and after it (check and free the object). */
    void (*prepare)(void *ctx);
    void (*check)(void *ctx, int32_t status);
    int threads;
} walk_case;

static void walk(const walk_case *c)
{
    const size_t bytes = c->out_bytes ? c->out_bytes : 1;
    unsigned char *want = malloc(bytes), *got = malloc(bytes), *untouched = malloc(bytes);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(untouched);
    memset(untouched, SENTINEL, bytes);

    /* The reference: nothing armed. */
    memset(want, SENTINEL, bytes);
    if (c->prepare) c->prepare(c->ctx);
    attnroll_test_fail_allocation(0);
    int32_t st = c->call(c->ctx, want);
    const int64_t reference = attnroll_test_fail_allocation(0);
    if (st != ATTNROLL_OK)
        fail_msg("%s: %s without injection (%s)", c->name, attnroll_status_string(st), attnroll_last_error());
    if (c->check) c->check(c->ctx, st);

    int64_t injected = 0, tolerated = 0, k;
    for (k = 1;; ++k) {
        memset(got, SENTINEL, bytes);
        if (c->prepare) c->prepare(c->ctx);
        attnroll_test_fail_allocation(k);
        st = c->call(c->ctx, got);
        const int64_t made = attnroll_test_fail_allocation(0);
        char message[600];
        snprintf(message, sizeof message, "%s", attnroll_last_error());
        if (made < k) {  /* nothing failed: the end of the walk */
            if (st != ATTNROLL_OK)
                fail_msg("%s: %s with no allocation failed (k = %lld, %lld made): %s", c->name,
                         attnroll_status_string(st), (long long)k, (long long)made, message);
            if (c->out_bytes && memcmp(got, want, bytes) != 0)
                fail_msg("%s: the result differs from the run without injection", c->name);
            if (c->check) c->check(c->ctx, st);
            break;
        }
        if (st == ATTNROLL_E_MEMORY) {
            if (message[0] == '\0')
                fail_msg("%s: allocation %lld failed: ATTNROLL_E_MEMORY without a message", c->name, (long long)k);
            if (c->out_bytes && memcmp(got, untouched, bytes) != 0)
                fail_msg("%s: allocation %lld failed: the output was written", c->name, (long long)k);
            ++injected;
        } else if (st == ATTNROLL_OK && c->threads != NONE) {
            /* a worker thread not started: the same result on fewer threads */
            if (c->out_bytes && memcmp(got, want, bytes) != 0)
                fail_msg("%s: allocation %lld failed and the call succeeded with another result", c->name,
                         (long long)k);
            ++tolerated;
        } else {
            fail_msg("%s: allocation %lld (of %lld) failed: %s, expected ATTNROLL_E_MEMORY (%s)", c->name,
                     (long long)k, (long long)made, attnroll_status_string(st), message);
        }
        if (c->check) c->check(c->ctx, st);
        if (k > 100000) fail_msg("%s: more than 100000 allocations", c->name);
    }
    print_message("  %-52s %4lld allocations: %4lld ATTNROLL_E_MEMORY, %lld thread starts tolerated\n", c->name,
                  (long long)reference, (long long)injected, (long long)tolerated);
    if (injected < 1) fail_msg("%s: no failure was injected (%lld allocations)", c->name, (long long)(k - 1));
    if (c->threads == STARTED && tolerated < 1)
        fail_msg("%s: two worker threads asked for, but no thread start was seen", c->name);
    if (c->threads == NONE && tolerated != 0)
        fail_msg("%s: a failed allocation was swallowed", c->name);
    ++total_cases;
    total_allocations += k - 1;
    total_injected += injected;
    total_tolerated += tolerated;
    free(want);
    free(got);
    free(untouched);
}

/* A function documented without ATTNROLL_E_MEMORY: succeeds with its first
 * allocation armed, having made none. */
#define EXPECT_NO_ALLOCATION(call)                                                              \
    do {                                                                                        \
        attnroll_test_fail_allocation(1);                                                       \
        const int32_t st_ = (call);                                                             \
        const int64_t made_ = attnroll_test_fail_allocation(0);                                 \
        if (st_ != ATTNROLL_OK || made_ != 0)                                                   \
            fail_msg("%s: %s, %lld allocations (expected none)", #call,                        \
                     attnroll_status_string(st_), (long long)made_);                            \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Inputs                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct arrays {
    void *data[2 * MAX_LAYERS + 2];
    int count;
} arrays;

/* count attention values (rows of n summing to 1) as dtype F32 or F64. */
static void *attention(arrays *a, tu_rng *rng, int64_t count, int64_t n, int32_t dtype)
{
    double *v = tu_peaky_alloc(rng, count, n, 4.0);
    void *p = v;
    if (dtype == ATTNROLL_F32) {
        float *f = malloc((size_t)count * sizeof *f);
        assert_non_null(f);
        for (int64_t i = 0; i < count; ++i) f[i] = (float)v[i];
        free(v);
        p = f;
    }
    assert_true(a->count < (int)(sizeof a->data / sizeof a->data[0]));
    a->data[a->count++] = p;
    return p;
}

static void free_arrays(arrays *a)
{
    for (int i = 0; i < a->count; ++i) free(a->data[i]);
    a->count = 0;
}

static size_t bytes_of(int32_t dtype, int ndim, const int64_t *shape)
{
    return (size_t)tu_numel(ndim, shape) * tu_dtype_bytes(dtype);
}

/* A config: THREADS first, then the options given as (key, kind, ...) until
 * key 0: 'i' int64, 'f' double, 'I' int64 list (count, values), 'F' double
 * list (count, values). */
static attnroll_config *config(int64_t threads, ...)
{
    attnroll_config *c = NULL;
    TU_ASSERT_OK(attnroll_config_create(&c));
    TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, threads));
    va_list ap;
    va_start(ap, threads);
    for (int32_t key; (key = va_arg(ap, int32_t)) != 0;) {
        const int kind = va_arg(ap, int);
        if (kind == 'i') {
            TU_ASSERT_OK(attnroll_config_set_int(c, key, va_arg(ap, int64_t)));
        } else if (kind == 'f') {
            TU_ASSERT_OK(attnroll_config_set_float(c, key, va_arg(ap, double)));
        } else if (kind == 'I') {
            const int64_t n = va_arg(ap, int64_t);
            const int64_t *values = va_arg(ap, const int64_t *);
            TU_ASSERT_OK(attnroll_config_set_ints(c, key, values, n));
        } else {
            const int64_t n = va_arg(ap, int64_t);
            const double *values = va_arg(ap, const double *);
            TU_ASSERT_OK(attnroll_config_set_floats(c, key, values, n));
        }
    }
    va_end(ap);
    return c;
}

#define I(key, v) (int32_t)(key), 'i', (int64_t)(v)
#define F(key, v) (int32_t)(key), 'f', (double)(v)
#define INTS(key, n, v) (int32_t)(key), 'I', (int64_t)(n), (const int64_t *)(v)
#define FLOATS(key, n, v) (int32_t)(key), 'F', (int64_t)(n), (const double *)(v)
#define END (int32_t)0

/* ------------------------------------------------------------------------ */
/* Rollouts: spatial, spatial_grad, temporal, flow                           */
/* ------------------------------------------------------------------------ */

enum { SPATIAL, SPATIAL_GRAD, TEMPORAL, FLOW };

typedef struct rollout_ctx {
    int kind;
    int32_t num_layers;
    int64_t layer_shape[4];
    int layer_ndim;
    attnroll_tensor layers[MAX_LAYERS], grads[MAX_LAYERS];
    int64_t instance;
    attnroll_config *cfg;
    int32_t out_dtype;
    int out_ndim;
    int64_t out_shape[4];
} rollout_ctx;

static int32_t call_rollout(void *p, void *out)
{
    const rollout_ctx *c = p;
    const attnroll_tensor o = tu_view(out, c->out_dtype, c->out_ndim, c->out_shape, NULL);
    switch (c->kind) {
        case SPATIAL: return attnroll_spatial(c->layers, c->num_layers, c->cfg, &o);
        case SPATIAL_GRAD: return attnroll_spatial_grad(c->layers, c->grads, c->num_layers, c->cfg, &o);
        case TEMPORAL: return attnroll_temporal(c->layers, c->num_layers, c->instance, c->cfg, &o);
        default: return attnroll_flow(c->layers, c->num_layers, c->cfg, &o);
    }
}

/* Runs one rollout case: layers (and grads) of the given shape made here,
 * the config consumed. */
static void rollout_case(const char *name, int kind, int32_t num_layers, int layer_ndim, const int64_t *layer_shape,
                         int32_t in_dtype, attnroll_config *cfg, int32_t out_dtype, int out_ndim,
                         const int64_t *out_shape, int threads)
{
    rollout_ctx c;
    memset(&c, 0, sizeof c);
    arrays a = {{NULL}, 0};
    tu_rng rng;
    tu_rng_seed(&rng, 42);
    c.kind = kind;
    c.num_layers = num_layers;
    c.layer_ndim = layer_ndim;
    memcpy(c.layer_shape, layer_shape, (size_t)layer_ndim * sizeof *layer_shape);
    const int64_t count = tu_numel(layer_ndim, layer_shape), n = layer_shape[layer_ndim - 1];
    for (int32_t l = 0; l < num_layers; ++l) {
        c.layers[l] = tu_view(attention(&a, &rng, count, n, in_dtype), in_dtype, layer_ndim, c.layer_shape, NULL);
        if (kind == SPATIAL_GRAD)  /* any values will do; these are positive */
            c.grads[l] = tu_view(attention(&a, &rng, count, n, in_dtype), in_dtype, layer_ndim, c.layer_shape, NULL);
    }
    c.instance = 1;
    c.cfg = cfg;
    c.out_dtype = out_dtype;
    c.out_ndim = out_ndim;
    memcpy(c.out_shape, out_shape, (size_t)out_ndim * sizeof *out_shape);
    const walk_case w = {name, &c, call_rollout, bytes_of(out_dtype, out_ndim, out_shape), NULL, NULL, threads};
    walk(&w);
    attnroll_config_destroy(cfg);
    free_arrays(&a);
}

static void test_spatial(void **state)
{
    (void)state;
    static const int64_t rows[] = {0, 5}, protect[] = {0, 2};
    static const double weights[] = {0.75, -0.25};
    const int64_t small[] = {2, 2, 8, 8}, small3[] = {2, 8, 8}, big[] = {4, 2, 64, 64};

    rollout_case("spatial", SPATIAL, 3, 4, small, ATTNROLL_F64, config(1, END), ATTNROLL_F64, 3,
                 (const int64_t[]){2, 8, 8}, NONE);
    rollout_case("spatial, 2 threads", SPATIAL, 3, 4, big, ATTNROLL_F32, config(2, END), ATTNROLL_F32, 3,
                 (const int64_t[]){4, 64, 64}, STARTED);
    rollout_case("spatial, query rows", SPATIAL, 3, 4, small, ATTNROLL_F64,
                 config(1, INTS(ATTNROLL_OPT_QUERY_ROWS, 2, rows), END), ATTNROLL_F64, 3,
                 (const int64_t[]){2, 2, 8}, NONE);
    rollout_case("spatial, DROP_TOKENS, MAX, F32", SPATIAL, 3, 3, small3, ATTNROLL_F32,
                 config(1, I(ATTNROLL_OPT_DROP_TOKENS, 1), I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MAX),
                        I(ATTNROLL_OPT_LAYER_BEGIN, 1), END),
                 ATTNROLL_F32, 2, (const int64_t[]){7, 7}, NONE);
    rollout_case("spatial, DROP_TOKENS, ENTROPY, DISCARD, 2 threads", SPATIAL, 3, 4, big, ATTNROLL_F64,
                 config(2, I(ATTNROLL_OPT_DROP_TOKENS, 1), I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_ENTROPY),
                        F(ATTNROLL_OPT_DISCARD_RATIO, 0.3), INTS(ATTNROLL_OPT_PROTECT, 2, protect), END),
                 ATTNROLL_F64, 3, (const int64_t[]){4, 63, 63}, STARTED);
    rollout_case("spatial, ENTROPY, DISCARD", SPATIAL, 2, 4, small, ATTNROLL_F64,
                 config(1, I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_ENTROPY), F(ATTNROLL_OPT_DISCARD_RATIO, 0.5),
                        END),
                 ATTNROLL_F32, 3, (const int64_t[]){2, 8, 8}, NONE);
    rollout_case("spatial, WEIGHTS", SPATIAL, 3, 4, small, ATTNROLL_F64,
                 config(1, I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_WEIGHTS),
                        FLOATS(ATTNROLL_OPT_HEAD_WEIGHTS, 2, weights), END),
                 ATTNROLL_F64, 3, (const int64_t[]){2, 8, 8}, NONE);
    rollout_case("spatial, CHEFER", SPATIAL, 3, 4, small, ATTNROLL_F64,
                 config(1, I(ATTNROLL_OPT_RULE, ATTNROLL_RULE_CHEFER), F(ATTNROLL_OPT_RESIDUAL, 0.5), END),
                 ATTNROLL_F64, 3, (const int64_t[]){2, 8, 8}, NONE);
    rollout_case("spatial, CUMULATIVE", SPATIAL, 3, 4, small, ATTNROLL_F64,
                 config(1, I(ATTNROLL_OPT_CUMULATIVE, 1), END), ATTNROLL_F64, 4, (const int64_t[]){3, 2, 8, 8},
                 NONE);
    rollout_case("spatial, CUMULATIVE, query rows, 2 threads", SPATIAL, 3, 4, big, ATTNROLL_F32,
                 config(2, I(ATTNROLL_OPT_CUMULATIVE, 1), INTS(ATTNROLL_OPT_QUERY_ROWS, 2, rows), END),
                 ATTNROLL_F64, 4, (const int64_t[]){3, 4, 2, 64}, STARTED);
    rollout_case("spatial_grad, GRAD", SPATIAL_GRAD, 3, 4, small, ATTNROLL_F64,
                 config(1, I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_GRAD), END), ATTNROLL_F64, 3,
                 (const int64_t[]){2, 8, 8}, NONE);
    rollout_case("spatial_grad, GRAD, DROP_TOKENS, 2 threads", SPATIAL_GRAD, 2, 4, big, ATTNROLL_F32,
                 config(2, I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_GRAD), I(ATTNROLL_OPT_DROP_TOKENS, 1), END),
                 ATTNROLL_F32, 3, (const int64_t[]){4, 63, 63}, STARTED);
}

static void test_temporal(void **state)
{
    (void)state;
    static const int64_t rows[] = {3, 0};
    /* rank 4, instance 1: axis 0 is indexed, the 2 heads left are averaged */
    const int64_t shape[] = {3, 2, 6, 6};
    rollout_case("temporal", TEMPORAL, 3, 4, shape, ATTNROLL_F64, config(1, END), ATTNROLL_F64, 2,
                 (const int64_t[]){6, 6}, NONE);
    rollout_case("temporal, query rows, CUMULATIVE, CHEFER", TEMPORAL, 3, 4, shape, ATTNROLL_F32,
                 config(1, INTS(ATTNROLL_OPT_QUERY_ROWS, 2, rows), I(ATTNROLL_OPT_CUMULATIVE, 1),
                        I(ATTNROLL_OPT_RULE, ATTNROLL_RULE_CHEFER), I(ATTNROLL_OPT_LAYER_BEGIN, 1), END),
                 ATTNROLL_F32, 3, (const int64_t[]){2, 2, 6}, NONE);
    rollout_case("temporal, query rows", TEMPORAL, 2, 4, shape, ATTNROLL_F64,
                 config(1, INTS(ATTNROLL_OPT_QUERY_ROWS, 2, rows), END), ATTNROLL_F64, 2, (const int64_t[]){2, 6},
                 NONE);
}

static void test_flow(void **state)
{
    (void)state;
    static const int64_t rows[] = {0};
    const int64_t small[] = {2, 2, 6, 6}, big[] = {1, 2, 40, 40};
    rollout_case("flow", FLOW, 3, 4, small, ATTNROLL_F64, config(1, END), ATTNROLL_F64, 3,
                 (const int64_t[]){2, 6, 6}, NONE);
    rollout_case("flow, DROP_TOKENS, MAX, DISCARD", FLOW, 3, 4, small, ATTNROLL_F32,
                 config(1, I(ATTNROLL_OPT_DROP_TOKENS, 1), I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MAX),
                        F(ATTNROLL_OPT_DISCARD_RATIO, 0.2), END),
                 ATTNROLL_F32, 3, (const int64_t[]){2, 5, 5}, NONE);
    rollout_case("flow, query rows, 2 threads", FLOW, 4, 4, big, ATTNROLL_F64,
                 config(2, INTS(ATTNROLL_OPT_QUERY_ROWS, 1, rows), END), ATTNROLL_F64, 3,
                 (const int64_t[]){1, 1, 40}, STARTED);
}

/* ------------------------------------------------------------------------ */
/* One input, one output: select_instance, post-processing, spectra          */
/* ------------------------------------------------------------------------ */

enum { SELECT_INSTANCE, MINMAX_ROWS, COLUMN_MEAN, MINMAX, SINGULAR_VALUES, EFFECTIVE_RANK };

typedef struct unary_ctx {
    int kind;
    attnroll_tensor in;
    int32_t out_dtype;
    int out_ndim;
    int64_t out_shape[4];
} unary_ctx;

static int32_t call_unary(void *p, void *out)
{
    const unary_ctx *c = p;
    const attnroll_tensor o = tu_view(out, c->out_dtype, c->out_ndim, c->out_shape, NULL);
    switch (c->kind) {
        case SELECT_INSTANCE: return attnroll_select_instance(&c->in, 1, &o);
        case MINMAX_ROWS: return attnroll_minmax_rows(&c->in, &o);
        case COLUMN_MEAN: return attnroll_column_mean(&c->in, &o);
        case MINMAX: return attnroll_minmax(&c->in, &o);
        case SINGULAR_VALUES: return attnroll_singular_values(&c->in, &o);
        default: return attnroll_effective_rank(&c->in, &o);
    }
}

static void unary_case(const char *name, int kind, int in_ndim, const int64_t *in_shape, int32_t in_dtype,
                       int32_t out_dtype, int out_ndim, const int64_t *out_shape, int threads)
{
    unary_ctx c;
    memset(&c, 0, sizeof c);
    arrays a = {{NULL}, 0};
    tu_rng rng;
    tu_rng_seed(&rng, 7);
    c.kind = kind;
    c.in = tu_view(attention(&a, &rng, tu_numel(in_ndim, in_shape), in_shape[in_ndim - 1], in_dtype), in_dtype, in_ndim,
                in_shape, NULL);
    c.out_dtype = out_dtype;
    c.out_ndim = out_ndim;
    memcpy(c.out_shape, out_shape, (size_t)out_ndim * sizeof *out_shape);
    const walk_case w = {name, &c, call_unary, bytes_of(out_dtype, out_ndim, out_shape), NULL, NULL, threads};
    walk(&w);
    free_arrays(&a);
}

static void test_select(void **state)
{
    (void)state;
    const int64_t averaged[] = {1, 2, 3, 5, 5};
    unary_case("select_instance (heads averaged)", SELECT_INSTANCE, 5, averaged, ATTNROLL_F32, ATTNROLL_F64, 2,
               (const int64_t[]){5, 5}, NONE);
    /* documented without ATTNROLL_E_MEMORY */
    tu_rng rng;
    tu_rng_seed(&rng, 3);
    arrays a = {{NULL}, 0};
    const attnroll_tensor in = tu_view(attention(&a, &rng, tu_numel(5, averaged), 5, ATTNROLL_F64), ATTNROLL_F64, 5,
                                    averaged, NULL);
    int64_t r = 0, c = 0;
    EXPECT_NO_ALLOCATION(attnroll_select_shape(&in, 1, &r, &c));
    assert_int_equal(r, 5);
    assert_int_equal(c, 5);
    free_arrays(&a);
}

static void test_post(void **state)
{
    (void)state;
    const int64_t matrix[] = {5, 7}, cube[] = {2, 3, 4};
    unary_case("minmax_rows", MINMAX_ROWS, 2, matrix, ATTNROLL_F32, ATTNROLL_F64, 2, matrix, NONE);
    unary_case("column_mean", COLUMN_MEAN, 2, matrix, ATTNROLL_F64, ATTNROLL_F32, 1, (const int64_t[]){7}, NONE);
    unary_case("minmax", MINMAX, 3, cube, ATTNROLL_F64, ATTNROLL_F64, 3, cube, NONE);
}

static void test_spectral(void **state)
{
    (void)state;
    const int64_t one[] = {8, 8}, batch[] = {3, 6, 6}, many[] = {8, 32, 32};
    unary_case("singular_values", SINGULAR_VALUES, 2, one, ATTNROLL_F64, ATTNROLL_F64, 1, (const int64_t[]){8},
               MAYBE);
    unary_case("singular_values, batch", SINGULAR_VALUES, 3, batch, ATTNROLL_F32, ATTNROLL_F32, 2,
               (const int64_t[]){3, 6}, MAYBE);
    unary_case("singular_values, batch on workers", SINGULAR_VALUES, 3, many, ATTNROLL_F64, ATTNROLL_F64, 2,
               (const int64_t[]){8, 32}, MAYBE);
    unary_case("effective_rank", EFFECTIVE_RANK, 2, one, ATTNROLL_F64, ATTNROLL_F64, 1, (const int64_t[]){1},
               MAYBE);
    unary_case("effective_rank, batch", EFFECTIVE_RANK, 3, batch, ATTNROLL_F64, ATTNROLL_F32, 1,
               (const int64_t[]){3}, MAYBE);
}

/* ------------------------------------------------------------------------ */
/* Streams: create, push, push_grad, result                                  */
/* ------------------------------------------------------------------------ */

enum { CREATE, PUSH, RESULT };

typedef struct stream_ctx {
    attnroll_config *cfg;
    int cumulative;
    int64_t frames, tokens;
    int32_t dtype;
    int grad;
    int32_t num_layers;
    int64_t layer_shape[4];
    attnroll_tensor layers[MAX_LAYERS], grads[MAX_LAYERS];
    int32_t out_dtype;
    int out_ndim;
    int64_t out_shape[5];
    size_t out_bytes;
    unsigned char *want; /* the result without injection */
    int stage;
    int32_t index; /* PUSH: the layer whose push is under test */
    attnroll_stream *s;
} stream_ctx;

static int32_t push_layer(stream_ctx *c, int32_t l)
{
    return c->grad ? attnroll_stream_push_grad(c->s, &c->layers[l], &c->grads[l])
                   : attnroll_stream_push(c->s, &c->layers[l]);
}

/* Pushes layers [from, num_layers), reads the result and compares it with the
 * one without injection, destroys the stream. */
static void finish_stream(stream_ctx *c, int32_t from)
{
    for (int32_t l = from; l < c->num_layers; ++l) TU_ASSERT_OK(push_layer(c, l));
    unsigned char *got = malloc(c->out_bytes);
    assert_non_null(got);
    const attnroll_tensor o = tu_view(got, c->out_dtype, c->out_ndim, c->out_shape, NULL);
    TU_ASSERT_OK(attnroll_stream_result(c->s, &o));
    if (c->want && memcmp(got, c->want, c->out_bytes) != 0)
        fail_msg("stream: the result after an allocation failure differs from the one without");
    free(got);
    attnroll_stream_destroy(c->s);
    c->s = NULL;
}

static void stream_prepare(void *p)
{
    stream_ctx *c = p;
    if (c->stage == CREATE) return;
    TU_ASSERT_OK(attnroll_stream_create(c->cfg, c->frames, c->tokens, c->dtype, &c->s));
    const int32_t pushed = c->stage == PUSH ? c->index : c->num_layers;
    for (int32_t l = 0; l < pushed; ++l) TU_ASSERT_OK(push_layer(c, l));
}

static int32_t stream_call(void *p, void *out)
{
    stream_ctx *c = p;
    if (c->stage == CREATE) return attnroll_stream_create(c->cfg, c->frames, c->tokens, c->dtype, &c->s);
    if (c->stage == PUSH) return push_layer(c, c->index);
    const attnroll_tensor o = tu_view(out, c->out_dtype, c->out_ndim, c->out_shape, NULL);
    return attnroll_stream_result(c->s, &o);
}

/* After a failure the stream is as it was: the call is made again. */
static void stream_check(void *p, int32_t status)
{
    stream_ctx *c = p;
    if (c->stage == CREATE) {
        if (status != ATTNROLL_OK) {
            assert_null(c->s);
            return;
        }
        assert_non_null(c->s);
        finish_stream(c, 0);
        return;
    }
    if (c->stage == PUSH) {
        int64_t pushed = -1;
        TU_ASSERT_OK(attnroll_stream_info(c->s, &pushed, NULL));
        if (status != ATTNROLL_OK) {
            if (pushed != c->index)
                fail_msg("stream push %d failed, yet %lld layers count as pushed", c->index, (long long)pushed);
            TU_ASSERT_OK(push_layer(c, c->index));
        }
        finish_stream(c, c->index + 1);
        return;
    }
    if (status != ATTNROLL_OK) {
        finish_stream(c, c->num_layers); /* the result asked again */
        return;
    }
    attnroll_stream_destroy(c->s);
    c->s = NULL;
}

static void stream_case(const char *name, int64_t frames, int64_t heads, int64_t tokens, int32_t num_layers,
                        int grad, attnroll_config *cfg, int32_t dtype, int out_ndim, const int64_t *out_shape,
                        int threads)
{
    stream_ctx c;
    memset(&c, 0, sizeof c);
    arrays a = {{NULL}, 0};
    tu_rng rng;
    tu_rng_seed(&rng, 11);
    int64_t cumulative = 0, begin = 0;
    TU_ASSERT_OK(attnroll_config_get_int(cfg, ATTNROLL_OPT_CUMULATIVE, &cumulative));
    TU_ASSERT_OK(attnroll_config_get_int(cfg, ATTNROLL_OPT_LAYER_BEGIN, &begin));
    c.cumulative = cumulative != 0;
    c.cfg = cfg;
    c.frames = frames;
    c.tokens = tokens;
    c.dtype = dtype;
    c.grad = grad;
    c.num_layers = num_layers;
    const int64_t shape[4] = {frames, heads, tokens, tokens};
    memcpy(c.layer_shape, shape, sizeof shape);
    for (int32_t l = 0; l < num_layers; ++l) {
        const int32_t in = l % 2 ? ATTNROLL_F32 : ATTNROLL_F64;
        c.layers[l] = tu_view(attention(&a, &rng, tu_numel(4, shape), tokens, in), in, 4, c.layer_shape, NULL);
        if (grad) c.grads[l] = tu_view(attention(&a, &rng, tu_numel(4, shape), tokens, in), in, 4, c.layer_shape, NULL);
    }
    c.out_dtype = dtype;
    c.out_ndim = out_ndim;
    memcpy(c.out_shape, out_shape, (size_t)out_ndim * sizeof *out_shape);
    c.out_bytes = bytes_of(dtype, out_ndim, out_shape);

    /* The result without injection. */
    c.want = malloc(c.out_bytes);
    assert_non_null(c.want);
    TU_ASSERT_OK(attnroll_stream_create(cfg, frames, tokens, dtype, &c.s));
    for (int32_t l = 0; l < num_layers; ++l) TU_ASSERT_OK(push_layer(&c, l));
    const attnroll_tensor o = tu_view(c.want, dtype, out_ndim, c.out_shape, NULL);
    TU_ASSERT_OK(attnroll_stream_result(c.s, &o));
    attnroll_stream_destroy(c.s);
    c.s = NULL;

    char label[160];
    c.stage = CREATE;
    snprintf(label, sizeof label, "stream_create, %s", name);
    walk_case w = {label, &c, stream_call, 0, stream_prepare, stream_check, threads};
    walk(&w);
    /* the workers are the stream's, started by create */
    w.threads = threads == STARTED ? MAYBE : threads;
    c.stage = PUSH;
    for (c.index = 0; c.index < num_layers; ++c.index) {
        if (c.index < begin) {  /* before the range: checked, not kept */
            stream_prepare(&c);
            EXPECT_NO_ALLOCATION(push_layer(&c, c.index));
            finish_stream(&c, c.index + 1);
            continue;
        }
        snprintf(label, sizeof label, "%s %d, %s", grad ? "stream_push_grad" : "stream_push", c.index, name);
        walk(&w);
    }
    c.stage = RESULT;
    w.out_bytes = c.out_bytes;
    snprintf(label, sizeof label, "stream_result, %s", name);
    walk(&w);

    free(c.want);
    attnroll_config_destroy(cfg);
    free_arrays(&a);
}

static void test_stream(void **state)
{
    (void)state;
    static const int64_t rows[] = {0, 3}, protect[] = {1};
    stream_case("default", 2, 2, 8, 3, 0, config(1, END), ATTNROLL_F64, 3, (const int64_t[]){2, 8, 8}, NONE);
    stream_case("2 threads", 4, 2, 64, 2, 0, config(2, END), ATTNROLL_F32, 3, (const int64_t[]){4, 64, 64},
                STARTED);
    stream_case("query rows", 2, 2, 8, 3, 0, config(1, INTS(ATTNROLL_OPT_QUERY_ROWS, 2, rows), END), ATTNROLL_F64,
                3, (const int64_t[]){2, 2, 8}, NONE);
    stream_case("CUMULATIVE", 2, 2, 8, 3, 0, config(1, I(ATTNROLL_OPT_CUMULATIVE, 1), END), ATTNROLL_F64, 4,
                (const int64_t[]){3, 2, 8, 8}, NONE);
    stream_case("CUMULATIVE, query rows, layer range", 2, 2, 8, 3, 0,
                config(1, I(ATTNROLL_OPT_CUMULATIVE, 1), INTS(ATTNROLL_OPT_QUERY_ROWS, 2, rows),
                       I(ATTNROLL_OPT_LAYER_BEGIN, 1), END),
                ATTNROLL_F32, 4, (const int64_t[]){2, 2, 2, 8}, NONE);
    stream_case("DROP_TOKENS, ENTROPY, DISCARD, 2 threads", 4, 2, 64, 2, 0,
                config(2, I(ATTNROLL_OPT_DROP_TOKENS, 1), I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_ENTROPY),
                       F(ATTNROLL_OPT_DISCARD_RATIO, 0.25), INTS(ATTNROLL_OPT_PROTECT, 1, protect), END),
                ATTNROLL_F64, 3, (const int64_t[]){4, 63, 63}, STARTED);
    stream_case("GRAD, CHEFER", 1, 2, 8, 3, 1,
                config(1, I(ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_GRAD), I(ATTNROLL_OPT_RULE, ATTNROLL_RULE_CHEFER),
                       END),
                ATTNROLL_F64, 3, (const int64_t[]){1, 8, 8}, NONE);
}

/* ------------------------------------------------------------------------ */
/* Configs                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct config_ctx {
    int32_t key;          /* 0: attnroll_config_create */
    int64_t count;        /* the list set */
    const int64_t *ints;  /* or */
    const double *floats;
    attnroll_config *cfg;
} config_ctx;

static void config_prepare(void *p)
{
    config_ctx *c = p;
    if (c->key == 0) return;
    TU_ASSERT_OK(attnroll_config_create(&c->cfg));
    /* a list already there, which a failed set must leave */
    static const int64_t before_ints[] = {4};
    static const double before_floats[] = {0.5};
    if (c->ints)
        TU_ASSERT_OK(attnroll_config_set_ints(c->cfg, c->key, before_ints, 1));
    else
        TU_ASSERT_OK(attnroll_config_set_floats(c->cfg, c->key, before_floats, 1));
}

static int32_t config_call(void *p, void *out)
{
    config_ctx *c = p;
    (void)out;
    if (c->key == 0) return attnroll_config_create(&c->cfg);
    if (c->ints) return attnroll_config_set_ints(c->cfg, c->key, c->ints, c->count);
    return attnroll_config_set_floats(c->cfg, c->key, c->floats, c->count);
}

static void config_check(void *p, int32_t status)
{
    config_ctx *c = p;
    if (c->key == 0) {
        if (status != ATTNROLL_OK) assert_null(c->cfg);
    } else {
        const int ok = status == ATTNROLL_OK;
        const int64_t want = ok ? c->count : 1;
        int64_t n = -1, ints[8];
        double floats[8];
        if (c->ints) {
            TU_ASSERT_OK(attnroll_config_get_ints(c->cfg, c->key, ints, 8, &n));
            assert_int_equal(n, want);
            if (ok)
                assert_memory_equal(ints, c->ints, (size_t)n * sizeof *ints);
            else
                assert_int_equal(ints[0], 4);
        } else {
            TU_ASSERT_OK(attnroll_config_get_floats(c->cfg, c->key, floats, 8, &n));
            assert_int_equal(n, want);
            if (ok)
                assert_memory_equal(floats, c->floats, (size_t)n * sizeof *floats);
            else
                assert_true(floats[0] == 0.5);
        }
    }
    attnroll_config_destroy(c->cfg);
    c->cfg = NULL;
}

static void test_config(void **state)
{
    (void)state;
    static const int64_t rows[] = {0, 2, 3}, protect[] = {0, 1};
    static const double weights[] = {0.25, 0.5, 0.25};
    config_ctx c = {0, 0, NULL, NULL, NULL};
    walk_case w = {"config_create", &c, config_call, 0, config_prepare, config_check, NONE};
    walk(&w);
    c = (config_ctx){ATTNROLL_OPT_QUERY_ROWS, 3, rows, NULL, NULL};
    w.name = "config_set_ints, QUERY_ROWS";
    walk(&w);
    c = (config_ctx){ATTNROLL_OPT_PROTECT, 2, protect, NULL, NULL};
    w.name = "config_set_ints, PROTECT";
    walk(&w);
    c = (config_ctx){ATTNROLL_OPT_HEAD_WEIGHTS, 3, NULL, weights, NULL};
    w.name = "config_set_floats, HEAD_WEIGHTS";
    walk(&w);

    /* The rest of the options interface is documented without
     * ATTNROLL_E_MEMORY: it makes no allocation. */
    attnroll_config *cfg = config(1, INTS(ATTNROLL_OPT_QUERY_ROWS, 3, rows), END);
    int64_t i = 0, list[4];
    double d = 0, lower = 0, upper = 0, floats[4];
    int32_t kind = 0;
    EXPECT_NO_ALLOCATION(attnroll_config_set_int(cfg, ATTNROLL_OPT_LAYER_BEGIN, 1));
    EXPECT_NO_ALLOCATION(attnroll_config_set_float(cfg, ATTNROLL_OPT_RESIDUAL, 0.5));
    EXPECT_NO_ALLOCATION(attnroll_config_get_int(cfg, ATTNROLL_OPT_LAYER_BEGIN, &i));
    EXPECT_NO_ALLOCATION(attnroll_config_get_float(cfg, ATTNROLL_OPT_RESIDUAL, &d));
    EXPECT_NO_ALLOCATION(attnroll_config_get_ints(cfg, ATTNROLL_OPT_QUERY_ROWS, list, 4, &i));
    EXPECT_NO_ALLOCATION(attnroll_config_get_floats(cfg, ATTNROLL_OPT_HEAD_WEIGHTS, floats, 4, &i));
    EXPECT_NO_ALLOCATION(attnroll_option_info(ATTNROLL_OPT_PROTECT, &kind, &lower, &upper));
    attnroll_config_destroy(cfg);
}

/* ------------------------------------------------------------------------ */
/* BLAS                                                                      */
/* ------------------------------------------------------------------------ */

static int32_t selfcheck_call(void *p, void *out)
{
    (void)p;
    int32_t passed = -1;
    const int32_t st = attnroll_blas_selfcheck(&passed, NULL);
    if (st == ATTNROLL_OK) memcpy(out, &passed, sizeof passed);
    return st;
}

static void test_blas(void **state)
{
    (void)state;
    const walk_case w = {"blas_selfcheck", NULL, selfcheck_call, sizeof(int32_t), NULL, NULL, NONE};
    walk(&w);
    attnroll_blas_info info;
    EXPECT_NO_ALLOCATION(attnroll_blas_report(&info));
}

/* Nothing armed: the hook changes nothing; armed beyond a call's count, it
 * does not fire. */
static void test_inert(void **state)
{
    (void)state;
    attnroll_config *cfg = NULL;
    attnroll_test_fail_allocation(0);
    TU_ASSERT_OK(attnroll_config_create(&cfg));
    assert_true(attnroll_test_fail_allocation(1000) >= 1);
    TU_ASSERT_OK(attnroll_config_set_ints(cfg, ATTNROLL_OPT_PROTECT, (const int64_t[]){1, 2}, 2));
    assert_true(attnroll_test_fail_allocation(0) >= 1);
    int64_t pushed = 0;
    attnroll_stream *s = NULL;
    TU_ASSERT_OK(attnroll_stream_create(cfg, 1, 4, ATTNROLL_F64, &s));
    EXPECT_NO_ALLOCATION(attnroll_stream_info(s, &pushed, NULL));
    attnroll_stream_destroy(s);
    attnroll_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inert),   cmocka_unit_test(test_config), cmocka_unit_test(test_spatial),
        cmocka_unit_test(test_temporal), cmocka_unit_test(test_select), cmocka_unit_test(test_post),
        cmocka_unit_test(test_flow),    cmocka_unit_test(test_spectral), cmocka_unit_test(test_stream),
        cmocka_unit_test(test_blas),
    };
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    printf("allocation failures: %lld cases, %lld allocations failed in turn: %lld ATTNROLL_E_MEMORY, "
           "%lld thread starts tolerated\n",
           (long long)total_cases, (long long)total_allocations, (long long)total_injected,
           (long long)total_tolerated);
    return failed;
}
