"""PyTorch as the oracle: torch.nn.functional with explicit cropping / padding for asymmetric cases."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch CPU wheel is in the test extra: pip install -e '.[test]'")
F = torch.nn.functional

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def torch_conv_transpose(x, w, b, *, stride, padding, output_padding, dilation, groups, crop_in_numpy=False):
    """F.conv_transpose{n}d; with ``crop_in_numpy`` (or asymmetric padding) torch computes the full
    output and the (before, after) crop and output_padding are applied afterwards."""
    nd = w.ndim - 2
    tx, tw = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(w))
    tb = None if b is None else torch.from_numpy(b)
    symmetric = all(lo == hi for lo, hi in padding)
    if symmetric and not crop_in_numpy:
        with torch.no_grad():
            return _CONV_T[nd](tx, tw, tb, stride=stride, padding=tuple(lo for lo, _ in padding),
                               output_padding=output_padding, groups=groups, dilation=dilation).numpy()
    with torch.no_grad():
        full = _CONV_T[nd](tx, tw, None, stride=stride, padding=0, groups=groups, dilation=dilation).numpy()
    full = np.pad(full, [(0, 0), (0, 0)] + [(0, op) for op in output_padding])
    index = (slice(None), slice(None)) + tuple(
        slice(lo, n - hi) for (lo, hi), n in zip(padding, full.shape[2:])
    )
    out = full[index]
    if b is not None:
        out = out + b.reshape((-1,) + (1,) * nd)
    return out


def torch_conv(x, w, b, *, stride, padding, dilation, groups):
    """F.conv{n}d; asymmetric padding is applied with np.pad first."""
    nd = w.ndim - 2
    symmetric = all(lo == hi for lo, hi in padding)
    if not symmetric:
        x = np.pad(x, [(0, 0), (0, 0)] + list(padding))
    with torch.no_grad():
        return _CONV[nd](
            torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(w)),
            None if b is None else torch.from_numpy(b), stride=stride,
            padding=tuple(lo for lo, _ in padding) if symmetric else 0, groups=groups, dilation=dilation,
        ).numpy()
