"""attnroll: attention rollout for vision and video transformers.

Thin numpy front end over the attnroll C library (found through
ATTNROLL_LIBRARY, this package's directory, the source tree's build/, or the
system loader).  Arrays are read in place -- any strides, float16/32/64, or
bfloat16 bits in uint16 with dtype="bfloat16" -- and results come back as new
numpy arrays.  Calls release the GIL while the library works.

    import attnroll, numpy as np
    layers = [np.random.rand(4, 16, 197, 197).astype(np.float32) for _ in range(12)]
    R = attnroll.spatial(layers)                    # [4, 197, 197]
    cls = attnroll.spatial(layers, query_rows=[0])  # [4, 1, 197]

At import, when OpenBLAS runs kernels below what the CPU supports (an
OpenBLAS older than the CPU falls back to its SSE3 "Prescott" kernels), one
RuntimeWarning gives the environment setting that fixes it, e.g.
OPENBLAS_CORETYPE=SkylakeX; blas_info() reports the same facts.  Silence it
with a warnings filter set before the import,

    warnings.filterwarnings("ignore", message="attnroll: OpenBLAS", category=RuntimeWarning)

or PYTHONWARNINGS=ignore:attnroll:RuntimeWarning in the environment.
"""

import ctypes

import numpy as np

from . import _blas, _lib
from ._arrays import Views, input_view, out_code, as_array
from ._errors import (ArgumentError, DtypeError, Error, InternalError, OutOfMemoryError,
                      OverlapError, ShapeError, StateError, check)
from ._options import Config, _index
from ._blas import blas_info, blas_kernel_level, blas_selfcheck
from ._dlpack import releasing as _releasing  # DLPack tensors released when a call ends

__version__ = ".".join(map(str, _lib.PACKAGE_VERSION))
library_path = _lib.library_path

__all__ = [
    "spatial", "temporal", "select_instance", "minmax_rows", "column_mean", "minmax", "Stream",
    "Error", "ArgumentError", "ShapeError", "DtypeError", "OverlapError", "StateError",
    "OutOfMemoryError", "InternalError", "version_number", "library_path", "__version__",
    "blas_info", "blas_kernel_level", "blas_selfcheck",
]

_blas.warn_if_kernel_below_cpu()


def version_number():
    """The loaded library's version as 10000*major + 100*minor + patch."""
    return _lib.library_version


def _layer_list(layers, stacked_rank, what):
    """A list of layer arrays from a list/tuple, or from one stacked array
    whose first axis is the layer axis."""
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise ValueError("layers: is empty; give at least one layer")
        return list(layers)
    stack = as_array(layers, "layers")
    if stacked_rank is not None and stack.ndim != stacked_rank:
        raise ValueError(f"layers: a single array must be the stacked {what}, got shape "
                         f"{list(stack.shape)}; pass a list for other layouts")
    if stack.ndim < 1 or stack.shape[0] == 0:
        raise ValueError(f"layers: shape {list(stack.shape)} holds no layer")
    return [stack[i] for i in range(stack.shape[0])]


def _inputs(views, layers, dtype):
    return views.tensors([input_view(layer, f"layers[{i}]", dtype) for i, layer in enumerate(layers)])


@_releasing
def spatial(layers, *, query_rows=None, layer_range=None, out_dtype=np.float32, dtype=None,
            threads=0, residual=1.0):
    """Spatial rollout: per frame, R = Abar_{e-1} @ ... @ Abar_b with
    Abar_i = normalize_rows(mean_over_heads(A_i) + residual * I).

    layers      list of [F,H,N,N] (or [H,N,N]) arrays, layer 0 first, or one
                stacked [L,F,H,N,N] array.
    query_rows  rows of R to compute (e.g. [0] for CLS): result [F,k,N].
    layer_range (begin, end) of layers to roll out; end None = all.
    out_dtype   np.float32 (sgemm) or np.float64 (dgemm).
    dtype       "bfloat16" when uint16 arrays hold bfloat16 bits.
    threads     worker threads, 0 = automatic.
    Returns [F,N,N] ([N,N] for [H,N,N] layers), or [F,k,N] / [k,N].
    """
    code = out_code(out_dtype)
    layers = _layer_list(layers, 5, "[L,F,H,N,N]")
    config = Config(query_rows, layer_range, threads, residual)
    views = Views()
    tensors = _inputs(views, layers, dtype)
    first = tensors[0]
    shape = [first.shape[d] for d in range(first.ndim)]
    n = shape[-1]
    rows = config.rows if config.rows is not None else n
    out_shape = (shape[0], rows, n) if len(shape) == 4 else (rows, n) if len(shape) == 3 else (1,)
    out = np.empty(out_shape, dtype=out_dtype)
    check(_lib.lib.attnroll_spatial(tensors, len(layers), config.handle,
                                    ctypes.byref(views.tensor(out, code))))
    return out


@_releasing
def select_instance(attn, instance, *, out_dtype=np.float64, dtype=None):
    """The [T,T] matrix of one instance (refiner_id) from a temporal attention
    array of rank >= 2, by the library's selection rules (leftover leading
    axes of rank >= 4 arrays are averaged)."""
    code = out_code(out_dtype)
    instance = _index(instance, "instance")
    views = Views()
    tensor = views.tensor(*input_view(attn, "attn", dtype))
    rows, cols = ctypes.c_int64(), ctypes.c_int64()
    check(_lib.lib.attnroll_select_shape(ctypes.byref(tensor), instance, ctypes.byref(rows),
                                         ctypes.byref(cols)))
    out = np.empty((rows.value, cols.value), dtype=out_dtype)
    check(_lib.lib.attnroll_select_instance(ctypes.byref(tensor), instance,
                                            ctypes.byref(views.tensor(out, code))))
    return out


