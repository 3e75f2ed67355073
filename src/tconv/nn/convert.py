"""Layers in: :func:`from_torch` and :func:`from_keras` build the equivalent tconv layer of another framework's.

:func:`from_torch` takes a ``torch.nn.Conv1d/2d/3d`` or ``ConvTranspose1d/2d/3d``
module and returns the tconv layer of the same name (:mod:`tconv.nn.conv`) with
every hyper-parameter (``stride``, ``padding`` including ``'same'`` /
``'valid'``, ``output_padding``, ``dilation``, ``groups``, bias or not,
``padding_mode``: zeros, circular, reflect or replicate), the module's dtype
and a copy of its weight and bias::

    m = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    layer = nn.from_torch(m)           # tconv.nn.ConvTranspose2d, float32, weights copied
    np.allclose(layer(x), m(torch.from_numpy(x)).detach().numpy(), rtol=1e-5)   # True

:func:`from_keras` takes a built Keras ``Conv1D/2D/3D`` or
``Conv1DTranspose/2DTranspose/3DTranspose`` layer and returns a
:class:`KerasLayer`: a drop-in whose ``__call__`` on the Keras layer's input
layout equals ``keras_layer(x)`` (Keras' ``'same'`` / ``'valid'`` / ``'causal'``
padding rules, ``output_padding``, ``dilation_rate``, ``groups``, ``use_bias``).
Inside it is a plain channels-first tconv layer (``.layer``, PyTorch's weight
layout); :class:`KerasLayer` moves the channel axis in and out::

    k = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same"); k.build((None, 5, 5, 4))
    layer = nn.from_keras(k)           # KerasLayer: (N, H, W, 4) in, (N, 2H, 2W, 8) out
    np.allclose(layer(x_nhwc), k(x_nhwc), rtol=1e-5)                             # True

Neither function imports PyTorch or Keras: they read the module's / layer's
attributes (recognised by class name), so ``import tconv.nn`` imports
neither.  A feature tconv's layers do not have is refused with a ValueError
naming it, never dropped silently.

:class:`KerasLayer` also wraps any tconv layer directly:

>>> import numpy as np
>>> from tconv.nn import ConvTranspose1d
>>> inner = ConvTranspose1d(1, 2, 2, stride=2, bias=False, seed=0)
>>> inner.weight = np.array([[[1., 2.], [10., 20.]]])
>>> layer = KerasLayer(inner)                   # takes (N, W, C): channels last
>>> layer(np.array([[[1.], [2.]]]))[0]          # output (N, 2W, 2)
array([[ 1., 10.],
       [ 2., 20.],
       [ 2., 20.],
       [ 4., 40.]])
>>> layer.get_weights()[0].shape                # Keras' (*kernel, out, in) for a transposed layer
(2, 2, 1)
>>> from_torch(np.ones(3))
Traceback (most recent call last):
...
TypeError: from_torch takes a torch.nn.Conv1d/2d/3d or ConvTranspose1d/2d/3d module, got ndarray
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import arrayapi
from ..compat import convert_weight
from ..compat import tensorflow as tf_dialect
from ..shapes import effective_kernel
from .._validate import numeric_array, real_kind
from .base import ConvLayerBase
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .module import Module, layer_dtype

_TORCH_LAYERS = {cls.__name__: cls for cls in (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d,
                                               ConvTranspose3d)}
_KERAS_LAYERS = {
    "Conv1D": Conv1d, "Conv2D": Conv2d, "Conv3D": Conv3d,
    "Conv1DTranspose": ConvTranspose1d, "Conv2DTranspose": ConvTranspose2d, "Conv3DTranspose": ConvTranspose3d,
}
_KERAS_ROOTS = ("keras", "tf_keras", "tensorflow")

#: The spatial size of the probe input from which a Keras transposed layer's crops are read (any size gives
#: the same crops; 1 is avoided because TensorFlow treats a single input position specially).
_PROBE = 3


def _framework_class(obj: Any, names: dict, roots: tuple[str, ...]) -> type | None:
    """The first class in ``obj``'s MRO named in ``names`` and defined in a module under one of ``roots``."""
    for cls in type(obj).__mro__:
        if cls.__name__ in names and cls.__module__.split(".")[0] in roots:
            return cls
    return None


