"""Weight initializers, MXNet-Gluon style (``init.Constant(K)``, ``init.Xavier()``, ...), reproducible.

An initializer is called with a weight shape (and a dtype) and returns a new
array.  The random ones draw from their own :class:`numpy.random.Generator`,
made from ``seed`` (an int, or a Generator to share).  Fans follow PyTorch
and Gluon alike: ``fan_in = shape[1] * receptive field`` and ``fan_out =
shape[0] * receptive field``, whatever the layer (for a transposed
convolution's ``(C_in, C_out // groups, *k)`` weight that makes ``fan_in``
the *output* channels times the kernel size, exactly as PyTorch computes it).

>>> import numpy as np
>>> K = np.array([[0., 1], [2, 3]])
>>> Constant(K)((1, 1, 2, 2))
array([[[[0., 1.],
         [2., 3.]]]], dtype=float32)
>>> Bilinear()((1, 1, 4, 4))[0, 0]
array([[0.0625, 0.1875, 0.1875, 0.0625],
       [0.1875, 0.5625, 0.5625, 0.1875],
       [0.1875, 0.5625, 0.5625, 0.1875],
       [0.0625, 0.1875, 0.1875, 0.0625]], dtype=float32)
>>> np.array_equal(Uniform(seed=0)((2, 3)), Uniform(seed=0)((2, 3)))
True
"""

from __future__ import annotations

import abc
import math
import numbers
from typing import Any, Sequence

import numpy as np

from ._validate import as_int, numeric_array

__all__ = ["Initializer", "Constant", "Bilinear", "Uniform", "Normal", "Xavier", "Kaiming", "fans", "calculate_gain"]


def generator(seed: Any) -> np.random.Generator:
    """A :class:`numpy.random.Generator` from ``seed``: None (fresh entropy), a non-negative int, or a
    Generator (used as it is, to share one stream).

    >>> rng = np.random.default_rng(0)
    >>> generator(rng) is rng, int(generator(0).integers(10)) == int(generator(0).integers(10))
    (True, True)
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be None, a non-negative int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        out = tuple(as_int(n, "shape") for n in shape)
    except TypeError:
        raise TypeError(f"shape must be a sequence of ints, got {shape!r}") from None
    if any(n < 0 for n in out):
        raise ValueError(f"shape must not have negative sizes, got {out}")
    return out


def _positive(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as PyTorch's and Gluon's initializers compute them.

    >>> fans((20, 10, 5, 5))    # Conv2d(10, 20, 5) weight
    (250, 500)
    >>> fans((20, 10, 5, 5))[0] == 10 * 25  # also ConvTranspose2d(20, 10, 5): fan_in uses shape[1]
    True
    """
    shape = _shape(shape)
    if len(shape) < 2:
        raise ValueError(f"fan_in and fan_out need a weight shape with at least 2 dims, got {shape}")
    receptive = int(np.prod(shape[2:], dtype=np.int64))
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    >>> round(calculate_gain("leaky_relu", math.sqrt(5)) ** 2, 6)
    0.333333
    """
    linear = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d",
              "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"nonlinearity must be one of {list(linear) + ['tanh', 'relu', 'leaky_relu', 'selu']}, "
                     f"got {nonlinearity!r}")


class Initializer(abc.ABC):
    """Base class: ``initializer(shape, dtype=np.float32)`` returns a new, filled array."""

    def __init__(self, seed: Any = None) -> None:
        self._rng = generator(seed)

    def __call__(self, shape: Any, dtype: Any = np.float32) -> np.ndarray:
        shape = _shape(shape)
        return np.asarray(self._values(shape), dtype=dtype).copy()

    @abc.abstractmethod
    def _values(self, shape: tuple[int, ...]) -> np.ndarray:
        """The values for a weight of ``shape`` (any float dtype; ``__call__`` casts)."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Constant(Initializer):
    """Every weight from ``value``: a number, or an array broadcast to the weight shape.

    ``seed`` is accepted for a uniform interface; the values are deterministic.

    >>> Constant(0.5)((2, 2))
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)
    """

    def __init__(self, value: Any, seed: Any = None) -> None:
        super().__init__(seed)
        self.value = numeric_array(value, "value")

    def _values(self, shape: tuple[int, ...]) -> np.ndarray:
        try:
            return np.broadcast_to(self.value, shape)
        except ValueError:
            raise ValueError(
                f"value of shape {self.value.shape} cannot be broadcast to the weight shape {shape}"
            ) from None


def _bilinear_1d(k: int) -> np.ndarray:
    """FCN's 1-d interpolation weights: a tent centred on the kernel, ``factor = ceil(k / 2)`` wide."""
    factor = (k + 1) // 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    return 1 - np.abs(np.arange(k) - centre) / factor


