/* synth.c -- see synth.h. */
#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t synth_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

uint64_t synth_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

double synth_uniform(uint64_t *state)
{
    return (double)(synth_next(state) >> 11) / 9007199254740992.0;
}

void synth_softmax(const double *logits, float *out, size_t n)
{
    double top = logits[0], sum = 0.0;
    size_t j;
    for (j = 1; j < n; j++)
        if (logits[j] > top) top = logits[j];
    for (j = 0; j < n; j++) sum += exp(logits[j] - top);
    for (j = 0; j < n; j++) out[j] = (float)(exp(logits[j] - top) / sum);
}

/* exp(q / 32) for q in [0, 64): background logits in [0, 2), six random bits
 * at a time.  A constant table, so rows can be made on many threads. */
static const float kBackgroundExp[64] = {
    1.0f, 1.03174341f, 1.06449446f, 1.09828514f, 1.13314845f, 1.16911845f, 1.20623025f, 1.24452011f,
    1.28402542f, 1.32478476f, 1.36683794f, 1.41022603f, 1.45499141f, 1.5011778f, 1.5488303f, 1.59799545f,
    1.64872127f, 1.7010573f, 1.75505466f, 1.81076607f, 1.86824596f, 1.92755045f, 1.98873747f, 2.05186677f,
    2.11700002f, 2.18420081f, 2.25353479f, 2.32506966f, 2.39887529f, 2.47502377f, 2.55358946f, 2.63464909f,
    2.71828183f, 2.80456936f, 2.89359594f, 2.98544854f, 3.08021685f, 3.17799343f, 3.27887377f, 3.38295639f,
    3.49034296f, 3.60113834f, 3.71545074f, 3.8333918f, 3.95507672f, 4.08062434f, 4.21015726f, 4.34380199f,
    4.48168907f, 4.62395315f, 4.77073318f, 4.92217251f, 5.07841904f, 5.23962536f, 5.40594893f, 5.57755216f,
    5.75460268f, 5.93727337f, 6.12574266f, 6.32019461f, 6.52081912f, 6.72781214f, 6.94137582f, 7.16171874f,
};

#define SYNTH_PEAKS 4

void synth_peaky_row(float *row, size_t n, uint64_t seed)
{
    uint64_t s = synth_mix64(seed) | 1u;
    double sum = 0.0;
    float scale;
    size_t j = 0;
    int k;
    while (j < n) {
        uint64_t r = synth_next(&s);
        for (k = 0; k < 10 && j < n; k++, j++) {
            row[j] = kBackgroundExp[r & 63u];
            r >>= 6;
        }
    }
    row[0] = (float)exp(3.0);
    for (k = 0; k < SYNTH_PEAKS; k++) {
        uint64_t r = synth_next(&s);
        row[(size_t)(r % n)] = (float)exp(5.0 + 3.0 * (double)(r >> 40) / (double)(1u << 24));
    }
    for (j = 0; j < n; j++) sum += (double)row[j];
    scale = (float)(1.0 / sum);
    for (j = 0; j < n; j++) row[j] *= scale;
}

/* ---- the moving blob --------------------------------------------------- */

void synth_blob_centre(const synth_blob *spec, long f, long *row, long *col)
{
    const double t = spec->frames > 1 ? (double)f / (double)(spec->frames - 1) : 0.0;
    *row = (long)floor((0.2 + 0.6 * t) * (double)(spec->grid_rows - 1) + 0.5);
    *col = (long)floor((0.25 + 0.5 * t) * (double)(spec->grid_cols - 1) + 0.5);
}

static float gaussian_bump(long dr, long dc, double width)
{
    return (float)exp(-(double)(dr * dr + dc * dc) / (2.0 * width * width));
}

/* Multiplicative noise exp(u), u uniform in [0, 0.5) on 64 levels, six bits
 * of a draw at a time: cheap enough for a 433-token stack. */
typedef struct noise_source {
    uint64_t state, bits;
    int left;
    float table[64];
} noise_source;

static float noise_next(noise_source *n)
{
    float v;
    if (n->left == 0) {
        n->bits = synth_next(&n->state);
        n->left = 10;
    }
    v = n->table[n->bits & 63u];
    n->bits >>= 6;
    n->left--;
    return v;
}

/* Since exp(a + b + c) = exp(a) exp(b) exp(c), each exponential is tabulated
 * once per frame and head (key and CLS terms) or per grid offset (local term). */
