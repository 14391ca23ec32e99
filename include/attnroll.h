/*
 * attnroll -- attention rollout for vision and video transformers.
 *
 * This header is the whole public interface and its reference manual.
 * It is C99 and compiles unchanged as C++.
 *
 * Conventions used throughout
 * ---------------------------
 * - Every fallible function returns an int32_t status: ATTNROLL_OK (0) on
 *   success, one of the ATTNROLL_E_* values otherwise.  Status values are
 *   fixed forever and never reused.
 * - On failure, attnroll_last_error() gives a message for the calling thread
 *   that names the argument and the value that was wrong.  Every fallible
 *   function clears that message on entry, so after a success it is "".
 *   Check the status, not the message.
 * - Nothing is written to an output unless the call returns ATTNROLL_OK:
 *   every argument is validated before any output is touched.
 * - Inputs are borrowed for the duration of the call and only read.  Callers
 *   allocate every output.  The library never aborts, never prints, and never
 *   lets a C++ exception cross this interface.
 * - Threads: every function may be called from many threads at once on
 *   different objects.  One attnroll_config or attnroll_stream must not be
 *   used by two threads at the same time (a config may be read -- passed to a
 *   computing function or a getter -- by many threads at once as long as
 *   nobody modifies it).
 *
 * Parallelism and BLAS
 * --------------------
 * attnroll splits each computation over its own worker threads (see
 * ATTNROLL_OPT_THREADS) and gives every worker an independent share of the
 * matrix products.  So that these workers and OpenBLAS's own thread pool do
 * not oversubscribe the cores, attnroll sets OpenBLAS to one thread
 * (openblas_set_num_threads(1)) while any attnroll computation is running in
 * the process and restores the previous value when the last one returns.
 * The default worker count is the OpenBLAS thread count in force before the
 * first concurrent attnroll call (which honours OPENBLAS_NUM_THREADS), capped
 * at the number of online processors.  To limit attnroll to N cores, set
 * ATTNROLL_OPT_THREADS to N or OPENBLAS_NUM_THREADS=N in the environment.
 * Other BLAS calls made by the application while an attnroll call is running
 * (numpy in another thread, say) run single-threaded during that time.
 */
#ifndef ATTNROLL_H
#define ATTNROLL_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Export macro                                                              */
/* ------------------------------------------------------------------------ */

#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(ATTNROLL_BUILDING_LIBRARY)
#    define ATTNROLL_API __declspec(dllexport)
#  else
#    define ATTNROLL_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define ATTNROLL_API __attribute__((visibility("default")))
#else
#  define ATTNROLL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

#define ATTNROLL_VERSION_MAJOR 1
#define ATTNROLL_VERSION_MINOR 0
#define ATTNROLL_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH */
#define ATTNROLL_VERSION_NUMBER \
    (ATTNROLL_VERSION_MAJOR * 10000 + ATTNROLL_VERSION_MINOR * 100 + ATTNROLL_VERSION_PATCH)
#define ATTNROLL_VERSION_STRING "1.0.0"

/* @return the ATTNROLL_VERSION_NUMBER the library was built with.  Compare it
 * with the macro to detect a header/library mismatch at run time. */
ATTNROLL_API int32_t attnroll_version_number(void);

/* @return the ATTNROLL_VERSION_STRING the library was built with (static
 * storage, never NULL, never to be freed). */
ATTNROLL_API const char *attnroll_version_string(void);

/* ------------------------------------------------------------------------ */
/* Status codes (fixed forever)                                              */
/* ------------------------------------------------------------------------ */

#define ATTNROLL_OK          0 /* success                                         */
#define ATTNROLL_E_ARGUMENT  1 /* a NULL pointer, a count or id out of range,
                                  an unknown or out-of-bounds option            */
#define ATTNROLL_E_SHAPE     2 /* a rank, extent or stride that does not fit:
                                  non-square, layers that disagree, wrong
                                  output shape, extents that overflow          */
#define ATTNROLL_E_DTYPE     3 /* an unknown dtype, or one not allowed there
                                  (outputs are F32 or F64 only)                 */
#define ATTNROLL_E_OVERLAP   4 /* an output overlaps itself or an input         */
#define ATTNROLL_E_MEMORY    5 /* an allocation failed, or working memory
                                  would exceed what is available (a broadcast
                                  input claiming 2^61 elements, say)           */
#define ATTNROLL_E_STATE     6 /* an object is not in a state that allows the
                                  call (e.g. pushing to a finished stream)      */
#define ATTNROLL_E_INTERNAL  7 /* a failure inside the library; please report  */

/* @return a static, constant name for a status ("ATTNROLL_OK",
 * "ATTNROLL_E_SHAPE", ...; "unknown status" for any other value).  Never NULL. */
ATTNROLL_API const char *attnroll_status_string(int32_t status);

/* @return the calling thread's message for its most recent failing call, or ""
 * if its most recent call succeeded (or it made none).  Never NULL.  The text is
 * owned by the library and valid until the calling thread's next attnroll call. */
ATTNROLL_API const char *attnroll_last_error(void);

/* ------------------------------------------------------------------------ */
/* Tensor views                                                              */
/* ------------------------------------------------------------------------ */

/* Element types (fixed forever). */
#define ATTNROLL_F32  1 /* IEEE binary32                                      */
#define ATTNROLL_F64  2 /* IEEE binary64                                      */
#define ATTNROLL_F16  3 /* IEEE binary16 (half); inputs only                  */
#define ATTNROLL_BF16 4 /* bfloat16 (upper half of a binary32); inputs only   */

/* The largest rank a tensor view may have. */
#define ATTNROLL_MAX_NDIM 16

