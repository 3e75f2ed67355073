"""No-overlap path: when no two taps ever meet, the operator is one GEMM plus a re-layout.

If along every dim the stride is at least the dilated kernel (U-Net's k2 s2)
or the small side has a single position (the 1x1-input DCGAN head), every big
position is reached by at most one ``(input position, tap)`` pair.  The
transposed convolution is then one GEMM over channels whose result, read as
``(N, C_out, in_0, tap_0, in_1, tap_1, ...)``, *is* the uncropped output;
only a crop (padding), zero gaps (stride larger than the kernel, dilation) or
trailing zeros (``output_padding``) need a further copy.  With the compiled
kernels (:mod:`.gather`) the interleave, the crop and the zeros are one
gather from the per-image GEMM result, where NumPy's transposition with short
inner axes is slow; where the taps' blocks tile the output exactly (stride ==
kernel, nothing cropped: U-Net's 2x2 up-convolutions) each output row is the
interleave of its last-dim taps' rows, read and written in order
(:func:`_interleave_taps`, no per-element offset lookup).  The convolution gathers the same blocks back
(a pure re-layout of the input) and runs one GEMM.

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> x = np.array([[[[1., 2]]]]); k = np.array([[[[1., 10]]]])
>>> conv_transpose(x, k, conv_transpose_geometry(x, k, stride=2))[0, 0]
array([[ 1., 10.,  2., 20.]])
"""

from __future__ import annotations

import functools

import numpy as np

from ..params import Geometry
from .._threads import parallel_copy, run_chunks
from .gather import gather
from .jit import available, jit
from .phasing import prod
from .registry import Algorithm
from . import window


#: From this many input positions per image the transposed GEMM runs per image on the channels-first input
#: (its result already channels-first); with fewer, the batch is folded into one GEMM.
PER_IMAGE_GEMM_FROM = 64


def _steps(geom: Geometry) -> tuple[int, ...]:
    """Per dim, the distance between the starts of consecutive input positions' tap blocks."""
    return tuple(s if n > 1 else ke for n, s, ke in zip(geom.small_shape, geom.stride, geom.effective_kernel))


def unsupported(geom: Geometry) -> str | None:
    """Taps overlap somewhere (stride smaller than the dilated kernel on a dim with more than one position)."""
    for dim, (n, s, ke) in enumerate(zip(geom.small_shape, geom.stride, geom.effective_kernel)):
        if n > 1 and s < ke:
            return (f"overlapping taps (stride {s} < dilated kernel {ke} in dim {dim}; it needs "
                    "stride >= the dilated kernel or a single small-side position)")
    return None


def _interleave_order(nd: int, lead: int) -> tuple[int, ...]:
    """Axes ``(lead..., small_0..small_{nd-1}, tap_0..tap_{nd-1})`` -> ``(lead..., small_0, tap_0, ...)``."""
    return tuple(range(lead)) + tuple(a for d in range(nd) for a in (lead + d, lead + nd + d))


