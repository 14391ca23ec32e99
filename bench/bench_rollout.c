/*
 * attnroll_bench -- how close attnroll comes to what this machine can do.
 *
 * The case is the ViT-L video backbone: L = 24 layers, H = 16 heads,
 * N = 433 tokens (1 CLS + 24x18 patches), F frames of synthetic peaky
 * attention (every row a softmax with a few strong peaks).  For each way of
 * calling attnroll it prints the time per frame, median and min over a few
 * repetitions, beside a floor measured in the same run on the same threads:
 *
 *   floor = input bytes / read bandwidth  +  (L-1) * 2 * N^3 / sgemm rate
 *
 * (reading the input once, plus the L-1 products of N x N matrices at the best
 * sgemm rate OpenBLAS reaches at n = N on those threads, whether through
 * single-threaded calls on our own threads, as attnroll runs them, or through
 * OpenBLAS's own threading).  The CLS row needs only O(L*N^2) products, so its
 * floor is the read alone.  The floors are sampled between the repetitions of
 * the cases, so a slow spell of a shared machine affects both; the ratio is
 * printed for the medians and for the best times against the best floors.
 *
 * It also measures the peak memory of a streaming rollout in forked children,
 * to show it does not grow with L or H, checks that the cases agree, and can
 * run the numpy transcription of the spec (bench/numpy_spec.py) to compare.
 *
 *   attnroll_bench [--frames F] [--reps R] [--threads T] [--quick] [--numpy]
 *   attnroll_bench --flow [--reps R] [--threads T]   (bench_flow.c: attention flow and
 *                 singular values beside networkx and numpy)
 *
 * Linux/POSIX only (fork, getrusage, pthreads).
 */
#define _GNU_SOURCE /* before any header: OpenBLAS's cblas.h needs cpu_set_t */

#include <cblas.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attnroll.h"
#include "bench_flow.h"
#include "blas_autofix.h"
#include "parse_long.h"
#include "synth.h"

#ifndef ATTNROLL_NUMPY_SPEC
#define ATTNROLL_NUMPY_SPEC "bench/numpy_spec.py"
#endif

#define VIT_LAYERS 24
#define VIT_HEADS 16
#define VIT_TOKENS 433
#define MAX_WORKERS 256
#define MAX_REPS 101

/* ------------------------------------------------------------------------ */
/* Small utilities                                                           */
/* ------------------------------------------------------------------------ */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts them in place). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *xmalloc(size_t bytes, const char *what)
{
    void *p = malloc(bytes);
    if (p == NULL) {
        fprintf(stderr, "attnroll_bench: out of memory allocating %s (%.0f MB)\n", what,
                (double)bytes / 1e6);
        exit(1);
    }
    return p;
}

static void check(int32_t status, const char *what)
{
    if (status != ATTNROLL_OK) {
        fprintf(stderr, "attnroll_bench: %s failed: %s: %s\n", what,
                attnroll_status_string(status), attnroll_last_error());
        exit(1);
    }
}

/* Runs fn(arg, w, workers) for w in [0, workers) on that many threads, the
 * caller being worker 0. */
typedef void (*worker_fn)(void *arg, int worker, int workers);
typedef struct worker_call {
    worker_fn fn;
    void *arg;
    int worker, workers;
} worker_call;

static void *worker_main(void *p)
{
    worker_call *c = (worker_call *)p;
    c->fn(c->arg, c->worker, c->workers);
    return NULL;
}

static void run_workers(int workers, worker_fn fn, void *arg)
{
    pthread_t tid[MAX_WORKERS];
    worker_call calls[MAX_WORKERS];
    int w;
    for (w = 0; w < workers; w++) {
        calls[w].fn = fn;
        calls[w].arg = arg;
        calls[w].worker = w;
        calls[w].workers = workers;
    }
    for (w = 1; w < workers; w++)
        if (pthread_create(&tid[w], NULL, worker_main, &calls[w]) != 0) {
            fprintf(stderr, "attnroll_bench: cannot start a thread\n");
            exit(1);
        }
    fn(arg, 0, workers);
    for (w = 1; w < workers; w++) pthread_join(tid[w], NULL);
}

/* [begin, end) of part w of n items split into `parts` parts. */
static size_t part_begin(size_t n, int w, int parts)
{
    return (size_t)((double)n * (double)w / (double)parts);
}

/* ------------------------------------------------------------------------ */
/* Synthetic peaky attention                                                 */
/* ------------------------------------------------------------------------ */

typedef struct synth_job {
    float *dst;    /* [F,H,N,N] */
    size_t rows;   /* F*H*N */
    size_t n;      /* N */
    uint64_t layer;
} synth_job;

static void synth_worker(void *arg, int w, int workers)
{
    const synth_job *job = (const synth_job *)arg;
    size_t r, end = part_begin(job->rows, w + 1, workers);
    for (r = part_begin(job->rows, w, workers); r < end; r++)
        synth_peaky_row(job->dst + r * job->n, job->n, (job->layer << 40) ^ (uint64_t)r);
}

/* Writes layer `layer` of the synthetic stack, [F,H,N,N] C-contiguous. */
static void synthesize_layer(float *dst, long frames, long heads, long n, long layer,
                             int workers)
{
    synth_job job;
    job.dst = dst;
    job.rows = (size_t)frames * (size_t)heads * (size_t)n;
    job.n = (size_t)n;
    job.layer = (uint64_t)layer;
    run_workers(workers, synth_worker, &job);
}

typedef struct half_job {
    const float *src;
    uint16_t *dst;
    size_t n;
} half_job;

static void half_worker(void *arg, int w, int workers)
{
    const half_job *job = (const half_job *)arg;
    size_t i, end = part_begin(job->n, w + 1, workers);
    for (i = part_begin(job->n, w, workers); i < end; i++) job->dst[i] = synth_f32_to_f16(job->src[i]);
}

/* ------------------------------------------------------------------------ */
/* Floors: sgemm rate and read bandwidth                                     */
/* ------------------------------------------------------------------------ */

