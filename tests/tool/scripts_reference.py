"""Float64 numpy transcription of what the users' three scripts compute.

Written from ../shared/spec/ORIGINAL_OUTPUTS.md, ../shared/spec/ROLLOUT_SPEC.md and
../shared/DESIGN.md ("Instance selection"), not from attnroll's C++ code, so the
tool's end-to-end tests can compare its files with an independent oracle:

  temporal_rollout.py     select_instance_attention, temporal_rollout, col_avg,
                          col_avg_norm, temporal_rollout_files
  plot_temporal_attn.py   plot_temporal_outputs, csv_text, plot_temporal_files
  spatial_rollout.py      spatial_rollout_newest (CLS drop + entropy head fusion),
  (newest)                combine_windows, spatial_newest_video_file
  spec spatial rollout    spatial_rollout_plain (the tool's default spatial command)

Everything is computed in float64; only the per-video spatial array is cast to
float32, because that is the dtype the spatial script saves.

Where the documents are silent, the choices are stated beside the code (look for
"ASSUMPTION").  Numpy only; run under /usr/bin/python3.
"""
import numpy as np

# Folders under BASE where each script writes (ORIGINAL_OUTPUTS.md).
TEMPORAL_ROLLOUT_DIR = "attention_maps/rolled_out"      # temporal_rollout.py
PLOT_MAPS_DIR = "inference/attention_maps"              # plot_temporal_attn.py npz/csv
PLOT_IMAGES_DIR = "inference/attention_plots"           # plot_temporal_attn.py png
SPATIAL_ROLLED_OUT_DIR = "attention_maps/rolled_out"    # spatial_rollout.py, under DIR

ENTROPY_EPS = 1e-10  # inside the log of the entropy, as the newest spatial script


# ---- shared steps --------------------------------------------------------------

def normalize_rows(m):
    """Each row (last axis) divided by its sum; a zero sum divides by 1 (the spec's
    normalize_rows, extended to stacks of matrices)."""
    m = np.asarray(m, dtype=np.float64)
    sums = m.sum(axis=-1, keepdims=True)
    return m / np.where(sums == 0, 1.0, sums)


def residual_normalize(a):
    """norm(A + I): the spec's simulated residual for one [n, n] map or a stack."""
    a = np.asarray(a, dtype=np.float64)
    return normalize_rows(a + np.eye(a.shape[-1]))


def _require_square(m, what):
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{what}: selected shape {list(m.shape)} is not a square matrix")


# ---- temporal: instance selection ------------------------------------------------

def _select(a, r):
    """(matrix, fell_back) per DESIGN.md "Instance selection"; fell_back is True when
    the spec's silent fallback to instance 0 / the first slice was taken."""
    a = np.asarray(a)
    if a.ndim < 2:
        raise ValueError(f"attention of rank {a.ndim}: need rank >= 2")
    if a.ndim == 2:
        return a, False
    if a.ndim == 3:
        if a.shape[1] != a.shape[2]:
            # not square: the rollout reports the shape error
            return a[0], False
        if a.shape[0] > r:
            return a[r], False
        if a.shape[1] > r:
            return a[:, r, :], False
        return a[0], True
    lead = a.ndim - 2
    for axis in range(lead):
        if a.shape[axis] > r:
            picked = np.take(a, r, axis=axis)
            # The scripts skip a layer whose selection keeps extra leading axes
            # ([Q,H,T,T] -> [H,T,T]); attnroll averages them, as heads are averaged.
            if picked.ndim > 2:
                picked = picked.astype(np.float64).mean(axis=tuple(range(picked.ndim - 2)))
            return picked, False
    return a[(0,) * lead], True


def select_instance_attention(a, r):
    """The [T, T] (or, for the ill-shaped cases, whatever the rules pick) float64
    matrix of instance r in attention array a of any rank >= 2."""
    return np.asarray(_select(a, r)[0], dtype=np.float64)


def selection_falls_back(a, r):
    """True when r is beyond every leading axis, so the scripts silently took instance
    0 (rank 3) or the first [T, T] slice (rank >= 4); the tool must warn then."""
    return _select(a, r)[1]


# ---- temporal: rollout and temporal_rollout.py's outputs ---------------------------

