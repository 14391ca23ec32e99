//! `Stream`: an owned `attnroll_stream` (streaming spatial rollout).

use std::ptr::{self, NonNull};

use attnroll_sys as ffi;

use crate::config::{self, Config};
use crate::error::{check, Error, Status};
use crate::tensor::{Array, AsView, Dtype, Real, TensorViewMut};

/// Streaming spatial rollout: push layers 0, 1, ... one at a time, then ask
/// for the result; the same numbers as [`spatial`](crate::spatial) on the
/// same layers and config, holding O(F·N²) memory whatever the number of
/// layers or heads.
///
/// ```
/// use attnroll::{Array, Dtype, Stream, TensorView};
/// let a0 = [0.5f32, 0.5, 0.25, 0.75];
/// let a1 = [0.0f32, 1.0, 1.0, 0.0];
/// let mut s = Stream::new(1, 2, Dtype::F64, None)?;   // F = 1 frame, N = 2 tokens
/// s.push(&TensorView::new(&a0, &[1, 1, 2, 2])?)?;
/// s.push(&TensorView::new(&a1, &[1, 2, 2])?)?;       // [H,N,N] is fine when F = 1
/// assert_eq!(s.layers_pushed(), 2);
/// let r: Array<f64> = s.result()?;                    // [F, N, N]; finishes the stream
/// assert_eq!(r.data, [0.4375, 0.5625, 0.4375, 0.5625]);
/// assert_eq!(s.push(&TensorView::new(&a0, &[1, 2, 2])?).unwrap_err().status, attnroll::Status::State);
/// # Ok::<(), attnroll::Error>(())
/// ```
///
/// A stream is `Send` (it may move to another thread) but not `Sync`:
///
/// ```compile_fail
/// fn shared<T: Sync>() {}
/// shared::<attnroll::Stream>();
/// ```
pub struct Stream {
    handle: NonNull<ffi::attnroll_stream>,
    frames: usize,
    tokens: usize,
    rows: usize,
    cumulative: bool,
    layer_range: (usize, Option<usize>),
}

// SAFETY: the library allows a stream to be used from any thread, one at a time.
unsafe impl Send for Stream {}

impl Stream {
    /// A stream for layers of `frames` frames and `tokens` tokens whose
    /// products run in `precision` ([`Dtype::F32`] or [`Dtype::F64`]).  The
    /// config is copied; `None` means the defaults.
    pub fn new(frames: usize, tokens: usize, precision: Dtype, config: Option<&Config>) -> Result<Stream, Error> {
        let f = i64::try_from(frames)
            .map_err(|_| Error::new(Status::Argument, format!("frames: {} does not fit in an i64", frames)))?;
        let n = i64::try_from(tokens)
            .map_err(|_| Error::new(Status::Argument, format!("tokens: {} does not fit in an i64", tokens)))?;
        let mut raw: *mut ffi::attnroll_stream = ptr::null_mut();
        let cfg = config.map_or(ptr::null(), |c| c.as_ptr());
        // SAFETY: the config (if any) is live; raw is a valid out-pointer.
        check(unsafe { ffi::attnroll_stream_create(cfg, f, n, precision.code(), &mut raw) })?;
        let handle = NonNull::new(raw).ok_or_else(|| {
            Error::new(
                Status::Internal,
                "attnroll_stream_create returned NULL with ATTNROLL_OK",
            )
        })?;
        let kept = config::tokens_kept(config, tokens);
        Ok(Stream {
            handle,
            frames,
            tokens: kept,
            rows: config::rows(config, kept),
            cumulative: config.filter(|c| c.get_cumulative()).is_some(),
            layer_range: config.map_or((0, None), |c| c.get_layer_range()),
        })
    }

    /// Pushes the next layer: `[F,H,N,N]`, or `[H,N,N]` when F = 1; any dtype,
    /// strides and head count.  A refused layer leaves the stream as it was.
    /// With [`HeadFusion::Grad`](crate::HeadFusion::Grad) use [`push_grad`](Stream::push_grad).
    pub fn push<V: AsView>(&mut self, layer: &V) -> Result<(), Error> {
        let t = layer.raw();
        // SAFETY: exclusive use of the live handle; t views a checked slice.
        check(unsafe { ffi::attnroll_stream_push(self.handle.as_ptr(), &t) })
    }

