//! `Config`: an owned `attnroll_config`.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::ptr::NonNull;

use attnroll_sys as ffi;

use crate::error::{check, Error, Status};

/// Options for the rollouts and streams, built with consuming setters:
///
/// ```
/// use attnroll::Config;
/// let config = Config::new()?
///     .query_rows(&[0])?      // the CLS row only: outputs [F, 1, N]
///     .layer_range(1..)?      // without layer 0
///     .threads(2)?
///     .residual(1.0)?;
/// assert_eq!(config.get_layer_range(), (1, None));
/// let err = Config::new()?.threads(5000).unwrap_err();
/// assert_eq!(err.status, attnroll::Status::Argument);
/// # Ok::<(), attnroll::Error>(())
/// ```
///
/// A config is read, not kept, by the calls it is passed to.  It is `Send`
/// but not `Sync`.
pub struct Config {
    handle: NonNull<ffi::attnroll_config>,
    rows: Option<usize>,
}

// SAFETY: the library allows a config to be used from any thread, one at a time.
unsafe impl Send for Config {}

/// Puts the setter's name in front of the library's message ("value: 5000 is
/// outside the bounds of ATTNROLL_OPT_THREADS [0, 1024]" names the C argument).
fn named(result: Result<(), Error>, name: &str) -> Result<(), Error> {
    result.map_err(|e| Error::new(e.status, format!("{}: {}", name, e.message)))
}

fn to_i64(value: usize, name: &str) -> Result<i64, Error> {
    i64::try_from(value)
        .map_err(|_| Error::new(Status::Argument, format!("{}: {} does not fit in an i64", name, value)))
}

impl Config {
    /// Every option at its default.
    pub fn new() -> Result<Config, Error> {
        let mut raw: *mut ffi::attnroll_config = std::ptr::null_mut();
        // SAFETY: raw is a valid out-pointer.
        check(unsafe { ffi::attnroll_config_create(&mut raw) })?;
        let handle = NonNull::new(raw).ok_or_else(|| {
            Error::new(
                Status::Internal,
                "attnroll_config_create returned NULL with ATTNROLL_OK",
            )
        })?;
        Ok(Config { handle, rows: None })
    }

    pub(crate) fn as_ptr(&self) -> *const ffi::attnroll_config {
        self.handle.as_ptr()
    }

    fn set_int(&mut self, key: i32, value: i64, name: &str) -> Result<(), Error> {
        // SAFETY: the handle is live and owned by self.
        named(
            check(unsafe { ffi::attnroll_config_set_int(self.handle.as_ptr(), key, value) }),
            name,
        )
    }

    fn get_int(&self, key: i32) -> i64 {
        let mut value = 0i64;
        // SAFETY: live handle, valid out-pointer; the key is an INT key, so
        // the call cannot fail.
        let status = unsafe { ffi::attnroll_config_get_int(self.handle.as_ptr(), key, &mut value) };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        value
    }

    /// Rows of the rollout to compute, in this order (repeats allowed), e.g.
    /// `&[0]` for the CLS row; the output's row axis then has `rows.len()`
    /// entries.  Each must be < N (checked by the computing call).  Empty is
    /// refused: leave the option unset for all rows.
    pub fn query_rows(mut self, rows: &[usize]) -> Result<Config, Error> {
        if rows.is_empty() {
            return Err(Error::new(
                Status::Argument,
                "query_rows: is empty; leave query_rows unset to compute all rows",
            ));
        }
        let mut values = Vec::with_capacity(rows.len());
        for (i, &r) in rows.iter().enumerate() {
            values.push(to_i64(r, &format!("query_rows[{}]", i))?);
        }
        let count = to_i64(values.len(), "query_rows")?;
        // SAFETY: values holds count elements; the library copies them.
        let status = unsafe {
            ffi::attnroll_config_set_ints(
                self.handle.as_ptr(),
                ffi::ATTNROLL_OPT_QUERY_ROWS,
                values.as_ptr(),
                count,
            )
        };
        named(check(status), "query_rows")?;
        self.rows = Some(rows.len());
        Ok(self)
    }

