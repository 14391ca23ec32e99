//! The computing functions: rollouts, instance selection, post-processing.

use std::ptr;

use attnroll_sys as ffi;

use crate::config::{self, Config};
use crate::error::{check, Error, Status};
use crate::tensor::{Array, AsView, Real, TensorViewMut};

fn config_ptr(config: Option<&Config>) -> *const ffi::attnroll_config {
    config.map_or(ptr::null(), |c| c.as_ptr())
}

pub(crate) fn layer_tensors<V: AsView>(layers: &[V]) -> Result<Vec<ffi::attnroll_tensor>, Error> {
    if layers.is_empty() {
        return Err(Error::new(
            Status::Argument,
            "layers: is empty; give at least one layer",
        ));
    }
    if layers.len() > i32::MAX as usize {
        return Err(Error::new(
            Status::Argument,
            format!(
                "layers: {} layers is more than the library takes ({})",
                layers.len(),
                i32::MAX
            ),
        ));
    }
    Ok(layers.iter().map(|l| l.raw()).collect())
}

fn instance_i64(instance: usize) -> Result<i64, Error> {
    i64::try_from(instance).map_err(|_| {
        Error::new(
            Status::Argument,
            format!("instance: {} does not fit in an i64", instance),
        )
    })
}

pub(crate) fn extents(t: &ffi::attnroll_tensor) -> Vec<usize> {
    // SAFETY: t comes from a live view whose shape array has ndim entries.
    let shape = unsafe { std::slice::from_raw_parts(t.shape, t.ndim as usize) };
    shape.iter().map(|&e| e as usize).collect()
}

/// The output shape of a spatial rollout of these layers with this config.
fn spatial_shape(tensors: &[ffi::attnroll_tensor], config: Option<&Config>) -> Vec<usize> {
    let shape = extents(&tensors[0]);
    let n = config::tokens_kept(config, shape[shape.len() - 1]);
    let rows = config::rows(config, n);
    let mut out_shape = match shape.len() {
        4 => vec![shape[0], rows, n],
        3 => vec![rows, n],
        _ => vec![1], // the library reports the layer's rank
    };
    if let Some(l) = config::cumulative_length(config, tensors.len()) {
        out_shape.insert(0, l);
    }
    out_shape
}

/// Spatial rollout, per frame: `R = M_{e-1} @ ... @ M_b`, by default with
/// `M_i = normalize_rows(mean_over_heads(A_i) + r*I)` (the spec); the
/// [`Config`]'s method options choose other published methods (the header's
/// "The pipeline": [`drop_tokens`](Config::drop_tokens),
/// [`head_fusion`](Config::head_fusion), [`discard_ratio`](Config::discard_ratio),
/// [`rule`](Config::rule), [`cumulative`](Config::cumulative)).
/// [`HeadFusion::Grad`](crate::HeadFusion::Grad) needs [`spatial_grad`].
///
/// `layers`: layer 0 first, each `[F,H,N,N]` or `[H,N,N]` (same shape for all;
/// dtypes and strides may differ, see [`AnyView`](crate::AnyView)).  Returns
/// `[F,N',N']` (or `[N',N']`), with k query rows `[F,k,N']` (or `[k,N']`),
/// where N' = N - drop_tokens; with cumulative outputs a leading axis L' (the
/// layer range).  The products run in `O`'s precision.
///
/// ```
/// use attnroll::{spatial, Array, TensorView};
/// let a0 = [0.5f32, 0.5, 0.25, 0.75];   // [H=1, N=2, N=2]
/// let a1 = [0.0f32, 1.0, 1.0, 0.0];
/// let layers = [TensorView::new(&a0, &[1, 2, 2])?, TensorView::new(&a1, &[1, 2, 2])?];
/// let r: Array<f64> = spatial(&layers, None)?;
/// assert_eq!(r.shape, [2, 2]);
/// assert_eq!(r.data, [0.4375, 0.5625, 0.4375, 0.5625]);
/// # Ok::<(), attnroll::Error>(())
/// ```
pub fn spatial<O: Real, V: AsView>(layers: &[V], config: Option<&Config>) -> Result<Array<O>, Error> {
    let tensors = layer_tensors(layers)?;
    let mut out = Array::zeros(&spatial_shape(&tensors, config))?;
    spatial_raw(&tensors, config, &mut out.view_mut()?)?;
    Ok(out)
}

