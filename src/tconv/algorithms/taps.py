"""Which part of the small side meets which part of the big side, for each kernel tap.

Along one spatial dim, small index ``i``, tap ``t`` and big index ``o`` are
linked by ``o = i * stride + t * dilation - before``.  For every tap,
:func:`tap_windows` yields the slices of the small side and of the big side
that this relation pairs up, restricted to indices inside both arrays.  A
transposed convolution *scatters* small -> big along these pairs; a
convolution *gathers* big -> small along the very same pairs, which is why
the two are adjoint.

>>> from tconv.params import conv_transpose_geometry
>>> import numpy as np
>>> g = conv_transpose_geometry(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), stride=2)
>>> [(t, s, b) for t, s, b in tap_windows(g)]
[((0,), (slice(0, 2, None),), (slice(0, 3, 2),)), ((1,), (slice(0, 2, None),), (slice(1, 4, 2),))]
"""

from __future__ import annotations

import functools
from typing import Iterator

import numpy as np

from ..params import Geometry

Window = tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...]]


def _axis_window(small_n: int, big_n: int, stride: int, offset: int) -> tuple[slice, slice] | None:
    """Slices pairing ``small[i]`` with ``big[i * stride + offset]`` inside both arrays."""
    first = max(0, -(offset // stride))  # smallest i with i * stride + offset >= 0
    last = min(small_n, (big_n - 1 - offset) // stride + 1)  # one past the largest such i
    if last <= first:
        return None
    start = first * stride + offset
    return slice(first, last), slice(start, start + (last - first - 1) * stride + 1, stride)


def tap_windows(geom: Geometry) -> Iterator[Window]:
    """Yield ``(tap, small_slices, big_slices)`` for every tap that touches both sides."""
    for tap in np.ndindex(*geom.kernel_shape):
        small, big = [], []
        for n_small, n_big, t, s, d, lo in zip(
            geom.small_shape, geom.big_shape, tap, geom.stride, geom.dilation, geom.before
        ):
            window = _axis_window(n_small, n_big, s, t * d - lo)
            if window is None:
                break
            small.append(window[0])
            big.append(window[1])
        else:
            yield tap, tuple(small), tuple(big)


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


def combine_tables(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]):
    """Tap tables of two dims merged into one (row-major): every pair of taps, offsets added."""
    (c1, t1), (c2, t2) = first, second
    count = (c1[:, None] * c2[None, :]).reshape(-1)
    m1, m2 = t1.shape[1], t2.shape[1]
    table = (t1[:, None, :, None] + t2[None, :, None, :]).reshape(len(c1) * len(c2), m1 * m2)
    valid = ((np.arange(m1)[None, None, :, None] < c1[:, None, None, None])
             & (np.arange(m2)[None, None, None, :] < c2[None, :, None, None])).reshape(len(c1) * len(c2), m1 * m2)
    order = np.argsort(~valid, axis=1, kind="stable")
    return count, np.take_along_axis(table, order, axis=1)


def conv_last_dim_ranges(geom: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A convolution's last dim, per tap ``t``: ``starts[t] = t * dilation - before`` and the outputs
    ``q0[t] <= q < q1[t]`` whose input ``q * stride + starts[t]`` is in range (0, 0 where none is).

    >>> from tconv.params import geometry_from_shapes
    >>> starts, q0, q1 = conv_last_dim_ranges(geometry_from_shapes(False, (1, 1, 4), (1, 1, 3), padding=1))
    >>> starts.tolist(), q0.tolist(), q1.tolist()
    ([-1, 0, 1], [1, 0, 0], [4, 4, 3])
    """
    out, inp, k = geom.output_shape[-1], geom.input_shape[-1], geom.kernel_shape[-1]
    starts = np.arange(k, dtype=np.int64) * geom.dilation[-1] - geom.padding[-1][0]
    q = np.arange(out, dtype=np.int64)[None, :] * geom.stride[-1] + starts[:, None]
    ok = (q >= 0) & (q < inp)
    q0 = np.where(ok.any(axis=1), ok.argmax(axis=1), 0).astype(np.int64)
    q1 = np.where(ok.any(axis=1), out - ok[:, ::-1].argmax(axis=1), 0).astype(np.int64)
    return starts, q0, q1
