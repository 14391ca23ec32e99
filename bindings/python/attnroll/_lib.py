"""Raw layer: finds libattnroll, declares every exported function, mirrors the
header's constants.  Nothing here knows about numpy."""

import ctypes
import ctypes.util
import os
import pathlib

PACKAGE_VERSION = (1, 0, 0)

# Status codes (include/attnroll.h; fixed forever).
OK, E_ARGUMENT, E_SHAPE, E_DTYPE, E_OVERLAP, E_MEMORY, E_STATE, E_INTERNAL = range(8)

# Element types.
F32, F64, F16, BF16 = 1, 2, 3, 4

# Option keys and kinds.
OPT_QUERY_ROWS, OPT_LAYER_BEGIN, OPT_LAYER_END, OPT_THREADS, OPT_RESIDUAL = 1, 2, 3, 4, 5
OPT_DROP_TOKENS, OPT_HEAD_FUSION, OPT_HEAD_WEIGHTS, OPT_DISCARD_RATIO = 6, 7, 8, 9
OPT_PROTECT, OPT_RULE, OPT_CUMULATIVE = 10, 11, 12
OPTION_INT, OPTION_FLOAT, OPTION_INTS, OPTION_FLOATS = 1, 2, 3, 4

# Head fusions (ATTNROLL_FUSE_*) and rules (ATTNROLL_RULE_*).
FUSE_MEAN, FUSE_MAX, FUSE_MIN, FUSE_ENTROPY, FUSE_WEIGHTS, FUSE_GRAD = range(6)
RULE_ROLLOUT, RULE_CHEFER = 0, 1

# Vector instruction levels (ATTNROLL_SIMD_*), in increasing order.
SIMD_UNKNOWN, SIMD_SSE, SIMD_AVX, SIMD_AVX2, SIMD_AVX512 = range(5)
SIMD_NAMES = ("UNKNOWN", "SSE", "AVX", "AVX2", "AVX512")


class Tensor(ctypes.Structure):
    """attnroll_tensor: strides in elements."""

    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
    ]


class _Config(ctypes.Structure):
    pass


class _Stream(ctypes.Structure):
    pass


class BlasInfo(ctypes.Structure):
    """attnroll_blas_info: NUL-terminated strings in fixed arrays."""

    _fields_ = [
        ("blas", ctypes.c_char * 128),
        ("kernel", ctypes.c_char * 32),
        ("kernel_level", ctypes.c_int32),
        ("cpu_level", ctypes.c_int32),
        ("kernel_below_cpu", ctypes.c_int32),
        ("best_kernel", ctypes.c_char * 32),
        ("fix", ctypes.c_char * 64),
        ("coretype_env", ctypes.c_char * 32),
    ]


ConfigPtr = ctypes.POINTER(_Config)
StreamPtr = ctypes.POINTER(_Stream)
_T = ctypes.POINTER(Tensor)
_i32, _i64, _f64 = ctypes.c_int32, ctypes.c_int64, ctypes.c_double
_pi32, _pi64, _pf64 = ctypes.POINTER(_i32), ctypes.POINTER(_i64), ctypes.POINTER(_f64)

