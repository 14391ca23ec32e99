/*
 * An independent double-precision reference for attnroll, written plainly from
 * spec/ROLLOUT_SPEC.md, DESIGN.md and the comments in attnroll.h with loops
 * (no BLAS, no library calls).  Every array is a contiguous, C-ordered array
 * of doubles.
 */
#ifndef ATTNROLL_TEST_REFERENCE_H
#define ATTNROLL_TEST_REFERENCE_H

#include <stdint.h>

/* c[m,n] = a[m,k] @ b[k,n] */
void ref_matmul(const double *a, const double *b, int64_t m, int64_t k, int64_t n, double *c);

/* Row normalisation of the spec: each row divided by its sum, a zero sum
 * divides by 1.  In place on a rows x cols matrix. */
void ref_normalize_rows(double *m, int64_t rows, int64_t cols);

/* abar[N,N] = normalize_rows(mean over the `heads` leading matrices of
 * a[heads,N,N] + r*I). */
void ref_fuse(const double *a, int64_t heads, int64_t n, double r, double *abar);

/* R = mats[end-1] @ ... @ mats[begin] (each n x n), starting from R = I and
 * applying R = mats[i] @ R for i = begin .. end-1; no final normalisation.
 * out gets rows rows[0..k) of R (k x n), or the whole R (n x n) if rows is NULL. */
void ref_chain(const double *const *mats, int64_t begin, int64_t end, int64_t n,
               const int64_t *rows, int64_t k, double *out);

/* Spatial rollout.  layers[l] is [frames, heads[l], n, n]; out is
 * [frames, k or n, n].  heads may differ per layer (stream tests). */
void ref_spatial(const double *const *layers, const int64_t *heads, int64_t num_layers,
                 int64_t frames, int64_t n, int64_t begin, int64_t end, double r,
                 const int64_t *rows, int64_t k, double *out);

/* Shape of what instance selection picks from an array of rank ndim (2..16). */
void ref_select_shape(int ndim, const int64_t *shape, int64_t id, int64_t *rows, int64_t *cols);

/* Instance selection exactly per attnroll.h / DESIGN.md; out is rows x cols as
 * given by ref_select_shape. */
void ref_select(const double *a, int ndim, const int64_t *shape, int64_t id, double *out);

/* Temporal rollout of generic-rank layers.  Returns T (>0) or -1 if a layer in
 * [begin,end) does not select to a square matrix or T differs between layers.
 * out is [k or T, T]. */
int64_t ref_temporal(const double *const *layers, const int *ndims, const int64_t *const *shapes,
                     int64_t begin, int64_t end, int64_t id, double r, const int64_t *rows,
                     int64_t k, double *out);

/* The method pipeline of attnroll.h ("The pipeline"), steps 1-6, written
 * from its text: drop, fusion, discard, rule, product, cumulative. */
typedef struct ref_method {
    int64_t drop;            /* k tokens dropped (rows re-normalised)          */
    int fusion;              /* an ATTNROLL_FUSE_* value                        */
    const double *weights;   /* WEIGHTS: one per head                           */
    double discard;          /* ratio p                                         */
    const int64_t *protect;  /* protected columns (of the N - k kept)           */
    int64_t num_protect;
    int rule;                /* an ATTNROLL_RULE_* value                        */
    double residual;         /* r                                               */
    int cumulative;          /* 1: out is [L', frames, rows, N - k]             */
} ref_method;

/* The defaults: mean fusion, rollout rule, r = 1, protect {0}. */
ref_method ref_method_default(void);

/* One layer's factor M [n-k, n-k] for one frame: a [heads,n,n]; g the
 * gradient [heads,n,n] (GRAD) or NULL. */
void ref_factor(const double *a, const double *g, int64_t heads, int64_t n, const ref_method *m,
                double *out);

/* Spatial rollout through the pipeline: layers[l] (and grads[l] when not
 * NULL) [frames, heads, n, n]; out [frames, k or n', n'], or with
 * m->cumulative [end-begin, frames, k or n', n'], n' = n - m->drop.  With
 * query rows the partial products' rows are taken from full products. */
void ref_spatial_method(const double *const *layers, const double *const *grads, int64_t heads,
                        int64_t num_layers, int64_t frames, int64_t n, int64_t begin, int64_t end,
                        const ref_method *m, const int64_t *rows, int64_t k, double *out);

/* Post-processing (constant row / array -> zeros). */
void ref_minmax_rows(const double *in, int64_t rows, int64_t cols, double *out);
void ref_column_mean(const double *in, int64_t rows, int64_t cols, double *out);
void ref_minmax(const double *in, int64_t n, double *out);

#endif /* ATTNROLL_TEST_REFERENCE_H */
