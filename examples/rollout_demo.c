/*
 * rollout_demo -- attention rollout of a synthetic ViT-shaped attention stack.
 *
 * Builds, in memory, the attention a ViT-L video backbone would produce for a
 * few frames (default: 4 frames x 24 layers x 16 heads x 433 tokens, i.e. one
 * CLS token and a 24x18 patch grid), with visible structure: every frame has a
 * "blob" of patches that moves across the grid; patches attend to their
 * neighbours and toward the blob, and the CLS token attends to the blob.  Every
 * row is a softmax, as in a real model.
 *
 * It then rolls the stack out twice with attnroll_spatial -- the full 433x433
 * rollout per frame, and the CLS row only (ATTNROLL_OPT_QUERY_ROWS = {0}) --
 * checks that the two agree, and shows where the CLS row of the rollout puts
 * its weight: the argmax patch per frame against the blob's position, and an
 * ASCII heat map for frame 0.
 *
 *   rollout_demo [--frames F] [--layers L] [--heads H] [--grid RxC]
 *
 * Exit status: 0 on success; 1 if attnroll reports an error (its message is
 * printed) or the two rollouts disagree; 2 for a bad command line.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attnroll.h"

/* The demo keeps the whole stack in memory; refuse sizes beyond this. */
#define DEMO_MAX_INPUT_BYTES 16e9

typedef struct demo_options {
    long frames, layers, heads, grid_rows, grid_cols;
} demo_options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: rollout_demo [--frames F] [--layers L] [--heads H] [--grid RxC]\n"
            "  --frames F   frames in the clip, 1..256 (default 4)\n"
            "  --layers L   transformer layers, 1..256 (default 24)\n"
            "  --heads H    attention heads per layer, 1..256 (default 16)\n"
            "  --grid RxC   patch grid, rows x cols, each 1..128 (default 24x18);\n"
            "               tokens N = 1 (CLS) + R*C\n");
}

/* Parses a whole decimal integer in [lo, hi]: digits only, nothing after. */
static int parse_long(const char *text, long lo, long hi, long *value)
{
    char *end = NULL;
    long v;
    if (text[0] < '0' || text[0] > '9') return 0;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) return 0;
    *value = v;
    return 1;
}

/* Parses "RxC" with R, C in [1, 128]. */
static int parse_grid(const char *text, long *rows, long *cols)
{
    char buf[64];
    char *x;
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof buf) return 0;
    memcpy(buf, text, len + 1);
    x = strchr(buf, 'x');
    if (x == NULL) x = strchr(buf, 'X');
    if (x == NULL) return 0;
    *x = '\0';
    return parse_long(buf, 1, 128, rows) && parse_long(x + 1, 1, 128, cols);
}

/* @return 0 to run, 1 to exit successfully (--help), 2 on a bad command line. */
static int parse_args(int argc, char **argv, demo_options *o)
{
    int i;
    o->frames = 4;
    o->layers = 24;
    o->heads = 16;
    o->grid_rows = 24;
    o->grid_cols = 18;
    for (i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *val;
        int ok;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(opt, "--frames") != 0 && strcmp(opt, "--layers") != 0 &&
            strcmp(opt, "--heads") != 0 && strcmp(opt, "--grid") != 0) {
            fprintf(stderr, "rollout_demo: unknown argument '%s'\n", opt);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "rollout_demo: %s needs a value\n", opt);
            usage(stderr);
            return 2;
        }
        val = argv[++i];
        if (strcmp(opt, "--frames") == 0)
            ok = parse_long(val, 1, 256, &o->frames);
        else if (strcmp(opt, "--layers") == 0)
            ok = parse_long(val, 1, 256, &o->layers);
        else if (strcmp(opt, "--heads") == 0)
            ok = parse_long(val, 1, 256, &o->heads);
        else
            ok = parse_grid(val, &o->grid_rows, &o->grid_cols);
        if (!ok) {
            if (strcmp(opt, "--grid") == 0)
                fprintf(stderr, "rollout_demo: --grid expects RxC with R and C integers in "
                                "[1, 128] (e.g. 24x18), got '%s'\n", val);
            else
                fprintf(stderr, "rollout_demo: %s expects an integer in [1, 256], got '%s'\n",
                        opt, val);
            return 2;
        }
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Multiplicative noise exp(u), u uniform in [0, 0.5) on 64 levels, six bits of
 * a xorshift64* draw at a time. */
