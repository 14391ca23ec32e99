"""attnroll.distributed on a local Dask cluster (2 worker processes on
127.0.0.1): the same output tree as the tool run serially, per-video
failures with the tool's message, Dask's retries, a worker killed mid-run,
no tool on the workers, and `python -m attnroll.distributed`.

Needs the built tool: ATTNROLL_CLI (ctest sets it).  Skipped only when
Dask's distributed package cannot be imported."""

import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest

distributed = pytest.importorskip(
    "distributed", reason="Dask's distributed package is not importable (Debian: python3-distributed)")

from attnroll import distributed as ad  # noqa: E402

TOOL = os.environ.get("ATTNROLL_CLI")
PKG = os.path.dirname(os.path.dirname(os.path.abspath(ad.__file__)))


@pytest.fixture(scope="module")
def tool():
    if not TOOL or not os.access(TOOL, os.X_OK):
        pytest.fail("ATTNROLL_CLI must name the built attnroll tool (e.g. build/tools/attnroll/attnroll)",
                    pytrace=False)
    return os.path.abspath(TOOL)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       # dashboard_address=None still serves HTTP on every interface
                                       dashboard_address="127.0.0.1:0",
                                       worker_dashboard_address="127.0.0.1:0", silence_logs=50)
    c = distributed.Client(cluster)
    c.wait_for_workers(2, timeout=60)
    yield c
    c.close()
    cluster.close()


def listening_addresses(pids):
    """(address, port) of every listening TCP socket the processes own, from
    /proc (no psutil): the sockets' inodes, matched in /proc/net/tcp{,6}."""
    inodes = set()
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                    continue
                address, port = fields[1].split(":")
                found.append((address, int(port, 16)))
    return found


def test_cluster_listens_on_loopback_only(client):
    """Scheduler, workers, nannies and their dashboards: nothing listens on
    another interface (LocalCluster's dashboard_address=None alone would)."""
    pids = {os.getpid()} | set(client.run(os.getpid).values())
    pids |= {int(open(f"/proc/{p}/stat").read().split()[3]) for p in set(pids) - {os.getpid()}}  # the nannies
    addresses = listening_addresses(pids)
    assert addresses, "found no listening socket at all: the check itself is broken"
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 (as /proc writes them)
    others = [(a, p) for a, p in addresses if a not in loopback]
    assert not others, f"listening beyond loopback: {others}"


# ---------------------------------------------------------------------------
# Dumps in the users' layouts
# ---------------------------------------------------------------------------

def softmax(rng, shape, dtype=np.float32):
    x = rng.standard_normal(shape) / 0.3
    x = np.exp(x - x.max(axis=-1, keepdims=True))
    return (x / x.sum(axis=-1, keepdims=True)).astype(dtype)


def write_spatial(folder, rng, vid, windows, layers=3, heads=2, tokens=17, naming="new", fmt="savez",
                  dtype=np.float32, collapsed=False):
    os.makedirs(folder, exist_ok=True)
    for a, b in windows:
        for l in range(layers):
            mid = f"backbone_vit_layer_{l}_attn" if naming == "new" else f"layer_backbone_vit_module_blocks_{l}_attn"
            mid += "_collapsed" if collapsed else ""
            shape = (b - a + 1, tokens, tokens) if collapsed else (b - a + 1, heads, tokens, tokens)
            arr = softmax(rng, shape, dtype)
            stem = os.path.join(folder, f"video_{vid}_frames{a}-{b}_{mid}")
            if fmt == "npy":
                np.save(stem + ".npy", arr)
            elif fmt == "deflated":
                np.savez_compressed(stem + ".npz", attention_weights=arr)
            else:
                np.savez(stem + ".npz", attention_weights=arr)


