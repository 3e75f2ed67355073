"""Gradients with boundary modes: conv_backward and conv_transpose_backward against torch.autograd.

The conv side is PyTorch's padded convolution (``F.pad`` in the mode, then ``conv{n}d``) differentiated by
``torch.autograd``.  The transposed side has no PyTorch operator; it is the vector-Jacobian product of that
padded convolution with respect to its input, and its gradients (input, weight, bias) come from
``torch.autograd``'s double backward through it.  Each test counts what it compared and asserts a floor.
"""

from __future__ import annotations

import numpy as np
import pytest

import tconv
from support import record_error
from torch_boundary import MODES, Case, cases, torch_conv_grads, torch_conv_transpose_grads

NAMES = ("grad_input", "grad_weight", "grad_bias")


def _output_padding(case: Case) -> tuple[int, ...]:
    """The output_padding that brings the transposed conv back to the conv's input size."""
    return tuple(n - ((m - 1) * s + d * (k - 1) + 1 - lo - hi) for n, m, s, d, k, (lo, hi) in
                 zip(case.big, case.small, case.stride, case.dilation, case.kernel, case.pairs))


def _check_conv_grads(case: Case, seed: int, tol: float = 1e-12) -> None:
    x, w, _, g = case.arrays(seed)
    got = tconv.conv_backward(g, x, w, **case.conv_kwargs)
    want = torch_conv_grads(g, x, w, **case.hyper)
    for name, a, b in zip(NAMES, got, want):
        assert a.shape == b.shape, (name, case)
        err = record_error(f"boundary conv_backward ({name}) {case.mode}", np.float64, a, b)
        assert err < tol, (name, case, err)


def _check_conv_transpose_grads(case: Case, seed: int, tol: float = 1e-12) -> None:
    x, w, _, y = case.arrays(seed)  # the transposed conv maps y (small side) to the shape of x
    g = np.random.default_rng(seed + 3).standard_normal(x.shape)
    kwargs = dict(case.conv_kwargs, output_padding=_output_padding(case))
    got = tconv.conv_transpose_backward(g, y, w, **kwargs)
    want = torch_conv_transpose_grads(g, y, w, x.shape, **case.hyper)
    for name, a, b in zip(NAMES, got, want):
        assert a.shape == b.shape, (name, case)
        err = record_error(f"boundary conv_transpose_backward ({name}) {case.mode}", np.float64, a, b)
        assert err < tol, (name, case, err)


def test_conv_backward_matches_autograd():
    compared = 0
    for i, case in enumerate(cases(41, 10)):
        _check_conv_grads(case, i)
        compared += 1
    assert compared >= 4 * 3 * 10


def test_conv_transpose_backward_matches_autograd_double_backward():
    compared = 0
    for i, case in enumerate(cases(43, 10)):
        _check_conv_transpose_grads(case, i)
        compared += 1
    assert compared >= 4 * 3 * 10


def test_grads_unbatched_float32_and_no_bias():
    """Unbatched grad_output and x give the batched gradients' first entries; float32 in, float32 out close
    to float64; bias=False gives no bias gradient."""
    compared = 0
    for mode in MODES:
        case = Case(mode, 1, 2, 4, 2, (7, 5), (3, 2), (2, 1), (1, 2), ((2, 1), (1, 0)), False)
        x, w, _, g = case.arrays(compared)
        gx, gw, gb = tconv.conv_backward(g, x, w, **case.conv_kwargs)
        ux, uw, ub = tconv.conv_backward(g[0], x[0], w, **case.conv_kwargs)
        np.testing.assert_allclose(ux, gx[0], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(uw, gw, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(ub, gb, rtol=1e-13, atol=1e-13)
        fx, fw, fb = tconv.conv_backward(*(a.astype(np.float32) for a in (g, x, w)), **case.conv_kwargs)
        assert fx.dtype == fw.dtype == fb.dtype == np.float32
        for a, b in ((fx, gx), (fw, gw), (fb, gb)):
            assert record_error(f"boundary conv_backward {mode}", np.float32, a, b) < 1e-5
        nx, nw, nb = tconv.conv_transpose_backward(x, g, w, **case.conv_kwargs, output_padding=_output_padding(case),
                                                   bias=False)
        assert nb is None and nx.shape == g.shape and nw.shape == w.shape
        compared += 1
    assert compared == 4


@pytest.mark.slow
def test_slow_gradient_sweep():
    compared = 0
    for i, case in enumerate(cases(141, 100, max_size=9, max_kernel=4, max_stride=3, max_dilation=3)):
        _check_conv_grads(case, i)
        _check_conv_transpose_grads(case, i)
        compared += 1
    assert compared >= 4 * 3 * 100
