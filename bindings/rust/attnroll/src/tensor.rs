//! Strided views over slices (inputs and outputs), owned results, dtypes.

use std::fmt;
use std::os::raw::c_void;

use attnroll_sys as ffi;

use crate::error::{Error, Status};

/// The largest rank a view may have (`ATTNROLL_MAX_NDIM`).
pub const MAX_NDIM: usize = ffi::ATTNROLL_MAX_NDIM as usize;

/// Element type of a view, as the library reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE binary32 (`f32`).
    F32,
    /// IEEE binary64 (`f64`).
    F64,
    /// IEEE binary16 (half), stored as `u16` bits; inputs only.
    F16,
    /// bfloat16 (the upper half of a binary32), stored as `u16` bits; inputs only.
    BF16,
}

impl Dtype {
    /// The C code (`ATTNROLL_F32`, ...).
    pub fn code(self) -> i32 {
        match self {
            Dtype::F32 => ffi::ATTNROLL_F32,
            Dtype::F64 => ffi::ATTNROLL_F64,
            Dtype::F16 => ffi::ATTNROLL_F16,
            Dtype::BF16 => ffi::ATTNROLL_BF16,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for u16 {}
}

/// A Rust type a view can hold: `f32`, `f64`, or `u16` (the bits of
/// half-precision or bfloat16 values, with an explicit [`Dtype`]).
pub trait Element: Copy + fmt::Debug + sealed::Sealed + 'static {
    #[doc(hidden)]
    fn holds(dtype: Dtype) -> bool;
}

/// An output element type: `f32` (products in sgemm) or `f64` (dgemm).
pub trait Real: Element + Default + PartialOrd + fmt::Display {
    /// The dtype of this type.
    const DTYPE: Dtype;
    /// The value as an `f64`.
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    fn holds(dtype: Dtype) -> bool {
        dtype == Dtype::F32
    }
}
impl Element for f64 {
    fn holds(dtype: Dtype) -> bool {
        dtype == Dtype::F64
    }
}
impl Element for u16 {
    fn holds(dtype: Dtype) -> bool {
        dtype == Dtype::F16 || dtype == Dtype::BF16
    }
}
impl Real for f32 {
    const DTYPE: Dtype = Dtype::F32;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
impl Real for f64 {
    const DTYPE: Dtype = Dtype::F64;
    fn to_f64(self) -> f64 {
        self
    }
}

/// Shape and strides checked against a slice of `len` elements.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Layout {
    ndim: usize,
    shape: [i64; MAX_NDIM],
    strides: [i64; MAX_NDIM],
    offset: usize,
}

fn shape_error(message: String) -> Error {
    Error::new(Status::Shape, message)
}

impl Layout {
    /// Checks the shape, computes C strides when none are given, and checks
    /// that every element the view can reach lies inside the slice.
    /// The rank is 1..=MAX_NDIM and every extent >= 1 and fits in an i64.
    fn check_shape(shape: &[usize]) -> Result<(), Error> {
        if shape.is_empty() || shape.len() > MAX_NDIM {
            return Err(shape_error(format!(
                "shape: rank {} is outside 1..={} (ATTNROLL_MAX_NDIM)",
                shape.len(),
                MAX_NDIM
            )));
        }
        for (d, &extent) in shape.iter().enumerate() {
            if extent == 0 {
                return Err(shape_error(format!(
                    "shape[{}]: extent 0; every extent must be >= 1",
                    d
                )));
            }
            if i64::try_from(extent).is_err() {
                return Err(shape_error(format!(
                    "shape[{}]: extent {} does not fit in an i64",
                    d, extent
                )));
            }
        }
        Ok(())
    }