/*
 * The floors are sampled once per repetition round, interleaved with the
 * cases, so that on a shared machine a slow spell affects both alike.
 *   sgemm, n = N, C = A @ B, each batch `calls` calls per thread:
 *     one thread, single-threaded OpenBLAS;
 *     `workers` threads each running single-threaded OpenBLAS (what attnroll
 *     does: it sets OpenBLAS to one thread and runs its own workers);
 *     one caller with OpenBLAS's own threading on `workers` threads.
 *   read: `workers` threads summing a buffer as large as one frame's input.
 */
typedef struct floors {
    int n, workers, blas_threads_start, calls, samples;
    float *mats[MAX_WORKERS]; /* per worker: A, B, C of n*n each */
    const float *read_data;
    size_t read_n;
    double partial[MAX_WORKERS];
    double t_one[MAX_REPS], t_workers[MAX_REPS], t_blas[MAX_REPS], t_read[MAX_REPS];
} floors;

static void gemm_calls(float *m, int n, int calls)
{
    int c;
    const float *a = m, *b = m + (size_t)n * (size_t)n;
    float *out = m + 2 * (size_t)n * (size_t)n;
    for (c = 0; c < calls; c++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    out, n);
}

static void gemm_worker(void *arg, int w, int workers)
{
    floors *fl = (floors *)arg;
    (void)workers;
    gemm_calls(fl->mats[w], fl->n, fl->calls);
}

static void sum_worker(void *arg, int w, int workers)
{
    floors *fl = (floors *)arg;
    size_t begin = part_begin(fl->read_n, w, workers), end = part_begin(fl->read_n, w + 1, workers);
    float acc[32] = {0};
    const float *p = fl->read_data;
    size_t i = begin;
    double total = 0.0;
    int k;
    /* 32 independent accumulators: the compiler vectorises this, and the adds
     * outrun memory by far. */
    for (; i + 32 <= end; i += 32)
        for (k = 0; k < 32; k++) acc[k] += p[i + (size_t)k];
    for (; i < end; i++) total += (double)p[i];
    for (k = 0; k < 32; k++) total += (double)acc[k];
    fl->partial[w] = total;
}

static void fill_worker(void *arg, int w, int workers)
{
    floors *fl = (floors *)arg;
    float *p = (float *)(uintptr_t)fl->read_data;
    size_t i, end = part_begin(fl->read_n, w + 1, workers);
    for (i = part_begin(fl->read_n, w, workers); i < end; i++) p[i] = (float)(i & 1023u) * 1e-3f;
}

static void floors_init(floors *fl, int n, int workers, int blas_threads_start, int calls,
                        size_t read_bytes)
{
    size_t nn = (size_t)n * (size_t)n, i;
    int w;
    memset(fl, 0, sizeof *fl);
    fl->n = n;
    fl->workers = workers;
    fl->blas_threads_start = blas_threads_start;
    fl->calls = calls;
    for (w = 0; w < workers; w++) {
        fl->mats[w] = (float *)xmalloc(3 * nn * sizeof(float), "sgemm operands");
        for (i = 0; i < 3 * nn; i++) fl->mats[w][i] = (float)((i * 7u + (size_t)w) % 13u) / 13.0f;
    }
    fl->read_n = read_bytes / sizeof(float);
    fl->read_data = (const float *)xmalloc(fl->read_n * sizeof(float), "bandwidth buffer");
    run_workers(workers, fill_worker, fl); /* real pages, not the shared zero page */
}

static void floors_free(floors *fl)
{
    int w;
    for (w = 0; w < fl->workers; w++) free(fl->mats[w]);
    free((void *)(uintptr_t)fl->read_data);
}

/* One sample of every floor; record it unless this is a warm-up. */
static void floors_sample(floors *fl, int record)
{
    const struct timespec settle = {0, 200000000L};
    double t0, t_blas, t_one, t_workers, t_read;
    /* OpenBLAS's own threading first: its pool threads spin for a while after
     * a call, so let them go idle before timing anything else. */
    openblas_set_num_threads(fl->workers);
    t0 = now_seconds();
    gemm_calls(fl->mats[0], fl->n, fl->calls);
    t_blas = now_seconds() - t0;
    openblas_set_num_threads(1);
    nanosleep(&settle, NULL);
    t0 = now_seconds();
    gemm_calls(fl->mats[0], fl->n, fl->calls);
    t_one = now_seconds() - t0;
    t0 = now_seconds();
    run_workers(fl->workers, gemm_worker, fl);
    t_workers = now_seconds() - t0;
    /* attnroll's default worker count follows this value: put it back. */
    openblas_set_num_threads(fl->blas_threads_start);
    /* An untimed pass first: this virtual machine may hand idle pages back to
     * its host, and re-faulting them is not what the floor measures (the
     * timed cases likewise run on inputs they have just read). */
    run_workers(fl->workers, sum_worker, fl);
    t0 = now_seconds();
    run_workers(fl->workers, sum_worker, fl);
    t_read = now_seconds() - t0;
    if (record && fl->samples < MAX_REPS) {
        fl->t_blas[fl->samples] = t_blas;
        fl->t_one[fl->samples] = t_one;
        fl->t_workers[fl->samples] = t_workers;
        fl->t_read[fl->samples] = t_read;
        fl->samples++;
    }
}

/* GFLOP/s for `threads` x calls products from batch times: median and best. */
static void gemm_rates(const floors *fl, const double *t, int threads, double *med_rate,
                       double *best_rate)
{
    double v[MAX_REPS], flop = (double)threads * (double)fl->calls * 2.0 * (double)fl->n *
                                (double)fl->n * (double)fl->n;
    int i;
    double lo = t[0];
    for (i = 0; i < fl->samples; i++) {
        v[i] = t[i];
        if (t[i] < lo) lo = t[i];
    }
    *med_rate = flop / median(v, fl->samples) / 1e9;
    *best_rate = flop / lo / 1e9;
}

