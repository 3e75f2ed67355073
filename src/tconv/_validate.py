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

import functools
import numbers
import operator
from typing import Any, Sequence

import numpy as np

PadPairs = tuple[tuple[int, int], ...]

#: Names that ``padding`` accepts as a string (the placement rules).
PADDING_RULES = ("same", "valid")

#: Values of ``padding_mode``: how a convolution's input is extended past its edges (as PyTorch's
#: ``torch.nn.functional.pad`` modes; ``"zeros"`` is its ``"constant"`` mode with value 0).
BOUNDARY_MODES = ("zeros", "circular", "reflect", "replicate")


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


def per_dim(value: Any) -> bool:
    """True for a per-dim value (a list, tuple or NumPy array with at least one dim), False for a scalar.

    NumPy scalars and 0-d arrays are scalars, as Python ints are; strings are neither (the callers refuse them).

    >>> per_dim((1, 2)), per_dim(np.array([1, 2])), per_dim(np.int64(2)), per_dim(np.array(2)), per_dim(3)
    (True, True, False, False, False)
    """
    if isinstance(value, (str, bytes)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return isinstance(value, Sequence)


def shown(value: Any) -> Any:
    """``value`` as a message shows it: NumPy arrays and scalars as the Python lists and numbers they hold.

    >>> shown(np.array([1, 2])), shown(np.int64(3)), shown((1, 2))
    ([1, 2], 3, (1, 2))
    """
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


def int_tuple(value: Any, ndim: int, name: str, *, minimum: int) -> tuple[int, ...]:
    """Normalize an int or a per-dim sequence of ints (NumPy arrays and integers included) to a tuple of
    length ``ndim``.

    >>> int_tuple(np.array([2, 3]), 2, "stride", minimum=1), int_tuple(np.int64(2), 2, "stride", minimum=1)
    ((2, 3), (2, 2))
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an int or a sequence of {ndim} ints, got {value!r}")
    if per_dim(value):
        items = list(value)
        if len(items) != ndim:
            raise ValueError(
                f"{name} must have one entry per spatial dim ({ndim}), got {shown(value)!r} "
                f"with {len(items)} entries"
            )
        out = tuple(as_int(v, name) for v in items)
    else:
        out = (as_int(value, name),) * ndim
    for dim, v in enumerate(out):
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum} in every dim, got {shown(value)!r} (dim {dim} is {v})")
    return out


def pad_pairs(value: Any, ndim: int, name: str = "padding") -> PadPairs:
    """Normalize padding given as an int, per-dim ints or per-dim (before, after) pairs (NumPy arrays and
    integers included).

    >>> pad_pairs(np.array([[0, 1], [2, 3]]), 2), pad_pairs(np.int64(1), 1)
    (((0, 1), (2, 3)), ((1, 1),))
    """
    if per_dim(value):
        items = list(value)
        if len(items) != ndim:
            raise ValueError(
                f"{name} must be an int, {ndim} ints or {ndim} (before, after) pairs, "
                f"got {shown(value)!r} with {len(items)} entries"
            )
        pairs = []
        for item in items:
            if per_dim(item):
                pair = tuple(item)
                if len(pair) != 2:
                    raise ValueError(f"{name} pairs must be (before, after), got {shown(item)!r} in {shown(value)!r}")
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
            raise ValueError(f"{name} must be non-negative, got {shown(value)!r} (dim {dim} is {(lo, hi)})")
    return out


def padding_rule(value: Any) -> str | None:
    """Return 'same' / 'valid' for a string ``padding`` (a placement rule), None for numeric padding.

    >>> padding_rule("SAME"), padding_rule(1)
    ('same', None)
    """
    if isinstance(value, str):
        rule = value.lower()
        if rule not in PADDING_RULES:
            raise ValueError(f"padding must be 'same', 'valid' or numbers, got {value!r}")
        return rule
    return None


def boundary_mode(value: Any) -> str:
    """Validate ``padding_mode``: one of :data:`BOUNDARY_MODES` (exactly as PyTorch spells them).

    >>> boundary_mode("circular")
    'circular'
    >>> boundary_mode("wrap")
    Traceback (most recent call last):
    ...
    ValueError: padding_mode must be one of 'zeros', 'circular', 'reflect', 'replicate', got 'wrap'
    """
    if not isinstance(value, str) or value not in BOUNDARY_MODES:
        expected = ", ".join(repr(m) for m in BOUNDARY_MODES)
        raise ValueError(f"padding_mode must be one of {expected}, got {shown(value)!r}")
    return value


def real_kind(dtype: Any) -> str | None:
    """``"f"`` (floating), ``"i"`` / ``"u"`` (integer), ``"b"`` (bool) or None (anything else) for ``dtype``.

    The extension types of ``ml_dtypes`` (``bfloat16``, ``float8_*``, ``int4``,
    ...) have NumPy kind ``"V"``; they count as the floats or integers they are.

    >>> real_kind(np.float16), real_kind(np.uint8), real_kind(bool), real_kind(complex)
    ('f', 'u', 'b', None)
    """
    dt = np.dtype(dtype)
    if dt.kind in "fiub":
        return dt.kind
    if dt.kind == "V" and dt.fields is None and dt.type.__module__.split(".")[0] == "ml_dtypes":
        return _ml_dtypes_kind(dt)
    return None


@functools.lru_cache(maxsize=None)
def _ml_dtypes_kind(dt: np.dtype) -> str | None:
    import ml_dtypes  # present: one of its types is in use

    for kind, info in (("f", ml_dtypes.finfo), ("i", ml_dtypes.iinfo)):
        try:
            info(dt)
        except (TypeError, ValueError):
            continue
        return kind
    return None


#: The calls that take complex operands (bilinear, as PyTorch's complex convolutions); named by the refusal
#: of every other door.
COMPLEX_DOORS = ("tconv.conv", "tconv.conv_transpose", "tconv.conv_backward", "tconv.conv_transpose_backward",
                 "tconv.conv_matrix", "tconv.ConvOperator")


def numeric_array(value: Any, name: str, *, complex_ok: bool = False) -> np.ndarray:
    """``np.asarray`` that takes real numbers (integer, bool, floating, ``ml_dtypes.bfloat16`` & co), and
    complex64 / complex128 where ``complex_ok`` (the doors of :data:`COMPLEX_DOORS`).

    It refuses complex data elsewhere (naming the calls that take it), strings, objects and other
    non-numeric dtypes with a ``TypeError`` naming ``name``.

    >>> numeric_array([1j], "x", complex_ok=True).dtype
    dtype('complex128')
    >>> numeric_array([1j], "x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: x has complex dtype complex128; expected real numbers ... taken by tconv.conv, tconv.conv_transpose, ...
    """
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind == "c":
        if complex_ok:
            return arr
        raise TypeError(
            f"{name} has complex dtype {arr.dtype}; expected real numbers (integer, bool or floating) here: "
            f"complex operands are taken by {', '.join(COMPLEX_DOORS)}"
        )
    if kind == "O" and not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a numeric array; got {type(value).__module__}.{type(value).__name__}, which is not a "
            f"supported array type (expected a NumPy array or array-like, or, with the array-api extra, an array "
            f"of a library that array-api-compat supports: PyTorch, CuPy, JAX, ...)"
        )
    if real_kind(arr.dtype) is None:
        raise TypeError(f"{name} has dtype {arr.dtype}; expected a real numeric dtype (integer, bool or floating)")
    return arr


def compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """The result dtype of an operation on ``arrays``: their NumPy promotion, integers and bool giving float64.

    Floating dtypes stay (float16 and ``ml_dtypes.bfloat16`` included: the
    kernels compute them in float32, see ``ops.working_dtype``, and round
    once); promotions follow ``np.result_type`` (with ml_dtypes' rules for
    its types), e.g. int64 with float32 gives float64 and bfloat16 with
    float16 gives float32.  Integer and bool operands give float64 where
    PyTorch would keep integers (or refuse bool).

    >>> compute_dtype(np.ones(2, np.float16), np.ones(2, np.float32))
    dtype('float32')
    >>> compute_dtype(np.ones(2, np.int8), np.ones(2, bool))
    dtype('float64')
    """
    try:
        dtype = np.result_type(*arrays)
    except TypeError as exc:  # e.g. two ml_dtypes types without a common type
        dtypes = ", ".join(str(np.asarray(a).dtype) for a in arrays)
        raise TypeError(f"the operands' dtypes ({dtypes}) have no common dtype: {exc}") from None
    if real_kind(dtype) == "f" or dtype.kind == "c":
        return dtype
    return np.dtype(np.float64)
