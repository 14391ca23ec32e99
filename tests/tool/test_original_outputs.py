"""attnroll temporal and spatial as drop-ins for the users' scripts: a run
folder in the users' layouts, the tool run with its defaults, and every output
loaded the way downstream code loads it -- by the original path and npz key --
and compared with scripts_reference.py, the float64 numpy transcription of each
script written from ORIGINAL_OUTPUTS.md.  Then the strictness and failure
rules: exit status, message, and what is left on disk."""

import json
import os

import numpy as np
import pytest

import scripts_reference as ref
from conftest import all_files, peaky_softmax, run_cli, save_array, spatial_name

SELF = "refiner.transformer_time_self_attention_layers.{}"
MANIFEST = "attnroll_run.json"


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(obj, fh)


def per_layer_file(directory, vid, l, arr, t):
    path = os.path.join(directory, f"video_{vid}_frames0-{t - 1}_refiner_temporal_layer_{l}_attn.npz")
    os.makedirs(directory, exist_ok=True)
    save_array(path, arr)
    write_json(path[:-4] + ".meta.json", {"layer": SELF.format(l)})
    return path


def per_video_file(directory, vid, layers):
    path = os.path.join(directory, f"video_{vid}.npz")
    os.makedirs(directory, exist_ok=True)
    np.savez_compressed(path, **{f"k{l}": a for l, a in enumerate(layers)})
    write_json(path[:-4] + ".meta.json", [{"layer": SELF.format(l), "key": f"k{l}"} for l in range(len(layers))])
    return path


def load(path, key):
    with np.load(path, allow_pickle=False) as z:
        assert list(z.files) == [key], f"{path}: keys {z.files}, the scripts write [{key!r}]"
        return z[key]


def check_files(base, expected, tol):
    """expected: {path relative to BASE: (key, array) or CSV text}."""
    for rel, want in expected.items():
        path = os.path.join(base, rel)
        assert os.path.isfile(path), f"missing {rel}"
        if isinstance(want, str):
            text = open(path).read()
            header, idx, vals = ref.parse_csv(text)
            w_header, w_idx, w_vals = ref.parse_csv(want)
            assert (header, idx) == (w_header, w_idx), rel
            np.testing.assert_allclose(vals, w_vals, rtol=0, atol=tol, err_msg=rel)
            assert text == ref.csv_text(vals, header.split(",")[1]), f"{rel}: not the scripts' number text"
        else:
            key, arr = want
            got = load(path, key)
            assert got.dtype == np.float64, f"{rel}: dtype {got.dtype}"
            np.testing.assert_allclose(got, arr, rtol=0, atol=tol, err_msg=rel)


# ---------------------------------------------------------------------------
# temporal: temporal_rollout.py and plot_temporal_attn.py
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def temporal_run(tmp_path_factory):
    rng = np.random.default_rng(3)
    run = str(tmp_path_factory.mktemp("orig") / "run")
    t = 9
    layers3 = [peaky_softmax(rng, (4, t, t)) for _ in range(4)]          # per-layer files, attention_maps/
    for l, a in enumerate(layers3):
        per_layer_file(os.path.join(run, "attention_maps"), 3, l, a, t)
    layers15 = [peaky_softmax(rng, (2, 3, t, t), dtype=np.float64) for _ in range(6)]  # one file, inference/
    per_video_file(os.path.join(run, "inference", "attention_maps"), 15, layers15)
    write_json(os.path.join(run, "inference", "results_temporal.json"), [
        {"video_id": 3, "score": 0.2, "refiner_id": 0},
        {"video_id": 3, "score": 0.9, "refiner_id": 2},
        {"video_id": 15, "score": 0.5, "refiner_id": 1},
        {"score": 0.99, "refiner_id": 0},                               # no video_id: ignored
    ])
    res = run_cli("temporal", run, "--quiet")
    return run, {3: (2, layers3), 15: (1, layers15)}, res


def test_temporal_writes_the_scripts_files(temporal_run):
    run, videos, res = temporal_run
    assert res.rc == 0, res
    for vid, (rid, layers) in videos.items():
        check_files(run, ref.temporal_rollout_files(vid, rid, layers), 1e-12)
        check_files(run, ref.plot_temporal_files(vid, rid, ref.temporal_rollout(layers, rid)), 1e-12)
        for png in ("rollout", "rollout_rownorm"):
            assert os.path.isfile(os.path.join(run, ref.PLOT_IMAGES_DIR, f"video_{vid}_refiner_{rid}_{png}.png"))
    assert "2 videos done, 0 failed" in res.out