/* ------------------------------------------------------------------------ */
/* Streaming memory, measured in forked children                            */
/* ------------------------------------------------------------------------ */

typedef struct mem_result {
    int32_t status;
    char what[64];
    char error[512];
    long baseline_kb, peak_kb;
    int64_t held_max, held_end;
    double row_sum_error, seconds;
} mem_result;

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
#ifdef __APPLE__
    return (long)(ru.ru_maxrss / 1024); /* bytes there */
#else
    return (long)ru.ru_maxrss;
#endif
}

/* In the child: stream F frames of L layers of H heads, one layer alive at a
 * time in one reused buffer. */
static void memory_child(long frames, long layers, long heads, long n, int workers,
                         long threads_opt, mem_result *r)
{
    size_t layer_elems = (size_t)frames * (size_t)heads * (size_t)n * (size_t)n;
    size_t out_elems = (size_t)frames * (size_t)n * (size_t)n, i;
    float *buffer, *out;
    attnroll_stream *stream = NULL;
    attnroll_config *config = NULL;
    int64_t shape[4], out_shape[3], held = 0;
    attnroll_tensor layer, result;
    long l;
    double t0 = now_seconds();

    r->baseline_kb = maxrss_kb();
    buffer = (float *)xmalloc(layer_elems * sizeof(float), "layer buffer");
    out = (float *)xmalloc(out_elems * sizeof(float), "stream output");
    shape[0] = frames;
    shape[1] = heads;
    shape[2] = n;
    shape[3] = n;
    out_shape[0] = frames;
    out_shape[1] = n;
    out_shape[2] = n;
    layer.data = buffer;
    layer.dtype = ATTNROLL_F32;
    layer.ndim = 4;
    layer.shape = shape;
    layer.strides = NULL;
    result.data = out;
    result.dtype = ATTNROLL_F32;
    result.ndim = 3;
    result.shape = out_shape;
    result.strides = NULL;

#define CHILD_CHECK(call, name)                                                  \
    do {                                                                         \
        r->status = (call);                                                      \
        if (r->status != ATTNROLL_OK) {                                          \
            snprintf(r->what, sizeof r->what, "%s", name);                       \
            snprintf(r->error, sizeof r->error, "%s", attnroll_last_error());    \
            return;                                                              \
        }                                                                        \
    } while (0)

    if (threads_opt > 0) {
        CHILD_CHECK(attnroll_config_create(&config), "attnroll_config_create");
        CHILD_CHECK(attnroll_config_set_int(config, ATTNROLL_OPT_THREADS, threads_opt),
                    "attnroll_config_set_int");
    }
    CHILD_CHECK(attnroll_stream_create(config, frames, n, ATTNROLL_F32, &stream),
                "attnroll_stream_create");
    for (l = 0; l < layers; l++) {
        synthesize_layer(buffer, frames, heads, n, l, workers);
        CHILD_CHECK(attnroll_stream_push(stream, &layer), "attnroll_stream_push");
        CHILD_CHECK(attnroll_stream_info(stream, NULL, &held), "attnroll_stream_info");
        if (held > r->held_max) r->held_max = held;
    }
    CHILD_CHECK(attnroll_stream_result(stream, &result), "attnroll_stream_result");
    CHILD_CHECK(attnroll_stream_info(stream, NULL, &r->held_end), "attnroll_stream_info");
    if (r->held_end > r->held_max) r->held_max = r->held_end;
#undef CHILD_CHECK
    for (i = 0; i < (size_t)frames * (size_t)n; i++) {
        double s = 0.0, e;
        size_t j;
        for (j = 0; j < (size_t)n; j++) s += (double)out[i * (size_t)n + j];
        e = fabs(s - 1.0);
        if (e > r->row_sum_error || e != e) r->row_sum_error = e;
    }
    r->peak_kb = maxrss_kb();
    r->seconds = now_seconds() - t0;
    attnroll_stream_destroy(stream);
    attnroll_config_destroy(config);
}

