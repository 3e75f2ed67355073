"""Sub-pixel convolution: all phases of a transposed convolution as ONE stride-1 correlation.

Each output phase ``p`` (see :mod:`.phasing`) reads, at phase position ``q``,
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
that are cropped).  With the compiled kernels (:mod:`.gather`) the per-phase
writes become one gather of the whole output, which matters when there are
many phases.  The convolution runs the adjoint (:mod:`.blockconv`, with the compiled kernels): the input
split into stride-sized blocks, one GEMM against the kernel's blocks of ``s`` taps, a sum of ``A**d``
shifted blocks; without them it is ``phase``'s im2col + one GEMM.

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

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from ..params import Geometry
from .._threads import run_chunks
from . import blockconv, packs, phase
from .gather import gather, merge_offsets
from .jit import available, jit
from .phasing import AxisPhase, axis_phases, axis_table, batch_chunks, io_bytes, prod, too_many_phases
from .registry import Algorithm
from .weight_grad_numpy import numpy_weight_grad, numpy_weight_grad_bytes

#: The GEMM runs over blocks of dim-0 phases when its combined weight and result would exceed this many
#: bytes and half the call's input + output (see :func:`phase_blocks`).
BLOCK_BYTES = 4 << 20
#: The compiled combined weight is built by tconv's threads (split over input channels) from this many bytes.
COMBINE_THREADS_FROM = 1 << 20


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
    """:func:`axis_grid` for every dim (cached per dim: planning and the kernel ask for them several times)."""
    return [_dim_grid(ns, nb, k, s, d, lo) for ns, nb, k, s, d, lo in
            zip(geom.small_shape, geom.big_shape, geom.kernel_shape, geom.stride, geom.dilation, geom.before)]


@functools.lru_cache(maxsize=256)
def _dim_grid(n_small: int, n_big: int, kernel: int, stride: int, dilation: int, before: int) -> AxisGrid:
    """:func:`axis_grid` of one dim from the per-phase arrays of :func:`.phasing.axis_table`, taps bucketed by
    NumPy: ``O(kernel + phases)`` with a small constant (planning asks for it with stride and kernel in the
    thousands).

    >>> _dim_grid(3, 7, 5, 3, 1, 1) == axis_grid(list(axis_phases(3, 7, 5, 3, 1, 1)))
    True
    """
    taps, lengths, top, low = axis_table(n_big, kernel, stride, dilation, before)
    used = taps > 0
    if not used.any():
        return axis_grid(list(axis_phases(n_small, n_big, kernel, stride, dilation, before)))
    window, lead = int((top - low + 1)[used].max()), int(top[used].max())
    offsets = np.where(used, lead - top, 0)
    t = np.arange(kernel, dtype=np.int64)
    shift, p = np.divmod(t * dilation - before, stride)
    keep = np.flatnonzero(p < len(taps))
    order = keep[np.argsort(p[keep], kind="stable")]  # by phase, then by tap
    pairs = list(zip(t[order].tolist(), (top[p[order]] - shift[order]).tolist()))
    bounds = np.concatenate(([0], np.cumsum(taps))).tolist()
    phases = tuple(zip(range(len(taps)), lengths.tolist(), offsets.tolist(),
                       (tuple(pairs[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))))
    return AxisGrid(window, lead, phases, int((lengths + offsets).max()))


def waste(geom: Geometry) -> float:
    """Multiply-adds of the combined GEMM over those of the phases' own sub-kernels (>= 1)."""
    gs = grids(geom)
    combined = prod(g.grid for g in gs) * prod(g.window for g in gs) * prod(len(g.phases) for g in gs)
    useful = sum(prod(p[1] * len(p[3]) for p in combo) for combo in itertools.product(*(g.phases for g in gs)))
    return combined / max(1, useful)