def test_temporal_manifest(temporal_run):
    run, videos, res = temporal_run
    with open(os.path.join(run, MANIFEST)) as fh:
        m = json.load(fh)
    assert m["command"] == "temporal" and m["tool"].startswith("attnroll ") and m["library"].startswith("libattnroll ")
    assert [v["status"] for v in m["videos"]] == ["done", "done"]
    inputs = {os.path.basename(i["path"]): i for i in m["inputs"]}
    assert "results_temporal.json" in inputs and "video_15.npz" in inputs
    assert all(i["size"] == os.path.getsize(i["path"]) for i in m["inputs"])
    assert all(os.path.isfile(p) for p in m["outputs"])
    assert not [f for f in all_files(run) if ".tmp-" in f]


def test_temporal_choices(tmp_path, temporal_run):
    run, videos, _ = temporal_run
    out = str(tmp_path / "base")
    res = run_cli("temporal", run, "-o", out, "--videos", "3", "--refiner-id", "1", "--quiet")
    assert res.rc == 0, res
    check_files(out, ref.temporal_rollout_files(3, 1, videos[3][1]), 1e-12)
    assert not [f for f in all_files(out) if "video_15" in f]
    out2 = str(tmp_path / "all")
    assert run_cli("temporal", run, "-o", out2, "--all-predictions", "--quiet").rc == 0
    for rid in (0, 2):
        check_files(out2, ref.temporal_rollout_files(3, rid, videos[3][1]), 1e-12)


def test_temporal_both_layouts_warns_and_uses_per_layer_files(tmp_path):
    rng = np.random.default_rng(8)
    run = str(tmp_path / "run")
    layers = [peaky_softmax(rng, (5, 5)) for _ in range(3)]
    for l, a in enumerate(layers):
        per_layer_file(os.path.join(run, "attention_maps"), 1, l, a, 5)
    other = per_video_file(os.path.join(run, "inference", "attention_maps"), 1, [peaky_softmax(rng, (5, 5))] * 3)
    write_json(os.path.join(run, "inference", "results_temporal.json"), [{"video_id": 1, "score": 1, "refiner_id": 0}])
    res = run_cli("temporal", run, "--quiet")
    assert res.rc == 0, res
    assert "warning" in res.err and other in res.err, res
    check_files(run, ref.temporal_rollout_files(1, 0, layers), 1e-12)
    strict = run_cli("temporal", run, "-o", tmp_path / "strict", "--strict", "--quiet")
    assert strict.rc == 1 and other in strict.err, strict
    assert not os.path.exists(tmp_path / "strict")


def test_temporal_fallback_to_instance_0_warns(tmp_path):
    rng = np.random.default_rng(9)
    run = str(tmp_path / "run")
    layers = [peaky_softmax(rng, (2, 6, 6)) for _ in range(2)]
    files = [per_layer_file(os.path.join(run, "attention_maps"), 1, l, a, 6) for l, a in enumerate(layers)]
    write_json(os.path.join(run, "inference", "results_temporal.json"), [{"video_id": 1, "score": 1, "refiner_id": 7}])
    res = run_cli("temporal", run, "--quiet")
    assert res.rc == 0, res
    assert files[0] in res.err and "[2,6,6]" in res.err and "instance 0" in res.err, res
    check_files(run, ref.temporal_rollout_files(1, 7, layers), 1e-12)


def test_temporal_layer_gap_fails_that_video_only_with_keep_going(tmp_path):
    rng = np.random.default_rng(10)
    run = str(tmp_path / "run")
    att = os.path.join(run, "attention_maps")
    good = [peaky_softmax(rng, (4, 4)) for _ in range(2)]
    for l, a in enumerate(good):
        per_layer_file(att, 1, l, a, 4)
    for l in (0, 2):                                   # layer 1 missing
        per_layer_file(att, 2, l, peaky_softmax(rng, (4, 4)), 4)
    write_json(os.path.join(run, "inference", "results_temporal.json"),
               [{"video_id": 2, "score": 1, "refiner_id": 0}, {"video_id": 1, "score": 1, "refiner_id": 0}])
    out = tmp_path / "out"
    res = run_cli("temporal", run, "-o", out, "--quiet")
    assert res.rc == 1 and "layer 1 is missing" in res.err and "video_2_frames0-3_refiner_temporal_layer_2" in res.err
    assert not out.exists(), "a failed video leaves nothing, not even folders"
    res = run_cli("temporal", run, "-o", out, "--keep-going", "--quiet")
    assert res.rc == 1, res
    assert not [f for f in all_files(out) if "video_2" in f]
    check_files(str(out), ref.temporal_rollout_files(1, 0, good), 1e-12)
    assert res.out.splitlines()[-1] == "attnroll temporal: 1 video done, 1 failed"
    assert any(line.startswith("video 2 (refiner 0): FAILED: ") for line in res.out.splitlines())
    with open(out / MANIFEST) as fh:
        statuses = {v["video"]: v["status"] for v in json.load(fh)["videos"]}
    assert statuses == {"2 (refiner 0)": "failed", "1 (refiner 0)": "done"}


