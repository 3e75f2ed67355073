"""The convolution whose one window is its whole input: the im2col is the input itself.

When the small side has a single position and the kernel, undilated and unpadded in front, spans the
whole big side (the DCGAN head's 4x4 -> 1x1, a classifier's last "flatten" convolution), the one window
reads every big position once, in order.  An image's ``(C, *big)`` block is then already its im2col row
``(C * taps)``, so the convolution is one GEMM ``x (N, K) @ weight (K, C_out)`` whose result is the output
layout, and the weight gradient one GEMM over the batch, with no gather, copy or re-layout.  (The
transposed direction needs no help: ``nooverlap``'s GEMM result is already its output there.)

>>> import numpy as np
>>> from tconv.params import geometry_from_shapes
>>> g = geometry_from_shapes(False, (2, 1, 3), (1, 1, 3), np.float64)
>>> whole_window(g), conv(np.arange(6.).reshape(2, 1, 3), np.ones((1, 1, 3)), g).ravel().tolist()
(True, [3.0, 12.0])
"""

from __future__ import annotations

import numpy as np

from ..params import Geometry
from .phasing import prod
from .weight_grad_numpy import result_bytes


def whole_window(geom: Geometry) -> bool:
    """Whether the (transposed) convolution's one window is the whole big side, read in order: a
    single small-side position, the kernel's extent equal to the big side, dilation 1, no padding before."""
    return (all(n == 1 for n in geom.small_shape) and geom.big_shape == geom.kernel_shape
            and all(d == 1 for d in geom.dilation) and all(lo == 0 for lo in geom.before))


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """The convolution of a :func:`whole_window` geometry: one GEMM per group, straight into the output."""
    g, n = geom.groups, geom.batch
    co, k = geom.out_channels // g, prod(geom.kernel_shape) * geom.in_channels // g
    out_shape = (n, geom.out_channels) + geom.output_shape
    rows, w = x.reshape(n, g, k), weight.reshape(g, co, k)
    if g == 1:
        return np.matmul(rows[:, 0], w[0].T).reshape(out_shape)
    y = np.empty((n, g, co), dtype=np.result_type(x, weight))
    for gi in range(g):
        np.matmul(rows[:, gi], w[gi].T, out=y[:, gi])
    return y.reshape(out_shape)


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """The weight gradient of a :func:`whole_window` geometry, ``small (N, cs)^T @ big (N, cb * taps)`` per
    group, in the weight's layout ``(small channels, big channels // groups, *kernel)``."""
    g, n = geom.groups, small.shape[0]
    cs, cb = small.shape[1] // g, big.shape[1] // g
    s, b = small.reshape(n, g, cs), big.reshape(n, g, cb * prod(geom.kernel_shape))
    dw = np.empty((g, cs, b.shape[2]), dtype=np.result_type(small, big))
    for gi in range(g):
        np.matmul(s[:, gi].T, b[:, gi], out=dw[gi])
    return dw.reshape((g * cs, cb) + geom.kernel_shape)


def weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`weight_grad` allocates: its result."""
    return result_bytes(geom, itemsize)
