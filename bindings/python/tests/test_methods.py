"""The rollout methods (attnroll.h, "The pipeline") through the Python
keywords, against numpy transcriptions of each published method
(methods_reference.py): vit-explain's mean/max/min fusion and discard with the
normalisation on rows, Chefer et al.'s rule with gradient fusion, the users'
newest script (CLS drop + entropy fusion), and every option combined, with
cumulative outputs, query rows and layer ranges.  Peaky random attention in
every input dtype; tolerance 2e-6 for float32 output and 1e-12 for float64
(relative to the largest value for the Chefer rule, whose products grow as
2^L).  Then streaming against batch, the edge cases, NaN, and bad input."""

import importlib.util
import os
import re

import numpy as np
import pytest

import attnroll
import methods_reference as mr
import reference
from conftest import HERE, TOL, exact, peaky_attention, to_bf16_bits

IN_DTYPES = ["float16", "bfloat16", "float32", "float64"]
OUT_DTYPES = [np.float32, np.float64]
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def given(x, in_dtype):
    """float64 values -> (the array handed to attnroll, its exact float64 values)."""
    if in_dtype == "bfloat16":
        bits = to_bf16_bits(x)
        return bits, exact(bits, bf16=True)
    a = x.astype(in_dtype)
    return a, exact(a)


def make(rng, in_dtype, L, shape, grads=False):
    """L peaky layers (and standard normal gradients) of shape in in_dtype:
    (layers, exact layers, grads, exact grads, dtype keyword)."""
    layers, exact_layers, gs, exact_gs = [], [], [], []
    for _ in range(L):
        a, e = given(peaky_attention(rng, shape, np.float64), in_dtype)
        layers.append(a)
        exact_layers.append(e)
        if grads:
            g, eg = given(rng.standard_normal(shape), in_dtype)
            gs.append(g)
            exact_gs.append(eg)
    kw = "bfloat16" if in_dtype == "bfloat16" else None
    return layers, exact_layers, (gs if grads else None), (exact_gs if grads else None), kw


def close(got, want, out_dtype, scaled=False):
    got = np.asarray(got)
    assert got.dtype == np.dtype(out_dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    tol = TOL[np.dtype(out_dtype)] * (max(1.0, np.max(np.abs(want))) if scaled else 1.0)
    err = np.max(np.abs(got.astype(np.float64) - want))
    assert err <= tol, f"max abs error {err:.3g} > {tol:.3g} ({np.dtype(out_dtype)})"


def per_frame(fn, exact_layers, *more):
    """Stack fn(frame layers, ...) over the frames of [F,H,N,N] layers."""
    frames = exact_layers[0].shape[0]
    return np.stack([fn(*([x[f] for x in group] for group in (exact_layers,) + more))
                     for f in range(frames)])


# ------------------------------------------------------------ published methods


@pytest.mark.parametrize("in_dtype", IN_DTYPES)
@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard", [0.0, 0.5, 0.9])
def test_vit_explain_corrected(rng, in_dtype, fusion, discard):
    layers, ex, _, _, kw = make(rng, in_dtype, 6, (2, 4, 40, 40))
    want = per_frame(lambda fl: mr.vit_explain_rollout(fl, fusion, discard), ex)
    for out_dtype in OUT_DTYPES:
        got = attnroll.spatial(layers, dtype=kw, head_fusion=fusion, discard_ratio=discard,
                               out_dtype=out_dtype)
        close(got, want, out_dtype)


def test_vit_explain_axis_matters(rng):
    """The corrected normalisation is not vit-explain's: dividing by column sums
    (its a / a.sum(dim=-1) broadcast) gives other numbers for max fusion."""
    layers = [peaky_attention(rng, (4, 30, 30), np.float64) for _ in range(4)]
    got = attnroll.spatial(layers, head_fusion="max", out_dtype=np.float64)
    r = np.eye(30)
    for a in layers:
        m = (a.max(axis=0) + np.eye(30)) / 2
        r = (m / m.sum(axis=-1)) @ r  # the published bug: columns divided
    assert np.max(np.abs(got - r)) > 1e-3
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-12)  # rows stochastic


