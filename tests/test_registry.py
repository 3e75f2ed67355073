"""The algorithm registry as a plugin interface: a new algorithm declared and registered from outside.

The algorithm here is the scatter loop of the definition, written out position by position; it runs
through the public doors (``tconv.conv_transpose``, ``tconv.conv``) by name, and ``auto`` takes it when its
declared cost is the lowest.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import tconv
from tconv.algorithms import Algorithm, get, names, register, unregister
from tconv.algorithms.planner import plan
from tconv.params import conv_transpose_geometry

CALLS: list[str] = []


def _pairs(geom):
    """Every (small position, tap, big position) that the index map links inside both arrays."""
    for i in itertools.product(*(range(n) for n in geom.small_shape)):
        for t in itertools.product(*(range(k) for k in geom.kernel_shape)):
            o = tuple(a * s + b * d - lo for a, b, s, d, lo in zip(i, t, geom.stride, geom.dilation, geom.before))
            if all(0 <= v < n for v, n in zip(o, geom.big_shape)):
                yield i, t, o


def _scatter(x, weight, geom):
    """``y[:, g*co + b, o] += x[:, g*ci + a, i] * weight[g*ci + a, b, t]``, one (i, t) pair at a time."""
    CALLS.append("conv_transpose")
    g = geom.groups
    ci, co = geom.in_channels // g, geom.out_channels // g
    y = np.zeros((geom.batch, geom.out_channels) + geom.output_shape, dtype=x.dtype)
    for i, t, o in _pairs(geom):
        for gi in range(g):
            w = weight[(slice(gi * ci, (gi + 1) * ci), slice(None)) + t]  # (ci, co)
            y[(slice(None), slice(gi * co, (gi + 1) * co)) + o] += x[(slice(None), slice(gi * ci, (gi + 1) * ci)) + i] @ w
    return y


def _gather(x, weight, geom):
    """``y[:, g*co + b, i] += weight[g*co + b, a, t] * x[:, g*ci + a, o]``: the adjoint of :func:`_scatter`."""
    CALLS.append("conv")
    g = geom.groups
    ci, co = geom.in_channels // g, geom.out_channels // g
    y = np.zeros((geom.batch, geom.out_channels) + geom.output_shape, dtype=x.dtype)
    for i, t, o in _pairs(geom):
        for gi in range(g):
            w = weight[(slice(gi * co, (gi + 1) * co), slice(None)) + t]  # (co, ci)
            y[(slice(None), slice(gi * co, (gi + 1) * co)) + i] += x[(slice(None), slice(gi * ci, (gi + 1) * ci)) + o] @ w.T
    return y


def _mine(cost: float) -> Algorithm:
    return Algorithm(name="mine", summary="test: the scatter loop, position by position", conv_transpose=_scatter,
                     conv=_gather, workspace_bytes=lambda geom, itemsize: 0, cost=lambda geom: cost)


CASES = [
    dict(x=(2, 3, 4), w=(3, 2, 3), kw=dict(stride=2, padding=1)),
    dict(x=(1, 4, 3, 5), w=(4, 3, 2, 3), kw=dict(stride=(2, 1), dilation=(1, 2), groups=2, output_padding=(1, 0))),
    dict(x=(2, 2, 2, 3, 2), w=(2, 1, 2, 2, 1), kw=dict(stride=(1, 2, 3), padding=((1, 0), (0, 1), (0, 0)))),
]


def test_a_registered_algorithm_runs_through_the_public_doors():
    rng = np.random.default_rng(0)
    register(_mine(cost=1e9))  # registered, but never the cheapest
    compared = 0
    try:
        assert tconv.algorithm_names()[-1] == "mine" and "mine" in names()
        for case in CASES:
            x, w = rng.standard_normal(case["x"]), rng.standard_normal(case["w"])
            got = tconv.conv_transpose(x, w, algorithm="mine", **case["kw"])
            np.testing.assert_allclose(got, tconv.conv_transpose(x, w, algorithm="direct", **case["kw"]), atol=1e-12)
            compared += 1
            kw = {k: v for k, v in case["kw"].items() if k != "output_padding"}
            wc = rng.standard_normal(w.shape)  # a convolution from the big side back to the small one
            np.testing.assert_allclose(tconv.conv(got, wc, algorithm="mine", **kw),
                                       tconv.conv(got, wc, algorithm="direct", **kw), atol=1e-12)
            compared += 1
            geom = conv_transpose_geometry(x, w, **case["kw"])
            assert plan(geom).name != "mine"  # the cost model ranks it last
    finally:
        unregister("mine")
    assert compared == 2 * len(CASES)
    assert "mine" not in names() and "mine" not in tconv.algorithm_names()
    with pytest.raises(ValueError, match="'mine'"):
        tconv.conv_transpose(np.ones((1, 1, 2)), np.ones((1, 1, 2)), algorithm="mine")


def test_auto_picks_a_registered_algorithm_when_it_is_cheapest():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 5)), rng.standard_normal((3, 2, 3))
    geom = conv_transpose_geometry(x, w, stride=2)
    before = plan(geom).name
    register(_mine(cost=0.0))
    CALLS.clear()
    try:
        assert plan(geom).name == "mine"
        got = tconv.conv_transpose(x, w, stride=2)  # auto
        assert CALLS == ["conv_transpose"]
        np.testing.assert_allclose(got, tconv.conv_transpose(x, w, stride=2, algorithm="direct"), atol=1e-12)
    finally:
        unregister("mine")
    assert plan(geom).name == before  # the cached ranking forgot it


def test_declared_weight_gradient():
    """Every algorithm declares a weight gradient (the shared NumPy one unless its own); by name it is used."""
    from tconv.algorithms.weight_grad import weight_grad
    from tconv.algorithms.weight_grad_numpy import numpy_weight_grad

    assert get("direct").weight_grad is numpy_weight_grad
    assert get("gemm").weight_grad is not numpy_weight_grad
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    geom = conv_transpose_geometry(x, w, stride=2, padding=1, groups=1)
    gy = rng.standard_normal(geom.result_shape)
    want = weight_grad(x, gy, geom, method="im2col")
    compared = 0
    for name in names():
        np.testing.assert_allclose(weight_grad(x, gy, geom, method=name), want, rtol=1e-12, atol=1e-12)
        compared += 1
    assert compared == len(names()) == 9
    with pytest.raises(ValueError, match="registered algorithm"):
        weight_grad(x, gy, geom, method="nope")


def test_names_are_taken_once():
    with pytest.raises(ValueError, match="already taken"):
        register(get("direct"))
    with pytest.raises(ValueError, match="already taken"):
        register(dataclasses.replace(_mine(0.0), name="auto"))
