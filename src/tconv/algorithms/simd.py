"""Vector code numba does not write by itself: a transpose through registers.

Moving data between the channels-last layout the tile transforms and GEMMs want and the channels-first
layout of the operator's arrays is a transpose of (positions x channels) blocks.  Written as loops, the
compiled code reads or writes one element per instruction (one side of the copy is always strided), and
NumPy's strided copy runs at 7-13 GB/s on the benchmark machine.  :data:`transpose_tile` moves a square
tile of ``L x L`` elements, ``L`` = 64 bytes / itemsize (one AVX-512 register per row: 16 float32, 8
float64), as ``L`` vector loads, ``log2 L`` rounds of two-register shuffles and ``L`` vector stores: round
``b`` (``L / 2, ..., 2, 1``) swaps the off-diagonal ``b x b`` blocks of every ``2b x 2b`` block, so after
the last round row ``j`` holds column ``j``.  LLVM lowers the shuffles for the vector unit at hand (two
AVX2 registers per row elsewhere), so the code is portable.  :data:`transpose_block` covers any block
with whole tiles and element loops at the ragged edges; :func:`transpose` runs it from Python.

Measured (bench/RESULTS.md): 26-40 GB/s for float32 and float64 blocks of 256-16384 x 64-128, against
NumPy's 7-23 GB/s; the same results bit for bit (a copy).

>>> import numpy as np
>>> shuffle_masks(4)
[(2, [0, 1, 4, 5], [2, 3, 6, 7]), (1, [0, 4, 2, 6], [1, 5, 3, 7])]
>>> src = np.arange(40.).reshape(5, 8); dst = np.empty((8, 5))
>>> transpose(dst, src); bool((dst == src.T).all())
True
"""

from __future__ import annotations

import numpy as np

from .jit import Helper, helper, jit

#: Bytes per tile row: one AVX-512 register
ROW_BYTES = 64


def lanes(itemsize: int) -> int:
    """Elements per tile row (and rows per tile) for ``itemsize``-byte elements.

    >>> lanes(4), lanes(8)
    (16, 8)
    """
    return ROW_BYTES // itemsize


