"""Planning costs Python work per dim that grows with kernel + stride at most, never with their product.

Timings live in bench/plan_time.py; here the planner's Python steps are counted (every line executed in
tconv's sources while ``tconv.ops.plan`` runs, with every cache emptied first) and compared between a
geometry and one with ten times the kernel and stride.  The closed forms the planner uses are checked
against the enumerations they replace, on many small geometries.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
from collections import Counter

import numpy as np
import pytest

import tconv
from tconv import ops
from tconv.algorithms import get, names, phasing, subpixel
from tconv.algorithms.cost import constants, per_call_seconds
from tconv.compat import crop_geometry, express
from tconv.params import conv_transpose_geometry

from support import clear_tconv_caches

SOURCES = os.path.dirname(tconv.__file__)


class StepBudgetExceeded(RuntimeError):
    pass


def planning_steps(geom, budget: int = 200_000) -> int:
    """Lines of tconv's Python executed by a cold ``ops.plan(geom)``; raises past ``budget`` (so that a
    planner that loops over stride x kernel fails fast instead of running for seconds)."""
    clear_tconv_caches()
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
            if count > budget:
                raise StepBudgetExceeded(f"planning ran more than {budget} lines of tconv's Python")
        return local

    def global_(frame, event, arg):
        return local if frame.f_code.co_filename.startswith(SOURCES) else None

    sys.settrace(global_)
    try:
        ops.plan(geom)
    finally:
        sys.settrace(None)
    return count


def _geom_1d(kernel: int, stride: int):
    return conv_transpose_geometry(np.ones((1, 1, 2)), np.ones((1, 1, kernel)), stride=stride)


def test_planning_steps_do_not_grow_with_stride_times_kernel():
    """kernel 6000 / stride 3000 on a 2-position input (18 million (phase, tap) pairs): ten times the kernel
    and stride of kernel 600 / stride 300 may cost up to ten times the steps (linear), never the hundredfold
    of their product (the planner that enumerated the pairs ran past the budget on both)."""
    small = planning_steps(_geom_1d(600, 300))
    big = planning_steps(_geom_1d(6000, 3000))
    assert big < 15 * small, (small, big)


def test_planning_steps_do_not_grow_with_the_number_of_nd_phases():
    """2-d stride 32 x 32 (1024 phases, 64 x 64 taps) against stride 8 x 8 (64 phases): products over the dims
    are taken over per-dim summaries, not over the phases."""
    def geom(k, s):
        return conv_transpose_geometry(np.ones((1, 1, 2, 2)), np.ones((1, 1, k, k)), stride=s)

    small = planning_steps(geom(16, 8))
    big = planning_steps(geom(64, 32))
    assert big < 3 * small, (small, big)  # 16 times the phases: 16 times the steps when they were listed


def test_explain_of_the_big_geometry_stays_within_the_step_budget():
    clear_tconv_caches()
    x, w = np.ones((1, 1, 2)), np.ones((1, 1, 6000))
    geom = conv_transpose_geometry(x, w, stride=3000)
    steps = planning_steps(geom)
    for name in names():  # every algorithm's own functions, as explain() calls them
        algorithm = get(name)
        if not algorithm.unsupported(geom):
            algorithm.cost(geom)
            algorithm.workspace_bytes(geom, 8)
    assert steps < 50_000
    assert tconv.explain(x, w, stride=3000).algorithm in names()


def test_too_many_phases_is_refused_without_listing_them():
    geom = conv_transpose_geometry(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), stride=(4096, 4096))
    for name in ("gemm", "phase", "subpixel", "depthwise"):
        reason = get(name).unsupported(geom)
        assert reason and "16777216 output phases" in reason
    assert planning_steps(geom, budget=20_000) < 20_000


# ---------------------------------------------------------------------------
# the closed forms against the enumerations they replace


def _reference_axis_phases(n_big, kernel, stride, dilation, before):
    out = []
    for p in range(min(stride, n_big)):
        taps = [(t, (t * dilation - before - p) // stride) for t in range(kernel)
                if (t * dilation - before) % stride == p]
        out.append(phasing.AxisPhase(p, (n_big - p + stride - 1) // stride, tuple(taps)))
    return out


def _random_geometries(count: int, seed: int):
    rng = random.Random(seed)
    made = 0
    while made < count:
        nd = rng.randint(1, 3)
        n = [rng.randint(1, 5) for _ in range(nd)]
        k = [rng.randint(1, 7) for _ in range(nd)]
        s = [rng.randint(1, 6) for _ in range(nd)]
        d = [rng.randint(1, 3) for _ in range(nd)]
        pad = [(rng.randint(0, 4), rng.randint(0, 4)) for _ in range(nd)]
        op = [rng.randint(0, max(a, b) - 1) for a, b in zip(s, d)]
        try:
            geom = conv_transpose_geometry(np.zeros([1, 1] + n), np.zeros([1, 1] + k), stride=s, dilation=d,
                                           padding=pad, output_padding=op)
        except ValueError:
            continue
        made += 1
        yield geom


def test_axis_phases_match_the_definition():
    rng = random.Random(3)
    for _ in range(2000):
        n_big, kernel, stride = rng.randint(1, 30), rng.randint(1, 12), rng.randint(1, 9)
        dilation, before = rng.randint(1, 4), rng.randint(-6, 10)
        got = phasing.axis_phases(2, n_big, kernel, stride, dilation, before)
        assert list(got) == _reference_axis_phases(n_big, kernel, stride, dilation, before)


def test_task_counts_small_padding_and_uniformity_match_the_phase_lists():
    from tconv.algorithms import phase

    for geom in _random_geometries(400, seed=4):
        counts = Counter()
        for pair, count in phasing.geometry_task_counts(geom):
            counts[pair] += count
        assert counts == Counter(phasing.phase_task_sizes(geom))
        assert phasing.uniform_phases_possible(geom) == (phase.uniform_phases(geom) is not None)
        for axis, n, pads in zip(phasing.geometry_phases(geom), geom.small_shape, phasing.small_padding(geom)):
            shifts = [sh for a in axis for _, sh in a.taps]
            longest = max(a.length for a in axis)
            want = (max(0, max(shifts)), max(0, longest - 1 - min(shifts) - (n - 1))) if shifts else (0, 0)
            assert pads == want


def test_subpixel_grids_match_their_definition():
    for geom in _random_geometries(300, seed=5):
        assert subpixel.grids(geom) == [subpixel.axis_grid(list(axis)) for axis in phasing.geometry_phases(geom)]


def test_every_cost_counts_the_fixed_cost_of_a_call():
    geom = _geom_1d(1, 1)
    floor = per_call_seconds(constants(np.float64))
    assert floor > 0
    for name in names():
        algorithm = get(name)
        if not algorithm.unsupported(geom):
            assert algorithm.cost(geom) >= floor, name


# ---------------------------------------------------------------------------
# translate's symmetric crops: closed form against the search over every (pad, output_padding)


def _searched_crop(lo, hi, limit, full):
    if lo >= 0 and 0 <= lo - hi < limit:
        return lo, lo - hi, (0, 0)
    best = (None, 0, 0, (lo, hi))
    for pad, op in itertools.product(range(max(lo, hi, 0) + 1), range(limit)):
        if full - 2 * pad + op < 1 or pad > max(lo, 0) or pad - op > max(hi, 0):
            continue
        extra = (lo - pad, hi - (pad - op))
        score = (abs(extra[0]) + abs(extra[1]), sum(e < 0 for e in extra), -pad)
        if best[0] is None or score < best[0]:
            best = (score, pad, op, extra)
    return best[1:]


@pytest.mark.parametrize("seed", range(4))
def test_translate_symmetric_crops_equal_the_exhaustive_search(seed):
    rng = random.Random(seed)
    for _ in range(1500):
        nd = rng.randint(1, 2)
        n, k = tuple(rng.randint(1, 6) for _ in range(nd)), tuple(rng.randint(1, 7) for _ in range(nd))
        stride, dilation = tuple(rng.randint(1, 6) for _ in range(nd)), tuple(rng.randint(1, 3) for _ in range(nd))
        crops = tuple((rng.randint(-8, 14), rng.randint(-8, 14)) for _ in range(nd))
        layer = crop_geometry((1, 1) + n, (1, 1) + k, stride=stride, dilation=dilation, crops=crops)
        for framework, key, limits in (("pytorch", "output_padding", [max(s, d) for s, d in
                                                                      zip(layer.geometry.stride, layer.geometry.dilation)]),
                                       ("mxnet", "adj", list(layer.geometry.stride))):
            t = express(layer, framework)
            want = [_searched_crop(lo, hi, lim, f) for (lo, hi), lim, f in zip(layer.crops, limits, layer.geometry.full_shape)]
            assert t.params["pad" if framework == "mxnet" else "padding"] == tuple(w[0] for w in want)
            assert t.params[key] == tuple(w[1] for w in want)
            assert t.extra_crop == tuple(w[2] for w in want)


def test_translate_of_huge_crops_is_immediate():
    layer = crop_geometry((1, 1, 3), (1, 1, 10**6), stride=(10**5,), dilation=(1,), crops=((10**7, 3),))
    t = express(layer, "pytorch")  # the search took 10**7 * 10**5 steps
    assert t.params["padding"] == (100002,) and t.params["output_padding"] == (99999,)


# ---------------------------------------------------------------------------
# padding="same" with the default output_padding; NumPy hyper-parameters


def test_same_accepts_zero_output_padding_in_every_form():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((2, 3, 3, 3))
    want = tconv.conv_transpose(x, w, stride=2, padding="same")
    assert want.shape[2:] == (10, 8)
    for zero in (0, (0, 0), [0, 0], np.array([0, 0]), np.int64(0), np.array(0), None):
        np.testing.assert_array_equal(tconv.conv_transpose(x, w, stride=2, padding="same", output_padding=zero), want)
    np.testing.assert_array_equal(tconv.conv_transpose(x, w, stride=2, padding="same", output_size=(10, 8)), want)
    np.testing.assert_array_equal(tconv.conv_transpose(x, w, stride=2, padding="valid", output_padding=(0, 0)),
                                  tconv.conv_transpose(x, w, stride=2))
    assert tconv.conv_transpose_output_shape((5, 4), 3, stride=2, padding="same", output_padding=(0, 0)) == (10, 8)


def test_same_refuses_a_non_zero_output_padding_or_another_size():
    x, w = np.ones((1, 2, 5, 4)), np.ones((2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"output_padding=\[1, 0\] cannot be combined with padding='same'.*\(10, 8\)"):
        tconv.conv_transpose(x, w, stride=2, padding="same", output_padding=np.array([1, 0]))
    with pytest.raises(ValueError, match=r"output_size=\(11, 8\) cannot be reached with padding='same'"):
        tconv.conv_transpose(x, w, stride=2, padding="same", output_size=(11, 8))


def _as_numpy(value):
    """Hyper-parameters as NumPy: tuples of ints -> int64 arrays, ints -> np.int64."""
    if isinstance(value, tuple):
        return np.array(value, dtype=np.int64)
    return np.int64(value)


@pytest.mark.parametrize("params", [
    dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 1), dilation=(1, 2)),
    dict(stride=2, padding=1, output_padding=1, dilation=1, groups=2),
    dict(stride=(2, 1), padding=((0, 1), (2, 0)), output_padding=(1, 0)),
    dict(stride=(3, 2), padding=(1, 1), output_size=(14, 8)),
])
def test_numpy_hyper_parameters_act_like_tuples(params):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((4, 2 if "groups" in params else 3, 3, 3))
    want = tconv.conv_transpose(x, w, **params)
    as_arrays = {k: (np.array(v) if k == "padding" and isinstance(v, tuple) else _as_numpy(v)) for k, v in params.items()}
    np.testing.assert_array_equal(tconv.conv_transpose(x, w, **as_arrays), want)
    as_scalars = {k: (tuple(np.int64(a) for a in v) if isinstance(v, tuple) and k != "padding" else v)
                  for k, v in params.items()}
    np.testing.assert_array_equal(tconv.conv_transpose(x, w, **as_scalars), want)
    if "output_size" not in params:
        kw = {k: v for k, v in as_arrays.items() if k not in ("output_padding", "groups")}
        assert tconv.conv_transpose_output_shape(np.array([5, 4]), np.array([3, 3]), **kw,
                                                 output_padding=as_arrays.get("output_padding", 0)) == want.shape[2:]


def test_numpy_hyper_parameters_for_conv_and_1d_output_size():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((4, 1, 3, 2))
    want = tconv.conv(x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    got = tconv.conv(x, w, stride=np.array([2, 1]), padding=np.array([1, 0]), dilation=np.array([1, 2]),
                     groups=np.int64(2))
    np.testing.assert_array_equal(got, want)
    x1, w1 = rng.standard_normal((1, 2, 5)), rng.standard_normal((2, 3, 3))
    want = tconv.conv_transpose(x1, w1, stride=2, output_size=12)
    for size in (np.int64(12), np.array(12), np.array([12]), [np.int64(12)]):
        np.testing.assert_array_equal(tconv.conv_transpose(x1, w1, stride=2, output_size=size), want)


# ---------------------------------------------------------------------------
# the reasons an algorithm declines: "algorithm '<name>' does not support <noun phrase>"

# (x shape, weight shape, hyper-parameters, {algorithm: a word the reason must contain})
REFUSED = [
    ((1, 1, 1, 1), (1, 1, 1, 1), dict(stride=65),
     {"gemm": "output phases", "phase": "output phases", "subpixel": "output phases", "depthwise": "output phases",
      "winograd": "kernel", "phase_winograd": "kernel"}),
    ((1, 2, 4, 4), (2, 2, 3, 3), dict(stride=1), {"nooverlap": "overlapping taps", "depthwise": "groups"}),
    ((1, 2, 4), (2, 2, 3), dict(stride=2), {"nooverlap": "overlapping taps", "winograd": "kernel"}),
    ((1, 2, 4, 4), (2, 2, 3, 3), dict(stride=2), {"winograd": "stride", "phase_winograd": "kernel"}),
    ((1, 2, 4, 4), (2, 2, 4, 4), dict(stride=2, dilation=3), {"phase_winograd": "dilation"}),
    ((1, 2, 4, 4), (2, 1, 4, 4), dict(stride=2, groups=2), {"phase_winograd": "groups"}),
    ((1, 2, 4, 4), (2, 2, 3, 3), dict(dilation=2), {"winograd": "dilation"}),
    ((1, 2, 4, 4), (2, 1, 3, 3), dict(groups=2), {"winograd": "groups"}),
]


def _refusal(call) -> str:
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


def _check_grammar(message: str, name: str, word: str) -> None:
    prefix = f"algorithm {name!r} does not support "
    assert message.startswith(prefix), message
    reason = message[len(prefix):]
    assert "does not support needs" not in message and not reason.startswith(("needs", "it ", "only")), message
    assert word in reason, (word, message)


def test_every_refusal_reads_as_a_noun_phrase():
    """Every algorithm but direct declines something; each refusal, for conv_transpose and for its adjoint
    conv (the same weight, on the transposed convolution's output), reads as one sentence."""
    refused = set()
    for xs, ws, params, expected in REFUSED:
        x, w = np.ones(xs), np.ones(ws)
        y = tconv.conv_transpose(x, w, algorithm="direct", **params)  # conv's input: the big side
        for name, word in expected.items():
            if get(name).unsupported(conv_transpose_geometry(x, w, **params)).startswith("running without"):
                continue  # pragma: no cover - winograd / phase_winograd without the compiled kernels
            _check_grammar(_refusal(lambda: tconv.conv_transpose(x, w, algorithm=name, **params)), name, word)
            _check_grammar(_refusal(lambda: tconv.conv(y, w, algorithm=name, **params)), name, word)
            refused.add(name)
    x = np.ones((1, 1, 6))
    x[0, 0, 2] = np.inf
    _check_grammar(_refusal(lambda: tconv.conv_transpose(x, np.ones((1, 1, 3)), algorithm="fft")), "fft", "inf or nan")
    refused.add("fft")
    assert refused == set(names()) - {"direct"}


def test_every_unsupported_reason_fits_the_sentence():
    geoms = [conv_transpose_geometry(np.ones(xs), np.ones(ws), **params) for xs, ws, params, _ in REFUSED]
    for name in names():
        for geom in geoms:
            reason = get(name).unsupported(geom)
            if reason:
                assert not reason.startswith(("needs", "it ", "only", "requires")), (name, reason)
                assert reason[0].islower() or reason[0].isdigit(), (name, reason)


# ---------------------------------------------------------------------------
# fft never switches algorithm behind the caller's back


@pytest.mark.parametrize("where", ["x", "weight"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_fft_refuses_non_finite_operands(where, value):
    x, w = np.ones((1, 2, 5, 5)), np.ones((2, 3, 3, 3))
    (x if where == "x" else w)[0, 0, 1, 1] = value
    with pytest.raises(ValueError, match=f"algorithm 'fft' does not support {where} containing inf or nan"):
        tconv.conv_transpose(x, w, stride=2, algorithm="fft")
    wc = np.ones((3, 2, 3, 3))
    if where == "weight":
        wc[0, 0, 1, 1] = value
    with pytest.raises(ValueError, match="algorithm 'fft' does not support"):
        tconv.conv(x if where == "x" else np.ones((1, 2, 5, 5)), wc, algorithm="fft")


def test_fft_accepts_finite_operands_and_empty_batches():
    from tconv.algorithms import fft

    assert fft.accepts_values(np.ones((1, 2, 3)), np.ones((2, 2, 2))) is None
    assert fft.accepts_values(np.arange(6).reshape(1, 2, 3), np.ones((2, 2, 2), np.int64)) is None
    assert tconv.conv_transpose(np.ones((0, 2, 3)), np.ones((2, 4, 2)), algorithm="fft").shape == (0, 4, 4)
    assert tconv.conv(np.ones((0, 2, 5)), np.ones((4, 2, 2)), algorithm="fft").shape == (0, 4, 4)


def test_auto_never_chooses_fft_for_non_finite_operands(monkeypatch):
    x = np.zeros((1, 1, 6))
    x[0, 0, 2] = np.nan
    w = np.ones((1, 1, 3))
    geom = conv_transpose_geometry(x, w)
    monkeypatch.setattr(ops, "ranked", lambda g: (("fft", 0.0), ("direct", 1.0)) if g == geom else ())
    got = tconv.conv_transpose(x, w)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(tconv.conv_transpose(x, w, algorithm="direct")))