/* Forks, runs memory_child there, and returns its report. */
static int measure_stream_memory(long frames, long layers, long heads, long n, int workers,
                                 long threads_opt, mem_result *r)
{
    int fds[2], status = 0;
    pid_t pid;
    size_t got = 0;
    memset(r, 0, sizeof *r);
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) return 0;
    pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        mem_result mine;
        const char *p = (const char *)&mine;
        size_t sent = 0;
        close(fds[0]);
        memset(&mine, 0, sizeof mine);
        memory_child(frames, layers, heads, n, workers, threads_opt, &mine);
        while (sent < sizeof mine) {
            ssize_t k = write(fds[1], p + sent, sizeof mine - sent);
            if (k <= 0) _exit(3);
            sent += (size_t)k;
        }
        _exit(0);
    }
    close(fds[1]);
    while (got < sizeof *r) {
        ssize_t k = read(fds[0], (char *)r + got, sizeof *r - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof *r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "attnroll_bench: the memory child (L=%ld, H=%ld) %s\n", layers, heads,
                WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "failed");
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* The numpy transcription                                                   */
/* ------------------------------------------------------------------------ */

/* Runs numpy_spec.py, echoes its output, and returns its ms per frame for the
 * literal transcription (float64 identity) and the all-float32 variant. */
static int run_numpy(long frames, const char *script, double *ms64, double *ms32)
{
    int fds[2], status = 0;
    pid_t pid;
    char frames_arg[32], line[1024];
    const char *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    FILE *in;
    *ms64 = *ms32 = -1.0;
    snprintf(frames_arg, sizeof frames_arg, "%ld", frames);
    printf("running: %s %s --frames %s\n", python, script, frames_arg);
    fflush(stdout);
    if (pipe(fds) != 0) return 0;
    pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        char *argv[6];
        argv[0] = (char *)(uintptr_t)python;
        argv[1] = (char *)(uintptr_t)script;
        argv[2] = (char *)(uintptr_t)"--frames";
        argv[3] = frames_arg;
        argv[4] = NULL;
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[1]);
        execvp(python, argv);
        fprintf(stderr, "attnroll_bench: cannot run %s: %s\n", python, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    in = fdopen(fds[0], "r");
    if (in == NULL) return 0;
    while (fgets(line, sizeof line, in) != NULL) {
        const char *k;
        printf("  | %s", line);
        if (strncmp(line, "RESULT ", 7) == 0) {
            if ((k = strstr(line, "ms_per_frame_eye64=")) != NULL)
                *ms64 = strtod(k + strlen("ms_per_frame_eye64="), NULL);
            if ((k = strstr(line, "ms_per_frame_eye32=")) != NULL)
                *ms32 = strtod(k + strlen("ms_per_frame_eye32="), NULL);
        }
    }
    fclose(in);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && *ms64 > 0.0;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                              */
/* ------------------------------------------------------------------------ */

typedef struct bench_options {
    long frames, reps, threads, mem_frames;
    int quick, numpy, flow, frames_given, reps_given;
    const char *blas_core;
} bench_options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: attnroll_bench [--frames F] [--reps R] [--threads T] [--quick] [--numpy]\n"
            "                      [--blas-core auto|keep|NAME]\n"
            "  --frames F   frames of the ViT-L case (L=24, H=16, N=433), 1..64 (default 4;\n"
            "               one frame is 288 MB of float32 attention)\n"
            "  --reps R     timed repetitions per case, median reported, 1..%d (default 5)\n"
            "  --threads T  attnroll worker threads (ATTNROLL_OPT_THREADS) and threads for\n"
            "               the floors, 1..%d (default: attnroll's default, see attnroll.h)\n"
            "  --quick      small smoke run: 1 frame, 3 repetitions, smaller memory test\n"
            "  --numpy      also run %s\n"
            "               with /usr/bin/python3 and print the speed-up\n"
            "  --flow       instead of the rollout cases: attention flow (ViT-B and ViT-L CLS)\n"
            "               and singular values (433 x 433) beside networkx and numpy\n"
            "               (bench/flow_reference.py); --reps R repetitions (default 3)\n"
            "  --blas-core  OpenBLAS kernel, as for the attnroll tool: auto (default) re-runs\n"
            "               the benchmark with OPENBLAS_CORETYPE set when OpenBLAS picked a\n"
            "               kernel below the CPU's; keep runs what OpenBLAS picked; NAME forces it\n",
            MAX_REPS, MAX_WORKERS, ATTNROLL_NUMPY_SPEC);
}

/* @return 0 to run, 1 to exit successfully (--help), 2 on a bad command line. */
static int parse_args(int argc, char **argv, bench_options *o)
{
    int i;
    memset(o, 0, sizeof *o);
    for (i = 1; i < argc; i++) {
        const char *opt = argv[i];
        long *target = NULL, lo = 1, hi = 1;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(opt, "--quick") == 0) {
            o->quick = 1;
            continue;
        } else if (strcmp(opt, "--numpy") == 0) {
            o->numpy = 1;
            continue;
        } else if (strcmp(opt, "--flow") == 0) {
            o->flow = 1;
            continue;
        } else if (strcmp(opt, "--blas-core") == 0 || strncmp(opt, "--blas-core=", 12) == 0) {
            /* applied by blas_autofix before anything else runs */
            if (opt[11] == '\0' && i + 1 >= argc) {
                fprintf(stderr, "attnroll_bench: --blas-core needs a value\n");
                return 2;
            }
            o->blas_core = opt[11] == '=' ? opt + 12 : argv[++i];
            continue;
        } else if (strcmp(opt, "--frames") == 0) {
            target = &o->frames, hi = 64;
            o->frames_given = 1;
        } else if (strcmp(opt, "--reps") == 0) {
            target = &o->reps, hi = MAX_REPS;
            o->reps_given = 1;
        } else if (strcmp(opt, "--threads") == 0) {
            target = &o->threads, hi = MAX_WORKERS;
        } else {
            fprintf(stderr, "attnroll_bench: unknown argument '%s'\n", opt);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "attnroll_bench: %s needs a value\n", opt);
            return 2;
        }
        if (!parse_long_in(argv[++i], lo, hi, target)) {
            fprintf(stderr, "attnroll_bench: %s expects an integer in [%ld, %ld], got '%s'\n",
                    opt, lo, hi, argv[i]);
            return 2;
        }
    }
    if (!o->frames_given) o->frames = o->quick ? 1 : 4;
    if (!o->reps_given) o->reps = o->quick ? 3 : 5;
    o->mem_frames = o->quick ? 2 : 8;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The cases                                                                 */
/* ------------------------------------------------------------------------ */

enum {
    CASE_FULL_F32, CASE_FULL_F16, CASE_CLS_F32, CASE_STREAM_F32,
    /* the rollout methods (attnroll.h "The pipeline"), full F32 rollouts, each
     * against mean fusion (CASE_FULL_F32) and its own floor */
    CASE_MAX, CASE_MIN, CASE_WEIGHTS, CASE_DROP, CASE_ENTROPY, CASE_DISCARD, CASE_GRAD,
    CASE_COUNT
};
#define FIRST_METHOD CASE_MAX

static const char *const case_names[CASE_COUNT] = {
    "full rollout, F32 in -> F32 out",
    "full rollout, F16 in -> F32 out",
    "CLS row only (QUERY_ROWS {0}), F32 in",
    "streaming (24 push + result), F32 in",
    "method MAX fusion",
    "method MIN fusion",
    "method WEIGHTS fusion",
    "method DROP_TOKENS 1 (mean)",
    "method ENTROPY fusion",
    "method DISCARD_RATIO 0.9",
    "method GRAD (F16 grads)",
};

typedef struct bench_state {
    long frames, layers, n;
    attnroll_tensor *in32, *in16;
    attnroll_config *config, *config_cls;
    attnroll_config *config_method[CASE_COUNT];
} bench_state;

