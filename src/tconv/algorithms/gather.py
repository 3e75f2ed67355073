"""Gathers by per-axis offsets: the re-layouts, interleaves and crops of ``subpixel`` and ``nooverlap``.

:func:`gather` fills ``dst[a, b, j, o] = src[off_a + off_b + off_j + off_o]``,
one offset array per destination axis (``-1``: the element is zero).  An
interleave of output phases, a crop and the zero gaps of a re-layout are all
of this form, so one compiled loop (see :mod:`.jit`) writes every output
element once, where NumPy would make one strided pass per step.

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

import numpy as np

from .._threads import num_threads, run_chunks
from .jit import jit


#: "No source element" in the unsigned offset arrays of the kernels (-1 before the cast).
_NONE = np.uint64(np.iinfo(np.uint64).max)


@jit
def _gather4(dst, src, oa, ob, oj, oo, a0, a1, b0, b1, block_b, block_o):
    """``dst[a, b, j, o] = src[oa[a] + ob[b] + oj[j] + oo[o]]`` (0 where any offset is _NONE), a in [a0, a1), b in [b0, b1).

    Offsets are uint64 (unsigned indexing, see :mod:`.jit`).
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
    use 1 when axis 1 is not.  Needs :func:`.jit.available`.
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
