"""A real model: torchvision's vit_b_16 (random weights, nothing downloaded),
its 12 layers' attention captured with forward hooks, rolled out straight from
the torch tensors -- float32, float16 and bfloat16, transposed and sliced
views, batched frames, query_rows=[0] -- against the float64 reference of the
same values, with the tensors' own memory handed to the library.

Needs torch and torchvision (Debian: python3-torch python3-torchvision);
skipped, saying so, without them."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (Debian: python3-torch); "
                            "the real-model DLPack test needs it")
torchvision = pytest.importorskip("torchvision", reason="torchvision is not installed (Debian: "
                                  "python3-torchvision); the real-model DLPack test needs it")

import attnroll  # noqa: E402
import reference  # noqa: E402
from conftest import assert_close  # noqa: E402
from test_zero_copy import traced_peak  # noqa: E402

FRAMES, LAYERS, HEADS, TOKENS = 2, 12, 12, 197
SLACK = 64 * 1024


def capture_attention(model):
    """The README's recipe: every encoder block's attention, [B, heads, N, N],
    appended to the returned list on each forward pass."""
    maps = []
    for block in model.encoder.layers:
        attention = block.self_attention
        forward = attention.forward

        def forced(*args, forward=forward, **kwargs):  # torchvision asks need_weights=False
            kwargs.update(need_weights=True, average_attn_weights=False)
            return forward(*args, **kwargs)

        attention.forward = forced
        attention.register_forward_hook(lambda module, inputs, output: maps.append(output[1]))
    return maps


@pytest.fixture(scope="module")
def maps():
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()
    captured = capture_attention(model)
    with torch.no_grad():
        model(torch.rand(FRAMES, 3, 224, 224))
    assert len(captured) == LAYERS
    assert captured[0].shape == (FRAMES, HEADS, TOKENS, TOKENS)
    assert captured[0].dtype == torch.float32 and not captured[0].requires_grad
    return captured


def exact(tensors):
    """The float64 values the tensors hold, as numpy arrays (for the reference)."""
    return [t.to(torch.float64).numpy() for t in tensors]


class LibrarySpy:
    """Records the data addresses of the layers each attnroll_spatial call gets."""

    def __init__(self, monkeypatch):
        self.calls = []
        self._real = attnroll._lib.lib.attnroll_spatial
        monkeypatch.setattr(attnroll._lib.lib, "attnroll_spatial", self)

    def __call__(self, layers, count, config, out):
        self.calls.append([layers[i].data for i in range(count)])
        return self._real(layers, count, config, out)


def views(maps, dtype):
    converted = [m.to(dtype) for m in maps]  # the tensors a user in that precision holds
    return {
        "as captured": converted,
        "transposed": [m.transpose(-1, -2) for m in converted],
        "patch tokens (sliced)": [m[:, :, 1:, 1:] for m in converted],
        "every other head, transposed": [m[:, ::2].transpose(-1, -2)
                                                          for m in converted],
    }


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_rollout_from_torch_tensors(maps, dtype, monkeypatch):
    spy = LibrarySpy(monkeypatch)
    for name, layers in views(maps, getattr(torch, dtype)).items():
        full = reference.spatial(exact(layers))  # [F, N, N] in float64
        tokens = layers[0].shape[-1]
        for query_rows, out_dtype in [(None, np.float64), ([0], np.float64), ([0], np.float32)]:
            got, peak = traced_peak(lambda: attnroll.spatial(layers, query_rows=query_rows,
                                                             out_dtype=out_dtype))
            rows = tokens if query_rows is None else 1
            assert got.shape == (FRAMES, rows, tokens), name
            assert_close(got, full if query_rows is None else full[:, query_rows], out_dtype)
            # Nothing copied: Python's peak allocation is the output, and the
            # library was handed the tensors' own memory.
            assert peak < got.nbytes + SLACK, f"{name}: {peak} bytes for a {got.nbytes}-byte output"
            assert spy.calls.pop() == [t.data_ptr() for t in layers], name


def test_stacked_frames_stream_and_post_processing(maps):
    bf16 = [m.to(torch.bfloat16) for m in maps]
    stack = torch.stack(bf16)  # [L, F, H, N, N], one tensor
    values = exact(bf16)
    want = reference.spatial(values, query_rows=[0])
    assert_close(attnroll.spatial(stack, query_rows=[0], out_dtype=np.float64), want, np.float64)
    assert_close(attnroll.spatial(stack[:, 1:], query_rows=[0], out_dtype=np.float64),
                 want[1:], np.float64)  # a slice of the frames
    with attnroll.Stream(FRAMES, TOKENS, query_rows=[0], out_dtype=np.float64) as s:
        for layer in bf16:
            s.push(layer)
        assert_close(s.result(), want, np.float64)
    cls = torch.from_numpy(want[:, 0, 1:])  # [F, 196] CLS relevance of the patches
    assert_close(attnroll.minmax_rows(cls), reference.minmax_rows(want[:, 0, 1:]), np.float64)


def test_gradient_tensors_and_other_devices_are_explained(maps):
    needs_grad = maps[0].clone().requires_grad_()
    with pytest.raises(TypeError, match=r"layers\[0\]: cannot read it through DLPack: .*detach"):
        attnroll.spatial([needs_grad])
    meta = torch.empty((FRAMES, HEADS, TOKENS, TOKENS), device="meta")
    with pytest.raises((BufferError, TypeError), match=r"layers\[0\]: "):
        attnroll.spatial([meta])
    with pytest.raises(TypeError, match=r"layers\[0\]: DLPack dtype int8 is not supported"):
        attnroll.spatial([maps[0].to(torch.int8)])