/// Spatial rollout with gradients, for [`HeadFusion::Grad`](crate::HeadFusion::Grad)
/// (and only for it; another fusion is [`Status::Argument`]): `grads[i]` is
/// the gradient of the explained score with respect to `layers[i]`, of the
/// same shape, any dtype and strides.  Chefer et al. 2021 is
/// `head_fusion(HeadFusion::Grad)` with `rule(Rule::Chefer)`:
///
/// ```
/// use attnroll::{spatial_grad, Array, Config, HeadFusion, Rule, TensorView};
/// let a = [0.5f64, 0.5, 0.25, 0.75];               // [H=1, N=2, N=2]
/// let g = [1.0f64, -1.0, 2.0, 0.0];
/// let config = Config::new()?.head_fusion(HeadFusion::Grad)?.rule(Rule::Chefer)?;
/// let r: Array<f64> = spatial_grad(&[TensorView::new(&a, &[1, 2, 2])?],
///                                  &[TensorView::new(&g, &[1, 2, 2])?], Some(&config))?;
/// // Abar = max(G * A, 0) = [[.5, 0], [.5, 0]]; R = I + Abar
/// assert_eq!(r.data, [1.5, 0.0, 0.5, 1.0]);
/// # Ok::<(), attnroll::Error>(())
/// ```
pub fn spatial_grad<O: Real, V: AsView, G: AsView>(
    layers: &[V],
    grads: &[G],
    config: Option<&Config>,
) -> Result<Array<O>, Error> {
    let (tensors, grad_tensors) = grad_tensors(layers, grads)?;
    let mut out = Array::zeros(&spatial_shape(&tensors, config))?;
    spatial_grad_raw(&tensors, &grad_tensors, config, &mut out.view_mut()?)?;
    Ok(out)
}

/// [`spatial_grad`] writing into `out`; nothing is written unless it succeeds.
pub fn spatial_grad_into<O: Real, V: AsView, G: AsView>(
    layers: &[V],
    grads: &[G],
    config: Option<&Config>,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    let (tensors, grad_tensors) = grad_tensors(layers, grads)?;
    spatial_grad_raw(&tensors, &grad_tensors, config, out)
}

type TensorPair = (Vec<ffi::attnroll_tensor>, Vec<ffi::attnroll_tensor>);

fn grad_tensors<V: AsView, G: AsView>(layers: &[V], grads: &[G]) -> Result<TensorPair, Error> {
    let tensors = layer_tensors(layers)?;
    if grads.len() != layers.len() {
        return Err(Error::new(
            Status::Argument,
            format!(
                "grads: {} gradients for {} layers; give one per layer",
                grads.len(),
                layers.len()
            ),
        ));
    }
    Ok((tensors, grads.iter().map(|g| g.raw()).collect()))
}

fn spatial_grad_raw<O: Real>(
    tensors: &[ffi::attnroll_tensor],
    grads: &[ffi::attnroll_tensor],
    config: Option<&Config>,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    let out = out.raw_mut();
    // SAFETY: as in spatial_raw; grads has as many checked views as tensors.
    check(unsafe {
        ffi::attnroll_spatial_grad(
            tensors.as_ptr(),
            grads.as_ptr(),
            tensors.len() as i32,
            config_ptr(config),
            &out,
        )
    })
}

/// [`spatial`] writing into `out` (`[F,N',N']`, `[N',N']`, `[F,k,N']` or
/// `[k,N']`, with a leading L' when cumulative); nothing is written unless it
/// succeeds.
pub fn spatial_into<O: Real, V: AsView>(
    layers: &[V],
    config: Option<&Config>,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    spatial_raw(&layer_tensors(layers)?, config, out)
}

fn spatial_raw<O: Real>(
    tensors: &[ffi::attnroll_tensor],
    config: Option<&Config>,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    let out = out.raw_mut();
    // SAFETY: every view was bounds-checked against its slice, which outlives
    // the call; out is an exclusive borrow; the config (if any) is live.
    check(unsafe { ffi::attnroll_spatial(tensors.as_ptr(), tensors.len() as i32, config_ptr(config), &out) })
}

/// The `[rows, cols]` that [`select_instance`] gives for `attn` and `instance`.
pub fn select_shape<V: AsView>(attn: &V, instance: usize) -> Result<(usize, usize), Error> {
    let t = attn.raw();
    let (mut rows, mut cols) = (0i64, 0i64);
    // SAFETY: t views a live, bounds-checked slice; valid out-pointers.
    check(unsafe { ffi::attnroll_select_shape(&t, instance_i64(instance)?, &mut rows, &mut cols) })?;
    Ok((rows as usize, cols as usize))
}

/// The `[T,T]` matrix of one instance (refiner id) of a temporal attention
/// array of rank >= 2, by the library's selection rules (leading axes left
/// over in rank >= 4 arrays are averaged).
pub fn select_instance<O: Real, V: AsView>(attn: &V, instance: usize) -> Result<Array<O>, Error> {
    let (rows, cols) = select_shape(attn, instance)?;
    let mut out = Array::zeros(&[rows, cols])?;
    select_instance_into(attn, instance, &mut out.view_mut()?)?;
    Ok(out)
}

/// [`select_instance`] writing into `out`.
pub fn select_instance_into<O: Real, V: AsView>(
    attn: &V,
    instance: usize,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    let t = attn.raw();
    let instance = instance_i64(instance)?;
    let o = out.raw_mut();
    // SAFETY: as in spatial.
    check(unsafe { ffi::attnroll_select_instance(&t, instance, &o) })
}