    fn new(len: usize, shape: &[usize], strides: Option<&[i64]>, offset: usize) -> Result<Layout, Error> {
        Layout::check_shape(shape)?;
        let ndim = shape.len();
        let mut layout = Layout {
            ndim,
            shape: [0; MAX_NDIM],
            strides: [0; MAX_NDIM],
            offset,
        };
        for (d, &extent) in shape.iter().enumerate() {
            layout.shape[d] = extent as i64; // checked above
        }
        match strides {
            Some(strides) => {
                if strides.len() != ndim {
                    return Err(shape_error(format!(
                        "strides: {} strides for the rank-{} shape {:?}",
                        strides.len(),
                        ndim,
                        shape
                    )));
                }
                layout.strides[..ndim].copy_from_slice(strides);
            }
            None => {
                let mut step: i64 = 1;
                for d in (0..ndim).rev() {
                    layout.strides[d] = step;
                    step = step.checked_mul(layout.shape[d]).ok_or_else(|| {
                        shape_error(format!("shape: {:?} has more elements than an i64 holds", shape))
                    })?;
                }
            }
        }
        layout.check_bounds(len)?;
        Ok(layout)
    }

    /// Every reachable element index (offset + sum of index[d] * stride[d])
    /// must lie in 0..len; says which dimension leaves the slice if one does.
    fn check_bounds(&self, len: usize) -> Result<(), Error> {
        if self.offset >= len {
            return Err(shape_error(format!(
                "offset: element {} is past the end of the {}-element slice",
                self.offset, len
            )));
        }
        let (mut lo, mut hi) = (self.offset as i128, self.offset as i128);
        for d in 0..self.ndim {
            let (extent, stride) = (self.shape[d], self.strides[d]);
            let span = (extent as i128 - 1) * stride as i128;
            if span > 0 {
                hi += span;
                if hi >= len as i128 {
                    return Err(shape_error(format!(
                        "dim {} (extent {}, stride {}) reaches element {}, past the end of the \
                         {}-element slice (offset {}, shape {:?}, strides {:?})",
                        d,
                        extent,
                        stride,
                        hi,
                        len,
                        self.offset,
                        self.shape(),
                        self.strides()
                    )));
                }
            } else {
                lo += span;
                if lo < 0 {
                    return Err(shape_error(format!(
                        "dim {} (extent {}, stride {}) reaches element {}, before the start of the \
                         slice (offset {}, shape {:?}, strides {:?})",
                        d,
                        extent,
                        stride,
                        lo,
                        self.offset,
                        self.shape(),
                        self.strides()
                    )));
                }
            }
        }
        Ok(())
    }

    fn shape(&self) -> &[i64] {
        &self.shape[..self.ndim]
    }

    fn strides(&self) -> &[i64] {
        &self.strides[..self.ndim]
    }

    fn element_index(&self, index: &[usize]) -> Option<usize> {
        if index.len() != self.ndim {
            return None;
        }
        let mut at = self.offset as i128;
        for ((&i, &extent), &stride) in index.iter().zip(self.shape()).zip(self.strides()) {
            if i as u128 >= extent as u128 {
                return None;
            }
            at += i as i128 * stride as i128;
        }
        Some(at as usize) // in bounds: checked at construction
    }

    fn permuted(&self, axes: &[usize]) -> Result<Layout, Error> {
        let mut seen = [false; MAX_NDIM];
        if axes.len() != self.ndim {
            return Err(shape_error(format!(
                "axes: {} axes for a rank-{} view",
                axes.len(),
                self.ndim
            )));
        }
        let mut out = *self;
        for (d, &a) in axes.iter().enumerate() {
            if a >= self.ndim || seen[a] {
                return Err(shape_error(format!(
                    "axes: {:?} is not a permutation of 0..{}",
                    axes, self.ndim
                )));
            }
            seen[a] = true;
            out.shape[d] = self.shape[a];
            out.strides[d] = self.strides[a];
        }
        Ok(out)
    }
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layout")
            .field("shape", &self.shape())
            .field("strides", &self.strides())
            .field("offset", &self.offset)
            .finish()
    }
}

