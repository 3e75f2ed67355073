"""Winograd F(4x4, 3x3): 2-D, 3x3, stride-1, undilated layers with a quarter of the GEMM multiply-adds.

A stride-1 transposed convolution is a correlation with the flipped,
channel-swapped kernel, and a stride-1 convolution is one already; both come
down to ``y[co] = sum over ci of corr(x[ci], g[co, ci])`` with a 3x3 ``g``.
Winograd's minimal filtering algorithm computes each 4x4 block of ``y`` from
the 6x6 block of the input under it as

    ``Y = A^T [ sum over ci of (G g G^T) * (B^T d B) ] A``

(Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016;
interpolation points 0, +-1, +-2 and infinity).  The sum over input channels,
done for each of the 36 elements of the transformed 6x6 blocks, is 36 GEMMs
``(C_out, C_in) @ (C_in, tiles)``: 36 multiply-adds per 16 outputs and
channel pair instead of 9 * 16.  The input and output transforms are compiled
loops (numba, so the algorithm needs :func:`.jit.available`) over rows of
tiles, vectorised along the rows; the tile rows of all images run in chunks of
about ``CHUNK_TILES`` tiles, so that a chunk's transformed blocks stay in the
cache from one step to the next.

The price is rounding: the transforms' coefficients (up to 8, and 1/24)
leave float32 results about 10-20x further from the exact value than a direct
sum (~6e-6 of the largest output with 64 input channels, against ~3e-7;
float64 ~1e-14).  ``auto`` picks it where the cost model says it is fastest;
pass ``algorithm="gemm"`` for the tightest float32 rounding.

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> from tconv.algorithms import direct
>>> x = np.arange(50.).reshape(1, 2, 5, 5); k = np.ones((2, 3, 3, 3))
>>> geom = conv_transpose_geometry(x, k, padding=1)
>>> bool(np.allclose(conv_transpose(x, k, geom), direct.conv_transpose(x, k, geom)))
True
"""

from __future__ import annotations

import numpy as np

from .._layout import kernel_operand
from ..params import Geometry
from . import packs
from .jit import available, jit
from .phasing import io_bytes, prod
from .registry import Algorithm
from .tile_sums import TileSums
from .weight_grad_numpy import numpy_weight_grad, numpy_weight_grad_bytes

#: G (6x3): the 3x3 filter to its 6x6 transform ``G g G^T``.
FILTER = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
#: B^T (6x6): a 6x6 input block to its transform ``B^T d B``.
INPUT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=float)
#: A^T (4x6): a transformed 6x6 product back to the 4x4 output block ``A^T m A``.
OUTPUT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=float)

TILE = 4  # output positions per tile and dim
BLOCK = 6  # input positions per tile and dim

#: Tiles per chunk (all images' tile rows in a row): the 36 GEMMs reach their best rate from about 200
#: tiles, and the chunk's transformed blocks still stay in the cache between the transforms and the GEMMs.
CHUNK_TILES = 196
CHUNK_BYTES = 8 << 20


def unsupported(geom: Geometry) -> str | None:
    """Only 2-D, 3x3, stride 1, dilation 1, one group, float32/float64 with the compiled kernels.

    The reason reads after "algorithm 'winograd' does not support ": what is refused, then what it needs.
    """
    if geom.ndim != 2 or geom.kernel_shape != (3, 3):
        return f"kernel size {geom.kernel_shape} (it needs a 2-D 3x3 kernel)"
    if geom.stride != (1, 1):
        return f"stride {geom.stride} (it needs stride 1)"
    return dense_compiled_reason(geom)


