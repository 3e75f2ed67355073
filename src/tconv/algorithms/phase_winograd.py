"""Winograd F(4x4, 2x2) per phase: 2-D layers whose kernel is twice the stride (DCGAN's 4x4, stride 2).

With a kernel of ``2 s`` taps and stride ``s`` along a dim, every output of a transposed convolution takes
exactly two taps: writing ``o + lo = s q + r`` (``0 <= r < s``),

    ``y[o] = x[q - 1] w[r + s] + x[q] w[r]``,

so each output phase ``o mod s`` is a 2-tap correlation of ``x`` over the phase's outputs, and in 2-D a 2x2
one.  Winograd's minimal filtering F(4, 2) (interpolation points 0, 1, -1, 2 and infinity) computes 4 outputs
of a 2-tap correlation from 5 inputs with 5 multiplies, so each 4x4 block of a phase comes from the 5x5
block of ``x`` under it as

    ``Y = A^T [ sum over ci of (G g G^T) * (B^T d B) ] A``,

25 GEMMs ``(tiles, C_in) @ (C_in, C_out)`` per phase: 25 multiply-adds per 16 outputs and channel pair
instead of 64, with no zero taps (the F(4x4, 3x3) of :mod:`.winograd` on the sub-pixel form wastes a
third of its points on them).  The convolution (the adjoint) is the same sum over the input's ``s * s``
phases, ``y[m] = sum over a of x[s m + a - lo] w[a] + x[s (m + 1) + a - lo] w[a + s]``; the phases fold into
the channel reduction, one GEMM ``(tiles, s s C_in) @ (s s C_in, C_out)`` per transform point.

The transforms run along the channels: the input is copied channels-last once, each tile's 25 values are
vectors of channels, and the GEMMs take ``(tiles, channels)`` operands, so short rows (DCGAN's 4x4 to
32x32 images) still vectorise.  The tile rows of all images run in chunks of about ``CHUNK_TILES`` tiles.
The transformed filter is ``25 / 4`` times the weight, built per call (or kept by a bound plan, see
:mod:`.packs`); where the tiles run in one chunk (and no plan keeps it) each point's filter is made from its
nonzero taps just before its GEMM instead (:class:`_PointFilters`), so it is never whole in memory.  The weight
gradient runs in the same tiles (:func:`weight_grad`; a transposed layer's two gradients from one transform,
:func:`conv_and_weight_grad`), its products reduced to taps a block of channels at a time.
Rounding: the transforms' coefficients (up to 8, and 1/6) leave float32 results about 10x further from the
exact value than a direct sum (about 5e-6 of the largest output), float64 about 1e-14.

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> from tconv.algorithms import direct
>>> x = np.arange(50.).reshape(1, 2, 5, 5); k = np.ones((2, 3, 4, 4))
>>> geom = conv_transpose_geometry(x, k, stride=2, padding=1)
>>> bool(np.allclose(conv_transpose(x, k, geom), direct.conv_transpose(x, k, geom)))
True
"""

from __future__ import annotations

import numpy as np

from .._threads import num_threads, run_chunks
from ..params import Geometry
from . import packs
from .jit import jit
from .phase import channels_last
from .phasing import io_bytes, prod
from .registry import Algorithm
from .simd import transpose_block
from .tile_sums import TileSums, sums_bytes
from .weight_grad_numpy import numpy_weight_grad, numpy_weight_grad_bytes, result_bytes
from .winograd import dense_compiled_reason, tile_operands

#: A^T (4x5): a transformed 5x5 product back to the 4x4 output block ``A^T m A``.
OUTPUT = np.array([[1, 1, 1, 1, 0], [0, 1, -1, 2, 0], [0, 1, 1, 4, 0], [0, 1, -1, 8, 1]], dtype=float)
#: G (5x2): the 2-tap filter to its transform ``G g``.
FILTER = np.array([[1 / 2, 0], [-1 / 2, -1 / 2], [-1 / 6, 1 / 6], [1 / 6, 1 / 3], [0, 1]])
#: B^T (5x5): a 5-input block to its transform ``B^T d``.
INPUT = np.array([[2, -1, -2, 1, 0], [0, -2, -1, 1, 0], [0, 2, -3, 1, 0], [0, -1, 0, 1, 0], [0, 2, -1, -2, 1]],
                 dtype=float)

TILE = 4  # outputs per tile and dim
BLOCK = 5  # inputs per tile and dim
POINTS = BLOCK * BLOCK

#: Tiles per chunk: the 25 GEMMs per phase reach their rate from a few hundred rows.
CHUNK_TILES = 256
#: At most this many bytes of a chunk's transformed input and products (the transposed direction: its peak
#: extra memory, against the output's size).
CHUNK_BYTES = 8 << 20
#: The same for the convolution, whose stacked phases make a tile 4x deeper: dcgan_2's 64 tiles (1.5 MB of
#: blocks and products per image) ran in 54- and 10-row chunks under 8 MiB, in one under 16 MiB, measured
#: 8-10% faster (dcgan_3 4%, dcgan_4 2%).
CONV_CHUNK_BYTES = 16 << 20
#: The same where a weight gradient sums over the chunk's tiles: its GEMMs reduce over them, and each
#: chunk adds a ``(25, C_small, s s C_big)`` part to the sums, so longer chunks pay (measured, dcgan_3's
#: weight gradient: 33 ms at 256 tiles / 8 MiB, 29 at 1024 / 32 MiB, 27 at 4096 / 64 MiB; gemm's 42).
WEIGHT_CHUNK_TILES = 1024
WEIGHT_CHUNK_BYTES = 32 << 20

#: ``G g G^T`` for every 2x2 ``g`` at once: row ``5a + b`` holds ``G[a, i] * G[b, j]`` at column ``2i + j``.
_FILTER_PAIRS = np.kron(FILTER, FILTER)
#: Per point, its nonzero taps and their coefficients (one, two or four: ``G``'s first and last rows hold a zero).
_POINT_TERMS = [(np.flatnonzero(row), row[np.flatnonzero(row)]) for row in _FILTER_PAIRS]


def unsupported(geom: Geometry) -> str | None:
    """Only 2-D kernels of twice the stride, stride >= 2, dilation 1, one group, float32/float64 with the
    compiled kernels.  (Stride 1 with a 2x2 kernel would be F(4x4, 2x2) on a plain correlation: left to the
    exact GEMM, so that small integer examples such as the chapter's stay exact.)

    The reason reads after "algorithm 'phase_winograd' does not support ": what is refused, then what it needs.
    """
    if geom.ndim != 2 or any(k != 2 * s or s < 2 for k, s in zip(geom.kernel_shape, geom.stride)):
        return (f"kernel size {geom.kernel_shape} with stride {geom.stride} (it needs a 2-D kernel of twice "
                "a stride of at least 2, e.g. 4x4 stride 2)")
    return dense_compiled_reason(geom)


