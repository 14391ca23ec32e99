"""attnroll temporal: a run directory with results_temporal.json and attention
in both layouts, every output compared with the float64 reference
(within 1e-12), CSV format, heat maps, and the error cases."""

import json
import os

import numpy as np
import pytest

from conftest import (all_files, assert_close, assert_error, assert_ok, check_heatmap,
                      load_single, peaky_softmax, read_csv_column, run_cli, save_array,
                      snapshot, strip_paths, temporal_outputs, temporal_products_ref, temporal_ref)

TOL = 1e-12
SELF = "refiner.transformer_time_self_attention_layers.{}"


def meta_path(npz_path, rule):
    """The two naming rules: '<name without .npz>.meta.json' or '<name>.meta.json'."""
    return (npz_path[:-len(".npz")] if rule == "stem" else npz_path) + ".meta.json"


def write_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1)


def write_per_layer(directory, vid, a, b, l, arr, layer, rule, fmt="savez", order="C"):
    """Layout (a): one file per layer plus its meta file."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"video_{vid}_frames{a}-{b}_refiner_temporal_layer_{l}_attn.npz")
    save_array(path, arr, fmt, order=order)
    write_json(meta_path(path, rule), {"layer": layer, "shape": list(arr.shape)})
    return path


def write_per_video(directory, name, arrays, entries, rule, fmt="savez"):
    """Layout (b): one npz holding several keys plus a meta list of {layer, key}."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    (np.savez if fmt == "savez" else np.savez_compressed)(path, **arrays)
    assert os.path.exists(path)
    write_json(meta_path(path, rule), [{"layer": layer, "key": key} for layer, key in entries])
    return path


def write_results(run_dir, predictions):
    d = os.path.join(run_dir, "inference")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "results_temporal.json"), predictions)


def check_video(out_dir, vid, rid, layers, check_pngs=True):
    """Every output of video `vid` against the reference with instance rid."""
    p = os.path.join(out_dir, f"video_{vid}_refiner_{rid}")
    ref = temporal_products_ref(layers, rid)
    t = ref["rollout"].shape[0]
    for suffix, want in ref.items():
        got = load_single(f"{p}_{suffix}.npz", suffix, np.float64, want.shape)
        assert_close(got, want, TOL, f"video {vid} {suffix}")
        if suffix.endswith(("_col_avg", "_col_avg_norm", "_rownorm_col_avg")):
            csv = f"{p}_{suffix}.csv"
            vals = read_csv_column(csv, t)
            assert_close(vals, want, TOL, f"{csv}")
            # Python's repr, as pandas writes the scripts' CSVs, and reads back to the npz value
            with open(csv) as fh:
                texts = [ln.split(",")[1] for ln in fh.read().splitlines()[1:]]
            assert texts == [repr(float(v)) for v in vals], f"{csv}: values not printed as Python's repr"
            assert np.array_equal(vals, got), f"{csv}: values differ from {p}_{suffix}.npz"
    if check_pngs:
        for s in [k for k in ("rollout", "rollout_nolayer0") if k in ref]:
            check_heatmap(f"{p}_{s}.png", ref[s], min_corr=0.9)
            check_heatmap(f"{p}_{s}_rownorm.png", ref[f"{s}_rownorm"], min_corr=0.9)
    return ref


# ---------------------------------------------------------------------------
# The main run: four videos, both layouts, every array rank
# ---------------------------------------------------------------------------

