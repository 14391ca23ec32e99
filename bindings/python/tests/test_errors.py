"""Every error path: the exception type, its status attributes, and a message
that names the argument at fault."""

import numpy as np
import pytest

import attnroll
from conftest import peaky_attention

F, H, N = 2, 2, 5


@pytest.fixture
def layers(rng):
    return [peaky_attention(rng, (F, H, N, N)) for _ in range(3)]


def raises(exc, *names):
    """pytest.raises(exc) that also checks that each name is in the message."""

    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *a):
            handled = self.ctx.__exit__(*a)
            text = str(self.info.value)
            for name in names:
                assert name.lower() in text.lower(), f"{name!r} not in message {text!r}"
            return handled

    return Check()


# --------------------------------------------------------------- hierarchy


@pytest.mark.parametrize("cls,bases,status", [
    (attnroll.ArgumentError, (ValueError,), 1),
    (attnroll.ShapeError, (ValueError,), 2),
    (attnroll.DtypeError, (TypeError,), 3),
    (attnroll.OverlapError, (ValueError,), 4),
    (attnroll.OutOfMemoryError, (MemoryError,), 5),
    (attnroll.StateError, (RuntimeError,), 6),
    (attnroll.InternalError, (RuntimeError,), 7),
])
def test_exception_hierarchy(cls, bases, status):
    assert issubclass(cls, attnroll.Error)
    assert issubclass(attnroll.Error, Exception)
    for b in bases:
        assert issubclass(cls, b)


def check_error(err, status, status_name):
    assert isinstance(err, attnroll.Error)
    assert err.status == status
    assert isinstance(err.status, int)
    assert err.status_name == status_name
    assert isinstance(err.message, str) and err.message
    assert err.message in str(err)


# ------------------------------------------------ C statuses -> subclasses


def test_argument_error_attributes(layers):
    with raises(attnroll.ArgumentError, "threads") as info:
        attnroll.spatial(layers, threads=1025)
    check_error(info.value, 1, "ATTNROLL_E_ARGUMENT")


def test_shape_error_attributes():
    bad = [np.ones((F, H, N, N + 1), np.float32)]
    with raises(attnroll.ShapeError, "layers[0]", "square") as info:
        attnroll.spatial(bad)
    check_error(info.value, 2, "ATTNROLL_E_SHAPE")
    assert isinstance(info.value, ValueError)


def test_state_error_attributes():
    with attnroll.Stream(1, 3) as s:
        with raises(attnroll.StateError, "stream") as info:
            s.result()
    check_error(info.value, 6, "ATTNROLL_E_STATE")


def test_message_is_the_libraries_last_error(layers):
    # The message is the C library's text for this call ...
    with pytest.raises(attnroll.ShapeError) as first:
        attnroll.spatial([layers[0], layers[1][:, :, :4, :4]])
    assert "layers[1]" in first.value.message
    # ... and a later successful call does not leave a stale message behind.
    attnroll.spatial(layers)
    with pytest.raises(attnroll.ArgumentError) as second:
        attnroll.spatial(layers, residual=-1.0)
    assert "layers[1]" not in second.value.message
    assert "residual" in second.value.message.lower()


# ---------------------------------------------------------------- spatial


def test_empty_layer_list():
    for empty in ([], ()):
        with raises(ValueError, "layers"):
            attnroll.spatial(empty)


@pytest.mark.parametrize("shape", [(F, H, N, N), (H, N, N), (N, N), (2, F, H, N, N, 1)])
def test_single_array_must_be_rank_5(shape):
    with raises(ValueError, "layers"):
        attnroll.spatial(np.ones(shape, np.float32))


def test_layers_that_disagree(layers):
    with raises(attnroll.ShapeError, "layers[2]"):
        attnroll.spatial([layers[0], layers[1], layers[2][:1]])
    with raises(attnroll.ShapeError, "layers[1]"):
        attnroll.spatial([layers[0], layers[1][:, :1]])  # different head count
    with raises(attnroll.ShapeError, "layers[1]"):
        attnroll.spatial([layers[0], layers[1][0]])      # different rank


@pytest.mark.parametrize("shape", [(N, N), (N,), (1, 1, F, H, N, N)])
def test_wrong_layer_rank(shape):
    with raises(attnroll.ShapeError, "layers[0]"):
        attnroll.spatial([np.ones(shape, np.float32)])