def spatial_dump(root, rng, extra=()):
    """Seven small videos: windows, both namings, deflated, .npy, float16, collapsed."""
    maps = os.path.join(root, "attention_maps")
    write_spatial(maps, rng, "a", [(0, 1), (2, 4)])
    write_spatial(maps, rng, "b", [(0, 2)], naming="old")
    write_spatial(maps, rng, "c", [(0, 1)], fmt="deflated", dtype=np.float16)
    write_spatial(maps, rng, "d", [(0, 1), (5, 6)], fmt="npy")
    write_spatial(maps, rng, "e", [(0, 3)], collapsed=True, layers=4)
    write_spatial(maps, rng, "10", [(0, 1)], tokens=10)
    write_spatial(maps, rng, "x_frames0-1", [(4, 5)])  # the tool's greedy video id
    for vid in extra:
        write_spatial(maps, rng, vid, [(0, 1)])
    with open(os.path.join(maps, "notes.txt"), "w") as fh:
        fh.write("not a layer file\n")
    return root


def temporal_dump(root, rng, videos=6):
    maps = os.path.join(root, "inference", "attention_maps")
    os.makedirs(maps)
    os.makedirs(os.path.join(root, "attention_maps"))
    preds = []
    name = "refiner.transformer_time_self_attention_layers.{}".format
    for v in range(1, videos + 1):
        t, layers = 6 + v, 2 + v % 3
        if v % 2:  # one file per video, with a meta list
            arrays = {f"k{l}": softmax(rng, (3, t, t), np.float64) for l in range(layers)}
            np.savez(os.path.join(maps, f"video_{v}_temporal_refiner_attn.npz"), **arrays)
            with open(os.path.join(maps, f"video_{v}_temporal_refiner_attn.meta.json"), "w") as fh:
                json.dump([{"layer": name(l), "key": f"k{l}"} for l in range(layers)], fh)
        else:  # one file per layer
            for l in range(layers):
                stem = os.path.join(root, "attention_maps", f"video_{v}_frames0-{t - 1}_refiner_temporal_layer_{l}_attn")
                np.savez(stem + ".npz", attention_weights=softmax(rng, (3, t, t), np.float32))
                with open(stem + ".meta.json", "w") as fh:
                    json.dump({"layer": name(l)}, fh)
        preds += [{"video_id": v if v % 3 else str(v), "score": 0.5 + 0.01 * v, "refiner_id": v % 3},
                  {"video_id": v, "score": 0.1, "refiner_id": 0}]
    preds.append({"video_id": 99, "score": 0.9})  # no refiner_id: skipped with a warning
    preds.append({"score": 0.3})                  # no video_id: ignored
    with open(os.path.join(root, "inference", "results_temporal.json"), "w") as fh:
        json.dump(preds, fh)
    return root


# ---------------------------------------------------------------------------
# Comparing output trees
# ---------------------------------------------------------------------------

def files_under(root):
    found = set()
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            found.add(os.path.relpath(os.path.join(dirpath, f), root))
    return found


def folders_under(root):
    return {os.path.relpath(d, root) for d, _dirs, _files in os.walk(root)}


def assert_same_tree(serial, dask_out, manifest):
    """Same files; npz: same keys, dtypes, shapes and bits; everything else
    byte for byte, except the run manifests (compared by their content)."""
    a, b = files_under(serial), files_under(dask_out)
    assert a == b, f"only serial: {sorted(a - b)}; only distributed: {sorted(b - a)}"
    assert folders_under(serial) == folders_under(dask_out)
    assert manifest in a
    for rel in sorted(a):
        pa, pb = os.path.join(serial, rel), os.path.join(dask_out, rel)
        if rel.endswith(".npz"):
            with np.load(pa) as za, np.load(pb) as zb:
                assert sorted(za.files) == sorted(zb.files), rel
                for k in za.files:
                    x, y = za[k], zb[k]
                    assert x.dtype == y.dtype and x.shape == y.shape, rel
                    assert x.tobytes() == y.tobytes(), f"{rel}:{k} differs"
        elif os.path.basename(rel) == ad.MANIFEST:
            with open(pa) as fa, open(pb) as fb:
                ma, mb = json.load(fa), json.load(fb)
            strip = lambda paths, base: sorted(os.path.relpath(p, base) for p in paths)  # noqa: E731
            assert strip(ma["outputs"], serial) == strip(mb["outputs"], dask_out)
            assert [(v["video"], v["status"]) for v in ma["videos"]] == [(v["video"], v["status"]) for v in mb["videos"]]
            names = lambda m: sorted(os.path.basename(i["path"]) for i in m["inputs"])  # noqa: E731
            assert names(ma) == names(mb)
            assert ma["tool"] == mb["tool"] and ma["command"] == mb["command"]
        else:
            with open(pa, "rb") as fa, open(pb, "rb") as fb:
                assert fa.read() == fb.read(), f"{rel} differs"