#define NOISE_LEVELS 64
typedef struct noise_source {
    uint64_t state, bits;
    int left;
    float table[NOISE_LEVELS];
} noise_source;

static void noise_init(noise_source *n, uint64_t seed)
{
    int q;
    n->state = seed;
    n->bits = 0;
    n->left = 0;
    for (q = 0; q < NOISE_LEVELS; q++) n->table[q] = (float)exp(0.5 * q / NOISE_LEVELS);
}

static float noise_next(noise_source *n)
{
    float v;
    if (n->left == 0) {
        uint64_t x = n->state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        n->state = x;
        n->bits = x * 0x2545F4914F6CDD1DULL;
        n->left = 10;
    }
    v = n->table[n->bits & (NOISE_LEVELS - 1)];
    n->bits >>= 6;
    n->left--;
    return v;
}

/* Where the blob is in frame f of F: it crosses the grid diagonally. */
static void blob_centre(long f, long frames, long rows, long cols, long *r, long *c)
{
    double t = frames > 1 ? (double)f / (double)(frames - 1) : 0.0;
    *r = (long)floor((0.2 + 0.6 * t) * (double)(rows - 1) + 0.5);
    *c = (long)floor((0.25 + 0.5 * t) * (double)(cols - 1) + 0.5);
}

/* Scratch tables for synthesize_layer. */
typedef struct synth_tables {
    float *key_exp;   /* [N]: exp(key term) for a patch query */
    float *cls_exp;   /* [N]: exp(logit) for the CLS query, noise aside */
    float *local_exp; /* [(2R-1) x (2C-1)]: exp(local term) by grid offset */
    noise_source noise;
} synth_tables;

static float gaussian_bump(long dr, long dc, double width)
{
    return (float)exp(-(double)(dr * dr + dc * dc) / (2.0 * width * width));
}

/*
 * Writes layer `layer` as a C-contiguous [F,H,N,N] float array.  Row i of
 * head h in frame f is softmax_j(logit[i,j]) with, for a patch query i,
 *   logit = key term   (j = CLS: 1; j a patch: s * bump(j - blob))
 *         + local term (j a patch: 2.5 * bump(j - i), width 1)
 *         + noise in [0, 0.5)
 * and for the CLS query (i = 0): 1 + 2 * s * bump(j - blob) + noise.  The
 * strength s depends on the head (every fourth head ignores the blob) and
 * grows with depth.  Since exp(a + b + c) = exp(a) exp(b) exp(c), each
 * exponential is tabulated once per frame and head, or per grid offset.
 */