int synth_blob_layer(float *dst, const synth_blob *spec, long layer)
{
    const long R = spec->grid_rows, C = spec->grid_cols, N = 1 + R * C, offsets_c = 2 * C - 1;
    float *key_exp = malloc((size_t)N * sizeof *key_exp);
    float *cls_exp = malloc((size_t)N * sizeof *cls_exp);
    float *local_exp = malloc((size_t)(2 * R - 1) * (size_t)offsets_c * sizeof *local_exp);
    noise_source noise;
    long f, h, i, j, dr, dc;
    int q;
    if (!key_exp || !cls_exp || !local_exp) {
        free(key_exp);
        free(cls_exp);
        free(local_exp);
        return -1;
    }
    noise.state = synth_mix64(spec->seed ^ ((uint64_t)layer << 32)) | 1u;
    noise.bits = 0;
    noise.left = 0;
    for (q = 0; q < 64; q++) noise.table[q] = (float)exp(0.5 * q / 64.0);
    for (dr = -(R - 1); dr <= R - 1; dr++)
        for (dc = -(C - 1); dc <= C - 1; dc++)
            local_exp[(dr + R - 1) * offsets_c + (dc + C - 1)] = (float)exp(2.5 * (double)gaussian_bump(dr, dc, 1.0));

    for (f = 0; f < spec->frames; f++) {
        long br, bc;
        synth_blob_centre(spec, f, &br, &bc);
        for (h = 0; h < spec->heads; h++) {
            const double strength = (h % 4 == 3) ? 0.0 : (2.0 + (double)(h % 4)) *
                                    (0.6 + 0.8 * (double)layer / (double)spec->layers);
            const double width = 1.2 + 0.4 * (double)(h % 3);
            float *head = dst + (size_t)(f * spec->heads + h) * (size_t)N * (size_t)N;
            key_exp[0] = (float)exp(1.0);
            cls_exp[0] = 1.0f;
            for (j = 1; j < N; j++) {
                const double blob = strength * (double)gaussian_bump((j - 1) / C - br, (j - 1) % C - bc, width);
                key_exp[j] = (float)exp(blob);
                cls_exp[j] = (float)exp(2.0 * blob + 1.0);
            }
            for (i = 0; i < N; i++) {
                float *row = head + (size_t)i * (size_t)N;
                float sum = 0.0f, scale;
                if (i == 0) {
                    for (j = 0; j < N; j++) {
                        row[j] = noise_next(&noise) * cls_exp[j];
                        sum += row[j];
                    }
                } else {
                    const long qr = (i - 1) / C, qc = (i - 1) % C;
                    long kr, kc;
                    row[0] = noise_next(&noise) * key_exp[0];
                    sum = row[0];
                    for (kr = 0, j = 1; kr < R; kr++) {
                        const float *local = local_exp + (kr - qr + R - 1) * offsets_c + (C - 1 - qc);
                        for (kc = 0; kc < C; kc++, j++) {
                            row[j] = noise_next(&noise) * key_exp[j] * local[kc];
                            sum += row[j];
                        }
                    }
                }
                scale = 1.0f / sum;
                for (j = 0; j < N; j++) row[j] *= scale;
            }
        }
    }
    free(key_exp);
    free(cls_exp);
    free(local_exp);
    return 0;
}

/* ---- half precision ---------------------------------------------------- */

uint16_t synth_f32_to_f16(float value)
{
    uint32_t x, sign, a, h, rem;
    memcpy(&x, &value, sizeof x);
    sign = (x >> 16) & 0x8000u;
    a = x & 0x7FFFFFFFu;
    if (a >= 0x7F800000u) return (uint16_t)(sign | (a > 0x7F800000u ? 0x7E00u : 0x7C00u));
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds past 65504 */
    if (a < 0x38800000u) {                                   /* half subnormal or zero */
        uint32_t e = a >> 23, m = (a & 0x7FFFFFu) | 0x800000u, shift, halfway;
        if (a <= 0x33000000u) return (uint16_t)sign; /* <= 2^-25: rounds to zero (a tie goes to even 0) */
        shift = 126u - e;                             /* 14 .. 24 */
        h = m >> shift;
        rem = m & ((1u << shift) - 1u);
        halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (h & 1u))) h++;
        return (uint16_t)(sign | h);
    }
    h = (a - 0x38000000u) >> 13; /* rebias the exponent 127 -> 15 */
    rem = a & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry moves into the exponent, as it should */
    return (uint16_t)(sign | h);
}

float synth_f16_to_f32(uint16_t half)
{
    const uint32_t sign = (uint32_t)(half & 0x8000u) << 16, e = (half >> 10) & 0x1Fu, m = half & 0x3FFu;
    uint32_t bits;
    float out;
    if (e == 0) {
        out = ldexpf((float)m, -24); /* zero or subnormal: exact in float */
        return sign ? -out : out;
    }
    if (e == 31)
        bits = sign | 0x7F800000u | (m << 13);
    else
        bits = sign | ((e + 112u) << 23) | (m << 13);
    memcpy(&out, &bits, sizeof out);
    return out;
}

uint16_t synth_f32_to_bf16(float value)
{
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x0040u); /* quiet NaN */
    x += 0x7FFFu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float synth_bf16_to_f32(uint16_t bf16)
{
    const uint32_t x = (uint32_t)bf16 << 16;
    float out;
    memcpy(&out, &x, sizeof out);
    return out;
}
