//! The BLAS kernel in use against what the CPU supports, and a check of the
//! kernel's products (`attnroll_blas_report`, `attnroll_blas_kernel_level`,
//! `attnroll_blas_selfcheck`).

use std::ffi::CString;
use std::fmt;
use std::os::raw::c_char;

use attnroll_sys as ffi;

use crate::error::{check, Error};

/// A vector instruction level (`ATTNROLL_SIMD_*`), in increasing order, so
/// levels compare with `<`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// `ATTNROLL_SIMD_UNKNOWN`: not x86-64, or a kernel name not in attnroll's table.
    Unknown,
    /// `ATTNROLL_SIMD_SSE`: SSE2/SSE3 (Prescott, Core2, Nehalem, ...).
    Sse,
    /// `ATTNROLL_SIMD_AVX`: AVX with the OS saving YMM state (Sandybridge).
    Avx,
    /// `ATTNROLL_SIMD_AVX2`: AVX2 + FMA (Haswell, Zen).
    Avx2,
    /// `ATTNROLL_SIMD_AVX512`: AVX-512 F, BW, DQ and VL with the OS saving ZMM
    /// state (SkylakeX, Cooperlake, SapphireRapids).
    Avx512,
}

impl SimdLevel {
    /// The level for a C code; codes this binding does not know (from a newer
    /// library) are `Unknown`.
    pub fn from_code(code: i32) -> SimdLevel {
        match code {
            ffi::ATTNROLL_SIMD_SSE => SimdLevel::Sse,
            ffi::ATTNROLL_SIMD_AVX => SimdLevel::Avx,
            ffi::ATTNROLL_SIMD_AVX2 => SimdLevel::Avx2,
            ffi::ATTNROLL_SIMD_AVX512 => SimdLevel::Avx512,
            _ => SimdLevel::Unknown,
        }
    }

    /// The C code, `ATTNROLL_SIMD_*` (0 to 4).
    pub fn code(self) -> i32 {
        match self {
            SimdLevel::Unknown => ffi::ATTNROLL_SIMD_UNKNOWN,
            SimdLevel::Sse => ffi::ATTNROLL_SIMD_SSE,
            SimdLevel::Avx => ffi::ATTNROLL_SIMD_AVX,
            SimdLevel::Avx2 => ffi::ATTNROLL_SIMD_AVX2,
            SimdLevel::Avx512 => ffi::ATTNROLL_SIMD_AVX512,
        }
    }

    /// `"UNKNOWN"`, `"SSE"`, `"AVX"`, `"AVX2"` or `"AVX512"`.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Unknown => "UNKNOWN",
            SimdLevel::Sse => "SSE",
            SimdLevel::Avx => "AVX",
            SimdLevel::Avx2 => "AVX2",
            SimdLevel::Avx512 => "AVX512",
        }
    }
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The BLAS the library uses, its kernel, and what the CPU supports
/// (`attnroll_blas_info`).
///
/// OpenBLAS picks its kernel ("core") from the CPU when it is loaded.  A
/// release older than the CPU does not recognise it and falls back to its
/// oldest x86-64 kernels (Prescott, SSE3): Debian 12's OpenBLAS 0.3.21 on a
/// recent AVX-512 Xeon multiplies matrices about 6x slower than its SkylakeX
/// kernels would.  The environment variable `OPENBLAS_CORETYPE` forces a
/// kernel; it must be set before the process starts.  When
/// [`kernel_below_cpu`](BlasInfo::kernel_below_cpu) is true, [`fix`](BlasInfo::fix)
/// is that setting; a program may print it (the library never prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlasInfo {
    /// The BLAS's own description, e.g.
    /// `"OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"`.
    pub blas: String,
    /// The kernel in use, e.g. `"Prescott"`, `"SkylakeX"`.
    pub kernel: String,
    /// The level that kernel is written for (`Unknown` for a name not in
    /// attnroll's table).
    pub kernel_level: SimdLevel,
    /// The best level this CPU and OS support, from CPUID and XGETBV
    /// (`Unknown` off x86-64).
    pub cpu_level: SimdLevel,
    /// Both levels are known and `kernel_level < cpu_level`: the kernel leaves
    /// speed unused.
    pub kernel_below_cpu: bool,
    /// The OpenBLAS core name for `cpu_level`: `"SkylakeX"` (AVX512),
    /// `"Haswell"` (AVX2), `"Sandybridge"` (AVX), `""` otherwise.
    pub best_kernel: String,
    /// When `kernel_below_cpu`, the environment setting that selects
    /// `best_kernel`, e.g. `"OPENBLAS_CORETYPE=SkylakeX"`; else `""`.
    pub fix: String,
    /// `OPENBLAS_CORETYPE` in this process's environment now (`""` when unset).
    pub coretype_env: String,
}