def _phase_filter(weight: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], out: np.ndarray,
                  offset: int = 0, transposed: bool = True) -> None:
    """``out[:, offset:offset + C_in] = G g G^T`` (``out``: ``(25, depth, C_out)``) of the 2x2 filters
    ``g[i, j] = weight[..., rows[i], cols[j]]``, ``weight`` a transposed convolution's ``(C_in, C_out, kh,
    kw)`` or a convolution's ``(C_out, C_in, kh, kw)``; with ``out`` of 4 points, the four taps themselves
    (``g[0, 0], g[0, 1], g[1, 0], g[1, 1]``)."""
    _phase_filters(weight, [(rows, cols, offset)], out, transposed)


def _phase_filters(weight: np.ndarray, phases: list, out: np.ndarray, transposed: bool) -> None:
    """:func:`_phase_filter` for several ``(rows, cols, offset)`` at once, in one pass over the weight."""
    pairs = (_FILTER_PAIRS if len(out) == POINTS else np.empty((0, 4))).astype(out.dtype)  # none: the taps
    table = np.array([(r0, r1, c0, c1, offset) for (r0, r1), (c0, c1), offset in phases], dtype=np.int64)
    _filter_points(weight, out, pairs, table, not transposed)


class _PointFilters:
    """The 25 transformed filters of a phase (or of the convolution's stacked phases) made one at a time from
    the four taps ``taps`` (``(4, depth, C_out)``, :func:`_phase_filter`), each just before its GEMM: one
    point's filter in memory instead of 25 (measured on dcgan_2: the convolution 25.5 ms against 29.1 with
    the whole 52 MB filter, the transposed direction as fast as with its 13 MB per phase).  Only a point's
    nonzero taps are read (``G``'s first and last rows hold a zero): the 12 edge points combine two, and the
    4 corner points, one tap times a power of two, run their GEMM on the tap itself and scale its product."""

    def __init__(self, taps: np.ndarray):
        self.taps = taps
        self.point = np.empty(taps.shape[1:], dtype=taps.dtype)
        self.terms = [(which, coef.astype(taps.dtype)) for which, coef in _POINT_TERMS]

    def products(self, v: np.ndarray, out: np.ndarray) -> None:
        """``out[p] = v[p] @ (G g G^T)[p]`` for the 25 points ``p``."""
        for p, (which, coef) in enumerate(self.terms):
            if len(which) == 1:
                np.matmul(v[p], self.taps[which[0]], out=out[p])
                if coef[0] != 1:
                    out[p] *= coef[0]
                continue
            _combine_taps(self.taps, which, coef, self.point)
            np.matmul(v[p], self.point, out=out[p])


@jit
def _combine_taps(taps, which, coef, out):
    """``out = sum over k of coef[k] taps[which[k]]`` (``taps``: ``(4, rows, cols)``; two or four terms)."""
    size = np.uint64(out.size)
    tf, of = taps.reshape(-1), out.reshape(-1)
    a0, a1 = coef[0], coef[1]
    s0, s1 = np.uint64(which[0]) * size, np.uint64(which[1]) * size
    if len(which) == 2:
        for e in range(size):
            of[e] = a0 * tf[s0 + e] + a1 * tf[s1 + e]
        return
    a2, a3 = coef[2], coef[3]
    s2, s3 = np.uint64(which[2]) * size, np.uint64(which[3]) * size
    for e in range(size):
        of[e] = a0 * tf[s0 + e] + a1 * tf[s1 + e] + a2 * tf[s2 + e] + a3 * tf[s3 + e]


def _products(v: np.ndarray, filters, out: np.ndarray) -> None:
    """The 25 GEMMs ``out[p] = v[p] @ filters[p]``: a whole transformed filter, or :class:`_PointFilters`."""
    if isinstance(filters, _PointFilters):
        filters.products(v, out)
    else:
        np.matmul(v, filters, out=out)


@jit
def _filter_points(w, u, pairs, phases, swap):
    """``u[p, offset + i, j] = sum over q of pairs[p, q] g_q`` (``p`` over ``pairs``' rows; ``pairs`` with no
    rows: ``u[q, offset + i, j] = g_q``, the taps) with ``g = (w[i, j, r0, c0], w[i, j, r0, c1], w[i, j, r1, c0],
    w[i, j, r1, c1])`` (``swap``: ``w[j, i, ...]``), for every row ``(r0, r1, c0, c1, offset)`` of ``phases``:
    per block of ``j`` (64 with ``swap``, else all) and row ``i``, each phase's four taps gathered from the
    block's (in the cache for every phase), then its points written along the block.  (With ``swap``,
    consecutive ``j`` lie a whole row of the weight apart: a row ``i`` at a time over every ``j``, phase by
    phase, missed the cache and the TLB on each tap: dcgan_2's convolution filter taps 6.6 ms, now 2.9; its
    transposed direction's taps per phase 1.1 ms, now 0.45, the copy of the identity's products skipped.)"""
    kh, kw = w.shape[2], w.shape[3]
    rows_i, cols_j = u.shape[1], u.shape[2]
    count_i = w.shape[1] if swap else w.shape[0]
    inner = np.uint64(w.shape[1])
    taps = np.uint64(kh * kw)
    wf, uf = w.reshape(-1), u.reshape(-1)
    uj = np.uint64(cols_j)
    plane = np.uint64(rows_i) * uj
    block = np.uint64(64) if swap else max(uj, np.uint64(1))  # unswapped, a row of ``w`` is every ``j`` in order
    g = np.empty(np.uint64(4) * block, dtype=u.dtype)
    for j0 in range(np.uint64(0), uj, block):
        width = min(block, uj - j0)
        for i in range(count_i):
            ui = np.uint64(i)
            for f in range(phases.shape[0]):
                r0, r1, c0, c1 = phases[f, 0], phases[f, 1], phases[f, 2], phases[f, 3]
                t0, t1 = np.uint64(r0 * kw + c0), np.uint64(r0 * kw + c1)
                t2, t3 = np.uint64(r1 * kw + c0), np.uint64(r1 * kw + c1)
                for jj in range(width):
                    j = j0 + jj
                    src = ((j * inner + ui) if swap else (ui * inner + j)) * taps
                    g[jj], g[block + jj] = wf[src + t0], wf[src + t1]
                    g[np.uint64(2) * block + jj], g[np.uint64(3) * block + jj] = wf[src + t2], wf[src + t3]
                row = np.uint64(phases[f, 4] + i) * uj + j0
                if pairs.shape[0] == 0:  # the taps themselves
                    for q in range(np.uint64(4)):
                        dst, src = q * plane + row, q * block
                        for jj in range(width):
                            uf[dst + jj] = g[src + jj]
                    continue
                for p in range(pairs.shape[0]):
                    a0, a1, a2, a3 = pairs[p, 0], pairs[p, 1], pairs[p, 2], pairs[p, 3]
                    dst = np.uint64(p) * plane + row
                    for jj in range(width):
                        uf[dst + jj] = (a0 * g[jj] + a1 * g[block + jj] + a2 * g[np.uint64(2) * block + jj]
                                        + a3 * g[np.uint64(3) * block + jj])


