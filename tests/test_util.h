/*
 * Helpers shared by the attnroll cmocka tests.  Plain C99, public header only.
 *
 * - a deterministic RNG and "peaky" random attention (softmax rows);
 * - owned strided tensors (tu_tensor) in every dtype and several layouts, with
 *   logical values set from / read into plain C-ordered double arrays;
 * - float -> half / bfloat16 conversion (and the exact decode back), so that a
 *   test can hand the reference the exact values the library reads;
 * - comparisons that report the first mismatch, status checks that print
 *   attnroll_last_error(), and an output sentinel.
 *
 * Include <cmocka.h> (with its prerequisites) before this header.
 */
#ifndef ATTNROLL_TEST_UTIL_H
#define ATTNROLL_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "attnroll.h"

/* ------------------------------------------------------------------------ */
/* RNG                                                                       */
/* ------------------------------------------------------------------------ */

typedef struct tu_rng {
    uint64_t state;
} tu_rng;

void tu_rng_seed(tu_rng *rng, uint64_t seed);
uint64_t tu_rng_next(tu_rng *rng);
/* uniform in [0, 1) */
double tu_uniform(tu_rng *rng);
/* standard normal */
double tu_normal(tu_rng *rng);
/* integer in [lo, hi] */
int64_t tu_randint(tu_rng *rng, int64_t lo, int64_t hi);

/* Fills num_rows rows of length n (contiguous) with softmax(scale * z), z
 * standard normal: rows sum to 1 and are peaky for scale ~3-6. */
void tu_peaky_rows(tu_rng *rng, double *dst, int64_t num_rows, int64_t n, double scale);

/* Convenience: allocates and fills a C-ordered [.., N] attention array of
 * `count` elements (count must be a multiple of n). Caller frees. */
double *tu_peaky_alloc(tu_rng *rng, int64_t count, int64_t n, double scale);

/* ------------------------------------------------------------------------ */
/* dtype conversion                                                          */
/* ------------------------------------------------------------------------ */

uint16_t tu_float_to_half(float f);  /* round to nearest even */
double tu_half_to_double(uint16_t h); /* exact */
uint16_t tu_float_to_bf16(float f);  /* round to nearest even */
double tu_bf16_to_double(uint16_t b); /* exact */

/* Rounds every value to the nearest value representable in dtype (what the
 * library will read once the values are stored in that dtype). */
void tu_quantize(double *vals, int64_t n, int32_t dtype);

/* bytes per element of a dtype (the test's own table, not the library's) */
size_t tu_dtype_bytes(int32_t dtype);

/* ------------------------------------------------------------------------ */
/* Owned strided tensors                                                     */
/* ------------------------------------------------------------------------ */

enum tu_layout {
    TU_CNULL = 0,       /* C-contiguous, strides pointer NULL                  */
    TU_C,               /* C-contiguous, explicit strides                      */
    TU_FORTRAN,         /* column-major (Julia): axis 0 has stride 1            */
    TU_TRANSPOSED,      /* stored with the last two axes swapped               */
    TU_NEGATIVE,        /* every stride negative (fully reversed storage)      */
    TU_SLICED,          /* every other element of a 2x larger array in each axis */
    TU_BCAST0,          /* zero stride on axis 0                               */
    TU_BCAST1,          /* zero stride on axis 1                               */
    TU_HEADS_LAST,      /* axis ndim-3 stored innermost (channels-last)         */
    TU_TRANSPOSED_NEG,  /* last two axes swapped and all strides negative      */
    TU_NUM_LAYOUTS
};

const char *tu_layout_name(int layout);

typedef struct tu_tensor {
    attnroll_tensor view; /* pass &t->view to the library */
    int64_t shape[ATTNROLL_MAX_NDIM];
    int64_t strides[ATTNROLL_MAX_NDIM];
    unsigned char *buf;   /* owned allocation                               */
    size_t buf_bytes;
    int64_t origin;       /* element offset of view.data inside buf          */
    int64_t count;        /* logical element count                          */
    int32_t dtype;
    int ndim;
} tu_tensor;

/* New tensor of the given logical shape, dtype and layout.  The allocation is
 * filled with NaN of that dtype (so a library reading gaps gets NaN). */
tu_tensor *tu_new(int ndim, const int64_t *shape, int32_t dtype, int layout);
/* tu_new + tu_set */
tu_tensor *tu_from(const double *vals, int ndim, const int64_t *shape, int32_t dtype,
                   int layout);
void tu_free(tu_tensor *t);
/* Element offset (relative to view.data) of the logical C-order index `linear`. */
int64_t tu_offset(const tu_tensor *t, int64_t linear);
/* Stores logical values (C order) in the tensor's dtype (rounding). */
void tu_set(tu_tensor *t, const double *vals);
/* Reads logical values (C order), decoded exactly. */
void tu_get(const tu_tensor *t, double *vals);
/* Convenience: malloc'd tu_get. */
double *tu_get_alloc(const tu_tensor *t);

/* Fills the whole allocation (view and gaps) with the sentinel byte. */
void tu_fill_sentinel(tu_tensor *t);
/* 1 if every byte of the allocation still holds the sentinel. */
int tu_untouched(const tu_tensor *t);
/* 1 if every byte NOT belonging to a logical element holds the sentinel. */
int tu_gaps_untouched(const tu_tensor *t);

