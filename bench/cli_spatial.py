"""attnroll spatial over one ViT-L window, beside the library's own streaming
figure on the same layers: time per frame and peak memory.

    ATTNROLL_LIBRARY=build/src/libattnroll.so.1 PYTHONPATH=bindings/python \\
        /usr/bin/python3 bench/cli_spatial.py --tool build/tools/attnroll/attnroll [--frames 31] [--reps 3]

It writes 24 layer files video_7_frames0-<F-1>_backbone_vit_layer_<l>_attn.npz
([F,16,433,433] float32, np.savez: stored, each layer different; F=31 is
8.6 GiB on disk, F=8 is 2.2 GiB) unless they are there already, reads them
all once so they are in the page cache, and then, --reps times, interleaved so
a slow spell of a shared machine touches all three alike:

  read floor   reading every layer file once into one reused buffer;
  streaming    attnroll.Stream pushing the 24 layers, each loaded from its
               file just before (only the push and result calls are timed):
               the library's streaming figure on these arrays;
  tool         `attnroll spatial` on the directory, everything included
               (start-up, reading with the CRC-32 check, rollout, the .npz and
               the PNG heat maps), and the same with --no-crc.

It also prints the streaming figure for one array pushed 24 times, which is
what a benchmark reusing one buffer would see (real layers are each new
data), and what a tool that copied the files would need at least: the
rollout keeps every core busy, so reading's CPU time comes on top of it,
shared by the cores (streaming + read floor / cores).  attnroll maps the
stored layers in place instead, so its floor is the streaming figure.
--newest-script also times the newest spatial script's algorithm in numpy
(bench/newest_spatial_numpy.py) on the same files, against the tool.
Targets: the tool's peak memory under 1.5x one layer's array plus the
rollout state (two [F,N,N] float32 buffers); its time per frame within 1.15x
of the streaming figure on the right OpenBLAS kernel.

OpenBLAS kernels: when OpenBLAS picked a kernel below the CPU's level (Debian
12's OpenBLAS on a recent CPU picks Prescott), this benchmark re-runs itself
with OPENBLAS_CORETYPE set, so the library's streaming figure and the read
floor run on the kernel the CPU deserves; the tool is still started with the
environment this benchmark was given, so it shows its own automatic fix
(`attnroll --blas-core auto`).  --blas-core keep measures everything on
OpenBLAS's own pick instead.  The kernels used are printed.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

with warnings.catch_warnings():
    # The slow-kernel warning: this benchmark deals with the kernel itself.
    warnings.simplefilter("ignore", RuntimeWarning)
    import attnroll

L, H, N = 24, 16, 433


def layer_path(data, frames, layer):
    return os.path.join(data, f"video_7_frames0-{frames - 1}_backbone_vit_layer_{layer}_attn.npz")


def write_dump(data, frames):
    os.makedirs(data, exist_ok=True)
    rng = np.random.default_rng(0)
    for layer in range(L):
        path = layer_path(data, frames, layer)
        if os.path.exists(path):
            continue
        a = rng.random((frames, H, N, N), dtype=np.float32)
        a /= a.sum(-1, keepdims=True)
        np.savez(path + ".part.npz", attention_weights=a)
        os.replace(path + ".part.npz", path)


def read_floor(paths, buffer):
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buffer):
                pass
    return time.perf_counter() - start


def streaming(paths, frames):
    spent = 0.0
    with attnroll.Stream(frames, N) as s:
        for path in paths:
            with np.load(path) as z:
                a = z["attention_weights"]
            start = time.perf_counter()
            s.push(a)
            spent += time.perf_counter() - start
            del a
        start = time.perf_counter()
        s.result()
        spent += time.perf_counter() - start
    return spent


def streaming_one_array(path, frames):
    with np.load(path) as z:
        a = z["attention_weights"]
    with attnroll.Stream(frames, N) as s:  # warm-up
        s.push(a)
    start = time.perf_counter()
    with attnroll.Stream(frames, N) as s:
        for _ in range(L):
            s.push(a)
        s.result()
    return time.perf_counter() - start


def peak_rss(pid):
    """VmHWM of the running process: its own peak, unlike ru_maxrss of a
    child, which on Linux also counts the forking Python's memory."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


