"""attnroll info (shapes, dtypes, order, storage; exit 1 on a corrupt file)
and attnroll demo (writes a dump, rolls it out, prints what it wrote; its
outputs checked against the reference computed from the dump it wrote)."""

import glob
import json
import os
import re
import zipfile

import numpy as np
import pytest

from conftest import (all_files, assert_close, assert_error, assert_ok, load_single,
                      peaky_softmax, read_png, run_cli, save_array, spatial_name, spatial_ref,
                      temporal_ref)

DTYPE_WORDS = {"float16": ["float16", "<f2", "f16", "half"],
               "float32": ["float32", "<f4", "f32"],
               "float64": ["float64", "<f8", "f64", "double"]}


def shape_pattern(shape):
    return r"(?<!\d)" + r"\D{1,3}".join(str(s) for s in shape) + r"(?!\d)"


def has_dtype(text, dtype):
    return any(w in text.lower() for w in DTYPE_WORDS[dtype])


@pytest.fixture
def info_files(tmp_path, rng):
    d = tmp_path / "files"
    d.mkdir()
    layer = str(d / spatial_name(7, 0, 2, 3))
    save_array(layer, peaky_softmax(rng, (3, 2, 17, 17), dtype=np.float16), "savez_compressed", order="F")
    collapsed = str(d / spatial_name(9, 4, 5, 1, collapsed=True, suffix=".npy"))
    save_array(collapsed, peaky_softmax(rng, (2, 26, 26)), "npy")
    multi = str(d / "video_21.npz")
    np.savez(multi, first_key=peaky_softmax(rng, (5, 9, 9), dtype=np.float64),
             second_key=peaky_softmax(rng, (2, 4, 9, 9)))
    return {"layer": layer, "collapsed": collapsed, "multi": multi}


def test_info_spatial_layer(info_files):
    res = assert_ok(run_cli("info", info_files["layer"]))
    assert re.search(shape_pattern((3, 2, 17, 17)), res.out), res
    assert has_dtype(res.out, "float16"), res
    assert "fortran" in res.out.lower(), res
    assert "deflat" in res.out.lower(), res
    assert "attention_weights" in res.out, res
    assert "spatial" in res.out.lower(), res
    assert "read whole" in res.out, res  # deflated and Fortran order: not by frame


def test_info_says_stored_c_order_is_read_by_frame(tmp_path, rng):
    path = str(tmp_path / "video_2_frames0-2_backbone_vit_layer_0_attn.npz")
    np.savez(path, attention_weights=peaky_softmax(rng, (3, 2, 17, 17)))
    res = assert_ok(run_cli("info", path))
    assert "read a frame at a time" in res.out, res


def test_info_npy_and_multi_key(info_files):
    res = assert_ok(run_cli("info", info_files["collapsed"], info_files["multi"]))
    assert re.search(shape_pattern((2, 26, 26)), res.out), res
    assert has_dtype(res.out, "float32"), res
    for key, shape in [("first_key", (5, 9, 9)), ("second_key", (2, 4, 9, 9))]:
        assert key in res.out, res
        assert re.search(shape_pattern(shape), res.out), res
    assert has_dtype(res.out, "float64"), res
    assert "stored" in res.out.lower(), res


