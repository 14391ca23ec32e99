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
