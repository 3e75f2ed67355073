"""The compiled loops of ``gemm``: the col2im after its transposed-convolution GEMM, the im2col before its
convolution GEMM (and the weight gradient's), and the tap tables that drive them.

- :func:`col2im` / :func:`col2im_planes`: sum the column blocks of every output element (channels-last
  or channels-first blocks) and write it once into the channels-first output; cropped taps are never read;
- :func:`im2col_planes`: the channels-first im2col (rows: channel and tap, columns: output positions of a
  chunk of images), so the GEMM reads the weight in its own layout.

All need :func:`.jit.available`; index arithmetic is unsigned (see :mod:`.jit`).

>>> from tconv.params import geometry_from_shapes
>>> count, offsets, last_count, last_offsets = tap_tables(
...     geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64, stride=2), (10,), (1,))
>>> last_count.tolist(), last_offsets[:, 0].tolist()
([1, 1, 1, 1], [0, 1, 10, 11])
"""

from __future__ import annotations

import functools

import numpy as np

from .jit import jit
from .phasing import last_dim_phases, prod
from .taps import combine_tables, conv_last_dim_ranges, tap_table


#: Fixed cost of one inner loop of the compiled im2col (one output row of one channel and tap): it
#: dominates where the output rows are short (1x1 outputs: one loop per output element).  The cost
#: model's figure for ``gemm``'s convolution and :mod:`.blockconv`'s space to depth.
IM2COL_ROW_SECONDS = 3e-9

#: Channels are summed in runs of this many (one AVX-512 register of float32): a fixed trip count the
#: compiler turns into vector code, where a loop over all channels stays scalar.
LANES = 16


@jit
def _col2im4(y, cols, oa, co, y_co, c_base, groups, jcnt, joff, ocnt, ooff, a0, a1, j0, j1, tile):
    """``y[n, gi*y_co + c_base + c, j, o] = sum of cols[oa[n*groups + gi] + joff[j, u] + ooff[o, v] + c]``
    over the pairs (u, v), for the ``co`` channels of the columns (a block of the group's ``y_co``).

    Index arithmetic is unsigned (offset arrays are uint64): NumPy-style negative-index handling would
    otherwise sit in the inner loops and keep them from vectorising.
    """
    zero, lanes = np.uint64(0), np.uint64(LANES)
    co, tile, groups = np.uint64(co), np.uint64(tile), np.uint64(groups)
    y_co, c_base = np.uint64(y_co), np.uint64(c_base)
    nc, nj, no = np.uint64(y.shape[1]), np.uint64(y.shape[2]), np.uint64(y.shape[3])
    yf = y.reshape(-1)
    acc = np.empty(tile * co, dtype=y.dtype)
    full = co - co % lanes
    for a in range(np.uint64(a0), np.uint64(a1)):
        n, gi = a // groups, a % groups
        fa = oa[a]
        for j in range(np.uint64(j0), np.uint64(j1)):
            nu = jcnt[j]
            for o0 in range(zero, no, tile):
                o1 = min(no, o0 + tile)
                for o in range(o0, o1):
                    r = (o - o0) * co
                    nv = ocnt[o]
                    if nu * nv == 0:
                        for c in range(co):
                            acc[r + c] = 0
                        continue
                    first = True
                    for u in range(nu):
                        fj = fa + joff[j, u]
                        for v in range(nv):
                            b = fj + ooff[o, v]
                            if first:  # the first pair is copied: no zeroing pass
                                for c in range(co):
                                    acc[r + c] = cols[b + c]
                                first = False
                                continue
                            for c0 in range(zero, full, lanes):
                                for c in range(lanes):
                                    acc[r + c0 + c] += cols[b + c0 + c]
                            for c in range(full, co):
                                acc[r + c] += cols[b + c]
                for c in range(co):
                    row = ((n * nc + gi * y_co + c_base + c) * nj + j) * no
                    for o in range(o0, o1):
                        yf[row + o] = acc[(o - o0) * co + c]