def build_main_run(run_dir, rng):
    att = os.path.join(run_dir, "attention_maps")
    videos = {}

    # video 5 (int id): layout (a), T = 16, five self-attention layers whose
    # file numbers are shuffled relative to k, both meta naming rules, ranks
    # 2/3/4, dtypes f16/f32/f64, stored and deflated, C and Fortran order,
    # plus a cross-attention layer that must be skipped.
    T = 16
    specs = [  # (k, file l, shape, dtype, rule, fmt, order)
        (0, 4, (T, T), np.float32, "stem", "savez", "C"),
        (1, 0, (4, T, T), np.float64, "full", "savez_compressed", "C"),     # 3-D, axis 0 (rid 2)
        (2, 3, (3, 2, T, T), np.float32, "stem", "savez", "F"),             # [Q,heads,T,T]
        (3, 1, (1, 4, T, T), np.float16, "full", "savez_compressed", "C"),  # 4-D, axis 1 chosen
        (4, 2, (3, T, T), np.float32, "stem", "savez", "F"),
    ]
    layers5 = [None] * len(specs)
    for k, l, shape, dt, rule, fmt, order in specs:
        arr = peaky_softmax(rng, shape, dtype=dt)
        write_per_layer(att, 5, 0, 15, l, arr, SELF.format(k), rule, fmt, order)
        layers5[k] = arr
    extras = {"cross": peaky_softmax(rng, (T, T))}
    write_per_layer(att, 5, 0, 15, 5, extras["cross"],
                    "refiner.transformer_time_cross_attention_layers.0", "full")
    videos[5] = (2, layers5)

    # video "21" (string id): layout (b) video_21.npz, T = 8, eleven layers
    # (k = 10 must come after k = 2: numeric order), listed shuffled; layer 4
    # listed twice (the last key wins); an unrelated entry skipped.
    T = 8
    shapes = [(T, T), (5, T, T), (4, 2, T, T), (2, 5, T, T), (2, 2, 4, T, T)]
    arrays, layers21, entries = {}, [], []
    for k in range(11):
        arr = peaky_softmax(rng, shapes[k % len(shapes)], dtype=[np.float32, np.float64][k % 2])
        key = f"k{k}" if k != 4 else "k4_new"
        arrays[key] = arr
        layers21.append(arr)
        entries.append((SELF.format(k), key))
    arrays["k4_old"] = extras["k4_old"] = peaky_softmax(rng, (5, T, T))
    arrays["norm"] = extras["norm"] = peaky_softmax(rng, (T, T))
    order = [7, 2, 10, 0, 9, 5, 1, 8, 3, 6]
    listed = [entries[i] for i in order]
    listed.insert(3, (SELF.format(4), "k4_old"))
    listed.insert(6, ("refiner.temporal_norm", "norm"))
    listed.append(entries[4])   # layer 4 again, last: k4_new wins
    write_per_video(att, "video_21.npz", arrays, listed, "stem", "savez_compressed")
    videos["21"] = (3, layers21)

    # video 8: layout (b) with the long name and the '<name>.meta.json' rule, T = 12
    T = 12
    layers8 = [peaky_softmax(rng, (2, T, T)) for _ in range(3)]
    write_per_video(att, "video_8_frames0-11_temporal_refiner_attn.npz",
                    {f"attn_{k}": a for k, a in enumerate(layers8)},
                    [(f"model.{SELF.format(k)}", f"attn_{k}") for k in range(3)], "full")
    videos[8] = (1, layers8)

    # video 9: one layer only (no nolayer0 outputs), T = 6
    layers9 = [peaky_softmax(rng, (6, 6), dtype=np.float64)]
    write_per_layer(att, 9, 0, 5, 0, layers9[0], SELF.format(0), "stem")
    videos[9] = (0, layers9)

    # video 99 has attention but no predictions: ignored
    write_per_layer(att, 99, 0, 15, 0, peaky_softmax(rng, (16, 16)), SELF.format(0), "stem")

    predictions = [
        {"video_id": 5, "score": 0.40, "refiner_id": 1, "label": 3, "segment": [0.0, 4.5]},
        {"video_id": "21", "score": 0.30, "refiner_id": 0},
        {"video_id": 5, "score": 0.90, "refiner_id": 2, "label": 1, "segment": [1.0, 2.0]},
        {"video_id": "21", "score": 0.80, "refiner_id": 3},
        {"video_id": 8, "score": 0.50, "refiner_id": 1},
        {"video_id": 5, "score": 0.70, "refiner_id": 0, "label": 0, "segment": [3.0, 9.0]},
        {"video_id": "21", "score": 0.80, "refiner_id": 1},   # tie: the first listed (3) wins
        {"video_id": 9, "score": 0.10, "refiner_id": 0},
    ]
    write_results(run_dir, predictions)
    return videos, extras


