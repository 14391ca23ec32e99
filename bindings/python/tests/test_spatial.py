"""attnroll.spatial against the float64 reference: shapes, options, dtypes of
the output, the README's worked example."""

import numpy as np
import pytest

import attnroll
import reference
from conftest import assert_close, peaky_attention


def make_layers(rng, L=4, F=2, H=3, N=9, dtype=np.float32):
    return [peaky_attention(rng, (F, H, N, N), dtype) for _ in range(L)]


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_full_rollout_framed(rng, out_dtype):
    layers = make_layers(rng)
    got = attnroll.spatial(layers, out_dtype=out_dtype)
    assert isinstance(got, np.ndarray)
    assert got.shape == (2, 9, 9)
    assert got.flags.c_contiguous and got.flags.writeable
    assert_close(got, reference.spatial(layers), out_dtype)


def test_default_out_dtype_is_float32(rng):
    got = attnroll.spatial(make_layers(rng, L=2))
    assert got.dtype == np.float32


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_unframed_layers_give_a_matrix(rng, out_dtype):
    layers = [peaky_attention(rng, (4, 7, 7)) for _ in range(3)]
    got = attnroll.spatial(layers, out_dtype=out_dtype)
    assert got.shape == (7, 7)
    assert_close(got, reference.spatial(layers), out_dtype)


def test_rows_of_rollout_sum_to_one(rng):
    # Every Abar is row-stochastic (softmax rows + identity, renormalised).
    got = attnroll.spatial(make_layers(rng, L=6, N=17), out_dtype=np.float64)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-12)


def test_readme_hello_example():
    a0 = np.array([[1, 0, 0], [.5, .5, 0], [.2, .3, .5]], dtype=np.float32)[None]
    a1 = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32)[None]
    got = attnroll.spatial([a0, a1], out_dtype=np.float64)
    np.testing.assert_allclose(got[0], [0.625, 0.375, 0.0], atol=1e-6)
    np.testing.assert_allclose(got[1], [0.175, 0.45, 0.375], atol=1e-6)
    assert_close(got, reference.spatial([a0, a1]), np.float64)


def test_list_tuple_and_stack_agree(rng):
    layers = make_layers(rng, L=3)
    from_list = attnroll.spatial(layers, out_dtype=np.float64)
    from_tuple = attnroll.spatial(tuple(layers), out_dtype=np.float64)
    from_stack = attnroll.spatial(np.stack(layers), out_dtype=np.float64)
    np.testing.assert_array_equal(from_list, from_tuple)
    np.testing.assert_allclose(from_list, from_stack, rtol=0, atol=1e-15)


def test_single_layer(rng):
    layers = make_layers(rng, L=1)
    got = attnroll.spatial(layers, out_dtype=np.float64)
    assert_close(got, reference.spatial(layers), np.float64)


def test_single_token():
    layers = [np.ones((2, 3, 1, 1), np.float32)] * 2
    got = attnroll.spatial(layers)
    np.testing.assert_array_equal(got, np.ones((2, 1, 1), np.float32))


@pytest.mark.parametrize("rows", [[0], [3, 0, 3], [8, 7, 6, 5, 4, 3, 2, 1, 0]])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_query_rows(rng, rows, out_dtype):
    layers = make_layers(rng, L=5)
    got = attnroll.spatial(layers, query_rows=rows, out_dtype=out_dtype)
    assert got.shape == (2, len(rows), 9)
    assert_close(got, reference.spatial(layers, query_rows=rows), out_dtype)
    full = attnroll.spatial(layers, out_dtype=out_dtype)
    np.testing.assert_allclose(got, full[:, rows], rtol=0,
                               atol=1e-5 if out_dtype == np.float32 else 1e-13)


def test_query_rows_unframed(rng):
    layers = [peaky_attention(rng, (2, 6, 6)) for _ in range(3)]
    got = attnroll.spatial(layers, query_rows=(5, 1), out_dtype=np.float64)
    assert got.shape == (2, 6)
    assert_close(got, reference.spatial(layers, query_rows=[5, 1]), np.float64)


@pytest.mark.parametrize("rows", [range(3), np.array([2, 0]), [np.int64(4)], (np.int32(1),)])
def test_query_rows_accepts_int_sequences(rng, rows):
    layers = make_layers(rng, L=2)
    got = attnroll.spatial(layers, query_rows=rows, out_dtype=np.float64)
    want_rows = [int(r) for r in rows]
    assert_close(got, reference.spatial(layers, query_rows=want_rows), np.float64)


