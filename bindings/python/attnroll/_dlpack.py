"""DLPack tensors (torch, jax, cupy-on-host, ...) read in place through their
capsules, with ctypes, following the DLPack protocol -- so bfloat16 works,
which numpy cannot represent.

A capsule named "dltensor" (DLManagedTensor) or "dltensor_versioned"
(DLManagedTensorVersioned, DLPack >= 1.0) is consumed: renamed
"used_dltensor[_versioned]" as soon as it is read, and its deleter called
exactly once -- when the attnroll call that read it is done (see `releasing`),
or at once when the tensor is refused.  Nothing here knows about numpy."""

import contextvars
import ctypes
import functools

from . import _lib

# DLDeviceType and DLDataTypeCode (dlpack.h).
CPU, CUDA_HOST, ROCM_HOST, CUDA_MANAGED = 1, 3, 11, 13
_HOST_READABLE = {CPU, CUDA_HOST, ROCM_HOST, CUDA_MANAGED}
_DEVICE_NAMES = {1: "CPU", 2: "CUDA", 3: "CUDAHost", 4: "OpenCL", 7: "Vulkan", 8: "Metal",
                 9: "VPI", 10: "ROCM", 11: "ROCMHost", 12: "ExtDev", 13: "CUDAManaged",
                 14: "OneAPI", 15: "WebGPU", 16: "Hexagon", 17: "MAIA"}
INT, UINT, FLOAT, OPAQUE, BFLOAT, COMPLEX, BOOL = range(7)
_CODE_NAMES = {INT: "int", UINT: "uint", FLOAT: "float", OPAQUE: "opaque_handle",
               BFLOAT: "bfloat", COMPLEX: "complex", BOOL: "bool", 7: "float8_e3m4",
               8: "float8_e4m3", 9: "float8_e4m3b11fnuz", 10: "float8_e4m3fn",
               11: "float8_e4m3fnuz", 12: "float8_e5m2", 13: "float8_e5m2fnuz",
               14: "float8_e8m0fnu", 15: "float6_e2m3fn", 16: "float6_e3m2fn", 17: "float4_e2m1fn"}
# (code, bits) with lanes 1 -> attnroll dtype.
DTYPES = {(FLOAT, 16): _lib.F16, (FLOAT, 32): _lib.F32, (FLOAT, 64): _lib.F64,
          (BFLOAT, 16): _lib.BF16}
BF16_BITS = {(INT, 16), (UINT, 16), (BFLOAT, 16)}  # what dtype="bfloat16" reads
SUPPORTED = "float16, float32, float64 or bfloat16"
MAJOR_VERSION = 1  # of DLManagedTensorVersioned this module reads


class Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", Device),
        ("ndim", ctypes.c_int32),
        ("dtype", DataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class ManagedTensor(ctypes.Structure):
    """DLManagedTensor (capsule name "dltensor")."""
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


class PackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class ManagedTensorVersioned(ctypes.Structure):
    """DLManagedTensorVersioned (capsule name "dltensor_versioned")."""
    _fields_ = [("version", PackVersion), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p), ("flags", ctypes.c_uint64),
                ("dl_tensor", DLTensor)]


# The deleter is called with the GIL held, as a producer's capsule destructor
# would be (numpy's and torch's deleters touch Python objects).
_DELETER = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)


def _capi(name, restype, *argtypes):
    # A private prototype: setting argtypes on ctypes.pythonapi's own function
    # objects would change them for every other user in the process.
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


