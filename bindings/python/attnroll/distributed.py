"""attnroll.distributed: roll out many videos on a Dask cluster.

Each video is one Dask task, which runs the installed ``attnroll`` tool on a
worker, restricted to that video (``--videos V``), so every output is the
tool's own.  All the windows of a video go in one task, because its combined
per-video file needs them all.

    from distributed import Client
    from attnroll.distributed import rollout_videos
    client = Client("tcp://scheduler:8786")
    results = rollout_videos(client, "/data/run42", "/data/run42", command="temporal")
    failed = [r for r in results if r.status == "failed"]

or from a shell, ``python3 -m attnroll.distributed spatial DIR [tool options]
[--scheduler ADDRESS] [--retries N]`` (``--help`` lists the options).

How a run goes (the workers must see the input and output folders at the
same paths, e.g. on shared storage; the client needs neither):

1. A first task, on a worker, lists the videos with the tool's own file-name
   rules (spatial: the layer files of DIR/attention_maps/ or DIR; temporal:
   the video_id entries of RUN_DIR/inference/results_temporal.json) and makes
   the output folder and a hidden staging folder inside it,
   ``.attnroll-dask-<run>/``.
2. One task per video runs ``attnroll COMMAND INPUTS -o STAGE --videos=V
   --quiet ...`` with STAGE a fresh folder of its own inside the staging
   folder, so no two tool processes ever write the same file or manifest.
   The tool writes its files and its run manifest there; the task reads the
   manifest and moves the video's files into the real output tree (renames
   on one file system, never replacing a file without ``force``, the same
   rule as the tool's).  A task that fails raises, and Dask runs it again,
   up to ``retries`` times.
3. A last task merges the per-video manifests into the one
   ``attnroll_run.json`` a serial run of the tool writes (written atomically),
   removes the staging folder and any output folder the run made but left
   empty.

The output tree is then the same set of files, with the same bytes, as one
serial ``attnroll COMMAND INPUTS -o OUT`` writes (only the manifest's text
differs: it records the distributed run).
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

__all__ = ["rollout_videos", "list_videos", "VideoResult", "VideoFailed", "ToolNotFound", "main"]

COMMANDS = ("spatial", "temporal")
MANIFEST = "attnroll_run.json"
STAGING_PREFIX = ".attnroll-dask-"

# The tool's options for each command (tools/attnroll/cmd_*.cpp): name ->
# takes a value.  "out", "videos" and "quiet" are set by this module.
TOOL_OPTIONS = {
    "spatial": {"layout": True, "grid": True, "query_rows": True, "layers": True, "threads": True,
                "strict": False, "force": False, "keep_going": False},
    "temporal": {"layout": True, "refiner_id": True, "all_predictions": False, "strict": False,
                 "force": False, "keep_going": False},
}
GLOBAL_OPTIONS = {"blas_core": True}

# The tool's spatial layer-file names (tools/attnroll/dump_layout.cpp): the
# same regular expression, with ECMAScript's "." (no \n or \r) and ASCII digits.
SPATIAL_LAYER_NAME = re.compile(
    r"^video_([^\n\r]+)_frames([0-9]+)-([0-9]+)_"
    r"(?:backbone_vit_layer_|layer_backbone_vit_module_blocks_)([0-9]+)_attn(_collapsed)?\.(npz|npy)$")


class ListingError(ValueError):
    """The inputs hold no videos, or the tool would refuse them as a whole."""


class ToolNotFound(RuntimeError):
    """No attnroll tool on a worker."""


class VideoFailed(RuntimeError):
    """One video's task failed (raised on the worker, so Dask retries it)."""

    def __init__(self, video, message, manifest=None, returncode=None, worker=None):
        super().__init__(f"video {video}: {message}")
        self.video, self.message, self.manifest = video, message, manifest
        self.returncode, self.worker = returncode, worker

    def __reduce__(self):
        return (VideoFailed, (self.video, self.message, self.manifest, self.returncode, self.worker))


