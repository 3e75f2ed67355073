"""The weight gradient of the convolution pair: one GEMM-shaped reduction over the batch and the positions.

It pairs every small-side position ``i`` with every big-side position
``o = i * stride + t * dilation - before`` (see :mod:`tconv.algorithms.taps`)
and sums ``small[i] * big[o]``: one GEMM over an im2col gather of the big
side, or one smaller product per kernel tap when that gather would not fit in
memory, or (with the compiled kernels) ``gemm``'s chunked channels-first
im2col and one GEMM per chunk.

>>> import numpy as np
>>> from tconv.params import geometry_from_shapes
>>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
>>> weight_grad(np.ones((1, 1, 2)), np.arange(3.).reshape(1, 1, 3), g, method="per_tap")
array([[[1., 3.]]])
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..layout import kernel_operand
from ..memory import available_bytes
from ..params import Geometry
from . import compiled
from .taps import tap_windows


def _prod(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _im2col_bytes(geom: Geometry, itemsize: int) -> int:
    """Bytes of the gathered big side: one row per (big channel, tap), one column per small position."""
    return geom.batch * geom.big_channels * _prod(geom.kernel_shape) * _prod(geom.small_shape) * itemsize


def _group_rows(a: np.ndarray, geom: Geometry) -> np.ndarray:
    """``(N, C, *spatial) -> (g, C // g, N, *spatial)`` (a view)."""
    g, n = geom.groups, a.shape[0]
    nd = a.ndim - 2
    grouped = a.reshape((n, g, a.shape[1] // g) + a.shape[2:])
    return grouped.transpose((1, 2, 0) + tuple(range(3, 3 + nd)))


def _weight_grad_im2col(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
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


def _weight_grad_compiled(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """Per chunk of images and group: ``small (cs, n*P) @ im2col(big)^T (n*P, cb*taps)``, summed.

    The im2col is the compiled channels-first gather of ``gemm``'s convolution (a cache-sized chunk of
    images at a time), so the workspace stays small whatever the batch.
    """
    from . import gemm

    g, taps, n = geom.groups, _prod(geom.kernel_shape), small.shape[0]
    cs, cb = small.shape[1] // g, big.shape[1] // g
    p = _prod(geom.small_shape)
    view = replace(geom, transposed=False, in_channels=big.shape[1], out_channels=small.shape[1],
                   input_shape=geom.big_shape, output_shape=geom.small_shape)  # as the conv big -> small
    dw = np.zeros((g, cs, cb * taps), dtype=small.dtype)
    if n == 0:
        return dw.reshape((g * cs, cb) + geom.kernel_shape)
    tables = compiled.conv_tap_rows(view)
    big = kernel_operand(big, small.dtype)
    per = gemm.conv_chunk_images(view, small.dtype.itemsize)
    cols_buffer = np.empty(cb * taps * per * p, dtype=small.dtype)
    for n0 in range(0, n, per):
        m = min(n, n0 + per) - n0
        cols = cols_buffer[:cb * taps * m * p].reshape(cb * taps, m * p)
        for gi in range(g):
            compiled.im2col_planes(cols, big, view, tables, n0, m, gi * cb, (gi + 1) * cb)
            rows = small[n0:n0 + m, gi * cs:(gi + 1) * cs].reshape(m, cs, p).transpose(1, 0, 2).reshape(cs, m * p)
            dw[gi] += rows @ cols.T
    return dw.reshape((g * cs, cb) + geom.kernel_shape)


def _weight_grad_per_tap(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
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


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry, method: str = "auto") -> np.ndarray:
    """``sum over batch, i, t-paired o of small[:, a, i] * big[:, b, o]`` in the weight's layout.

    ``small`` and ``big`` are batched ``(N, C, *spatial)`` arrays of the two
    sides of ``geom`` (for a transposed convolution: its input and the output
    gradient; for a convolution: the output gradient and its input).  The
    result has the layout of the weight of that operator, ``(small channels,
    big channels // groups, *kernel)``.  ``method`` is ``"im2col"`` (one GEMM),
    ``"per_tap"`` (one product per tap), or ``"auto"`` (with the compiled kernels: a chunked,
    channels-first im2col and one GEMM per chunk; otherwise im2col when its workspace takes at most a
    quarter of the available memory).
    """
    if method == "auto":
        if compiled.available(small.dtype) and small.dtype == big.dtype:
            return _weight_grad_compiled(small, big, geom)
        fits = _im2col_bytes(geom, small.dtype.itemsize) <= available_bytes() // 4
        method = "im2col" if fits else "per_tap"
    if method == "im2col":
        return _weight_grad_im2col(small, big, geom)
    if method == "per_tap":
        return _weight_grad_per_tap(small, big, geom)
    raise ValueError(f"method must be 'auto', 'im2col' or 'per_tap', got {method!r}")


