/* Plain-loop double-precision reference; see reference.h. */
#include "reference.h"

#include <stdlib.h>
#include <string.h>

static double *xalloc(int64_t n)
{
    double *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) abort();
    return p;
}

void ref_matmul(const double *a, const double *b, int64_t m, int64_t k, int64_t n, double *c)
{
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0.0;
            for (int64_t p = 0; p < k; ++p) s += a[i * k + p] * b[p * n + j];
            c[i * n + j] = s;
        }
}

void ref_normalize_rows(double *m, int64_t rows, int64_t cols)
{
    for (int64_t i = 0; i < rows; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) s += m[i * cols + j];
        if (s == 0.0) s = 1.0;
        for (int64_t j = 0; j < cols; ++j) m[i * cols + j] /= s;
    }
}

void ref_fuse(const double *a, int64_t heads, int64_t n, double r, double *abar)
{
    for (int64_t e = 0; e < n * n; ++e) {
        double s = 0.0;
        for (int64_t h = 0; h < heads; ++h) s += a[h * n * n + e];
        abar[e] = s / (double)heads;
    }
    for (int64_t i = 0; i < n; ++i) abar[i * n + i] += r;
    ref_normalize_rows(abar, n, n);
}

void ref_chain(const double *const *mats, int64_t begin, int64_t end, int64_t n,
               const int64_t *rows, int64_t k, double *out)
{
    double *r = xalloc(n * n);
    double *tmp = xalloc(n * n);
    memset(r, 0, (size_t)(n * n) * sizeof *r);
    for (int64_t i = 0; i < n; ++i) r[i * n + i] = 1.0;
    for (int64_t l = begin; l < end; ++l) {
        ref_matmul(mats[l], r, n, n, n, tmp); /* R = Abar_l @ R */
        memcpy(r, tmp, (size_t)(n * n) * sizeof *r);
    }
    if (rows) {
        for (int64_t q = 0; q < k; ++q)
            memcpy(out + q * n, r + rows[q] * n, (size_t)n * sizeof *r);
    } else {
        memcpy(out, r, (size_t)(n * n) * sizeof *r);
    }
    free(r);
    free(tmp);
}

void ref_spatial(const double *const *layers, const int64_t *heads, int64_t num_layers,
                 int64_t frames, int64_t n, int64_t begin, int64_t end, double r,
                 const int64_t *rows, int64_t k, double *out)
{
    double **fused = malloc((size_t)num_layers * sizeof *fused);
    if (!fused) abort();
    for (int64_t l = 0; l < num_layers; ++l) fused[l] = xalloc(n * n);
    int64_t out_rows = rows ? k : n;
    for (int64_t f = 0; f < frames; ++f) {
        for (int64_t l = begin; l < end; ++l)
            ref_fuse(layers[l] + f * heads[l] * n * n, heads[l], n, r, fused[l]);
        ref_chain((const double *const *)fused, begin, end, n, rows, k, out + f * out_rows * n);
    }
    for (int64_t l = 0; l < num_layers; ++l) free(fused[l]);
    free(fused);
}

void ref_select_shape(int ndim, const int64_t *shape, int64_t id, int64_t *rows, int64_t *cols)
{
    *rows = shape[ndim - 2];
    *cols = shape[ndim - 1];
    if (ndim == 3 && shape[1] == shape[2] && !(shape[0] > id) && shape[1] > id)
        *rows = shape[0]; /* A[:, id, :] is [shape0, shape2] */
}

void ref_select(const double *a, int ndim, const int64_t *shape, int64_t id, double *out)
{
    int64_t rows, cols;
    ref_select_shape(ndim, shape, id, &rows, &cols);
    if (ndim == 2) {
        memcpy(out, a, (size_t)(rows * cols) * sizeof *a);
        return;
    }
    if (ndim == 3) {
        int64_t s0 = shape[0], s1 = shape[1], s2 = shape[2];
        if (s1 == s2) {
            if (s0 > id) {
                memcpy(out, a + id * s1 * s2, (size_t)(s1 * s2) * sizeof *a);
            } else if (s1 > id) {
                for (int64_t i = 0; i < s0; ++i)
                    for (int64_t j = 0; j < s2; ++j) out[i * s2 + j] = a[(i * s1 + id) * s2 + j];
            } else {
                memcpy(out, a, (size_t)(s1 * s2) * sizeof *a);
            }
        } else {
            memcpy(out, a, (size_t)(s1 * s2) * sizeof *a); /* A[0] */
        }
        return;
    }
    /* rank >= 4: leading axes 0 .. ndim-3 */
    int lead = ndim - 2;
    int axis = -1;
    for (int d = 0; d < lead; ++d)
        if (shape[d] > id) {
            axis = d;
            break;
        }
    int64_t mat = rows * cols;
    if (axis < 0) { /* the first [T,T] slice: every leading index 0 */
        memcpy(out, a, (size_t)mat * sizeof *a);
        return;
    }
    /* index axis with id and average every other leading axis */
    int64_t nlead = 1;
    for (int d = 0; d < lead; ++d) nlead *= shape[d];
    int64_t count = 0;
    for (int64_t e = 0; e < mat; ++e) out[e] = 0.0;
    for (int64_t li = 0; li < nlead; ++li) {
        /* unravel li over the leading axes (C order) */
        int64_t rem = li, idx_axis = 0;
        for (int d = lead - 1; d >= 0; --d) {
            int64_t i = rem % shape[d];
            rem /= shape[d];
            if (d == axis) idx_axis = i;
        }
        if (idx_axis != id) continue;
        for (int64_t e = 0; e < mat; ++e) out[e] += a[li * mat + e];
        ++count;
    }
    for (int64_t e = 0; e < mat; ++e) out[e] /= (double)count;
}

