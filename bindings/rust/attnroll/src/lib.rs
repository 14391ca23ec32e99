//! Attention rollout for vision and video transformers: a safe binding of the
//! attnroll C library (`include/attnroll.h` is the reference manual).
//!
//! Inputs are [`TensorView`]s: a borrowed slice with a shape and element
//! strides (negative, zero, any layout), checked against the slice before any
//! call, and read in place.  `f32`, `f64`, and `u16` bits of half or bfloat16
//! values ([`Dtype::F16`], [`Dtype::BF16`]) are read; outputs are `f32` or
//! `f64`.  Each function returns a new [`Array`] or, as `*_into`, writes into
//! a [`TensorViewMut`].  Failures are [`Error`]s with a [`Status`] and the
//! library's message, which names the argument.
//!
//! ```
//! use attnroll::{spatial, Array, Config, TensorView};
//!
//! // One layer, one head, two tokens: A + I = [[1.5,0.5],[0.25,1.75]], rows / 2.
//! let a = [0.5f32, 0.5, 0.25, 0.75];
//! let layer = TensorView::new(&a, &[1, 2, 2])?;          // [H, N, N]
//! let r: Array<f32> = spatial(&[layer], None)?;           // [N, N]
//! assert_eq!(r.data, [0.75, 0.25, 0.125, 0.875]);
//!
//! // The CLS row only, in double precision.
//! let cls: Array<f64> = spatial(&[layer], Some(&Config::new()?.query_rows(&[0])?))?;
//! assert_eq!((cls.shape.as_slice(), cls.data.as_slice()), (&[1, 2][..], &[0.75, 0.25][..]));
//!
//! // Errors name the argument.
//! let bad = TensorView::new(&a, &[1, 1, 4])?;             // not square
//! let err = spatial::<f32, _>(&[bad], None).unwrap_err();
//! assert_eq!(err.status, attnroll::Status::Shape);
//! assert!(err.message.contains("layers[0]"), "{}", err);
//! # Ok::<(), attnroll::Error>(())
//! ```
//!
//! Layers of different dtypes go in one call as [`AnyView`]s:
//!
//! ```
//! use attnroll::{temporal, AnyView, Array, Dtype, TensorView};
//! let a0 = [0.5f64, 0.5, 0.25, 0.75];                    // [T, T]
//! let a1 = [0x0000u16, 0x3F80, 0x3F80, 0x0000];           // bfloat16 [[0,1],[1,0]]
//! let layers = [AnyView::from(TensorView::new(&a0, &[2, 2])?),
//!               AnyView::from(TensorView::from_bits(&a1, &[2, 2], Dtype::BF16)?)];
//! let t: Array<f64> = temporal(&layers, 0, None)?;
//! assert_eq!(t.data, [0.4375, 0.5625, 0.4375, 0.5625]);
//! # Ok::<(), attnroll::Error>(())
//! ```
//!
//! The library is linked by the `attnroll-sys` crate: from `ATTNROLL_LIB_DIR`
//! if set, else from `pkg-config --libs attnroll`.
//!
//! **BLAS kernel.** An OpenBLAS older than the CPU falls back to its oldest
//! x86-64 kernels (Prescott, SSE3): Debian 12's OpenBLAS 0.3.21 on a recent
//! AVX-512 Xeon multiplies matrices about 6x slower than it could, silently.
//! [`blas_info`] reports the BLAS, its kernel and what the CPU supports; when
//! [`BlasInfo::kernel_below_cpu`] is true, [`BlasInfo::fix`] is the setting
//! that fixes it (`OPENBLAS_CORETYPE=SkylakeX`), which must be in the
//! environment before the program starts.  The library and this crate never
//! print: a program decides whether to show [`BlasInfo::advice`].
//! [`blas_selfcheck`] checks the kernel's products against plain loops.
//!
//! ```
//! let info = attnroll::blas_info();
//! println!("BLAS kernel {} ({}), CPU {}", info.kernel, info.kernel_level, info.cpu_level);
//! if let Some(advice) = info.advice() {
//!     eprintln!("warning: {}", advice);
//! }
//! ```

mod blas;
mod config;
mod error;
mod rollout;
mod spectral;
mod stream;
mod tensor;

pub use attnroll_sys as sys;

pub use crate::blas::{blas_info, blas_kernel_level, blas_selfcheck, BlasInfo, SimdLevel};
pub use crate::config::{Config, HeadFusion, Rule};
pub use crate::error::{Error, Status};
pub use crate::rollout::{
    column_mean, column_mean_into, minmax, minmax_into, minmax_rows, minmax_rows_into, select_instance,
    select_instance_into, select_shape, spatial, spatial_grad, spatial_grad_into, spatial_into, temporal,
    temporal_into,
};
pub use crate::spectral::{
    effective_rank, effective_rank_into, flow, flow_into, singular_values, singular_values_into,
};
pub use crate::stream::Stream;
pub use crate::tensor::{AnyView, Array, AsView, Dtype, Element, Real, TensorView, TensorViewMut, MAX_NDIM};

/// The version of the header this crate was written against ("1.0.0").
pub const VERSION: &str = attnroll_sys::ATTNROLL_VERSION_STRING;

/// The loaded library's version string, e.g. `"1.0.0"`.
///
/// ```
/// assert_eq!(attnroll::version(), attnroll::VERSION);
/// assert_eq!(attnroll::version_number() / 10000, 1);
/// ```
pub fn version() -> &'static str {
    // SAFETY: static storage, never NULL, NUL-terminated.
    let s = unsafe { std::ffi::CStr::from_ptr(attnroll_sys::attnroll_version_string()) };
    s.to_str().unwrap_or("")
}

/// The loaded library's version as `10000 * major + 100 * minor + patch`.
pub fn version_number() -> u32 {
    // SAFETY: no arguments, no state.
    unsafe { attnroll_sys::attnroll_version_number() as u32 }
}
