"""The whole-window convolution (:mod:`tconv.algorithms.window`): one GEMM, no im2col, against PyTorch.

The DCGAN head's adjoint (4x4 -> 1x1) and every convolution whose one window is its whole input take it:
the convolution through ``gemm`` and ``nooverlap`` (``auto``'s choice there), the weight gradient of both
directions.  Drawn geometries (1-3 d, groups, batch, channels from 1 to real-layer counts, dtypes, any
stride and trailing padding), compared with PyTorch's results and autograd; counted, and the path is
checked to be taken.
"""

from __future__ import annotations

import numpy as np
import pytest

import tconv
from support import assert_close
from tconv.algorithms import window
from tconv.params import geometry_from_shapes

torch = pytest.importorskip("torch")
from torch_autograd import conv_grads, conv_transpose_grads  # noqa: E402  (after the skip)
from torch_oracle import torch_conv  # noqa: E402


def _problem(rng: np.random.Generator):
    """A drawn convolution whose one window is its whole input: 1-3 d, groups, channels, stride, trailing padding."""
    nd = int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 6 if nd < 3 else 4, size=nd))
    groups = int(rng.choice([1, 1, 2, 3]))
    ci, co = groups * int(rng.choice([1, 2, 5, 16, 64])), groups * int(rng.choice([1, 3, 8, 40]))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=nd))
    after = tuple(int(rng.integers(0, s)) for s in stride)  # trailing padding the one window leaves out
    dtype = rng.choice([np.float32, np.float64])
    x = rng.standard_normal((int(rng.integers(1, 5)), ci) + kernel).astype(dtype)
    w = rng.standard_normal((co, ci // groups) + kernel).astype(dtype)
    return x, w, dict(stride=stride, padding=tuple((0, a) for a in after), dilation=1, groups=groups)


def test_whole_window_conv_and_weight_gradients_match_torch(monkeypatch):
    """The convolution (``auto``, ``gemm``, ``nooverlap``), its gradients and the transposed pair's
    gradients, each through the whole-window GEMMs (counted), against PyTorch and its autograd."""
    calls: list[str] = []
    for name in ("conv", "weight_grad"):
        original = getattr(window, name)
        monkeypatch.setattr(window, name, lambda *a, _o=original, _n=name: (calls.append(_n), _o(*a))[1])
    rng = np.random.default_rng(7)
    compared = []
    for case in range(60):
        x, w, kw = _problem(rng)
        algorithm = ("auto", "gemm", "nooverlap")[case % 3]
        del calls[:]
        got = tconv.conv(x, w, algorithm=algorithm, **kw)
        gy = rng.standard_normal(got.shape).astype(x.dtype)
        dx, dw, _ = tconv.conv_backward(gy, x, w, **kw)
        # the same pair as a transposed convolution: its input is the conv's output side
        tkw = dict(stride=kw["stride"], padding=kw["padding"], dilation=1, groups=kw["groups"],
                   output_padding=tuple(a for _, a in kw["padding"]))
        small = rng.standard_normal(got.shape).astype(x.dtype)
        tdx, tdw, _ = tconv.conv_transpose_backward(x, small, w, **tkw)
        assert calls.count("weight_grad") == 2, calls
        assert algorithm == "auto" or calls[0] == "conv", calls  # auto may run tiny calls directly
        assert_close(got, torch_conv(x, w, None, **kw), x.dtype)
        for a, b in zip((dx, dw), conv_grads(gy, x, w, None, **kw)):
            assert_close(a, b, x.dtype)
        for a, b in zip((tdx, tdw), conv_transpose_grads(x, small, w, None, **tkw)):
            assert_close(a, b, x.dtype)
        compared.append((algorithm, x.ndim - 2, kw["groups"] > 1, x.dtype))
    assert len(compared) == 60
    assert {a for a, *_ in compared} == {"auto", "gemm", "nooverlap"} and {d for _, d, *_ in compared} == {1, 2, 3}
    assert {g for *_, g, _ in compared} == {True, False}


@pytest.mark.parametrize("changes", [dict(dilation=2), dict(padding=1), dict(big=(5, 4))])
def test_other_geometries_are_not_whole_windows(changes):
    """A dilated or front-padded kernel, or a big side the kernel does not span, reads positions elsewhere."""
    big = changes.pop("big", (4, 4))
    kw = dict(stride=1, padding=0, dilation=1) | changes
    k = 2 if kw["dilation"] == 2 else 4
    x = np.ones((1, 1) + (big if "padding" not in changes else (2, 2)))
    kernel = (k, k) if "padding" not in changes else (4, 4)
    geom = geometry_from_shapes(False, x.shape, (1, 1) + kernel, np.float64, **kw)
    assert not window.whole_window(geom)
    assert window.whole_window(geometry_from_shapes(False, (1, 1, 4, 4), (1, 1, 4, 4), np.float64))
