"""The 2-D depthwise kernels on padded phase planes: every tap is one long multiply-add over a whole plane.

With one channel per group each tap is a scaled, shifted copy of an image plane.  Split by the stride,
a tap of a transposed convolution adds a shifted copy of the input into one output phase (the output
positions ``q * stride + phase``), and a tap of a convolution reads a shifted copy of one input phase.
Laid out in a plane of a fixed row pitch with zero borders, a 2-D shift is a flat offset, so a tap is one
multiply-add over the whole plane (the pitch's few extra columns computed and dropped): a few long loops
per image and channel, which the compiler vectorises, where the row kernels of :mod:`.depthwise` run one
short loop per output row, phase and tap.  The weight gradient takes the same planes as dot products.

All need :func:`.jit.available`; index arithmetic is unsigned (see :mod:`.jit`).

>>> from tconv.params import geometry_from_shapes
>>> g = geometry_from_shapes(True, (1, 1, 2, 2), (1, 1, 2, 2), np.float64, stride=2)
>>> y = np.empty((1, 4, 4))
>>> conv_transpose(y, np.arange(4.).reshape(1, 2, 2), np.ones((1, 2, 2)), g, 0, 1)
>>> y[0].tolist()[:2]
[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]
"""

from __future__ import annotations

import functools

import numpy as np

from ..params import Geometry
from .gemm_loops import LANES  # the weight gradient's partial sums per tap
from .jit import jit
from .phasing import axis_phases


