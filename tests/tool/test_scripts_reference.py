"""Checks the scripts' numpy transcription (scripts_reference.py) on cases worked out
by hand, on the constant-vector conventions, and on properties any correct rollout
has.  Standalone: needs only numpy and pytest.

    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/tool/test_scripts_reference.py
"""
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scripts_reference as ref  # noqa: E402

# Two row-stochastic 2x2 maps whose products differ by order (worked on paper):
#   A0 = [[0,1],[0,1]]: A0+I = [[1,1],[0,2]] -> T0 = [[.5,.5],[0,1]]
#   A1 = [[1,0],[1,0]]: A1+I = [[2,0],[1,1]] -> T1 = [[1,0],[.5,.5]]
#   T1 @ T0 = [[.5,.5],[.25,.75]]   (the wrong order T0 @ T1 = [[.75,.25],[.5,.5]])
A0 = np.array([[0.0, 1.0], [0.0, 1.0]])
A1 = np.array([[1.0, 0.0], [1.0, 0.0]])
T0 = np.array([[0.5, 0.5], [0.0, 1.0]])
T1 = np.array([[1.0, 0.0], [0.5, 0.5]])
R10 = np.array([[0.5, 0.5], [0.25, 0.75]])

EXACT = 1e-15


def peaky(rng, shape):
    """Softmax rows of random logits with a few tall peaks, like real attention."""
    logits = rng.random(shape) * 2.0
    peaks = rng.integers(0, shape[-1], size=shape[:-1] + (2,))
    np.put_along_axis(logits, peaks, rng.uniform(4.0, 8.0, size=peaks.shape), axis=-1)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


# ---- shared steps ------------------------------------------------------------------

def test_normalize_rows_zero_row_divides_by_one():
    got = ref.normalize_rows([[1.0, 3.0], [0.0, 0.0]])
    np.testing.assert_array_equal(got, [[0.25, 0.75], [0.0, 0.0]])


def test_residual_normalize_by_hand():
    np.testing.assert_allclose(ref.residual_normalize(A0), T0, atol=EXACT)
    np.testing.assert_allclose(ref.residual_normalize(A1), T1, atol=EXACT)


# ---- instance selection ------------------------------------------------------------

def test_select_rank2_is_itself_whatever_the_id():
    a = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(ref.select_instance_attention(a, 7), a)
    assert not ref.selection_falls_back(a, 7)


def test_select_rank3():
    a = np.arange(3 * 4 * 4.0).reshape(3, 4, 4)
    np.testing.assert_array_equal(ref.select_instance_attention(a, 1), a[1])
    assert not ref.selection_falls_back(a, 1)
    # shape[0] = 2 <= 3 < shape[1] = 5: the column slice A[:, 3, :], which is [2, 5]
    b = np.arange(2 * 5 * 5.0).reshape(2, 5, 5)
    got = ref.select_instance_attention(b, 3)
    assert got.shape == (2, 5)
    np.testing.assert_array_equal(got, [[15, 16, 17, 18, 19], [40, 41, 42, 43, 44]])
    # id beyond both: A[0], silently in the scripts
    np.testing.assert_array_equal(ref.select_instance_attention(a, 4), a[0])
    assert ref.selection_falls_back(a, 4)
    # last two extents differ: A[0]
    c = np.arange(3 * 4 * 5.0).reshape(3, 4, 5)
    np.testing.assert_array_equal(ref.select_instance_attention(c, 2), c[0])


def test_select_rank4_averages_what_remains():
    # a[q, h] = [[12q+4h, +1], [+2, +3]]
    a = np.arange(2 * 3 * 2 * 2.0).reshape(2, 3, 2, 2)
    # id 1 < 2: a[1] = the blocks starting at 12, 16, 20 -> mean starts at 16
    np.testing.assert_array_equal(ref.select_instance_attention(a, 1), [[16, 17], [18, 19]])
    # id 2: axis 0 (2) is too short, axis 1 (3) is not: a[:, 2] = blocks at 8 and 20 -> 14
    np.testing.assert_array_equal(ref.select_instance_attention(a, 2), [[14, 15], [16, 17]])
    assert not ref.selection_falls_back(a, 2)
    # id 5 beyond every leading axis: the first slice a[0, 0]
    np.testing.assert_array_equal(ref.select_instance_attention(a, 5), [[0, 1], [2, 3]])
    assert ref.selection_falls_back(a, 5)


