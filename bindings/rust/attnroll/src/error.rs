//! `Error` and `Status`: a failed call's status and the library's message.

use std::ffi::CStr;
use std::fmt;

use attnroll_sys as ffi;

/// Why a call failed: the library's `ATTNROLL_E_*` status (fixed forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `ATTNROLL_E_ARGUMENT`: a count or id out of range, an unknown or
    /// out-of-bounds option.
    Argument,
    /// `ATTNROLL_E_SHAPE`: a rank, extent or stride that does not fit (also a
    /// view that reaches outside its slice, found before any call).
    Shape,
    /// `ATTNROLL_E_DTYPE`: an element type not allowed there.
    Dtype,
    /// `ATTNROLL_E_OVERLAP`: an output that overlaps itself or an input.
    Overlap,
    /// `ATTNROLL_E_MEMORY`: an allocation failed.
    Memory,
    /// `ATTNROLL_E_STATE`: an object not in a state that allows the call.
    State,
    /// `ATTNROLL_E_INTERNAL`: a failure inside the library; please report it.
    Internal,
    /// A status this binding does not know (from a newer library).
    Unknown(i32),
}

impl Status {
    /// The status for a non-zero code (`None` for `ATTNROLL_OK`).
    pub fn from_code(code: i32) -> Option<Status> {
        Some(match code {
            ffi::ATTNROLL_OK => return None,
            ffi::ATTNROLL_E_ARGUMENT => Status::Argument,
            ffi::ATTNROLL_E_SHAPE => Status::Shape,
            ffi::ATTNROLL_E_DTYPE => Status::Dtype,
            ffi::ATTNROLL_E_OVERLAP => Status::Overlap,
            ffi::ATTNROLL_E_MEMORY => Status::Memory,
            ffi::ATTNROLL_E_STATE => Status::State,
            ffi::ATTNROLL_E_INTERNAL => Status::Internal,
            other => Status::Unknown(other),
        })
    }

    /// The C status code.
    pub fn code(self) -> i32 {
        match self {
            Status::Argument => ffi::ATTNROLL_E_ARGUMENT,
            Status::Shape => ffi::ATTNROLL_E_SHAPE,
            Status::Dtype => ffi::ATTNROLL_E_DTYPE,
            Status::Overlap => ffi::ATTNROLL_E_OVERLAP,
            Status::Memory => ffi::ATTNROLL_E_MEMORY,
            Status::State => ffi::ATTNROLL_E_STATE,
            Status::Internal => ffi::ATTNROLL_E_INTERNAL,
            Status::Unknown(code) => code,
        }
    }

    /// The library's name for the status (`"ATTNROLL_E_SHAPE"`, ...).
    pub fn name(self) -> &'static str {
        // SAFETY: attnroll_status_string takes any value and returns a static,
        // NUL-terminated string, never NULL.
        let name = unsafe { CStr::from_ptr(ffi::attnroll_status_string(self.code())) };
        name.to_str().unwrap_or("unknown status")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed call: its [`Status`] and a message naming the argument and the
/// value that was wrong (the library's `attnroll_last_error()`, read on the
/// calling thread right after the call, or the binding's own for a check it
/// makes before calling).
///
/// ```
/// let data = [0.5f32, 0.5, 0.25, 0.75];
/// let err = attnroll::TensorView::new(&data, &[1, 2, 3]).unwrap_err();
/// assert_eq!(err.status, attnroll::Status::Shape);
/// assert!(err.message.contains("shape"));
/// println!("{}", err); // "<message> [ATTNROLL_E_SHAPE]"
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl Error {
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.message, self.status.name())
    }
}

impl std::error::Error for Error {}

/// `Ok(())` for `ATTNROLL_OK`, else the error with this thread's message.
/// Call it directly on a C call's result, before any other attnroll call.
pub(crate) fn check(code: i32) -> Result<(), Error> {
    match Status::from_code(code) {
        None => Ok(()),
        Some(status) => {
            // SAFETY: never NULL; valid until this thread's next attnroll call,
            // and copied out here before any other.
            let message = unsafe { CStr::from_ptr(ffi::attnroll_last_error()) };
            Err(Error::new(status, message.to_string_lossy().into_owned()))
        }
    }
}
