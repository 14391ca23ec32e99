"""Shared helpers for the end-to-end tests of the attnroll command-line tool.

Everything the test modules need lives here as plain functions, so they can
``from conftest import ...`` (this directory is put on sys.path so that works
in any pytest import mode):

* the tool: its path from the environment variable ATTNROLL_CLI (the run stops
  with a clear error if it is unset or not an executable file) and run_cli(),
  which runs it and captures the exit status, stdout and stderr;
* an independent float64 numpy transcription of what the tool computes,
  written from include/attnroll.h, README.md ("What is computed") and the
  tool's behaviour contract only (spatial_ref, select_instance_ref,
  temporal_ref, minmax_rows_ref, column_mean_ref, minmax_ref);
* generators of peaky softmax attention and writers for every dump layout;
* a small pure-Python PNG decoder (read_png) and locate_map(), which finds
  where a heat map of known values was drawn in a decoded image.

Expected numbers always come from the reference evaluated on the exact values
of the input arrays, never from the tool's own output.
"""

import os
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# ---------------------------------------------------------------------------
# The tool
# ---------------------------------------------------------------------------

ENV_VAR = "ATTNROLL_CLI"


def _tool_path_problem():
    path = os.environ.get(ENV_VAR)
    if not path:
        return (f"{ENV_VAR} is not set: set it to the built attnroll executable, "
                f"e.g. {ENV_VAR}=build/tools/attnroll/attnroll")
    if not os.path.isfile(path):
        return f"{ENV_VAR}={path}: no such file (build the attnroll_cli target first)"
    if not os.access(path, os.X_OK):
        return f"{ENV_VAR}={path}: not executable"
    return None


def pytest_configure(config):
    problem = _tool_path_problem()
    if problem:
        # Stops the whole run with this one message (pytest exit status 4).
        raise pytest.UsageError("attnroll CLI tests: " + problem)


def tool_path():
    problem = _tool_path_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    return os.path.abspath(os.environ[ENV_VAR])


class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return (f"attnroll {' '.join(self.args)}\n  exit status {self.rc}\n"
                f"  stdout: {self.out!r}\n  stderr: {self.err!r}")


