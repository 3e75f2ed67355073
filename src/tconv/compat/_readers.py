"""Reading a transposed-convolution layer: each framework's hyper-parameters -> a Geometry.

A layer given in a framework's own words, for a spatial ``input_size``, becomes
the :class:`~tconv.params.Geometry` of that layer (one batch, one channel in
and out) through the dialect that runs that framework (:mod:`tconv.compat.onnx`,
:mod:`~tconv.compat.tensorflow`, :mod:`~tconv.compat.jax`, :mod:`~tconv.compat.mxnet`)
or :mod:`tconv.params` itself (``pytorch``, ``tconv``).  It comes as a
:class:`~tconv.compat.Windowed` Geometry: the window beyond the Geometry's
output is all zeros except where JAX's explicit padding asks for zeros
PyTorch's rule cannot place.

Frameworks and the hyper-parameters they take (their own names):

* ``pytorch``: ``kernel_size, stride, padding, output_padding, dilation``
  (``ConvTranspose{1,2,3}d``; symmetric ``padding``);
* ``tconv``: as pytorch, plus ``(before, after)`` padding pairs, "same", "valid";
* ``onnx``: ``kernel_shape, strides, dilations, pads, output_padding,
  output_shape, auto_pad`` (ONNX Runtime's rules, see :mod:`tconv.compat.onnx`);
* ``tensorflow``: ``kernel_size, strides, dilations, padding`` ("SAME",
  "VALID" or pairs), ``output_shape`` (spatial sizes) of ``tf.nn.conv_transpose``;
* ``keras``: ``kernel_size, strides, padding`` ("same"/"valid"),
  ``output_padding, dilation_rate`` of ``Conv{1,2,3}DTranspose``;
* ``jax``: ``kernel_size, strides, padding, rhs_dilation,
  use_consistent_padding`` of ``jax.lax.conv_transpose``;
* ``mxnet``: ``kernel, stride, dilate, pad, adj, target_shape`` of ``Deconvolution``
  (Gluon: ``padding`` = pad, ``output_padding`` = adj).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..params import geometry_from_shapes
from .._validate import as_int, int_tuple, padding_rule
from . import jax, mxnet, onnx, tensorflow
from ._common import Windowed, check_framework, int_list


def describe(framework: str, input_size: Sequence[int], **params: Any) -> Windowed:
    """The layer given in ``framework``'s hyper-parameters (see the module doc), on spatial ``input_size``.

    >>> describe("mxnet", (4,), kernel=(3,), stride=(2,), target_shape=(8,)).crops
    ((1, 0),)
    >>> layer = describe("onnx", (4,), kernel_shape=[3], strides=[2], auto_pad="SAME_LOWER")
    >>> layer.geometry.padding, layer.geometry.output_shape, layer.crops
    (((1, 0),), (8,), ((1, 0),))
    """
    check_framework(framework)
    return _READERS[framework](_sizes(input_size), params)


def _sizes(input_size: Any) -> tuple[int, ...]:
    if np.ndim(input_size) == 0:
        raise TypeError(f"input_size must be a sequence of spatial sizes, got {input_size!r}")
    sizes = tuple(as_int(v, "input_size") for v in input_size)
    if not sizes or any(v < 1 for v in sizes):
        raise ValueError(f"input_size must have at least one spatial size, all >= 1, got {sizes}")
    return sizes


def _shapes(size: tuple[int, ...], kernel: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The operand shapes of the layer with one batch and one channel in and out: (x, weight)."""
    return (1, 1) + size, (1, 1) + kernel