def _refuse_override(obj: Any, base: type, method: str, who: str) -> None:
    if getattr(type(obj), method) is not getattr(base, method):
        raise ValueError(f"{who}: {type(obj).__name__} overrides {base.__name__}.{method}; only the standard "
                         f"{base.__name__} computation is converted")


# ---------------------------------------------------------------------------
# PyTorch


def _torch_numpy(tensor: Any, name: str) -> np.ndarray:
    """A NumPy copy of a torch tensor (any device but 'meta'; bfloat16 through ml_dtypes)."""
    t = tensor.detach()
    if t.device.type == "meta":
        raise ValueError(f"from_torch: the module's {name} is on the 'meta' device and has no values")
    t = t.cpu()
    if str(t.dtype) == "torch.bfloat16":
        return np.array(t.float().numpy().astype(layer_dtype("bfloat16")))
    if t.is_complex():
        raise ValueError(f"from_torch: the module's {name} is {t.dtype}; tconv's layers have real floating "
                         f"parameters")
    return np.array(t.numpy(), copy=True)


def from_torch(module: Any) -> ConvLayerBase:
    """The tconv layer equivalent to a ``torch.nn.Conv*d`` / ``ConvTranspose*d`` module, with copied weights.

    Returns :class:`tconv.nn.Conv1d` ... :class:`tconv.nn.ConvTranspose3d` (the module's class name) with
    the module's ``in_channels``, ``out_channels``, ``kernel_size``, ``stride``, ``padding`` (numbers or
    ``'same'`` / ``'valid'``), ``output_padding``, ``dilation``, ``groups``, bias presence,
    ``padding_mode`` (every mode PyTorch has) and dtype; weight and bias are copied (later changes to
    either side do not reach the other).  The layer's forward equals the module's: ``layer(x)`` and, for a transposed layer,
    ``layer(x, output_size=...)``.  PyTorch is not imported; any device works (the values are copied to
    the host).

    Raises:
        TypeError: ``module`` is not one of the six convolution modules (a subclass is accepted unless
            it overrides ``forward``).
        ValueError: a feature tconv's layer does not have: forward hooks, a subclass's own ``forward``, a
            lazy module not yet run, complex weights, weights on the 'meta' device.
    """
    who = "from_torch"
    base = _framework_class(module, _TORCH_LAYERS, ("torch",))
    if base is None:
        raise TypeError(f"{who} takes a torch.nn.Conv1d/2d/3d or ConvTranspose1d/2d/3d module, "
                        f"got {type(module).__name__}")
    _refuse_override(module, base, "forward", who)
    weight_param = module.weight
    if "Uninitialized" in type(weight_param).__name__:
        raise ValueError(f"{who}: {type(module).__name__} is a lazy module whose weight is not initialized "
                         f"yet; run it once on an input first")
    hooks = [name for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
             if getattr(module, name, None)]
    if hooks:
        raise ValueError(f"{who}: the module has hooks ({', '.join(hooks)}), which the tconv layer would not run; "
                         f"remove them before converting")
    cls = _TORCH_LAYERS[base.__name__]
    weight = _torch_numpy(weight_param, "weight")
    bias = None if module.bias is None else _torch_numpy(module.bias, "bias")
    kwargs: dict[str, Any] = dict(stride=tuple(module.stride), padding=_torch_padding(module.padding),
                                  dilation=tuple(module.dilation), groups=int(module.groups),
                                  bias=bias is not None, dtype=weight.dtype, seed=0)
    if cls.transposed:
        kwargs["output_padding"] = tuple(module.output_padding)
    args = (int(module.in_channels), int(module.out_channels), tuple(module.kernel_size))
    layer = cls(*args, padding_mode=str(getattr(module, "padding_mode", "zeros")), **kwargs)
    layer.weight = weight
    if bias is not None:
        layer.bias = bias
    return layer


def _torch_padding(padding: Any) -> Any:
    return padding if isinstance(padding, str) else tuple(int(p) for p in padding)


# ---------------------------------------------------------------------------
# Keras