/// A read-only strided view of a slice, checked against it when made: every
/// element the view can reach lies inside the slice, so the library never
/// reads outside it.
///
/// Strides count elements and may be negative (reversed axes), zero
/// (broadcast) or anything else; the element at index `[0, 0, ...]` is
/// `data[offset]`.
///
/// ```
/// use attnroll::TensorView;
/// let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];               // [[1,2,3],[4,5,6]]
/// let c = TensorView::new(&a, &[2, 3])?;                   // C order
/// let t = TensorView::with_strides(&a, &[3, 2], &[1, 3], 0)?; // its transpose, no copy
/// assert_eq!(t.get(&[2, 1]), c.get(&[1, 2]));
/// let r = TensorView::with_strides(&a, &[2, 3], &[3, -1], 2)?; // columns reversed
/// assert_eq!(r.get(&[0, 0]), Some(3.0));
/// let err = TensorView::with_strides(&a, &[2, 3], &[4, 1], 0).unwrap_err();
/// assert!(err.message.starts_with("dim 1 (extent 3, stride 1) reaches element 6"));
/// # Ok::<(), attnroll::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct TensorView<'a, T: Element> {
    data: &'a [T],
    dtype: Dtype,
    layout: Layout,
}

impl<'a, T: Real> TensorView<'a, T> {
    /// A C-contiguous (row-major) view; `data` must hold exactly the
    /// product of `shape` elements.
    pub fn new(data: &'a [T], shape: &[usize]) -> Result<Self, Error> {
        TensorView::make(data, shape, None, 0, T::DTYPE)
    }

    /// A view with explicit element strides; element `[0, 0, ...]` is
    /// `data[offset]`.
    pub fn with_strides(data: &'a [T], shape: &[usize], strides: &[i64], offset: usize) -> Result<Self, Error> {
        TensorView::make(data, shape, Some(strides), offset, T::DTYPE)
    }
}

impl<'a> TensorView<'a, u16> {
    /// A C-contiguous view of 16-bit floats stored as their bits:
    /// `dtype` is [`Dtype::F16`] or [`Dtype::BF16`].
    ///
    /// ```
    /// use attnroll::{Dtype, TensorView};
    /// let bits = [0x3800u16, 0x3800, 0x3400, 0x3A00];   // f16 0.5 0.5 0.25 0.75
    /// let v = TensorView::from_bits(&bits, &[1, 2, 2], Dtype::F16)?;
    /// let r: attnroll::Array<f32> = attnroll::spatial(&[v], None)?;
    /// assert_eq!(r.data, [0.75, 0.25, 0.125, 0.875]);
    /// # Ok::<(), attnroll::Error>(())
    /// ```
    pub fn from_bits(data: &'a [u16], shape: &[usize], dtype: Dtype) -> Result<Self, Error> {
        TensorView::make(data, shape, None, 0, dtype)
    }

    /// [`from_bits`](TensorView::from_bits) with explicit strides and offset.
    pub fn from_bits_with_strides(
        data: &'a [u16],
        shape: &[usize],
        strides: &[i64],
        offset: usize,
        dtype: Dtype,
    ) -> Result<Self, Error> {
        TensorView::make(data, shape, Some(strides), offset, dtype)
    }
}

fn check_dtype<T: Element>(dtype: Dtype) -> Result<(), Error> {
    if T::holds(dtype) {
        Ok(())
    } else {
        Err(Error::new(
            Status::Dtype,
            format!(
                "dtype: {:?} data cannot be stored as {}; u16 bits hold F16 or BF16",
                dtype,
                std::any::type_name::<T>()
            ),
        ))
    }
}

fn exact_len(len: usize, shape: &[usize]) -> Result<(), Error> {
    let mut n: usize = 1;
    for &e in shape {
        n = n.saturating_mul(e);
    }
    if n != len {
        return Err(shape_error(format!(
            "shape: {:?} holds {} elements but the slice has {}; use with_strides to view part of a slice",
            shape, n, len
        )));
    }
    Ok(())
}

impl<'a, T: Element> TensorView<'a, T> {
    fn make(
        data: &'a [T],
        shape: &[usize],
        strides: Option<&[i64]>,
        offset: usize,
        dtype: Dtype,
    ) -> Result<Self, Error> {
        check_dtype::<T>(dtype)?;
        if strides.is_none() {
            Layout::check_shape(shape)?;
            exact_len(data.len(), shape)?;
        }
        Ok(TensorView {
            data,
            dtype,
            layout: Layout::new(data.len(), shape, strides, offset)?,
        })
    }

