"""Shared fixtures and helpers for the attnroll binding tests.

Helpers are plain functions so test modules can ``from conftest import ...``;
this directory is put on sys.path so that works in any pytest import mode.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import reference  # noqa: E402  (after the sys.path set-up)

# Tolerances against the float64 reference evaluated on the exact input values.
TOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}


def peaky_attention(rng, shape, dtype=np.float32, temperature=0.15):
    """Softmax attention over the last axis with sharp peaks (like real ViT maps).

    Logits are standard normal divided by a small temperature, so each row has
    a few dominant entries and many tiny ones."""
    logits = rng.standard_normal(shape) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=-1, keepdims=True)
    return p.astype(dtype)


def to_bf16_bits(x, mode="round"):
    """float values -> bfloat16 bit patterns (uint16), computed in numpy.

    mode "truncate" keeps the upper 16 bits of the binary32; "round" rounds to
    nearest even (finite inputs only)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    if mode == "truncate":
        return (u >> np.uint32(16)).astype(np.uint16)
    if mode != "round":
        raise ValueError(mode)
    lsb = (u >> np.uint32(16)) & np.uint32(1)
    rounded = u + np.uint32(0x7FFF) + lsb
    return (rounded >> np.uint32(16)).astype(np.uint16)


bf16_to_f64 = reference.bf16_bits_to_f64


def exact(a, bf16=False):
    """The exact float64 values an input array holds."""
    if bf16:
        return bf16_to_f64(a)
    return np.asarray(a).astype(np.float64)


def assert_close(got, want, dtype=None):
    """got (an attnroll output) against the float64 reference want."""
    got = np.asarray(got)
    dtype = np.dtype(dtype) if dtype is not None else got.dtype
    assert got.dtype == dtype, (got.dtype, dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    tol = TOL[dtype]
    err = np.max(np.abs(got.astype(np.float64) - want)) if want.size else 0.0
    assert err <= tol, f"max abs error {err:.3g} > {tol:.1g} ({dtype})"


class ArrayInterfaceOnly:
    """Exposes an array only through __array_interface__ (no buffer, no dlpack)."""

    def __init__(self, array):
        self._array = array  # keeps the memory alive

    @property
    def __array_interface__(self):
        return self._array.__array_interface__


class DLPackOnly:
    """Exposes an array only through __dlpack__ / __dlpack_device__."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, *args, **kwargs):
        return self._array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def run_isolated(code, timeout=120):
    """Runs code in a fresh interpreter (this one, same environment, this
    directory importable) and returns the CompletedProcess.  For calls that
    may crash the process -- e.g. a misaligned pointer reaching a library
    built with -fsanitize=undefined -- so that a crash fails one test only."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name, so every test is reproducible."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.name)) % (2**32)
    return np.random.default_rng(seed)
