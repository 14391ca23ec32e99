"""DLPack capsules read in place by the binding itself (no numpy in between):
every accepted dtype and layout, each function taking arrays, the capsule's
consumption (renamed, deleter called exactly once, on errors too) and the
refusals -- all through a pure-Python producer (dlpack_producer.py), so no
torch is needed."""

import gc

import numpy as np
import pytest

import attnroll
import reference
from conftest import assert_close, bf16_to_f64, peaky_attention, run_isolated, to_bf16_bits
from dlpack_producer import (BFLOAT, CPU, CUDA, FLOAT, INT, UINT, READ_ONLY, BareProducer,
                             Producer, capsule_name, unaligned_copy)
from test_zero_copy import traced_peak

L, F, H, N = 3, 2, 4, 24
SLACK = 64 * 1024


def exported(values, kind, **options):
    """(producer, exact float64 values) for values exported as kind."""
    if kind == "bfloat16":
        bits = to_bf16_bits(values)
        return Producer(bits, code=BFLOAT, **options), bf16_to_f64(bits)
    array = values.astype(kind)
    return Producer(array, **options), array.astype(np.float64)


def assert_released(*producers):
    for p in producers:
        assert p.exports >= 1
        assert p.deleted == p.exports, f"{p.exports} exported, deleter called {p.deleted} times"
        assert p.bad_deletes == 0 and not p.live


KINDS = ["float16", "float32", "float64", "bfloat16"]