def test_non_square_layers():
    with raises(attnroll.ShapeError, "layers[0]"):
        attnroll.spatial([np.ones((F, H, N, N - 1), np.float32)])


def test_zero_extent():
    with raises(ValueError, "layers[0]"):
        attnroll.spatial([np.ones((0, H, N, N), np.float32)])
    with raises(ValueError, "layers"):
        attnroll.spatial(np.ones((0, F, H, N, N), np.float32))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.complex64,
                                   np.longdouble, object])
def test_unsupported_dtypes(dtype):
    a = np.ones((F, H, N, N), dtype=dtype)
    with raises(TypeError, "layers[1]"):
        attnroll.spatial([np.ones((F, H, N, N), np.float32), a])


@pytest.mark.parametrize("dtype", [np.uint16, np.int16])
def test_uint16_without_bfloat16_names_the_dtype(dtype):
    with raises(TypeError, np.dtype(dtype).name, "bfloat16"):
        attnroll.spatial([np.ones((F, H, N, N), dtype)])


def test_bfloat16_needs_16_bit_integers():
    with raises(TypeError, "bfloat16"):
        attnroll.spatial([np.ones((F, H, N, N), np.float32)], dtype="bfloat16")


@pytest.mark.parametrize("dtype", ["float8", "bf16x", np.float32])
def test_unknown_dtype_option(dtype):
    with raises((TypeError, ValueError), "dtype"):
        attnroll.spatial([np.ones((F, H, N, N), np.uint16)], dtype=dtype)


@pytest.mark.parametrize("obj", [None, "abc", 3.5, [[1.0, 2.0], [3.0, 4.0]], {"a": 1}])
def test_non_array_layers(obj):
    with raises(TypeError, "layers[1]"):
        attnroll.spatial([np.ones((F, H, N, N), np.float32), obj])


@pytest.mark.parametrize("out_dtype", [np.float16, np.int32, np.complex128, "bfloat16", None,
                                       object, "nonsense"])
def test_bad_out_dtype(layers, out_dtype):
    with raises(TypeError, "out_dtype"):
        attnroll.spatial(layers, out_dtype=out_dtype)


@pytest.mark.parametrize("fn", ["temporal", "select_instance", "minmax_rows", "column_mean",
                                "minmax"])
def test_bad_out_dtype_everywhere(fn):
    x = np.ones((3, 3))
    args = ([x], 0) if fn == "temporal" else (x, 0) if fn == "select_instance" else (x,)
    with raises(TypeError, "out_dtype"):
        getattr(attnroll, fn)(*args, out_dtype=np.int64)
    with raises(TypeError, "out_dtype"):
        attnroll.Stream(1, 3, out_dtype=np.float16)


# ------------------------------------------------------------- options


@pytest.mark.parametrize("rows", [0, 3, 2.0, "0"])
def test_query_rows_not_a_sequence(layers, rows):
    with raises(TypeError, "query_rows"):
        attnroll.spatial(layers, query_rows=rows)


@pytest.mark.parametrize("rows", [[1.5], [0, "1"], [None]])
def test_query_rows_with_non_ints(layers, rows):
    with raises(TypeError, "query_rows"):
        attnroll.spatial(layers, query_rows=rows)


@pytest.mark.parametrize("rows", [[N], [0, N + 7], [2**40]])
def test_query_rows_out_of_range(layers, rows):
    with raises(attnroll.ArgumentError, "query_rows") as info:
        attnroll.spatial(layers, query_rows=rows)
    assert info.value.status == 1


def test_query_rows_negative(layers):
    with raises(attnroll.ArgumentError, "query_rows"):
        attnroll.spatial(layers, query_rows=[0, -1])


def test_query_rows_empty(layers):
    with raises(ValueError, "query_rows"):
        attnroll.spatial(layers, query_rows=[])


@pytest.mark.parametrize("layer_range", [(2, 1), (1, 1), (0, 0), (0, 4), (3, None), (5, None),
                                         (-1, None), (0, -1), (-1, -1), (0, -2)])
def test_layer_range_out_of_bounds(layers, layer_range):
    with raises(attnroll.ArgumentError, "layer") as info:
        attnroll.spatial(layers, layer_range=layer_range)
    assert info.value.status == 1


@pytest.mark.parametrize("layer_range", [3, (1,), (0, 1, 2), "ab", (0.5, None), (0, 1.5)])
def test_layer_range_malformed(layers, layer_range):
    with raises((TypeError, ValueError), "layer_range"):
        attnroll.spatial(layers, layer_range=layer_range)


