#!/usr/bin/python3
"""Plain numpy transcription of spec/ROLLOUT_SPEC.md, "Spatial Rollout", timed.

The functions below are the spec's own (collapse_heads_in_memory, normalize_rows,
R = Abar_i @ R over the layers), applied to the ViT-L case attnroll_bench uses:
L = 24 layers, each [F, H=16, N=433, N] float32 of synthetic peaky attention
(softmax rows).  It prints the median time per frame for two variants:

  as written  the identity is np.eye(N), numpy's default float64, so
              `A_avg + I` promotes to float64 and the products run in float64
              (this is what the original script does with float32 input);
  float32     the identity is np.eye(N, dtype=np.float32): everything stays
              float32 and the products are sgemm, as in attnroll's F32 path.

Run it with Debian's interpreter, which has numpy:
    /usr/bin/python3 bench/numpy_spec.py [--frames F] [--reps R]
The last line, "RESULT ...", is read by `attnroll_bench --numpy`.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

LAYERS, HEADS, TOKENS = 24, 16, 433


# ---- the spec, verbatim -------------------------------------------------------

def collapse_heads_in_memory(attn_weights):
    # attn_weights shape: [num_frames, num_heads, num_patches, num_patches]
    # Returns shape: [num_frames, num_patches, num_patches]
    return np.mean(attn_weights, axis=1)  # Average across heads dimension


def normalize_rows(matrix):
    row_sums = matrix.sum(axis=1, keepdims=True)
    row_sums = np.where(row_sums == 0, 1.0, row_sums)  # Avoid division by zero
    return matrix / row_sums


def spatial_rollout(layer_attn, identity):
    """layer_attn: list of [F, H, N, N] arrays, layer 0 first -> [F, N, N]."""
    collapsed = [collapse_heads_in_memory(a) for a in layer_attn]  # each [F, N, N]
    frames = []
    for f in range(collapsed[0].shape[0]):
        R = identity
        for A_avg in collapsed:
            Abar = normalize_rows(A_avg[f] + identity)
            R = Abar @ R
        frames.append(R)
    return np.stack(frames)


# ---- synthetic input, like attnroll_bench's ------------------------------------

def synthesize(frames, rng):
    """L layers of [F, H, N, N] float32 softmax rows: background logits in
    [0, 2), the CLS column at 3, four random peaks at 5..8 per row."""
    layers = []
    for _ in range(LAYERS):
        a = rng.random((frames, HEADS, TOKENS, TOKENS), dtype=np.float32)
        a *= 2.0
        a[..., 0] = 3.0
        peaks = rng.integers(0, TOKENS, size=(frames, HEADS, TOKENS, 4))
        heights = rng.uniform(5.0, 8.0, size=peaks.shape).astype(np.float32)
        np.put_along_axis(a, peaks, heights, axis=-1)
        np.exp(a, out=a)
        a /= a.sum(axis=-1, keepdims=True)
        layers.append(a)
    return layers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4, help="frames (default 4)")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions (default 3)")
    args = parser.parse_args()
    if not 1 <= args.frames <= 64 or not 1 <= args.reps <= 100:
        parser.error("--frames must be in [1, 64] and --reps in [1, 100]")

    print(f"numpy {np.__version__} on Python {platform.python_version()} ({sys.executable}); "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} CPUs")
    try:
        from threadpoolctl import threadpool_info  # optional
        for pool in threadpool_info():
            print(f"  BLAS: {pool.get('internal_api')} {pool.get('version')}, "
                  f"{pool.get('num_threads')} threads, {pool.get('filepath')}")
    except ImportError:
        pass

    t0 = time.perf_counter()
    layers = synthesize(args.frames, np.random.default_rng(1))
    gb = sum(a.nbytes for a in layers) / 1e9
    print(f"input: {LAYERS} layers x [{args.frames},{HEADS},{TOKENS},{TOKENS}] float32 "
          f"({gb:.2f} GB), synthesised in {time.perf_counter() - t0:.1f} s")

    variants = [("eye64", "as written (np.eye float64: products in float64)",
                 np.eye(TOKENS)),
                ("eye32", "all float32 (np.eye float32: products in float32)",
                 np.eye(TOKENS, dtype=np.float32))]
    medians = {}
    for key, label, identity in variants:
        spatial_rollout(layers[:2], identity)  # warm up BLAS
        times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            R = spatial_rollout(layers, identity)
            times.append((time.perf_counter() - t) / args.frames)
        medians[key] = 1e3 * statistics.median(times)
        row_err = float(np.abs(R.sum(axis=-1) - 1.0).max())
        print(f"{label:52s} {medians[key]:8.2f} ms/frame  (min {1e3 * min(times):.2f}; "
              f"out {R.dtype}, max |row sum - 1| {row_err:.1e})")
    print(f"RESULT ms_per_frame_eye64={medians['eye64']:.3f} "
          f"ms_per_frame_eye32={medians['eye32']:.3f}")


if __name__ == "__main__":
    main()