static void synthesize_layer(float *dst, const demo_options *o, long layer, synth_tables *t)
{
    const long R = o->grid_rows, C = o->grid_cols, N = 1 + R * C;
    const long offsets_c = 2 * C - 1;
    long f, h, i, j, dr, dc;
    for (dr = -(R - 1); dr <= R - 1; dr++)
        for (dc = -(C - 1); dc <= C - 1; dc++)
            t->local_exp[(dr + R - 1) * offsets_c + (dc + C - 1)] =
                (float)exp(2.5 * (double)gaussian_bump(dr, dc, 1.0));

    for (f = 0; f < o->frames; f++) {
        long br, bc;
        blob_centre(f, o->frames, R, C, &br, &bc);
        for (h = 0; h < o->heads; h++) {
            const double strength = (h % 4 == 3) ? 0.0 : (2.0 + (double)(h % 4)) *
                                    (0.6 + 0.8 * (double)layer / (double)o->layers);
            const double width = 1.2 + 0.4 * (double)(h % 3);
            float *head = dst + (size_t)(f * o->heads + h) * (size_t)N * (size_t)N;
            t->key_exp[0] = (float)exp(1.0);
            t->cls_exp[0] = 1.0f;
            for (j = 1; j < N; j++) {
                double blob = strength * (double)gaussian_bump((j - 1) / C - br, (j - 1) % C - bc, width);
                t->key_exp[j] = (float)exp(blob);
                t->cls_exp[j] = (float)exp(2.0 * blob + 1.0);
            }
            for (i = 0; i < N; i++) {
                float *row = head + (size_t)i * (size_t)N;
                float sum = 0.0f, scale;
                if (i == 0) {
                    for (j = 0; j < N; j++) {
                        row[j] = noise_next(&t->noise) * t->cls_exp[j];
                        sum += row[j];
                    }
                } else {
                    const long qr = (i - 1) / C, qc = (i - 1) % C;
                    long kr, kc;
                    row[0] = noise_next(&t->noise) * t->key_exp[0];
                    sum = row[0];
                    for (kr = 0, j = 1; kr < R; kr++) {
                        const float *local = t->local_exp + (kr - qr + R - 1) * offsets_c + (C - 1 - qc);
                        for (kc = 0; kc < C; kc++, j++) {
                            row[j] = noise_next(&t->noise) * t->key_exp[j] * local[kc];
                            sum += row[j];
                        }
                    }
                }
                scale = 1.0f / sum;
                for (j = 0; j < N; j++) row[j] *= scale;
            }
        }
    }
}

static int report_failure(const char *what, int32_t status)
{
    fprintf(stderr, "rollout_demo: %s failed: %s: %s\n", what, attnroll_status_string(status),
            attnroll_last_error());
    return 1;
}

static void print_heat_map(const float *cls_row, long rows, long cols, long br, long bc)
{
    static const char ramp[] = " .:-=+*#%@";
    const int levels = (int)(sizeof ramp - 1);
    float lo = cls_row[1], hi = cls_row[1];
    long r, c, n = rows * cols;
    for (r = 1; r <= n; r++) {
        if (cls_row[r] < lo) lo = cls_row[r];
        if (cls_row[r] > hi) hi = cls_row[r];
    }
    printf("CLS row of R over the %ldx%ld patch grid, frame 0 "
           "(min-max scaled: ' ' = %.2e ... '@' = %.2e), blob centre at (%ld,%ld):\n",
           rows, cols, (double)lo, (double)hi, br, bc);
    printf("    +");
    for (c = 0; c < cols; c++) printf("--");
    printf("+\n");
    for (r = 0; r < rows; r++) {
        printf("%3ld |", r);
        for (c = 0; c < cols; c++) {
            double v = hi > lo ? (cls_row[1 + r * cols + c] - lo) / (hi - lo) : 0.0;
            int level = (int)(v * (double)levels);
            char ch;
            if (level >= levels) level = levels - 1;
            ch = ramp[level];
            printf("%c%c", ch, ch);
        }
        printf("|\n");
    }
    printf("    +");
    for (c = 0; c < cols; c++) printf("--");
    printf("+\n");
}