def _axis_phases_transposed(n_out: int, stride: int, lo: int) -> list[tuple[int, int, int, tuple[int, int]]]:
    """Per output phase ``rho`` of a dim with outputs: ``(rho, count, block origin, taps)``: the phase's
    outputs ``rho, rho + s, ...`` (``count`` of them) take the 5-input blocks of ``x`` from ``origin + 4t``
    through the taps ``(r + s, r)``."""
    phases = []
    for rho in range(min(stride, n_out)):
        count = -(-(n_out - rho) // stride)
        r, q = (rho + lo) % stride, (rho + lo) // stride
        phases.append((rho, count, q - 1, (r + stride, r)))
    return phases


def _tiles(count: int) -> int:
    return -(-count // TILE)


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Each output phase a 2x2 correlation of ``x`` in F(4x4, 2x2) tiles, written into its strided outputs:
    one row phase at a time (its column phases' products staged together, so that whole output rows go out
    at once), which keeps one row phase's filters and products in memory."""
    n, ci = x.shape[:2]
    co = weight.shape[1]
    y, done = _result(x, co, geom)
    if done:
        return y
    rows_ph = _axis_phases_transposed(geom.output_shape[0], geom.stride[0], geom.before[0])
    cols_ph = _axis_phases_transposed(geom.output_shape[1], geom.stride[1], geom.before[1])
    th, tw = _grid(geom)
    chunks = _chunks(n * th, tw, ci, len(cols_ph) * co, x.dtype.itemsize)
    xl = _channels_last(x)
    v_buffer, m_buffer = _buffers(chunks, tw, ci, len(cols_ph) * co, x.dtype)
    k = np.array([2, 3, 4, 8], dtype=x.dtype)

    points = _PointFilters(np.empty((4, ci, co), dtype=x.dtype)) if _by_point(chunks) else None

    def phase_filter(rt, ct, key):
        if points is not None:  # one set of taps and point buffer, refilled phase by phase
            _phase_filter(weight, rt, ct, points.taps)
            return points

        def build():
            out = np.empty((POINTS, ci, co), dtype=x.dtype)
            _phase_filter(weight, rt, ct, out)
            return out
        return packs.packed(("phase_winograd", True, key), build)

    for rho_r, _, origin_r, taps_r in rows_ph:
        # the row phase's filters, kept while more than one chunk uses them (else one alive at a time)
        kept = [phase_filter(taps_r, taps_c, (rho_r, rho_c)) for rho_c, _, _, taps_c in cols_ph] \
            if len(chunks) > 1 else None
        for row0, row1 in chunks:
            tiles = (row1 - row0) * tw
            v = v_buffer[:POINTS * tiles * ci].reshape(POINTS, tiles, ci)
            m = m_buffer[:len(cols_ph) * POINTS * tiles * co].reshape(len(cols_ph), POINTS, tiles, co)
            for rho_c, _, origin_c, taps_c in cols_ph:
                _input_blocks(xl, v, k, 0, origin_r, origin_c, 1, 1, th, tw, row0, row1)
                u = kept[rho_c] if kept else phase_filter(taps_r, taps_c, (rho_r, rho_c))
                _products(v, u, m[rho_c])
                del u
            _output_phases(m, y, k, rho_r, len(rows_ph), len(cols_ph), th, tw, row0, row1)
        del kept
    return y


def _by_point(chunks: list[tuple[int, int]]) -> bool:
    """Whether the 25 filters are made one point at a time (:class:`_PointFilters`): the tiles run in one chunk
    (each filter used once) and no bound plan keeps the whole filter for later calls."""
    return len(chunks) == 1 and not packs.keeps()


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """The input's ``s * s`` phases, each a 2x2 correlation, summed in the GEMMs' channel reduction."""
    y, done = _result(x, weight.shape[0], geom)
    if not done:
        chunks = _own_chunks(geom, x.dtype.itemsize)
        u = _PointFilters(_conv_filter(weight, geom, x.dtype, 4)) if _by_point(chunks) else \
            packs.packed(("phase_winograd", False), lambda: _conv_filter(weight, geom, x.dtype))
        _run_phases(x, geom, (_ConvTiles(y, u),), chunks)
    return y


def _phases(geom: Geometry) -> list[tuple[int, int]]:
    """The convolution's input phases ``(a, b)``, in the order they are stacked along the GEMMs' reduction."""
    return [(a, b) for a in range(geom.stride[0]) for b in range(geom.stride[1])]


def _conv_filter(weight: np.ndarray, geom: Geometry, dtype, points: int = POINTS) -> np.ndarray:
    """``(25, s s C_in, C_out)``: each input phase's 2x2 filters ``weight[..., (a, a + s), (b, b + s)]``
    transformed, stacked phase by phase (``points`` 4: their taps, for :class:`_PointFilters`)."""
    co, ci = weight.shape[:2]
    (sr, sc) = geom.stride
    u = np.empty((points, sr * sc * ci, co), dtype=dtype)
    _phase_filters(weight, [((a, a + sr), (b, b + sc), p * ci) for p, (a, b) in enumerate(_phases(geom))], u,
                   transposed=False)
    return u


def _run_phases(big: np.ndarray, conv_geom: Geometry, consumers: tuple, chunks: list[tuple[int, int]]) -> None:
    """The convolution ``conv_geom`` from ``big``'s side: the small side's tile rows (of all images) in
    ``chunks`` (:func:`_own_chunks`, or :func:`_weight_chunks` where a weight gradient is among the consumers),
    each chunk's 5x5 blocks of every input phase transformed once into ``v`` (``(25, tiles, s s
    C_big)``, :func:`_input_blocks`) and handed to every consumer (``start(tiles)`` first, then ``chunk(v,
    k, th, tw, row0, row1)``)."""
    cb = big.shape[1]
    (sr, sc), (lr, lc) = conv_geom.stride, conv_geom.before
    phases = _phases(conv_geom)
    depth = len(phases) * cb
    th, tw = _grid(conv_geom)
    most = _longest(chunks, tw)
    bl = _channels_last(big)
    v_buffer = np.empty(POINTS * most * depth, dtype=big.dtype)
    for con in consumers:
        con.start(most)
    k = np.array([2, 3, 4, 8], dtype=big.dtype)
    for row0, row1 in chunks:
        v = v_buffer[:POINTS * (row1 - row0) * tw * depth].reshape(POINTS, (row1 - row0) * tw, depth)
        for p, (a, b) in enumerate(phases):
            _input_blocks(bl, v, k, p * cb, a - lr, b - lc, sr, sc, th, tw, row0, row1)
        for con in consumers:
            con.chunk(v, k, th, tw, row0, row1)


class _ConvTiles:
    """The convolution's consumer of a chunk's transformed blocks: 25 GEMMs with the stacked transformed
    filter ``u``, then the output transform into ``y``."""

    def __init__(self, y: np.ndarray, u: np.ndarray):
        self.y, self.u, self.channels = y, u, y.shape[1]

    def start(self, tiles: int) -> None:
        self.buffer = np.empty(POINTS * tiles * self.channels, dtype=self.y.dtype)

    def chunk(self, v: np.ndarray, k: np.ndarray, th: int, tw: int, row0: int, row1: int) -> None:
        m = self.buffer[:POINTS * v.shape[1] * self.channels].reshape(1, POINTS, v.shape[1], self.channels)
        _products(v, self.u, m[0])
        _output_phases(m, self.y, k, 0, 1, 1, th, tw, row0, row1)


class _WeightTiles:
    """The weight gradient's consumer of a chunk's transformed blocks of the big side: the small side's
    4x4 blocks transformed (:func:`_small_blocks`), then 25 GEMMs over the chunk's tiles (``(25, C_small, s s
    C_big)`` products) and ``G^T . G`` of every phase (:func:`_weight_taps`) into the gradient ``dw``.

    Where the tiles run in one chunk (``chunks`` 1), the products are made and reduced to taps a block of
    small-side channels at a time (:func:`_small_channel_blocks`: a few MB, still in the cache when the taps
    read them); otherwise they are summed over the chunks (:class:`.TileSums`) and reduced once at the end.
    Measured on dcgan_2 (64 tiles, 52 MB of products): 19 ms in blocks of 64-128 channels against 27-33 ms for
    the whole products at once (their fresh pages and a pass from memory)."""

    def __init__(self, small: np.ndarray, conv_geom: Geometry, chunks: int):
        self.small_last, self.channels = _channels_last(small), small.shape[1]
        (sr, sc), cb = conv_geom.stride, conv_geom.in_channels
        self.stride, self.depth = (sr, sc), sr * sc * cb
        self.dw = np.empty((self.channels, cb) + tuple(conv_geom.kernel_shape), dtype=small.dtype)
        self.pairs_t = _FILTER_PAIRS.T.astype(small.dtype)
        self.sums = TileSums((POINTS, self.channels, self.depth), small.dtype) if chunks > 1 else None
        self.blocks = _small_channel_blocks(self.channels, self.depth, small.itemsize) if chunks == 1 else []
        self.done = False

    def start(self, tiles: int) -> None:
        self.buffer = np.empty(POINTS * tiles * self.channels, dtype=self.dw.dtype)
        if self.sums is None:
            most = max((o1 - o0 for o0, o1 in self.blocks), default=0)
            self.block = np.empty(POINTS * most * self.depth, dtype=self.dw.dtype)

    def chunk(self, v: np.ndarray, k: np.ndarray, th: int, tw: int, row0: int, row1: int) -> None:
        s = self.buffer[:POINTS * v.shape[1] * self.channels].reshape(POINTS, v.shape[1], self.channels)
        _small_blocks(self.small_last, s, k, th, tw, row0, row1)
        self.done = True
        if self.sums is not None:
            self.sums.add(s.transpose(0, 2, 1), v)
            return
        for o0, o1 in self.blocks:
            products = self.block[:POINTS * (o1 - o0) * self.depth].reshape(POINTS, o1 - o0, self.depth)
            np.matmul(s[:, :, o0:o1].transpose(0, 2, 1), v, out=products)
            self._taps(products, self.dw[o0:o1])

    def result(self) -> np.ndarray:
        if self.sums is not None:
            self._taps(self.sums.total(), self.dw)
        elif not self.done:  # no tiles ran
            self.dw[...] = 0
        return self.dw

    def _taps(self, products: np.ndarray, dw: np.ndarray) -> None:
        """``dw`` (a block of small-side channels of the gradient) from their ``products``, split over threads."""
        (sr, sc), pairs_t = self.stride, self.pairs_t
        run_chunks(len(dw), lambda o0, o1: _weight_taps(products, pairs_t, dw, sr, sc, o0, o1),
                   min_chunk=1 if products.size >= 1 << 18 else max(len(dw), 1))


#: At most this many bytes of products per block of small-side channels where the weight gradient's tiles
#: run in one chunk (:class:`_WeightTiles`): measured on dcgan_2, blocks of 32 / 64 / 128 / 256 of its 512
#: channels (3.3 / 6.5 / 13 / 26 MB) took 21.1 / 19.1 / 19.0 / 21.0 ms.
WEIGHT_BLOCK_BYTES = 8 << 20


def _small_channel_blocks(channels: int, depth: int, itemsize: int) -> list[tuple[int, int]]:
    """Even ranges of the small side's channels whose 25 products rows (``depth`` each) hold at most
    ``WEIGHT_BLOCK_BYTES`` (at least one channel a block).

    >>> _small_channel_blocks(512, 1024, 4), _small_channel_blocks(3, 8, 4)
    ([(0, 73), (73, 146), (146, 219), (219, 292), (292, 365), (365, 438), (438, 512)], [(0, 3)])
    """
    fits = max(1, WEIGHT_BLOCK_BYTES // max(1, POINTS * depth * itemsize))
    count = -(-channels // fits)
    return [(channels * b // count, channels * (b + 1) // count) for b in range(count)]


@jit
def _weight_taps(sums, pairs_t, dw, sr, sc, o0, o1):
    """``dw[o, c, a + sr i, b + sc j] = sum over p of pairs_t[2i + j, p] sums[p, o, (a sc + b) C + c]`` for the
    output channels ``o0 <= o < o1``: ``G^T . G`` of every phase ``(a, b)`` and output channel ``o`` from its
    25 rows of ``C`` sums (read once, in order), the four taps written into ``dw``'s 4x4 block of each ``(o,
    c)`` (``dw``: ``(C_small, C, 2 sr, 2 sc)``).  Measured on dcgan_2's 52 MB of sums: the per-phase copy and
    thin GEMM it replaces took 17 ms."""
    cb = dw.shape[1]
    taps = np.empty((4, cb), dtype=dw.dtype)
    for o in range(o0, o1):
        for a in range(sr):
            for b in range(sc):
                first = (a * sc + b) * cb
                taps[:] = 0
                for p in range(sums.shape[0]):
                    for q in range(4):
                        coef = pairs_t[q, p]
                        if coef != 0:
                            for c in range(cb):
                                taps[q, c] += coef * sums[p, o, first + c]
                for q in range(4):
                    r, col = a + sr * (q // 2), b + sc * (q % 2)
                    for c in range(cb):
                        dw[o, c, r, col] = taps[q, c]


@jit
def _small_blocks(sl, s, k, th, tw, row0, row1):
    """``s[5a + b, t, c] = (A d A^T)[a, b]`` (``A = OUTPUT^T``, the adjoint of :func:`_output_phases`' step)
    for the 4x4 blocks ``d`` of the channels-last ``sl`` (zero beyond its far edges) of the tile rows
    ``row0:row1``, laid out as :func:`_input_blocks` lays out ``v``: the block's 4 rows combined to 5, then
    its 4 columns.  ``k`` holds 2, 3, 4 and 8 in the arrays' dtype."""
    h, w, channels = sl.shape[1], sl.shape[2], np.uint64(sl.shape[3])
    uh, uw = np.uint64(h), np.uint64(w)
    tiles = np.uint64(s.shape[1])
    plane = tiles * channels
    lf, sf = sl.reshape(-1), s.reshape(-1)
    block = np.empty(16 * sl.shape[3], dtype=sl.dtype)  # (4 rows, 4 columns, channels)
    rows = np.empty(20 * sl.shape[3], dtype=sl.dtype)  # (5 rows, 4 columns, channels)
    k2, k4, k8 = k[0], k[2], k[3]
    u2, u3, u4 = np.uint64(2), np.uint64(3), np.uint64(4)
    for row in range(row0, row1):
        n, i = np.uint64(row // th), row % th
        for j in range(tw):
            for a in range(4):  # the block, zero beyond the far edges
                src_r = 4 * i + a
                for b in range(4):
                    src_c = 4 * j + b
                    dst = np.uint64(4 * a + b) * channels
                    if src_r >= h or src_c >= w:
                        for c in range(channels):
                            block[dst + c] = 0
                    else:
                        src = ((n * uh + np.uint64(src_r)) * uw + np.uint64(src_c)) * channels
                        for c in range(channels):
                            block[dst + c] = lf[src + c]
            for b in range(np.uint64(4)):  # A d, down the block's columns: 4 rows to 5
                p0 = b * channels
                p1, p2, p3 = p0 + u4 * channels, p0 + np.uint64(8) * channels, p0 + np.uint64(12) * channels
                for c in range(channels):
                    d0, d1, d2, d3 = block[p0 + c], block[p1 + c], block[p2 + c], block[p3 + c]
                    rows[p0 + c] = d0
                    rows[p1 + c] = d0 + d1 + d2 + d3
                    rows[p2 + c] = d0 - d1 + d2 - d3
                    rows[p3 + c] = d0 + k2 * d1 + k4 * d2 + k8 * d3
                    rows[p0 + np.uint64(16) * channels + c] = d3
            t = np.uint64((row - row0) * tw + j)
            for a in range(np.uint64(5)):  # (A d) A^T, along the block's rows: 4 columns to 5
                q0 = a * u4 * channels
                q1, q2, q3 = q0 + channels, q0 + u2 * channels, q0 + u3 * channels
                dst = a * np.uint64(5) * plane + t * channels
                for c in range(channels):
                    e0, e1, e2, e3 = rows[q0 + c], rows[q1 + c], rows[q2 + c], rows[q3 + c]
                    sf[dst + c] = e0
                    sf[dst + plane + c] = e0 + e1 + e2 + e3
                    sf[dst + u2 * plane + c] = e0 - e1 + e2 - e3
                    sf[dst + u3 * plane + c] = e0 + k2 * e1 + k4 * e2 + k8 * e3
                    sf[dst + u4 * plane + c] = e3


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """The weight gradient ``dw[a, b, t] = sum small[n, a, m] * big[n, b, s m + t - lo]`` (the convolution
    big -> small of ``geom``) in the same tiles: per input phase ``(a, b)`` of the big side,

        ``dw[..., (a, a + s), (b, b + s)] = G^T [ sum over tiles of (A d A^T) * V_ab ] G``

    (the adjoint of the forward formula in ``g``; ``d`` the small side's 4x4 blocks, ``V_ab`` the big
    side's transformed phase blocks), 25 GEMMs ``(C_small, tiles) @ (tiles, s s C_big)`` summed over the
    chunks, then one thin GEMM per phase for ``G^T . G``.  Falls back to the NumPy gradient
    (:mod:`.weight_grad_numpy`) for a geometry :func:`unsupported` refuses or operands of two dtypes.

    >>> from tconv.params import geometry_from_shapes
    >>> from tconv.algorithms.weight_grad_numpy import im2col_weight_grad
    >>> g = geometry_from_shapes(True, (1, 2, 5, 4), (2, 3, 4, 4), np.float64, stride=2, padding=1)
    >>> rng = np.random.default_rng(0)
    >>> small, big = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((1, 3, 10, 8))
    >>> bool(np.allclose(weight_grad(small, big, g), im2col_weight_grad(small, big, g)))
    True
    """
    operands = tile_operands(small, big, geom, unsupported)
    if operands is None:
        return numpy_weight_grad(small, big, geom)
    conv_geom, small, big = operands
    chunks = _weight_chunks(conv_geom, small.shape[1], small.dtype.itemsize)
    grad = _WeightTiles(small, conv_geom, len(chunks))
    if small.size and big.shape[1]:
        _run_phases(big, conv_geom, (grad,), chunks)
    return grad.result()


def _weight_chunks(conv_geom: Geometry, consumers: int, itemsize: int) -> list[tuple[int, int]]:
    """The chunks :func:`_run_phases` runs a weight gradient's tiles in, ``consumers`` channels per tile besides
    the big side's (the small side's; and the convolution's products in the shared backward)."""
    th, tw = _grid(conv_geom)
    return _chunks(conv_geom.batch * th, tw, prod(conv_geom.stride) * conv_geom.in_channels, consumers, itemsize,
                   "weight")


def _weight_products_bytes(conv_geom: Geometry, chunks: int, itemsize: int) -> int:
    """What the weight gradient's products hold in ``chunks`` chunks (a block's in one, else the sums,
    :class:`.TileSums`) with the taps' scratch (:func:`_weight_taps`, one per thread)."""
    cb, cs, phases = conv_geom.in_channels, conv_geom.out_channels, prod(conv_geom.stride)
    if chunks > 1:
        products = sums_bytes(POINTS, cs, phases * cb, chunks, itemsize)
    else:
        most = max((o1 - o0 for o0, o1 in _small_channel_blocks(cs, phases * cb, itemsize)), default=0)
        products = POINTS * most * phases * cb * itemsize
    return products + 4 * cb * num_threads() * itemsize


def weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`weight_grad` allocates, its result included: both sides' channels-last copies, a
    (weight-gradient length) chunk's transformed blocks of both sides, the products (in one chunk, a block of
    small-side channels' at a time; else the 25 sums and a chunk's part), the taps' scratch and the result
    (the NumPy gradient's where it falls back)."""
    conv_geom = geom.convolution()
    if unsupported(conv_geom):
        return numpy_weight_grad_bytes(geom, itemsize)
    cb, cs, phases = conv_geom.in_channels, conv_geom.out_channels, prod(conv_geom.stride)
    chunks = _weight_chunks(conv_geom, cs, itemsize)
    most, held = _longest(chunks, _grid(conv_geom)[1]), _weight_products_bytes(conv_geom, len(chunks), itemsize)
    copies = conv_geom.batch * (cs * prod(conv_geom.output_shape) + cb * prod(conv_geom.input_shape))
    return (copies + POINTS * (phases * cb + cs) * most) * itemsize + held + result_bytes(geom, itemsize)


def conv_and_weight_grad(big: np.ndarray, weight: np.ndarray, small: np.ndarray,
                         geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """A transposed convolution's backward from one transform of ``big``'s phase blocks: ``(conv(big,
    weight), weight_grad(small, big))`` for ``geom`` the transposed convolution (``big`` its output gradient,
    ``small`` its input, batched, C order, of one dtype), each chunk's transformed blocks feeding both the
    convolution's GEMMs and the weight gradient's.  Needs what :func:`unsupported` says of ``geom``.

    >>> from tconv.params import geometry_from_shapes
    >>> rng = np.random.default_rng(0)
    >>> x, w, gy = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((1, 3, 10, 10))
    >>> g = geometry_from_shapes(True, x.shape, w.shape, np.float64, stride=2, padding=1)
    >>> gx, gw = conv_and_weight_grad(gy, w, x, g)
    >>> bool(np.allclose(gx, conv(gy, w, g.convolution())) and np.allclose(gw, weight_grad(x, gy, g)))
    True
    """
    conv_geom = geom.convolution()
    y, done = _result(big, small.shape[1], conv_geom)
    chunks = _weight_chunks(conv_geom, 2 * small.shape[1], big.dtype.itemsize)
    u = _PointFilters(_conv_filter(weight, conv_geom, big.dtype, 4)) if _by_point(chunks) else \
        packs.packed(("phase_winograd", False), lambda: _conv_filter(weight, conv_geom, big.dtype))
    grad = _WeightTiles(small, conv_geom, len(chunks))
    if not done and small.size:
        _run_phases(big, conv_geom, (_ConvTiles(y, u), grad), chunks)
    return y, grad.result()


def backward_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`conv_and_weight_grad` holds beyond its convolution's :func:`workspace_bytes`: the small
    side's channels-last copy, a (weight-gradient length) chunk's transformed blocks of both sides and the
    products, the weight gradient's products (a block's, or the sums and a chunk's part), the taps' scratch
    and the weight gradient; and the whole transformed filter where the convolution's own chunks are one (its
    workspace counted point filters) but these are several (not with the default limits, whose
    weight-gradient chunks are the longer)."""
    conv_geom = geom.convolution()
    cb, cs, phases = conv_geom.in_channels, conv_geom.out_channels, prod(conv_geom.stride)
    chunks = _weight_chunks(conv_geom, 2 * cs, itemsize)
    most, held = _longest(chunks, _grid(conv_geom)[1]), _weight_products_bytes(conv_geom, len(chunks), itemsize)
    alone = len(_own_chunks(conv_geom, itemsize)) == 1
    whole = (POINTS - 5) * phases * cb * cs if len(chunks) > 1 and alone else 0  # the whole filter, not its points
    # the longer chunks' transformed blocks of both sides (the convolution's own workspace counted a chunk of
    # the big side's and of the products at the forward's length already), the sums, the gradient
    return ((conv_geom.batch * cs * prod(conv_geom.output_shape) + POINTS * (phases * cb + 2 * cs) * most
             + 36 * cs + cs * cb * prod(conv_geom.kernel_shape) + whole) * itemsize + held)


def _result(x: np.ndarray, co: int, geom: Geometry) -> tuple[np.ndarray, bool]:
    """The result's array, and whether it is complete already (no outputs; no input channels: zeros)."""
    y = np.empty((x.shape[0], co) + tuple(geom.output_shape), dtype=x.dtype)
    if y.size and not x.shape[1]:
        y[...] = 0
    return y, not (y.size and x.shape[1])


def _channels_last(x: np.ndarray) -> np.ndarray:
    """``(N, C, H, W) -> (N, H, W, C)``, one copy (:func:`.phase.channels_last`)."""
    return channels_last(x, 1, x.shape[2:], ((0, 0), (0, 0)))[0]


def _chunks(rows: int, tw: int, depth: int, co: int, itemsize: int,
            kind: str = "transposed") -> list[tuple[int, int]]:
    """Ranges of tile rows (all images' in a row) of about ``CHUNK_TILES`` tiles, or fewer where a chunk's
    transformed input (``depth`` channels) and products (``co``) would outgrow ``CHUNK_BYTES`` (``kind``
    ``"conv"``: ``CONV_CHUNK_BYTES``; ``"weight"``, a weight gradient among the consumers:
    ``WEIGHT_CHUNK_TILES`` and ``WEIGHT_CHUNK_BYTES``); none where there are no tiles."""
    if not rows * tw:
        return []
    tiles, limit = {"transposed": (CHUNK_TILES, CHUNK_BYTES), "conv": (CHUNK_TILES, CONV_CHUNK_BYTES),
                    "weight": (WEIGHT_CHUNK_TILES, WEIGHT_CHUNK_BYTES)}[kind]
    per_row = POINTS * tw * (depth + co) * itemsize
    step = max(1, min(-(-tiles // tw), limit // max(1, per_row)))
    return [(r, min(rows, r + step)) for r in range(0, rows, step)]


def _longest(chunks: list[tuple[int, int]], tw: int) -> int:
    """Tiles in the longest of ``chunks`` (0 for none)."""
    return max((r1 - r0 for r0, r1 in chunks), default=0) * tw


def _buffers(chunks, tw: int, depth: int, co: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    most = _longest(chunks, tw)
    return np.empty(POINTS * most * depth, dtype=dtype), np.empty(POINTS * most * co, dtype=dtype)


@jit
def _input_blocks(xl, v, k, offset, r0, c0, step_r, step_c, th, tw, row0, row1):
    """``v[5a + b, t, offset + c] = (B^T d B)[a, b]`` for the tiles ``t`` of the tile rows ``row0:row1`` (all
    images' tile rows in a row; ``t = (row - row0) * tw + j``), where tile ``(n, i, j)``'s block is
    ``d[a, b] = xl[n, r0 + step_r (4i + a), c0 + step_c (4j + b), c]`` (zero outside ``xl``, channels-last).

    Per tile: the 5x5 block of channel vectors gathered, combined down its rows (``B^T d``), then along
    them (``. B``) into ``v``.  ``k`` holds 2, 3, 4 and 8 in the arrays' dtype.
    """
    h, w, channels = xl.shape[1], xl.shape[2], np.uint64(xl.shape[3])
    uh, uw = np.uint64(h), np.uint64(w)
    tiles, depth = np.uint64(v.shape[1]), np.uint64(v.shape[2])
    plane = tiles * depth  # v's stride between its 25 planes
    xf, vf = xl.reshape(-1), v.reshape(-1)
    block = np.empty(25 * xl.shape[3], dtype=xl.dtype)
    rows = np.empty(25 * xl.shape[3], dtype=xl.dtype)
    k2, k3 = k[0], k[1]
    u2, u3, u4, u5 = np.uint64(2), np.uint64(3), np.uint64(4), np.uint64(5)
    for row in range(row0, row1):
        n, i = np.uint64(row // th), row % th
        for j in range(tw):
            for a in range(5):  # the block, zero outside the input
                src_r = r0 + step_r * (4 * i + a)
                for b in range(5):
                    src_c = c0 + step_c * (4 * j + b)
                    dst = np.uint64(5 * a + b) * channels
                    if src_r < 0 or src_r >= h or src_c < 0 or src_c >= w:
                        for c in range(channels):
                            block[dst + c] = 0
                    else:
                        src = ((n * uh + np.uint64(src_r)) * uw + np.uint64(src_c)) * channels
                        for c in range(channels):
                            block[dst + c] = xf[src + c]
            for b in range(np.uint64(5)):  # B^T d, down the block's columns
                p0 = b * channels
                p1, p2, p3, p4 = p0 + u5 * channels, p0 + np.uint64(10) * channels, p0 + np.uint64(15) * channels, p0 + np.uint64(20) * channels
                for c in range(channels):
                    d0, d1, d2, d3, d4 = block[p0 + c], block[p1 + c], block[p2 + c], block[p3 + c], block[p4 + c]
                    rows[p0 + c] = k2 * (d0 - d2) - d1 + d3
                    rows[p1 + c] = d3 - k2 * d1 - d2
                    rows[p2 + c] = k2 * d1 - k3 * d2 + d3
                    rows[p3 + c] = d3 - d1
                    rows[p4 + c] = k2 * (d1 - d3) - d2 + d4
            t = np.uint64((row - row0) * tw + j)
            for a in range(np.uint64(5)):  # (B^T d) B, along the block's rows
                q0 = a * u5 * channels
                q1, q2, q3, q4 = q0 + channels, q0 + u2 * channels, q0 + u3 * channels, q0 + u4 * channels
                dst = a * u5 * plane + t * depth + np.uint64(offset)
                for c in range(channels):
                    e0, e1, e2, e3, e4 = rows[q0 + c], rows[q1 + c], rows[q2 + c], rows[q3 + c], rows[q4 + c]
                    vf[dst + c] = k2 * (e0 - e2) - e1 + e3
                    vf[dst + plane + c] = e3 - k2 * e1 - e2
                    vf[dst + u2 * plane + c] = k2 * e1 - k3 * e2 + e3
                    vf[dst + u3 * plane + c] = e3 - e1
                    vf[dst + u4 * plane + c] = k2 * (e1 - e3) - e2 + e4


@jit
def _output_phases(m, y, k, first_r, step_r, step_c, th, tw, row0, row1):
    """``y[n, o, rho + step_r (4i + r), sigma + step_c (4j + s)] = (A^T m_p A)[r, s]`` for the tiles of the
    tile rows ``row0:row1``, from ``m = (phases, 25, tiles, C_out)`` (phase ``p = (rho - first_r) * step_c +
    sigma``: the row phases ``first_r`` on, each laid out as ``v`` in :func:`_input_blocks`), cropped to
    ``y``; the other row phases' rows are left alone.  ``step_r, step_c``: the phases per dim, the stride (or
    fewer where the output is shorter than the stride: the positions past it are cropped).

    Per tile and phase: ``m A`` along the block's rows, then ``A^T (m A)`` down its columns, a 4x4 block of
    channel vectors put in its strided place in a channels-last stage of the tile row (``4 step_r`` output
    rows); then each stage row goes out transposed through registers (:data:`.simd.transpose_block`) into
    the channels-first ``y``.
    """
    channels, ho, wo = np.uint64(y.shape[1]), y.shape[2], y.shape[3]
    uho, uwo = np.uint64(ho), np.uint64(wo)
    area = uho * uwo
    phases_r, phases_c = m.shape[0] // step_c, step_c
    tiles = np.uint64(m.shape[2])
    plane = tiles * channels
    width = np.uint64(tw * 4 * step_c)  # the stage's columns
    mf, yf = m.reshape(-1), y.reshape(-1)
    half = np.empty(20 * y.shape[1], dtype=y.dtype)  # (5 rows, 4 columns, channels)
    stage = np.empty(4 * step_r * tw * 4 * step_c * y.shape[1], dtype=y.dtype)
    k2, k4, k8 = k[0], k[2], k[3]
    u2, u3, u4, u5 = np.uint64(2), np.uint64(3), np.uint64(4), np.uint64(5)
    for row in range(row0, row1):
        n, i = np.uint64(row // th), row % th
        for j in range(tw):
            t = np.uint64((row - row0) * tw + j)
            for pr in range(phases_r):
                for pc in range(phases_c):
                    first = np.uint64(pr * phases_c + pc) * np.uint64(25) * plane + t * channels
                    for a in range(np.uint64(5)):  # m A: each row's 5 points to 4 columns
                        src = first + a * u5 * plane
                        h0 = a * u4 * channels
                        for c in range(channels):
                            e0, e1, e2 = mf[src + c], mf[src + plane + c], mf[src + u2 * plane + c]
                            e3, e4 = mf[src + u3 * plane + c], mf[src + u4 * plane + c]
                            half[h0 + c] = e0 + e1 + e2 + e3
                            half[h0 + channels + c] = e1 - e2 + k2 * e3
                            half[h0 + u2 * channels + c] = e1 + e2 + k4 * e3
                            half[h0 + u3 * channels + c] = e1 - e2 + k8 * e3 + e4
                    for s in range(4):  # A^T (m A): down each column's 5 rows to 4, into the stage
                        p0 = np.uint64(s) * channels
                        p1, p2, p3, p4 = p0 + u4 * channels, p0 + np.uint64(8) * channels, p0 + np.uint64(12) * channels, p0 + np.uint64(16) * channels
                        col = np.uint64(j * 4 * step_c + pc + step_c * s)
                        d0 = (np.uint64(first_r + pr) * width + col) * channels
                        rstep = np.uint64(step_r) * width * channels
                        for c in range(channels):
                            e0, e1, e2, e3, e4 = half[p0 + c], half[p1 + c], half[p2 + c], half[p3 + c], half[p4 + c]
                            stage[d0 + c] = e0 + e1 + e2 + e3
                            stage[d0 + rstep + c] = e1 - e2 + k2 * e3
                            stage[d0 + u2 * rstep + c] = e1 + e2 + k4 * e3
                            stage[d0 + u3 * rstep + c] = e1 - e2 + k8 * e3 + e4
        top = 4 * step_r * i
        cols = np.uint64(min(wo, tw * 4 * step_c))
        for r in range(min(4 * step_r, ho - top)):  # the stage's rows of these row phases into y, cropped
            if r % step_r < first_r or r % step_r >= first_r + phases_r:
                continue
            transpose_block(yf, n * channels * area + np.uint64(top + r) * uwo, area,
                            stage, np.uint64(r) * width * channels, channels, cols, channels)


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """The channels-last copy of the input, a chunk's transformed input and products (transposed: of one row
    phase), the transformed filter (transposed: a row phase's where more than one chunk runs; in one chunk,
    the taps and one point's filter, :class:`_PointFilters`) and the compiled transforms' scratch."""
    n, ci, co = geom.batch, geom.in_channels, geom.out_channels
    phases = prod(geom.stride)
    depth, products = _chunk_channels(geom)
    tw = _grid(geom)[1]
    chunks = _own_chunks(geom, itemsize)
    most = _longest(chunks, tw)
    filters = (geom.stride[1] if len(chunks) > 1 else 1) if geom.transposed else phases
    points = 5 if len(chunks) == 1 else POINTS  # four taps and a point (a bound plan keeps its filter apart)
    scratch = 2 * POINTS * ci + 20 * co + 16 * phases * tw * co  # the compiled transforms' own buffers
    return (n * ci * prod(geom.input_shape) + POINTS * most * (depth + products) + points * filters * ci * co
            + scratch) * itemsize


def _chunk_channels(geom: Geometry) -> tuple[int, int]:
    """A chunk's transformed input channels and product channels per tile: transposed, the input's and one
    row phase's products; convolution, the stacked input phases' and the output's."""
    ci, co = geom.in_channels, geom.out_channels
    return (ci, geom.stride[1] * co) if geom.transposed else (prod(geom.stride) * ci, co)


def _kind(geom: Geometry) -> str:
    """The chunks' limits :func:`_chunks` applies to a direction's own run."""
    return "transposed" if geom.transposed else "conv"


def _own_chunks(geom: Geometry, itemsize: int) -> list[tuple[int, int]]:
    """The chunks of a direction's own run, as its byte count and cost see them (the transposed direction
    runs with its column phases' products, at most the stride's: :func:`conv_transpose` counts its own)."""
    th, tw = _grid(geom)
    return _chunks(geom.batch * th, tw, *_chunk_channels(geom), itemsize, _kind(geom))


def _grid(geom: Geometry) -> tuple[int, int]:
    """Tile rows and columns per image: the largest phase's in the transposed direction."""
    if geom.transposed:
        return tuple(max((_tiles(count) for _, count, _, _ in _axis_phases_transposed(o, s, lo)), default=0)
                     for o, s, lo in zip(geom.output_shape, geom.stride, geom.before))
    return tuple(_tiles(m) for m in geom.output_shape)


#: Cost model: Python-level steps per call besides the chunks' (the copy, buffers, the filter's setup)
FIXED_STEPS = 5


def cost(geom: Geometry) -> float:
    """25 GEMMs per phase (or, for the convolution, over the stacked phases), costed at the wide-GEMM rate,
    derated only where their reduction is thin (measured: the DCGAN layers' point GEMMs, 64 to 1024 rows, 3 to
    512 columns, ran at 145-175 GFLOP/s, where derating their thin rows or columns predicted as little as
    half that; dcgan_5's convolution, a 12-deep reduction, ran at half the rate), plus the
    bytes of the tile transforms (each transformed element counted once, and as a whole vector of ``lanes``
    where a side has fewer channels: measured, dcgan_5's 3-channel side made its transforms 2-3x slower per
    element), the filter transform (its bytes written once: the GEMMs' reading it is in their rate) and the
    channels-last copy."""
    from .cost import PER_GEMM_CALL_SECONDS, constants, per_call_seconds

    work = np.promote_types(geom.dtype, np.float32)
    k, isz = constants(work), np.dtype(work).itemsize
    ci, co, phases = geom.in_channels, geom.out_channels, prod(geom.stride)
    th, tw = _grid(geom)
    tiles = geom.batch * th * tw
    lanes = 64 // isz  # a transform's vector: a cache line of channels; fewer channels leave lanes idle
    depth = ci if geom.transposed else phases * ci  # the GEMMs' reduction
    gemms = POINTS * (phases if geom.transposed else 1)
    mm = POINTS * phases * tiles * ci * co * k.mac_seconds * (1 + k.thin / depth) + gemms * PER_GEMM_CALL_SECONDS
    if geom.transposed:
        transformed = POINTS * tiles * phases * (max(ci, lanes) + max(co, lanes))
    else:
        transformed = POINTS * tiles * (phases * max(ci, lanes) + max(co, lanes))
    moved = transformed + POINTS * phases * ci * co + 2 * geom.batch * ci * prod(geom.input_shape)
    chunks = len(_own_chunks(geom, isz))
    # per chunk: each phase's input transform and GEMMs, an output per row phase (transposed) or in all; each
    # phase's filter
    steps = FIXED_STEPS + chunks * (geom.stride[0] + 2 * phases if geom.transposed else 1 + phases) + phases
    return (mm + (moved * isz + io_bytes(geom, isz)) * k.byte_seconds + steps * k.step_seconds
            + per_call_seconds(k))


ALGORITHM = Algorithm(
    name="phase_winograd",
    summary="2-D kernel twice the stride (4x4 stride 2): Winograd F(4x4, 2x2) per phase, 25 GEMMs per phase "
            "over 5x5 tile transforms (2.56x fewer MACs)",
    conv_transpose=conv_transpose,
    conv=conv,
    workspace_bytes=workspace_bytes,
    cost=cost,
    unsupported=unsupported,
    weight_grad=weight_grad,
    weight_grad_bytes=weight_grad_bytes,
)