class Bilinear(Initializer):
    """The bilinear-upsampling kernel used to initialise transposed convolutions in FCN.

    With ``ConvTranspose(C, C, kernel_size=2 * s, stride=s, padding=s // 2)``
    (``s`` even) the layer then upsamples every channel by ``s`` with bilinear
    interpolation.  The spatial filter is the outer product of 1-d tents (any
    number of spatial dims); input channel ``i`` feeds the ``i % shape[1]``-th
    output channel of its group and nothing else, which covers the two usual
    layouts: ``(C, C, *k)`` (a diagonal, one channel to itself) and ``(C, 1,
    *k)`` with ``groups=C``.  ``seed`` is accepted and ignored.

    >>> Bilinear()((1, 1, 3))[0, 0]
    array([0.5, 1. , 0.5], dtype=float32)
    """

    def _values(self, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) < 3:
            raise ValueError(f"Bilinear needs a convolution weight shape (C, C, *kernel), got {shape}")
        filt = np.ones(())
        for k in shape[2:]:
            filt = np.multiply.outer(filt, _bilinear_1d(k))
        out = np.zeros(shape)
        for i in range(shape[0]):
            out[i, i % shape[1]] = filt
        return out


class Uniform(Initializer):
    """Uniform on ``[-scale, scale]`` (Gluon's default initializer, scale 0.07)."""

    def __init__(self, scale: float = 0.07, seed: Any = None) -> None:
        super().__init__(seed)
        self.scale = _positive(scale, "scale")

    def _values(self, shape: tuple[int, ...]) -> np.ndarray:
        return self._rng.uniform(-self.scale, self.scale, size=shape)


class Normal(Initializer):
    """Normal with mean 0 and standard deviation ``sigma``."""

    def __init__(self, sigma: float = 0.01, seed: Any = None) -> None:
        super().__init__(seed)
        self.sigma = _positive(sigma, "sigma")

    def _values(self, shape: tuple[int, ...]) -> np.ndarray:
        return self._rng.normal(0.0, self.sigma, size=shape)


def _draw(rng: np.random.Generator, distribution: str, std: float, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform with that standard deviation (bound sqrt(3) * std), or normal."""
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return rng.uniform(-bound, bound, size=shape)
    return rng.normal(0.0, std, size=shape)


def _choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


class Xavier(Initializer):
    """Glorot/Xavier (Gluon's arguments): variance ``magnitude / (3 * factor)``.

    ``factor`` is fan_in, fan_out or their mean (``factor_type`` "in", "out",
    "avg"); with the defaults the uniform bound is ``sqrt(6 / (fan_in +
    fan_out))``, PyTorch's ``xavier_uniform_``.
    """

    def __init__(self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3,
                 seed: Any = None) -> None:
        super().__init__(seed)
        self.rnd_type = _choice(rnd_type, "rnd_type", ("uniform", "gaussian"))
        self.factor_type = _choice(factor_type, "factor_type", ("avg", "in", "out"))
        self.magnitude = _positive(magnitude, "magnitude")

    def _values(self, shape: tuple[int, ...]) -> np.ndarray:
        fan_in, fan_out = fans(shape)
        factor = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        if factor <= 0:
            raise ValueError(f"Xavier needs a non-empty fan, got shape {shape}")
        scale = math.sqrt(self.magnitude / factor)  # uniform bound, or the normal's std (as Gluon)
        if self.rnd_type == "uniform":
            return self._rng.uniform(-scale, scale, size=shape)
        return self._rng.normal(0.0, scale, size=shape)


class Kaiming(Initializer):
    """He/Kaiming (PyTorch's arguments): std ``gain(nonlinearity, a) / sqrt(fan)``.

    ``distribution="uniform"`` draws on ``[-sqrt(3) std, sqrt(3) std]``.
    ``Kaiming(a=math.sqrt(5), distribution="uniform")`` is PyTorch's default
    for convolution weights (bound ``1 / sqrt(fan_in)``).
    """

    def __init__(self, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                 distribution: str = "normal", seed: Any = None) -> None:
        super().__init__(seed)
        self.a = float(a)
        self.mode = _choice(mode, "mode", ("fan_in", "fan_out"))
        self.nonlinearity = nonlinearity
        calculate_gain(nonlinearity, self.a)  # validates the name
        self.distribution = _choice(distribution, "distribution", ("normal", "uniform"))

    def _values(self, shape: tuple[int, ...]) -> np.ndarray:
        fan_in, fan_out = fans(shape)
        fan = fan_in if self.mode == "fan_in" else fan_out
        if fan <= 0:
            raise ValueError(f"Kaiming needs a non-empty {self.mode}, got shape {shape}")
        std = calculate_gain(self.nonlinearity, self.a) / math.sqrt(fan)
        return _draw(self._rng, self.distribution, std, shape)