def run_tool(tool, *args):
    p = subprocess.run([tool] + [str(a) for a in args] + ["--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=120)
    return p


def wrapper(path, tool, log, body=""):
    """A stand-in tool: logs each call's --videos, runs `body` (sh), then the tool."""
    with open(path, "w") as fh:
        fh.write(f"""#!/bin/sh
video=""
for a in "$@"; do case $a in --videos=*) video=${{a#--videos=}};; esac; done
echo "$video" >> '{log}'
{body}
exec '{tool}' "$@"
""")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def calls(log):
    with open(log) as fh:
        lines = fh.read().split()
    return {v: lines.count(v) for v in set(lines)}


# ---------------------------------------------------------------------------
# The videos the tool would see
# ---------------------------------------------------------------------------

def test_list_videos_spatial(tmp_path):
    maps = tmp_path / "attention_maps"
    maps.mkdir()
    names = ["video_a_frames0-3_backbone_vit_layer_0_attn.npz",
             "video_b_frames0-3_layer_backbone_vit_module_blocks_2_attn.npy",
             "video_c_frames10-12_backbone_vit_layer_1_attn_collapsed.npz",
             "video_d_e_frames0-1_frames2-3_backbone_vit_layer_0_attn.npz",  # video "d_e_frames0-1"
             "video_B_frames0-3_backbone_vit_layer_0_attn.npz",
             # not layer files
             "video_f_frames0-3_backbone_vit_layer_0_attn.npz.tmp",
             "video_g_frames0-3_backbone_vit_layer_x_attn.npz",
             "video_h_frames0-3_refiner_temporal_layer_0_attn.npz",
             "video_i_frames\u0663-4_backbone_vit_layer_0_attn.npz",  # not ASCII digits
             "video_\n_frames0-1_backbone_vit_layer_0_attn.npz",
             "video__frames0-1_backbone_vit_layer_0_attn.npz"]
    for n in names:
        (maps / n).write_bytes(b"")
    (maps / "video_z_frames0-1_backbone_vit_layer_0_attn.npz").mkdir()  # a folder, not a file
    assert ad.list_videos("spatial", str(tmp_path)) == ["B", "a", "b", "c", "d_e_frames0-1"]
    # DIR holding the layer files itself
    assert ad.list_videos("spatial", str(maps)) == ["B", "a", "b", "c", "d_e_frames0-1"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ad.ListingError, match="no attention files"):
        ad.list_videos("spatial", str(empty))
    with pytest.raises(ad.ListingError, match="is not a directory"):
        ad.list_videos("spatial", str(tmp_path / "missing"))


def test_list_videos_temporal(tmp_path):
    (tmp_path / "inference").mkdir()
    results = tmp_path / "inference" / "results_temporal.json"
    results.write_text(json.dumps([{"video_id": 7, "score": 1}, {"score": 2}, {"video_id": "abc", "score": 1},
                                   {"video_id": "7", "score": 3}, {"video_id": 2, "score": 0}]))
    assert ad.list_videos("temporal", str(tmp_path)) == ["7", "abc", "2"]
    for bad, match in [([{"video_id": True}], "string or an integer"), ([{"video_id": 1.5}], "string or an integer"),
                       ({"video_id": 1}, "JSON list"), ([3], "not a JSON object")]:
        results.write_text(json.dumps(bad))
        with pytest.raises(ad.ListingError, match=match):
            ad.list_videos("temporal", str(tmp_path))
    results.write_text("[{")
    with pytest.raises(ad.ListingError, match="not valid JSON"):
        ad.list_videos("temporal", str(tmp_path))


def test_unknown_option_is_refused(client, tmp_path):
    with pytest.raises(TypeError, match="no option 'refiner_id'"):
        ad.rollout_videos(client, str(tmp_path), command="spatial", refiner_id=2)


# ---------------------------------------------------------------------------
# Against the tool run serially
# ---------------------------------------------------------------------------

def test_spatial_matches_serial_run(client, tool, tmp_path):
    dump = spatial_dump(str(tmp_path / "in"), np.random.default_rng(1))
    serial, dask_out = tmp_path / "serial", tmp_path / "dask"
    p = run_tool(tool, "spatial", dump, "-o", serial)
    assert p.returncode == 0, p.stderr
    seen = []
    results = ad.rollout_videos(client, dump, str(dask_out), command="spatial", tool=tool, progress=seen.append)
    assert [r.video for r in results] == ["10", "a", "b", "c", "d", "e", "x_frames0-1"]
    assert all(r.status == "done" and r.attempts == 1 for r in results), results
    assert sorted(r.video for r in seen) == sorted(r.video for r in results)
    assert "2 windows, 3 layers used of 3" == results[1].message
    assert all(os.path.isfile(f) and f.startswith(str(dask_out)) for r in results for f in r.outputs)
    assert_same_tree(str(serial), str(dask_out), "attention_maps/rolled_out/attnroll_run.json")
    with open(dask_out / "attention_maps" / "rolled_out" / "attnroll_run.json") as fh:
        m = json.load(fh)
    assert m["distributed"]["tasks"] == 7 and m["command"] == "spatial"


def test_spatial_default_output_and_options(client, tool, tmp_path):
    """DIR holding the layer files (outputs in DIR/rolled_out), --layers 1:, --query-rows 0."""
    rng = np.random.default_rng(2)
    serial_in, dask_in = tmp_path / "serial", tmp_path / "dask"
    for v in "pqrstu":
        write_spatial(str(serial_in), rng, v, [(0, 1), (3, 3)])
    shutil.copytree(serial_in, dask_in)
    p = run_tool(tool, "spatial", serial_in, "--layers", "1:", "--query-rows", "0")
    assert p.returncode == 0, p.stderr
    results = ad.rollout_videos(client, str(dask_in), command="spatial", tool=tool, layers="1:", query_rows=[0])
    assert [r.status for r in results] == ["done"] * 6
    assert_same_tree(str(serial_in), str(dask_in), "rolled_out/attnroll_run.json")


def test_temporal_matches_serial_run(client, tool, tmp_path):
    serial = temporal_dump(str(tmp_path / "serial"), np.random.default_rng(3))
    dask_in = str(tmp_path / "dask")
    shutil.copytree(serial, dask_in)
    p = run_tool(tool, "temporal", serial)  # writes into the run folder, as the scripts do
    assert p.returncode == 0, p.stderr
    results = ad.rollout_videos(client, dask_in, command="temporal", tool=tool)
    assert [r.video for r in results] == ["1", "2", "3", "4", "5", "6", "99"]
    assert [r.status for r in results] == ["done"] * 6 + ["skipped"]
    assert "no refiner_id" in results[-1].message
    assert_same_tree(serial, dask_in, "attnroll_run.json")


def test_temporal_flat_all_predictions(client, tool, tmp_path):
    dump = temporal_dump(str(tmp_path / "in"), np.random.default_rng(4))
    p = run_tool(tool, "temporal", dump, "--layout", "flat", "--all-predictions", "-o", tmp_path / "serial")
    assert p.returncode == 0, p.stderr
    results = ad.rollout_videos(client, dump, str(tmp_path / "dask"), command="temporal", tool=tool,
                                layout="flat", all_predictions=True)
    assert [r.status for r in results] == ["done"] * 6 + ["skipped"]
    # videos with two refiner ids roll out both
    assert sum(v["status"] == "done" for r in results for v in r.manifest["videos"]) == 10
    assert_same_tree(str(tmp_path / "serial"), str(tmp_path / "dask"), "attnroll_run.json")


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------

def test_corrupt_video_fails_alone_after_retries(client, tool, tmp_path):
    dump = spatial_dump(str(tmp_path / "in"), np.random.default_rng(5), extra=["bad"])
    bad = os.path.join(dump, "attention_maps", "video_bad_frames0-1_backbone_vit_layer_1_attn.npz")
    with open(bad, "r+b") as fh:
        fh.truncate(200)
    log = str(tmp_path / "calls.log")
    stand_in = wrapper(str(tmp_path / "attnroll"), tool, log)
    results = {r.video: r for r in ad.rollout_videos(client, dump, str(tmp_path / "out"), command="spatial",
                                                     tool=stand_in, retries=2)}
    r = results.pop("bad")
    assert r.status == "failed" and not r.ok and r.outputs == []
    assert "video_bad_frames0-1_backbone_vit_layer_1_attn.npz" in r.message, r.message
    assert r.attempts == 3 and calls(log)["bad"] == 3  # the first run and 2 retries
    assert all(x.status == "done" and x.attempts == 1 for x in results.values())
    assert all(calls(log)[v] == 1 for v in results)
    out = tmp_path / "out" / "attention_maps" / "rolled_out"
    assert not [f for f in files_under(str(out)) if "video_bad" in f or f.startswith(".")]
    assert not [d for d in os.listdir(out) if d.startswith(ad.STAGING_PREFIX)]
    with open(out / "attnroll_run.json") as fh:
        m = json.load(fh)
    assert [v["status"] for v in m["videos"] if v["video"] == "bad"] == ["failed"]


def test_a_retry_that_succeeds(client, tool, tmp_path):
    dump = spatial_dump(str(tmp_path / "in"), np.random.default_rng(6))
    log, flag = str(tmp_path / "calls.log"), str(tmp_path / "failed-once")
    stand_in = wrapper(str(tmp_path / "attnroll"), tool, log,
                       f'if [ "$video" = c ] && [ ! -e {flag} ]; then touch {flag}; '
                       f'echo "attnroll: flaky storage" >&2; exit 1; fi')
    p = run_tool(tool, "spatial", dump, "-o", tmp_path / "serial")
    assert p.returncode == 0
    results = {r.video: r for r in ad.rollout_videos(client, dump, str(tmp_path / "dask"), command="spatial",
                                                     tool=stand_in, retries=1)}
    assert results["c"].status == "done" and results["c"].attempts == 2 and calls(log)["c"] == 2
    assert_same_tree(str(tmp_path / "serial"), str(tmp_path / "dask"), "attention_maps/rolled_out/attnroll_run.json")


def test_existing_outputs_need_force(client, tool, tmp_path):
    rng = np.random.default_rng(7)
    for v in "abc":
        write_spatial(str(tmp_path / "in"), rng, v, [(0, 1)])
    first = ad.rollout_videos(client, str(tmp_path / "in"), command="spatial", tool=tool)
    assert all(r.status == "done" for r in first)
    again = ad.rollout_videos(client, str(tmp_path / "in"), command="spatial", tool=tool, retries=3)
    assert all(r.status == "failed" and "exists; pass --force" in r.message and r.attempts == 1 for r in again)
    forced = ad.rollout_videos(client, str(tmp_path / "in"), command="spatial", tool=tool, force=True)
    assert all(r.status == "done" for r in forced)


def test_no_tool_on_the_workers(client, tmp_path):
    rng = np.random.default_rng(8)
    for v in "ab":
        write_spatial(str(tmp_path / "in"), rng, v, [(0, 1)])
    for missing in ("attnroll-not-installed-anywhere", str(tmp_path / "nowhere" / "attnroll")):
        results = ad.rollout_videos(client, str(tmp_path / "in"), command="spatial", tool=missing, retries=0)
        for r in results:
            assert r.status == "failed"
            assert "no attnroll tool" in r.message and missing in r.message and "worker" in r.message, r.message
    assert not os.path.exists(tmp_path / "in" / "rolled_out")  # a run that wrote nothing makes no folder


def test_usage_errors_are_not_retried(client, tool, tmp_path):
    rng = np.random.default_rng(9)
    write_spatial(str(tmp_path / "in"), rng, "a", [(0, 1)])
    (r,) = ad.rollout_videos(client, str(tmp_path / "in"), command="spatial", tool=tool, grid="3x3", retries=2)
    assert r.status == "failed" and "--grid" in r.message and r.attempts == 1


# ---------------------------------------------------------------------------
# python -m attnroll.distributed
# ---------------------------------------------------------------------------

def run_module(*args):
    env = dict(os.environ, PYTHONPATH=PKG + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "attnroll.distributed"] + [str(a) for a in args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120)


def test_module_command_line(client, tool, tmp_path):
    dump = spatial_dump(str(tmp_path / "in"), np.random.default_rng(10), extra=["bad"])
    os.truncate(os.path.join(dump, "attention_maps", "video_bad_frames0-1_backbone_vit_layer_2_attn.npz"), 100)
    address = client.scheduler.address
    p = run_module("spatial", dump, "-o", tmp_path / "out", "--scheduler", address, "--tool", tool,
                   "--retries", "0", "--layers", "1:")
    out = p.stdout.decode()
    assert p.returncode == 1, out + p.stderr.decode()
    assert "video a: done (2 windows, 2 layers used of 3)" in out
    assert "video bad: FAILED after 1 attempt: " in out
    assert out.strip().splitlines()[-1].startswith(f"attnroll spatial on {address}: 7 videos done, 0 skipped, 1 failed")
    p = run_module("spatial", dump, "-o", tmp_path / "out2", "--scheduler", address, "--tool", tool,
                   "--videos", "a,b")
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    written = os.listdir(tmp_path / "out2" / "attention_maps" / "rolled_out")
    assert {f.split("_")[1] for f in written if f.startswith("video_")} == {"a", "b"}
    assert "2 videos done" in p.stdout.decode()
    p = run_module("spatial", str(tmp_path / "nothing"), "--scheduler", address, "--tool", tool)
    assert p.returncode == 1 and "is not a directory" in p.stderr.decode()
    p = run_module("spatial", "--help")
    assert p.returncode == 0 and "--scheduler" in p.stdout.decode() and "--retries" in p.stdout.decode()


# ---------------------------------------------------------------------------
# A worker killed mid-run (last: the nanny brings it back for later tests)
# ---------------------------------------------------------------------------

def test_worker_killed_mid_run(client, tool, tmp_path):
    dump = spatial_dump(str(tmp_path / "in"), np.random.default_rng(11))
    p = run_tool(tool, "spatial", dump, "-o", tmp_path / "serial")
    assert p.returncode == 0
    log, flag = str(tmp_path / "calls.log"), str(tmp_path / "killed-once")
    # The first run for video b kills the worker process that started it.
    stand_in = wrapper(str(tmp_path / "attnroll"), tool, log,
                       f'if [ "$video" = b ] && [ ! -e {flag} ]; then touch {flag}; kill -9 $PPID; sleep 30; fi')
    results = {r.video: r for r in ad.rollout_videos(client, dump, str(tmp_path / "dask"), command="spatial",
                                                     tool=stand_in, retries=0)}
    assert os.path.exists(flag)
    assert all(r.status == "done" for r in results.values()), results
    assert results["b"].attempts == 2 and calls(log)["b"] == 2
    assert_same_tree(str(tmp_path / "serial"), str(tmp_path / "dask"), "attention_maps/rolled_out/attnroll_run.json")
    client.wait_for_workers(2, timeout=60)
