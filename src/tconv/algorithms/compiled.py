"""Compiled kernels (numba, optional) for the data movement around the fast algorithms' GEMMs.

The fast algorithms spend much of their time outside their GEMMs: moving data
between the channels-first layout of the operator's arrays and the layouts
the GEMMs want, interleaving output phases, cropping borders and summing the
column blocks of a col2im.  NumPy does each of these as strided passes whose
speed collapses when the inner axes are short (unet_up4's
``(co, kh, kw, H, W) -> (co, H, kh, W, kw)`` transposition: 6.4 ms, against
0.9 ms here).  With the optional ``numba`` dependency (the ``fast`` extra)
they run as compiled loops:

- :func:`gather`: ``dst[a, b, j, o] = src[off_a + off_b + off_j + off_o]``, one
  offset array per destination axis (``-1``: the element is zero); re-layouts,
  interleaves and crops are all of this form (``nooverlap``, ``subpixel``);
- :func:`col2im` / :func:`col2im_planes`: the ``gemm`` col2im from channels-last
  or channels-first column blocks, each output element summed once and
  written once into the channels-first output;
- :func:`im2col_planes`: the channels-first im2col of ``gemm``'s convolution and of
  the weight gradient (rows: channel and tap, columns: output positions);
- :func:`depthwise`: the depthwise transposed convolution and convolution.

Index arithmetic in the loops is unsigned (numba, like NumPy, otherwise checks
every signed index for wraparound, which keeps the loops from vectorising).
Without numba, or with ``TCONV_NUMBA=0``, :func:`available` is false and the
algorithms keep their NumPy paths, with the same results.

>>> import numpy as np
>>> src = np.arange(6.0)                      # a (3, 2) array, gathered transposed
>>> dst = np.empty((1, 2, 1, 3))
>>> offsets = [np.array([0]), np.array([0, 1]), np.array([0]), np.array([0, 2, 4])]
>>> gather(dst, src, offsets)
>>> dst[0, :, 0]
array([[0., 2., 4.],
       [1., 3., 5.]])
>>> gather(dst, src, [np.array([0]), np.array([0, -1]), np.array([0]), np.array([0, 2, 4])])
>>> dst[0, :, 0]                              # -1: zeros
array([[0., 2., 4.],
       [0., 0., 0.]])
"""

from __future__ import annotations

import functools
import os

import numpy as np

from ..threads import num_threads, run_chunks

ENV_NUMBA = "TCONV_NUMBA"
#: dtypes the compiled kernels are built for; others use the NumPy paths.
COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@functools.lru_cache(maxsize=None)
def _numba():
    """The numba module, or None when it is not installed or ``TCONV_NUMBA=0``."""
    if os.environ.get(ENV_NUMBA, "1").strip() in ("0", "false", "no", "off"):
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


def available(dtype=np.float32) -> bool:
    """Whether the compiled kernels run for arrays of ``dtype`` (numba installed and not switched off).

    >>> isinstance(available(), bool)
    True
    """
    return _numba() is not None and np.dtype(dtype) in COMPILED_DTYPES


def jit(fn):
    """Compile ``fn`` with numba on first use (cached on disk, GIL released); needs :func:`available`."""
    compiled = None

    @functools.wraps(fn)
    def call(*args):
        nonlocal compiled
        if compiled is None:
            compiled = _numba().njit(nogil=True, cache=True, boundscheck=False)(fn)
        return compiled(*args)

    return call


#: "No source element" in the unsigned offset arrays of the kernels (-1 before the cast).
_NONE = np.uint64(np.iinfo(np.uint64).max)


