/*
 * Threads: the same spatial call from 4 pthreads at once gives bitwise the
 * result of a single-threaded run (default config and ATTNROLL_OPT_THREADS 2);
 * ATTNROLL_OPT_THREADS 1 / 2 / 3 / default agree (and match the reference);
 * concurrent streams; per-thread last_error isolation; an error raised on a
 * worker thread keeps its message.
 */
#define _POSIX_C_SOURCE 200112L /* pthread barriers under -std=c99 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnroll.h"
#include "reference.h"
#include "test_util.h"

enum { F = 2, H = 4, N = 64, L = 6, NTHREADS = 4, REPEAT = 3 };

typedef struct shared {
    tu_tensor *layer[L];
    attnroll_tensor v[L];
    double *vals[L];
    const attnroll_config *cfg;
    int32_t out_dtype;
} shared;

typedef struct job {
    const shared *sh;
    double *result[REPEAT]; /* F*N*N each */
    int32_t status[REPEAT];
    int wrote_error; /* last_error non-empty after a success */
} job;

static void sh_init(shared *sh, uint64_t seed)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    const int64_t shape[] = {F, H, N, N};
    for (int l = 0; l < L; ++l) {
        sh->vals[l] = tu_peaky_alloc(&rng, F * H * N * N, N, 4.0);
        tu_quantize(sh->vals[l], F * H * N * N, ATTNROLL_F32);
        sh->layer[l] = tu_from(sh->vals[l], 4, shape, ATTNROLL_F32, l % 2 ? TU_FORTRAN : TU_CNULL);
        sh->v[l] = sh->layer[l]->view;
    }
    sh->cfg = NULL;
    sh->out_dtype = ATTNROLL_F32;
}

static void sh_free(shared *sh)
{
    for (int l = 0; l < L; ++l) {
        tu_free(sh->layer[l]);
        free(sh->vals[l]);
    }
}

/* One spatial call; no cmocka assertions here (they are not thread-safe). */
static int32_t run_once(const shared *sh, double *result)
{
    const int64_t oshape[] = {F, N, N};
    tu_tensor *out = tu_new(3, oshape, sh->out_dtype, TU_CNULL);
    int32_t st = attnroll_spatial(sh->v, L, sh->cfg, &out->view);
    if (st == ATTNROLL_OK) tu_get(out, result);
    tu_free(out);
    return st;
}

static void *worker(void *arg)
{
    job *j = arg;
    for (int r = 0; r < REPEAT; ++r) {
        j->status[r] = run_once(j->sh, j->result[r]);
        if (j->status[r] == ATTNROLL_OK && attnroll_last_error()[0] != '\0') j->wrote_error = 1;
    }
    return NULL;
}

static void check_concurrent(const shared *sh)
{
    double *single = malloc(sizeof(double) * F * N * N);
    assert_non_null(single);
    TU_ASSERT_OK(run_once(sh, single));
    job jobs[NTHREADS];
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; ++t) {
        jobs[t].sh = sh;
        jobs[t].wrote_error = 0;
        for (int r = 0; r < REPEAT; ++r) {
            jobs[t].result[r] = malloc(sizeof(double) * F * N * N);
            assert_non_null(jobs[t].result[r]);
            jobs[t].status[r] = -1;
        }
    }
    for (int t = 0; t < NTHREADS; ++t)
        assert_int_equal(pthread_create(&th[t], NULL, worker, &jobs[t]), 0);
    for (int t = 0; t < NTHREADS; ++t) assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < NTHREADS; ++t) {
        assert_int_equal(jobs[t].wrote_error, 0);
        for (int r = 0; r < REPEAT; ++r) {
            assert_int_equal(jobs[t].status[r], ATTNROLL_OK);
            TU_ASSERT_EQUAL(jobs[t].result[r], single, F * N * N);
            free(jobs[t].result[r]);
        }
    }
    /* and the single-threaded run afterwards still agrees */
    double *again = malloc(sizeof(double) * F * N * N);
    assert_non_null(again);
    TU_ASSERT_OK(run_once(sh, again));
    TU_ASSERT_EQUAL(again, single, F * N * N);
    free(again);
    free(single);
}

static void test_concurrent_default(void **state)
{
    (void)state;
    shared sh;
    sh_init(&sh, 1);
    check_concurrent(&sh);
    sh.out_dtype = ATTNROLL_F64;
    check_concurrent(&sh);
    sh_free(&sh);
}

/* The same config read by four threads at once (allowed while nobody
 * modifies it), with 2 workers per call, and query rows. */
