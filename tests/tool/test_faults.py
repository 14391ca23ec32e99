"""The tool under faults: interrupted (SIGINT, SIGTERM), killed outright
(SIGKILL), run twice into the same folder at once, out of disk space, and a
layer file truncated, rewritten, replaced or removed while it is read.

To interrupt a run at a known point, the tool runs with tests/hold_renames.c
preloaded (its path in ATTNROLL_HOLD_RENAMES, set by ctest): every rename
waits, so the run pauses with its first outputs written to temporary files
and none in place yet.
"""
import os
import signal
import subprocess
import time

import pytest

from conftest import all_files, tool_path, write_spatial_group

needs_map_shim = pytest.mark.skipif(not os.environ.get("ATTNROLL_HOLD_MAPS"),
                                    reason="ATTNROLL_HOLD_MAPS (the test build's libattnroll_hold_maps.so) is not set")
needs_shim = pytest.mark.skipif(not os.environ.get("ATTNROLL_HOLD_RENAMES"),
                                reason="ATTNROLL_HOLD_RENAMES (the test build's libattnroll_hold_renames.so) is not set")


def make_dump(root, rng, videos=("1",)):
    maps = root / "attention_maps"
    maps.mkdir(parents=True)
    for v in videos:
        write_spatial_group(str(maps), rng, v, 0, 1, num_layers=3, heads=2, tokens=17)
    return root


class PausedRun:
    """The tool with every rename held back for `hold` seconds."""

    def __init__(self, args, hold=60):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", ATTNROLL_TEST_HOLD_RENAMES=str(hold),
                   LD_PRELOAD=(os.environ.get("LD_PRELOAD", "") + " " + os.environ["ATTNROLL_HOLD_RENAMES"]).strip(),
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        self.proc = subprocess.Popen([tool_path()] + [str(a) for a in args], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.tool = self.proc.pid

    def wait_for_temp(self, root):
        deadline = time.time() + 60
        while time.time() < deadline:
            if any(".tmp-" in f for f in all_files(root)):
                return
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.01)
        raise AssertionError("no temporary file appeared")

    def finish(self):
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, out, err


