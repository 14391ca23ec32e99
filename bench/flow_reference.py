#!/usr/bin/python3
"""networkx and numpy timings for attnroll_bench --flow, on the bench's own data.

  flow_reference.py flow ALGORITHM DIR L H N SINK [SINK ...]
      DIR/layer_XX.f32 hold the raw float32 [H, N, N] maps of layer XX.  Makes
      Abar_l = normalize_rows(mean_h A + I) in float64 (the spec), builds the
      layered graph of attnroll.h ("Attention flow") as a networkx DiGraph and
      times maximum_flow_value from (L, 0) (CLS) to each (0, SINK) with
      ALGORITHM: preflow_push (networkx's default, its fastest here) or
      edmonds_karp (Abnar & Zuidema's reference code).  Prints one
      "SINK j value seconds" line per sink and "RESULT nx_build_s=.. nx_s_per_sink=..".

  flow_reference.py svd FILE M REPS
      FILE holds a raw float64 [M, M] matrix.  Times
      numpy.linalg.svd(a, compute_uv=False) (LAPACK ?gesdd, jobz='N'), median of
      REPS after one warm-up, prints the first values and
      "RESULT numpy_svd_ms=.. kernel=..".
"""
import ctypes
import sys
import time

import numpy as np


def openblas_kernel():
    """The OpenBLAS core this process's numpy runs on (from the loaded library)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line and "/" in line}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_get_corename"):
                lib.openblas_get_corename.restype = ctypes.c_char_p
                return lib.openblas_get_corename().decode(), path
    except OSError:
        pass
    return "unknown", ""


def flow(args):
    import networkx as nx
    from networkx.algorithms import flow as algorithms

    algorithm = getattr(algorithms, args[0])
    directory, layers, heads, n = args[1], int(args[2]), int(args[3]), int(args[4])
    sinks = [int(s) for s in args[5:]]
    t0 = time.perf_counter()
    graph = nx.DiGraph()
    for l in range(layers):
        a = np.fromfile(f"{directory}/layer_{l:02d}.f32", dtype=np.float32).astype(np.float64)
        a = a.reshape(heads, n, n).mean(axis=0) + np.eye(n)
        a /= a.sum(axis=1, keepdims=True)
        for i in range(n):
            row = a[i]
            graph.add_edges_from(((l + 1, i), (l, j), {"capacity": float(row[j])}) for j in range(n))
    build = time.perf_counter() - t0
    total = 0.0
    for j in sinks:
        t = time.perf_counter()
        value = nx.maximum_flow_value(graph, (layers, 0), (0, j), flow_func=algorithm)
        dt = time.perf_counter() - t
        total += dt
        print(f"SINK {j} {value!r} {dt:.3f}", flush=True)
    print(f"RESULT nx_build_s={build:.3f} nx_s_per_sink={total / len(sinks):.4f} "
          f"algorithm={args[0]} networkx={nx.__version__}", flush=True)


def svd(args):
    path, m, reps = args[0], int(args[1]), int(args[2])
    a = np.fromfile(path, dtype=np.float64).reshape(m, m)
    np.linalg.svd(a, compute_uv=False)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        s = np.linalg.svd(a, compute_uv=False)
        times.append(time.perf_counter() - t)
    kernel, lib = openblas_kernel()
    print("VALUES " + " ".join(repr(float(x)) for x in s[:3]), flush=True)
    print(f"RESULT numpy_svd_ms={1e3 * float(np.median(times)):.3f} kernel={kernel} "
          f"numpy={np.__version__} lib={lib}", flush=True)


if __name__ == "__main__":
    {"flow": flow, "svd": svd}[sys.argv[1]](sys.argv[2:])
