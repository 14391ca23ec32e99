"""attnroll.singular_values and attnroll.effective_rank against
numpy.linalg.svd(compute_uv=False) on random and attention-like (peaky,
row-stochastic) matrices, in every input dtype, strided and batched, with
float32 and float64 output; the hand cases (identity, rank one, zero) and bad
input."""

import numpy as np
import pytest

import attnroll
from conftest import exact, peaky_attention, to_bf16_bits

# Relative to the largest singular value: LAPACK's ?gesdd is backward stable,
# so each value is within a small multiple of eps * s_max.
TOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}


def svd(x):
    return np.linalg.svd(np.asarray(x, dtype=np.float64), compute_uv=False)


def erank(s):
    total = s.sum(axis=-1, keepdims=True)
    p = np.divide(s, total, out=np.zeros_like(s), where=total > 0)
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.where(total[..., 0] > 0, np.exp(-terms.sum(axis=-1)), 0.0)


def close_values(got, want, out_dtype, scale):
    got = np.asarray(got)
    assert got.dtype == np.dtype(out_dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.max(np.abs(got.astype(np.float64) - want) / scale)
    assert err <= TOL[np.dtype(out_dtype)], f"relative error {err:.3g} ({np.dtype(out_dtype)})"


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["random", "peaky"])
def test_singular_values_match_numpy(rng, kind, out_dtype):
    if kind == "random":
        x = rng.standard_normal((3, 2, 17, 17))
    else:
        x = peaky_attention(rng, (3, 2, 40, 40), np.float64)
    want = svd(x)
    got = attnroll.singular_values(x, out_dtype=out_dtype)
    scale = want.max(axis=-1, keepdims=True)
    close_values(got, want, out_dtype, scale)
    assert np.all(np.diff(got, axis=-1) <= 0)  # descending
    # effective rank is continuous in the spectrum: within the same relative error
    got_rank = attnroll.effective_rank(x, out_dtype=out_dtype)
    assert got_rank.shape == (3, 2)
    close_values(got_rank, erank(want), out_dtype, np.float64(x.shape[-1]) * 10)


@pytest.mark.parametrize("in_dtype", ["float16", "bfloat16", "float32"])
def test_every_input_dtype(rng, in_dtype):
    x = peaky_attention(rng, (4, 12, 12), np.float64)
    if in_dtype == "bfloat16":
        a, values, kw = to_bf16_bits(x), exact(to_bf16_bits(x), bf16=True), "bfloat16"
    else:
        a = x.astype(in_dtype)
        values, kw = exact(a), None
    want = svd(values)
    got = attnroll.singular_values(a, dtype=kw)
    close_values(got, want, np.float64, want.max(axis=-1, keepdims=True))
    close_values(attnroll.effective_rank(a, dtype=kw), erank(want), np.float64, 12.0)


def test_strided_views_and_single_matrix(rng):
    base = peaky_attention(rng, (5, 30, 30), np.float64)
    view = base[::2, ::-1, ::3].transpose(0, 2, 1)[:, :, :10]    # [3, 10, 10], odd strides
    want = svd(view)
    close_values(attnroll.singular_values(view), want, np.float64, want.max(axis=-1, keepdims=True))
    one = base[1]
    got = attnroll.effective_rank(one)
    assert got.shape == ()
    assert abs(float(got) - float(erank(svd(one)))) <= 1e-12 * 30
    assert attnroll.singular_values(one).shape == (30,)
    broadcast = np.broadcast_to(one, (2, 30, 30))                  # zero stride
    assert np.array_equal(attnroll.singular_values(broadcast)[0],
                          attnroll.singular_values(broadcast)[1])


def test_dlpack_input(rng):
    from conftest import DLPackOnly
    x = rng.standard_normal((2, 9, 9)).astype(np.float32)
    if not hasattr(x, "__dlpack__"):
        pytest.skip("numpy without __dlpack__")
    want = attnroll.singular_values(x)
    assert np.array_equal(attnroll.singular_values(DLPackOnly(x)), want)


# ---- hand cases ----------------------------------------------------------------------

@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_hand_cases(rng, out_dtype):
    m = 13
    tol = 1e-5 if out_dtype == np.float32 else 1e-12
    eye = np.eye(m)
    assert np.allclose(attnroll.singular_values(eye, out_dtype=out_dtype), 1.0, rtol=0, atol=tol)
    assert abs(attnroll.effective_rank(eye, out_dtype=out_dtype) - m) <= tol * m
    u, v = rng.standard_normal(m), rng.standard_normal(m)
    rank1 = np.outer(u, v)
    s = attnroll.singular_values(rank1, out_dtype=out_dtype)
    assert abs(s[0] - np.linalg.norm(u) * np.linalg.norm(v)) <= tol * s[0]
    assert np.all(s[1:] <= tol * s[0])
    assert abs(attnroll.effective_rank(rank1, out_dtype=out_dtype) - 1.0) <= 1e-4
    zero = np.zeros((2, m, m), dtype=np.float32)
    assert np.array_equal(attnroll.singular_values(zero, out_dtype=out_dtype), np.zeros((2, m)))
    assert np.array_equal(attnroll.effective_rank(zero, out_dtype=out_dtype), np.zeros(2))


# ---- bad input -----------------------------------------------------------------------

def test_spectra_refuse_bad_input():
    with pytest.raises(attnroll.ShapeError):
        attnroll.singular_values(np.ones((3, 4)))
    with pytest.raises(attnroll.ShapeError):
        attnroll.effective_rank(np.ones((2, 3, 4)))
    with pytest.raises(attnroll.ShapeError):
        attnroll.singular_values(np.ones(4))
    for bad in (np.nan, np.inf, -np.inf):
        x = np.eye(4)
        x[2, 1] = bad
        with pytest.raises(attnroll.ArgumentError):
            attnroll.singular_values(x)
        with pytest.raises(attnroll.ArgumentError):
            attnroll.effective_rank(x)
    with pytest.raises(TypeError):
        attnroll.singular_values(np.eye(3), out_dtype=np.float16)
    with pytest.raises(TypeError):
        attnroll.effective_rank(np.eye(3, dtype=np.int64))


def test_wrong_output_shape_refused_untouched():
    """The raw call with an output of the wrong shape: refused, nothing written."""
    import ctypes
    from attnroll import _lib
    from attnroll._arrays import Views
    x = np.eye(4)
    for function, shape in ((_lib.lib.attnroll_singular_values, (3,)),
                            (_lib.lib.attnroll_singular_values, (1, 4)),
                            (_lib.lib.attnroll_effective_rank, (2,))):
        out = np.full(shape, 7.0)
        views = Views()
        status = function(ctypes.byref(views.tensor(x, _lib.F64)),
                          ctypes.byref(views.tensor(out, _lib.F64)))
        assert status == _lib.E_SHAPE
        assert np.all(out == 7.0)
