"""TensorFlow's ``tf.nn.conv_transpose`` family and Keras ``Conv*DTranspose``, as Geometries run by ``ops.execute``.

TensorFlow defines the transposed convolution as the gradient of a forward
convolution whose *input* has ``output_shape``:

* filters are ``(*kernel, out_channels, in_channels)``, the forward conv's
  ``HWIO`` kernel; no flip is needed to reach PyTorch's
  ``(in, out, *kernel)`` layout, only a transpose;
* layout is channels-last by default (``NWC`` / ``NHWC`` / ``NDHWC``);
  ``data_format="NCW" / "NCHW" / "NCDHW"`` selects channels-first;
* ``output_shape`` is required and must be one the forward conv maps back to
  the input size: ``ceil(out / s) == in`` for "SAME",
  ``(out - k_eff) / s + 1 == in`` for "VALID" (C++ division, truncating
  toward zero: with one input position an output shorter than the kernel is
  accepted and cropped at the end, as TF's oneDNN CPU kernel does) and
  ``(out + before + after - k_eff + s) / s == in`` for explicit pads (TF's
  native kernel: an output shorter than the padded kernel is refused);
* "SAME" places the forward conv's padding ``max(0, full - out)`` (``full``
  the uncropped transposed output, :func:`tconv.shapes.full_size`) with the
  odd one at the end: the transposed output is cropped by ``total // 2`` at
  the start.

Keras ``Conv1DTranspose`` / ``Conv2DTranspose`` / ``Conv3DTranspose``
(:func:`keras_conv_transpose`) pick ``output_shape`` from ``padding`` and
``output_padding`` (Keras 3's rule, :func:`keras_output_size`) and call
``tf.nn.conv_transpose``.

>>> import numpy as np
>>> x = np.array([1., 2, 3]).reshape(1, 3, 1); f = np.array([1., 10, 100]).reshape(3, 1, 1)
>>> conv1d_transpose(x, f, [1, 6, 1], 2, "SAME")[0, :, 0]
array([  1.,  10., 102.,  20., 203.,  30.])
>>> conv1d_transpose(x, f, [1, 7, 1], 2, "VALID")[0, :, 0]
array([  1.,  10., 102.,  20., 203.,  30., 300.])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ops import execute
from ..params import Geometry, geometry_from_shapes
from ..shapes import effective_kernel, full_size
from .._validate import as_int, compute_dtype, numeric_array

_WHO = "tf.nn.conv_transpose"
_FORMATS = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}


def _per_dim(value: Any, nd: int, name: str, channels_last: bool, who: str = _WHO) -> tuple[int, ...]:
    """TF's strides/dilations forms: an int, or 1, nd or nd + 2 entries (the last with 1 for N and C)."""
    if value is None:
        return (1,) * nd
    if np.ndim(value) == 0:
        values = [as_int(value, f"{who}: {name}")]
    else:
        values = [as_int(v, f"{who}: {name}") for v in value]
    if len(values) == 1:
        values = values * nd
    elif len(values) == nd + 2:
        outer = (values[0], values[-1]) if channels_last else (values[0], values[1])
        if outer != (1, 1):
            raise ValueError(f"{who}: {name} {values} must be 1 in the batch and channel dims")
        values = values[1:-1] if channels_last else values[2:]
    elif len(values) != nd:
        raise ValueError(f"{who}: {name} must be an int or have 1, {nd} or {nd + 2} entries, got {values}")
    if any(v < 1 for v in values):
        raise ValueError(f"{who}: {name} must be >= 1, got {values}")
    return tuple(values)


def _data_format(data_format: str | None, nd: int) -> bool:
    """True for channels-last."""
    last, first = _FORMATS.get(nd, ("N" + "S" * nd + "C", "NC" + "S" * nd))
    if data_format is None or data_format == last:
        return True
    if data_format == first:
        return False
    raise ValueError(f"{_WHO}: data_format must be {last!r} or {first!r} for {nd} spatial dims, got {data_format!r}")