class KerasLayer(Module):
    """A tconv layer behind a Keras face: channels-last input by default, Keras' weight layout on request.

    ``KerasLayer(layer, channels_last=True)``: ``layer`` is a channels-first tconv layer
    (:mod:`tconv.nn.conv`); with ``channels_last`` the input is ``(N, *spatial, C)`` (or
    ``(*spatial, C)``) and so is the output, otherwise both are channels-first, as ``layer``'s.
    :func:`from_keras` builds one from a Keras layer.

    * ``forward(x)`` / ``layer(x)``: a floating ``x`` is first cast to the parameters' dtype, as Keras
      casts its inputs to the layer's compute dtype (other inputs are promoted as tconv's layers do);
      arrays of PyTorch / CuPy / JAX come back in their library, anything else (a TensorFlow tensor
      included) as NumPy.
    * ``backward(grad_output)``: the gradient of the input, in the same layout; stores
      ``weight_grad`` / ``bias_grad`` (PyTorch's layout, as ``weight`` / ``bias``).
    * ``weight`` / ``bias``: the inner layer's, in PyTorch's layout; :meth:`get_weights` gives
      ``[kernel, bias]`` in Keras' layout, for ``keras_layer.set_weights(...)``.
    """

    def __init__(self, layer: ConvLayerBase, channels_last: bool = True) -> None:
        if not isinstance(layer, ConvLayerBase):
            raise TypeError(f"KerasLayer wraps a tconv convolution layer, got {type(layer).__name__}")
        self.layer = layer
        self.channels_last = bool(channels_last)
        self._transposed_input: bool | None = None

    @property
    def data_format(self) -> str:
        """``'channels_last'`` or ``'channels_first'``: the layout this layer takes and returns."""
        return "channels_last" if self.channels_last else "channels_first"

    def _to_inner(self, x: Any, name: str) -> np.ndarray:
        xa = numeric_array(arrayapi.to_numpy(x, name), name)
        nd = self.layer.nd
        if xa.ndim not in (nd + 1, nd + 2):
            shape = "(N, *spatial, C) or (*spatial, C)" if self.channels_last else "(N, C, *spatial) or (C, *spatial)"
            raise ValueError(f"{name} must have shape {shape} with {nd} spatial dims ({self.data_format}), "
                             f"got {name} of shape {xa.shape}")
        return np.moveaxis(xa, -1, -nd - 1) if self.channels_last else xa

    def _from_inner(self, y: np.ndarray, template: Any) -> Any:
        out = np.moveaxis(y, -self.layer.nd - 1, -1) if self.channels_last else y
        return arrayapi.like(out, template)

    def forward(self, x: Any) -> Any:
        """``keras_layer(x)``: the inner layer on ``x`` (cast to the parameters' dtype if floating)."""
        xa = self._to_inner(x, "x")
        dtype = self.layer.weight.dtype
        if real_kind(xa.dtype) == "f" and xa.dtype != dtype:
            xa = xa.astype(dtype)
        return self._from_inner(self.layer(xa), x)

    def backward(self, grad_output: Any) -> Any:
        """The gradient of the latest forward's input (same layout); stores the parameters' gradients."""
        return self._from_inner(self.layer.backward(self._to_inner(grad_output, "grad_output")), grad_output)

    def parameters(self) -> list:
        return self.layer.parameters()

    def _cast(self, dtype: np.dtype) -> None:
        self.layer.to(dtype)

    @property
    def weight(self) -> Any:
        """The inner layer's weight, PyTorch's layout (see :attr:`tconv.nn.base.ConvLayerBase.weight`)."""
        return self.layer.weight

    @weight.setter
    def weight(self, value: Any) -> None:
        self.layer.weight = value

    @property
    def bias(self) -> Any:
        """The inner layer's bias ``(filters,)`` or None."""
        return self.layer.bias

    @bias.setter
    def bias(self, value: Any) -> None:
        self.layer.bias = value

    @property
    def weight_grad(self) -> np.ndarray | None:
        """The inner layer's weight gradient (PyTorch's layout)."""
        return self.layer.weight_grad

    @property
    def bias_grad(self) -> np.ndarray | None:
        """The inner layer's bias gradient."""
        return self.layer.bias_grad

    def get_weights(self) -> list[np.ndarray]:
        """``[kernel]`` or ``[kernel, bias]`` in Keras' layout (copies): kernel ``(*k, in // groups, filters)``
        for a convolution, ``(*k, filters, in)`` for a transposed one (``keras_layer.set_weights`` takes them)."""
        kernel = np.ascontiguousarray(np.moveaxis(np.asarray(self.layer.weight), (0, 1), (-1, -2)))
        out = [kernel]
        if self.layer.bias is not None:
            out.append(np.array(self.layer.bias))
        return out

    def __repr__(self) -> str:
        return f"KerasLayer({self.layer!r}, data_format={self.data_format!r})"