def run(args):
    p = subprocess.run([tool_path()] + [str(a) for a in args], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


@needs_shim
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_nothing_and_says_so(tmp_path, rng, sig):
    dump = make_dump(tmp_path / "run", rng)
    out = tmp_path / "out"
    paused = PausedRun(["spatial", dump, "-o", out])
    paused.wait_for_temp(out)
    os.kill(paused.tool, sig)
    rc, _, err = paused.finish()
    assert rc == 128 + sig, err  # the status a shell shows for a signal
    assert f"interrupted by {signal.Signals(sig).name}" in err
    assert all_files(out) == set(), all_files(out)  # no temporary, no half-written video
    # the folders the run created are gone too (they were empty)
    assert not (out / "attention_maps" / "rolled_out").exists()


@needs_shim
def test_killed_runs_temporaries_are_removed_by_the_next_run(tmp_path, rng):
    dump = make_dump(tmp_path / "run", rng)
    out = tmp_path / "out"
    paused = PausedRun(["spatial", dump, "-o", out])
    paused.wait_for_temp(out)
    os.kill(paused.tool, signal.SIGKILL)
    assert paused.finish()[0] == -signal.SIGKILL
    stale = {f for f in all_files(out) if ".tmp-" in f}
    assert stale, "SIGKILL cannot clean up: its temporaries must still be there"
    rc, _, err = run(["spatial", dump, "-o", out, "--quiet"])
    assert rc == 0, err
    assert "temporary file" in err and "interrupted run" in err, err
    assert not any(".tmp-" in f for f in all_files(out)), all_files(out)
    assert "attention_maps/rolled_out/video_1_backbone_vit_rolled_out.npz" in all_files(out)


@needs_shim
def test_a_second_run_into_the_same_folder_refuses_while_the_first_writes(tmp_path, rng):
    dump = make_dump(tmp_path / "run", rng, videos=("1", "2"))
    out = tmp_path / "out"
    paused = PausedRun(["spatial", dump, "-o", out, "--videos", "1"])
    paused.wait_for_temp(out)
    try:
        # the whole folder, and the same video: refused, naming the other run
        for extra in ([], ["--videos", "1,2"]):
            rc, _, err = run(["spatial", dump, "-o", out, *extra])
            assert rc == 1, err
            assert f"another attnroll spatial run (pid {paused.tool})" in err and str(out) in err, err
        # another video of the same folder may go on beside it (as a cluster's tasks do)
        rc, _, err = run(["spatial", dump, "-o", out, "--videos", "2", "--quiet"])
        assert rc == 0, err
    finally:
        os.kill(paused.tool, signal.SIGTERM)
        paused.finish()
    # the lock went with the process: the whole folder can be written now
    rc, _, err = run(["spatial", dump, "-o", out, "--videos", "1", "--quiet"])
    assert rc == 0, err


def test_disk_full_fails_cleanly(tmp_path, rng):
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    dump = make_dump(tmp_path / "run", rng)
    full = tmp_path / "full"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(full)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        rc, _, err = run(["spatial", dump, "-o", full / "out"])
        assert rc == 1, err
        assert "No space left on device" in err and str(full / "out") in err, err
        assert all_files(full) == set(), all_files(full)
        assert not (full / "out" / "attention_maps").exists()
    finally:
        subprocess.run(["umount", str(full)], check=True)


def change_truncate(path):
    os.truncate(path, 10)


def change_rewrite(path):
    """Same size, other bytes: only the modification time tells."""
    with open(path, "r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\x00" * 8)


def change_replace(path):
    data = path.read_bytes()
    other = path.with_name(path.name + ".new")
    other.write_bytes(data)
    os.replace(other, path)


def change_remove(path):
    os.unlink(path)


@needs_map_shim
@pytest.mark.parametrize("fmt", ["npy", "savez"])
@pytest.mark.parametrize("change,says", [(change_truncate, "changed while it was being read (the file shrank)"),
                                         (change_rewrite, "changed while it was being read (written to)"),
                                         (change_replace, "replaced by another file while it was being read"),
                                         (change_remove, "removed while it was being read")])
def test_a_layer_file_changed_while_read_fails_its_video_naming_it(tmp_path, rng, fmt, change, says):
    """The run is held just after the tool maps layer 1 (tests/hold_maps.c);
    the file is then changed under it.  The video fails with an error naming
    the file; nothing is written for it and no temporary file is left."""
    maps = tmp_path / "run" / "attention_maps"
    maps.mkdir(parents=True)
    write_spatial_group(str(maps), rng, "1", 0, 1, num_layers=3, heads=2, tokens=37, fmt=fmt)
    layer = next(p for p in maps.iterdir() if "layer_1_" in p.name)
    marker = tmp_path / "held"
    out = tmp_path / "out"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", ATTNROLL_TEST_HOLD_MAP=layer.name,
               ATTNROLL_TEST_HOLD_MARKER=str(marker),
               LD_PRELOAD=(os.environ.get("LD_PRELOAD", "") + " " + os.environ["ATTNROLL_HOLD_MAPS"]).strip(),
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    proc = subprocess.Popen([tool_path(), "spatial", str(tmp_path / "run"), "-o", str(out), "--threads", "1",
                             "--quiet"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the tool never mapped " + layer.name
        time.sleep(0.01)
    change(layer)
    marker.unlink()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert str(layer) in err and says in err, err
    written = {f for f in all_files(out) if not f.endswith("attnroll_run.json")} if out.exists() else set()
    assert written == set(), written
    assert not any(".tmp-" in f for f in all_files(tmp_path)), all_files(tmp_path)
