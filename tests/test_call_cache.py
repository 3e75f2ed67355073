"""The per-call caches that keep a small call's fixed cost down (bench/call_overhead.py measures it).

A call's geometry is kept per operand shapes, dtypes and plain hyper-parameters
(:func:`tconv.params.call_geometry`), the planner's byte counts and the kernels' index tables per
geometry, and a small call's algorithm per geometry (:func:`tconv.algorithms.planner.small_choice`: planned
again whenever what the choice depends on changes).  What must hold: a cached call validates exactly as an uncached one (a float, a bool or a NumPy
integer is not mistaken for the int it equals), a hit gives the same numbers as a fresh computation, the
cached tables are never written by a call, and a geometry's hash is not carried into another process.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import tconv
from tconv import params
from tconv.algorithms import depthwise, depthwise_planes, gemm_loops, planner

from support import assert_close, clear_tconv_caches


@pytest.mark.parametrize("bad, error", [(2.0, TypeError), (True, TypeError), (0, ValueError), ("2", TypeError)])
def test_a_cached_signature_does_not_accept_what_it_equals(bad, error):
    """``stride=2`` cached first: ``2.0`` and ``True`` (equal to 2 and 1) are still refused, every time."""
    x, w = np.ones((1, 1, 3)), np.ones((1, 1, 2))
    assert tconv.conv_transpose(x, w, stride=2).shape == (1, 1, 6)
    assert tconv.conv_transpose(x, w, stride=1).shape == (1, 1, 4)
    for _ in range(2):
        with pytest.raises(error, match="stride"):
            tconv.conv_transpose(x, w, stride=bad)


def test_plain_and_other_hyper_parameters_give_one_geometry():
    x, w = np.ones((2, 4, 5, 6)), np.ones((4, 3, 3, 3))
    plain = params.call_geometry(True, x, w, None, stride=(2, 1), padding=1)
    assert plain is params.call_geometry(True, x, w, None, stride=(2, 1), padding=1)  # a hit
    for stride in ([2, 1], np.array([2, 1]), (np.int64(2), 1)):  # not plain: built afresh, equal
        other = params.call_geometry(True, x, w, None, stride=stride, padding=1)
        assert other == plain and other is not plain
    assert params.call_geometry(True, x.astype(np.float32), w.astype(np.float32), None, stride=(2, 1), padding=1) != plain


def test_hits_give_the_numbers_of_a_fresh_call():
    """The same signatures called over and over, interleaved, equal a call with every cache emptied."""
    rng = np.random.default_rng(0)
    calls = [
        (rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((3, 1, 2, 3)), dict(stride=2, groups=3)),  # one channel per group
        (rng.standard_normal((1, 4, 6, 6)), rng.standard_normal((4, 3, 3, 3)), dict(stride=2, padding=1)),
        (rng.standard_normal((1, 2, 4)), rng.standard_normal((2, 2, 2)), dict(stride=3)),  # stride above the kernel
    ]
    fresh = []
    for x, w, kw in calls:
        clear_tconv_caches()
        fresh.append((tconv.conv_transpose(x, w, **kw), tconv.conv(tconv.conv_transpose(x, w, **kw), w, **kw)))
    compared = 0
    for _ in range(3):
        for (x, w, kw), (want_t, want_c) in zip(calls, fresh):
            got_t = tconv.conv_transpose(x, w, **kw)
            assert_close(got_t, want_t, "float64")
            assert_close(tconv.conv(got_t, w, **kw), want_c, "float64")
            compared += 1
    assert compared == 9
    depthwise_hits = sum(f.cache_info().hits for f in (depthwise._tables, depthwise_planes._ct_tables,
                                                         depthwise_planes._conv_tables))
    assert depthwise_hits >= 2 and gemm_loops._col2im_plane_tables.cache_info().hits >= 2


def test_cached_tables_are_not_written_by_calls():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 7, 5)), rng.standard_normal((3, 1, 3, 2))
    kw = dict(stride=(2, 3), padding=1, groups=3)
    tconv.conv_transpose(x, w, **kw, algorithm="depthwise")
    geom = params.call_geometry(True, x, w, None, stride=(2, 3), padding=1, output_padding=0, dilation=1,
                                groups=3, output_size=None, padding_mode="zeros")
    arrays = lambda tables: [t for t in tables if isinstance(t, np.ndarray)]  # noqa: E731
    before = [t.copy() for t in arrays(depthwise._tables(geom)) + arrays(depthwise_planes._ct_tables(geom))]
    for _ in range(3):
        tconv.conv_transpose(x, w, **kw, algorithm="depthwise")
        with pytest.MonkeyPatch.context() as mp:  # the row kernels too
            mp.setattr(depthwise, "PLANES_FROM_POSITIONS", 1 << 30)
            tconv.conv_transpose(x, w, **kw, algorithm="depthwise")
    after = arrays(depthwise._tables(geom)) + arrays(depthwise_planes._ct_tables(geom))
    assert len(after) == len(before) and all(np.array_equal(a, b) for a, b in zip(before, after))


def test_a_geometry_hash_stays_in_its_process():
    """The hash is computed once per object and never pickled: string hashes differ between processes."""
    geom = params.geometry_from_shapes(True, (1, 3, 4, 4), (3, 2, 2, 2), stride=2, padding_mode="circular",
                                       padding=1)
    hash(geom)
    assert "_hash" in geom.__dict__
    copy = pickle.loads(pickle.dumps(geom))
    assert "_hash" not in copy.__dict__ and copy == geom and hash(copy) == hash(geom)
    code = ("import pickle, sys; from tconv.params import geometry_from_shapes as g; "
            "a = pickle.loads(sys.stdin.buffer.read()); "
            "b = g(True, (1, 3, 4, 4), (3, 2, 2, 2), stride=2, padding_mode='circular', padding=1); "
            "print(a == b, hash(a) == hash(b), len({a: 1, b: 2}))")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(geom), capture_output=True, check=True,
                         env={"PYTHONHASHSEED": "random", **_env()})
    assert out.stdout.split() == [b"True", b"True", b"1"]


def test_planner_byte_counts_follow_the_algorithm_formula():
    geom = params.geometry_from_shapes(True, (2, 8, 6, 6), (8, 4, 3, 3), stride=2)
    for name in tconv.algorithm_names():
        algorithm = planner.get(name)
        if algorithm.unsupported(geom):
            continue
        want = planner.result_bytes(geom) + algorithm.workspace_bytes(geom, 4) + planner.SMALL_BYTES  # float32
        assert planner.needed_bytes(geom, algorithm) == want


class _CountedChoices:
    """Counts the planner's auto choices (the planning a remembered small call skips)."""

    def __init__(self, monkeypatch) -> None:
        self.calls, inner = 0, planner.auto_choice

        def counted(*args, **kwargs):
            self.calls += 1
            return inner(*args, **kwargs)

        monkeypatch.setattr(planner, "auto_choice", counted)