def _keras_activation(layer: Any, who: str) -> None:
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", act)
    if act is not None and name != "linear":
        raise ValueError(f"{who}: activation={name!r} is not converted (tconv's layers are linear); build the "
                         f"Keras layer with activation=None and apply the activation after it")


def _keras_numpy(value: Any, name: str) -> np.ndarray:
    arr = value.numpy() if hasattr(value, "numpy") else value
    arr = np.array(arr, copy=True)
    if real_kind(arr.dtype) != "f":
        raise ValueError(f"from_keras: the layer's {name} has dtype {arr.dtype}; tconv's layers have real "
                         f"floating parameters")
    return arr


def from_keras(layer: Any, *, channels_last: bool | None = None) -> KerasLayer:
    """A :class:`KerasLayer` equal to a built Keras ``Conv{1,2,3}D`` / ``Conv{1,2,3}DTranspose`` layer.

    By default the result is a drop-in: it takes the Keras layer's ``data_format`` (channels-last for
    the usual ``'channels_last'``) and ``result(x)`` equals ``keras_layer(x)``: Keras' ``padding``
    (``'valid'``, ``'same'`` with TensorFlow's placement, the odd pad / crop at the end, and
    ``'causal'`` for ``Conv1D``), ``strides``, ``dilation_rate``, ``groups`` (convolutions),
    ``output_padding`` (transposed layers: Keras 3's output size, cropped as ``tf.nn.conv_transpose``
    does, :mod:`tconv.compat.tensorflow`), ``use_bias`` and the dtype.  ``channels_last=False`` (or
    ``True``) picks the layout instead of the layer's ``data_format``.

    The kernel is copied and converted to PyTorch's layout in ``result.layer`` (a plain channels-first
    :mod:`tconv.nn.conv` layer): ``(*k, in // groups, filters)`` becomes ``(filters, in // groups, *k)``
    for a convolution, ``(*k, filters, in)`` becomes ``(in, filters, *k)`` for a transposed one.
    ``result.get_weights()`` gives them back in Keras' layout.  A LoRA-enabled layer's merged kernel is
    taken.  Keras is not imported.

    Raises:
        TypeError: ``layer`` is not one of the six Keras convolution layers.
        ValueError: an activation other than None / ``'linear'`` (tconv's layers are linear: build the
            Keras layer with ``activation=None`` and apply it after), a layer not built yet, a subclass
            overriding ``call``, a mixed-precision dtype policy (compute dtype other than the variables'),
            and a transposed layer that Keras itself cannot run on any input (``padding='same'`` with
            ``output_padding=0`` and an even dilated kernel: TensorFlow refuses the output size Keras asks
            for).
    """
    who = "from_keras"
    base = _framework_class(layer, _KERAS_LAYERS, _KERAS_ROOTS)
    if base is None:
        raise TypeError(f"{who} takes a Keras Conv1D/2D/3D or Conv1DTranspose/2DTranspose/3DTranspose layer, "
                        f"got {type(layer).__name__}")
    _refuse_override(layer, base, "call", who)
    if not getattr(layer, "built", False):
        raise ValueError(f"{who}: the {type(layer).__name__} layer is not built yet (it has no kernel); call it "
                         f"on an input or layer.build(input_shape) first")
    _keras_activation(layer, who)
    compute, variables = getattr(layer, "compute_dtype", None), getattr(layer, "variable_dtype", None)
    if compute is not None and variables is not None and compute != variables:
        raise ValueError(f"{who}: the layer's dtype policy computes in {compute} with {variables} variables "
                         f"(mixed precision), which tconv's layers do not have; use a plain {compute} or "
                         f"{variables} policy")
    cls = _KERAS_LAYERS[base.__name__]
    kernel = _keras_numpy(layer.kernel, "kernel")
    bias = _keras_numpy(layer.bias, "bias") if getattr(layer, "use_bias", False) else None
    nd = cls.nd
    strides = tuple(int(s) for s in layer.strides)
    dilation = tuple(int(d) for d in layer.dilation_rate)
    ksize = kernel.shape[:nd]
    padding = str(layer.padding).lower()
    if cls.transposed:
        groups = int(getattr(layer, "groups", 1) or 1)
        if groups != 1:
            raise ValueError(f"{who}: groups={groups} on a transposed layer is not converted")
        weight = convert_weight(kernel, "keras", "tconv")  # (*k, out, in) -> (in, out, *k)
        pads, output_padding = _keras_transposed_crops(weight.shape, strides, dilation, padding,
                                                       getattr(layer, "output_padding", None), who)
        inner = cls(weight.shape[0], weight.shape[1], ksize, stride=strides, padding=pads,
                    output_padding=output_padding, dilation=dilation, bias=bias is not None,
                    dtype=kernel.dtype, seed=0)
    else:
        groups = int(getattr(layer, "groups", 1) or 1)
        weight = np.ascontiguousarray(np.moveaxis(kernel, (-1, -2), (0, 1)))  # (*k, in/g, out) -> (out, in/g, *k)
        if padding == "causal":
            pad: Any = tuple((effective_kernel(k, d) - 1, 0) for k, d in zip(ksize, dilation))
        elif padding in ("same", "valid"):
            pad = padding  # tconv's 'same' is TensorFlow's SAME (tconv.shapes.same_padding_forward)
        else:
            raise ValueError(f"{who}: padding={layer.padding!r} is not converted (expected 'valid', 'same' or "
                             f"'causal')")
        inner = cls(weight.shape[1] * groups, weight.shape[0], ksize, stride=strides, padding=pad,
                    dilation=dilation, groups=groups, bias=bias is not None, dtype=kernel.dtype, seed=0)
    inner.weight = weight
    if bias is not None:
        inner.bias = bias
    last = getattr(layer, "data_format", "channels_last") == "channels_last" if channels_last is None \
        else bool(channels_last)
    return KerasLayer(inner, channels_last=last)


