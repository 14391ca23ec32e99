"""Reliability of attnroll spatial on bad input (exit 1, one stderr line
naming the file and the problem, no output file at all, not even a temporary
one), existing outputs and --force, usage errors (exit 2) and --help."""

import os
import re

import numpy as np
import pytest

from conftest import (all_files, assert_error, assert_ok, load_single, mentions_any,
                      peaky_softmax, run_cli, save_array, snapshot, spatial_name, spatial_outputs,
                      spatial_ref, strip_paths, write_spatial_group)

VID, A, B, L, H, N = 7, 0, 1, 3, 2, 17
GROUP = f"video_{VID}_frames{A}-{B}"


@pytest.fixture
def group(tmp_path, rng):
    """A valid group of L layers; returns (dir, out, [paths], [arrays])."""
    inp = str(tmp_path / "dump")
    os.makedirs(inp)
    arrays = write_spatial_group(inp, rng, VID, A, B, L, H, N)
    paths = [os.path.join(inp, spatial_name(VID, A, B, l)) for l in range(L)]
    assert all(os.path.exists(p) for p in paths)
    return inp, str(tmp_path / "out"), paths, arrays


def run_and_expect_bad_input(inp, out, *mention):
    before = snapshot(inp)
    line = assert_error(run_cli("spatial", "--layout", "flat", inp, "-o", out), 1, *mention)
    assert all_files(out) == set(), f"files in OUT after a failure: {sorted(all_files(out))}"
    assert snapshot(inp) == before, "the input directory changed"
    return line


