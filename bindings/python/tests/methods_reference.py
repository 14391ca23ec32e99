"""Float64 numpy transcriptions of the published rollout methods, for the
method tests (test_methods.py).

Each method is written from its definition -- the paper, or the published
script's documented behaviour -- not from attnroll's code or any peer's code:

  abnar_rollout        Abnar & Zuidema 2020: R = prod_l normalize_rows(mean_h A + I)
                       (reference.spatial already has it; here with a residual r).
  vit_explain_rollout  vit-explain's "attention rollout": mean/max/min head fusion,
                       then discard the lowest entries, then (A + I)/2 divided by
                       its ROW sums (vit-explain divides by the wrong axis,
                       jacobgil/vit-explain#16; this is the corrected form), with
                       the CLS column spared as that script means to.
  chefer_rollout       Chefer et al. 2021, "Generic Attention-model Explainability":
                       R = I; for each layer R <- R + Abar @ R with
                       Abar = E_h[(grad A (.) A)^+].
  newest_script        the users' newest spatial_rollout.py
                       (../shared/spec/ORIGINAL_OUTPUTS.md): drop CLS, re-normalise
                       rows, entropy head weights softmax(-mean row entropy), then
                       the spec's rollout.
  pipeline             attnroll.h's numbered pipeline (drop, fuse, discard, rule,
                       product, cumulative) written as plainly as possible, for the
                       combinations no single paper uses.

Inputs are the exact float64 values of the arrays given to attnroll, one frame
[H, N, N] (or a list of layers, each [F, H, N, N]); outputs are float64.
"""

import numpy as np

ENTROPY_EPS = 1e-10


def normalize_rows(m):
    """Each row divided by its sum; a zero sum divides by 1."""
    s = m.sum(axis=-1, keepdims=True)
    return m / np.where(s == 0.0, 1.0, s)


def _product(factors):
    """factors M_0, M_1, ... -> [M_0, M_1 M_0, M_2 M_1 M_0, ...]."""
    r = np.eye(factors[0].shape[-1])
    out = []
    for m in factors:
        r = m @ r
        out.append(r)
    return out


def _frames(layers, f):
    return [np.asarray(layer, dtype=np.float64)[f] for layer in layers]


# ---- Abnar & Zuidema 2020 --------------------------------------------------------

def abnar_rollout(frame_layers, residual=1.0):
    """[H,N,N] per layer -> R [N,N]."""
    n = frame_layers[0].shape[-1]
    return _product([normalize_rows(a.mean(axis=0) + residual * np.eye(n)) for a in frame_layers])[-1]


# ---- vit-explain (corrected) -------------------------------------------------------

def vit_explain_discard(fused, ratio, protect=(0,)):
    """Zero the floor(ratio * M) smallest of the M entries outside the protected
    columns; equal values are taken in row-major index order (a stable sort)."""
    n = fused.shape[-1]
    flat = fused.reshape(-1).copy()
    keep = np.ones(n, dtype=bool)
    keep[list(protect)] = False
    candidates = np.flatnonzero(np.tile(keep, n))           # row-major indices i*n + j
    count = int(np.floor(ratio * candidates.size))
    order = np.argsort(flat[candidates], kind="stable")      # NaN sorts last in numpy
    flat[candidates[order[:count]]] = 0.0
    return flat.reshape(n, n)


def vit_explain_rollout(frame_layers, head_fusion="mean", discard_ratio=0.0):
    """vit-explain's rollout loop for one image, the normalisation on rows."""
    n = frame_layers[0].shape[-1]
    eye = np.eye(n)
    result = eye.copy()
    for attention in frame_layers:
        if head_fusion == "mean":
            fused = attention.mean(axis=0)
        elif head_fusion == "max":
            fused = attention.max(axis=0)
        elif head_fusion == "min":
            fused = attention.min(axis=0)
        else:
            raise ValueError(head_fusion)
        if discard_ratio:
            fused = vit_explain_discard(fused, discard_ratio)
        a = (fused + 1.0 * eye) / 2
        a = a / a.sum(axis=-1, keepdims=True)  # vit-explain: a.sum(dim=-1) broadcast over columns
        result = a @ result
    return result


