"""attnroll.temporal and attnroll.select_instance against the reference,
including every instance-selection rule of the header."""

import numpy as np
import pytest

import attnroll
import reference
from conftest import assert_close, peaky_attention

T = 6


def mixed_layers(rng, dtype=np.float32):
    """Layers of the ranks a refiner dump has: [T,T], [Q,T,T], [Q,heads,T,T], rank 5."""
    return [
        peaky_attention(rng, (T, T), dtype),
        peaky_attention(rng, (3, T, T), dtype),
        peaky_attention(rng, (3, 4, T, T), dtype),
        peaky_attention(rng, (2, 3, 2, T, T), dtype),
        peaky_attention(rng, (5, T, T), dtype),
    ]


# ----------------------------------------------------------------- selection


@pytest.mark.parametrize("shape,instance,want_index", [
    ((T, T), 0, lambda a: a),
    ((T, T), 9, lambda a: a),
    ((3, T, T), 0, lambda a: a[0]),
    ((3, T, T), 2, lambda a: a[2]),
    ((3, T, T), 6, lambda a: a[0]),          # neither axis > 6 -> A[0]
    ((3, T, T), 3, lambda a: a[:, 3, :]),    # shape[0] <= 3 < shape[1]: A[:, i, :] ([3,T])
    ((2, 5, 5), 3, lambda a: a[:, 3, :]),    # shape[0] <= 3 < shape[1]: A[:, i, :] ([2,5])
    ((2, 5, 5), 1, lambda a: a[1]),
    ((2, 5, 5), 7, lambda a: a[0]),
    ((2, 5, 4), 1, lambda a: a[0]),          # last two differ -> A[0] whatever i
    ((2, 5, 4), 0, lambda a: a[0]),
])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_select_instance_rank_2_and_3(rng, shape, instance, want_index, out_dtype):
    a = rng.standard_normal(shape).astype(np.float32)
    got = attnroll.select_instance(a, instance, out_dtype=out_dtype)
    want = want_index(a.astype(np.float64))
    np.testing.assert_array_equal(reference.select_instance(a, instance), want)
    assert_close(got, want, out_dtype)


@pytest.mark.parametrize("shape,instance,want_index", [
    ((3, 4, T, T), 1, lambda a: a[1].mean(axis=0)),            # first axis > i: index it, average heads
    ((2, 4, T, T), 3, lambda a: a[:, 3].mean(axis=0)),         # second axis is the first > i
    ((2, 3, T, T), 5, lambda a: a[0, 0]),                      # none > i: the first slice, no averaging
    ((1, 1, T, T), 0, lambda a: a[0, 0]),
    ((2, 3, 4, T, T), 1, lambda a: a[1].mean(axis=(0, 1))),     # two axes left over, both averaged
    ((2, 3, 4, T, T), 2, lambda a: a[:, 2].mean(axis=(0, 1))),
    ((2, 3, 4, T, T), 3, lambda a: a[:, :, 3].mean(axis=(0, 1))),
    ((2, 3, 4, T, T), 4, lambda a: a[0, 0, 0]),
    ((1, 1, 1, 2, T, T), 1, lambda a: a[0, 0, 0, 1]),
    ((2, 1, 1, 2, T, T), 1, lambda a: a[1].mean(axis=(0, 1, 2))),
])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_select_instance_rank_4_and_more_averages(rng, shape, instance, want_index, out_dtype):
    a = rng.standard_normal(shape)
    got = attnroll.select_instance(a, instance, out_dtype=out_dtype)
    want = want_index(a)
    np.testing.assert_allclose(reference.select_instance(a, instance), want, rtol=0, atol=1e-14)
    assert_close(got, want, out_dtype)


def test_select_instance_default_out_dtype_is_float64(rng):
    got = attnroll.select_instance(rng.standard_normal((2, T, T)).astype(np.float32), 1)
    assert got.dtype == np.float64


def test_select_instance_half_and_bf16(rng):
    from conftest import bf16_to_f64, to_bf16_bits
    a = rng.random((3, 2, T, T))
    h = a.astype(np.float16)
    assert_close(attnroll.select_instance(h, 2), reference.select_instance(h, 2), np.float64)
    bits = to_bf16_bits(a)
    got = attnroll.select_instance(bits, 2, dtype="bfloat16")
    assert_close(got, reference.select_instance(bf16_to_f64(bits), 2), np.float64)