@pytest.mark.parametrize("in_dtype", IN_DTYPES)
def test_chefer(rng, in_dtype):
    layers, ex, grads, exg, kw = make(rng, in_dtype, 8, (2, 3, 33, 33), grads=True)
    want = per_frame(mr.chefer_rollout, ex, exg)
    for out_dtype in OUT_DTYPES:
        got = attnroll.spatial(layers, grads=grads, dtype=kw, grads_dtype=kw, rule="chefer",
                               out_dtype=out_dtype)  # head_fusion defaults to "grad" with grads
        close(got, want, out_dtype, scaled=True)
        explicit = attnroll.spatial(layers, grads=grads, dtype=kw, grads_dtype=kw, rule="chefer",
                                    head_fusion="grad", out_dtype=out_dtype)
        np.testing.assert_array_equal(got, explicit)


def test_chefer_rule_is_r_plus_abar_r(rng):
    """rule="chefer" with mean fusion: R <- R + Abar @ R (no normalisation)."""
    layers = [peaky_attention(rng, (3, 12, 12), np.float64) for _ in range(5)]
    r = np.eye(12)
    for a in layers:
        r = r + a.mean(axis=0) @ r
    close(attnroll.spatial(layers, rule="chefer", out_dtype=np.float64), r, np.float64, scaled=True)
    # and with residual r: Abar + r*I
    want = mr.pipeline(layers, rule="chefer", residual=0.5)
    close(attnroll.spatial(layers, rule="chefer", residual=0.5, out_dtype=np.float64), want, np.float64,
          scaled=True)