/* The config of a method case: mean fusion's config plus that one method. */
static attnroll_config *method_config(int which, long threads, long heads)
{
    static double weights[64];
    attnroll_config *c = NULL;
    long h;
    check(attnroll_config_create(&c), "attnroll_config_create");
    if (threads > 0) check(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, threads), "THREADS");
    switch (which) {
    case CASE_MAX: check(attnroll_config_set_int(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MAX), "MAX"); break;
    case CASE_MIN: check(attnroll_config_set_int(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_MIN), "MIN"); break;
    case CASE_WEIGHTS:
        for (h = 0; h < heads && h < 64; h++) weights[h] = 1.0 / (double)(h + 1);
        check(attnroll_config_set_int(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_WEIGHTS), "WEIGHTS");
        check(attnroll_config_set_floats(c, ATTNROLL_OPT_HEAD_WEIGHTS, weights, heads), "HEAD_WEIGHTS");
        break;
    case CASE_DROP: check(attnroll_config_set_int(c, ATTNROLL_OPT_DROP_TOKENS, 1), "DROP_TOKENS"); break;
    case CASE_ENTROPY:
        check(attnroll_config_set_int(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_ENTROPY), "ENTROPY");
        break;
    case CASE_DISCARD: check(attnroll_config_set_float(c, ATTNROLL_OPT_DISCARD_RATIO, 0.9), "DISCARD"); break;
    case CASE_GRAD: check(attnroll_config_set_int(c, ATTNROLL_OPT_HEAD_FUSION, ATTNROLL_FUSE_GRAD), "GRAD"); break;
    default: break;
    }
    return c;
}

static void run_case(const bench_state *b, int which, const attnroll_tensor *out)
{
    if (which == CASE_FULL_F32) {
        check(attnroll_spatial(b->in32, (int32_t)b->layers, b->config, out), "attnroll_spatial");
    } else if (which == CASE_FULL_F16) {
        check(attnroll_spatial(b->in16, (int32_t)b->layers, b->config, out),
              "attnroll_spatial (F16)");
    } else if (which == CASE_CLS_F32) {
        check(attnroll_spatial(b->in32, (int32_t)b->layers, b->config_cls, out),
              "attnroll_spatial (CLS row)");
    } else if (which == CASE_GRAD) {
        /* the gradients are the F16 copy: a buffer of their own, read beside the F32 maps */
        check(attnroll_spatial_grad(b->in32, b->in16, (int32_t)b->layers, b->config_method[which], out),
              "attnroll_spatial_grad");
    } else if (which >= FIRST_METHOD) {
        check(attnroll_spatial(b->in32, (int32_t)b->layers, b->config_method[which], out), case_names[which]);
    } else {
        attnroll_stream *s = NULL;
        long l;
        check(attnroll_stream_create(b->config, b->frames, b->n, ATTNROLL_F32, &s),
              "attnroll_stream_create");
        for (l = 0; l < b->layers; l++) check(attnroll_stream_push(s, &b->in32[l]), "attnroll_stream_push");
        check(attnroll_stream_result(s, out), "attnroll_stream_result");
        attnroll_stream_destroy(s);
    }
}

/* max |a - b| over count values, and max |a|. */
static double max_abs_diff(const float *a, size_t stride_a, const float *b, size_t stride_b,
                           size_t rows, size_t cols, double *max_a)
{
    double d = 0.0;
    size_t i, j;
    *max_a = 0.0;
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++) {
            double x = (double)a[i * stride_a + j], e = fabs(x - (double)b[i * stride_b + j]);
            if (e > d || e != e) d = e;
            if (fabs(x) > *max_a) *max_a = fabs(x);
        }
    return d;
}