def _keras_transposed_crops(weight_shape: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...],
                            padding: str, output_padding: Any, who: str) -> tuple[Any, tuple[int, ...]]:
    """PyTorch-style ``(padding pairs, output_padding)`` of a Keras transposed layer.

    Read from :func:`tconv.compat.tensorflow.geometry` (TensorFlow's placement of Keras 3's output size,
    :func:`~tconv.compat.tensorflow.keras_output_size`) on a probe input: per dim, the crops
    ``full - out`` depend on the kernel, stride, dilation, padding and output_padding only, never on the
    input size, so one layer reproduces Keras on every input.
    """
    if padding not in ("same", "valid"):
        raise ValueError(f"{who}: padding={padding!r} is not converted (expected 'valid' or 'same')")
    nd = len(strides)
    ops = [None] * nd if output_padding is None else [int(v) for v in output_padding]
    kernel = weight_shape[2:]
    sizes = [tf_dialect.keras_output_size(_PROBE, k, s, d, padding, op)
             for k, s, d, op in zip(kernel, strides, dilation, ops)]
    try:
        geom = tf_dialect.geometry((1, weight_shape[0]) + (_PROBE,) * nd, weight_shape, strides=strides,
                                   dilations=dilation, padding=padding.upper(), output_size=sizes)
    except ValueError as err:
        raise ValueError(f"{who}: Keras cannot run this layer on any input (padding={padding!r}, "
                         f"output_padding={output_padding!r}, kernel {tuple(kernel)}): {err}") from None
    return geom.padding, geom.output_padding
