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
from ._options import Config, Method, _index, check_named
from ._blas import blas_info, blas_kernel_level, blas_selfcheck
from ._dlpack import releasing as _releasing  # DLPack tensors released when a call ends

__version__ = ".".join(map(str, _lib.PACKAGE_VERSION))
library_path = _lib.library_path

__all__ = [
    "spatial", "temporal", "select_instance", "minmax_rows", "column_mean", "minmax", "Stream",
    "Error", "ArgumentError", "ShapeError", "DtypeError", "OverlapError", "StateError",
    "OutOfMemoryError", "InternalError", "version_number", "library_path", "__version__",
    "blas_info", "blas_kernel_level", "blas_selfcheck", "flow", "singular_values", "effective_rank",
]

_blas.warn_if_kernel_below_cpu()


def version_number():
    """The loaded library's version as 10000*major + 100*minor + patch."""
    return _lib.library_version


def _layer_list(layers, stacked_rank, what, name="layers"):
    """A list of layer arrays from a list/tuple, or from one stacked array
    whose first axis is the layer axis."""
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise ValueError(f"{name}: is empty; give at least one layer")
        return list(layers)
    stack = as_array(layers, name)
    if stacked_rank is not None and stack.ndim != stacked_rank:
        raise ValueError(f"{name}: a single array must be the stacked {what}, got shape "
                         f"{list(stack.shape)}; pass a list for other layouts")
    if stack.ndim < 1 or stack.shape[0] == 0:
        raise ValueError(f"{name}: shape {list(stack.shape)} holds no layer")
    return [stack[i] for i in range(stack.shape[0])]


def _inputs(views, layers, dtype, name="layers"):
    return views.tensors([input_view(layer, f"{name}[{i}]", dtype) for i, layer in enumerate(layers)])


def _range_length(layer_range, num_layers):
    """L' for a cumulative output: the layers of the range, or 1 when the range
    is not valid (the library then reports it)."""
    begin, end = (0, None) if layer_range is None else layer_range
    end = num_layers if end is None else end
    try:
        return end - begin if 0 <= begin < end <= num_layers else 1
    except TypeError:
        return 1


