"""Concurrency: correct results from several Python threads at once, per-thread
error messages, and the GIL released while the library computes."""

import sys
import threading

import numpy as np
import pytest

import attnroll
import reference
from conftest import assert_close, peaky_attention


def run_threads(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as err:  # reported in the main thread
                errors.append(err)
        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    if errors:
        raise errors[0]


def test_two_threads_calling_spatial(rng):
    cases = []
    for _ in range(2):
        layers = [peaky_attention(rng, (2, 3, 24, 24)) for _ in range(5)]
        cases.append((layers, reference.spatial(layers), reference.spatial(layers, query_rows=[0, 5])))
    results = {0: [], 1: []}

    def worker(k):
        layers, full, rows = cases[k]

        def run():
            for i in range(25):
                out_dtype = np.float64 if i % 2 else np.float32
                results[k].append((attnroll.spatial(layers, out_dtype=out_dtype, threads=i % 3), full))
                results[k].append((attnroll.spatial(layers, query_rows=[0, 5], out_dtype=out_dtype),
                                   rows))
        return run

    run_threads([worker(0), worker(1)])
    for k in (0, 1):
        assert len(results[k]) == 50
        for got, want in results[k]:
            assert_close(got, want)


def test_threads_mixing_functions_and_streams(rng):
    layers = [peaky_attention(rng, (2, 2, 16, 16)) for _ in range(4)]
    want = reference.spatial(layers)
    tlayers = [peaky_attention(rng, (3, 2, 9, 9)) for _ in range(4)]
    twant = reference.temporal(tlayers, 1)
    out = {}

    def streaming():
        res = []
        for _ in range(10):
            with attnroll.Stream(2, 16, out_dtype=np.float64) as s:
                for layer in layers:
                    s.push(layer)
                res.append(s.result())
        out["stream"] = res

    def temporal():
        out["temporal"] = [attnroll.temporal(tlayers, 1) for _ in range(30)]

    def spatial():
        out["spatial"] = [attnroll.spatial(np.stack(layers), out_dtype=np.float64) for _ in range(30)]

    run_threads([streaming, temporal, spatial])
    for r in out["stream"] + out["spatial"]:
        assert_close(r, want, np.float64)
    for r in out["temporal"]:
        assert_close(r, twant, np.float64)


def test_error_messages_are_per_thread(rng):
    good = [peaky_attention(rng, (1, 2, 8, 8)) for _ in range(3)]
    want = reference.spatial(good)
    seen = {"shape": [], "arg": [], "ok": 0}

    def failing_shape():
        for _ in range(200):
            with pytest.raises(attnroll.ShapeError) as info:
                attnroll.spatial([good[0], np.ones((1, 2, 7, 7), np.float32)])
            seen["shape"].append(info.value.message)

    def failing_arg():
        for _ in range(200):
            with pytest.raises(attnroll.ArgumentError) as info:
                attnroll.spatial(good, threads=5000)
            seen["arg"].append(info.value.message)

    def succeeding():
        for _ in range(200):
            assert_close(attnroll.spatial(good, out_dtype=np.float64), want, np.float64)
            seen["ok"] += 1

    run_threads([failing_shape, failing_arg, succeeding])
    assert seen["ok"] == 200
    assert len(seen["shape"]) == len(seen["arg"]) == 200
    assert all("layers[1]" in m for m in seen["shape"])
    assert all("THREADS" in m.upper() for m in seen["arg"])


def test_gil_is_released_during_a_long_call(rng):
    # One call of several hundred milliseconds (24 layers of 512 tokens,
    # products in float64 on one worker; the input is a single map broadcast
    # to [L,F,H,N,N], so it costs no memory).  While it runs, the main thread
    # keeps incrementing a counter.  The worker reads the counter right before
    # and right after the call: if the GIL were held during the call the main
    # thread could not run at all in between (apart from at most a switch
    # interval or two, kept short here), so the difference would be small:
    # about 1e5 increments when this very loop runs beside a 0.3 s C call made
    # through ctypes.PyDLL (which keeps the GIL), against about 1e7 through
    # ctypes.CDLL (which releases it).
    L, F, H, N = 24, 2, 8, 512
    a = peaky_attention(rng, (N, N), np.float32, temperature=1.0)
    stack = np.broadcast_to(a, (L, F, H, N, N))
    counter = [0]
    finished = [False]
    marks = {}

    def work():
        try:
            marks["before"] = counter[0]
            marks["result"] = attnroll.spatial(stack, threads=1, out_dtype=np.float64)
            marks["after"] = counter[0]
        finally:
            finished[0] = True

    old = sys.getswitchinterval()
    sys.setswitchinterval(2e-4)
    try:
        t = threading.Thread(target=work)
        t.start()
        while not finished[0]:
            counter[0] += 1
        t.join()
    finally:
        sys.setswitchinterval(old)

    assert "after" in marks, "the call failed"
    advanced = marks["after"] - marks["before"]
    assert advanced > 1_000_000, f"main thread advanced only {advanced} during the call"

    # The result is right too: every Abar is the same matrix.
    abar = a.astype(np.float64) + np.eye(N)
    abar /= abar.sum(axis=1, keepdims=True)
    want = np.linalg.matrix_power(abar, L)
    np.testing.assert_allclose(marks["result"][0], want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(marks["result"][0], marks["result"][1])
