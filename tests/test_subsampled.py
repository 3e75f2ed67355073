"""A stride that divides its dilation: the stride-1 operator on the big-side positions the taps meet.

``Geometry.subsampled`` and ``ops.execute`` run such a call (the suite's "dilated" layer: stride 2,
dilation 2) as a smaller stride-1 problem: a convolution reads every stride-th input position, a
transposed convolution writes every stride-th output position.  Drawn geometries (1-2 d, mixed dims,
padding, output_padding, groups, bias, unbatched) against PyTorch and its autograd through auto, named
algorithms, plans and bound plans; counted.
"""

from __future__ import annotations

import numpy as np
import pytest

import tconv
from support import assert_close
from tconv.params import geometry_from_shapes

torch = pytest.importorskip("torch")
F = torch.nn.functional
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
CONV = {1: F.conv1d, 2: F.conv2d}


def _draw(rng: np.random.Generator):
    """Hyper-parameters with at least one dim whose stride (above 1) divides its dilation."""
    while True:
        nd = int(rng.integers(1, 3))
        stride = tuple(int(s) for s in rng.integers(1, 4, nd))
        dilation = tuple(int(s * rng.integers(1, 3)) if rng.random() < 0.8 else int(rng.integers(1, 4))
                         for s in stride)
        if not any(s > 1 and d % s == 0 for s, d in zip(stride, dilation)):
            continue
        kernel = tuple(int(k) for k in rng.integers(1, 4, nd))
        padding = tuple(int(rng.integers(0, (k - 1) * d + 1)) for k, d in zip(kernel, dilation))
        output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
        small = tuple(int(n) for n in rng.integers(1, 7, nd))
        groups = int(rng.choice([1, 2]))
        return dict(stride=stride, dilation=dilation, padding=padding, output_padding=output_padding,
                    groups=groups), kernel, small