/// Temporal rollout: `T_{e-1} @ ... @ T_b` with
/// `T_i = normalize_rows(select_instance(A_i, instance) + r*I)`.
///
/// `layers` may differ in rank, dtype and layout; each must select a square
/// `[T,T]` with the same T.  Returns `[T,T]`, or `[k,T]` with k query rows;
/// with [`Config::cumulative`] a leading axis L'.  [`Config::rule`] applies
/// as in [`spatial`]; the other method options are spatial only.
pub fn temporal<O: Real, V: AsView>(layers: &[V], instance: usize, config: Option<&Config>) -> Result<Array<O>, Error> {
    let tensors = layer_tensors(layers)?;
    // The size from layer 0; if it has none, the rollout reports why.
    let t = select_shape(&layers[0], instance).map(|(r, _)| r).unwrap_or(1);
    let mut shape = vec![config::rows(config, t), t];
    if let Some(l) = config::cumulative_length(config, tensors.len()) {
        shape.insert(0, l);
    }
    let mut out = Array::zeros(&shape)?;
    temporal_raw(&tensors, instance, config, &mut out.view_mut()?)?;
    Ok(out)
}

/// [`temporal`] writing into `out` (`[T,T]` or `[k,T]`).
pub fn temporal_into<O: Real, V: AsView>(
    layers: &[V],
    instance: usize,
    config: Option<&Config>,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    temporal_raw(&layer_tensors(layers)?, instance, config, out)
}

fn temporal_raw<O: Real>(
    tensors: &[ffi::attnroll_tensor],
    instance: usize,
    config: Option<&Config>,
    out: &mut TensorViewMut<'_, O>,
) -> Result<(), Error> {
    let instance = instance_i64(instance)?;
    let out = out.raw_mut();
    // SAFETY: as in spatial.
    check(unsafe {
        ffi::attnroll_temporal(
            tensors.as_ptr(),
            tensors.len() as i32,
            instance,
            config_ptr(config),
            &out,
        )
    })
}

type PostFn = unsafe extern "C" fn(*const ffi::attnroll_tensor, *const ffi::attnroll_tensor) -> i32;

fn post_into<O: Real, V: AsView>(f: PostFn, x: &V, out: &mut TensorViewMut<'_, O>) -> Result<(), Error> {
    let t = x.raw();
    let o = out.raw_mut();
    // SAFETY: as in spatial.
    check(unsafe { f(&t, &o) })
}

fn post<O: Real, V: AsView>(f: PostFn, x: &V, out_shape: Vec<usize>) -> Result<Array<O>, Error> {
    let mut out = Array::zeros(&out_shape)?;
    post_into(f, x, &mut out.view_mut()?)?;
    Ok(out)
}

/// Each row of a matrix `[R,C]` scaled to [0, 1]; a constant row becomes zeros.
///
/// ```
/// use attnroll::{minmax_rows, Array, TensorView};
/// let x = [1.0f64, 3.0, 2.0, 5.0, 5.0, 5.0];
/// let y: Array<f64> = minmax_rows(&TensorView::new(&x, &[2, 3])?)?;
/// assert_eq!(y.data, [0.0, 1.0, 0.5, 0.0, 0.0, 0.0]);
/// # Ok::<(), attnroll::Error>(())
/// ```
pub fn minmax_rows<O: Real, V: AsView>(x: &V) -> Result<Array<O>, Error> {
    post(ffi::attnroll_minmax_rows, x, extents(&x.raw()))
}

/// [`minmax_rows`] writing into `out` (`[R,C]`).
pub fn minmax_rows_into<O: Real, V: AsView>(x: &V, out: &mut TensorViewMut<'_, O>) -> Result<(), Error> {
    post_into(ffi::attnroll_minmax_rows, x, out)
}

/// The mean over the rows of a matrix `[R,C]` for each column: `[C]`.
pub fn column_mean<O: Real, V: AsView>(x: &V) -> Result<Array<O>, Error> {
    let shape = extents(&x.raw());
    let out_shape = if shape.len() == 2 { vec![shape[1]] } else { vec![1] };
    post(ffi::attnroll_column_mean, x, out_shape)
}

/// [`column_mean`] writing into `out` (`[C]`).
pub fn column_mean_into<O: Real, V: AsView>(x: &V, out: &mut TensorViewMut<'_, O>) -> Result<(), Error> {
    post_into(ffi::attnroll_column_mean, x, out)
}

/// The whole array (any rank) scaled to [0, 1]; a constant array becomes zeros.
pub fn minmax<O: Real, V: AsView>(x: &V) -> Result<Array<O>, Error> {
    post(ffi::attnroll_minmax, x, extents(&x.raw()))
}

/// [`minmax`] writing into `out` (the input's shape).
pub fn minmax_into<O: Real, V: AsView>(x: &V, out: &mut TensorViewMut<'_, O>) -> Result<(), Error> {
    post_into(ffi::attnroll_minmax, x, out)
}