impl BlasInfo {
    /// A one-line advice for a program to print when the kernel is below the
    /// CPU's level (`None` otherwise), e.g. "OpenBLAS uses its Prescott kernel
    /// but this CPU supports AVX512; set OPENBLAS_CORETYPE=SkylakeX in the
    /// environment before the program starts".
    pub fn advice(&self) -> Option<String> {
        if !self.kernel_below_cpu {
            return None;
        }
        Some(format!(
            "OpenBLAS uses its {} kernel but this CPU supports {}; set {} in the environment before the program starts",
            self.kernel, self.cpu_level, self.fix
        ))
    }
}

/// A NUL-terminated C string in a fixed array (the whole array when it holds
/// no NUL), as UTF-8 with invalid bytes replaced.
fn text(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reports the BLAS in use, its kernel, and what the CPU supports.  Cheap (a
/// few CPUID instructions); never prints, never changes anything.
///
/// ```
/// let info = attnroll::blas_info();
/// assert_eq!(
///     info.kernel_below_cpu,
///     info.kernel_level != attnroll::SimdLevel::Unknown
///         && info.cpu_level != attnroll::SimdLevel::Unknown
///         && info.kernel_level < info.cpu_level
/// );
/// if let Some(advice) = info.advice() {
///     eprintln!("{}", advice); // "... set OPENBLAS_CORETYPE=SkylakeX ..."
/// }
/// ```
pub fn blas_info() -> BlasInfo {
    let mut raw = ffi::attnroll_blas_info {
        blas: [0; 128],
        kernel: [0; 32],
        kernel_level: 0,
        cpu_level: 0,
        kernel_below_cpu: 0,
        best_kernel: [0; 32],
        fix: [0; 64],
        coretype_env: [0; 32],
    };
    // SAFETY: a valid, writable attnroll_blas_info; the only failure is NULL.
    let status = unsafe { ffi::attnroll_blas_report(&mut raw) };
    assert_eq!(
        status,
        ffi::ATTNROLL_OK,
        "attnroll_blas_report failed on a valid pointer"
    );
    BlasInfo {
        blas: text(&raw.blas),
        kernel: text(&raw.kernel),
        kernel_level: SimdLevel::from_code(raw.kernel_level),
        cpu_level: SimdLevel::from_code(raw.cpu_level),
        kernel_below_cpu: raw.kernel_below_cpu != 0,
        best_kernel: text(&raw.best_kernel),
        fix: text(&raw.fix),
        coretype_env: text(&raw.coretype_env),
    }
}

/// The level an OpenBLAS x86-64 core name is written for, case-insensitively
/// (as `OPENBLAS_CORETYPE` is read); `Unknown` for a name not in attnroll's
/// table.  A program can refuse to force a kernel above the CPU's level, which
/// would stop on an illegal instruction.
///
/// ```
/// use attnroll::{blas_kernel_level, SimdLevel};
/// assert_eq!(blas_kernel_level("SkylakeX"), SimdLevel::Avx512);
/// assert_eq!(blas_kernel_level("prescott"), SimdLevel::Sse);
/// assert_eq!(blas_kernel_level("Bogus"), SimdLevel::Unknown);
/// ```
pub fn blas_kernel_level(core_name: &str) -> SimdLevel {
    match CString::new(core_name) {
        // SAFETY: a NUL-terminated string that outlives the call.
        Ok(name) => SimdLevel::from_code(unsafe { ffi::attnroll_blas_kernel_level(name.as_ptr()) }),
        Err(_) => SimdLevel::Unknown, // an interior NUL: no core has that name
    }
}

/// Checks the BLAS kernel in use against plain loops: single and double
/// precision products (both transpose settings, sizes that reach the
/// kernels' edge cases) of fixed pseudo-random matrices; about a millisecond,
/// one thread.  Returns `(passed, max_rel_error)`: `passed` when every product
/// is within `1e-4` (single) or `1e-12` (double precision) of the exact sum,
/// relative to `sum |a_ik * b_kj|`, and the largest such error seen.  Run it
/// before trusting a kernel forced with `OPENBLAS_CORETYPE`.
///
/// ```
/// let (passed, max_rel_error) = attnroll::blas_selfcheck()?;
/// assert!(passed && max_rel_error <= 1e-4);
/// # Ok::<(), attnroll::Error>(())
/// ```
pub fn blas_selfcheck() -> Result<(bool, f64), Error> {
    let mut passed = 0i32;
    let mut error = 0f64;
    // SAFETY: two valid, writable locations.
    check(unsafe { ffi::attnroll_blas_selfcheck(&mut passed, &mut error) })?;
    Ok((passed != 0, error))
}