    /// Pushes the next layer with its gradient, for
    /// [`HeadFusion::Grad`](crate::HeadFusion::Grad) only: `grad` has the
    /// layer's shape, any dtype and strides.  Otherwise as [`push`](Stream::push).
    ///
    /// ```
    /// use attnroll::{Array, Config, Dtype, HeadFusion, Stream, TensorView};
    /// let a = [0.5f32, 0.5, 0.25, 0.75];
    /// let g = [1.0f32, -1.0, 2.0, 0.0];
    /// let config = Config::new()?.head_fusion(HeadFusion::Grad)?;
    /// let mut s = Stream::new(1, 2, Dtype::F64, Some(&config))?;
    /// s.push_grad(&TensorView::new(&a, &[1, 2, 2])?, &TensorView::new(&g, &[1, 2, 2])?)?;
    /// let r: Array<f64> = s.result()?;     // normalize_rows(max(G*A, 0) + I)
    /// assert_eq!(r.data, [1.0, 0.0, 1.0 / 3.0, 2.0 / 3.0]);
    /// # Ok::<(), attnroll::Error>(())
    /// ```
    pub fn push_grad<V: AsView, G: AsView>(&mut self, layer: &V, grad: &G) -> Result<(), Error> {
        let t = layer.raw();
        let g = grad.raw();
        // SAFETY: exclusive use of the live handle; t and g view checked slices.
        check(unsafe { ffi::attnroll_stream_push_grad(self.handle.as_ptr(), &t, &g) })
    }

    /// The rollout of the layers pushed, `[F,N',N']`, or `[F,k,N']` with k
    /// query rows (N' = N - drop_tokens), with a leading axis L' when the
    /// config asks for cumulative outputs, in either precision.  Finishes the
    /// stream: later pushes fail with [`Status::State`]; the result may be
    /// asked for again.
    pub fn result<O: Real>(&mut self) -> Result<Array<O>, Error> {
        let mut shape = vec![self.frames, self.rows, self.tokens];
        if self.cumulative {
            let pushed = self.layers_pushed() as usize;
            let (begin, end) = self.layer_range;
            let end = end.unwrap_or(pushed);
            shape.insert(0, if begin < end && end <= pushed { end - begin } else { 1 });
        }
        let mut out = Array::zeros(&shape)?;
        self.result_into(&mut out.view_mut()?)?;
        Ok(out)
    }

    /// [`result`](Stream::result) writing into `out` (`[F,N,N]`, `[F,k,N]`,
    /// or without the F axis when F = 1).
    pub fn result_into<O: Real>(&mut self, out: &mut TensorViewMut<'_, O>) -> Result<(), Error> {
        let o = out.raw_mut();
        // SAFETY: exclusive use of the live handle; o is an exclusive, checked view.
        check(unsafe { ffi::attnroll_stream_result(self.handle.as_ptr(), &o) })
    }

    fn info(&self) -> (u64, u64) {
        let (mut pushed, mut held) = (0i64, 0i64);
        // SAFETY: live handle (the only failure is a NULL one); valid out-pointers.
        let status = unsafe { ffi::attnroll_stream_info(self.handle.as_ptr(), &mut pushed, &mut held) };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        (pushed as u64, held as u64)
    }

    /// Layers accepted so far.
    pub fn layers_pushed(&self) -> u64 {
        self.info().0
    }

    /// Bytes of working memory the stream holds now.
    pub fn bytes_held(&self) -> u64 {
        self.info().1
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by self and freed once.
        unsafe { ffi::attnroll_stream_destroy(self.handle.as_ptr()) }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("frames", &self.frames)
            .field("tokens", &self.tokens)
            .field("rows", &self.rows)
            .field("layers_pushed", &self.layers_pushed())
            .finish()
    }
}