def test_select_instance_strided_view(rng):
    big = rng.standard_normal((4, 3, 2 * T, 2 * T))
    view = big[::-1, :, ::2, 1::2].transpose(0, 1, 3, 2)
    got = attnroll.select_instance(view, 1)
    assert_close(got, reference.select_instance(view, 1), np.float64)


# ------------------------------------------------------------------ temporal


# Instances 3..5 would select A[:, i, :] ([3,T]) from the [3,T,T] layer: see test_errors.
@pytest.mark.parametrize("instance", [0, 1, 2, 7, 100])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_temporal_mixed_ranks(rng, instance, out_dtype):
    layers = mixed_layers(rng)
    got = attnroll.temporal(layers, instance, out_dtype=out_dtype)
    assert got.shape == (T, T)
    assert_close(got, reference.temporal(layers, instance), out_dtype)


def test_temporal_default_out_dtype_is_float64(rng):
    got = attnroll.temporal(mixed_layers(rng), 1)
    assert got.dtype == np.float64


def test_temporal_instance_keyword(rng):
    layers = mixed_layers(rng)
    np.testing.assert_array_equal(attnroll.temporal(layers, instance=2),
                                  attnroll.temporal(layers, 2))


def test_temporal_stacked_array(rng):
    stack = peaky_attention(rng, (7, 3, 2, T, T))      # layer axis first
    got = attnroll.temporal(stack, 1)
    assert_close(got, reference.temporal(list(stack), 1), np.float64)
    got_list = attnroll.temporal(list(stack), 1)
    np.testing.assert_allclose(got, got_list, rtol=0, atol=1e-15)


def test_temporal_stack_of_matrices(rng):
    stack = peaky_attention(rng, (4, T, T), np.float64)
    got = attnroll.temporal(stack, 0)
    assert_close(got, reference.temporal(list(stack), 0), np.float64)


@pytest.mark.parametrize("layer_range", [(1, None), (0, 3), (2, 5), (4, None)])
def test_temporal_layer_range(rng, layer_range):
    layers = mixed_layers(rng)
    got = attnroll.temporal(layers, 1, layer_range=layer_range)
    assert_close(got, reference.temporal(layers, 1, layer_range=layer_range), np.float64)


@pytest.mark.parametrize("rows", [[0], [5, 0, 5], list(range(T))[::-1]])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_temporal_query_rows(rng, rows, out_dtype):
    layers = mixed_layers(rng)
    got = attnroll.temporal(layers, 2, query_rows=rows, out_dtype=out_dtype)
    assert got.shape == (len(rows), T)
    assert_close(got, reference.temporal(layers, 2, query_rows=rows), out_dtype)


@pytest.mark.parametrize("residual", [0.0, 0.25, 3.0])
def test_temporal_residual(rng, residual):
    layers = mixed_layers(rng)
    got = attnroll.temporal(layers, 1, residual=residual, threads=1)
    assert_close(got, reference.temporal(layers, 1, residual=residual), np.float64)


def test_temporal_zero_rows_divide_by_one(rng):
    layers = [peaky_attention(rng, (T, T), np.float64) for _ in range(3)]
    layers[1][2] = 0.0
    got = attnroll.temporal(layers, 0, residual=0.0)
    want = reference.temporal(layers, 0, residual=0.0)
    assert_close(got, want, np.float64)


def test_temporal_layers_of_different_dtypes(rng):
    base = mixed_layers(rng, np.float64)
    layers = [base[0].astype(np.float16), base[1], base[2].astype(np.float32), base[3], base[4]]
    got = attnroll.temporal(layers, 1)
    assert_close(got, reference.temporal(layers, 1), np.float64)


def test_temporal_single_layer_is_normalised_selection(rng):
    a = peaky_attention(rng, (2, 3, T, T), np.float64)
    got = attnroll.temporal([a], 1)
    sel = a[1].mean(axis=0) + np.eye(T)
    assert_close(got, sel / sel.sum(axis=1, keepdims=True), np.float64)


def test_temporal_inputs_not_modified(rng):
    layers = mixed_layers(rng)
    copies = [a.copy() for a in layers]
    attnroll.temporal(layers, 2)
    for a, c in zip(layers, copies):
        np.testing.assert_array_equal(a, c)
