"""Sub-pixel (phase) bookkeeping shared by the fast algorithms.

Along one spatial dim a tap ``t`` links small index ``i`` and big index ``o``
by ``o = i * stride + t * dilation - before``.  Write
``t * dilation - before = shift * stride + phase`` with ``0 <= phase < stride``;
then ``o = (i + shift) * stride + phase``.  The big side therefore splits into
``stride`` interleaved phases ``o = q * stride + phase``; phase ``p`` only meets
the taps whose phase is ``p``, and there ``i = q - shift``: a stride-1
correlation with a sub-kernel.

>>> [(a.phase, a.length, a.taps) for a in axis_phases(n_small=3, n_big=6, kernel=4, stride=2, dilation=1, before=1)]
[(0, 3, ((1, 0), (3, 1))), (1, 3, ((0, -1), (2, 0)))]
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..params import Geometry


@dataclass(frozen=True)
class AxisPhase:
    """One phase of one dim: big positions ``q * stride + phase`` for ``q < length``; taps as (tap, shift)."""

    phase: int
    length: int
    taps: tuple[tuple[int, int], ...]


def prod(values) -> int:
    """Product of ints as a Python int (1 for an empty sequence)."""
    out = 1
    for v in values:
        out *= int(v)
    return out


def axis_phases(n_small: int, n_big: int, kernel: int, stride: int, dilation: int,
                before: int) -> tuple[AxisPhase, ...]:
    """The phases of one dim (only those with at least one big position).

    Each tap is put in its phase once: ``O(kernel + min(stride, n_big))`` steps (cached per dim).
    """
    return _axis_phases(int(n_big), int(kernel), int(stride), int(dilation), int(before))


@functools.lru_cache(maxsize=256)
def _axis_phases(n_big: int, kernel: int, stride: int, dilation: int, before: int) -> tuple[AxisPhase, ...]:
    count = min(stride, n_big)
    taps = np.arange(kernel, dtype=np.int64)
    shift, p = np.divmod(taps * dilation - before, stride)
    keep = np.flatnonzero(p < count)
    order = keep[np.argsort(p[keep], kind="stable")]  # by phase, then by tap
    pairs = list(zip(taps[order].tolist(), shift[order].tolist()))
    bounds = np.searchsorted(p[order], np.arange(count + 1)).tolist()
    return tuple(AxisPhase(q, (n_big - q + stride - 1) // stride, tuple(pairs[bounds[q]:bounds[q + 1]]))
                 for q in range(count))


def geometry_phases(geom: Geometry) -> list[tuple[AxisPhase, ...]]:
    """``axis_phases`` for every spatial dim of ``geom``."""
    return [
        axis_phases(ns, nb, k, s, d, lo)
        for ns, nb, k, s, d, lo in zip(geom.small_shape, geom.big_shape, geom.kernel_shape, geom.stride, geom.dilation, geom.before)
    ]


@functools.lru_cache(maxsize=256)
def last_dim_phases(geom: Geometry) -> tuple[np.ndarray, ...]:
    """The phases of the last dim as arrays for the compiled loops: lengths, tap counts, taps and shifts (padded
    to the widest phase)."""
    phases = geometry_phases(geom)[-1]
    width = max(1, max(len(a.taps) for a in phases))
    taps = np.zeros((len(phases), width), np.int64)
    shifts = np.zeros((len(phases), width), np.int64)
    for p, a in enumerate(phases):
        taps[p, :len(a.taps)] = [t for t, _ in a.taps]
        shifts[p, :len(a.taps)] = [sh for _, sh in a.taps]
    lengths = np.array([a.length for a in phases], np.int64)
    ncount = np.array([len(a.taps) for a in phases], np.int64)
    return lengths, ncount, taps, shifts


# ---------------------------------------------------------------------------
# closed forms for planning: per-dim summaries, never one step per phase or per (phase, tap) pair


def axis_table(n_big: int, kernel: int, stride: int, dilation: int, before: int):
    """Per phase of one dim (NumPy arrays, one entry per phase ``p < min(stride, n_big)``): taps, length,
    largest and smallest shift (0 where a phase has no tap).  Vectorized: no Python step per tap or phase."""
    count = min(stride, n_big)
    c = np.arange(kernel, dtype=np.int64) * dilation - before
    shift, p = np.divmod(c, stride)
    keep = p < count
    p, shift = p[keep], shift[keep]
    taps = np.bincount(p, minlength=count)
    big = np.iinfo(np.int64).max
    top = np.full(count, -big, np.int64)
    low = np.full(count, big, np.int64)
    np.maximum.at(top, p, shift)
    np.minimum.at(low, p, shift)
    top[taps == 0] = 0
    low[taps == 0] = 0
    lengths = (n_big - np.arange(count, dtype=np.int64) + stride - 1) // stride
    return taps, lengths, top, low


@functools.lru_cache(maxsize=256)
def axis_task_counts(n_big: int, kernel: int, stride: int, dilation: int,
                     before: int) -> tuple[tuple[tuple[int, int], int], ...]:
    """How many phases of one dim have each ``(taps, length)``: at most a handful of distinct pairs.

    >>> axis_task_counts(n_big=6, kernel=4, stride=2, dilation=1, before=1)
    (((2, 3), 2),)
    >>> axis_task_counts(n_big=7, kernel=5, stride=3, dilation=1, before=0)
    (((2, 3), 1), ((2, 2), 1), ((1, 2), 1))
    """
    taps, lengths, _, _ = axis_table(n_big, kernel, stride, dilation, before)
    pairs = Counter(zip(taps.tolist(), lengths.tolist()))
    return tuple(pairs.items())


def geometry_task_counts(geom: Geometry) -> list[tuple[tuple[int, int], int]]:
    """``((taps, positions), count)`` over the N-d phases: the summary of :func:`phase_task_sizes`.

    Products run over the per-dim summaries (a few entries each), never over the phases.
    """
    out: list[tuple[tuple[int, int], int]] = [((1, 1), 1)]
    for nb, k, s, d, lo in zip(geom.big_shape, geom.kernel_shape, geom.stride, geom.dilation, geom.before):
        axis = axis_task_counts(nb, k, s, d, lo)
        out = [((t0 * t1, q0 * q1), n0 * n1) for (t0, q0), n0 in out for (t1, q1), n1 in axis]
    return out


def uniform_phases_possible(geom: Geometry) -> bool:
    """Whether every dim has ``stride`` phases alike (the same taps, at least one, and length).

    The closed form of :func:`tconv.algorithms.phase.uniform_phases` ``is not None``.
    """
    for nb, k, s, d, lo in zip(geom.big_shape, geom.kernel_shape, geom.stride, geom.dilation, geom.before):
        axis = axis_task_counts(nb, k, s, d, lo)
        if len(axis) != 1 or axis[0][1] != s or axis[0][0][0] == 0:
            return False
    return True


#: Algorithms that work phase by phase refuse geometries with more phases (``prod(stride)``) than this:
#: a Python step per phase would dominate, and even listing the phases costs memory.
MAX_PHASES = 4096


def too_many_phases(geom: Geometry) -> str | None:
    """The reason a phase-wise algorithm declines ``geom``, or None: a closed form, nothing enumerated.

    >>> from tconv.params import conv_transpose_geometry
    >>> too_many_phases(conv_transpose_geometry(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), stride=65))
    'stride (65, 65) (4225 output phases; it needs at most 4096)'
    """
    phases = prod(geom.stride)
    if phases > MAX_PHASES:
        return f"stride {geom.stride} ({phases} output phases; it needs at most {MAX_PHASES})"
    return None


def phase_combos(geom: Geometry):
    """Every N-d phase: a tuple of one :class:`AxisPhase` per dim."""
    return itertools.product(*geometry_phases(geom))


@functools.lru_cache(maxsize=256)
def small_padding(geom: Geometry) -> tuple[tuple[int, int], ...]:
    """Zeros to add around the small side so that every phase window ``q - shift`` is in range."""
    pads = []
    for nb, k, s, d, lo_, n in zip(geom.big_shape, geom.kernel_shape, geom.stride, geom.dilation, geom.before,
                                   geom.small_shape):
        taps, lengths, top, low = axis_table(nb, k, s, d, lo_)
        used = taps > 0
        if not used.any():
            pads.append((0, 0))
            continue
        longest = int(lengths.max())
        pads.append((max(0, int(top[used].max())), max(0, longest - 1 - int(low[used].min()) - (n - 1))))
    return tuple(pads)


def pad_channels_first(x: np.ndarray, geom: Geometry, channels: int, spatial: tuple[int, ...],
                       pads: tuple[tuple[int, int], ...]) -> np.ndarray:
    """``(N, C, *spatial) -> (g, C // g, N, *padded)``: one copy, zero borders only where padded."""
    g, n = geom.groups, geom.batch
    nd = len(spatial)
    src = x.reshape((n, g, channels // g) + spatial).transpose((1, 2, 0) + tuple(range(3, 3 + nd)))
    shape = (g, channels // g, n) + tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pads))
    if not any(lo or hi for lo, hi in pads):
        return np.ascontiguousarray(src)
    out = np.empty(shape, dtype=x.dtype)
    lead = (slice(None),) * 3
    for d, (lo, hi) in enumerate(pads):  # zero the border slabs only
        pre = (slice(None),) * d
        if lo:
            out[lead + pre + (slice(0, lo),)] = 0
        if hi:
            out[lead + pre + (slice(shape[3 + d] - hi, None),)] = 0
    out[lead + tuple(slice(lo, lo + s) for s, (lo, _) in zip(spatial, pads))] = src
    return out


def batch_major(r: np.ndarray) -> np.ndarray:
    """View ``(C, N, *spatial)`` as ``(N, C, *spatial)`` (no copy)."""
    return r.swapaxes(0, 1)


def phase_task_sizes(geom: Geometry) -> list[tuple[int, int]]:
    """``(taps, positions)`` of every N-d phase: how many taps meet it and how many big positions it has."""
    sizes = []
    for combo in phase_combos(geom):
        sizes.append((prod(len(a.taps) for a in combo), prod(a.length for a in combo)))
    return sizes


#: Workspace allowed per batch chunk: this fraction of the call's input + output bytes (at least the floor).
WORKSPACE_FRACTION = 1.0
WORKSPACE_FLOOR = 16 << 20


def io_bytes(geom: Geometry, itemsize: int) -> int:
    """Bytes of a call's input + output (the yardstick of the workspace budgets)."""
    return geom.batch * (geom.in_channels * prod(geom.input_shape)
                         + geom.out_channels * prod(geom.output_shape)) * itemsize


def batch_chunks(geom: Geometry, per_image_bytes: int, itemsize: int) -> list[tuple[int, int]]:
    """Split the batch so each chunk's workspace stays within the budget (keeps peak memory near in + out).

    >>> from tconv.params import conv_transpose_geometry
    >>> g = conv_transpose_geometry(np.zeros((10, 1, 4)), np.zeros((1, 1, 2)))
    >>> batch_chunks(g, per_image_bytes=1 << 30, itemsize=8)[:2]
    [(0, 1), (1, 2)]
    """
    n = geom.batch
    budget = max(WORKSPACE_FLOOR, int(WORKSPACE_FRACTION * io_bytes(geom, itemsize)))
    per = max(1, budget // max(1, per_image_bytes))
    return [(a, min(n, a + per)) for a in range(0, n, per)]