# ---------------------------------------------------------------------------
# spatial: spatial_rollout.py's per-video file
# ---------------------------------------------------------------------------

def write_window(directory, rng, vid, a, b, layers, heads, n, naming="new", collapsed=False):
    arrays = []
    for l in range(layers):
        shape = (b - a + 1, n, n) if collapsed else (b - a + 1, heads, n, n)
        arr = peaky_softmax(rng, shape)
        save_array(os.path.join(directory, spatial_name(vid, a, b, l, naming, collapsed)), arr)
        arrays.append(arr)
    return arrays


def test_spatial_per_video_file_in_frame_order(tmp_path):
    rng = np.random.default_rng(12)
    d = str(tmp_path / "dump")
    att = os.path.join(d, "attention_maps")
    os.makedirs(att)
    w2 = write_window(att, rng, 4, 2, 4, 3, 2, 10)                      # written first, comes second
    w0 = write_window(att, rng, 4, 0, 1, 3, 2, 10, naming="old")
    w9 = write_window(att, rng, 9, 0, 2, 3, 1, 10, collapsed=True)
    res = run_cli("spatial", d, "--grid", "3x3", "--quiet")
    assert res.rc == 0, res
    rolled = os.path.join(att, "rolled_out")
    for vid, windows in ((4, {(0, 1): w0, (2, 4): w2}), (9, {(0, 2): w9})):
        got = load(os.path.join(rolled, f"video_{vid}_backbone_vit_rolled_out.npz"), "attention_weights")
        want = ref.combine_windows({k: ref.spatial_rollout_plain(v) for k, v in windows.items()})
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    assert "3 layers used of 3" in res.out
    # DIR may also be the layer folder itself; -o BASE puts the tree under BASE.
    res = run_cli("spatial", att, "-o", tmp_path / "base", "--videos", "9", "--grid", "3x3", "--quiet")
    assert res.rc == 0, res
    assert os.path.isfile(tmp_path / "base" / "attention_maps" / "rolled_out" / "video_9_backbone_vit_rolled_out.npz")
    assert not [f for f in all_files(tmp_path / "base") if "video_4" in f]


@pytest.mark.parametrize("case", ["gap", "overlap", "full_range", "layer_count", "different_layers"])
def test_spatial_strictness(tmp_path, case):
    rng = np.random.default_rng(13)
    att = str(tmp_path / "dump" / "attention_maps")
    os.makedirs(att)
    good = write_window(att, rng, 1, 0, 1, 3, 1, 5)
    args = []
    if case == "gap":
        write_window(att, rng, 2, 0, 1, 4, 1, 5)
        os.remove(os.path.join(att, spatial_name(2, 0, 1, 2)))
        words = ["layer 2 is missing", spatial_name(2, 0, 1, 3)]
    elif case == "overlap":
        write_window(att, rng, 2, 0, 3, 3, 1, 5)
        write_window(att, rng, 2, 3, 5, 3, 1, 5)
        words = ["overlap", spatial_name(2, 3, 5, 0), spatial_name(2, 0, 3, 0)]
    elif case == "full_range":
        write_window(att, rng, 2, 0, 9, 3, 1, 5)
        write_window(att, rng, 2, 0, 4, 3, 1, 5)
        write_window(att, rng, 2, 5, 9, 3, 1, 5)
        words = ["full-range", "video_2_frames0-"]
    elif case == "layer_count":
        write_window(att, rng, 2, 0, 1, 2, 1, 5)
        args = ["--layers", "3"]
        words = ["--layers 3", spatial_name(2, 0, 1, 1)]
    else:
        write_window(att, rng, 2, 0, 1, 3, 1, 5)
        write_window(att, rng, 2, 2, 3, 2, 1, 5)
        words = ["same layers", spatial_name(2, 2, 3, 1)]
    out = tmp_path / "out"
    res = run_cli("spatial", att, "-o", out, "--grid", "2x2", "--keep-going", "--quiet", *args)
    assert res.rc == 1, res
    for w in words:
        assert w in res.err, (w, res)
    files = all_files(out)
    assert "attention_maps/rolled_out/video_1_backbone_vit_rolled_out.npz" in files
    assert not [f for f in files if "video_2" in f], "nothing of the failed video is left"
    got = load(os.path.join(out, "attention_maps/rolled_out/video_1_backbone_vit_rolled_out.npz"), "attention_weights")
    np.testing.assert_allclose(got, ref.spatial_rollout_plain(good), rtol=0, atol=2e-6)
    assert res.out.splitlines()[-1] == "attnroll spatial: 1 video done, 1 failed"
    # Without --keep-going the run stops at the first failure (video 1 sorts first, so it is done).
    res = run_cli("spatial", att, "-o", tmp_path / "stop", "--grid", "2x2", "--quiet", *args)
    assert res.rc == 1