def _padding(padding: Any, nd: int, channels_last: bool) -> str | tuple[tuple[int, int], ...]:
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID") or padding != padding.upper():
            raise ValueError(f"{_WHO}: padding must be 'SAME', 'VALID' or explicit pairs, got {padding!r}")
        return padding
    try:
        pairs = [tuple(as_int(v, f"{_WHO}: padding") for v in p) for p in padding]
    except TypeError:
        raise TypeError(f"{_WHO}: padding must be 'SAME', 'VALID' or a list of (before, after) pairs, "
                        f"got {padding!r}") from None
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"{_WHO}: padding pairs must be (before, after), got {padding!r}")
    if len(pairs) == nd + 2:
        outer = (pairs[0], pairs[-1]) if channels_last else (pairs[0], pairs[1])
        if outer != ((0, 0), (0, 0)):
            raise ValueError(f"{_WHO}: explicit padding {padding!r} must be [0, 0] in the batch and channel dims")
        pairs = pairs[1:-1] if channels_last else pairs[2:]
    elif len(pairs) != nd:
        raise ValueError(f"{_WHO}: explicit padding must have {nd + 2} pairs (or {nd}), got {padding!r}")
    if any(v < 0 for p in pairs for v in p):
        raise ValueError(f"{_WHO}: explicit padding must be non-negative, got {padding!r}")
    return tuple(pairs)  # type: ignore[return-value]


