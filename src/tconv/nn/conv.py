"""PyTorch-style convolution layers: ``ConvTranspose1d/2d/3d`` and ``Conv1d/2d/3d``.

Same constructor arguments and the same default initialisation as PyTorch
(``kaiming_uniform_(a=sqrt(5))`` for the weight, i.e. uniform on
``+-1/sqrt(fan_in)``, and the same bound for the bias, with ``fan_in =
weight.shape[1] * prod(kernel_size)``).  The layers are doors onto
:func:`tconv.conv_transpose` / :func:`tconv.conv` and their gradients in
:mod:`tconv.grad`.

The chapter's example:

>>> import numpy as np
>>> X = np.array([[0., 1], [2, 3]]).reshape(1, 1, 2, 2)
>>> K = np.array([[0., 1], [2, 3]]).reshape(1, 1, 2, 2)
>>> layer = ConvTranspose2d(1, 1, kernel_size=2, bias=False)
>>> layer.weight = K
>>> layer(X)
array([[[[ 0.,  0.,  1.],
         [ 0.,  4.,  6.],
         [ 4., 12.,  9.]]]])
>>> layer.backward(np.ones((1, 1, 3, 3)))
array([[[[6., 6.],
         [6., 6.]]]])
>>> layer.weight_grad   # K is float64: the layer keeps the assigned dtype
array([[[[6., 6.],
         [6., 6.]]]])

Dtypes: a layer's parameters are float32 unless ``dtype=`` says otherwise
(float16, ``ml_dtypes.bfloat16``, float32, float64, a NumPy or PyTorch
dtype); ``.to(dtype)``, ``.float()``, ``.double()``, ``.half()`` convert
them.  Assigning an array of another floating dtype to ``.weight`` /
``.bias`` (``layer.weight = K`` or ``layer.weight.data = K``) keeps that
dtype, as PyTorch's ``param.data = t`` (never a silent rounding), while
``layer.weight[...] = K`` writes into the existing array and so stores its
dtype (as PyTorch's ``param[...] = t``); see :mod:`tconv.nn.parameter`.
The result of ``layer(x)`` has the dtype of :func:`tconv.conv_transpose`:
the NumPy promotion of ``x``, weight and bias (a float32 layer on float64
input gives float64, on uint8 input float32, on int64 or bool input
float64; float16 and bfloat16 compute in float32 and round once), where
PyTorch refuses operands of different dtypes and integer inputs.
Gradients stored by ``backward`` have their parameter's dtype.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import init as initializers
from .. import ops
from ..grad import conv_backward, conv_transpose_backward
from ..params import conv_geometry, conv_transpose_geometry
from ..shapes import forward_padding, transposed_padding
from .. import arrayapi
from ..validate import as_int, int_tuple, numeric_array, pad_pairs, padding_mode
from .module import Module, layer_dtype
from .parameter import Parameter, kept_dtype

# Public argument names of the two layer dialects (for error messages).
TORCH_NAMES = {"in_channels": "in_channels", "out_channels": "out_channels", "stride": "stride", "bias": "bias"}


def _padding(value: Any, nd: int) -> Any:
    """Validate ``padding`` (numbers, pairs, 'same', 'valid') without resolving a string."""
    if isinstance(value, str):
        return padding_mode(value)
    return pad_pairs(value, nd)


class _ConvLayer(Module):
    """The machinery shared by every convolution layer, both dialects and both directions."""

    transposed: bool = False
    nd: int = 2
    names: dict = TORCH_NAMES

    # -- construction ------------------------------------------------------------------

    def _configure(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any, padding: Any,
                   output_padding: Any, dilation: Any, groups: Any, bias: Any, dtype: Any,
                   defer_in_channels: bool = False) -> None:
        n = self.names
        self.in_channels = as_int(in_channels, n["in_channels"])
        self.out_channels = as_int(out_channels, n["out_channels"])
        if self.in_channels < (0 if defer_in_channels else 1):
            hint = " (0 defers it to the first call)" if defer_in_channels else ""
            raise ValueError(f"{n['in_channels']} must be >= 1{hint}, got {self.in_channels}")
        if self.out_channels < 1:
            raise ValueError(f"{n['out_channels']} must be >= 1, got {self.out_channels}")
        self.kernel_size = int_tuple(kernel_size, self.nd, "kernel_size", minimum=1)
        self.stride = int_tuple(stride, self.nd, n["stride"], minimum=1)
        self.dilation = int_tuple(dilation, self.nd, "dilation", minimum=1)
        self.padding = _padding(padding, self.nd)
        self.groups = as_int(groups, "groups")
        if self.groups < 1:
            raise ValueError(f"groups must be >= 1, got {self.groups}")
        self._check_divisible(n["out_channels"], self.out_channels)
        if self.in_channels:
            self._check_divisible(n["in_channels"], self.in_channels)
        if self.transposed:
            _, self.output_padding = transposed_padding(
                self.padding, output_padding, None, (1,) * self.nd, self.kernel_size, self.stride, self.dilation
            )
            if isinstance(self.padding, str):
                self.output_padding = (0,) * self.nd  # 'same' resolves its own at each call
        else:
            forward_padding(self.padding, (1,) * self.nd, self.kernel_size, self.stride, self.dilation)
            self.output_padding = (0,) * self.nd
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"{n['bias']} must be True or False, got {bias!r}")
        self.use_bias = bool(bias)
        self.dtype = layer_dtype(dtype)  # the dtype new parameters get (changed by .to())
        self._weight: Parameter | None = None
        self._bias: Parameter | None = None
        self._saved: tuple | None = None

    def _check_divisible(self, name: str, channels: int) -> None:
        if channels % self.groups:
            raise ValueError(f"{name} ({channels}) must be divisible by groups ({self.groups})")

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """``(in, out // groups, *k)`` for a transposed convolution, ``(out, in // groups, *k)`` otherwise."""
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    def _layout(self) -> str:
        if self.transposed:
            return "(in_channels, out_channels // groups, *kernel_size)"
        return "(out_channels, in_channels // groups, *kernel_size)"

    def _create_parameters(self, weight: np.ndarray) -> None:
        self._weight = Parameter(np.asarray(weight, dtype=self.dtype), "weight")
        self._bias = Parameter(np.zeros(self.out_channels, self.dtype), "bias") if self.use_bias else None

    def _owned(self, param: Parameter | None) -> Parameter | None:
        """``param`` with the hook that lets ``param.data = K`` of another float dtype replace it."""
        if param is not None:
            param.retype = self._replace
        return param

    def _replace(self, param: Parameter, value: np.ndarray) -> None:
        """Put a new parameter holding ``value`` (its dtype) where ``param`` is; its gradient follows."""
        new = Parameter(value, param.name)
        if param.grad is not None:
            new.grad = param.grad.astype(new.dtype)
        if param is self._weight:
            self._weight = new
        elif param is self._bias:
            self._bias = new
        else:  # a parameter this layer no longer holds: it keeps its own dtype
            np.copyto(param.view(np.ndarray), value, casting="unsafe")

    def _cast(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        for param in self.parameters():
            if param.dtype != dtype:
                self._replace(param, param.astype(dtype))

    # -- parameters ----------------------------------------------------------------------

    @property
    def weight(self) -> Parameter | None:
        """The weight array; assign an array of :attr:`weight_shape` (or write into it with ``[...]``).

        An assigned array of another floating dtype keeps its dtype; ``[...]``
        stores the weight's dtype (see the module docstring).
        """
        return self._owned(self._weight)

    @weight.setter
    def weight(self, value: Any) -> None:
        if value is None:
            raise ValueError(f"weight cannot be None; it must be an array of shape {self._expected('weight')}")
        if self._weight is None:
            raise ValueError(
                f"weight cannot be assigned yet: {self._not_ready()}"
            )
        self._assign(self._weight, value, "weight")

    @property
    def bias(self) -> Parameter | None:
        """The bias array ``(out_channels,)``, or None for a layer built without bias (dtypes: as ``weight``)."""
        return self._owned(self._bias)

    @bias.setter
    def bias(self, value: Any) -> None:
        if value is None:
            self._bias, self.use_bias = None, False
            return
        if self._bias is None:
            if not self.use_bias:
                raise ValueError(f"bias cannot be assigned: this layer was built with {self.names['bias']}=False")
            raise ValueError(f"bias cannot be assigned yet: {self._not_ready()}")
        self._assign(self._bias, value, "bias")

    def _expected(self, name: str) -> str:
        if name == "bias":
            return f"({self.out_channels},)"
        return f"{self.weight_shape} {self._layout()}"

    def _assign(self, param: Parameter, value: Any, name: str) -> None:
        if value is param:
            return
        arr = numeric_array(value, name)
        if arr.shape != param.shape:
            raise ValueError(f"{name} must have shape {self._expected(name)}, got an array of shape {arr.shape}")
        if kept_dtype(value, arr, param.dtype) != param.dtype:
            self._replace(param, arr)
        else:
            param.assign(arr.astype(param.dtype, copy=False))

    def _not_ready(self) -> str:
        return "the layer has no parameters yet"

    def parameters(self) -> list[Parameter]:
        return [self._owned(p) for p in (self._weight, self._bias) if p is not None]

    @property
    def weight_grad(self) -> np.ndarray | None:
        """Gradient of the weight from the latest :meth:`backward` (None before)."""
        return None if self._weight is None else self._weight.grad

    @property
    def bias_grad(self) -> np.ndarray | None:
        """Gradient of the bias from the latest :meth:`backward` (None before, or without bias)."""
        return None if self._bias is None else self._bias.grad

    # -- forward / backward ----------------------------------------------------------------

    def _prepare(self, channels: int) -> None:
        """Make sure the parameters exist for an input with ``channels`` channels."""
        if channels != self.in_channels:
            raise ValueError(
                f"in_channels: x has {channels} channels but the layer was built with "
                f"{self.names['in_channels']}={self.in_channels}"
            )

    def _input(self, x: Any) -> np.ndarray:
        xa = numeric_array(x, "x")
        if xa.ndim not in (self.nd + 1, self.nd + 2):
            raise ValueError(
                f"x must have shape (N, C, *spatial) or (C, *spatial) with {self.nd} spatial dims for "
                f"{type(self).__name__}, got x of shape {xa.shape}"
            )
        self._prepare(xa.shape[-self.nd - 1])
        return xa

    def _run(self, x: Any, output_size: Any = None) -> Any:
        """Forward pass; PyTorch/CuPy/JAX input gives that library's array back (computed in NumPy)."""
        return arrayapi.like(self._run_numpy(arrayapi.to_numpy(x, "x"), output_size), x)

    def _run_numpy(self, x: Any, output_size: Any = None) -> np.ndarray:
        xa = self._input(x)
        w = np.array(self._weight)  # a snapshot: an optimizer step before backward must not change it
        b = None if self._bias is None else np.array(self._bias)
        if self.transposed:
            geom = conv_transpose_geometry(
                xa, w, b, stride=self.stride, padding=self.padding, output_padding=self._output_padding_arg(),
                dilation=self.dilation, groups=self.groups, output_size=output_size,
            )
            hyper = dict(stride=geom.stride, padding=geom.padding, output_padding=geom.output_padding,
                         dilation=geom.dilation, groups=geom.groups)
            y = ops.conv_transpose(xa, w, b, **hyper)
        else:
            geom = conv_geometry(xa, w, b, stride=self.stride, padding=self.padding, dilation=self.dilation,
                                 groups=self.groups)
            hyper = dict(stride=geom.stride, padding=geom.padding, dilation=geom.dilation, groups=geom.groups)
            y = ops.conv(xa, w, b, **hyper)
        self._saved = (xa, w, b is not None, hyper)
        return y

    def _output_padding_arg(self) -> Any:
        return 0 if isinstance(self.padding, str) else self.output_padding  # 'same' sets its own

    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient of the input; stores ``weight_grad`` and ``bias_grad`` (overwriting earlier ones)."""
        xa, w, has_bias, hyper = self._saved_or_raise(self._saved)
        backward = conv_transpose_backward if self.transposed else conv_backward
        gx, gw, gb = backward(arrayapi.to_numpy(grad_output, "grad_output"), xa, w, bias=has_bias, **hyper)
        self._weight.grad = gw.astype(self._weight.dtype, copy=False)
        if has_bias and self._bias is not None:
            self._bias.grad = gb.astype(self._bias.dtype, copy=False)
        return arrayapi.like(gx, grad_output)

    def __repr__(self) -> str:
        n = self.names
        parts = [f"{self.in_channels}", f"{self.out_channels}", f"kernel_size={self.kernel_size}",
                 f"{n['stride']}={self.stride}"]
        if self.padding not in ("valid",) and self.padding != ((0, 0),) * self.nd:
            parts.append(f"padding={self.padding!r}")
        if any(self.output_padding):
            parts.append(f"output_padding={self.output_padding}")
        if any(d != 1 for d in self.dilation):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if not self.use_bias:
            parts.append(f"{n['bias']}=False")
        return f"{type(self).__name__}({', '.join(parts)})"


def _check_torch_extras(padding_mode: Any, device: Any) -> None:
    if padding_mode != "zeros":
        raise ValueError(f"padding_mode must be 'zeros' (the only mode tconv's layers implement), got {padding_mode!r}")
    if device not in (None, "cpu"):
        raise ValueError(f"device must be None or 'cpu' (tconv computes with NumPy), got {device!r}")


class _TorchConv(_ConvLayer):
    def reset_parameters(self, seed: Any = None) -> None:
        """PyTorch's default initialisation: weight and bias uniform on ``+-1/sqrt(fan_in)``.

        ``fan_in = weight.shape[1] * prod(kernel_size)`` as PyTorch computes it
        (for a transposed convolution: ``out_channels // groups * prod(kernel_size)``).
        """
        rng = initializers._generator(seed)
        weight = initializers.Kaiming(a=math.sqrt(5), distribution="uniform", seed=rng)(self.weight_shape, self.dtype)
        self._create_parameters(weight)
        if self._bias is not None:
            fan_in, _ = initializers.fans(self.weight_shape)
            self._bias.assign(initializers.Uniform(1 / math.sqrt(fan_in), seed=rng)((self.out_channels,), self.dtype))


class _ConvTransposeNd(_TorchConv):
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None, *, seed: Any = None) -> None:
        _check_torch_extras(padding_mode, device)
        self._configure(in_channels, out_channels, kernel_size, stride, padding, output_padding, dilation,
                        groups, bias, dtype)
        self.reset_parameters(seed)

    def forward(self, x: Any, output_size: Any = None) -> np.ndarray:
        """``conv_transpose(x, weight, bias, ...)``; ``output_size`` picks output_padding, as in PyTorch."""
        return self._run(x, output_size)


class _ConvNd(_TorchConv):
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None, *, seed: Any = None) -> None:
        _check_torch_extras(padding_mode, device)
        self._configure(in_channels, out_channels, kernel_size, stride, padding, 0, dilation, groups, bias, dtype)
        self.reset_parameters(seed)

    def forward(self, x: Any) -> np.ndarray:
        """``conv(x, weight, bias, ...)``."""
        return self._run(x)


class ConvTranspose1d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose1d`` on NumPy: weight ``(in, out // groups, k)``; keyword ``seed`` for the init."""

    nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose2d`` on NumPy: weight ``(in, out // groups, kH, kW)``; keyword ``seed`` for the init.

    >>> ConvTranspose2d(20, 10, kernel_size=5, padding=2, stride=3)(np.zeros((1, 20, 6, 6))).shape
    (1, 10, 16, 16)
    """

    nd = 2


class ConvTranspose3d(_ConvTransposeNd):
    """``torch.nn.ConvTranspose3d`` on NumPy: weight ``(in, out // groups, kD, kH, kW)``."""

    nd = 3


class Conv1d(_ConvNd):
    """``torch.nn.Conv1d`` on NumPy: weight ``(out, in // groups, k)``; keyword ``seed`` for the init."""

    nd = 1


class Conv2d(_ConvNd):
    """``torch.nn.Conv2d`` on NumPy: weight ``(out, in // groups, kH, kW)``; keyword ``seed`` for the init.

    >>> Conv2d(10, 20, kernel_size=5, padding=2, stride=3)(np.zeros((1, 10, 16, 16))).shape
    (1, 20, 6, 6)
    """

    nd = 2


class Conv3d(_ConvNd):
    """``torch.nn.Conv3d`` on NumPy: weight ``(out, in // groups, kD, kH, kW)``."""

    nd = 3
