"""GEMM + col2im: one matrix product over channels for all taps, then a scatter-add.

The transposed convolution multiplies every input position by the whole
kernel at once (``(C_out * prod(k), C_in) @ (C_in, N * prod(in))``) and then
adds each tap's block of that "column" matrix into the output (col2im).  The
convolution runs the same in reverse: gather the input windows of every tap
(im2col), then one matrix product.

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> x = np.array([[[[0., 1], [2, 3]]]]); k = np.array([[[[0., 1], [2, 3]]]])
>>> conv_transpose(x, k, conv_transpose_geometry(x, k, stride=2))[0, 0]
array([[0., 0., 0., 1.],
       [0., 0., 2., 3.],
       [0., 2., 0., 3.],
       [4., 6., 6., 9.]])
"""

from __future__ import annotations

import numpy as np

from ..params import Geometry
from .taps import tap_windows


def _prod(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _group_major(x: np.ndarray, geom: Geometry, channels: int, spatial: tuple[int, ...]) -> np.ndarray:
    """``(N, C, *spatial) -> (g, C // g, N * prod(spatial))`` (one copy)."""
    g = geom.groups
    xg = x.reshape(geom.batch, g, channels // g, _prod(spatial))
    return np.ascontiguousarray(xg.transpose(1, 2, 0, 3)).reshape(g, channels // g, geom.batch * _prod(spatial))


def _batch_major(yb: np.ndarray, geom: Geometry, channels: int, spatial: tuple[int, ...]) -> np.ndarray:
    """``(g, C // g, N, *spatial) -> (N, C, *spatial)`` (one copy)."""
    nd = len(spatial)
    order = (2, 0, 1) + tuple(range(3, 3 + nd))
    return np.ascontiguousarray(yb.transpose(order)).reshape((geom.batch, channels) + spatial)


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """One GEMM producing every tap's contribution, then col2im scatter-add."""
    g = geom.groups
    ci, co, taps = geom.in_channels // g, geom.out_channels // g, _prod(geom.kernel_shape)
    xt = _group_major(x, geom, geom.in_channels, geom.input_shape)  # (g, ci, N*P)
    wt = weight.reshape(g, ci, co * taps).transpose(0, 2, 1)  # (g, co*taps, ci)
    cols = np.matmul(wt, xt).reshape((g, co, taps, geom.batch) + geom.input_shape)
    yb = np.zeros((g, co, geom.batch) + geom.output_shape, dtype=x.dtype)
    lead = (slice(None),) * 3
    for tap, small, big in tap_windows(geom):
        flat_tap = int(np.ravel_multi_index(tap, geom.kernel_shape))
        yb[lead + big] += cols[(slice(None), slice(None), flat_tap, slice(None)) + small]
    return _batch_major(yb, geom, geom.out_channels, geom.output_shape)


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """im2col gather of every tap's input window, then one GEMM."""
    g = geom.groups
    ci, co, taps = geom.in_channels // g, geom.out_channels // g, _prod(geom.kernel_shape)
    xg = x.reshape((geom.batch, g, ci) + geom.input_shape).transpose((1, 2, 0) + tuple(range(3, 3 + geom.ndim)))
    cols = np.zeros((g, ci, taps, geom.batch) + geom.output_shape, dtype=x.dtype)
    lead = (slice(None),) * 3
    for tap, small, big in tap_windows(geom):
        flat_tap = int(np.ravel_multi_index(tap, geom.kernel_shape))
        cols[(slice(None), slice(None), flat_tap, slice(None)) + small] = xg[lead + big]
    wg = weight.reshape(g, co, ci * taps)
    out = np.matmul(wg, cols.reshape(g, ci * taps, geom.batch * _prod(geom.output_shape)))
    return _batch_major(out.reshape((g, co, geom.batch) + geom.output_shape), geom, geom.out_channels, geom.output_shape)


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """The column matrix plus one re-laid-out copy of the input and of the output."""
    taps = _prod(geom.kernel_shape)
    cols = geom.batch * geom.big_channels * taps * _prod(geom.small_shape)
    copies = geom.batch * (geom.in_channels * _prod(geom.input_shape) + geom.out_channels * _prod(geom.output_shape))
    return (cols + copies) * itemsize
