"""Depthwise path (groups == channels, one channel per group on both sides): element-wise, no GEMM.

Each channel is convolved with its own kernel, so there is nothing to
multiply over: every tap is a broadcast multiply-add.  The transposed
convolution works phase by phase (see :mod:`.phasing`): the taps of one phase
are summed into a small contiguous accumulator which is written once into
the phase's strided view of the output.  Work is split into blocks of
``(image, channel)`` rows that stay in cache, spread over the threads of
:mod:`tconv._threads`.  No Python loop over groups.  With the compiled kernels
(see :mod:`.jit`) both directions are one compiled loop over the rows
instead, with no temporary per tap; 2-D images from PLANES_FROM_POSITIONS run
on padded phase planes (:mod:`.depthwise_planes`), and so does the weight gradient.

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> x = np.array([[[1., 2]], [[3., 4]]]).reshape(1, 2, 2); k = np.array([[[1., 1]], [[1., -1]]])
>>> conv_transpose(x, k, conv_transpose_geometry(x, k, groups=2))[0]
array([[ 1.,  3.,  2.],
       [ 3.,  1., -4.]])
"""

from __future__ import annotations

import functools

import itertools

import numpy as np

from ..params import Geometry
from .._threads import num_threads, run_chunks
from . import depthwise_planes
from .jit import available, jit
from .gemm_loops import LANES
from .phasing import last_dim_phases, phase_combos, prod, small_padding, too_many_phases
from .registry import Algorithm
from .taps import combine_tables, conv_last_dim_ranges, tap_table
from .weight_grad_numpy import numpy_weight_grad, numpy_weight_grad_bytes, result_bytes

#: Rows per block: about this many bytes of output (the best of the sizes tried: smaller blocks pay more
#: Python steps per byte, larger ones fall out of the cache).
_BLOCK_BYTES = 1 << 20


def unsupported(geom: Geometry) -> str | None:
    """Anything but one channel per group on both sides, or more output phases than a phase-wise algorithm
    takes (:func:`.phasing.too_many_phases`); the reason reads after "does not support "."""
    if geom.in_channels != geom.groups or geom.out_channels != geom.groups:
        return (f"groups={geom.groups} with {geom.in_channels} input and {geom.out_channels} output channels "
                f"(it needs groups == in_channels == out_channels)")
    return too_many_phases(geom)


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
    if available(x.dtype) and n * c * prod(geom.output_shape):
        return _compiled(x, weight, geom)
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
    if available(x.dtype) and n * c * prod(out):
        return _compiled(x, weight, geom)
    y = np.empty((n * c,) + out, dtype=x.dtype)
    if y.size == 0:
        return y.reshape((n, c) + out)
    span = geom.full_shape  # the part of the padded input the outputs read
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
                win = tuple(slice(t * d, t * d + m * s, s) for t, d, m, s in zip(tap, geom.dilation, out, geom.stride))
                np.multiply(xb[(slice(None),) + win], w[(ch,) + tap][expand], out=acc if j == 0 else tmp)
                if j:
                    acc += tmp

    run_chunks(n * c, work, min_chunk=rows)
    return y.reshape((n, c) + out)


# ---------------------------------------------------------------------------
# the compiled rows (numba, see :mod:`.jit`): both directions, one loop over (image, channel) rows