class VideoResult:
    """What happened to one video.

    status     "done", "failed" or "skipped" (the tool chose nothing to roll
               out for it, e.g. its top prediction has no refiner_id)
    message    the tool's note ("2 windows, 12 layers used of 12"), its
               failure reason, or its warnings
    outputs    the files written, under the real output folder
    attempts   how many times a task ran for it (retries and lost workers
               included)
    worker     the address of the worker of the last attempt, when known
    manifest   the tool's own manifest entries for the video
    """

    __slots__ = ("video", "status", "message", "outputs", "attempts", "worker", "manifest", "returncode")

    def __init__(self, video, status, message, outputs=(), attempts=0, worker=None, manifest=None,
                 returncode=None):
        self.video, self.status, self.message = video, status, message
        self.outputs, self.attempts, self.worker = list(outputs), attempts, worker
        self.manifest, self.returncode = manifest, returncode

    @property
    def ok(self):
        return self.status != "failed"

    def __repr__(self):
        return (f"VideoResult(video={self.video!r}, status={self.status!r}, message={self.message!r}, "
                f"outputs=<{len(self.outputs)} files>, attempts={self.attempts})")


# ---------------------------------------------------------------------------
# The tool's rules: which videos, where the outputs go
# ---------------------------------------------------------------------------

def _spatial_layer_folder(inputs):
    if not os.path.isdir(inputs):
        raise ListingError(f"{inputs}: is not a directory")
    maps = os.path.join(inputs, "attention_maps")
    return maps if os.path.isdir(maps) else inputs


def _results_file(inputs):
    return os.path.join(inputs, "inference", "results_temporal.json")


def _id_text(value, where):
    # nlohmann::json: a string, or an integer (a JSON bool is neither).
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ListingError(f"{where}: video_id must be a string or an integer")


def list_videos(command, inputs):
    """The videos the tool would roll out from `inputs`, in its order.

    spatial: every video with a layer file in INPUTS/attention_maps/ (or
    INPUTS itself), by the names the tool reads, sorted as the tool sorts
    them.  temporal: every video_id of INPUTS/inference/results_temporal.json
    in the order of first appearance (the tool then picks the predictions).
    Raises ListingError where the tool would refuse the whole run."""
    if command == "spatial":
        folder = _spatial_layer_folder(inputs)
        videos = set()
        for name in os.listdir(folder):
            m = SPATIAL_LAYER_NAME.match(name)
            if m and os.path.isfile(os.path.join(folder, name)):
                videos.add(m.group(1))
        if not videos:
            raise ListingError(f"{folder}: no attention files "
                               "(video_<v>_frames<a>-<b>_backbone_vit_layer_<l>_attn.npz)")
        # std::map<std::string>: byte order (the same as code-point order for UTF-8).
        return sorted(videos, key=lambda v: v.encode("utf-8", "surrogateescape"))
    if command == "temporal":
        if not os.path.isdir(inputs):
            raise ListingError(f"{inputs}: is not a directory")
        path = _results_file(inputs)
        try:
            with open(path, "rb") as fh:
                doc = json.loads(fh.read().decode("utf-8"))
        except OSError:
            raise ListingError(f"{path}: cannot be read") from None
        except ValueError as e:
            raise ListingError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(doc, list):
            raise ListingError(f"{path}: expected a JSON list of predictions")
        seen, videos = set(), []
        for i, p in enumerate(doc):
            where = f"{path}: prediction {i}"
            if not isinstance(p, dict):
                raise ListingError(f"{where}: is not a JSON object")
            if "video_id" not in p:
                continue  # the scripts ignore these
            v = _id_text(p["video_id"], where)
            if v not in seen:
                seen.add(v)
                videos.append(v)
        return videos
    raise ValueError(f"command: {command!r} is not one of {COMMANDS}")


def _output_root(command, inputs, out, layout):
    """The folder of the run manifest (and of every output but the temporal
    original tree's), and the path under the tool's -o of the same folder."""
    if command == "spatial":
        if layout == "original":
            if out:
                return os.path.join(out, "attention_maps", "rolled_out"), os.path.join("attention_maps", "rolled_out")
            return os.path.join(_spatial_layer_folder(inputs), "rolled_out"), os.path.join("attention_maps", "rolled_out")
        return (out or os.path.join(inputs, "attnroll_spatial")), ""
    if layout == "original":
        return (out or inputs), ""
    return (out or os.path.join(inputs, "attnroll_temporal")), ""