static void test_concurrent_shared_config(void **state)
{
    (void)state;
    shared sh;
    sh_init(&sh, 2);
    attnroll_config *cfg = tu_config(1, TU_DEF, -1.0, NULL, 0, 2);
    sh.cfg = cfg;
    check_concurrent(&sh);
    attnroll_config_destroy(cfg);
    sh_free(&sh);
}

/* ATTNROLL_OPT_THREADS 1, 2, 3, 8 and default give the same numbers (within the
 * output precision) and match the reference. */
static void test_thread_counts_agree(void **state)
{
    (void)state;
    shared sh;
    sh_init(&sh, 3);
    double *want = malloc(sizeof(double) * F * N * N);
    double *got = malloc(sizeof(double) * F * N * N);
    double *base = malloc(sizeof(double) * F * N * N);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(base);
    int64_t heads[L];
    for (int l = 0; l < L; ++l) heads[l] = H;
    ref_spatial((const double *const *)sh.vals, heads, L, F, N, 0, L, 1.0, NULL, 0, want);
    const int64_t counts[] = {1, 2, 3, 8, 0};
    const int32_t dts[] = {ATTNROLL_F32, ATTNROLL_F64};
    for (int d = 0; d < 2; ++d) {
        sh.out_dtype = dts[d];
        double tol = d ? 1e-12 : 2e-6;
        for (int i = 0; i < 5; ++i) {
            attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, -1.0, NULL, 0, counts[i]);
            sh.cfg = cfg;
            TU_ASSERT_OK(run_once(&sh, got));
            TU_ASSERT_CLOSE(got, want, F * N * N, tol);
            if (i == 0) memcpy(base, got, sizeof(double) * F * N * N);
            TU_ASSERT_CLOSE(got, base, F * N * N, 2 * tol);
            attnroll_config_destroy(cfg);
        }
        sh.cfg = NULL;
        TU_ASSERT_OK(run_once(&sh, got));
        TU_ASSERT_CLOSE(got, want, F * N * N, tol);
    }
    free(want);
    free(got);
    free(base);
    sh_free(&sh);
}

/* ---- last_error isolation ---------------------------------------------- */

typedef struct iso {
    pthread_barrier_t *bar;
    const shared *sh;
    int fail;             /* this thread makes a failing call */
    int32_t status;
    char msg_after_other[256]; /* own message after the other thread's call */
} iso;

static void *iso_worker(void *arg)
{
    iso *w = arg;
    const int64_t oshape[] = {F, N, N};
    tu_tensor *out = tu_new(3, oshape, ATTNROLL_F64, TU_CNULL);
    if (w->fail) {
        w->status = attnroll_spatial(w->sh->v, 0, NULL, &out->view); /* num_layers 0 */
        pthread_barrier_wait(w->bar); /* 1: failed */
        pthread_barrier_wait(w->bar); /* 2: the other succeeded */
    } else {
        pthread_barrier_wait(w->bar); /* 1: the other failed */
        w->status = attnroll_spatial(w->sh->v, L, NULL, &out->view);
        pthread_barrier_wait(w->bar); /* 2 */
    }
    const char *m = attnroll_last_error();
    strncpy(w->msg_after_other, m ? m : "(NULL)", sizeof w->msg_after_other - 1);
    w->msg_after_other[sizeof w->msg_after_other - 1] = '\0';
    tu_free(out);
    return NULL;
}

static void test_last_error_per_thread(void **state)
{
    (void)state;
    shared sh;
    sh_init(&sh, 4);
    pthread_barrier_t bar;
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    iso a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.bar = b.bar = &bar;
    a.sh = b.sh = &sh;
    a.fail = 1;
    b.fail = 0;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, iso_worker, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, iso_worker, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&bar);
    assert_int_equal(a.status, ATTNROLL_E_ARGUMENT);
    assert_int_equal(b.status, ATTNROLL_OK);
    assert_non_null(strstr(a.msg_after_other, "num_layers"));
    assert_string_equal(b.msg_after_other, "");
    sh_free(&sh);
}

/* A fresh thread that has made no call sees "". */
static void *fresh_worker(void *arg)
{
    const char **out = arg;
    *out = attnroll_last_error();
    return NULL;
}

static void test_fresh_thread_empty(void **state)
{
    (void)state;
    /* make the main thread's message non-empty first */
    TU_ASSERT_FAILS(attnroll_config_create(NULL), ATTNROLL_E_ARGUMENT, NULL);
    const char *m = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fresh_worker, (void *)&m), 0);
    pthread_join(t, NULL);
    assert_non_null(m);
    assert_string_equal(m, "");
    assert_string_not_equal(attnroll_last_error(), "");
}