def _check_known(framework: str, params: dict, known: Sequence[str]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TypeError(f"{framework} takes {', '.join(known)}; unknown hyper-parameter(s): {', '.join(unknown)}")


def _kernel(params: dict, name: str, nd: int, who: str) -> tuple[int, ...]:
    if params.get(name) is None:
        raise TypeError(f"{who}: {name} is required")
    return int_list(params[name], nd, name, who, minimum=1, default=1)


def _read_torch(framework: str) -> Callable[[tuple[int, ...], dict], Windowed]:
    def read(size: tuple[int, ...], p: dict) -> Windowed:
        _check_known(framework, p, ("kernel_size", "stride", "padding", "output_padding", "dilation"))
        if "kernel_size" not in p:
            raise TypeError(f"{framework}: kernel_size is required")
        kernel = int_tuple(p["kernel_size"], len(size), "kernel_size", minimum=1)
        padding = p.get("padding", 0)
        if framework == "pytorch" and (padding_rule(padding) or any(np.ndim(v) for v in np.atleast_1d(
                np.asarray(padding, dtype=object)))):
            raise ValueError("pytorch: padding must be an int or one int per dim (symmetric); "
                             "use framework 'tconv' for (before, after) pairs or 'same'/'valid'")
        return Windowed.exact(geometry_from_shapes(
            True, *_shapes(size, kernel), stride=p.get("stride", 1), padding=padding,
            output_padding=p.get("output_padding", 0), dilation=p.get("dilation", 1),
        ))
    return read


def _read_onnx(size: tuple[int, ...], p: dict) -> Windowed:
    _check_known("onnx", p, ("kernel_shape", "strides", "dilations", "pads", "output_padding", "output_shape",
                             "auto_pad"))
    who = "ONNX ConvTranspose"
    if p.get("kernel_shape") is None:
        raise TypeError(f"{who}: kernel_shape is required here (there is no W to read it from)")
    kernel = int_list(p["kernel_shape"], len(size), "kernel_shape", who, minimum=1, default=1)
    return Windowed.exact(onnx.geometry(
        *_shapes(size, kernel), auto_pad=p.get("auto_pad", "NOTSET"), strides=p.get("strides"),
        dilations=p.get("dilations"), output_padding=p.get("output_padding"), pads=p.get("pads"),
        output_shape=p.get("output_shape"),
    ))


def _read_tf(size: tuple[int, ...], p: dict) -> Windowed:
    _check_known("tensorflow", p, ("kernel_size", "strides", "dilations", "padding", "output_shape"))
    who = "tf.nn.conv_transpose"
    nd = len(size)
    kernel = _kernel(p, "kernel_size", nd, who)
    stride = int_list(p.get("strides", 1), nd, "strides", who, minimum=1, default=1)
    dil = int_list(p.get("dilations", 1), nd, "dilations", who, minimum=1, default=1)
    if p.get("output_shape") is None:
        raise TypeError(f"{who}: output_shape (the spatial output sizes) is required")
    out = int_list(p["output_shape"], nd, "output_shape", who, minimum=1, default=1)
    padding = p.get("padding", "SAME")
    if not isinstance(padding, str):
        padding = tuple(tuple(int(v) for v in pair) for pair in padding)
        if len(padding) == nd + 2:
            padding = padding[1:-1]
    elif padding not in ("SAME", "VALID"):
        raise ValueError(f"{who}: padding must be 'SAME', 'VALID' or (before, after) pairs, got {padding!r}")
    return Windowed.exact(tensorflow.geometry(*_shapes(size, kernel), strides=stride, dilations=dil,
                                              padding=padding, output_size=out))


def keras_geometry(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                   dilation: tuple[int, ...], padding: str, output_padding: tuple[int, ...] | None) -> Windowed:
    """The layer a Keras ``Conv*DTranspose`` is: Keras picks the output size, ``tf.nn.conv_transpose`` crops.

    >>> keras_geometry((5,), (3,), (2,), (1,), "same", None).crops
    ((0, 1),)
    """
    who = "keras Conv*DTranspose"
    out = [tensorflow.keras_output_size(n, k, s, d, padding, None if output_padding is None else output_padding[i])
           for i, (n, k, s, d) in enumerate(zip(size, kernel, stride, dilation))]
    if any(o < 1 for o in out):
        raise ValueError(f"{who}: this layer gives an empty output {tuple(out)} for input {size}")
    return Windowed.exact(tensorflow.geometry(*_shapes(size, kernel), strides=stride, dilations=dilation,
                                              padding=padding.upper(), output_size=out))


def _read_keras(size: tuple[int, ...], p: dict) -> Windowed:
    _check_known("keras", p, ("kernel_size", "strides", "padding", "output_padding", "dilation_rate"))
    who = "keras Conv*DTranspose"
    nd = len(size)
    kernel = _kernel(p, "kernel_size", nd, who)
    stride = int_list(p.get("strides", 1), nd, "strides", who, minimum=1, default=1)
    dil = int_list(p.get("dilation_rate", 1), nd, "dilation_rate", who, minimum=1, default=1)
    padding = p.get("padding", "valid")
    if not isinstance(padding, str) or padding.lower() not in ("same", "valid"):
        raise ValueError(f"{who}: padding must be 'same' or 'valid', got {padding!r}")
    op = p.get("output_padding")
    ops = None if op is None else int_list(op, nd, "output_padding", who, minimum=0, default=0)
    if ops is not None and any(a >= s for a, s in zip(ops, stride)):
        raise ValueError(f"{who}: output_padding {list(ops)} must be smaller than strides {list(stride)}")
    return keras_geometry(size, kernel, stride, dil, padding.lower(), ops)


def _read_jax(size: tuple[int, ...], p: dict) -> Windowed:
    _check_known("jax", p, ("kernel_size", "strides", "padding", "rhs_dilation", "use_consistent_padding"))
    kernel = _kernel(p, "kernel_size", len(size), "jax.lax.conv_transpose")
    return jax.geometry(*_shapes(size, kernel), strides=p.get("strides", 1), padding=p.get("padding", "SAME"),
                        rhs_dilation=p.get("rhs_dilation"),
                        use_consistent_padding=bool(p.get("use_consistent_padding", False)))


def _read_mxnet(size: tuple[int, ...], p: dict) -> Windowed:
    _check_known("mxnet", p, ("kernel", "stride", "dilate", "pad", "adj", "target_shape"))
    kernel = _kernel(p, "kernel", len(size), "MXNet Deconvolution")
    return Windowed.exact(mxnet.geometry(*_shapes(size, kernel), stride=p.get("stride"), dilate=p.get("dilate"),
                                         pad=p.get("pad"), adj=p.get("adj"), target_shape=p.get("target_shape")))


_READERS: dict[str, Callable[[tuple[int, ...], dict], Windowed]] = {
    "pytorch": _read_torch("pytorch"),
    "tconv": _read_torch("tconv"),
    "onnx": _read_onnx,
    "tensorflow": _read_tf,
    "keras": _read_keras,
    "jax": _read_jax,
    "mxnet": _read_mxnet,
}
