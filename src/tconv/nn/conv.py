"""PyTorch-style convolution layers: ``ConvTranspose1d/2d/3d`` and ``Conv1d/2d/3d``.

Same constructor arguments and the same default initialisation as PyTorch
(``kaiming_uniform_(a=sqrt(5))`` for the weight, i.e. uniform on
``+-1/sqrt(fan_in)``, and the same bound for the bias, with ``fan_in =
weight.shape[1] * prod(kernel_size)``).  The layers are doors onto
:func:`tconv.conv_transpose` / :func:`tconv.conv` and their gradients in
:mod:`tconv.grad`; what they share is :class:`~tconv.nn.base.ConvLayerBase`.

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

``padding_mode`` is ``"zeros"`` (the default), ``"circular"``, ``"reflect"``
or ``"replicate"`` on every layer.  ``Conv*d`` pads its input in that mode,
as PyTorch's; ``ConvTranspose*d`` (where PyTorch accepts only zeros) is the
exact adjoint of the ``Conv*d`` with the same weight, padding and mode: its
output folds the border back onto the entries that convolution's padding
copies (:func:`tconv.conv_transpose`).  ``ConvTranspose*d`` also takes
``padding="same"`` (``in * stride`` outputs, the odd crop at the end, as
TensorFlow / Keras / JAX) and ``padding="valid"`` (crop nothing):

>>> up = ConvTranspose1d(1, 1, 4, stride=2, padding="same", padding_mode="circular", bias=False)
>>> up.weight = np.array([[[1., 2., 3., 4.]]])
>>> up(np.array([[[1., 0., 0.]]]))      # the tap cropped at the front wraps round to the end
array([[[2., 3., 4., 0., 0., 1.]]])
>>> up
ConvTranspose1d(1, 1, kernel_size=(4,), stride=(2,), padding='same', bias=False, padding_mode='circular')

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
from .base import ConvLayerBase


def _check_device(device: Any) -> None:
    if device not in (None, "cpu"):
        raise ValueError(f"device must be None or 'cpu' (tconv computes with NumPy), got {device!r}")


class _TorchConv(ConvLayerBase):
    def reset_parameters(self, seed: Any = None) -> None:
        """PyTorch's default initialisation: weight and bias uniform on ``+-1/sqrt(fan_in)``.

        ``fan_in = weight.shape[1] * prod(kernel_size)`` as PyTorch computes it
        (for a transposed convolution: ``out_channels // groups * prod(kernel_size)``).
        """
        rng = initializers.generator(seed)
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
        _check_device(device)
        self._configure(in_channels, out_channels, kernel_size, stride, padding, output_padding, dilation,
                        groups, bias, dtype, padding_mode=padding_mode)
        self.reset_parameters(seed)

    def forward(self, x: Any, output_size: Any = None) -> np.ndarray:
        """``conv_transpose(x, weight, bias, ...)``; ``output_size`` picks output_padding, as in PyTorch.

        With ``padding="same"`` the output is ``in * stride``: an ``output_size`` of that size is accepted,
        any other is refused with a ValueError (use numeric padding to choose another size).
        """
        return self._run(x, output_size)


class _ConvNd(_TorchConv):
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None, *, seed: Any = None) -> None:
        _check_device(device)
        self._configure(in_channels, out_channels, kernel_size, stride, padding, 0, dilation, groups, bias, dtype,
                        padding_mode=padding_mode)
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