def test_select_rank5_averages_two_remaining_axes():
    a = np.arange(2 * 3 * 2 * 2 * 2.0).reshape(2, 3, 2, 2, 2)
    # a[1] holds blocks starting at 24, 28, ..., 44 (six of them): mean starts at 34
    np.testing.assert_array_equal(ref.select_instance_attention(a, 1), [[34, 35], [36, 37]])


# ---- temporal rollout and temporal_rollout.py's outputs -----------------------------

def test_temporal_rollout_order_by_hand():
    np.testing.assert_allclose(ref.temporal_rollout([A0, A1], 0), R10, atol=EXACT)
    np.testing.assert_allclose(ref.temporal_rollout_nolayer0([A0, A1], 0), T1, atol=EXACT)


def test_temporal_rollout_selects_per_layer():
    # instance 1 of [2, 2, 2] layers carries A0 / A1; instance 0 carries junk
    junk = np.full((2, 2), 0.5)
    layers = [np.stack([junk, A0]), np.stack([junk, A1])]
    np.testing.assert_allclose(ref.temporal_rollout(layers, 1), R10, atol=EXACT)


def test_temporal_outputs_by_hand():
    out = ref.temporal_rollout_outputs([A0, A1], 0)
    assert sorted(out) == sorted([
        "rollout", "rollout_col_avg", "rollout_col_avg_norm",
        "rollout_nolayer0", "rollout_nolayer0_col_avg", "rollout_nolayer0_col_avg_norm"])
    assert [out[k][0] for k in ("rollout", "rollout_col_avg", "rollout_col_avg_norm",
                                "rollout_nolayer0")] == ["rollout", "col_avg", "col_avg_norm",
                                                         "rollout"]
    # column means of R10: (.5+.25)/2, (.5+.75)/2; of T1: (1+.5)/2, (0+.5)/2
    np.testing.assert_allclose(out["rollout_col_avg"][1], [0.375, 0.625], atol=EXACT)
    np.testing.assert_allclose(out["rollout_col_avg_norm"][1], [0.0, 1.0], atol=EXACT)
    np.testing.assert_allclose(out["rollout_nolayer0"][1], T1, atol=EXACT)
    np.testing.assert_allclose(out["rollout_nolayer0_col_avg"][1], [0.75, 0.25], atol=EXACT)
    np.testing.assert_allclose(out["rollout_nolayer0_col_avg_norm"][1], [1.0, 0.0], atol=EXACT)


def test_single_layer_has_no_nolayer0_and_constant_col_avg_norm_is_ones():
    # A = all 0.5: A+I = [[1.5,.5],[.5,1.5]] -> [[.75,.25],[.25,.75]], column means .5,.5
    out = ref.temporal_rollout_outputs([np.full((2, 2), 0.5)], 0)
    assert sorted(out) == ["rollout", "rollout_col_avg", "rollout_col_avg_norm"]
    np.testing.assert_allclose(out["rollout"][1], [[0.75, 0.25], [0.25, 0.75]], atol=EXACT)
    np.testing.assert_array_equal(out["rollout_col_avg_norm"][1], [1.0, 1.0])
    with pytest.raises(ValueError):
        ref.temporal_rollout_nolayer0([np.full((2, 2), 0.5)], 0)


def test_temporal_rollout_files_paths():
    files = ref.temporal_rollout_files(3, 1, [np.stack([A0, A0]), np.stack([A1, A1])])
    assert sorted(files) == sorted(
        f"attention_maps/rolled_out/video_3_refiner_1_rollout{s}.npz"
        for s in ("", "_col_avg", "_col_avg_norm", "_nolayer0", "_nolayer0_col_avg",
                  "_nolayer0_col_avg_norm"))


