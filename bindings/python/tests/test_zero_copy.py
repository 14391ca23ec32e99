"""Inputs are read in place: tracemalloc sees numpy's data allocations, so a
call over a large input must allocate little more than its output -- unless
the layout cannot be described to the library (then the copy is visible and
the answer still right)."""

import gc
import tracemalloc

import numpy as np
import pytest

import attnroll
import reference
from conftest import (ArrayInterfaceOnly, DLPackOnly, assert_close, peaky_attention, run_isolated,
                      to_bf16_bits)

L, F, H, N = 6, 2, 8, 96
SLACK = 64 * 1024


def traced_peak(fn):
    """(fn(), peak bytes traced during fn beyond what was traced before)."""
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, peak - before


def test_tracemalloc_sees_numpy_data():
    _, peak = traced_peak(lambda: np.empty(1 << 20, np.uint8))
    assert peak >= 1 << 20


@pytest.fixture(scope="module")
def stack16():
    return peaky_attention(np.random.default_rng(1), (L, F, H, N, N), np.float16)


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_float16_stack_is_not_copied(stack16, out_dtype):
    out_bytes = F * N * N * np.dtype(out_dtype).itemsize
    assert stack16[0].nbytes > SLACK + out_bytes  # copying even one layer would show
    got, peak = traced_peak(lambda: attnroll.spatial(stack16, out_dtype=out_dtype))
    assert peak < out_bytes + SLACK, f"{peak} bytes allocated for a {out_bytes}-byte output"
    assert_close(got, reference.spatial(list(stack16)), out_dtype)


def test_transposed_float32_view_is_not_copied(rng):
    a = peaky_attention(rng, (L, F, H, N, N), np.float32)
    view = a.transpose(0, 1, 2, 4, 3)
    assert not view.flags.c_contiguous
    out_bytes = F * N * N * 4
    got, peak = traced_peak(lambda: attnroll.spatial(view))
    assert peak < out_bytes + SLACK, f"{peak} bytes allocated for a {out_bytes}-byte output"
    assert_close(got, reference.spatial(list(view)), np.float32)


def layouts(rng):
    a = peaky_attention(rng, (L, F, H, N, N), np.float32)
    big = peaky_attention(rng, (2, F, H, 2 * N, 2 * N), np.float64)
    return {
        "list of reversed views": [x[::-1, :, ::-1] for x in a],
        "fortran list": [np.asfortranarray(x) for x in a[:2]],
        "strided slices": [x[..., ::2, 1::2] for x in big],
        "broadcast heads": [np.broadcast_to(x[:, :1], (F, H, N, N)) for x in a],
        "bfloat16 bits": [to_bf16_bits(x) for x in a[:3]],
        "array interface": [ArrayInterfaceOnly(x) for x in a[:3]],
        "dlpack": [DLPackOnly(x) for x in a[:3]],
    }


def test_other_layouts_are_not_copied(rng):
    for name, layers in layouts(rng).items():
        dtype = "bfloat16" if name == "bfloat16 bits" else None
        _, peak = traced_peak(lambda: attnroll.spatial(layers, dtype=dtype, query_rows=[0]))
        assert peak < SLACK + F * N * 4, f"{name}: {peak} bytes allocated"


def test_stream_push_is_not_copied(stack16):
    with attnroll.Stream(F, N) as s:
        _, peak = traced_peak(lambda: [s.push(layer.swapaxes(-1, -2)) for layer in stack16])
        assert peak < SLACK, f"{peak} bytes allocated while pushing"
        got = s.result()
    assert_close(got, reference.spatial([x.swapaxes(-1, -2) for x in stack16]), np.float32)


def odd_view(x, offset, extra):
    """x's values in a fresh byte buffer as a float32 view at byte offset
    `offset` whose strides are x's C strides plus `extra` bytes per step."""
    shape = x.shape
    strides, step = [], 4
    for extent in reversed(shape):
        strides.append(step)
        step = step * extent + extra
    strides = tuple(reversed(strides))
    span = sum((e - 1) * s for e, s in zip(shape, strides)) + 4
    buf = np.zeros(span + offset + 16, np.uint8)
    v = np.ndarray(shape, np.float32, buffer=buf, offset=offset, strides=strides)
    v[...] = x
    return v


@pytest.mark.parametrize("offset,extra", [(2, 2), (0, 2), (1, 1)])
def test_non_element_strides_are_copied_and_right(rng, offset, extra):
    a = peaky_attention(rng, (3, F, H, N, N), np.float32)
    layers = [odd_view(x, offset, extra) for x in a]
    assert any(s % 4 for s in layers[0].strides)
    got, peak = traced_peak(lambda: attnroll.spatial(layers, out_dtype=np.float64))
    assert peak >= a[0].nbytes  # the copy is visible
    assert_close(got, reference.spatial(list(a)), np.float64)


def test_misaligned_data_is_copied_and_right():
    # Whole-element strides, but the data sits 2 bytes off float32 alignment.
    # The header requires data aligned to its element size, so the binding
    # must copy.  In a child process: a misaligned pointer reaching a library
    # built with -fsanitize=undefined aborts.
    proc = run_isolated("""
        import numpy as np, attnroll, reference
        from conftest import assert_close, peaky_attention
        from test_zero_copy import traced_peak, F, H, N
        a = peaky_attention(np.random.default_rng(3), (3, F, H, N, N), np.float32)
        layers = []
        for x in a:
            buf = np.zeros(x.nbytes + 16, np.uint8)
            start = (-buf.ctypes.data) % 8 + 2
            v = np.ndarray(x.shape, np.float32, buffer=buf, offset=start)
            v[...] = x
            assert not v.flags.aligned
            layers.append(v)
        got, peak = traced_peak(lambda: attnroll.spatial(layers, out_dtype=np.float64))
        assert_close(got, reference.spatial(list(a)), np.float64)
        print(peak, a[0].nbytes)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak, layer_bytes = map(int, proc.stdout.split())
    assert peak >= layer_bytes, (f"misaligned input passed to the library without a copy "
                                 f"({peak} bytes allocated, one layer is {layer_bytes})")


def test_byte_swapped_input_is_copied_and_right(rng):
    a = peaky_attention(rng, (2, F, H, N, N), np.float32)
    swapped = a.astype(">f4")
    got, peak = traced_peak(lambda: attnroll.spatial(swapped, out_dtype=np.float64))
    assert peak >= a[0].nbytes
    assert_close(got, reference.spatial(list(a)), np.float64)