def dense_compiled_reason(geom: Geometry) -> str | None:
    """Why a 2-D Winograd kernel declines ``geom`` besides its kernel and stride: dilation, groups, or running
    without the compiled kernels (None: none of these)."""
    if geom.dilation != (1, 1):
        return f"dilation {geom.dilation} (it needs dilation 1)"
    if geom.groups != 1:
        return f"groups={geom.groups} (it needs groups=1)"
    work = np.promote_types(geom.dtype, np.float32)
    if not available(work):
        return (f"running without the compiled kernels for {work} (it needs numba: pip install 'tconv[fast]', "
                "and TCONV_NUMBA not 0)")
    return None


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Output ``o`` gets input ``o + lo - t`` through tap ``t``: a correlation with the flipped, swapped kernel."""
    u = packs.packed(("winograd", True), lambda: filter_transform(weight, x.dtype, flip=True))
    u = u.transpose(0, 2, 1)  # (36, C_out, C_in), a view
    return _correlate(x, u, tuple(2 - lo for lo in geom.before), geom.output_shape)


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Output ``o`` reads input ``o + t - lo``: the correlation itself."""
    u = packs.packed(("winograd", False), lambda: filter_transform(weight, x.dtype))
    return _correlate(x, u, geom.before, geom.output_shape)


#: ``G g G^T`` for every 3x3 ``g`` at once: row ``6a + b`` holds ``G[a, i] * G[b, j]`` at column ``3i + j``.
_FILTER_PAIRS = np.kron(FILTER, FILTER)


def filter_transform(g: np.ndarray, dtype, flip: bool = False) -> np.ndarray:
    """``(A, B, 3, 3) -> (36, A, B)``: ``G g G^T`` per channel pair, as one GEMM (``flip``: of the kernel
    rotated by 180 degrees)."""
    pairs = _FILTER_PAIRS[:, ::-1] if flip else _FILTER_PAIRS
    flat = np.ascontiguousarray(g).reshape(g.shape[0] * g.shape[1], 9)
    return (pairs.astype(dtype) @ flat.T).reshape(BLOCK * BLOCK, g.shape[0], g.shape[1])


