"""The register transposes of ``tconv.algorithms.simd`` and the channels-last copy built on them.

Each is a copy, so the comparison is exact: ``transpose`` against ``np.swapaxes`` on blocks with whole
tiles, ragged edges, and fewer rows or columns than a tile, both dtypes; ``phase.channels_last`` (its
compiled path) against a NumPy reference with groups and padded borders; the shuffle masks against a
round-by-round simulation of the tile transpose in NumPy.  Every test counts what it compared.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")
from tconv.algorithms import phase, simd  # noqa: E402  (after the skip)


def _simulated_tile_transpose(tile: np.ndarray) -> np.ndarray:
    """The rounds of :func:`simd.shuffle_masks` applied with NumPy indexing: row ``j`` of the result."""
    n = tile.shape[0]
    rows = [tile[i].copy() for i in range(n)]
    for b, upper, lower in simd.shuffle_masks(n):
        new = list(rows)
        for i in (i for i in range(n) if (i // b) % 2 == 0):
            pair = np.concatenate([rows[i], rows[i + b]])
            new[i], new[i + b] = pair[upper], pair[lower]
        rows = new
    return np.stack(rows)


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_shuffle_masks_transpose_a_tile(n):
    tile = np.arange(n * n).reshape(n, n)
    np.testing.assert_array_equal(_simulated_tile_transpose(tile), tile.T)


def test_transpose_matches_swapaxes():
    """Blocks of 1-70 rows and columns (tiles of 16 float32 / 8 float64, edges of every width), 2-d and
    3-d; the count checks that whole tiles, ragged edges and sub-tile blocks all ran."""
    seen = []

    @settings(max_examples=120, deadline=None)
    @given(st.sampled_from(["float32", "float64"]), st.integers(1, 70), st.integers(1, 70), st.integers(0, 3))
    @example("float32", 32, 48, 0)  # whole tiles only
    @example("float64", 16, 8, 2)
    def compare(dtype, rows, cols, lead):
        shape = ((lead,) if lead else ()) + (rows, cols)
        src = np.random.default_rng(rows * 71 + cols).standard_normal(shape).astype(dtype)
        dst = np.full(shape[:-2] + (cols, rows), np.nan, dtype=dtype)
        simd.transpose(dst, src)
        np.testing.assert_array_equal(dst, np.swapaxes(src, -1, -2))
        n = simd.lanes(src.itemsize)
        seen.append((dtype, rows >= n and cols >= n, bool(rows % n or cols % n)))

    compare()
    assert len(seen) >= 100
    assert {d for d, _, _ in seen} == {"float32", "float64"}
    assert any(whole for _, whole, _ in seen) and any(not whole for _, whole, _ in seen)
    assert any(edge for _, _, edge in seen) and any(not edge for _, _, edge in seen)


def test_transpose_refuses_mismatched_arrays():
    src = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="dst of shape"):
        simd.transpose(np.zeros((4, 5), np.float32), src)
    with pytest.raises(ValueError, match="dtype"):
        simd.transpose(np.zeros((5, 4), np.float64), src)
    with pytest.raises(ValueError, match="C-contiguous"):
        simd.transpose(np.zeros((5, 4), np.float32), np.zeros((5, 4), np.float32).T)


def _channels_last_reference(x, g, spatial, pads):
    n, c, nd = x.shape[0], x.shape[1] // g, len(spatial)
    out = np.zeros((g, n) + tuple(m + lo + hi for m, (lo, hi) in zip(spatial, pads)) + (c,), dtype=x.dtype)
    inner = (slice(None), slice(None)) + tuple(slice(lo, lo + m) for m, (lo, _) in zip(spatial, pads))
    out[inner] = x.reshape((n, g, c) + spatial).transpose((1, 0) + tuple(range(3, 3 + nd)) + (2,))
    return out


def test_channels_last_matches_numpy():
    """The compiled channels-last copy (whole planes unpadded, runs along the last dim padded) against NumPy
    on 1-3 d inputs, 1-3 groups, 1-40 channels, both dtypes, into a fresh array or the front of a buffer;
    the input is left alone.  Counted over padded and unpadded, grouped and single-group cases."""
    seen = []

    @settings(max_examples=100, deadline=None)
    @given(data=st.data())
    def compare(data):
        nd = data.draw(st.integers(1, 3), label="ndim")
        g, c = data.draw(st.integers(1, 3), label="groups"), data.draw(st.integers(1, 40), label="channels")
        n = data.draw(st.integers(1, 3), label="images")
        spatial = tuple(data.draw(st.integers(1, 20)) for _ in range(nd))
        pads = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in range(nd))
        dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
        x = np.random.default_rng(len(seen)).standard_normal((n, g * c) + spatial).astype(dtype)
        before = x.copy()
        want = _channels_last_reference(x, g, spatial, pads)
        buffer = np.full(want.size + 5, np.nan, dtype=dtype) if data.draw(st.booleans(), label="buffer") else None
        got = phase.channels_last(x, g, spatial, pads, buffer)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(x, before)
        seen.append((any(lo or hi for lo, hi in pads), g > 1))

    compare()
    assert len(seen) >= 80 and set(seen) == {(True, True), (True, False), (False, True), (False, False)}


def test_channels_last_from_threads_and_a_forked_child():
    """The compiled copy (split over the pool) from four threads at once and in a forked child: the same bytes."""
    x = np.random.default_rng(0).standard_normal((16, 96, 12, 10)).astype(np.float32)
    want = _channels_last_reference(x, 2, (12, 10), ((1, 0), (0, 2)))
    results = [None] * 4

    def run(i):
        results[i] = phase.channels_last(x, 2, (12, 10), ((1, 0), (0, 2)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        np.testing.assert_array_equal(got, want)
    if not hasattr(os, "fork"):
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, report whether it matched, exit without running pytest's teardown
        try:
            ok = np.array_equal(phase.channels_last(x, 2, (12, 10), ((1, 0), (0, 2))), want)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    os.close(read)
