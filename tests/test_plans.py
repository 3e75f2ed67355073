"""Reusable plans (tconv.plan_conv_transpose, tconv.plan_conv): bit for bit the one-off call, on every
algorithm, boundary mode, dtype and memory layout; refusals, declined values, threads, the memory guard."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings

import tconv
from tconv.algorithms import planner

from support import Compared, configs_for, default_examples, layouts, require_algorithm


def _one_off_and_plan(transposed: bool, x, w, b, kwargs, algorithm: str):
    """(the one-off call's result, the plan's result on the same operands, the bound plan's first and second
    results), or None where the call refuses."""
    call, make = ((tconv.conv_transpose, tconv.plan_conv_transpose) if transposed
                  else (tconv.conv, tconv.plan_conv))
    try:
        want = call(x, w, b, **kwargs, algorithm=algorithm)
    except ValueError:  # the algorithm declines this configuration: the plan must refuse it the same way
        with pytest.raises(ValueError):
            make(x, w, b, **kwargs, algorithm=algorithm)
        return None
    plan = make(x, w, b, **kwargs, algorithm=algorithm)
    bound = plan.bind(w, b)
    return want, plan(x, w, b), bound(x), bound(x)


@pytest.mark.parametrize("algorithm", ["auto"] + list(tconv.algorithm_names()))
def test_plan_equals_the_one_off_call(algorithm):
    """Random configurations (groups, dilation, output_padding, asymmetric padding, bias, 16-64 channels in
    one draw in five), both directions: the plan's result is the one-off call's, bit for bit, and so are a
    bound plan's first and second calls."""
    require_algorithm(algorithm)
    tally = Compared()

    @settings(max_examples=default_examples(), deadline=None)
    @given(cfg=configs_for(algorithm))
    def prop(cfg):
        tally.drawn += 1
        x, w, b = cfg.arrays()
        for transposed in (True, False):
            if transposed:
                pair = _one_off_and_plan(True, x, w, b, cfg.transpose_kwargs(), algorithm)
            else:
                cx, cw, cb = cfg.conv_problem()
                pair = _one_off_and_plan(False, cx, cw, cb, cfg.conv_kwargs(), algorithm)
            if pair is not None:
                for got in pair[1:]:  # the plan, the bound plan's first call and its second (kept re-layouts)
                    np.testing.assert_array_equal(got, pair[0])
                    assert got.dtype == pair[0].dtype
                tally.compared += 1

    prop()
    tally.assert_at_least(default_examples() // 2, f"plans with algorithm {algorithm!r}")


@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate"])
@pytest.mark.parametrize("dtype", ["float32", "complex128"])
def test_plan_with_boundary_modes_and_complex(mode, dtype):
    """Boundary modes and complex operands run their inner calls per call: equal to the one-off call."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 6, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    if dtype.startswith("complex"):
        x = x + 1j * rng.standard_normal(x.shape)
        w = w + 1j * rng.standard_normal(w.shape)
    cases = 0
    for padding_mode in (mode, "zeros"):
        kw = dict(stride=2, padding=1, padding_mode=padding_mode)
        p = tconv.plan_conv_transpose(x, w, **kw)
        np.testing.assert_array_equal(p(x, w), tconv.conv_transpose(x, w, **kw))
        np.testing.assert_array_equal(p.bind(w)(x), tconv.conv_transpose(x, w, **kw))
        big = tconv.conv_transpose(x, w, **kw)
        q = tconv.plan_conv(big, w, **kw)
        np.testing.assert_array_equal(q(big, w), tconv.conv(big, w, **kw))
        np.testing.assert_array_equal(q.bind(w)(big), tconv.conv(big, w, **kw))
        cases += 2
    assert cases == 4


@pytest.mark.parametrize("algorithm", ["auto", "gemm", "phase", "fft", "direct"])
def test_plan_takes_every_memory_layout(algorithm):
    """Operands in any layout give the result of C-ordered ones; the caller's arrays are not written."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 24, 7, 6)).astype(np.float32)
    w = rng.standard_normal((24, 20, 4, 3)).astype(np.float32)
    b = rng.standard_normal(20).astype(np.float32)
    p = tconv.plan_conv_transpose(x, w, b, stride=2, padding=1, algorithm=algorithm)
    want = p(x, w, b)
    seen = 0
    for (name, xl), (_, wl) in zip(layouts(x), layouts(w)):
        before = xl.copy(), wl.copy()
        np.testing.assert_array_equal(p(xl, wl, b), want, err_msg=name)
        np.testing.assert_array_equal(xl, before[0])
        np.testing.assert_array_equal(wl, before[1])
        seen += 1
    assert seen == 7


def test_plan_refuses_other_operands():
    x, w = np.ones((1, 2, 4, 4)), np.ones((2, 3, 2, 2))
    p = tconv.plan_conv_transpose(x, w, stride=2)
    with pytest.raises(ValueError, match=r"x has shape \(1, 2, 4, 5\) .* made for shape \(1, 2, 4, 4\)"):
        p(np.ones((1, 2, 4, 5)), w)
    with pytest.raises(ValueError, match=r"weight has shape \(2, 3, 2, 2\) and dtype float32"):
        p(x, w.astype(np.float32))
    with pytest.raises(ValueError, match="bias is given; this plan was made without a bias"):
        p(x, w, np.ones(3))
    with_bias = tconv.plan_conv_transpose(x, w, np.ones(3), stride=2)
    with pytest.raises(ValueError, match="bias is missing; this plan was made with a bias"):
        with_bias(x, w)
    with pytest.raises(TypeError, match="x has dtype"):
        p(np.array([["a"]]), w)
    with pytest.raises(ValueError, match="output_padding"):
        tconv.plan_conv_transpose(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="algorithm must be 'auto' or one of"):
        tconv.plan_conv(x, w, algorithm="nope")


def test_plan_attributes_and_unbatched_operands():
    x, w = np.ones((2, 5)), np.ones((2, 3, 3))
    p = tconv.plan_conv_transpose(x, w, stride=2)
    assert p.output_shape == (3, 11) and p.dtype == np.float64
    assert p.algorithm in tconv.algorithm_names()
    assert not p.geometry.batched
    y = p(x.tolist(), w)  # array likes are converted, as by the one-off call
    np.testing.assert_array_equal(y, tconv.conv_transpose(x, w, stride=2))
    assert "conv_transpose" in repr(p) and "(3, 11)" in repr(p)


def test_a_declined_value_runs_as_the_one_off_call(monkeypatch):
    """fft declines inf and nan: a plan of ``fft`` refuses them as the one-off call does; an ``auto`` plan
    that chose fft (here: as if a measurement had found it fastest) runs such a call as the one-off call
    does (the next algorithm)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 256))
    w = rng.standard_normal((2, 2, 96))
    p = tconv.plan_conv_transpose(x, w, algorithm="fft")
    bad = x.copy()
    bad[0, 0, 3] = np.inf
    with pytest.raises(ValueError, match="fft"):
        tconv.conv_transpose(bad, w, algorithm="fft")
    with pytest.raises(ValueError, match="fft"):
        p(bad, w)
    monkeypatch.setitem(planner.MEASURED, p.geometry, "fft")
    auto = tconv.plan_conv_transpose(x, w)
    assert auto.algorithm == "fft"
    np.testing.assert_array_equal(auto(bad, w), tconv.conv_transpose(bad, w))
    np.testing.assert_array_equal(auto(x, w), tconv.conv_transpose(x, w))


def test_one_plan_from_many_threads():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 32, 9, 9)).astype(np.float32)
    w = rng.standard_normal((32, 16, 4, 4)).astype(np.float32)
    p = tconv.plan_conv_transpose(x, w, stride=2, padding=1)
    want = p(x, w)
    for y in _from_threads(lambda: p(x, w), threads=8, calls=5):
        np.testing.assert_array_equal(y, want)


def _from_threads(call, threads: int, calls: int) -> list:
    """``call()``'s results, ``calls`` times in each of ``threads`` threads started together."""
    start = threading.Barrier(threads)
    results: list = []

    def work():
        start.wait()
        for _ in range(calls):
            results.append(call())

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert len(results) == threads * calls
    return results


def test_the_memory_guard_holds_per_call(monkeypatch):
    """A plan checks memory when made, and every call holds its bytes: a limit set later refuses the call."""
    x, w = np.ones((1, 8, 64, 64)), np.ones((8, 8, 4, 4))
    p = tconv.plan_conv_transpose(x, w, stride=2)
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", "1024")
    with pytest.raises(ValueError, match="would need .* bytes"):
        p(x, w)
    with pytest.raises(ValueError, match="would need .* bytes"):
        tconv.plan_conv_transpose(x, w, stride=2)
    monkeypatch.delenv("TCONV_MEMORY_LIMIT")
    assert p(x, w).shape == (1, 8, 130, 130)


def test_measure_mode_times_the_candidates_once(monkeypatch):
    monkeypatch.setenv("TCONV_AUTO", "measure")
    x, w = np.ones((1, 4, 5, 5)), np.ones((4, 4, 3, 3))
    p = tconv.plan_conv_transpose(x, w, stride=3, padding=1)
    try:
        assert planner.MEASURED[p.geometry] == p.algorithm
    finally:
        del planner.MEASURED[p.geometry]


#: The kernels' weight re-layouts a bound plan keeps: (algorithm, direction, module, builder), with a layer
#: that runs it (x, weight, keyword arguments).
_KEPT = [
    ("gemm", True, "gemm", "_channels_last_weight", (2, 24, 7, 6), (24, 20, 4, 4), dict(stride=2, padding=1)),
    ("subpixel", True, "subpixel", "_combined_weight", (1, 6, 5, 5), (6, 5, 8, 8), dict(stride=4, padding=2)),
    ("subpixel", False, "blockconv", "block_weight", (1, 6, 5, 5), (6, 5, 8, 8), dict(stride=4, padding=2)),
    ("winograd", True, "winograd", "filter_transform", (2, 8, 9, 9), (8, 6, 3, 3), dict(padding=1)),
    ("winograd", False, "winograd", "filter_transform", (2, 8, 9, 9), (8, 6, 3, 3), dict(padding=1)),
]


@pytest.mark.parametrize("algorithm, transposed, module, builder, xs, ws, kw", _KEPT)
def test_a_bound_plan_keeps_the_weight_relayouts(monkeypatch, algorithm, transposed, module, builder, xs, ws, kw):
    """A bound plan builds each weight re-layout on its first call only (a plain plan on every call), with
    the same result; the caller's weight may change after ``bind`` without reaching it."""
    import importlib

    from tconv.algorithms import jit

    if not jit.available(np.float32):
        pytest.skip("the kept re-layouts are those of the compiled kernels")
    mod = importlib.import_module(f"tconv.algorithms.{module}")
    builds = []
    original = getattr(mod, builder)
    monkeypatch.setattr(mod, builder, lambda *a, **k: (builds.append(1), original(*a, **k))[1])
    rng = np.random.default_rng(7)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    if not transposed:
        x = tconv.conv_transpose(x, w, **kw)
        call, make = tconv.conv, tconv.plan_conv
    else:
        call, make = tconv.conv_transpose, tconv.plan_conv_transpose
    want = call(x, w, **kw, algorithm=algorithm)
    p = make(x, w, **kw, algorithm=algorithm)
    builds.clear()
    p(x, w)
    p(x, w)
    per_call = len(builds) // 2
    assert per_call >= 1 and len(builds) == 2 * per_call  # a plain plan re-lays out on every call
    f = p.bind(w)
    w[...] = 0  # the bound plan keeps its own copy
    builds.clear()
    first, second = f(x), f(x)
    assert len(builds) == per_call  # the first call only
    np.testing.assert_array_equal(first, want)
    np.testing.assert_array_equal(second, want)
    assert not f.weight.flags.writeable and f.bias is None


def test_a_full_store_builds_per_call(monkeypatch):
    """Past its bound (a few times the weight's bytes) a store keeps nothing more: re-layouts are built per
    call, results unchanged."""
    from tconv.algorithms import gemm, packs

    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 24, 7, 6)).astype(np.float32)
    w = rng.standard_normal((24, 20, 4, 4)).astype(np.float32)
    monkeypatch.setattr(packs, "STORE_SHARE", 0)
    monkeypatch.setattr(packs, "STORE_FLOOR_BYTES", 0)
    builds = []
    original = gemm._channels_last_weight
    monkeypatch.setattr(gemm, "_channels_last_weight", lambda *a, **k: (builds.append(1), original(*a, **k))[1])
    f = tconv.plan_conv_transpose(x, w, stride=2, algorithm="gemm").bind(w)
    want = tconv.conv_transpose(x, w, stride=2, algorithm="gemm")
    builds.clear()
    for _ in range(3):
        np.testing.assert_array_equal(f(x), want)
    assert len(builds) >= 3 and len(f._store) == 0