@functools.lru_cache(maxsize=64)
def tap_tables(geom, in_steps: tuple, tap_steps: tuple, unsigned: bool = False):
    """Tap tables (:func:`tap_table`) of every dim but the last merged into one, then the last dim's own.

    Offsets are ``i * in_steps[d] + t * tap_steps[d]`` per dim; cached per geometry and layout.  With
    ``unsigned`` the arrays are uint64 for kernels with unsigned indexing (entries past a row's count may
    then be wrapped garbage; they are never read).
    """
    tables = [tap_table(*args) for args in zip(geom.output_shape, geom.input_shape, geom.kernel_shape, geom.stride,
                                               geom.dilation, geom.before, in_steps, tap_steps)]
    outer = (np.ones(1, np.int64), np.zeros((1, 1), np.int64))
    for table in tables[:-1]:
        outer = combine_tables(outer, table)
    merged = outer + tables[-1]
    return tuple(a.astype(np.uint64) for a in merged) if unsigned else merged


def col2im(y: np.ndarray, cols: np.ndarray, geom, c0: int = 0, c1: int | None = None) -> None:
    """Sum the channels-last column blocks ``cols (g, N, *in, *k, c1 - c0)`` into channels ``c0:c1`` of every
    group of the output ``y (N, g*co, *out)`` (all of them by default).

    Every output element is written once, from the taps that reach it (cropped
    taps are never read); needs :func:`.jit.available`.
    """
    g, n = geom.groups, y.shape[0]
    y_co = geom.out_channels // g
    c1 = y_co if c1 is None else c1
    co = c1 - c0
    cols = np.ascontiguousarray(cols).reshape(-1)
    nd, taps = geom.ndim, prod(geom.kernel_shape)
    in_steps = tuple(prod(geom.input_shape[d + 1:]) * taps * co for d in range(nd))
    tap_steps = tuple(prod(geom.kernel_shape[d + 1:]) * co for d in range(nd))
    tables = tap_tables(geom, in_steps, tap_steps, unsigned=True)
    y4 = y.reshape((n, g * y_co, prod(geom.output_shape[:-1]), geom.output_shape[-1]))
    per_image = cols.size // max(1, n * g)
    oa = (np.arange(n, dtype=np.uint64)[:, None] * np.uint64(per_image)
          + np.arange(g, dtype=np.uint64)[None, :] * np.uint64(n * per_image)).reshape(-1)
    # One thread: it runs right after a GEMM whose BLAS threads are still spinning, and splitting it over
    # tconv's threads made the gemm layers slower, not faster.
    tile = max(8, min(128, 8192 // co))  # output positions per accumulator tile: at most 32 KiB of float32
    _col2im4(y4, cols, oa, co, y_co, c0, g, *tables, 0, n * g, 0, y4.shape[2], tile)


@jit
def _im2col_planes(cols, x, n0, nb, c0, c1, jin, starts, q0, q1, step, no):
    """Channels-first im2col: ``cols[(c - c0) * T + to * k + tl, n * J * no + j * no + q]``.

    Row ``(c, to, tl)`` (channel, outer tap, last-dim tap; ``T = jin.shape[1] * k`` taps), column
    ``(n, j, q)`` (image ``n0 + n``, outer output index, last-dim output index) holds the input at outer
    position ``jin[j, to]`` (-1: out of range, zero) and last-dim position ``q * step + starts[tl]``
    (in range for ``q0[tl] <= q < q1[tl]``, zero outside). ``x`` is ``(N, C, Jin, I)``; every element of
    ``cols`` is written. Unsigned indexing (see :mod:`.jit`).
    """
    nj, kout, k = jin.shape[0], jin.shape[1], starts.shape[0]
    channels, jn, ni = x.shape[1], x.shape[2], x.shape[3]
    cf, xf = cols.reshape(-1), x.reshape(-1)
    width = np.uint64(cols.shape[1])
    per_image = np.uint64(nj * no)
    ustep, uno = np.uint64(step), np.uint64(no)
    for c in range(c0, c1):
        for to in range(kout):
            for tl in range(k):
                row = np.uint64(((c - c0) * kout + to) * k + tl) * width
                a, b = np.uint64(q0[tl]), np.uint64(q1[tl])
                for n in range(nb):
                    plane = np.uint64(((n0 + n) * channels + c) * jn) * np.uint64(ni)
                    dst0 = row + np.uint64(n) * per_image
                    for j in range(nj):
                        dst = dst0 + np.uint64(j) * uno
                        src_row = jin[j, to]
                        if src_row < 0 or b <= a:
                            for q in range(uno):
                                cf[dst + q] = 0
                            continue
                        for q in range(a):
                            cf[dst + q] = 0
                        src = plane + np.uint64(src_row * ni + q0[tl] * step + starts[tl])
                        for q in range(b - a):
                            cf[dst + a + q] = xf[src + q * ustep]
                        for q in range(b, uno):
                            cf[dst + q] = 0


@functools.lru_cache(maxsize=256)
def conv_tap_rows(geom) -> tuple[np.ndarray, ...]:
    """The tables of :func:`_im2col_planes` for a convolution: ``jin`` (outer output index x outer tap ->
    flat outer input position or -1), and per last-dim tap its start and valid output range; once per geometry."""
    out, inp, k = geom.output_shape, geom.input_shape, geom.kernel_shape
    jin = np.zeros((1, 1), np.int64)
    for d in range(geom.ndim - 1):
        pos = (np.arange(out[d])[:, None] * geom.stride[d] + np.arange(k[d])[None, :] * geom.dilation[d]
               - geom.padding[d][0])
        ok = (pos >= 0) & (pos < inp[d])
        step = int(np.prod(inp[d + 1:-1]))
        both = jin[:, None, :, None] + np.where(ok, pos * step, 0)[None, :, None, :]
        valid = (jin[:, None, :, None] >= 0) & ok[None, :, None, :]
        jin = np.where(valid, both, -1).reshape(jin.shape[0] * out[d], jin.shape[1] * k[d])
    return (jin.astype(np.int64),) + conv_last_dim_ranges(geom)


@jit
def _im2col_stride2(cols, x, n0, nb, c0, c1, jin, starts, q0, q1, no):
    """:func:`_im2col_planes` for a last dim of stride 2 and 2, 3 or 4 adjacent taps (dilation 1): the taps
    of one input row are written together, so every load belongs to a stride-2 group whose members are all
    used (the compiler vectorises that with shuffles, where one tap per pass reads strided scalars).  Each
    tap's border outputs (its range ``q0:q1`` is narrower than the row) are written one tap at a time.
    """
    nj, kout, k = jin.shape[0], jin.shape[1], starts.shape[0]
    channels, jn, ni = x.shape[1], x.shape[2], x.shape[3]
    cf, xf = cols.reshape(-1), x.reshape(-1)
    width = np.uint64(cols.shape[1])
    per_image, uno = np.uint64(nj * no), np.uint64(no)
    qa, qb = np.uint64(q0.max()), np.uint64(q1.min())  # the outputs every tap reaches
    qb = max(qa, qb)
    borders = qa > 0 or qb < uno
    one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
    first = np.uint64(starts[0])
    for c in range(c0, c1):
        for to in range(kout):
            row0 = np.uint64(((c - c0) * kout + to) * k) * width
            for n in range(nb):
                plane = np.uint64(((n0 + n) * channels + c) * jn) * np.uint64(ni)
                dst0 = row0 + np.uint64(n) * per_image
                for j in range(nj):
                    dst = dst0 + np.uint64(j) * uno
                    src_row = jin[j, to]
                    if src_row < 0:
                        for tl in range(k):
                            d = dst + np.uint64(tl) * width
                            for q in range(uno):
                                cf[d + q] = 0
                        continue
                    base = plane + np.uint64(src_row * ni)
                    if borders:  # outside qa:qb a tap reads its own range q0:q1, zeros elsewhere
                        for tl in range(k):
                            d, st = dst + np.uint64(tl) * width, np.uint64(starts[tl])
                            a, b = np.uint64(q0[tl]), np.uint64(q1[tl])
                            for q in range(qa):
                                cf[d + q] = xf[base + q * two + st] if a <= q < b else 0
                            for q in range(qb, uno):
                                cf[d + q] = xf[base + q * two + st] if a <= q < b else 0
                    src, d = base + qa * two + first, dst + qa
                    d1, d2, d3 = d + width, d + two * width, d + three * width
                    if k == 2:
                        for q in range(qb - qa):
                            cf[d + q] = xf[src + two * q]
                            cf[d1 + q] = xf[src + two * q + one]
                    elif k == 3:
                        for q in range(qb - qa):
                            cf[d + q] = xf[src + two * q]
                            cf[d1 + q] = xf[src + two * q + one]
                            cf[d2 + q] = xf[src + two * q + two]
                    else:
                        for q in range(qb - qa):
                            cf[d + q] = xf[src + two * q]
                            cf[d1 + q] = xf[src + two * q + one]
                            cf[d2 + q] = xf[src + two * q + two]
                            cf[d3 + q] = xf[src + two * q + three]


#: From this many outputs along the last dim, a stride-2 im2col writes a row's taps together
#: (:func:`_im2col_stride2`); on shorter rows its per-row work outweighs the vector loads (bench/RESULTS.md).
STRIDE2_FROM_WIDTH = 32


def _stride2_rows(geom) -> bool:
    """Whether :func:`im2col_planes` takes :func:`_im2col_stride2` for this convolution."""
    return (geom.stride[-1] == 2 and geom.dilation[-1] == 1 and 2 <= geom.kernel_shape[-1] <= 4
            and geom.output_shape[-1] >= STRIDE2_FROM_WIDTH)


@jit
def _space_to_depth(cols, x, n0, nb, c0, c1, rows, r0, r1, j0, kout, s, nj, no):
    """:func:`_im2col_planes` where each input row feeds one outer tap and the last dim's taps tile it
    (:func:`space_to_depth`): input row ``r`` (of ``r0:r1``) of image ``n``, channel ``c`` is read once, in
    order, and dealt to its ``s`` last-dim taps' rows, at outer tap ``rows[r, 0]`` and outer output index
    ``rows[r, 1] - j0`` (skipped where ``rows[r, 0]`` is -1: a row between taps)."""
    channels, jn, ni = x.shape[1], x.shape[2], x.shape[3]
    cf, xf = cols.reshape(-1), x.reshape(-1)
    width, per_image, uno, us = np.uint64(cols.shape[1]), np.uint64(nj * no), np.uint64(no), np.uint64(s)
    one, two = np.uint64(1), np.uint64(2)
    for c in range(c0, c1):
        for n in range(nb):
            plane = np.uint64(((n0 + n) * channels + c) * jn) * np.uint64(ni)
            for r in range(r0, r1):
                to = rows[r, 0]
                if to < 0:
                    continue
                src = plane + np.uint64(r) * np.uint64(ni)
                dst = (np.uint64(((c - c0) * kout + to) * s) * width + np.uint64(n) * per_image
                       + np.uint64(rows[r, 1] - j0) * uno)
                if s == 2:  # the common 2x2 up/down-sampling: a fixed stride the compiler vectorises
                    dst1 = dst + width
                    for q in range(uno):
                        cf[dst + q] = xf[src + two * q]
                        cf[dst1 + q] = xf[src + two * q + one]
                    continue
                for tl in range(us):
                    d = dst + np.uint64(tl) * width
                    for q in range(uno):
                        cf[d + q] = xf[src + us * q + np.uint64(tl)]


def space_to_depth(geom) -> bool:
    """Whether :func:`im2col_planes` is a space to depth: no padding, every tap of every output inside the
    input (a block view of :mod:`.blockconv` may reach past it), no two taps on one input position (every
    dim's stride at least its dilated kernel) and the last dim's taps side by side (stride == kernel,
    dilation 1), as in U-Net's 2x2 stride-2 layers seen from the convolution side."""
    return (all(lo == 0 and hi == 0 for lo, hi in geom.padding)
            and all((o - 1) * s + ke <= i for o, s, ke, i in
                    zip(geom.output_shape, geom.stride, geom.effective_kernel, geom.input_shape))
            and all(s >= ke for s, ke in zip(geom.stride, geom.effective_kernel))
            and geom.stride[-1] == geom.kernel_shape[-1] and geom.dilation[-1] == 1)


@functools.lru_cache(maxsize=256)
def _space_to_depth_rows(geom) -> np.ndarray:
    """Per outer input row: the outer tap and outer output index that read it (-1, -1: none), the
    inverse of :func:`conv_tap_rows`'s ``jin`` (one reader per row under :func:`space_to_depth`)."""
    jin = conv_tap_rows(geom)[0]
    rows = np.full((prod(geom.input_shape[:-1]), 2), -1, dtype=np.int64)
    j, to = np.nonzero(jin >= 0)
    rows[jin[j, to]] = np.stack([to, j], axis=1)
    return rows


def im2col_planes(cols: np.ndarray, x: np.ndarray, geom, tables, n0: int, nb: int, c0: int, c1: int,
                  outer: tuple[int, int] | None = None) -> None:
    """Fill ``cols (taps * (c1 - c0), nb * prod(out))`` from images ``n0:n0+nb``, channels ``c0:c1`` of the
    channels-first ``x`` (tables from :func:`conv_tap_rows`); with ``outer = (j0, j1)`` (whole rows of dim
    0's outputs) only the outputs of outer output indices ``j0:j1``, ``cols`` holding ``(j1 - j0) * out[-1]``
    columns per image.  Needs :func:`.jit.available`."""
    x4 = x.reshape(x.shape[:2] + (prod(geom.input_shape[:-1]), geom.input_shape[-1]))
    j0, j1 = outer if outer is not None else (0, prod(geom.output_shape[:-1]))
    if space_to_depth(geom):  # one thread: split over the pool it measured no faster inside the calls
        r0, r1 = _space_to_depth_range(geom, j0, j1)
        _space_to_depth(cols, x4, n0, nb, c0, c1, _space_to_depth_rows(geom), r0, r1, j0,
                        prod(geom.kernel_shape[:-1]), geom.stride[-1], j1 - j0, geom.output_shape[-1])
        return
    tables = (tables[0][j0:j1],) + tuple(tables[1:])
    if _stride2_rows(geom):
        _im2col_stride2(cols, x4, n0, nb, c0, c1, *tables, geom.output_shape[-1])
        return
    _im2col_planes(cols, x4, n0, nb, c0, c1, *tables, geom.stride[-1], geom.output_shape[-1])


def _space_to_depth_range(geom, j0: int, j1: int) -> tuple[int, int]:
    """The outer input rows that outer output indices ``j0:j1`` (whole rows of dim 0's outputs) read under
    :func:`space_to_depth`."""
    outer_out, outer_in = prod(geom.output_shape[1:-1]), prod(geom.input_shape[1:-1])
    o0, o1 = j0 // outer_out, j1 // outer_out
    if geom.ndim < 2 or o1 <= o0:
        return 0, prod(geom.input_shape[:-1])
    end = min(geom.input_shape[0], (o1 - 1) * geom.stride[0] + geom.effective_kernel[0])
    return o0 * geom.stride[0] * outer_in, end * outer_in


@jit
def _col2im_planes(y, cols, channels, n_step, c_step, t_step, nin, jcnt, joff, lengths, ncount, taps, shifts, step,
                   images, c0, c1):
    """Channels-first col2im: row ``r = n * C + c`` of ``y (R, J, O)`` sums shifted rows of the columns, for
    the ``images`` first images and channels ``c0:c1``.

    Image ``n``, channel ``c`` and tap ``t`` start at ``n * n_step + (c - c0) * c_step + t * t_step`` in ``cols``
    (each a block of contiguous input positions); the outer dims' (input, tap) pairs are in ``joff``; the
    last dim runs phase by phase as in ``depthwise``'s compiled rows (contiguous reads and adds, one strided write).
    """
    nj, no = y.shape[1], y.shape[2]
    yf = y.reshape(-1)
    acc = np.empty(no // step + 1, dtype=y.dtype)
    ustep = np.uint64(step)
    for n in range(images):
        for c in range(c0, c1):
            r = n * channels + c
            base = n * n_step + (c - c0) * c_step
            for j in range(nj):
                ybase = np.uint64((r * nj + j) * no)
                for p in range(lengths.shape[0]):
                    length = lengths[p]
                    for q in range(length):
                        acc[q] = 0
                    for u in range(jcnt[j]):
                        bu = base + joff[j, u]
                        for m in range(ncount[p]):
                            sh = shifts[p, m]
                            q0, q1 = max(0, sh), min(length, nin + sh)
                            if q1 <= q0:
                                continue
                            src = np.uint64(bu + taps[p, m] * t_step + q0 - sh)
                            dst = np.uint64(q0)
                            for q in range(np.uint64(q1 - q0)):
                                acc[dst + q] += cols[src + q]
                    up = np.uint64(p)
                    for q in range(np.uint64(length)):
                        yf[ybase + q * ustep + up] = acc[q]


def col2im_planes(y: np.ndarray, cols: np.ndarray, geom, c0: int = 0, c1: int | None = None,
                  images_inner: bool = False) -> None:
    """Sum the channels-first column blocks ``cols (N, g*co, *k, *in)`` into ``y (N, g*co, *out)``; needs :func:`.jit.available`.

    The layout of few output channels per group (one GEMM per image straight from the channels-first
    input), where channels-last blocks would be too short to vectorize.  With ``c0:c1`` the columns hold
    only those output channels; with ``images_inner`` they are ``(c1 - c0, *k, N, *in)`` (one GEMM over
    the images' positions side by side).
    """
    n, channels = y.shape[0], y.shape[1]
    steps, rows, tables = _col2im_plane_tables(geom, channels, n if images_inner else 0)
    # one thread, as for the channels-last col2im: it runs right after a GEMM
    _col2im_planes(y.reshape((n * channels,) + rows), np.ascontiguousarray(cols).reshape(-1), channels, *steps,
                   geom.input_shape[-1], *tables, geom.stride[-1], n, c0, channels if c1 is None else c1)


@functools.lru_cache(maxsize=256)
def _col2im_plane_tables(geom, channels: int, images_inner: int) -> tuple:
    """:func:`col2im_planes`'s steps ``(n_step, c_step, t_step)`` in the columns, the output's row shape and its
    tables, once per geometry and layout: columns ``(N, channels, *k, *in)`` (``images_inner`` 0) or
    ``(channels, *k, images_inner, *in)``; a small call's lookup is all it pays."""
    inp, k = geom.input_shape, geom.kernel_shape
    positions = prod(inp)
    t_step = positions * images_inner if images_inner else positions  # a tap's block: one image's or all
    c_step = prod(k) * t_step
    steps = (positions if images_inner else channels * c_step, c_step, t_step)
    outer = tap_tables(geom, tuple(prod(inp[d + 1:]) for d in range(geom.ndim)),
                       tuple(prod(k[d + 1:]) * t_step for d in range(geom.ndim)))[:2]
    return steps, (prod(geom.output_shape[:-1]), geom.output_shape[-1]), outer + last_dim_phases(geom)