def _scripts_reference():
    path = os.path.join(ROOT, "tests", "tool", "scripts_reference.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("scripts_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("in_dtype", IN_DTYPES)
def test_newest_script(rng, in_dtype):
    layers, ex, _, _, kw = make(rng, in_dtype, 7, (2, 4, 37, 37))
    want = per_frame(mr.newest_script, ex)
    scripts = _scripts_reference()
    if scripts is not None:  # the tool tests' own transcription agrees
        np.testing.assert_allclose(scripts.spatial_rollout_newest(ex), want, rtol=0, atol=1e-13)
    for out_dtype in OUT_DTYPES:
        got = attnroll.spatial(layers, dtype=kw, drop_tokens=1, head_fusion="entropy",
                               out_dtype=out_dtype)
        assert got.shape == (2, 36, 36)
        close(got, want, out_dtype)


def test_abnar_default_is_unchanged(rng):
    layers = [peaky_attention(rng, (2, 3, 21, 21), np.float32) for _ in range(5)]
    explicit = attnroll.spatial(layers, head_fusion="mean", rule="rollout", drop_tokens=0,
                                discard_ratio=0.0, protect=[0], out_dtype=np.float64)
    np.testing.assert_array_equal(explicit, attnroll.spatial(layers, out_dtype=np.float64))
    close(explicit, reference.spatial(layers), np.float64)


# The large cases: (N, L, options); N = 200 with L = 24 for the methods that
# need a per-frame selection, 300 for entropy (its logarithms go in blocks of
# 256 columns), smaller for the rest.
LARGE = {
    "max discard .9": (200, 24, dict(head_fusion="max", discard_ratio=0.9)),
    "newest script": (300, 24, dict(head_fusion="entropy", drop_tokens=1)),
    "chefer grad": (200, 24, dict(head_fusion="grad", rule="chefer")),
    "mean": (120, 16, dict()),
    "min discard .3 protect registers": (120, 16, dict(head_fusion="min", discard_ratio=0.3,
                                                       drop_tokens=5, protect=[0, 3])),
    "weights": (120, 16, dict(head_fusion="weights", head_weights=[0.5, 2.0, 0.25])),
    "grad rollout discard": (120, 16, dict(head_fusion="grad", discard_ratio=0.5)),
}


@pytest.mark.parametrize("name", list(LARGE))
def test_large(rng, name):
    n, num_layers, options = LARGE[name]
    grad = options.get("head_fusion") == "grad"
    layers, ex, grads, exg, kw = make(rng, "float32", num_layers, (1, 3, n, n), grads=grad)
    want = mr.pipeline(ex, exg, **options)
    if name == "newest script":
        np.testing.assert_allclose(want[0], mr.newest_script([x[0] for x in ex]), rtol=0, atol=1e-13)
    if name == "chefer grad":
        chefer = mr.chefer_rollout([x[0] for x in ex], [g[0] for g in exg])
        np.testing.assert_allclose(want[0] / np.max(want), chefer / np.max(want), rtol=0, atol=1e-13)
    for out_dtype in OUT_DTYPES:
        got = attnroll.spatial(layers, grads=grads, out_dtype=out_dtype, **options)
        close(got, want, out_dtype, scaled=options.get("rule") == "chefer")


# ------------------------------------------------------------ every option combined

COMBOS = {
    "drop1": dict(drop_tokens=1),
    "drop2 max r=.5": dict(drop_tokens=2, head_fusion="max", residual=0.5),
    "entropy discard protect none": dict(head_fusion="entropy", discard_ratio=0.4, protect=[]),
    "weights negative": dict(head_fusion="weights", head_weights=[0.5, 2.0, -0.25]),
    "drop1 entropy discard protect {0,2}": dict(drop_tokens=1, head_fusion="entropy",
                                                discard_ratio=0.5, protect=[0, 2, 2]),
    "chefer min discard": dict(head_fusion="min", discard_ratio=0.4, protect=[1], rule="chefer"),
    "grad drop1": dict(head_fusion="grad", drop_tokens=1),
    "chefer grad discard r=0": dict(head_fusion="grad", rule="chefer", discard_ratio=0.2,
                                    residual=0.0),
}


def _call_options(options):
    """Split a COMBOS entry into attnroll keywords and the oracle's."""
    oracle = dict(options)
    if "protect" in oracle:
        oracle["protect"] = tuple(oracle["protect"])
    return dict(options), oracle


@pytest.mark.parametrize("name", list(COMBOS))
def test_combinations(rng, name):
    options, oracle = _call_options(COMBOS[name])
    grad = options.get("head_fusion") == "grad"
    scaled = options.get("rule") == "chefer"
    layers, ex, grads, exg, kw = make(rng, "float16", 5, (2, 3, 23, 23), grads=grad)
    for variant in range(8):
        cumulative, rows, ranged = bool(variant & 1), [4, 0, 4] if variant & 2 else None, variant & 4
        layer_range = (1, 4) if ranged else None
        want = mr.pipeline(ex, exg, query_rows=rows, layer_range=layer_range,
                           cumulative=cumulative, **oracle)
        for out_dtype in OUT_DTYPES:
            got = attnroll.spatial(layers, grads=grads, query_rows=rows, layer_range=layer_range,
                                   cumulative=cumulative, out_dtype=out_dtype,
                                   threads=1 + variant % 2, **options)
            close(got, want, out_dtype, scaled)


def test_cumulative_shapes_and_last_is_the_result(rng):
    layers = [peaky_attention(rng, (3, 2, 10, 10)) for _ in range(6)]
    whole = attnroll.spatial(layers, out_dtype=np.float64)
    cum = attnroll.spatial(layers, cumulative=True, out_dtype=np.float64)
    assert cum.shape == (6, 3, 10, 10)
    np.testing.assert_array_equal(cum[-1], whole)
    for l in range(6):
        close(cum[l], reference.spatial(layers[:l + 1]), np.float64)
    got = attnroll.spatial(layers, cumulative=True, layer_range=(2, 5), query_rows=[1])
    assert got.shape == (3, 3, 1, 10)
    assert attnroll.spatial(layers, cumulative=True, layer_range=(4, None)).shape == (2, 3, 10, 10)
    unframed = [x[0] for x in layers]
    assert attnroll.spatial(unframed, cumulative=True, drop_tokens=2).shape == (6, 8, 8)
    assert attnroll.spatial(unframed, cumulative=True, query_rows=[0]).shape == (6, 1, 10)
    stacked = attnroll.spatial(np.stack(layers), cumulative=True, out_dtype=np.float64)
    np.testing.assert_array_equal(stacked, cum)


def test_temporal_rule_and_cumulative(rng):
    layers = [rng.random((4, 9, 9)) for _ in range(5)]
    sel = [reference.select_instance(a, 2) for a in layers]
    r, partial = np.eye(9), []
    for s in sel:
        r = (s + np.eye(9)) @ r   # Chefer: R <- R + A @ R
        partial.append(r)
    got = attnroll.temporal(layers, 2, rule="chefer", cumulative=True)
    close(got, np.stack(partial), np.float64, scaled=True)
    got = attnroll.temporal(layers, 2, cumulative=True, layer_range=(1, None), query_rows=[3])
    want = np.stack([reference.temporal(layers[:e], 2, layer_range=(1, e), query_rows=[3])
                     for e in range(2, 6)])
    close(got, want, np.float64)
    with pytest.raises(TypeError):
        attnroll.temporal(layers, 2, drop_tokens=1)  # spatial only


# ------------------------------------------------------------ streaming


STREAM_CASES = dict(COMBOS, mean=dict(), entropy=dict(head_fusion="entropy"),
                    **{"max discard": dict(head_fusion="max", discard_ratio=0.3)})


@pytest.mark.parametrize("name", list(STREAM_CASES))
def test_stream_equals_batch(rng, name):
    options = dict(STREAM_CASES[name])
    grad = options.get("head_fusion") == "grad"
    layers, _, grads, _, _ = make(rng, "float32", 5, (2, 3, 19, 19), grads=grad)
    for variant in range(8):
        cumulative, rows, ranged = bool(variant & 1), [3, 0] if variant & 2 else None, variant & 4
        layer_range = (1, 4) if ranged else None
        out_dtype = OUT_DTYPES[variant % 2]
        batch = attnroll.spatial(layers, grads=grads, query_rows=rows, layer_range=layer_range,
                                 cumulative=cumulative, out_dtype=out_dtype, **options)
        with attnroll.Stream(2, 19, query_rows=rows, layer_range=layer_range, cumulative=cumulative,
                             out_dtype=out_dtype, **options) as s:
            for i, layer in enumerate(layers):
                s.push(layer, grad=grads[i] if grad else None)
            streamed = s.result()
        np.testing.assert_array_equal(streamed, batch)


def test_stream_grad_any_dtype_and_layout(rng):
    layers, _, grads, _, _ = make(rng, "float64", 4, (1, 2, 11, 11), grads=True)
    batch = attnroll.spatial(layers, grads=grads, out_dtype=np.float64)
    s = attnroll.Stream(1, 11, head_fusion="grad", out_dtype=np.float64)
    for a, g in zip(layers, grads):
        s.push(a[0], grad=np.asfortranarray(g[0]).astype(np.float32))
    got = s.result()
    assert got.shape == (1, 11, 11)
    np.testing.assert_allclose(got, batch, rtol=0, atol=1e-6)  # float32 gradient values


# ------------------------------------------------------------ edge cases


def test_one_head(rng):
    layers = [peaky_attention(rng, (2, 1, 12, 12), np.float64) for _ in range(3)]
    plain = attnroll.spatial(layers, out_dtype=np.float64)
    for fusion in ["mean", "max", "min", "entropy"]:
        close(attnroll.spatial(layers, head_fusion=fusion, out_dtype=np.float64), plain, np.float64)
    scaled = attnroll.spatial(layers, head_fusion="weights", head_weights=[2.0], out_dtype=np.float64)
    close(scaled, mr.pipeline(layers, head_fusion="weights", head_weights=[2.0]), np.float64)
    grads = [rng.standard_normal(x.shape) for x in layers]
    close(attnroll.spatial(layers, grads=grads, out_dtype=np.float64),
          mr.pipeline(layers, grads, head_fusion="grad"), np.float64)


@pytest.mark.parametrize("fusion", ["mean", "max", "min", "entropy"])
def test_all_zero_rows(rng, fusion):
    layers = [peaky_attention(rng, (2, 2, 9, 9), np.float64) for _ in range(3)]
    for a in layers:
        a[:, :, 2, :] = 0.0   # row 2 of every map
        a[0, :, 0, 1:] = 0.0  # row 0 of frame 0 is all zero once CLS is dropped
    for drop in [0, 1]:
        options = dict(head_fusion=fusion, drop_tokens=drop, discard_ratio=0.25 * drop)
        got = attnroll.spatial(layers, out_dtype=np.float64, **options)
        assert np.all(np.isfinite(got))
        close(got, mr.pipeline(layers, **options), np.float64)


def test_discard_zero_and_near_one(rng):
    layers = [peaky_attention(rng, (2, 3, 15, 15), np.float64) for _ in range(3)]
    np.testing.assert_array_equal(attnroll.spatial(layers, discard_ratio=0.0, out_dtype=np.float64),
                                  attnroll.spatial(layers, out_dtype=np.float64))
    p = np.nextafter(1.0, 0.0)
    for protect in [None, []]:
        options = dict(discard_ratio=p) if protect is None else dict(discard_ratio=p, protect=protect)
        got = attnroll.spatial(layers, out_dtype=np.float64, **options)
        want = mr.pipeline(layers, **dict(options, protect=(0,) if protect is None else ()))
        close(got, want, np.float64)
    # one layer, nothing protected, p near 1: only the largest entry survives
    a = peaky_attention(rng, (1, 6, 6), np.float64)
    got = attnroll.spatial([a], discard_ratio=p, protect=[], residual=0.0, out_dtype=np.float64)
    assert np.count_nonzero(got) == 1 and got.flat[np.argmax(a[0])] == 1.0


def test_discard_ties_lowest_index_first():
    u = np.full((1, 3, 3), 1.0 / 3)
    got = attnroll.spatial([u], discard_ratio=0.5, protect=[], out_dtype=np.float64)
    want = [[1.0, 0.0, 0.0], [0.0, 0.8, 0.2], [1 / 6, 1 / 6, 2 / 3]]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_drop_all_but_one_token(rng):
    layers = [peaky_attention(rng, (2, 3, 7, 7)) for _ in range(3)]
    got = attnroll.spatial(layers, drop_tokens=6)
    np.testing.assert_array_equal(got, np.ones((2, 1, 1), np.float32))
    s = attnroll.Stream(2, 7, drop_tokens=6, head_fusion="entropy")
    for a in layers:
        s.push(a)
    np.testing.assert_array_equal(s.result(), np.ones((2, 1, 1), np.float32))


def test_weights_summing_to_zero(rng):
    layers = [peaky_attention(rng, (2, 3, 10, 10), np.float64) for _ in range(2)]
    w = [1.0, -1.0, 0.0]
    got = attnroll.spatial(layers, head_fusion="weights", head_weights=w, out_dtype=np.float64)
    close(got, mr.pipeline(layers, head_fusion="weights", head_weights=w), np.float64)
    same = [np.stack([x[:, 0], x[:, 0], x[:, 1]], axis=1) for x in layers]  # A0 - A0 = 0
    got = attnroll.spatial(same, head_fusion="weights", head_weights=w, out_dtype=np.float64)
    np.testing.assert_allclose(got, np.broadcast_to(np.eye(10), got.shape), rtol=0, atol=1e-15)


@pytest.mark.parametrize("fusion", ["mean", "max", "min", "entropy", "weights", "grad"])
@pytest.mark.parametrize("discard", [0.0, 0.5])
def test_nan_input_spreads_without_error(rng, fusion, discard):
    """Documented: no error, no crash; the NaN reaches the entries it touches."""
    a = peaky_attention(rng, (2, 5, 5), np.float32)
    a[1, 2, 3] = np.nan
    options = dict(head_fusion=fusion, discard_ratio=discard)
    if fusion == "weights":
        options["head_weights"] = [0.5, 0.5]
    if fusion == "grad":
        options["grads"] = [np.ones_like(a)] * 2
    got = attnroll.spatial([a, a], **options)
    assert np.isnan(got).any()
    got = attnroll.spatial([a, peaky_attention(rng, (2, 5, 5))], query_rows=[0], **options)
    assert got.shape == (1, 5)


# ------------------------------------------------------------ bad input


def raises(exc, *words):
    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *a):
            handled = self.ctx.__exit__(*a)
            text = str(self.info.value)
            for w in words:
                assert w in text, f"{w!r} not in {text!r}"
            return handled

    return Check()


