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

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attnroll.h"
#include "parse_long.h"
#include "synth.h"

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
    return parse_long_in(buf, 1, 128, rows) && parse_long_in(x + 1, 1, 128, cols);
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
            ok = parse_long_in(val, 1, 256, &o->frames);
        else if (strcmp(opt, "--layers") == 0)
            ok = parse_long_in(val, 1, 256, &o->layers);
        else if (strcmp(opt, "--heads") == 0)
            ok = parse_long_in(val, 1, 256, &o->heads);
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
    synth_blob blob;
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
    blob.frames = o.frames;
    blob.heads = o.heads;
    blob.layers = o.layers;
    blob.grid_rows = o.grid_rows;
    blob.grid_cols = o.grid_cols;
    blob.seed = 0x9E3779B97F4A7C15ULL;
    full = malloc((size_t)o.frames * n_elems * sizeof *full);
    cls = malloc((size_t)o.frames * (size_t)N * sizeof *cls);
    if (!layer_data || !layers || !full || !cls) {
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
        if (synth_blob_layer(layer_data[l], &blob, l) != 0) {
            fprintf(stderr, "rollout_demo: out of memory synthesising layer %ld\n", l);
            goto done;
        }
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
        synth_blob_centre(&blob, f, &br, &bc);
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
        synth_blob_centre(&blob, 0, &br, &bc);
        print_heat_map(cls, o.grid_rows, o.grid_cols, br, bc);
    }
    result = 0;

done:
    attnroll_config_destroy(config);
    if (layer_data != NULL)
        for (l = 0; l < o.layers; l++) free(layer_data[l]);
    free(layer_data);
    free(layers);
    free(full);
    free(cls);
    return result;
}
