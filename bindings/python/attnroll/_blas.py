"""The BLAS kernel in use against what the CPU supports (attnroll_blas_report,
attnroll_blas_kernel_level, attnroll_blas_selfcheck), and the warning issued
once at import when OpenBLAS runs kernels below the CPU's level."""

import ctypes
import warnings

from . import _lib
from ._errors import Error, check


def _level_name(level):
    return _lib.SIMD_NAMES[level] if 0 <= level < len(_lib.SIMD_NAMES) else f"LEVEL{level}"


def blas_info():
    """The BLAS the library uses, its kernel, and what the CPU supports:

    blas                  the BLAS's own description ("OpenBLAS 0.3.21 ... Prescott ...")
    kernel                the kernel in use ("Prescott", "SkylakeX", ...)
    kernel_level          the vector level that kernel is written for, 0..4
    kernel_level_name     the same as a name: "UNKNOWN", "SSE", "AVX", "AVX2", "AVX512"
    cpu_level             the best level this CPU and OS support (CPUID/XGETBV), 0..4
    cpu_level_name        the same as a name
    kernel_below_cpu      True when both levels are known and the kernel's is lower
    best_kernel           the OpenBLAS core for cpu_level ("SkylakeX", "Haswell",
                          "Sandybridge", or "")
    fix                   when kernel_below_cpu, the environment setting that fixes it
                          ("OPENBLAS_CORETYPE=SkylakeX"), else ""
    coretype_env          OPENBLAS_CORETYPE in this process's environment ("" if unset)

    OPENBLAS_CORETYPE is read when OpenBLAS is loaded: it must be set before
    Python starts.  Never prints, never changes anything."""
    info = _lib.BlasInfo()
    check(_lib.lib.attnroll_blas_report(ctypes.byref(info)))
    text = lambda field: getattr(info, field).decode("utf-8", "replace")  # noqa: E731
    return {
        "blas": text("blas"),
        "kernel": text("kernel"),
        "kernel_level": info.kernel_level,
        "kernel_level_name": _level_name(info.kernel_level),
        "cpu_level": info.cpu_level,
        "cpu_level_name": _level_name(info.cpu_level),
        "kernel_below_cpu": bool(info.kernel_below_cpu),
        "best_kernel": text("best_kernel"),
        "fix": text("fix"),
        "coretype_env": text("coretype_env"),
    }


def blas_kernel_level(core_name):
    """The vector level (0..4, see blas_info) an OpenBLAS x86-64 core name is
    written for, case-insensitively: 4 for "SkylakeX", 1 for "Prescott", 0
    for a name attnroll does not know."""
    if not isinstance(core_name, str):
        raise TypeError(f"core_name: expected a str, got {type(core_name).__name__}")
    return _lib.lib.attnroll_blas_kernel_level(core_name.encode("utf-8"))


def blas_selfcheck():
    """Checks the BLAS kernel in use against plain loops (single and double
    precision products, both transpose settings, edge-case sizes; about a
    millisecond).  Returns (passed, max_rel_error): passed is True when every
    product is within 1e-4 (single) / 1e-12 (double) of the exact sum,
    relative to sum |a_ik * b_kj|; max_rel_error is the largest such error."""
    passed, error = ctypes.c_int32(), ctypes.c_double()
    check(_lib.lib.attnroll_blas_selfcheck(ctypes.byref(passed), ctypes.byref(error)))
    return bool(passed.value), error.value


def kernel_warning(info):
    """The import-time warning's text for blas_info() output, or None when the
    kernel is not below the CPU's level."""
    if not info["kernel_below_cpu"]:
        return None
    gain = ("about 6x faster matrix products"
            if info["kernel_level"] == _lib.SIMD_SSE and info["cpu_level"] == _lib.SIMD_AVX512
            else "faster matrix products")
    instead = f" instead of OPENBLAS_CORETYPE={info['coretype_env']}" if info["coretype_env"] else ""
    return (f"attnroll: OpenBLAS uses its {info['kernel']} kernel but this CPU supports "
            f"{info['cpu_level_name']}; start Python with {info['fix']} set in the environment"
            f"{instead} ({gain}; it cannot take effect once OpenBLAS is loaded)")


_warned = False


def warn_if_kernel_below_cpu():
    """Issues the RuntimeWarning once per process; called from the package's
    top level, so stacklevel 3 names the line that imported attnroll (the
    import machinery's frames are skipped)."""
    global _warned
    if _warned:
        return
    _warned = True
    try:
        message = kernel_warning(blas_info())
    except Error:  # a report that fails must not make the package unusable
        return
    if message:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
