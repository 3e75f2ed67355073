"""Sub-pixel convolution: all phases of a transposed convolution as ONE stride-1 correlation.

Each output phase ``p`` (see :mod:`.phases`) reads, at phase position ``q``,
the input positions ``q - shift`` of its taps.  Shifting every phase's grid by
``offset_p = U - max shift_p`` lines those reads up in a common window of
``A`` input positions per dim (``A`` = the largest span of shifts of one
phase).  One im2col of ``A**d`` shifted copies of the input and one GEMM
against a combined weight ``(A**d * C_in, s**d * C_out)`` (zero where a phase
has no tap in a window slot) then yields every phase at once -- the
"sub-pixel convolution" of super-resolution networks -- followed by one write
per phase into its strided view of the output.  Compared with ``phase`` it
gathers ``A**d`` instead of ``k**d`` copies of the input and runs one large
GEMM instead of ``s**d`` thin ones, at the price of the zero blocks of the
combined weight and of ``max offset`` extra grid positions (border outputs
that are cropped).  With the compiled kernels (:mod:`.compiled`) the per-phase
writes become one gather of the whole output (FCN-32s's 1024 phases: 31 -> 12
ms).  The convolution (the adjoint) is im2col + one GEMM, as in
``phase``.

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

import itertools
from dataclasses import dataclass

import numpy as np

from ..params import Geometry
from . import compiled, phase
from .phases import AxisPhase, batch_chunks, geometry_phases, prod


@dataclass(frozen=True)
class AxisGrid:
    """One dim: window size ``A``, lead ``U``, per-phase (phase, length, offset, [(tap, slot)])."""

    window: int
    lead: int
    phases: tuple[tuple[int, int, int, tuple[tuple[int, int], ...]], ...]
    grid: int  # grid positions: max over phases of length + offset


def axis_grid(axis: list[AxisPhase]) -> AxisGrid:
    """Line the phases of one dim up in a common window (see the module docstring)."""
    spans = [(max(sh for _, sh in a.taps), min(sh for _, sh in a.taps)) for a in axis if a.taps]
    if not spans:
        return AxisGrid(1, 0, tuple((a.phase, a.length, 0, ()) for a in axis), max(a.length for a in axis))
    window = max(hi - lo + 1 for hi, lo in spans)
    lead = max(hi for hi, _ in spans)
    phases = []
    for a in axis:
        top = max((sh for _, sh in a.taps), default=lead)
        offset = lead - top
        phases.append((a.phase, a.length, offset, tuple((t, top - sh) for t, sh in a.taps)))
    return AxisGrid(window, lead, tuple(phases), max(length + off for _, length, off, _ in phases))


def grids(geom: Geometry) -> list[AxisGrid]:
    """:func:`axis_grid` for every dim."""
    return [axis_grid(axis) for axis in geometry_phases(geom)]


def waste(geom: Geometry) -> float:
    """Multiply-adds of the combined GEMM over those of the phases' own sub-kernels (>= 1)."""
    gs = grids(geom)
    combined = prod(g.grid for g in gs) * prod(g.window for g in gs) * prod(len(g.phases) for g in gs)
    useful = sum(prod(p[1] * len(p[3]) for p in combo) for combo in itertools.product(*(g.phases for g in gs)))
    return combined / max(1, useful)


def _combined_weight(weight: np.ndarray, geom: Geometry, gs: list[AxisGrid]) -> np.ndarray:
    """``(g, A**d * ci, S * co)``: slot-major rows, phase-major columns, zeros where a phase has no tap."""
    g = geom.groups
    ci, co = geom.in_channels // g, geom.out_channels // g
    wg = weight.reshape((g, ci, co) + geom.kernel_shape)
    windows = tuple(a.window for a in gs)
    counts = tuple(len(a.phases) for a in gs)
    # built as (*windows, *counts, g, ci, co): whole (g, ci, co) blocks per assignment, then one transposition
    blocks = np.zeros(windows + counts + (g, ci, co), dtype=weight.dtype)
    # per dim, every (phase index, window slot, tap) triple; the N-d entries are their cartesian products
    triples = [np.array([(i, sl, t) for i, ph in enumerate(a.phases) for t, sl in ph[3]], dtype=np.int64).reshape(-1, 3)
               for a in gs]
    grid = np.ix_(*(np.arange(len(tr)) for tr in triples))
    taps = tuple(tr[:, 2][ix] for tr, ix in zip(triples, grid))
    wt = np.moveaxis(wg, (0, 1, 2), (-3, -2, -1))  # (*k, g, ci, co)
    blocks[tuple(tr[:, 1][ix] for tr, ix in zip(triples, grid)) + tuple(tr[:, 0][ix] for tr, ix in zip(triples, grid))] = wt[taps]
    nd = len(gs)
    out = np.ascontiguousarray(blocks.transpose((2 * nd,) + tuple(range(nd)) + (2 * nd + 1,) + tuple(range(nd, 2 * nd)) + (2 * nd + 2,)))
    return out.reshape(g, prod(windows) * ci, prod(counts) * co)


def _padding(geom: Geometry, gs: list[AxisGrid]) -> tuple[tuple[int, int], ...]:
    """Zeros around the input so that every window ``[m - U, m - U + A)`` of the grid is in range."""
    return tuple((max(0, a.lead), max(0, a.grid - 1 - a.lead + a.window - 1 - (n - 1)))
                 for a, n in zip(gs, geom.input_shape))