def run_cli(*args, cwd=None, timeout=120):
    """Runs the tool with args (converted to str); returns a Result."""
    args = [str(a) for a in args]
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "2")
    p = subprocess.run([tool_path()] + args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return Result(args, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def assert_ok(res):
    assert res.rc == 0, f"expected exit status 0\n{res!r}"
    return res


ERROR_LINE = re.compile(r"^attnroll: .+: .+$")


def assert_error(res, status, *must_mention):
    """Exit status `status`, exactly one stderr line `attnroll: <what>: <problem>`,
    mentioning every string in must_mention (case-insensitive).  Returns it."""
    assert res.rc == status, f"expected exit status {status}\n{res!r}"
    lines = res.err.splitlines()
    assert len(lines) == 1, f"expected ONE line on stderr\n{res!r}"
    line = lines[0]
    assert ERROR_LINE.match(line), f"stderr is not 'attnroll: <file or argument>: <what is wrong>'\n{res!r}"
    for m in must_mention:
        assert m.lower() in line.lower(), f"stderr should mention {m!r}\n{res!r}"
    return line


def mentions_any(line, words):
    low = line.lower()
    return any(w.lower() in low for w in words)


def all_files(root):
    """Every file (hidden and temporary names included) under root, relative
    paths; an empty set when root does not exist."""
    found = set()
    if not os.path.exists(root):
        return found
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            found.add(os.path.relpath(os.path.join(dirpath, f), root))
    return found


def snapshot(root):
    """{relative path: bytes} of every file under root."""
    snap = {}
    for rel in all_files(root):
        with open(os.path.join(root, rel), "rb") as fh:
            snap[rel] = fh.read()
    return snap


def load_single(path, key, dtype, shape):
    """Loads an output .npz, checking it holds exactly `key` with `dtype` and `shape`."""
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == [key], f"{path}: keys {sorted(z.files)}, expected [{key!r}]"
        a = z[key]
    assert a.dtype == np.dtype(dtype), f"{path}: dtype {a.dtype}, expected {np.dtype(dtype)}"
    assert a.shape == tuple(shape), f"{path}: shape {a.shape}, expected {tuple(shape)}"
    return a


def assert_close(got, want, tol, what=""):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    err = np.abs(got - want)
    worst = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
    assert np.all(np.isfinite(got)), f"{what}: non-finite values"
    assert err.size == 0 or err.max() <= tol, (
        f"{what}: max |tool - reference| = {err.max():.3g} > {tol:g} at {worst} "
        f"(tool {got[worst]!r}, reference {want[worst]!r})")


# ---------------------------------------------------------------------------
# Reference (float64 numpy transcription of the contract)
# ---------------------------------------------------------------------------

def exact64(a):
    """The exact values of a float array (float16/32/64, any order) as C-ordered float64."""
    return np.array(a, dtype=np.float64, order="C", copy=True)


def normalize_rows_ref(m):
    """Each row divided by its sum; a zero sum divides by 1."""
    s = m.sum(axis=-1, keepdims=True)
    return m / np.where(s == 0.0, 1.0, s)


def fuse_ref(heads):
    """[H,N,N] -> normalize_rows(mean over heads + I)."""
    h = exact64(heads)
    n = h.shape[-1]
    return normalize_rows_ref(h.sum(axis=0) / h.shape[0] + np.eye(n))


def chain_ref(mats):
    """[M_0, M_1, ..., M_{k-1}] -> M_{k-1} @ ... @ M_1 @ M_0."""
    r = np.eye(mats[0].shape[0])
    for m in mats:
        r = m @ r
    return r


def spatial_ref(layers, begin=0, end=None, query_rows=None):
    """layers: L arrays, each [F,H,N,N] or collapsed [F,N,N] (heads already
    averaged: one head).  Rolls out layers [begin, end) per frame:
    R = Abar_{end-1} @ ... @ Abar_begin.  Returns [F,N,N], or [F,k,N] with
    query rows (the rows of R in the order given)."""
    layers = [exact64(a) for a in layers]
    layers = [a[:, None] if a.ndim == 3 else a for a in layers]
    end = len(layers) if end is None else end
    assert 0 <= begin < end <= len(layers)
    frames = layers[0].shape[0]
    out = []
    for f in range(frames):
        r = chain_ref([fuse_ref(layers[l][f]) for l in range(begin, end)])
        out.append(r if query_rows is None else r[list(query_rows)])
    return np.stack(out)


def select_instance_ref(a, i):
    """The instance-selection rules of include/attnroll.h for instance i."""
    a = exact64(a)
    if a.ndim == 2:
        return a
    if a.ndim == 3:
        if a.shape[1] == a.shape[2]:
            if a.shape[0] > i:
                return a[i]
            if a.shape[1] > i:
                return a[:, i, :]
        return a[0]
    lead = a.ndim - 2
    chosen = next((d for d in range(lead) if a.shape[d] > i), None)
    if chosen is None:
        return a[(0,) * lead]
    sel = np.take(a, i, axis=chosen)          # drops axis `chosen`
    rest = tuple(range(lead - 1))             # leading axes left over: averaged
    if rest:
        count = int(np.prod([sel.shape[d] for d in rest]))
        sel = sel.sum(axis=rest) / count
    return sel


def temporal_ref(layers, instance, begin=0):
    """rollout = T_{L-1} @ ... @ T_begin, T_k = normalize_rows(select(A_k) + I)."""
    mats = []
    for a in layers:
        s = select_instance_ref(a, instance)
        assert s.shape[0] == s.shape[1]
        mats.append(normalize_rows_ref(s + np.eye(s.shape[0])))
    return chain_ref(mats[begin:])


def minmax_rows_ref(m):
    lo = m.min(axis=1, keepdims=True)
    hi = m.max(axis=1, keepdims=True)
    d = hi - lo
    return (m - lo) / np.where(d == 0.0, 1.0, d)


def column_mean_ref(m):
    return m.sum(axis=0) / m.shape[0]


def minmax_ref(v):
    lo, hi = v.min(), v.max()
    d = hi - lo
    return (v - lo) / (d if d != 0.0 else 1.0)


def temporal_products_ref(layers, instance):
    """{output stem suffix: (key, expected array)} for one video, as the
    contract lists them ('' = P_rollout.npz, '_col_avg' = P_rollout_col_avg.npz...)."""
    out = {}
    variants = [("rollout", 0)]
    if len(layers) >= 2:
        variants.append(("rollout_nolayer0", 1))
    for s, begin in variants:
        r = temporal_ref(layers, instance, begin)
        rn = minmax_rows_ref(r)
        ca = column_mean_ref(r)
        out[s] = r
        out[f"{s}_col_avg"] = ca
        out[f"{s}_col_avg_norm"] = minmax_ref(ca)
        out[f"{s}_rownorm"] = rn
        out[f"{s}_rownorm_col_avg"] = column_mean_ref(rn)
    return out


# ---------------------------------------------------------------------------
# Generators and dump writers
# ---------------------------------------------------------------------------

def peaky_softmax(rng, shape, temperature=0.35, dtype=np.float32):
    """Softmax over the last axis of standard normal logits / temperature: a
    few dominant entries per row, as real attention maps have."""
    logits = rng.standard_normal(shape) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=-1, keepdims=True)
    return p.astype(dtype)


def spatial_name(vid, a, b, layer, naming="new", collapsed=False, suffix=".npz"):
    stem = f"video_{vid}_frames{a}-{b}_"
    if naming == "new":
        stem += f"backbone_vit_layer_{layer}_attn"
    elif naming == "old":
        stem += f"layer_backbone_vit_module_blocks_{layer}_attn"
    else:
        raise ValueError(naming)
    if collapsed:
        stem += "_collapsed"
    return stem + suffix


def save_array(path, arr, fmt="savez", key="attention_weights", order="C"):
    """Writes arr as np.savez (stored zip), np.savez_compressed (deflated) or
    np.save (.npy), in C or Fortran order.  Returns the array as written."""
    arr = np.asfortranarray(arr) if order == "F" else np.ascontiguousarray(arr)
    if order == "F" and arr.ndim > 1:
        assert arr.flags.f_contiguous and not arr.flags.c_contiguous
    if fmt == "savez":
        np.savez(path, **{key: arr})
    elif fmt == "savez_compressed":
        np.savez_compressed(path, **{key: arr})
    elif fmt == "npy":
        np.save(path, arr)
    else:
        raise ValueError(fmt)
    assert os.path.exists(path), path  # numpy did not append a suffix
    return arr


def write_spatial_group(directory, rng, vid, a, b, num_layers, heads, tokens,
                        naming="new", collapsed=False, fmt="savez", dtype=np.float32,
                        order="C"):
    """Writes one (video, window) group of spatial layer files: F = b - a + 1
    frames, `tokens` tokens.  heads, fmt, dtype and order may be single values
    or per-layer lists.  Returns the list of arrays written (layer order)."""
    frames = b - a + 1

    def per_layer(v, l):
        return v[l % len(v)] if isinstance(v, (list, tuple)) else v

    written = []
    for l in range(num_layers):
        f, dt, o, h = per_layer(fmt, l), per_layer(dtype, l), per_layer(order, l), per_layer(heads, l)
        shape = (frames, tokens, tokens) if collapsed else (frames, h, tokens, tokens)
        arr = peaky_softmax(rng, shape, dtype=dt)
        name = spatial_name(vid, a, b, l, naming, collapsed, ".npy" if f == "npy" else ".npz")
        written.append(save_array(os.path.join(directory, name), arr, f, order=o))
    return written


def spatial_outputs(vid, a, b):
    """The names the contract gives the outputs of one group."""
    frames = b - a + 1
    p = f"video_{vid}_frames{a}-{b}"
    return ({f"{p}_rollout.npz", f"{p}_cls_contact.png", "attnroll_run.json"}
            | {f"{p}_cls_f{i:03d}.png" for i in range(frames)})


def temporal_outputs(vid, rid, num_layers):
    p = f"video_{vid}_refiner_{rid}"
    names = {"attnroll_run.json"}
    for s in (["rollout", "rollout_nolayer0"] if num_layers >= 2 else ["rollout"]):
        names |= {f"{p}_{s}.npz", f"{p}_{s}_col_avg.npz", f"{p}_{s}_col_avg_norm.npz",
                  f"{p}_{s}_rownorm.npz", f"{p}_{s}_rownorm_col_avg.npz",
                  f"{p}_{s}_col_avg.csv", f"{p}_{s}_col_avg_norm.csv",
                  f"{p}_{s}_rownorm_col_avg.csv", f"{p}_{s}.png", f"{p}_{s}_rownorm.png"}
    return names


# ---------------------------------------------------------------------------
# PNG decoding
# ---------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _unfilter(raw, width, height, bpp):
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.int64)
    pos = 0
    for y in range(height):
        ftype = raw[pos]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=pos + 1).astype(np.int64)
        pos += 1 + stride
        if ftype == 0:
            rec = line
        elif ftype == 1:      # Sub: rec[x] = line[x] + rec[x - bpp]
            rec = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif ftype == 2:      # Up
            rec = (line + prior) % 256
        elif ftype in (3, 4):  # Average, Paeth: sequential along the row
            f = line.tolist()
            up = prior.tolist()
            r = [0] * stride
            for x in range(stride):
                left = r[x - bpp] if x >= bpp else 0
                if ftype == 3:
                    r[x] = (f[x] + ((left + up[x]) >> 1)) & 0xFF
                else:
                    ul = up[x - bpp] if x >= bpp else 0
                    p = left + up[x] - ul
                    pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - ul)
                    if pa <= pb and pa <= pc:
                        pred = left
                    elif pb <= pc:
                        pred = up[x]
                    else:
                        pred = ul
                    r[x] = (f[x] + pred) & 0xFF
            rec = np.array(r, dtype=np.int64)
        else:
            raise ValueError(f"row {y}: unknown filter type {ftype}")
        out[y] = rec
        prior = rec
    return out


