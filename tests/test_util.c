/* Helpers shared by the attnroll tests; see test_util.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "synth.h"

#define TU_SENTINEL_BYTE 0x5A

/* ------------------------------------------------------------------------ */
/* RNG: splitmix64                                                           */
/* ------------------------------------------------------------------------ */

void tu_rng_seed(tu_rng *rng, uint64_t seed) { rng->state = seed * 0x9E3779B97F4A7C15ull + 1u; }

uint64_t tu_rng_next(tu_rng *rng)
{
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *rng) { return (double)(tu_rng_next(rng) >> 11) * 0x1.0p-53; }

double tu_normal(tu_rng *rng)
{
    double u1 = tu_uniform(rng);
    double u2 = tu_uniform(rng);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int64_t tu_randint(tu_rng *rng, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1u;
    return lo + (int64_t)(tu_rng_next(rng) % span);
}

void tu_peaky_rows(tu_rng *rng, double *dst, int64_t num_rows, int64_t n, double scale)
{
    for (int64_t r = 0; r < num_rows; ++r) {
        double *row = dst + r * n;
        double mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
            row[j] = scale * tu_normal(rng);
            if (row[j] > mx) mx = row[j];
        }
        double sum = 0.0;
        for (int64_t j = 0; j < n; ++j) {
            row[j] = exp(row[j] - mx);
            sum += row[j];
        }
        for (int64_t j = 0; j < n; ++j) row[j] /= sum;
    }
}

double *tu_peaky_alloc(tu_rng *rng, int64_t count, int64_t n, double scale)
{
    double *p = malloc((size_t)count * sizeof *p);
    assert_non_null(p);
    assert_int_equal(count % n, 0);
    tu_peaky_rows(rng, p, count / n, n, scale);
    return p;
}

/* ------------------------------------------------------------------------ */
/* dtype conversion                                                          */
/* ------------------------------------------------------------------------ */

/* The conversions are tools/common/synth.c's, shared with the tool and the bench. */
uint16_t tu_float_to_half(float f) { return synth_f32_to_f16(f); }
double tu_half_to_double(uint16_t h) { return (double)synth_f16_to_f32(h); }
uint16_t tu_float_to_bf16(float f) { return synth_f32_to_bf16(f); }
double tu_bf16_to_double(uint16_t b) { return (double)synth_bf16_to_f32(b); }

size_t tu_dtype_bytes(int32_t dtype)
{
    switch (dtype) {
    case ATTNROLL_F32: return 4;
    case ATTNROLL_F64: return 8;
    case ATTNROLL_F16: return 2;
    case ATTNROLL_BF16: return 2;
    default: return 0;
    }
}

static double quantize1(double v, int32_t dtype)
{
    switch (dtype) {
    case ATTNROLL_F32: return (double)(float)v;
    case ATTNROLL_F16: return tu_half_to_double(tu_float_to_half((float)v));
    case ATTNROLL_BF16: return tu_bf16_to_double(tu_float_to_bf16((float)v));
    default: return v;
    }
}

void tu_quantize(double *vals, int64_t n, int32_t dtype)
{
    for (int64_t i = 0; i < n; ++i) vals[i] = quantize1(vals[i], dtype);
}

static void store1(void *base, int64_t off, int32_t dtype, double v)
{
    switch (dtype) {
    case ATTNROLL_F32: ((float *)base)[off] = (float)v; break;
    case ATTNROLL_F64: ((double *)base)[off] = v; break;
    case ATTNROLL_F16: ((uint16_t *)base)[off] = tu_float_to_half((float)v); break;
    case ATTNROLL_BF16: ((uint16_t *)base)[off] = tu_float_to_bf16((float)v); break;
    default: break;
    }
}

static double load1(const void *base, int64_t off, int32_t dtype)
{
    switch (dtype) {
    case ATTNROLL_F32: return (double)((const float *)base)[off];
    case ATTNROLL_F64: return ((const double *)base)[off];
    case ATTNROLL_F16: return tu_half_to_double(((const uint16_t *)base)[off]);
    case ATTNROLL_BF16: return tu_bf16_to_double(((const uint16_t *)base)[off]);
    default: return NAN;
    }
}

/* ------------------------------------------------------------------------ */
/* Tensors                                                                   */
/* ------------------------------------------------------------------------ */

int64_t tu_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
}

attnroll_tensor tu_view(void *data, int32_t dtype, int ndim, const int64_t *shape,
                        const int64_t *strides)
{
    attnroll_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.ndim = ndim;
    t.shape = shape;
    t.strides = strides;
    return t;
}