int main(int argc, char **argv)
{
    demo_options o;
    int rc = parse_args(argc, argv, &o);
    long N, f, l, j, found = 0;
    size_t layer_elems, n_elems;
    double input_bytes, t0, t_gen, t_full, t_cls;
    float **layer_data = NULL, *full = NULL, *cls = NULL;
    synth_tables tables;
    attnroll_tensor *layers = NULL;
    attnroll_config *config = NULL;
    int64_t in_shape[4], full_shape[3], cls_shape[3];
    const int64_t cls_query[1] = {0};
    attnroll_tensor out_full, out_cls;
    int32_t status;
    double max_diff = 0.0, max_val = 0.0, min_sum = 1e30, max_sum = -1e30;
    int result = 1;

    if (rc == 1) return 0;
    if (rc != 0) return 2;
    if (attnroll_version_number() != ATTNROLL_VERSION_NUMBER) {
        fprintf(stderr, "rollout_demo: header is %s but the library is %s\n",
                ATTNROLL_VERSION_STRING, attnroll_version_string());
        return 1;
    }

    N = 1 + o.grid_rows * o.grid_cols;
    n_elems = (size_t)N * (size_t)N;
    layer_elems = (size_t)o.frames * (size_t)o.heads * n_elems;
    input_bytes = (double)o.layers * (double)layer_elems * sizeof(float);
    printf("attnroll %s -- rollout demo\n", attnroll_version_string());
    printf("synthetic attention: %ld frames x %ld layers x %ld heads x %ld tokens "
           "(1 CLS + %ldx%ld patches), float32, %.2f GB\n",
           o.frames, o.layers, o.heads, N, o.grid_rows, o.grid_cols, input_bytes / 1e9);
    if (input_bytes > DEMO_MAX_INPUT_BYTES) {
        fprintf(stderr, "rollout_demo: that stack needs %.1f GB; this demo refuses more than "
                        "%.0f GB (use fewer frames, layers, heads or a smaller grid)\n",
                input_bytes / 1e9, DEMO_MAX_INPUT_BYTES / 1e9);
        return 2;
    }

    /* ---- synthesize the stack: one [F,H,N,N] array per layer ---- */
    layer_data = calloc((size_t)o.layers, sizeof *layer_data);
    layers = calloc((size_t)o.layers, sizeof *layers);
    tables.key_exp = malloc((size_t)N * sizeof *tables.key_exp);
    tables.cls_exp = malloc((size_t)N * sizeof *tables.cls_exp);
    tables.local_exp = malloc((size_t)(2 * o.grid_rows - 1) * (size_t)(2 * o.grid_cols - 1) *
                              sizeof *tables.local_exp);
    noise_init(&tables.noise, 0x9E3779B97F4A7C15ULL);
    full = malloc((size_t)o.frames * n_elems * sizeof *full);
    cls = malloc((size_t)o.frames * (size_t)N * sizeof *cls);
    if (!layer_data || !layers || !tables.key_exp || !tables.cls_exp || !tables.local_exp || !full ||
        !cls) {
        fprintf(stderr, "rollout_demo: out of memory\n");
        goto done;
    }
    in_shape[0] = o.frames;
    in_shape[1] = o.heads;
    in_shape[2] = N;
    in_shape[3] = N;
    t0 = now_seconds();
    for (l = 0; l < o.layers; l++) {
        layer_data[l] = malloc(layer_elems * sizeof(float));
        if (layer_data[l] == NULL) {
            fprintf(stderr, "rollout_demo: out of memory allocating layer %ld (%.0f MB)\n", l,
                    (double)(layer_elems * sizeof(float)) / 1e6);
            goto done;
        }
        synthesize_layer(layer_data[l], &o, l, &tables);
        layers[l].data = layer_data[l];
        layers[l].dtype = ATTNROLL_F32;
        layers[l].ndim = 4;
        layers[l].shape = in_shape;
        layers[l].strides = NULL; /* C-contiguous */
    }
    t_gen = now_seconds() - t0;
    printf("  generated in %.2f s\n\n", t_gen);

    /* ---- full rollout: out [F,N,N] ---- */
    full_shape[0] = o.frames;
    full_shape[1] = N;
    full_shape[2] = N;
    out_full.data = full;
    out_full.dtype = ATTNROLL_F32;
    out_full.ndim = 3;
    out_full.shape = full_shape;
    out_full.strides = NULL;
    t0 = now_seconds();
    status = attnroll_spatial(layers, (int32_t)o.layers, NULL, &out_full);
    t_full = now_seconds() - t0;
    if (status != ATTNROLL_OK) {
        result = report_failure("attnroll_spatial (full)", status);
        goto done;
    }
    printf("full rollout   attnroll_spatial -> [%ld,%ld,%ld] float32   %8.1f ms  (%.1f ms/frame)\n",
           o.frames, N, N, 1e3 * t_full, 1e3 * t_full / (double)o.frames);

    /* ---- CLS row only: out [F,1,N] ---- */
    status = attnroll_config_create(&config);
    if (status == ATTNROLL_OK)
        status = attnroll_config_set_ints(config, ATTNROLL_OPT_QUERY_ROWS, cls_query, 1);
    if (status != ATTNROLL_OK) {
        result = report_failure("configuring ATTNROLL_OPT_QUERY_ROWS", status);
        goto done;
    }
    cls_shape[0] = o.frames;
    cls_shape[1] = 1;
    cls_shape[2] = N;
    out_cls.data = cls;
    out_cls.dtype = ATTNROLL_F32;
    out_cls.ndim = 3;
    out_cls.shape = cls_shape;
    out_cls.strides = NULL;
    t0 = now_seconds();
    status = attnroll_spatial(layers, (int32_t)o.layers, config, &out_cls);
    t_cls = now_seconds() - t0;
    if (status != ATTNROLL_OK) {
        result = report_failure("attnroll_spatial (CLS row)", status);
        goto done;
    }
    printf("CLS row only   QUERY_ROWS {0}   -> [%ld,1,%ld] float32     %8.1f ms  (%.1f ms/frame)\n",
           o.frames, N, 1e3 * t_cls, 1e3 * t_cls / (double)o.frames);

    /* ---- checks: the CLS row equals row 0 of the full rollout; rows of a
     *      product of row-stochastic matrices sum to 1 ---- */
    for (f = 0; f < o.frames; f++) {
        const float *R = full + (size_t)f * n_elems;
        long i;
        for (j = 0; j < N; j++) {
            double d = fabs((double)R[j] - (double)cls[(size_t)f * (size_t)N + (size_t)j]);
            if (d > max_diff || d != d) max_diff = d;
            if (fabs((double)R[j]) > max_val) max_val = fabs((double)R[j]);
        }
        for (i = 0; i < N; i++) {
            double s = 0.0;
            for (j = 0; j < N; j++) s += (double)R[(size_t)i * (size_t)N + (size_t)j];
            if (s < min_sum) min_sum = s;
            if (s > max_sum) max_sum = s;
        }
    }
    printf("agreement      max |full[f,0,:] - cls[f,0,:]| = %.2e (largest entry %.2e); "
           "row sums of R in [%.6f, %.6f]\n\n", max_diff, max_val, min_sum, max_sum);
    if (!(max_diff <= 1e-4 * max_val + 1e-7) || !(fabs(min_sum - 1.0) < 1e-3) ||
        !(fabs(max_sum - 1.0) < 1e-3)) {
        fprintf(stderr, "rollout_demo: the CLS-row rollout does not match row 0 of the full "
                        "rollout, or rows of R do not sum to 1\n");
        goto done;
    }

    /* ---- where does the CLS token look? ---- */
    printf("frame   blob centre   argmax of the CLS row over patches   its weight\n");
    for (f = 0; f < o.frames; f++) {
        const float *row = cls + (size_t)f * (size_t)N;
        long best = 1, br, bc, ar, ac;
        for (j = 2; j < N; j++)
            if (row[j] > row[best]) best = j;
        blob_centre(f, o.frames, o.grid_rows, o.grid_cols, &br, &bc);
        ar = (best - 1) / o.grid_cols;
        ac = (best - 1) % o.grid_cols;
        if (ar == br && ac == bc) found++;
        printf("%5ld   (%3ld,%3ld)     (%3ld,%3ld)  %-21s  %.4f\n", f, br, bc, ar, ac,
               (ar == br && ac == bc) ? "on the blob" : "off the blob", (double)row[best]);
    }
    printf("(row,col) on the %ldx%ld grid; the CLS row peaks on the blob in %ld of %ld frames\n\n",
           o.grid_rows, o.grid_cols, found, o.frames);
    {
        long br, bc;
        blob_centre(0, o.frames, o.grid_rows, o.grid_cols, &br, &bc);
        print_heat_map(cls, o.grid_rows, o.grid_cols, br, bc);
    }
    result = 0;

done:
    attnroll_config_destroy(config);
    if (layer_data != NULL)
        for (l = 0; l < o.layers; l++) free(layer_data[l]);
    free(layer_data);
    free(layers);
    free(tables.key_exp);
    free(tables.cls_exp);
    free(tables.local_exp);
    free(full);
    free(cls);
    return result;
}