def shuffle_masks(n: int) -> list[tuple[int, list[int], list[int]]]:
    """Per round ``b`` of an ``n x n`` tile transpose: the shuffle masks over the pair ``(row i, row i + b)``
    (indices into their concatenation) that give the new rows ``i`` and ``i + b``, for the rows ``i`` with
    ``(i // b)`` even: the upper row keeps its even ``b``-blocks and takes the lower row's even blocks in its
    odd ones; the lower row takes the upper row's odd blocks in its even ones and keeps its odd blocks."""
    rounds, b = [], n // 2
    while b >= 1:
        upper = [j if (j // b) % 2 == 0 else n + j - b for j in range(n)]
        lower = [j + b if (j // b) % 2 == 0 else n + j for j in range(n)]
        rounds.append((b, upper, lower))
        b //= 2
    return rounds


def _build_transpose_tile():
    """The numba intrinsic ``transpose_tile(src, src_offset, src_stride, dst, dst_offset, dst_stride)``:
    ``dst[dst_offset + j * dst_stride + i] = src[src_offset + i * src_stride + j]`` for ``i, j < L``, on flat
    float32 or float64 arrays of one dtype (offsets and strides in elements, unsigned)."""
    from llvmlite import ir
    from numba import types
    from numba.core import errors
    from numba.extending import intrinsic

    @intrinsic
    def transpose_tile(typingctx, src, src_offset, src_stride, dst, dst_offset, dst_stride):
        if not (isinstance(src, types.Array) and isinstance(dst, types.Array) and src.dtype == dst.dtype
                and src.dtype in (types.float32, types.float64)):
            raise errors.TypingError(f"transpose_tile needs two float32 or float64 arrays of one dtype, got {src}, {dst}")
        n = lanes(8 if src.dtype == types.float64 else 4)
        signature = types.void(src, src_offset, src_stride, dst, dst_offset, dst_stride)

        def codegen(context, builder, sig, args):
            s, s_off, s_stride, d, d_off, d_stride = args
            s_off, s_stride, d_off, d_stride = (context.cast(builder, v, t, types.uint64) for v, t in
                                                zip((s_off, s_stride, d_off, d_stride), sig.args[1:3] + sig.args[4:]))
            s_data = context.make_array(sig.args[0])(context, builder, s).data
            d_data = context.make_array(sig.args[3])(context, builder, d).data
            vector = ir.VectorType(context.get_data_type(sig.args[0].dtype), n)
            index = ir.IntType(64)

            def row(data, offset, stride, i):
                at = builder.add(offset, builder.mul(stride, ir.Constant(index, i)))
                return builder.bitcast(builder.gep(data, [at]), vector.as_pointer())

            rows = [builder.load(row(s_data, s_off, s_stride, i), align=1) for i in range(n)]
            for b, upper, lower in shuffle_masks(n):
                upper_mask = ir.Constant(ir.VectorType(ir.IntType(32), n), upper)
                lower_mask = ir.Constant(ir.VectorType(ir.IntType(32), n), lower)
                new = list(rows)
                for i in (i for i in range(n) if (i // b) % 2 == 0):
                    new[i] = builder.shuffle_vector(rows[i], rows[i + b], upper_mask)
                    new[i + b] = builder.shuffle_vector(rows[i], rows[i + b], lower_mask)
                rows = new
            for j in range(n):
                builder.store(rows[j], row(d_data, d_off, d_stride, j), align=1)
            return context.get_dummy_value()

        return signature, codegen

    return transpose_tile


#: ``transpose_tile(src, src_offset, src_stride, dst, dst_offset, dst_stride)`` inside compiled loops
#: (:func:`_build_transpose_tile`)
transpose_tile = Helper(_build_transpose_tile)


def _transpose_block(dst, dst_offset, dst_stride, src, src_offset, src_stride, rows, cols):
    """``dst[dst_offset + j * dst_stride + i] = src[src_offset + i * src_stride + j]`` for ``i < rows``,
    ``j < cols`` (flat arrays of one dtype; offsets and strides in elements): whole tiles through
    registers, the ragged edges element by element."""
    n = np.uint64(ROW_BYTES // src.itemsize)  # lanes(itemsize), which compiled code cannot call
    rows, cols = np.uint64(rows), np.uint64(cols)
    src_offset, src_stride = np.uint64(src_offset), np.uint64(src_stride)
    dst_offset, dst_stride = np.uint64(dst_offset), np.uint64(dst_stride)
    whole_rows, whole_cols = rows - rows % n, cols - cols % n
    for i in range(np.uint64(0), whole_rows, n):
        for j in range(np.uint64(0), whole_cols, n):
            transpose_tile(src, src_offset + i * src_stride + j, src_stride, dst, dst_offset + j * dst_stride + i,
                           dst_stride)
        for j in range(whole_cols, cols):
            for k in range(i, i + n):
                dst[dst_offset + j * dst_stride + k] = src[src_offset + k * src_stride + j]
    for i in range(whole_rows, rows):
        for j in range(cols):
            dst[dst_offset + j * dst_stride + i] = src[src_offset + i * src_stride + j]


#: :func:`_transpose_block` inside compiled loops
transpose_block = helper(_transpose_block)


@jit
def _transpose_images(dst, src, images, rows, cols):
    """``dst[n, j, i] = src[n, i, j]`` for ``images`` blocks of ``rows x cols`` (flat, C-contiguous)."""
    size = np.uint64(rows * cols)
    for n in range(np.uint64(images)):
        transpose_block(dst, n * size, rows, src, n * size, cols, rows, cols)


def transpose(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[..., j, i] = src[..., i, j]``: C-contiguous float32 or float64 arrays of one dtype, ``dst``'s
    shape ``src``'s with its last two axes swapped; one thread.  Needs :func:`.jit.available`."""
    if src.ndim < 2 or dst.shape != src.shape[:-2] + src.shape[:-3:-1] or dst.dtype != src.dtype:
        raise ValueError(f"transpose needs dst of shape {src.shape[:-2] + src.shape[:-3:-1]} and dtype {src.dtype}, "
                         f"got {dst.shape} {dst.dtype}")
    if not (dst.flags.c_contiguous and src.flags.c_contiguous):
        raise ValueError("transpose needs C-contiguous arrays")
    rows, cols = src.shape[-2:]
    _transpose_images(dst.reshape(-1), src.reshape(-1), src.size // max(1, rows * cols), rows, cols)

