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
