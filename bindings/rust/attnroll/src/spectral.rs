//! Attention flow and the spectral diagnostics (singular values, effective rank).

use std::ptr;

use attnroll_sys as ffi;

use crate::config::{self, Config};
use crate::error::{check, Error, Status};
use crate::rollout::{extents, layer_tensors};
use crate::tensor::{Array, AsView, Real, TensorViewMut};

/// Attention flow (Abnar & Zuidema 2020): `out[f, q, j]` is the value of a
/// maximum flow from token `q` after the last layer of the range to token `j`
/// before the first, through the layered graph whose arcs from `(l+1, i)`
/// down to `(l, j)` carry capacity `Abar_l[i, j]` -- the factors [`spatial`]
/// would multiply, made with the same [`Config`] options (the header's
/// "Attention flow" defines the network).  With one layer the flow is `Abar`
/// itself.  Exact: Dinic's algorithm on integer capacities, within 1e-12
/// relative (`f64`) or 2e-6 (`f32`).
///
/// `layers` as for [`spatial`].  Returns `[F,N',N']` (or `[N',N']`), with k
/// query rows `[F,k,N']` (or `[k,N']`).  Every query row is a source costing
/// one max flow per token: [`Config::query_rows`]`(&[0])` (CLS) is N' times
/// cheaper than the default of every row.  [`Rule::Chefer`](crate::Rule::Chefer),
/// [`Config::cumulative`] and [`HeadFusion::Grad`](crate::HeadFusion::Grad)
/// are refused ([`Status::Argument`]), and so is a capacity that is NaN,
/// infinite or negative (the message names the layer, frame, row and column).
///
/// ```
/// use attnroll::{flow, Array, Config, TensorView};
/// // Two layers, one head, two tokens, no residual.
/// let a0 = [0.5f64, 0.5, 0.25, 0.75];
/// let a1 = [0.0f64, 1.0, 1.0, 0.0];
/// let layers = [TensorView::new(&a0, &[1, 2, 2])?, TensorView::new(&a1, &[1, 2, 2])?];
/// let config = Config::new()?.residual(0.0)?.query_rows(&[0])?;
/// let f: Array<f64> = flow(&layers, Some(&config))?;
/// // Token 0 on top reaches only token 1 in the middle (capacity 1), whose
/// // arcs down carry 0.25 to token 0 and 0.75 to token 1.
/// assert_eq!((f.shape.as_slice(), f.data.as_slice()), (&[1, 2][..], &[0.25, 0.75][..]));
/// # Ok::<(), attnroll::Error>(())
/// ```
///
/// [`spatial`]: crate::spatial
pub fn flow<O: Real, V: AsView>(layers: &[V], config: Option<&Config>) -> Result<Array<O>, Error> {
    let tensors = layer_tensors(layers)?;
    let shape = extents(&tensors[0]);
    let n = config::tokens_kept(config, shape[shape.len() - 1]);
    let rows = config::rows(config, n);
    let out_shape = match shape.len() {
        4 => vec![shape[0], rows, n],
        3 => vec![rows, n],
        _ => vec![1], // the library reports the layer's rank
    };
    let mut out = Array::zeros(&out_shape)?;
    flow_raw(&tensors, config, &mut out.view_mut()?)?;
    Ok(out)
}

/// [`flow`] writing into `out` (`[F,N',N']`, `[N',N']`, `[F,k,N']` or
/// `[k,N']`); nothing is written unless it succeeds.
pub fn flow_into<O: Real, V: AsView>(
    layers: &[V],
    config: Option<&Config>,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    flow_raw(&layer_tensors(layers)?, config, out)
}

fn flow_raw<O: Real>(
    tensors: &[ffi::attnroll_tensor],
    config: Option<&Config>,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    let out = out.raw_mut();
    let config = config.map_or(ptr::null(), |c| c.as_ptr());
    // SAFETY: every view was bounds-checked against its slice, which outlives
    // the call; out is an exclusive borrow; the config (if any) is live.
    check(unsafe { ffi::attnroll_flow(tensors.as_ptr(), tensors.len() as i32, config, &out) })
}

