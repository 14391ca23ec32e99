"""attnroll_config built from keyword options."""

import ctypes
import numbers
import operator

from . import _lib
from ._errors import ArgumentError, check


def _index(value, name):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}") from None


class Config:
    """Owns one attnroll_config; freed when collected or on close()."""

    def __init__(self, query_rows=None, layer_range=None, threads=0, residual=1.0):
        self.handle = _lib.ConfigPtr()  # NULL: the library's defaults
        self.rows = None
        threads = _index(threads, "threads")
        if isinstance(residual, bool) or not isinstance(residual, numbers.Real):
            raise TypeError(f"residual: expected a number, got {type(residual).__name__}")
        if query_rows is None and layer_range is None and threads == 0 and residual == 1.0:
            return  # every option at its default: no config to build
        check(_lib.lib.attnroll_config_create(ctypes.byref(self.handle)))
        if query_rows is not None:
            if isinstance(query_rows, (str, bytes)) or not hasattr(query_rows, "__iter__"):
                raise TypeError(f"query_rows: expected a sequence of ints, got "
                                f"{type(query_rows).__name__}")
            rows = [_index(r, f"query_rows[{i}]") for i, r in enumerate(query_rows)]
            if not rows:
                raise ValueError("query_rows: is empty; pass None for all rows")
            array = (ctypes.c_int64 * len(rows))(*rows)
            check(_lib.lib.attnroll_config_set_ints(self.handle, _lib.OPT_QUERY_ROWS, array, len(rows)))
        if layer_range is not None:
            try:
                begin, end = layer_range
            except (TypeError, ValueError):
                raise TypeError(f"layer_range: expected (begin, end), got {layer_range!r}") from None
            check(_lib.lib.attnroll_config_set_int(self.handle, _lib.OPT_LAYER_BEGIN,
                                                   _index(begin, "layer_range[0]")))
            if end is None:
                end = -1  # the library's "all layers"
            else:
                end = _index(end, "layer_range[1]")
                if end < 0:
                    raise ArgumentError(_lib.E_ARGUMENT, f"layer_range[1]: {end} is negative; "
                                        "use None for all layers")
            check(_lib.lib.attnroll_config_set_int(self.handle, _lib.OPT_LAYER_END, end))
        check(_lib.lib.attnroll_config_set_int(self.handle, _lib.OPT_THREADS, threads))
        check(_lib.lib.attnroll_config_set_float(self.handle, _lib.OPT_RESIDUAL, float(residual)))
        self.rows = None if query_rows is None else len(rows)

    def close(self):
        if self.handle:
            _lib.lib.attnroll_config_destroy(self.handle)
            self.handle = _lib.ConfigPtr()

    def __del__(self):
        self.close()
