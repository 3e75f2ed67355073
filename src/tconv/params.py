"""Argument validation and normalization: the one place where user input is checked.

Every public door (functions, layers, framework dialects, the command line)
hands its arguments to :func:`conv_transpose_geometry` or
:func:`conv_geometry`.  They return a :class:`Geometry`, a frozen value that
every later stage (algorithm choice, memory check, kernels) trusts without
checking again.

One geometry describes a *pair* of adjoint operators.  A convolution maps the
"big" side to the "small" side; the transposed convolution maps the small side
back to the big side.  Per spatial dimension, small index ``i``, kernel tap
``t`` and big index ``o`` are linked by::

    o = i * stride + t * dilation - lo

where ``lo`` is the padding *before* (for a convolution: zeros added in front
of the input; for a transposed convolution: outputs cropped at the front).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .shapes import forward_padding, forward_size, transposed_padding, transposed_size
from .validate import PadPairs, as_int, compute_dtype, int_tuple, shown


@dataclass(frozen=True)
class Geometry:
    """A validated convolution / transposed-convolution problem.

    Attributes use the transposed convolution's point of view when
    ``transposed`` is true (``x`` is the small side, the result the big side)
    and the convolution's otherwise (``x`` is the big side).

    ``padding`` holds ``(before, after)`` per spatial dim.  For a transposed
    convolution ``before`` outputs are cropped at the front and
    ``after - output_padding`` at the end (a negative number there means the
    output runs past the last input contribution and those entries are zero).
    """

    transposed: bool
    batch: int
    batched: bool
    in_channels: int
    out_channels: int
    groups: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kernel_shape: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: PadPairs
    output_padding: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.kernel_shape)

    @property
    def small_shape(self) -> tuple[int, ...]:
        """Spatial shape of the convolution's output / transposed conv's input."""
        return self.input_shape if self.transposed else self.output_shape

    @property
    def big_shape(self) -> tuple[int, ...]:
        """Spatial shape of the convolution's input / transposed conv's output."""
        return self.output_shape if self.transposed else self.input_shape

    @property
    def small_channels(self) -> int:
        """Channels on the small side."""
        return self.in_channels if self.transposed else self.out_channels

    @property
    def big_channels(self) -> int:
        """Channels on the big side."""
        return self.out_channels if self.transposed else self.in_channels

    @property
    def before(self) -> tuple[int, ...]:
        """Padding before each spatial dim (the ``lo`` of the index map)."""
        return tuple(lo for lo, _ in self.padding)

    @property
    def result_shape(self) -> tuple[int, ...]:
        """Full shape of the returned array (batch axis only when batched)."""
        lead = (self.batch,) if self.batched else ()
        return lead + (self.out_channels,) + self.output_shape

    def macs(self) -> int:
        """Multiply-adds of the scatter/gather definition (no cropping savings)."""
        per_position = self.small_channels * self.big_channels // self.groups
        return self.batch * per_position * _prod(self.small_shape) * _prod(self.kernel_shape)


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


# ---------------------------------------------------------------------------
# the two geometry builders


def _split_operands(x: np.ndarray, weight: np.ndarray) -> tuple[int, bool]:
    """Return (spatial ndim, batched) after checking x and weight ranks."""
    if weight.ndim < 3:
        raise ValueError(
            f"weight must have shape (channels, channels, *kernel) with at least one spatial dim, "
            f"got shape {weight.shape}"
        )
    nd = weight.ndim - 2
    if x.ndim == nd + 2:
        return nd, True
    if x.ndim == nd + 1:
        return nd, False
    raise ValueError(
        f"x must have {nd + 2} dims (N, C, *spatial) or {nd + 1} dims (C, *spatial) to match a weight "
        f"with {nd} spatial dims, got x of shape {x.shape}"
    )


def _check_positive_shape(shape: Sequence[int], name: str, what: str) -> None:
    for dim, n in enumerate(shape):
        if n < 1:
            raise ValueError(f"{name} must have {what} >= 1 in every dim, got shape {tuple(shape)} (dim {dim})")


def _check_groups(groups: Any, in_channels: int, out_channels: int) -> int:
    g = as_int(groups, "groups")
    if g < 1:
        raise ValueError(f"groups must be >= 1, got {g}")
    if in_channels % g:
        raise ValueError(f"groups ({g}) must divide the input channels ({in_channels})")
    if out_channels % g:
        raise ValueError(f"groups ({g}) must divide the output channels ({out_channels})")
    return g


def _check_bias(bias: np.ndarray | None, out_channels: int) -> None:
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},) (one per output channel), got {bias.shape}")


def _spatial_args(nd, stride, dilation):
    return (
        int_tuple(stride, nd, "stride", minimum=1),
        int_tuple(dilation, nd, "dilation", minimum=1),
    )


def _operand_facts(x: np.ndarray, weight: np.ndarray) -> tuple[int, bool, int, tuple[int, ...], tuple[int, ...]]:
    """(spatial ndim, batched, x's channels, x's spatial shape, kernel shape), each checked."""
    nd, batched = _split_operands(x, weight)
    spatial = tuple(x.shape[-nd:])
    kernel = tuple(weight.shape[2:])
    _check_positive_shape(kernel, "weight", "a kernel size")
    _check_positive_shape(spatial, "x", "a spatial size")
    channels = x.shape[1 if batched else 0]
    if channels < 1:
        raise ValueError(f"x must have at least one channel, got x of shape {x.shape}")
    return nd, batched, channels, spatial, kernel


def _geometry(transposed, x, weight, bias, batched, c_in, c_out, groups, spatial, out_shape, kernel, stride,
              dilation, pads, out_pad) -> Geometry:
    return Geometry(
        transposed=transposed,
        batch=x.shape[0] if batched else 1,
        batched=batched,
        in_channels=c_in,
        out_channels=c_out,
        groups=groups,
        input_shape=spatial,
        output_shape=out_shape,
        kernel_shape=kernel,
        stride=stride,
        dilation=dilation,
        padding=pads,
        output_padding=out_pad,
        dtype=compute_dtype(*(a for a in (x, weight, bias) if a is not None)),
    )


def conv_transpose_geometry(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
    output_size: Any = None,
) -> Geometry:
    """Validate a transposed convolution call and return its :class:`Geometry`."""
    nd, batched, c_in, spatial, kernel = _operand_facts(x, weight)
    if weight.shape[0] != c_in:
        raise ValueError(
            f"weight must have shape (C_in, C_out // groups, *kernel) with C_in = {c_in} (x's channels), "
            f"got weight of shape {weight.shape}"
        )
    if weight.shape[1] < 1:
        raise ValueError(f"weight must have at least one output channel, got weight of shape {weight.shape}")
    g = as_int(groups, "groups")
    c_out = weight.shape[1] * max(g, 1)
    _check_groups(g, c_in, c_out)
    _check_bias(bias, c_out)
    stride_t, dil_t = _spatial_args(nd, stride, dilation)
    pads, out_pad = transposed_padding(
        padding, output_padding, output_size, spatial, kernel, stride_t, dil_t, 2 if batched else 1
    )
    out_shape = tuple(
        transposed_size(n, k, s, d, lo, hi, op)
        for n, k, s, d, (lo, hi), op in zip(spatial, kernel, stride_t, dil_t, pads, out_pad)
    )
    if any(n < 1 for n in out_shape):
        raise ValueError(
            f"padding {shown(padding)!r} crops more than the whole output: the output shape would be {out_shape} "
            f"for an input of {spatial}, kernel {kernel}, stride {stride_t}, dilation {dil_t}"
        )
    return _geometry(True, x, weight, bias, batched, c_in, c_out, g, spatial, out_shape, kernel, stride_t, dil_t,
                     pads, out_pad)


def conv_geometry(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
) -> Geometry:
    """Validate a convolution call and return its :class:`Geometry`."""
    nd, batched, c_in, spatial, kernel = _operand_facts(x, weight)
    c_out = weight.shape[0]
    if c_out < 1:
        raise ValueError(f"weight must have at least one output channel, got weight of shape {weight.shape}")
    g = _check_groups(groups, c_in, c_out)
    if weight.shape[1] * g != c_in:
        raise ValueError(
            f"weight must have shape (C_out, C_in // groups, *kernel) with C_in // groups = {c_in // g} "
            f"(x has {c_in} channels, groups={g}), got weight of shape {weight.shape}"
        )
    _check_bias(bias, c_out)
    stride_t, dil_t = _spatial_args(nd, stride, dilation)
    pads = forward_padding(padding, spatial, kernel, stride_t, dil_t)
    out_shape = tuple(
        forward_size(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi) in zip(spatial, kernel, stride_t, dil_t, pads)
    )
    if any(n < 1 for n in out_shape):
        raise ValueError(
            f"weight: the dilated kernel {tuple(d * (k - 1) + 1 for k, d in zip(kernel, dil_t))} is larger than "
            f"the padded input {tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))}; no output position fits"
        )
    return _geometry(False, x, weight, bias, batched, c_in, c_out, g, spatial, out_shape, kernel, stride_t, dil_t,
                     pads, (0,) * nd)
