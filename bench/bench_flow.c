/*
 * attnroll_bench --flow: attention flow and singular values, each beside
 * networkx's and numpy's time on the same data, measured in the same run
 * (bench/flow_reference.py under /usr/bin/python3).
 *
 *   ViT-B (L=12, H=12, N=197), CLS flow of one frame: attnroll_flow against
 *     networkx's maximum_flow_value (preflow_push, networkx's default and its
 *     fastest here; Abnar & Zuidema's code used Edmonds-Karp, slower still)
 *     timed on a few sinks and scaled to all N (said in the output); the
 *     values of those sinks are compared.
 *   ViT-L (L=24, H=16, N=433), CLS flow of one frame: attnroll_flow, and the
 *     CLS rollout row of the same input (the cost of reading the maps and
 *     making the factors), so the rest is the max flows.
 *   Singular values of a 433 x 433 matrix (F64): attnroll_singular_values
 *     against numpy.linalg.svd(compute_uv=False), both LAPACK ?gesdd on the
 *     same OpenBLAS (the kernel each runs on is printed).
 *
 * Times are wall clock; the process's CPU time (all threads) is printed
 * beside them, so a busy shared machine shows as cpu/wall below the cores.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_flow.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attnroll.h"

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_normal(uint64_t *s)
{
    const double u = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    const double v = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* heads*n rows of softmax(3 z), z standard normal: peaky attention. */
static float *attention(long heads, long n, uint64_t seed)
{
    float *a = malloc((size_t)(heads * n * n) * sizeof *a);
    double *row = malloc((size_t)n * sizeof *row);
    if (!a || !row) {
        fprintf(stderr, "attnroll_bench: out of memory\n");
        exit(1);
    }
    for (long r = 0; r < heads * n; ++r) {
        double top = -1e300, sum = 0;
        for (long j = 0; j < n; ++j) {
            row[j] = 3.0 * rng_normal(&seed);
            if (row[j] > top) top = row[j];
        }
        for (long j = 0; j < n; ++j) sum += (row[j] = exp(row[j] - top));
        for (long j = 0; j < n; ++j) a[r * n + j] = (float)(row[j] / sum);
    }
    free(row);
    return a;
}

static void check(int32_t status, const char *what)
{
    if (status == ATTNROLL_OK) return;
    fprintf(stderr, "attnroll_bench: %s: %s: %s\n", what, attnroll_status_string(status), attnroll_last_error());
    exit(1);
}

/* Runs the helper with argv, echoes its lines, and gives back the value after
 * `key=` on its RESULT line (-1 if none) and, for SINK lines, their values. */
static double run_helper(char *const *argv, const char *key, double *sink_values, long *sink_ids, int *sinks)
{
    int fds[2], status = 0;
    char line[4096];
    double result = -1;
    if (sinks) *sinks = 0;
    fflush(stdout);
    if (pipe(fds) != 0) return -1;
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[1]);
        execv(argv[0], argv);
        fprintf(stderr, "attnroll_bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    if (!in) return -1;
    while (fgets(line, sizeof line, in)) {
        printf("  | %s", line);
        fflush(stdout);
        const char *k = strstr(line, key);
        if (strncmp(line, "RESULT ", 7) == 0 && k) result = strtod(k + strlen(key), NULL);
        if (sinks && strncmp(line, "SINK ", 5) == 0 && *sinks < 16) {
            char *end;
            sink_ids[*sinks] = strtol(line + 5, &end, 10);
            sink_values[*sinks] = strtod(end, NULL);
            ++*sinks;
        }
    }
    fclose(in);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? result : -1;
}

typedef struct stack {
    long layers, heads, n;
    float **data;
    attnroll_tensor *views;
    int64_t shape[3];
} stack;

static void stack_make(stack *s, long layers, long heads, long n, uint64_t seed)
{
    s->layers = layers;
    s->heads = heads;
    s->n = n;
    s->shape[0] = heads;
    s->shape[1] = n;
    s->shape[2] = n;
    s->data = malloc((size_t)layers * sizeof *s->data);
    s->views = malloc((size_t)layers * sizeof *s->views);
    for (long l = 0; l < layers; ++l) {
        s->data[l] = attention(heads, n, seed + (uint64_t)l * 7919u);
        s->views[l].data = s->data[l];
        s->views[l].dtype = ATTNROLL_F32;
        s->views[l].ndim = 3;
        s->views[l].shape = s->shape;
        s->views[l].strides = NULL;
    }
}

static void stack_free(stack *s)
{
    for (long l = 0; l < s->layers; ++l) free(s->data[l]);
    free(s->data);
    free(s->views);
}

