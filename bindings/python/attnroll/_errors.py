"""Exceptions carrying the C library's status and message."""

from . import _lib


class Error(Exception):
    """A failed attnroll call: `status` (int), `status_name`, `message`."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = _lib.lib.attnroll_status_string(status).decode()
        self.message = message
        super().__init__(f"{message} [{self.status_name}]")


class ArgumentError(Error, ValueError):
    """A NULL, out-of-range or unknown argument or option."""


class ShapeError(Error, ValueError):
    """A rank, extent or stride that does not fit."""


class DtypeError(Error, TypeError):
    """An unknown or disallowed element type."""


class OverlapError(Error, ValueError):
    """An output overlapping itself or an input."""


class StateError(Error, RuntimeError):
    """An object not in a state that allows the call."""


class OutOfMemoryError(Error, MemoryError):
    """An allocation failed inside the library."""


class InternalError(Error, RuntimeError):
    """A failure inside the library."""


_BY_STATUS = {
    _lib.E_ARGUMENT: ArgumentError,
    _lib.E_SHAPE: ShapeError,
    _lib.E_DTYPE: DtypeError,
    _lib.E_OVERLAP: OverlapError,
    _lib.E_MEMORY: OutOfMemoryError,
    _lib.E_STATE: StateError,
    _lib.E_INTERNAL: InternalError,
}


def check(status):
    """Raise the exception for a non-zero status, with this thread's message
    (read right after the call, on the calling thread)."""
    if status != _lib.OK:
        message = _lib.lib.attnroll_last_error().decode(errors="replace")
        raise _BY_STATUS.get(status, Error)(status, message)