/* Copies slice 0 along `axis` of a C-ordered array to every other index of
 * that axis (so the values suit a zero-stride view on that axis). */
void tu_broadcast_fill(double *vals, int ndim, const int64_t *shape, int axis);

/* out[..., i, j] = in[..., j, i] for `batch` square n x n matrices. */
void tu_transpose_last2(const double *in, int64_t batch, int64_t n, double *out);

int64_t tu_numel(int ndim, const int64_t *shape);

/* A tensor view of caller-owned memory; `strides` (in elements) may be NULL
 * for C order.  Nothing is copied: data, shape and strides must outlive it. */
attnroll_tensor tu_view(void *data, int32_t dtype, int ndim, const int64_t *shape,
                        const int64_t *strides);

/* ------------------------------------------------------------------------ */
/* Assertions                                                                */
/* ------------------------------------------------------------------------ */

double tu_max_abs_diff(const double *a, const double *b, int64_t n);

void tu_assert_close_impl(const double *got, const double *want, int64_t n, double tol,
                          const char *what, const char *file, int line);
void tu_assert_equal_impl(const double *got, const double *want, int64_t n,
                          const char *what, const char *file, int line);
void tu_assert_status_impl(int32_t got, int32_t want, const char *call, const char *file,
                           int line);
void tu_assert_failure_impl(int32_t got, int32_t want, const char *needle, const char *call,
                            const char *file, int line);
void tu_assert_row_sums_impl(const double *m, int64_t rows, int64_t cols, double tol,
                             const char *file, int line);

/* |got - want| <= tol elementwise (NaN fails). */
#define TU_ASSERT_CLOSE(got, want, n, tol) \
    tu_assert_close_impl((got), (want), (n), (tol), #got, __FILE__, __LINE__)
/* got == want elementwise, exactly. */
#define TU_ASSERT_EQUAL(got, want, n) \
    tu_assert_equal_impl((got), (want), (n), #got, __FILE__, __LINE__)
/* call returns ATTNROLL_OK (prints status name and last_error otherwise) and
 * last_error is then "". */
#define TU_ASSERT_OK(call) \
    tu_assert_status_impl((call), ATTNROLL_OK, #call, __FILE__, __LINE__)
#define TU_ASSERT_STATUS(call, want) \
    tu_assert_status_impl((call), (want), #call, __FILE__, __LINE__)
/* 1 if msg contains needle; a needle starting with '~' is a case-insensitive
 * list of alternatives separated by '|' ("~begin|end"). */
int tu_message_matches(const char *msg, const char *needle);

/* call returns `want` (non-zero) and attnroll_last_error() matches needle
 * (see tu_message_matches; needle NULL: only non-empty). */
#define TU_ASSERT_FAILS(call, want, needle) \
    tu_assert_failure_impl((call), (want), (needle), #call, __FILE__, __LINE__)
/* every row of a rows x cols matrix sums to 1 within tol */
#define TU_ASSERT_ROW_SUMS_ONE(m, rows, cols, tol) \
    tu_assert_row_sums_impl((m), (rows), (cols), (tol), __FILE__, __LINE__)
#define TU_ASSERT_UNTOUCHED(t)                                                         \
    do {                                                                               \
        if (!tu_untouched(t)) {                                                        \
            print_error("%s:%d: output was written by a failing call\n", __FILE__,     \
                        __LINE__);                                                     \
            _fail(__FILE__, __LINE__);                                                 \
        }                                                                              \
    } while (0)

/* A config with the given options (asserts every set succeeds).  TU_DEF for
 * begin / end / threads leaves them at the default; residual < 0 likewise;
 * rows NULL with k 0 leaves the query rows empty. */
#define TU_DEF INT64_MIN
attnroll_config *tu_config(int64_t begin, int64_t end, double residual, const int64_t *rows,
                           int64_t k, int64_t threads);

/* ------------------------------------------------------------------------ */
/* Running the library on plain double arrays                                */
/* ------------------------------------------------------------------------ */

/* Runs attnroll_spatial on num_layers layers given as C-ordered doubles (all of
 * rank ndim / shape), stored as in_dtype with in_layout (values are rounded to
 * in_dtype: quantize them first if the reference must see the same numbers).
 * The output is out_ndim/out_shape, out_dtype, out_layout, filled with the
 * sentinel first.  On success the result is read into `result` (C order) and
 * the output's gaps are checked untouched; on failure the whole output is
 * checked untouched.  Returns the status. */
int32_t tu_run_spatial(const double *const *layers, int32_t num_layers, int ndim,
                       const int64_t *shape, int32_t in_dtype, int in_layout,
                       const attnroll_config *cfg, int out_ndim, const int64_t *out_shape,
                       int32_t out_dtype, int out_layout, double *result);

/* Same for attnroll_temporal; layer l has rank ndims[l] and shape shapes[l]. */
int32_t tu_run_temporal(const double *const *layers, int32_t num_layers, const int *ndims,
                        const int64_t *const *shapes, int32_t in_dtype, int in_layout,
                        int64_t instance, const attnroll_config *cfg, int out_ndim,
                        const int64_t *out_shape, int32_t out_dtype, int out_layout,
                        double *result);

#endif /* ATTNROLL_TEST_UTIL_H */