@pytest.fixture
def small(rng):
    return [peaky_attention(rng, (2, 3, 6, 6)) for _ in range(2)]


@pytest.mark.parametrize("keyword,value,exc,words", [
    ("head_fusion", "median", attnroll.ArgumentError, ["head_fusion", "'median'", "'entropy'"]),
    ("head_fusion", 3, attnroll.ArgumentError, ["head_fusion", "3"]),
    ("rule", "gradcam", attnroll.ArgumentError, ["rule", "'gradcam'", "'chefer'"]),
    ("discard_ratio", 1.0, attnroll.ArgumentError, ["discard_ratio", "1.0", "[0, 1)"]),
    ("discard_ratio", -0.1, attnroll.ArgumentError, ["discard_ratio", "-0.1"]),
    ("discard_ratio", float("nan"), attnroll.ArgumentError, ["discard_ratio", "nan"]),
    ("discard_ratio", "0.5", TypeError, ["discard_ratio", "str"]),
    ("drop_tokens", -1, attnroll.ArgumentError, ["drop_tokens", "-1"]),
    ("drop_tokens", 1.5, TypeError, ["drop_tokens", "float"]),
    ("drop_tokens", 6, attnroll.ArgumentError, ["drop_tokens", "ATTNROLL_OPT_DROP_TOKENS: 6"]),
    ("protect", [0, -2], attnroll.ArgumentError, ["protect[1]", "-2"]),
    ("protect", 0, TypeError, ["protect"]),
    ("cumulative", "yes", TypeError, ["cumulative", "'yes'"]),
    ("head_weights", [1.0, 1.0, 1.0], attnroll.ArgumentError, ["head_weights", "'mean'"]),
])
def test_bad_keyword(small, keyword, value, exc, words):
    with raises(exc, *words):
        attnroll.spatial(small, **{keyword: value})
    with raises(exc, *words):
        attnroll.Stream(2, 6, **{keyword: value})


