"""MXNet ``Deconvolution`` (and Gluon ``Conv*DTranspose``) semantics, as a Geometry run by :func:`tconv.ops.execute`.

Per spatial dim, with ``full`` the uncropped output (:func:`tconv.shapes.full_size`):

* without ``target_shape``: ``out = full - 2 * pad + adj``; the crop is
  ``pad`` at the start and ``pad - adj`` at the end (``adj`` is PyTorch's
  ``output_padding`` and must be smaller than ``stride``, MXNet's check);
* with ``target_shape`` (any non-zero entry): ``pad`` and ``adj`` are
  ignored; ``diff = full - target`` must be >= 0 ("too big target shape"),
  and MXNet uses ``pad = ceil(diff / 2)``, ``adj = diff % 2``: the crop is
  ``ceil(diff / 2)`` at the start and ``floor(diff / 2)`` at the end (an odd
  ``diff`` at stride 1 is refused: adj must stay smaller than stride).

MXNet 1.9.1's CPU oneDNN (MKLDNN) path does not follow this for
``target_shape``: it crops the whole difference at the end (and refuses odd
differences); its own CPU path (``MXNET_MKLDNN_ENABLED=0``) and the operator's
shape rule (``DeconvolutionParam::InferPad``) do the above, which tconv follows.

The weight is ``(C, num_filter / num_group, *kernel)``, PyTorch's layout.
Gluon's ``Conv2DTranspose(channels, kernel_size, strides, padding,
output_padding, dilation, groups)`` is ``Deconvolution(num_filter=channels,
kernel=kernel_size, stride=strides, pad=padding, adj=output_padding,
dilate=dilation, num_group=groups)``.

>>> import numpy as np
>>> x = np.ones((1, 1, 3)); w = np.array([[[1., 2, 3]]])
>>> deconvolution(x, w, kernel=(3,), stride=(2,), num_filter=1)
array([[[1., 2., 4., 2., 4., 2., 3.]]])
>>> deconvolution(x, w, kernel=(3,), stride=(2,), num_filter=1, target_shape=(4,))
array([[[4., 2., 4., 2.]]])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ops import execute
from ..params import Geometry, geometry_from_shapes
from ..shapes import full_size
from .._validate import as_int, compute_dtype, numeric_array
from ._common import int_list

_WHO = "MXNet Deconvolution"
_LAYOUTS = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


def geometry(
    x_shape: Sequence[int], w_shape: Sequence[int], dtype: Any = np.float64, *, bias: bool = False,
    stride: Any = (), dilate: Any = (), pad: Any = (), adj: Any = (), target_shape: Any = (), num_group: int = 1,
) -> Geometry:
    """The :class:`~tconv.params.Geometry` of MXNet ``Deconvolution`` on operands of these shapes.

    The attributes as :func:`deconvolution` takes them; the Geometry's :attr:`~tconv.params.Geometry.crops`
    are MXNet's crops of the full output.

    >>> geometry((1, 1, 3), (1, 1, 3), stride=(2,), pad=(1,), adj=(1,)).crops
    ((1, 0),)
    >>> geometry((1, 1, 3), (1, 1, 3), stride=(2,), target_shape=(4,)).crops
    ((2, 1),)
    """
    nd = len(w_shape) - 2
    stride_t = int_list(stride, nd, "stride", _WHO, minimum=1, default=1)
    dil = int_list(dilate, nd, "dilate", _WHO, minimum=1, default=1)
    pad_t = int_list(pad, nd, "pad", _WHO, minimum=0, default=0)
    adj_t = int_list(adj, nd, "adj", _WHO, minimum=0, default=0)
    target = int_list(target_shape, nd, "target_shape", _WHO, minimum=0, default=0)
    if any(target) and not all(target):
        raise ValueError(f"{_WHO}: target_shape {list(target)} must be non-zero in every dim (or empty)")
    pads, output_padding = [], []
    for dim, (n, k, s, d) in enumerate(zip(x_shape[2:], w_shape[2:], stride_t, dil)):
        full = full_size(n, k, s, d)
        if any(target):
            diff = full - target[dim]
            if diff < 0:
                raise ValueError(
                    f"{_WHO}: target_shape {list(target)} is too big in dim {dim}: at most {full} "
                    f"(the full output) can be reached"
                )
            if diff % 2 >= s:
                raise ValueError(
                    f"{_WHO}: target_shape {list(target)} in dim {dim} leaves an odd difference ({diff}) to "
                    f"the full size {full}, which MXNet resolves with adj = 1; adj must be smaller than stride ({s})"
                )
            pads.append(((diff + 1) // 2, diff // 2))
            output_padding.append(0)
            continue
        if adj_t[dim] >= s:
            raise ValueError(f"{_WHO}: adj {list(adj_t)} must be smaller than stride {list(stride_t)} (dim {dim})")
        if full - 2 * pad_t[dim] + adj_t[dim] < 1:
            raise ValueError(
                f"{_WHO}: pad {list(pad_t)} crops the whole output of dim {dim} ({full} positions, adj {adj_t[dim]})"
            )
        pads.append((pad_t[dim], pad_t[dim]))
        output_padding.append(adj_t[dim])
    return geometry_from_shapes(True, x_shape, w_shape, dtype, bias=bias, stride=stride_t, dilation=dil,
                                groups=num_group, padding=tuple(pads), output_padding=tuple(output_padding))


def deconvolution(
    data: Any,
    weight: Any,
    bias: Any = None,
    *,
    kernel: Any,
    stride: Any = (),
    dilate: Any = (),
    pad: Any = (),
    adj: Any = (),
    target_shape: Any = (),
    num_filter: int,
    num_group: int = 1,
    no_bias: bool = False,
    layout: str | None = None,
) -> np.ndarray:
    """MXNet ``Deconvolution`` on NumPy arrays (1-3 spatial dims, channels-first layouts).

    Args:
        data: ``(N, C, *spatial)``.
        weight: ``(C, num_filter / num_group, *kernel)``.
        bias: ``(num_filter,)`` or None; ignored when ``no_bias`` is true.
        kernel: the kernel size (must equal ``weight.shape[2:]``).
        stride, dilate, pad, adj: per-dim tuples (empty: 1, 1, 0, 0).
        target_shape: spatial output size; when given (non-zero) pad and adj are ignored.
        num_filter: output channels; num_group: groups.
        layout: None or "NCW" / "NCHW" / "NCDHW" (MXNet's channels-last layouts run on GPU only).

    >>> deconvolution(np.ones((1, 2, 4, 4)), np.ones((2, 3, 3, 3)), kernel=(3, 3), stride=(2, 2),
    ...               pad=(1, 1), adj=(1, 1), num_filter=3).shape
    (1, 3, 8, 8)
    """
    x = numeric_array(data, "data")
    w = numeric_array(weight, "weight")
    if x.ndim not in (3, 4, 5) or w.ndim != x.ndim:
        raise ValueError(
            f"{_WHO}: data must be (N, C, *spatial) with 1-3 spatial dims and weight of the same rank, "
            f"got data {x.shape} and weight {w.shape}"
        )
    nd = x.ndim - 2
    if layout is not None and layout != _LAYOUTS[nd]:
        raise ValueError(f"{_WHO}: layout must be None or {_LAYOUTS[nd]!r} for {nd}-d data on CPU, got {layout!r}")
    ksize = int_list(kernel, nd, "kernel", _WHO, minimum=1, default=1)
    if tuple(w.shape[2:]) != ksize:
        raise ValueError(f"{_WHO}: kernel {ksize} is inconsistent with weight of shape {w.shape}")
    g = as_int(num_group, f"{_WHO}: num_group")
    nf = as_int(num_filter, f"{_WHO}: num_filter")
    if g < 1 or x.shape[1] % g:
        raise ValueError(f"{_WHO}: num_group ({g}) must be >= 1 and divide the data's channels ({x.shape[1]})")
    if w.shape[0] != x.shape[1] or w.shape[1] * g != nf:
        raise ValueError(
            f"{_WHO}: weight must have shape (C, num_filter / num_group, *kernel) = "
            f"({x.shape[1]}, {nf // g if g else nf}, *{ksize}), got {w.shape}"
        )
    b = None if bias is None or no_bias else numeric_array(bias, "bias")
    geom = geometry(x.shape, w.shape, compute_dtype(*(a for a in (x, w, b) if a is not None)), bias=b is not None,
                    stride=stride, dilate=dilate, pad=pad, adj=adj, target_shape=target_shape, num_group=g)
    if b is not None and b.shape != (nf,):
        raise ValueError(f"{_WHO}: bias must have shape ({nf},) (num_filter), got {b.shape}")
    return execute(geom, x, w, b)