@pytest.mark.parametrize("versioned", [False, True], ids=["legacy", "versioned"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_dtype_spatial(rng, kind, versioned):
    a = peaky_attention(rng, (L, F, H, N, N), np.float64)
    pairs = [exported(x, kind, versioned=versioned) for x in a]
    producers = [p for p, _ in pairs]
    got = attnroll.spatial(producers, out_dtype=np.float64)
    assert_close(got, reference.spatial([v for _, v in pairs]), np.float64)
    assert_released(*producers)  # each deleter once, as soon as the call is done
    assert all(p.exports == 1 for p in producers)
    got = attnroll.spatial(producers, query_rows=[0, 5])  # exported again: a fresh capsule each
    assert_close(got, reference.spatial([v for _, v in pairs], query_rows=[0, 5]), np.float32)
    assert_released(*producers)


def test_versioned_capsule_is_asked_for_and_consumed(rng):
    p, values = exported(peaky_attention(rng, (H, N, N)), "bfloat16", versioned=True,
                         flags=READ_ONLY)
    capsule = p.__dlpack__(max_version=(1, 0))
    assert capsule_name(capsule) == b"dltensor_versioned"
    got = attnroll.spatial([capsule], out_dtype=np.float64)  # a capsule itself is accepted
    assert capsule_name(capsule) == b"used_dltensor_versioned"
    assert_close(got, reference.spatial([values]), np.float64)
    assert p.deleted == 1
    del capsule
    assert_released(p)  # the producer's capsule destructor does not delete it again


def test_legacy_capsule_is_renamed(rng):
    p, values = exported(peaky_attention(rng, (N, N)), "float32")
    capsule = p.__dlpack__()
    assert capsule_name(capsule) == b"dltensor"
    assert_close(attnroll.minmax(capsule), reference.minmax(values), np.float64)
    assert capsule_name(capsule) == b"used_dltensor"
    del capsule
    assert_released(p)


def test_unconsumed_capsule_is_freed_by_its_producer(rng):
    # The producer's own destructor -- what a consumer relies on when it never
    # takes the capsule -- works, so the counts above are meaningful.
    p, _ = exported(peaky_attention(rng, (N, N)), "float32")
    capsule = p.__dlpack__()
    del capsule
    assert_released(p)


def layouts(rng):
    """name -> (list of producers' arrays, kind); every view in place."""
    big = peaky_attention(rng, (L, F, H, 2 * N, 2 * N), np.float32)
    a = big[..., :N, :N].copy()
    bits = to_bf16_bits(big)
    return {
        "transposed": [x.swapaxes(-1, -2) for x in a],
        "sliced": [x[..., 1::2, ::2] for x in big],
        "negative strides": [x[::-1, :, ::-1] for x in a],
        "broadcast heads (zero stride)": [np.broadcast_to(x[:, :1], (F, H, N, N)) for x in a],
        "fortran": [np.asfortranarray(x) for x in a],
        "bfloat16 transposed+sliced": [x.swapaxes(-1, -2)[..., :N, N:] for x in bits],
    }


@pytest.mark.parametrize("offset_in", ["byte_offset", "data"])
def test_layouts_read_in_place(rng, offset_in):
    for name, arrays in layouts(rng).items():
        bf16 = name.startswith("bfloat16")
        producers = [Producer(x, code=BFLOAT if bf16 else FLOAT, offset_in=offset_in)
                     for x in arrays]
        want = reference.spatial([bf16_to_f64(x) if bf16 else x for x in arrays])
        got, peak = traced_peak(lambda: attnroll.spatial(producers, out_dtype=np.float64))
        assert_close(got, want, np.float64)
        assert peak < SLACK + got.nbytes, f"{name}: {peak} bytes allocated"
        assert_released(*producers)


def test_null_strides_mean_c_order(rng):
    a = peaky_attention(rng, (L, F, H, N, N), np.float16)
    producers = [Producer(x, null_strides=True) for x in a]
    assert_close(attnroll.spatial(producers), reference.spatial(list(a)), np.float32)
    assert_released(*producers)


def test_stacked_tensor_is_split_in_place(rng):
    a = peaky_attention(rng, (L, F, H, N, N), np.float32)
    bits = to_bf16_bits(a).swapaxes(-1, -2)  # one [L,F,H,N,N] bfloat16 view, transposed
    p = Producer(bits, code=BFLOAT, versioned=True)
    got, peak = traced_peak(lambda: attnroll.spatial(p, query_rows=[0]))
    assert_close(got, reference.spatial(list(bf16_to_f64(bits)), query_rows=[0]), np.float32)
    assert peak < SLACK + got.nbytes
    assert_released(p)
    assert p.exports == 1  # one capsule for the whole stack


def test_large_input_is_not_copied(rng):
    a = peaky_attention(rng, (2, 4, 8, 128, 128), np.float16)
    producers = [Producer(x.swapaxes(-1, -2)) for x in a]
    got, peak = traced_peak(lambda: attnroll.spatial(producers))
    assert a[0].nbytes > SLACK + got.nbytes  # copying one layer would show
    assert peak < SLACK + got.nbytes, f"{peak} bytes allocated for a {got.nbytes}-byte output"
    assert_released(*producers)


def test_unaligned_byte_offset_is_read_in_place():
    # The library reads unaligned inputs; a byte_offset leaving the data off its
    # element's alignment is passed as it is.  In a child process so that a
    # sanitizer's abort on a misaligned load fails this test only.
    proc = run_isolated("""
        import numpy as np, attnroll, reference
        from conftest import assert_close, bf16_to_f64, peaky_attention, to_bf16_bits
        from dlpack_producer import BFLOAT, FLOAT, Producer, unaligned_copy
        from test_zero_copy import traced_peak
        a = peaky_attention(np.random.default_rng(5), (3, 2, 4, 64, 64), np.float64)
        for kind, misalign in [("float32", 1), ("float32", 2), ("float16", 1), ("float64", 4),
                               ("bfloat16", 1)]:
            if kind == "bfloat16":
                arrays = [unaligned_copy(to_bf16_bits(x), misalign) for x in a]
                values = [bf16_to_f64(x) for x in arrays]
            else:
                arrays = [unaligned_copy(x.astype(kind), misalign) for x in a]
                values = [x.astype(np.float64) for x in arrays]
            assert not arrays[0].flags.aligned
            producers = [Producer(x, code=BFLOAT if kind == "bfloat16" else FLOAT) for x in arrays]
            assert all(p.live == {} for p in producers)
            got, peak = traced_peak(lambda: attnroll.spatial(producers, out_dtype=np.float64))
            assert_close(got, reference.spatial(values), np.float64)
            assert peak < 64 * 1024 + got.nbytes, (kind, misalign, peak)  # read in place
            assert all(p.deleted == 1 for p in producers)
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_every_function_takes_bfloat16_tensors(rng):
    t = 9
    a = peaky_attention(rng, (L, 3, t, t), np.float32)
    bits = to_bf16_bits(a)
    exact = bf16_to_f64(bits)
    ps = [Producer(x, code=BFLOAT) for x in bits]
    assert_close(attnroll.temporal(ps, 1), reference.temporal(list(exact), 1), np.float64)
    assert_close(attnroll.temporal(Producer(bits, code=BFLOAT), 1, query_rows=[0]),
                 reference.temporal(list(exact), 1, query_rows=[0]), np.float64)
    assert_close(attnroll.select_instance(Producer(bits[0], code=BFLOAT), 2),
                 reference.select_instance(exact[0], 2), np.float64)
    m = Producer(bits[0, 0].T, code=BFLOAT)
    assert_close(attnroll.minmax_rows(m), reference.minmax_rows(exact[0, 0].T), np.float64)
    assert_close(attnroll.column_mean(m), reference.column_mean(exact[0, 0].T), np.float64)
    assert_close(attnroll.minmax(m), reference.minmax(exact[0, 0].T), np.float64)
    assert_released(m, *ps)
    assert m.exports == 3

    s4 = peaky_attention(rng, (L, F, H, N, N), np.float32)
    sbits = to_bf16_bits(s4)
    pushed = [Producer(x.swapaxes(-1, -2), code=BFLOAT) for x in sbits]
    with attnroll.Stream(F, N) as s:
        for i, p in enumerate(pushed):
            s.push(p)
            assert p.deleted == 1, "the deleter runs when push returns"
        got = s.result()
    assert_close(got, reference.spatial([bf16_to_f64(x).swapaxes(-1, -2) for x in sbits]),
                 np.float32)
    assert_released(*pushed)


def test_bfloat16_override_reads_16_bit_integers(rng):
    a = peaky_attention(rng, (2, H, N, N), np.float32)
    bits = to_bf16_bits(a)
    for code, array in [(UINT, bits), (INT, bits.view(np.int16))]:
        p = Producer(array, code=code)
        assert_close(attnroll.spatial([p, p], dtype="bfloat16", out_dtype=np.float64),
                     reference.spatial([bf16_to_f64(bits)] * 2), np.float64)
        with pytest.raises(TypeError, match=r"layers\[0\]: DLPack dtype u?int16 is not supported.*"
                                            r"dtype='bfloat16'"):
            attnroll.spatial([p])
        assert_released(p)
    f = Producer(a[0])
    with pytest.raises(TypeError, match=r"x: dtype='bfloat16' needs bfloat16, uint16 or int16 "
                                        r"elements, got float32"):
        attnroll.minmax(f, dtype="bfloat16")
    assert_released(f)


# ---------------------------------------------------------------- refusals --

def good(rng, n=1):
    return [Producer(peaky_attention(rng, (F, H, N, N))) for _ in range(n)]


def refused(rng, bad, error, pattern):
    """bad as layer 1 between good layers: the error names layers[1]; every
    capsule taken is released once; a stream that refuses it is unchanged."""
    layers = good(rng, 1) + [bad] + good(rng, 1)
    with pytest.raises(error, match=r"layers\[1\]: " + pattern) as info:
        attnroll.spatial(layers)
    # Released when the call ends, although the exception (and its frames) live on.
    assert layers[0].deleted == layers[0].exports == 1  # taken before the refusal
    assert bad.deleted == bad.exports
    assert layers[2].exports == 0
    del info
    with attnroll.Stream(F, N) as s:
        s.push(layers[0])
        with pytest.raises(error, match=r"layer: " + pattern):
            s.push(bad)
        assert s.layers_pushed == 1  # nothing written
        s.push(layers[2])
        assert s.layers_pushed == 2
    assert_released(layers[0], layers[2])
    return bad


def test_non_cpu_device_is_refused_before_export(rng):
    bad = Producer(peaky_attention(rng, (F, H, N, N)), device=(CUDA, 1))
    refused(rng, bad, BufferError, r"the tensor is on device CUDA:1 \(DLPack device type 2\).*"
                                   r"move it to the CPU first")
    assert bad.exports == 0  # __dlpack_device__ answered: no capsule was made


@pytest.mark.parametrize("versioned", [False, True], ids=["legacy", "versioned"])
def test_non_cpu_capsule_is_refused_and_released(rng, versioned):
    # No __dlpack_device__ to ask first: the capsule's own device is checked.
    bad = BareProducer(peaky_attention(rng, (F, H, N, N)), device=(CUDA, 0), versioned=versioned)
    refused(rng, bad, BufferError, r"the tensor is on device CUDA:0 .*move it to the CPU first")
    assert_released(bad)


@pytest.mark.parametrize("versioned", [False, True], ids=["legacy", "versioned"])
def test_lanes_are_refused_and_released(rng, versioned):
    a = peaky_attention(rng, (F, H, N, N))
    bad = Producer(a, bits=16, lanes=2, versioned=versioned)  # float16 x2: same bytes as float32
    refused(rng, bad, TypeError, r"DLPack dtype float16 x2 lanes is not supported.*one lane")
    assert_released(bad)


@pytest.mark.parametrize("code,bits,name", [(INT, 8, "int8"), (UINT, 8, "uint8"),
                                            (FLOAT, 8, "float8"), (BFLOAT, 32, "bfloat32"),
                                            (5, 64, "complex64"), (6, 8, "bool8")])
def test_unsupported_dtypes_are_refused_and_released(rng, code, bits, name):
    raw = np.zeros((F, H, N, N), np.uint8 if bits == 8 else np.float32 if bits == 32
                   else np.complex64)
    bad = Producer(raw, code=code, bits=bits)
    refused(rng, bad, TypeError, f"DLPack dtype {name} is not supported; use float16, float32, "
                                 "float64 or bfloat16")
    assert_released(bad)


def test_consumed_capsule_is_refused(rng):
    p = good(rng)[0]
    capsule = p.__dlpack__()
    attnroll.spatial([capsule])
    with pytest.raises(BufferError, match=r"layers\[0\]: this DLPack capsule was already consumed "
                                          r"\(its name is 'used_dltensor'\)"):
        attnroll.spatial([capsule])
    with pytest.raises(BufferError, match=r"x: this DLPack capsule was already consumed"):
        attnroll.minmax(capsule)

    class GivesTheSameCapsule:
        def __dlpack__(self, stream=None):
            return capsule

    with pytest.raises(BufferError, match=r"attn: this DLPack capsule was already consumed"):
        attnroll.select_instance(GivesTheSameCapsule(), 0)
    del capsule
    assert_released(p)


def test_newer_major_version_is_refused_and_released(rng):
    bad = Producer(peaky_attention(rng, (F, H, N, N)), versioned=True, version=(2, 0))
    refused(rng, bad, BufferError, r"the producer gave a DLPack 2\.0 tensor; attnroll reads "
                                   r"DLPack 1\.x")
    assert_released(bad)


def test_newer_minor_version_is_read(rng):
    a = peaky_attention(rng, (F, H, N, N), np.float64)
    p = Producer(a, versioned=True, version=(1, 7))
    assert_close(attnroll.spatial([p], out_dtype=np.float64), reference.spatial([a]), np.float64)
    assert_released(p)


def test_null_deleter_is_allowed(rng):
    a = peaky_attention(rng, (F, H, N, N), np.float64)
    p = Producer(a, deleter=False)
    assert_close(attnroll.spatial([p], out_dtype=np.float64), reference.spatial([a]), np.float64)
    gc.collect()
    assert p.deleted == 0  # nothing to call, and nothing called twice


def test_other_capsules_are_refused(rng):
    import _datetime
    with pytest.raises(TypeError, match=r"layers\[0\]: a capsule with 'datetime.datetime_CAPI' "
                                        r"is not a DLPack tensor"):
        attnroll.spatial([_datetime.datetime_CAPI])

    class NotACapsule:
        def __dlpack__(self, stream=None):
            return 3

    with pytest.raises(TypeError, match=r"x: __dlpack__\(\) returned a int, not a capsule"):
        attnroll.minmax(NotACapsule())


def test_producer_errors_are_reported_with_the_argument():
    class Refuses:
        def __dlpack__(self, stream=None):
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")

    with pytest.raises(TypeError, match=r"layers\[0\]: cannot read it through DLPack: Can't export "
                                        r"tensors that require gradient"):
        attnroll.spatial([Refuses()])


def test_numpy_arrays_keep_the_numpy_path(rng):
    from attnroll import _arrays
    a = peaky_attention(rng, (H, N, N))
    assert _arrays.as_array(a, "x") is a  # numpy arrays have __dlpack__ too: not used

    class Both:  # __array_interface__ wins over __dlpack__
        def __init__(self):
            self.__array_interface__ = a.__array_interface__

        def __dlpack__(self, stream=None):
            raise AssertionError("__dlpack__ called")

    assert isinstance(_arrays.as_array(Both(), "x"), np.ndarray)
    assert_close(attnroll.spatial([Both()]), reference.spatial([a]), np.float32)


def test_released_when_a_call_fails_later(rng):
    # Tensors taken, then the call fails: an option refused after the stack was
    # split, or the library's own refusal.  Each deleter has run when the call
    # raised, although the exception and its frames are still alive.
    stack = Producer(peaky_attention(rng, (L, F, H, N, N)))
    with pytest.raises(TypeError, match="query_rows") as info:
        attnroll.spatial(stack, query_rows="0")
    assert stack.deleted == stack.exports == 1
    layers = [Producer(peaky_attention(rng, (F, H, n, n))) for n in (N, N + 1)]
    with pytest.raises(attnroll.ShapeError) as info:
        attnroll.spatial(layers)
    assert [p.deleted for p in layers] == [1, 1]
    with attnroll.Stream(F, N) as s:
        wrong = Producer(peaky_attention(rng, (F, H, N + 1, N + 1)))
        with pytest.raises(attnroll.ShapeError) as info:
            s.push(wrong)
        assert wrong.deleted == 1 and s.layers_pushed == 0
    del info
    assert_released(stack, wrong, *layers)