const char *tu_layout_name(int layout)
{
    static const char *names[] = {"c-null", "c", "fortran", "transposed", "negative",
                                  "sliced", "bcast0", "bcast1", "heads-last", "transposed-neg"};
    return (layout >= 0 && layout < TU_NUM_LAYOUTS) ? names[layout] : "?";
}

/* strides of a C-contiguous array whose axes are stored in the order perm
 * (perm[0] outermost) */
static void perm_strides(int ndim, const int64_t *shape, const int *perm, int64_t *strides)
{
    int64_t s = 1;
    for (int k = ndim - 1; k >= 0; --k) {
        strides[perm[k]] = s;
        s *= shape[perm[k]];
    }
}

tu_tensor *tu_new(int ndim, const int64_t *shape, int32_t dtype, int layout)
{
    tu_tensor *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_true(ndim >= 1 && ndim <= ATTNROLL_MAX_NDIM);
    t->ndim = ndim;
    t->dtype = dtype;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->count = tu_numel(ndim, shape);

    int perm[ATTNROLL_MAX_NDIM];
    for (int d = 0; d < ndim; ++d) perm[d] = d;
    switch (layout) {
    case TU_FORTRAN:
        for (int d = 0; d < ndim; ++d) perm[d] = ndim - 1 - d;
        break;
    case TU_TRANSPOSED:
    case TU_TRANSPOSED_NEG:
        if (ndim >= 2) {
            perm[ndim - 2] = ndim - 1;
            perm[ndim - 1] = ndim - 2;
        }
        break;
    case TU_HEADS_LAST:
        if (ndim >= 3) { /* order: ..., ndim-2, ndim-1, ndim-3 */
            int k = 0;
            for (int d = 0; d < ndim; ++d)
                if (d != ndim - 3) perm[k++] = d;
            perm[k] = ndim - 3;
        }
        break;
    default: break;
    }
    perm_strides(ndim, shape, perm, t->strides);

    if (layout == TU_NEGATIVE || layout == TU_TRANSPOSED_NEG) {
        for (int d = 0; d < ndim; ++d) t->strides[d] = -t->strides[d];
    } else if (layout == TU_SLICED) {
        int64_t s = 1;
        for (int d = ndim - 1; d >= 0; --d) {
            t->strides[d] = 2 * s;
            s *= 2 * shape[d];
        }
    } else if (layout == TU_BCAST0) {
        t->strides[0] = 0;
    } else if (layout == TU_BCAST1) {
        assert_true(ndim >= 2);
        t->strides[1] = 0;
    }

    int64_t lo = 0, hi = 0;
    for (int d = 0; d < ndim; ++d) {
        int64_t span = (shape[d] - 1) * t->strides[d];
        if (span < 0) lo += span; else hi += span;
    }
    size_t es = tu_dtype_bytes(dtype);
    if (es == 0) es = 8; /* bogus dtypes in error tests: any buffer will do */
    t->origin = -lo;
    t->buf_bytes = (size_t)(hi - lo + 1) * es;
    t->buf = malloc(t->buf_bytes);
    assert_non_null(t->buf);
    /* NaN everywhere, so that reading a gap poisons the result */
    int64_t total = hi - lo + 1;
    for (int64_t i = 0; i < total; ++i) store1(t->buf, i, dtype, NAN);

    t->view.data = t->buf + (size_t)t->origin * es;
    t->view.dtype = dtype;
    t->view.ndim = ndim;
    t->view.shape = t->shape;
    t->view.strides = (layout == TU_CNULL) ? NULL : t->strides;
    return t;
}

tu_tensor *tu_from(const double *vals, int ndim, const int64_t *shape, int32_t dtype, int layout)
{
    tu_tensor *t = tu_new(ndim, shape, dtype, layout);
    tu_set(t, vals);
    return t;
}

void tu_free(tu_tensor *t)
{
    if (!t) return;
    free(t->buf);
    free(t);
}

int64_t tu_offset(const tu_tensor *t, int64_t linear)
{
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; --d) {
        int64_t i = linear % t->shape[d];
        linear /= t->shape[d];
        off += i * t->strides[d];
    }
    return off;
}

void tu_set(tu_tensor *t, const double *vals)
{
    for (int64_t i = 0; i < t->count; ++i)
        store1(t->buf, t->origin + tu_offset(t, i), t->dtype, vals[i]);
}

void tu_get(const tu_tensor *t, double *vals)
{
    for (int64_t i = 0; i < t->count; ++i)
        vals[i] = load1(t->buf, t->origin + tu_offset(t, i), t->dtype);
}

double *tu_get_alloc(const tu_tensor *t)
{
    double *v = malloc((size_t)t->count * sizeof *v);
    assert_non_null(v);
    tu_get(t, v);
    return v;
}

void tu_fill_sentinel(tu_tensor *t) { memset(t->buf, TU_SENTINEL_BYTE, t->buf_bytes); }