@pytest.fixture(scope="module")
def main_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("temporal") / "run")
    rng = np.random.default_rng(11)
    videos, _extras = build_main_run(run_dir, rng)
    out = os.path.join(os.path.dirname(run_dir), "out")
    before = snapshot(run_dir)
    res = run_cli("temporal", "--layout", "flat", run_dir, "-o", out)
    return run_dir, out, videos, before, res


def test_main_run_exit_and_output_names(main_run):
    run_dir, out, videos, before, res = main_run
    assert_ok(res)
    expected = set()
    for vid, (rid, layers) in videos.items():
        expected |= temporal_outputs(vid, rid, len(layers))
    assert all_files(out) == expected
    assert snapshot(run_dir) == before, "the run directory changed"


def test_reference_depends_on_the_choices():
    """The data is built so that each rule matters: another refiner_id, the
    lexicographic layer order or dropping nothing would change the numbers."""
    rng = np.random.default_rng(11)
    videos, extras = build_main_run_in_memory(rng)

    def differs(a, b, tol=1e-6):
        return np.abs(a - b).max() > tol

    rid5, l5 = videos[5]
    want5 = temporal_ref(l5, rid5)
    assert differs(want5, temporal_ref(l5, 1)) and differs(want5, temporal_ref(l5, 0))
    by_file_number = [l5[k] for k in (1, 3, 4, 2, 0)]          # files l = 0..4 hold k = 1,3,4,2,0
    assert differs(want5, temporal_ref(by_file_number, rid5))
    assert differs(want5, temporal_ref(l5 + [extras["cross"]], rid5))
    rid21, l21 = videos["21"]
    want21 = temporal_ref(l21, rid21)
    assert differs(want21, temporal_ref(l21, 1))                  # the tie's second entry
    lexical = [l21[int(k)] for k in sorted(str(k) for k in range(11))]
    assert differs(want21, temporal_ref(lexical, rid21))
    assert differs(want21, temporal_ref(l21[:4] + [extras["k4_old"]] + l21[5:], rid21))
    assert differs(want21, temporal_ref(l21 + [extras["norm"]], rid21))


def build_main_run_in_memory(rng):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        return build_main_run(d, rng)


@pytest.mark.parametrize("vid", [5, "21", 8, 9])
def test_main_run_values(main_run, vid):
    run_dir, out, videos, before, res = main_run
    assert_ok(res)
    rid, layers = videos[vid]
    ref = check_video(out, vid, rid, layers, check_pngs=(vid in (5, 9)))
    assert ("rollout_nolayer0" in ref) == (len(layers) >= 2)


def test_inference_attention_maps_and_default_output(tmp_path, rng):
    """Attention only under RUN_DIR/inference/attention_maps/, default OUT."""
    run_dir = str(tmp_path / "run")
    att = os.path.join(run_dir, "inference", "attention_maps")
    T = 10
    layers = [peaky_softmax(rng, (3, 2, T, T)), peaky_softmax(rng, (T, T)),
              peaky_softmax(rng, (3, T, T), dtype=np.float16)]
    for k, (l, rule) in enumerate([(2, "full"), (0, "stem"), (1, "full")]):
        write_per_layer(att, 3, 20, 29, l, layers[k], SELF.format(k), rule)
    write_results(run_dir, [{"video_id": 3, "score": 0.2, "refiner_id": 0},
                            {"video_id": 3, "score": 0.6, "refiner_id": 1}])
    res = assert_ok(run_cli("temporal", "--layout", "flat", run_dir, "--quiet"))
    assert res.err == "", f"--quiet should silence stderr\n{res!r}"
    out = os.path.join(run_dir, "attnroll_temporal")
    assert all_files(out) == temporal_outputs(3, 1, 3)
    check_video(out, 3, 1, layers, check_pngs=False)


# ---------------------------------------------------------------------------
# Errors: exit 1, one line naming the file, no output at all
# ---------------------------------------------------------------------------

def small_run(run_dir, rng, vid=4, rid=0, T=6, shapes=((6, 6), (6, 6), (6, 6))):
    att = os.path.join(run_dir, "attention_maps")
    paths = []
    for k, shape in enumerate(shapes):
        paths.append(write_per_layer(att, vid, 0, T - 1, k, peaky_softmax(rng, shape),
                                     SELF.format(k), "stem"))
    write_results(run_dir, [{"video_id": vid, "score": 0.5, "refiner_id": rid}])
    return paths