def temporal_layer_matrices(layers, r):
    """[T_0, ..., T_N]: T_i = normalize_rows(select(A_i, r) + I).  Non-square
    selections and layers disagreeing on T are errors (attnroll refuses where the
    scripts resampled)."""
    if len(layers) == 0:
        raise ValueError("no temporal layers")
    mats = []
    for i, a in enumerate(layers):
        m = select_instance_attention(a, r)
        _require_square(m, f"layer {i}")
        if mats and m.shape != mats[0].shape:
            raise ValueError(f"layer {i}: T = {m.shape[0]}, layer 0 has T = {mats[0].shape[0]}")
        mats.append(residual_normalize(m))
    return mats


def _product_last_to_first(mats):
    """rollout = T_N @ T_{N-1} @ ... @ T_0, built as the spec does (start at T_N,
    multiply on the right going down)."""
    rollout = mats[-1]
    for t in reversed(mats[:-1]):
        rollout = rollout @ t
    return rollout


def temporal_rollout(layers, r):
    """R = T_N ... T_0 for instance r, float64 [T, T].  `layers` is the list of
    arrays in layer order (for per-layer files: by l, then every array key of each
    file in file order)."""
    return _product_last_to_first(temporal_layer_matrices(layers, r))


def temporal_rollout_nolayer0(layers, r):
    """T_N ... T_1; the script writes it only with >= 2 layers."""
    mats = temporal_layer_matrices(layers, r)
    if len(mats) < 2:
        raise ValueError("nolayer0 needs at least 2 layers")
    return _product_last_to_first(mats[1:])


def col_avg(rollout):
    """Mean over rows of R: entry j is the mean of column j, [T]."""
    return np.asarray(rollout, dtype=np.float64).mean(axis=0)


def minmax(v, constant):
    """(v - min) / (max - min); a constant vector gives `constant` everywhere (the
    two scripts disagree: 1.0 for col_avg_norm, 0.0 for rownorm_colavg_norm)."""
    v = np.asarray(v, dtype=np.float64)
    lo, hi = v.min(), v.max()
    if hi == lo:
        return np.full_like(v, constant)
    return (v - lo) / (hi - lo)


def col_avg_norm(v):
    """temporal_rollout.py's min-max of col_avg: constant -> all ones."""
    return minmax(v, 1.0)


def temporal_rollout_outputs(layers, r):
    """{file suffix: (npz key, array)} exactly as temporal_rollout.py writes them
    for one (video, refiner); nolayer0 entries only with >= 2 layers."""
    out = {}
    mats = temporal_layer_matrices(layers, r)
    variants = [("rollout", mats)]
    if len(mats) >= 2:
        variants.append(("rollout_nolayer0", mats[1:]))
    for name, ms in variants:
        rollout = _product_last_to_first(ms)
        avg = col_avg(rollout)
        out[name] = ("rollout", rollout)
        out[name + "_col_avg"] = ("col_avg", avg)
        out[name + "_col_avg_norm"] = ("col_avg_norm", col_avg_norm(avg))
    return out


def temporal_rollout_files(video, refiner, layers):
    """{path relative to BASE: (npz key, array)} for temporal_rollout.py."""
    return {f"{TEMPORAL_ROLLOUT_DIR}/video_{video}_refiner_{refiner}_{suffix}.npz": entry
            for suffix, entry in temporal_rollout_outputs(layers, refiner).items()}


# ---- plot_temporal_attn.py ---------------------------------------------------------

def minmax_rows(rollout):
    """Each row of R min-max scaled to [0, 1]; a constant row becomes zeros (its
    range 0 divides by 1, and R - min is 0)."""
    rollout = np.asarray(rollout, dtype=np.float64)
    lo = rollout.min(axis=1, keepdims=True)
    span = rollout.max(axis=1, keepdims=True) - lo
    return (rollout - lo) / np.where(span == 0, 1.0, span)