def test_bad_against_shapes(small):
    with raises(attnroll.ArgumentError, "protect", "ATTNROLL_OPT_PROTECT[1]: column 5"):
        attnroll.spatial(small, drop_tokens=1, discard_ratio=0.5, protect=[0, 5])
    with raises(attnroll.ArgumentError, "protect", "column 5"):
        attnroll.Stream(2, 6, drop_tokens=1, protect=[5])
    with raises(attnroll.ArgumentError, "ATTNROLL_OPT_QUERY_ROWS[0]: row 5"):
        attnroll.spatial(small, drop_tokens=1, query_rows=[5])
    with raises(attnroll.ShapeError, "head_weights", "2 weights", "H = 3"):
        attnroll.spatial(small, head_fusion="weights", head_weights=[1.0, 2.0])
    s = attnroll.Stream(2, 6, head_fusion="weights", head_weights=[1.0, 2.0])
    with raises(attnroll.ShapeError, "H = 3"):
        s.push(small[0])
    with raises(attnroll.ArgumentError, "head_weights", "not finite"):
        attnroll.spatial(small, head_fusion="weights", head_weights=[1.0, float("inf"), 0.0])
    with raises(attnroll.ArgumentError, "head_fusion", "'weights' needs head_weights"):
        attnroll.spatial(small, head_fusion="weights")


