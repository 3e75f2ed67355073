"""Sub-pixel convolution in the convolution's direction: space to depth, one GEMM, a sum of shifted blocks.

A strided convolution reads, for output ``q`` and tap ``t``, the input at ``q * s + t * d - before``.
Split every dim of the (virtually zero-padded) input into blocks of ``s`` positions (space to depth:
block ``B``, offset ``u``, position ``B * s + u - before``) and the dilated kernel into ``A = ceil(k_eff /
s)`` blocks of ``s`` taps (slot ``a``, offset ``u``: tap extent position ``a * s + u``).  Then

    y[o, q] = sum over slots a of Z[(o, a), q + a],   Z = W_blocks @ X_blocks

where ``X_blocks`` has one row per (input channel, ``u``) and one column per block (an im2col with kernel
= stride = ``s``: every input element copied once), and ``W_blocks[(o, a), (c, u)]`` is the weight tap at
extent position ``a * s + u`` (zero where the dilated kernel has no tap).  This is the adjoint of
:mod:`.subpixel`'s transposed convolution: one GEMM with ``A**d * C_out`` rows and ``C_in * s**d`` inner
dimension instead of the im2col of every tap, which pays where the kernel is much larger than the
stride's share of the output (FCN's 64x64 kernel at stride 32: one input copy instead of an im2col of 4x the
input with rows of 10-15 strided elements).  The price: ``A - 1`` blocks per dim computed beyond the output
(``(Q + A - 1) / Q`` more columns) and the zero taps of a dilated kernel.

Needs :func:`.jit.available` (the im2col of :mod:`.gemm_loops`).

>>> import numpy as np
>>> from tconv.params import conv_geometry
>>> x, w = np.arange(16.).reshape(1, 1, 16), np.ones((1, 1, 4))
>>> conv(x, w, conv_geometry(x, w, stride=2, padding=1))[0, 0]
array([ 3., 10., 18., 26., 34., 42., 50., 42.])
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace

import numpy as np

from ..params import Geometry
from . import gemm_loops, packs
from .phasing import prod
from .weight_grad_numpy import result_bytes

#: Images per chunk: columns and GEMM result of about this many bytes (they stay in the cache), at least one.
CHUNK_BYTES = 4 << 20


@functools.lru_cache(maxsize=256)
def slots(geom: Geometry) -> tuple[int, ...]:
    """``A`` per dim: kernel blocks of ``stride`` taps covering the dilated kernel."""
    return tuple(-(-ke // s) for ke, s in zip(geom.effective_kernel, geom.stride))


@functools.lru_cache(maxsize=256)
def block_geometry(geom: Geometry) -> Geometry:
    """The space-to-depth im2col as a convolution: kernel = stride = ``s``, ``Q + A - 1`` outputs per dim."""
    blocks = tuple(q + a - 1 for q, a in zip(geom.output_shape, slots(geom)))
    return replace(geom, kernel_shape=geom.stride, dilation=(1,) * geom.ndim, output_shape=blocks)


def block_weight(weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """``(g, co * prod(A), ci * prod(s))``: rows (output channel, slots), columns (input channel, offsets)."""
    g, nd = geom.groups, geom.ndim
    co, ci = geom.out_channels // g, geom.in_channels // g
    a, s = slots(geom), geom.stride
    dense = np.zeros((g * co, ci) + tuple(x * y for x, y in zip(a, s)), dtype=weight.dtype)
    dense[(slice(None), slice(None)) + tuple(slice(0, ke, d) for ke, d in zip(geom.effective_kernel, geom.dilation))] = weight
    split = dense.reshape((g, co, ci) + tuple(v for pair in zip(a, s) for v in pair))
    order = (0, 1) + tuple(3 + 2 * i for i in range(nd)) + (2,) + tuple(4 + 2 * i for i in range(nd))
    return np.ascontiguousarray(split.transpose(order)).reshape(g, co * prod(a), ci * prod(s))


def chunk_images(geom: Geometry, itemsize: int) -> int:
    """Images per chunk: their columns and GEMM result within :data:`CHUNK_BYTES`, at least one image."""
    return max(1, min(geom.batch, CHUNK_BYTES // max(1, _per_image(geom) * itemsize)))


def _per_image(geom: Geometry) -> int:
    """Elements of one image's columns and GEMM result (one group)."""
    g = geom.groups
    blocks = prod(block_geometry(geom).output_shape)
    return (geom.in_channels // g * prod(geom.stride) + geom.out_channels // g * prod(slots(geom))) * blocks


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Space to depth (im2col with kernel = stride), one GEMM per chunk of images and group, then the sum of
    the ``prod(A)`` shifted blocks into the channels-first output (see the module docstring)."""
    g, n = geom.groups, geom.batch
    ci, co = geom.in_channels // g, geom.out_channels // g
    y = np.empty((n, geom.out_channels) + geom.output_shape, dtype=x.dtype)
    if y.size == 0:
        return y
    x = np.ascontiguousarray(x)
    a, view = slots(geom), block_geometry(geom)
    blocks, rows, spread = view.output_shape, ci * prod(geom.stride), co * prod(a)
    nb = prod(blocks)
    tables = gemm_loops.conv_tap_rows(view)
    wb = packs.packed(("blockconv",), lambda: block_weight(weight, geom))  # kept by a bound plan
    for n0, m, cols, z in _chunks(n, chunk_images(geom, x.dtype.itemsize), nb, rows, spread, x.dtype):
        for gi in range(g):
            gemm_loops.im2col_planes(cols, x, view, tables, n0, m, gi * ci, (gi + 1) * ci)
            np.matmul(wb[gi], cols, out=z)
            _sum_shifted(y[n0:n0 + m, gi * co:(gi + 1) * co], z.reshape((co,) + a + (m,) + blocks), a)
    return y


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry) -> np.ndarray:
    """The weight gradient in blocks (the adjoint of :func:`conv` in its weight): per chunk of images and
    group, the space to depth of ``big`` (as :func:`conv`), the ``prod(A)`` shifted copies of ``small`` in the
    block grid, one GEMM ``(cs * prod(A), m * blocks) @ (m * blocks, cb * prod(s))``, summed; then the
    kernel's taps picked out of the blocks.  Needs :func:`.jit.available` and operands of one dtype.

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 4), np.float64, stride=2)
    >>> weight_grad(np.ones((1, 1, 2)), np.arange(6.).reshape(1, 1, 6), g)
    array([[[2., 4., 6., 8.]]])
    """
    g, n = geom.groups, small.shape[0]
    cs, cb = small.shape[1] // g, big.shape[1] // g
    view = geom.convolution()  # the conv big -> small
    a, blocked = slots(view), block_geometry(view)
    blocks, rows, spread = blocked.output_shape, cb * prod(view.stride), cs * prod(a)
    nb = prod(blocks)
    dwb = np.zeros((g, spread, rows), dtype=small.dtype)
    if n > 0:
        tables = gemm_loops.conv_tap_rows(blocked)
        big = np.ascontiguousarray(big)
        for n0, m, cols, shifted in _chunks(n, chunk_images(view, small.dtype.itemsize), nb, rows, spread, small.dtype):
            for gi in range(g):
                gemm_loops.im2col_planes(cols, big, blocked, tables, n0, m, gi * cb, (gi + 1) * cb)
                _spread_shifted(shifted.reshape((cs,) + a + (m,) + blocks), small[n0:n0 + m, gi * cs:(gi + 1) * cs], a)
                dwb[gi] += shifted @ cols.T
    return _unblocked(dwb, view)


def weight_grad_bytes(geom: Geometry, itemsize: int) -> int:
    """What :func:`weight_grad` allocates, its result included: a chunk's columns and spread rows, the
    block sums and one group's product, and the taps picked out of them."""
    g = geom.groups
    cs, cb = geom.small_channels // g, geom.big_channels // g
    view = geom.convolution()
    nb = prod(block_geometry(view).output_shape)
    rows, spread = cb * prod(view.stride), cs * prod(slots(view))
    per = chunk_images(view, itemsize)
    return ((rows + spread) * per * nb + (g + 1) * spread * rows) * itemsize + 2 * result_bytes(geom, itemsize)