ORIG_CORETYPE = "ATTNROLL_BENCH_ORIG_CORETYPE"  # the environment we were started with


def right_kernel(keep):
    """Re-runs this benchmark, once, with OPENBLAS_CORETYPE set when the kernel
    OpenBLAS picked is below the CPU's; returns the environment to start the
    tool with (the one this benchmark was given)."""
    info = attnroll.blas_info()
    tool_env = dict(os.environ)
    if ORIG_CORETYPE in os.environ:  # the re-run
        orig = tool_env.pop(ORIG_CORETYPE)
        tool_env.pop("OPENBLAS_CORETYPE", None)
        if orig:
            tool_env["OPENBLAS_CORETYPE"] = orig[1:]
        return info, tool_env
    if keep or not info["kernel_below_cpu"] or os.environ.get("OPENBLAS_CORETYPE"):
        return info, tool_env
    env = dict(os.environ)
    # "" = unset, "=X" = X: an empty value must survive the round trip.
    env[ORIG_CORETYPE] = "=" + os.environ["OPENBLAS_CORETYPE"] if "OPENBLAS_CORETYPE" in os.environ else ""
    env["OPENBLAS_CORETYPE"] = info["best_kernel"]
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def tool_kernel(binary, env):
    """The BLAS kernel line of the tool's --version, as the tool runs it."""
    text = subprocess.run([binary, "--version"], env=env, capture_output=True, text=True).stdout
    lines = [line for line in text.splitlines() if "kernel" in line.lower()]
    return lines[0].strip() if lines else "(the tool's --version names no kernel)"


def tool(binary, data, out, env, extra=()):
    """Runs the tool; returns (seconds, peak RSS in bytes, sampled every 2 ms
    while it runs, so at worst the last 2 ms of growth are missed)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "spatial", data, "-o", out, "--grid", "24x18", "--quiet", *extra],
                            stdout=subprocess.DEVNULL, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, peak_rss(proc.pid))
        time.sleep(0.002)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{binary} failed with status {proc.returncode}")
    return seconds, peak


def tool_has_option(binary, option):
    text = subprocess.run([binary, "spatial", "--help"], capture_output=True, text=True).stdout
    return option in text


def newest_script(paths, frames):
    """The newest spatial script's algorithm (bench/newest_spatial_numpy.py) on
    the same files, loaded with np.load as the script loads them; seconds."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import newest_spatial_numpy
    start = time.perf_counter()
    arrays = [np.load(p)["attention_weights"] for p in paths]
    newest_spatial_numpy.rollout_window(arrays)
    return time.perf_counter() - start