def test_bad_gradients(small, rng):
    grads = [rng.standard_normal(x.shape).astype(np.float32) for x in small]
    with raises(attnroll.ArgumentError, "head_fusion", "'grad' needs", "grads="):
        attnroll.spatial(small, head_fusion="grad")
    with raises(attnroll.ArgumentError, "grads", "head_fusion='max'"):
        attnroll.spatial(small, grads=grads, head_fusion="max")
    with raises(attnroll.ArgumentError, "grads", "1 gradients for 2 layers"):
        attnroll.spatial(small, grads=grads[:1])
    with raises(attnroll.ShapeError, "grads[1]"):
        attnroll.spatial(small, grads=[grads[0], grads[1][:, :2]])
    with raises(TypeError, "grads[0]", "int32"):
        attnroll.spatial(small, grads=[g.astype(np.int32) for g in grads])
    with raises(TypeError, "grads[0]", "bfloat16"):
        attnroll.spatial(small, grads=grads, grads_dtype="bfloat16")
    # a stream: GRAD without a gradient, a gradient without GRAD, a wrong shape
    s = attnroll.Stream(2, 6, head_fusion="grad")
    with raises(attnroll.ArgumentError, "ATTNROLL_FUSE_GRAD needs gradients"):
        s.push(small[0])
    with raises(attnroll.ShapeError, "grad"):
        s.push(small[0], grad=grads[0][:1])
    s.push(small[0], grad=grads[0])   # still usable
    assert s.layers_pushed == 1
    s = attnroll.Stream(2, 6)
    with raises(attnroll.ArgumentError, "gradients given"):
        s.push(small[0], grad=grads[0])