@pytest.mark.parametrize("layer_range", [(0, None), (1, None), (0, 2), (1, 3), (3, 4), (0, 4), (2, None)])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_layer_range(rng, layer_range, out_dtype):
    layers = make_layers(rng, L=4)
    got = attnroll.spatial(layers, layer_range=layer_range, out_dtype=out_dtype)
    assert_close(got, reference.spatial(layers, layer_range=layer_range), out_dtype)


def test_layer_range_with_query_rows(rng):
    layers = make_layers(rng, L=5)
    got = attnroll.spatial(layers, layer_range=(1, 4), query_rows=[0, 2], out_dtype=np.float64)
    want = reference.spatial(layers, layer_range=(1, 4), query_rows=[0, 2])
    assert_close(got, want, np.float64)


def test_layers_outside_the_range_are_not_read_for_values(rng):
    layers = make_layers(rng, L=3)
    poisoned = [layers[0], layers[1], np.full_like(layers[2], np.nan)]
    got = attnroll.spatial(poisoned, layer_range=(0, 2), out_dtype=np.float64)
    assert_close(got, reference.spatial(layers, layer_range=(0, 2)), np.float64)


@pytest.mark.parametrize("residual", [0.0, 0.5, 2.5, 1e6])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_residual(rng, residual, out_dtype):
    layers = make_layers(rng, L=3)
    got = attnroll.spatial(layers, residual=residual, out_dtype=out_dtype)
    assert_close(got, reference.spatial(layers, residual=residual), out_dtype)


def test_residual_one_is_the_default(rng):
    layers = make_layers(rng, L=3)
    a = attnroll.spatial(layers, out_dtype=np.float64)
    b = attnroll.spatial(layers, residual=1.0, threads=1, out_dtype=np.float64)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)


def test_zero_row_sum_divides_by_one(rng):
    # With r = 0 a zero attention row has sum 0: it stays zero (divides by 1).
    layers = make_layers(rng, L=2, F=1, H=2, N=5, dtype=np.float64)
    layers[0][:, :, 2, :] = 0.0
    layers[1][:, :, 4, :] = 0.0
    got = attnroll.spatial(layers, residual=0.0, out_dtype=np.float64)
    want = reference.spatial(layers, residual=0.0)
    assert np.all(want[0, 4] == 0.0)
    assert_close(got, want, np.float64)


def test_all_zero_attention_with_residual_is_identity():
    layers = [np.zeros((1, 2, 4, 4), np.float32)] * 3
    got = attnroll.spatial(layers)
    np.testing.assert_array_equal(got, np.eye(4, dtype=np.float32)[None])


@pytest.mark.parametrize("threads", [0, 1, 2, 3, 1024])
def test_threads_do_not_change_the_result(rng, threads):
    layers = make_layers(rng, L=3, F=3, N=20)
    got = attnroll.spatial(layers, threads=threads, out_dtype=np.float64)
    assert_close(got, reference.spatial(layers), np.float64)


@pytest.mark.parametrize("out_dtype", [np.dtype(np.float32), np.dtype("float64"), "float32", "f8"])
def test_out_dtype_spellings(rng, out_dtype):
    layers = make_layers(rng, L=2)
    got = attnroll.spatial(layers, out_dtype=out_dtype)
    assert got.dtype == np.dtype(out_dtype)
    assert_close(got, reference.spatial(layers), got.dtype)


def test_inputs_are_not_modified_and_output_is_new(rng):
    layers = make_layers(rng, L=3)
    copies = [a.copy() for a in layers]
    got = attnroll.spatial(layers)
    for a, c in zip(layers, copies):
        np.testing.assert_array_equal(a, c)
        assert not np.shares_memory(got, a)
    again = attnroll.spatial(layers)
    assert not np.shares_memory(got, again)
    np.testing.assert_array_equal(got, again)


def test_mixed_dtypes_across_layers(rng):
    base = make_layers(rng, L=3, dtype=np.float64)
    layers = [base[0].astype(np.float16), base[1].astype(np.float32), base[2]]
    got = attnroll.spatial(layers, out_dtype=np.float64)
    assert_close(got, reference.spatial(layers), np.float64)


def test_vit_like_cls_row(rng):
    # A small ViT-like case: CLS row of a deeper stack equals the full result's row 0.
    layers = make_layers(rng, L=8, F=2, H=4, N=33)
    cls = attnroll.spatial(layers, query_rows=[0], out_dtype=np.float64)
    assert_close(cls, reference.spatial(layers, query_rows=[0]), np.float64)
    cls32 = attnroll.spatial(layers, query_rows=[0])
    assert_close(cls32, reference.spatial(layers, query_rows=[0]), np.float32)
