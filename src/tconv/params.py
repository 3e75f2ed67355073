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

``boundary`` (the public ``padding_mode``) says what the padding holds:
zeros, or the input continued past its edges (:mod:`tconv.boundary`).  A
geometry with another boundary runs as :meth:`Geometry.kernel_geometry`, the
zero-padding geometry over the padded extent: a convolution pads its input
first, a transposed convolution folds its output after, so that the two stay
each other's exact adjoint in every mode.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from typing import Any, Sequence

import numpy as np

from .boundary import check_padding
from .shapes import effective_kernel, forward_padding, forward_size, full_size, transposed_padding, transposed_size
from ._validate import PadPairs, as_int, boundary_mode, compute_dtype, int_tuple, shown


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

    ``boundary`` is the ``padding_mode``: ``"zeros"``, ``"circular"``, ``"reflect"`` or ``"replicate"``
    (see :mod:`tconv.boundary` and :meth:`kernel_geometry`).
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
    boundary: str = "zeros"

    def __hash__(self) -> int:
        """The fields' hash, computed once: a geometry keys the planner's and the kernels' caches, several
        lookups per call.  Not pickled (string hashes differ between processes)."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_hash", "_subsampled")}

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
    def whole_weight(self) -> bool:
        """Whether the kernels get the call's weight whole, as it is: real operands, zero padding (complex
        operands run as real calls on their parts, another boundary mode around padded or folded inner calls),
        so that their re-layouts of a fixed weight can be kept (:mod:`tconv.algorithms.packs`)."""
        return self.dtype.kind != "c" and self.boundary == "zeros"

    @property
    def direct(self) -> bool:
        """Whether the kernels run this geometry on its operands as they are: :attr:`whole_weight` and no
        stride that divides its dilation (such a stride runs the stride-1 :meth:`subsampled` operator)."""
        return self.whole_weight and self.subsampled() is None

    @property
    def before(self) -> tuple[int, ...]:
        """Padding before each spatial dim (the ``lo`` of the index map)."""
        return tuple(lo for lo, _ in self.padding)

    @property
    def result_shape(self) -> tuple[int, ...]:
        """Full shape of the returned array (batch axis only when batched)."""
        lead = (self.batch,) if self.batched else ()
        return lead + (self.out_channels,) + self.output_shape

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        """Extent of the dilated kernel per spatial dim (:func:`tconv.shapes.effective_kernel`)."""
        return tuple(effective_kernel(k, d) for k, d in zip(self.kernel_shape, self.dilation))

    @property
    def full_shape(self) -> tuple[int, ...]:
        """The big side's uncropped extent, ``(small - 1) * stride + effective_kernel`` per dim: a transposed
        convolution's output before any crop, the part of a convolution's padded input its outputs read."""
        return tuple(full_size(n, k, s, d) for n, k, s, d in
                     zip(self.small_shape, self.kernel_shape, self.stride, self.dilation))

    @property
    def crops(self) -> PadPairs:
        """``(before, after)`` per dim: how much of :attr:`full_shape` the big side leaves out at each end.

        ``before`` is the padding before; ``after = full - before - big`` is negative where the big side runs
        past the last position the kernel reaches (a transposed convolution's output_padding beyond its end
        crop; a convolution's input rows past the padding that no output reads).

        >>> g = geometry_from_shapes(True, (1, 1, 2, 2), (1, 1, 3, 3), stride=2, padding=1, output_padding=1)
        >>> g.full_shape, g.crops, g.output_shape
        ((5, 5), ((1, 0), (1, 0)), (4, 4))
        """
        return tuple((lo, f - lo - n) for (lo, _), f, n in zip(self.padding, self.full_shape, self.big_shape))

    def adjoint(self) -> "Geometry":
        """The geometry of the adjoint operator: a transposed convolution's convolution and back.

        Same weight, batch and dtype; the two sides and their channels swap, the crops stay.

        >>> g = geometry_from_shapes(True, (2, 4, 3, 3), (4, 6, 3, 3), stride=2, padding=1, output_padding=1)
        >>> a = g.adjoint()
        >>> (a.transposed, a.input_shape, a.output_shape, a.in_channels, a.out_channels, a.crops == g.crops)
        (False, (6, 6), (3, 3), 6, 4, True)
        >>> a.adjoint().crops == g.crops and a.adjoint().output_shape == g.output_shape
        True
        """
        if self.transposed:  # the end crop, net of output_padding, becomes the convolution's end padding
            padding = tuple((lo, hi - op) for (lo, hi), op in zip(self.padding, self.output_padding))
            output_padding = (0,) * self.ndim
        else:  # the input rows no output reads come back as output_padding
            crops = self.crops
            output_padding = tuple(max(0, -after) for _, after in crops)
            padding = tuple((lo, after + op) for (lo, after), op in zip(crops, output_padding))
        return replace(
            self, transposed=not self.transposed, in_channels=self.out_channels, out_channels=self.in_channels,
            input_shape=self.output_shape, output_shape=self.input_shape, padding=padding,
            output_padding=output_padding,
        )

    def convolution(self) -> "Geometry":
        """The convolution between the two sides: itself, or a transposed convolution's :meth:`adjoint` (what
        a weight gradient gathers from the big side, whichever way the operator runs).

        >>> g = geometry_from_shapes(True, (2, 4, 3, 3), (4, 6, 3, 3), stride=2, padding=1)
        >>> g.convolution() == g.adjoint(), g.adjoint().convolution() == g.adjoint()
        (True, True)
        """
        return self.adjoint() if self.transposed else self

    @property
    def boundary_pairs(self) -> PadPairs:
        """``(before, after)`` per dim by which the big side is padded (a convolution's input) or folded (a
        transposed convolution's output) in the :attr:`boundary` mode.

        The padding pairs, except that a convolution's negative end padding (input rows no output reads,
        from :meth:`adjoint`) pads nothing: the kernel geometry crops them instead.
        """
        return tuple((lo, max(hi, 0)) for lo, hi in self.padding)

    @property
    def padded_shape(self) -> tuple[int, ...]:
        """The big side's spatial shape extended by :attr:`boundary_pairs`: what the kernels read or write."""
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.big_shape, self.boundary_pairs))

    def kernel_geometry(self) -> "Geometry":
        """The zero-padding geometry the kernels run for this one: itself for ``boundary="zeros"``.

        For another boundary the big side is the padded extent :attr:`padded_shape` with no padding: a
        convolution pads its input by :attr:`boundary_pairs` (:func:`tconv.boundary.pad`) and runs this; a
        transposed convolution runs this (the same ``output_padding``) and folds the result back
        (:func:`tconv.boundary.fold`).  The small side, the weight and the result's shape stay.

        >>> g = geometry_from_shapes(True, (1, 1, 4), (1, 1, 3), padding=1, padding_mode="circular")
        >>> k = g.kernel_geometry()
        >>> (g.output_shape, k.output_shape, k.padding, k.boundary, k.adjoint().input_shape)
        ((4,), (6,), ((0, 0),), 'zeros', (6,))
        """
        if self.boundary == "zeros":
            return self
        nd = self.ndim
        if self.transposed:
            return replace(self, boundary="zeros", padding=((0, 0),) * nd, output_shape=self.padded_shape)
        return replace(self, boundary="zeros", padding=tuple((0, min(hi, 0)) for _, hi in self.padding),
                       input_shape=self.padded_shape)

    def subsampled(self) -> "tuple[Geometry, tuple[slice, ...]] | None":
        """Where a dim's stride (above 1) divides its dilation, the taps meet only every stride-th big-side
        position: the same operator on those positions alone, with stride 1 and dilation / stride there.

        Returns that geometry (zero padding, same small side, weight and batch) and the big side's slices
        that pick its positions, or None when no dim has such a stride.  A convolution reads only
        ``big[slices]``; a transposed convolution writes only there (the rest of its output is zero, plus
        the bias).  Computed once per geometry.

        >>> g = geometry_from_shapes(True, (1, 1, 4), (1, 1, 3), stride=2, dilation=2, padding=2, output_padding=1)
        >>> s, picks = g.subsampled()
        >>> s.stride, s.dilation, s.output_shape, picks, g.output_shape
        ((1,), (1,), (4,), (slice(0, None, 2),), (8,))
        """
        cached = self.__dict__.get("_subsampled", False)
        if cached is False:
            cached = self._subsample()
            object.__setattr__(self, "_subsampled", cached)
        return cached

    def _subsample(self) -> "tuple[Geometry, tuple[slice, ...]] | None":
        if self.boundary != "zeros" or not any(s > 1 and d % s == 0 for s, d in zip(self.stride, self.dilation)):
            return None
        view = self.convolution()
        big, stride, dilation, padding, picks = [], [], [], [], []
        for n_big, n_small, k, s, d, (lo, hi) in zip(view.input_shape, view.output_shape, self.kernel_shape,
                                                    self.stride, self.dilation, view.padding):
            if s == 1 or d % s:
                big.append(n_big), stride.append(s), dilation.append(d), padding.append((lo, hi))
                picks.append(slice(None))
                continue
            r = -lo % s  # the big positions the taps meet: r, r + s, ...
            n = len(range(r, n_big, s))
            if n == 0:
                return None
            lo2, d2 = (lo + r) // s, d // s
            big.append(n), stride.append(1), dilation.append(d2)
            padding.append((lo2, n_small + d2 * (k - 1) - n - lo2))  # stride 1: small = big + lo + hi - d(k - 1)
            picks.append(slice(r, None, s))
        reduced = replace(view, input_shape=tuple(big), stride=tuple(stride), dilation=tuple(dilation),
                          padding=tuple(padding))
        return (reduced.adjoint() if self.transposed else reduced), tuple(picks)

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
              dilation, pads, out_pad, boundary) -> Geometry:
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
        boundary=boundary,
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
    padding_mode: Any = "zeros",
) -> Geometry:
    """Validate a transposed convolution call and return its :class:`Geometry`.

    With ``padding_mode`` other than ``"zeros"`` it describes the adjoint of the convolution that pads its
    input of the output's size by ``padding`` in that mode, so the padding must fit the *output* size (as
    PyTorch's pad requires of an input: reflect ``< size``, circular ``<= size``).
    """
    boundary = boundary_mode(padding_mode)
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
    check_padding(pads, out_shape, boundary, "output")
    return _geometry(True, x, weight, bias, batched, c_in, c_out, g, spatial, out_shape, kernel, stride_t, dil_t,
                     pads, out_pad, boundary)


