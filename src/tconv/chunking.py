"""Which input elements each output chunk needs: the exact halo arithmetic of chunked execution.

Along one spatial dim, small index ``i``, tap ``t`` and big index ``o`` are
linked by ``o = i * stride + t * dilation - before`` (see
:mod:`tconv.params`).  A transposed convolution reads the small side and
writes the big side; a convolution reads the big side and writes the small
side.  For an output range ``[start, stop)`` the functions here return a
:class:`Span`: the input range it needs (for a transposed convolution the
inputs whose dilated kernel footprint meets the output range, for a
convolution the inputs under the output range's windows: nothing outside it
contributes; only dilation holes or stride gaps inside it may not), the
``(before, after)`` padding with
which the core operator turns exactly that input slice into exactly that
output range, and how many outputs at each end no input reaches (they hold
only the bias: a stride larger than the dilated kernel leaves such gaps, and
``output_padding`` adds them at the end).

This module is pure integer arithmetic (no Dask): :mod:`tconv.distributed`
builds its task graph from it.

>>> transposed_span(4, 8, n=5, kernel=3, stride=2, dilation=1, before=1)
Span(source=(2, 5), padding=(1, 2), fill=(0, 0))
>>> forward_span(0, 2, n=9, kernel=3, stride=2, dilation=1, before=1)
Span(source=(0, 4), padding=(1, 0), fill=(0, 0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .shapes import effective_kernel, full_size


@dataclass(frozen=True)
class Span:
    """How one output range along one dim is computed.

    Attributes:
        source: input range ``[first, stop)`` whose kernel footprints meet
            the output range; empty (``first >= stop``) when none does.
        padding: ``(before, after)`` for the core operator on ``source``: the
            outputs it crops (transposed convolution) or the zeros it adds
            (convolution).
        fill: outputs at each end of the range that no input reaches (they
            hold the bias only); the core operator's result goes in between.
    """

    source: tuple[int, int]
    padding: tuple[int, int]
    fill: tuple[int, int]

    @property
    def empty(self) -> bool:
        """True when no input contributes to the output range."""
        return self.source[0] >= self.source[1]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def transposed_span(start: int, stop: int, *, n: int, kernel: int, stride: int, dilation: int, before: int) -> Span:
    """Input range and local crop for outputs ``[start, stop)`` of a transposed convolution.

    ``n`` is the input (small side) length, ``before`` the crop at the front.
    Input ``i`` reaches outputs ``i*stride - before + t*dilation`` for taps
    ``t`` in ``[0, kernel)``.

    >>> transposed_span(0, 3, n=4, kernel=1, stride=4, dilation=1, before=0)  # outputs 1, 2 are gaps
    Span(source=(0, 1), padding=(0, 0), fill=(0, 2))
    """
    reach = effective_kernel(kernel, dilation) - 1  # an input's last tap lands this far past its first
    first = max(0, _ceil_div(start + before - reach, stride))
    last = min(n, (stop - 1 + before) // stride + 1)
    if first >= last:
        return Span((first, first), (0, 0), (stop - start, 0))
    full_start = first * stride - before  # global output index of the piece's first uncropped output
    full_stop = full_start + full_size(last - first, kernel, stride, dilation)
    return Span(
        source=(first, last),
        padding=(max(0, start - full_start), max(0, full_stop - stop)),
        fill=(max(0, full_start - start), max(0, stop - full_stop)),
    )


def forward_span(start: int, stop: int, *, n: int, kernel: int, stride: int, dilation: int, before: int) -> Span:
    """Input range and local zero padding for outputs ``[start, stop)`` of a convolution.

    ``n`` is the input (big side) length, ``before`` the zeros added in front.
    Output ``i`` reads inputs ``i*stride - before + t*dilation``.

    >>> forward_span(0, 1, n=3, kernel=2, stride=1, dilation=1, before=5)  # only padding under it
    Span(source=(0, 0), padding=(0, 0), fill=(1, 0))
    """
    lo = start * stride - before
    hi = lo + full_size(stop - start, kernel, stride, dilation)
    first, last = max(0, lo), min(n, hi)
    if first >= last:
        return Span((0, 0), (0, 0), (stop - start, 0))
    return Span(source=(first, last), padding=(first - lo, hi - last), fill=(0, 0))


def split(length: int, size: int) -> tuple[int, ...]:
    """Regular chunks of ``size`` covering ``length`` (the last one may be shorter).

    >>> split(10, 4)
    (4, 4, 2)
    """
    size = max(1, size)
    full, rest = divmod(length, size)
    return (size,) * full + ((rest,) if rest else ())


def output_chunk_size(input_chunks: Sequence[int], stride: int, transposed: bool) -> int:
    """Output chunk length matching the largest input chunk: ``c*stride`` (transposed) or ``ceil(c/stride)``.

    >>> output_chunk_size((5, 5, 2), 2, transposed=True), output_chunk_size((5, 5, 2), 2, transposed=False)
    (10, 3)
    """
    largest = max(input_chunks, default=1)
    return largest * stride if transposed else _ceil_div(largest, stride)


def blocks_covering(bounds: tuple[int, ...], wanted: np.ndarray) -> tuple[list[tuple[int, slice]], np.ndarray | None]:
    """The input blocks (boundaries ``bounds``) that hold the positions ``wanted``, with the local slice of
    each that spans its wanted positions, and where each wanted position lands in those slices concatenated
    (None when that is all of them, in order).

    >>> blocks_covering((0, 3, 6, 8), np.arange(2, 7))
    ([(0, slice(2, 3, None)), (1, slice(0, 3, None)), (2, slice(0, 1, None))], None)
    >>> blocks_covering((0, 3, 6, 8), np.array([7, 0, 1, 2]))  # wrapped around
    ([(0, slice(0, 3, None)), (2, slice(1, 2, None))], array([3, 0, 1, 2]))
    """
    edges = np.asarray(bounds)
    block_of = np.searchsorted(edges, wanted, side="right") - 1
    out, offset, local = [], 0, np.empty_like(wanted)
    for j in np.unique(block_of):
        mine = block_of == j
        lo, hi = int(wanted[mine].min()), int(wanted[mine].max()) + 1
        out.append((int(j), slice(lo - int(edges[j]), hi - int(edges[j]))))
        local[mine] = wanted[mine] - lo + offset
        offset += hi - lo
    in_order = offset == len(wanted) and bool(np.all(local == np.arange(len(wanted))))
    return out, None if in_order else local