def test_a_bound_plan_refuses_other_operands_and_reads_like_its_plan():
    x, w, b = np.ones((1, 2, 4, 4)), np.ones((2, 3, 2, 2)), np.arange(3.)
    p = tconv.plan_conv_transpose(x, w, b, stride=2)
    with pytest.raises(ValueError, match=r"weight has shape \(2, 3, 3, 3\)"):
        p.bind(np.ones((2, 3, 3, 3)), b)
    with pytest.raises(ValueError, match="bias is missing"):
        p.bind(w)
    f = p.bind(w.tolist(), b)  # array likes are converted
    with pytest.raises(ValueError, match=r"x has shape \(1, 2, 4, 5\)"):
        f(np.ones((1, 2, 4, 5)))
    np.testing.assert_array_equal(f(x), tconv.conv_transpose(x, w, b, stride=2))
    assert f.plan is p and not f.bias.flags.writeable
    assert repr(f).startswith("BoundPlan(conv_transpose, x (1, 2, 4, 4) float64 -> (1, 3, 8, 8) float64")
    assert repr(f).endswith("weight (2, 3, 2, 2) bound, bias bound)")


def test_one_bound_plan_from_many_threads():
    """Eight threads start on a fresh bound plan at once (their first calls race to keep the re-layouts)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 32, 9, 9)).astype(np.float32)
    w = rng.standard_normal((32, 16, 4, 4)).astype(np.float32)
    want = tconv.conv_transpose(x, w, stride=2, padding=1)
    f = tconv.plan_conv_transpose(x, w, stride=2, padding=1).bind(w)
    for y in _from_threads(lambda: f(x), threads=8, calls=4):
        np.testing.assert_array_equal(y, want)


_FORKED: dict = {}


def _bound_in_child() -> np.ndarray:
    return _FORKED["f"](_FORKED["x"])


def test_a_bound_plan_in_a_forked_child():
    """A bound plan whose re-layouts the parent kept runs in a forked child (its store has no lock to inherit)."""
    import multiprocessing

    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 24, 7, 6)).astype(np.float32)
    w = rng.standard_normal((24, 20, 4, 4)).astype(np.float32)
    f = tconv.plan_conv_transpose(x, w, stride=2, padding=1).bind(w)
    want = f(x)
    _FORKED.update(f=f, x=x)
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            got = pool.apply_async(_bound_in_child).get(timeout=120)
    finally:
        _FORKED.clear()
    np.testing.assert_array_equal(got, want)
    assert len(f._store) >= 1