    /// The same data with its axes reordered: axis `d` of the result is axis
    /// `axes[d]` of `self` (so `[1, 0]` transposes a matrix).  No copy.
    pub fn permuted(&self, axes: &[usize]) -> Result<Self, Error> {
        Ok(TensorView {
            data: self.data,
            dtype: self.dtype,
            layout: self.layout.permuted(axes)?,
        })
    }

    /// The element at `index`, or `None` if the index is out of range.
    pub fn get(&self, index: &[usize]) -> Option<T> {
        self.layout.element_index(index).map(|i| self.data[i])
    }

    pub fn data(&self) -> &'a [T] {
        self.data
    }
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }
    pub fn ndim(&self) -> usize {
        self.layout.ndim
    }
    pub fn shape(&self) -> &[i64] {
        self.layout.shape()
    }
    pub fn strides(&self) -> &[i64] {
        self.layout.strides()
    }
    pub fn offset(&self) -> usize {
        self.layout.offset
    }
}

impl<'a, T: Element> fmt::Debug for TensorView<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TensorView")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape())
            .field("strides", &self.strides())
            .field("offset", &self.layout.offset)
            .field("slice_len", &self.data.len())
            .finish()
    }
}

/// A view of any element type, for calls whose layers differ in dtype:
/// `AnyView::from(view)`.
#[derive(Clone, Copy, Debug)]
pub struct AnyView<'a> {
    data: *const c_void,
    dtype: Dtype,
    layout: Layout,
    _borrow: std::marker::PhantomData<&'a [u8]>,
}

impl<'a, T: Element> From<TensorView<'a, T>> for AnyView<'a> {
    fn from(v: TensorView<'a, T>) -> AnyView<'a> {
        AnyView {
            data: v.data.as_ptr() as *const c_void,
            dtype: v.dtype,
            layout: v.layout,
            _borrow: std::marker::PhantomData,
        }
    }
}

// SAFETY: an AnyView is a shared borrow of a slice of plain numbers.
unsafe impl<'a> Send for AnyView<'a> {}
unsafe impl<'a> Sync for AnyView<'a> {}

mod view_sealed {
    pub trait Sealed {}
}

/// An input the library can read: [`TensorView`] or [`AnyView`].
pub trait AsView: view_sealed::Sealed {
    /// The C view; valid while `self` is borrowed.
    #[doc(hidden)]
    fn raw(&self) -> ffi::attnroll_tensor;
}

impl<'a, T: Element> view_sealed::Sealed for TensorView<'a, T> {}
impl<'a, T: Element> AsView for TensorView<'a, T> {
    fn raw(&self) -> ffi::attnroll_tensor {
        raw(
            self.data.as_ptr() as *const c_void,
            self.dtype,
            &self.layout,
            std::mem::size_of::<T>(),
        )
    }
}
impl<'a> view_sealed::Sealed for AnyView<'a> {}
impl<'a> AsView for AnyView<'a> {
    fn raw(&self) -> ffi::attnroll_tensor {
        raw(self.data, self.dtype, &self.layout, self.dtype.size())
    }
}
impl<V: AsView> view_sealed::Sealed for &V {}
impl<V: AsView> AsView for &V {
    fn raw(&self) -> ffi::attnroll_tensor {
        (**self).raw()
    }
}

fn raw(base: *const c_void, dtype: Dtype, layout: &Layout, elem_size: usize) -> ffi::attnroll_tensor {
    ffi::attnroll_tensor {
        // The library only reads inputs; offset < slice length (checked).
        data: (base as *const u8).wrapping_add(layout.offset * elem_size) as *mut c_void,
        dtype: dtype.code(),
        ndim: layout.ndim as i32,
        shape: layout.shape.as_ptr(),
        strides: layout.strides.as_ptr(),
    }
}