def _small_call():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    kw = dict(stride=2, padding=1)
    geom = params.call_geometry(True, x, w, None, stride=2, padding=1, output_padding=0, dilation=1, groups=1,
                                output_size=None, padding_mode="zeros")
    return x, w, kw, geom


def test_a_repeated_small_call_plans_once_with_the_one_off_result(monkeypatch):
    x, w, kw, _ = _small_call()
    clear_tconv_caches()
    fresh = tconv.conv_transpose(x, w, **kw)
    counted = _CountedChoices(monkeypatch)
    for _ in range(5):
        np.testing.assert_array_equal(tconv.conv_transpose(x, w, **kw), fresh)  # bit for bit
        np.testing.assert_array_equal(tconv.conv_transpose(np.asfortranarray(x), w, **kw), fresh)  # any layout
    assert counted.calls == 0  # planned by the first call, before counting
    clear_tconv_caches()  # what tconv.bench.clear_caches empties includes the remembered choices
    tconv.conv_transpose(x, w, **kw)
    assert counted.calls == 1


@pytest.mark.parametrize("change", ["threads", "numba", "calibration", "measured", "registry"])
def test_what_a_choice_depends_on_plans_the_call_again(monkeypatch, change):
    from tconv.algorithms import cost, registry

    x, w, kw, geom = _small_call()
    want = tconv.conv_transpose(x, w, **kw, algorithm="direct")
    tconv.conv_transpose(x, w, **kw)
    counted = _CountedChoices(monkeypatch)
    if change == "threads":
        monkeypatch.setenv("TCONV_NUM_THREADS", "1")
    elif change == "numba":
        monkeypatch.setenv("TCONV_NUMBA", "0")
    elif change == "calibration":
        monkeypatch.setattr(cost, "_GENERATION", [cost.generation() + 1])
    elif change == "registry":
        monkeypatch.setattr(registry, "_GENERATION", [registry.generation() + 1])
    else:
        monkeypatch.setitem(planner.MEASURED, geom, "direct")
    assert_close(tconv.conv_transpose(x, w, **kw), want, "float64")
    assert counted.calls == 1
    if change == "measured":  # the measured winner is what runs now
        assert planner.small_choice(geom, "auto", (x, w))[0].name == "direct"
    tconv.conv_transpose(x, w, **kw)  # remembered again under the new state
    assert counted.calls == 1