int tu_untouched(const tu_tensor *t)
{
    for (size_t i = 0; i < t->buf_bytes; ++i)
        if (t->buf[i] != TU_SENTINEL_BYTE) return 0;
    return 1;
}

int tu_gaps_untouched(const tu_tensor *t)
{
    size_t es = tu_dtype_bytes(t->dtype);
    unsigned char *mask = calloc(t->buf_bytes, 1);
    assert_non_null(mask);
    for (int64_t i = 0; i < t->count; ++i) {
        size_t at = (size_t)(t->origin + tu_offset(t, i)) * es;
        memset(mask + at, 1, es);
    }
    int ok = 1;
    for (size_t i = 0; i < t->buf_bytes; ++i)
        if (!mask[i] && t->buf[i] != TU_SENTINEL_BYTE) {
            ok = 0;
            break;
        }
    free(mask);
    return ok;
}

void tu_broadcast_fill(double *vals, int ndim, const int64_t *shape, int axis)
{
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= shape[d];
    for (int d = axis + 1; d < ndim; ++d) inner *= shape[d];
    int64_t ext = shape[axis];
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t a = 1; a < ext; ++a)
            memcpy(vals + (o * ext + a) * inner, vals + (o * ext) * inner,
                   (size_t)inner * sizeof *vals);
}

void tu_transpose_last2(const double *in, int64_t batch, int64_t n, double *out)
{
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) out[(b * n + i) * n + j] = in[(b * n + j) * n + i];
}

/* ------------------------------------------------------------------------ */
/* Assertions                                                                */
/* ------------------------------------------------------------------------ */

double tu_max_abs_diff(const double *a, const double *b, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN sticks */
    }
    return m;
}

void tu_assert_close_impl(const double *got, const double *want, int64_t n, double tol,
                          const char *what, const char *file, int line)
{
    int64_t worst = -1;
    double wd = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        double d = fabs(got[i] - want[i]);
        if (!(d <= tol) && (worst < 0 || !(d <= wd))) {
            worst = i;
            wd = d;
            if (isnan(d)) break;
        }
    }
    if (worst >= 0) {
        print_error("%s:%d: %s: element %lld is %.17g, expected %.17g (|diff| %.3g > tol %.3g; "
                    "max |diff| %.3g over %lld elements)\n",
                    file, line, what, (long long)worst, got[worst], want[worst], wd, tol,
                    tu_max_abs_diff(got, want, n), (long long)n);
        _fail(file, line);
    }
}

void tu_assert_equal_impl(const double *got, const double *want, int64_t n, const char *what,
                          const char *file, int line)
{
    for (int64_t i = 0; i < n; ++i) {
        if (!(got[i] == want[i])) {
            print_error("%s:%d: %s: element %lld is %.17g, expected exactly %.17g "
                        "(max |diff| %.3g)\n",
                        file, line, what, (long long)i, got[i], want[i],
                        tu_max_abs_diff(got, want, n));
            _fail(file, line);
        }
    }
}

void tu_assert_status_impl(int32_t got, int32_t want, const char *call, const char *file,
                           int line)
{
    const char *msg = attnroll_last_error();
    if (got != want) {
        print_error("%s:%d: %s returned %d (%s), expected %d (%s); last_error: \"%s\"\n", file,
                    line, call, (int)got, attnroll_status_string(got), (int)want,
                    attnroll_status_string(want), msg ? msg : "(NULL)");
        _fail(file, line);
    }
    if (msg == NULL) {
        print_error("%s:%d: attnroll_last_error() returned NULL after %s\n", file, line, call);
        _fail(file, line);
    } else if (want == ATTNROLL_OK && msg[0] != '\0') {
        print_error("%s:%d: %s succeeded but last_error is \"%s\" (expected \"\")\n", file, line,
                    call, msg);
        _fail(file, line);
    } else if (want != ATTNROLL_OK && msg[0] == '\0') {
        print_error("%s:%d: %s failed as expected but last_error is empty\n", file, line, call);
        _fail(file, line);
    }
}

static int contains_ci(const char *hay, const char *needle, size_t len)
{
    for (; *hay; ++hay) {
        size_t i = 0;
        while (i < len && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            ++i;
        if (i == len) return 1;
    }
    return 0;
}

int tu_message_matches(const char *msg, const char *needle)
{
    if (needle[0] != '~') return strstr(msg, needle) != NULL;
    const char *p = needle + 1;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (contains_ci(msg, p, len)) return 1;
        if (!bar) return 0;
        p = bar + 1;
    }
}

