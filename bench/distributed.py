"""attnroll.distributed on one machine: videos per minute with 1 and 2 local
Dask workers, and the Dask path's per-video overhead against the tool alone.

    PYTHONPATH=bindings/python ATTNROLL_LIBRARY=build/src/libattnroll.so.1 \\
        /usr/bin/python3 bench/distributed.py --tool build/tools/attnroll/attnroll \\
        [--vitl-videos 4] [--vitl-frames 8] [--demo-videos 20] [--reps 5] [--only vitl|demo]

Two sets of spatial dumps, written under --dir unless they are there already:

  vitl   ViT-L windows, bench/cli_spatial.py's: --vitl-videos videos of one
         window of --vitl-frames frames, 24 layer files each, [F,16,433,433]
         float32, np.savez (stored), every layer of every video different
         (F=8: 2.2 GiB per video on disk).  The free disk space is checked
         first (shutil.disk_usage); the run refuses when it is short.
  demo   --demo-videos videos shaped like `attnroll demo`'s spatial stack:
         4 frames, 12 layers, 4 heads, 1 CLS + 8x8 patches, float16 stored.

Every file is read once before timing, so the runs read from the page cache;
the read is timed again after the runs, to show the files stayed there.

Four variants, each writing a fresh output folder (removed between runs,
untimed), on the same videos:

  tool, whole folder       attnroll spatial DIR -o OUT --threads C  (one process)
  tool, per video          attnroll spatial DIR -o OUT --videos=V --threads C,
                           once per video, one after the other: what each
                           Dask task runs, so the difference to the Dask
                           variant is the Dask path's own cost
  Dask, 1 worker           rollout_videos() on a LocalCluster of 1 worker
                           process (1 thread), the tool with --threads C
  Dask, 2 workers          2 worker processes, the tool with --threads C/2

C is the machine's core count; C/W per worker is what
`python3 -m attnroll.distributed` gives the tool on a local cluster of W
workers.  Both clusters (every port on 127.0.0.1) are started once, before
timing; their start-up is printed apart.  A Dask run is one rollout_videos()
call: the listing task, one task per video (the tool in a staging folder,
its files renamed into place) and the merging task.  The repetitions are
interleaved, in an order rotated each time, so a noisy spell of a shared
machine hits every variant alike.  Printed: medians and minimums, videos per
minute, the per-video overhead of the Dask path (1 worker, the same total
cores) against the tool per video and against the tool on the whole folder,
the core count, the OpenBLAS kernel the tool reports, and the load average.

Target (issue 14): on ViT-L windows, the Dask path's overhead <= 5% of the
tool's own time.  The data under --dir is removed at the end unless --keep.
"""

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
import warnings

# This file's name is the Dask package's: take its folder off the path, so
# `import distributed` finds Dask (here and in the spawned workers).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import numpy as np  # noqa: E402

SETS = {
    #        layers heads tokens dtype       grid
    "vitl": (24, 16, 433, np.float32, "24x18"),
    "demo": (12, 4, 65, np.float16, None),
}


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def video_id(v):
    return f"v{v:03d}"


def layer_name(video, frames, layer):
    return f"video_{video}_frames0-{frames - 1}_backbone_vit_layer_{layer}_attn.npz"


def file_bytes(frames, heads, tokens, dtype):
    return frames * heads * tokens * tokens * np.dtype(dtype).itemsize + 512  # + the zip and npy headers


