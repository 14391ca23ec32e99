"""attnroll_config built from keyword options."""

import ctypes
import numbers
import operator

from . import _lib
from ._errors import ArgumentError, Error, check


def _index(value, name):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}") from None


HEAD_FUSIONS = {"mean": _lib.FUSE_MEAN, "max": _lib.FUSE_MAX, "min": _lib.FUSE_MIN,
                "entropy": _lib.FUSE_ENTROPY, "weights": _lib.FUSE_WEIGHTS, "grad": _lib.FUSE_GRAD}
RULES = {"rollout": _lib.RULE_ROLLOUT, "chefer": _lib.RULE_CHEFER}

# The method keywords and the header's names for them, so that a library
# message about an option says which keyword it came from.
KEYWORDS = {"drop_tokens": "ATTNROLL_OPT_DROP_TOKENS", "head_fusion": "ATTNROLL_OPT_HEAD_FUSION",
            "head_weights": "ATTNROLL_OPT_HEAD_WEIGHTS", "discard_ratio": "ATTNROLL_OPT_DISCARD_RATIO",
            "protect": "ATTNROLL_OPT_PROTECT", "rule": "ATTNROLL_OPT_RULE",
            "cumulative": "ATTNROLL_OPT_CUMULATIVE"}


def check_named(status):
    """check(), with the keyword prefixed to a message about a method option
    ("drop_tokens: ATTNROLL_OPT_DROP_TOKENS: 9 ...")."""
    try:
        check(status)
    except Error as err:
        for keyword, name in KEYWORDS.items():
            if name in err.message and not err.message.startswith((keyword, "grad")):
                raise type(err)(err.status, f"{keyword}: {err.message}") from None
        raise


def _choice(value, table, name):
    if not isinstance(value, str) or value.lower() not in table:
        raise ArgumentError(_lib.E_ARGUMENT,
                            f"{name}: {value!r} is not one of {', '.join(map(repr, table))}")
    return table[value.lower()]


def _number_list(values, name, convert, what):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected a sequence of {what}, got {type(values).__name__}")
    return [convert(v, f"{name}[{i}]") for i, v in enumerate(values)]


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


class Method:
    """The rollout method keywords (attnroll.h, "The pipeline"), checked and
    turned into option values.  grads: whether gradients are given (True
    makes head_fusion=None mean "grad"; None: not known yet, as for a
    Stream, whose pushes say)."""

    def __init__(self, drop_tokens=0, head_fusion=None, head_weights=None, discard_ratio=0.0,
                 protect=None, rule="rollout", cumulative=False, grads=False):
        self.drop_tokens = _index(drop_tokens, "drop_tokens")
        if self.drop_tokens < 0:
            raise ArgumentError(_lib.E_ARGUMENT, f"drop_tokens: {self.drop_tokens} is negative")
        if head_fusion is None:
            head_fusion = "grad" if grads else "mean"
        self.head_fusion_name = head_fusion
        self.head_fusion = _choice(head_fusion, HEAD_FUSIONS, "head_fusion")
        self.head_weights = None
        if head_weights is not None:
            self.head_weights = _number_list(head_weights, "head_weights", _real, "numbers")
            if not self.head_weights:
                raise ArgumentError(_lib.E_ARGUMENT, "head_weights: is empty; give one weight per head")
            bad = [w for w in self.head_weights if w != w or w in (float("inf"), float("-inf"))]
            if bad:
                raise ArgumentError(_lib.E_ARGUMENT, f"head_weights: {bad[0]!r} is not finite")
        if self.head_fusion == _lib.FUSE_WEIGHTS and self.head_weights is None:
            raise ArgumentError(_lib.E_ARGUMENT,
                                "head_fusion: 'weights' needs head_weights=[one weight per head]")
        if self.head_weights is not None and self.head_fusion != _lib.FUSE_WEIGHTS:
            raise ArgumentError(_lib.E_ARGUMENT,
                                f"head_weights: given with head_fusion={head_fusion!r}; "
                                "they are used only with head_fusion='weights'")
        self.discard_ratio = _real(discard_ratio, "discard_ratio")
        if not 0.0 <= self.discard_ratio < 1.0:
            raise ArgumentError(_lib.E_ARGUMENT,
                                f"discard_ratio: {discard_ratio!r} is outside [0, 1)")
        self.protect = None
        if protect is not None:
            self.protect = _number_list(protect, "protect", _index, "ints")
            for i, p in enumerate(self.protect):
                if p < 0:
                    raise ArgumentError(_lib.E_ARGUMENT, f"protect[{i}]: {p} is negative")
        self.rule = _choice(rule, RULES, "rule")
        if not isinstance(cumulative, (bool, numbers.Integral)) or cumulative not in (0, 1):
            raise TypeError(f"cumulative: expected True or False, got {cumulative!r}")
        self.cumulative = bool(cumulative)
        if grads is True and self.head_fusion != _lib.FUSE_GRAD:
            raise ArgumentError(_lib.E_ARGUMENT,
                                f"grads: given with head_fusion={head_fusion!r}; gradients are "
                                "used only with head_fusion='grad'")
        if grads is False and self.head_fusion == _lib.FUSE_GRAD:
            raise ArgumentError(_lib.E_ARGUMENT,
                                "head_fusion: 'grad' needs the gradients, grads=[one per layer] "
                                "(or Stream.push(layer, grad=...))")

    def is_default(self):
        return (self.drop_tokens == 0 and self.head_fusion == _lib.FUSE_MEAN
                and self.discard_ratio == 0.0 and self.protect is None
                and self.rule == _lib.RULE_ROLLOUT and not self.cumulative)

    def apply(self, handle):
        lib = _lib.lib
        check_named(lib.attnroll_config_set_int(handle, _lib.OPT_DROP_TOKENS, self.drop_tokens))
        check_named(lib.attnroll_config_set_int(handle, _lib.OPT_HEAD_FUSION, self.head_fusion))
        if self.head_weights is not None:
            array = (ctypes.c_double * len(self.head_weights))(*self.head_weights)
            check_named(lib.attnroll_config_set_floats(handle, _lib.OPT_HEAD_WEIGHTS, array,
                                                       len(self.head_weights)))
        check_named(lib.attnroll_config_set_float(handle, _lib.OPT_DISCARD_RATIO, self.discard_ratio))
        if self.protect is not None:
            array = (ctypes.c_int64 * max(1, len(self.protect)))(*self.protect)
            check_named(lib.attnroll_config_set_ints(handle, _lib.OPT_PROTECT, array, len(self.protect)))
        check_named(lib.attnroll_config_set_int(handle, _lib.OPT_RULE, self.rule))
        check_named(lib.attnroll_config_set_int(handle, _lib.OPT_CUMULATIVE, int(self.cumulative)))


class Config:
    """Owns one attnroll_config; freed when collected or on close()."""

    def __init__(self, query_rows=None, layer_range=None, threads=0, residual=1.0, method=None):
        self.handle = _lib.ConfigPtr()  # NULL: the library's defaults
        self.rows = None
        threads = _index(threads, "threads")
        if isinstance(residual, bool) or not isinstance(residual, numbers.Real):
            raise TypeError(f"residual: expected a number, got {type(residual).__name__}")
        if (query_rows is None and layer_range is None and threads == 0 and residual == 1.0
                and (method is None or method.is_default())):
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
        if method is not None:
            method.apply(self.handle)
        self.rows = None if query_rows is None else len(rows)

    def close(self):
        if self.handle:
            _lib.lib.attnroll_config_destroy(self.handle)
            self.handle = _lib.ConfigPtr()

    def __del__(self):
        self.close()