def test_cumulative_stream_state(small):
    s = attnroll.Stream(2, 6, cumulative=True, layer_range=(0, 3))
    for a in small:
        s.push(a)
    with pytest.raises(attnroll.StateError):
        s.result()   # LAYER_END beyond the layers pushed
    s = attnroll.Stream(2, 6, cumulative=True, layer_range=(1, None))
    for a in small:
        s.push(a)
    assert s.result().shape == (1, 2, 6, 6)


# ------------------------------------------------------------ the binding matches the header


def test_binding_declares_the_whole_header():
    from attnroll import _lib
    text = open(os.path.join(ROOT, "include", "attnroll.h")).read()
    functions = set(re.findall(r"ATTNROLL_API\s+[\w\s\*]*?\b(attnroll_\w+)\s*\(", text))
    declared = {name for name, _, _ in _lib.SIGNATURES}
    assert functions == declared, (functions - declared, declared - functions)
    defines = dict(re.findall(r"#define ATTNROLL_((?:OPT|FUSE|RULE|OPTION)_\w+)\s+(\d+)", text))
    assert len(defines) >= 22
    for name, value in defines.items():
        assert getattr(_lib, name) == int(value), name
    from attnroll._options import HEAD_FUSIONS, RULES
    assert {f"FUSE_{k.upper()}": v for k, v in HEAD_FUSIONS.items()} == \
        {k: int(v) for k, v in defines.items() if k.startswith("FUSE_")}
    assert {f"RULE_{k.upper()}": v for k, v in RULES.items()} == \
        {k: int(v) for k, v in defines.items() if k.startswith("RULE_")}

