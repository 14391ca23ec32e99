//! Raw declarations of the attnroll C library (`include/attnroll.h`): every
//! function, constant and type, one for one, with the header's names.
//!
//! The header is the reference manual; the safe API is the `attnroll` crate.
//! `tests/header.rs` checks this file against the header (names, argument
//! counts and types, constant values, the layouts of [`attnroll_tensor`] and
//! [`attnroll_blas_info`]).
//!
//! Linking: the build script links `libattnroll` from `ATTNROLL_LIB_DIR` when
//! that is set, else from what `pkg-config --libs attnroll` reports.
#![allow(non_camel_case_types)]

/// `char` and `void` as C sees them (std::os::raw, available on rustc 1.63).
pub use std::os::raw::{c_char, c_void};

// ---- Version ---------------------------------------------------------------

pub const ATTNROLL_VERSION_MAJOR: i32 = 1;
pub const ATTNROLL_VERSION_MINOR: i32 = 0;
pub const ATTNROLL_VERSION_PATCH: i32 = 0;
/// MAJOR * 10000 + MINOR * 100 + PATCH
pub const ATTNROLL_VERSION_NUMBER: i32 =
    ATTNROLL_VERSION_MAJOR * 10000 + ATTNROLL_VERSION_MINOR * 100 + ATTNROLL_VERSION_PATCH;
pub const ATTNROLL_VERSION_STRING: &str = "1.0.0";

// ---- Status codes (fixed forever) -------------------------------------------

pub const ATTNROLL_OK: i32 = 0;
pub const ATTNROLL_E_ARGUMENT: i32 = 1;
pub const ATTNROLL_E_SHAPE: i32 = 2;
pub const ATTNROLL_E_DTYPE: i32 = 3;
pub const ATTNROLL_E_OVERLAP: i32 = 4;
pub const ATTNROLL_E_MEMORY: i32 = 5;
pub const ATTNROLL_E_STATE: i32 = 6;
pub const ATTNROLL_E_INTERNAL: i32 = 7;

// ---- Element types (fixed forever) -------------------------------------------

pub const ATTNROLL_F32: i32 = 1;
pub const ATTNROLL_F64: i32 = 2;
pub const ATTNROLL_F16: i32 = 3;
pub const ATTNROLL_BF16: i32 = 4;

/// The largest rank a tensor view may have.
pub const ATTNROLL_MAX_NDIM: i32 = 16;

// ---- Option keys and kinds (fixed forever) -----------------------------------

pub const ATTNROLL_OPT_QUERY_ROWS: i32 = 1;
pub const ATTNROLL_OPT_LAYER_BEGIN: i32 = 2;
pub const ATTNROLL_OPT_LAYER_END: i32 = 3;
pub const ATTNROLL_OPT_THREADS: i32 = 4;
pub const ATTNROLL_OPT_RESIDUAL: i32 = 5;
/// Tokens dropped from the front (int, default 0); pipeline step 1.
pub const ATTNROLL_OPT_DROP_TOKENS: i32 = 6;
/// Head fusion, an `ATTNROLL_FUSE_*` (int, default MEAN); pipeline step 2.
pub const ATTNROLL_OPT_HEAD_FUSION: i32 = 7;
/// One weight per head for `ATTNROLL_FUSE_WEIGHTS` (floats, default empty).
pub const ATTNROLL_OPT_HEAD_WEIGHTS: i32 = 8;
/// Discard ratio p in [0, 1) (float, default 0); pipeline step 3.
pub const ATTNROLL_OPT_DISCARD_RATIO: i32 = 9;
/// Columns the discard never zeroes (ints, default {0}).
pub const ATTNROLL_OPT_PROTECT: i32 = 10;
/// Rule, an `ATTNROLL_RULE_*` (int, default ROLLOUT); pipeline step 4.
pub const ATTNROLL_OPT_RULE: i32 = 11;
/// 1: every partial product on a leading axis of length L' (int, default 0).
pub const ATTNROLL_OPT_CUMULATIVE: i32 = 12;

// ---- Head fusions and rules (fixed forever) -------------------------------------

