"""Self-checks of the test helpers (no tool involved): the reference against
the README's worked example and the header's selection rules, and the PNG
decoder against images encoded here with every filter type."""

import struct
import zlib

import numpy as np
import pytest

from conftest import (locate_map, minmax_ref, minmax_rows_ref, column_mean_ref, read_png,
                      select_instance_ref, spatial_ref, temporal_ref)


def test_reference_matches_readme_example():
    # README "A complete C program": 1 head, 3 tokens, prints
    # 0.6250 0.3750 0.0000 / 0.1750 0.4500 0.3750 / ...
    a0 = np.array([[1, 0, 0], [.5, .5, 0], [.2, .3, .5]], dtype=np.float32)
    a1 = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32)
    r = spatial_ref([a0[None, None], a1[None, None]])[0]
    np.testing.assert_allclose(r[0], [0.625, 0.375, 0.0], atol=1e-7)
    np.testing.assert_allclose(r[1], [0.175, 0.45, 0.375], atol=1e-7)
    # temporal of the same 2-D maps is the same product
    np.testing.assert_allclose(temporal_ref([a0, a1], 0), r, atol=1e-15)


def test_reference_selection_rules():
    a = np.arange(2 * 4 * 4, dtype=np.float64).reshape(2, 4, 4)
    assert np.array_equal(select_instance_ref(a, 1), a[1])            # axis 0
    assert select_instance_ref(a, 3).shape == (2, 4)                  # A[:, 3, :]: not square
    assert np.array_equal(select_instance_ref(a, 9), a[0])            # neither
    b = np.arange(3 * 2 * 5 * 5, dtype=np.float64).reshape(3, 2, 5, 5)
    assert np.allclose(select_instance_ref(b, 2), b[2].mean(axis=0))  # axis 0, heads averaged
    c = np.arange(1 * 4 * 5 * 5, dtype=np.float64).reshape(1, 4, 5, 5)
    assert np.allclose(select_instance_ref(c, 2), c[0, 2])            # axis 1
    assert np.allclose(select_instance_ref(c, 7), c[0, 0])            # none: first slice


def test_reference_post_processing_constant_becomes_zero():
    m = np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 4.0]])
    assert np.array_equal(minmax_rows_ref(m), [[0, 0, 0], [0, 0.5, 1]])
    assert np.array_equal(minmax_ref(np.full(4, 0.25)), np.zeros(4))
    assert np.array_equal(column_mean_ref(m), [0.5, 1.5, 2.5])


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _encode_png(pixels, filters):
    """Encodes uint8 [h,w,bpp] with the given filter type per row (test only)."""
    h, w, bpp = pixels.shape
    raw = bytearray()
    prior = [0] * (w * bpp)
    for y in range(h):
        row = [int(v) for v in pixels[y].reshape(-1)]
        ft = filters[y % len(filters)]
        out = []
        for x, v in enumerate(row):
            left = row[x - bpp] if x >= bpp else 0
            up = prior[x]
            ul = prior[x - bpp] if x >= bpp else 0
            pred = [0, left, up, (left + up) >> 1, _paeth(left, up, ul)][ft]
            out.append((v - pred) & 0xFF)
        raw.append(ft)
        raw.extend(out)
        prior = row

    def chunk(t, body):
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2 if bpp == 3 else 6, 0, 0, 0)
    z = zlib.compress(bytes(raw))
    # IDAT split in two chunks, as encoders may do
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", z[:7]) +
            chunk(b"IDAT", z[7:]) + chunk(b"IEND", b""))


@pytest.mark.parametrize("bpp", [3, 4])
def test_png_decoder_round_trip_all_filters(tmp_path, bpp):
    rng = np.random.default_rng(bpp)
    pixels = rng.integers(0, 256, size=(11, 9, bpp), dtype=np.uint8)
    pixels[3:6] = 200  # some flat rows too
    path = tmp_path / "x.png"
    path.write_bytes(_encode_png(pixels, [0, 1, 2, 3, 4, 4, 3, 2, 1]))
    w, h, got = read_png(path)
    assert (w, h) == (9, 11)
    assert np.array_equal(got, pixels)


def test_png_decoder_rejects_bad_crc(tmp_path):
    data = bytearray(_encode_png(np.zeros((2, 2, 3), dtype=np.uint8), [0]))
    data[20] ^= 1  # inside IHDR
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        read_png(path)


def test_locate_map_finds_a_drawn_map():
    rng = np.random.default_rng(5)
    vals = rng.random((3, 5))
    img = np.full((60, 90, 3), 255, dtype=np.uint8)
    s, y0, x0 = 7, 11, 20
    for r in range(3):
        for c in range(5):
            g = int(round(vals[r, c] * 230))
            img[y0 + r * s:y0 + (r + 1) * s, x0 + c * s:x0 + (c + 1) * s] = (60, g, 100)
    corr, y, x, cell = locate_map(img, vals)
    assert corr > 0.99 and abs(cell - s) <= 1 and abs(y - y0) < s and abs(x - x0) < s
    # the centre samples of that placement land in the right cells
    for r in range(3):
        for c in range(5):
            yy, xx = y + r * cell + cell // 2, x + c * cell + cell // 2
            assert (yy - y0) // s == r and (xx - x0) // s == c