@_releasing
def temporal(layers, instance, *, query_rows=None, layer_range=None, out_dtype=np.float64,
             dtype=None, threads=0, residual=1.0):
    """Temporal rollout: rollout = T_{e-1} @ ... @ T_b with
    T_i = normalize_rows(select_instance(A_i, instance) + residual * I).

    layers  list of arrays of any rank >= 2 (ranks may differ), or one array
            whose first axis is the layer axis.
    Returns [T,T], or [k,T] with query_rows.
    """
    code = out_code(out_dtype)
    instance = _index(instance, "instance")
    layers = _layer_list(layers, None, "")
    config = Config(query_rows, layer_range, threads, residual)
    views = Views()
    tensors = _inputs(views, layers, dtype)
    rows, cols = ctypes.c_int64(), ctypes.c_int64()
    status = _lib.lib.attnroll_select_shape(ctypes.byref(tensors[0]), instance, ctypes.byref(rows),
                                            ctypes.byref(cols))
    t = rows.value if status == _lib.OK else 1  # else the rollout reports the error
    out = np.empty((config.rows if config.rows is not None else t, t), dtype=out_dtype)
    check(_lib.lib.attnroll_temporal(tensors, len(layers), instance, config.handle,
                                     ctypes.byref(views.tensor(out, code))))
    return out


@_releasing
def _post(function, x, out_shape, out_dtype, dtype):
    code = out_code(out_dtype)
    views = Views()
    a, in_code = input_view(x, "x", dtype)
    tensor = views.tensor(a, in_code)
    out = np.empty(out_shape(a.shape), dtype=out_dtype)
    check(function(ctypes.byref(tensor), ctypes.byref(views.tensor(out, code))))
    return out


def minmax_rows(x, *, out_dtype=np.float64, dtype=None):
    """Each row of a matrix scaled to [0, 1]; a constant row becomes zeros."""
    return _post(_lib.lib.attnroll_minmax_rows, x, tuple, out_dtype, dtype)


def column_mean(x, *, out_dtype=np.float64, dtype=None):
    """Mean over the rows of a matrix, for each column: shape [C]."""
    return _post(_lib.lib.attnroll_column_mean, x, lambda s: s[-1:] if len(s) == 2 else (1,),
                 out_dtype, dtype)


def minmax(x, *, out_dtype=np.float64, dtype=None):
    """The whole array scaled to [0, 1]; a constant array becomes zeros."""
    return _post(_lib.lib.attnroll_minmax, x, tuple, out_dtype, dtype)


class Stream:
    """Streaming spatial rollout: push layers 0, 1, ... one at a time and ask
    for the result, holding O(F*N^2) memory however many layers or heads.

        with attnroll.Stream(frames=31, tokens=433) as s:
            for layer in read_layers():      # each [31, 16, 433, 433]
                s.push(layer)
            R = s.result()                   # [31, 433, 433]
    """

    def __init__(self, frames, tokens, *, query_rows=None, layer_range=None,
                 out_dtype=np.float32, threads=0, residual=1.0):
        self._handle = _lib.StreamPtr()
        self._code = out_code(out_dtype)
        self._dtype = np.dtype(out_dtype)
        config = Config(query_rows, layer_range, threads, residual)
        self._frames = _index(frames, "frames")
        self._tokens = _index(tokens, "tokens")
        self._rows = config.rows if config.rows is not None else self._tokens
        check(_lib.lib.attnroll_stream_create(config.handle, self._frames, self._tokens, self._code,
                                              ctypes.byref(self._handle)))

    def _live(self):
        if not self._handle:
            raise StateError(_lib.E_STATE, "stream: is closed")
        return self._handle

    @_releasing
    def push(self, layer, *, dtype=None):
        """Adds the next layer, [F,H,N,N] (or [H,N,N] when frames == 1)."""
        handle = self._live()
        views = Views()
        tensor = views.tensor(*input_view(layer, "layer", dtype))
        check(_lib.lib.attnroll_stream_push(handle, ctypes.byref(tensor)))

    def result(self):
        """The rollout of the layers pushed, [F,N,N] or [F,k,N]; finishes the
        stream (later pushes raise StateError)."""
        handle = self._live()
        out = np.empty((self._frames, self._rows, self._tokens), dtype=self._dtype)
        views = Views()
        check(_lib.lib.attnroll_stream_result(handle, ctypes.byref(views.tensor(out, self._code))))
        return out

    def _info(self):
        pushed, held = ctypes.c_int64(), ctypes.c_int64()
        check(_lib.lib.attnroll_stream_info(self._live(), ctypes.byref(pushed), ctypes.byref(held)))
        return pushed.value, held.value

    @property
    def layers_pushed(self):
        return self._info()[0]

    @property
    def bytes_held(self):
        return self._info()[1]

    def close(self):
        """Frees the stream; safe to call more than once."""
        if getattr(self, "_handle", None):
            _lib.lib.attnroll_stream_destroy(self._handle)
            self._handle = _lib.StreamPtr()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