def _output_folders(command, root, layout):
    """The folders a run writes into (root first)."""
    folders = [root]
    if command == "temporal" and layout == "original":
        folders += [os.path.join(root, "attention_maps", "rolled_out"), os.path.join(root, "inference", "attention_maps"),
                    os.path.join(root, "inference", "attention_plots")]
    return folders


def _option_words(command, options):
    """Tool options (python keywords) -> (global words, command words)."""
    known = TOOL_OPTIONS[command]
    before, after = [], []
    for key, value in options.items():
        if key in GLOBAL_OPTIONS:
            words = before
        elif key in known:
            words = after
        else:
            raise TypeError(f"attnroll {command}: no option {key!r} (options: "
                            f"{', '.join(sorted(list(known) + list(GLOBAL_OPTIONS)))})")
        flag = "--" + key.replace("_", "-")
        takes_value = known.get(key, GLOBAL_OPTIONS.get(key))
        if not takes_value:
            if value:
                words.append(flag)
            continue
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        words.append(f"{flag}={value}")
    return before, after


def _video_key(video):
    return hashlib.sha1(video.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# ---------------------------------------------------------------------------
# Tasks (run on the workers)
# ---------------------------------------------------------------------------

def _worker_address():
    try:
        from distributed import get_worker
        return get_worker().address
    except Exception:  # not inside a worker
        return None


def _prepare(command, inputs, root, layout, videos, run_id):
    """Lists the videos, records which output folders exist, makes the
    output root and the staging folder."""
    found = list_videos(command, inputs)
    if videos:
        missing = [v for v in videos if v not in found]
        if missing:
            where = (_spatial_layer_folder(inputs) if command == "spatial" else _results_file(inputs))
            raise ListingError(f"--videos: video {missing[0]} has no "
                               f"{'attention files' if command == 'spatial' else 'prediction'} in {where}")
        found = [v for v in found if v in set(videos)]
    existed = {}
    for folder in _output_folders(command, root, layout):
        f = folder
        while f and f not in existed:
            existed[f] = os.path.isdir(f)
            parent = os.path.dirname(f)
            if parent == f:
                break
            f = parent
    staging = os.path.join(root, STAGING_PREFIX + run_id)
    os.makedirs(os.path.join(staging, "attempts"), exist_ok=True)
    os.makedirs(os.path.join(staging, "claims"), exist_ok=True)
    return {"videos": found, "existed": existed, "staging": staging}


def _die_with_parent():
    # The tool dies (SIGTERM: it removes its temporary files) with the worker
    # that started it, so a lost worker leaves no tool running on behind it.
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _find_tool(tool):
    name = tool or os.environ.get("ATTNROLL_TOOL") or "attnroll"
    path = shutil.which(name) if os.sep not in name else (name if os.access(name, os.X_OK) else None)
    if path and os.path.isfile(path):
        return path
    where = _worker_address() or "this machine"
    if os.sep in name:
        raise ToolNotFound(f"{name}: no attnroll tool there (no such executable) on worker {where}")
    hint = ("install it there (cmake --install puts it in bin/) or give its path with tool= "
            "(--tool), or ATTNROLL_TOOL in the worker's environment")
    raise ToolNotFound(f"no attnroll tool on worker {where}: {name!r} is not on its PATH; {hint}")


def _atomic_json(path, value):
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(value, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _move_outputs(pairs, claim, force):
    """Moves (staged, final) files into place, all or nothing.  A final file
    may be replaced only with `force`, or when an earlier attempt of this
    run (its claim file) put it there."""
    ours = set()
    if os.path.exists(claim):
        with open(claim, encoding="utf-8") as fh:
            ours = set(json.load(fh))
    if not force:
        for _staged, final in pairs:
            if final not in ours and os.path.lexists(final):
                return f"{final}: exists; pass --force to replace it"
    _atomic_json(claim, sorted(ours | {final for _s, final in pairs}))
    created = []
    try:
        for staged, final in pairs:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if force or final in ours:
                os.replace(staged, final)
                continue
            try:
                os.link(staged, final)  # fails if final exists: never replaces
                os.unlink(staged)
            except FileExistsError:
                raise FileExistsError(f"{final}: exists; pass --force to replace it") from None
            except OSError:  # no hard links on this file system: check, then rename
                if os.path.lexists(final):
                    raise FileExistsError(f"{final}: exists; pass --force to replace it") from None
                os.rename(staged, final)
            created.append(final)
    except BaseException:
        for final in created:
            try:
                os.unlink(final)
            except OSError:
                pass
        raise
    return None


def _run_video(video, command, inputs, stage_subdir, root, staging, option_words, force, tool):
    """One video: the tool into a staging folder of its own, then its files
    into the output tree.  Returns a dict; raises VideoFailed to be retried."""
    worker = _worker_address()
    key = _video_key(video)
    with open(os.path.join(staging, "attempts", key), "a", encoding="utf-8") as fh:
        fh.write(f"{worker} {os.getpid()} {time.time():.3f}\n")
    if "," in video:
        return {"video": video, "status": "failed", "worker": worker, "returncode": None, "manifest": None,
                "message": f"the video id {video!r} has a comma, which --videos cannot take", "outputs": []}
    exe = _find_tool(tool)
    stage = os.path.join(staging, f"{key}-{uuid.uuid4().hex[:12]}")
    out_dir = os.path.join(stage, stage_subdir) if stage_subdir else stage
    # The manifest's folder exists, so the tool writes its manifest even
    # when the video fails (its reason and inputs are in it).
    os.makedirs(out_dir)
    try:
        before, after = option_words
        argv = [exe] + before + [command, inputs, "-o", stage, f"--videos={video}", "--quiet"] + after
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              preexec_fn=_die_with_parent)
        err = proc.stderr.decode("utf-8", "replace").replace(out_dir, root).replace(stage, root)
        manifest = None
        try:
            with open(os.path.join(out_dir, MANIFEST), encoding="utf-8") as fh:
                manifest = json.load(fh)
        except (OSError, ValueError):
            pass
        entries = manifest.get("videos", []) if manifest else []

        def final_path(p):
            return os.path.join(root, os.path.relpath(p, out_dir))

        errors = [line[len("attnroll: "):] if line.startswith("attnroll: ") else line
                  for line in err.splitlines() if line.strip()]
        if proc.returncode == 2:  # usage: the same on every attempt, not retried
            return {"video": video, "status": "failed", "worker": worker, "returncode": 2, "manifest": None,
                    "message": "; ".join(errors) or "usage error", "outputs": []}
        if proc.returncode != 0:
            reasons = [e.get("reason", "") for e in entries if e.get("status") == "failed"]
            what = "; ".join(r.replace(out_dir, root) for r in reasons if r) or "; ".join(errors)
            if proc.returncode < 0:
                what = f"the tool was killed by signal {-proc.returncode}" + (f" ({what})" if what else "")
            raise VideoFailed(video, what or f"the tool exited with status {proc.returncode}",
                              manifest, proc.returncode, worker)
        staged = [p for e in entries if e.get("status") == "done" for p in e.get("outputs", [])]
        pairs = [(p, final_path(p)) for p in staged]
        conflict = _move_outputs(pairs, os.path.join(staging, "claims", key + ".json"), force)
        if conflict:  # an existing file: the same on every attempt, not retried
            return {"video": video, "status": "failed", "worker": worker, "returncode": proc.returncode,
                    "manifest": None, "message": conflict, "outputs": []}
        for e in entries:
            if "outputs" in e:
                e["outputs"] = [final_path(p) for p in e["outputs"]]
        if manifest is not None:
            manifest["outputs"] = [final_path(p) for p in manifest.get("outputs", [])]
        done = [e for e in entries if e.get("status") == "done"]
        status = "done" if done else "skipped"
        message = "; ".join(e.get("note", "") for e in done) if done else ("; ".join(errors) or "nothing to roll out")
        return {"video": video, "status": status, "worker": worker, "returncode": 0, "manifest": manifest,
                "message": message, "outputs": [f for _s, f in pairs]}
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _finish(command, root, staging, existed, manifest, videos, manifests):
    """Writes the merged manifest, removes the staging folder and the output
    folders the run made and left empty.  Returns the attempts per video."""
    attempts = {}
    for v in videos:
        try:
            with open(os.path.join(staging, "attempts", _video_key(v)), encoding="utf-8") as fh:
                attempts[v] = sum(1 for _ in fh)
        except OSError:
            attempts[v] = 0
    shutil.rmtree(staging, ignore_errors=True)
    inputs, outputs, entries, seen = [], [], [], set()
    for r in manifests:
        m = r.get("manifest")
        if not m or not m.get("videos"):
            if r.get("status") == "failed":  # the tool wrote no manifest (not found, killed, ...)
                entries.append({"video": r["video"], "status": "failed", "reason": r.get("message", "")})
            if not m:
                continue
        # A file read for several videos (results_temporal.json) is listed
        # once, as in a serial run; repeats within one run stay.
        mine = m.get("inputs", [])
        inputs += [item for item in mine if item.get("path") not in seen]
        seen |= {item.get("path") for item in mine}
        outputs += m.get("outputs", [])
        entries += m.get("videos", [])
    first = next((r["manifest"] for r in manifests if r.get("manifest")), {})
    done = any(e.get("status") == "done" for e in entries)
    manifest = dict(manifest, tool=first.get("tool"), library=first.get("library"),
                    inputs=inputs, outputs=outputs, videos=entries)
    if done or existed.get(root):
        os.makedirs(root, exist_ok=True)
        _atomic_json(os.path.join(root, MANIFEST), manifest)
    for folder in sorted((f for f, was in existed.items() if not was), key=len, reverse=True):
        try:
            os.rmdir(folder)  # only when empty
        except OSError:
            pass
    return attempts


# ---------------------------------------------------------------------------
# The client side
# ---------------------------------------------------------------------------

def _future_outcome(future):
    """A finished future -> (dict result, or VideoFailed / other exception)."""
    if future.status == "finished":
        return future.result(), None
    try:
        exc = future.exception()
    except Exception as e:  # cancelled, lost
        exc = e
    return None, exc


def _failure_result(video, exc):
    if isinstance(exc, VideoFailed):
        return {"video": video, "status": "failed", "message": exc.message, "outputs": [],
                "manifest": exc.manifest, "worker": exc.worker, "returncode": exc.returncode}
    name = type(exc).__name__
    text = str(exc) or name
    if name == "KilledWorker":
        text = f"the workers running it were lost too often ({text})"
    elif not isinstance(exc, ToolNotFound):
        text = f"{name}: {text}"
    return {"video": video, "status": "failed", "message": text, "outputs": [], "manifest": None,
            "worker": None, "returncode": None}


def rollout_videos(client, inputs, out=None, command="spatial", retries=2, workers=None, resources=None,
                   tool=None, videos=None, progress=None, **tool_options):
    """Rolls out every video of `inputs` on the Dask cluster of `client`.

    inputs    the tool's DIR (spatial) or RUN_DIR (temporal), at the path the
              workers see it
    out       the tool's -o BASE (None: the tool's default, beside the inputs)
    command   "spatial" or "temporal"
    retries   how many times Dask runs a failed video again
    workers, resources   passed to client.submit for every task (e.g. the
              workers on the nodes that hold the files)
    tool      the attnroll executable on the workers (default: ATTNROLL_TOOL
              in the worker's environment, else attnroll on its PATH)
    videos    only these videos (the tool's --videos)
    progress  called with each VideoResult as its video finishes (and,
              if it has a start method, progress.start(number of videos)
              once they are listed)
    tool_options   the tool's options as keywords: layout="flat",
              query_rows=[0], layers="1:", threads=2, refiner_id=3,
              all_predictions=True, strict=True, force=True, blas_core="keep"

    Returns one VideoResult per video, in the tool's order.  A video's
    failure never stops the others.  Raises ListingError when the inputs hold
    no video (or the tool would refuse them as a whole)."""
    from distributed import as_completed

    if command not in COMMANDS:
        raise ValueError(f"command: {command!r} is not one of {COMMANDS}")
    tool_options.pop("quiet", None)
    if isinstance(videos, str):
        videos = videos.split(",")
    option_words = _option_words(command, tool_options)
    layout = tool_options.get("layout") or "original"
    if layout not in ("original", "flat"):
        raise ValueError(f"layout: {layout!r} is not original or flat")
    inputs = os.fspath(inputs)
    out = os.fspath(out) if out else ""
    root, stage_subdir = _output_root(command, inputs, out, layout)
    run_id = uuid.uuid4().hex[:12]
    where = {"workers": workers, "resources": resources}

    prep = client.submit(_prepare, command, inputs, root, layout, list(videos or []), run_id, key=f"attnroll-list-{run_id}",
                         pure=False, **where)
    try:
        plan = prep.result()
    finally:
        prep.release()
    staging = plan["staging"]
    if progress is not None and hasattr(progress, "start"):
        progress.start(len(plan["videos"]))
    futures = {}
    for v in plan["videos"]:
        f = client.submit(_run_video, v, command, inputs, stage_subdir, root, staging, option_words,
                          bool(tool_options.get("force")), tool, key=f"attnroll-{command}-{_video_key(v)}-{run_id}",
                          retries=retries, pure=False, **where)
        futures[f] = v
    raw = {}
    try:
        for f in as_completed(list(futures)):
            value, exc = _future_outcome(f)
            r = value if exc is None else _failure_result(futures[f], exc)
            raw[futures[f]] = r
            if progress:
                progress(VideoResult(**r))
            f.release()
    finally:
        for f in futures:
            if f.status == "pending":
                f.cancel()
    order = plan["videos"]
    serial = [tool or "attnroll"] + option_words[0] + [command, inputs] + (["-o", out] if out else []) + \
        (["--videos=" + ",".join(videos)] if videos else []) + option_words[1]
    manifest = {
        "command": command,
        "command_line": serial,
        "options": dict(tool_options, out=out, layout=layout, videos=list(videos or [])),
        "distributed": {"scheduler": getattr(client, "scheduler_info", lambda: {})().get("address"),
                        "retries": retries, "tasks": len(order)},
    }
    fin = client.submit(_finish, command, root, staging, plan["existed"], manifest, order,
                        [{k: raw[v].get(k) for k in ("video", "status", "message", "manifest")} for v in order if v in raw],
                        key=f"attnroll-finish-{run_id}",
                        pure=False, **where)
    try:
        attempts = fin.result()
    finally:
        fin.release()
    results = []
    for v in order:
        r = raw.get(v) or {"video": v, "status": "failed", "message": "not run", "outputs": []}
        results.append(VideoResult(**dict(r, attempts=attempts.get(v, 0))))
    return results


# ---------------------------------------------------------------------------
# python -m attnroll.distributed
# ---------------------------------------------------------------------------

class _Bar:
    """A text bar over the videos on stderr, when it is a terminal; failures
    are printed as they come."""

    def __init__(self, quiet=False, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.done, self.failed = 0, 0, 0
        self.on = not quiet and self.stream.isatty()
        self.started = time.monotonic()

    def start(self, total):
        self.total = total
        self.draw()

    def __call__(self, result):
        self.done += 1
        if result.status == "failed":
            self.failed += 1
            self.clear()
            print(f"video {result.video}: FAILED: {result.message}", file=self.stream, flush=True)
        self.draw()

    def draw(self):
        if not self.on or not self.total:
            return
        width = 30
        filled = width * self.done // self.total
        self.stream.write(f"\r\033[Kvideos [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                          f"{f', {self.failed} failed' if self.failed else ''}  "
                          f"{time.monotonic() - self.started:.0f} s")
        self.stream.flush()

    def clear(self):
        if self.on and self.total:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("cluster")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); default: a local cluster on 127.0.0.1")
    g.add_argument("--local-workers", type=int, metavar="N",
                   help="workers of the local cluster (default: one per core)")
    g.add_argument("--retries", type=int, default=2, metavar="N",
                   help="times a failed video is run again (default 2)")
    g.add_argument("--tool", metavar="PATH",
                   help="the attnroll executable on the workers (default: ATTNROLL_TOOL, else attnroll on their PATH)")
    g.add_argument("--blas-core", metavar="auto|keep|NAME", help="the tool's --blas-core")
    t = common.add_argument_group("the tool's options (attnroll COMMAND --help)")
    t.add_argument("-o", "--out", metavar="BASE")
    t.add_argument("--layout", choices=["original", "flat"])
    t.add_argument("--videos", metavar="V[,V...]")
    t.add_argument("--strict", action="store_true")
    t.add_argument("--force", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    p = argparse.ArgumentParser(
        prog="python3 -m attnroll.distributed",
        description="Runs `attnroll spatial` or `attnroll temporal` on a Dask cluster, one task per video; "
                    "writes the same output tree as the tool.  Exit status 0 when every video succeeds, 1 otherwise.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("spatial", parents=[common], help="attnroll spatial DIR on the cluster")
    s.add_argument("inputs", metavar="DIR")
    s.add_argument("--grid", metavar="RxC")
    s.add_argument("--query-rows", metavar="R[,R...]")
    s.add_argument("--layers", metavar="N|A:B")
    s.add_argument("--threads", type=int, metavar="N",
                   help="the tool's threads per video (default: cores / workers on a local cluster)")
    tp = sub.add_parser("temporal", parents=[common], help="attnroll temporal RUN_DIR on the cluster")
    tp.add_argument("inputs", metavar="RUN_DIR")
    tp.add_argument("--refiner-id", type=int, metavar="R")
    tp.add_argument("--all-predictions", action="store_true")
    return p


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("attnroll.distributed: needs Dask's distributed package (Debian: apt-get install python3-distributed)",
              file=sys.stderr)
        return 1
    opts = {"layout": args.layout, "strict": args.strict, "force": args.force, "blas_core": args.blas_core}
    if args.command == "spatial":
        opts.update(grid=args.grid, query_rows=args.query_rows, layers=args.layers, threads=args.threads)
    else:
        opts.update(refiner_id=args.refiner_id, all_predictions=args.all_predictions)
    opts = {k: v for k, v in opts.items() if v not in (None, False)}
    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        n = args.local_workers or _cores()
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               # dashboard_address=None still serves HTTP on every interface
                               dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0")
        client = Client(cluster)
        if args.command == "spatial" and "threads" not in opts:
            opts["threads"] = max(1, _cores() // n)
    try:
        nworkers = len(client.scheduler_info().get("workers", {}))
        bar = _Bar(quiet=args.quiet)
        started = time.monotonic()
        try:
            results = rollout_videos(client, args.inputs, args.out, command=args.command, retries=args.retries,
                                     tool=args.tool, videos=args.videos, progress=bar, **opts)
        except ListingError as e:
            print(f"attnroll.distributed: {e}", file=sys.stderr)
            return 1
        finally:
            bar.clear()
        secs = time.monotonic() - started
        done = [r for r in results if r.status == "done"]
        skipped = [r for r in results if r.status == "skipped"]
        failed = [r for r in results if r.status == "failed"]
        for r in done:
            print(f"video {r.video}: done ({r.message}){'' if r.attempts <= 1 else f', {r.attempts} attempts'}")
        for r in skipped:
            print(f"video {r.video}: skipped: {r.message}")
        for r in failed:
            print(f"video {r.video}: FAILED after {r.attempts} attempt{'s' if r.attempts != 1 else ''}: {r.message}")
        where = args.scheduler or f"a local cluster of {nworkers} worker{'s' if nworkers != 1 else ''}"
        print(f"attnroll {args.command} on {where}: {len(done)} video{'s' if len(done) != 1 else ''} done, "
              f"{len(skipped)} skipped, {len(failed)} failed in {secs:.1f} s")
        return 1 if failed else 0
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    # Run the functions of the importable module (attnroll.distributed), so
    # the tasks pickle by reference rather than as __main__'s.
    from attnroll.distributed import main as _main
    sys.exit(_main())