def expect_failure(run_dir, out, *mention):
    before = snapshot(run_dir)
    line = assert_error(run_cli("temporal", "--layout", "flat", run_dir, "-o", out), 1, *mention)
    assert all_files(out) == set(), f"outputs written despite the failure: {sorted(all_files(out))}"
    assert snapshot(run_dir) == before
    return line


def test_video_without_attention(tmp_path, rng):
    run_dir, out = str(tmp_path / "run"), str(tmp_path / "out")
    small_run(run_dir, rng, vid=78)
    write_results(run_dir, [{"video_id": 77, "score": 0.5, "refiner_id": 0}])
    line = expect_failure(run_dir, out)
    assert "77" in strip_paths(line, tmp_path), line


def test_selection_not_square(tmp_path, rng):
    # [2,6,6] with refiner_id 3: shape[0] = 2 is not > 3, shape[1] = 6 is, so
    # A[:, 3, :] is [2,6]: not square
    run_dir, out = str(tmp_path / "run"), str(tmp_path / "out")
    paths = small_run(run_dir, rng, rid=3, shapes=((6, 6), (2, 6, 6), (6, 6)))
    expect_failure(run_dir, out, os.path.basename(paths[1]))


def test_layers_disagree_in_T(tmp_path, rng):
    run_dir, out = str(tmp_path / "run"), str(tmp_path / "out")
    paths = small_run(run_dir, rng, shapes=((6, 6), (6, 6), (5, 5)))
    line = expect_failure(run_dir, out)
    assert any(os.path.basename(p) in line for p in paths), line


def test_truncated_npz(tmp_path, rng):
    run_dir, out = str(tmp_path / "run"), str(tmp_path / "out")
    paths = small_run(run_dir, rng)
    data = open(paths[1], "rb").read()
    open(paths[1], "wb").write(data[:len(data) // 2])
    expect_failure(run_dir, out, os.path.basename(paths[1]))


def test_per_video_missing_key(tmp_path, rng):
    run_dir, out = str(tmp_path / "run"), str(tmp_path / "out")
    att = os.path.join(run_dir, "attention_maps")
    path = write_per_video(att, "video_4.npz", {"a": peaky_softmax(rng, (6, 6))},
                           [(SELF.format(0), "a"), (SELF.format(1), "layer_one_key")], "stem")
    write_results(run_dir, [{"video_id": 4, "score": 0.5, "refiner_id": 0}])
    expect_failure(run_dir, out, os.path.basename(path), "layer_one_key")


def test_malformed_results_json(tmp_path, rng):
    run_dir, out = str(tmp_path / "run"), str(tmp_path / "out")
    small_run(run_dir, rng)
    with open(os.path.join(run_dir, "inference", "results_temporal.json"), "w") as fh:
        fh.write('[{"video_id": 4, "score": 0.5, "refiner_id": ')
    expect_failure(run_dir, out, "results_temporal.json")


def test_existing_output_and_force(tmp_path, rng):
    run_dir, out = str(tmp_path / "run"), str(tmp_path / "out")
    small_run(run_dir, rng, rid=0)
    os.makedirs(out)
    victim = os.path.join(out, "video_4_refiner_0_rollout.npz")
    with open(victim, "wb") as fh:
        fh.write(b"old contents")
    line = assert_error(run_cli("temporal", "--layout", "flat", run_dir, "-o", out), 1, "--force",
                        "video_4_refiner_0_rollout.npz")
    assert open(victim, "rb").read() == b"old contents"
    assert all_files(out) <= temporal_outputs(4, 0, 3), f"stray files: {sorted(all_files(out))}"
    assert_ok(run_cli("temporal", "--layout", "flat", run_dir, "-o", out, "--force"))
    assert all_files(out) == temporal_outputs(4, 0, 3)
    att = os.path.join(run_dir, "attention_maps")
    layers = [np.load(os.path.join(att, f"video_4_frames0-5_refiner_temporal_layer_{k}_attn.npz"))
              ["attention_weights"] for k in range(3)]
    check_video(out, 4, 0, layers, check_pngs=False)