def _correlate(x: np.ndarray, u: np.ndarray, lo: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """``y[n, o, i, j] = sum x[n, c, i + a - lo0, j + b - lo1] * g[o, c, a, b]`` (zero outside ``x``), from the
    transformed filter ``u = (36, C_out, C_in)`` of ``g``."""
    conv = _ConvTiles(x, u, out_shape)
    if conv.y.size and x.shape[1]:
        _run_tiles(x, lo, out_shape, (conv,))
    elif conv.y.size:
        conv.y[...] = 0
    return conv.y


class _ConvTiles:
    """The forward's consumer of a chunk's transformed input blocks: 36 GEMMs with the transformed filter
    ``u``, then the output transform into ``y``."""

    def __init__(self, x: np.ndarray, u: np.ndarray, out_shape: tuple[int, ...]):
        self.u, self.channels = u, u.shape[1]
        self.y = np.empty((x.shape[0], self.channels) + tuple(out_shape), dtype=x.dtype)
        self.at = OUTPUT.astype(x.dtype)

    def start(self, tiles: int) -> None:
        self.buffer = np.empty(BLOCK * BLOCK * self.channels * tiles, dtype=self.y.dtype)

    def chunk(self, v: np.ndarray, k: np.ndarray, th: int, tw: int, row0: int, row1: int) -> None:
        m = _blocks(self.buffer, self.channels, v.shape[2])
        np.matmul(self.u, v, out=m)
        _output_tiles(m, self.y, self.at, k, th, tw, row0, row1)


class _WeightTiles:
    """The weight gradient's consumer of a chunk's transformed blocks of the big side: ``small``'s 4x4
    blocks transformed (:func:`_small_tiles`), 36 GEMMs over the chunk's tiles summed (:class:`.TileSums`);
    :meth:`result` applies ``G^T . G``."""

    def __init__(self, small: np.ndarray, big_channels: int):
        self.small, self.channels = small, small.shape[1]
        self.sums = TileSums((BLOCK * BLOCK, self.channels, big_channels), small.dtype)

    def start(self, tiles: int) -> None:
        self.buffer = np.empty(BLOCK * BLOCK * self.channels * tiles, dtype=self.small.dtype)

    def chunk(self, v: np.ndarray, k: np.ndarray, th: int, tw: int, row0: int, row1: int) -> None:
        u = _blocks(self.buffer, self.channels, v.shape[2])
        _small_tiles(self.small, u, k, th, tw, row0, row1)
        self.sums.add(u, v.transpose(0, 2, 1))

    def result(self) -> np.ndarray:
        sums = self.sums.total()
        cs, cb = sums.shape[1:]
        taps = _FILTER_PAIRS.T.astype(sums.dtype) @ sums.reshape(BLOCK * BLOCK, cs * cb)  # (9, cs*cb)
        return np.ascontiguousarray(taps.reshape(3, 3, cs, cb).transpose(2, 3, 0, 1))


def _run_tiles(x: np.ndarray, lo: tuple[int, ...], out_shape: tuple[int, ...], consumers: tuple) -> None:
    """The tile rows of all images, in chunks of :func:`_chunk_rows`: each chunk's 6x6 input blocks of
    ``x`` transformed once (:func:`_input_tiles`) and handed to every consumer (``start(tiles)`` first,
    then ``chunk(v, k, th, tw, row0, row1)`` per chunk)."""
    n, c = x.shape[:2]
    th, tw = (-(-m // TILE) for m in out_shape)
    k = np.array([2, 4, 5, 8], dtype=x.dtype)
    rows = _chunk_rows(c, sum(con.channels for con in consumers), th, tw, x.dtype.itemsize)
    v_buffer = np.empty(BLOCK * BLOCK * c * rows * tw, dtype=x.dtype)
    for con in consumers:
        con.start(rows * tw)
    for row0 in range(0, n * th, rows):
        row1 = min(n * th, row0 + rows)
        v = _blocks(v_buffer, c, (row1 - row0) * tw)
        # the transforms run on the calling thread: between GEMMs, BLAS's threads keep spinning, and splitting
        # the transforms over tconv's threads made them slower, not faster
        _input_tiles(x, v, k, lo[0], lo[1], th, tw, row0, row1)
        for con in consumers:
            con.chunk(v, k, th, tw, row0, row1)


def _blocks(buffer: np.ndarray, channels: int, tiles: int) -> np.ndarray:
    """The start of a flat ``buffer`` as ``tiles`` transformed 6x6 blocks per channel: ``(36, channels, tiles)``."""
    return buffer[:BLOCK * BLOCK * channels * tiles].reshape(BLOCK * BLOCK, channels, tiles)


def _chunk_rows(c: int, co: int, th: int, tw: int, itemsize: int) -> int:
    """Tile rows (of all images in a row) per chunk: about ``CHUNK_TILES`` tiles, or fewer where the
    transformed blocks (``c`` input and ``co`` output channels) would outgrow ``CHUNK_BYTES``."""
    per_row = BLOCK * BLOCK * (c + co) * tw * itemsize
    return max(1, min(-(-CHUNK_TILES // tw), CHUNK_BYTES // max(1, per_row)))


@jit
def _input_tiles(x, v, k, lo0, lo1, th, tw, row0, row1):
    """``v[6a + b, c, t] = (B^T d B)[a, b]`` for the tiles ``t`` of the tile rows ``row0:row1`` (all images'
    tile rows in a row; ``t = (row - row0) * tw + j``) and every channel ``c``.

    Per tile row: the 6 input rows under it (zero-padded) are combined down the
    columns (``B^T d``, contiguous), then along each tile's 6 columns (``. B``,
    a stride-4 read); the tiles of one row are consecutive in ``v``.  Flat,
    unsigned indexing keeps the loops vectorisable (see :mod:`.jit`); ``k`` holds the constants 2, 4,
    5 and 8 in the arrays' dtype (integer literals would turn float32 arithmetic into float64).
    """
    u1, u2, u3, u4, u5 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4), np.uint64(5)
    channels, h, w = np.uint64(x.shape[1]), x.shape[2], x.shape[3]
    uh, uw = np.uint64(h), np.uint64(w)
    tiles = np.uint64(v.shape[2])
    width = np.uint64(tw * 4 + 2)
    xf, vf = x.reshape(-1), v.reshape(-1)
    plane = channels * tiles  # v's stride between its 36 planes
    rows = np.zeros(6 * tw * 4 + 12, dtype=x.dtype)
    cols = np.empty(6 * tw * 4 + 12, dtype=x.dtype)
    left = np.uint64(max(0, lo1))  # columns of ``rows`` that hold input: [left, right)
    right = np.uint64(min(tw * 4 + 2, lo1 + w))
    skip = np.uint64(max(0, -lo1))  # input columns cropped on the left
    four = np.uint64(4)
    k2, k4, k5 = k[0], k[1], k[2]
    for c in range(channels):
        for row in range(row0, row1):
            n, i = np.uint64(row // th), row % th
            top = i * 4 - lo0
            for a in range(6):  # the input rows under this tile row, zero outside
                ua = np.uint64(a) * width
                src = top + a
                if src < 0 or src >= h:
                    for q in range(left, right):
                        rows[ua + q] = 0
                    continue
                base = ((n * channels + c) * uh + np.uint64(src)) * uw + skip
                for q in range(np.uint64(0), right - left):
                    rows[ua + left + q] = xf[base + q]
            for q in range(width):  # B^T d, down the columns
                d0, d1, d2 = rows[q], rows[width + q], rows[u2 * width + q]
                d3, d4, d5 = rows[u3 * width + q], rows[u4 * width + q], rows[u5 * width + q]
                cols[q] = k4 * d0 - k5 * d2 + d4
                cols[width + q] = d3 + d4 - k4 * (d1 + d2)
                cols[u2 * width + q] = k4 * (d1 - d2) - d3 + d4
                cols[u3 * width + q] = k2 * (d3 - d1) - d2 + d4
                cols[u4 * width + q] = k2 * (d1 - d3) - d2 + d4
                cols[u5 * width + q] = k4 * d1 - k5 * d3 + d5
            t0 = np.uint64(row - row0) * np.uint64(tw)
            for a in range(np.uint64(6)):  # (B^T d) B, along each tile's columns
                src = a * width
                dst = a * np.uint64(6) * plane + c * tiles + t0
                for j in range(np.uint64(tw)):
                    q = src + j * four
                    e0, e1, e2, e3, e4, e5 = cols[q], cols[q + u1], cols[q + u2], cols[q + u3], cols[q + u4], cols[q + u5]
                    vf[dst + j] = k4 * e0 - k5 * e2 + e4
                    vf[dst + plane + j] = e3 + e4 - k4 * (e1 + e2)
                    vf[dst + u2 * plane + j] = k4 * (e1 - e2) - e3 + e4
                    vf[dst + u3 * plane + j] = k2 * (e3 - e1) - e2 + e4
                    vf[dst + u4 * plane + j] = k2 * (e1 - e3) - e2 + e4
                    vf[dst + u5 * plane + j] = k4 * e1 - k5 * e3 + e5


@jit
def _output_tiles(m, y, at, k, th, tw, row0, row1):
    """``y[n, o, 4i:4i+4, 4j:4j+4] = A^T m A`` (cropped at the far edges) for the tile rows ``row0:row1`` and
    every output channel ``o`` (``m`` laid out as ``v`` in :func:`_input_tiles`).

    Per channel: ``m A`` for all the chunk's tiles at once (each tile's 6 columns to 4, laid out as the
    output rows' columns), then per tile row ``A^T (m A)`` down the columns into the output rows.
    """
    u1, u2, u3, u4, u5 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4), np.uint64(5)
    channels, ho, wo = np.uint64(y.shape[1]), y.shape[2], np.uint64(y.shape[3])
    uho = np.uint64(ho)
    tiles = np.uint64(m.shape[2])
    plane = channels * tiles
    span = np.uint64(4) * tiles  # one of the 6 rows of ``half``: 4 columns per tile
    width = np.uint64(tw * 4)
    mf, yf = m.reshape(-1), y.reshape(-1)
    half = np.empty(6 * 4 * m.shape[2], dtype=y.dtype)
    four = np.uint64(4)
    k2, k4, k8 = k[0], k[1], k[3]
    for o in range(channels):
        for a in range(np.uint64(6)):  # m A, each tile's 6 columns to 4
            src = a * np.uint64(6) * plane + o * tiles
            dst = a * span
            for t in range(tiles):
                e0, e1, e2 = mf[src + t], mf[src + plane + t], mf[src + u2 * plane + t]
                e3, e4, e5 = mf[src + u3 * plane + t], mf[src + u4 * plane + t], mf[src + u5 * plane + t]
                q = dst + t * four
                half[q] = e0 + e1 + e2 + e3 + e4
                half[q + u1] = e1 - e2 + k2 * (e3 - e4)
                half[q + u2] = e1 + e2 + k4 * (e3 + e4)
                half[q + u3] = e1 - e2 + k8 * (e3 - e4) + e5
        for row in range(row0, row1):
            n, i = np.uint64(row // th), row % th
            seg = np.uint64(row - row0) * width
            top = i * 4
            for b in range(min(4, ho - top)):  # A^T (m A), down the columns
                w0, w1, w2, w3, w4, w5 = at[b, 0], at[b, 1], at[b, 2], at[b, 3], at[b, 4], at[b, 5]
                base = ((n * channels + o) * uho + np.uint64(top + b)) * wo
                for q in range(wo):
                    p = seg + q
                    yf[base + q] = (w0 * half[p] + w1 * half[span + p] + w2 * half[u2 * span + p]
                                    + w3 * half[u3 * span + p] + w4 * half[u4 * span + p] + w5 * half[u5 * span + p])


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """The weight gradient ``dw[a, b, t] = sum small[n, a, i] * big[n, b, i + t - lo]`` (``lo``: the
    padding before of the convolution big -> small) in the same tiles: for each 4x4 block of ``small``
    and the 6x6 block of ``big`` under it,

        ``dw = G^T [ sum over tiles of (A s A^T) * (B^T d B) ] G``

    (the adjoint of the forward formula in ``g`` and ``Y``): 36 GEMMs ``(C_small, tiles) @ (tiles,
    C_big)`` summed over the chunks, 36 multiply-adds per 16 positions and channel pair instead of 144,
    then one thin GEMM for ``G^T . G``.  ``big``'s blocks use the forward input transform
    (:func:`_input_tiles`); ``small``'s 4x4 blocks go to 6x6 with :func:`_small_tiles`.  Falls back to
    the NumPy gradient (:mod:`.weight_grad_numpy`) for a geometry :func:`unsupported` refuses or operands of
    two dtypes (see :mod:`.weight_grad`).

    >>> from tconv.params import geometry_from_shapes
    >>> from tconv.algorithms.weight_grad_numpy import im2col_weight_grad
    >>> g = geometry_from_shapes(False, (1, 2, 7, 6), (3, 2, 3, 3), np.float64, padding=1)
    >>> rng = np.random.default_rng(0)
    >>> big, small = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((1, 3, 7, 6))
    >>> bool(np.allclose(weight_grad(small, big, g), im2col_weight_grad(small, big, g)))
    True
    """
    operands = tile_operands(small, big, geom, unsupported)
    if operands is None:
        return numpy_weight_grad(small, big, geom)
    conv_geom, small, big = operands
    grad = _WeightTiles(small, big.shape[1])
    if small.size and big.shape[1]:
        _run_tiles(big, conv_geom.before, small.shape[2:], (grad,))
    return grad.result()


def weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`weight_grad` allocates, its result included: a chunk's transformed blocks of both sides, the
    36 sums and a chunk's part, the 9 taps and the result (the NumPy gradient's where it falls back)."""
    conv_geom = geom.convolution()
    if unsupported(conv_geom):
        return numpy_weight_grad_bytes(geom, itemsize)
    c, cs = conv_geom.in_channels, conv_geom.out_channels
    th, tw = (-(-m // TILE) for m in conv_geom.output_shape)
    tiles = _chunk_rows(c, cs, th, tw, itemsize) * tw if conv_geom.batch * th * tw and c else 0
    return (BLOCK * BLOCK * ((c + cs) * tiles + 2 * cs * c) + 2 * 9 * cs * c) * itemsize


def tile_operands(small: np.ndarray, big: np.ndarray, geom: Geometry, refuses) -> tuple | None:
    """A tile kernel's weight gradient operands: ``(the convolution big -> small, small, big)`` in the working
    dtype and C order; None where the kernel falls back to the NumPy gradient (a convolution ``refuses``
    (its ``unsupported``), or operands of two dtypes)."""
    conv_geom = geom.convolution()
    if refuses(conv_geom) or small.dtype != big.dtype:
        return None
    work = np.promote_types(small.dtype, np.float32)
    return conv_geom, kernel_operand(small, work), kernel_operand(big, work)


def conv_and_weight_grad(big: np.ndarray, weight: np.ndarray, small: np.ndarray,
                         geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """A transposed convolution's backward from one transform of ``big``'s blocks: ``(conv(big, weight),
    weight_grad(small, big))`` for ``geom`` the transposed convolution (``big`` its output gradient, ``small``
    its input, batched, C order, of one dtype), each chunk's transformed blocks feeding both the
    convolution's GEMMs and the weight gradient's (where :func:`conv` and :func:`weight_grad` transform
    them twice).  Needs what :func:`unsupported` says of ``geom``.

    >>> from tconv.params import geometry_from_shapes
    >>> rng = np.random.default_rng(0)
    >>> x, w, gy = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal((1, 3, 5, 5))
    >>> g = geometry_from_shapes(True, x.shape, w.shape, np.float64, padding=1)
    >>> gx, gw = conv_and_weight_grad(gy, w, x, g)
    >>> bool(np.allclose(gx, conv(gy, w, g.convolution())) and np.allclose(gw, weight_grad(x, gy, g)))
    True
    """
    conv_geom = geom.convolution()
    u = packs.packed(("winograd", False), lambda: filter_transform(weight, big.dtype))
    conv, grad = _ConvTiles(big, u, small.shape[2:]), _WeightTiles(small, big.shape[1])
    if small.size and big.shape[1]:
        _run_tiles(big, conv_geom.before, small.shape[2:], (conv, grad))
    elif conv.y.size:
        conv.y[...] = 0
    return conv.y, grad.result()


def backward_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`conv_and_weight_grad` holds beyond its convolution's :func:`workspace_bytes`: the small
    side's transformed blocks of a chunk, the 36 sums and their chunk's part, and the weight gradient."""
    conv_geom = geom.convolution()
    c, cs = conv_geom.in_channels, conv_geom.out_channels
    th, tw = (-(-m // TILE) for m in conv_geom.output_shape)
    tiles = _chunk_rows(c, 2 * cs, th, tw, itemsize) * tw if conv_geom.batch * th * tw and c else 0
    return (BLOCK * BLOCK * (cs * tiles + 2 * cs * c) + 9 * cs * c) * itemsize


@jit
def _small_tiles(s, u, k, th, tw, row0, row1):
    """``u[6a + b, c, t] = (A s A^T)[a, b]`` (``A = OUTPUT^T``, the adjoint of :func:`_output_tiles`' step)
    for the 4x4 blocks ``s`` (zero beyond the far edges) of the tile rows ``row0:row1`` and every channel
    ``c``, laid out as :func:`_input_tiles` lays out ``v``: the block's 4 rows combined down the columns to
    6, then each tile's 4 columns to 6.  ``k`` holds 2, 4, 5 and 8 in the arrays' dtype."""
    u1, u2, u3, u4, u5 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4), np.uint64(5)
    channels, h = np.uint64(s.shape[1]), s.shape[2]
    uh, uw = np.uint64(h), np.uint64(s.shape[3])
    tiles = np.uint64(u.shape[2])
    width = np.uint64(tw * 4)
    sf, uf = s.reshape(-1), u.reshape(-1)
    plane = channels * tiles
    rows = np.zeros(4 * tw * 4, dtype=s.dtype)  # columns from ``uw`` on stay zero
    cols = np.empty(6 * tw * 4, dtype=s.dtype)
    four = np.uint64(4)
    k2, k4, k8 = k[0], k[1], k[3]
    for c in range(channels):
        for row in range(row0, row1):
            n, i = np.uint64(row // th), row % th
            for a in range(4):  # the block rows, zero below the far edge
                ua = np.uint64(a) * width
                src = i * 4 + a
                if src >= h:
                    for q in range(uw):
                        rows[ua + q] = 0
                    continue
                base = ((n * channels + c) * uh + np.uint64(src)) * uw
                for q in range(uw):
                    rows[ua + q] = sf[base + q]
            for q in range(width):  # A s, down the columns
                s0, s1, s2, s3 = rows[q], rows[width + q], rows[u2 * width + q], rows[u3 * width + q]
                cols[q] = s0
                cols[width + q] = s0 + s1 + s2 + s3
                cols[u2 * width + q] = s0 - s1 + s2 - s3
                cols[u3 * width + q] = s0 + k2 * s1 + k4 * s2 + k8 * s3
                cols[u4 * width + q] = s0 - k2 * s1 + k4 * s2 - k8 * s3
                cols[u5 * width + q] = s3
            t0 = np.uint64(row - row0) * np.uint64(tw)
            for a in range(np.uint64(6)):  # (A s) A^T, along each tile's columns
                src = a * width
                dst = a * np.uint64(6) * plane + c * tiles + t0
                for j in range(np.uint64(tw)):
                    q = src + j * four
                    e0, e1, e2, e3 = cols[q], cols[q + u1], cols[q + u2], cols[q + u3]
                    uf[dst + j] = e0
                    uf[dst + plane + j] = e0 + e1 + e2 + e3
                    uf[dst + u2 * plane + j] = e0 - e1 + e2 - e3
                    uf[dst + u3 * plane + j] = e0 + k2 * e1 + k4 * e2 + k8 * e3
                    uf[dst + u4 * plane + j] = e0 - k2 * e1 + k4 * e2 - k8 * e3
                    uf[dst + u5 * plane + j] = e3


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """The buffers of one chunk's transformed input and output blocks (sized for a full chunk of
    :func:`_chunk_rows` tile rows, however few the batch has), and the transformed filter."""
    c, co = geom.in_channels, geom.out_channels
    th, tw = (-(-m // TILE) for m in geom.output_shape)
    tiles = _chunk_rows(c, co, th, tw, itemsize) * tw if geom.batch * th * tw and c else 0
    return BLOCK * BLOCK * ((c + co) * tiles + c * co) * itemsize


#: Cost model: Python-level steps per call besides the chunks (transforms, buffers)
FIXED_STEPS = 6

def cost(geom: Geometry) -> float:
    """36 GEMMs over the tiles and the filter transform (one thin GEMM), plus the two tile transforms
    (reading and writing the 36 planes)."""
    from .cost import constants, gemm_seconds, per_call_seconds

    work = np.promote_types(geom.dtype, np.float32)
    k, isz = constants(work), np.dtype(work).itemsize
    c, co = geom.in_channels, geom.out_channels
    tiles = geom.batch * prod(-(-m // TILE) for m in geom.output_shape)
    mm = gemm_seconds(co, tiles, c, k, calls=BLOCK * BLOCK) + gemm_seconds(BLOCK * BLOCK, c * co, 9, k)
    moved = BLOCK * BLOCK * (c + co) * tiles * isz + io_bytes(geom, isz)
    return mm + moved * k.byte_seconds + FIXED_STEPS * k.step_seconds + per_call_seconds(k)


ALGORITHM = Algorithm(
    name="winograd",
    summary="2-D 3x3 stride 1: Winograd F(4x4, 3x3), 36 GEMMs over 6x6 tile transforms (4x fewer MACs)",
    conv_transpose=conv_transpose,
    conv=conv,
    weight_grad=weight_grad,
    weight_grad_bytes=weight_grad_bytes,
    workspace_bytes=workspace_bytes,
    cost=cost,
    unsupported=unsupported,
)