/*
 * A borrowed, strided view of an array; used for every input and output.
 *
 * data     first element (the element at index [0, 0, ...]).  Inputs are only
 *          read.  Must not be NULL.
 * dtype    one of ATTNROLL_F32, _F64, _F16, _BF16.  Outputs must be F32 or F64.
 * ndim     rank, 1..ATTNROLL_MAX_NDIM.
 * shape    ndim extents, each >= 1.  Must not be NULL.
 * strides  ndim strides in ELEMENTS (not bytes), signed.  NULL means
 *          C-contiguous (row-major).  Inputs may use any strides: negative
 *          (reversed views), zero (broadcast), column-major, sliced.  Output
 *          strides may be anything that does not make two indices share an
 *          element (so no zero stride on an extent > 1).
 *
 * Overlap: an output "overlaps" an input when the byte ranges the two views
 * span intersect, even if their elements interleave without sharing one.
 *
 * Alignment: input data need not be aligned to its element size (arrays
 * stored inside .npz files usually are not); outputs must be aligned.  The
 * struct itself is never retained past the call.
 */
typedef struct attnroll_tensor {
    void          *data;
    int32_t        dtype;
    int32_t        ndim;
    const int64_t *shape;
    const int64_t *strides;
} attnroll_tensor;

/* @return the size in bytes of one element of dtype, or 0 if dtype is not
 * one of the ATTNROLL_F* values. */
ATTNROLL_API int32_t attnroll_dtype_size(int32_t dtype);

/* @return ATTNROLL_MAX_NDIM, for bindings that cannot read macros. */
ATTNROLL_API int32_t attnroll_max_ndim(void);

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

/* An opaque set of options.  Create, set, pass to computing functions (which
 * read it during the call and keep no reference), destroy.  A NULL config
 * wherever one is accepted means every option at its default. */
typedef struct attnroll_config attnroll_config;

/* Option keys (fixed forever).  "ints" options hold a list of int64_t. */

/* ints, default empty (= all rows).  Rows of the rollout R to compute, in the
 * order given; repeats allowed.  Each must be >= 0 (checked when set) and
 * < N (checked by the computing function).  The output's row axis then has
 * extent k = count: spatial out [F,k,N] (or [k,N]), temporal out [k,T].
 * With all layers at hand the products run from the last layer backwards,
 * costing O(L*k*N^2) instead of O(L*N^3).  {0} is the CLS row. */
#define ATTNROLL_OPT_QUERY_ROWS  1

/* int, default 0, bounds [0, 2^31-1].  First layer of the range rolled out. */
#define ATTNROLL_OPT_LAYER_BEGIN 2

/* int, default -1 (= the number of layers), bounds [-1, 2^31-1], 0 refused.
 * One past the last layer rolled out.  The computing function checks that
 * begin < end <= num_layers. */
#define ATTNROLL_OPT_LAYER_END   3

/* int, default 0 (= the library default, see "Parallelism and BLAS" above),
 * bounds [0, 1024].  Worker threads a call may use.  Small problems use fewer. */
#define ATTNROLL_OPT_THREADS     4

/* float, default 1.0, bounds [0, 1e6].  Weight r of the identity added to each
 * head-averaged layer before row normalisation: normalize_rows(A + r*I).  The
 * spec's residual connection is r = 1; r = 0 gives plain (raw) attention
 * products. */
#define ATTNROLL_OPT_RESIDUAL    5

/* The options below (6..12) choose the rollout method; "The pipeline" under
 * "Spatial rollout" says where each one acts and which paper it comes from.
 * Options that refer to tokens (QUERY_ROWS, PROTECT) count the tokens that
 * remain after DROP_TOKENS.  A computing function checks each option against
 * the shapes it is given and refuses, naming the option and the value. */

/* int, default 0, bounds [0, 2^31-1].  Tokens k dropped from the front before
 * anything else: the first k rows and columns of every head's map are removed
 * and each remaining row is divided by its sum (a zero sum divides by 1).
 * Outputs then have N' = N - k tokens.  1 drops the CLS token (the users'
 * newest spatial script); 5 drops CLS and 4 registers.  k >= N is
 * ATTNROLL_E_ARGUMENT.  Spatial only (temporal refuses k != 0). */
#define ATTNROLL_OPT_DROP_TOKENS   6

/* int, default ATTNROLL_FUSE_MEAN, bounds [0, 5].  How the heads of a layer
 * are fused into one N'xN' map (ATTNROLL_FUSE_*).  Spatial only (temporal
 * refuses anything but MEAN). */
#define ATTNROLL_OPT_HEAD_FUSION   7

/* floats, default empty.  One weight per head for ATTNROLL_FUSE_WEIGHTS (used
 * as given: not normalised, any sign, any sum).  The list's length must equal
 * the layers' head count H (else ATTNROLL_E_SHAPE naming the layer and H).
 * A non-empty list with another fusion is ATTNROLL_E_ARGUMENT. */
#define ATTNROLL_OPT_HEAD_WEIGHTS  8

/* float, default 0, bounds [0, 1) (1 itself refused).  Discard ratio p: in
 * each frame's fused map, the floor(p*M) smallest of the M entries outside the
 * protected columns are set to zero (vit-explain's "discard_ratio", without
 * its normalisation-axis bug).  Order: by value, NaN above +inf, and among
 * equal values the lowest row-major index (i*N' + j) first, so the result is
 * deterministic.  Spatial only (temporal refuses p != 0). */
#define ATTNROLL_OPT_DISCARD_RATIO 9

/* ints, default {0} (the first remaining token's column: CLS when k = 0),
 * each >= 0 and < N' (checked by the computing function).  Columns that
 * ATTNROLL_OPT_DISCARD_RATIO never zeroes.  May be empty (count 0); repeats
 * are harmless. */
#define ATTNROLL_OPT_PROTECT       10

/* int, default ATTNROLL_RULE_ROLLOUT, bounds [0, 1].  How a fused map Abar
 * becomes the layer's factor (ATTNROLL_RULE_*). */
#define ATTNROLL_OPT_RULE          11