int64_t ref_temporal(const double *const *layers, const int *ndims, const int64_t *const *shapes,
                     int64_t begin, int64_t end, int64_t id, double r, const int64_t *rows,
                     int64_t k, double *out)
{
    int64_t t = -1;
    for (int64_t l = begin; l < end; ++l) {
        int64_t sr, sc;
        ref_select_shape(ndims[l], shapes[l], id, &sr, &sc);
        if (sr != sc) return -1;
        if (t >= 0 && sr != t) return -1;
        t = sr;
    }
    double **mats = calloc((size_t)end, sizeof *mats);
    if (!mats) abort();
    for (int64_t l = begin; l < end; ++l) {
        mats[l] = xalloc(t * t);
        ref_select(layers[l], ndims[l], shapes[l], id, mats[l]);
        for (int64_t i = 0; i < t; ++i) mats[l][i * t + i] += r;
        ref_normalize_rows(mats[l], t, t);
    }
    ref_chain((const double *const *)mats, begin, end, t, rows, k, out);
    for (int64_t l = begin; l < end; ++l) free(mats[l]);
    free(mats);
    return t;
}

void ref_minmax_rows(const double *in, int64_t rows, int64_t cols, double *out)
{
    for (int64_t i = 0; i < rows; ++i) {
        double mn = in[i * cols], mx = in[i * cols];
        for (int64_t j = 1; j < cols; ++j) {
            if (in[i * cols + j] < mn) mn = in[i * cols + j];
            if (in[i * cols + j] > mx) mx = in[i * cols + j];
        }
        double d = mx - mn;
        if (d == 0.0) d = 1.0;
        for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = (in[i * cols + j] - mn) / d;
    }
}

void ref_column_mean(const double *in, int64_t rows, int64_t cols, double *out)
{
    for (int64_t j = 0; j < cols; ++j) {
        double s = 0.0;
        for (int64_t i = 0; i < rows; ++i) s += in[i * cols + j];
        out[j] = s / (double)rows;
    }
}

void ref_minmax(const double *in, int64_t n, double *out)
{
    double mn = in[0], mx = in[0];
    for (int64_t i = 1; i < n; ++i) {
        if (in[i] < mn) mn = in[i];
        if (in[i] > mx) mx = in[i];
    }
    double d = mx - mn;
    if (d == 0.0) d = 1.0;
    for (int64_t i = 0; i < n; ++i) out[i] = (in[i] - mn) / d;
}

/* ---- the method pipeline ---- */

#include <math.h>

#include "attnroll.h"

ref_method ref_method_default(void)
{
    static const int64_t cls[1] = {0};
    ref_method m;
    memset(&m, 0, sizeof m);
    m.fusion = ATTNROLL_FUSE_MEAN;
    m.protect = cls;
    m.num_protect = 1;
    m.rule = ATTNROLL_RULE_ROLLOUT;
    m.residual = 1.0;
    return m;
}

/* An entry of the discard order: by value, NaN above everything, then index. */
typedef struct ref_entry {
    double value;
    int64_t index;
} ref_entry;

