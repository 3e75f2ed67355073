"""Sub-pixel (phase) decomposition: every output element written once, no scatter-add.

For a transposed convolution with stride ``s`` the output splits into
``s**d`` interleaved phases; each phase is a stride-1 correlation of the input
with the sub-kernel of the taps that land on it (see :mod:`.phasing`).  Each
phase gathers its taps' shifted input windows (im2col of the sub-kernel only)
and runs one GEMM over ``taps x channels``; the result is written straight
into the phase's strided view of the output.  Output positions cropped by
``padding`` are never computed, and output positions that no tap reaches
(large dilation or ``output_padding``) are just zeroed.

The convolution (the adjoint) is the classic im2col: every tap's strided
window of the zero-padded input, then one GEMM.

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
from dataclasses import replace

import numpy as np

from ..params import Geometry
from .._threads import parallel_copy, run_chunks
from . import phasing
from .phasing import (batch_chunks, geometry_phases, geometry_task_counts, phase_combos, phase_task_sizes, prod,
                      small_padding, too_many_phases, uniform_phases_possible)
from .jit import available, jit
from .registry import Algorithm
from .simd import transpose_block


def _phase_weight(wk: np.ndarray, axis_taps: list[list[int]]) -> np.ndarray:
    """``(g, *k, ci, co)`` -> ``(g, T * ci, co)`` for the product of the per-dim tap lists (tap-major rows)."""
    g, co = wk.shape[0], wk.shape[-1]
    sub = wk[(slice(None),) + np.ix_(*axis_taps)]
    return sub.reshape(g, -1, co) if sub.size else np.empty((g, 0, co), dtype=wk.dtype)


_ALIASED_CHANNEL_TILE = 8


def channels_last(x: np.ndarray, g: int, spatial: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                  buffer: np.ndarray | None = None) -> np.ndarray:
    """``(N, g*c, *spatial) -> (g, N, *padded, c)``: one copy, zeros only in the padded borders (in the front
    of the flat ``buffer`` if given).

    With the compiled kernels each image's channel planes are transposed through registers
    (:data:`.simd.transpose_block`), a run of positions along the last dim at a time (the whole plane where
    nothing is padded); otherwise NumPy copies a few channels at a time."""
    n, c = x.shape[0], x.shape[1] // g
    nd = len(spatial)
    shape = (g, n) + tuple(m + lo + hi for m, (lo, hi) in zip(spatial, pads)) + (c,)
    out = np.empty(shape, dtype=x.dtype) if buffer is None else buffer[:prod(shape)].reshape(shape)
    for d, (lo, hi) in enumerate(pads):  # zero the border slabs only
        pre = (slice(None),) * (2 + d)
        if lo:
            out[pre + (slice(0, lo),)] = 0
        if hi:
            out[pre + (slice(shape[2 + d] - hi, None),)] = 0
    if available(x.dtype) and x.flags.c_contiguous:
        runs, width = _padded_runs(tuple(spatial), tuple(pads))

        def work(lo: int, hi: int) -> None:
            _channels_last_runs(out.reshape(-1), x.reshape(-1), lo, hi, g, c, n, prod(spatial), prod(shape[2:-1]),
                                width, runs)
    else:
        src = x.reshape((n, g, c) + spatial).transpose((1, 0) + tuple(range(3, 3 + nd)) + (2,))
        inner = (slice(None), slice(None)) + tuple(slice(lo, lo + m) for m, (lo, _) in zip(spatial, pads))
        # Reading channel planes whose size is a multiple of 4 KiB makes every channel's element land in the
        # same cache set; copying 8 channels at a time avoids the thrashing.
        plane = prod(spatial) * x.dtype.itemsize
        step = _ALIASED_CHANNEL_TILE if plane % 4096 == 0 and plane >= 4096 else c

        def work(lo: int, hi: int) -> None:
            dst = out[inner][:, lo:hi]
            for c0 in range(0, c, step):
                dst[..., c0:c0 + step] = src[:, lo:hi, ..., c0:c0 + step]

    run_chunks(n, work, min_chunk=1 if out.size >= 1 << 16 else max(n, 1))
    return out


@functools.lru_cache(maxsize=256)
def _padded_runs(spatial: tuple[int, ...], pads: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, int]:
    """Where the input's runs of positions land in the padded plane (in positions), and the run length: one
    run (the whole plane) where nothing is padded, else one per outer position (the last dim's length)."""
    if not any(lo or hi for lo, hi in pads):
        return np.zeros(1, dtype=np.int64), prod(spatial)
    padded = tuple(m + lo + hi for m, (lo, hi) in zip(spatial, pads))
    starts = np.zeros(1, dtype=np.int64)
    for d, (m, (lo, _)) in enumerate(zip(spatial, pads)):
        step = prod(padded[d + 1:])
        offsets = (np.arange(m) + lo) * step if d < len(spatial) - 1 else np.array([lo])
        starts = (starts[:, None] + offsets[None, :]).reshape(-1)
    return starts.astype(np.int64), spatial[-1]


@jit
def _channels_last_runs(dst, src, n0, n1, groups, c, batch, p, padded, width, runs):
    """Images ``n0:n1`` of the flat channels-first ``src (N, groups * c, p)`` into the flat ``dst (groups, N,
    padded, c)``: run ``j`` (``width`` positions from ``j * width``) of each group's channel planes to
    padded position ``runs[j]``, transposed a tile at a time."""
    uc, up = np.uint64(c), np.uint64(p)
    for n in range(n0, n1):
        for gi in range(groups):
            src0 = np.uint64((n * groups + gi) * c) * up
            dst0 = np.uint64(gi * batch + n) * np.uint64(padded)
            for j in range(runs.shape[0]):
                transpose_block(dst, (dst0 + np.uint64(runs[j])) * uc, uc, src, src0 + np.uint64(j * width), up,
                                uc, np.uint64(width))


def gather_windows(dst: np.ndarray, src: np.ndarray, windows: list[tuple[slice, ...]]) -> None:
    """``dst[..., j, :] = src[:, :, *windows[j], :]`` for every tap ``j``, split over threads by tap."""
    lead = (slice(None), slice(None))

    def work(lo: int, hi: int) -> None:
        for j in range(lo, hi):
            dst[..., j, :] = src[lead + windows[j]]

    run_chunks(len(windows), work, min_chunk=1 if dst.size >= 1 << 17 else len(windows))


def write_channels_first(dst: np.ndarray, r: np.ndarray) -> None:
    """``dst (N, g*co, *Q) = r (g, N, *Q, co)`` re-laid out, split over threads along the batch axis."""
    g, n, co = r.shape[0], r.shape[1], r.shape[-1]
    nd = r.ndim - 3
    src = r.transpose((1, 0, r.ndim - 1) + tuple(range(2, 2 + nd))).reshape((n, g * co) + r.shape[2:-1])
    aliased = dst.ndim > 2 and dst.strides[1] % 4096 == 0 and dst.strides[1] >= 4096  # see channels_last
    step = _ALIASED_CHANNEL_TILE if aliased else g * co

    def work(lo: int, hi: int) -> None:
        for c0 in range(0, g * co, step):
            dst[lo:hi, c0:c0 + step] = src[lo:hi, c0:c0 + step]

    run_chunks(n, work, min_chunk=1 if dst.size >= 1 << 16 else max(n, 1))


def _phase_plan(geom: Geometry, pads, wk: np.ndarray) -> list:
    """Per phase: (output slices, lengths, input windows per tap, sub-kernel weight) -- or no taps."""
    plan = []
    for combo in phase_combos(geom):
        view = (slice(None), slice(None)) + tuple(slice(a.phase, None, s) for a, s in zip(combo, geom.stride))
        lengths = tuple(a.length for a in combo)
        taps = list(itertools.product(*(a.taps for a in combo)))
        if not taps:
            plan.append((view, lengths, None, None))
            continue
        windows = [tuple(slice(lo - sh, lo - sh + q) for (_, sh), (lo, _), q in zip(tap, pads, lengths)) for tap in taps]
        plan.append((view, lengths, windows, _phase_weight(wk, [[t for t, _ in a.taps] for a in combo])))
    return plan


def _ct_per_image(geom: Geometry, pads, itemsize: int) -> int:
    """Workspace bytes per image: padded input, the largest phase's columns and result."""
    padded = geom.in_channels * prod(n + lo + hi for n, (lo, hi) in zip(geom.input_shape, pads))
    largest = max((t * geom.in_channels + geom.out_channels) * q for t, q in phase_task_sizes(geom))
    return (padded + largest) * itemsize


#: With at least this many phases, alike phases run batched (one fancy-index gather, one batched GEMM);
#: with fewer, slice copies per tap are cheaper than the fancy-index gather.
BATCH_PHASES_FROM = 8


def uniform_phases(geom: Geometry) -> list | None:
    """Per dim ``(tap index array (s, J), shift array (s, J), Q)`` when every phase has J taps and Q positions.

    Then all ``prod(s)`` phases are batched into one gather, one batched GEMM and one re-layout.
    """
    out = []
    for axis, s, n_big in zip(geometry_phases(geom), geom.stride, geom.big_shape):
        if len(axis) != s or len({len(a.taps) for a in axis}) != 1 or len({a.length for a in axis}) != 1:
            return None
        if not axis[0].taps:
            return None
        taps = np.array([[t for t, _ in a.taps] for a in axis])
        shifts = np.array([[sh for _, sh in a.taps] for a in axis])
        out.append((taps, shifts, axis[0].length))
    return out


def _batched_weight(weight: np.ndarray, geom: Geometry, axes: list) -> np.ndarray:
    """``(g*ci, co, *k)`` -> ``(g * S, J * ci, co)``: the sub-kernels of all phases, one gather of the weight."""
    g, nd = geom.groups, geom.ndim
    ci, co = geom.in_channels // g, geom.out_channels // g
    wk = weight.reshape((g, ci, co) + geom.kernel_shape).transpose((0,) + tuple(range(3, 3 + nd)) + (1, 2))
    widx = [np.arange(g).reshape((g,) + (1,) * (2 * nd))]
    for d, (taps, _, _) in enumerate(axes):
        shape = [1] * (1 + 2 * nd)
        shape[1 + d], shape[1 + nd + d] = taps.shape
        widx.append(taps.reshape(shape))
    w = np.ascontiguousarray(wk[tuple(widx)])  # (g, *s, *J, ci, co)
    sp, jp = prod(a[0].shape[0] for a in axes), prod(a[0].shape[1] for a in axes)
    return w.reshape(g * sp, jp * ci, co)


def _ct_batched(x: np.ndarray, w: np.ndarray, geom: Geometry, y: np.ndarray, axes: list, pads) -> None:
    """All phases at once: fancy-index gather ``(g, S, N, *Q, *J, ci)``, batched GEMM, one re-layout."""
    g, n, nd = geom.groups, geom.batch, geom.ndim
    ci, co = geom.in_channels // g, geom.out_channels // g
    xp = channels_last(x, g, geom.input_shape, pads)  # (g, N, *padded, ci)
    strides = [a[0].shape[0] for a in axes]
    js = [a[0].shape[1] for a in axes]
    qs = [a[2] for a in axes]
    # broadcast layout of the index arrays: (g, s_0..s_{nd-1}, N, Q_0..Q_{nd-1}, J_0..J_{nd-1})
    rank = 2 + 3 * nd

    def axis_index(values: np.ndarray, positions: tuple[int, ...]) -> np.ndarray:
        shape = [1] * rank
        for pos, size in zip(positions, values.shape):
            shape[pos] = size
        return values.reshape(shape)

    index = [axis_index(np.arange(g), (0,)), axis_index(np.arange(n), (1 + nd,))]
    for d, (taps, shifts, q) in enumerate(axes):
        rows = pads[d][0] - shifts[:, None, :] + np.arange(q)[None, :, None]  # (s, Q, J)
        index.append(axis_index(rows, (1 + d, 2 + nd + d, 2 + 2 * nd + d)))
    sp, qp, jp = prod(strides), prod(qs), prod(js)
    full = tuple(q * s for q, s in zip(qs, strides))
    exact = full == geom.output_shape
    blocked = (n, g, co) + tuple(a for q, s in zip(qs, strides) for a in (q, s))
    target = y.reshape(blocked) if exact else np.empty(blocked, dtype=y.dtype)
    # phases of dim 0 in pieces, so the columns of all phases never sit in memory at once
    per_phase0 = g * (sp // strides[0]) * n * qp * (jp * ci + co) * x.dtype.itemsize
    step = max(1, min(strides[0], _phase_budget(geom, x.dtype.itemsize) // max(1, per_phase0)))
    wv = w.reshape((g, strides[0], sp // strides[0], jp * ci, co))
    for p0 in range(0, strides[0], step):
        p1 = min(strides[0], p0 + step)
        piece = list(index)
        piece[2] = index[2][:, p0:p1]
        cols = xp[tuple(piece)]  # (g, *s (dim 0 cut), N, *Q, *J, ci)
        count = g * (p1 - p0) * (sp // strides[0])
        # fancy indexing may hand back non-C-ordered results; BLAS needs plain strides
        cols = np.ascontiguousarray(cols).reshape(count, n * qp, jp * ci)
        wp = np.ascontiguousarray(wv[:, p0:p1]).reshape(count, jp * ci, co)
        r = np.matmul(cols, wp).reshape((g, p1 - p0) + tuple(strides[1:]) + (n,) + tuple(qs) + (co,))
        # -> (N, g, co, Q_0, s_0, Q_1, s_1, ...)
        order = (1 + nd, 0, r.ndim - 1) + tuple(a for d in range(nd) for a in (2 + nd + d, 1 + d))
        dst = target[(slice(None),) * 4 + (slice(p0, p1),)]
        _copy_batches(dst, r.transpose(order))
    if not exact:
        flat = target.reshape((n, g * co) + full)
        _copy_batches(y, flat[(slice(None), slice(None)) + tuple(slice(0, m) for m in geom.output_shape)])


def _phase_budget(geom: Geometry, itemsize: int) -> int:
    io = geom.batch * (geom.in_channels * prod(geom.input_shape) + geom.out_channels * prod(geom.output_shape)) * itemsize
    return max(phasing.WORKSPACE_FLOOR, int(phasing.WORKSPACE_FRACTION * io))


def _copy_batches(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` split over threads along the first axis."""
    def work(lo: int, hi: int) -> None:
        dst[lo:hi] = src[lo:hi]

    run_chunks(dst.shape[0], work, min_chunk=1 if dst.size >= 1 << 16 else max(dst.shape[0], 1))


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Per phase: im2col of the sub-kernel's input windows, one GEMM, one strided write (batch in chunks).

    When every phase has the same number of taps and positions (the usual case: kernel a multiple of the
    stride, no dilation tricks), all phases run together as one batched GEMM.
    """
    g, n = geom.groups, geom.batch
    ci, co = geom.in_channels // g, geom.out_channels // g
    y = np.empty((n, geom.out_channels) + geom.output_shape, dtype=x.dtype)
    if y.size == 0:
        return y
    pads = small_padding(geom)
    nd = geom.ndim
    axes = uniform_phases(geom) if prod(geom.stride) >= BATCH_PHASES_FROM else None
    if axes is not None:
        w = _batched_weight(weight, geom, axes)
        per_image = _ct_per_image(geom, pads, x.dtype.itemsize) * prod(geom.stride) + 2 * geom.out_channels * prod(
            geom.output_shape) * x.dtype.itemsize
        for n0, n1 in batch_chunks(geom, per_image, x.dtype.itemsize):
            _ct_batched(x[n0:n1], w, replace(geom, batch=n1 - n0), y[n0:n1], axes, pads)
        return y
    wk = np.ascontiguousarray(weight.reshape((g, ci, co) + geom.kernel_shape).transpose(
        (0,) + tuple(range(3, 3 + nd)) + (1, 2)))  # (g, *k, ci, co)
    plan = _phase_plan(geom, pads, wk)
    for n0, n1 in batch_chunks(geom, _ct_per_image(geom, pads, x.dtype.itemsize), x.dtype.itemsize):
        nb = n1 - n0
        xp = channels_last(x[n0:n1], g, geom.input_shape, pads)  # (g, nb, *padded, ci)
        yb = y[n0:n1]
        for view, lengths, windows, w in plan:
            if windows is None:
                yb[view] = 0
                continue
            cols = np.empty((g, nb) + lengths + (len(windows), ci), dtype=x.dtype)
            gather_windows(cols, xp, windows)
            r = np.matmul(cols.reshape(g, nb * prod(lengths), len(windows) * ci), w)
            write_channels_first(yb[view], r.reshape((g, nb) + lengths + (co,)))
    return y


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """im2col over every tap's strided window of the zero-padded input, then one GEMM (batch in chunks)."""
    g, n = geom.groups, geom.batch
    ci, co = geom.in_channels // g, geom.out_channels // g
    out = geom.output_shape
    y = np.empty((n, geom.out_channels) + out, dtype=x.dtype)
    if n == 0:
        return y
    # the outputs read the padded input's first ``full_shape`` positions; keep only the real ones among them
    span = geom.full_shape
    reach = tuple(max(0, min(nb, sp - lo)) for nb, sp, (lo, _) in zip(geom.input_shape, span, geom.padding))
    pads = tuple((min(lo, sp), sp - min(lo, sp) - r) for sp, r, (lo, _) in zip(span, reach, geom.padding))
    taps = list(np.ndindex(*geom.kernel_shape))
    # conv weight (g*co, ci, *k) -> (g, T*ci, co), tap-major rows as in cols
    w = weight.reshape((g, co, ci, len(taps))).transpose(0, 3, 2, 1).reshape(g, len(taps) * ci, co)
    per_image = (geom.in_channels * (prod(span) + len(taps) * prod(out)) + geom.out_channels * prod(out)) * x.dtype.itemsize
    for n0, n1 in batch_chunks(geom, per_image, x.dtype.itemsize):
        nb = n1 - n0
        xc = x[(slice(n0, n1), slice(None)) + tuple(slice(0, r) for r in reach)]
        xp = channels_last(xc, g, reach, pads)  # (g, nb, *padded, ci)
        cols = np.empty((g, nb) + out + geom.kernel_shape + (ci,), dtype=x.dtype)
        parallel_copy(cols, _unfold(xp, geom))  # one C-level gather, no Python loop over taps
        r = np.matmul(cols.reshape(g, nb * prod(out), len(taps) * ci), w)
        write_channels_first(y[n0:n1], r.reshape((g, nb) + out + (co,)))
    return y


#: From this many taps on, conv's im2col is one strided-view copy instead of one slice copy per tap.
UNFOLD_FROM_TAPS = 100000


def _unfold(xp: np.ndarray, geom: Geometry) -> np.ndarray:
    """View ``(g, N, *padded, ci)`` as ``(g, N, *out, *k, ci)``: output position i, tap t -> i*s + t*d."""
    nd = geom.ndim
    sp = xp.strides[2:2 + nd]
    shape = xp.shape[:2] + geom.output_shape + geom.kernel_shape + xp.shape[-1:]
    strides = (xp.strides[:2] + tuple(st * s for st, s in zip(sp, geom.stride))
               + tuple(st * d for st, d in zip(sp, geom.dilation)) + xp.strides[-1:])
    return np.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides, writeable=False)


def _loop_peak(parts: list[int]) -> int:
    """Peak of a loop whose step allocates ``parts`` while the previous step's buffers are still bound: a
    buffer is freed only when its name is rebound, so the largest part is counted twice."""
    return sum(parts) + max(parts, default=0)


def _first_chunk(geom: Geometry, per_image: int, itemsize: int) -> int:
    """Images in the largest (first) batch chunk the kernels take for ``per_image`` workspace bytes."""
    chunks = batch_chunks(geom, per_image, itemsize)
    return chunks[0][1] - chunks[0][0] if chunks else 0


def _ct_workspace(geom: Geometry, itemsize: int) -> int:
    """Elements :func:`conv_transpose` allocates besides its result, at most at once (mirrors its two paths)."""
    g, isz = geom.groups, itemsize
    ci, co = geom.in_channels // g, geom.out_channels // g
    weight = g * ci * co * prod(geom.kernel_shape)
    pads = small_padding(geom)
    padded = geom.in_channels * prod(m + lo + hi for m, (lo, hi) in zip(geom.input_shape, pads))
    if prod(geom.stride) >= BATCH_PHASES_FROM and uniform_phases_possible(geom):
        (taps, positions), phases = geometry_task_counts(geom)[0]
        per_image = _ct_per_image(geom, pads, isz) * prod(geom.stride) + 2 * geom.out_channels * prod(
            geom.output_shape) * isz
        nb = _first_chunk(geom, per_image, isz)
        s0 = geom.stride[0]
        per_phase0 = g * (phases // s0) * nb * positions * (taps * ci + co) * isz
        step = max(1, min(s0, _phase_budget(replace(geom, batch=nb), isz) // max(1, per_phase0)))
        count = g * step * (phases // s0)
        full = tuple(-(-m // s) * s for m, s in zip(geom.output_shape, geom.stride))
        target = 0 if full == geom.output_shape else nb * geom.out_channels * prod(full)
        batched = g * phases * taps * ci * co  # the sub-kernels of all phases; gathered, then made contiguous
        loop = _loop_peak([count * nb * positions * taps * ci, count * taps * ci * co, count * nb * positions * co])
        # the gathered columns may come back non-C-ordered: their contiguous copy is the loop's first part
        return batched + max(batched, nb * padded + target + count * nb * positions * taps * ci + loop)
    nb = _first_chunk(geom, _ct_per_image(geom, pads, isz), isz)
    cols = max((t * ci * q for t, q in phase_task_sizes(geom)), default=0) * g * nb
    result = max((co * q for t, q in phase_task_sizes(geom) if t), default=0) * g * nb
    # the (g, *k, ci, co) copy of the weight and the phases' sub-kernels (each tap in one phase); per phase
    # the columns, the GEMM result and its channels-first copy
    return 2 * weight + _loop_peak([nb * padded, cols, result])


def _conv_workspace(geom: Geometry, itemsize: int) -> int:
    """Elements :func:`conv` allocates besides its result, at most at once."""
    g, out = geom.groups, geom.output_shape
    taps = prod(geom.kernel_shape)
    span = geom.full_shape
    per_image = (geom.in_channels * (prod(span) + taps * prod(out)) + geom.out_channels * prod(out)) * itemsize
    nb = _first_chunk(geom, per_image, itemsize)
    weight = geom.out_channels * (geom.in_channels // g) * taps  # re-laid out tap-major: a copy
    # per chunk: the padded channels-last input, the columns, the GEMM result (and its channels-first copy)
    return weight + _loop_peak([nb * geom.in_channels * prod(span), nb * geom.in_channels * taps * prod(out),
                                nb * geom.out_channels * prod(out)])


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """Bytes the kernels allocate besides the result, at most at once: the weight's re-laid-out copies, and
    per batch chunk the padded input, the largest phase's (or piece of phases') columns and GEMM result, with
    the copies the loops make of them (see :func:`_ct_workspace`, :func:`_conv_workspace`)."""
    if geom.batch == 0:
        return 0
    return (_ct_workspace(geom, itemsize) if geom.transposed else _conv_workspace(geom, itemsize)) * itemsize


#: Cost model (bytes weighted in passes over them, steps in Python-level loop steps): the slice gathers of
#: the im2col and the channels-first write of the result
GATHER_PASSES = 2.5
WRITE_PASSES = 3
#: the batched phases' fancy-index gather, slower per byte than slice copies; the batched path's steps
FANCY_GATHER_PASSES = 3.0
BATCHED_STEPS = 20
#: steps per phase (and one per tap), and of the convolution besides one per tap
STEPS_PER_PHASE = 4
CONV_STEPS = 4

def cost(geom: Geometry) -> float:
    """Transposed: per phase a gather, a GEMM over taps x channels and a strided write; conv: im2col + GEMM."""
    from .cost import constants, gemm_seconds, per_call_seconds
    from .phasing import geometry_task_counts, uniform_phases_possible

    work = np.promote_types(geom.dtype, np.float32)
    c, isz = constants(work), np.dtype(work).itemsize
    g, n = geom.groups, geom.batch
    cs, cb = geom.small_channels // g, geom.big_channels // g
    # per-dim closed forms (geometry_task_counts): a few distinct (taps, positions), never one step per phase
    if geom.transposed and prod(geom.stride) >= BATCH_PHASES_FROM and uniform_phases_possible(geom):
        (taps, positions), phases = geometry_task_counts(geom)[0]
        gather = FANCY_GATHER_PASSES * phases * taps * cs * g * n * positions * isz
        write = WRITE_PASSES * n * geom.big_channels * prod(geom.big_shape) * isz
        mm = gemm_seconds(n * positions, cb, taps * cs, c, calls=g * phases)
        return mm + (gather + write) * c.byte_seconds + BATCHED_STEPS * c.step_seconds + per_call_seconds(c)
    if geom.transposed:
        total, steps = 0.0, 0
        for (taps, positions), count in geometry_task_counts(geom):
            steps += count * (STEPS_PER_PHASE + taps)
            if taps:
                total += count * gemm_seconds(cb, n * positions, taps * cs, c, calls=g)
                total += count * GATHER_PASSES * taps * cs * g * n * positions * isz * c.byte_seconds
        total += WRITE_PASSES * n * geom.big_channels * prod(geom.big_shape) * isz * c.byte_seconds
        return total + steps * c.step_seconds + per_call_seconds(c)
    taps, s = prod(geom.kernel_shape), n * prod(geom.small_shape)
    moved = (GATHER_PASSES * taps * cb * g * s + WRITE_PASSES * cs * g * s
             + 2 * n * geom.big_channels * prod(geom.big_shape)) * isz
    return (gemm_seconds(cs, s, taps * cb, c, calls=g) + moved * c.byte_seconds + (taps + CONV_STEPS) * c.step_seconds
            + per_call_seconds(c))


ALGORITHM = Algorithm(
    name="phase",
    summary="sub-pixel decomposition: per output phase, im2col of the sub-kernel + one GEMM, written once",
    conv_transpose=conv_transpose,
    conv=conv,
    workspace_bytes=workspace_bytes,
    cost=cost,
    unsupported=too_many_phases,
)