def test_temporal_shape_errors():
    with pytest.raises(ValueError):  # selection A[:, 3, :] is [2, 5]
        ref.temporal_rollout([np.ones((2, 5, 5))], 3)
    with pytest.raises(ValueError):  # rank 3 not square: A[0] is [4, 5]
        ref.temporal_rollout([np.ones((3, 4, 5))], 0)
    with pytest.raises(ValueError):  # T = 2 then T = 3
        ref.temporal_rollout([A0, np.eye(3)], 0)
    with pytest.raises(ValueError):
        ref.temporal_rollout([], 0)


# ---- plot_temporal_attn.py ---------------------------------------------------------

def test_plot_outputs_and_csv_text_by_hand():
    # R10 rows: [.5,.5] constant -> zeros; [.25,.75] -> [0, 1]
    # column means of that: [0, .5]; their min-max: [0, 1]
    npz, csv = ref.plot_temporal_outputs(R10)
    np.testing.assert_array_equal(npz["rollout_rownorm"][1], [[0.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(npz["rollout_rownorm_colavg"][1], [0.0, 0.5])
    np.testing.assert_array_equal(npz["rollout_rownorm_colavg_norm"][1], [0.0, 1.0])
    assert [npz[k][0] for k in sorted(npz)] == sorted(npz)  # key = file suffix
    assert csv["rollout_rownorm_colavg"] == "column_index,mean_value\n0,0.0\n1,0.5\n"
    assert csv["rollout_rownorm_colavg_norm"] == "column_index,mean_value_norm\n0,0.0\n1,1.0\n"


def test_rownorm_3x3_by_hand():
    r = np.array([[0.2, 0.3, 0.5], [0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3]])
    # rows: [0, 1/3, 1]; [1, 1, 0]; constant -> [0, 0, 0]
    # column means [1/3, 4/9, 1/3] -> min-max [0, 1, 0]
    npz, csv = ref.plot_temporal_outputs(r)
    np.testing.assert_allclose(npz["rollout_rownorm"][1],
                               [[0, 1 / 3, 1], [1, 1, 0], [0, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(npz["rollout_rownorm_colavg"][1], [1 / 3, 4 / 9, 1 / 3], atol=1e-15)
    np.testing.assert_allclose(npz["rollout_rownorm_colavg_norm"][1], [0, 1, 0], atol=1e-13)
    header, idx, vals = ref.parse_csv(csv["rollout_rownorm_colavg"])
    assert header == "column_index,mean_value" and idx == [0, 1, 2]
    np.testing.assert_array_equal(vals, npz["rollout_rownorm_colavg"][1])  # repr round-trips


def test_constant_conventions_differ_between_scripts():
    # [[0,1],[1,0]]: rownorm is itself, column means [.5,.5] are constant:
    # the plot script's min-max gives zeros, temporal_rollout.py's gives ones
    r = np.array([[0.0, 1.0], [1.0, 0.0]])
    npz, _ = ref.plot_temporal_outputs(r)
    np.testing.assert_array_equal(npz["rollout_rownorm_colavg_norm"][1], [0.0, 0.0])
    np.testing.assert_array_equal(ref.col_avg_norm(ref.col_avg(r)), [1.0, 1.0])
    # every row constant: rownorm all zeros
    np.testing.assert_array_equal(ref.minmax_rows(np.full((3, 3), 0.25)), np.zeros((3, 3)))


def test_plot_files_paths():
    files = ref.plot_temporal_files(5, 2, R10)
    stem = "inference/attention_maps/video_5_refiner_2_rollout"
    assert sorted(files) == sorted([stem + ".npz", stem + "_rownorm.npz",
                                    stem + "_rownorm_colavg.npz", stem + "_rownorm_colavg.csv",
                                    stem + "_rownorm_colavg_norm.npz",
                                    stem + "_rownorm_colavg_norm.csv"])


def test_plot_script_raw_product_is_scaled_and_rownorm_agrees():
    rng = np.random.default_rng(3)
    layers = [peaky(rng, (6, 6)) for _ in range(4)]
    raw = ref.plot_script_raw_product(layers, 0)
    r = ref.temporal_rollout(layers, 0)
    np.testing.assert_allclose(raw, 2.0 ** 4 * r, rtol=1e-13)
    np.testing.assert_allclose(ref.minmax_rows(raw), ref.minmax_rows(r), atol=1e-12)


# ---- the newest spatial script ---------------------------------------------------

# Two heads over 3 tokens (token 0 = CLS).  Dropping row/col 0 and renormalising:
#   head 0: [[.5,0],[0,.5]] -> [[1,0],[0,1]]   mean row entropy ~ 0
#   head 1: [[.4,.4],[.2,.2]] -> all .5       mean row entropy ~ ln 2
# weights softmax(-[0, ln 2]) = [1, 1/2] / (3/2) = [2/3, 1/3]
# fused = 2/3 I + 1/3 * .5 = [[5/6,1/6],[1/6,5/6]]; +I and /2 -> [[11/12,1/12],[1/12,11/12]]
HEAD0 = np.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])
HEAD1 = np.array([[1.0, 0.0, 0.0], [0.2, 0.4, 0.4], [0.6, 0.2, 0.2]])


def test_drop_cls_by_hand():
    got = ref.drop_cls(np.stack([HEAD0, HEAD1]))
    np.testing.assert_allclose(got, [[[1, 0], [0, 1]], [[0.5, 0.5], [0.5, 0.5]]], atol=EXACT)
    # a row with all its mass on CLS becomes zeros, not NaN
    np.testing.assert_array_equal(ref.drop_cls([[0.5, 0.5, 0], [1, 0, 0], [0, 0, 1]]),
                                  [[0, 0], [0, 1]])


def test_entropy_fusion_by_hand():
    layer = np.stack([HEAD0, HEAD1])[None]  # [F=1, H=2, 3, 3]
    w = ref.entropy_head_weights(ref.drop_cls(layer))
    np.testing.assert_allclose(w, [[2 / 3, 1 / 3]], atol=1e-9)
    np.testing.assert_allclose(ref.newest_layer_maps(layer), [[[5 / 6, 1 / 6], [1 / 6, 5 / 6]]],
                               atol=1e-9)
    np.testing.assert_allclose(ref.spatial_rollout_newest([layer]),
                               [[[11 / 12, 1 / 12], [1 / 12, 11 / 12]]], atol=1e-9)


def test_entropy_weights_three_heads_by_hand():
    # entropies 0, ln 2, ln 2 -> weights proportional to 1, 1/2, 1/2 = [1/2, 1/4, 1/4]
    onehot, uniform = np.eye(2), np.full((2, 2), 0.5)
    w = ref.entropy_head_weights(np.stack([onehot, uniform, uniform]))
    np.testing.assert_allclose(w, [0.5, 0.25, 0.25], atol=1e-9)
    # 4 tokens, uniform head: entropy ln 4 exactly up to the 1e-10 inside the log
    np.testing.assert_allclose(ref.head_entropies(np.full((1, 4, 4), 0.25)), [math.log(4)],
                               atol=1e-9)


def test_newest_order_with_collapsed_layers_by_hand():
    # collapsed [F=1, 3, 3] files; dropping CLS and renormalising gives A0 and A1 above:
    #   [[0,.5],[0,.8]] -> [[0,1],[0,1]];  [[.5,0],[.9,0]] -> [[1,0],[1,0]]
    l0 = np.array([[[1.0, 0, 0], [0.5, 0, 0.5], [0.2, 0, 0.8]]])
    l1 = np.array([[[1.0, 0, 0], [0.5, 0.5, 0], [0.1, 0.9, 0]]])
    np.testing.assert_allclose(ref.spatial_rollout_newest([l0, l1]), [R10], atol=EXACT)


def test_newest_properties_on_peaky_attention():
    rng = np.random.default_rng(7)
    layers = [peaky(rng, (2, 4, 9, 9)) for _ in range(5)]
    for m in ref.newest_layer_matrices(layers):
        assert m.shape == (2, 8, 8)
        np.testing.assert_allclose(m.sum(axis=-1), 1.0, atol=1e-13)
    w = ref.entropy_head_weights(ref.drop_cls(layers[0]))
    assert w.shape == (2, 4) and (w > 0).all()
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-13)
    r = ref.spatial_rollout_newest(layers)
    assert r.shape == (2, 8, 8) and r.dtype == np.float64
    np.testing.assert_allclose(r.sum(axis=-1), 1.0, atol=1e-12)
    # each frame is rolled out on its own: frame 1 alone gives the same
    np.testing.assert_allclose(ref.spatial_rollout_newest([a[1:] for a in layers])[0], r[1],
                               atol=1e-15)


def test_identical_heads_get_equal_weights_and_fuse_to_themselves():
    rng = np.random.default_rng(8)
    head = peaky(rng, (6, 6))
    layer = np.broadcast_to(head, (1, 3, 6, 6))
    w = ref.entropy_head_weights(ref.drop_cls(layer))
    np.testing.assert_allclose(w, [[1 / 3] * 3], atol=1e-15)
    np.testing.assert_allclose(ref.newest_layer_maps(layer)[0], ref.drop_cls(head), atol=1e-15)


def test_lower_entropy_head_weighs_more():
    rng = np.random.default_rng(9)
    sharp, flat = peaky(rng, (5, 5)) ** 4, np.full((5, 5), 0.2)
    w = ref.entropy_head_weights(ref.drop_cls(np.stack([flat, sharp])))
    assert w[1] > w[0]


def test_combine_windows_in_frame_order():
    rng = np.random.default_rng(10)
    late = [peaky(rng, (2, 2, 5, 5)) for _ in range(3)]   # frames 3-4
    early = [peaky(rng, (3, 2, 5, 5)) for _ in range(3)]  # frames 0-2
    files = ref.spatial_newest_video_file(6, {(3, 4): late, (0, 2): early})
    (path, (key, arr)), = files.items()
    assert path == "attention_maps/rolled_out/video_6_backbone_vit_rolled_out.npz"
    assert key == "attention_weights"
    assert arr.dtype == np.float32 and arr.shape == (5, 4, 4)
    np.testing.assert_array_equal(arr[:3], ref.spatial_rollout_newest(early).astype(np.float32))
    np.testing.assert_array_equal(arr[3:], ref.spatial_rollout_newest(late).astype(np.float32))
    # a list of (a, array) pairs works too
    np.testing.assert_array_equal(ref.combine_windows([(3, np.ones((1, 2, 2))),
                                                       (0, np.zeros((1, 2, 2)))])[:, 0, 0], [0, 1])


# ---- the spec's plain spatial rollout ----------------------------------------------

def test_plain_spatial_by_hand():
    # heads A0, A1 average to all .5 -> norm(+I) = [[.75,.25],[.25,.75]] = M
    # two such layers: M @ M = [[.625,.375],[.375,.625]]
    layer = np.stack([A0, A1])[None]  # [F=1, H=2, 2, 2]
    m = np.array([[0.75, 0.25], [0.25, 0.75]])
    np.testing.assert_allclose(ref.spatial_rollout_plain([layer]), [m], atol=EXACT)
    np.testing.assert_allclose(ref.spatial_rollout_plain([layer, layer]),
                               [[[0.625, 0.375], [0.375, 0.625]]], atol=EXACT)
    # order: collapsed layer 0 = A0, layer 1 = A1 -> Abar_1 @ Abar_0 = R10
    np.testing.assert_allclose(ref.spatial_rollout_plain([A0[None], A1[None]]), [R10], atol=EXACT)
    # --layers 1: keeps only layer 1; query row 1 of R10 is [.25, .75]
    np.testing.assert_allclose(ref.spatial_rollout_plain([A0[None], A1[None]], (1, None)), [T1],
                               atol=EXACT)
    np.testing.assert_allclose(ref.spatial_rollout_plain([A0[None], A1[None]], query_rows=[1]),
                               [[[0.25, 0.75]]], atol=EXACT)


def test_plain_spatial_rows_sum_to_one_and_cls_maps():
    rng = np.random.default_rng(11)
    layers = [peaky(rng, (2, 3, 7, 7)) for _ in range(4)]
    r = ref.spatial_rollout_plain(layers)
    assert r.shape == (2, 7, 7)
    np.testing.assert_allclose(r.sum(axis=-1), 1.0, atol=1e-12)
    maps = ref.cls_patch_maps(r, (2, 3))
    assert maps.shape == (2, 2, 3)
    np.testing.assert_array_equal(maps[1, 1], r[1, 0, 4:7])  # patch row 1 = tokens 4..6