@_releasing
def spatial(layers, *, query_rows=None, layer_range=None, out_dtype=np.float32, dtype=None,
            threads=0, residual=1.0, drop_tokens=0, head_fusion=None, head_weights=None,
            discard_ratio=0.0, protect=None, rule="rollout", grads=None, grads_dtype=None,
            cumulative=False):
    """Spatial rollout: per frame, R = M_{e-1} @ ... @ M_b.  By default
    M_i = normalize_rows(mean_over_heads(A_i) + residual * I) (the spec);
    the method keywords choose other published methods (attnroll.h, "The
    pipeline", applies them in this order: drop, fuse, discard, rule).

    layers        list of [F,H,N,N] (or [H,N,N]) arrays, layer 0 first, or one
                  stacked [L,F,H,N,N] array.
    query_rows    rows of R to compute (e.g. [0] for CLS): result [F,k,N'].
    layer_range   (begin, end) of layers to roll out; end None = all.
    out_dtype     np.float32 (sgemm) or np.float64 (dgemm).
    dtype         "bfloat16" when uint16 arrays hold bfloat16 bits.
    threads       worker threads, 0 = automatic.
    drop_tokens   k: drop the first k tokens of every map and re-normalise its
                  rows (1 = CLS); results then have N' = N - k tokens.
    head_fusion   "mean" (default), "max", "min", "entropy" (softmax(-entropy)
                  head weights, the users' newest script), "weights" (with
                  head_weights) or "grad" (mean_h max(G*A, 0), Chefer et al.;
                  the default when grads are given).
    head_weights  one weight per head, for head_fusion="weights" (as given).
    discard_ratio p in [0, 1): zero the floor(p*M) smallest fused entries
                  outside the protected columns (vit-explain).
    protect       columns discard never zeroes; default [0]; [] for none.
    rule          "rollout": normalize_rows(Abar + residual*I); "chefer":
                  Abar + residual*I unnormalised (R <- R + Abar @ R).
    grads         gradients of the explained score with respect to each layer
                  (same shapes; any dtype and strides), for head_fusion="grad".
    grads_dtype   "bfloat16" when uint16 gradients hold bfloat16 bits.
    cumulative    True: every partial product R_l for l in the range, on a new
                  leading axis of length L' = end - begin.
    Returns [F,N',N'] ([N',N'] for [H,N,N] layers), or [F,k,N'] / [k,N'];
    with cumulative=True, [L',...] of those.
    """
    code = out_code(out_dtype)
    layers = _layer_list(layers, 5, "[L,F,H,N,N]")
    method = Method(drop_tokens, head_fusion, head_weights, discard_ratio, protect, rule,
                    cumulative, grads=grads is not None)
    if grads is not None:
        grads = _layer_list(grads, 5, "[L,F,H,N,N]", "grads")
        if len(grads) != len(layers):
            raise ArgumentError(_lib.E_ARGUMENT, f"grads: {len(grads)} gradients for "
                                f"{len(layers)} layers; give one per layer")
    config = Config(query_rows, layer_range, threads, residual, method)
    views = Views()
    tensors = _inputs(views, layers, dtype)
    grad_tensors = _inputs(views, grads, grads_dtype, "grads") if grads is not None else None
    first = tensors[0]
    shape = [first.shape[d] for d in range(first.ndim)]
    n = shape[-1]
    n = n - method.drop_tokens if 0 <= method.drop_tokens < n else n  # else the library says so
    rows = config.rows if config.rows is not None else n
    out_shape = (shape[0], rows, n) if len(shape) == 4 else (rows, n) if len(shape) == 3 else (1,)
    if method.cumulative:
        out_shape = (_range_length(layer_range, len(layers)),) + out_shape
    out = np.empty(out_shape, dtype=out_dtype)
    out_tensor = ctypes.byref(views.tensor(out, code))
    if grads is None:
        status = _lib.lib.attnroll_spatial(tensors, len(layers), config.handle, out_tensor)
    else:
        status = _lib.lib.attnroll_spatial_grad(tensors, grad_tensors, len(layers), config.handle,
                                                out_tensor)
    check_named(status)
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
             dtype=None, threads=0, residual=1.0, rule="rollout", cumulative=False):
    """Temporal rollout: rollout = T_{e-1} @ ... @ T_b with
    T_i = normalize_rows(select_instance(A_i, instance) + residual * I).

    layers      list of arrays of any rank >= 2 (ranks may differ), or one array
                whose first axis is the layer axis.
    rule        "rollout" as above, or "chefer": T_i = select(A_i) + residual*I,
                not normalised.
    cumulative  True: every partial product, on a leading axis of length L'.
    Returns [T,T], or [k,T] with query_rows; [L',...] with cumulative=True.
    """
    code = out_code(out_dtype)
    instance = _index(instance, "instance")
    layers = _layer_list(layers, None, "")
    method = Method(rule=rule, cumulative=cumulative)
    config = Config(query_rows, layer_range, threads, residual, method)
    views = Views()
    tensors = _inputs(views, layers, dtype)
    rows, cols = ctypes.c_int64(), ctypes.c_int64()
    status = _lib.lib.attnroll_select_shape(ctypes.byref(tensors[0]), instance, ctypes.byref(rows),
                                            ctypes.byref(cols))
    t = rows.value if status == _lib.OK else 1  # else the rollout reports the error
    out_shape = (config.rows if config.rows is not None else t, t)
    if method.cumulative:
        out_shape = (_range_length(layer_range, len(layers)),) + out_shape
    out = np.empty(out_shape, dtype=out_dtype)
    check_named(_lib.lib.attnroll_temporal(tensors, len(layers), instance, config.handle,
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


@_releasing
def flow(layers, *, query_rows=None, layer_range=None, out_dtype=np.float32, dtype=None,
         threads=0, residual=1.0, drop_tokens=0, head_fusion="mean", head_weights=None,
         discard_ratio=0.0, protect=None):
    """Attention flow (Abnar & Zuidema 2020): out[f, q, j] is the maximum flow
    from token q after the last layer of the range to token j before the
    first, through the layered graph whose arcs from (l+1, i) to (l, j) carry
    capacity Abar_l[i, j] -- the factors spatial() would multiply, made by the
    same keywords (attnroll.h, "Attention flow", gives the network exactly).
    With one layer the flow is Abar itself.  Exact: Dinic's algorithm on
    integer capacities, within 1e-12 relative (float64) or 2e-6 (float32).

    The keywords are spatial()'s, except that there is no rule (always
    "rollout"), no cumulative and no gradients.  Every query row is a source
    and costs one max flow per token: query_rows=[0] (CLS) is N' times cheaper
    than the default of every row.  A capacity that is NaN, infinite or
    negative (after fusion) raises ArgumentError naming layer, frame, row and
    column.
    Returns [F,N',N'] ([N',N'] for [H,N,N] layers), or [F,k,N'] / [k,N'].
    """
    if head_fusion == "grad":
        raise ArgumentError(_lib.E_ARGUMENT, "head_fusion: 'grad' is not available for flow, "
                            "which takes no gradients")
    code = out_code(out_dtype)
    layers = _layer_list(layers, 5, "[L,F,H,N,N]")
    method = Method(drop_tokens, head_fusion, head_weights, discard_ratio, protect)
    config = Config(query_rows, layer_range, threads, residual, method)
    views = Views()
    tensors = _inputs(views, layers, dtype)
    first = tensors[0]
    shape = [first.shape[d] for d in range(first.ndim)]
    n = shape[-1]
    n = n - method.drop_tokens if 0 <= method.drop_tokens < n else n  # else the library says so
    rows = config.rows if config.rows is not None else n
    out_shape = (shape[0], rows, n) if len(shape) == 4 else (rows, n) if len(shape) == 3 else (1,)
    out = np.empty(out_shape, dtype=out_dtype)
    check_named(_lib.lib.attnroll_flow(tensors, len(layers), config.handle,
                                       ctypes.byref(views.tensor(out, code))))
    return out


@_releasing
def _spectrum(function, a, leading_only, out_dtype, dtype):
    code = out_code(out_dtype)
    views = Views()
    x, in_code = input_view(a, "a", dtype)
    tensor = views.tensor(x, in_code)
    shape = tuple(x.shape)
    lead = shape[:-2] if len(shape) >= 2 else shape  # rank < 2: the library refuses
    out_shape = lead if leading_only else lead + shape[-1:]
    out = np.empty(out_shape or (1,), dtype=out_dtype)
    check(function(ctypes.byref(tensor), ctypes.byref(views.tensor(out, code))))
    return out.reshape(out_shape)


def singular_values(a, *, out_dtype=np.float64, dtype=None):
    """The singular values of each square matrix of a [..., M, M] array (any
    dtype and strides; the leading axes are a batch), in descending order:
    shape [..., M].  LAPACK's ?gesdd (values only) in out_dtype's precision:
    np.float64 (dgesdd) or np.float32 (sgesdd).  NaN or Inf entries raise
    ArgumentError; a non-square or rank < 2 input raises ShapeError."""
    return _spectrum(_lib.lib.attnroll_singular_values, a, False, out_dtype, dtype)


def effective_rank(a, *, out_dtype=np.float64, dtype=None):
    """The effective rank (Roy & Vetterli 2007) of each square matrix of a
    [..., M, M] array: exp(-sum p_i ln p_i) with p = s / sum(s) over its
    singular values s (0 ln 0 = 0).  The identity gives M, a rank-one matrix
    1, a zero matrix 0.  Shape [...]: a 0-d array for a single [M, M] matrix.
    out_dtype chooses the precision of the SVD as in singular_values."""
    return _spectrum(_lib.lib.attnroll_effective_rank, a, True, out_dtype, dtype)


class Stream:
    """Streaming spatial rollout: push layers 0, 1, ... one at a time and ask
    for the result, holding O(F*N^2) memory however many layers or heads.

        with attnroll.Stream(frames=31, tokens=433) as s:
            for layer in read_layers():      # each [31, 16, 433, 433]
                s.push(layer)
            R = s.result()                   # [31, 433, 433]
    """

    def __init__(self, frames, tokens, *, query_rows=None, layer_range=None,
                 out_dtype=np.float32, threads=0, residual=1.0, drop_tokens=0,
                 head_fusion="mean", head_weights=None, discard_ratio=0.0, protect=None,
                 rule="rollout", cumulative=False):
        """The method keywords are spatial()'s; with head_fusion="grad" push
        each layer with its gradient: push(layer, grad=...)."""
        self._handle = _lib.StreamPtr()
        self._code = out_code(out_dtype)
        self._dtype = np.dtype(out_dtype)
        method = Method(drop_tokens, head_fusion, head_weights, discard_ratio, protect, rule,
                        cumulative, grads=None)
        config = Config(query_rows, layer_range, threads, residual, method)
        self._frames = _index(frames, "frames")
        self._tokens = _index(tokens, "tokens")
        if 0 <= method.drop_tokens < self._tokens:
            self._tokens -= method.drop_tokens  # N' (else stream_create refuses)
        self._rows = config.rows if config.rows is not None else self._tokens
        self._cumulative = method.cumulative
        self._range = layer_range
        check_named(_lib.lib.attnroll_stream_create(config.handle, self._frames,
                                                    _index(tokens, "tokens"), self._code,
                                                    ctypes.byref(self._handle)))

    def _live(self):
        if not self._handle:
            raise StateError(_lib.E_STATE, "stream: is closed")
        return self._handle

    @_releasing
    def push(self, layer, *, grad=None, dtype=None, grad_dtype=None):
        """Adds the next layer, [F,H,N,N] (or [H,N,N] when frames == 1), and
        with head_fusion="grad" its gradient grad (the same shape, any dtype)."""
        handle = self._live()
        views = Views()
        tensor = views.tensor(*input_view(layer, "layer", dtype))
        if grad is None:
            check_named(_lib.lib.attnroll_stream_push(handle, ctypes.byref(tensor)))
        else:
            grad_tensor = views.tensor(*input_view(grad, "grad", grad_dtype))
            check_named(_lib.lib.attnroll_stream_push_grad(handle, ctypes.byref(tensor),
                                                           ctypes.byref(grad_tensor)))

    def result(self):
        """The rollout of the layers pushed, [F,N',N'] or [F,k,N'] ([L',...]
        with cumulative=True); finishes the stream (later pushes raise
        StateError)."""
        handle = self._live()
        shape = (self._frames, self._rows, self._tokens)
        if self._cumulative:
            shape = (_range_length(self._range, self._info()[0]),) + shape
        out = np.empty(shape, dtype=self._dtype)
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