def test_info_corrupt_file_after_printing_the_others(info_files, tmp_path):
    bad = str(tmp_path / "files" / "video_1_frames0-1_backbone_vit_layer_0_attn.npz")
    data = open(info_files["layer"], "rb").read()
    open(bad, "wb").write(data[:len(data) // 2])
    res = run_cli("info", info_files["collapsed"], bad, info_files["multi"])
    assert_error(res, 1, os.path.basename(bad))
    assert re.search(shape_pattern((2, 26, 26)), res.out), res
    assert re.search(shape_pattern((2, 4, 9, 9)), res.out), res


def test_info_missing_file(tmp_path):
    assert_error(run_cli("info", tmp_path / "nope.npz"), 1, "nope.npz")


# ---------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------

SPATIAL_RE = re.compile(r"^video_(.+?)_frames(\d+)-(\d+)_(?:backbone_vit_layer|layer_backbone_vit_module_blocks)"
                        r"_(\d+)_attn(_collapsed)?\.np[yz]$")


def load_array(path, key="attention_weights"):
    if path.endswith(".npy"):
        return np.load(path)
    with np.load(path) as z:
        return z[key]


def meta_for(path):
    for m in (path[:-4] + ".meta.json", path + ".meta.json"):
        if os.path.exists(m):
            with open(m) as fh:
                return json.load(fh)
    raise AssertionError(f"no meta file beside {path}")


def layer_number(name):
    m = re.search(r"self_attention_layers\.(\d+)", name)
    return int(m.group(1)) if m else None


def demo_temporal_layers(att_dir, vid):
    """The layers of video vid in the demo's attention dir, read by the
    contract's rules (either layout), in order."""
    by_k = {}
    for path in sorted(glob.glob(os.path.join(att_dir, f"video_{vid}_*refiner_temporal_layer_*_attn.npz"))):
        k = layer_number(meta_for(path)["layer"])
        if k is not None:
            by_k[k] = load_array(path)
    candidates = [os.path.join(att_dir, f"video_{vid}.npz")] + \
        glob.glob(os.path.join(att_dir, f"video_{vid}_*temporal_refiner_attn.npz"))
    for path in candidates:
        if os.path.exists(path):
            with np.load(path) as z:
                for entry in meta_for(path):
                    k = layer_number(entry["layer"])
                    if k is not None:
                        by_k[k] = z[entry["key"]]
    return [by_k[k] for k in sorted(by_k)]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    out = base / "demo"
    res = run_cli("demo", "-o", out, cwd=base)
    return base, str(out), res


def test_demo_runs_and_prints(demo_run):
    base, out, res = demo_run
    assert_ok(res)
    assert res.out.strip(), f"demo printed nothing\n{res!r}"
    assert "rolled_out" in res.out and "attention_plots" in res.out, f"demo should say what it wrote\n{res!r}"
    assert set(os.listdir(base)) == {"demo"}, "demo wrote outside its -o directory"
    for sub in ("spatial/attention_maps/rolled_out", "run/attention_maps/rolled_out", "run/inference/attention_plots"):
        assert os.path.isdir(os.path.join(out, sub)), f"{sub}/ missing"


def test_demo_spatial(demo_run):
    base, out, res = demo_run
    assert_ok(res)
    groups = {}
    dump = os.path.join(out, "spatial", "attention_maps")
    for name in os.listdir(dump):
        if name == "rolled_out":
            continue
        m = SPATIAL_RE.match(name)
        assert m, f"unexpected file in the demo's spatial dump: {name}"
        groups.setdefault((m.group(1), m.group(2), m.group(3)), {})[int(m.group(4))] = name
    assert len(groups) == 1, groups
    (vid, a, b), files = next(iter(groups.items()))
    assert sorted(files) == list(range(12))
    layers, compressions = [], set()
    for l in range(12):
        path = os.path.join(dump, files[l])
        arr = load_array(path)
        assert arr.shape == (4, 4, 65, 65), (files[l], arr.shape)
        layers.append(arr)
        if path.endswith(".npz"):
            with zipfile.ZipFile(path) as zf:
                compressions |= {i.compress_type for i in zf.infolist()}
    assert compressions == {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}, "stored and deflated files expected"
    expected = spatial_ref(layers)
    rolled = os.path.join(dump, "rolled_out")
    got = load_single(os.path.join(rolled, f"video_{vid}_backbone_vit_rolled_out.npz"), "attention_weights",
                      np.float32, expected.shape)
    assert_close(got, expected, 2e-6, "demo spatial rollout")
    names = all_files(rolled)
    assert names == {f"video_{vid}_backbone_vit_rolled_out.npz", f"video_{vid}_frames{a}-{b}_cls_contact.png",
                     "attnroll_run.json"} | {f"video_{vid}_frames{a}-{b}_cls_f{i:03d}.png" for i in range(4)}
    for n in names:
        if n.endswith(".png"):
            read_png(os.path.join(rolled, n))
    # the contract: the demo's spatial stack is float16
    dtypes = {str(a.dtype) for a in layers}
    assert dtypes == {"float16"}, f"demo spatial dump dtypes {dtypes}, the contract says float16"


def test_demo_temporal(demo_run):
    base, out, res = demo_run
    assert_ok(res)
    run = os.path.join(out, "run")
    with open(os.path.join(run, "inference", "results_temporal.json")) as fh:
        predictions = json.load(fh)
    best = {}
    for p in predictions:
        vid = str(p["video_id"])
        if vid not in best or p["score"] > best[vid]["score"]:
            best[vid] = p
    assert len(best) == 2, best
    att = os.path.join(run, "inference", "attention_maps")
    for vid, p in best.items():
        rid = p["refiner_id"]
        layers = demo_temporal_layers(att, vid)
        assert len(layers) == 6, f"video {vid}: {len(layers)} layers found in the demo's dump"
        for s, begin in [("rollout", 0), ("rollout_nolayer0", 1)]:
            want = temporal_ref(layers, rid, begin)
            assert want.shape == (16, 16)
            got = load_single(os.path.join(run, "attention_maps", "rolled_out", f"video_{vid}_refiner_{rid}_{s}.npz"),
                              "rollout", np.float64, (16, 16))
            assert_close(got, want, 1e-12, f"demo video {vid} {s}")


def test_demo_again_needs_force(demo_run):
    base, out, res = demo_run
    assert_ok(res)
    rolled = os.path.join(out, "spatial", "attention_maps", "rolled_out")
    before = {n: open(os.path.join(rolled, n), "rb").read() for n in os.listdir(rolled) if n.endswith(".npz")}
    assert_error(run_cli("demo", "-o", out, "--quiet", cwd=base), 1, "--force")
    after = {n: open(os.path.join(rolled, n), "rb").read() for n in os.listdir(rolled) if n.endswith(".npz")}
    assert after == before
    assert_ok(run_cli("demo", "-o", out, "--force", "--quiet", cwd=base))
