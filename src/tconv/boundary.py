"""Boundary modes: extend an array past its edges (:func:`pad`) and the exact adjoint of that (:func:`fold`).

A convolution with ``padding_mode`` other than ``"zeros"`` reads an input
extended by ``padding`` in that mode, as ``torch.nn.functional.pad`` extends
it; then it convolves without padding.  Per spatial dim of size ``n``, padded
position ``j`` (``0 <= j < before + n + after``) reads input position
``i = j - before`` mapped back into ``[0, n)``:

* ``"zeros"``: nothing (the value 0) outside ``[0, n)``;
* ``"circular"``: ``i mod n`` (periodic; needs ``before, after <= n``);
* ``"reflect"``: mirrored about the first and last entry, which are not
  repeated: ``-i`` before, ``2 (n - 1) - i`` after (needs ``before, after < n``);
* ``"replicate"``: the nearest edge entry, ``clip(i, 0, n - 1)``.

Where ``j`` lands depends only on ``j``, ``before`` and ``n``, never on
``after``: the first positions of two paddings that differ only at the end
agree.  The padding is separable: one dim after the other, the corners
follow from the edges (as PyTorch's).

:func:`fold` is the adjoint (transpose) of :func:`pad`: it takes an array of
the padded size and returns the interior size, every border value added back
onto the entry it was read from (wrap-around for circular, mirrored for
reflect, accumulated on the edge entry for replicate, dropped for zeros).  A
transposed convolution with a boundary mode runs the unpadded transposed
kernel to the padded size, then folds.

>>> a = np.array([[[1., 2., 3.]]])
>>> pad(a, ((2, 1),), "circular"), pad(a, ((2, 1),), "reflect"), pad(a, ((2, 1),), "replicate")
(array([[[2., 3., 1., 2., 3., 1.]]]), array([[[3., 2., 1., 2., 3., 2.]]]), array([[[1., 1., 1., 2., 3., 3.]]]))
>>> fold(np.array([[[1., 10., 100., 1000., 10000., 100000.]]]), ((2, 1),), "circular")
array([[[100100.,   1001.,  10010.]]])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._validate import BOUNDARY_MODES, PadPairs, boundary_mode

__all__ = ["BOUNDARY_MODES", "check_padding", "fold", "pad", "padded_shape", "source_index"]


def padded_shape(shape: Sequence[int], pairs: PadPairs) -> tuple[int, ...]:
    """``shape`` with its last ``len(pairs)`` sizes grown by ``before + after``.

    >>> padded_shape((2, 3, 4, 5), ((1, 1), (0, 2)))
    (2, 3, 6, 7)
    """
    lead = len(shape) - len(pairs)
    return tuple(shape[:lead]) + tuple(n + lo + hi for n, (lo, hi) in zip(shape[lead:], pairs))


def check_padding(pairs: PadPairs, sizes: Sequence[int], mode: str, what: str = "input") -> None:
    """Refuse a padding that ``mode`` cannot make from ``sizes`` entries, as PyTorch refuses it.

    ``reflect`` needs ``before, after < n`` (the mirror does not repeat the edge entry), ``circular`` needs
    ``before, after <= n`` (it wraps around at most once); ``zeros`` and ``replicate`` take any padding.
    ``what`` names the padded side in the message (a transposed convolution's *output*).

    >>> check_padding(((3, 3),), (3,), "reflect")
    Traceback (most recent call last):
    ...
    ValueError: padding_mode='reflect' needs padding smaller than the input size in every dim, got padding (3, 3) in dim 0 for an input size of 3
    """
    mode = boundary_mode(mode)
    for dim, ((lo, hi), n) in enumerate(zip(pairs, sizes)):
        if mode == "reflect" and max(lo, hi) >= n:
            limit = "smaller than"
        elif mode == "circular" and max(lo, hi) > n:
            limit = "at most"
        else:
            continue
        raise ValueError(
            f"padding_mode={mode!r} needs padding {limit} the {what} size in every dim, got padding {(lo, hi)} "
            f"in dim {dim} for an {what} size of {n}"
        )


def source_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each of the ``before + n + after`` padded positions, the input position it holds (``-1`` for a
    zero of ``"zeros"``): the gather :func:`pad` does along one dim, for code that pads by indexing
    (another array library's ``take``, a block's halo).

    >>> source_index(3, 2, 2, "circular"), source_index(3, 2, 2, "reflect"), source_index(3, 2, 2, "replicate")
    (array([1, 2, 0, 1, 2, 0, 1]), array([2, 1, 0, 1, 2, 1, 0]), array([0, 0, 0, 1, 2, 2, 2]))
    """
    mode = boundary_mode(mode)
    check_padding(((before, after),), (n,), mode)
    i = np.arange(-before, n + after)
    if mode == "circular":
        return i % n
    if mode == "reflect":
        return np.where(i < 0, -i, np.where(i >= n, 2 * (n - 1) - i, i))
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    return np.where((i < 0) | (i >= n), -1, i)


def _check_pairs(a: np.ndarray, pairs: PadPairs, mode: str) -> PadPairs:
    mode = boundary_mode(mode)
    pairs = tuple((int(lo), int(hi)) for lo, hi in pairs)
    if len(pairs) > a.ndim:
        raise ValueError(f"pairs has {len(pairs)} (before, after) pairs for an array of {a.ndim} dims")
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        raise ValueError(f"pairs must be non-negative (before, after) pairs, got {pairs}")
    return pairs


def _at(ndim: int, axis: int, index: Any) -> tuple[Any, ...]:
    """An index tuple that takes ``index`` along ``axis`` and everything along the other axes."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def _down(start: int, count: int) -> slice:
    """The ``count`` positions ``start, start - 1, ..., start - count + 1`` (``start - count >= -1``)."""
    if count == 0:
        return slice(0, 0)
    stop = start - count
    return slice(start, stop if stop >= 0 else None, -1)


def pad(a: Any, pairs: PadPairs, mode: str, dtype: Any = None) -> np.ndarray:
    """``a`` extended by ``pairs`` (``(before, after)`` per trailing dim) in ``mode``: a new C-ordered array.

    ``a`` is channels-first, ``(N, C, *spatial)`` (any leading dims): the pairs apply to its last
    ``len(pairs)`` dims, as ``torch.nn.functional.pad`` with ``mode`` ``"circular"``, ``"reflect"``,
    ``"replicate"`` or ``"zeros"`` (its ``"constant"``).  ``dtype`` (default ``a``'s) is the dtype of the
    result, filled in one allocation.  ``a`` is never modified.

    >>> pad(np.arange(4.).reshape(1, 1, 2, 2), ((1, 0), (0, 1)), "replicate")[0, 0]
    array([[0., 1., 1.],
           [0., 1., 1.],
           [2., 3., 3.]])
    """
    a = np.asarray(a)
    pairs = _check_pairs(a, pairs, mode)
    lead = a.ndim - len(pairs)
    check_padding(pairs, a.shape[lead:], mode)
    out = np.empty(padded_shape(a.shape, pairs), dtype=a.dtype if dtype is None else dtype)
    out[(Ellipsis,) + tuple(slice(lo, lo + n) for (lo, _), n in zip(pairs, a.shape[lead:]))] = a
    for k, ((lo, hi), n) in enumerate(zip(pairs, a.shape[lead:])):
        axis = lead + k
        # dims before this one are padded already, later ones only in their interior: the corners are filled
        # by the later dims from these edges
        inner = tuple(slice(lo2, lo2 + n2) for (lo2, _), n2 in zip(pairs[k + 1:], a.shape[axis + 1:]))

        def at(index: Any) -> tuple[Any, ...]:
            return (slice(None),) * axis + (index,) + inner

        front, back = slice(0, lo), slice(lo + n, lo + n + hi)
        if mode == "zeros":
            out[at(front)] = 0
            out[at(back)] = 0
        elif mode == "circular":
            out[at(front)] = out[at(slice(n, n + lo))]
            out[at(back)] = out[at(slice(lo, lo + hi))]
        elif mode == "reflect":
            out[at(front)] = out[at(_down(2 * lo, lo))]
            out[at(back)] = out[at(_down(lo + n - 2, hi))]
        else:  # replicate
            out[at(front)] = out[at(slice(lo, lo + 1))]
            out[at(back)] = out[at(slice(lo + n - 1, lo + n))]
    return out


def fold(a: Any, pairs: PadPairs, mode: str, *, overwrite: bool = False) -> np.ndarray:
    """The adjoint of :func:`pad`: ``a`` of the padded size folded back to the interior size.

    Every border entry is added onto the interior entry :func:`pad` copies into it (for ``"zeros"`` the
    border is dropped), so ``<pad(x), y> == <x, fold(y)>``.  ``a`` is modified only when ``overwrite`` is
    true (the operator passes its own intermediate); the result is a new C-ordered array.

    >>> x, y = np.arange(3.).reshape(1, 1, 3), np.arange(7.).reshape(1, 1, 7)
    >>> for mode in BOUNDARY_MODES:
    ...     print(mode, fold(y, ((2, 2),), mode)[0, 0], float((pad(x, ((2, 2),), mode) * y).sum()),
    ...           float((x * fold(y, ((2, 2),), mode)).sum()))
    zeros [2. 3. 4.] 11.0 11.0
    circular [7. 9. 5.] 19.0 19.0
    reflect [8. 9. 4.] 17.0 17.0
    replicate [ 3.  3. 15.] 33.0 33.0
    """
    a = np.asarray(a)
    pairs = _check_pairs(a, pairs, mode)
    lead = a.ndim - len(pairs)
    sizes = tuple(m - lo - hi for m, (lo, hi) in zip(a.shape[lead:], pairs))
    if any(n < 1 for n in sizes):
        raise ValueError(f"pairs {pairs} leave no interior of an array of shape {a.shape}")
    check_padding(pairs, sizes, mode)
    if mode != "zeros":
        if not overwrite:
            a = a.copy()
        for k, ((lo, hi), n) in enumerate(zip(pairs, sizes)):
            # the folds of different dims commute (each acts on one axis): add in place, over the whole extent
            # of the other dims, the border onto the interior entries it came from
            axis = lead + k

            def at(index: Any) -> tuple[Any, ...]:
                return _at(a.ndim, axis, index)

            front, back = at(slice(0, lo)), at(slice(lo + n, lo + n + hi))
            if mode == "circular":
                a[at(slice(n, n + lo))] += a[front]
                a[at(slice(lo, lo + hi))] += a[back]
            elif mode == "reflect":
                a[at(_down(2 * lo, lo))] += a[front]
                a[at(_down(lo + n - 2, hi))] += a[back]
            else:  # replicate
                if lo:
                    a[at(slice(lo, lo + 1))] += a[front].sum(axis=axis, keepdims=True)
                if hi:
                    a[at(slice(lo + n - 1, lo + n))] += a[back].sum(axis=axis, keepdims=True)
    interior = (Ellipsis,) + tuple(slice(lo, lo + n) for (lo, _), n in zip(pairs, sizes))
    return np.ascontiguousarray(a[interior])