# (name, argtypes, restype) for every function in include/attnroll.h.
SIGNATURES = [
    ("attnroll_version_number", [], _i32),
    ("attnroll_version_string", [], ctypes.c_char_p),
    ("attnroll_status_string", [_i32], ctypes.c_char_p),
    ("attnroll_last_error", [], ctypes.c_char_p),
    ("attnroll_dtype_size", [_i32], _i32),
    ("attnroll_max_ndim", [], _i32),
    ("attnroll_option_info", [_i32, _pi32, _pf64, _pf64], _i32),
    ("attnroll_config_create", [ctypes.POINTER(ConfigPtr)], _i32),
    ("attnroll_config_destroy", [ConfigPtr], None),
    ("attnroll_config_set_int", [ConfigPtr, _i32, _i64], _i32),
    ("attnroll_config_set_float", [ConfigPtr, _i32, _f64], _i32),
    ("attnroll_config_set_ints", [ConfigPtr, _i32, _pi64, _i64], _i32),
    ("attnroll_config_set_floats", [ConfigPtr, _i32, _pf64, _i64], _i32),
    ("attnroll_config_get_int", [ConfigPtr, _i32, _pi64], _i32),
    ("attnroll_config_get_float", [ConfigPtr, _i32, _pf64], _i32),
    ("attnroll_config_get_ints", [ConfigPtr, _i32, _pi64, _i64, _pi64], _i32),
    ("attnroll_config_get_floats", [ConfigPtr, _i32, _pf64, _i64, _pi64], _i32),
    ("attnroll_spatial", [_T, _i32, ConfigPtr, _T], _i32),
    ("attnroll_spatial_grad", [_T, _T, _i32, ConfigPtr, _T], _i32),
    ("attnroll_select_instance", [_T, _i64, _T], _i32),
    ("attnroll_select_shape", [_T, _i64, _pi64, _pi64], _i32),
    ("attnroll_temporal", [_T, _i32, _i64, ConfigPtr, _T], _i32),
    ("attnroll_minmax_rows", [_T, _T], _i32),
    ("attnroll_column_mean", [_T, _T], _i32),
    ("attnroll_minmax", [_T, _T], _i32),
    ("attnroll_stream_create", [ConfigPtr, _i64, _i64, _i32, ctypes.POINTER(StreamPtr)], _i32),
    ("attnroll_stream_push", [StreamPtr, _T], _i32),
    ("attnroll_stream_push_grad", [StreamPtr, _T, _T], _i32),
    ("attnroll_stream_result", [StreamPtr, _T], _i32),
    ("attnroll_stream_info", [StreamPtr, _pi64, _pi64], _i32),
    ("attnroll_stream_destroy", [StreamPtr], None),
    ("attnroll_blas_report", [ctypes.POINTER(BlasInfo)], _i32),
    ("attnroll_blas_kernel_level", [ctypes.c_char_p], _i32),
    ("attnroll_blas_selfcheck", [_pi32, _pf64], _i32),
    ("attnroll_flow", [_T, _i32, ConfigPtr, _T], _i32),
    ("attnroll_singular_values", [_T, _T], _i32),
    ("attnroll_effective_rank", [_T, _T], _i32),
]


def _candidates():
    """Where to look, in order: (description, path or name).  Paths that do
    not exist are still listed, so a failure says every place it looked."""
    here = pathlib.Path(__file__).resolve().parent
    found = sorted(here.glob("libattnroll.so*")) + sorted(here.glob("libattnroll*.dylib"))
    for path in found or [here / "libattnroll.so"]:
        yield "the package directory", str(path)
    repo = here.parents[2] if len(here.parents) > 2 else here  # bindings/python/attnroll -> root
    for build in ("build", "build-release"):
        yield "the build tree", str(repo / build / "src" / "libattnroll.so.1")
    name = ctypes.util.find_library("attnroll")
    if name:
        yield "the system loader", name
    yield "the system loader", "libattnroll.so.1"


def _load():
    override = os.environ.get("ATTNROLL_LIBRARY")
    if override:
        try:
            return ctypes.CDLL(override), override
        except OSError as err:
            raise ImportError(
                f"attnroll: cannot load the library named by ATTNROLL_LIBRARY={override!r}: {err}"
            ) from None
    tried = []
    for where, path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as err:
            tried.append(f"  {where}: {path}: {err}")
    raise ImportError(
        "attnroll: cannot find libattnroll. Build it (cmake --build build) or install it "
        "(cmake --install build), or set ATTNROLL_LIBRARY to its path. Tried:\n" + "\n".join(tried)
    )


def _declare(lib):
    for name, argtypes, restype in SIGNATURES:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise ImportError(f"attnroll: {library_path} has no symbol {name}") from None
        fn.argtypes = argtypes
        fn.restype = restype


lib, library_path = _load()
_declare(lib)

library_version = lib.attnroll_version_number()
_wanted = PACKAGE_VERSION[0] * 10000 + PACKAGE_VERSION[1] * 100 + PACKAGE_VERSION[2]
if library_version // 10000 != PACKAGE_VERSION[0] or library_version < _wanted:
    raise ImportError(
        f"attnroll: {library_path} is version {lib.attnroll_version_string().decode()}, "
        f"this package needs {PACKAGE_VERSION[0]}.x >= {'.'.join(map(str, PACKAGE_VERSION))}"
    )
