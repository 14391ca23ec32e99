"""attnroll spatial: real numpy dumps in every accepted variant, compared with
the float64 reference (rollout within 2e-6; float16 inputs judged on their
exact values), options, and the CLS heat maps."""

import math
import os

import numpy as np
import pytest

from conftest import (all_files, assert_close, assert_error, assert_ok, check_heatmap,
                      load_single, locate_map, read_png, run_cli, snapshot, spatial_outputs,
                      spatial_ref, write_spatial_group)

TOL = 2e-6

# (vid, a, b, layers, heads, tokens, naming, collapsed, fmt, dtype, order)
VARIANT_GROUPS = [
    # video 3, two windows: stored float32 C order / deflated float16 Fortran order
    (3, 0, 2, 4, 2, 17, "new", False, "savez", np.float32, "C"),
    (3, 3, 5, 4, 3, 17, "new", False, "savez_compressed", np.float16, "F"),
    # video 12, two windows: older names, every layer different in storage,
    # dtype, order and head count / collapsed [F,N,N] float16
    (12, 0, 1, 6, [2, 3, 4], 17, "old", False, ["savez", "savez_compressed"],
     [np.float32, np.float16], ["F", "C", "C"]),
    (12, 2, 3, 6, 1, 17, "new", True, "savez_compressed", np.float16, "C"),
]

NPY_GROUPS = [
    (7, 10, 12, 5, 2, 37, "new", False, "npy", np.float32, "F"),
    (7, 13, 14, 5, 1, 37, "old", True, "npy", [np.float16, np.float32], "C"),
    (8, 0, 1, 3, 4, 37, "old", False, "npy", np.float16, ["C", "F"]),
]


def make_dir(directory, groups, seed):
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for vid, a, b, L, h, n, naming, collapsed, fmt, dt, order in groups:
        written[(vid, a, b)] = write_spatial_group(directory, rng, vid, a, b, L, h, n, naming,
                                                   collapsed, fmt, dt, order)
    return written


def grid_of(n):
    side = math.isqrt(n - 1)
    assert side * side == n - 1
    return side, side


def check_group(out_dir, vid, a, b, expected, grid, png_row=0, check_pngs=True):
    """Compares the group's rollout npz with `expected` ([F,k,N]) and checks
    its PNGs show row `png_row` of expected (without the CLS column)."""
    p = os.path.join(out_dir, f"video_{vid}_frames{a}-{b}")
    got = load_single(p + "_rollout.npz", "rollout", np.float32, expected.shape)
    assert_close(got, expected, TOL, f"video {vid} frames {a}-{b} rollout")
    if not check_pngs:
        return
    frames = expected.shape[0]
    maps = [expected[f, png_row, 1:].reshape(grid) for f in range(frames)]
    for f in range(frames):
        check_heatmap(f"{p}_cls_f{f:03d}.png", maps[f])
    # contact sheet: every frame's map is in it, each at its own place
    w, h, pixels = read_png(p + "_cls_contact.png")
    places = set()
    for f in range(frames):
        corr, y0, x0, s = locate_map(pixels, maps[f])
        assert corr >= 0.95, f"{p}_cls_contact.png: frame {f}'s map not found (best correlation {corr:.3f})"
        places.add((y0 // s, x0 // s))
    assert len(places) == frames, f"{p}_cls_contact.png: frames' maps not at distinct places"


@pytest.fixture(scope="module")
def variants_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("spatial_variants")
    inp, out = str(d / "dump"), str(d / "out")
    written = make_dir(inp, VARIANT_GROUPS, 1)
    before = snapshot(inp)
    res = run_cli("spatial", "--layout", "flat", inp, "-o", out)
    return inp, out, written, before, res


def test_variants_exit_and_output_names(variants_run):
    inp, out, written, before, res = variants_run
    assert_ok(res)
    expected = set()
    for vid, a, b, *_ in VARIANT_GROUPS:
        expected |= spatial_outputs(vid, a, b)
    assert all_files(out) == expected
    assert snapshot(inp) == before, "the input directory changed"


@pytest.mark.parametrize("group", VARIANT_GROUPS, ids=lambda g: f"video{g[0]}_frames{g[1]}-{g[2]}")
def test_variants_values_and_pngs(variants_run, group):
    inp, out, written, before, res = variants_run
    assert_ok(res)
    vid, a, b, L, h, n = group[:6]
    layers = written[(vid, a, b)]
    assert len(layers) == L
    check_group(out, vid, a, b, spatial_ref(layers), grid_of(n))


def test_npy_files(tmp_path):
    inp, out = str(tmp_path / "dump"), str(tmp_path / "out")
    written = make_dir(inp, NPY_GROUPS, 2)
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out))
    expected = set()
    for vid, a, b, L, h, n, *_ in NPY_GROUPS:
        expected |= spatial_outputs(vid, a, b)
        check_group(out, vid, a, b, spatial_ref(written[(vid, a, b)]), grid_of(n),
                    check_pngs=(vid == 7 and a == 10))
    assert all_files(out) == expected


@pytest.fixture
def small_group(tmp_path, rng):
    inp = str(tmp_path / "dump")
    os.makedirs(inp)
    layers = write_spatial_group(inp, rng, 5, 0, 1, 4, 2, 17)
    return inp, str(tmp_path / "out"), layers


