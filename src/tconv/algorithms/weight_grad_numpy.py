"""The weight gradient in NumPy: the kernel every algorithm declares unless it brings its own.

It pairs every small-side position ``i`` with every big-side position
``o = i * stride + t * dilation - before`` (see :mod:`.taps`) and sums
``small[i] * big[o]``: one GEMM over an im2col gather of the big side, or one
smaller product per kernel tap when that gather would not fit in memory.

>>> from tconv.params import geometry_from_shapes
>>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
>>> per_tap_weight_grad(np.ones((1, 1, 2)), np.arange(3.).reshape(1, 1, 3), g)
array([[[1., 3.]]])
"""

from __future__ import annotations

import numpy as np

from ..memory import available_bytes
from ..params import Geometry
from .taps import tap_windows


def _prod(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def im2col_bytes(geom: Geometry, itemsize: int) -> int:
    """Bytes of the gathered big side: one row per (big channel, tap), one column per small position."""
    return geom.batch * geom.big_channels * _prod(geom.kernel_shape) * _prod(geom.small_shape) * itemsize


def result_bytes(geom: Geometry, itemsize: int) -> int:
    """Bytes of the weight gradient itself: ``(small channels, big channels // groups, *kernel)``."""
    return geom.small_channels * (geom.big_channels // geom.groups) * _prod(geom.kernel_shape) * itemsize


def _group_rows(a: np.ndarray, geom: Geometry) -> np.ndarray:
    """``(N, C, *spatial) -> (g, C // g, N, *spatial)`` (a view)."""
    g, n = geom.groups, a.shape[0]
    nd = a.ndim - 2
    grouped = a.reshape((n, g, a.shape[1] // g) + a.shape[2:])
    return grouped.transpose((1, 2, 0) + tuple(range(3, 3 + nd)))


def im2col_weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """One GEMM: ``small (g, cs, N*P) @ im2col(big) (g, N*P, cb*taps)``."""
    g, taps, n = geom.groups, _prod(geom.kernel_shape), small.shape[0]
    cs, cb = small.shape[1] // g, big.shape[1] // g
    positions = n * _prod(geom.small_shape)
    cols = np.zeros((g, cb, taps, n) + geom.small_shape, dtype=small.dtype)
    big_g = _group_rows(big, geom)
    lead = (slice(None),) * 3
    for tap, small_sl, big_sl in tap_windows(geom):
        flat = int(np.ravel_multi_index(tap, geom.kernel_shape))
        cols[(slice(None), slice(None), flat, slice(None)) + small_sl] = big_g[lead + big_sl]
    small_rows = np.ascontiguousarray(_group_rows(small, geom)).reshape(g, cs, positions)
    dw = np.matmul(small_rows, cols.reshape(g, cb * taps, positions).transpose(0, 2, 1))
    return dw.reshape((g * cs, cb) + geom.kernel_shape)


def per_tap_weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """One ``(g, cs, M) @ (g, M, cb)`` product per kernel tap (little workspace)."""
    g = geom.groups
    cs, cb = small.shape[1] // g, big.shape[1] // g
    dw = np.zeros((g, cs, cb) + geom.kernel_shape, dtype=small.dtype)
    small_g, big_g = _group_rows(small, geom), _group_rows(big, geom)
    lead = (slice(None),) * 3
    for tap, small_sl, big_sl in tap_windows(geom):
        a = small_g[lead + small_sl].reshape(g, cs, -1)
        b = big_g[lead + big_sl].reshape(g, cb, -1)
        dw[(Ellipsis,) + tap] = np.matmul(a, b.transpose(0, 2, 1))
    return dw.reshape((g * cs, cb) + geom.kernel_shape)


def numpy_weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """:func:`im2col_weight_grad` when its gather takes at most a quarter of the available memory, else
    :func:`per_tap_weight_grad`: the default ``weight_grad`` of :class:`~.registry.Algorithm`."""
    if _gathers(geom, small.dtype.itemsize):
        return im2col_weight_grad(small, big, geom)
    return per_tap_weight_grad(small, big, geom)


def _gathers(geom: Geometry, itemsize: int) -> bool:
    return im2col_bytes(geom, itemsize) <= available_bytes() // 4


def numpy_weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`numpy_weight_grad` allocates, its result included (:func:`im2col_weight_grad_bytes` or
    :func:`per_tap_weight_grad_bytes`)."""
    return (im2col_weight_grad_bytes if _gathers(geom, itemsize) else per_tap_weight_grad_bytes)(geom, itemsize)


def im2col_weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`im2col_weight_grad` allocates: the im2col, a copy of the small side and the result."""
    small = geom.small_channels * geom.batch * _prod(geom.small_shape) * itemsize
    return im2col_bytes(geom, itemsize) + small + result_bytes(geom, itemsize)


def per_tap_weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`per_tap_weight_grad` allocates: the two sides' windows (copies; the last tap's are alive
    while the next tap's are made: twice), one tap's product and the result."""
    positions = geom.batch * _prod(geom.small_shape) * itemsize
    return 2 * result_bytes(geom, itemsize) + 2 * (geom.small_channels + geom.big_channels) * positions


#: The kernel and its bytes under the names the other kernels' modules give them (see :mod:`.weight_grad`).
weight_grad, weight_grad_bytes = numpy_weight_grad, numpy_weight_grad_bytes
