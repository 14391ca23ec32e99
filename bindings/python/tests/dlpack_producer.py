"""A DLPack producer written in pure Python with ctypes, so the binding's
capsule path is tested without torch: it exports a numpy buffer as a
DLManagedTensor ("dltensor") or DLManagedTensorVersioned ("dltensor_versioned")
with any dtype code, bits, lanes, device, strides and byte_offset, and counts
every deleter call.

Written from the DLPack header (dlpack.h) independently of the binding's own
structures, so a layout mistake on either side shows up."""

import ctypes

import numpy as np

CPU, CUDA = 1, 2
INT, UINT, FLOAT, BFLOAT = 0, 1, 2, 4


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", DLPackVersion), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER),
                ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


READ_ONLY = 1  # DLPACK_FLAG_BITMASK_READ_ONLY

_py = ctypes.pythonapi
_capsule_new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_void_p)(("PyCapsule_New", _py))
_capsule_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_IsValid", _py))
_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", _py))
capsule_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", _py))

# PyCapsule_New keeps the name's pointer: these buffers live as long as the module.
_NAMES = {False: ctypes.create_string_buffer(b"dltensor"),
          True: ctypes.create_string_buffer(b"dltensor_versioned")}
_owners = {}  # managed-struct address -> Producer (until deleted)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _capsule_destructor(capsule):
    # As real producers do: an unconsumed capsule (name unchanged) frees its tensor.
    for versioned, name in _NAMES.items():
        if _capsule_is_valid(capsule, name.value):
            address = _capsule_pointer(capsule, name.value)
            _owners[address]._delete(address)


class BareProducer:
    """Exports `array` (any numpy view; its values are read as `code`/`bits`)
    through __dlpack__.  Options:

    versioned     export DLManagedTensorVersioned when max_version allows it;
                  False: a producer that predates DLPack 1.0 (no max_version
                  keyword, like torch 1.13 and numpy 1.24).
    version       the version a versioned tensor claims.
    code, bits, lanes, device   the DLPack dtype and device written.
    report_device what Producer.__dlpack_device__ says (default: device);
                  BareProducer has no __dlpack_device__.
    null_strides  write NULL strides (array must be C-contiguous).
    offset_in     "byte_offset": data = the start of the buffer the view is
                  in, byte_offset = the rest; "data": data points at element 0.
    deleter       False writes a NULL deleter.
    """

    def __init__(self, array, *, code=FLOAT, bits=None, lanes=1, device=(CPU, 0),
                 report_device=None, versioned=False, version=(1, 0),
                 flags=0, null_strides=False, offset_in="byte_offset", deleter=True):
        self.array = array
        self.code, self.bits, self.lanes = code, bits or array.itemsize * 8, lanes
        self.device = device
        self.report_device = report_device or device
        self.versioned, self.version, self.flags = versioned, version, flags
        self.null_strides, self.offset_in, self.with_deleter = null_strides, offset_in, deleter
        self.exports = 0           # __dlpack__ calls
        self.deleted = 0           # deleter calls
        self.bad_deletes = 0       # deleter calls on an address not live (double delete)
        self.live = {}             # address -> the ctypes objects it points into
        self._deleter = DELETER(self._delete_callback)

    def _delete_callback(self, address):
        self._delete(address)

    def _delete(self, address):
        self.deleted += 1
        if self.live.pop(address, None) is None:
            self.bad_deletes += 1
        _owners.pop(address, None)

    def __dlpack__(self, stream=None, **kwargs):
        max_version = kwargs.pop("max_version", None)
        if kwargs:
            raise TypeError(f"unexpected keywords {sorted(kwargs)}")
        if max_version is not None and not self.versioned:
            raise TypeError("__dlpack__() got an unexpected keyword argument 'max_version'")
        assert stream is None, stream
        self.exports += 1
        versioned = self.versioned and max_version is not None and max_version[0] >= 1
        return self._capsule(versioned)

    def _capsule(self, versioned):
        a = self.array
        ndim = a.ndim
        shape = (ctypes.c_int64 * max(ndim, 1))(*a.shape)
        if self.null_strides:
            assert a.flags.c_contiguous
            strides = None
        else:
            assert all(s % a.itemsize == 0 for s in a.strides)
            strides = (ctypes.c_int64 * max(ndim, 1))(*(s // a.itemsize for s in a.strides))
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        low = min(np.byte_bounds(root)[0], np.byte_bounds(a)[0])  # buffer start: offset > 0
        if self.offset_in == "byte_offset":
            data, offset = low, a.ctypes.data - low
        else:
            data, offset = a.ctypes.data, 0
        managed = (DLManagedTensorVersioned if versioned else DLManagedTensor)()
        t = managed.dl_tensor
        t.data, t.ndim, t.byte_offset = data, ndim, offset
        t.device = DLDevice(*self.device)
        t.dtype = DLDataType(self.code, self.bits, self.lanes)
        t.shape = shape
        t.strides = strides
        if self.with_deleter:
            managed.deleter = self._deleter
        if versioned:
            managed.version = DLPackVersion(*self.version)
            managed.flags = self.flags
        address = ctypes.addressof(managed)
        self.live[address] = (managed, shape, strides, a)
        _owners[address] = self
        return _capsule_new(address, ctypes.addressof(_NAMES[versioned]),
                            ctypes.cast(_capsule_destructor, ctypes.c_void_p))


class Producer(BareProducer):
    def __dlpack_device__(self):
        return self.report_device


def unaligned_copy(x, misalign):
    """x's values in a fresh buffer, C order, starting `misalign` bytes past an
    address aligned to 64: a view whose data is not aligned to its element."""
    buf = np.zeros(x.nbytes + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + misalign
    v = np.ndarray(x.shape, x.dtype, buffer=buf, offset=start)
    v[...] = x
    return v
