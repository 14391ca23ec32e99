"""Roll out a synthetic ViT-shaped attention stack and save a heat map of the
CLS row over the patch grid.

    ATTNROLL_LIBRARY=build/src/libattnroll.so.1 PYTHONPATH=bindings/python \
        /usr/bin/python3 examples/python/rollout_demo.py [-o cls_rollout.png]

The stack (12 layers x 12 heads x 1 CLS + 14x14 patches, 2 frames) has each
patch attending to its neighbours and, more strongly, to a blob whose place
moves between frames; the CLS row of the rollout should light up on the blob.
The PNG needs matplotlib (Debian: python3-matplotlib); without it the plot is
skipped with a message and the numbers are still printed.
"""

import argparse
import sys

import numpy as np

import attnroll

GRID = (14, 14)
LAYERS, HEADS, FRAMES = 12, 12, 2


def synthetic_stack(rng):
    rows, cols = GRID
    n = 1 + rows * cols
    yy, xx = np.mgrid[0:rows, 0:cols]
    centres = [(3, 4), (9, 10)]  # the blob's place in each frame
    layers = np.empty((LAYERS, FRAMES, HEADS, n, n), dtype=np.float32)
    for f, (cy, cx) in enumerate(centres):
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0).ravel()
        logits = rng.normal(0.0, 0.5, size=(LAYERS, HEADS, n, n))
        logits[..., 1:] += 3.0 * blob          # every token is drawn to the blob
        logits[..., 0] += 1.0                   # and a little to CLS
        logits -= logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits)
        layers[:, f] = weights / weights.sum(axis=-1, keepdims=True)
    return layers, centres


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="cls_rollout.png", help="PNG to write")
    args = parser.parse_args(argv)

    layers, centres = synthetic_stack(np.random.default_rng(0))
    print(f"attnroll {attnroll.__version__}: stack {list(layers.shape)} float32 "
          f"({layers.nbytes / 2**20:.0f} MiB), read in place")
    cls = attnroll.spatial(layers, query_rows=[0])[:, 0, 1:]     # [F, patches]
    full = attnroll.spatial(layers)
    assert np.allclose(full[:, 0, 1:], cls, atol=1e-6)
    maps = cls.reshape(FRAMES, *GRID)
    for f, centre in enumerate(centres):
        peak = np.unravel_index(np.argmax(maps[f]), GRID)
        print(f"frame {f}: CLS row peaks at patch {tuple(int(v) for v in peak)}, blob at {centre}")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (Debian: apt-get install python3-matplotlib): "
              "skipping the plot")
        return 0
    fig, axes = plt.subplots(1, FRAMES, figsize=(4 * FRAMES, 4))
    for f, ax in enumerate(np.atleast_1d(axes)):
        image = ax.imshow(attnroll.minmax(maps[f]), cmap="viridis")
        ax.set_title(f"frame {f}: CLS rollout")
        ax.set_xlabel("patch column")
        ax.set_ylabel("patch row")
    fig.colorbar(image, ax=axes, shrink=0.8, label="min-max scaled")
    fig.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