/* CLS flow (or rollout row, flow == 0) of one frame; times (median wall, its
 * cpu) over reps. */
static void time_cls(const stack *s, attnroll_config *cfg, int flow, long reps, double *out, double *wall_s,
                     double *cpu_s)
{
    const int64_t shape[2] = {1, s->n};
    attnroll_tensor o = {out, ATTNROLL_F64, 2, shape, NULL};
    double walls[16], cpus[16];
    if (reps > 16) reps = 16;
    for (long r = 0; r < reps; ++r) {
        const double w0 = wall(), c0 = cpu();
        check(flow ? attnroll_flow(s->views, (int32_t)s->layers, cfg, &o)
                   : attnroll_spatial(s->views, (int32_t)s->layers, cfg, &o),
              flow ? "attnroll_flow" : "attnroll_spatial");
        walls[r] = wall() - w0;
        cpus[r] = cpu() - c0;
    }
    /* the repetition with the median wall time */
    long best = 0;
    for (long r = 0; r < reps; ++r) {
        long below = 0;
        for (long q = 0; q < reps; ++q) below += walls[q] < walls[r];
        if (below == reps / 2) best = r;
    }
    *wall_s = walls[best];
    *cpu_s = cpus[best];
}

static int write_raw(const char *path, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    const int ok = fwrite(data, 1, bytes, f) == bytes;
    return fclose(f) == 0 && ok;
}