def write_set(folder, videos, frames, layers, heads, tokens, dtype):
    """Writes the videos' layer files that are not there yet; returns all paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for v in range(videos):
        for layer in range(layers):
            path = os.path.join(folder, layer_name(video_id(v), frames, layer))
            paths.append(path)
            if os.path.exists(path):
                continue
            a = np.random.default_rng([v, layer]).random((frames, heads, tokens, tokens), dtype=np.float32)
            a /= a.sum(-1, keepdims=True)
            np.savez(path + ".part.npz", attention_weights=a.astype(dtype, copy=False))
            os.replace(path + ".part.npz", path)
    return paths


def check_disk(folder, need, margin):
    """Refuses when the free space is short of what is still to be written."""
    probe = folder
    while not os.path.exists(probe):
        probe = os.path.dirname(probe) or "."
    free = shutil.disk_usage(probe).free
    if free < need + margin:
        raise SystemExit(f"distributed.py: {probe} has {free / 2**30:.1f} GiB free; this run writes "
                         f"{need / 2**30:.1f} GiB more and keeps {margin / 2**30:.0f} GiB free "
                         f"(use fewer --vitl-videos or --vitl-frames, or another --dir)")
    return free


def read_all(paths):
    """Reads every file once (into the page cache); returns seconds and bytes."""
    buffer = bytearray(1 << 24)
    start, total = time.perf_counter(), 0
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while True:
                n = f.readinto(buffer)
                if not n:
                    break
                total += n
    return time.perf_counter() - start, total


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def tool_kernel(tool):
    text = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    lines = [line.strip() for line in text.splitlines() if "kernel" in line.lower()]
    return lines[0] if lines else "(the tool's --version names no kernel)"


def outputs(out):
    """The files an output folder holds (relative), the run manifest aside."""
    found = set()
    for root, _dirs, files in os.walk(out):
        for name in files:
            if name != "attnroll_run.json":
                found.add(os.path.relpath(os.path.join(root, name), out))
    return found


class Variants:
    def __init__(self, tool, data, base, videos, grid, ncores, clusters):
        self.tool, self.data, self.base, self.videos = tool, data, base, videos
        self.grid, self.ncores, self.clusters = grid, ncores, clusters

    def _out(self, name):
        out = os.path.join(self.base, "out-" + name)
        shutil.rmtree(out, ignore_errors=True)
        return out

    def _grid(self):
        return [f"--grid={self.grid}"] if self.grid else []

    def tool_folder(self):
        out = self._out("tool-folder")
        start = time.perf_counter()
        subprocess.run([self.tool, "spatial", self.data, "-o", out, "--quiet", f"--threads={self.ncores}"]
                       + self._grid(), check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start, out

    def tool_per_video(self):
        out = self._out("tool-video")
        start = time.perf_counter()
        for v in self.videos:
            subprocess.run([self.tool, "spatial", self.data, "-o", out, f"--videos={v}", "--quiet",
                            f"--threads={self.ncores}"] + self._grid(), check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start, out

    def dask(self, workers):
        from attnroll.distributed import rollout_videos
        client = self.clusters[workers][1]
        out = self._out(f"dask{workers}")
        opts = {"threads": max(1, self.ncores // workers)}
        if self.grid:
            opts["grid"] = self.grid
        start = time.perf_counter()
        results = rollout_videos(client, self.data, out, command="spatial", tool=self.tool, **opts)
        seconds = time.perf_counter() - start
        bad = [r for r in results if r.status != "done"]
        if bad or len(results) != len(self.videos):
            raise SystemExit(f"distributed.py: Dask run failed: {bad[:3]}")
        return seconds, out


def start_clusters(ncores, scratch):
    from distributed import Client, LocalCluster
    clusters = {}
    for workers in (1, 2):
        start = time.perf_counter()
        # dashboard_address=None would still serve HTTP on 0.0.0.0 (scheduler
        # port 8787, each worker a free port): bind those to 127.0.0.1 too.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
                               silence_logs=logging.ERROR,
                               local_directory=os.path.join(scratch, "dask-space"))
        client = Client(cluster)
        client.wait_for_workers(workers)
        clusters[workers] = (cluster, client, time.perf_counter() - start)
    return clusters


def cluster_pids(clusters):
    """The worker processes and their nannies, of every cluster."""
    import psutil
    pids = []
    for _cluster, client, _s in clusters.values():
        for pid in client.run(os.getpid).values():
            pids.append(pid)
            parent = psutil.Process(pid).parent()
            if parent is not None and parent.pid != os.getpid():
                pids.append(parent.pid)
    return [psutil.Process(pid) for pid in pids]


def cpu_seconds(procs):
    """CPU time (user + system) so far of this process (the client and the
    schedulers), its reaped children (the tool run directly), and the
    workers, nannies and their reaped children (the tool run by a task)."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    for proc in procs:
        c = proc.cpu_times()
        total += c.user + c.system + c.children_user + c.children_system
    return total


