"""Every input dtype and memory layout the binding accepts, checked against
the reference evaluated on the exact values the view holds."""

import numpy as np
import pytest

import attnroll
import reference
from conftest import (ArrayInterfaceOnly, DLPackOnly, assert_close, bf16_to_f64, peaky_attention,
                      run_isolated, to_bf16_bits)

L, F, H, N = 3, 2, 3, 8
OUTS = [np.float32, np.float64]


def base(rng, shape=(L, F, H, N, N)):
    return peaky_attention(rng, shape, np.float64)


def check_spatial(layers, exact_layers, out_dtype, **kw):
    got = attnroll.spatial(layers, out_dtype=out_dtype, **kw)
    assert_close(got, reference.spatial(list(exact_layers), **kw), out_dtype)
    return got


# -------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("out_dtype", OUTS)
@pytest.mark.parametrize("in_dtype", [np.float16, np.float32, np.float64])
def test_float_dtypes(rng, in_dtype, out_dtype):
    stack = base(rng).astype(in_dtype)
    check_spatial(list(stack), stack, out_dtype)
    check_spatial(stack, stack, out_dtype)


@pytest.mark.parametrize("out_dtype", OUTS)
@pytest.mark.parametrize("mode", ["round", "truncate"])
@pytest.mark.parametrize("bits_dtype", [np.uint16, np.int16])
def test_bfloat16_bits(rng, bits_dtype, mode, out_dtype):
    bits = to_bf16_bits(base(rng), mode).view(bits_dtype)
    exact = bf16_to_f64(bits)
    got = attnroll.spatial(list(bits), dtype="bfloat16", out_dtype=out_dtype)
    assert_close(got, reference.spatial(list(exact)), out_dtype)
    got_stack = attnroll.spatial(bits, dtype="bfloat16", out_dtype=out_dtype)
    np.testing.assert_array_equal(got, got_stack)


def test_bf16_conversion_helper_is_exact_for_representable_values():
    x = np.array([1.0, -2.5, 0.0, 0.15625, 2.0**100, -(2.0**-126), 3 * 2.0**-130], np.float32)
    for mode in ("round", "truncate"):
        np.testing.assert_array_equal(bf16_to_f64(to_bf16_bits(x, mode)), x.astype(np.float64))
    np.testing.assert_array_equal(to_bf16_bits(np.float32(1.0 + 2**-8 + 2**-9), "round"), 0x3F81)
    np.testing.assert_array_equal(to_bf16_bits(np.float32(1.0 + 2**-8 + 2**-9), "truncate"), 0x3F80)


@pytest.mark.parametrize("out_dtype", OUTS)
def test_strided_bf16_view(rng, out_dtype):
    bits = to_bf16_bits(base(rng, (L, F, H, 2 * N, 2 * N)))
    view = bits[::-1, :, :, 1::2, ::2].swapaxes(-1, -2)
    got = attnroll.spatial(view, dtype="bfloat16", out_dtype=out_dtype)
    assert_close(got, reference.spatial(list(bf16_to_f64(view))), out_dtype)


# ------------------------------------------------------------------- strides


def readonly(x):
    y = x.copy()
    y.setflags(write=False)
    return y


def views_of(rng, dtype):
    """(name, layers, exact layers) for many layouts of [F,H,N,N] layers."""
    a = base(rng).astype(dtype)
    big = base(rng, (L, F, H, 2 * N, 2 * N)).astype(dtype)
    one_head = base(rng, (L, F, 1, N, N)).astype(dtype)
    bcast = [np.broadcast_to(x, (F, H, N, N)) for x in one_head]
    frame_major = np.ascontiguousarray(np.moveaxis(a, 0, 1))  # [F,L,H,N,N] in memory
    out = [
        ("contiguous list", list(a)),
        ("stacked", a),
        ("transposed last two", [x.transpose(0, 1, 3, 2) for x in a]),
        ("swapaxes stacked", a.swapaxes(-1, -2)),
        ("reversed layers", a[::-1]),
        ("reversed frames/heads/rows", [x[::-1, ::-1, ::-1] for x in a]),
        ("reversed columns", [x[..., ::-1] for x in a]),
        ("every other row and column", [x[..., ::2, ::2] for x in big]),
        ("offset slices", [x[..., 1::2, 3:3 + N] for x in big]),
        ("stacked slice", big[:, :, :, ::2, 1::2]),
        ("broadcast over heads", bcast),
        ("broadcast over frames", [np.broadcast_to(x[:1], (F, H, N, N)) for x in a]),
        ("broadcast layers", np.broadcast_to(a[:1], (L, F, H, N, N))),
        ("fortran order", [np.asfortranarray(x) for x in a]),
        ("fortran stacked", np.asfortranarray(a)),
        ("layer axis not outermost", np.moveaxis(frame_major, 1, 0)),
        ("read-only", [readonly(x) for x in a]),
    ]
    return out