/// A writable strided view of a slice, for the `*_into` functions.  Checked
/// like [`TensorView`]; the element type is `f32` or `f64`.  Strides must not
/// make two indices share an element (the library refuses such an output).
pub struct TensorViewMut<'a, T: Real> {
    data: &'a mut [T],
    layout: Layout,
}

impl<'a, T: Real> TensorViewMut<'a, T> {
    /// A C-contiguous view; `data` must hold exactly the product of `shape`.
    pub fn new(data: &'a mut [T], shape: &[usize]) -> Result<Self, Error> {
        Layout::check_shape(shape)?;
        exact_len(data.len(), shape)?;
        let layout = Layout::new(data.len(), shape, None, 0)?;
        Ok(TensorViewMut { data, layout })
    }

    /// A view with explicit element strides; element `[0, 0, ...]` is
    /// `data[offset]`.
    pub fn with_strides(data: &'a mut [T], shape: &[usize], strides: &[i64], offset: usize) -> Result<Self, Error> {
        let layout = Layout::new(data.len(), shape, Some(strides), offset)?;
        Ok(TensorViewMut { data, layout })
    }

    /// A read-only view of the same elements.
    pub fn as_view(&self) -> TensorView<'_, T> {
        TensorView {
            data: self.data,
            dtype: T::DTYPE,
            layout: self.layout,
        }
    }

    /// The element at `index`, or `None` if the index is out of range.
    pub fn get(&self, index: &[usize]) -> Option<T> {
        self.layout.element_index(index).map(|i| self.data[i])
    }

    pub fn shape(&self) -> &[i64] {
        self.layout.shape()
    }
    pub fn strides(&self) -> &[i64] {
        self.layout.strides()
    }
    pub fn offset(&self) -> usize {
        self.layout.offset
    }

    pub(crate) fn raw_mut(&mut self) -> ffi::attnroll_tensor {
        let elem = std::mem::size_of::<T>();
        raw(self.data.as_mut_ptr() as *const c_void, T::DTYPE, &self.layout, elem)
    }
}

impl<'a, T: Real> fmt::Debug for TensorViewMut<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TensorViewMut")
            .field("dtype", &T::DTYPE)
            .field("shape", &self.shape())
            .field("strides", &self.strides())
            .field("offset", &self.layout.offset)
            .field("slice_len", &self.data.len())
            .finish()
    }
}

/// An owned, C-ordered result.
#[derive(Debug, Clone, PartialEq)]
pub struct Array<T> {
    /// The elements in C (row-major) order.
    pub data: Vec<T>,
    /// The extents.
    pub shape: Vec<usize>,
}

impl<T: Real> Array<T> {
    /// An array of zeros; `Memory` error if it cannot be allocated.
    pub fn zeros(shape: &[usize]) -> Result<Array<T>, Error> {
        let mut n: usize = 1;
        for &e in shape {
            n = n
                .checked_mul(e)
                .ok_or_else(|| Error::new(Status::Shape, format!("out: shape {:?} has too many elements", shape)))?;
        }
        let mut data = Vec::new();
        data.try_reserve_exact(n).map_err(|_| {
            Error::new(
                Status::Memory,
                format!("out: cannot allocate {} elements for shape {:?}", n, shape),
            )
        })?;
        data.resize(n, T::default());
        Ok(Array {
            data,
            shape: shape.to_vec(),
        })
    }

    /// A view of the array (for feeding it to another call).
    pub fn view(&self) -> Result<TensorView<'_, T>, Error> {
        TensorView::new(&self.data, &self.shape)
    }

    /// A writable view of the array (for the `*_into` functions).
    pub fn view_mut(&mut self) -> Result<TensorViewMut<'_, T>, Error> {
        TensorViewMut::new(&mut self.data, &self.shape)
    }

    /// The element at `index`, or `None` if out of range.
    pub fn get(&self, index: &[usize]) -> Option<T> {
        if index.len() != self.shape.len() {
            return None;
        }
        let mut at = 0usize;
        for (i, e) in index.iter().zip(&self.shape) {
            if i >= e {
                return None;
            }
            at = at * e + i;
        }
        self.data.get(at).copied()
    }
}