_capsule_name = _capi("PyCapsule_GetName", ctypes.c_char_p, ctypes.py_object)
_capsule_pointer = _capi("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)
_capsule_rename = _capi("PyCapsule_SetName", ctypes.c_int, ctypes.py_object, ctypes.c_void_p)

# PyCapsule_SetName keeps the pointer, not a copy: these buffers live as long
# as the module (i.e. as long as any capsule renamed by it may).
_NAMES = {b"dltensor": ctypes.create_string_buffer(b"used_dltensor"),
          b"dltensor_versioned": ctypes.create_string_buffer(b"used_dltensor_versioned")}

try:
    from types import CapsuleType as _CapsuleType  # Python >= 3.13
except ImportError:
    import _datetime  # a capsule every CPython makes: datetime's C API
    _CapsuleType = type(_datetime.datetime_CAPI)


def is_capsule(obj):
    return type(obj) is _CapsuleType


def device_name(device_type, device_id):
    name = _DEVICE_NAMES.get(device_type, f"unknown device type {device_type}")
    return f"{name}:{device_id} (DLPack device type {device_type})"


def dtype_name(code, bits, lanes):
    name = f"{_CODE_NAMES.get(code, f'type code {code} of ')}{bits}"
    return name if lanes == 1 else f"{name} x{lanes} lanes"


def _device_error(name, device_type, device_id):
    return BufferError(f"{name}: the tensor is on device {device_name(device_type, device_id)}; "
                       "attnroll reads memory the CPU can address: move it to the CPU first "
                       "(e.g. tensor.cpu())")


class Owner:
    """One consumed DLPack tensor: calls its deleter exactly once."""

    __slots__ = ("_address", "_deleter", "__weakref__")

    def __init__(self, address, deleter):
        self._address = address
        self._deleter = deleter

    def release(self):
        deleter, self._deleter = self._deleter, None
        if deleter:
            _DELETER(deleter)(self._address)

    def __del__(self):  # a view taken outside `releasing` (e.g. by a benchmark)
        self.release()


class Borrowed:
    """A strided view (data address, attnroll dtype code, shape, strides in
    elements) of memory a DLPack producer owns; keeps its Owner alive."""

    __slots__ = ("owner", "data", "key", "shape", "strides", "dtype_name")

    def __init__(self, owner, data, key, shape, strides, dtype_name):
        self.owner, self.data, self.key = owner, data, key  # key: DLPack (code, bits)
        self.shape, self.strides, self.dtype_name = tuple(shape), tuple(strides), dtype_name

    @property
    def code(self):
        """The attnroll dtype, or None when the library cannot read it."""
        return DTYPES.get(self.key)

    @property
    def ndim(self):
        return len(self.shape)

    def __getitem__(self, index):
        """view[i]: the sub-view at index i of the first axis (for stacked layers)."""
        if not isinstance(index, int) or not self.shape:
            raise TypeError("only view[i] with an int i is supported")
        if not -self.shape[0] <= index < self.shape[0]:
            raise IndexError(f"index {index} out of range for extent {self.shape[0]}")
        index %= self.shape[0]
        size = self.key[1] // 8
        return Borrowed(self.owner, self.data + index * self.strides[0] * size, self.key,
                        self.shape[1:], self.strides[1:], self.dtype_name)

    def __repr__(self):
        return f"<attnroll DLPack view {self.dtype_name} shape {list(self.shape)}>"


_scope = contextvars.ContextVar("attnroll_dlpack_scope", default=None)


def releasing(function):
    """Decorates a binding call: every DLPack tensor it consumes is released
    (its deleter called) when the call returns or raises."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        owners = []
        token = _scope.set(owners)
        try:
            return function(*args, **kwargs)
        finally:
            _scope.reset(token)
            for owner in owners:
                owner.release()

    return call


def _capsule_of(obj, name):
    """obj's DLPack capsule: obj itself if it is one, else obj.__dlpack__()
    (asking for a versioned one; producers that predate DLPack 1.0, like torch
    1.13 and numpy 1.24, give the unversioned kind)."""
    if is_capsule(obj):
        return obj
    if hasattr(obj, "__dlpack_device__"):  # refuse a device before the producer exports
        try:
            device_type, device_id = obj.__dlpack_device__()
        except (TypeError, ValueError, RuntimeError, BufferError) as err:
            raise TypeError(f"{name}: cannot read it through DLPack: __dlpack_device__() "
                            f"failed: {err}") from None
        if int(device_type) not in _HOST_READABLE:
            raise _device_error(name, int(device_type), int(device_id))
    try:
        try:
            return obj.__dlpack__(max_version=(MAJOR_VERSION, 0))
        except TypeError:  # a producer without the max_version keyword (DLPack < 1.0)
            return obj.__dlpack__()
    except (TypeError, ValueError, RuntimeError, BufferError) as err:
        raise TypeError(f"{name}: cannot read it through DLPack: {err}") from None


def borrow(obj, name):
    """A Borrowed view of a DLPack producer (or of a capsule itself).  The
    capsule is consumed; its deleter runs when the enclosing `releasing` call
    ends, or at once if the tensor is refused."""
    capsule = _capsule_of(obj, name)
    if not is_capsule(capsule):
        raise TypeError(f"{name}: __dlpack__() returned a {type(capsule).__name__}, not a capsule")
    kind = _capsule_name(capsule)
    if kind in (b"used_dltensor", b"used_dltensor_versioned"):
        raise BufferError(f"{name}: this DLPack capsule was already consumed (its name is "
                          f"{kind.decode()!r}); a capsule can be read once: pass the tensor "
                          "itself, or a fresh tensor.__dlpack__()")
    if kind not in _NAMES:
        shown = "no name" if kind is None else repr(kind.decode(errors="replace"))
        raise TypeError(f"{name}: a capsule with {shown} is not a DLPack tensor "
                        "(expected 'dltensor' or 'dltensor_versioned')")
    address = _capsule_pointer(capsule, kind)
    if not address:
        raise TypeError(f"{name}: the DLPack capsule holds a NULL pointer")
    versioned = kind == b"dltensor_versioned"
    managed = (ManagedTensorVersioned if versioned else ManagedTensor).from_address(address)
    if _capsule_rename(capsule, ctypes.addressof(_NAMES[kind])) != 0:
        raise RuntimeError(f"{name}: cannot mark the DLPack capsule as used")
    owner = Owner(address, managed.deleter)  # from here on, ours to release
    try:
        view = _view(managed, versioned, owner, name)
    except BaseException:
        owner.release()
        raise
    owners = _scope.get()
    if owners is not None:
        owners.append(owner)
    return view


def _view(managed, versioned, owner, name):
    if versioned and managed.version.major != MAJOR_VERSION:
        raise BufferError(f"{name}: the producer gave a DLPack {managed.version.major}."
                          f"{managed.version.minor} tensor; attnroll reads DLPack "
                          f"{MAJOR_VERSION}.x")
    t = managed.dl_tensor
    if t.device.device_type not in _HOST_READABLE:
        raise _device_error(name, t.device.device_type, t.device.device_id)
    key = (t.dtype.code, t.dtype.bits)
    shown = dtype_name(t.dtype.code, t.dtype.bits, t.dtype.lanes)
    if t.dtype.lanes != 1:
        raise TypeError(f"{name}: DLPack dtype {shown} is not supported: attnroll reads one "
                        f"lane per element ({SUPPORTED})")
    if key not in DTYPES and key not in BF16_BITS:
        raise TypeError(f"{name}: DLPack dtype {shown} is not supported; use {SUPPORTED}")
    if t.ndim < 0 or t.ndim > _lib.lib.attnroll_max_ndim():
        raise ValueError(f"{name}: rank {t.ndim} is not supported (1 to "
                         f"{_lib.lib.attnroll_max_ndim()})")
    shape = [t.shape[d] for d in range(t.ndim)]
    if t.strides:
        strides = [t.strides[d] for d in range(t.ndim)]
    else:  # NULL strides: C order
        strides, step = [0] * t.ndim, 1
        for d in reversed(range(t.ndim)):
            strides[d] = step
            step *= shape[d]
    data = (t.data or 0) + t.byte_offset
    return Borrowed(owner, data, key, shape, strides, shown)
