"""GEMM + col2im: one matrix product over channels for all taps, then a phase-wise col2im.

The transposed convolution multiplies every input position by the whole
kernel at once (channels last: ``(N * prod(in), C_in) @ (C_in, prod(k) * C_out)``,
the "column" matrix with one block per tap; channels first for fewer than
16 output channels per group, and with the compiled kernels also for input
rows of 32 positions or more).  The col2im step then works one output
phase at a time (see :mod:`.phasing`): the blocks of the taps that land on that
phase are summed into one small contiguous accumulator, which is written once
into the phase's strided view of the output.  The output itself is therefore
touched once, not once per tap.  With the compiled kernels
(:mod:`.gemm_loops`) the batch runs in chunks whose workspace stays within
the output's size; channels last, in cache-sized chunks,
one compiled col2im per chunk sums every output element's column blocks and
writes it straight into the channels-first output; an input with at least
256 positions per image is then read as a transposed matrix by the GEMM,
without a channels-last copy; a weight that outweighs the activations is
re-laid out in blocks of output channels.  The convolution runs the same in
reverse: an im2col gather of every tap's window, then one GEMM.  With the
compiled kernels the im2col is channels-first (rows: input channel and tap,
columns: the positions of a cache-sized chunk of images), so the GEMM reads
the weight in its own layout and writes the channels-first output directly
(one image per chunk) or in blocks of whole output rows; without them it is
``phase``'s channels-last im2col.

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

from .._layout import kernel_operand
from ..params import Geometry
from .._threads import run_chunks
from . import gemm_loops, packs, phase, window
from .jit import available
from .phasing import (AxisPhase, batch_chunks, io_bytes, pad_channels_first, phase_combos, prod,
                      too_many_phases)
from .registry import Algorithm
from .weight_grad_numpy import numpy_weight_grad, numpy_weight_grad_bytes, result_bytes


#: Batch chunks with the compiled col2im: about this many column bytes (they stay in the cache between the
#: GEMM and the col2im), but at least this many GEMM rows (input positions) so the GEMM keeps its speed.
CACHE_CHUNK_BYTES = 4 << 20
MIN_GEMM_ROWS = 1024
MIN_CONV_COLUMNS = 256
#: The compiled transposed path keeps its workspace within this share of the output (issue 15: extra memory
#: at most the output), but allows at least LEAN_FLOOR_BYTES whatever the output.
LEAN_OUTPUT_SHARE = 0.9
LEAN_FLOOR_BYTES = 1 << 20


#: From this many input positions per image, the GEMM reads the channels-first input as a transposed matrix
#: (one GEMM per image) instead of re-laying it out channels-last first: with long rows BLAS reads the
#: transposed operand at full speed and the copy is saved; with short ones the per-image GEMMs are too thin.
TRANSPOSED_GEMM_FROM = 256

#: Below this many output channels per group the col2im runs channels-first (whole planes per tap).
_CHANNELS_LAST_MIN = 16
#: From this many input positions along the last dim, the compiled col2im runs channels-first whatever the
#: channels (the channels-last one then loses to the transposed write of long rows; see bench/RESULTS.md).
PLANES_FROM_WIDTH = 32

#: The compiled path re-lays out the weight in blocks of output channels of at most this many bytes, or a
#: quarter of the call's input + output bytes if more (see :func:`_channel_block`).
WEIGHT_BLOCK_BYTES = 1 << 20
_LANES = gemm_loops.LANES


def _tap_span(a_shift: int, length: int, n_small: int) -> tuple[slice, slice] | None:
    """Phase positions ``q`` and small positions ``i = q - shift`` that are both in range."""
    q0, q1 = max(0, a_shift), min(length, n_small + a_shift)
    if q1 <= q0:
        return None
    return slice(q0, q1), slice(q0 - a_shift, q1 - a_shift)


def _accumulate(acc: np.ndarray, combo: tuple[AxisPhase, ...], geom: Geometry, lead: tuple, source) -> None:
    """``acc[lead] = sum over the phase's taps of the shifted column blocks``.

    ``lead`` indexes the leading (channel / batch) axes of ``acc`` before its phase axes;
    ``source(flat_tap, small_slices)`` returns the matching block of the column matrix.
    """
    first = True
    for tap in itertools.product(*(a.taps for a in combo)):
        spans = [_tap_span(sh, a.length, n) for (_, sh), a, n in zip(tap, combo, geom.input_shape)]
        if any(sp is None for sp in spans):
            continue
        flat = int(np.ravel_multi_index(tuple(t for t, _ in tap), geom.kernel_shape))
        dst = acc[lead + tuple(sp[0] for sp in spans)]
        src = source(flat, tuple(sp[1] for sp in spans))
        full = all(sp[0].stop - sp[0].start == a.length for sp, a in zip(spans, combo))
        if first and full:
            dst[...] = src
        else:
            if first:
                acc[lead] = 0
            dst += src
        first = False
    if first:
        acc[lead] = 0


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """One GEMM producing every tap's contribution, then a phase-wise col2im (batch in chunks, threads)."""
    g, ci = geom.groups, geom.in_channels // geom.groups
    co, taps = geom.out_channels // g, prod(geom.kernel_shape)
    y = np.empty((geom.batch, geom.out_channels) + geom.output_shape, dtype=x.dtype)
    if y.size == 0:
        return y
    if _compiled_path(geom):
        _ct_compiled(x, weight, geom, y)
        return y
    if available(x.dtype):  # few output channels, compiled
        _ct_planes(x, weight.reshape(g, ci, co * taps).transpose(0, 2, 1), geom, y)
        return y
    if co >= _CHANNELS_LAST_MIN:  # (g, ci, taps * co), re-laid out once for every chunk
        body = _ct_channels_last
        w = packs.packed(("gemm", 0, co), lambda: _channels_last_weight(weight, geom, 0, co))
    else:  # (g, co * taps, ci), a view
        body, w = _ct_channels_first, weight.reshape(g, ci, co * taps).transpose(0, 2, 1)
    per_image = (geom.in_channels * prod(geom.input_shape) * (1 + taps * co * g // geom.in_channels)
                 + geom.out_channels * prod(geom.output_shape)) * x.dtype.itemsize
    for n0, n1 in batch_chunks(geom, per_image, x.dtype.itemsize):
        body(x[n0:n1], w, geom if n1 - n0 == geom.batch else replace(geom, batch=n1 - n0), y[n0:n1])
    return y


def _channels_last_weight(weight: np.ndarray, geom: Geometry, c0: int, c1: int,
                          buffer: np.ndarray | None = None) -> np.ndarray:
    """Output channels ``c0:c1`` of every group's weight as ``(g, ci, taps * (c1 - c0))``, tap-major: a copy,
    into the front of the flat ``buffer`` if given."""
    g, taps = geom.groups, prod(geom.kernel_shape)
    ci, co = geom.in_channels // g, geom.out_channels // g
    block = weight.reshape((g, ci, co, taps))[:, :, c0:c1].swapaxes(2, 3)
    if buffer is None:
        return np.ascontiguousarray(block).reshape(g, ci, taps * (c1 - c0))
    out = buffer[:block.size].reshape(block.shape)
    np.copyto(out, block)
    return out.reshape(g, ci, taps * (c1 - c0))


def _ct_compiled(x: np.ndarray, weight: np.ndarray, geom: Geometry, y: np.ndarray) -> None:
    """Compiled channels-last path: per block of output channels, a GEMM and a compiled col2im per batch chunk.

    The weight is re-laid out once per call, one block of output channels at a time (see
    :func:`_channel_block`); an input with fewer than ``TRANSPOSED_GEMM_FROM`` positions per image is
    re-laid out channels-last, once for the whole batch when one chunk holds it, else chunk by chunk. The
    weight block, the chunk's input and its columns reuse one buffer each (see :func:`_compiled_chunk`).
    """
    g, n = geom.groups, geom.batch
    ci, co, taps = geom.in_channels // g, geom.out_channels // g, prod(geom.kernel_shape)
    p = prod(geom.input_shape)
    cb = _channel_block(geom, x.dtype.itemsize)
    per = _compiled_chunk(geom, x.dtype.itemsize, cb)
    relaid = p < TRANSPOSED_GEMM_FROM
    xt_buffer = np.empty(g * per * p * ci, dtype=x.dtype) if relaid else None
    w_buffer = None if packs.keeps() else np.empty(g * ci * taps * cb, dtype=x.dtype)  # kept: one per block
    cols_buffer = np.empty(g * per * p * taps * cb, dtype=x.dtype)
    whole = None  # one chunk: the input re-laid out once for every block of channels
    if relaid and per >= n:
        whole = _channels_last_chunk(x, 0, n, geom, xt_buffer)
    for c0 in range(0, co, cb):
        c1 = min(co, c0 + cb)
        w = packs.packed(("gemm", c0, c1), lambda: _channels_last_weight(weight, geom, c0, c1, w_buffer))
        width = w.shape[-1]
        for n0 in range(0, n, per):
            m = min(n, n0 + per) - n0
            cols = cols_buffer[:g * m * p * width]
            if not relaid:  # per image, the channels-first input read as a transposed matrix: no copy
                np.matmul(x[n0:n0 + m].reshape(m, g, ci, p).transpose(1, 0, 3, 2), w[:, None],
                          out=cols.reshape(g, m, p, width))
            else:
                xt = whole if whole is not None else _channels_last_chunk(x, n0, m, geom, xt_buffer)
                np.matmul(xt, w, out=cols.reshape(g, m * p, width))
            gemm_loops.col2im(y[n0:n0 + m], cols, geom, c0, c1)


def _channels_last_chunk(x: np.ndarray, n0: int, m: int, geom: Geometry, buffer: np.ndarray) -> np.ndarray:
    """Images ``n0:n0 + m`` of the channels-first ``x`` as ``(g, m * P, ci)`` in the front of ``buffer``."""
    g, ci, p = geom.groups, geom.in_channels // geom.groups, prod(geom.input_shape)
    out = phase.channels_last(x[n0:n0 + m], g, geom.input_shape, ((0, 0),) * geom.ndim, buffer)
    return out.reshape(g, m * p, ci)


def _ct_channels_last(x: np.ndarray, w: np.ndarray, geom: Geometry, y: np.ndarray) -> None:
    """Columns ``(g, N, *in, taps, co)``: every tap block's inner axis is the contiguous channels (NumPy)."""
    g, n = geom.groups, geom.batch
    ci, co, taps = geom.in_channels // g, geom.out_channels // g, prod(geom.kernel_shape)
    xt = phase.channels_last(x, g, geom.input_shape, ((0, 0),) * geom.ndim)  # (g, N, *in, ci)
    cols = np.matmul(xt.reshape(g, n * prod(geom.input_shape), ci), w)
    cols = cols.reshape((g, n) + geom.input_shape + (taps, co))
    for combo in phase_combos(geom):
        lengths = tuple(a.length for a in combo)
        view = y[(slice(None), slice(None)) + tuple(slice(a.phase, None, s) for a, s in zip(combo, geom.stride))]
        acc = np.empty((g, n) + lengths + (co,), dtype=x.dtype)

        def work(lo: int, hi: int, acc=acc, combo=combo, view=view) -> None:
            lead = (slice(None), slice(lo, hi))  # acc (g, N, *Q, co), cols (g, N, *in, taps, co)
            _accumulate(acc, combo, geom, lead, lambda flat, small: cols[lead + small + (flat,)])
            phase.write_channels_first(view[lo:hi], acc[:, lo:hi])

        run_chunks(n, work, min_chunk=1 if acc.size >= 1 << 15 else n)


def _ct_planes(x: np.ndarray, wt: np.ndarray, geom: Geometry, y: np.ndarray) -> None:
    """Few output channels, compiled: per chunk of images (:func:`_planes_chunk`) one GEMM per image and group
    straight from the channels-first input, columns ``(m, g*co, taps, *in)``, then the channels-first col2im;
    or, for short images (:func:`_wide_planes`), one GEMM over a chunk's images side by side per block of
    output channels."""
    wide = _wide_planes(geom, x.dtype.itemsize) if geom.batch > 1 else None  # (a small call's lookup saved)
    if wide is not None:
        _ct_planes_wide(x, wt[0], geom, y, *wide)
        return
    g, n = geom.groups, geom.batch
    ci, p, rows = geom.in_channels // g, prod(geom.input_shape), wt.shape[1]
    per = _planes_chunk(geom, x.dtype.itemsize)
    cols_buffer = np.empty(per * g * rows * p, dtype=x.dtype)
    for n0 in range(0, n, per):
        m = min(n, n0 + per) - n0
        cols = cols_buffer[:m * g * rows * p].reshape(m, g, rows, p)
        np.matmul(wt, x[n0:n0 + m].reshape(m, g, ci, p), out=cols)
        gemm_loops.col2im_planes(y[n0:n0 + m], cols, geom)


def _ct_planes_wide(x: np.ndarray, wt: np.ndarray, geom: Geometry, y: np.ndarray, per: int, block: int) -> None:
    """One group: per chunk of ``per`` images, their inputs side by side ``(ci, m * P)`` (a copy), then per
    block of ``block`` output channels one GEMM ``(block * taps, ci) @ (ci, m * P)`` and the col2im of its
    columns ``(block, taps, m, *in)``."""
    n, ci, co = geom.batch, geom.in_channels, geom.out_channels
    p, taps = prod(geom.input_shape), prod(geom.kernel_shape)
    inputs = np.empty(ci * per * p, dtype=x.dtype)
    cols_buffer = np.empty(block * taps * per * p, dtype=x.dtype)
    for n0 in range(0, n, per):
        m = min(n, n0 + per) - n0
        side = inputs[:ci * m * p].reshape(ci, m, p)
        np.copyto(side, x[n0:n0 + m].reshape(m, ci, p).transpose(1, 0, 2))
        for c0 in range(0, co, block):
            c1 = min(co, c0 + block)
            cols = cols_buffer[:(c1 - c0) * taps * m * p].reshape((c1 - c0) * taps, m * p)
            np.matmul(wt[c0 * taps:c1 * taps], side.reshape(ci, m * p), out=cols)
            gemm_loops.col2im_planes(y[n0:n0 + m], cols, geom, c0, c1, images_inner=True)


def _ct_channels_first(x: np.ndarray, wt: np.ndarray, geom: Geometry, y: np.ndarray) -> None:
    """Columns ``(g*co, taps, N, *in)`` (few output channels, NumPy)."""
    g, n = geom.groups, geom.batch
    ci, taps = geom.in_channels // g, prod(geom.kernel_shape)
    xt = pad_channels_first(x, geom, geom.in_channels, geom.input_shape, ((0, 0),) * geom.ndim)
    cols = np.matmul(wt, xt.reshape(g, ci, n * prod(geom.input_shape)))
    cols = cols.reshape((geom.out_channels, taps, n) + geom.input_shape)
    for combo in phase_combos(geom):
        lengths = tuple(a.length for a in combo)
        view = y[(slice(None), slice(None)) + tuple(slice(a.phase, None, s) for a, s in zip(combo, geom.stride))]
        acc = np.empty((geom.out_channels, n) + lengths, dtype=x.dtype)

        def work(lo: int, hi: int, acc=acc, combo=combo, view=view) -> None:
            rows = slice(lo, hi)  # acc (g*co, N, *Q), cols (g*co, taps, N, *in)
            _accumulate(acc, combo, geom, (rows, slice(None)),
                        lambda flat, small: cols[(rows, flat, slice(None)) + small])
            view[:, lo:hi] = acc[lo:hi].swapaxes(0, 1)

        run_chunks(geom.out_channels, work, min_chunk=1 if acc.size >= 1 << 15 else geom.out_channels)


#: From this many output positions per image, the convolution's GEMM runs per image of a chunk, straight into
#: the output (NumPy's stacked matmul), where one GEMM over the chunk needs a re-layout copy of its result
#: (faster on smaller images: bench/RESULTS.md).
PER_IMAGE_CONV_FROM = 1024


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """im2col + GEMM: with the compiled kernels channels-first (below), otherwise as ``phase``; no im2col
    where the one window is the whole input (:mod:`.window`)."""
    if window.whole_window(geom):
        return window.conv(x, weight, geom)
    if not available(x.dtype):
        return phase.conv(x, weight, geom)
    y = np.empty((geom.batch, geom.out_channels) + geom.output_shape, dtype=x.dtype)
    _run_columns(np.ascontiguousarray(x), geom, (_ConvProducts(y, weight, geom),))
    return y


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """The weight gradient, per chunk of images and group: ``small (cs, n*P) @ im2col(big)^T (n*P, cb*taps)``,
    summed (see :mod:`.weight_grad`); without the compiled kernels, or on operands of two dtypes, the NumPy
    gradient (:mod:`.weight_grad_numpy`).

    The im2col is the compiled channels-first gather of :func:`conv` (a cache-sized chunk of images at a
    time), so the workspace stays small whatever the batch.
    """
    if window.whole_window(geom):
        return window.weight_grad(small, big, geom)
    if not available(small.dtype) or small.dtype != big.dtype:
        return numpy_weight_grad(small, big, geom)
    view = geom.convolution()  # the conv big -> small
    grad = _WeightProducts(small, geom)
    _run_columns(kernel_operand(big, small.dtype), view, (grad,))
    return grad.result()


def weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`weight_grad` allocates, its result included: a chunk's columns, the chunk's small-side
    rows, one group's product and the sums (the one-window GEMM's where :func:`.window.whole_window`)."""
    if window.whole_window(geom):
        return window.weight_grad_bytes(geom, itemsize)
    if not available(np.dtype(f"f{itemsize}")):
        return numpy_weight_grad_bytes(geom, itemsize)
    view = geom.convolution()
    columns = view.in_channels // view.groups * prod(view.kernel_shape) * conv_chunk_positions(view, itemsize)
    return (columns * itemsize + _weight_products_bytes(view, itemsize)
            + result_bytes(geom, itemsize))


def conv_and_weight_grad(big: np.ndarray, weight: np.ndarray, small: np.ndarray,
                         geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """A transposed convolution's backward from one im2col: ``(conv(big, weight), weight_grad(small, big))``
    for ``geom`` the transposed convolution (``big`` its output gradient, ``small`` its input), each chunk's
    columns of ``big`` feeding both GEMMs (where :func:`conv` and :func:`weight_grad` gather them twice).
    Needs :func:`.jit.available` and operands of one dtype; not for a :func:`.window.whole_window` geometry.

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 3), (1, 1, 2), np.float64, stride=2)
    >>> gx, gw = conv_and_weight_grad(np.arange(6.).reshape(1, 1, 6), np.array([[[1., 2.]]]), np.ones((1, 1, 3)), g)
    >>> gx.tolist(), gw.tolist()
    ([[[2.0, 8.0, 14.0]]], [[[6.0, 9.0]]])
    """
    view = geom.convolution()
    y = np.empty((view.batch, view.out_channels) + view.output_shape, dtype=big.dtype)
    conv_products, grad = _ConvProducts(y, weight, view), _WeightProducts(small, geom)
    _run_columns(np.ascontiguousarray(big), view, (conv_products, grad))
    return y, grad.result()


def backward_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`conv_and_weight_grad` holds beyond its convolution's workspace (which counts a chunk's
    columns): the chunk's small-side rows, one group's product before it is added and the weight gradient's
    sums (found short by a traced test: it counted the sums alone, 2.75 MB reserved where a 1-d 256 -> 128
    channel layer held 4.79 MB)."""
    return _weight_products_bytes(geom.convolution(), itemsize) + result_bytes(geom, itemsize)