/* int, default 0, bounds [0, 1].  1: the output gains a leading axis of length
 * L' (the layer range) holding every partial product
 * R_l = M_l @ ... @ M_begin for l = begin .. end-1 (or their query rows);
 * the last one is the ordinary result. */
#define ATTNROLL_OPT_CUMULATIVE    12

/* Head fusions, values of ATTNROLL_OPT_HEAD_FUSION (fixed forever). */
#define ATTNROLL_FUSE_MEAN    0 /* mean over heads (Abnar & Zuidema 2020; the spec)   */
#define ATTNROLL_FUSE_MAX     1 /* element-wise max over heads (vit-explain)          */
#define ATTNROLL_FUSE_MIN     2 /* element-wise min over heads (vit-explain)          */
#define ATTNROLL_FUSE_ENTROPY 3 /* softmax(-entropy) weights: the users' newest script */
#define ATTNROLL_FUSE_WEIGHTS 4 /* sum_h w_h A_h, w from ATTNROLL_OPT_HEAD_WEIGHTS     */
#define ATTNROLL_FUSE_GRAD    5 /* mean_h max(G_h * A_h, 0) (Chefer et al. 2021);
                                   needs gradients: attnroll_spatial_grad or
                                   attnroll_stream_push_grad                        */

/* Rules, values of ATTNROLL_OPT_RULE (fixed forever). */
#define ATTNROLL_RULE_ROLLOUT 0 /* M = normalize_rows(Abar + r*I) (Abnar & Zuidema)  */
#define ATTNROLL_RULE_CHEFER  1 /* M = Abar + r*I, no normalisation, so that
                                   R <- R + Abar @ R when r = 1 (Chefer et al. 2021) */

/* Kinds of option value, as reported by attnroll_option_info. */
#define ATTNROLL_OPTION_INT    1
#define ATTNROLL_OPTION_FLOAT  2
#define ATTNROLL_OPTION_INTS   3
#define ATTNROLL_OPTION_FLOATS 4

/*
 * Describes an option key, for bindings and tools that build options
 * generically.
 *   [in]  key    an ATTNROLL_OPT_* value
 *   [out] kind   ATTNROLL_OPTION_INT, _FLOAT, _INTS or _FLOATS; may be NULL
 *   [out] lower  smallest accepted value (for lists: of each element); may be NULL
 *   [out] upper  largest accepted value (for lists: of each element); may be NULL
 *                (ATTNROLL_OPT_DISCARD_RATIO reports 1 but refuses 1 itself;
 *                HEAD_WEIGHTS reports -DBL_MAX..DBL_MAX: any finite value)
 * @return ATTNROLL_OK, or ATTNROLL_E_ARGUMENT for an unknown key.
 */
ATTNROLL_API int32_t attnroll_option_info(int32_t key, int32_t *kind,
                                          double *lower, double *upper);

/*
 * Creates a config holding every option at its default.
 *   [out] config  receives the new config; must not be NULL.  On failure
 *                 *config is set to NULL.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT (config NULL), ATTNROLL_E_MEMORY.
 * The caller owns the config and frees it with attnroll_config_destroy.
 */
ATTNROLL_API int32_t attnroll_config_create(attnroll_config **config);

/* Frees a config.  NULL is a no-op.  Computing functions keep no reference, so
 * a config may be destroyed as soon as the calls using it have returned. */
ATTNROLL_API void attnroll_config_destroy(attnroll_config *config);

/*
 * Set an option.  config must not be NULL.  A key of the wrong kind, an
 * unknown key or a value outside the key's bounds is refused with
 * ATTNROLL_E_ARGUMENT and leaves the config unchanged.
 * set_ints and set_floats copy count values (count 0 clears the list; values
 * may then be NULL).  Returns ATTNROLL_E_MEMORY if the copy cannot be
 * allocated.  set_float and set_floats refuse NaN and infinities.
 */
ATTNROLL_API int32_t attnroll_config_set_int(attnroll_config *config, int32_t key,
                                             int64_t value);
ATTNROLL_API int32_t attnroll_config_set_float(attnroll_config *config, int32_t key,
                                               double value);
ATTNROLL_API int32_t attnroll_config_set_ints(attnroll_config *config, int32_t key,
                                              const int64_t *values, int64_t count);
ATTNROLL_API int32_t attnroll_config_set_floats(attnroll_config *config, int32_t key,
                                                const double *values, int64_t count);

/*
 * Read an option.  config and the output pointers must not be NULL (except
 * values, below).  A key of the wrong kind or an unknown key gives
 * ATTNROLL_E_ARGUMENT.
 * get_ints and get_floats write the list length to *count and copy
 * min(count, capacity) values to values; values may be NULL when capacity is 0
 * (to ask for the length first).  capacity must be >= 0.
 */
ATTNROLL_API int32_t attnroll_config_get_int(const attnroll_config *config, int32_t key,
                                             int64_t *value);
ATTNROLL_API int32_t attnroll_config_get_float(const attnroll_config *config, int32_t key,
                                               double *value);
ATTNROLL_API int32_t attnroll_config_get_ints(const attnroll_config *config, int32_t key,
                                              int64_t *values, int64_t capacity,
                                              int64_t *count);
ATTNROLL_API int32_t attnroll_config_get_floats(const attnroll_config *config, int32_t key,
                                                double *values, int64_t capacity,
                                                int64_t *count);

/* ------------------------------------------------------------------------ */
/* Spatial rollout                                                           */
/* ------------------------------------------------------------------------ */