static int ref_entry_cmp(const void *pa, const void *pb)
{
    const ref_entry *a = pa, *b = pb;
    int an = isnan(a->value), bn = isnan(b->value);
    if (an != bn) return an ? 1 : -1;
    if (!an && a->value != b->value) return a->value < b->value ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

void ref_factor(const double *a, const double *g, int64_t heads, int64_t n, const ref_method *m,
                double *out)
{
    int64_t k = m->drop, np = n - k;
    double *maps = xalloc(heads * np * np);
    /* 1. drop k tokens, re-normalise rows if k > 0 */
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < np; ++i)
            for (int64_t j = 0; j < np; ++j)
                maps[(h * np + i) * np + j] = a[(h * n + i + k) * n + j + k];
        if (k > 0) ref_normalize_rows(maps + h * np * np, np, np);
    }
    /* 2. head fusion */
    double *w = xalloc(heads);
    if (m->fusion == ATTNROLL_FUSE_ENTROPY) {
        double *p = xalloc(np * np), top = -INFINITY, sum = 0.0;
        for (int64_t h = 0; h < heads; ++h) {
            memcpy(p, maps + h * np * np, (size_t)(np * np) * sizeof *p);
            ref_normalize_rows(p, np, np);
            double e = 0.0;
            for (int64_t i = 0; i < np; ++i) {
                double row = 0.0;
                for (int64_t j = 0; j < np; ++j) row -= p[i * np + j] * log(p[i * np + j] + 1e-10);
                e += row;
            }
            w[h] = -e / (double)np;
            if (w[h] > top) top = w[h];
        }
        for (int64_t h = 0; h < heads; ++h) sum += (w[h] = exp(w[h] - top));
        for (int64_t h = 0; h < heads; ++h) w[h] /= sum;
        free(p);
    }
    for (int64_t e = 0; e < np * np; ++e) {
        double acc = 0.0;
        for (int64_t h = 0; h < heads; ++h) {
            double x = maps[h * np * np + e];
            switch (m->fusion) {
            case ATTNROLL_FUSE_MAX: acc = (h == 0 || x > acc || isnan(x)) ? x : acc; break;
            case ATTNROLL_FUSE_MIN: acc = (h == 0 || x < acc || isnan(x)) ? x : acc; break;
            case ATTNROLL_FUSE_ENTROPY: acc += w[h] * x; break;
            case ATTNROLL_FUSE_WEIGHTS: acc += m->weights[h] * x; break;
            case ATTNROLL_FUSE_GRAD: {
                int64_t i = e / np, j = e % np;
                double v = x * g[(h * n + i + k) * n + j + k];
                acc += (v > 0.0 || isnan(v)) ? v : 0.0;
                break;
            }
            default: acc += x; break;
            }
        }
        if (m->fusion == ATTNROLL_FUSE_MEAN || m->fusion == ATTNROLL_FUSE_GRAD) acc /= (double)heads;
        out[e] = acc;
    }
    /* 3. discard: sort the unprotected entries, zero the first floor(p*M) */
    if (m->discard > 0.0) {
        ref_entry *list = malloc((size_t)(np * np) * sizeof *list);
        if (!list) abort();
        int64_t count = 0;
        for (int64_t i = 0; i < np; ++i)
            for (int64_t j = 0; j < np; ++j) {
                int prot = 0;
                for (int64_t q = 0; q < m->num_protect; ++q) prot |= m->protect[q] == j;
                if (!prot) {
                    list[count].value = out[i * np + j];
                    list[count].index = i * np + j;
                    ++count;
                }
            }
        qsort(list, (size_t)count, sizeof *list, ref_entry_cmp);
        int64_t drop = (int64_t)floor(m->discard * (double)count);
        for (int64_t q = 0; q < drop; ++q) out[list[q].index] = 0.0;
        free(list);
    }
    /* 4. rule */
    for (int64_t i = 0; i < np; ++i) out[i * np + i] += m->residual;
    if (m->rule == ATTNROLL_RULE_ROLLOUT) ref_normalize_rows(out, np, np);
    free(w);
    free(maps);
}

void ref_spatial_method(const double *const *layers, const double *const *grads, int64_t heads,
                        int64_t num_layers, int64_t frames, int64_t n, int64_t begin, int64_t end,
                        const ref_method *m, const int64_t *rows, int64_t k, double *out)
{
    int64_t np = n - m->drop, out_rows = rows ? k : np;
    double **fused = malloc((size_t)num_layers * sizeof *fused);
    if (!fused) abort();
    for (int64_t l = 0; l < num_layers; ++l) fused[l] = xalloc(np * np);
    for (int64_t f = 0; f < frames; ++f) {
        for (int64_t l = begin; l < end; ++l)
            ref_factor(layers[l] + f * heads * n * n, grads ? grads[l] + f * heads * n * n : NULL,
                       heads, n, m, fused[l]);
        if (!m->cumulative) {
            ref_chain((const double *const *)fused, begin, end, np, rows, k, out + f * out_rows * np);
            continue;
        }
        for (int64_t l = begin; l < end; ++l)
            ref_chain((const double *const *)fused, begin, l + 1, np, rows, k,
                      out + ((l - begin) * frames + f) * out_rows * np);
    }
    for (int64_t l = 0; l < num_layers; ++l) free(fused[l]);
    free(fused);
}