/// Mean over heads (Abnar & Zuidema 2020; the spec).
pub const ATTNROLL_FUSE_MEAN: i32 = 0;
/// Element-wise max over heads (vit-explain).
pub const ATTNROLL_FUSE_MAX: i32 = 1;
/// Element-wise min over heads (vit-explain).
pub const ATTNROLL_FUSE_MIN: i32 = 2;
/// softmax(-entropy) head weights: the users' newest script.
pub const ATTNROLL_FUSE_ENTROPY: i32 = 3;
/// sum_h w_h A_h with w from `ATTNROLL_OPT_HEAD_WEIGHTS`.
pub const ATTNROLL_FUSE_WEIGHTS: i32 = 4;
/// mean_h max(G_h * A_h, 0) (Chefer et al. 2021); needs gradients.
pub const ATTNROLL_FUSE_GRAD: i32 = 5;

/// M = normalize_rows(Abar + r*I) (Abnar & Zuidema).
pub const ATTNROLL_RULE_ROLLOUT: i32 = 0;
/// M = Abar + r*I, not normalised: R <- R + Abar @ R (Chefer et al. 2021).
pub const ATTNROLL_RULE_CHEFER: i32 = 1;

pub const ATTNROLL_OPTION_INT: i32 = 1;
pub const ATTNROLL_OPTION_FLOAT: i32 = 2;
pub const ATTNROLL_OPTION_INTS: i32 = 3;
pub const ATTNROLL_OPTION_FLOATS: i32 = 4;

// ---- Vector instruction levels (fixed forever), in increasing order ------------

/// Not x86-64, or a kernel name not in attnroll's table.
pub const ATTNROLL_SIMD_UNKNOWN: i32 = 0;
/// SSE2/SSE3 (Prescott, Core2, Nehalem, ...).
pub const ATTNROLL_SIMD_SSE: i32 = 1;
/// AVX with the OS saving YMM state (Sandybridge).
pub const ATTNROLL_SIMD_AVX: i32 = 2;
/// AVX2 + FMA (Haswell, Zen).
pub const ATTNROLL_SIMD_AVX2: i32 = 3;
/// AVX-512 F, BW, DQ and VL with the OS saving ZMM state (SkylakeX,
/// Cooperlake, SapphireRapids).
pub const ATTNROLL_SIMD_AVX512: i32 = 4;

// ---- Types -------------------------------------------------------------------

/// A borrowed, strided view of an array (`strides` in elements; NULL means
/// C-contiguous).  See the header for the rules.
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct attnroll_tensor {
    pub data: *mut c_void,
    pub dtype: i32,
    pub ndim: i32,
    pub shape: *const i64,
    pub strides: *const i64,
}

/// What `attnroll_blas_report` fills in: the BLAS in use, its kernel, and
/// what the CPU supports.  Strings are NUL-terminated, truncated to fit.  The
/// layout is fixed forever.  See the header for each field.
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct attnroll_blas_info {
    pub blas: [c_char; 128],
    pub kernel: [c_char; 32],
    pub kernel_level: i32,
    pub cpu_level: i32,
    pub kernel_below_cpu: i32,
    pub best_kernel: [c_char; 32],
    pub fix: [c_char; 64],
    pub coretype_env: [c_char; 32],
}

/// Opaque set of options.
#[repr(C)]
pub struct attnroll_config {
    _private: [u8; 0],
}

/// Opaque streaming rollout.
#[repr(C)]
pub struct attnroll_stream {
    _private: [u8; 0],
}

// ---- Functions ---------------------------------------------------------------