def conv_geometry(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
    padding_mode: Any = "zeros",
) -> Geometry:
    """Validate a convolution call and return its :class:`Geometry` (``padding_mode``: what the padding
    holds, :mod:`tconv.boundary`)."""
    boundary = boundary_mode(padding_mode)
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
    check_padding(pads, spatial, boundary)
    out_shape = tuple(
        forward_size(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi) in zip(spatial, kernel, stride_t, dil_t, pads)
    )
    if any(n < 1 for n in out_shape):
        raise ValueError(
            f"weight: the dilated kernel {tuple(effective_kernel(k, d) for k, d in zip(kernel, dil_t))} is larger than "
            f"the padded input {tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))}; no output position fits"
        )
    return _geometry(False, x, weight, bias, batched, c_in, c_out, g, spatial, out_shape, kernel, stride_t, dil_t,
                     pads, (0,) * nd, boundary)


def stand_in(shape: Sequence[int], dtype: Any = np.float64) -> np.ndarray:
    """A read-only array of ``shape`` that owns no memory (every element is the same zero): what the shared
    validation needs where only shapes and a dtype are known.

    >>> a = stand_in((2, 3), np.float32)
    >>> a.shape, a.dtype, a.flags.writeable, a.strides
    ((2, 3), dtype('float32'), False, (0, 0))
    """
    a = np.lib.stride_tricks.as_strided(np.zeros((), dtype), tuple(int(n) for n in shape), (0,) * len(shape))
    a.flags.writeable = False
    return a