def csv_text(values, value_header):
    """The CSV the plot script writes: header `column_index,<value_header>`, then one
    line `index,value` per column.

    ASSUMPTION (ORIGINAL_OUTPUTS.md gives the header but no number format): values
    are written the way both pandas' default DataFrame.to_csv(index=False) and an
    f-string f"{i},{v}" write a float64, i.e. Python's shortest round-trip repr
    ('0.5', '1.0', '0.0', '1e-05'), indices as plain integers, '\\n' line ends, a
    final newline.  A tool printing "%.17g" writes the same numbers as other text
    ('1' for '1.0', '0.10000000000000001' for '0.1'); compare parsed values
    (parse_csv) unless the text itself is the point.
    """
    lines = [f"column_index,{value_header}"]
    lines += [f"{j},{float(v)!r}" for j, v in enumerate(np.asarray(values, dtype=np.float64))]
    return "\n".join(lines) + "\n"


def parse_csv(text):
    """(header, indices, values) of a two-column CSV as csv_text writes it."""
    rows = text.strip("\n").split("\n")
    body = [line.split(",") for line in rows[1:]]
    return (rows[0], [int(i) for i, _ in body], np.array([float(v) for _, v in body]))


def plot_temporal_outputs(rollout):
    """(npz, csv) for one (video, refiner) of plot_temporal_attn.py, given the spec's
    R (the script's unnormalised product is a defect the tool does not copy; the
    row-min-max outputs are the same either way).
    npz: {file suffix: (npz key, array)}; csv: {file suffix: text}."""
    rollout = np.asarray(rollout, dtype=np.float64)
    rownorm = minmax_rows(rollout)
    colavg = rownorm.mean(axis=0)
    colavg_norm = minmax(colavg, 0.0)  # this script's constant convention: zeros
    npz = {
        "rollout": ("rollout", rollout),
        "rollout_rownorm": ("rollout_rownorm", rownorm),
        "rollout_rownorm_colavg": ("rollout_rownorm_colavg", colavg),
        "rollout_rownorm_colavg_norm": ("rollout_rownorm_colavg_norm", colavg_norm),
    }
    csv = {
        "rollout_rownorm_colavg": csv_text(colavg, "mean_value"),
        "rollout_rownorm_colavg_norm": csv_text(colavg_norm, "mean_value_norm"),
    }
    return npz, csv


def plot_temporal_files(video, refiner, rollout):
    """{path relative to BASE: (npz key, array) or CSV text} for the plot script
    (PNG files, under PLOT_IMAGES_DIR, are not numbers and are left out)."""
    npz, csv = plot_temporal_outputs(rollout)
    stem = f"{PLOT_MAPS_DIR}/video_{video}_refiner_{refiner}_"
    files = {f"{stem}{s}.npz": entry for s, entry in npz.items()}
    files.update({f"{stem}{s}.csv": text for s, text in csv.items()})
    return files


def plot_script_raw_product(layers, r):
    """The plot script's own (defective) product (A_N + I) ... (A_0 + I), without
    row normalisation: kept only to show the rownorm outputs do not depend on it."""
    mats = [select_instance_attention(a, r) for a in layers]
    return _product_last_to_first([m + np.eye(m.shape[0]) for m in mats])


# ---- spatial: the newest spatial_rollout.py ---------------------------------------

def drop_cls(attn):
    """Step 1: remove token 0's row and column of every map, then re-normalise the
    rows (zero sum divides by 1).  attn [..., N, N] -> [..., N-1, N-1] float64."""
    attn = np.asarray(attn, dtype=np.float64)
    return normalize_rows(attn[..., 1:, 1:])


def head_entropies(attn):
    """Mean row entropy of each head: attn [..., H, n, n] -> [..., H], rows first
    re-normalised to sum 1, entropy -sum_j a_ij ln(a_ij + 1e-10)."""
    p = normalize_rows(attn)
    return -(p * np.log(p + ENTROPY_EPS)).sum(axis=-1).mean(axis=-1)