def test_truncated_zip(group):
    inp, out, paths, _ = group
    data = open(paths[1], "rb").read()
    open(paths[1], "wb").write(data[:len(data) // 2])
    run_and_expect_bad_input(inp, out, os.path.basename(paths[1]))


def test_not_a_zip(group):
    inp, out, paths, _ = group
    open(paths[2], "wb").write(b"this is not a zip archive at all\n" * 10)
    run_and_expect_bad_input(inp, out, os.path.basename(paths[2]))


def test_truncated_npy(tmp_path, rng):
    inp, out = str(tmp_path / "dump"), str(tmp_path / "out")
    os.makedirs(inp)
    write_spatial_group(inp, rng, VID, A, B, L, H, N, fmt="npy")
    victim = os.path.join(inp, spatial_name(VID, A, B, 0, suffix=".npy"))
    data = open(victim, "rb").read()
    open(victim, "wb").write(data[:len(data) - 100])
    run_and_expect_bad_input(inp, out, os.path.basename(victim))


def test_wrong_key(group, rng):
    inp, out, paths, _ = group
    os.remove(paths[1])
    save_array(paths[1], peaky_softmax(rng, (2, H, N, N)), key="weights")
    run_and_expect_bad_input(inp, out, os.path.basename(paths[1]), "attention_weights")


def test_wrong_dtype(group, rng):
    inp, out, paths, _ = group
    os.remove(paths[1])
    save_array(paths[1], (peaky_softmax(rng, (2, H, N, N)) * 1000).astype(np.int32))
    line = run_and_expect_bad_input(inp, out, os.path.basename(paths[1]))
    assert mentions_any(line, ["int32", "<i4", "i4", "dtype"]), line


def test_non_square(group, rng):
    inp, out, paths, _ = group
    os.remove(paths[1])
    save_array(paths[1], peaky_softmax(rng, (2, H, N, N - 1)))
    line = run_and_expect_bad_input(inp, out, os.path.basename(paths[1]))
    assert mentions_any(line, ["square", "17,16", "17, 16", "17x16"]), line


def test_missing_layer(tmp_path, rng):
    inp, out = str(tmp_path / "dump"), str(tmp_path / "out")
    os.makedirs(inp)
    write_spatial_group(inp, rng, VID, A, B, 4, H, N)
    os.remove(os.path.join(inp, spatial_name(VID, A, B, 2)))     # layers 0, 1, 3
    line = run_and_expect_bad_input(inp, out)
    rest = strip_paths(line, tmp_path)
    assert re.search(r"video\D{0,2}7", rest) and "0-1" in rest, f"group not named: {line}"
    rest = re.sub(r"video\D{0,2}7\D{0,8}0-1", "", rest)
    assert re.search(r"(?<![\d.])2(?![\d.])", rest), f"missing layer 2 not named: {line}"


@pytest.mark.parametrize("bad_shape", [(3, H, N, N), (2, H, 10, 10)], ids=["frames", "tokens"])
def test_layers_disagree(group, rng, bad_shape):
    inp, out, paths, _ = group
    os.remove(paths[2])
    save_array(paths[2], peaky_softmax(rng, bad_shape))
    line = run_and_expect_bad_input(inp, out)
    assert any(os.path.basename(p) in line for p in paths), f"no file named: {line}"


@pytest.mark.parametrize("victim", ["rollout.npz", "cls_contact.png", "cls_f001.png"])
def test_existing_output_needs_force(group, victim):
    inp, out, paths, arrays = group
    os.makedirs(out)
    name = f"{GROUP}_{victim}"
    with open(os.path.join(out, name), "wb") as fh:
        fh.write(b"old contents")
    assert_error(run_cli("spatial", "--layout", "flat", inp, "-o", out), 1, name, "--force")
    assert open(os.path.join(out, name), "rb").read() == b"old contents"
    stray = all_files(out) - spatial_outputs(VID, A, B)
    assert not stray, f"stray (temporary?) files left: {sorted(stray)}"
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--force"))
    assert all_files(out) == spatial_outputs(VID, A, B)
    got = load_single(os.path.join(out, f"{GROUP}_rollout.npz"), "rollout", np.float32, (2, N, N))
    assert np.abs(got - spatial_ref(arrays)).max() <= 2e-6
    assert open(os.path.join(out, name), "rb").read() != b"old contents"


# ---------------------------------------------------------------------------
# Usage errors: exit 2
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("args,mention", [
    (["--frobnicate"], "--frobnicate"),
    (["--layers", "abc"], "--layers"),
    (["--layers", "1-3"], "--layers"),
    (["--layers", "1:2:3"], "--layers"),
    (["--layers", "a:"], "--layers"),
    (["--grid", "4by4"], "--grid"),
    (["--grid", "4x"], "--grid"),
    (["--grid", "x4"], "--grid"),
    (["--query-rows", "0,a"], "--query-rows"),
    (["--threads", "many"], "--threads"),
])
def test_spatial_usage_errors(group, args, mention):
    inp, out, _paths, _ = group
    assert_error(run_cli("spatial", "--layout", "flat", inp, "-o", out, *args), 2, mention)
    assert all_files(out) == set()


def test_spatial_without_dir_is_usage_error():
    assert run_cli("spatial").rc == 2


def test_unknown_subcommand():
    assert_error(run_cli("frobnicate"), 2, "frobnicate")


def test_temporal_and_demo_unknown_option(tmp_path):
    assert_error(run_cli("temporal", tmp_path, "--frobnicate"), 2, "--frobnicate")
    assert_error(run_cli("demo", "-o", tmp_path / "d", "--frobnicate", cwd=tmp_path), 2, "--frobnicate")
    assert all_files(tmp_path) == set()


@pytest.mark.parametrize("sub,words", [
    ("spatial", ["--grid", "--query-rows", "--layers", "--force"]),
    ("temporal", ["--force"]),
    ("demo", ["--force"]),
    ("info", []),
])
def test_help(tmp_path, sub, words):
    res = assert_ok(run_cli(sub, "--help", cwd=tmp_path))
    text = res.out + res.err
    assert sub in text, f"help does not name the subcommand\n{res!r}"
    for w in words:
        assert w in text, f"help does not mention {w}\n{res!r}"
    assert all_files(tmp_path) == set(), "--help wrote files"


def test_top_level_help(tmp_path):
    res = assert_ok(run_cli("--help", cwd=tmp_path))
    text = res.out + res.err
    for sub in ("spatial", "temporal", "demo", "info"):
        assert sub in text