def geometry_from_shapes(transposed: bool, x_shape: Sequence[int], weight_shape: Sequence[int], dtype: Any = np.float32,
                         *, bias: bool = False, **hyper: Any) -> Geometry:
    """The :class:`Geometry` of a call given only its operands' shapes and dtype, validated exactly as the call.

    ``hyper`` are the keyword arguments of :func:`conv_transpose_geometry` (``transposed``) or
    :func:`conv_geometry`.  For layers, dialects and planners that know shapes before they have arrays.

    >>> geometry_from_shapes(True, (1, 3, 4, 4), (3, 2, 2, 2), stride=2).result_shape
    (1, 2, 8, 8)
    """
    x, weight = stand_in(x_shape, dtype), stand_in(weight_shape, dtype)
    channels = weight.shape[1] * int(hyper.get("groups", 1)) if transposed else weight.shape[0]
    b = stand_in((channels,), dtype) if bias else None
    return _build(transposed, x, weight, b, hyper)


def _plain(value: Any) -> bool:
    """True for an int (not a bool), a str, None, or a tuple of these: a hyper-parameter that can key a
    cache, since two such values that compare equal are validated alike (``2 == 2.0 == True`` are not)."""
    kind = type(value)
    if kind is tuple:
        return all(_plain(v) for v in value)
    return kind is int or kind is str or value is None


@functools.lru_cache(maxsize=1024)
def _cached_geometry(transposed: bool, x_sig: tuple, weight_sig: tuple, bias_sig: tuple | None,
                     hyper: tuple[tuple[str, Any], ...]) -> Geometry:
    bias = None if bias_sig is None else stand_in(*bias_sig)
    return _build(transposed, stand_in(*x_sig), stand_in(*weight_sig), bias, dict(hyper))


def call_geometry(transposed: bool, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                  **hyper: Any) -> Geometry:
    """:func:`conv_transpose_geometry` (``transposed``) or :func:`conv_geometry` of a call, cached per
    operand shapes and dtypes and hyper-parameters when these are plain ints, strings and tuples (the
    validation is the same either way; a refused call is never cached).

    >>> g = call_geometry(True, np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), None, stride=2)
    >>> g is call_geometry(True, np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), None, stride=2)
    True
    """
    if all(_plain(v) for v in hyper.values()):
        bias_sig = None if bias is None else (bias.shape, bias.dtype)
        return _cached_geometry(transposed, (x.shape, x.dtype), (weight.shape, weight.dtype), bias_sig,
                                tuple(hyper.items()))
    return _build(transposed, x, weight, bias, hyper)


def _build(transposed: bool, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, hyper: dict) -> Geometry:
    return (conv_transpose_geometry if transposed else conv_geometry)(x, weight, bias, **hyper)
