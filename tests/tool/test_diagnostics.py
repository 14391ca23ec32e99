"""attnroll spatial --flow and --spectrum, end to end: the flow against
networkx's maximum flow on the layered graph the header defines, the
effective ranks against numpy's singular values."""
import csv
import io

import numpy as np
import pytest

from conftest import assert_error, assert_ok, peaky_softmax, run_cli


def write_window(folder, rng, layers=3, frames=2, heads=2, tokens=10):
    arrays = []
    for l in range(layers):
        a = peaky_softmax(rng, (frames, heads, tokens, tokens))
        np.savez(folder / f"video_1_frames0-{frames - 1}_backbone_vit_layer_{l}_attn.npz", attention_weights=a)
        arrays.append(a.astype(np.float64))
    return arrays


def factors(arrays):
    """normalize_rows(mean_h A + I) per layer: [L, F, N, N]."""
    out = []
    for a in arrays:
        m = a.mean(1) + np.eye(a.shape[-1])
        out.append(m / m.sum(-1, keepdims=True))
    return np.stack(out)


def effective_rank(m):
    s = np.linalg.svd(m, compute_uv=False)
    if s.sum() == 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def load(path, key):
    with np.load(path) as z:
        return z[key]


def test_flow_matches_networkx(tmp_path, rng):
    nx = pytest.importorskip("networkx", reason="python3-networkx is not installed")
    arrays = write_window(tmp_path, rng)
    assert_ok(run_cli("spatial", tmp_path, "-o", tmp_path / "out", "--grid", "3x3", "--flow", "--quiet"))
    got = load(tmp_path / "out" / "attention_maps" / "rolled_out" / "video_1_backbone_vit_flow.npz", "flow")
    M = factors(arrays)
    L, F, N = M.shape[0], M.shape[1], M.shape[-1]
    assert got.shape == (F, 1, N)
    for f in range(F):
        g = nx.DiGraph()
        for l in range(L):
            for i in range(N):
                for j in range(N):
                    g.add_edge((l + 1, i), (l, j), capacity=float(M[l, f, i, j]))
        want = [nx.maximum_flow_value(g, (L, 0), (0, j)) for j in range(N)]
        np.testing.assert_allclose(got[f, 0], want, rtol=2e-6, atol=1e-7)
    assert (tmp_path / "out" / "attention_maps" / "rolled_out" / "video_1_frames0-1_flow_f000.png").exists()


def test_spectrum_matches_numpy(tmp_path, rng):
    arrays = write_window(tmp_path, rng, layers=4)
    out = tmp_path / "out"
    assert_ok(run_cli("spatial", tmp_path, "-o", out, "--grid", "3x3", "--spectrum", "--quiet"))
    folder = out / "attention_maps" / "rolled_out"
    text = (folder / "video_1_frames0-1_effective_rank.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == "frame,layer,effective_rank_layer,effective_rank_rollout"
    M = factors(arrays)
    fused = np.stack([a.mean(1) for a in arrays])
    assert len(rows) == 2 * 4
    for row in rows:
        f, l = int(row["frame"]), int(row["layer"])
        R = np.eye(M.shape[-1])
        for k in range(l + 1):
            R = M[k, f] @ R
        assert float(row["effective_rank_layer"]) == pytest.approx(effective_rank(fused[l, f]), rel=1e-5)
        assert float(row["effective_rank_rollout"]) == pytest.approx(effective_rank(R), rel=1e-5)
    assert (folder / "video_1_frames0-1_effective_rank.png").stat().st_size > 1000


def test_flow_refuses_what_it_cannot_mean(tmp_path, rng):
    write_window(tmp_path, rng)
    res = run_cli("spatial", tmp_path, "-o", tmp_path / "a", "--grid", "3x3", "--flow", "--rule", "chefer")
    assert res.rc == 1 and "flow" in res.err.lower() and "chefer" in res.err.lower(), res
    assert_error(run_cli("spatial", tmp_path, "-o", tmp_path / "b", "--flow", "--cumulative"), 2, "--flow", "--cumulative")