def _combined_weight(weight: np.ndarray, geom: Geometry, gs: list[AxisGrid], block: range) -> np.ndarray:
    """``(g, A**d * ci, S * co)`` for the phases ``block`` of dim 0 (and all of the other dims): slot-major rows,
    phase-major columns, zeros where a phase has no tap (compiled: one pass, see :func:`_combine`)."""
    g = geom.groups
    ci, co = geom.in_channels // g, geom.out_channels // g
    if available(weight.dtype):
        table = _tap_table(geom, block.start, block.stop)
        out = np.empty((g, table.shape[0], ci, table.shape[1], co), dtype=weight.dtype)
        w4 = np.ascontiguousarray(weight).reshape(g, ci, co, -1)
        run_chunks(ci, lambda lo, hi: _combine(out[:, :, lo:hi], w4[:, lo:hi], table),
                   min_chunk=1 if out.nbytes >= COMBINE_THREADS_FROM else ci)
        return out.reshape(g, table.shape[0] * ci, table.shape[1] * co)
    wg = weight.reshape((g, ci, co) + geom.kernel_shape)
    windows = tuple(a.window for a in gs)
    counts = (len(block),) + tuple(len(a.phases) for a in gs[1:])
    out = np.zeros((g,) + windows + (ci,) + counts + (co,), dtype=weight.dtype)
    # per dim, every (phase index, window slot, tap) triple; the N-d entries are their cartesian products
    phases = [[(i - block.start, ph) for i, ph in enumerate(gs[0].phases) if i in block]]
    phases += [list(enumerate(a.phases)) for a in gs[1:]]
    triples = [np.array([(i, sl, t) for i, ph in dim for t, sl in ph[3]], dtype=np.int64).reshape(-1, 3)
               for dim in phases]
    grid = np.ix_(*(np.arange(len(tr)) for tr in triples))
    taps = tuple(tr[:, 2][ix] for tr, ix in zip(triples, grid))
    slots = tuple(tr[:, 1][ix] for tr, ix in zip(triples, grid))
    phase_ids = tuple(tr[:, 0][ix] for tr, ix in zip(triples, grid))
    wt = np.moveaxis(wg, (0, 1, 2), (-3, -2, -1))  # (*k, g, ci, co)
    # the slot and phase indices are apart (ci between them): the assigned block is (*index, g, ci, co)
    out[(slice(None),) + slots + (slice(None),) + phase_ids] = wt[taps]
    return out.reshape(g, prod(windows) * ci, prod(counts) * co)


@functools.lru_cache(maxsize=256)
def _tap_table(geom: Geometry, first: int, stop: int) -> np.ndarray:
    """``table[slot, phase]``: the flat tap of the combined weight's row block ``slot`` (window slots, slot-major)
    and column block ``phase`` (the dim-0 phases ``first:stop`` and all phases of the other dims), -1 where the
    phase has no tap in that slot."""
    gs = grids(geom)
    tables = []
    for d, a in enumerate(gs):
        phases = a.phases[first:stop] if d == 0 else a.phases
        t = np.full((a.window, len(phases)), -1, np.int64)
        for i, (_, _, _, taps) in enumerate(phases):
            for tap, slot in taps:
                t[slot, i] = tap
        tables.append(t)
    flat = np.zeros((1, 1), np.int64)
    for d, t in enumerate(tables):  # row-major over dims: flat = flat * k_d + tap_d, -1 wherever any is -1
        both = flat[:, None, :, None] * geom.kernel_shape[d] + t[None, :, None, :]
        missing = (flat[:, None, :, None] < 0) | (t[None, :, None, :] < 0)
        flat = np.where(missing, -1, both).reshape(flat.shape[0] * t.shape[0], flat.shape[1] * t.shape[1])
    return flat