def _full_window(geom: Geometry) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices pairing the big side (cropped/extended) with the uncropped block layout."""
    big, full = [], []
    for nb, n, st, lo in zip(geom.big_shape, geom.small_shape, _steps(geom), geom.before):
        f0, f1 = max(0, lo), min(n * st, lo + nb)
        big.append(slice(f0 - lo, max(f0, f1) - lo))
        full.append(slice(f0, max(f0, f1)))
    return tuple(big), tuple(full)


@functools.lru_cache(maxsize=256)
def _output_offsets(geom: Geometry, d: int, in_stride: int, tap_stride: int) -> np.ndarray:
    """Dim ``d``: per output index, ``i * in_stride + t * tap_stride`` of the one (input, tap) pair that reaches it, else -1."""
    step, k, dil = _steps(geom)[d], geom.kernel_shape[d], geom.dilation[d]
    u = np.arange(geom.output_shape[d], dtype=np.int64) + geom.before[d]
    i, rem = u // step, u % step
    ok = (u >= 0) & (i < geom.small_shape[d]) & (rem % dil == 0) & (rem // dil < k)
    return np.where(ok, i * in_stride + (rem // dil) * tap_stride, -1)


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """One GEMM over channels, then (at most) one re-layout copy and one crop copy."""
    g, n, nd = geom.groups, geom.batch, geom.ndim
    ci, co, taps = geom.in_channels // g, geom.out_channels // g, prod(geom.kernel_shape)
    p = prod(geom.input_shape)
    out_shape = (n, geom.out_channels) + geom.output_shape
    if n == 0:
        return np.zeros(out_shape, dtype=x.dtype)
    w = weight.reshape(g, ci, co * taps)
    if p >= PER_IMAGE_GEMM_FROM:  # per image: (co*taps, ci) @ (ci, P), result (N, g, co, *k, *in)
        r = np.matmul(w.transpose(0, 2, 1), x.reshape(n, g, ci, p))
        r = r.reshape((n, geom.out_channels) + geom.kernel_shape + geom.input_shape)
        if available(x.dtype) and _tiled(geom):  # the taps' blocks tile the output: an interleave of rows
            y = np.empty(out_shape, dtype=x.dtype)
            rows, k, per = _tap_rows(geom), geom.kernel_shape[-1], taps * p
            run_chunks(n * geom.out_channels,
                       lambda c0, c1: _interleave_taps(y, r, rows, k, geom.input_shape[-1], p, per, c0, c1),
                       min_chunk=max(1, INTERLEAVE_PIECE // per))
            return y
        if available(x.dtype):  # interleave, crop and zero-fill as one compiled gather
            y = np.empty(out_shape, dtype=x.dtype)
            offsets = [np.arange(n, dtype=np.int64) * (geom.out_channels * taps * p),
                       np.arange(geom.out_channels, dtype=np.int64) * (taps * p)]
            offsets += [_output_offsets(geom, d, prod(geom.input_shape[d + 1:]), prod(geom.kernel_shape[d + 1:]) * p)
                        for d in range(nd)]
            gather(y, r, offsets, block=1)
            return y
        order = (0, 1) + tuple(a for d in range(nd) for a in (2 + nd + d, 2 + d))
    else:  # fold the batch into the GEMM: (N*P, ci) @ (ci, co*taps), result (g, N, *in, co, *k)
        xt = x.reshape(n, g, ci, p).transpose(1, 0, 3, 2).reshape(g, n * p, ci)
        r = np.matmul(xt, w).reshape((g, n) + geom.input_shape + (co,) + geom.kernel_shape)
        order = (1, 0, 2 + nd) + tuple(a for d in range(nd) for a in (2 + d, 3 + nd + d))
        r = r.transpose(order).reshape((n, geom.out_channels) + tuple(a for d in range(nd) for a in (geom.input_shape[d], geom.kernel_shape[d])))
        order = tuple(range(2 + 2 * nd))
    steps = _steps(geom)
    gapless = all(st == k and d == 1 for st, k, d in zip(steps, geom.kernel_shape, geom.dilation))
    full_shape = tuple(m * st for m, st in zip(geom.input_shape, steps))
    blocks = r.transpose(order)  # (N, C, in_0, k_0, in_1, k_1, ...)
    if _tiled(geom):
        if blocks.flags.c_contiguous:  # e.g. a 1-position input: the GEMM result is the output
            return blocks.reshape(out_shape)
        y = np.empty(out_shape, dtype=x.dtype)
        parallel_copy(y.reshape(blocks.shape), blocks)
        return y
    if gapless:
        full = np.empty(blocks.shape, dtype=x.dtype)
        parallel_copy(full, blocks)
        full = full.reshape((n, geom.out_channels) + full_shape)
    else:
        full = np.zeros((n, geom.out_channels) + tuple(a for m, st in zip(geom.input_shape, steps) for a in (m, st)),
                        dtype=x.dtype)
        tap_slots = tuple(a for ke, d in zip(geom.effective_kernel, geom.dilation)
                          for a in (slice(None), slice(0, ke, d)))
        full[(slice(None), slice(None)) + tap_slots] = blocks
        full = full.reshape((n, geom.out_channels) + full_shape)
    big, src = _full_window(geom)
    y = np.zeros(out_shape, dtype=x.dtype)
    lead = (slice(None), slice(None))
    parallel_copy(y[lead + big], full[lead + src])
    return y


#: Elements of the GEMM result below which a piece of the interleave is not worth a thread
INTERLEAVE_PIECE = 1 << 16


def _tiled(geom: Geometry) -> bool:
    """Whether the taps' blocks tile the big side exactly: the blocks' step (:func:`_steps`) equals the kernel
    and dilation is 1 on every dim, nothing cropped or added (U-Net's 2x2 stride-2 up-convolutions); the GEMM
    result then needs only a re-layout."""
    steps = _steps(geom)
    return (all(st == k and d == 1 for st, k, d in zip(steps, geom.kernel_shape, geom.dilation))
            and all(lo == 0 for lo in geom.before)
            and geom.big_shape == tuple(m * st for m, st in zip(geom.small_shape, steps)))


@functools.lru_cache(maxsize=256)
def _tap_rows(geom: Geometry) -> np.ndarray:
    """Per output row (all dims but the last, row-major): where its first source row starts in one channel's
    block ``(*k, *in)`` of the GEMM result, ``t * k_last * P + i`` for its outer tap ``t`` and input row ``i``.

    >>> from tconv.params import geometry_from_shapes
    >>> _tap_rows(geometry_from_shapes(True, (1, 1, 2, 3), (1, 1, 2, 2), np.float32, stride=2)).tolist()
    [0, 12, 3, 15]
    """
    k, inp, p = geom.kernel_shape, geom.input_shape, prod(geom.input_shape)
    starts = np.zeros(1, dtype=np.int64)
    for d in range(geom.ndim - 1):
        o = np.arange(inp[d] * k[d])
        tap, i = o % k[d], o // k[d]
        starts = (starts[:, None] + (tap * prod(k[d + 1:]) * p + i * prod(inp[d + 1:]))[None, :]).reshape(-1)
    return starts


@jit
def _interleave_taps(y, r, rows, k, width, positions, per, c0, c1):
    """``y[c, R, w * k + t] = r[c, rows[R] + t * positions + w]`` for the (image, channel) blocks ``c0:c1``: each
    output row the interleave of its ``k`` last-dim taps' rows (``width`` inputs each) of the GEMM result
    ``r`` (``per`` elements per block), read and written in order."""
    yf, rf = y.reshape(-1), r.reshape(-1)
    uk, uw, up = np.uint64(k), np.uint64(width), np.uint64(positions)
    out_last = uk * uw
    per_out = np.uint64(rows.shape[0]) * out_last
    one, two = np.uint64(1), np.uint64(2)
    for c in range(np.uint64(c0), np.uint64(c1)):
        src0, dst0 = c * np.uint64(per), c * per_out
        for row in range(rows.shape[0]):
            src, dst = src0 + np.uint64(rows[row]), dst0 + np.uint64(row) * out_last
            if k == 2:  # the common 2x2 up-convolution: a fixed stride the compiler vectorises
                for w in range(uw):
                    yf[dst + two * w] = rf[src + w]
                    yf[dst + two * w + one] = rf[src + up + w]
                continue
            for t in range(uk):
                for w in range(uw):
                    yf[dst + w * uk + t] = rf[src + t * up + w]


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Re-lay the input into disjoint tap blocks (zeros where padded), then one GEMM (with no re-layout
    where the one window is the whole input: :mod:`.window`)."""
    if window.whole_window(geom):
        return window.conv(x, weight, geom)
    g, n, nd = geom.groups, geom.batch, geom.ndim
    ci, co = geom.in_channels // g, geom.out_channels // g
    out = geom.output_shape
    if n == 0:
        return np.zeros((0, geom.out_channels) + out, dtype=x.dtype)
    steps = _steps(geom)
    big, src = _full_window(geom)
    full = np.zeros((n, geom.in_channels) + tuple(m * st for m, st in zip(out, steps)), dtype=x.dtype)
    lead = (slice(None), slice(None))
    full[lead + src] = x[lead + big]
    full = full.reshape((n, g, ci) + tuple(a for m, st in zip(out, steps) for a in (m, st)))
    taps = tuple(a for ke, d in zip(geom.effective_kernel, geom.dilation) for a in (slice(None), slice(0, ke, d)))
    blocks = full[(slice(None),) * 3 + taps]  # (N, g, ci, out_0, k_0, out_1, k_1, ...)
    order = (1, 2) + tuple(4 + 2 * d for d in range(nd)) + (0,) + tuple(3 + 2 * d for d in range(nd))
    cols = np.ascontiguousarray(blocks.transpose(order))  # (g, ci, *k, N, *out)
    taps_n = prod(geom.kernel_shape)
    r = np.matmul(weight.reshape(g, co, ci * taps_n), cols.reshape(g, ci * taps_n, n * prod(out)))
    return np.ascontiguousarray(r.reshape((geom.out_channels, n) + out).swapaxes(0, 1))


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """The GEMM result (the uncropped output) plus, at most, one re-laid-out copy of it."""
    full = geom.batch * geom.big_channels * prod(m * st for m, st in zip(geom.small_shape, _steps(geom)))
    small = geom.batch * geom.small_channels * prod(geom.small_shape)
    return (2 * full + small) * itemsize


#: Cost model (bytes weighted in passes over the uncropped output): one copy where the GEMM result only
#: needs a re-layout, several (zero fill, re-layout, crop) otherwise, and the compiled gather's one read and
#: one write; Python-level steps per call
SIMPLE_PASSES = 2
RELAYOUT_PASSES = 5
GATHER_PASSES = 1.5
FIXED_STEPS = 10

def cost(geom: Geometry) -> float:
    """One GEMM, one or two re-layout copies of the big side."""
    from .cost import constants, gemm_seconds, per_call_seconds

    work = np.promote_types(geom.dtype, np.float32)
    c, isz = constants(work), np.dtype(work).itemsize
    g, n = geom.groups, geom.batch
    cs, cb, taps = geom.small_channels // g, geom.big_channels // g, prod(geom.kernel_shape)
    s = n * prod(geom.small_shape)
    full = n * geom.big_channels * prod(m * st for m, st in zip(geom.small_shape, _steps(geom)))
    simple = _tiled(geom)
    moved = (SIMPLE_PASSES if simple else RELAYOUT_PASSES) * full * isz + 2 * s * geom.small_channels * isz
    if geom.transposed and prod(geom.small_shape) >= PER_IMAGE_GEMM_FROM and available(work):
        moved = GATHER_PASSES * full * isz  # one compiled gather: the GEMM result read once, the output written once
    elif (geom.transposed and simple and g == 1 and prod(geom.small_shape) == 1) or (
            not geom.transposed and window.whole_window(geom)):
        moved = 0  # the GEMM result is the output (in a convolution: the input is the GEMM's operand)
    if geom.transposed:
        if prod(geom.small_shape) >= PER_IMAGE_GEMM_FROM:
            mm = gemm_seconds(cb * taps, s, cs, c, calls=g)
        else:
            mm = gemm_seconds(s, cb * taps, cs, c, calls=g)
    else:
        mm = gemm_seconds(cs, s, cb * taps, c, calls=g)
    return mm + moved * c.byte_seconds + FIXED_STEPS * c.step_seconds + per_call_seconds(c)


ALGORITHM = Algorithm(
    name="nooverlap",
    summary="stride >= dilated kernel (or 1-position input): one GEMM plus a re-layout",
    conv_transpose=conv_transpose,
    conv=conv,
    workspace_bytes=workspace_bytes,
    cost=cost,
    unsupported=unsupported,
)
