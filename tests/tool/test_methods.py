"""attnroll spatial's method options, end to end: the users' newest script
(--heads entropy --drop-tokens 1) against its float64 transcription
(scripts_reference.py), and every other option against a float64 numpy
transcription of its definition (attnroll.h, "The pipeline"), through both
reading paths (stored layers read a frame at a time, deflated ones whole)."""
import os

import numpy as np
import pytest

import scripts_reference as ref
from conftest import assert_error, assert_ok, peaky_softmax, run_cli

TOL = 2e-6  # float32 output


def write_window(folder, rng, vid, a, b, layers, heads, tokens, compressed=False, grads=False):
    arrays = []
    for l in range(layers):
        attn = peaky_softmax(rng, (b - a + 1, heads, tokens, tokens))
        extra = {"grads": rng.standard_normal(attn.shape).astype(np.float32)} if grads else {}
        name = os.path.join(folder, f"video_{vid}_frames{a}-{b}_backbone_vit_layer_{l}_attn.npz")
        (np.savez_compressed if compressed else np.savez)(name, attention_weights=attn, **extra)
        arrays.append((attn.astype(np.float64), extra.get("grads")))
    return arrays


def load(path, key="attention_weights"):
    with np.load(path) as z:
        return z[key]


def normalize_rows(m):
    s = m.sum(-1, keepdims=True)
    return m / np.where(s == 0, 1.0, s)


def method_reference(layers, fusion="mean", drop=0, discard=0.0, protect=(0,), rule="rollout"):
    """Per frame, from attnroll.h's pipeline: drop, fuse, discard, rule, product.
    Returns every partial product [L, F, N', N'] (the last is the rollout)."""
    partials = []
    R = None
    for attn, grad in layers:
        A = attn
        if drop:
            A = normalize_rows(A[:, :, drop:, drop:])
            grad = None if grad is None else grad[:, :, drop:, drop:]
        if fusion == "mean":
            bar = A.mean(1)
        elif fusion == "max":
            bar = A.max(1)
        elif fusion == "min":
            bar = A.min(1)
        elif fusion == "grad":
            bar = np.maximum(grad.astype(np.float64) * A, 0).mean(1)
        else:
            raise ValueError(fusion)
        n = bar.shape[-1]
        if discard:
            keep = np.ones((n, n), bool)
            keep[:, list(protect)] = False
            for f in range(bar.shape[0]):
                values = bar[f][keep]
                count = int(np.floor(discard * values.size))
                order = np.argsort(values, kind="stable")[:count]  # ties: lowest row-major index
                flat = np.flatnonzero(keep.ravel())[order]
                bar[f].ravel()[flat] = 0.0
        M = bar + np.eye(n)
        if rule == "rollout":
            M = normalize_rows(M)
        R = M if R is None else M @ R
        partials.append(R)
    return np.stack(partials)


@pytest.mark.parametrize("compressed", [False, True])
def test_newest_script_reproduced(tmp_path, rng, compressed):
    maps = tmp_path / "run" / "attention_maps"
    maps.mkdir(parents=True)
    w1 = write_window(str(maps), rng, "4", 0, 2, layers=4, heads=3, tokens=17, compressed=compressed)
    w2 = write_window(str(maps), rng, "4", 3, 4, layers=4, heads=3, tokens=17, compressed=compressed)
    assert_ok(run_cli("spatial", tmp_path / "run", "--heads", "entropy", "--drop-tokens", "1", "--quiet"))
    (rel, (key, want)), = ref.spatial_newest_video_file("4", {(0, 2): [a for a, _ in w1],
                                                            (3, 4): [a for a, _ in w2]}).items()
    got = load(tmp_path / "run" / rel, key)
    assert got.dtype == np.float32 and got.shape == (5, 16, 16)
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    # the heat maps: no CLS row any more, so the mean over rows, on the 4x4 patches
    assert (maps / "rolled_out" / "video_4_frames0-2_cls_f000.png").exists()


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("options, kwargs", [
    (["--heads", "max"], dict(fusion="max")),
    (["--heads", "min", "--drop-cls"], dict(fusion="min", drop=1)),
    (["--discard", "0.5"], dict(discard=0.5)),
    (["--discard", "0.3", "--protect", "none"], dict(discard=0.3, protect=())),
    (["--discard", "0.3", "--protect", "0,2"], dict(discard=0.3, protect=(0, 2))),
    (["--rule", "chefer", "--drop-tokens", "2"], dict(rule="chefer", drop=2)),
])
def test_each_option_against_its_definition(tmp_path, rng, compressed, options, kwargs):
    window = write_window(str(tmp_path), rng, "1", 0, 1, layers=3, heads=4, tokens=11, compressed=compressed)
    out = tmp_path / "out"
    drop = kwargs.get("drop", 0)
    patches = 11 - drop if drop else 10
    assert_ok(run_cli("spatial", tmp_path, "-o", out, "--grid", f"1x{patches}", "--quiet", *options))
    got = load(out / "attention_maps" / "rolled_out" / "video_1_backbone_vit_rolled_out.npz")
    want = method_reference(window, **kwargs)[-1]
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, atol=TOL * scale, rtol=0)