/*
 * The pipeline.  For each layer l of the range [b, e) (ATTNROLL_OPT_LAYER_BEGIN
 * and _END, default all) and each frame, in this order:
 *
 *  1. Drop tokens (ATTNROLL_OPT_DROP_TOKENS, default 0; the users' newest
 *     spatial script with k = 1).  Every head's map loses its first k rows
 *     and columns; if k > 0 each remaining row is divided by its sum (a zero
 *     sum divides by 1).  N' = N - k.  A gradient loses the same rows and
 *     columns and is not rescaled.
 *  2. Head fusion (ATTNROLL_OPT_HEAD_FUSION, default ATTNROLL_FUSE_MEAN), from
 *     the H maps A_h of step 1 to one map Abar:
 *       MEAN     mean_h A_h                       (Abnar & Zuidema 2020)
 *       MAX      max_h A_h, element-wise         (vit-explain)
 *       MIN      min_h A_h, element-wise         (vit-explain)
 *       ENTROPY  sum_h w_h A_h with w = softmax_h(-e_h), e_h the mean over the
 *                rows i of -sum_j p_ij ln(p_ij + 1e-10), p = A_h with each row
 *                divided by its sum (a zero sum by 1): exactly the users'
 *                newest spatial_rollout.py.  Needs A >= 0 (else NaN may result).
 *       WEIGHTS  sum_h w_h A_h, w = ATTNROLL_OPT_HEAD_WEIGHTS as given.
 *       GRAD     mean_h max(G_h * A_h, 0), G the gradient of the explained
 *                score with respect to that map (Chefer et al. 2021, "Generic
 *                Attention-model Explainability"); attnroll_spatial_grad only.
 *  3. Discard (ATTNROLL_OPT_DISCARD_RATIO p, default 0; ATTNROLL_OPT_PROTECT,
 *     default {0}; vit-explain): the floor(p*M) smallest of the M = N' *
 *     (N' - protected columns) unprotected entries of Abar become 0 (order:
 *     see ATTNROLL_OPT_DISCARD_RATIO).
 *  4. Rule (ATTNROLL_OPT_RULE, default ATTNROLL_RULE_ROLLOUT), with
 *     r = ATTNROLL_OPT_RESIDUAL (default 1):
 *       ROLLOUT  M_l = normalize_rows(Abar + r*I)  (a zero row sum divides
 *                by 1; Abnar & Zuidema 2020, the spec)
 *       CHEFER   M_l = Abar + r*I, not normalised (Chefer et al. 2021:
 *                R <- R + Abar @ R)
 *  5. Product: R = M_{e-1} @ ... @ M_{b+1} @ M_b, no final normalisation.
 *     With k query rows (ATTNROLL_OPT_QUERY_ROWS) only rows q of R are
 *     computed, last layer first, in O(L*k*N'^2) for either rule.
 *  6. Per-layer outputs (ATTNROLL_OPT_CUMULATIVE, default 0): with 1, every
 *     partial product R_l = M_l @ ... @ M_b, l = b .. e-1, is written.
 *
 * Defaults reproduce the spec: mean fusion, rollout rule, r = 1.
 *
 * Output shapes (L' = e - b, N' = N - k, q = number of query rows):
 *                        4-D layers [F,H,N,N]    3-D layers [H,N,N]
 *   plain                [F, N', N']             [N', N']
 *   query rows           [F, q, N']              [q, N']
 *   cumulative           [L', F, N', N']         [L', N', N']
 *   cumulative + query   [L', F, q, N']          [L', q, N']
 *
 * NaN in the input: no crash, no error; it spreads through the sums and
 * products to the entries it touches (MAX/MIN keep a NaN they meet; GRAD
 * keeps a NaN product; discard ranks NaN above +inf, so it zeroes NaN only
 * when p asks for more entries than there are numbers).  Infinities likewise
 * follow IEEE arithmetic.
 *
 * Precision: everything after reading the input runs in the output's
 * precision (float for F32, double for F64), including the entropy's
 * logarithm (a vectorised polynomial, about 1e-7 relative in float, within an
 * ulp or two of libm's in double).
 */

/*
 * Spatial rollout (spec: "Spatial Rollout") through the pipeline above; with
 * every option at its default, per frame:
 *   Abar_i = normalize_rows(mean_over_heads(A_i) + I),  R = Abar_{L-1} @ ... @ Abar_0.
 *
 *   [in]  layers      num_layers views, layer 0 first.  Each is [F,H,N,N]
 *                     (frames, heads, tokens, tokens) or [H,N,N] (one frame).
 *                     All must have the same rank and shape; dtype and strides
 *                     may differ from layer to layer.  Must not be NULL.
 *                     Every head is read, also along a broadcast (stride 0)
 *                     heads axis, so such a view gives the same bits as its
 *                     materialized copy; the work grows with H either way.
 *   [in]  num_layers  >= 1.
 *   [in]  config      options, or NULL for the defaults.  ATTNROLL_FUSE_GRAD
 *                     is refused here (ATTNROLL_E_ARGUMENT): it needs
 *                     attnroll_spatial_grad.
 *   [out] out         F32 or F64, shape as in the table above.  Must not
 *                     overlap itself or any layer.  The products run in the
 *                     output's precision (sgemm for F32, dgemm for F64).
 *
 * Memory: O(F*N'^2) working space (two [F,N',N'] matrices in the output
 * precision, or two [F,q,N'] with query rows and no CUMULATIVE, plus one
 * N'xN' scratch matrix per worker, and two more per worker with ENTROPY or
 * DISCARD, which need a whole frame's fused map); the input is read in place,
 * never copied.  CUMULATIVE writes each partial product straight into out and
 * holds nothing more; with query rows it runs the full forward product
 * (O(L*N'^3), as without query rows) and writes rows q of each R_l.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT (NULL, counts, layer range, an
 *         option against these shapes: k >= N, query row or protected column
 *         >= N', weights with a fusion other than WEIGHTS, GRAD fusion),
 *         _SHAPE (shapes, out, HEAD_WEIGHTS length != H), _DTYPE, _OVERLAP,
 *         _MEMORY.
 */
ATTNROLL_API int32_t attnroll_spatial(const attnroll_tensor *layers, int32_t num_layers,
                                      const attnroll_config *config,
                                      const attnroll_tensor *out);