def _chunks(n: int, per: int, blocks: int, rows: int, spread: int, dtype):
    """Per chunk of at most ``per`` of the ``n`` images: ``(n0, m, columns (rows, m * blocks), spread rows
    (spread, m * blocks))``, views into two buffers allocated once for the call."""
    cols_buffer = np.empty(rows * per * blocks, dtype=dtype)
    spread_buffer = np.empty(spread * per * blocks, dtype=dtype)
    for n0 in range(0, n, per):
        m = min(n, n0 + per) - n0
        yield (n0, m, cols_buffer[:rows * m * blocks].reshape(rows, m * blocks),
               spread_buffer[:spread * m * blocks].reshape(spread, m * blocks))


def _unblocked(dwb: np.ndarray, geom: Geometry) -> np.ndarray:
    """The weight ``(g * co, ci, *k)`` from its blocks ``(g, co * prod(A), ci * prod(s))`` (the inverse of
    :func:`block_weight` on the taps)."""
    g, nd = geom.groups, geom.ndim
    co, ci = geom.out_channels // g, geom.in_channels // g
    a, s = slots(geom), geom.stride
    split = dwb.reshape((g, co) + a + (ci,) + s)
    order = (0, 1, 2 + nd) + tuple(v for i in range(nd) for v in (2 + i, 3 + nd + i))
    dense = split.transpose(order).reshape((g * co, ci) + tuple(x * y for x, y in zip(a, s)))
    taps = tuple(slice(0, ke, d) for ke, d in zip(geom.effective_kernel, geom.dilation))
    return np.ascontiguousarray(dense[(slice(None), slice(None)) + taps])