/* An error raised on one of the library's worker threads reaches the caller
 * with its message (the message is per thread; the worker's used to be lost,
 * leaving "").  attnroll_flow checks each layer's capacities in a task of
 * its own, spread over 2 workers: one bad layer is checked on the worker
 * thread in some of the runs. */
static void test_worker_error_message(void **state)
{
    (void)state;
    enum { FL = 4, FH = 2, FN = 40, RUNS = 40 };
    const int64_t shape[] = {1, FH, FN, FN}, oshape[] = {1, 1, FN}, rows[] = {0};
    double *vals[FL], out[FN];
    attnroll_tensor layers[FL];
    for (int l = 0; l < FL; ++l) {
        vals[l] = malloc(sizeof(double) * FH * FN * FN);
        assert_non_null(vals[l]);
        for (int i = 0; i < FH * FN * FN; ++i) vals[l][i] = 1.0 / FN;
        layers[l] = (attnroll_tensor){vals[l], ATTNROLL_F64, 4, shape, NULL};
    }
    const attnroll_tensor o = {out, ATTNROLL_F64, 3, oshape, NULL};
    attnroll_config *cfg = tu_config(TU_DEF, TU_DEF, -1.0, rows, 1, 2);
    for (int bad = 1; bad < FL; ++bad) {
        vals[bad][5] = -1.0;
        for (int run = 0; run < RUNS; ++run)
            TU_ASSERT_FAILS(attnroll_flow(layers, FL, cfg, &o), ATTNROLL_E_ARGUMENT, "capacity Abar[0,5]");
        vals[bad][5] = 1.0 / FN;
    }
    attnroll_config_destroy(cfg);
    for (int l = 0; l < FL; ++l) free(vals[l]);
}

/* Streams on different threads at once. */
typedef struct sjob {
    const shared *sh;
    double *result;
    int32_t status;
} sjob;

static void *stream_worker(void *arg)
{
    sjob *j = arg;
    attnroll_stream *s = NULL;
    j->status = attnroll_stream_create(NULL, F, N, ATTNROLL_F64, &s);
    for (int l = 0; l < L && j->status == ATTNROLL_OK; ++l)
        j->status = attnroll_stream_push(s, &j->sh->v[l]);
    if (j->status == ATTNROLL_OK) {
        const int64_t oshape[] = {F, N, N};
        tu_tensor *out = tu_new(3, oshape, ATTNROLL_F64, TU_CNULL);
        j->status = attnroll_stream_result(s, &out->view);
        if (j->status == ATTNROLL_OK) tu_get(out, j->result);
        tu_free(out);
    }
    attnroll_stream_destroy(s);
    return NULL;
}

static void test_concurrent_streams(void **state)
{
    (void)state;
    shared sh;
    sh_init(&sh, 5);
    double *want = malloc(sizeof(double) * F * N * N);
    assert_non_null(want);
    int64_t heads[L];
    for (int l = 0; l < L; ++l) heads[l] = H;
    ref_spatial((const double *const *)sh.vals, heads, L, F, N, 0, L, 1.0, NULL, 0, want);
    sjob jobs[NTHREADS];
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; ++t) {
        jobs[t].sh = &sh;
        jobs[t].result = malloc(sizeof(double) * F * N * N);
        assert_non_null(jobs[t].result);
        assert_int_equal(pthread_create(&th[t], NULL, stream_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < NTHREADS; ++t) pthread_join(th[t], NULL);
    for (int t = 0; t < NTHREADS; ++t) {
        assert_int_equal(jobs[t].status, ATTNROLL_OK);
        TU_ASSERT_CLOSE(jobs[t].result, want, F * N * N, 1e-12);
        TU_ASSERT_EQUAL(jobs[t].result, jobs[0].result, F * N * N);
    }
    for (int t = 0; t < NTHREADS; ++t) free(jobs[t].result);
    free(want);
    sh_free(&sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_default),
        cmocka_unit_test(test_concurrent_shared_config),
        cmocka_unit_test(test_thread_counts_agree),
        cmocka_unit_test(test_last_error_per_thread),
        cmocka_unit_test(test_fresh_thread_empty),
        cmocka_unit_test(test_worker_error_message),
        cmocka_unit_test(test_concurrent_streams),
    };
    return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