/*
 * Spatial rollout with gradients, for ATTNROLL_FUSE_GRAD (and only for it:
 * any other fusion is ATTNROLL_E_ARGUMENT, "gradients given but ...").
 *   [in]  grads  num_layers views, grads[i] the gradient of the explained
 *                score with respect to layers[i]: the same shape as
 *                layers[i] (else ATTNROLL_E_SHAPE naming grads[i]), any of the
 *                four dtypes and any strides.  Must not be NULL.  out must not
 *                overlap any of them.
 * Everything else as attnroll_spatial.
 * @return as attnroll_spatial.
 */
ATTNROLL_API int32_t attnroll_spatial_grad(const attnroll_tensor *layers,
                                           const attnroll_tensor *grads, int32_t num_layers,
                                           const attnroll_config *config,
                                           const attnroll_tensor *out);

/* ------------------------------------------------------------------------ */
/* Temporal rollout                                                          */
/* ------------------------------------------------------------------------ */

/*
 * Instance selection (spec: select_instance_attention), writing the selected
 * [T,T] matrix to out.  For an array A of rank n and instance id i:
 *   n == 2   A itself.
 *   n == 3   if the last two extents are equal: A[i] if shape[0] > i, else
 *            A[:, i, :] if shape[1] > i, else A[0];
 *            if they differ: A[0] (not square, so a rollout reports a shape
 *            error; select_instance itself writes it if out has that shape).
 *   n >= 4   the first of the n-2 leading axes whose extent is > i is indexed
 *            with i; if none is, each leading axis is indexed with 0 (the first
 *            [T,T] slice).  If more than one leading axis then remains, they are
 *            AVERAGED element-wise (as heads are averaged; the original scripts
 *            silently skipped such a layer).  A remaining axis of stride 0 (a
 *            broadcast) holds one value however long it is: it is not walked,
 *            so the work follows the memory the view covers, and no table is
 *            kept for any axis.
 *
 *   [in]  attn      any dtype, rank 2..ATTNROLL_MAX_NDIM, any strides.
 *   [in]  instance  >= 0.
 *   [out] out       F32 or F64, shape equal to the selected matrix's.  Must not
 *                   overlap itself or attn.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _OVERLAP, _MEMORY.
 */
ATTNROLL_API int32_t attnroll_select_instance(const attnroll_tensor *attn, int64_t instance,
                                              const attnroll_tensor *out);

/*
 * The shape attnroll_select_instance would write for attn and instance, so a
 * caller can allocate out (and a temporal rollout's [T,T]) without repeating
 * the rules.
 *   [in]  attn      as for attnroll_select_instance.
 *   [in]  instance  >= 0.
 *   [out] rows, cols  the selected matrix's extents; must not be NULL.
 * O(rank): reads the shape and strides only, allocates nothing.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE.
 */
ATTNROLL_API int32_t attnroll_select_shape(const attnroll_tensor *attn, int64_t instance,
                                           int64_t *rows, int64_t *cols);

/*
 * Temporal rollout (spec: "Temporal Rollout"):
 *   T_i     = normalize_rows(select(A_i, instance) + r*I)
 *   rollout = T_{e-1} @ ... @ T_{b+1} @ T_b
 * over the layer range [b, e) (ATTNROLL_OPT_LAYER_BEGIN/END, default all; the
 * "rollout without layer 0" is b = 1).
 *
 *   [in]  layers      num_layers views, layer 0 first, each of rank >= 2; ranks
 *                     and layouts may differ.  Every layer (also those outside
 *                     the range) must select (as attnroll_select_instance) to a square [T,T]
 *                     with the same T.  Must not be NULL.
 *   [in]  num_layers  >= 1.
 *   [in]  instance    >= 0 (the refiner_id).
 *   [in]  config      options, or NULL for the defaults.  RULE, RESIDUAL,
 *                     QUERY_ROWS, CUMULATIVE and the layer range apply as in
 *                     the spatial pipeline; DROP_TOKENS, HEAD_FUSION,
 *                     HEAD_WEIGHTS and DISCARD_RATIO are spatial only and must
 *                     keep their defaults (else ATTNROLL_E_ARGUMENT).
 *   [out] out         F32 or F64, [T,T], or [k,T] with k query rows; with
 *                     CUMULATIVE a leading axis L' ([L',T,T] or [L',k,T]).
 *                     Must not overlap itself or any layer.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _OVERLAP, _MEMORY.
 */
ATTNROLL_API int32_t attnroll_temporal(const attnroll_tensor *layers, int32_t num_layers,
                                       int64_t instance, const attnroll_config *config,
                                       const attnroll_tensor *out);

/* ------------------------------------------------------------------------ */
/* Post-processing                                                           */
/* ------------------------------------------------------------------------ */

/*
 * These read any dtype and strides and compute in double precision.  The
 * whole result is computed before out is written, so out may be the same
 * memory as in (in-place use) or overlap it in any way; out must not overlap
 * itself.  A constant row or vector (max == min) divides by 1, i.e. becomes
 * zeros.  As with numpy's min/max, a NaN anywhere in a row (minmax_rows) or in
 * the array (minmax) makes that whole row or array NaN.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _OVERLAP, _MEMORY.
 */

/* Each row of a matrix scaled to [0,1]: out[i,j] = (in[i,j] - min_j in[i,:]) /
 * (max_j in[i,:] - min_j in[i,:]).  in: [R,C]; out: F32/F64 [R,C]. */
ATTNROLL_API int32_t attnroll_minmax_rows(const attnroll_tensor *in, const attnroll_tensor *out);

/* Mean over rows for each column: out[j] = mean_i in[i,j].  in: [R,C];
 * out: F32/F64 [C]. */
ATTNROLL_API int32_t attnroll_column_mean(const attnroll_tensor *in, const attnroll_tensor *out);

/* The whole array scaled to [0,1]: out = (in - min(in)) / (max(in) - min(in)).
 * in: any rank; out: F32/F64 of the same shape. */