@jit
def _ct_planes(y, x, w, channels, t0, s0, c0n, L0, ph0, t1, s1, c1n, L1, ph1, st0, st1, plo0, plo1, rows, pitch,
               r0, r1):
    """Transposed: ``y (R, Ho, Wo)``, ``x (R, Hi, Wi)``, ``w (C, K0, K1)``; per dim the output phases
    (lengths ``L``, offsets ``ph``: phase ``a`` holds the outputs ``q * st + a``) and their taps ``t`` with
    shifts ``s`` (``y[q * st + a] += w[t] * x[q - s]``); rows ``r0:r1`` (image, channel).  Each phase sums
    into its own plane; the output rows are then written in order, each element read from its phase."""
    n0, n1 = np.uint64(x.shape[1]), np.uint64(x.shape[2])
    ho, wo = np.uint64(y.shape[1]), np.uint64(y.shape[2])
    k0, k1 = np.uint64(w.shape[1]), np.uint64(w.shape[2])
    yf, xf, wf = y.reshape(-1), x.reshape(-1), w.reshape(-1)
    up, one, nph1 = np.uint64(pitch), np.uint64(1), L1.shape[0]
    size = np.uint64(rows * pitch)
    xp = np.zeros(rows * pitch, dtype=y.dtype)  # the input, padded: borders stay zero
    acc = np.empty(L0.shape[0] * nph1 * rows * pitch, dtype=y.dtype)
    ust0, ust1 = np.uint64(st0), np.uint64(st1)
    column = np.empty(y.shape[2], dtype=np.uint64)  # output column -> its phase plane's column
    for o1 in range(wo):
        column[o1] = (o1 % ust1) * size + o1 // ust1
    for r in range(np.uint64(r0), np.uint64(r1)):
        c = r % np.uint64(channels)
        xb = r * n0 * n1
        for i0 in range(n0):
            base, src = (i0 + np.uint64(plo0)) * up + np.uint64(plo1), xb + i0 * n1
            for i1 in range(n1):
                xp[base + i1] = xf[src + i1]
        for a in range(L0.shape[0]):
            la = np.uint64(L0[a])
            for b in range(nph1):
                lb = np.uint64(L1[b])
                span = (la - one) * up + lb
                plane = np.uint64(a * nph1 + b) * size
                first = True
                for u in range(c0n[a]):
                    for v in range(c1n[b]):
                        wv = wf[(c * k0 + np.uint64(t0[a, u])) * k1 + np.uint64(t1[b, v])]
                        off = np.uint64((plo0 - s0[a, u]) * pitch + plo1 - s1[b, v])
                        if first:  # the first tap is written: no zeroing pass
                            for k in range(span):
                                acc[plane + k] = wv * xp[k + off]
                            first = False
                        else:
                            for k in range(span):
                                acc[plane + k] += wv * xp[k + off]
                if first:
                    for k in range(span):
                        acc[plane + k] = 0
        yb = r * ho * wo
        for o0 in range(ho):
            src = (o0 % ust0) * np.uint64(nph1) * size + (o0 // ust0) * up
            dst = yb + o0 * wo
            if ust1 == 2:  # the row's two phases interleaved in one pass (vector loads and shuffles)
                for q1 in range(wo // np.uint64(2)):
                    yf[dst + np.uint64(2) * q1] = acc[src + q1]
                    yf[dst + np.uint64(2) * q1 + np.uint64(1)] = acc[src + size + q1]
                if wo % np.uint64(2):
                    yf[dst + wo - np.uint64(1)] = acc[src + wo // np.uint64(2)]
                continue
            for o1 in range(wo):
                yf[dst + o1] = acc[src + column[o1]]


@jit
def _conv_planes(out, small, big, w, grad, channels, images, t0, s0, c0n, L0, t1, s1, c1n, L1, st0, st1, plo0, plo1,
                 rows, pitch, c0, c1):
    """The convolution big -> small, per dim by the big side's phases (positions ``j * st + p``, ``L`` of them)
    and their taps ``t`` with shifts ``s``: ``small[q] = sum w[t] * big[(q + s) * st + p]``; channels
    ``c0:c1`` of the images' rows ``r = n * channels + c`` (a thread's own).

    ``grad`` false: ``out`` is the convolution's result (``small``'s shape; ``small`` is not read).
    ``grad`` true: ``out`` is the weight gradient ``(C, K0, K1)``, ``out[c, t] = sum small[r, q] * big[r,
    (q + s) * st + p]`` (``w`` is not read), each tap summed in LANES partial sums over the small plane
    laid out at the planes' pitch (zeros past its rows' ends).
    """
    ho, wo = np.uint64(small.shape[1]), np.uint64(small.shape[2])
    n0, n1 = np.uint64(big.shape[1]), np.uint64(big.shape[2])
    k0, k1 = w.shape[1], w.shape[2]
    of, sf, bf, wf = out.reshape(-1), small.reshape(-1), big.reshape(-1), w.reshape(-1)
    up, nph0, nph1 = np.uint64(pitch), L0.shape[0], L1.shape[0]
    size, lanes, zero = np.uint64(rows * pitch), np.uint64(LANES), np.uint64(0)
    ust0, ust1 = np.uint64(st0), np.uint64(st1)
    planes = np.zeros(nph0 * nph1 * rows * pitch, dtype=out.dtype)
    acc = np.zeros(rows * pitch + LANES, dtype=out.dtype)  # the result plane, or the small plane (grad)
    sums = np.zeros((k0 * k1, LANES), dtype=out.dtype)
    span = (ho - np.uint64(1)) * up + wo
    full = span - span % lanes
    for c in range(c0, c1):
        sums[:, :] = 0
        for n in range(images):
            r = np.uint64(n * channels + c)
            for i0 in range(n0):  # the big side's phases into their planes (borders stay zero), a row at a time
                row = (i0 % ust0) * np.uint64(nph1) * size + (i0 // ust0 + np.uint64(plo0)) * up + np.uint64(plo1)
                src = r * n0 * n1 + i0 * n1
                if ust1 == 2:  # both phases of the row in one pass (vector loads and shuffles)
                    for j1 in range(n1 // np.uint64(2)):
                        planes[row + j1] = bf[src + np.uint64(2) * j1]
                        planes[row + size + j1] = bf[src + np.uint64(2) * j1 + np.uint64(1)]
                    if n1 % np.uint64(2):
                        planes[row + n1 // np.uint64(2)] = bf[src + n1 - np.uint64(1)]
                else:
                    for i1 in range(n1):
                        planes[row + (i1 % ust1) * size + i1 // ust1] = bf[src + i1]
            if grad:
                for q0 in range(ho):
                    dst, src = q0 * up, r * ho * wo + q0 * wo
                    for q1 in range(wo):
                        acc[dst + q1] = sf[src + q1]
            first = True
            for a in range(nph0):
                for b in range(nph1):
                    plane = np.uint64(a * nph1 + b) * size
                    for u in range(c0n[a]):
                        for v in range(c1n[b]):
                            off = plane + np.uint64((s0[a, u] + plo0) * pitch + s1[b, v] + plo1)
                            if grad:
                                tap = sums[t0[a, u] * k1 + t1[b, v]]
                                for k in range(zero, full, lanes):
                                    for lane in range(lanes):
                                        tap[lane] += acc[k + lane] * planes[off + k + lane]
                                for lane in range(span - full):
                                    tap[lane] += acc[full + lane] * planes[off + full + lane]
                                continue
                            wv = wf[(c * k0 + t0[a, u]) * k1 + t1[b, v]]
                            if first:  # the first tap is written: no zeroing pass
                                for k in range(span):
                                    acc[k] = wv * planes[k + off]
                                first = False
                            else:
                                for k in range(span):
                                    acc[k] += wv * planes[k + off]
            if grad:
                continue
            if first:
                for k in range(span):
                    acc[k] = 0
            for q0 in range(ho):
                dst, src = r * ho * wo + q0 * wo, q0 * up
                for q1 in range(wo):
                    of[dst + q1] = acc[src + q1]
        if grad:
            for i in range(k0 * k1):
                of[c * k0 * k1 + i] = sums[i].sum()


def _taps_table(per_phase: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per phase its (tap, shift) pairs as padded arrays: taps, shifts, counts."""
    width = max([1] + [len(p) for p in per_phase])
    taps, shifts = np.zeros((len(per_phase), width), np.int64), np.zeros((len(per_phase), width), np.int64)
    for i, pairs in enumerate(per_phase):
        taps[i, :len(pairs)] = [t for t, _ in pairs]
        shifts[i, :len(pairs)] = [s for _, s in pairs]
    return taps, shifts, np.array([len(p) for p in per_phase], np.int64)


@functools.lru_cache(maxsize=256)
def _ct_tables(geom: Geometry) -> tuple:
    """The transposed kernel's per-dim phases, pads, and the plane's rows and pitch."""
    dims, pads, extents = [], [], []
    for d in range(2):
        phases = axis_phases(geom.input_shape[d], geom.output_shape[d], geom.kernel_shape[d], geom.stride[d],
                             geom.dilation[d], geom.before[d])
        taps, shifts, counts = _taps_table([list(p.taps) for p in phases])
        lengths = np.array([p.length for p in phases], np.int64)
        dims.append((taps, shifts, counts, lengths, np.array([p.phase for p in phases], np.int64)))
        lo = max([0] + [s for p in phases for _, s in p.taps])  # x[q - s] for q >= 0 needs s zeros in front
        pads.append(lo)
        extents.append(max([lo + geom.input_shape[d]] + [p.length - s + lo for p in phases for _, s in p.taps]))
    return dims[0] + dims[1] + (geom.stride[0], geom.stride[1], pads[0], pads[1], extents[0] + 1, extents[1])


@functools.lru_cache(maxsize=256)
def _conv_tables(geom: Geometry) -> tuple:
    """A convolution's (``geom`` not transposed) per-dim input phases, pads, and the plane's rows and pitch."""
    dims, pads, extents = [], [], []
    for d in range(2):
        n_big, n_small, s = geom.input_shape[d], geom.output_shape[d], geom.stride[d]
        count = min(s, n_big)
        per: list[list[tuple[int, int]]] = [[] for _ in range(count)]
        for t in range(geom.kernel_shape[d]):
            shift, p = divmod(t * geom.dilation[d] - geom.padding[d][0], s)
            if p < count:
                per[p].append((t, shift))
        taps, shifts, counts = _taps_table(per)
        lengths = np.array([len(range(p, n_big, s)) for p in range(count)], np.int64)
        dims.append((taps, shifts, counts, lengths))
        flat = [sh for pairs in per for _, sh in pairs]
        lo = max([0] + [-sh for sh in flat])  # x phase [q + s] for q >= 0 needs -s zeros in front
        pads.append(lo)
        extents.append(max([lo + int(lengths.max(initial=0)), n_small] + [n_small + sh + lo for sh in flat]))
    return dims[0] + dims[1] + (geom.stride[0], geom.stride[1], pads[0], pads[1], extents[0] + 1, extents[1])


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """One call's buffers (per thread): the padded input and the accumulator (transposed), or the input
    phases' planes and the accumulator (convolution)."""
    if geom.transposed:
        tables = _ct_tables(geom)
        return 2 * tables[-2] * tables[-1] * itemsize
    tables = _conv_tables(geom)
    return (len(tables[3]) * len(tables[7]) + 1) * tables[-2] * tables[-1] * itemsize


def conv_transpose(y: np.ndarray, x: np.ndarray, w: np.ndarray, geom: Geometry, r0: int, r1: int) -> None:
    """Rows ``r0:r1`` of the 2-D depthwise transposed convolution ``geom`` into ``y (R, *out)``, from
    ``x (R, *in)`` (C-contiguous) and ``w (C, *kernel)``."""
    _ct_planes(y, x, w, geom.groups, *_ct_tables(geom), r0, r1)


def conv(y: np.ndarray, x: np.ndarray, w: np.ndarray, geom: Geometry, images: int, c0: int, c1: int) -> None:
    """Channels ``c0:c1`` of the 2-D depthwise convolution ``geom`` into ``y (R, *out)``, from ``x (R, *in)``
    (C-contiguous) and ``w (C, *kernel)``; ``R = images * channels``."""
    _conv_planes(y, y, x, w, False, geom.groups, images, *_conv_tables(geom), c0, c1)


def weight_grad(dw: np.ndarray, small: np.ndarray, big: np.ndarray, view: Geometry, images: int,
                c0: int, c1: int) -> None:
    """Channels ``c0:c1`` of the 2-D depthwise weight gradient ``dw (C, *kernel)`` of the convolution
    ``view`` (big -> small), from ``small (R, *small)`` and ``big (R, *big)`` (C-contiguous)."""
    _conv_planes(dw, small, big, dw, True, view.groups, images, *_conv_tables(view), c0, c1)