def _spread_shifted(dst: np.ndarray, small: np.ndarray, a: tuple[int, ...]) -> None:
    """``dst[o, *s, i, *B] = small[i, o, *(B - s)]`` where ``0 <= B - s < Q``, zero elsewhere (the adjoint of
    :func:`_sum_shifted`; ``dst`` is ``(co, *A, m, *blocks)``, ``small`` is ``(m, co, *Q)``)."""
    dst[...] = 0
    out = small.shape[2:]
    for slot in itertools.product(*(range(v) for v in a)):
        dst[(slice(None),) + slot + (slice(None),) + tuple(slice(s, s + q) for s, q in zip(slot, out))] = \
            small.swapaxes(0, 1)


def _sum_shifted(dst: np.ndarray, z: np.ndarray, a: tuple[int, ...]) -> None:
    """``dst[i, o, *q] = sum over slots s of z[o, *s, i, *(q + s)]`` (``dst`` is ``(m, co, *Q)``)."""
    out = dst.shape[2:]
    for k, slot in enumerate(itertools.product(*(range(v) for v in a))):
        src = z[(slice(None),) + slot + (slice(None),) + tuple(slice(s, s + q) for s, q in zip(slot, out))]
        if k == 0:
            dst[...] = src.swapaxes(0, 1)
        else:
            dst += src.swapaxes(0, 1)


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """One chunk's columns and GEMM result, the block weight and the dense (dilated) weight it is built from
    (alive together while it is built), the im2col's tables.  A contiguous copy of a strided input is
    counted by the planner (the layout is "C")."""
    g = geom.groups
    block = geom.out_channels * prod(slots(geom)) * (geom.in_channels // g) * prod(geom.stride)
    view = block_geometry(geom)
    tables = prod(view.output_shape[:-1]) * prod(view.kernel_shape[:-1]) + 3 * view.kernel_shape[-1]
    return (chunk_images(geom, itemsize) * _per_image(geom) + 2 * block) * itemsize + 8 * tables


#: Passes over the output per slot: the shifted sums read the GEMM result and read + write the output.
SUM_PASSES = 2


def cost(geom: Geometry) -> float:
    """The GEMM (with its ``A - 1`` extra blocks per dim and a dilated kernel's zero taps), the bytes moved
    (input, columns, GEMM result, one read + write of the output per slot, the weight re-laid out), the
    im2col's inner loops and the Python steps per chunk."""
    from .cost import constants, gemm_seconds, per_call_seconds

    work = np.promote_types(geom.dtype, np.float32)
    c, isz = constants(work), np.dtype(work).itemsize
    g, n = geom.groups, geom.batch
    co, ci = geom.out_channels // g, geom.in_channels // g
    a, view = slots(geom), block_geometry(geom)
    blocks = prod(view.output_shape)
    per = chunk_images(geom, isz)
    chunks = -(-n // per)
    mm = gemm_seconds(co * prod(a), per * blocks, ci * prod(geom.stride), c, calls=g * chunks)
    cols = n * geom.in_channels * prod(geom.stride) * blocks
    z = n * geom.out_channels * prod(a) * blocks
    out = n * geom.out_channels * prod(geom.output_shape)
    weight = 3 * geom.out_channels * ci * prod(x * y for x, y in zip(a, geom.stride))
    moved = (n * geom.in_channels * prod(geom.input_shape) + cols + z + SUM_PASSES * prod(a) * out + weight) * isz
    rows = n * geom.in_channels * prod(geom.stride) * prod(view.output_shape[:-1])
    steps = 4 + g * chunks * (2 + prod(a))
    return mm + moved * c.byte_seconds + rows * gemm_loops.IM2COL_ROW_SECONDS + steps * c.step_seconds + per_call_seconds(c)