ATTNROLL_API int32_t attnroll_minmax(const attnroll_tensor *in, const attnroll_tensor *out);

/* ------------------------------------------------------------------------ */
/* Streaming spatial rollout                                                 */
/* ------------------------------------------------------------------------ */

/* An opaque streaming rollout: push layers one at a time, in order 0, 1, ...,
 * and ask for the result; the same numbers as attnroll_spatial on the same
 * layers and config, without holding all layers at once. */
typedef struct attnroll_stream attnroll_stream;

/*
 * Creates a stream for layers of F = frames frames and N = tokens tokens.
 *   [in]  config  options (copied; later changes to config do not affect the
 *                 stream), or NULL for the defaults.  Checked here against
 *                 N as attnroll_spatial does (k < N, query rows and protected
 *                 columns < N' = N - k, weights only with WEIGHTS fusion); the
 *                 weights' length is checked against H at each push.
 *   [in]  frames  F >= 1.
 *   [in]  tokens  N >= 1 (and at most 2^31-1, the BLAS index range).
 *   [in]  dtype   ATTNROLL_F32 or ATTNROLL_F64: the precision the products run
 *                 in (sgemm or dgemm).  The result may be read as either.
 *   [out] stream  receives the new stream; must not be NULL; set to NULL on
 *                 failure.  Free it with attnroll_stream_destroy.
 *
 * Memory held: without query rows, two F*N*N matrices in the stream's
 * precision plus one N*N scratch matrix per worker thread, whatever the number
 * of layers L or heads H.  With k query rows the fused N*N matrix of every
 * pushed layer in the range is kept (L*F*N*N values, still independent of H)
 * and the backward pass, O(L*k*N^2), runs in attnroll_stream_result.  With
 * ATTNROLL_OPT_CUMULATIVE the stream keeps every partial product it will
 * write (L'*F*N'*N', or L'*F*k*N' with query rows, in its precision) besides
 * the running product.  ENTROPY and DISCARD add two N'xN' matrices per worker.
 * attnroll_stream_info reports the bytes.  The stream keeps its worker threads
 * (ATTNROLL_OPT_THREADS) asleep between pushes, until it is destroyed.
 * The running product is allocated here, at once, and committed (its pages
 * are provided straight away, not on first touch).  Before that, every
 * working buffer of 64 MiB or more is checked against the memory available
 * now (Linux: /proc/meminfo MemAvailable, lowered to the headroom under the
 * process's cgroup v2 memory.max): a request that does not fit is
 * ATTNROLL_E_MEMORY with both sizes in the message, instead of a process the
 * kernel's OOM killer ends later.  The same check guards every function's
 * large buffers.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _DTYPE, _MEMORY.
 */
ATTNROLL_API int32_t attnroll_stream_create(const attnroll_config *config, int64_t frames,
                                            int64_t tokens, int32_t dtype,
                                            attnroll_stream **stream);

/*
 * Pushes the next layer (the first push is layer 0).  layer is [F,H,N,N], or
 * [H,N,N] when F == 1; H may differ between layers; any dtype and strides.
 * With ATTNROLL_FUSE_GRAD use attnroll_stream_push_grad instead (this gives
 * ATTNROLL_E_ARGUMENT then).
 * Layers outside the configured range are validated and then ignored.
 * A layer of the wrong shape or dtype is refused (ATTNROLL_E_SHAPE /
 * ATTNROLL_E_DTYPE) and the stream stays usable, as if the push had not been
 * made.  Pushing after attnroll_stream_result gives ATTNROLL_E_STATE.
 * stream and layer must not be NULL.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _STATE, _MEMORY.
 */
ATTNROLL_API int32_t attnroll_stream_push(attnroll_stream *stream, const attnroll_tensor *layer);

/*
 * Pushes the next layer with its gradient, for ATTNROLL_FUSE_GRAD only (any
 * other fusion gives ATTNROLL_E_ARGUMENT).  grad has layer's shape (else
 * ATTNROLL_E_SHAPE naming grad), any dtype and strides.  Otherwise as
 * attnroll_stream_push, including a refused push leaving the stream usable.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _STATE, _MEMORY.
 */
ATTNROLL_API int32_t attnroll_stream_push_grad(attnroll_stream *stream, const attnroll_tensor *layer,
                                               const attnroll_tensor *grad);

/*
 * Writes the rollout of the pushed layers in the configured range and
 * finishes the stream (later pushes are refused; result may be asked again).
 *   [out] out  F32 or F64, [F,N',N'] (or [N',N'] when F == 1); with k query
 *              rows [F,k,N'] (or [k,N'] when F == 1); with CUMULATIVE a
 *              leading axis L' (the layers of the range pushed).
 * Gives ATTNROLL_E_STATE when no layer of the range has been pushed, or when
 * LAYER_END is set beyond the number of layers pushed.  out must not overlap
 * itself (ATTNROLL_E_OVERLAP).
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT, _SHAPE, _DTYPE, _OVERLAP, _STATE,
 *         _MEMORY.
 */
ATTNROLL_API int32_t attnroll_stream_result(attnroll_stream *stream, const attnroll_tensor *out);

/*
 * Reports the stream's state.  Any output pointer may be NULL (not written).
 *   [out] layers_pushed  layers accepted so far.
 *   [out] bytes_held     bytes of working memory the stream holds now.
 * @return ATTNROLL_OK, or ATTNROLL_E_ARGUMENT if stream is NULL.
 */
ATTNROLL_API int32_t attnroll_stream_info(const attnroll_stream *stream, int64_t *layers_pushed,
                                          int64_t *bytes_held);

/* Frees a stream.  NULL is a no-op. */
ATTNROLL_API void attnroll_stream_destroy(attnroll_stream *stream);

/* ------------------------------------------------------------------------ */
/* BLAS kernel and CPU                                                       */
/* ------------------------------------------------------------------------ */

