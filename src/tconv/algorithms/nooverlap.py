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
(:func:`_interleave_taps`, no per-element offset lookup), one cache-sized slab of input rows at a time
(:func:`_tiled_slabs`: the GEMM result is never held whole).  The convolution gathers the same blocks back
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
    if _slab_path(geom, x.dtype):
        return _tiled_slabs(x, w.transpose(0, 2, 1), geom)
    if p >= PER_IMAGE_GEMM_FROM:  # per image: (co*taps, ci) @ (ci, P), result (N, g, co, *k, *in)
        r = np.matmul(w.transpose(0, 2, 1), x.reshape(n, g, ci, p))
        r = r.reshape((n, geom.out_channels) + geom.kernel_shape + geom.input_shape)
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


def _slab_path(geom: Geometry, dtype: np.dtype) -> bool:
    """Whether a transposed ``geom`` runs :func:`_tiled_slabs` on ``dtype`` operands."""
    return (geom.transposed and prod(geom.input_shape) >= PER_IMAGE_GEMM_FROM and available(dtype)
            and _tiled(geom))


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
def _slabs(geom: Geometry, itemsize: int) -> tuple[int, int, int]:
    """The tiled path's slabs: how many input positions along the slab dim (dim 0, or the only dim of a 1-d
    operator) one slab holds, how many images (several where one slab holds whole images), and the
    elements of a slab's GEMM result (the buffer :func:`_tiled_slabs` reuses)."""
    inner = prod(geom.input_shape[1:])
    per_position = geom.out_channels * prod(geom.kernel_shape) * inner
    slab = min(geom.input_shape[0], max(1, -(-SLAB_LEAST_POSITIONS // inner), SLAB_BYTES // (per_position * itemsize)))
    images = 1
    if slab == geom.input_shape[0]:
        images = max(1, min(geom.batch, SLAB_BYTES // (slab * per_position * itemsize)))
    return slab, images, images * slab * per_position


def _tiled_slabs(x: np.ndarray, wt: np.ndarray, geom: Geometry) -> np.ndarray:
    """The tiled transposed convolution slab by slab: per slab of input positions along dim 0 (a 1-d
    operator: along its one dim) and of images, the GEMM ``(g, co*taps, ci) @ (m, g, ci, slab)`` into one
    cache-sized buffer, then its rows interleaved into the output's slab (:func:`_interleave_taps`), so the
    GEMM result is never written to memory whole."""
    n, c, nd = geom.batch, geom.out_channels, geom.ndim
    g, ci = geom.groups, geom.in_channels // geom.groups
    taps, k = prod(geom.kernel_shape), geom.kernel_shape[-1]
    y = np.empty((n, c) + geom.output_shape, dtype=x.dtype)
    slab, images, elements = _slabs(geom, x.dtype.itemsize)
    along, inner = geom.input_shape[0], prod(geom.input_shape[1:])  # slab-dim positions; input positions per one
    out_inner = prod(geom.output_shape[1:]) * geom.kernel_shape[0]  # outputs per slab-dim position, per channel
    buffer = np.empty(elements, dtype=x.dtype)
    yf, per_out = y.reshape(-1), prod(geom.output_shape)
    xs = x.reshape(n, g, ci, along * inner)
    for start in range(0, along, slab):
        rows_in = min(slab, along - start)
        rows = _tap_rows(geom.kernel_shape, (rows_in,) + geom.input_shape[1:])
        width = geom.input_shape[-1] if nd > 1 else rows_in
        cols, per = rows_in * inner, taps * rows_in * inner
        for i0 in range(0, n, images):
            m = min(images, n - i0)
            r = buffer[:m * c * per].reshape(m, g, c // g * taps, cols)
            np.matmul(wt, xs[i0:i0 + m, :, :, start * inner:(start + rows_in) * inner], out=r)
            first = i0 * c * per_out + start * out_inner
            run_chunks(m * c, lambda c0, c1: _interleave_taps(yf, r, rows, k, width, cols, per, per_out, first, c0, c1),
                       min_chunk=max(1, INTERLEAVE_PIECE // per))
    return y


#: Bytes of GEMM result per slab of the tiled path (interleaved from the cache, not written to memory whole;
#: measured on nnunet3d_up: 1-2 MiB slabs lose to per-slab overhead, 8 MiB took 0.66-0.71 of the whole
#: result's time) and the fewest input positions a slab's GEMM gets (fewer columns lose BLAS speed)
SLAB_BYTES = 8 << 20
SLAB_LEAST_POSITIONS = 256


@functools.lru_cache(maxsize=256)
def _tap_rows(kernel: tuple[int, ...], inputs: tuple[int, ...]) -> np.ndarray:
    """Per output row (all dims but the last, row-major) of a block of ``inputs`` positions: where its first
    source row starts in one channel's block ``(*kernel, *inputs)`` of the GEMM result, ``t * k_last * P + i``
    for its outer tap ``t`` and input row ``i``.

    >>> _tap_rows((2, 2), (2, 3)).tolist()
    [0, 12, 3, 15]
    """
    k, inp, p = kernel, inputs, prod(inputs)
    starts = np.zeros(1, dtype=np.int64)
    for d in range(len(k) - 1):
        o = np.arange(inp[d] * k[d])
        tap, i = o % k[d], o // k[d]
        starts = (starts[:, None] + (tap * prod(k[d + 1:]) * p + i * prod(inp[d + 1:]))[None, :]).reshape(-1)
    return starts


@jit
def _interleave_taps(yf, rf, rows, k, width, positions, per, per_out, first, c0, c1):
    """``yf[first + c * per_out + R * k * width + w * k + t] = rf[c * per + rows[R] + t * positions + w]`` for
    the channels ``c0:c1`` of one GEMM result ``rf`` (``per`` elements per channel, ``positions`` per tap):
    each output row the interleave of its ``k`` last-dim taps' rows (``width`` inputs each), read and
    written in order, into the flat output ``yf`` (``per_out`` elements per channel, this block's first at
    ``first``)."""
    rf = rf.reshape(-1)
    uk, uw, up = np.uint64(k), np.uint64(width), np.uint64(positions)
    out_last = uk * uw
    one, two = np.uint64(1), np.uint64(2)
    for c in range(np.uint64(c0), np.uint64(c1)):
        src0, dst0 = c * np.uint64(per), np.uint64(first) + c * np.uint64(per_out)
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
    """The GEMM result (the uncropped output) plus, at most, one re-laid-out copy of it; on the compiled
    tiled path (:func:`_tiled_slabs`) one slab's GEMM result."""
    if _slab_path(geom, np.dtype(f"f{itemsize}")):
        return _slabs(geom, itemsize)[2] * itemsize
    full = geom.batch * geom.big_channels * prod(m * st for m, st in zip(geom.small_shape, _steps(geom)))
    small = geom.batch * geom.small_channels * prod(geom.small_shape)
    return (2 * full + small) * itemsize


#: Cost model (bytes weighted in passes over the uncropped output): one copy where the GEMM result only
#: needs a re-layout, several (zero fill, re-layout, crop) otherwise, and the compiled gather's one read and
#: one write, the tiled slabs' one write of the output; Python-level steps per call
SIMPLE_PASSES = 2
RELAYOUT_PASSES = 5
GATHER_PASSES = 1.5
SLAB_PASSES = 1
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
    if _slab_path(geom, work):
        moved = SLAB_PASSES * full * isz  # each slab's GEMM result interleaved from the cache
    elif geom.transposed and prod(geom.small_shape) >= PER_IMAGE_GEMM_FROM and available(work):
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
