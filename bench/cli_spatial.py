"""attnroll spatial over one ViT-L window, beside the library's own streaming
figure on the same arrays: time per frame and peak memory.

    ATTNROLL_LIBRARY=build/src/libattnroll.so.1 PYTHONPATH=bindings/python \\
        /usr/bin/python3 bench/cli_spatial.py --tool build/examples/cli/attnroll [--frames 31] [--dir /tmp/vitl]

It writes 24 layer files video_7_frames0-<F-1>_backbone_vit_layer_<l>_attn.npz
([F,16,433,433] float32, np.savez: stored; F=31 is 8.9 GB on disk), runs the
tool on them twice (the second run, with the files in the page cache, is the
one reported), and measures attnroll.Stream pushing the same layers from
memory.  Targets (issue): peak memory under 1.5x one layer's array plus the
rollout state, time per frame within 1.2x of the streaming figure.
"""

import argparse
import os
import resource
import shutil
import subprocess
import time

import numpy as np

import attnroll

L, H, N = 24, 16, 433


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--dir", default="/tmp/attnroll_cli_bench")
    args = parser.parse_args()
    F = args.frames
    data = os.path.join(args.dir, "dump")
    out = os.path.join(args.dir, "out")
    os.makedirs(data, exist_ok=True)
    rng = np.random.default_rng(0)
    layer = rng.random((F, H, N, N), dtype=np.float32)
    layer /= layer.sum(-1, keepdims=True)
    for l in range(L):
        path = os.path.join(data, f"video_7_frames0-{F - 1}_backbone_vit_layer_{l}_attn.npz")
        if not os.path.exists(path):
            np.savez(path, attention_weights=layer)

    with attnroll.Stream(F, N) as s:  # warm-up
        s.push(layer)
    start = time.perf_counter()
    with attnroll.Stream(F, N) as s:
        for _ in range(L):
            s.push(layer)
        s.result()
    stream_ms = (time.perf_counter() - start) / F * 1e3

    for _ in range(2):
        shutil.rmtree(out, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([args.tool, "spatial", data, "-o", out, "--grid", "24x18", "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        tool_ms = (time.perf_counter() - start) / F * 1e3
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    layer_bytes = layer.nbytes
    state = 2 * F * N * N * 4
    print(f"window: F={F} frames, L={L} layers, H={H}, N={N}; one layer file's array {layer_bytes / 2**20:.0f} MiB, "
          f"rollout state {state / 2**20:.0f} MiB")
    print(f"library streaming (arrays in memory): {stream_ms:8.1f} ms/frame")
    print(f"attnroll spatial (files in page cache): {tool_ms:8.1f} ms/frame  = {tool_ms / stream_ms:.2f}x streaming "
          f"(target <= 1.2x)")
    print(f"tool peak memory: {peak / 2**20:.0f} MiB = {peak / (layer_bytes + state):.2f}x (layer + state) "
          f"(target < 1.5x)")


if __name__ == "__main__":
    main()
