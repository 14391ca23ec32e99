#!/usr/bin/python3
"""Numpy transcription of the users' newest spatial_rollout.py, timed per frame.

The algorithm is the one ../shared/spec/ORIGINAL_OUTPUTS.md records for the newest
spatial script, per layer file [F, H, N, N] and per frame:
  1. drop the CLS token (row 0 and column 0 of every head's map), divide each row
     by its sum (a zero sum divides by 1);
  2. entropy head fusion: rows re-normalised, each row's entropy
     -sum a*ln(a + 1e-10), averaged over the rows, weights softmax(-entropy) over
     the heads of the frame, fused map sum_h w_h A_h (`_collapsed` files skip this);
  3. R = norm(Abar_23 + I) ... norm(Abar_0 + I), saved as float32 [F, N-1, N-1].

ASSUMPTION on dtypes, since the script's text is not at hand: it is written the
plain numpy way, so steps 1-2 stay in the dump's float32 (numpy keeps float32 for
float32 arrays combined with Python floats), the identity is np.eye(N) (numpy's
default float64), so `Abar + I` promotes and the 23 products run in float64
(dgemm), and the result is cast to float32 when saved.  This matches what
bench/numpy_spec.py observed for the spec's own script.

Timed: steps 1-3 for one window of synthetic ViT-L attention (24 layers x 16 heads
x 433 tokens, F frames, softmax rows with peaks), divided by F; the median over
--reps runs is the figure.  By default the files are not read (the arrays are in
memory), which flatters numpy; --with-load writes the window as np.savez files and
also times np.load, as the script reads its dumps.

Usable as a module (rollout_window, fuse_layer, synthesize, blas_info) and as a
program; run it with Debian's interpreter, which has numpy:
    /usr/bin/python3 bench/newest_spatial_numpy.py [--frames 2] [--reps 3] [--out f.json]
The last line, "RESULT ...", gives the figure; --out saves it with the details.
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

LAYERS, HEADS, TOKENS = 24, 16, 433


# ---- the script's algorithm ----------------------------------------------------

def normalize_rows(matrix):
    row_sums = matrix.sum(axis=-1, keepdims=True)
    row_sums = np.where(row_sums == 0, 1.0, row_sums)  # avoid division by zero
    return matrix / row_sums


def drop_cls(attn):
    """[..., N, N] -> [..., N-1, N-1], rows renormalised."""
    return normalize_rows(attn[..., 1:, 1:])


def entropy_fuse(attn):
    """[F, H, n, n] -> [F, n, n]: heads weighted by softmax(-mean row entropy)."""
    p = normalize_rows(attn)
    entropy = -(p * np.log(p + 1e-10)).sum(axis=-1).mean(axis=-1)  # [F, H]
    w = np.exp(-entropy)
    w = w / w.sum(axis=1, keepdims=True)
    return (w[:, :, None, None] * attn).sum(axis=1)


def fuse_layer(attn, collapsed=False):
    """One layer file's array -> its fused, CLS-dropped maps [F, N-1, N-1]."""
    attn = drop_cls(attn)
    return attn if collapsed else entropy_fuse(attn)


def rollout_window(layer_arrays, collapsed=False):
    """The window's layers (layer 0 first, each [F, H, N, N], or [F, N, N] when
    collapsed) -> float32 [F, N-1, N-1], as the script saves it."""
    fused = [fuse_layer(a, collapsed) for a in layer_arrays]
    n = fused[0].shape[-1]
    identity = np.eye(n)  # float64: the products below run in float64
    frames = []
    for f in range(fused[0].shape[0]):
        R = identity
        for layer in fused:
            R = normalize_rows(layer[f] + identity) @ R
        frames.append(R)
    return np.stack(frames).astype(np.float32)


# ---- synthetic input -------------------------------------------------------------

def synthesize(frames, rng, layers=LAYERS, heads=HEADS, tokens=TOKENS):
    """`layers` arrays [F, H, N, N] float32 of softmax rows: background logits in
    [0, 2), the CLS column at 3, four random peaks at 5..8 per row (as
    bench/numpy_spec.py, so the two figures are on the same input)."""
    out = []
    for _ in range(layers):
        a = rng.random((frames, heads, tokens, tokens), dtype=np.float32)
        a *= 2.0
        a[..., 0] = 3.0
        peaks = rng.integers(0, tokens, size=(frames, heads, tokens, 4))
        heights = rng.uniform(5.0, 8.0, size=peaks.shape).astype(np.float32)
        np.put_along_axis(a, peaks, heights, axis=-1)
        np.exp(a, out=a)
        a /= a.sum(axis=-1, keepdims=True)
        out.append(a)
    return out


# ---- which BLAS numpy runs ---------------------------------------------------------