@jit
def _gather4(dst, src, oa, ob, oj, oo, a0, a1, b0, b1, block_b, block_o):
    """``dst[a, b, j, o] = src[oa[a] + ob[b] + oj[j] + oo[o]]`` (0 where any offset is _NONE), a in [a0, a1), b in [b0, b1).

    Offsets are uint64, as in :func:`_col2im4`.
    """
    none = np.uint64(_NONE)
    zero = np.uint64(0)
    nj, no = np.uint64(dst.shape[2]), np.uint64(dst.shape[3])
    block_b, block_o = np.uint64(block_b), np.uint64(block_o)
    for a in range(np.uint64(a0), np.uint64(a1)):
        fa = oa[a]
        for bs in range(np.uint64(b0), np.uint64(b1), block_b):
            be = min(np.uint64(b1), bs + block_b)
            for j in range(zero, nj):
                fj = oj[j]
                for os_ in range(zero, no, block_o):
                    oe = min(no, os_ + block_o)
                    for b in range(bs, be):
                        fb = ob[b]
                        if fa == none or fb == none or fj == none:
                            for o in range(os_, oe):
                                dst[a, b, j, o] = 0
                            continue
                        base = fa + fb + fj
                        for o in range(os_, oe):
                            k = oo[o]
                            if k != none:
                                dst[a, b, j, o] = src[base + k]
                            else:
                                dst[a, b, j, o] = 0


