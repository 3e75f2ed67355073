"""MXNet-Gluon-style layers: ``Conv2DTranspose`` and ``Conv2D`` with deferred shape inference.

As in Gluon, ``in_channels=0`` leaves the weight shape open until the first
call, and ``initialize(init)`` chooses the weight initializer: the layer's own
``weight_initializer`` if it has one, else ``init``, else ``init.Uniform()``
(Gluon's default); the bias starts at zero.  Calling the layer before
``initialize`` is an error, as in Gluon.

Dtypes as for the PyTorch-style layers (:mod:`tconv.nn.conv`): ``dtype=``
(float32 by default), ``cast(dtype)`` as in Gluon and ``.to(dtype)``,
``.float()``, ``.double()``; an assigned array of another floating dtype
keeps its dtype; the result dtype is the NumPy promotion of the input and
the parameters (MXNet refuses mixed dtypes).

Beyond Gluon, the keyword ``padding_mode`` (``"zeros"``, ``"circular"``,
``"reflect"``, ``"replicate"``) means what it means for the PyTorch-style
layers: ``Conv2D`` pads its input in that mode, ``Conv2DTranspose`` is the
exact adjoint of that padded convolution (:func:`tconv.conv_transpose`).

The chapter's example:

>>> import numpy as np
>>> from tconv import init
>>> X = np.array([[0., 1], [2, 3]]).reshape(1, 1, 2, 2)
>>> K = np.array([[0., 1], [2, 3]]).reshape(1, 1, 2, 2)
>>> tconv = Conv2DTranspose(1, kernel_size=2)
>>> tconv.initialize(init.Constant(K))
>>> tconv(X)
array([[[[ 0.,  0.,  1.],
         [ 0.,  4.,  6.],
         [ 4., 12.,  9.]]]])
>>> tconv.weight.shape   # in_channels inferred from X at the first call
(1, 1, 2, 2)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import init as initializers
from .base import ConvLayerBase

GLUON_NAMES = {"in_channels": "in_channels", "out_channels": "channels", "stride": "strides", "bias": "use_bias"}


def _initializer(value: Any, name: str) -> initializers.Initializer | None:
    if value is None or isinstance(value, initializers.Initializer):
        return value
    raise TypeError(f"{name} must be a tconv.init initializer (e.g. init.Xavier()) or None, got {value!r}")


class _GluonConv(ConvLayerBase):
    names = GLUON_NAMES

    def _setup(self, channels: Any, kernel_size: Any, strides: Any, padding: Any, output_padding: Any,
               dilation: Any, groups: Any, use_bias: Any, in_channels: Any, weight_initializer: Any,
               dtype: Any, padding_mode: Any = "zeros") -> None:
        self._configure(in_channels, channels, kernel_size, strides, padding, output_padding, dilation, groups,
                        use_bias, dtype, defer_in_channels=True, padding_mode=padding_mode)
        self.weight_initializer = _initializer(weight_initializer, "weight_initializer")
        self._init: initializers.Initializer | None = None
        self._inferred = False

    @property
    def channels(self) -> int:
        """Output channels (Gluon's name)."""
        return self.out_channels

    def cast(self, dtype: Any) -> None:
        """Gluon's ``cast``: convert the parameters (and those created later) to ``dtype``; see ``.to``."""
        self.to(dtype)

    def initialize(self, init: Any = None, force_reinit: bool = False) -> None:
        """Initialise the weight (``weight_initializer``, else ``init``, else ``init.Uniform()``), bias to zero.

        With ``in_channels=0`` the weight is created at the first call, once
        its shape is known.  A second ``initialize`` warns and does nothing
        unless ``force_reinit=True`` (as Gluon).
        """
        chosen = _initializer(init, "init")
        if self._init is not None and not force_reinit:
            warnings.warn(f"{type(self).__name__} is already initialized; pass force_reinit=True to "
                          f"initialize it again", stacklevel=2)
            return
        self._init = self.weight_initializer or chosen or initializers.Uniform()
        if self.in_channels:
            self._materialize()
        else:
            self._weight = self._bias = None

    def _materialize(self) -> None:
        self._create_parameters(self._init(self.weight_shape, self.dtype))

    def _prepare(self, channels: int) -> None:
        if self._init is None:
            raise RuntimeError(f"{type(self).__name__} has not been initialized: call .initialize() "
                               f"(optionally with an initializer such as init.Xavier()) before using it")
        if self._weight is None:
            if channels % self.groups:
                raise ValueError(f"in_channels: x has {channels} channels, which groups ({self.groups}) "
                                 f"does not divide")
            self.in_channels, self._inferred = channels, True
            self._materialize()
            return
        if channels != self.in_channels:
            how = "was inferred as" if self._inferred else "was built with in_channels ="
            raise ValueError(f"in_channels: x has {channels} channels but the layer's in_channels {how} "
                             f"{self.in_channels} (the weight has shape {self.weight_shape})")

    def _not_ready(self) -> str:
        if self._init is None:
            return "call .initialize() first"
        return "in_channels=0 defers the weight's shape to the first call; run the layer once first"


class Conv2DTranspose(_GluonConv):
    """Gluon's ``nn.Conv2DTranspose``: weight ``(in_channels, channels // groups, kH, kW)``.

    >>> layer = Conv2DTranspose(10, kernel_size=5, padding=2, strides=3)
    >>> layer.initialize()
    >>> layer(np.zeros((1, 20, 6, 6))).shape, layer.in_channels
    ((1, 10, 16, 16), 20)
    """

    transposed = True
    nd = 2

    def __init__(self, channels: int, kernel_size: Any, strides: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, dilation: Any = 1, groups: int = 1, use_bias: bool = True,
                 in_channels: int = 0, weight_initializer: Any = None, *, dtype: Any = None,
                 padding_mode: str = "zeros") -> None:
        self._setup(channels, kernel_size, strides, padding, output_padding, dilation, groups, use_bias,
                    in_channels, weight_initializer, dtype, padding_mode)

    def forward(self, x: Any) -> np.ndarray:
        """``conv_transpose(x, weight, bias, ...)``; the first call fixes ``in_channels`` if it was 0."""
        return self._run(x)


class Conv2D(_GluonConv):
    """Gluon's ``nn.Conv2D``: weight ``(channels, in_channels // groups, kH, kW)``.

    >>> layer = Conv2D(20, kernel_size=5, padding=2, strides=3)
    >>> layer.initialize()
    >>> layer(np.zeros((1, 10, 16, 16))).shape
    (1, 20, 6, 6)
    """

    transposed = False
    nd = 2

    def __init__(self, channels: int, kernel_size: Any, strides: Any = 1, padding: Any = 0, dilation: Any = 1,
                 groups: int = 1, use_bias: bool = True, in_channels: int = 0, weight_initializer: Any = None,
                 *, dtype: Any = None, padding_mode: str = "zeros") -> None:
        self._setup(channels, kernel_size, strides, padding, 0, dilation, groups, use_bias, in_channels,
                    weight_initializer, dtype, padding_mode)

    def forward(self, x: Any) -> np.ndarray:
        """``conv(x, weight, bias, ...)``; the first call fixes ``in_channels`` if it was 0."""
        return self._run(x)
