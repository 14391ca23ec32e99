"""attnroll.flow against networkx's maximum_flow_value on the layered attention
graph (attnroll.h, "Attention flow") built from numpy transcriptions of the
layer factors (methods_reference.factor), on small cases: N <= 20, L <= 6,
several frames, query rows, layer ranges, every input dtype and both output
dtypes.  Then the hand cases (one layer = Abar, identity stack, a cut-off
token) and bad input."""

import networkx as nx
import numpy as np
import pytest

import attnroll
import methods_reference as mr
from conftest import exact, peaky_attention, to_bf16_bits

IN_DTYPES = ["float16", "bfloat16", "float32", "float64"]
# Flow values are at most 1 (rows of Abar sum to 1).  float64 allows for the
# rounding of networkx's own floating-point preflow-push.
TOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}


def given(x, in_dtype):
    if in_dtype == "bfloat16":
        bits = to_bf16_bits(x)
        return bits, exact(bits, bf16=True)
    a = x.astype(in_dtype)
    return a, exact(a)


def graph(factors):
    """The layered network of one frame: node (l, i); arcs (l+1, i) -> (l, j)
    with capacity factors[l][i, j] (zero arcs left out)."""
    g = nx.DiGraph()
    n = factors[0].shape[0]
    for level, m in enumerate(factors):
        for i in range(n):
            g.add_node((level + 1, i))
            for j in range(n):
                g.add_node((level, j))
                if m[i, j] > 0:
                    g.add_edge((level + 1, i), (level, j), capacity=float(m[i, j]))
    return g


def reference(layers, query_rows=None, layer_range=None, residual=1.0, **method):
    """networkx max flows, in attnroll.flow's output shape."""
    framed = np.ndim(layers[0]) == 4
    layers = [np.asarray(x, dtype=np.float64) for x in layers]
    if not framed:
        layers = [x[None] for x in layers]
    begin, end = (0, len(layers)) if layer_range is None else layer_range
    frames = []
    for f in range(layers[0].shape[0]):
        factors = [mr.factor(layers[l][f], residual=residual, **method) for l in range(begin, end)]
        n = factors[0].shape[0]
        g = graph(factors)
        top = len(factors)
        rows = range(n) if query_rows is None else query_rows
        frames.append([[nx.maximum_flow_value(g, (top, q), (0, j)) for j in range(n)]
                       for q in rows])
    out = np.array(frames, dtype=np.float64)
    return out if framed else out[0]


