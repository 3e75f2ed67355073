"""PyTorch autograd as the gradient oracle (asymmetric padding through explicit pad / crop in torch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch CPU wheel is in the test extra: pip install -e '.[test]'")
F = torch.nn.functional

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _leaf(a):
    return torch.from_numpy(np.array(a, copy=True)).requires_grad_(True)


def _torch_pad_spec(pairs):
    """F.pad wants (last_lo, last_hi, ..., first_lo, first_hi)."""
    spec = []
    for lo, hi in reversed(pairs):
        spec += [lo, hi]
    return spec


def _grads(out, gy, leaves):
    out.backward(torch.from_numpy(np.array(gy, copy=True)))
    return tuple(None if t is None else t.grad.numpy() for t in leaves)


def conv_transpose_grads(gy, x, w, b, *, stride, padding, output_padding, dilation, groups):
    """(dx, dw, db) of sum(gy * conv_transpose(x, w, b)) by torch.autograd."""
    nd = w.ndim - 2
    tx, tw = _leaf(x), _leaf(w)
    tb = None if b is None else _leaf(b)
    if all(lo == hi for lo, hi in padding):
        out = _CONV_T[nd](tx, tw, tb, stride=stride, padding=tuple(lo for lo, _ in padding),
                          output_padding=output_padding, groups=groups, dilation=dilation)
    else:
        full = _CONV_T[nd](tx, tw, None, stride=stride, padding=0, groups=groups, dilation=dilation)
        full = F.pad(full, _torch_pad_spec([(0, op) for op in output_padding]))
        index = (slice(None), slice(None)) + tuple(slice(lo, n - hi) for (lo, hi), n in zip(padding, full.shape[2:]))
        out = full[index]
        if tb is not None:
            out = out + tb.reshape((-1,) + (1,) * nd)
    return _grads(out, gy, (tx, tw, tb))


def conv_grads(gy, x, w, b, *, stride, padding, dilation, groups):
    """(dx, dw, db) of sum(gy * conv(x, w, b)) by torch.autograd."""
    nd = w.ndim - 2
    tx, tw = _leaf(x), _leaf(w)
    tb = None if b is None else _leaf(b)
    if all(lo == hi for lo, hi in padding):
        out = _CONV[nd](tx, tw, tb, stride=stride, padding=tuple(lo for lo, _ in padding),
                        groups=groups, dilation=dilation)
    else:
        out = _CONV[nd](F.pad(tx, _torch_pad_spec(padding)), tw, tb, stride=stride, padding=0,
                        groups=groups, dilation=dilation)
    return _grads(out, gy, (tx, tw, tb))
