"""numpy (and anything array-like) to attnroll_tensor views, without copies
wherever the C library can read the memory as it is."""

import ctypes

import numpy as np

from . import _dlpack, _lib

_CODES = {np.dtype(np.float32): _lib.F32, np.dtype(np.float64): _lib.F64, np.dtype(np.float16): _lib.F16}
_OUT_CODES = {np.dtype(np.float32): _lib.F32, np.dtype(np.float64): _lib.F64}


def as_array(obj, name):
    """A view of obj's memory: numpy arrays as they are, objects with
    __array_interface__ through np.asarray (ndarrays); DLPack producers (e.g.
    CPU torch tensors, bfloat16 too) and DLPack capsules through their capsule
    (a _dlpack.Borrowed view, released when the enclosing call ends)."""
    if isinstance(obj, (np.ndarray, _dlpack.Borrowed)):
        return obj
    if hasattr(obj, "__array_interface__") or hasattr(obj, "__array_struct__"):
        return np.asarray(obj)
    if hasattr(obj, "__dlpack__") or _dlpack.is_capsule(obj):
        return _dlpack.borrow(obj, name)
    if isinstance(obj, (list, tuple)):
        raise TypeError(f"{name}: expected an array, got a {type(obj).__name__}; "
                        "wrap it in np.asarray(...) first")
    raise TypeError(f"{name}: expected an array (numpy, __array_interface__ or __dlpack__), "
                    f"got {type(obj).__name__}")


def input_view(obj, name, dtype=None):
    """(array, dtype code) ready to be viewed by the library.  Copies only when
    the layout cannot be described in whole elements of a native type."""
    a = as_array(obj, name)
    if isinstance(a, _dlpack.Borrowed):
        return a, _borrowed_code(a, name, dtype)
    if dtype is not None:
        if dtype != "bfloat16":
            raise ValueError(f"dtype: {dtype!r} is not supported; the only override is 'bfloat16' "
                             "(uint16 or int16 arrays holding bfloat16 bits)")
        if a.dtype.kind not in "ui" or a.dtype.itemsize != 2:
            raise TypeError(f"{name}: dtype='bfloat16' needs uint16 or int16 bits, got {a.dtype}")
        code = _lib.BF16
    else:
        code = _CODES.get(a.dtype.newbyteorder("="))
        if code is None:
            hint = " (for bfloat16 bits pass dtype='bfloat16')" if a.dtype.itemsize == 2 and a.dtype.kind in "ui" else ""
            raise TypeError(f"{name}: dtype {a.dtype} is not supported; use float16, float32 or "
                            f"float64{hint}")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if not a.flags.aligned or any(s % a.itemsize for s in a.strides):
        a = np.require(a, requirements=["A", "C"])  # whole elements; aligned copies are the simple case
    return a, code


def _borrowed_code(a, name, dtype):
    """The attnroll dtype of a DLPack view, as input_view judges numpy's."""
    if dtype is not None:
        if dtype != "bfloat16":
            raise ValueError(f"dtype: {dtype!r} is not supported; the only override is 'bfloat16' "
                             "(uint16 or int16 arrays holding bfloat16 bits)")
        if a.key not in _dlpack.BF16_BITS:
            raise TypeError(f"{name}: dtype='bfloat16' needs bfloat16, uint16 or int16 elements, "
                            f"got {a.dtype_name}")
        return _lib.BF16
    if a.code is None:
        hint = (" (for bfloat16 bits pass dtype='bfloat16')" if a.key in _dlpack.BF16_BITS else "")
        raise TypeError(f"{name}: DLPack dtype {a.dtype_name} is not supported; use "
                        f"{_dlpack.SUPPORTED}{hint}")
    return a.code


class Views:
    """Keeps every array and ctypes buffer alive while the library reads them."""

    def __init__(self):
        self._alive = []

    def tensor(self, a, code):
        shape = (ctypes.c_int64 * a.ndim)(*a.shape)
        if isinstance(a, _dlpack.Borrowed):  # strides already in elements
            strides = (ctypes.c_int64 * a.ndim)(*a.strides)
            data = a.data
        else:
            strides = (ctypes.c_int64 * a.ndim)(*(s // a.itemsize for s in a.strides))
            data = a.ctypes.data
        self._alive += [a, shape, strides]
        return _lib.Tensor(data, code, a.ndim, shape, strides)

    def tensors(self, pairs):
        array = (_lib.Tensor * max(1, len(pairs)))(*(self.tensor(a, c) for a, c in pairs))
        self._alive.append(array)
        return array


def out_code(out_dtype):
    if out_dtype is None:  # np.dtype(None) would quietly mean float64
        raise TypeError("out_dtype: None is not an output type; use np.float32 or np.float64")
    try:
        return _OUT_CODES[np.dtype(out_dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"out_dtype: {out_dtype!r} is not an output type; use np.float32 or "
                        "np.float64") from None