int main(int argc, char **argv)
{
    bench_options o;
    int rc = parse_args(argc, argv, &o);
    const long L = VIT_LAYERS, H = VIT_HEADS, N = VIT_TOKENS;
    const size_t nn = (size_t)N * (size_t)N;
    const size_t layer_elems_per_frame = (size_t)H * nn;
    const double frame_bytes32 = (double)L * (double)layer_elems_per_frame * sizeof(float);
    const double frame_bytes16 = frame_bytes32 / 2.0;
    const double gemm_flop = (double)(L - 1) * 2.0 * (double)N * (double)N * (double)N;
    int blas_threads_start, online, workers, w, r, c, failures = 0;
    double rate_med, rate_best, bw_med, bw_best, t0;
    floors fl;
    double times[CASE_COUNT][MAX_REPS], med[CASE_COUNT], best[CASE_COUNT];
    bench_state b;
    float *results[CASE_COUNT];
    attnroll_tensor outs[CASE_COUNT];
    float **data32;
    uint16_t **data16;
    int64_t in_shape[4], full_shape[3], cls_shape[3], drop_shape[3];
    const int64_t cls_query[1] = {0};
    mem_result mem[4];
    const long mem_cases[4][2] = {{24, 16}, {6, 16}, {24, 4}, {6, 4}};
    double t_start = now_seconds();

    if (rc == 1) return 0;
    if (rc != 0) return 2;
    {
        /* Before any BLAS work: measure the kernel the CPU deserves (this may
         * re-execute the benchmark with OPENBLAS_CORETYPE set). */
        char err[256];
        if (blas_autofix(o.blas_core, argv, err, sizeof err) != 0) {
            fprintf(stderr, "attnroll_bench: %s\n", err);
            return 2;
        }
    }
    if (o.flow) return bench_flow_run(o.reps_given ? o.reps : 3, o.threads, ATTNROLL_FLOW_HELPER, blas_autofix_summary());
    memset(&b, 0, sizeof b);

    /* ---- what we run on ---- */
    blas_threads_start = openblas_get_num_threads(); /* before attnroll touches it */
    online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    workers = o.threads > 0 ? (int)o.threads
                            : (blas_threads_start < online ? blas_threads_start : online);
    if (workers < 1) workers = 1;
    if (workers > MAX_WORKERS) workers = MAX_WORKERS;
    printf("attnroll %s benchmark%s\n", attnroll_version_string(), o.quick ? " (--quick)" : "");
    printf("OpenBLAS: config \"%s\"\n", openblas_get_config());
    printf("OpenBLAS kernel: %s; the floors and every case below run on it\n", blas_autofix_summary());
    printf("threads: %d online processors; OpenBLAS threads at start %d; attnroll workers %d "
           "(%s); floors measured on %d thread%s\n",
           online, blas_threads_start, workers,
           o.threads > 0 ? "--threads" : "its default: OpenBLAS threads, capped at the processors",
           workers, workers > 1 ? "s" : "");
    printf("case: ViT-L, L=%ld layers, H=%ld heads, N=%ld tokens, F=%ld frames; one frame's "
           "input = %.0f MB F32 / %.0f MB F16\n\n",
           L, H, N, o.frames, frame_bytes32 / 1e6, frame_bytes16 / 1e6);

    /* ---- streaming memory, first, while this process is still small (a
     *      forked child starts with the parent's resident set) ---- */
    printf("== streaming memory: F=%ld, N=%ld, one [F,H,N,N] layer buffer reused, each case "
           "in a forked child ==\n", o.mem_frames, N);
    printf("   L    H   layer buffer   output   bytes_held   child maxrss: start -> peak   "
           "peak - start - buffers   time\n");
    for (c = 0; c < 4; c++) {
        long cl = mem_cases[c][0], ch = mem_cases[c][1];
        double buf_mb = (double)o.mem_frames * (double)ch * (double)nn * 4.0 / 1e6;
        double out_mb = (double)o.mem_frames * (double)nn * 4.0 / 1e6;
        mem_result *m = &mem[c];
        if (!measure_stream_memory(o.mem_frames, cl, ch, N, workers, o.threads, m)) return 1;
        if (m->status != ATTNROLL_OK) {
            fprintf(stderr, "attnroll_bench: in the memory child (L=%ld, H=%ld): %s failed: "
                            "%s: %s\n", cl, ch, m->what, attnroll_status_string(m->status),
                    m->error);
            return 1;
        }
        printf("%4ld %4ld   %9.1f MB %6.1f MB %9.1f MB   %7.1f MB -> %7.1f MB   %14.1f MB   "
               "%4.1f s%s\n",
               cl, ch, buf_mb, out_mb, (double)m->held_max / 1e6, (double)m->baseline_kb / 1e3 * 1.024,
               (double)m->peak_kb / 1e3 * 1.024,
               ((double)(m->peak_kb - m->baseline_kb) * 1.024e-3) - buf_mb - out_mb, m->seconds,
               m->row_sum_error > 1e-3 ? "  ROW SUMS WRONG" : "");
        if (m->row_sum_error > 1e-3) failures++;
    }
    {
        double lo = 1e300, hi = -1e300, hlo = 1e300, hhi = -1e300;
        for (c = 0; c < 4; c++) {
            double extra = (double)(mem[c].peak_kb - mem[c].baseline_kb) * 1.024e-3 -
                           (double)o.mem_frames * (double)mem_cases[c][1] * (double)nn * 4e-6 -
                           (double)o.mem_frames * (double)nn * 4e-6;
            if (extra < lo) lo = extra;
            if (extra > hi) hi = extra;
            if ((double)mem[c].held_max < hlo) hlo = (double)mem[c].held_max;
            if ((double)mem[c].held_max > hhi) hhi = (double)mem[c].held_max;
        }
        printf("=> bytes_held %s across L in {6, 24} and H in {4, 16}: %.1f .. %.1f MB (two "
               "F*N*N float matrices are %.1f MB);\n   the child's memory beyond its own layer "
               "buffer and output spans %.1f .. %.1f MB (%s with L or H)\n\n",
               hlo == hhi ? "is the same" : "DIFFERS", hlo / 1e6, hhi / 1e6,
               2.0 * (double)o.mem_frames * (double)nn * 4e-6, lo, hi,
               hi - lo < 0.25 * (hlo / 1e6) + 4.0 ? "no growth" : "GROWS");
    }

    /* ---- the input: L layers of [F,H,N,N], F32 and F16 copies ---- */
    t0 = now_seconds();
    b.frames = o.frames;
    b.layers = L;
    b.n = N;
    in_shape[0] = o.frames;
    in_shape[1] = H;
    in_shape[2] = N;
    in_shape[3] = N;
    data32 = (float **)xmalloc((size_t)L * sizeof *data32, "layer table");
    data16 = (uint16_t **)xmalloc((size_t)L * sizeof *data16, "layer table");
    b.in32 = (attnroll_tensor *)xmalloc((size_t)L * sizeof *b.in32, "layer views");
    b.in16 = (attnroll_tensor *)xmalloc((size_t)L * sizeof *b.in16, "layer views");
    for (w = 0; w < (int)L; w++) {
        size_t elems = (size_t)o.frames * layer_elems_per_frame;
        half_job hj;
        data32[w] = (float *)xmalloc(elems * sizeof(float), "F32 input layer");
        data16[w] = (uint16_t *)xmalloc(elems * sizeof(uint16_t), "F16 input layer");
        synthesize_layer(data32[w], o.frames, H, N, w, workers);
        hj.src = data32[w];
        hj.dst = data16[w];
        hj.n = elems;
        run_workers(workers, half_worker, &hj);
        b.in32[w].data = data32[w];
        b.in32[w].dtype = ATTNROLL_F32;
        b.in32[w].ndim = 4;
        b.in32[w].shape = in_shape;
        b.in32[w].strides = NULL;
        b.in16[w] = b.in32[w];
        b.in16[w].data = data16[w];
        b.in16[w].dtype = ATTNROLL_F16;
    }
    floors_init(&fl, (int)N, workers, blas_threads_start, o.quick ? 8 : 24,
                (size_t)frame_bytes32);
    printf("input synthesised in %.1f s (%.2f GB F32 + %.2f GB F16, + %.0f MB for the read "
           "floor)\n\n", now_seconds() - t0, (double)o.frames * frame_bytes32 / 1e9,
           (double)o.frames * frame_bytes16 / 1e9, frame_bytes32 / 1e6);

    check(attnroll_config_create(&b.config), "attnroll_config_create");
    if (o.threads > 0)
        check(attnroll_config_set_int(b.config, ATTNROLL_OPT_THREADS, o.threads),
              "attnroll_config_set_int(THREADS)");
    check(attnroll_config_create(&b.config_cls), "attnroll_config_create");
    if (o.threads > 0)
        check(attnroll_config_set_int(b.config_cls, ATTNROLL_OPT_THREADS, o.threads),
              "attnroll_config_set_int(THREADS)");
    check(attnroll_config_set_ints(b.config_cls, ATTNROLL_OPT_QUERY_ROWS, cls_query, 1),
          "attnroll_config_set_ints(QUERY_ROWS)");
    for (c = FIRST_METHOD; c < CASE_COUNT; c++) b.config_method[c] = method_config(c, o.threads, H);

    full_shape[0] = o.frames;
    full_shape[1] = N;
    full_shape[2] = N;
    cls_shape[0] = o.frames;
    cls_shape[1] = 1;
    cls_shape[2] = N;
    drop_shape[0] = o.frames;
    drop_shape[1] = N - 1;
    drop_shape[2] = N - 1;
    floors_sample(&fl, 0); /* warm-up */
    for (c = 0; c < CASE_COUNT; c++) {
        size_t elems = (size_t)o.frames * (c == CASE_CLS_F32 ? (size_t)N : nn);
        results[c] = (float *)xmalloc(elems * sizeof(float), "output");
        memset(results[c], 0, elems * sizeof(float));
        outs[c].data = results[c];
        outs[c].dtype = ATTNROLL_F32;
        outs[c].ndim = 3;
        outs[c].shape = c == CASE_CLS_F32 ? cls_shape : c == CASE_DROP ? drop_shape : full_shape;
        outs[c].strides = NULL;
        run_case(&b, c, &outs[c]); /* warm-up: threads, pages, caches */
    }
    /* Repetition rounds interleave the floors and the cases, so that a slow
     * spell of a shared machine does not land on one of them only. */
    for (r = 0; r < o.reps; r++) {
        floors_sample(&fl, 1);
        for (c = 0; c < CASE_COUNT; c++) {
            double s = now_seconds();
            run_case(&b, c, &outs[c]);
            times[c][r] = (now_seconds() - s) / (double)o.frames;
        }
    }
    for (c = 0; c < CASE_COUNT; c++) {
        best[c] = times[c][0];
        for (r = 1; r < o.reps; r++)
            if (times[c][r] < best[c]) best[c] = times[c][r];
        med[c] = median(times[c], (int)o.reps);
    }

    /* ---- floors ---- */
    {
        double one_med, one_best, wk_med, wk_best, bl_med, bl_best, v[MAX_REPS], lo;
        double checksum = 0.0;
        gemm_rates(&fl, fl.t_one, 1, &one_med, &one_best);
        gemm_rates(&fl, fl.t_workers, workers, &wk_med, &wk_best);
        gemm_rates(&fl, fl.t_blas, 1, &bl_med, &bl_best);
        rate_med = wk_med >= bl_med ? wk_med : bl_med;
        rate_best = wk_best >= bl_best ? wk_best : bl_best;
        lo = fl.t_read[0];
        for (r = 0; r < fl.samples; r++) {
            v[r] = fl.t_read[r];
            if (v[r] < lo) lo = v[r];
        }
        bw_med = (double)(fl.read_n * sizeof(float)) / median(v, fl.samples) / 1e9;
        bw_best = (double)(fl.read_n * sizeof(float)) / lo / 1e9;
        for (w = 0; w < workers; w++) checksum += fl.partial[w];
        printf("== floors on %d thread%s, median (best) of %d samples taken between the "
               "cases ==\n", workers, workers > 1 ? "s" : "", fl.samples);
        printf("sgemm n=%ld, GFLOP/s:  1 thread %.1f (%.1f)  |  %d thread%s, single-threaded "
               "OpenBLAS each %.1f (%.1f)  |  OpenBLAS threading on %d %.1f (%.1f)\n",
               N, one_med, one_best, workers, workers > 1 ? "s" : "", wk_med, wk_best, workers,
               bl_med, bl_best);
        printf("  => sgemm floor rate %.1f GFLOP/s (%s)\n", rate_med,
               wk_med >= bl_med ? "own threads, single-threaded OpenBLAS each, as attnroll runs"
                                : "OpenBLAS's own threading");
        printf("read bandwidth, %d thread%s summing a %.0f MB buffer: %.1f (%.1f) GB/s "
               "(checksum %.4g)\n", workers, workers > 1 ? "s" : "", frame_bytes32 / 1e6, bw_med,
               bw_best, checksum);
        printf("per frame: read F32 %.2f ms, read F16 %.2f ms; %ld products of 2*N^3 = %.2f GFLOP "
               "-> %.2f ms\n\n", 1e3 * frame_bytes32 / 1e9 / bw_med,
               1e3 * frame_bytes16 / 1e9 / bw_med, L - 1, gemm_flop / 1e9,
               1e3 * gemm_flop / 1e9 / rate_med);
    }

    /* ---- the table ---- */
    {
        const double read32 = 1e3 * frame_bytes32 / 1e9 / bw_med;
        const double read16 = 1e3 * frame_bytes16 / 1e9 / bw_med;
        const double gemm = 1e3 * gemm_flop / 1e9 / rate_med;
        printf("== attnroll per frame (F=%ld per call), median (min) of %ld ==\n", o.frames,
               o.reps);
        printf("%-38s %8s %8s   %-24s %s\n", "case", "ms/frame", "(min)", "floor ms",
               "measured/floor (min/best floor)");
        for (c = 0; c < CASE_COUNT; c++) {
            double floor_med, floor_best;
            char floor_text[64];
            if (c == CASE_CLS_F32) {
                floor_med = read32;
                floor_best = 1e3 * frame_bytes32 / 1e9 / bw_best;
                snprintf(floor_text, sizeof floor_text, "%6.2f = read only", floor_med);
            } else if (c == CASE_GRAD) {
                /* the maps in F32 and their gradients in F16 */
                floor_med = read32 + read16 + gemm;
                floor_best = 1e3 * ((frame_bytes32 + frame_bytes16) / 1e9 / bw_best + gemm_flop / 1e9 / rate_best);
                snprintf(floor_text, sizeof floor_text, "%6.2f = %.2f + %.2f", floor_med, read32 + read16, gemm);
            } else {
                double bytes = c == CASE_FULL_F16 ? frame_bytes16 : frame_bytes32;
                double rd = c == CASE_FULL_F16 ? read16 : read32;
                floor_med = rd + gemm;
                floor_best = 1e3 * (bytes / 1e9 / bw_best + gemm_flop / 1e9 / rate_best);
                snprintf(floor_text, sizeof floor_text, "%6.2f = %.2f + %.2f", floor_med, rd, gemm);
            }
            printf("%-38s %8.2f %8.2f   %-24s %5.2f  (%.2f)", case_names[c], 1e3 * med[c],
                   1e3 * best[c], floor_text, 1e3 * med[c] / floor_med,
                   1e3 * best[c] / floor_best);
            if (c >= FIRST_METHOD && c != CASE_GRAD)
                printf("   vs mean %.2fx (min %.2fx), target <= %.1fx", med[c] / med[CASE_FULL_F32],
                       best[c] / best[CASE_FULL_F32],
                       c == CASE_ENTROPY || c == CASE_DISCARD ? 1.5 : 1.1);
            if (c == CASE_GRAD) printf("   target <= 1.1x its floor");
            printf("\n");
        }
    }

    /* ---- the cases must agree ---- */
    {
        const size_t rows = (size_t)o.frames * (size_t)N;
        double d, m, rowerr = 0.0;
        size_t i, j;
        printf("\nchecks:\n");
        d = max_abs_diff(results[CASE_FULL_F32], nn, results[CASE_CLS_F32], (size_t)N,
                         (size_t)o.frames, (size_t)N, &m);
        printf("  CLS row vs row 0 of full:   max |diff| %.2e (largest entry %.2e)%s\n", d, m,
               d <= 1e-4 * m + 1e-7 ? "" : "  MISMATCH");
        failures += !(d <= 1e-4 * m + 1e-7);
        d = max_abs_diff(results[CASE_FULL_F32], nn, results[CASE_STREAM_F32], nn,
                         (size_t)o.frames, nn, &m);
        printf("  streaming vs full:          max |diff| %.2e (largest entry %.2e)%s\n", d, m,
               d <= 1e-5 * m + 1e-7 ? "" : "  MISMATCH");
        failures += !(d <= 1e-5 * m + 1e-7);
        d = max_abs_diff(results[CASE_FULL_F32], nn, results[CASE_FULL_F16], nn,
                         (size_t)o.frames, nn, &m);
        printf("  F16 input vs F32 input:     max |diff| %.2e (largest entry %.2e; F16 rounding "
               "is ~5e-4 relative)%s\n", d, m, d <= 2e-2 * m ? "" : "  MISMATCH");
        failures += !(d <= 2e-2 * m);
        for (i = 0; i < rows; i++) {
            double s = 0.0;
            for (j = 0; j < (size_t)N; j++) s += (double)results[CASE_FULL_F32][i * (size_t)N + j];
            if (fabs(s - 1.0) > rowerr || s != s) rowerr = fabs(s - 1.0);
        }
        printf("  rows of R sum to 1:         max |sum - 1| %.2e%s\n", rowerr,
               rowerr <= 1e-3 ? "" : "  WRONG");
        failures += !(rowerr <= 1e-3);
    }

    /* ---- numpy ---- */
    printf("\n== numpy transcription of the spec ==\n");
    if (o.numpy) {
        double ms64, ms32;
        if (run_numpy(o.frames, ATTNROLL_NUMPY_SPEC, &ms64, &ms32)) {
            printf("speed-up of attnroll full F32 (%.2f ms/frame): %.1fx vs numpy as written "
                   "(%.1f ms/frame)", 1e3 * med[CASE_FULL_F32], ms64 / (1e3 * med[CASE_FULL_F32]),
                   ms64);
            if (ms32 > 0.0)
                printf(", %.1fx vs numpy all-float32 (%.1f ms/frame)",
                       ms32 / (1e3 * med[CASE_FULL_F32]), ms32);
            printf("\n  CLS row only: %.1fx vs numpy as written\n",
                   ms64 / (1e3 * med[CASE_CLS_F32]));
        } else {
            printf("numpy_spec.py failed (needs numpy: /usr/bin/python3 from Debian's "
                   "python3-numpy)\n");
        }
    } else {
        printf("to compare: /usr/bin/python3 %s --frames %ld   (or attnroll_bench --numpy)\n",
               ATTNROLL_NUMPY_SPEC, o.frames);
    }

    attnroll_config_destroy(b.config);
    attnroll_config_destroy(b.config_cls);
    for (c = FIRST_METHOD; c < CASE_COUNT; c++) attnroll_config_destroy(b.config_method[c]);
    for (w = 0; w < (int)L; w++) {
        free(data32[w]);
        free(data16[w]);
    }
    for (c = 0; c < CASE_COUNT; c++) free(results[c]);
    floors_free(&fl);
    free(data32);
    free(data16);
    free(b.in32);
    free(b.in16);
    printf("\ntotal %.1f s%s\n", now_seconds() - t_start,
           failures ? "; SOME CHECKS FAILED" : "");
    return failures ? 1 : 0;
}