/*
 * OpenBLAS picks its compute kernels ("core") from the CPU at load time.  A
 * release older than the CPU does not recognise it and silently falls back to
 * its oldest x86-64 kernels (Prescott, SSE3): OpenBLAS 0.3.21 (Debian 12) on
 * a recent Xeon runs sgemm about 6x slower than its SkylakeX kernels would.
 * The environment variable OPENBLAS_CORETYPE, read when OpenBLAS is loaded,
 * forces a kernel; it must be set before the process starts (a library cannot
 * switch kernels once loaded).  These functions tell a program whether that
 * happened and what fixes it; they never print and never change anything.
 */

/* Vector instruction levels (fixed forever), in increasing order. */
#define ATTNROLL_SIMD_UNKNOWN 0 /* not x86-64, or a kernel name not in the table  */
#define ATTNROLL_SIMD_SSE     1 /* SSE2/SSE3 (Prescott, Core2, Nehalem, ...)      */
#define ATTNROLL_SIMD_AVX     2 /* AVX with the OS saving YMM state (Sandybridge) */
#define ATTNROLL_SIMD_AVX2    3 /* AVX2 + FMA (Haswell, Zen)                      */
#define ATTNROLL_SIMD_AVX512  4 /* AVX-512 F, BW, DQ and VL with the OS saving ZMM
                                   state (SkylakeX, Cooperlake, SapphireRapids)  */

/*
 * What attnroll_blas_report fills in.  Strings are NUL-terminated, truncated
 * to fit.  The layout is fixed forever; new facts come as new functions.
 *
 * blas              the BLAS's own description, e.g.
 *                   "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64".
 * kernel            the kernel in use, e.g. "Prescott", "SkylakeX".
 * kernel_level      the ATTNROLL_SIMD_* level that kernel is written for
 *                   (ATTNROLL_SIMD_UNKNOWN for a name not in attnroll's table).
 * cpu_level         the best ATTNROLL_SIMD_* level this CPU and OS support,
 *                   from CPUID and XGETBV (ATTNROLL_SIMD_UNKNOWN off x86-64).
 * kernel_below_cpu  1 when both levels are known and kernel_level < cpu_level
 *                   (the kernel leaves speed unused), else 0.
 * best_kernel       the OpenBLAS core name for cpu_level: "SkylakeX" (AVX512),
 *                   "Haswell" (AVX2), "Sandybridge" (AVX), "" otherwise.
 * fix               when kernel_below_cpu: the environment setting that selects
 *                   best_kernel, "OPENBLAS_CORETYPE=SkylakeX"; else "".
 * coretype_env      the value of OPENBLAS_CORETYPE in this process's
 *                   environment now ("" when unset).
 */
typedef struct attnroll_blas_info {
    char    blas[128];
    char    kernel[32];
    int32_t kernel_level;
    int32_t cpu_level;
    int32_t kernel_below_cpu;
    char    best_kernel[32];
    char    fix[64];
    char    coretype_env[32];
} attnroll_blas_info;

/*
 * Reports the BLAS in use, its kernel, and what the CPU supports.
 *   [out] info  filled in; must not be NULL.
 * Cheap (a few CPUID instructions); may be called at any time from any thread.
 * @return ATTNROLL_OK, or ATTNROLL_E_ARGUMENT if info is NULL.
 */
ATTNROLL_API int32_t attnroll_blas_report(attnroll_blas_info *info);

/*
 * The ATTNROLL_SIMD_* level an OpenBLAS x86-64 core name is written for
 * (case-insensitive, as OPENBLAS_CORETYPE is read), e.g. 4 for "SkylakeX",
 * 1 for "Prescott".  A program can refuse to force a kernel above the CPU's
 * level, which would stop on an illegal instruction.
 * @return the level, or ATTNROLL_SIMD_UNKNOWN for NULL or an unknown name.
 */
ATTNROLL_API int32_t attnroll_blas_kernel_level(const char *core_name);

/*
 * Checks the kernel in use against plain loops: single and double precision
 * general matrix products (cblas_sgemm and cblas_dgemm, both transpose
 * settings, sizes that reach the kernels' edge cases) of fixed pseudo-random
 * matrices.  A kernel forced with OPENBLAS_CORETYPE onto a CPU its OpenBLAS
 * build does not know has been seen to compute wrong results; run this before
 * trusting one.  Takes about a millisecond; uses one thread.
 *   [out] passed         1 when every product is within tolerance
 *                        (|error| <= 1e-4 * sum |a_ik * b_kj| for single,
 *                        1e-12 * the same for double precision), else 0.
 *                        Must not be NULL.
 *   [out] max_rel_error  the largest |error| / sum |a_ik * b_kj| seen; may
 *                        be NULL.
 * @return ATTNROLL_OK (whatever the verdict: see passed),
 *         ATTNROLL_E_ARGUMENT (passed NULL), ATTNROLL_E_MEMORY.
 */
ATTNROLL_API int32_t attnroll_blas_selfcheck(int32_t *passed, double *max_rel_error);