type SpectrumFn = unsafe extern "C" fn(*const ffi::attnroll_tensor, *const ffi::attnroll_tensor) -> i32;

fn spectrum_into<O: Real, V: AsView>(f: SpectrumFn, x: &V, out: &mut TensorViewMut<'_, O>) -> Result<(), Error> {
    let t = x.raw();
    let o = out.raw_mut();
    // SAFETY: t views a live, bounds-checked slice; out is an exclusive borrow.
    check(unsafe { f(&t, &o) })
}

/// The leading axes of `[..., M, M]` (the library reports a rank below 2).
fn leading(x: &ffi::attnroll_tensor) -> (Vec<usize>, usize) {
    let shape = extents(x);
    if shape.len() < 2 {
        return (vec![], 1);
    }
    (shape[..shape.len() - 2].to_vec(), shape[shape.len() - 1])
}

/// The singular values of each square matrix of `x = [..., M, M]` (any
/// dtype and strides; the leading axes are a batch), in descending order:
/// `[..., M]`.  LAPACK's `?gesdd` (values only) in `O`'s precision
/// (`sgesdd` for `f32`, `dgesdd` for `f64`).  A NaN or infinite entry is
/// [`Status::Argument`]; a non-square `x` or one of rank < 2 is
/// [`Status::Shape`].
///
/// ```
/// use attnroll::{singular_values, Array, TensorView};
/// let x = [3.0f64, 0.0, 0.0, -4.0];
/// let s: Array<f64> = singular_values(&TensorView::new(&x, &[2, 2])?)?;
/// assert_eq!(s.shape, [2]);
/// assert!((s.data[0] - 4.0).abs() < 1e-14 && (s.data[1] - 3.0).abs() < 1e-14);
/// # Ok::<(), attnroll::Error>(())
/// ```
pub fn singular_values<O: Real, V: AsView>(x: &V) -> Result<Array<O>, Error> {
    let (mut shape, m) = leading(&x.raw());
    shape.push(m);
    let mut out = Array::zeros(&shape)?;
    spectrum_into(ffi::attnroll_singular_values, x, &mut out.view_mut()?)?;
    Ok(out)
}

/// [`singular_values`] writing into `out` (`[..., M]`).
pub fn singular_values_into<O: Real, V: AsView>(x: &V, out: &mut TensorViewMut<'_, O>) -> Result<(), Error> {
    spectrum_into(ffi::attnroll_singular_values, x, out)
}

/// The effective rank (Roy & Vetterli 2007) of each square matrix of
/// `x = [..., M, M]`: `exp(-sum p_i ln p_i)` with `p = s / sum(s)` over its
/// singular values `s` (`0 ln 0 = 0`).  The identity gives M, a rank-one
/// matrix 1, a zero matrix 0.  Returns `[...]` (the leading axes), or `[1]`
/// for a single matrix `[M, M]`.  The SVD runs in `O`'s precision as in
/// [`singular_values`]; the logarithms in `f64`.
///
/// ```
/// use attnroll::{effective_rank, Array, TensorView};
/// let eye = [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
/// let zero = [0.0f32; 9];
/// let both = [&eye[..], &zero[..]].concat();
/// let r: Array<f64> = effective_rank(&TensorView::new(&both, &[2, 3, 3])?)?;
/// assert_eq!(r.shape, [2]);
/// assert!((r.data[0] - 3.0).abs() < 1e-12 && r.data[1] == 0.0);
/// # Ok::<(), attnroll::Error>(())
/// ```
pub fn effective_rank<O: Real, V: AsView>(x: &V) -> Result<Array<O>, Error> {
    let (shape, _) = leading(&x.raw());
    let shape = if shape.is_empty() { vec![1] } else { shape };
    let mut out = Array::zeros(&shape)?;
    spectrum_into(ffi::attnroll_effective_rank, x, &mut out.view_mut()?)?;
    Ok(out)
}

/// [`effective_rank`] writing into `out` (`[...]`, or `[1]` for a single matrix).
pub fn effective_rank_into<O: Real, V: AsView>(x: &V, out: &mut TensorViewMut<'_, O>) -> Result<(), Error> {
    spectrum_into(ffi::attnroll_effective_rank, x, out)
}