@pytest.mark.parametrize("threads", [-1, 1025, 2**40])
def test_threads_out_of_bounds(layers, threads):
    with raises(attnroll.ArgumentError, "threads"):
        attnroll.spatial(layers, threads=threads)


@pytest.mark.parametrize("threads", [1.5, "2", None])
def test_threads_not_an_int(layers, threads):
    with raises(TypeError, "threads"):
        attnroll.spatial(layers, threads=threads)


@pytest.mark.parametrize("residual", [-1e-9, -1.0, 1e6 * (1 + 1e-12), np.inf, np.nan])
def test_residual_out_of_bounds(layers, residual):
    with raises(attnroll.ArgumentError, "residual"):
        attnroll.spatial(layers, residual=residual)


@pytest.mark.parametrize("residual", [None, [1.0], "one"])
def test_residual_not_a_number(layers, residual):
    with raises(TypeError, "residual"):
        attnroll.spatial(layers, residual=residual)


def test_options_are_checked_for_every_function(rng):
    t = [np.ones((3, 3))] * 2
    with raises(attnroll.ArgumentError, "threads"):
        attnroll.temporal(t, 0, threads=-1)
    with raises(attnroll.ArgumentError, "residual"):
        attnroll.temporal(t, 0, residual=-1)
    with raises(attnroll.ArgumentError, "query_rows"):
        attnroll.temporal(t, 0, query_rows=[3])
    with raises(attnroll.ArgumentError, "layer"):
        attnroll.temporal(t, 0, layer_range=(0, 3))
    with raises(TypeError, "query_rows"):
        attnroll.temporal(t, 0, query_rows=1)


def test_keyword_only_options(layers):
    with pytest.raises(TypeError):
        attnroll.spatial(layers, [0])
    with pytest.raises(TypeError):
        attnroll.temporal(layers, 0, [0])


# ------------------------------------------------------------ temporal


def test_temporal_negative_instance():
    with raises(ValueError, "instance"):
        attnroll.temporal([np.ones((3, 3))], -1)
    with raises(ValueError, "instance"):
        attnroll.select_instance(np.ones((3, 3)), -1)


@pytest.mark.parametrize("instance", [1.5, "0", None, [0]])
def test_instance_not_an_int(instance):
    with raises(TypeError, "instance"):
        attnroll.temporal([np.ones((3, 3))], instance)
    with raises(TypeError, "instance"):
        attnroll.select_instance(np.ones((3, 3)), instance)


def test_temporal_instance_accepts_numpy_ints(rng):
    a = [peaky_attention(rng, (2, 4, 4))] * 2
    np.testing.assert_array_equal(attnroll.temporal(a, np.int64(1)), attnroll.temporal(a, 1))


def test_temporal_non_square_selection_names_the_layer(rng):
    T = 6
    layers = [np.ones((T, T)), np.ones((3, T, T))]
    # instance 4: [3,T,T] selects A[:, 4, :] = [3,T], not square
    with raises(attnroll.ShapeError, "layers[1]", "square"):
        attnroll.temporal(layers, 4)
    with raises(attnroll.ShapeError, "layers[0]"):
        attnroll.temporal([np.ones((2, T, T - 1)), np.ones((T, T))], 0)
    with raises(attnroll.ShapeError, "layers[0]"):
        attnroll.temporal([np.ones((T, T + 1))], 0)


def test_temporal_different_T_names_the_layer():
    with raises(attnroll.ShapeError, "layers[2]"):
        attnroll.temporal([np.ones((4, 4)), np.ones((2, 4, 4)), np.ones((5, 5))], 0)


def test_temporal_rank_too_low():
    with raises(attnroll.ShapeError, "layers[1]"):
        attnroll.temporal([np.ones((4, 4)), np.ones(4)], 0)
    with raises(ValueError, "attn"):
        attnroll.select_instance(np.ones(4), 0)


def test_temporal_empty():
    with raises(ValueError, "layers"):
        attnroll.temporal([], 0)


def test_temporal_unsupported_dtype():
    with raises(TypeError, "layers[0]"):
        attnroll.temporal([np.ones((3, 3), np.int32)], 0)
    with raises(TypeError, "uint16"):
        attnroll.select_instance(np.ones((3, 3), np.uint16), 0)