def _output_offsets(shape: tuple[int, ...], gs: list[AxisGrid], geom: Geometry) -> list[np.ndarray]:
    """Gather offsets of the output ``(N, g*co, *out)`` into the GEMM result ``(g, N, *grid, *counts, co)``."""
    g, nb, nd, co = shape[0], shape[1], geom.ndim, shape[-1]
    strides = np.cumprod((1,) + shape[:0:-1])[::-1]  # element strides of the result
    ch = np.arange(g * co, dtype=np.int64)
    offsets = [np.arange(nb, dtype=np.int64) * strides[1], (ch // co) * strides[0] + ch % co]
    for d, a in enumerate(gs):
        o = np.arange(geom.output_shape[d], dtype=np.int64)
        p, q = o % geom.stride[d], o // geom.stride[d]
        offset = np.array([off for _, _, off, _ in a.phases], dtype=np.int64)
        has_taps = np.array([bool(taps) for _, _, _, taps in a.phases])
        offsets.append(np.where(has_taps[p], (q + offset[p]) * strides[2 + d] + p * strides[2 + nd + d], -1))
    return offsets


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """im2col of ``A**d`` shifted input copies, one GEMM for all phases, one strided write per phase."""
    g, n = geom.groups, geom.batch
    ci, co = geom.in_channels // g, geom.out_channels // g
    y = np.empty((n, geom.out_channels) + geom.output_shape, dtype=x.dtype)
    if y.size == 0:
        return y
    gs = grids(geom)
    pads = _padding(geom, gs)
    w = _combined_weight(weight, geom, gs)
    grid = tuple(a.grid for a in gs)
    slots = list(itertools.product(*(range(a.window) for a in gs)))
    windows = [tuple(slice(lo - a.lead + j, lo - a.lead + j + a.grid) for a, j, (lo, _) in zip(gs, slot, pads))
               for slot in slots]
    counts = tuple(len(a.phases) for a in gs)
    per_image = (len(slots) * geom.in_channels * prod(grid) + prod(counts) * geom.out_channels * prod(grid)
                 + geom.in_channels * prod(n + lo + hi for n, (lo, hi) in zip(geom.input_shape, pads))) * x.dtype.itemsize
    for n0, n1 in batch_chunks(geom, per_image, x.dtype.itemsize):
        nb = n1 - n0
        xp = phase.channels_last(x[n0:n1], g, geom.input_shape, pads)  # (g, nb, *padded, ci)
        cols = np.empty((g, nb) + grid + (len(slots), ci), dtype=x.dtype)
        phase._gather(cols, xp, windows)
        r = np.matmul(cols.reshape(g, nb * prod(grid), len(slots) * ci), w)
        r = r.reshape((g, nb) + grid + counts + (co,))
        yb = y[n0:n1]
        if compiled.available(x.dtype):  # every phase, interleaved and cropped, as one compiled gather
            compiled.gather(yb, r, _output_offsets(r.shape, gs, geom))
            continue
        for combo_idx in itertools.product(*(range(c) for c in counts)):
            info = [gs[d].phases[i] for d, i in enumerate(combo_idx)]
            view = (slice(None), slice(None)) + tuple(slice(p, None, s) for (p, _, _, _), s in zip(info, geom.stride))
            if any(not taps for _, _, _, taps in info):
                yb[view] = 0
                continue
            src = r[(slice(None), slice(None)) + tuple(slice(off, off + length) for _, length, off, _ in info) + combo_idx]
            phase.write_channels_first(yb[view], src)
    return y


conv = phase.conv


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """Transposed: padded input, the column matrix and the GEMM result; conv: as ``phase``."""
    if not geom.transposed:
        return phase.workspace_bytes(geom, itemsize)
    gs = grids(geom)
    grid, window, count = prod(a.grid for a in gs), prod(a.window for a in gs), prod(len(a.phases) for a in gs)
    per = geom.in_channels * grid * window + count * geom.out_channels * grid + geom.in_channels * grid
    return min(geom.batch, max(1, geom.batch)) * per * itemsize


def cost(geom: Geometry) -> float:
    """One GEMM over the window x channels, ``A**d`` input copies, one write of the output."""
    from .cost import constants, gemm_seconds

    if not geom.transposed:
        return phase.cost(geom)
    work = np.promote_types(geom.dtype, np.float32)
    c, isz = constants(work), np.dtype(work).itemsize
    g, n = geom.groups, geom.batch
    gs = grids(geom)
    grid, window, count = prod(a.grid for a in gs), prod(a.window for a in gs), prod(len(a.phases) for a in gs)
    cs, cb = geom.small_channels // g, geom.big_channels // g
    # the zero blocks of the combined weight cost twice: as multiply-adds and as a wider, less efficient GEMM
    mm = gemm_seconds(n * grid, count * cb, window * cs, c, calls=g) * waste(geom) ** 1.5
    moved = (2.5 * window * geom.small_channels * n * grid + 3 * n * geom.big_channels * prod(geom.big_shape)) * isz
    # the compiled gather writes every phase at once (its offsets and dispatch: about 5 steps, measured)
    writes = 5 if compiled.available(work) else count
    return mm + moved * c.byte_seconds + (window + writes + 6) * c.step_seconds