def merge_offsets(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Offsets of two axes merged into one (row-major), ``-1`` wherever either is ``-1``."""
    both = first[:, None] + second[None, :]
    both[(first[:, None] < 0) | (second[None, :] < 0)] = -1
    return both.reshape(-1)


def gather(dst: np.ndarray, src: np.ndarray, offsets: list[np.ndarray], block: int = 32) -> None:
    """Fill ``dst`` (any strides, ndim >= 3) from the flat ``src`` by per-axis offsets (see the module docstring).

    ``block`` rows of axis 1 are done together (their source elements share
    cache lines when axis 1 is the source's innermost axis, e.g. channels);
    use 1 when axis 1 is not.  Needs :func:`available`.
    """
    src = src.reshape(-1)
    offs = [np.asarray(o, dtype=np.int64) for o in offsets]
    if dst.ndim == 3:
        dst, offs = dst[:, :, None, :], offs[:2] + [np.zeros(1, np.int64)] + offs[2:]
    while dst.ndim > 4:
        if 1 not in dst.shape[2:4] and dst.strides[2] != dst.strides[3] * dst.shape[3]:
            # a strided view whose axes 2 and 3 cannot merge: one call per index of axis 2
            for i, lead in enumerate(offs[2]):
                inner = np.where((offs[3] >= 0) & (lead >= 0), offs[3] + lead, -1)
                gather(dst[:, :, i], src, offs[:2] + [inner] + offs[4:], block)
            return
        dst = np.lib.stride_tricks.as_strided(
            dst, shape=dst.shape[:2] + (dst.shape[2] * dst.shape[3],) + dst.shape[4:],
            strides=dst.strides[:2] + (dst.strides[2] if dst.shape[3] == 1 else dst.strides[3],) + dst.strides[4:])
        offs = offs[:2] + [merge_offsets(offs[2], offs[3])] + offs[4:]
    if dst.size == 0:
        return
    offs = [o.astype(np.uint64) for o in offs]  # -1 becomes _NONE
    na, nb = dst.shape[:2]
    threads = num_threads() if dst.size >= 1 << 15 else 1  # small gathers stay on the calling thread
    block_o = 512
    if na >= threads:
        run_chunks(na, lambda lo, hi: _gather4(dst, src, *offs, lo, hi, 0, nb, block, block_o),
                   min_chunk=1 if threads > 1 else na)
    else:
        per = max(1, -(-nb // threads))
        run_chunks(-(-nb // per), lambda lo, hi: _gather4(dst, src, *offs, 0, na, lo * per, min(nb, hi * per),
                                                           block, block_o))


#: Channels are summed in runs of this many (one AVX-512 register of float32; a fixed trip count the
#: compiler turns into vector code: 2.6x faster than a loop over all channels, measured on dcgan_4).
LANES = 16


@jit
def _col2im4(y, cols, oa, co, y_co, c_base, groups, jcnt, joff, ocnt, ooff, a0, a1, j0, j1, tile):
    """``y[n, gi*y_co + c_base + c, j, o] = sum of cols[oa[n*groups + gi] + joff[j, u] + ooff[o, v] + c]``
    over the pairs (u, v), for the ``co`` channels of the columns (a block of the group's ``y_co``).

    Index arithmetic is unsigned (offset arrays are uint64): NumPy-style negative-index handling would
    otherwise sit in the inner loops (2.3x slower, measured).
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


@functools.lru_cache(maxsize=256)
def tap_table(n_out: int, n_in: int, kernel: int, stride: int, dilation: int, before: int,
              in_step: int, tap_step: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output index of one dim: how many taps reach it, and their offsets ``i * in_step + t * tap_step``.

    Tap ``t`` carries input ``i`` to output ``o = i * stride + t * dilation - before``.

    >>> cnt, off = tap_table(4, 2, kernel=2, stride=2, dilation=1, before=0, in_step=10, tap_step=1)
    >>> cnt.tolist(), off[:, 0].tolist()
    ([1, 1, 1, 1], [0, 1, 10, 11])
    """
    u = np.arange(n_out, dtype=np.int64)[:, None] + before - np.arange(kernel, dtype=np.int64)[None, :] * dilation
    i = u // stride
    ok = (u % stride == 0) & (i >= 0) & (i < n_in)
    offsets = i * in_step + np.arange(kernel, dtype=np.int64)[None, :] * tap_step
    count = ok.sum(axis=1)
    table = np.zeros((n_out, max(1, int(count.max()) if n_out else 1)), dtype=np.int64)
    order = np.argsort(~ok, axis=1, kind="stable")  # valid taps first
    packed = np.take_along_axis(offsets, order, axis=1)[:, :table.shape[1]]
    table[:, :packed.shape[1]] = packed
    count = count.astype(np.int64)
    count.flags.writeable = table.flags.writeable = False  # shared by every call with this geometry
    return count, table


def _combine(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]):
    """Tap tables of two dims merged into one (row-major): every pair of taps, offsets added."""
    (c1, t1), (c2, t2) = first, second
    count = (c1[:, None] * c2[None, :]).reshape(-1)
    m1, m2 = t1.shape[1], t2.shape[1]
    table = (t1[:, None, :, None] + t2[None, :, None, :]).reshape(len(c1) * len(c2), m1 * m2)
    valid = ((np.arange(m1)[None, None, :, None] < c1[:, None, None, None])
             & (np.arange(m2)[None, None, None, :] < c2[None, :, None, None])).reshape(len(c1) * len(c2), m1 * m2)
    order = np.argsort(~valid, axis=1, kind="stable")
    return count, np.take_along_axis(table, order, axis=1)


@functools.lru_cache(maxsize=64)
def _tap_tables(geom, in_steps: tuple, tap_steps: tuple, unsigned: bool = False):
    """Tap tables (:func:`tap_table`) of every dim but the last merged into one, then the last dim's own.

    Offsets are ``i * in_steps[d] + t * tap_steps[d]`` per dim; cached per geometry and layout.  With
    ``unsigned`` the arrays are uint64 for kernels with unsigned indexing (entries past a row's count may
    then be wrapped garbage; they are never read).
    """
    tables = [tap_table(*args) for args in zip(geom.output_shape, geom.input_shape, geom.kernel_shape, geom.stride,
                                               geom.dilation, geom.before, in_steps, tap_steps)]
    outer = (np.ones(1, np.int64), np.zeros((1, 1), np.int64))
    for table in tables[:-1]:
        outer = _combine(outer, table)
    merged = outer + tables[-1]
    return tuple(a.astype(np.uint64) for a in merged) if unsigned else merged


def col2im(y: np.ndarray, cols: np.ndarray, geom, c0: int = 0, c1: int | None = None) -> None:
    """Sum the channels-last column blocks ``cols (g, N, *in, *k, c1 - c0)`` into channels ``c0:c1`` of every
    group of the output ``y (N, g*co, *out)`` (all of them by default).

    Every output element is written once, from the taps that reach it (cropped
    taps are never read); needs :func:`available`.
    """
    g, n = geom.groups, y.shape[0]
    y_co = geom.out_channels // g
    c1 = y_co if c1 is None else c1
    co = c1 - c0
    cols = np.ascontiguousarray(cols).reshape(-1)
    nd, taps = geom.ndim, int(np.prod(geom.kernel_shape))
    in_steps = tuple(int(np.prod(geom.input_shape[d + 1:])) * taps * co for d in range(nd))
    tap_steps = tuple(int(np.prod(geom.kernel_shape[d + 1:])) * co for d in range(nd))
    tables = _tap_tables(geom, in_steps, tap_steps, unsigned=True)
    y4 = y.reshape((n, g * y_co, int(np.prod(geom.output_shape[:-1])), geom.output_shape[-1]))
    per_image = cols.size // max(1, n * g)
    oa = (np.arange(n, dtype=np.uint64)[:, None] * np.uint64(per_image)
          + np.arange(g, dtype=np.uint64)[None, :] * np.uint64(n * per_image)).reshape(-1)
    # One thread: it runs right after a GEMM whose BLAS threads are still spinning, and splitting it over
    # tconv's threads made the gemm layers of the suite 3-7% slower (stride1 10%, dilated 25%).
    tile = max(8, min(128, 8192 // co))  # output positions per accumulator tile: at most 32 KiB of float32
    _col2im4(y4, cols, oa, co, y_co, c0, g, *tables, 0, n * g, 0, y4.shape[2], tile)


@jit
def _depthwise_rows(y, x, w, channels, jcnt, jx, jw, lengths, ncount, taps, shifts, step, r0, r1):
    """Transposed depthwise: per row ``r`` (image, channel) and outer output index ``j``, every phase of the last dim.

    ``y (R, J, O)``, ``x (R, Jin, I)``, ``w (C, Kouter, K)``; phase ``p`` of the last dim has ``lengths[p]``
    positions ``o = q * step + p`` and meets the taps ``taps[p, :ncount[p]]`` at input ``q - shifts[p, m]``.
    Inner loops run on flat views with unsigned indices (see :func:`_col2im4`).
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
        tables_x, tables_w = _combine(tables_x, tx), _combine(tables_w, tw)
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


def _last_dim_phases(geom) -> tuple[np.ndarray, ...]:
    """The phases of the last dim as arrays: lengths, tap counts, taps and shifts (padded to the widest phase)."""
    from .phases import geometry_phases

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


def depthwise(x: np.ndarray, weight: np.ndarray, geom) -> np.ndarray:
    """Depthwise (groups == channels) transposed convolution or convolution, compiled; returns ``(N, C, *out)``.

    Needs :func:`available`.
    """
    n, c = geom.batch, geom.in_channels
    out, inp, k = geom.output_shape, geom.input_shape, geom.kernel_shape
    y = np.empty((n * c, int(np.prod(out[:-1])), out[-1]), dtype=x.dtype)
    x3 = np.ascontiguousarray(x).reshape(n * c, int(np.prod(inp[:-1])), inp[-1])
    w3 = np.ascontiguousarray(weight).reshape(c, int(np.prod(k[:-1])), k[-1])
    jcnt, jx, jw = _outer_pairs(geom, out, inp, geom.transposed)
    step = geom.stride[-1]
    if geom.transposed:
        args = (y, x3, w3, c, jcnt, jx, jw) + _last_dim_phases(geom) + (step,)
        kernel = _depthwise_rows
    else:
        starts = np.arange(k[-1], dtype=np.int64) * geom.dilation[-1] - geom.padding[-1][0]
        q = np.arange(out[-1], dtype=np.int64)[None, :] * step + starts[:, None]
        ok = (q >= 0) & (q < inp[-1])
        q0 = np.where(ok.any(axis=1), ok.argmax(axis=1), 0).astype(np.int64)
        q1 = np.where(ok.any(axis=1), out[-1] - ok[:, ::-1].argmax(axis=1), 0).astype(np.int64)
        args = (y, x3, w3, c, jcnt, jx, jw, starts, q0, q1, step)
        kernel = _depthwise_conv_rows
    run_chunks(n * c, lambda lo, hi: kernel(*args, lo, hi), min_chunk=1 if y.size >= 1 << 15 else n * c)
    return y.reshape((n, c) + out)


@jit
def _im2col_planes(cols, x, n0, nb, c0, c1, jin, starts, q0, q1, step, no):
    """Channels-first im2col: ``cols[(c - c0) * T + to * k + tl, n * J * no + j * no + q]``.

    Row ``(c, to, tl)`` (channel, outer tap, last-dim tap; ``T = jin.shape[1] * k`` taps), column
    ``(n, j, q)`` (image ``n0 + n``, outer output index, last-dim output index) holds the input at outer
    position ``jin[j, to]`` (-1: out of range, zero) and last-dim position ``q * step + starts[tl]``
    (in range for ``q0[tl] <= q < q1[tl]``, zero outside). ``x`` is ``(N, C, Jin, I)``; every element of
    ``cols`` is written. Unsigned indexing, as in :func:`_col2im4`.
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


def conv_tap_rows(geom) -> tuple[np.ndarray, ...]:
    """The tables of :func:`_im2col_planes` for a convolution: ``jin`` (outer output index x outer tap ->
    flat outer input position or -1), and per last-dim tap its start and valid output range."""
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
    starts = np.arange(k[-1], dtype=np.int64) * geom.dilation[-1] - geom.padding[-1][0]
    q = np.arange(out[-1], dtype=np.int64)[None, :] * geom.stride[-1] + starts[:, None]
    ok = (q >= 0) & (q < inp[-1])
    q0 = np.where(ok.any(axis=1), ok.argmax(axis=1), 0).astype(np.int64)
    q1 = np.where(ok.any(axis=1), out[-1] - ok[:, ::-1].argmax(axis=1), 0).astype(np.int64)
    return jin.astype(np.int64), starts, q0, q1


def im2col_planes(cols: np.ndarray, x: np.ndarray, geom, tables, n0: int, nb: int, c0: int, c1: int) -> None:
    """Fill ``cols (taps * (c1 - c0), nb * prod(out))`` from images ``n0:n0+nb``, channels ``c0:c1`` of the
    channels-first ``x`` (tables from :func:`conv_tap_rows`); needs :func:`available`."""
    x4 = x.reshape(x.shape[:2] + (int(np.prod(geom.input_shape[:-1])), geom.input_shape[-1]))
    _im2col_planes(cols, x4, n0, nb, c0, c1, *tables, geom.stride[-1], geom.output_shape[-1])


@jit
def _col2im_planes(y, cols, channels, n_step, c_step, t_step, nin, jcnt, joff, lengths, ncount, taps, shifts, step,
                   r0, r1):
    """Channels-first col2im: row ``r = n * C + c`` of ``y (R, J, O)`` sums shifted rows of the columns.

    Image ``n``, channel ``c`` and tap ``t`` start at ``n * n_step + c * c_step + t * t_step`` in ``cols``
    (each a block of contiguous input positions); the outer dims' (input, tap) pairs are in ``joff``; the
    last dim runs phase by phase as in :func:`_depthwise_rows` (contiguous reads and adds, one strided write).
    """
    nj, no = y.shape[1], y.shape[2]
    yf = y.reshape(-1)
    acc = np.empty(no // step + 1, dtype=y.dtype)
    ustep = np.uint64(step)
    for r in range(r0, r1):
        n, c = r // channels, r % channels
        base = n * n_step + c * c_step
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


def col2im_planes(y: np.ndarray, cols: np.ndarray, geom) -> None:
    """Sum the channels-first column blocks ``cols (N, g*co, *k, *in)`` into ``y (N, g*co, *out)``; needs :func:`available`.

    The layout of few output channels per group (one GEMM per image straight from the channels-first
    input), where channels-last blocks would be too short to vectorize.
    """
    n, channels = y.shape[0], y.shape[1]
    inp, out, k = geom.input_shape, geom.output_shape, geom.kernel_shape
    t_step = int(np.prod(inp))
    c_step = int(np.prod(k)) * t_step
    outer = _tap_tables(geom, tuple(int(np.prod(inp[d + 1:])) for d in range(geom.ndim)),
                        tuple(int(np.prod(k[d + 1:])) * t_step for d in range(geom.ndim)))[:2]
    y3 = y.reshape(n * channels, int(np.prod(out[:-1])), out[-1])
    # one thread, as for the channels-last col2im: it runs right after a GEMM
    _col2im_planes(y3, np.ascontiguousarray(cols).reshape(-1), channels, channels * c_step, c_step, t_step,
                   inp[-1], *outer, *_last_dim_phases(geom), geom.stride[-1], 0, n * channels)
