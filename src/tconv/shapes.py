"""Output-shape formulas of convolution and transposed convolution.

Per spatial dim, with ``k_eff = dilation * (kernel - 1) + 1``:

* transposed: ``(n - 1) * stride - before - after + k_eff + output_padding``
* convolution: ``floor((n + before + after - k_eff) / stride) + 1``

>>> conv_transpose_output_shape((2, 2), 2, stride=2)
(4, 4)
>>> conv_output_shape((16, 16), 5, stride=3, padding=2)
(6, 6)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._validate import PadPairs, as_int, int_tuple, pad_pairs, padding_rule, per_dim, shown


def same_padding_transposed(k_eff: int, s: int) -> tuple[tuple[int, int], int]:
    """TF/Keras/JAX 'SAME' placement for a transposed conv: ``in * s`` outputs.

    Returns ((crop_before, crop_after), output_padding); the odd crop goes at the end.
    """
    total = k_eff - s
    if total >= 0:
        return (total // 2, total - total // 2), 0
    return (0, 0), -total


def same_padding_forward(n: int, k_eff: int, s: int) -> tuple[int, int]:
    """TF 'SAME' padding of a convolution: ``ceil(n / s)`` outputs, odd pad at the end.

    At stride 1 this equals PyTorch's ``padding='same'``.
    """
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def effective_kernel(k: int, d: int) -> int:
    """Extent of a kernel of ``k`` taps at dilation ``d``: ``d * (k - 1) + 1``.

    >>> effective_kernel(3, 2)
    5
    """
    return d * (k - 1) + 1


def full_size(n: int, k: int, s: int, d: int) -> int:
    """Uncropped length of the big side that ``n`` small positions reach: ``(n - 1) * s + k_eff``.

    A transposed convolution's output before its crops; the extent of a convolution's padded input that
    its ``n`` outputs read.

    >>> full_size(2, 2, 2, 1)
    4
    """
    return (n - 1) * s + effective_kernel(k, d)


def transposed_size(n: int, k: int, s: int, d: int, lo: int, hi: int, op: int) -> int:
    """Output length of a transposed conv along one dim (PyTorch's formula)."""
    return full_size(n, k, s, d) - lo - hi + op


def forward_size(n: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """Output length of a convolution along one dim (floor division, as PyTorch)."""
    return (n + lo + hi - effective_kernel(k, d)) // s + 1


def output_size_to_padding(
    output_size: Any,
    input_shape: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: PadPairs,
    n_leading: int,
) -> tuple[int, ...]:
    """Solve ``output_size`` for output_padding, with PyTorch's error message."""
    nd = len(kernel)
    sizes = requested_sizes(output_size, nd, n_leading)
    mins = [transposed_size(n, k, s, d, lo, hi, 0) for n, k, s, d, (lo, hi) in zip(input_shape, kernel, stride, dilation, padding)]
    maxs = [m + max(s, d) - 1 for m, s, d in zip(mins, stride, dilation)]
    if any(not lo_ <= v <= hi_ for v, lo_, hi_ in zip(sizes, mins, maxs)):
        raise ValueError(
            f"output_size: requested an output size of {tuple(sizes)}, but valid sizes range from "
            f"{tuple(mins)} to {tuple(maxs)} (for an input of {tuple(input_shape)})"
        )
    return tuple(v - m for v, m in zip(sizes, mins))


def requested_sizes(output_size: Any, nd: int, n_leading: int = 0) -> tuple[int, ...]:
    """The spatial sizes ``output_size`` asks for: ``nd`` sizes, or PyTorch's full shape with ``n_leading``
    leading dims (a bare int, NumPy integer or 0-d array when ``nd`` is 1).

    >>> requested_sizes((1, 3, 8, 8), 2, n_leading=2), requested_sizes(np.array([8, 8]), 2), requested_sizes(np.int64(5), 1)
    ((8, 8), (8, 8), (5,))
    """
    if isinstance(output_size, (str, bytes)) or not per_dim(output_size):
        if nd == 1 and not isinstance(output_size, (str, bytes)):
            output_size = [output_size]
        else:
            raise TypeError(f"output_size must be a sequence of {nd} sizes, got {shown(output_size)!r}")
    sizes = [as_int(v, "output_size") for v in output_size]
    if len(sizes) == nd + n_leading:
        sizes = sizes[n_leading:]
    elif len(sizes) != nd:
        raise ValueError(
            f"output_size must have {nd} spatial sizes (or {nd + n_leading} with the leading dims), "
            f"got {tuple(shown(v) for v in output_size)!r}"
        )
    return tuple(sizes)


def check_output_padding(output_padding: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> None:
    """PyTorch's rule: output_padding must be smaller than stride or dilation."""
    for dim, (op, s, d) in enumerate(zip(output_padding, stride, dilation)):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding ({op}) must be smaller than stride ({s}) or dilation ({d}) in dim {dim}"
            )


def forward_padding(
    padding: Any, spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> PadPairs:
    """(before, after) input padding of a convolution, resolving 'same' and 'valid'."""
    mode = padding_rule(padding)
    if mode == "same":
        return tuple(
            same_padding_forward(n, effective_kernel(k, d), s) for n, k, s, d in zip(spatial, kernel, stride, dilation)
        )
    if mode == "valid":
        return ((0, 0),) * len(spatial)
    return pad_pairs(padding, len(spatial))


def transposed_padding(
    padding: Any,
    output_padding: Any,
    output_size: Any,
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    n_leading: int = 0,
) -> tuple[PadPairs, tuple[int, ...]]:
    """Resolve a transposed conv's (crop pairs, output_padding).

    ``padding`` may be numbers, 'valid' (crop nothing) or 'same' (``in * stride``
    outputs, odd crop at the end); ``output_size``, when given, picks output_padding.
    """
    nd = len(spatial)
    mode = padding_rule(padding)
    if mode == "same":
        _check_same(output_padding, output_size, spatial, stride, n_leading)
        placed = [same_padding_transposed(effective_kernel(k, d), s) for k, s, d in zip(kernel, stride, dilation)]
        return tuple(p for p, _ in placed), tuple(op for _, op in placed)
    pads = ((0, 0),) * nd if mode == "valid" else pad_pairs(padding, nd)
    if output_size is not None:
        out_pad = output_size_to_padding(output_size, spatial, kernel, stride, dilation, pads, n_leading)
    else:
        out_pad = int_tuple(output_padding, nd, "output_padding", minimum=0)
    check_output_padding(out_pad, stride, dilation)
    return pads, out_pad


def _check_same(output_padding: Any, output_size: Any, spatial: tuple[int, ...], stride: tuple[int, ...],
                n_leading: int) -> None:
    """padding='same' fixes the output to ``in * stride``: output_padding may only be 0 (the default, in any
    form: 0, (0, 0), an array of zeros) and output_size only that size."""
    nd = len(spatial)
    same = tuple(n * s for n, s in zip(spatial, stride))
    if int_tuple(0 if output_padding is None else output_padding, nd, "output_padding", minimum=0) != (0,) * nd:
        raise ValueError(
            f"output_padding={shown(output_padding)!r} cannot be combined with padding='same': it fixes the "
            f"output to in * stride ({same} for an input of {spatial}); use output_padding=0 (the default), or "
            f"numeric padding"
        )
    if output_size is not None and requested_sizes(output_size, nd, n_leading) != same:
        raise ValueError(
            f"output_size={shown(output_size)!r} cannot be reached with padding='same': it fixes the output "
            f"to in * stride ({same} for an input of {spatial}); use numeric padding to pick another size"
        )


def _shape_args(input_shape: Any, kernel_size: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if isinstance(input_shape, (str, bytes)):
        raise TypeError(f"input_shape must be a sequence of spatial sizes, got {input_shape!r}")
    if not per_dim(input_shape):
        input_shape = (input_shape,)
    spatial = tuple(as_int(n, "input_shape") for n in input_shape)
    if not spatial:
        raise ValueError("input_shape must have at least one spatial dim, got ()")
    if any(n < 1 for n in spatial):
        raise ValueError(f"input_shape must be >= 1 in every dim, got {spatial}")
    kernel = int_tuple(kernel_size, len(spatial), "kernel_size", minimum=1)
    return spatial, kernel


def _refuse_empty(shape: tuple[int, ...], what: str) -> tuple[int, ...]:
    if any(n < 1 for n in shape):
        raise ValueError(f"no valid output: {what} (the output shape would be {shape})")
    return shape


def conv_transpose_output_shape(
    input_shape: Sequence[int] | int,
    kernel_size: Sequence[int] | int,
    *,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    dilation: Any = 1,
) -> tuple[int, ...]:
    """Spatial output shape of :func:`tconv.conv_transpose`.

    >>> conv_transpose_output_shape((16, 16), 5, stride=3, padding=2)
    (46, 46)
    >>> conv_transpose_output_shape((5,), 3, stride=2, padding="same")
    (10,)
    """
    spatial, kernel = _shape_args(input_shape, kernel_size)
    nd = len(spatial)
    stride_t = int_tuple(stride, nd, "stride", minimum=1)
    dil_t = int_tuple(dilation, nd, "dilation", minimum=1)
    pads, out_pad = transposed_padding(padding, output_padding, None, spatial, kernel, stride_t, dil_t)
    shape = tuple(
        transposed_size(n, k, s, d, lo, hi, op)
        for n, k, s, d, (lo, hi), op in zip(spatial, kernel, stride_t, dil_t, pads, out_pad)
    )
    return _refuse_empty(shape, f"padding {shown(padding)!r} crops the whole output")


def conv_output_shape(
    input_shape: Sequence[int] | int,
    kernel_size: Sequence[int] | int,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
) -> tuple[int, ...]:
    """Spatial output shape of :func:`tconv.conv`.

    >>> conv_output_shape((3, 3), 2)
    (2, 2)
    >>> conv_output_shape((7,), 3, stride=2, padding="same")
    (4,)
    """
    spatial, kernel = _shape_args(input_shape, kernel_size)
    nd = len(spatial)
    stride_t = int_tuple(stride, nd, "stride", minimum=1)
    dil_t = int_tuple(dilation, nd, "dilation", minimum=1)
    pads = forward_padding(padding, spatial, kernel, stride_t, dil_t)
    shape = tuple(forward_size(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi) in zip(spatial, kernel, stride_t, dil_t, pads))
    return _refuse_empty(shape, "the dilated kernel is larger than the padded input")
