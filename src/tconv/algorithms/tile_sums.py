"""Sums of batched GEMM products over chunks: the tile weight gradients' reduction over the tiles.

A Winograd weight gradient (:mod:`.winograd`, :mod:`.phase_winograd`) multiplies, per chunk of tiles, the
two sides' transformed blocks in one GEMM per transform point and sums the products over the chunks.
:class:`TileSums` writes the first chunk's products straight into the sums and only later chunks through a
second buffer that is added on: a batch in one chunk (the DCGAN layers' weight gradients: 3 to 52 MB of
sums) holds no second buffer and makes no pass to add it.

>>> import numpy as np
>>> sums = TileSums((2, 3, 4), np.float64)
>>> a, b = np.ones((2, 3, 5)), np.ones((2, 5, 4))
>>> sums.add(a, b); sums.add(a, b)
>>> float(sums.total()[0, 0, 0]), sums.total().shape
(10.0, (2, 3, 4))
>>> float(TileSums((2, 3, 4), np.float64).total().sum())  # no chunk: zeros
0.0
"""

from __future__ import annotations

import numpy as np


class TileSums:
    """``sum over chunks of a @ b`` (``a``: ``(points, m, k)``, ``b``: ``(points, k, n)``) in an array of
    ``shape`` ``(points, m, n)``; allocated on the first :meth:`add`, so a call with no chunk holds none."""

    def __init__(self, shape: tuple[int, ...], dtype) -> None:
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.sums: np.ndarray | None = None
        self.part: np.ndarray | None = None

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        """Add one chunk's products ``a @ b``: the first straight into the sums, later ones via :attr:`part`."""
        if self.sums is None:
            self.sums = np.matmul(a, b, out=np.empty(self.shape, dtype=self.dtype))
            return
        if self.part is None:
            self.part = np.empty(self.shape, dtype=self.dtype)
        np.matmul(a, b, out=self.part)
        self.sums += self.part

    def total(self) -> np.ndarray:
        """The sums (zeros where no chunk was added)."""
        return self.sums if self.sums is not None else np.zeros(self.shape, dtype=self.dtype)


def sums_bytes(points: int, m: int, n: int, chunks: int, itemsize: int) -> int:
    """What :class:`TileSums` holds for ``chunks`` chunks: the sums, and a part buffer from the second chunk on.

    >>> sums_bytes(25, 2, 3, 1, 4), sums_bytes(25, 2, 3, 5, 4)
    (600, 1200)
    """
    return (1 + (chunks > 1)) * points * m * n * itemsize