def read_png(path):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG (checking signature,
    chunk CRCs, IHDR, IDAT size and IEND).  Returns (width, height, pixels)
    with pixels a uint8 array [height, width, 3 or 4]."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:8] != PNG_SIGNATURE:
        raise ValueError(f"{path}: not a PNG (bad signature)")
    pos, ihdr, idat, seen_end = 8, None, [], False
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f"{path}: truncated chunk header at byte {pos}")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError(f"{path}: truncated {ctype!r} chunk")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"{path}: bad CRC in {ctype!r} chunk")
        pos += 12 + length
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            seen_end = True
            break
    if ihdr is None or not idat or not seen_end:
        raise ValueError(f"{path}: missing IHDR, IDAT or IEND")
    width, height, depth, colour, comp, filt, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or comp != 0 or filt != 0 or interlace != 0:
        raise ValueError(f"{path}: unsupported PNG (bit depth {depth}, colour type {colour}, "
                         f"interlace {interlace}); this decoder reads 8-bit RGB/RGBA only")
    if width == 0 or height == 0:
        raise ValueError(f"{path}: empty image {width}x{height}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != height * (1 + width * bpp):
        raise ValueError(f"{path}: {len(raw)} bytes of image data, expected {height * (1 + width * bpp)}")
    pixels = _unfilter(raw, width, height, bpp).reshape(height, width, bpp)
    return width, height, pixels


def locate_map(pixels, values, max_cell=None):
    """Finds where a heat map of `values` ([R,C]) was drawn in an image: over
    every square cell size s and offset, samples the centre pixel of each of
    the R x C cells and correlates its green channel (monotonic in viridis)
    with the values.  Returns (correlation, y0, x0, s) of the best placement."""
    values = np.asarray(values, dtype=np.float64)
    rows, cols = values.shape
    g = pixels[:, :, 1].astype(np.float64)
    h, w = g.shape
    v = values.reshape(-1) - values.mean()
    vn = np.sqrt((v * v).sum())
    smax = min(h // rows, w // cols)
    if max_cell:
        smax = min(smax, max_cell)
    # A subset of cells (the extremes and a spread of others) screens the
    # offsets; the best few are then scored on every cell.
    order = np.argsort(values.reshape(-1), kind="stable")
    pick = np.unique(np.concatenate([order[:2], order[-2:],
                                     order[np.linspace(0, order.size - 1, 20).astype(int)]]))
    pr, pc = pick // cols, pick % cols
    vp = values.reshape(-1)[pick]
    vp = vp - vp.mean()
    vpn = np.sqrt((vp * vp).sum())

    def corr_at(s, y0, x0):
        smp = g[y0 + s // 2:y0 + rows * s:s, x0 + s // 2:x0 + cols * s:s].reshape(-1)
        d = smp - smp.mean()
        dn = np.sqrt((d * d).sum())
        return float((d @ v) / (dn * vn)) if dn > 0 and vn > 0 else -2.0

    per_size = []
    for s in range(1, smax + 1):
        # A map drawn with cells of s pixels matches for a plateau of about s
        # offsets in each direction, so offsets in steps of s // 2 find it.
        step = max(1, s // 2)
        ny = (h - rows * s) // step + 1
        nx = (w - cols * s) // step + 1
        smp = np.stack([g[s // 2 + r * s::step][:ny, s // 2 + c * s::step][:, :nx]
                        for r, c in zip(pr, pc)], axis=2)
        d = smp - smp.mean(axis=2, keepdims=True)
        dn = np.sqrt((d * d).sum(axis=2))
        with np.errstate(invalid="ignore", divide="ignore"):
            screen = (d @ vp) / (dn * vpn)
        screen[~np.isfinite(screen)] = -2.0
        flat = screen.reshape(-1)
        top = np.argsort(flat)[-8:]
        cands = [(corr_at(s, int(i // nx) * step, int(i % nx) * step), int(i // nx) * step,
                  int(i % nx) * step) for i in top if flat[i] > 0.5]
        if not cands:
            continue
        c0, y0, x0 = max(cands)
        # centre the placement on its plateau of equally good offsets
        ys = [y for y in range(max(0, y0 - step), min(h - rows * s, y0 + step) + 1)
              if corr_at(s, y, x0) >= c0 - 1e-9]
        xs = [x for x in range(max(0, x0 - step), min(w - cols * s, x0 + step) + 1)
              if corr_at(s, y0, x) >= c0 - 1e-9]
        y0, x0 = ys[len(ys) // 2], xs[len(xs) // 2]
        per_size.append((corr_at(s, y0, x0), y0, x0, s))
    if not per_size:
        return (-2.0, 0, 0, 0)
    # Cell sizes a pixel or two off the true one may sample the same cells
    # (equally good); take the largest of the best.
    top = max(p[0] for p in per_size)
    return max((p for p in per_size if p[0] >= top - 1e-9), key=lambda p: p[3])


def cell_pixel(pixels, placement, r, c):
    _corr, y0, x0, s = placement
    return tuple(int(x) for x in pixels[y0 + r * s + s // 2, x0 + c * s + s // 2, :3])


def check_heatmap(path, values, min_corr=0.95):
    """Decodes a PNG and checks that it shows `values` ([R,C]) as a heat map:
    a placement of an R x C grid of square cells fits inside the image, its
    colours follow the values (correlation >= min_corr), and the pixel of the
    largest value differs from (and is brighter in green than) that of the
    smallest.  Returns (width, height, placement)."""
    width, height, pixels = read_png(path)
    values = np.asarray(values, dtype=np.float64)
    rows, cols = values.shape
    assert width >= cols and height >= rows, f"{path}: {width}x{height} cannot hold a {rows}x{cols} map"
    placement = locate_map(pixels, values)
    corr, y0, x0, s = placement
    assert corr >= min_corr, (f"{path} ({width}x{height}): no {rows}x{cols} grid of cells whose "
                              f"colours follow the values (best correlation {corr:.3f} at "
                              f"y={y0}, x={x0}, cell {s}px)")
    assert y0 + rows * s <= height and x0 + cols * s <= width
    hi = np.unravel_index(np.argmax(values), values.shape)
    lo = np.unravel_index(np.argmin(values), values.shape)
    p_hi, p_lo = cell_pixel(pixels, placement, *hi), cell_pixel(pixels, placement, *lo)
    assert p_hi != p_lo, f"{path}: same colour {p_hi} at the maximum cell {hi} and the minimum cell {lo}"
    assert p_hi[1] > p_lo[1], f"{path}: maximum cell {hi} {p_hi} not brighter than minimum {lo} {p_lo}"
    return width, height, placement


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def read_csv_column(path, length):
    """Parses a `column_index,mean_value` CSV; checks the header and indices
    0..length-1; returns the values as float64."""
    with open(path, "r", encoding="ascii") as fh:
        text = fh.read()
    lines = text.splitlines()
    assert lines and lines[0] == "column_index,mean_value", f"{path}: header {lines[:1]}"
    body = [ln for ln in lines[1:]]
    assert len(body) == length, f"{path}: {len(body)} data lines, expected {length}"
    vals = []
    for j, ln in enumerate(body):
        idx, val = ln.split(",")
        assert int(idx) == j, f"{path}: line {j + 2} has index {idx}"
        vals.append(float(val))
    return np.array(vals)


def strip_paths(line, *paths):
    for p in sorted((str(p) for p in paths), key=len, reverse=True):
        line = line.replace(p, "<path>")
    return line


@pytest.fixture
def rng(request):
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)
