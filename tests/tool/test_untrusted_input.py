"""Inputs that lie: sizes claimed by a zip directory, numbers too large for
any machine integer in file names.  Each is an error naming the file, found
before anything large is allocated."""
import io
import os
import struct
import subprocess
import tempfile
import time
import zipfile

import numpy as np

from conftest import tool_path


def vm_hwm_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_measured(args):
    """(exit status, stderr, peak RSS of the tool in MiB).  The peak is the
    tool's own VmHWM, sampled every millisecond while it runs (ru_maxrss of a
    child would also count the pytest process it was forked from)."""
    with tempfile.TemporaryFile() as err_file:
        p = subprocess.Popen([tool_path()] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err_file)
        peak = 0.0
        while p.poll() is None:
            peak = max(peak, vm_hwm_mib(p.pid))
            time.sleep(0.001)
        err_file.seek(0)
        return p.returncode, err_file.read().decode(), peak


def npz_bytes(compress):
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, attention_weights=np.zeros((1, 1, 2, 2), np.float32))
    return bytearray(buf.getvalue())


def claim_size(data, size):
    """Rewrites the uncompressed size of the first member in its local header
    and in the central directory, as a corrupted or hostile file would."""
    struct.pack_into("<I", data, 22, size)  # local file header: uncompressed size
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, size)  # central directory: uncompressed size
    return data


def test_a_small_file_claiming_gigabytes_is_refused_before_allocating(tmp_path):
    for compress in (False, True):
        path = tmp_path / f"video_1_frames0-0_backbone_vit_layer_0_attn{'_c' if compress else ''}.npz"
        path.write_bytes(claim_size(npz_bytes(compress), 3 << 30))
        assert path.stat().st_size < 1000
        rc, err, peak_mib = run_measured(["info", path])
        assert rc == 1, err
        assert path.name in err and ("corrupt" in err or "truncated" in err), err
        assert peak_mib < 1024, f"the tool grew to {peak_mib:.0f} MiB for a {path.stat().st_size}-byte file"


def test_a_claimed_size_that_fits_the_file_still_reads(tmp_path):
    """The bound does not refuse honest files (stored and deflated)."""
    for compress in (False, True):
        path = tmp_path / "ok.npz"
        path.write_bytes(bytes(npz_bytes(compress)))
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None
        rc, err, _ = run_measured(["info", path])
        assert rc == 0, err


def test_a_layer_number_too_large_for_any_integer_names_the_file(tmp_path):
    name = "video_1_frames0-0_backbone_vit_layer_123456789012345678901_attn.npz"
    np.savez(tmp_path / name, attention_weights=np.full((1, 1, 3, 3), 1 / 3, np.float32))
    for args in (["spatial", tmp_path, "-o", tmp_path / "out"], ["info", tmp_path / name]):
        rc, err, _ = run_measured(args)
        assert rc == 1, err
        assert name in err and "layer number 123456789012345678901 is too large" in err, err
        assert "stol" not in err
    assert not (tmp_path / "out").exists()


def test_a_corrupted_stored_layer_is_refused_by_its_crc(tmp_path):
    """A stored member read a frame at a time (no libzip read) is still checked
    against the CRC-32 the archive records, as np.load checks it."""
    rng = np.random.default_rng(5)
    layers = []
    for l in range(2):
        a = rng.random((3, 2, 9, 9), dtype=np.float32)
        a /= a.sum(-1, keepdims=True)
        path = tmp_path / f"video_1_frames0-2_backbone_vit_layer_{l}_attn.npz"
        np.savez(path, attention_weights=a)
        layers.append(path)
    out = tmp_path / "out"
    rc, err, _ = run_measured(["spatial", tmp_path, "-o", out, "--grid", "2x4", "--quiet"])
    assert rc == 0, err
    # flip one bit in the elements of frame 1 of layer 1 (a float stays a float)
    data = bytearray(layers[1].read_bytes())
    at = data.find(b"\x93NUMPY") + 128 + 2 * 9 * 9 * 4 + 17
    data[at] ^= 0x01
    layers[1].write_bytes(bytes(data))
    out2 = tmp_path / "out2"
    rc, err, _ = run_measured(["spatial", tmp_path, "-o", out2, "--grid", "2x4", "--quiet"])
    assert rc == 1, err
    assert layers[1].name in err and "attention_weights is corrupted (CRC-32" in err, err
    assert not any(p.is_file() and p.name != "attnroll_run.json" for p in out2.rglob("*")) if out2.exists() else True
    # --no-crc: the user's choice of speed over the check
    rc, err, _ = run_measured(["spatial", tmp_path, "-o", tmp_path / "out3", "--grid", "2x4", "--quiet", "--no-crc"])
    assert rc == 0, err