def summary(name, seconds, frames, unit_ms=None):
    per = [s / frames * 1e3 for s in seconds]
    text = f"{name:<44} median {statistics.median(per):7.1f}  min {min(per):7.1f} ms/frame"
    if unit_ms is not None:
        text += f"   = {statistics.median(per) / unit_ms[0]:.2f}x (median), {min(per) / unit_ms[1]:.2f}x (min)"
    print(text)
    return statistics.median(per), min(per)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True)
    parser.add_argument("--frames", type=int, default=31)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/attnroll_cli_bench")
    parser.add_argument("--newest-script", action="store_true",
                        help="also time the newest spatial script's algorithm (numpy) on the same files, "
                             "and the tool with the options that reproduce it, when it has them")
    parser.add_argument("--blas-core", choices=["auto", "keep"], default="auto",
                        help="auto: run the library on the CPU's best OpenBLAS kernel; keep: on OpenBLAS's pick")
    args = parser.parse_args()
    info, tool_env = right_kernel(args.blas_core == "keep")
    print(f"library (streaming, read floor): OpenBLAS kernel {info['kernel']}"
          f"{' (set by this benchmark: OpenBLAS picked a slower one)' if ORIG_CORETYPE in os.environ else ''}; "
          f"CPU level {info['cpu_level_name']}")
    print(f"tool, started with OPENBLAS_CORETYPE={tool_env.get('OPENBLAS_CORETYPE', '<unset>')}: "
          f"{tool_kernel(args.tool, tool_env)}")
    frames = args.frames
    data = os.path.join(args.dir, f"dump{frames}")
    out = os.path.join(args.dir, "out")
    write_dump(data, frames)
    paths = [layer_path(data, frames, layer) for layer in range(L)]
    buffer = bytearray(1 << 24)
    read_floor(paths, buffer)  # into the page cache

    floors, streams, tools, tools_no_crc, peak = [], [], [], [], 0
    tool(args.tool, data, out, tool_env)  # warm-up: the executable and libraries
    for _ in range(args.reps):
        floors.append(read_floor(paths, buffer))
        streams.append(streaming(paths, frames))
        seconds, rss = tool(args.tool, data, out, tool_env)
        tools.append(seconds)
        tools_no_crc.append(tool(args.tool, data, out, tool_env, ["--no-crc"])[0])
        peak = max(peak, rss)
    one_array = streaming_one_array(paths[0], frames)

    layer_bytes = frames * H * N * N * 4
    state = 2 * frames * N * N * 4
    print(f"window: F={frames} frames, L={L} layers, H={H}, N={N}; one layer's array {layer_bytes / 2**20:.0f} MiB, "
          f"rollout state {state / 2**20:.0f} MiB; {args.reps} interleaved repetitions")
    read = summary("read floor (the layer files, page cache)", floors, frames)
    ref = summary("library streaming (the same layers)", streams, frames)
    tool_ms = summary("attnroll spatial (files in page cache)", tools, frames, ref)
    summary("attnroll spatial --no-crc (no CRC-32 check)", tools_no_crc, frames, ref)
    print(f"{'(library streaming, one array pushed 24x)':<44} {one_array / frames * 1e3:14.1f} ms/frame")
    # The tool maps the stored layers in place, so its floor is the streaming
    # figure itself; a tool that copied the files (pread, np.load) would also
    # pay the read floor's CPU time, shared by the cores.
    cores = os.cpu_count() or 1
    copy_floor = [r + f / cores for r, f in zip(ref, read)]
    print(f"{f'a copying tool on {cores} cores (streaming + read/{cores})':<44} median {copy_floor[0]:7.1f}  "
          f"min {copy_floor[1]:7.1f} ms/frame   = {copy_floor[0] / ref[0]:.2f}x streaming")
    print("target: attnroll spatial within 1.15x of library streaming")
    if args.newest_script:
        script_s = newest_script(paths, frames)
        methods = ["--heads", "entropy", "--drop-tokens", "1"]
        same = tool_has_option(args.tool, "--heads")
        variant = tools[:]
        if same:
            variant = [tool(args.tool, data, out, tool_env, methods)[0] for _ in range(args.reps)]
        script_ms = script_s / frames * 1e3
        tool_ms_v = statistics.median(variant) / frames * 1e3
        print(f"{'newest script algorithm (numpy, np.load)':<44} {script_ms:14.1f} ms/frame   (numpy on the kernel above)")
        print(f"{'attnroll spatial ' + (' '.join(methods) if same else '(spec mean fusion)'):<44} {tool_ms_v:14.1f} "
              f"ms/frame   = {script_ms / tool_ms_v:.1f}x faster (target >= 10x)"
              + ("" if same else "; this tool has no --heads yet: not the same method"))
    print(f"tool peak memory: {peak / 2**20:.0f} MiB = {peak / (layer_bytes + state):.2f}x (layer + state) "
          f"(target < 1.5x)")


if __name__ == "__main__":
    main()