def entropy_head_weights(attn):
    """softmax(-entropy) over the heads (axis -3) of each frame: [..., H], sums to 1.
    The max is subtracted first; that changes nothing mathematically."""
    neg = -head_entropies(attn)
    e = np.exp(neg - neg.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def entropy_fuse(attn):
    """Step 2: sum_h w_h A_h, attn [..., H, n, n] (already CLS-dropped) -> [..., n, n]."""
    attn = np.asarray(attn, dtype=np.float64)
    w = entropy_head_weights(attn)
    return np.einsum("...h,...hij->...ij", w, attn)


def newest_layer_maps(layer):
    """One layer file's fused, CLS-dropped maps [F, N-1, N-1].
    ASSUMPTION: a 4-d array is [F, H, N, N]; a 3-d array is a `_collapsed` file
    [F, N, N], whose heads are already fused, so only the CLS drop applies."""
    layer = np.asarray(layer, dtype=np.float64)
    if layer.ndim == 3:
        return drop_cls(layer)
    if layer.ndim == 4:
        return entropy_fuse(drop_cls(layer))
    raise ValueError(f"spatial layer of rank {layer.ndim}: need [F,H,N,N] or collapsed [F,N,N]")


def newest_layer_matrices(layers):
    """[norm(Abar_0 + I), ..., norm(Abar_{L-1} + I)], each [F, N-1, N-1]."""
    return [residual_normalize(newest_layer_maps(a)) for a in layers]


def _product_first_to_last(mats):
    """R = I; R = M_i @ R for i = 0, 1, ...: M_{L-1} ... M_0 (per frame: matmul
    broadcasts over the leading frame axis)."""
    rollout = np.broadcast_to(np.eye(mats[0].shape[-1]), mats[0].shape)
    for m in mats:
        rollout = m @ rollout
    return np.ascontiguousarray(rollout)


def spatial_rollout_newest(layers_per_window):
    """One window of the newest spatial script, float64 [F, N-1, N-1]:
    R = norm(Abar_{L-1} + I) ... norm(Abar_0 + I).  `layers_per_window` lists the
    window's layer arrays in layer order; the script insists on 24, the reference
    takes what it is given (the tool's --layers checks the count)."""
    if len(layers_per_window) == 0:
        raise ValueError("no spatial layers")
    return _product_first_to_last(newest_layer_matrices(layers_per_window))


def combine_windows(windows):
    """The per-video array: windows concatenated along frames in order of their
    first frame a, cast to float32.  windows: {(a, b): [F, n, n]} or [(a, array)]."""
    items = list(windows.items()) if isinstance(windows, dict) else list(windows)

    def first_frame(item):
        key = item[0]
        return key[0] if isinstance(key, tuple) else key

    items.sort(key=first_frame)
    return np.concatenate([np.asarray(v, dtype=np.float64) for _, v in items],
                          axis=0).astype(np.float32)


def spatial_newest_video_file(video, windows_layers):
    """{path relative to DIR: ("attention_weights", float32 [sum F, N-1, N-1])} of the
    newest spatial script for one video; windows_layers: {(a, b): [layer arrays]}."""
    rolled = {k: spatial_rollout_newest(v) for k, v in windows_layers.items()}
    return {f"{SPATIAL_ROLLED_OUT_DIR}/video_{video}_backbone_vit_rolled_out.npz":
            ("attention_weights", combine_windows(rolled))}


# ---- spatial: the spec's plain rollout (the tool's default spatial command) ----------

def spatial_rollout_plain(layers, layer_range=None, query_rows=None):
    """ROLLOUT_SPEC.md "Spatial Rollout": mean over heads, norm(A + I), R = Abar_i @ R
    from layer 0 up, float64 [F, N, N].  Layers are [F, H, N, N] or `_collapsed`
    [F, N, N] (heads already averaged).  layer_range=(begin, end) takes layers
    [begin, end) (None for an open end), like --layers 1:; query_rows keeps those
    rows of R: [F, k, N]."""
    chosen = list(layers)
    if layer_range is not None:
        chosen = chosen[slice(*layer_range)]
    if not chosen:
        raise ValueError("no spatial layers in range")
    avg = [np.asarray(a, dtype=np.float64) for a in chosen]
    avg = [a.mean(axis=1) if a.ndim == 4 else a for a in avg]
    rollout = _product_first_to_last([residual_normalize(a) for a in avg])
    if query_rows is not None:
        rollout = rollout[:, list(query_rows), :]
    return rollout


def cls_patch_maps(rollout, grid, row=0):
    """The tool's CLS heat maps: row `row` of each frame's R without the CLS column,
    laid on the patch grid (rows, cols): [F, rows, cols].  Not a script output."""
    rollout = np.asarray(rollout, dtype=np.float64)
    return rollout[:, row, 1:].reshape((rollout.shape[0],) + tuple(grid))
