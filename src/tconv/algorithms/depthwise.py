"""Depthwise path (groups == channels, one channel per group on both sides): element-wise, no GEMM.

Each channel is convolved with its own kernel, so there is nothing to
multiply over: every tap is a broadcast multiply-add.  The transposed
convolution works phase by phase (see :mod:`.phases`): the taps of one phase
are summed into a small contiguous accumulator which is written once into
the phase's strided view of the output.  Work is split into blocks of
``(image, channel)`` rows that stay in cache, spread over the threads of
:mod:`tconv.threads`.  No Python loop over groups.  With the compiled kernels
(:mod:`.compiled`) both directions are one compiled loop over the rows
instead (depthwise suite layer: 21 -> 6-8 ms).

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> x = np.array([[[1., 2]], [[3., 4]]]).reshape(1, 2, 2); k = np.array([[[1., 1]], [[1., -1]]])
>>> conv_transpose(x, k, conv_transpose_geometry(x, k, groups=2))[0]
array([[ 1.,  3.,  2.],
       [ 3.,  1., -4.]])
"""

from __future__ import annotations

import itertools

import numpy as np

from ..params import Geometry
from ..threads import run_chunks
from . import compiled
from .phases import phase_combos, prod, small_padding

_BLOCK_BYTES = 1 << 20  # rows per block: about this many bytes of output (measured 21:16 UTC: 1 MiB 21 ms, 256 KiB 29 ms, 4 MiB 25 ms on the depthwise layer)


def unsupported(geom: Geometry) -> str | None:
    """Anything but one channel per group on both sides (the reason reads after "does not support ")."""
    if geom.in_channels != geom.groups or geom.out_channels != geom.groups:
        return (f"groups={geom.groups} with {geom.in_channels} input and {geom.out_channels} output channels "
                f"(it needs groups == in_channels == out_channels)")
    return None