def test_a_memory_limit_plans_and_guards_every_call(monkeypatch):
    x, w, kw, geom = _small_call()
    tconv.conv_transpose(x, w, **kw)
    counted = _CountedChoices(monkeypatch)
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(1 << 30))
    for _ in range(2):
        tconv.conv_transpose(x, w, **kw)
    assert counted.calls == 2 and planner.small_choice(geom, "auto", (x, w)) is None
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", "1024")
    with pytest.raises(ValueError, match="memory"):
        tconv.conv_transpose(x, w, **kw)


def test_values_the_remembered_algorithm_declines_are_asked_every_call(monkeypatch):
    """fft, remembered for finite operands, declines an inf: auto runs the next algorithm for that call only,
    a call naming fft is refused as the one-off call is."""
    x, w, kw, geom = _small_call()
    monkeypatch.setitem(planner.MEASURED, geom, "fft")
    finite = tconv.conv_transpose(x, w, **kw)
    assert planner.small_choice(geom, "auto", (x, w))[0].name == "fft"
    bad = x.copy()
    bad[0, 0, 0, 0] = np.inf
    got = tconv.conv_transpose(bad, w, **kw)
    want = tconv.conv_transpose(bad, w, **kw, algorithm="direct")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isinf(got).sum() == np.isinf(want).sum() > 0
    tconv.conv_transpose(x, w, **kw, algorithm="fft")
    with pytest.raises(ValueError, match="fft"):
        tconv.conv_transpose(bad, w, **kw, algorithm="fft")
    counted = _CountedChoices(monkeypatch)
    np.testing.assert_array_equal(tconv.conv_transpose(x, w, **kw), finite)
    assert counted.calls == 0  # the finite call still finds fft remembered


def test_only_small_unforced_choices_are_remembered(monkeypatch):
    rng = np.random.default_rng(3)
    big_x, big_w = rng.standard_normal((4, 16, 32, 32)), rng.standard_normal((16, 16, 3, 3))  # ~2 MiB result
    tconv.conv_transpose(big_x, big_w, stride=2)
    geom = params.call_geometry(True, big_x, big_w, None, stride=2, padding=0, output_padding=0, dilation=1,
                                groups=1, output_size=None, padding_mode="zeros")
    assert all(key[0] != geom for key in planner._SMALL_CHOICES)
    monkeypatch.setattr(planner, "SMALL_CHOICES_KEPT", 4)
    for n in range(1, 10):
        tconv.conv(np.ones((n, 1, 4)), np.ones((1, 1, 2)))
        assert len(planner._SMALL_CHOICES) <= 4


def test_threads_share_the_remembered_choices():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    calls = [(rng.standard_normal((1, c, 6)), rng.standard_normal((c, 2, 3)), dict(stride=s)) for c in (1, 2, 3)
             for s in (1, 2)]
    want = [tconv.conv_transpose(x, w, **kw, algorithm="direct") for x, w, kw in calls]
    clear_tconv_caches()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: tconv.conv_transpose(*calls[i % 6][:2], **calls[i % 6][2]), range(96)))
    compared = 0
    for i, got in enumerate(results):
        assert_close(got, want[i % 6], "float64")
        compared += 1
    assert compared == 96


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