@jit
def _combine(out, w, table):
    """``out[gi, slot, c, phase, o] = w[gi, c, o, table[slot, phase]]`` (0 where the table says -1): per input
    channel, the rows of its output channels stay in the cache while every (slot, phase) block is written."""
    groups, slots, ci, phases, co = out.shape
    for gi in range(groups):
        for c in range(ci):
            for sl in range(slots):
                for ph in range(phases):
                    t = table[sl, ph]
                    if t < 0:
                        for o in range(co):
                            out[gi, sl, c, ph, o] = 0
                    else:
                        for o in range(co):
                            out[gi, sl, c, ph, o] = w[gi, c, o, t]


def phase_blocks(geom: Geometry, itemsize: int) -> list[range]:
    """Dim-0 phases per GEMM: all at once, unless the combined weight and the GEMM result of one batch chunk
    would exceed ``max(BLOCK_BYTES, (input + output) / 2)``; then in as many equal blocks as that takes.

    Many phases (e.g. stride 32 x 32) make the combined weight and the result outgrow the input + output.
    """
    gs = grids(geom)
    g, nb = geom.groups, _chunk_images(geom, gs, itemsize)
    counts0 = len(gs[0].phases)
    window, count, grid = (prod(a.window for a in gs), prod(len(a.phases) for a in gs), prod(a.grid for a in gs))
    ci, co = geom.in_channels // g, geom.out_channels // g
    total = g * (window * ci + nb * grid) * count * co * itemsize
    n = min(counts0, -(-total // max(BLOCK_BYTES, io_bytes(geom, itemsize) // 2)))
    size = -(-counts0 // n)
    return [range(p0, min(counts0, p0 + size)) for p0 in range(0, counts0, size)]


def _padding(geom: Geometry, gs: list[AxisGrid]) -> tuple[tuple[int, int], ...]:
    """Zeros around the input so that every window ``[m - U, m - U + A)`` of the grid is in range."""
    return tuple((max(0, a.lead), max(0, a.grid - 1 - a.lead + a.window - 1 - (n - 1)))
                 for a, n in zip(gs, geom.input_shape))


def _padded_positions(geom: Geometry, gs: list[AxisGrid]) -> int:
    """Positions per channel of the zero-padded input (see :func:`_padding`)."""
    return prod(m + lo + hi for m, (lo, hi) in zip(geom.input_shape, _padding(geom, gs)))


def _output_offsets(shape: tuple[int, ...], gs: list[AxisGrid], geom: Geometry,
                    skip_first: bool = False) -> list[np.ndarray]:
    """Gather offsets of the output ``(N, g*co, *out)`` into the GEMM result ``(g, N, *grid, *counts, co)``
    (with ``skip_first``, an empty array stands for dim 0)."""
    g, nb, nd, co = shape[0], shape[1], geom.ndim, shape[-1]
    strides = np.cumprod((1,) + shape[:0:-1])[::-1]  # element strides of the result
    ch = np.arange(g * co, dtype=np.int64)
    offsets = [np.arange(nb, dtype=np.int64) * strides[1], (ch // co) * strides[0] + ch % co]
    for d, a in enumerate(gs):
        if skip_first and d == 0:
            offsets.append(np.empty(0, np.int64))
            continue
        o = np.arange(geom.output_shape[d], dtype=np.int64)
        p, q = o % geom.stride[d], o // geom.stride[d]
        offset = np.array([off for _, _, off, _ in a.phases], dtype=np.int64)
        has_taps = np.array([bool(taps) for _, _, _, taps in a.phases])
        offsets.append(np.where(has_taps[p], (q + offset[p]) * strides[2 + d] + p * strides[2 + nd + d], -1))
    return offsets


def _block_offsets(shape: tuple[int, ...], gs: list[AxisGrid], geom: Geometry, block: range,
                   phase: int | None = None) -> list[np.ndarray]:
    """Gather offsets into the GEMM result ``(g, N, *grid, len(block), *counts[1:], co)`` of one block of
    dim-0 phases, for the output viewed as ``(N, g*co, Q, len(block) * prod(out[1:]))`` (output rows
    ``q * s + p``, the dim-0 length a multiple of the stride), or, with ``phase``, for that phase's rows
    ``(N, g*co, Q_p, prod(out[1:]))``."""
    full = _output_offsets(shape, gs, geom, skip_first=True)
    strides = np.cumprod((1,) + shape[:0:-1])[::-1]
    nd, a = geom.ndim, gs[0]
    s0, h = geom.stride[0], geom.output_shape[0]
    rest = np.zeros(1, np.int64)
    for offs in full[3:]:
        rest = merge_offsets(rest, offs)
    picked = [phase] if phase is not None else list(block)
    row = []
    for p in picked:
        _, _, off, taps = a.phases[p]
        row.append(off * strides[2] + (p - block.start) * strides[2 + nd] if taps else -1)
    rows = (len(range(phase, h, s0)) if phase is not None else h // s0)
    if phase is None:
        inner = merge_offsets(np.array(row, np.int64), rest)
        return full[:2] + [np.arange(rows, dtype=np.int64) * strides[2], inner]
    q = np.arange(rows, dtype=np.int64) * strides[2] + row[0] if row[0] >= 0 else np.full(rows, -1, np.int64)
    return full[:2] + [q, rest]


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """im2col of ``A**d`` shifted input copies, one GEMM per block of phases, then the phases' writes."""
    g, n = geom.groups, geom.batch
    ci, co = geom.in_channels // g, geom.out_channels // g
    y = np.empty((n, geom.out_channels) + geom.output_shape, dtype=x.dtype)
    if y.size == 0:
        return y
    gs = grids(geom)
    pads = _padding(geom, gs)
    grid = tuple(a.grid for a in gs)
    slots = list(itertools.product(*(range(a.window) for a in gs)))
    windows = [tuple(slice(lo - a.lead + j, lo - a.lead + j + a.grid) for a, j, (lo, _) in zip(gs, slot, pads))
               for slot in slots]
    blocks = phase_blocks(geom, x.dtype.itemsize)
    whole = _block_weight(weight, geom, gs, blocks[0]) if len(blocks) == 1 else None
    per = _chunk_images(geom, gs, x.dtype.itemsize)
    for n0 in range(0, n, per):
        nb = min(n, n0 + per) - n0
        xp = phase.channels_last(x[n0:n0 + nb], g, geom.input_shape, pads)  # (g, nb, *padded, ci)
        cols = np.empty((g, nb) + grid + (len(slots), ci), dtype=x.dtype)
        phase.gather_windows(cols, xp, windows)
        del xp
        for block in blocks:
            w = whole if whole is not None else _block_weight(weight, geom, gs, block)
            r = np.matmul(cols.reshape(g, nb * prod(grid), len(slots) * ci), w)
            del w
            r = r.reshape((g, nb) + grid + (len(block),) + tuple(len(a.phases) for a in gs[1:]) + (co,))
            _write(y[n0:n0 + nb], r, gs, geom, block, whole is not None)
            del r  # before the next block's result is allocated
    return y


def _block_weight(weight: np.ndarray, geom: Geometry, gs: list[AxisGrid], block: range) -> np.ndarray:
    """:func:`_combined_weight`, kept across the calls of a bound plan (:mod:`.packs`)."""
    return packs.packed(("subpixel", block.start, block.stop), lambda: _combined_weight(weight, geom, gs, block))


def _write(yb: np.ndarray, r: np.ndarray, gs: list[AxisGrid], geom: Geometry, block: range, whole: bool) -> None:
    """Every output element of the phases ``block`` of dim 0 from the GEMM result ``r``, interleaved and cropped."""
    if available(yb.dtype):  # compiled gathers: all phases at once, or one block's rows
        if whole:
            gather(yb, r, _output_offsets(r.shape, gs, geom))
            return
        n, c, h, s0 = yb.shape[0], yb.shape[1], geom.output_shape[0], geom.stride[0]
        rest = prod(geom.output_shape[1:])
        if h % s0 == 0:  # the block's rows as one view: (N, C, Q, len(block) * rest)
            dst = yb.reshape(n, c, h // s0, s0 * rest)[..., block.start * rest:block.stop * rest]
            gather(dst, r, _block_offsets(r.shape, gs, geom, block))
            return
        for p in block:
            gather(yb.reshape(n, c, h, rest)[:, :, p::s0], r, _block_offsets(r.shape, gs, geom, block, p))
        return
    others = [range(len(a.phases)) for a in gs[1:]]
    for combo_idx in itertools.product(block, *others):
        info = [gs[d].phases[i] for d, i in enumerate(combo_idx)]
        view = (slice(None), slice(None)) + tuple(slice(p, None, s) for (p, _, _, _), s in zip(info, geom.stride))
        if any(not taps for _, _, _, taps in info):
            yb[view] = 0
            continue
        at = (combo_idx[0] - block.start,) + combo_idx[1:]
        src = r[(slice(None), slice(None)) + tuple(slice(off, off + length) for _, length, off, _ in info) + at]
        phase.write_channels_first(yb[view], src)


def _chunk_images(geom: Geometry, gs: list[AxisGrid], itemsize: int) -> int:
    """Images per batch chunk: padded input, column matrix and GEMM result within the workspace budget."""
    grid, window, count = prod(a.grid for a in gs), prod(a.window for a in gs), prod(len(a.phases) for a in gs)
    per_image = (window * geom.in_channels * grid + count * geom.out_channels * grid
                 + geom.in_channels * _padded_positions(geom, gs)) * itemsize
    chunks = batch_chunks(geom, per_image, itemsize)
    return chunks[0][1] - chunks[0][0] if chunks else 1


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """The adjoint of the transposed kernel (:mod:`.blockconv`) with the compiled kernels, else ``phase``'s."""
    return (blockconv.conv if available(x.dtype) else phase.conv)(x, weight, geom)


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """:mod:`.blockconv`'s weight gradient with the compiled kernels and operands of one dtype, else the
    NumPy one (see :mod:`.weight_grad`)."""
    if available(small.dtype) and small.dtype == big.dtype:
        return blockconv.weight_grad(small, big, geom)
    return numpy_weight_grad(small, big, geom)


def weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`weight_grad` allocates (:mod:`.blockconv`'s blocks; without the compiled kernels, the NumPy
    gradient's)."""
    if not available(np.dtype(f"f{itemsize}")):
        return numpy_weight_grad_bytes(geom, itemsize)
    return blockconv.weight_grad_bytes(geom, itemsize)


def _blocks(geom: Geometry) -> bool:
    """Whether the convolution of ``geom`` runs :mod:`.blockconv` (the compiled kernels take its dtype)."""
    return not geom.transposed and available(np.promote_types(geom.dtype, np.float32))


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """Transposed: per batch chunk the padded input and the column matrix (the previous chunk's columns still
    bound while the next are allocated), one block's combined weight (built with a gathered copy of the
    weight) and GEMM result, and the offsets of the compiled writes; conv: :mod:`.blockconv`'s or ``phase``'s."""
    if not geom.transposed:
        return (blockconv.workspace_bytes if _blocks(geom) else phase.workspace_bytes)(geom, itemsize)
    if geom.batch == 0:
        return 0
    gs = grids(geom)
    grid, window, count = prod(a.grid for a in gs), prod(a.window for a in gs), prod(len(a.phases) for a in gs)
    per, blocks = _chunk_images(geom, gs, itemsize), len(phase_blocks(geom, itemsize))
    g, ci, co = geom.groups, geom.in_channels // geom.groups, geom.out_channels // geom.groups
    padded = per * geom.in_channels * _padded_positions(geom, gs)
    cols = per * geom.in_channels * grid * window
    combined = -(-g * window * ci * count * co // blocks)
    result = -(-g * per * grid * count * co // blocks)
    weight = g * ci * co * prod(geom.kernel_shape)  # the taps gathered while a combined weight is built
    chunk = max(2 * cols + padded, cols + combined + max(weight, result), cols + 2 * result)
    offsets = 2 * geom.batch * geom.out_channels + 2 * prod(geom.output_shape) + sum(geom.output_shape)
    return chunk * itemsize + 8 * offsets


def _axis_sizes(n_big: int, kernel: int, stride: int, dilation: int, before: int) -> tuple[int, int, int, int]:
    """``(window, grid, phases, useful)`` of one dim's :func:`axis_grid` (``useful``: the sum over its phases of
    positions x taps), from the per-phase arrays of :func:`.phasing.axis_table`: no Python step per phase.

    >>> a = axis_grid(list(axis_phases(3, 7, 5, 3, 1, 1)))
    >>> _axis_sizes(7, 5, 3, 1, 1) == (a.window, a.grid, len(a.phases), sum(p[1] * len(p[3]) for p in a.phases))
    True
    """
    taps, lengths, top, low = axis_table(n_big, kernel, stride, dilation, before)
    used = taps > 0
    if not used.any():
        return 1, int(lengths.max()), len(taps), 0
    lead = int(top[used].max())
    grid = int((lengths + np.where(used, lead - top, 0)).max())
    return int((top - low + 1)[used].max()), grid, len(taps), int((lengths * taps).sum())


#: Cost model: the GEMM's time grows with this power of its waste (the share of zero blocks in the combined
#: weight): they cost as multiply-adds and as a wider, less efficient GEMM
WASTE_EXPONENT = 1.5
#: passes over the gathered input copies and over the output (the phases' writes)
GATHER_PASSES = 2.5
WRITE_PASSES = 3
#: Python-level steps of the compiled gather of all phases, and of a call besides its gathers and writes
COMPILED_WRITE_STEPS = 5
FIXED_STEPS = 6

def cost(geom: Geometry) -> float:
    """One GEMM over the window x channels, ``A**d`` input copies, one write of the output."""
    from .cost import constants, gemm_seconds, per_call_seconds

    if not geom.transposed:
        return (blockconv.cost if _blocks(geom) else phase.cost)(geom)
    work = np.promote_types(geom.dtype, np.float32)
    c, isz = constants(work), np.dtype(work).itemsize
    g, n = geom.groups, geom.batch
    sizes = [_axis_sizes(nb, k, s, d, lo) for nb, k, s, d, lo in
             zip(geom.big_shape, geom.kernel_shape, geom.stride, geom.dilation, geom.before)]
    window, grid, count, useful = (prod(a[i] for a in sizes) for i in range(4))
    cs, cb = geom.small_channels // g, geom.big_channels // g
    # the zero blocks of the combined weight cost twice: as multiply-adds and as a wider, less efficient GEMM
    waste_ = grid * window * count / max(1, useful)  # :func:`waste`, per dim
    mm = gemm_seconds(n * grid, count * cb, window * cs, c, calls=g) * waste_ ** WASTE_EXPONENT
    moved = (GATHER_PASSES * window * geom.small_channels * n * grid
             + WRITE_PASSES * n * geom.big_channels * prod(geom.big_shape)) * isz
    # the compiled gather writes every phase at once: its offsets and dispatch cost a few steps
    writes = COMPILED_WRITE_STEPS if available(work) else count
    return mm + moved * c.byte_seconds + (window + writes + FIXED_STEPS) * c.step_seconds + per_call_seconds(c)


ALGORITHM = Algorithm(
    name="subpixel",
    summary="all phases as one stride-1 correlation: im2col of the common window + one GEMM (conv: space to "
            "depth, one GEMM over the kernel's blocks, shifted sums)",
    conv_transpose=conv_transpose,
    conv=conv,
    workspace_bytes=workspace_bytes,
    cost=cost,
    unsupported=too_many_phases,
    weight_grad=weight_grad,
    weight_grad_bytes=weight_grad_bytes,
)
