"""attnroll.Stream: same numbers as spatial, state rules, memory report."""

import numpy as np
import pytest

import attnroll
import reference
from conftest import assert_close, bf16_to_f64, peaky_attention, to_bf16_bits


def make_layers(rng, L=4, F=2, H=3, N=8, dtype=np.float32):
    return [peaky_attention(rng, (F, H, N, N), dtype) for _ in range(L)]


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_stream_matches_reference_and_spatial(rng, out_dtype):
    layers = make_layers(rng)
    with attnroll.Stream(2, 8, out_dtype=out_dtype) as s:
        for i, layer in enumerate(layers):
            assert s.layers_pushed == i
            s.push(layer)
        assert s.layers_pushed == 4
        got = s.result()
    assert got.dtype == np.dtype(out_dtype)
    assert got.shape == (2, 8, 8)
    assert_close(got, reference.spatial(layers), out_dtype)
    np.testing.assert_allclose(got, attnroll.spatial(layers, out_dtype=out_dtype), rtol=0,
                               atol=1e-6 if out_dtype == np.float32 else 1e-14)


def test_stream_default_out_dtype_is_float32(rng):
    with attnroll.Stream(2, 8) as s:
        s.push(make_layers(rng, L=1)[0])
        assert s.result().dtype == np.float32


def test_context_manager_returns_the_stream_and_closes_it(rng):
    with attnroll.Stream(1, 4) as s:
        assert isinstance(s, attnroll.Stream)
    with pytest.raises(attnroll.Error):
        s.push(np.ones((1, 1, 4, 4), np.float32))


@pytest.mark.parametrize("rows", [[0], [7, 0, 7, 3]])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_stream_query_rows(rng, rows, out_dtype):
    layers = make_layers(rng, L=5)
    with attnroll.Stream(2, 8, query_rows=rows, out_dtype=out_dtype) as s:
        for layer in layers:
            s.push(layer)
        got = s.result()
        again = s.result()  # result may be asked again
    assert got.shape == (2, len(rows), 8)
    assert_close(got, reference.spatial(layers, query_rows=rows), out_dtype)
    np.testing.assert_array_equal(got, again)


@pytest.mark.parametrize("layer_range", [(1, None), (0, 2), (1, 3), (3, 4)])
def test_stream_layer_range(rng, layer_range):
    layers = make_layers(rng, L=4)
    with attnroll.Stream(2, 8, layer_range=layer_range, out_dtype=np.float64) as s:
        for layer in layers:
            s.push(layer)
        got = s.result()
    assert_close(got, reference.spatial(layers, layer_range=layer_range), np.float64)


def test_stream_layer_range_with_query_rows(rng):
    layers = make_layers(rng, L=5)
    with attnroll.Stream(2, 8, layer_range=(1, 4), query_rows=[2, 0], out_dtype=np.float64) as s:
        for layer in layers:
            s.push(layer)
        got = s.result()
    assert_close(got, reference.spatial(layers, layer_range=(1, 4), query_rows=[2, 0]), np.float64)


@pytest.mark.parametrize("residual", [0.0, 3.0])
def test_stream_residual_and_threads(rng, residual):
    layers = make_layers(rng, L=3)
    with attnroll.Stream(2, 8, residual=residual, threads=2, out_dtype=np.float64) as s:
        for layer in layers:
            s.push(layer)
        got = s.result()
    assert_close(got, reference.spatial(layers, residual=residual), np.float64)


def test_single_frame_accepts_unframed_layers_and_keeps_frame_axis(rng):
    layers = [peaky_attention(rng, (3, 6, 6)) for _ in range(3)]
    with attnroll.Stream(1, 6, out_dtype=np.float64) as s:
        s.push(layers[0])
        s.push(layers[1][None])  # [1,H,N,N] is fine too
        s.push(layers[2])
        got = s.result()
    assert got.shape == (1, 6, 6)
    assert_close(got[0], reference.spatial(layers), np.float64)


def test_heads_may_differ_between_pushes(rng):
    layers = [peaky_attention(rng, (2, h, 8, 8)) for h in (1, 4, 2)]
    with attnroll.Stream(2, 8, out_dtype=np.float64) as s:
        for layer in layers:
            s.push(layer)
        got = s.result()
    assert_close(got, reference.spatial(layers), np.float64)