def blas_info():
    """{'source', 'library', 'version', 'kernel', 'threads'} of numpy's BLAS, from
    threadpoolctl if installed, else by asking a loaded OpenBLAS through ctypes;
    'unknown' where neither can tell."""
    info = {"source": "unknown", "library": "unknown", "version": "unknown",
            "kernel": "unknown", "threads": "unknown"}
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                info.update(source="threadpoolctl", library=pool.get("filepath"),
                            version=pool.get("version"),
                            kernel=pool.get("architecture", "unknown"),
                            threads=pool.get("num_threads"))
                return info
    except ImportError:
        pass
    try:
        with open("/proc/self/maps") as fh:
            mapped = {line.split()[-1] for line in fh if "/" in line}
        paths = sorted(p for p in mapped if "blas" in os.path.basename(p).lower())
    except OSError:
        return info
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            corename = lib.openblas_get_corename
            config = lib.openblas_get_config
        except (OSError, AttributeError):
            continue
        corename.restype = config.restype = ctypes.c_char_p
        info.update(source="ctypes (OpenBLAS)", library=os.path.realpath(path),
                    version=config().decode(), kernel=corename().decode(),
                    threads=lib.openblas_get_num_threads())
        break
    return info


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# ---- timing ------------------------------------------------------------------------

def write_window(directory, layers):
    """The window as the script's inputs: one np.savez file per layer."""
    frames = layers[0].shape[0]
    paths = []
    for l, a in enumerate(layers):
        p = os.path.join(directory, f"video_0_frames0-{frames - 1}_backbone_vit_layer_{l}_attn.npz")
        np.savez(p, attention_weights=a)
        paths.append(p)
    return paths


def time_window(layers, reps, paths=None):
    """Seconds per frame for each of `reps` runs (with np.load of `paths` if given)."""
    frames = layers[0].shape[0]
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        arrays = layers if paths is None else [np.load(p)["attention_weights"] for p in paths]
        R = rollout_window(arrays)
        times.append((time.perf_counter() - t) / frames)
        del arrays
    return times, R


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2, help="frames in the window (default 2)")
    parser.add_argument("--reps", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--with-load", action="store_true",
                        help="also time np.load of the window's 24 .npz files (page cache warm)")
    parser.add_argument("--out", metavar="FILE.json", help="save the figure and details here")
    args = parser.parse_args()
    if not 1 <= args.frames <= 64 or not 1 <= args.reps <= 100:
        parser.error("--frames must be in [1, 64] and --reps in [1, 100]")

    blas = blas_info()
    print(f"numpy {np.__version__} on Python {platform.python_version()} ({sys.executable}); "
          f"{os.cpu_count()} CPUs; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    print(f"BLAS: {blas['version']} kernel {blas['kernel']}, {blas['threads']} threads "
          f"({blas['source']}: {blas['library']})")
    flags = cpu_flags()
    if blas["kernel"] in ("Prescott", "Core2", "Nehalem", "Generic") and \
            flags & {"avx2", "avx512f"}:
        # OpenBLAS' DYNAMIC_ARCH falls back to an SSE3 kernel on CPUs it does not know.
        print(f"note: this CPU has {'AVX-512' if 'avx512f' in flags else 'AVX2'} but OpenBLAS "
              f"chose the {blas['kernel']} kernel; OPENBLAS_CORETYPE="
              f"{'SkylakeX' if 'avx512f' in flags else 'Haswell'} gives numpy's best case")

    t0 = time.perf_counter()
    layers = synthesize(args.frames, np.random.default_rng(1))
    gb = sum(a.nbytes for a in layers) / 1e9
    print(f"input: {LAYERS} layers x [{args.frames},{HEADS},{TOKENS},{TOKENS}] float32 "
          f"({gb:.2f} GB), synthesised in {time.perf_counter() - t0:.1f} s")

    rollout_window([a[:1] for a in layers[:2]])  # warm up BLAS and the allocator
    with tempfile.TemporaryDirectory(prefix="newest_spatial_") as tmp:
        paths = write_window(tmp, layers) if args.with_load else None
        times, R = time_window(layers, args.reps, paths)
    median, best = 1e3 * statistics.median(times), 1e3 * min(times)
    row_err = float(np.abs(R.astype(np.float64).sum(axis=-1) - 1.0).max())
    what = "np.load + rollout" if args.with_load else "rollout (arrays in memory)"
    print(f"newest spatial script, {what}: {median:.1f} ms/frame median, {best:.1f} min "
          f"over {args.reps} runs; out {R.dtype} {list(R.shape)}, max |row sum - 1| {row_err:.1e}")
    print(f"RESULT ms_per_frame={median:.3f} kernel={blas['kernel']}")

    if args.out:
        record = {
            "what": "newest spatial_rollout.py algorithm (CLS drop + entropy head fusion "
                    "+ rollout), numpy transcription, " + what,
            "ms_per_frame_median": round(median, 3),
            "ms_per_frame_min": round(best, 3),
            "ms_per_frame_all": [round(1e3 * t, 3) for t in times],
            "frames": args.frames, "reps": args.reps, "layers": LAYERS, "heads": HEADS,
            "tokens": TOKENS, "input_dtype": "float32", "with_load": args.with_load,
            "dtypes": "fusion float32, products float64 (np.eye), saved float32",
            "blas": blas, "numpy": np.__version__, "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                                                   "OMP_NUM_THREADS")},
        }
        with open(args.out, "w") as fh:
            json.dump(record, fh, indent=2)
            fh.write("\n")
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
