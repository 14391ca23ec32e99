/*
 * synth.h -- synthetic attention and half-precision conversions, shared by the
 * benchmark (bench/), the examples, the attnroll tool's demo and the tests, so
 * that each is written once.  C99; no dependency on the library.
 */
#ifndef ATTNROLL_TOOLS_SYNTH_H
#define ATTNROLL_TOOLS_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- random numbers ---------------------------------------------------- */

/* splitmix64's finaliser: an independent 64-bit value for each input (to
 * derive a stream per row or layer from a counter). */
uint64_t synth_mix64(uint64_t x);
/* xorshift64*: the next 64 random bits.  *state must not be 0. */
uint64_t synth_next(uint64_t *state);
/* Uniform in [0, 1), 53 bits. */
double synth_uniform(uint64_t *state);

/* ---- attention rows ---------------------------------------------------- */

/* out[j] = exp(logits[j]) / sum_k exp(logits[k]), computed in double. */
void synth_softmax(const double *logits, float *out, size_t n);

/* One "peaky" softmax row of n >= 1 entries, a function of `seed` only:
 * background logits uniform in [0, 2), the first (CLS) column at 3 and four
 * random columns at 5..8, so most of the mass sits on a few keys, as in a
 * trained ViT. */
void synth_peaky_row(float *row, size_t n, uint64_t seed);

/* A ViT-shaped stack in which attention is drawn to a "blob" of patches that
 * crosses the grid diagonally over the frames.  Tokens N = 1 + rows*cols (CLS
 * first).  Row i of head h is softmax_j(logit[i,j]) with, for a patch query,
 * a pull toward the blob (strength growing with depth, zero in every fourth
 * head), toward neighbouring patches, and noise; the CLS query is pulled
 * toward the blob twice as strongly. */
typedef struct synth_blob {
    long frames, heads, layers, grid_rows, grid_cols;
    uint64_t seed;
} synth_blob;

/* The blob's centre (row, column on the patch grid) in frame f. */
void synth_blob_centre(const synth_blob *spec, long f, long *row, long *col);
/* Writes layer `layer` (0 <= layer < spec->layers) as a C-contiguous float
 * array [frames, heads, N, N]; each layer depends only on spec and layer.
 * @return 0, or -1 when its scratch tables cannot be allocated (dst untouched). */
int synth_blob_layer(float *dst, const synth_blob *spec, long layer);

/* ---- half precision ---------------------------------------------------- */

/* IEEE binary16 and bfloat16 from float, rounded to nearest even; overflow
 * gives infinity, NaN stays NaN (quiet). */
uint16_t synth_f32_to_f16(float value);
uint16_t synth_f32_to_bf16(float value);
/* Exact: every binary16 and bfloat16 value is a float. */
float synth_f16_to_f32(uint16_t half);
float synth_bf16_to_f32(uint16_t bf16);

#ifdef __cplusplus
}
#endif

#endif