def test_push_any_dtype_and_layout(rng):
    base = make_layers(rng, L=5, dtype=np.float64)
    big = np.zeros((2, 3, 16, 16))
    big[:, :, ::2, ::2] = base[4]
    pushes = [
        (base[0].astype(np.float16), None),
        (to_bf16_bits(base[1]), "bfloat16"),
        (np.asfortranarray(base[2].astype(np.float32)), None),
        (base[3].astype(">f8"), None),
        (big[:, :, ::2, ::2], None),
    ]
    exact = [base[0].astype(np.float16), bf16_to_f64(to_bf16_bits(base[1])),
             base[2].astype(np.float32), base[3], base[4]]
    with attnroll.Stream(2, 8, out_dtype=np.float64) as s:
        for layer, dtype in pushes:
            s.push(layer, dtype=dtype)
        got = s.result()
    assert_close(got, reference.spatial(exact), np.float64)


def test_rejected_push_leaves_stream_usable(rng):
    layers = make_layers(rng, L=2)
    with attnroll.Stream(2, 8, out_dtype=np.float64) as s:
        s.push(layers[0])
        with pytest.raises(attnroll.ShapeError) as info:
            s.push(np.ones((2, 3, 7, 7), np.float32))
        assert info.value.status == 2
        assert "layer" in str(info.value)
        with pytest.raises(TypeError):
            s.push(np.ones((2, 3, 8, 8), np.int32))
        assert s.layers_pushed == 1
        s.push(layers[1])
        got = s.result()
    assert_close(got, reference.spatial(layers), np.float64)


def test_push_after_result_is_a_state_error(rng):
    layers = make_layers(rng, L=2)
    with attnroll.Stream(2, 8) as s:
        s.push(layers[0])
        first = s.result()
        with pytest.raises(attnroll.StateError) as info:
            s.push(layers[1])
        assert info.value.status == 6
        assert info.value.status_name == "ATTNROLL_E_STATE"
        assert isinstance(info.value, RuntimeError)
        np.testing.assert_array_equal(s.result(), first)
        assert s.layers_pushed == 1


def test_result_without_layers_is_a_state_error():
    with attnroll.Stream(1, 4) as s:
        with pytest.raises(attnroll.StateError) as info:
            s.result()
        assert "stream" in str(info.value)


def test_result_with_layer_end_beyond_pushed_is_a_state_error(rng):
    with attnroll.Stream(2, 8, layer_range=(0, 3)) as s:
        s.push(make_layers(rng, L=1)[0])
        with pytest.raises(attnroll.StateError):
            s.result()


def test_close_is_idempotent_and_closed_stream_raises(rng):
    s = attnroll.Stream(2, 8)
    s.push(make_layers(rng, L=1)[0])
    s.close()
    s.close()
    for use in (lambda: s.push(np.ones((2, 1, 8, 8), np.float32)), s.result,
                lambda: s.layers_pushed, lambda: s.bytes_held):
        with pytest.raises(attnroll.Error) as info:
            use()
        assert "closed" in str(info.value)


def test_bytes_held_is_independent_of_layers_and_heads(rng):
    held = []
    for L, H in ((1, 1), (3, 1), (2, 5)):
        with attnroll.Stream(2, 16, threads=1) as s:
            for _ in range(L):
                s.push(peaky_attention(rng, (2, H, 16, 16)))
            held.append(s.bytes_held)
    assert held[0] > 0
    assert held[0] == held[1] == held[2]
    # Two [F,N,N] float matrices at least.
    assert held[0] >= 2 * 2 * 16 * 16 * 4


def test_bytes_held_with_query_rows_grows_with_layers(rng):
    with attnroll.Stream(1, 16, query_rows=[0], threads=1) as s:
        s.push(peaky_attention(rng, (1, 2, 16, 16)))
        one = s.bytes_held
        s.push(peaky_attention(rng, (1, 2, 16, 16)))
        assert s.bytes_held > one


def test_many_streams_at_once(rng):
    layers = make_layers(rng, L=3)
    streams = [attnroll.Stream(2, 8, out_dtype=np.float64) for _ in range(4)]
    try:
        for layer in layers:
            for s in streams:
                s.push(layer)
        results = [s.result() for s in streams]
    finally:
        for s in streams:
            s.close()
    for r in results:
        assert_close(r, reference.spatial(layers), np.float64)
