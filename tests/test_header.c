/*
 * The public header compiles as strict C99 (-std=c99 -pedantic -Werror, set
 * on this target only), is self-contained (included first) and idempotent
 * (included twice), and its macros work in #if.  Plain C: no cmocka, so that
 * nothing but attnroll.h is compiled under -pedantic.
 */
#include "attnroll.h"
#include "attnroll.h"

#include <stdio.h>
#include <string.h>

#if !defined(ATTNROLL_VERSION_NUMBER) || !defined(ATTNROLL_API)
#error "attnroll.h: version or export macro missing"
#endif
#if ATTNROLL_VERSION_NUMBER != \
    ATTNROLL_VERSION_MAJOR * 10000 + ATTNROLL_VERSION_MINOR * 100 + ATTNROLL_VERSION_PATCH
#error "ATTNROLL_VERSION_NUMBER disagrees with MAJOR/MINOR/PATCH"
#endif
#if ATTNROLL_MAX_NDIM != 16
#error "ATTNROLL_MAX_NDIM"
#endif
#if ATTNROLL_OPT_CUMULATIVE != 12 || ATTNROLL_FUSE_GRAD != 5 || ATTNROLL_RULE_CHEFER != 1 || \
    ATTNROLL_OPTION_FLOATS != 4
#error "method option keys or codes moved"
#endif

/* Every entry point, by its exact prototype (a mismatch is a compile error). */
static int32_t (*const p_spatial)(const attnroll_tensor *, int32_t, const attnroll_config *,
                                  const attnroll_tensor *) = attnroll_spatial;
static int32_t (*const p_temporal)(const attnroll_tensor *, int32_t, int64_t,
                                   const attnroll_config *, const attnroll_tensor *) =
    attnroll_temporal;
static int32_t (*const p_select)(const attnroll_tensor *, int64_t, const attnroll_tensor *) =
    attnroll_select_instance;
static int32_t (*const p_post[3])(const attnroll_tensor *, const attnroll_tensor *) = {
    attnroll_minmax_rows, attnroll_column_mean, attnroll_minmax};
static int32_t (*const p_create)(const attnroll_config *, int64_t, int64_t, int32_t,
                                 attnroll_stream **) = attnroll_stream_create;
static int32_t (*const p_push)(attnroll_stream *, const attnroll_tensor *) = attnroll_stream_push;
static int32_t (*const p_result)(attnroll_stream *, const attnroll_tensor *) =
    attnroll_stream_result;
static int32_t (*const p_info)(const attnroll_stream *, int64_t *, int64_t *) =
    attnroll_stream_info;
static void (*const p_sdestroy)(attnroll_stream *) = attnroll_stream_destroy;
static int32_t (*const p_ccreate)(attnroll_config **) = attnroll_config_create;
static void (*const p_cdestroy)(attnroll_config *) = attnroll_config_destroy;
static int32_t (*const p_seti)(attnroll_config *, int32_t, int64_t) = attnroll_config_set_int;
static int32_t (*const p_setf)(attnroll_config *, int32_t, double) = attnroll_config_set_float;
static int32_t (*const p_setis)(attnroll_config *, int32_t, const int64_t *, int64_t) =
    attnroll_config_set_ints;
static int32_t (*const p_geti)(const attnroll_config *, int32_t, int64_t *) =
    attnroll_config_get_int;
static int32_t (*const p_getf)(const attnroll_config *, int32_t, double *) =
    attnroll_config_get_float;
static int32_t (*const p_getis)(const attnroll_config *, int32_t, int64_t *, int64_t, int64_t *) =
    attnroll_config_get_ints;
static int32_t (*const p_setfs)(attnroll_config *, int32_t, const double *, int64_t) =
    attnroll_config_set_floats;
static int32_t (*const p_getfs)(const attnroll_config *, int32_t, double *, int64_t, int64_t *) =
    attnroll_config_get_floats;
static int32_t (*const p_sgrad)(const attnroll_tensor *, const attnroll_tensor *, int32_t,
                                const attnroll_config *, const attnroll_tensor *) =
    attnroll_spatial_grad;
static int32_t (*const p_pushg)(attnroll_stream *, const attnroll_tensor *,
                                const attnroll_tensor *) = attnroll_stream_push_grad;
static int32_t (*const p_opt)(int32_t, int32_t *, double *, double *) = attnroll_option_info;
static const char *(*const p_status)(int32_t) = attnroll_status_string;
static const char *(*const p_last)(void) = attnroll_last_error;
static int32_t (*const p_vnum)(void) = attnroll_version_number;
static const char *(*const p_vstr)(void) = attnroll_version_string;
static int32_t (*const p_dsize)(int32_t) = attnroll_dtype_size;
static int32_t (*const p_maxnd)(void) = attnroll_max_ndim;

int main(void)
{
    int failures = 0;
    /* the struct fields, in order, with their types */
    int64_t shape[2] = {2, 2};
    float data[4] = {0.5f, 0.5f, 0.25f, 0.75f};
    attnroll_tensor t = {data, ATTNROLL_F32, 2, shape, NULL};
    if (t.data != (void *)data || t.dtype != ATTNROLL_F32 || t.ndim != 2 || t.shape != shape ||
        t.strides != NULL)
        ++failures;
    if (p_vnum() != ATTNROLL_VERSION_NUMBER) ++failures;
    if (strcmp(p_vstr(), ATTNROLL_VERSION_STRING) != 0) ++failures;
    if (p_dsize(ATTNROLL_F64) != 8 || p_maxnd() != ATTNROLL_MAX_NDIM) ++failures;
    if (strcmp(p_status(ATTNROLL_OK), "ATTNROLL_OK") != 0) ++failures;
    /* a tiny call through the pointers: [[.5,.5],[.25,.75]] -> [[.75,.25],[.125,.875]] */
    double out[4];
    attnroll_tensor o = {out, ATTNROLL_F64, 2, shape, NULL};
    if (p_temporal(&t, 1, 0, NULL, &o) != ATTNROLL_OK || out[0] != 0.75 || out[1] != 0.25 ||
        out[2] != 0.125 || out[3] != 0.875 || p_last()[0] != '\0')
        ++failures;
    /* reference the rest so that nothing is unused */
    if (!p_spatial || !p_select || !p_post[0] || !p_post[1] || !p_post[2] || !p_create ||
        !p_push || !p_result || !p_info || !p_sdestroy || !p_ccreate || !p_cdestroy || !p_seti ||
        !p_setf || !p_setis || !p_geti || !p_getf || !p_getis || !p_opt || !p_setfs || !p_getfs ||
        !p_sgrad || !p_pushg)
        ++failures;
    if (failures) fprintf(stderr, "test_header (C99): %d failures\n", failures);
    return failures ? 1 : 0;
}