int bench_flow_run(long reps, long threads, const char *helper, const char *kernel)
{
    const char *python = "/usr/bin/python3";
    const int have_python = access(python, X_OK) == 0;
    char dir[] = "/tmp/attnroll_bench_flow.XXXXXX";
    char path[512];
    int failures = 0;
    attnroll_config *cfg;
    const int64_t cls[1] = {0};
    check(attnroll_config_create(&cfg), "attnroll_config_create");
    check(attnroll_config_set_ints(cfg, ATTNROLL_OPT_QUERY_ROWS, cls, 1), "QUERY_ROWS");
    if (threads > 0) check(attnroll_config_set_int(cfg, ATTNROLL_OPT_THREADS, threads), "THREADS");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "attnroll_bench: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    printf("attnroll %s: attention flow and singular values (--flow)\n", attnroll_version_string());
    printf("OpenBLAS kernel: %s (the helper's numpy inherits this environment)\n", kernel);
    printf("wall = median of %ld; cpu = the process's CPU time in that run, all threads\n\n", reps);

    /* ---- ViT-B ---- */
    {
        stack s;
        stack_make(&s, 12, 12, 197, 12345);
        double *ours = malloc(197 * sizeof *ours), *row = malloc(197 * sizeof *row);
        double fw, fc, rw, rc;
        time_cls(&s, cfg, 0, reps, row, &rw, &rc);
        time_cls(&s, cfg, 1, reps, ours, &fw, &fc);
        printf("== ViT-B (L=12, H=12, N=197), CLS flow of one frame ==\n");
        printf("attnroll_flow:           %8.3f s wall, %8.3f s cpu   (target <= 2 s/frame on 2 cores)\n", fw, fc);
        printf("  of which the factors:  %8.3f s wall, %8.3f s cpu   (attnroll_spatial CLS row, same input)\n", rw,
               rc);
        double lo = 1e300, hi = -1e300;
        for (int j = 0; j < 197; ++j) {
            lo = ours[j] < lo ? ours[j] : lo;
            hi = ours[j] > hi ? ours[j] : hi;
        }
        printf("  flow values in [%.4f, %.4f]\n", lo, hi);
        if (have_python) {
            for (long l = 0; l < s.layers; ++l) {
                snprintf(path, sizeof path, "%s/layer_%02ld.f32", dir, l);
                if (!write_raw(path, s.data[l], (size_t)(s.heads * s.n * s.n) * sizeof(float))) failures++;
            }
            char *argv[] = {(char *)python, (char *)helper, (char *)"flow", (char *)"preflow_push", dir, (char *)"12", (char *)"12",
                            (char *)"197", (char *)"1", (char *)"98", NULL};
            double values[16];
            long ids[16];
            int count = 0;
            printf("networkx, timed on 2 of the 197 sinks (1 and 98) and scaled to 197:\n");
            const double per_sink = run_helper(argv, "nx_s_per_sink=", values, ids, &count);
            if (per_sink > 0) {
                const double nx_frame = per_sink * 197.0;
                printf("networkx (preflow_push, one flow per sink): %.3f s/sink -> %.1f s/frame (scaled)\n",
                       per_sink, nx_frame);
                printf("=> attnroll is %.0fx faster than networkx by wall time (%.0fx by CPU time; target >= "
                       "1000x)\n", nx_frame / fw, nx_frame / fc);
                for (int i = 0; i < count; ++i) {
                    const double d = fabs(values[i] - ours[ids[i]]);
                    printf("  sink %ld: networkx %.15f, attnroll %.15f, |diff| %.1e%s\n", ids[i], values[i],
                           ours[ids[i]], d, d <= 1e-9 ? "" : "  MISMATCH");
                    failures += d > 1e-9;
                }
            } else {
                printf("networkx run failed (needs Debian's python3-networkx)\n");
            }
        }
        free(ours);
        free(row);
        stack_free(&s);
    }

    /* ---- ViT-L ---- */
    {
        stack s;
        stack_make(&s, 24, 16, 433, 777);
        double *ours = malloc(433 * sizeof *ours), *row = malloc(433 * sizeof *row);
        double fw, fc, rw, rc;
        const long r = reps < 3 ? reps : 3;
        time_cls(&s, cfg, 0, r, row, &rw, &rc);
        time_cls(&s, cfg, 1, r, ours, &fw, &fc);
        printf("\n== ViT-L (L=24, H=16, N=433), CLS flow of one frame ==\n");
        printf("attnroll_flow:           %8.3f s wall, %8.3f s cpu   (target <= 30 s/frame on 2 cores)\n", fw, fc);
        printf("  the factors (reading 24x16x433^2 maps): %.3f s wall, %.3f s cpu (attnroll_spatial CLS row)\n",
               rw, rc);
        printf("  the 433 max flows (Dinic on 23 levels x 433 nodes, 22 x 433^2 = %.1fM arcs each): "
               "%.3f s cpu\n", 22.0 * 433 * 433 / 1e6, fc - rc);
        printf("networkx not run at this size (a 4.5M-arc graph per frame)\n");
        free(ours);
        free(row);
        stack_free(&s);
    }

    /* ---- singular values ---- */
    {
        const long m = 433;
        double *a = malloc((size_t)(m * m) * sizeof *a), *sv = malloc((size_t)m * sizeof *sv);
        uint64_t seed = 99;
        for (long e = 0; e < m * m; ++e) a[e] = rng_normal(&seed);
        const int64_t in_shape[2] = {m, m}, out_shape[1] = {m};
        attnroll_tensor in = {a, ATTNROLL_F64, 2, in_shape, NULL}, out = {sv, ATTNROLL_F64, 1, out_shape, NULL};
        double times[32];
        const long n_reps = reps < 5 ? 7 : (reps > 32 ? 32 : reps);
        check(attnroll_singular_values(&in, &out), "attnroll_singular_values"); /* warm-up */
        for (long r = 0; r < n_reps; ++r) {
            const double w0 = wall();
            check(attnroll_singular_values(&in, &out), "attnroll_singular_values");
            times[r] = wall() - w0;
        }
        for (long i = 0; i < n_reps; ++i) /* sort */
            for (long j = i + 1; j < n_reps; ++j)
                if (times[j] < times[i]) {
                    const double t = times[i];
                    times[i] = times[j];
                    times[j] = t;
                }
        const double ms = 1e3 * times[n_reps / 2];
        printf("\n== singular values of a 433 x 433 matrix (F64, LAPACKE_dgesdd jobz='N') ==\n");
        printf("attnroll_singular_values: %.3f ms (median of %ld); s[0..2] = %.12g %.12g %.12g\n", ms, n_reps,
               sv[0], sv[1], sv[2]);
        if (have_python) {
            snprintf(path, sizeof path, "%s/svd.f64", dir);
            if (!write_raw(path, a, (size_t)(m * m) * sizeof *a)) failures++;
            char reps_text[16];
            snprintf(reps_text, sizeof reps_text, "%ld", n_reps);
            char *argv[] = {(char *)python, (char *)helper, (char *)"svd", path, (char *)"433", reps_text, NULL};
            const double np_ms = run_helper(argv, "numpy_svd_ms=", NULL, NULL, NULL);
            if (np_ms > 0)
                printf("=> attnroll / numpy = %.2f (target <= 1.2)\n", ms / np_ms);
            else
                printf("numpy run failed\n");
            unlink(path);
        }
        free(a);
        free(sv);
    }

    for (long l = 0; l < 24; ++l) {
        snprintf(path, sizeof path, "%s/layer_%02ld.f32", dir, l);
        unlink(path);
    }
    rmdir(dir);
    attnroll_config_destroy(cfg);
    return failures ? 1 : 0;
}