def close(got, want, out_dtype):
    got = np.asarray(got)
    assert got.dtype == np.dtype(out_dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    tol = TOL[np.dtype(out_dtype)] * max(1.0, np.max(np.abs(want)))
    err = np.max(np.abs(got.astype(np.float64) - want))
    assert err <= tol, f"max abs error {err:.3g} > {tol:.3g} ({np.dtype(out_dtype)})"


def make(rng, in_dtype, L, shape):
    pairs = [given(peaky_attention(rng, shape, np.float64, temperature=0.4), in_dtype)
             for _ in range(L)]
    kw = "bfloat16" if in_dtype == "bfloat16" else None
    return [a for a, _ in pairs], [e for _, e in pairs], kw


@pytest.mark.parametrize("in_dtype", IN_DTYPES)
def test_flow_matches_networkx_every_dtype(rng, in_dtype):
    layers, exact_layers, kw = make(rng, in_dtype, 4, (2, 3, 9, 9))
    want = reference(exact_layers, query_rows=[0, 5, 0])
    for out_dtype in (np.float32, np.float64):
        got = attnroll.flow(layers, query_rows=[0, 5, 0], out_dtype=out_dtype, dtype=kw)
        close(got, want, out_dtype)


def test_flow_every_row_and_three_frames(rng):
    layers, exact_layers, _ = make(rng, "float32", 3, (3, 2, 7, 7))
    want = reference(exact_layers)
    close(attnroll.flow(layers, out_dtype=np.float64), want, np.float64)
    close(attnroll.flow(np.stack(layers)), want, np.float32)      # one stacked [L,F,H,N,N] array


def test_flow_largest_case_cls(rng):
    """N = 20, L = 6, the CLS row, with residual 0.5 and threads 2."""
    layers, exact_layers, _ = make(rng, "float64", 6, (1, 2, 20, 20))
    want = reference(exact_layers, query_rows=[0], residual=0.5)
    got = attnroll.flow(layers, query_rows=[0], residual=0.5, threads=2, out_dtype=np.float64)
    close(got, want, np.float64)


def test_flow_layer_range_and_3d_layers(rng):
    layers, exact_layers, _ = make(rng, "float32", 5, (2, 8, 8))
    want = reference(exact_layers, query_rows=[3, 1], layer_range=(1, 4))
    got = attnroll.flow(layers, query_rows=[3, 1], layer_range=(1, 4), out_dtype=np.float64)
    assert got.shape == (2, 8)
    close(got, want, np.float64)


def test_flow_method_keywords(rng):
    """Dropping the CLS token, max fusion and discard act as for spatial."""
    layers, exact_layers, _ = make(rng, "float64", 3, (1, 3, 10, 10))
    method = dict(drop_tokens=1, head_fusion="max", discard_ratio=0.5, protect=(0, 2))
    want = reference(exact_layers, query_rows=[0, 4], **method)
    got = attnroll.flow(layers, query_rows=[0, 4], out_dtype=np.float64, **method)
    assert got.shape == (1, 2, 9)
    close(got, want, np.float64)
    w = [0.5, 0.2, 0.3]
    want = reference(exact_layers, query_rows=[2], head_fusion="weights", head_weights=w)
    got = attnroll.flow(layers, query_rows=[2], head_fusion="weights", head_weights=w,
                        out_dtype=np.float64)
    close(got, want, np.float64)


def test_flow_transposed_views(rng):
    layers, exact_layers, _ = make(rng, "float32", 3, (2, 2, 6, 6))
    views = [np.ascontiguousarray(a.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2) for a in layers]
    reversed_ = [np.ascontiguousarray(a[:, :, ::-1])[:, :, ::-1] for a in layers]
    want = attnroll.flow(layers, out_dtype=np.float64)
    close(attnroll.flow(views, out_dtype=np.float64), want, np.float64)
    close(attnroll.flow(reversed_, out_dtype=np.float64), want, np.float64)
    close(want, reference(exact_layers), np.float64)


# ---- hand cases ----------------------------------------------------------------------

def test_one_layer_is_abar(rng):
    a = peaky_attention(rng, (2, 4, 11, 11), np.float64)
    got = attnroll.flow([a], out_dtype=np.float64)
    want = np.stack([mr.factor(a[f]) for f in range(2)])
    close(got, want, np.float64)


def test_identity_stack():
    """Only the residual (attention zero, r = 1): each token keeps its unit."""
    zero = np.zeros((3, 7, 7))
    got = attnroll.flow([zero] * 5, out_dtype=np.float64)
    assert np.array_equal(got, np.eye(7))
    eye = np.broadcast_to(np.eye(7), (2, 7, 7))
    assert np.array_equal(attnroll.flow([eye] * 4, residual=0.0, out_dtype=np.float64), np.eye(7))


def test_disconnected_token_gets_zero(rng):
    """Token 3 is attended by no one in the first layer and has no residual."""
    layers = [peaky_attention(rng, (2, 6, 6), np.float64) for _ in range(3)]
    layers[0][:, :, 3] = 0.0
    got = attnroll.flow(layers, residual=0.0, out_dtype=np.float64)
    assert np.all(got[:, 3] == 0.0)
    close(got, reference(layers, residual=0.0), np.float64)


# ---- bad input -----------------------------------------------------------------------

def test_flow_refuses_bad_input(rng):
    a = peaky_attention(rng, (2, 5, 5), np.float32)
    with pytest.raises(attnroll.ShapeError):
        attnroll.flow([np.ones((2, 5, 4), np.float32)])
    with pytest.raises(attnroll.ArgumentError, match="QUERY_ROWS|query"):
        attnroll.flow([a, a], query_rows=[5])
    for bad in (np.nan, np.inf):
        b = a.copy()
        b[1, 2, 3] = bad
        with pytest.raises(attnroll.ArgumentError, match=r"layers\[1\]: frame 0: capacity Abar\[2,"):
            attnroll.flow([a, b], query_rows=[0])
    with pytest.raises(attnroll.ArgumentError, match=r"capacity Abar\[\d+,\d+\]"):
        attnroll.flow([a], head_fusion="weights", head_weights=[1.0, -3.0])  # negative capacities
    with pytest.raises(attnroll.ArgumentError, match="grad"):
        attnroll.flow([a], head_fusion="grad")
    with pytest.raises(TypeError):
        attnroll.flow([a], rule="chefer")
    with pytest.raises(attnroll.ArgumentError):
        attnroll.flow([a, a], layer_range=(1, 3))
    with pytest.raises(TypeError):
        attnroll.flow([a], out_dtype=np.int32)


def test_flow_wrong_output_shape_refused_untouched(rng):
    """The raw call with an output of the wrong shape: refused, nothing written."""
    import ctypes
    from attnroll import _lib
    from attnroll._arrays import Views
    a = peaky_attention(rng, (2, 3, 5, 5), np.float64)
    for shape in ((2, 5, 4), (1, 5, 5), (5, 5)):
        out = np.full(shape, 7.0)
        views = Views()
        layers = views.tensors([(a, _lib.F64)])
        status = _lib.lib.attnroll_flow(layers, 1, None, ctypes.byref(views.tensor(out, _lib.F64)))
        assert status == _lib.E_SHAPE
        assert np.all(out == 7.0)