extern "C" {
    pub fn attnroll_version_number() -> i32;
    pub fn attnroll_version_string() -> *const c_char;
    pub fn attnroll_status_string(status: i32) -> *const c_char;
    pub fn attnroll_last_error() -> *const c_char;
    pub fn attnroll_dtype_size(dtype: i32) -> i32;
    pub fn attnroll_max_ndim() -> i32;
    pub fn attnroll_option_info(key: i32, kind: *mut i32, lower: *mut f64, upper: *mut f64) -> i32;
    pub fn attnroll_config_create(config: *mut *mut attnroll_config) -> i32;
    pub fn attnroll_config_destroy(config: *mut attnroll_config);
    pub fn attnroll_config_set_int(config: *mut attnroll_config, key: i32, value: i64) -> i32;
    pub fn attnroll_config_set_float(config: *mut attnroll_config, key: i32, value: f64) -> i32;
    pub fn attnroll_config_set_ints(config: *mut attnroll_config, key: i32, values: *const i64, count: i64) -> i32;
    pub fn attnroll_config_set_floats(config: *mut attnroll_config, key: i32, values: *const f64, count: i64) -> i32;
    pub fn attnroll_config_get_int(config: *const attnroll_config, key: i32, value: *mut i64) -> i32;
    pub fn attnroll_config_get_float(config: *const attnroll_config, key: i32, value: *mut f64) -> i32;
    pub fn attnroll_config_get_ints(
        config: *const attnroll_config,
        key: i32,
        values: *mut i64,
        capacity: i64,
        count: *mut i64,
    ) -> i32;
    pub fn attnroll_config_get_floats(
        config: *const attnroll_config,
        key: i32,
        values: *mut f64,
        capacity: i64,
        count: *mut i64,
    ) -> i32;
    pub fn attnroll_spatial(
        layers: *const attnroll_tensor,
        num_layers: i32,
        config: *const attnroll_config,
        out: *const attnroll_tensor,
    ) -> i32;
    pub fn attnroll_spatial_grad(
        layers: *const attnroll_tensor,
        grads: *const attnroll_tensor,
        num_layers: i32,
        config: *const attnroll_config,
        out: *const attnroll_tensor,
    ) -> i32;
    pub fn attnroll_select_instance(attn: *const attnroll_tensor, instance: i64, out: *const attnroll_tensor) -> i32;
    pub fn attnroll_select_shape(attn: *const attnroll_tensor, instance: i64, rows: *mut i64, cols: *mut i64) -> i32;
    pub fn attnroll_temporal(
        layers: *const attnroll_tensor,
        num_layers: i32,
        instance: i64,
        config: *const attnroll_config,
        out: *const attnroll_tensor,
    ) -> i32;
    pub fn attnroll_minmax_rows(input: *const attnroll_tensor, out: *const attnroll_tensor) -> i32;
    pub fn attnroll_column_mean(input: *const attnroll_tensor, out: *const attnroll_tensor) -> i32;
    pub fn attnroll_minmax(input: *const attnroll_tensor, out: *const attnroll_tensor) -> i32;
    pub fn attnroll_stream_create(
        config: *const attnroll_config,
        frames: i64,
        tokens: i64,
        dtype: i32,
        stream: *mut *mut attnroll_stream,
    ) -> i32;
    pub fn attnroll_stream_push(stream: *mut attnroll_stream, layer: *const attnroll_tensor) -> i32;
    pub fn attnroll_stream_push_grad(
        stream: *mut attnroll_stream,
        layer: *const attnroll_tensor,
        grad: *const attnroll_tensor,
    ) -> i32;
    pub fn attnroll_stream_result(stream: *mut attnroll_stream, out: *const attnroll_tensor) -> i32;
    pub fn attnroll_stream_info(stream: *const attnroll_stream, layers_pushed: *mut i64, bytes_held: *mut i64) -> i32;
    pub fn attnroll_stream_destroy(stream: *mut attnroll_stream);
    pub fn attnroll_blas_report(info: *mut attnroll_blas_info) -> i32;
    pub fn attnroll_blas_kernel_level(core_name: *const c_char) -> i32;
    pub fn attnroll_blas_selfcheck(passed: *mut i32, max_rel_error: *mut f64) -> i32;
    pub fn attnroll_flow(
        layers: *const attnroll_tensor,
        num_layers: i32,
        config: *const attnroll_config,
        out: *const attnroll_tensor,
    ) -> i32;
    pub fn attnroll_singular_values(input: *const attnroll_tensor, out: *const attnroll_tensor) -> i32;
    pub fn attnroll_effective_rank(input: *const attnroll_tensor, out: *const attnroll_tensor) -> i32;
}

/// Typed checks generated by build.rs from the header: one
/// `const _: unsafe extern "C" fn(..) -> .. = NAME;` per function, so a
/// declaration above whose types differ from the header's fails to compile.
#[cfg(test)]
mod header_signatures {
    #[allow(unused_imports)]
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/header_signatures.rs"));

    #[test]
    #[allow(clippy::assertions_on_constants)]
    fn every_header_function_is_type_checked() {
        assert!(HEADER_ERROR.is_empty(), "{}", HEADER_ERROR);
        assert!(FUNCTIONS_CHECKED >= 37, "only {} functions checked", FUNCTIONS_CHECKED);
    }
}