def _forward_padding(dim: int, n: int, k: int, s: int, d: int, padding: Any, out: int) -> int:
    """The forward conv's padding before ``out`` positions of one dim, after TF's shape check."""
    k_eff, full = effective_kernel(k, d), full_size(n, k, s, d)
    if padding == "SAME":
        back = -(-out // s)
        before = max(0, full_size(back, k, s, d) - out) // 2
        lo, hi = full_size(n, 1, s, 1), n * s  # the outputs whose ceil(out / s) is n
    else:
        pb, pa = (0, 0) if padding == "VALID" else padding[dim]
        num = out + pb + pa - k_eff
        if padding == "VALID":  # TF's oneDNN kernel: num / s + 1, C++ division truncating toward zero
            back = (num // s if num >= 0 else -(-num // s)) + 1
        else:  # TF's native kernel (explicit pads): (num + s) / s, so no output shorter than the kernel
            back = (num + s) // s if num >= 0 else 0
        before = pb
        lo, hi = full - pb - pa, full + s - 1 - pb - pa
        if n == 1 and padding == "VALID":
            lo -= s - 1
    if back != n:
        shown = padding if isinstance(padding, str) else "explicit padding"
        raise ValueError(
            f"{_WHO}: output_shape size {out} in spatial dim {dim} does not map back to the input size {n} "
            f"with {shown}, kernel {k}, stride {s}, dilation {d}: valid sizes are {max(lo, 1)} to {hi}"
        )
    return before


def geometry(
    x_shape: Sequence[int], weight_shape: Sequence[int], dtype: Any = np.float64, *,
    strides: Sequence[int], dilations: Sequence[int], padding: Any, output_size: Sequence[int],
) -> Geometry:
    """The :class:`~tconv.params.Geometry` of ``tf.nn.conv_transpose`` for an ``output_size``, with TF's check.

    ``x_shape`` is channels-first ``(N, C, *spatial)`` and ``weight_shape`` PyTorch's ``(in, out, *kernel)``;
    ``strides`` and ``dilations`` have one entry per spatial dim, ``padding`` is "SAME", "VALID" or
    ``(before, after)`` pairs of the forward conv.  Its :attr:`~tconv.params.Geometry.crops` are TF's
    crops of the full output.

    >>> geometry((1, 1, 3), (1, 1, 3), strides=[2], dilations=[1], padding="SAME", output_size=[6]).crops
    ((0, 1),)
    >>> geometry((1, 1, 3), (1, 1, 3), strides=[2], dilations=[1], padding="VALID", output_size=[8]).crops
    ((0, -1),)
    """
    spatial, kernel = tuple(x_shape[2:]), tuple(weight_shape[2:])
    pads, output_padding = [], []
    for dim, (n, k, s, d, out) in enumerate(zip(spatial, kernel, strides, dilations, output_size)):
        before = _forward_padding(dim, n, k, s, d, padding, out)
        after = full_size(n, k, s, d) - out - before  # negative: the output runs past the contributions
        pads.append((before, max(after, 0)))
        output_padding.append(max(-after, 0))
    return geometry_from_shapes(True, x_shape, weight_shape, dtype, stride=tuple(strides),
                                dilation=tuple(dilations), padding=tuple(pads), output_padding=tuple(output_padding))


def _output_sizes(output_shape: Any, x_shape: tuple[int, ...], out_channels: int, channels_last: bool) -> tuple[int, ...]:
    nd = len(x_shape) - 2
    if output_shape is None:
        raise TypeError(f"{_WHO}: output_shape is required (TensorFlow cannot infer it)")
    values = [as_int(v, f"{_WHO}: output_shape") for v in np.asarray(output_shape).ravel()]
    if len(values) == nd + 2:
        batch, channels = values[0], (values[-1] if channels_last else values[1])
        if batch != x_shape[0] or channels != out_channels:
            raise ValueError(
                f"{_WHO}: output_shape {values} must have batch {x_shape[0]} and {out_channels} channels "
                f"(filters' out_channels)"
            )
        values = values[1:-1] if channels_last else values[2:]
    elif len(values) != nd:
        raise ValueError(f"{_WHO}: output_shape must have {nd + 2} entries (the full output shape), got {values}")
    if any(v < 1 for v in values):
        raise ValueError(f"{_WHO}: output_shape must be >= 1 in every spatial dim, got {values}")
    return tuple(values)


def conv_transpose(
    input: Any,
    filters: Any,
    output_shape: Any,
    strides: Any,
    padding: Any = "SAME",
    data_format: str | None = None,
    dilations: Any = None,
) -> np.ndarray:
    """``tf.nn.conv_transpose`` (1-3 spatial dims, any with channels-first/last) on NumPy arrays.

    Args:
        input: ``(N, *spatial, C_in)`` (or ``(N, C_in, *spatial)`` with a channels-first data_format).
        filters: ``(*kernel, C_out, C_in)``.
        output_shape: the full output shape (``[N, *spatial, C_out]`` in data_format order).
        strides, dilations: an int, or 1, nd or nd + 2 entries.
        padding: "SAME", "VALID" or explicit ``(before, after)`` pairs of the forward conv
            (nd + 2 pairs in data_format order, 0 for N and C; nd pairs also accepted).
        data_format: "NWC"/"NHWC"/"NDHWC" (default) or "NCW"/"NCHW"/"NCDHW".

    >>> x = np.ones((1, 2, 2, 1)); f = np.ones((3, 3, 1, 1))
    >>> conv_transpose(x, f, [1, 4, 4, 1], 2)[0, :, :, 0]
    array([[1., 1., 2., 1.],
           [1., 1., 2., 1.],
           [2., 2., 4., 2.],
           [1., 1., 2., 1.]])
    """
    x = numeric_array(input, "input")
    f = numeric_array(filters, "filters")
    if x.ndim < 3 or f.ndim != x.ndim:
        raise ValueError(
            f"{_WHO}: input must be (N, *spatial, C) with 1-3 spatial dims and filters (*kernel, out, in) of the "
            f"same rank, got input {x.shape} and filters {f.shape}"
        )
    nd = x.ndim - 2
    last = _data_format(data_format, nd)
    xc = np.moveaxis(x, -1, 1) if last else x
    if f.shape[-1] != xc.shape[1]:
        raise ValueError(
            f"{_WHO}: filters' in_channels (last dim, {f.shape[-1]}) must equal input's channels ({xc.shape[1]})"
        )
    weight = np.moveaxis(f, (-1, -2), (0, 1))  # (in, out, *kernel)
    stride = _per_dim(strides, nd, "strides", last)
    dil = _per_dim(dilations, nd, "dilations", last)
    pad = _padding(padding, nd, last)
    out = _output_sizes(output_shape, (xc.shape[0], xc.shape[1]) + xc.shape[2:], weight.shape[1], last)
    geom = geometry(xc.shape, weight.shape, compute_dtype(xc, weight), strides=stride, dilations=dil, padding=pad,
                    output_size=out)
    y = execute(geom, xc, weight)
    return np.moveaxis(y, 1, -1) if last else y


def conv1d_transpose(
    input: Any, filters: Any, output_shape: Any, strides: Any, padding: Any = "SAME",
    data_format: str | None = "NWC", dilations: Any = None,
) -> np.ndarray:
    """``tf.nn.conv1d_transpose``: :func:`conv_transpose` with one spatial dim."""
    _check_rank(input, 3, "conv1d_transpose")
    return conv_transpose(input, filters, output_shape, strides, padding, data_format, dilations)


def conv2d_transpose(
    input: Any, filters: Any, output_shape: Any, strides: Any, padding: Any = "SAME",
    data_format: str | None = "NHWC", dilations: Any = None,
) -> np.ndarray:
    """``tf.nn.conv2d_transpose``: :func:`conv_transpose` with two spatial dims."""
    _check_rank(input, 4, "conv2d_transpose")
    return conv_transpose(input, filters, output_shape, strides, padding, data_format, dilations)


def conv3d_transpose(
    input: Any, filters: Any, output_shape: Any, strides: Any, padding: Any = "SAME",
    data_format: str | None = "NDHWC", dilations: Any = None,
) -> np.ndarray:
    """``tf.nn.conv3d_transpose``: :func:`conv_transpose` with three spatial dims."""
    _check_rank(input, 5, "conv3d_transpose")
    return conv_transpose(input, filters, output_shape, strides, padding, data_format, dilations)


def _check_rank(x: Any, rank: int, name: str) -> None:
    if np.ndim(x) != rank:
        raise ValueError(f"tf.nn.{name}: input must have rank {rank}, got shape {np.shape(x)}")


# ---------------------------------------------------------------------------
# Keras


def keras_output_size(n: int, k: int, s: int, d: int, padding: str, output_padding: int | None) -> int:
    """Keras 3's output length of a transposed conv along one dim (``padding`` 'same' or 'valid').

    >>> keras_output_size(5, 3, 2, 1, "same", None), keras_output_size(5, 3, 2, 1, "same", 0)
    (10, 9)
    >>> keras_output_size(5, 1, 2, 1, "valid", None)
    10
    """
    k_eff, full = effective_kernel(k, d), full_size(n, k, s, d)
    if padding == "valid":
        op = max(k_eff, s) - k_eff if output_padding is None else output_padding
        return full + op
    if output_padding is None:
        return n * s
    return full - 2 * (k_eff // 2) + output_padding  # Keras crops k_eff // 2 at each end


def keras_conv_transpose(
    inputs: Any,
    kernel: Any,
    bias: Any = None,
    *,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    data_format: str = "channels_last",
    dilation_rate: Any = 1,
) -> np.ndarray:
    """Keras ``Conv{1,2,3}DTranspose`` forward pass (TensorFlow backend) with a given kernel and bias.

    ``kernel`` is ``(*kernel_size, filters, in_channels)``; ``padding`` is "same" or "valid";
    ``output_padding`` None or one int per dim; the output length follows
    :func:`keras_output_size`, then ``tf.nn.conv_transpose`` places the crop.  (The Keras
    layer itself refuses ``strides > 1`` together with ``dilation_rate > 1``; this function
    computes what ``tf.nn.conv_transpose`` defines for them.)

    >>> x = np.ones((1, 3, 1)); k = np.ones((3, 1, 1))
    >>> keras_conv_transpose(x, k, strides=2, padding="same")[0, :, 0]
    array([1., 1., 2., 1., 2., 1.])
    """
    who = "keras Conv*DTranspose"
    x = numeric_array(inputs, "inputs")
    if x.ndim < 3:
        raise ValueError(f"{who}: inputs must be (batch, *spatial, channels), got shape {x.shape}")
    nd = x.ndim - 2
    if not isinstance(padding, str) or padding.lower() not in ("same", "valid"):
        raise ValueError(f"{who}: padding must be 'same' or 'valid', got {padding!r}")
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    last = data_format == "channels_last"
    k = numeric_array(kernel, "kernel")
    stride = _per_dim(strides, nd, "strides", last, who)
    dil = _per_dim(dilation_rate, nd, "dilation_rate", last, who)
    ops = None if output_padding is None else _per_dim_nonneg(output_padding, nd, who)
    if ops is not None:
        for dim, (op, s) in enumerate(zip(ops, stride)):
            if op >= s:
                raise ValueError(f"{who}: output_padding {list(ops)} must be smaller than strides in dim {dim}")
    spatial = x.shape[1:-1] if last else x.shape[2:]
    sizes = [keras_output_size(n, kk, s, d, padding.lower(), None if ops is None else ops[i])
             for i, (n, kk, s, d) in enumerate(zip(spatial, k.shape[:-2], stride, dil))]
    out_shape = [x.shape[0]] + sizes + [k.shape[-2]] if last else [x.shape[0], k.shape[-2]] + sizes
    fmt = _FORMATS[nd][0 if last else 1] if nd in _FORMATS else None
    y = conv_transpose(x, k, out_shape, stride, padding.upper(), fmt, dil)
    if bias is not None:
        b = numeric_array(bias, "bias")
        if b.shape != (k.shape[-2],):
            raise ValueError(f"{who}: bias must have shape ({k.shape[-2]},), got {b.shape}")
        y = y + (b if last else b.reshape((-1,) + (1,) * nd))
    return y


def _per_dim_nonneg(value: Any, nd: int, who: str) -> tuple[int, ...]:
    values = [as_int(value, f"{who}: output_padding")] * nd if np.ndim(value) == 0 else \
        [as_int(v, f"{who}: output_padding") for v in value]
    if len(values) != nd or any(v < 0 for v in values):
        raise ValueError(f"{who}: output_padding must be {nd} non-negative ints, got {value!r}")
    return tuple(values)