@pytest.mark.parametrize("out_dtype", OUTS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_strided_views(rng, dtype, out_dtype):
    for name, layers in views_of(rng, dtype):
        exact = [np.asarray(x, np.float64) for x in layers]
        try:
            check_spatial(layers, exact, out_dtype)
            check_spatial(layers, exact, out_dtype, query_rows=[0, N - 1])
        except AssertionError as err:
            raise AssertionError(f"layout {name!r}: {err}") from None


@pytest.mark.parametrize("out_dtype", OUTS)
def test_zero_stride_everywhere(rng, out_dtype):
    # One [N,N] map broadcast over layers, frames and heads: all strides 0 but two.
    m = base(rng, (N, N)).astype(np.float32)
    stack = np.broadcast_to(m, (L, F, H, N, N))
    assert stack.strides[:3] == (0, 0, 0)
    check_spatial(stack, [np.broadcast_to(m, (F, H, N, N))] * L, out_dtype)
    # Even a single broadcast value (every stride 0).
    const = np.broadcast_to(np.float32(0.25), (L, F, H, N, N))
    check_spatial(const, [np.full((F, H, N, N), 0.25)] * L, out_dtype)


@pytest.mark.parametrize("out_dtype", OUTS)
@pytest.mark.parametrize("dtype", [">f2", ">f4", ">f8", "<f4"])
def test_byte_order(rng, dtype, out_dtype):
    a = base(rng).astype(dtype)
    exact = a.astype(np.float64)
    check_spatial(list(a), exact, out_dtype)
    check_spatial(a, exact, out_dtype)
    check_spatial([x.swapaxes(-1, -2)[::-1] for x in a], [x.swapaxes(-1, -2)[::-1] for x in exact],
                  out_dtype)


@pytest.mark.parametrize("out_dtype", OUTS)
def test_non_element_byte_strides_are_copied_correctly(rng, out_dtype):
    a = base(rng).astype(np.float32)
    # Pack each float32 into 6-byte cells: strides that are not whole elements.
    layers, exact = [], []
    for x in a:
        buf = np.zeros(x.size * 6 + 8, np.uint8)
        shape = x.shape
        strides = tuple(int(s) * 6 // 4 for s in x.strides)
        v = np.ndarray(shape, np.float32, buffer=buf, offset=0, strides=strides)
        v[...] = x
        layers.append(v)
        exact.append(x)
    assert any(s % 4 for s in layers[0].strides)
    check_spatial(layers, exact, out_dtype)


def test_misaligned_data_is_read_correctly():
    # Whole-element strides but data 2 bytes off a 4-byte boundary.  Run in a
    # child process: were the misaligned pointer passed through, a library
    # built with -fsanitize=undefined would abort.
    proc = run_isolated("""
        import numpy as np, attnroll, reference
        from conftest import peaky_attention, assert_close
        a = peaky_attention(np.random.default_rng(5), (3, 2, 3, 8, 8), np.float32)
        layers = []
        for x in a:
            buf = np.zeros(x.nbytes + 16, np.uint8)
            start = (-buf.ctypes.data) % 8 + 2
            v = np.ndarray(x.shape, np.float32, buffer=buf, offset=start)
            v[...] = x
            assert not v.flags.aligned
            layers.append(v)
        for out_dtype in (np.float32, np.float64):
            assert_close(attnroll.spatial(layers, out_dtype=out_dtype), reference.spatial(list(a)), out_dtype)
            assert_close(attnroll.minmax(layers[1], out_dtype=out_dtype), reference.minmax(a[1]),
                         out_dtype)
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


# ------------------------------------------------------- foreign array objects


@pytest.mark.parametrize("out_dtype", OUTS)
def test_array_interface_only_objects(rng, out_dtype):
    a = base(rng).astype(np.float32)
    wrapped = [ArrayInterfaceOnly(x) for x in a]
    assert not hasattr(wrapped[0], "__dlpack__")
    check_spatial(wrapped, a, out_dtype)
    check_spatial(ArrayInterfaceOnly(a), a, out_dtype)
    t = a.swapaxes(-1, -2)[::-1]
    check_spatial([ArrayInterfaceOnly(x) for x in t], t, out_dtype)


@pytest.mark.parametrize("out_dtype", OUTS)
def test_dlpack_only_objects(rng, out_dtype):
    a = base(rng).astype(np.float32)
    wrapped = [DLPackOnly(x) for x in a]
    assert not hasattr(wrapped[0], "__array_interface__")
    check_spatial(wrapped, a, out_dtype)
    check_spatial(DLPackOnly(a), a, out_dtype)
    t = a.swapaxes(-1, -2)[:, ::-1]
    check_spatial([DLPackOnly(x) for x in t], t, out_dtype)
    h = a.astype(np.float16)
    check_spatial([DLPackOnly(x) for x in h], h, out_dtype)


def test_foreign_objects_in_temporal_and_post(rng):
    a = peaky_attention(rng, (3, 2, 5, 5), np.float64)
    want = reference.temporal(list(a), 1)
    assert_close(attnroll.temporal([ArrayInterfaceOnly(x) for x in a], 1), want, np.float64)
    assert_close(attnroll.temporal([DLPackOnly(x) for x in a], 1), want, np.float64)
    assert_close(attnroll.select_instance(DLPackOnly(a[0]), 1),
                 reference.select_instance(a[0], 1), np.float64)
    assert_close(attnroll.minmax(ArrayInterfaceOnly(a)), reference.minmax(a), np.float64)
    assert_close(attnroll.minmax_rows(DLPackOnly(a[0, 0])), reference.minmax_rows(a[0, 0]),
                 np.float64)


def test_foreign_objects_in_stream(rng):
    a = base(rng).astype(np.float32)
    with attnroll.Stream(F, N, out_dtype=np.float64) as s:
        s.push(ArrayInterfaceOnly(a[0]))
        s.push(DLPackOnly(a[1]))
        s.push(a[2].swapaxes(-1, -2))
        got = s.result()
    exact = [a[0], a[1], a[2].swapaxes(-1, -2)]
    assert_close(got, reference.spatial(exact), np.float64)


# ------------------------------------------------------------------ temporal


@pytest.mark.parametrize("out_dtype", OUTS)
def test_temporal_layouts(rng, out_dtype):
    T = 7
    big = peaky_attention(rng, (4, 3, 2 * T, 2 * T), np.float64)
    layers = [
        big[0, 0, ::2, ::2].astype(np.float16),                       # [T,T] strided half
        big[1][:, ::2, 1::2].swapaxes(-1, -2),                         # [3,T,T] transposed
        np.broadcast_to(big[2, 0, :T, :T], (2, 5, T, T)),               # [2,5,T,T] zero strides
        np.asfortranarray(big[3, :, :T, :T].astype(">f4")),            # [3,T,T] fortran, big-endian
        DLPackOnly(np.ascontiguousarray(big[0, :, T:, T:])),          # [3,T,T] via dlpack
    ]
    exact = [np.asarray(layers[i], np.float64) for i in range(4)] + [big[0, :, T:, T:]]
    for instance in (0, 1, 2, 9):
        got = attnroll.temporal(layers, instance, out_dtype=out_dtype)
        assert_close(got, reference.temporal(exact, instance), out_dtype)


def test_temporal_bf16(rng):
    a = peaky_attention(rng, (4, 2, 3, 6, 6), np.float64)
    bits = to_bf16_bits(a)
    got = attnroll.temporal(bits, 1, dtype="bfloat16")
    assert_close(got, reference.temporal(list(bf16_to_f64(bits)), 1), np.float64)
