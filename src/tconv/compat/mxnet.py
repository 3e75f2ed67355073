"""MXNet ``Deconvolution`` (and Gluon ``Conv*DTranspose``) semantics, onto :func:`tconv.conv_transpose`.

Per spatial dim, with ``full = stride * (in - 1) + dilate * (kernel - 1) + 1``:

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

from typing import Any

import numpy as np

from ..validate import as_int, numeric_array
from ._common import full_size, int_list, run_cropped

_WHO = "MXNet Deconvolution"
_LAYOUTS = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


def mxnet_crops(
    input_shape: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...], dilate: tuple[int, ...],
    pad: tuple[int, ...], adj: tuple[int, ...], target_shape: tuple[int, ...] | None,
) -> tuple[tuple[int, int], ...]:
    """(crop_before, crop_after) of the full output per dim, by MXNet's rules.

    >>> mxnet_crops((3,), (3,), (2,), (1,), (1,), (1,), None), mxnet_crops((3,), (3,), (2,), (1,), (0,), (0,), (4,))
    (((1, 0),), ((2, 1),))
    """
    crops = []
    for dim, (n, k, s, d) in enumerate(zip(input_shape, kernel, stride, dilate)):
        full = full_size(n, k, s, d)
        if target_shape is not None:
            diff = full - target_shape[dim]
            if diff < 0:
                raise ValueError(
                    f"{_WHO}: target_shape {list(target_shape)} is too big in dim {dim}: at most {full} "
                    f"(stride * (in - 1) + dilate * (kernel - 1) + 1) can be reached"
                )
            if diff % 2 >= s:
                raise ValueError(
                    f"{_WHO}: target_shape {list(target_shape)} in dim {dim} leaves an odd difference ({diff}) to "
                    f"the full size {full}, which MXNet resolves with adj = 1; adj must be smaller than stride ({s})"
                )
            crops.append(((diff + 1) // 2, diff // 2))
            continue
        if adj[dim] >= s:
            raise ValueError(f"{_WHO}: adj {list(adj)} must be smaller than stride {list(stride)} (dim {dim})")
        out = full - 2 * pad[dim] + adj[dim]
        if out < 1:
            raise ValueError(
                f"{_WHO}: pad {list(pad)} crops the whole output of dim {dim} ({full} positions, adj {adj[dim]})"
            )
        crops.append((pad[dim], pad[dim] - adj[dim]))
    return tuple(crops)


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
    stride_t = int_list(stride, nd, "stride", _WHO, minimum=1, default=1)
    dil = int_list(dilate, nd, "dilate", _WHO, minimum=1, default=1)
    pad_t = int_list(pad, nd, "pad", _WHO, minimum=0, default=0)
    adj_t = int_list(adj, nd, "adj", _WHO, minimum=0, default=0)
    target = int_list(target_shape, nd, "target_shape", _WHO, minimum=0, default=0)
    if any(target) and not all(target):
        raise ValueError(f"{_WHO}: target_shape {list(target)} must be non-zero in every dim (or empty)")
    crops = mxnet_crops(tuple(x.shape[2:]), ksize, stride_t, dil, pad_t, adj_t, target if any(target) else None)
    b = None
    if bias is not None and not no_bias:
        b = numeric_array(bias, "bias")
        if b.shape != (nf,):
            raise ValueError(f"{_WHO}: bias must have shape ({nf},) (num_filter), got {b.shape}")
    return run_cropped(x, w, b, stride=stride_t, dilation=dil, groups=g, crops=crops)