void tu_assert_failure_impl(int32_t got, int32_t want, const char *needle, const char *call,
                            const char *file, int line)
{
    tu_assert_status_impl(got, want, call, file, line);
    const char *msg = attnroll_last_error();
    if (needle && !tu_message_matches(msg, needle)) {
        print_error("%s:%d: %s: last_error \"%s\" does not mention \"%s\"\n", file, line, call, msg,
                    needle);
        _fail(file, line);
    }
}

void tu_assert_row_sums_impl(const double *m, int64_t rows, int64_t cols, double tol,
                             const char *file, int line)
{
    for (int64_t i = 0; i < rows; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) s += m[i * cols + j];
        if (!(fabs(s - 1.0) <= tol)) {
            print_error("%s:%d: row %lld sums to %.17g, expected 1 (tol %.3g)\n", file, line,
                        (long long)i, s, tol);
            _fail(file, line);
        }
    }
}

attnroll_config *tu_config(int64_t begin, int64_t end, double residual, const int64_t *rows,
                           int64_t k, int64_t threads)
{
    attnroll_config *c = NULL;
    TU_ASSERT_OK(attnroll_config_create(&c));
    assert_non_null(c);
    if (begin != TU_DEF) TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_BEGIN, begin));
    if (end != TU_DEF) TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_LAYER_END, end));
    if (threads != TU_DEF) TU_ASSERT_OK(attnroll_config_set_int(c, ATTNROLL_OPT_THREADS, threads));
    if (residual >= 0.0)
        TU_ASSERT_OK(attnroll_config_set_float(c, ATTNROLL_OPT_RESIDUAL, residual));
    if (k > 0) TU_ASSERT_OK(attnroll_config_set_ints(c, ATTNROLL_OPT_QUERY_ROWS, rows, k));
    return c;
}

/* ------------------------------------------------------------------------ */
/* Running the library on plain double arrays                                */
/* ------------------------------------------------------------------------ */

static int32_t finish_run(int32_t st, tu_tensor *out, double *result, const char *what)
{
    if (st == ATTNROLL_OK) {
        tu_get(out, result);
        if (!tu_gaps_untouched(out)) {
            print_error("%s wrote outside its output view (layout gaps)\n", what);
            _fail(__FILE__, __LINE__);
        }
    } else if (!tu_untouched(out)) {
        print_error("%s failed with %s but wrote to its output\n", what,
                    attnroll_status_string(st));
        _fail(__FILE__, __LINE__);
    }
    return st;
}

int32_t tu_run_spatial(const double *const *layers, int32_t num_layers, int ndim,
                       const int64_t *shape, int32_t in_dtype, int in_layout,
                       const attnroll_config *cfg, int out_ndim, const int64_t *out_shape,
                       int32_t out_dtype, int out_layout, double *result)
{
    tu_tensor **tt = calloc((size_t)num_layers, sizeof *tt);
    attnroll_tensor *views = calloc((size_t)num_layers, sizeof *views);
    assert_non_null(tt);
    assert_non_null(views);
    for (int32_t l = 0; l < num_layers; ++l) {
        tt[l] = tu_from(layers[l], ndim, shape, in_dtype, in_layout);
        views[l] = tt[l]->view;
    }
    tu_tensor *out = tu_new(out_ndim, out_shape, out_dtype, out_layout);
    tu_fill_sentinel(out);
    int32_t st = attnroll_spatial(views, num_layers, cfg, &out->view);
    finish_run(st, out, result, "attnroll_spatial");
    tu_free(out);
    for (int32_t l = 0; l < num_layers; ++l) tu_free(tt[l]);
    free(tt);
    free(views);
    return st;
}

int32_t tu_run_temporal(const double *const *layers, int32_t num_layers, const int *ndims,
                        const int64_t *const *shapes, int32_t in_dtype, int in_layout,
                        int64_t instance, const attnroll_config *cfg, int out_ndim,
                        const int64_t *out_shape, int32_t out_dtype, int out_layout,
                        double *result)
{
    tu_tensor **tt = calloc((size_t)num_layers, sizeof *tt);
    attnroll_tensor *views = calloc((size_t)num_layers, sizeof *views);
    assert_non_null(tt);
    assert_non_null(views);
    for (int32_t l = 0; l < num_layers; ++l) {
        tt[l] = tu_from(layers[l], ndims[l], shapes[l], in_dtype, in_layout);
        views[l] = tt[l]->view;
    }
    tu_tensor *out = tu_new(out_ndim, out_shape, out_dtype, out_layout);
    tu_fill_sentinel(out);
    int32_t st = attnroll_temporal(views, num_layers, instance, cfg, &out->view);
    finish_run(st, out, result, "attnroll_temporal");
    tu_free(out);
    for (int32_t l = 0; l < num_layers; ++l) tu_free(tt[l]);
    free(tt);
    free(views);
    return st;
}