def _rows_per_block(row_items: int, itemsize: int) -> int:
    return max(1, _BLOCK_BYTES // max(1, row_items * itemsize))


def _padded_rows(x: np.ndarray, pads: tuple[tuple[int, int], ...]) -> np.ndarray:
    """``(R, *spatial)`` -> zero-padded copy (or ``x`` itself when there is nothing to pad)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    return np.pad(x, ((0, 0),) + pads)


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Per block of rows, per phase: sum the tap products, write the phase once."""
    c, n = geom.in_channels, geom.batch
    if compiled.available(x.dtype) and n * c * prod(geom.output_shape):
        return compiled.depthwise(x, weight, geom)
    y = np.empty((n * c,) + geom.output_shape, dtype=x.dtype)
    if y.size == 0:
        return y.reshape((n, c) + geom.output_shape)
    pads = small_padding(geom)
    xr = x.reshape((n * c,) + geom.input_shape)
    w = weight.reshape((c,) + geom.kernel_shape)
    combos = list(phase_combos(geom))
    expand = (slice(None),) + (None,) * geom.ndim
    rows = _rows_per_block(prod(geom.output_shape), x.dtype.itemsize)

    def work(lo: int, hi: int) -> None:
        for b0 in range(lo, hi, rows):
            b1 = min(hi, b0 + rows)
            xb = _padded_rows(xr[b0:b1], pads)
            ch = np.arange(b0, b1) % c
            for combo in combos:
                lengths = tuple(a.length for a in combo)
                view = y[(slice(b0, b1),) + tuple(slice(a.phase, None, s) for a, s in zip(combo, geom.stride))]
                taps = list(itertools.product(*(a.taps for a in combo)))
                if not taps:
                    view[...] = 0
                    continue
                acc = np.empty((b1 - b0,) + lengths, dtype=x.dtype)
                tmp = np.empty_like(acc) if len(taps) > 1 else acc
                for j, tap in enumerate(taps):
                    win = tuple(slice(p - sh, p - sh + q) for (_, sh), (p, _), q in zip(tap, pads, lengths))
                    wt = w[(ch,) + tuple(t for t, _ in tap)][expand]
                    np.multiply(xb[(slice(None),) + win], wt, out=acc if j == 0 else tmp)
                    if j:
                        acc += tmp
                view[...] = acc

    run_chunks(n * c, work, min_chunk=rows)
    return y.reshape((n, c) + geom.output_shape)


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Per block of rows: sum over taps of the kernel value times the tap's strided input window."""
    c, n = geom.in_channels, geom.batch
    out = geom.output_shape
    if compiled.available(x.dtype) and n * c * prod(out):
        return compiled.depthwise(x, weight, geom)
    y = np.empty((n * c,) + out, dtype=x.dtype)
    if y.size == 0:
        return y.reshape((n, c) + out)
    span = tuple((m - 1) * s + (k - 1) * d + 1 for m, s, k, d in zip(out, geom.stride, geom.kernel_shape, geom.dilation))
    reach = tuple(max(0, min(nb, sp - lo)) for nb, sp, (lo, _) in zip(geom.input_shape, span, geom.padding))
    pads = tuple((min(lo, sp), sp - min(lo, sp) - r) for sp, r, (lo, _) in zip(span, reach, geom.padding))
    xr = x.reshape((n * c,) + geom.input_shape)[(slice(None),) + tuple(slice(0, r) for r in reach)]
    w = weight.reshape((c,) + geom.kernel_shape)
    expand = (slice(None),) + (None,) * geom.ndim
    taps = list(np.ndindex(*geom.kernel_shape))
    rows = _rows_per_block(prod(span), x.dtype.itemsize)

    def work(lo: int, hi: int) -> None:
        for b0 in range(lo, hi, rows):
            b1 = min(hi, b0 + rows)
            xb = _padded_rows(xr[b0:b1], pads)
            ch = np.arange(b0, b1) % c
            acc = y[b0:b1]
            tmp = np.empty_like(acc)
            for j, tap in enumerate(taps):
                win = tuple(slice(t * d, t * d + (m - 1) * s + 1, s) for t, d, m, s in zip(tap, geom.dilation, out, geom.stride))
                np.multiply(xb[(slice(None),) + win], w[(ch,) + tap][expand], out=acc if j == 0 else tmp)
                if j:
                    acc += tmp

    run_chunks(n * c, work, min_chunk=rows)
    return y.reshape((n, c) + out)


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """Per thread: one padded block of input rows and two phase accumulators (a block never holds more
    than every row of the call, small side padded plus big side)."""
    row_small = prod(n + 2 * k for n, k in zip(geom.small_shape, geom.kernel_shape))
    all_rows = geom.batch * geom.groups * (row_small + prod(geom.big_shape)) * itemsize
    return 4 * min(_BLOCK_BYTES, all_rows) + 2 * row_small * itemsize


def cost(geom: Geometry) -> float:
    """Element-wise passes over cache-resident blocks: about 4 bytes moved per tap and small-side element."""
    from ..threads import num_threads
    from .cost import constants, per_call_seconds

    work = np.promote_types(geom.dtype, np.float32)
    c, isz = constants(work), np.dtype(work).itemsize
    rows = geom.batch * geom.groups
    taps = prod(geom.kernel_shape)
    per_row = prod(geom.small_shape) if not geom.transposed else prod(geom.small_shape)
    blocks = -(-rows // _rows_per_block(prod(geom.big_shape if geom.transposed else geom.small_shape), isz)) if rows else 0
    phases = prod(min(s, n) for s, n in zip(geom.stride, geom.big_shape)) if geom.transposed else 1
    moved = 3 * taps * rows * per_row * isz + 2 * rows * prod(geom.big_shape) * isz
    threads = min(2, num_threads())
    return (moved * c.byte_seconds / threads + blocks * (phases + taps) * 3 * c.step_seconds / threads
            + per_call_seconds(c))
