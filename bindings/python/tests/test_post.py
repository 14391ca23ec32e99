"""minmax_rows, column_mean and minmax against the reference."""

import numpy as np
import pytest

import attnroll
import reference
from conftest import assert_close, bf16_to_f64, to_bf16_bits


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_dtype", [np.float16, np.float32, np.float64])
def test_minmax_rows(rng, in_dtype, out_dtype):
    x = (rng.standard_normal((5, 11)) * 3).astype(in_dtype)
    got = attnroll.minmax_rows(x, out_dtype=out_dtype)
    assert got.shape == (5, 11)
    assert_close(got, reference.minmax_rows(x), out_dtype)
    assert np.all(got.min(axis=1) == 0) and np.all(got.max(axis=1) == 1)


def test_minmax_rows_default_out_dtype_is_float64(rng):
    assert attnroll.minmax_rows(rng.random((2, 3)).astype(np.float32)).dtype == np.float64
    assert attnroll.column_mean(rng.random((2, 3)).astype(np.float32)).dtype == np.float64
    assert attnroll.minmax(rng.random((2, 3)).astype(np.float32)).dtype == np.float64


def test_minmax_rows_constant_row_becomes_zeros(rng):
    x = rng.random((4, 6))
    x[1] = 0.25
    x[3] = 0.0
    got = attnroll.minmax_rows(x)
    np.testing.assert_array_equal(got[1], 0.0)
    np.testing.assert_array_equal(got[3], 0.0)
    assert_close(got, reference.minmax_rows(x), np.float64)


def test_minmax_rows_nan_makes_its_row_nan(rng):
    x = rng.random((3, 5))
    x[1, 2] = np.nan
    got = attnroll.minmax_rows(x)
    assert np.all(np.isnan(got[1]))
    assert not np.any(np.isnan(got[[0, 2]]))
    assert_close(got[[0, 2]], reference.minmax_rows(x[[0, 2]]), np.float64)


def test_minmax_rows_single_column_and_single_row(rng):
    np.testing.assert_array_equal(attnroll.minmax_rows(rng.random((4, 1))), np.zeros((4, 1)))
    x = rng.random((1, 9))
    assert_close(attnroll.minmax_rows(x), reference.minmax_rows(x), np.float64)


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_dtype", [np.float16, np.float32, np.float64])
def test_column_mean(rng, in_dtype, out_dtype):
    x = rng.standard_normal((7, 5)).astype(in_dtype)
    got = attnroll.column_mean(x, out_dtype=out_dtype)
    assert got.shape == (5,)
    assert_close(got, reference.column_mean(x), out_dtype)


def test_column_mean_of_rollout_rows(rng):
    # Typical use: the mean over query rows of a rollout.
    x = rng.random((1, 13))
    assert_close(attnroll.column_mean(x), x[0].astype(np.float64), np.float64)


@pytest.mark.parametrize("shape", [(1,), (9,), (3, 4), (2, 3, 4), (2, 1, 3, 1, 2)])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_minmax_any_rank(rng, shape, out_dtype):
    x = rng.standard_normal(shape).astype(np.float32)
    got = attnroll.minmax(x, out_dtype=out_dtype)
    assert got.shape == shape
    assert_close(got, reference.minmax(x), out_dtype)


def test_minmax_constant_array_becomes_zeros():
    np.testing.assert_array_equal(attnroll.minmax(np.full((3, 2, 2), 7.5)), np.zeros((3, 2, 2)))


def test_minmax_nan_makes_everything_nan(rng):
    x = rng.random((3, 4))
    x[2, 1] = np.nan
    assert np.all(np.isnan(attnroll.minmax(x)))


@pytest.mark.parametrize("fn", ["minmax_rows", "column_mean", "minmax"])
def test_post_bf16(rng, fn):
    bits = to_bf16_bits(rng.standard_normal((4, 6)))
    got = getattr(attnroll, fn)(bits, dtype="bfloat16")
    assert_close(got, getattr(reference, fn)(bf16_to_f64(bits)), np.float64)
    got_i16 = getattr(attnroll, fn)(bits.view(np.int16), dtype="bfloat16")
    np.testing.assert_array_equal(got, got_i16)


@pytest.mark.parametrize("fn", ["minmax_rows", "column_mean", "minmax"])
def test_post_strided_inputs(rng, fn):
    big = rng.standard_normal((10, 16))
    for view in (big.T, big[::-1, ::3], big[1::2, ::-2], np.asfortranarray(big),
                 np.broadcast_to(big[0], (4, 16)), big.astype(">f8")):
        got = getattr(attnroll, fn)(view)
        assert_close(got, getattr(reference, fn)(view), np.float64)


@pytest.mark.parametrize("fn", ["minmax_rows", "column_mean", "minmax"])
def test_post_does_not_modify_input(rng, fn):
    x = rng.random((3, 5))
    copy = x.copy()
    got = getattr(attnroll, fn)(x)
    np.testing.assert_array_equal(x, copy)
    assert not np.shares_memory(got, x)
