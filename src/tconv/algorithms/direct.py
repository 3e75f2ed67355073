"""The reference algorithm: the chapter's scatter definition, generalised to N-d.

For every kernel tap, one matrix product over channels moves a shifted,
strided window of the input to the output (vectorised over batch, groups and
positions).  It is the readable definition every other algorithm is tested
against, and it needs almost no workspace.

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> x = np.array([[[[0., 1], [2, 3]]]]); k = np.array([[[[0., 1], [2, 3]]]])
>>> conv_transpose(x, k, conv_transpose_geometry(x, k))[0, 0]
array([[ 0.,  0.,  1.],
       [ 0.,  4.,  6.],
       [ 4., 12.,  9.]])
"""

from __future__ import annotations

import numpy as np

from ..params import Geometry
from .registry import Algorithm
from .taps import tap_windows


def _channel_product(w_tap: np.ndarray, x_window: np.ndarray) -> np.ndarray:
    """``(g, co, ci) x (N, g, ci, *spatial) -> (N, g, co, *spatial)``."""
    n, g, ci = x_window.shape[:3]
    spatial = x_window.shape[3:]
    flat = x_window.reshape(n, g, ci, int(np.prod(spatial)))
    return np.matmul(w_tap, flat).reshape((n, g, w_tap.shape[1]) + spatial)


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Scatter: ``y[big(i, t)] += W[t]^T x[i]`` for every tap ``t``."""
    g = geom.groups
    xg = x.reshape((geom.batch, g, geom.in_channels // g) + geom.input_shape)
    wg = weight.reshape((g, geom.in_channels // g, geom.out_channels // g) + geom.kernel_shape)
    y = np.zeros((geom.batch, g, geom.out_channels // g) + geom.output_shape, dtype=x.dtype)
    lead = (slice(None),) * 3
    for tap, small, big in tap_windows(geom):
        w_tap = np.swapaxes(wg[(Ellipsis,) + tap], 1, 2)  # (g, co, ci)
        y[lead + big] += _channel_product(w_tap, xg[lead + small])
    return y.reshape((geom.batch, geom.out_channels) + geom.output_shape)


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Gather: ``y[i] += W[t] x[big(i, t)]`` for every tap ``t`` (zero padding implied)."""
    g = geom.groups
    xg = x.reshape((geom.batch, g, geom.in_channels // g) + geom.input_shape)
    wg = weight.reshape((g, geom.out_channels // g, geom.in_channels // g) + geom.kernel_shape)
    y = np.zeros((geom.batch, g, geom.out_channels // g) + geom.output_shape, dtype=x.dtype)
    lead = (slice(None),) * 3
    for tap, small, big in tap_windows(geom):
        y[lead + small] += _channel_product(wg[(Ellipsis,) + tap], xg[lead + big])
    return y.reshape((geom.batch, geom.out_channels) + geom.output_shape)


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """One tap's product and one gathered window, at most."""
    small = geom.batch * max(geom.in_channels, geom.out_channels) * int(np.prod(geom.small_shape))
    return 2 * small * itemsize


#: Cost model: per tap, the product runs this many times slower than its GEMM estimate (thin, strided operands)
THIN_GEMM_FACTOR = 1.5
#: element passes over a window per tap (gather, product, read-add-write), in elements of the working dtype
PASSES_PER_TAP = 4
#: strided scatter-adds: byte_seconds per byte, this many times a contiguous copy's
STRIDED_BYTE_FACTOR = 2
#: Python-level steps per tap
STEPS_PER_TAP = 4

def cost(geom: Geometry) -> float:
    """One thin GEMM and one scatter-add over a window of the output per tap."""
    from .cost import constants, gemm_seconds, per_call_seconds

    c = constants(np.promote_types(geom.dtype, np.float32))
    g, taps = geom.groups, int(np.prod(geom.kernel_shape))
    s = geom.batch * int(np.prod(geom.small_shape))
    cs, cb = geom.small_channels // g, geom.big_channels // g
    mo, mi = (cb, cs) if geom.transposed else (cs, cb)
    moved = taps * s * geom.big_channels * PASSES_PER_TAP * np.dtype(np.promote_types(geom.dtype, np.float32)).itemsize
    return (taps * gemm_seconds(mo, s, mi, c, calls=g) * THIN_GEMM_FACTOR
            + moved * c.byte_seconds * STRIDED_BYTE_FACTOR + taps * STEPS_PER_TAP * c.step_seconds + per_call_seconds(c))


ALGORITHM = Algorithm(
    name="direct",
    summary="reference: per-tap matrix product over channels, scattered (the chapter's definition)",
    conv_transpose=conv_transpose,
    conv=conv,
    workspace_bytes=workspace_bytes,
    cost=cost,
)