@jit
def _depthwise_rows(y, x, w, channels, jcnt, jx, jw, lengths, ncount, taps, shifts, step, r0, r1):
    """Transposed depthwise: per row ``r`` (image, channel) and outer output index ``j``, every phase of the last dim.

    ``y (R, J, O)``, ``x (R, Jin, I)``, ``w (C, Kouter, K)``; phase ``p`` of the last dim has ``lengths[p]``
    positions ``o = q * step + p`` and meets the taps ``taps[p, :ncount[p]]`` at input ``q - shifts[p, m]``.
    Inner loops run on flat views with unsigned indices (see :mod:`.jit`).
    """
    nj, no, nin = y.shape[1], y.shape[2], x.shape[2]
    jin, kout, k = x.shape[1], w.shape[1], w.shape[2]
    yf, xf, wf = y.reshape(-1), x.reshape(-1), w.reshape(-1)
    acc = np.empty(no // step + 1, dtype=y.dtype)
    ustep = np.uint64(step)
    for r in range(r0, r1):
        c = r % channels
        for j in range(nj):
            ybase = np.uint64((r * nj + j) * no)
            for p in range(lengths.shape[0]):
                length = np.uint64(lengths[p])
                for q in range(length):
                    acc[q] = 0
                for u in range(jcnt[j]):
                    xrow = (r * jin + jx[j, u]) * nin
                    wrow = (c * kout + jw[j, u]) * k
                    for m in range(ncount[p]):
                        wv = wf[wrow + taps[p, m]]
                        sh = shifts[p, m]
                        q0, q1 = max(0, sh), min(lengths[p], nin + sh)
                        if q1 <= q0:
                            continue
                        src = np.uint64(xrow + q0 - sh)
                        dst = np.uint64(q0)
                        for q in range(np.uint64(q1 - q0)):
                            acc[dst + q] += wv * xf[src + q]
                up = np.uint64(p)
                for q in range(length):
                    yf[ybase + q * ustep + up] = acc[q]


@jit
def _depthwise_conv_rows(y, x, w, channels, jcnt, jx, jw, starts, q0, q1, step, r0, r1):
    """Depthwise convolution: ``y[r, j, q] = sum w[c, wi, t] * x[r, xi, q * step + starts[t]]`` over pairs and taps."""
    nj, no, nin = y.shape[1], y.shape[2], x.shape[2]
    jin, kout, k = x.shape[1], w.shape[1], w.shape[2]
    yf, xf, wf = y.reshape(-1), x.reshape(-1), w.reshape(-1)
    acc = np.empty(no, dtype=y.dtype)
    ustep = np.uint64(step)
    for r in range(r0, r1):
        c = r % channels
        for j in range(nj):
            for q in range(no):
                acc[q] = 0
            for u in range(jcnt[j]):
                xrow = (r * jin + jx[j, u]) * nin
                wrow = (c * kout + jw[j, u]) * k
                for t in range(starts.shape[0]):
                    if q1[t] <= q0[t]:
                        continue
                    wv = wf[wrow + t]
                    src = np.uint64(xrow + q0[t] * step + starts[t])
                    dst = np.uint64(q0[t])
                    for q in range(np.uint64(q1[t] - q0[t])):
                        acc[dst + q] += wv * xf[src + q * ustep]
            ybase = np.uint64((r * nj + j) * no)
            for q in range(np.uint64(no)):
                yf[ybase + q] = acc[q]


@jit
def _depthwise_weight_rows(dw, small, big, channels, images, jcnt, jx, jw, starts, q0, q1, step, c0, c1):
    """Depthwise weight gradient of the convolution big -> small (the pairs of :func:`_depthwise_conv_rows`):
    ``dw[c, wi, t] = sum small[r, j, q] * big[r, xi, q * step + starts[t]]`` over the images' rows
    ``r = n * channels + c``, the outer pairs and the outputs; channels ``c0:c1`` (a thread's own).  Each
    weight element sums in LANES independent partial sums (a fixed-width inner loop the compiler
    vectorises, where one running sum would keep it scalar), added up once per channel."""
    nj, no, nin = small.shape[1], small.shape[2], big.shape[2]
    jin, kout, k = big.shape[1], dw.shape[1], dw.shape[2]
    sf, bf, wf = small.reshape(-1), big.reshape(-1), dw.reshape(-1)
    ustep, lanes, zero = np.uint64(step), np.uint64(LANES), np.uint64(0)
    acc = np.empty((kout * k, LANES), dtype=dw.dtype)
    for c in range(c0, c1):
        acc[:, :] = 0
        for n in range(images):
            r = n * channels + c
            for j in range(nj):
                srow = np.uint64((r * nj + j) * no)
                for u in range(jcnt[j]):
                    xrow = (r * jin + jx[j, u]) * nin
                    wrow = jw[j, u] * k
                    for t in range(starts.shape[0]):
                        if q1[t] <= q0[t]:
                            continue
                        src = np.uint64(xrow + q0[t] * step + starts[t])
                        dst = srow + np.uint64(q0[t])
                        length = np.uint64(q1[t] - q0[t])
                        full = length - length % lanes
                        a = acc[wrow + t]
                        for b0 in range(zero, full, lanes):
                            for lane in range(lanes):
                                a[lane] += sf[dst + b0 + lane] * bf[src + (b0 + lane) * ustep]
                        for lane in range(length - full):
                            a[lane] += sf[dst + full + lane] * bf[src + (full + lane) * ustep]
        for i in range(kout * k):
            wf[c * kout * k + i] = acc[i].sum()


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """The depthwise weight gradient (one channel per group on both sides), compiled: per channel, the
    products of its small-side rows with the big side's tap windows, summed over the images; channels
    spread over the threads.  Needs :func:`.jit.available` and operands of one dtype; falls back to the
    NumPy gradient (:mod:`.weight_grad_numpy`) otherwise or for a geometry :func:`unsupported` refuses.

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 2, 2), (2, 1, 2), np.float64, groups=2)
    >>> weight_grad(np.ones((1, 2, 2)), np.arange(6.).reshape(1, 2, 3), g)[:, 0].tolist()
    [[1.0, 3.0], [7.0, 9.0]]
    """
    if unsupported(geom) or not available(small.dtype) or small.dtype != big.dtype:
        return numpy_weight_grad(small, big, geom)
    view = geom.convolution()  # big -> small
    n, c, k = small.shape[0], geom.groups, view.kernel_shape
    dw = np.empty((c, prod(k[:-1]), k[-1]), dtype=small.dtype)
    small, big = np.ascontiguousarray(small), np.ascontiguousarray(big)
    chunk = 1 if small.size >= 1 << 15 else c
    if n == 0:
        dw[...] = 0
    elif _planes(view):
        s2, b2 = small.reshape((n * c,) + view.output_shape), big.reshape((n * c,) + view.input_shape)
        w2 = dw.reshape((c,) + k)
        run_chunks(c, lambda lo, hi: depthwise_planes.weight_grad(w2, s2, b2, view, n, lo, hi), min_chunk=chunk)
    else:
        s3 = small.reshape(n * c, prod(view.output_shape[:-1]), view.output_shape[-1])
        b3 = big.reshape(n * c, prod(view.input_shape[:-1]), view.input_shape[-1])
        args = (dw, s3, b3, c, n) + _tables(view) + (view.stride[-1],)
        run_chunks(c, lambda lo, hi: _depthwise_weight_rows(*args, lo, hi), min_chunk=chunk)
    return dw.reshape((c, 1) + k)


def weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`weight_grad` allocates: its result (the compiled sums keep their rows on the stack), or the
    NumPy gradient's where it falls back."""
    if unsupported(geom) or not available(np.dtype(f"f{itemsize}")):
        return numpy_weight_grad_bytes(geom, itemsize)
    return result_bytes(geom, itemsize)


def _outer_pairs(geom, out_shape, in_shape, transposed: bool):
    """Merged tables of the outer dims: per outer output index, the (input outer index, tap outer index) pairs."""
    nd = len(out_shape)
    one = (np.ones(1, np.int64), np.zeros((1, 1), np.int64))
    tables_x, tables_w = one, one
    for d in range(nd - 1):
        in_step, tap_step = int(np.prod(in_shape[d + 1:-1])), int(np.prod(geom.kernel_shape[d + 1:-1]))
        k, s, dl, lo = geom.kernel_shape[d], geom.stride[d], geom.dilation[d], geom.before[d] if transposed else geom.padding[d][0]
        if transposed:
            tx = tap_table(out_shape[d], in_shape[d], k, s, dl, lo, in_step, 0)
            tw = tap_table(out_shape[d], in_shape[d], k, s, dl, lo, 0, tap_step)
        else:
            tx, tw = _conv_tap_table(out_shape[d], in_shape[d], k, s, dl, lo, in_step, tap_step)
        tables_x, tables_w = combine_tables(tables_x, tx), combine_tables(tables_w, tw)
    return tables_x[0].astype(np.int64), tables_x[1].astype(np.int64), tables_w[1].astype(np.int64)


def _conv_tap_table(n_out, n_in, kernel, stride, dilation, before, in_step, tap_step):
    """Convolution along one dim: per output ``o``, the taps with input ``o * stride + t * dilation - before`` in range."""
    i = np.arange(n_out, dtype=np.int64)[:, None] * stride + np.arange(kernel, dtype=np.int64)[None, :] * dilation - before
    ok = (i >= 0) & (i < n_in)
    order = np.argsort(~ok, axis=1, kind="stable")
    count = ok.sum(axis=1).astype(np.int64)
    taps = np.broadcast_to(np.arange(kernel, dtype=np.int64), i.shape)
    return ((count, np.take_along_axis(i * in_step, order, axis=1)),
            (count, np.take_along_axis(taps * tap_step, order, axis=1)))


@functools.lru_cache(maxsize=256)
def _tables(geom: Geometry) -> tuple[np.ndarray, ...]:
    """The index tables the compiled loops take besides the operands, once per geometry (the loops only
    read them; they stay writeable so that the loops keep one compiled signature)."""
    outer = _outer_pairs(geom, geom.output_shape, geom.input_shape, geom.transposed)
    return outer + (last_dim_phases(geom) if geom.transposed else conv_last_dim_ranges(geom))


def _compiled(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Depthwise (groups == channels) transposed convolution or convolution, compiled; returns ``(N, C, *out)``.

    Needs :func:`.jit.available`.
    """
    n, c = geom.batch, geom.in_channels
    out, inp, k = geom.output_shape, geom.input_shape, geom.kernel_shape
    y = np.empty((n * c, prod(out[:-1]), out[-1]), dtype=x.dtype)
    x3 = np.ascontiguousarray(x).reshape(n * c, prod(inp[:-1]), inp[-1])
    w3 = np.ascontiguousarray(weight).reshape(c, prod(k[:-1]), k[-1])
    chunk = 1 if y.size >= 1 << 15 else n * c
    if _planes(geom):
        y2, x2, w2 = y.reshape((n * c,) + out), x3.reshape((n * c,) + inp), w3.reshape((c,) + k)
        if geom.transposed:
            run_chunks(n * c, lambda lo, hi: depthwise_planes.conv_transpose(y2, x2, w2, geom, lo, hi),
                       min_chunk=chunk)
        else:  # by channels, each over the images
            run_chunks(c, lambda lo, hi: depthwise_planes.conv(y2, x2, w2, geom, n, lo, hi),
                       min_chunk=max(1, chunk // n))
        return y.reshape((n, c) + out)
    args = (y, x3, w3, c) + _tables(geom) + (geom.stride[-1],)
    kernel = _depthwise_rows if geom.transposed else _depthwise_conv_rows
    run_chunks(n * c, lambda lo, hi: kernel(*args, lo, hi), min_chunk=chunk)
    return y.reshape((n, c) + out)


#: From this many big-side positions per image, 2-D layers run on padded phase planes
#: (:mod:`.depthwise_planes`: a few long loops per image and channel); smaller images keep the row kernels.
PLANES_FROM_POSITIONS = 64


def _planes(geom: Geometry) -> bool:
    """Whether the 2-D phase-plane kernels run ``geom`` (a geometry :func:`unsupported` accepts)."""
    return geom.ndim == 2 and prod(geom.big_shape) >= PLANES_FROM_POSITIONS


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """Per thread: one padded block of input rows and two phase accumulators (a block never holds more
    than every row of the call, small side padded plus big side); in 2-D from PLANES_FROM_POSITIONS, each
    thread's phase planes (:func:`.depthwise_planes.workspace_bytes`) where they are larger."""
    row_small = prod(n + 2 * k for n, k in zip(geom.small_shape, geom.kernel_shape))
    all_rows = geom.batch * geom.groups * (row_small + prod(geom.big_shape)) * itemsize
    rows = 4 * min(_BLOCK_BYTES, all_rows) + 2 * row_small * itemsize
    if _planes(geom) and not unsupported(geom):
        return max(rows, num_threads() * depthwise_planes.workspace_bytes(geom, itemsize))
    return rows


#: Cost model: element passes per tap over the small side (multiply into a temporary, add), in elements
PASSES_PER_TAP = 3
#: the threads speed the memory-bound passes up by at most this factor (the memory bandwidth saturates)
MAX_THREAD_SPEEDUP = 2
#: Python-level steps per block and per phase or tap
STEPS_PER_BLOCK_ITEM = 3

def cost(geom: Geometry) -> float:
    """Element-wise passes over cache-resident blocks: a few passes per tap over the small side."""
    from .cost import constants, per_call_seconds

    work = np.promote_types(geom.dtype, np.float32)
    c, isz = constants(work), np.dtype(work).itemsize
    rows = geom.batch * geom.groups
    taps = prod(geom.kernel_shape)
    per_row = prod(geom.small_shape) if not geom.transposed else prod(geom.small_shape)
    blocks = -(-rows // _rows_per_block(prod(geom.big_shape if geom.transposed else geom.small_shape), isz)) if rows else 0
    phases = prod(min(s, n) for s, n in zip(geom.stride, geom.big_shape)) if geom.transposed else 1
    moved = PASSES_PER_TAP * taps * rows * per_row * isz + 2 * rows * prod(geom.big_shape) * isz
    threads = min(MAX_THREAD_SPEEDUP, num_threads())
    return (moved * c.byte_seconds / threads
            + blocks * (phases + taps) * STEPS_PER_BLOCK_ITEM * c.step_seconds / threads
            + per_call_seconds(c))


ALGORITHM = Algorithm(
    name="depthwise",
    summary="groups == channels: cache-blocked element-wise multiply-adds, phase by phase, threaded",
    conv_transpose=conv_transpose,
    conv=conv,
    workspace_bytes=workspace_bytes,
    cost=cost,
    unsupported=unsupported,
    weight_grad=weight_grad,
    weight_grad_bytes=weight_grad_bytes,
)
