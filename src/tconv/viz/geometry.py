"""What the drawings show, as plain data (no plotting here).

:func:`scatter` computes the chapter's picture of a 2-D single-channel
transposed convolution: every input element's contribution ``x[i, j] * K``
placed on an uncropped canvas, their sum, and the window that survives the
padding crop.  :func:`conv_view` computes the other picture of the same
operator: the zero-inserted, padded input that a stride-1 convolution with the
flipped kernel slides over.  Both are checked against :func:`tconv.conv_transpose`
in the tests, and the renderers only draw these numbers.

>>> s = scatter([[0., 1], [2, 3]], [[0., 1], [2, 3]], padding=1)
>>> s.total.tolist()
[[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]]
>>> s.output.tolist()
[[4.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..params import conv_transpose_geometry
from ..shapes import effective_kernel
from .._validate import numeric_array

#: Largest input / kernel side the drawings accept (pictures of bigger cases are unreadable).
MAX_SIDE = 12


@dataclass(frozen=True)
class Scatter:
    """The scatter picture of ``conv_transpose(x, kernel, ...)`` in 2-D.

    ``canvas_shape`` covers every position an input element writes to and
    every kept output position.  ``contributions[i, j]`` is ``x[i, j] * K``
    (dilated) placed at ``(i * stride, j * stride)`` on the canvas;
    ``total`` is their sum; ``keep`` are the canvas slices of the output
    (everything outside is cropped by ``padding``; kept positions past the
    last contribution come from ``output_padding`` and are zero).
    """

    x: np.ndarray
    kernel: np.ndarray
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    output_padding: tuple[int, int]
    contributions: np.ndarray
    total: np.ndarray
    keep: tuple[slice, slice]
    output: np.ndarray

    @property
    def canvas_shape(self) -> tuple[int, int]:
        """Shape of the uncropped canvas."""
        return self.total.shape  # type: ignore[return-value]

    @property
    def effective_kernel(self) -> tuple[int, int]:
        """Extent of the dilated kernel per axis: the rows and columns one contribution spans."""
        return tuple(effective_kernel(k, d) for k, d in zip(self.kernel.shape, self.dilation))  # type: ignore[return-value]

    def cropped_mask(self) -> np.ndarray:
        """Boolean canvas mask: True where padding crops the result away."""
        mask = np.ones(self.canvas_shape, dtype=bool)
        mask[self.keep] = False
        return mask

    def footprint(self, i: int, j: int) -> np.ndarray:
        """Boolean canvas mask of the positions input element ``(i, j)`` writes to."""
        mask = np.zeros(self.canvas_shape, dtype=bool)
        mask[_taps(i, j, self.stride, self.dilation, self.effective_kernel)] = True
        return mask


@dataclass(frozen=True)
class ConvView:
    """The convolution picture of the same operator.

    ``grid`` is the input with ``stride - 1`` zeros inserted between elements
    and ``effective_kernel - 1 - before`` zeros (or crops, when negative) on the
    front, enough at the end to give the output's size; ``source[p] = (i, j)``
    tells which input element sits at grid position ``p`` (``(-1, -1)`` for an
    inserted or padding zero).  ``flipped`` is the kernel rotated by 180
    degrees; output ``(r, c)`` is the sum of the grid window starting at
    ``(r, c)`` (taps ``dilation`` apart) times ``flipped``.
    """

    grid: np.ndarray
    source: np.ndarray
    flipped: np.ndarray
    dilation: tuple[int, int]
    output: np.ndarray

    def window(self, r: int, c: int) -> tuple[slice, slice]:
        """Grid slices read by output ``(r, c)``."""
        extent = tuple(effective_kernel(k, d) for k, d in zip(self.flipped.shape, self.dilation))
        return _taps(r, c, (1, 1), self.dilation, extent)


def _taps(i: int, j: int, stride: tuple[int, int], dilation: tuple[int, int],
          extent: tuple[int, int]) -> tuple[slice, slice]:
    """Canvas slices of the kernel taps placed at position ``(i, j)`` of a grid ``stride`` apart."""
    return tuple(slice(p * s, p * s + e, d) for p, s, d, e in zip((i, j), stride, dilation, extent))  # type: ignore[return-value]


def small_matrix(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 2-D matrix small enough to draw, or a ``ValueError`` naming ``name``.

    Every drawing of a single-channel picture (:func:`scatter`, :func:`conv_view`,
    :func:`tconv.viz.matrix.single_channel_matrix`) takes its input and kernel through here.

    >>> small_matrix([[0, 1], [2, 3]], "x").tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    >>> small_matrix([1, 2], "kernel")
    Traceback (most recent call last):
    ...
    ValueError: kernel must be a 2-D matrix (a single-channel picture), got shape (2,)
    """
    arr = numeric_array(value, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix (a single-channel picture), got shape {arr.shape}")
    if 0 in arr.shape or max(arr.shape) > MAX_SIDE:
        raise ValueError(f"{name} must have sides between 1 and {MAX_SIDE} to be drawn, got shape {arr.shape}")
    return np.array(arr, dtype=np.float64)


def scatter(
    x: Any,
    kernel: Any,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    output_padding: Any = 0,
) -> Scatter:
    """The scatter picture's data for a 2-D single-channel transposed convolution.

    Hyper-parameters are those of :func:`tconv.conv_transpose` (``padding``
    may be an int, per-dim values, ``(before, after)`` pairs or ``"same"``).

    >>> s = scatter([[1., 2]], [[1., 1]], stride=2)
    >>> s.output.tolist()
    [[1.0, 1.0, 2.0, 2.0]]
    >>> s.contributions.shape  # one canvas per input element
    (1, 2, 1, 4)
    """
    x, kernel = small_matrix(x, "x"), small_matrix(kernel, "kernel")
    geom = conv_transpose_geometry(
        x[None, None],
        kernel[None, None],
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
    )
    h, w = x.shape
    keep = tuple(slice(lo, lo + n) for lo, n in zip(geom.before, geom.output_shape))
    canvas = tuple(max(f, k.stop) for f, k in zip(geom.full_shape, keep))  # output_padding may run past the taps
    contributions = np.zeros((h, w) + canvas)
    for i in range(h):
        for j in range(w):
            contributions[(i, j) + _taps(i, j, geom.stride, geom.dilation, geom.effective_kernel)] = x[i, j] * kernel
    total = contributions.sum(axis=(0, 1))
    return Scatter(
        x=x,
        kernel=kernel,
        stride=geom.stride,
        dilation=geom.dilation,
        padding=geom.padding,  # type: ignore[arg-type]
        output_padding=geom.output_padding,  # type: ignore[arg-type]
        contributions=contributions,
        total=total,
        keep=keep,  # type: ignore[arg-type]
        output=total[keep].copy(),
    )


def conv_view(
    x: Any,
    kernel: Any,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    output_padding: Any = 0,
) -> ConvView:
    """The convolution picture's data: zero-inserted, padded input and flipped kernel.

    >>> v = conv_view([[0., 1], [2, 3]], [[0., 1], [2, 3]])
    >>> v.grid.tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    >>> v.output.tolist()
    [[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]]
    """
    s = scatter(x, kernel, stride=stride, padding=padding, dilation=dilation, output_padding=output_padding)
    out_shape = s.output.shape
    (sh, sw) = s.stride
    reach = tuple(e - 1 for e in s.effective_kernel)  # how far a window reaches past its first tap
    grid_shape = (out_shape[0] + reach[0], out_shape[1] + reach[1])
    grid = np.zeros(grid_shape)
    source = np.full(grid_shape + (2,), -1, dtype=np.int64)
    front = (reach[0] - s.padding[0][0], reach[1] - s.padding[1][0])
    for i in range(s.x.shape[0]):
        for j in range(s.x.shape[1]):
            p, q = i * sh + front[0], j * sw + front[1]
            if 0 <= p < grid_shape[0] and 0 <= q < grid_shape[1]:
                grid[p, q] = s.x[i, j]
                source[p, q] = (i, j)
    flipped = s.kernel[::-1, ::-1].copy()
    view = ConvView(grid, source, flipped, s.dilation, np.zeros(out_shape))
    for r in range(out_shape[0]):
        for c in range(out_shape[1]):
            view.output[r, c] = (grid[view.window(r, c)] * flipped).sum()
    return view