def test_subsampled_calls_match_torch(monkeypatch):
    """conv_transpose, conv and both backwards, float64, through auto, named algorithms, plans and bound
    plans, batched and unbatched, with a bias: against PyTorch (each call runs the stride-1 problem; the
    transposed backward, one gather of the picked output gradient for both gradients where it can)."""
    from tconv.algorithms import gemm, winograd

    rng = np.random.default_rng(11)
    compared, shared = 0, []
    algorithms = ("auto", "gemm", "direct", "subpixel", "fft")
    for module in (gemm, winograd):  # the transposed backward's one gather for both gradients, counted
        monkeypatch.setattr(module, "conv_and_weight_grad",
                            lambda *a, _o=module.conv_and_weight_grad: (shared.append(1), _o(*a))[1])
    while compared < 60:
        kw, kernel, small = _draw(rng)
        g, nd = kw["groups"], len(kernel)
        ci, co = 2 * g, 3 * g
        x = rng.standard_normal((2, ci) + small)
        w = rng.standard_normal((ci, co // g) + kernel)
        b = rng.standard_normal(co)
        try:
            want = CONV_T[nd](torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **kw).numpy()
        except RuntimeError:  # a combination PyTorch refuses (output_padding too large, empty output)
            continue
        algorithm = algorithms[compared % len(algorithms)]
        geom = tconv.plan_conv_transpose(x, w, b, **kw).geometry
        if geom.subsampled() is None:  # the taps meet none of the output's positions: nothing to reduce
            continue
        assert not geom.direct
        assert_close(tconv.conv_transpose(x, w, b, algorithm=algorithm, **kw), want, np.float64)
        assert_close(tconv.conv_transpose(x[0], w, b, **kw), want[0], np.float64)
        plan = tconv.plan_conv_transpose(x, w, b, **kw)
        assert_close(plan(x, w, b), want, np.float64)
        assert_close(plan.bind(w, b)(x), want, np.float64)
        ckw = {k: v for k, v in kw.items() if k != "output_padding"}
        big = rng.standard_normal(want.shape)
        want_c = CONV[nd](torch.from_numpy(big), torch.from_numpy(w), None, **ckw).numpy()
        assert_close(tconv.conv(big, w, algorithm=algorithm, **ckw), want_c, np.float64)
        assert_close(tconv.plan_conv(big, w, **ckw)(big, w), want_c, np.float64)
        tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
        CONV_T[nd](tx, tw, None, **kw).backward(torch.from_numpy(big))
        gx, gw, _ = tconv.conv_transpose_backward(big, x, w, **kw)
        assert_close(gx, tx.grad.numpy(), np.float64)
        assert_close(gw, tw.grad.numpy(), np.float64)
        tb, tw = torch.from_numpy(big).requires_grad_(), torch.from_numpy(w).requires_grad_()
        gy = rng.standard_normal(want_c.shape)  # x's shape, or longer where output_padding reaches a stride
        CONV[nd](tb, tw, None, **ckw).backward(torch.from_numpy(gy))
        gb, gw, _ = tconv.conv_backward(gy, big, w, **ckw)
        assert_close(gb, tb.grad.numpy(), np.float64)
        assert_close(gw, tw.grad.numpy(), np.float64)
        compared += 1
    assert compared == 60
    assert len(shared) >= 20, len(shared)


def test_the_stride_one_problem():
    """Which dims reduce, to what, and the positions picked; float16 and complex calls stay exact."""
    g = geometry_from_shapes(True, (1, 1, 4, 5), (1, 1, 3, 3), np.float32, stride=(2, 2), dilation=(2, 3),
                             padding=(1, 0))
    reduced, picks = g.subsampled()
    assert reduced.stride == (1, 2) and reduced.dilation == (1, 3)  # only dim 0: 2 divides 2, not 3
    assert picks == (slice(1, None, 2), slice(None)) and reduced.output_shape == (len(range(1, g.output_shape[0], 2)),
                                                                                  g.output_shape[1])
    assert geometry_from_shapes(True, (1, 1, 4), (1, 1, 3), np.float32, stride=2, dilation=3).subsampled() is None
    assert geometry_from_shapes(True, (1, 1, 4), (1, 1, 3), np.float32, dilation=2).subsampled() is None
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 2, 6)), rng.standard_normal((2, 2, 3))
    kw = dict(stride=2, dilation=4, padding=3, output_padding=1)
    want = F.conv_transpose1d(torch.from_numpy(x), torch.from_numpy(w), **kw).numpy()
    half = tconv.conv_transpose(x.astype(np.float16), w.astype(np.float16), **kw)
    assert half.dtype == np.float16 and np.abs(half - want).max() < 0.05 * max(1, np.abs(want).max())
    z = tconv.conv_transpose(x + 1j * x[::-1], w, **kw)
    assert_close(z.real, want, np.float64)
    assert_close(z.imag, F.conv_transpose1d(torch.from_numpy(x[::-1].copy()), torch.from_numpy(w), **kw).numpy(),
                 np.float64)


def test_explain_and_plans_name_the_stride_one_algorithm():
    """The suite's dilated layer: the plan and ``explain`` show the algorithm its stride-1 problem runs."""
    x, w = np.zeros((8, 64, 32, 32), np.float32), np.zeros((64, 64, 3, 3), np.float32)
    kw = dict(stride=2, padding=2, output_padding=1, dilation=2)
    geom = tconv.plan_conv_transpose(x, w, **kw).geometry
    reduced, _ = geom.subsampled()
    from tconv.algorithms.planner import plan

    assert tconv.plan_conv_transpose(x, w, **kw).algorithm == plan(reduced).name
    text = str(tconv.explain(x.shape, w.shape, **kw))
    assert "stride-1 problem (32, 32) -> (32, 32)" in text and f"auto runs {plan(reduced).name!r}" in text


def test_a_bound_plan_keeps_the_stride_one_problems_weight_relayout(monkeypatch):
    """The stride-1 problem gets the whole weight, so a bound plan keeps its kernel's re-layout of it
    (winograd's filter transform on the suite's dilated layer): built once over two calls, same results."""
    from tconv.algorithms import winograd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 32, 32)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    kw = dict(stride=2, padding=2, output_padding=1, dilation=2)
    plan = tconv.plan_conv_transpose(x, w, **kw)
    assert plan.algorithm == "winograd"
    bound = plan.bind(w)
    builds = []
    original = winograd.filter_transform
    monkeypatch.setattr(winograd, "filter_transform", lambda *a, **k: (builds.append(1), original(*a, **k))[1])
    first, second = bound(x), bound(x)
    assert len(builds) == 1
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, plan(x, w))
