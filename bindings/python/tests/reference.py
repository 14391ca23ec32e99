"""An independent float64 numpy transcription of the attnroll specification.

Written from include/attnroll.h and README.md ("What is computed") only, with
plain numpy in double precision.  Every function takes arrays holding the
*exact* input values (callers convert float16 with ``astype(np.float64)`` and
bfloat16 bit patterns with :func:`bf16_bits_to_f64`) and returns float64.
"""

import numpy as np


def as_f64(a):
    """The exact values of a float array as a new C-ordered float64 array."""
    return np.array(a, dtype=np.float64, order="C", copy=True)


def bf16_bits_to_f64(bits):
    """bfloat16 bit patterns (uint16 or int16) -> their exact float64 values."""
    u = np.asarray(bits).view(np.uint16).astype(np.uint32) << np.uint32(16)
    return u.view(np.float32).astype(np.float64)


def normalize_rows(m):
    """Divide each row by its sum; a zero sum divides by 1."""
    s = m.sum(axis=-1, keepdims=True)
    s = np.where(s == 0.0, 1.0, s)
    return m / s


def fuse(layer, residual=1.0):
    """[H,N,N] -> normalize_rows(mean_over_heads + r*I)  ([N,N])."""
    a = as_f64(layer)
    n = a.shape[-1]
    m = a.sum(axis=0) / a.shape[0]
    m = m + residual * np.eye(n)
    return normalize_rows(m)


def chain(mats):
    """mats[0], mats[1], ... -> mats[-1] @ ... @ mats[1] @ mats[0]."""
    n = mats[0].shape[0]
    r = np.eye(n)
    for m in mats:
        r = m @ r
    return r


def _resolve_range(num_layers, layer_range):
    if layer_range is None:
        return 0, num_layers
    b, e = layer_range
    if e is None:
        e = num_layers
    assert 0 <= b < e <= num_layers
    return b, e


def spatial(layers, query_rows=None, layer_range=None, residual=1.0):
    """Spatial rollout.

    layers: a sequence of L arrays, each [F,H,N,N] or [H,N,N] (all the same
    rank), or one [L,F,H,N,N] array.  Returns [F,N,N] ([N,N] for [H,N,N]
    layers) or, with query rows, [F,k,N] ([k,N]).
    """
    layers = [as_f64(a) for a in layers]
    framed = layers[0].ndim == 4
    if not framed:
        layers = [a[None] for a in layers]
    frames = layers[0].shape[0]
    b, e = _resolve_range(len(layers), layer_range)
    outs = []
    for f in range(frames):
        r = chain([fuse(layers[l][f], residual) for l in range(b, e)])
        if query_rows is not None:
            r = r[list(query_rows)]
        outs.append(r)
    out = np.stack(outs)
    return out if framed else out[0]


def select_instance(a, instance):
    """The header's instance selection (with averaging of leftover axes)."""
    a = as_f64(a)
    i = int(instance)
    assert i >= 0
    n = a.ndim
    if n == 2:
        return a.copy()
    if n == 3:
        if a.shape[1] == a.shape[2]:
            if a.shape[0] > i:
                return a[i].copy()
            if a.shape[1] > i:
                return a[:, i, :].copy()
            return a[0].copy()
        return a[0].copy()
    lead = a.shape[:-2]
    for axis, extent in enumerate(lead):
        if extent > i:
            sel = np.take(a, i, axis=axis)        # drops that axis
            rest = tuple(range(n - 3))            # the leading axes left over
            if rest:
                count = int(np.prod([sel.shape[d] for d in rest]))
                sel = sel.reshape((count,) + sel.shape[-2:]).sum(axis=0) / count
            return np.array(sel)
    return a[(0,) * len(lead)].copy()


def temporal(layers, instance, query_rows=None, layer_range=None, residual=1.0):
    """Temporal rollout: T_i = normalize_rows(select(A_i) + r*I), product over the range."""
    sel = [select_instance(a, instance) for a in layers]
    t = sel[0].shape[0]
    for s in sel:
        assert s.shape == (t, t)
    b, e = _resolve_range(len(sel), layer_range)
    r = chain([normalize_rows(s + residual * np.eye(t)) for s in sel[b:e]])
    if query_rows is not None:
        r = r[list(query_rows)]
    return r


def _unit(x, axis=None):
    lo = x.min(axis=axis, keepdims=True)
    hi = x.max(axis=axis, keepdims=True)
    span = hi - lo
    span = np.where(span == 0.0, 1.0, span)
    return (x - lo) / span


def minmax_rows(x):
    """Each row of a matrix scaled to [0, 1]; a constant row becomes zeros."""
    x = as_f64(x)
    assert x.ndim == 2
    with np.errstate(invalid="ignore"):
        return _unit(x, axis=1)


def column_mean(x):
    """out[j] = mean_i x[i, j]."""
    x = as_f64(x)
    assert x.ndim == 2
    return x.sum(axis=0) / x.shape[0]


def minmax(x):
    """The whole array scaled to [0, 1]; a constant array becomes zeros."""
    x = as_f64(x)
    with np.errstate(invalid="ignore"):
        return _unit(x, axis=None)