def fmt_load():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run_set(name, args, tool, ncores, clusters):
    layers, heads, tokens, dtype, grid = SETS[name]
    videos = args.vitl_videos if name == "vitl" else args.demo_videos
    frames = args.vitl_frames if name == "vitl" else 4
    reps = args.reps if name == "vitl" else args.demo_reps
    base = os.path.join(args.dir, name)
    data = os.path.join(base, f"in-{videos}x{frames}")
    per_file = file_bytes(frames, heads, tokens, dtype)
    total = videos * layers * per_file
    missing = sum(1 for v in range(videos) for l in range(layers)
                  if not os.path.exists(os.path.join(data, layer_name(video_id(v), frames, l))))
    check_disk(data, missing * per_file + videos * 64 * 2**20, args.min_free_gb * 2**30)
    if total > mem_available():
        print(f"warning: {total / 2**30:.1f} GiB of files, {mem_available() / 2**30:.1f} GiB of memory available: "
              "they may not all stay in the page cache")
    start = time.perf_counter()
    paths = write_set(data, videos, frames, layers, heads, tokens, dtype)
    wrote = time.perf_counter() - start
    read_s, read_b = read_all(paths)
    read2_s, _ = read_all(paths)
    print(f"\n== {name}: {videos} videos x 1 window of F={frames} frames, L={layers}, H={heads}, N={tokens}, "
          f"{np.dtype(dtype).name}; {read_b / 2**30:.2f} GiB ({read_b / videos / 2**20:.0f} MiB per video)"
          f"{f', written in {wrote:.0f} s' if missing else ''}")
    print(f"page cache: read every file twice before timing, the second read at {read_b / read2_s / 2**30:.1f} GiB/s")
    names = [video_id(v) for v in range(videos)]
    var = Variants(tool, data, base, names, grid, ncores, clusters)
    half = max(1, ncores // 2)
    variants = [
        ("tool", f"tool, whole folder (--threads {ncores})", var.tool_folder),
        ("tool1", f"tool, per video, serial (--threads {ncores})", var.tool_per_video),
        ("dask1", f"Dask, 1 worker (tool --threads {ncores})", lambda: var.dask(1)),
        ("dask2", f"Dask, 2 workers (tool --threads {half})", lambda: var.dask(2)),
    ]
    # Warm-up (executables, libraries, the workers' imports), and a check that
    # every variant writes the same files.
    files = None
    for key, label, fn in variants:
        _s, out = fn()
        got = outputs(out)
        if files is None:
            files = got
        elif got != files:
            raise SystemExit(f"distributed.py: {label} wrote other files than the tool: "
                             f"{sorted(got ^ files)[:5]}")
    times = {key: [] for key, _l, _f in variants}
    cpu = {key: [] for key, _l, _f in variants}
    procs = cluster_pids(clusters)
    load0 = fmt_load()
    for rep in range(reps):
        k = rep % len(variants)
        for key, _label, fn in variants[k:] + variants[:k]:
            c0 = cpu_seconds(procs)
            times[key].append(fn()[0])
            cpu[key].append(cpu_seconds(procs) - c0)
    load1 = fmt_load()
    read3_s, _ = read_all(paths)
    for key, _l, _f in variants:
        shutil.rmtree(os.path.join(base, "out-" + {"tool": "tool-folder", "tool1": "tool-video"}.get(key, key)),
                      ignore_errors=True)
    print(f"{reps} interleaved repetitions, {len(files)} output files per run; load average "
          f"(1/5/15 min) {load0} before, {load1} after; the files re-read after at "
          f"{read_b / read3_s / 2**30:.1f} GiB/s")
    print(f"{'':<44} {'median s':>9} {'min s':>8} {'videos/min':>11} {'s/video':>8} {'CPU s/video':>12}")
    med = {k: statistics.median(t) for k, t in times.items()}
    low = {k: min(t) for k, t in times.items()}
    cmed = {k: statistics.median(t) / videos for k, t in cpu.items()}
    for key, label, _f in variants:
        print(f"{label:<44} {med[key]:9.2f} {low[key]:8.2f} {videos / med[key] * 60:11.1f} {med[key] / videos:8.3f}"
              f" {cmed[key]:12.3f}")

    def overhead(a, b):
        per_med = (med[a] - med[b]) / videos
        per_min = (low[a] - low[b]) / videos
        paired = statistics.median([(x - y) / videos for x, y in zip(times[a], times[b])])
        return (f"{per_med * 1e3:+7.0f} ms/video = {100 * (med[a] / med[b] - 1):+5.1f}% (medians), "
                f"{per_min * 1e3:+7.0f} ms = {100 * (low[a] / low[b] - 1):+5.1f}% (mins), "
                f"{paired * 1e3:+7.0f} ms (median of paired repetitions)")

    def cpu_overhead(a, b):
        return f"{(cmed[a] - cmed[b]) * 1e3:+7.0f} ms/video = {100 * (cmed[a] / cmed[b] - 1):+5.1f}%"

    print("overhead of the Dask path at equal cores (Dask, 1 worker), wall-clock:")
    print(f"  vs the tool per video  {overhead('dask1', 'tool1')}")
    print(f"  vs the whole folder    {overhead('dask1', 'tool')}")
    print(f"  (one tool process per video vs the whole folder: {overhead('tool1', 'tool')})")
    print("CPU time (every process of the run, median): Dask, 1 worker "
          f"vs the tool per video {cpu_overhead('dask1', 'tool1')}, vs the whole folder {cpu_overhead('dask1', 'tool')}; "
          f"Dask, 2 workers vs the tool per video {cpu_overhead('dask2', 'tool1')}")
    print(f"2 workers vs 1 worker: {med['dask1'] / med['dask2']:.2f}x the videos per minute (medians)")
    if name == "vitl":
        pct = 100 * (med["dask1"] / med["tool1"] - 1)
        pct_f = 100 * (med["dask1"] / med["tool"] - 1)
        cpct = 100 * (cmed["dask1"] / cmed["tool1"] - 1)
        print(f"target: Dask path overhead <= 5% of the tool's own time on ViT-L windows: wall-clock "
              f"{pct:+.1f}% vs the tool per video, {pct_f:+.1f}% vs the whole folder (medians): "
              f"{'met' if max(pct, pct_f) <= 5 else 'NOT met'}; CPU time {cpct:+.1f}% vs the tool per video: "
              f"{'met' if cpct <= 5 else 'NOT met'}")
    return data


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tool", default="build/tools/attnroll/attnroll")
    p.add_argument("--dir", default="/tmp/attnroll_dask_bench")
    p.add_argument("--only", choices=["vitl", "demo"])
    p.add_argument("--vitl-videos", type=int, default=4)
    p.add_argument("--vitl-frames", type=int, default=8)
    p.add_argument("--demo-videos", type=int, default=20)
    p.add_argument("--reps", type=int, default=5, help="repetitions on ViT-L windows (default 5)")
    p.add_argument("--demo-reps", type=int, default=7, help="repetitions on demo-sized videos (default 7)")
    p.add_argument("--min-free-gb", type=float, default=5, help="free disk to leave (default 5 GiB)")
    p.add_argument("--keep", action="store_true", help="keep the data under --dir")
    args = p.parse_args()
    tool = shutil.which(args.tool) if os.sep not in args.tool else os.path.abspath(args.tool)
    if not tool or not os.access(tool, os.X_OK):
        raise SystemExit(f"distributed.py: no attnroll tool at {args.tool}")
    # The workers import attnroll.distributed from the same place as this
    # process.  Python's own OpenBLAS is not used here (the tool runs the
    # rollouts, on the kernel it reports), so its slow-kernel warning is noise.
    os.environ["PYTHONWARNINGS"] = "ignore::RuntimeWarning"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        import attnroll.distributed  # noqa: F401
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["attnroll.distributed"].__file__)))
    os.environ["PYTHONPATH"] = pkg + os.pathsep + os.environ.get("PYTHONPATH", "")
    from importlib.metadata import version
    ncores = cores()
    print(f"machine: {ncores} cores ({os.cpu_count()} online), {mem_available() / 2**30:.1f} GiB memory available, "
          f"load average {fmt_load()}; dask {version('dask')}, distributed {version('distributed')}")
    print(f"tool {tool}: {tool_kernel(tool)}")
    os.makedirs(args.dir, exist_ok=True)
    clusters = start_clusters(ncores, args.dir)
    print("LocalCluster start-up (not in the figures below): "
          + ", ".join(f"{w} worker{'s' if w > 1 else ''} {c[2]:.1f} s" for w, c in clusters.items()))
    try:
        for name in ("vitl", "demo"):
            if args.only in (None, name):
                data = run_set(name, args, tool, ncores, clusters)
                if not args.keep:
                    shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    finally:
        for cluster, client, _s in clusters.values():
            client.close()
            cluster.close()
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