def test_cumulative_writes_every_partial_product(tmp_path, rng):
    maps = tmp_path / "attention_maps"
    maps.mkdir()
    w1 = write_window(str(maps), rng, "2", 0, 1, layers=3, heads=2, tokens=10)
    w2 = write_window(str(maps), rng, "2", 2, 2, layers=3, heads=2, tokens=10)
    assert_ok(run_cli("spatial", tmp_path, "--cumulative", "--drop-cls", "--layers", "1:", "--quiet"))
    got = load(maps / "rolled_out" / "video_2_backbone_vit_rolled_out.npz")
    want = np.concatenate([method_reference(w1[1:], drop=1), method_reference(w2[1:], drop=1)], axis=1)
    assert got.shape == (2, 3, 9, 9)  # [L', sum F, N', N']
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("compressed", [False, True])
def test_gradients_from_the_layer_files(tmp_path, rng, compressed):
    window = write_window(str(tmp_path), rng, "3", 0, 1, layers=3, heads=2, tokens=10, compressed=compressed,
                          grads=True)
    out = tmp_path / "out"
    assert_ok(run_cli("spatial", tmp_path, "-o", out, "--grad-key", "grads", "--rule", "chefer", "--quiet"))
    got = load(out / "attention_maps" / "rolled_out" / "video_3_backbone_vit_rolled_out.npz")
    want = method_reference(window, fusion="grad", rule="chefer")[-1]
    np.testing.assert_allclose(got, want, atol=TOL * max(1.0, float(np.abs(want).max())), rtol=0)


@pytest.mark.parametrize("options, words", [
    (["--heads", "median"], ["--heads", "median"]),
    (["--heads", "grad"], ["--heads grad", "--grad-key"]),
    (["--grad-key", "grads", "--heads", "max"], ["--grad-key", "max"]),
    (["--discard", "1"], ["--discard", "1"]),
    (["--discard", "-0.1"], ["--discard"]),
    (["--rule", "sum"], ["--rule", "sum"]),
    (["--drop-cls", "--drop-tokens", "2"], ["--drop-cls", "--drop-tokens 2"]),
    (["--drop-tokens", "10"], ["--drop-tokens", "10"]),
    (["--protect", "x"], ["--protect"]),
])
def test_bad_method_options(tmp_path, rng, options, words):
    write_window(str(tmp_path), rng, "1", 0, 0, layers=2, heads=2, tokens=10)
    out = tmp_path / "out"
    assert_error(run_cli("spatial", tmp_path, "-o", out, *options), 2, *words)
    assert not out.exists()


def test_an_option_the_shapes_refuse_names_it(tmp_path, rng):
    write_window(str(tmp_path), rng, "1", 0, 0, layers=2, heads=2, tokens=10)
    out = tmp_path / "out"
    res = run_cli("spatial", tmp_path, "-o", out, "--discard", "0.2", "--protect", "9", "--drop-cls")
    assert res.rc == 1 and "protect" in res.err.lower() and "9" in res.err, res
    assert not any(f for f in out.rglob("*") if f.is_file() and f.name != "attnroll_run.json") if out.exists() else True


def test_gradients_need_npz_files_with_heads(tmp_path, rng):
    np.save(tmp_path / "video_1_frames0-0_backbone_vit_layer_0_attn.npy",
            peaky_softmax(rng, (1, 2, 5, 5)))
    res = run_cli("spatial", tmp_path, "-o", tmp_path / "out", "--grad-key", "grads", "--grid", "2x2")
    assert res.rc == 1 and "--grad-key needs .npz" in res.err, res
