"""Small argument validators, each naming the public argument it checks.

They turn what a user may pass (ints, per-dim sequences, ``(before, after)``
pairs, strings, array-likes) into plain Python values or refuse it with a
``TypeError`` / ``ValueError`` that names the argument, the value and what was
expected.

>>> int_tuple(2, 3, "stride", minimum=1)
(2, 2, 2)
>>> pad_pairs([1, (0, 2)], 2)
((1, 1), (0, 2))
"""

from __future__ import annotations

import numbers
import operator
from typing import Any, Sequence

import numpy as np

PadPairs = tuple[tuple[int, int], ...]

#: Names that ``padding`` accepts as a string.
PADDING_MODES = ("same", "valid")




def as_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, refusing bools, floats and other types."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}")
    if not isinstance(value, numbers.Integral):
        try:
            return operator.index(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an integer, got {value!r} of type {type(value).__name__}"
            ) from None
    return int(value)


def int_tuple(value: Any, ndim: int, name: str, *, minimum: int) -> tuple[int, ...]:
    """Normalize an int or a per-dim sequence of ints to a tuple of length ``ndim``."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an int or a sequence of {ndim} ints, got {value!r}")
    if isinstance(value, (Sequence, np.ndarray)):
        items = list(value)
        if len(items) != ndim:
            raise ValueError(
                f"{name} must have one entry per spatial dim ({ndim}), got {value!r} "
                f"with {len(items)} entries"
            )
        out = tuple(as_int(v, name) for v in items)
    else:
        out = (as_int(value, name),) * ndim
    for dim, v in enumerate(out):
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum} in every dim, got {value!r} (dim {dim} is {v})")
    return out


def pad_pairs(value: Any, ndim: int, name: str = "padding") -> PadPairs:
    """Normalize padding given as an int, per-dim ints or per-dim (before, after) pairs."""
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes)):
        items = list(value)
        if len(items) != ndim:
            raise ValueError(
                f"{name} must be an int, {ndim} ints or {ndim} (before, after) pairs, "
                f"got {value!r} with {len(items)} entries"
            )
        pairs = []
        for item in items:
            if isinstance(item, (Sequence, np.ndarray)) and not isinstance(item, (str, bytes)):
                pair = tuple(item)
                if len(pair) != 2:
                    raise ValueError(f"{name} pairs must be (before, after), got {item!r} in {value!r}")
                pairs.append((as_int(pair[0], name), as_int(pair[1], name)))
            else:
                v = as_int(item, name)
                pairs.append((v, v))
        out = tuple(pairs)
    else:
        v = as_int(value, name)
        out = ((v, v),) * ndim
    for dim, (lo, hi) in enumerate(out):
        if lo < 0 or hi < 0:
            raise ValueError(f"{name} must be non-negative, got {value!r} (dim {dim} is {(lo, hi)})")
    return out


def padding_mode(value: Any) -> str | None:
    """Return 'same' / 'valid' for a string padding, None for numeric padding."""
    if isinstance(value, str):
        mode = value.lower()
        if mode not in PADDING_MODES:
            raise ValueError(f"padding must be 'same', 'valid' or numbers, got {value!r}")
        return mode
    return None


def numeric_array(value: Any, name: str) -> np.ndarray:
    """``np.asarray`` that refuses non-numeric, boolean and complex data."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; expected real numbers")
    if kind == "b":
        raise TypeError(f"{name} has dtype bool; expected real numbers (cast it first)")
    if kind == "O" and not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a numeric array; got {type(value).__module__}.{type(value).__name__}, which is not a "
            f"supported array type (expected a NumPy array or array-like, or, with the array-api extra, an array "
            f"of a library that array-api-compat supports: PyTorch, CuPy, JAX, ...)"
        )
    if kind not in "iuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected a real numeric dtype (int or float)")
    return arr


def compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """NumPy promotion of the operands; integers compute in float64."""
    dtype = np.result_type(*arrays)
    if dtype.kind != "f":
        return np.dtype(np.float64)
    return dtype


