"""Transposed-convolution weight layouts of each framework, and :func:`convert_weight` between them.

* pytorch / tconv / onnx / mxnet: ``(in, out // groups, *kernel)``;
* tensorflow / keras: ``(*kernel, out, in)`` (the forward conv's ``HWIO`` kernel);
* jax (default dimension numbers): ``(*kernel, in, out)``, spatially flipped, with
  ``transpose_kernel=False``; ``(*kernel, out, in)`` with ``transpose_kernel=True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_int
from ._common import check_framework

#: The frameworks whose weight is PyTorch's layout (the only ones with grouped weights).
_CANONICAL = ("pytorch", "tconv", "onnx", "mxnet")


def _to_canonical(w: np.ndarray, source: str, transpose_kernel: bool) -> np.ndarray:
    if source in _CANONICAL:
        return w
    nd = w.ndim - 2
    if source in ("tensorflow", "keras") or (source == "jax" and transpose_kernel):
        return np.moveaxis(w, (-1, -2), (0, 1))
    return np.flip(np.moveaxis(w, (-2, -1), (0, 1)), axis=tuple(range(2, 2 + nd)))


def _from_canonical(w: np.ndarray, target: str, transpose_kernel: bool) -> np.ndarray:
    if target in _CANONICAL:
        return w
    nd = w.ndim - 2
    if target in ("tensorflow", "keras") or (target == "jax" and transpose_kernel):
        return np.moveaxis(w, (0, 1), (-1, -2))
    return np.moveaxis(np.flip(w, axis=tuple(range(2, 2 + nd))), (0, 1), (-2, -1))


def convert_weight(weight: Any, source: str, target: str, *, groups: int = 1,
                   transpose_kernel: bool = False) -> np.ndarray:
    """A transposed-conv weight moved from ``source``'s layout to ``target``'s (a new array).

    Layouts: pytorch / tconv / onnx / mxnet ``(in, out // groups, *k)``; tensorflow / keras
    ``(*k, out, in)``; jax (default dimension numbers) ``(*k, in, out)`` spatially flipped, or
    ``(*k, out, in)`` with ``transpose_kernel=True``.  Grouped weights (``groups > 1``) exist
    only in pytorch / tconv / onnx / mxnet.

    >>> w = np.arange(12.).reshape(2, 3, 2)            # PyTorch: 2 in, 3 out, kernel 2
    >>> convert_weight(w, "pytorch", "keras").shape
    (2, 3, 2)
    >>> np.array_equal(convert_weight(convert_weight(w, "pytorch", "jax"), "jax", "onnx"), w)
    True
    """
    check_framework(source, "source")
    check_framework(target, "target")
    w = np.asarray(weight)
    if w.ndim < 3:
        raise ValueError(f"weight must have at least 3 dims (two channel dims and a kernel), got shape {w.shape}")
    g = as_int(groups, "groups")
    if g != 1 and ({source, target} - set(_CANONICAL)):
        raise ValueError(f"groups={g}: {source if source not in _CANONICAL else target}"
                         f" has no grouped transposed convolution weight layout")
    return np.ascontiguousarray(_from_canonical(_to_canonical(w, source, transpose_kernel), target,
                                                transpose_kernel))
