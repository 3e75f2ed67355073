"""What every framework dialect shares: attribute parsing and the crop/extend step.

Each dialect translates its arguments into the canonical operator's terms:
channels-first arrays, a PyTorch-layout weight ``(C_in, C_out // groups,
*kernel)``, stride, dilation, groups and, per spatial dim, a pair
``(crop_before, crop_after)`` measured on the *full* transposed output (the
``(n - 1) * stride + dilation * (k - 1) + 1`` positions that receive
contributions).  A negative crop means the framework's output runs past the
contributions at that end; those positions hold zeros (plus bias).

:func:`run_cropped` hands the non-negative part of the crops to
:func:`tconv.conv_transpose` (as ``(before, after)`` padding) and only places
the result into a zero-extended array when a framework asks for positions
beyond the contributions.  It never computes a convolution itself.

>>> import numpy as np
>>> run_cropped(np.ones((1, 1, 2)), np.ones((1, 1, 2)), None, stride=(2,), dilation=(1,),
...             groups=1, crops=((1, -1),))
array([[[1., 1., 1., 0.]]])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ops import conv_transpose
from ..validate import as_int, compute_dtype

Crops = tuple[tuple[int, int], ...]


def full_size(n: int, k: int, s: int, d: int) -> int:
    """Number of positions of a transposed conv's output that receive contributions."""
    return (n - 1) * s + d * (k - 1) + 1


def int_list(value: Any, ndim: int, name: str, framework: str, *, minimum: int, default: int) -> tuple[int, ...]:
    """A framework's per-dim integer attribute (None or empty -> default); errors name the attribute."""
    if value is None:
        return (default,) * ndim
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{framework}: {name} must be a sequence of {ndim} integers, got {value!r}")
    if np.ndim(value) == 0:
        values = (as_int(value, f"{framework}: {name}"),) * ndim
    else:
        values = tuple(as_int(v, f"{framework}: {name}") for v in np.asarray(value, dtype=object).ravel())
        if len(values) == 0:
            return (default,) * ndim
        if len(values) != ndim:
            raise ValueError(
                f"{framework}: {name} must have one entry per spatial dim ({ndim}), got {list(values)} "
                f"with {len(values)} entries"
            )
    for dim, v in enumerate(values):
        if v < minimum:
            raise ValueError(f"{framework}: {name} must be >= {minimum} in every dim, got {list(values)} (dim {dim})")
    return values


def run_cropped(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    *,
    stride: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    crops: Crops,
) -> np.ndarray:
    """Canonical transposed conv of batched channels-first ``x``, then the framework's crops.

    ``crops[i] = (before, after)`` is removed from the full output of dim ``i``;
    negative values extend it with zeros.  The bias is added to every output
    position, extended ones included (as ONNX Runtime does).
    """
    kernel = weight.shape[2:]
    spatial = x.shape[2:]
    canon_pad, starts, wanted = [], [], []
    for n, k, s, d, (lo, hi) in zip(spatial, kernel, stride, dilation, crops):
        f = full_size(n, k, s, d)
        out = f - lo - hi
        if out < 1:
            raise ValueError(f"the crops {crops} leave no output (full size {f})")
        clo = min(max(lo, 0), f - 1)
        chi = min(max(hi, 0), f - 1 - clo)
        canon_pad.append((clo, chi))
        starts.append(lo - clo)
        wanted.append(out)
    got = tuple(full_size(n, k, s, d) - lo - hi
                for n, k, s, d, (lo, hi) in zip(spatial, kernel, stride, dilation, canon_pad))
    placed = any(st != 0 for st in starts) or tuple(wanted) != got
    hyper = dict(stride=tuple(stride), dilation=tuple(dilation), groups=groups, padding=tuple(canon_pad))
    if not placed:  # the operator adds the bias and rounds once
        return conv_transpose(x, weight, bias, **hyper)
    if bias is None:
        return _place(conv_transpose(x, weight, None, **hyper), starts, wanted)
    # the bias also lands on the zero-extended positions: place, add it in the working dtype
    # (float16 / bfloat16 compute in float32), then round once to the result dtype
    bias = np.asarray(bias)
    dtype = compute_dtype(x, weight, bias)
    work = np.promote_types(dtype, np.float32)
    y = _place(conv_transpose(x.astype(work, copy=False), weight.astype(work, copy=False), None, **hyper),
               starts, wanted)
    y += bias.astype(work, copy=False).reshape((-1,) + (1,) * len(spatial))
    return y.astype(dtype, copy=False)


def _place(y: np.ndarray, starts: Sequence[int], wanted: Sequence[int]) -> np.ndarray:
    """Window ``[start, start + wanted)`` of ``y`` along each spatial dim, zeros outside ``y``."""
    out = np.zeros(y.shape[:2] + tuple(wanted), dtype=y.dtype)
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for st, w, have in zip(starts, wanted, y.shape[2:]):
        a, b = max(st, 0), min(st + w, have)
        if a >= b:
            return out
        src.append(slice(a, b))
        dst.append(slice(a - st, b - st))
    out[tuple(dst)] = y[tuple(src)]
    return out