def test_rank_above_library_limit():
    shape = (1,) * 15 + (2, 2)  # rank 17 > ATTNROLL_MAX_NDIM
    with raises(ValueError):
        attnroll.select_instance(np.ones(shape), 0)
    with raises(ValueError):
        attnroll.minmax(np.ones(shape))


# ---------------------------------------------------------------- post


@pytest.mark.parametrize("fn", ["minmax_rows", "column_mean"])
@pytest.mark.parametrize("shape", [(4,), (2, 3, 4)])
def test_post_needs_a_matrix(fn, shape):
    with raises(ValueError, "shape"):
        getattr(attnroll, fn)(np.ones(shape))


@pytest.mark.parametrize("fn", ["minmax_rows", "column_mean", "minmax"])
def test_post_unsupported_input(fn):
    with raises(TypeError, "int64"):
        getattr(attnroll, fn)(np.ones((2, 2), np.int64))
    with raises(TypeError):
        getattr(attnroll, fn)("not an array")


def test_minmax_zero_dim_or_empty():
    with pytest.raises(ValueError):
        attnroll.minmax(np.float64(3.0))
    with pytest.raises(ValueError):
        attnroll.minmax(np.ones((0, 3)))


# -------------------------------------------------------------- stream


@pytest.mark.parametrize("frames,tokens,name", [(0, 4, "frames"), (1, 0, "tokens"),
                                                (-1, 4, "frames"), (1, 2**31, "tokens")])
def test_stream_bad_extents(frames, tokens, name):
    with raises(attnroll.ArgumentError, name):
        attnroll.Stream(frames, tokens)


@pytest.mark.parametrize("frames,tokens,name", [(1.0, 4, "frames"), (1, "4", "tokens")])
def test_stream_extents_not_ints(frames, tokens, name):
    with raises(TypeError, name):
        attnroll.Stream(frames, tokens)


def test_stream_bad_options():
    with raises(attnroll.ArgumentError, "query_rows"):
        attnroll.Stream(1, 4, query_rows=[4])
    with raises(attnroll.ArgumentError, "layer"):
        attnroll.Stream(1, 4, layer_range=(2, 2))
    with raises(attnroll.ArgumentError, "threads"):
        attnroll.Stream(1, 4, threads=-2)
    with raises(attnroll.ArgumentError, "residual"):
        attnroll.Stream(1, 4, residual=-2)
    with raises(TypeError, "query_rows"):
        attnroll.Stream(1, 4, query_rows=0)


def test_stream_push_errors():
    with attnroll.Stream(2, 4) as s:
        with raises(attnroll.ShapeError, "layer"):
            s.push(np.ones((3, 1, 4, 4), np.float32))       # wrong F
        with raises(attnroll.ShapeError, "layer"):
            s.push(np.ones((1, 4, 4), np.float32))          # [H,N,N] needs F == 1
        with raises(TypeError, "layer"):
            s.push(np.ones((2, 1, 4, 4), np.int32))
        with raises(TypeError, "uint16"):
            s.push(np.ones((2, 1, 4, 4), np.uint16))
        with raises(TypeError, "layer"):
            s.push(None)
        assert s.layers_pushed == 0


def test_out_of_memory_error():
    # Two [2^20, 2^14, 2^14] float matrices (2 PB): no machine can hold them.
    with pytest.raises(attnroll.OutOfMemoryError) as info:
        attnroll.Stream(2**20, 2**14)
    check_error(info.value, 5, "ATTNROLL_E_MEMORY")
    assert isinstance(info.value, MemoryError)


def test_statuses_without_a_natural_trigger_map_to_subclasses():
    # Overlap, memory and internal failures cannot be provoked through the
    # Python API (it allocates every output); check the mapping the binding
    # uses when the library returns them.
    from attnroll import _errors
    for status, cls in [(1, attnroll.ArgumentError), (2, attnroll.ShapeError),
                        (3, attnroll.DtypeError), (4, attnroll.OverlapError),
                        (5, attnroll.OutOfMemoryError), (6, attnroll.StateError),
                        (7, attnroll.InternalError)]:
        assert _errors._BY_STATUS[status] is cls
        err = cls(status, "x: test message")
        check_error(err, status, "ATTNROLL_E_" + {1: "ARGUMENT", 2: "SHAPE", 3: "DTYPE",
                                                  4: "OVERLAP", 5: "MEMORY", 6: "STATE",
                                                  7: "INTERNAL"}[status])
