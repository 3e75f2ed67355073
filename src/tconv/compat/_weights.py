"""Transposed-convolution weight layouts of each framework, and :func:`convert_weight` between them.

* pytorch / tconv / onnx / mxnet: ``(in, out // groups, *kernel)``;
* tensorflow / keras: ``(*kernel, out, in)`` (the forward conv's ``HWIO`` kernel);
* jax (default dimension numbers): ``(*kernel, in, out)``, spatially flipped, with
  ``transpose_kernel=False`` (JAX's default, and :func:`convert_weight`'s); ``(*kernel, out, in)``
  with ``transpose_kernel=True``.

:func:`weight_hint` says it in one line for ``tconv shape``: the ``convert_weight`` call that
gives a target's kernel, agreeing with the JAX call printed next to it (which leaves
``transpose_kernel`` at its default, False).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_int
from ._common import check_framework

#: The frameworks whose weight is PyTorch's layout (the only ones with grouped weights).
_CANONICAL = ("pytorch", "tconv", "onnx", "mxnet")

#: Each framework's transposed-convolution weight layout, in words (jax: its default dimension numbers).
LAYOUTS = {
    **{fw: "(in, out // groups, *k)" for fw in _CANONICAL},
    "tensorflow": "(*k, out, in)",
    "keras": "(*k, out, in)",
    "jax": "(*k, in, out) spatially flipped",
}


def _family(framework: str) -> str:
    return "canonical" if framework in _CANONICAL else "tf" if framework in ("tensorflow", "keras") else "jax"


def weight_hint(source: str, target: str) -> str | None:
    """How to bring a ``source`` weight to ``target`` (``None`` when the layouts are the same).

    For JAX it names the layout that :func:`convert_weight` gives by default, the one
    ``jax.lax.conv_transpose`` takes with its default ``transpose_kernel=False``.

    >>> print(weight_hint("pytorch", "jax"))
    weight: convert_weight(w, 'pytorch', 'jax') turns pytorch's (in, out // groups, *k) into jax's (*k, in, out) spatially flipped, the kernel of transpose_kernel=False (JAX's default, as above); for transpose_kernel=True give convert_weight transpose_kernel=True too: (*k, out, in)
    >>> weight_hint("onnx", "mxnet") is None
    True
    """
    check_framework(source, "source")
    check_framework(target, "target")
    if _family(source) == _family(target):
        return None
    text = (f"weight: convert_weight(w, {source!r}, {target!r}) turns {source}'s {LAYOUTS[source]} into "
            f"{target}'s {LAYOUTS[target]}")
    if "jax" in (source, target):
        text += (", the kernel of transpose_kernel=False (JAX's default, as above); for transpose_kernel=True "
                 "give convert_weight transpose_kernel=True too: (*k, out, in)")
    return text


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
