"""Python binding overhead and zero-copy figures.

    ATTNROLL_LIBRARY=build/src/libattnroll.so.1 PYTHONPATH=bindings/python \
        /usr/bin/python3 bench/python_binding.py

1. Overhead per call: attnroll.spatial on a 4-layer, 32-token case, against
   the same C call made through ctypes with everything prepared in advance
   (the floor the binding adds its work to).
2. Zero copy: peak memory (tracemalloc, which sees numpy's allocations) of a
   call on a [L,F,H,N,N] float16 stack and on a transposed float32 view,
   beside the input's and the output's size.
"""

import ctypes
import time
import tracemalloc

import numpy as np

import attnroll
from attnroll import _lib
from attnroll._arrays import Views, input_view


def best_of(fn, repeat=7, number=2000):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def overhead():
    rng = np.random.default_rng(0)
    layers = [rng.random((1, 1, 32, 32), dtype=np.float32) for _ in range(4)]
    out = np.empty((1, 32, 32), np.float32)
    views = Views()
    tensors = views.tensors([input_view(a, "layer") for a in layers])
    out_tensor = views.tensor(out, _lib.F32)
    raw = lambda: _lib.lib.attnroll_spatial(tensors, 4, None, ctypes.byref(out_tensor))
    wrapped = lambda: attnroll.spatial(layers)
    t_raw, t_wrapped = best_of(raw), best_of(wrapped)
    print(f"4 layers x [1,1,32,32] float32:")
    print(f"  C call through ctypes, prepared arguments: {t_raw * 1e6:8.1f} us")
    print(f"  attnroll.spatial(layers):                  {t_wrapped * 1e6:8.1f} us")
    print(f"  binding overhead per call:                 {(t_wrapped - t_raw) * 1e6:8.1f} us  (target < 50 us)")


def peak_during(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak


def zero_copy():
    L, F, H, N = 6, 2, 8, 197
    rng = np.random.default_rng(1)
    stack16 = rng.random((L, F, H, N, N), dtype=np.float32).astype(np.float16)
    base32 = rng.random((L, F, H, N, N), dtype=np.float32)
    transposed = [base32[l].transpose(0, 1, 3, 2) for l in range(L)]  # views, not copies
    out_bytes = F * N * N * 4
    for name, layers, in_bytes in (
        ("[L,F,H,N,N] float16 stack", stack16, stack16.nbytes),
        ("transposed float32 views", transposed, base32.nbytes),
    ):
        _, peak = peak_during(lambda: attnroll.spatial(layers))
        print(f"{name:28s} input {in_bytes / 2**20:7.1f} MiB  output {out_bytes / 2**20:5.2f} MiB  "
              f"peak Python-side allocation during the call {peak / 2**20:6.2f} MiB "
              f"({'no copy' if peak < out_bytes + (1 << 20) else 'COPIED'})")


if __name__ == "__main__":
    print(f"attnroll {attnroll.__version__} from {attnroll.library_path}")
    overhead()
    zero_copy()