def _weight_products_bytes(view: Geometry, itemsize: int) -> int:
    """What :class:`_WeightProducts` holds besides the sums for the convolution ``view`` (big -> small): a
    chunk's small-side rows and one group's product before it is added."""
    cs = view.out_channels // view.groups
    rows = cs * conv_chunk_positions(view, itemsize)
    return (rows + cs * view.in_channels // view.groups * prod(view.kernel_shape)) * itemsize


class _ConvProducts:
    """The convolution's GEMM on each chunk's columns, into the channels-first output ``y``."""

    def __init__(self, y: np.ndarray, weight: np.ndarray, geom: Geometry) -> None:
        g, self.p = geom.groups, prod(geom.output_shape)
        self.co = geom.out_channels // g
        self.y3 = y.reshape(y.shape[0], geom.out_channels, self.p)
        self.w = weight.reshape(g, self.co, -1)  # the conv weight's own layout: rows (c, taps) as in the columns
        per = conv_chunk_images(geom, y.dtype.itemsize)
        self.result = np.empty(self.co * per * self.p, dtype=y.dtype) if per > 1 else None

    def __call__(self, n0: int, m: int, gi: int, cols: np.ndarray, p0: int, p1: int) -> None:
        co, p, out = self.co, self.p, self.y3[n0:n0 + m, gi * self.co:(gi + 1) * self.co, p0:p1]
        if m == 1 or p >= PER_IMAGE_CONV_FROM:  # straight into the images' channels-first outputs
            np.matmul(self.w[gi], cols.reshape(cols.shape[0], m, p1 - p0).transpose(1, 0, 2), out=out)
            return
        r = self.result[:co * m * p].reshape(co, m * p)
        np.matmul(self.w[gi], cols, out=r)
        out[...] = r.reshape(co, m, p).swapaxes(0, 1)


class _WeightProducts:
    """The weight gradient's GEMM on each chunk's columns of the big side, summed over the chunks."""

    def __init__(self, small: np.ndarray, geom: Geometry) -> None:
        g, self.cs, self.p = geom.groups, small.shape[1] // geom.groups, prod(geom.small_shape)
        self.small, self.g, self.geom = small, g, geom
        self.dw = np.zeros((g, self.cs, (geom.big_channels // g) * prod(geom.kernel_shape)), dtype=small.dtype)

    def __call__(self, n0: int, m: int, gi: int, cols: np.ndarray, p0: int, p1: int) -> None:
        cs, p = self.cs, self.p
        rows = self.small[n0:n0 + m, gi * cs:(gi + 1) * cs].reshape(m, cs, p)[:, :, p0:p1]
        rows = rows.transpose(1, 0, 2).reshape(cs, m * (p1 - p0))
        self.dw[gi] += rows @ cols.T

    def result(self) -> np.ndarray:
        return self.dw.reshape((self.g * self.cs, self.geom.big_channels // self.g) + self.geom.kernel_shape)


def _run_columns(x: np.ndarray, geom: Geometry, consumers) -> None:
    """The compiled im2col of the channels-first ``x`` for the convolution ``geom``, per chunk of images
    (:func:`conv_chunk_images`) and group, or per image, slab of output rows (:func:`conv_slabs`) and group,
    each chunk's columns ``(ci * taps, m * positions)`` handed to every consumer as
    ``consumer(n0, m, group, cols, p0, p1)`` (images ``n0:n0+m``, output positions ``p0:p1`` of each) before
    the buffer is reused."""
    g, n = geom.groups, geom.batch
    ci, taps = geom.in_channels // g, prod(geom.kernel_shape)
    if n == 0:
        return
    tables, last, outer = gemm_loops.conv_tap_rows(geom), geom.output_shape[-1], prod(geom.output_shape[:-1])
    slabs, per = conv_slabs(geom, x.dtype.itemsize), conv_chunk_images(geom, x.dtype.itemsize)
    chunks = ([(image, 1, j0, j1) for image in range(n) for j0, j1 in slabs] if slabs
              else [(n0, min(per, n - n0), 0, outer) for n0 in range(0, n, per)])
    cols_buffer = np.empty(ci * taps * conv_chunk_positions(geom, x.dtype.itemsize), dtype=x.dtype)
    for n0, m, j0, j1 in chunks:
        p0, p1 = j0 * last, j1 * last
        cols = cols_buffer[:ci * taps * m * (p1 - p0)].reshape(ci * taps, m * (p1 - p0))
        for gi in range(g):
            gemm_loops.im2col_planes(cols, x, geom, tables, n0, m, gi * ci, (gi + 1) * ci, (j0, j1))
            for consume in consumers:
                consume(n0, m, gi, cols, p0, p1)


#: One image's columns run in slabs of output rows (:func:`conv_slabs`) above this many bytes, or above
#: both CACHE_CHUNK_BYTES and the image's output bytes (so the columns held stay within the output: issue 15
#: goal 4)
SLAB_FROM_BYTES = 16 << 20


@functools.lru_cache(maxsize=256)
def conv_slabs(geom: Geometry, itemsize: int) -> tuple[tuple[int, int], ...]:
    """Where one image's columns are large (``SLAB_FROM_BYTES``; a convolution of two or more dims, a chunk
    of one image): slabs of whole rows of dim 0's outputs with at most ``CACHE_CHUNK_BYTES`` of columns each
    and at most the image's output bytes (but at least ``MIN_CONV_COLUMNS`` positions), as ranges ``(j0, j1)``
    of outer output indices (all dims but the last, flattened).  Empty where whole images run
    (:func:`conv_chunk_images`).

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(False, (1, 1, 6, 5, 256), (1, 1, 3, 3, 3), np.float32, padding=1)
    >>> conv_slabs(g, 1 << 20)  # as if each item were 1 MiB: one row of dim 0's outputs per slab
    ((0, 5), (5, 10), (10, 15), (15, 20), (20, 25), (25, 30))
    """
    out, ci = geom.output_shape, geom.in_channels // geom.groups
    inner = prod(out[1:])
    per_row = ci * prod(geom.kernel_shape) * inner * itemsize
    image_out = geom.out_channels * prod(out) * itemsize
    if (geom.ndim < 2 or per_row * out[0] <= min(SLAB_FROM_BYTES, max(CACHE_CHUNK_BYTES, image_out))
            or conv_chunk_images(geom, itemsize) > 1):
        return ()
    size = min(CACHE_CHUNK_BYTES, image_out)
    rows, outer = max(1, -(-MIN_CONV_COLUMNS // inner), size // per_row), prod(out[1:-1])
    return tuple((o0 * outer, min(out[0], o0 + rows) * outer) for o0 in range(0, out[0], rows))


def conv_chunk_positions(geom: Geometry, itemsize: int) -> int:
    """Output positions in the largest chunk of the compiled conv's columns: a slab's (:func:`conv_slabs`)
    or a chunk of images' (:func:`conv_chunk_images`)."""
    slabs = conv_slabs(geom, itemsize)
    if slabs:
        return max(j1 - j0 for j0, j1 in slabs) * geom.output_shape[-1]
    return conv_chunk_images(geom, itemsize) * prod(geom.output_shape)


@functools.lru_cache(maxsize=256)
def conv_chunk_images(geom: Geometry, itemsize: int) -> int:
    """Images per chunk of the compiled conv (and of the weight gradient's im2col): columns of about
    CACHE_CHUNK_BYTES, but at least ``MIN_CONV_COLUMNS`` GEMM columns, and within input + output bytes."""
    cols = geom.in_channels // geom.groups * prod(geom.kernel_shape) * prod(geom.output_shape) * itemsize
    return _images_per_chunk(geom, itemsize, cols, prod(geom.output_shape), MIN_CONV_COLUMNS)


def _images_per_chunk(geom: Geometry, itemsize: int, cols: int, positions: int, min_positions: int) -> int:
    """Images whose ``cols`` column bytes each fill about CACHE_CHUNK_BYTES, or that give the GEMM at least
    ``min_positions`` of their ``positions``; the latter floor yields to memory: a chunk's columns stay
    within the call's input + output bytes (or CACHE_CHUNK_BYTES), so the peak extra memory stays near
    twice input + output."""
    fast = max(CACHE_CHUNK_BYTES // max(1, cols), -(-min_positions // max(1, positions)))
    return max(1, min(geom.batch, fast, max(CACHE_CHUNK_BYTES, io_bytes(geom, itemsize)) // max(1, cols)))


def _channel_block(geom: Geometry, itemsize: int) -> int:
    """Output channels per group in one block of the compiled path's re-laid-out weight.

    All of them, unless that copy of the weight would exceed ``max(WEIGHT_BLOCK_BYTES, (input + output) /
    4)``: then the largest multiple of 16 (the col2im's lanes) that divides the channels and fits, or the
    largest multiple of 16 that fits (at least 16). Keeps the peak extra memory under twice input + output
    on layers whose weight outweighs their activations.
    """
    g, taps = geom.groups, prod(geom.kernel_shape)
    ci, co = geom.in_channels // g, geom.out_channels // g
    per_channel = max(1, g * ci * taps * itemsize)
    fits = max(WEIGHT_BLOCK_BYTES, io_bytes(geom, itemsize) // 4) // per_channel
    if fits >= co:
        return co
    divisors = [b for b in range(_LANES, fits + 1, _LANES) if co % b == 0]
    return divisors[-1] if divisors else min(co, max(_LANES, fits // _LANES * _LANES))


def _compiled_chunk(geom: Geometry, itemsize: int, block: int) -> int:
    """Images per batch chunk with the compiled col2im, for ``block`` output channels per group: the chunk's
    columns stay in the cache (see above), with at least ``MIN_GEMM_ROWS`` GEMM rows; and the workspace (the
    chunk's columns and re-laid-out input, the weight block) within ``LEAN_OUTPUT_SHARE`` of the output
    (or ``LEAN_FLOOR_BYTES``), so the call's extra memory stays within its output; balanced chunks."""
    positions = prod(geom.input_shape)
    cols = positions * prod(geom.kernel_shape) * geom.groups * block * itemsize
    per = _images_per_chunk(geom, itemsize, cols, positions, MIN_GEMM_ROWS)
    relaid = geom.in_channels * positions * itemsize if positions < TRANSPOSED_GEMM_FROM else 0
    weight = geom.in_channels * block * prod(geom.kernel_shape) * itemsize
    return _evened(geom.batch, max(1, min(per, _lean_room(geom, itemsize, weight) // (cols + relaid))))


@functools.lru_cache(maxsize=256)
def _planes_chunk(geom: Geometry, itemsize: int) -> int:
    """Images per batch chunk of the compiled channels-first path (few output channels): their columns within
    ``LEAN_OUTPUT_SHARE`` of the output (or ``LEAN_FLOOR_BYTES``), at least one image; balanced chunks."""
    cols = geom.out_channels * prod(geom.kernel_shape) * prod(geom.input_shape) * itemsize
    return _evened(geom.batch, max(1, min(geom.batch, _lean_room(geom, itemsize) // max(1, cols))))


#: Below this many input positions per image, the channels-first path multiplies a chunk's images side by
#: side (one wider GEMM per block of output channels) where the blocks keep at least WIDE_MIN_ROWS rows.
WIDE_BELOW_POSITIONS = 256
WIDE_MIN_ROWS = 512


@functools.lru_cache(maxsize=256)
def _wide_planes(geom: Geometry, itemsize: int) -> tuple[int, int] | None:
    """(images per chunk, output channels per block) of :func:`_ct_planes_wide`, or None for one GEMM per image.

    Short images (fewer than ``WIDE_BELOW_POSITIONS`` positions) of one group and a batch: the chunk's inputs
    side by side take at most half of the lean workspace (:func:`_lean_room`), the columns of one block of
    output channels the rest, and a block must keep ``WIDE_MIN_ROWS`` GEMM rows (all channels if fewer).
    The per-image GEMMs are thin there (hifigan_up1: 4 x (4096 x 512 @ 512 x 128) at 145 GFLOP/s, against
    181-190 for one 512-column product; bench/RESULTS.md).
    """
    p, taps = prod(geom.input_shape), prod(geom.kernel_shape)
    if geom.groups != 1 or geom.batch < 2 or p >= WIDE_BELOW_POSITIONS:
        return None
    room = _lean_room(geom, itemsize)
    per = min(geom.batch, max(1, room // 2 // (geom.in_channels * p * itemsize)))
    if per < 2:
        return None
    per = _evened(geom.batch, per)
    block = min(geom.out_channels, (room - geom.in_channels * per * p * itemsize) // (taps * per * p * itemsize))
    if block * taps < min(WIDE_MIN_ROWS, geom.out_channels * taps):
        return None
    return per, _evened(geom.out_channels, block)


def _lean_room(geom: Geometry, itemsize: int, held: int = 0) -> int:
    """Workspace bytes the compiled transposed paths may give their batch chunks: ``LEAN_OUTPUT_SHARE`` of the
    output less ``held`` (bytes already taken, e.g. the weight block), or ``LEAN_FLOOR_BYTES`` if more."""
    output = geom.batch * geom.out_channels * prod(geom.output_shape) * itemsize
    return max(LEAN_FLOOR_BYTES, int(LEAN_OUTPUT_SHARE * output) - held)


def _evened(total: int, per: int) -> int:
    """Chunks of at most ``per`` out of ``total``, as many as needed and evened out.

    >>> _evened(64, 54), _evened(10, 3), _evened(0, 4)
    (32, 3, 4)
    """
    return -(-total // -(-total // per)) if total > 0 else per


def _compiled_path(geom: Geometry) -> bool:
    """Whether the transposed kernel takes the compiled channels-last path for ``geom``: many output channels
    per group and short input rows (from ``PLANES_FROM_WIDTH`` input positions along the last dim the
    channels-first columns and col2im win: contiguous runs of positions to add, no transposed write)."""
    work = np.promote_types(geom.dtype, np.float32)
    return (geom.out_channels // geom.groups >= _CHANNELS_LAST_MIN and geom.input_shape[-1] < PLANES_FROM_WIDTH
            and available(work))


def _col2im_table_bytes(geom: Geometry) -> int:
    """The compiled col2im's tap tables: per output row (all dims but the last) a count and an offset per tap
    reaching it, and the last dim's own; int64, then uint64 copies (counted twice over, for slack)."""
    reach = [-(-ke // s) for ke, s in zip(geom.effective_kernel, geom.stride)]
    return 8 * 4 * (prod(geom.output_shape[:-1]) * (1 + prod(reach[:-1])) + geom.output_shape[-1] * (1 + reach[-1]))


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """The column matrix, one re-laid-out copy of the input and of the weight, and the phase accumulators
    (compiled: one chunk's columns, one block of the re-laid-out weight, the channels-last input where the GEMM needs it; conv:
    one chunk's channels-first columns and GEMM result)."""
    taps = prod(geom.kernel_shape)
    cols = geom.batch * geom.big_channels * taps * prod(geom.small_shape)
    if not geom.transposed:
        if not available(np.promote_types(geom.dtype, np.float32)):
            return phase.workspace_bytes(geom, itemsize)
        per, positions = conv_chunk_images(geom, itemsize), conv_chunk_positions(geom, itemsize)
        cols = geom.in_channels // geom.groups * taps * positions
        return (cols + (geom.out_channels // geom.groups * positions if per > 1 else 0)) * itemsize
    if _compiled_path(geom):
        block = _channel_block(geom, itemsize)
        per = _compiled_chunk(geom, itemsize, block)
        cols = per * geom.groups * block * taps * prod(geom.input_shape)
        relaid = per * geom.in_channels * prod(geom.input_shape) if prod(geom.input_shape) < TRANSPOSED_GEMM_FROM else 0
        return (cols + relaid + geom.in_channels * block * taps) * itemsize + _col2im_table_bytes(geom)
    if available(np.promote_types(geom.dtype, np.float32)):  # compiled channels-first: one chunk's columns
        wide = _wide_planes(geom, itemsize)
        if wide is not None:  # the chunk's inputs side by side and one block's columns
            per, block = wide
            side = per * geom.in_channels * prod(geom.input_shape)
            return (side + per * block * taps * prod(geom.input_shape)) * itemsize + _col2im_table_bytes(geom)
        per = _planes_chunk(geom, itemsize)
        return per * geom.out_channels * taps * prod(geom.input_shape) * itemsize + _col2im_table_bytes(geom)
    # the input re-laid out, and the phase accumulators (the previous one, the current one and its copy)
    acc = geom.batch * geom.out_channels * prod(-(-m // s) for m, s in zip(geom.output_shape, geom.stride))
    copies = geom.batch * geom.in_channels * prod(geom.input_shape) + 3 * acc
    channels_last = geom.out_channels // geom.groups >= _CHANNELS_LAST_MIN
    weight = geom.in_channels * (geom.out_channels // geom.groups) * taps if channels_last else 0  # re-laid out
    return (cols + copies + weight) * itemsize


#: Cost model (bytes are weighted in passes over them, steps in Python-level loop steps):
#: the compiled col2im reads its columns back from the cache, cheaper than a pass over memory
CACHED_COLUMN_PASSES = 0.6
#: steps of the compiled transposed path besides those per batch chunk (and per chunk and group for conv)
COMPILED_STEPS = 8
STEPS_PER_CHUNK = 2
#: the compiled channels-first col2im: passes over the output, steps
PLANES_OUTPUT_PASSES = 1.5
PLANES_STEPS = 10
#: the NumPy col2im: passes over the columns and over the output, steps per phase and per (phase, tap)
COL2IM_COLUMN_PASSES = 2.5
COL2IM_OUTPUT_PASSES = 3
STEPS_PER_PHASE = 4
STEPS_PER_PHASE_TAP = 2
#: the compiled conv: steps besides those per chunk and group
CONV_STEPS = 4

def cost(geom: Geometry) -> float:
    """Transposed: one GEMM over all taps, then reading the columns phase by phase; conv: as ``phase``."""
    from .cost import constants, gemm_seconds, per_call_seconds
    from .phasing import geometry_task_counts

    work = np.promote_types(geom.dtype, np.float32)
    if not geom.transposed:
        return _conv_cost(geom, work) if available(work) else phase.cost(geom)
    c, isz = constants(work), np.dtype(work).itemsize
    g, n = geom.groups, geom.batch
    cs, cb, taps = geom.small_channels // g, geom.big_channels // g, prod(geom.kernel_shape)
    s = n * prod(geom.small_shape)
    cols = taps * cb * g * s * isz
    small = n * geom.small_channels * prod(geom.small_shape) * isz
    big = n * geom.big_channels * prod(geom.big_shape) * isz
    mm = gemm_seconds(cb * taps, s, cs, c, calls=g)
    if _compiled_path(geom):
        # compiled col2im: the columns read once from the cache, the output written once; no per-phase steps
        relayout = 0 if prod(geom.small_shape) >= TRANSPOSED_GEMM_FROM else 2 * small
        chunks = -(-cols // CACHE_CHUNK_BYTES)
        return (mm + (relayout + CACHED_COLUMN_PASSES * cols + big) * c.byte_seconds
                + (COMPILED_STEPS + STEPS_PER_CHUNK * chunks) * c.step_seconds + per_call_seconds(c))
    if available(work):  # few channels: the compiled channels-first col2im, columns read once
        return (mm + (2 * small + cols + PLANES_OUTPUT_PASSES * big) * c.byte_seconds + PLANES_STEPS * c.step_seconds
                + per_call_seconds(c))
    moved = 2 * small + COL2IM_COLUMN_PASSES * cols + COL2IM_OUTPUT_PASSES * big  # col2im: read + add passes
    steps = sum(count * (STEPS_PER_PHASE + STEPS_PER_PHASE_TAP * t)  # per-dim closed forms
                for (t, _), count in geometry_task_counts(geom))
    return mm + moved * c.byte_seconds + steps * c.step_seconds + per_call_seconds(c)


def _conv_cost(geom: Geometry, work: np.dtype) -> float:
    """The compiled conv: the columns written once (read back by the GEMM from the cache), one GEMM per
    chunk and group, the result re-laid out to channels-first when a chunk holds several images."""
    from .cost import constants, gemm_seconds, per_call_seconds

    c, isz = constants(work), np.dtype(work).itemsize
    g, n = geom.groups, geom.batch
    ci, co = geom.in_channels // g, geom.out_channels // g
    taps, p = prod(geom.kernel_shape), prod(geom.output_shape)
    per, slabs = conv_chunk_images(geom, isz), conv_slabs(geom, isz)
    chunks = n * len(slabs) if slabs else -(-n // per)
    out = n * geom.out_channels * p * isz
    moved = n * g * ci * taps * p * isz + n * geom.in_channels * prod(geom.input_shape) * isz + out * (2 if per > 1 else 1)
    rows = n * g * ci * taps * prod(geom.output_shape[:-1])  # the im2col's inner loops (over the last dim)
    if gemm_loops.space_to_depth(geom):  # one loop per input row deals all the last dim's taps
        rows //= geom.stride[-1]
    return (gemm_seconds(co, conv_chunk_positions(geom, isz), ci * taps, c, calls=g * chunks) + moved * c.byte_seconds
            + rows * gemm_loops.IM2COL_ROW_SECONDS + (CONV_STEPS + STEPS_PER_CHUNK * g * chunks) * c.step_seconds
            + per_call_seconds(c))


ALGORITHM = Algorithm(
    name="gemm",
    summary="one GEMM over channels for all taps, then a phase-wise col2im (im2col + GEMM for conv)",
    conv_transpose=conv_transpose,
    conv=conv,
    workspace_bytes=workspace_bytes,
    cost=cost,
    unsupported=too_many_phases,
    weight_grad=weight_grad,
    weight_grad_bytes=weight_grad_bytes,
)
