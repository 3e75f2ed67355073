"""The convolution as a matrix: ``W`` with ``conv(x) == W @ x`` and ``conv_transpose(y) == W.T @ y``.

:func:`single_channel_matrix` builds ``W`` for a single-channel 2-D convolution from the
index map ``o = i * stride + t * dilation - before`` and records which kernel
tap every nonzero entry holds, so a picture can label it.  With the defaults it
is the chapter's 4x9 matrix.  (The operator's own matrix, any channels and
groups, sparse, is :func:`tconv.conv_matrix`; this one is dense and labelled,
for pictures.)

>>> m = single_channel_matrix()
>>> m.W.shape, int((m.tap >= 0).sum())
((4, 9), 16)
>>> m.W[0].tolist()
[0.0, 1.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..params import geometry_from_shapes
from .geometry import small_matrix

#: The chapter's kernel.
CHAPTER_KERNEL = ((0.0, 1.0), (2.0, 3.0))


@dataclass(frozen=True)
class ConvMatrix:
    """``W`` (rows: flattened outputs, columns: flattened inputs) and its tap labels.

    ``tap[r, c]`` is the flat index ``a * kw + b`` of the kernel entry at
    ``W[r, c]``, or -1 where ``W`` is structurally zero.
    """

    W: np.ndarray
    tap: np.ndarray
    kernel: np.ndarray
    input_shape: tuple[int, int]
    output_shape: tuple[int, int]

    def label(self, r: int, c: int) -> str:
        """Name of the kernel entry at ``W[r, c]`` (``"k01"``), or ``""``."""
        t = int(self.tap[r, c])
        if t < 0:
            return ""
        a, b = divmod(t, self.kernel.shape[1])
        return f"k{a}{b}"


def single_channel_matrix(
    kernel: Any = CHAPTER_KERNEL,
    input_shape: Sequence[int] = (3, 3),
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
) -> ConvMatrix:
    """The dense matrix of ``tconv.conv(., kernel, ...)`` on single-channel inputs of ``input_shape``.

    >>> m = single_channel_matrix([[1., 2.]], (1, 3), stride=2, padding=(0, 1))
    >>> m.W.tolist()
    [[2.0, 0.0, 0.0], [0.0, 1.0, 2.0]]
    >>> m.label(0, 0), m.label(0, 1)
    ('k01', '')
    """
    k = small_matrix(kernel, "kernel")
    if isinstance(input_shape, (str, bytes)) or len(input_shape) != 2:
        raise ValueError(f"input_shape must be (height, width), got {input_shape!r}")
    geom = geometry_from_shapes(False, (1, 1) + tuple(int(n) for n in input_shape), (1, 1) + k.shape, k.dtype,
                                stride=stride, padding=padding, dilation=dilation)
    (h, w), (oh, ow) = geom.input_shape, geom.output_shape
    (kh, kw), (sh, sw), (dh, dw) = k.shape, geom.stride, geom.dilation
    lo_h, lo_w = geom.before
    W = np.zeros((oh * ow, h * w))
    tap = np.full(W.shape, -1, dtype=np.int64)
    for r in range(oh):
        for c in range(ow):
            for a in range(kh):
                for b in range(kw):
                    p, q = r * sh + a * dh - lo_h, c * sw + b * dw - lo_w
                    if 0 <= p < h and 0 <= q < w:
                        W[r * ow + c, p * w + q] += k[a, b]
                        tap[r * ow + c, p * w + q] = a * kw + b
    return ConvMatrix(W, tap, k, (h, w), (oh, ow))