# ---- Chefer et al. 2021 ----------------------------------------------------------------

def chefer_rollout(frame_layers, frame_grads):
    """R = I; R <- R + Abar @ R, Abar = mean_h max(G_h * A_h, 0)."""
    n = frame_layers[0].shape[-1]
    r = np.eye(n)
    for a, g in zip(frame_layers, frame_grads):
        abar = np.maximum(g * a, 0.0).mean(axis=0)
        r = r + abar @ r
    return r


# ---- the users' newest spatial_rollout.py -------------------------------------------

def entropy_fuse(maps):
    """[H,n,n] -> sum_h w_h A_h, w = softmax_h(-mean_i(-sum_j p_ij ln(p_ij + 1e-10))),
    p = A_h with rows re-normalised."""
    p = normalize_rows(maps)
    entropy = -(p * np.log(p + ENTROPY_EPS)).sum(axis=-1).mean(axis=-1)   # [H]
    w = np.exp(-entropy - (-entropy).max())
    w /= w.sum()
    return np.einsum("h,hij->ij", w, maps)


def newest_script(frame_layers):
    """Drop CLS (row and column 0), re-normalise rows, entropy-fuse the heads,
    then R = norm(Abar_{L-1} + I) ... norm(Abar_0 + I): [N-1, N-1]."""
    mats = []
    for a in frame_layers:
        fused = entropy_fuse(normalize_rows(a[:, 1:, 1:]))
        mats.append(normalize_rows(fused + np.eye(fused.shape[-1])))
    return _product(mats)[-1]


# ---- the whole pipeline -------------------------------------------------------------

def factor(a, g=None, drop_tokens=0, head_fusion="mean", head_weights=None, discard_ratio=0.0,
           protect=(0,), rule="rollout", residual=1.0):
    """One layer of one frame, [H,N,N] (and its gradient) -> the layer's factor M."""
    k = drop_tokens
    maps = a[:, k:, k:]
    if k:
        maps = normalize_rows(maps)
    if head_fusion == "mean":
        fused = maps.mean(axis=0)
    elif head_fusion == "max":
        fused = maps.max(axis=0)
    elif head_fusion == "min":
        fused = maps.min(axis=0)
    elif head_fusion == "entropy":
        fused = entropy_fuse(maps)
    elif head_fusion == "weights":
        fused = np.einsum("h,hij->ij", np.asarray(head_weights, dtype=np.float64), maps)
    elif head_fusion == "grad":
        fused = np.maximum(g[:, k:, k:] * maps, 0.0).mean(axis=0)   # gradients not rescaled
    else:
        raise ValueError(head_fusion)
    if discard_ratio:
        fused = vit_explain_discard(fused, discard_ratio, protect)
    m = fused + residual * np.eye(fused.shape[-1])
    return normalize_rows(m) if rule == "rollout" else m


def pipeline(layers, grads=None, query_rows=None, layer_range=None, cumulative=False, **method):
    """layers: list of [F,H,N,N] (or [H,N,N]); returns attnroll.spatial's shape."""
    framed = np.ndim(layers[0]) == 4
    layers = [np.asarray(x, dtype=np.float64) for x in layers]
    if not framed:
        layers = [x[None] for x in layers]
    if grads is not None:
        grads = [np.asarray(x, dtype=np.float64) for x in grads]
        if not framed:
            grads = [x[None] for x in grads]
    begin, end = (0, len(layers)) if layer_range is None else layer_range
    end = len(layers) if end is None else end
    per_frame = []
    for f in range(layers[0].shape[0]):
        factors = [factor(layers[l][f], None if grads is None else grads[l][f], **method)
                   for l in range(begin, end)]
        partial = _product(factors)
        if query_rows is not None:
            partial = [r[list(query_rows)] for r in partial]
        per_frame.append(np.stack(partial))          # [L', rows, N']
    out = np.stack(per_frame, axis=1)                 # [L', F, rows, N']
    if not framed:
        out = out[:, 0]
    return out if cumulative else out[-1]