    /// The layers rolled out: `1..` (all but layer 0), `0..12`, `..`, ...
    /// The computing call checks that begin < end <= the number of layers.
    pub fn layer_range<R: RangeBounds<usize>>(mut self, range: R) -> Result<Config, Error> {
        let begin = match range.start_bound() {
            Bound::Included(&b) => to_i64(b, "layer_range.start")?,
            Bound::Excluded(&b) => to_i64(b, "layer_range.start")?
                .checked_add(1)
                .ok_or_else(|| Error::new(Status::Argument, "layer_range.start: overflows"))?,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Excluded(&e) => to_i64(e, "layer_range.end")?,
            Bound::Included(&e) => to_i64(e, "layer_range.end")?
                .checked_add(1)
                .ok_or_else(|| Error::new(Status::Argument, "layer_range.end: overflows"))?,
            Bound::Unbounded => -1,
        };
        self.set_int(ffi::ATTNROLL_OPT_LAYER_BEGIN, begin, "layer_range.start")?;
        self.set_int(ffi::ATTNROLL_OPT_LAYER_END, end, "layer_range.end")?;
        Ok(self)
    }

    /// Worker threads a call may use; 0 (the default) lets the library choose.
    pub fn threads(mut self, threads: usize) -> Result<Config, Error> {
        let t = to_i64(threads, "threads")?;
        self.set_int(ffi::ATTNROLL_OPT_THREADS, t, "threads")?;
        Ok(self)
    }

    /// Weight `r` of the identity added to each layer before normalising the
    /// rows (1.0 by default; 0.0 gives plain attention products).
    pub fn residual(self, residual: f64) -> Result<Config, Error> {
        // SAFETY: live handle.
        let status =
            unsafe { ffi::attnroll_config_set_float(self.handle.as_ptr(), ffi::ATTNROLL_OPT_RESIDUAL, residual) };
        named(check(status), "residual")?;
        Ok(self)
    }

    /// The query rows set (empty when all rows are computed).
    pub fn get_query_rows(&self) -> Vec<usize> {
        let mut count = 0i64;
        // SAFETY: capacity 0 with a NULL values pointer asks for the length.
        let status = unsafe {
            ffi::attnroll_config_get_ints(
                self.as_ptr(),
                ffi::ATTNROLL_OPT_QUERY_ROWS,
                std::ptr::null_mut(),
                0,
                &mut count,
            )
        };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        let mut values = vec![0i64; count.max(0) as usize];
        // SAFETY: values has room for count elements.
        let status = unsafe {
            ffi::attnroll_config_get_ints(
                self.as_ptr(),
                ffi::ATTNROLL_OPT_QUERY_ROWS,
                values.as_mut_ptr(),
                values.len() as i64,
                &mut count,
            )
        };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        values.into_iter().map(|v| v as usize).collect()
    }

    /// The number of query rows, `None` when all rows are computed.
    pub fn num_query_rows(&self) -> Option<usize> {
        self.rows
    }

    /// `(begin, end)`, `end` `None` for "all layers".
    pub fn get_layer_range(&self) -> (usize, Option<usize>) {
        let begin = self.get_int(ffi::ATTNROLL_OPT_LAYER_BEGIN) as usize;
        let end = self.get_int(ffi::ATTNROLL_OPT_LAYER_END);
        (begin, if end < 0 { None } else { Some(end as usize) })
    }

    /// Worker threads (0 = the library's default).
    pub fn get_threads(&self) -> usize {
        self.get_int(ffi::ATTNROLL_OPT_THREADS) as usize
    }

    /// The residual weight.
    pub fn get_residual(&self) -> f64 {
        let mut value = 0f64;
        // SAFETY: live handle, valid out-pointer, a FLOAT key.
        let status = unsafe { ffi::attnroll_config_get_float(self.as_ptr(), ffi::ATTNROLL_OPT_RESIDUAL, &mut value) };
        debug_assert_eq!(status, ffi::ATTNROLL_OK);
        value
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by self and freed once.
        unsafe { ffi::attnroll_config_destroy(self.handle.as_ptr()) }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("query_rows", &self.get_query_rows())
            .field("layer_range", &self.get_layer_range())
            .field("threads", &self.get_threads())
            .field("residual", &self.get_residual())
            .finish()
    }
}

/// The number of output rows for a config and N tokens.
pub(crate) fn rows(config: Option<&Config>, n: usize) -> usize {
    config.and_then(|c| c.rows).unwrap_or(n)
}