/* ------------------------------------------------------------------------ */
/* Attention flow                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Attention flow (Abnar & Zuidema 2020, the second method of the rollout
 * paper): the maximum flow through the layered attention graph.
 *
 * The network, per frame.  Let Abar_0 .. Abar_{L'-1} be the factors M_l of the
 * layer range [b, e) exactly as the spatial pipeline makes them (steps 1-4 of
 * "The pipeline": drop tokens, head fusion, discard, rule; L' = e - b, N' = N
 * - k).  The graph has L'+1 levels 0 .. L' of N' nodes, node (l, i) being token
 * i after l layers (level 0 is the input, level L' the output).  For every l
 * in 0 .. L'-1 and i, j there is one arc from (l+1, i) down to (l, j) with
 * capacity Abar_l[i, j]; there are no other arcs.  For a query row q and a
 * token j:
 *   out[f, q, j] = the value of a maximum flow from source (L', q) to sink
 *                  (0, j) in that network.
 * With one layer (L' = 1) this is Abar_0[q, j] itself.
 *
 * Against rollout: rollout R[q, j] sums the products of the arc weights over
 * all paths from (L', q) to (0, j) (attention mixed linearly); flow asks how
 * much of the top node's unit of attention (rows of Abar sum to 1) can reach
 * token j at all when each arc carries at most its weight, so it is limited
 * by the narrowest cut between them.  Both are at most 1; flow values are
 * usually larger and flatter than rollout's, and a token cut off (a zero
 * column in Abar_0, say) gets 0 in both.
 *
 * Exactness: for each frame and source the capacities are scaled so that the
 * source's total out-capacity U = sum_j Abar_{L'-1}[q, j] becomes 2^61 and
 * rounded to 64-bit integers; the maximum flow is then computed exactly in
 * integers (Dinic's algorithm on the dense layered graph) and scaled back
 * (rounded to the output's precision).  The result is within
 * (arcs of a minimum cut) * U * 2^-62 of the exact real maximum flow (about
 * 1e-18 relative for U = 1): far inside 1e-12 relative (F64) or 2e-6 (F32)
 * for any flow that is not itself near U * 1e-13.  A capacity above U is
 * clamped to U, which changes no flow value.
 *
 * Options: QUERY_ROWS (the sources; empty = every row: N' sources, so N'
 * times the work of one), LAYER_BEGIN/END, THREADS, RESIDUAL, DROP_TOKENS,
 * HEAD_FUSION (not GRAD: there is no gradient argument), HEAD_WEIGHTS,
 * DISCARD_RATIO, PROTECT act as for attnroll_spatial.  RULE must be
 * ATTNROLL_RULE_ROLLOUT (CHEFER is refused: Chefer's rule adds relevance over
 * all paths, R <- R + Abar @ R, and its unnormalised factors Abar + r*I are no
 * flow capacities).  CUMULATIVE must be 0.
 *
 * Cost: per frame, the L' factors are made once (as for a rollout); then per
 * source q and sink j one max flow on (L'-1)*N' + 2 nodes and about
 * (L'-2)*N'^2 arcs.  Sinks are spread over the workers (ATTNROLL_OPT_THREADS).
 * Memory: the frame's L' factors (L'*N'^2 doubles) and their integer
 * capacities ((L'-2)*N'^2 int64), plus 2*(L'-2)*N'^2 int64 per worker.
 * Typical times on two cores: ViT-B (L = 12, N = 197) CLS flow well under a
 * second per frame; bench/attnroll_bench --flow measures it.
 *
 *   [in]  layers      as for attnroll_spatial ([F,H,N,N] or [H,N,N], any dtype
 *                     and strides).  Must not be NULL.
 *   [in]  num_layers  >= 1.
 *   [in]  config      options, or NULL for the defaults.
 *   [out] out         F32 or F64, [F, N', N'] (or [N', N'] for 3-D layers);
 *                     with q query rows [F, q, N'] (or [q, N']).  Must not
 *                     overlap itself or any layer.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT (NULL, counts, layer range, an
 *         option as for attnroll_spatial, RULE != ROLLOUT, CUMULATIVE != 0, a
 *         capacity Abar_l[i,j] that is NaN, infinite or negative -- the message
 *         names the layer, frame, row and column), _SHAPE, _DTYPE, _OVERLAP,
 *         _MEMORY.  Nothing is written unless it returns ATTNROLL_OK.
 */
ATTNROLL_API int32_t attnroll_flow(const attnroll_tensor *layers, int32_t num_layers,
                                   const attnroll_config *config, const attnroll_tensor *out);

/* ------------------------------------------------------------------------ */
/* Spectral diagnostics                                                      */
/* ------------------------------------------------------------------------ */

/*
 * For measuring how fast token mixing collapses with depth (Dong et al. 2021):
 * the singular values and the effective rank (Roy & Vetterli 2007) of square
 * matrices -- a layer's factor, or a partial rollout (ATTNROLL_OPT_CUMULATIVE
 * or a layer range).
 *
 * Both take in = [..., M, M] (rank >= 2, any dtype, any strides) and work on
 * each M x M matrix of the leading axes: it is copied into a contiguous
 * working matrix in the output's precision and given to LAPACKE_sgesdd (F32
 * out) or LAPACKE_dgesdd (F64 out) with jobz = 'N' (values only).  Several
 * matrices run in parallel, one per worker (OpenBLAS single-threaded, as for
 * the rollouts); a single matrix runs on OpenBLAS's own threads.  NaN or
 * infinite entries are refused (ATTNROLL_E_ARGUMENT, naming the matrix and
 * element): ?gesdd does not handle them.  A LAPACK failure (the bidiagonal QR
 * iteration not converging) is ATTNROLL_E_INTERNAL with LAPACK's info code in
 * the message.  out is written only on success and must not overlap in.
 * @return ATTNROLL_OK, ATTNROLL_E_ARGUMENT (NULL, NaN/Inf), _SHAPE (rank < 2,
 *         not square, wrong out shape), _DTYPE, _OVERLAP, _MEMORY, _INTERNAL.
 */

/* Singular values, descending.  out: F32 or F64, [..., M] (the leading axes
 * of in, then M). */
ATTNROLL_API int32_t attnroll_singular_values(const attnroll_tensor *in, const attnroll_tensor *out);

/* Effective rank exp(-sum_i p_i ln p_i), p = s / sum(s) over the singular
 * values s, with 0 ln 0 = 0; an all-zero matrix gives 0, the identity M, a
 * rank-one matrix 1.  out: F32 or F64, [...] (the leading axes of in), or [1]
 * when in is a single matrix [M, M].  The logarithms run in double. */
ATTNROLL_API int32_t attnroll_effective_rank(const attnroll_tensor *in, const attnroll_tensor *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ATTNROLL_H */