def test_query_rows_0_3(small_group):
    inp, out, layers = small_group
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--query-rows", "0,3"))
    full = spatial_ref(layers)
    assert full.shape == (2, 17, 17)
    expected = full[:, [0, 3], :]
    assert expected.shape == (2, 2, 17)
    check_group(out, 5, 0, 1, expected, (4, 4))
    assert all_files(out) == spatial_outputs(5, 0, 1)


def test_query_rows_3_0_maps_show_first_query_row(small_group):
    inp, out, layers = small_group
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--query-rows", "3,0"))
    expected = spatial_ref(layers, query_rows=[3, 0])
    check_group(out, 5, 0, 1, expected, (4, 4), png_row=0)  # row 0 of [F,k,N] = query row 3


@pytest.mark.parametrize("spec,begin,end", [("1:", 1, None), (":2", 0, 2), ("1:3", 1, 3),
                                            ("0:4", 0, 4), ("3:", 3, None)])
def test_layer_range(small_group, spec, begin, end):
    inp, out, layers = small_group
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--layers", spec))
    check_group(out, 5, 0, 1, spatial_ref(layers, begin, end), (4, 4), check_pngs=(spec == "1:"))
    # and differs from the full rollout, so the option was honoured
    if (begin, end) not in [(0, None), (0, 4)]:
        assert np.abs(spatial_ref(layers, begin, end) - spatial_ref(layers)).max() > 1e-3


def test_layer_range_with_query_rows(small_group):
    inp, out, layers = small_group
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--layers", "1:", "--query-rows", "0"))
    check_group(out, 5, 0, 1, spatial_ref(layers, 1, None, [0]), (4, 4), check_pngs=False)


def test_threads_and_quiet(small_group):
    inp, out, layers = small_group
    res = assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--threads", "1", "--quiet"))
    assert res.err == "", f"--quiet should silence stderr\n{res!r}"
    check_group(out, 5, 0, 1, spatial_ref(layers), (4, 4), check_pngs=False)


def test_default_output_dir_and_force(small_group):
    inp, _out, layers = small_group
    default = os.path.join(inp, "attnroll_spatial")
    assert_ok(run_cli("spatial", "--layout", "flat", inp))
    assert all_files(default) == spatial_outputs(5, 0, 1)
    check_group(default, 5, 0, 1, spatial_ref(layers), (4, 4), check_pngs=False)
    # a second run refuses to replace the outputs ...
    outputs_only = lambda snap: {k: v for k, v in snap.items() if k != "attnroll_run.json"}  # noqa: E731
    before = outputs_only(snapshot(default))
    res = run_cli("spatial", "--layout", "flat", inp)
    line = assert_error(res, 1, "--force")
    assert "video_5_frames0-1_" in line
    assert outputs_only(snapshot(default)) == before  # the manifest records the refused run
    # ... unless --force (and the output directory is not read as input)
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "--force", "--layers", "1:"))
    assert all_files(default) == spatial_outputs(5, 0, 1)
    check_group(default, 5, 0, 1, spatial_ref(layers, 1), (4, 4), check_pngs=False)


def test_grid_3x5(tmp_path, rng):
    inp, out = str(tmp_path / "dump"), str(tmp_path / "out")
    os.makedirs(inp)
    layers = write_spatial_group(inp, rng, 4, 0, 1, 4, 2, 16)  # N - 1 = 15: not a square
    before = snapshot(inp)
    res = run_cli("spatial", "--layout", "flat", inp, "-o", out)
    assert_error(res, 2, "--grid")
    assert all_files(out) == set()
    assert snapshot(inp) == before
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--grid", "3x5"))
    assert all_files(out) == spatial_outputs(4, 0, 1)
    check_group(out, 4, 0, 1, spatial_ref(layers), (3, 5))


def test_grid_overrides_square_inference(small_group):
    inp, out, layers = small_group
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--grid", "2x8"))
    check_group(out, 5, 0, 1, spatial_ref(layers), (2, 8))


@pytest.mark.parametrize("grid", ["3x4", "4x5", "16x1x1"])
def test_grid_not_matching_tokens_is_usage_error(small_group, grid):
    inp, out, _layers = small_group
    assert_error(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--grid", grid), 2, "grid")
    assert all_files(out) == set()


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_frames_split_over_workers(tmp_path, threads):
    # Stored C-order layers are rolled out a frame at a time by each worker;
    # every split of 5 frames (one worker, uneven, more workers than frames)
    # gives the reference, including a float16 layer among float32 ones.
    inp, out = str(tmp_path / "dump"), str(tmp_path / "out")
    rng = np.random.default_rng(40 + threads)
    os.makedirs(inp)
    layers = write_spatial_group(inp, rng, 9, 0, 4, 4, [2, 3], 17, "new", False, "savez",
                                 [np.float32, np.float32, np.float16], "C")
    assert_ok(run_cli("spatial", "--layout", "flat", inp, "-o", out, "--threads", str(threads), "--quiet"))
    check_group(out, 9, 0, 4, spatial_ref(layers), (4, 4))
