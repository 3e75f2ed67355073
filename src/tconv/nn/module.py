"""Just enough to train a small network: ``Module``, ``Sequential``, ReLU / Tanh / Sigmoid and ``MSELoss``.

Every module computes ``forward(x)`` (also ``module(x)``) and, afterwards,
``backward(grad_output)``, which returns the gradient with respect to the
input and stores the gradients of its parameters in their ``.grad``.  A module
remembers only its latest forward call: one forward, then its backward.

>>> import numpy as np
>>> act = Tanh()
>>> act(np.array([0.0, 1.0]))
array([0.        , 0.76159416])
>>> act.backward(np.ones(2))
array([1.        , 0.41997434])
"""

from __future__ import annotations

import abc
from typing import Any, Iterator

import numpy as np

from .._validate import compute_dtype, numeric_array, real_kind
from .parameter import Parameter


def layer_dtype(value: Any, name: str = "dtype") -> np.dtype:
    """A floating dtype for a layer's parameters: a NumPy dtype (float16, ``ml_dtypes.bfloat16``, float32,
    float64, ...) or a PyTorch one (``torch.float64``); None gives float32.

    >>> layer_dtype(None), layer_dtype("float64")
    (dtype('float32'), dtype('float64'))
    """
    if value is None:
        return np.dtype(np.float32)
    dt = _parse_dtype(value)
    if dt is None:
        raise TypeError(f"{name} must be a NumPy floating dtype, got {value!r}")
    if real_kind(dt) != "f":
        raise TypeError(f"{name} must be a floating dtype (float16, bfloat16, float32, float64, ...), got {dt}")
    return dt


def _parse_dtype(value: Any) -> np.dtype | None:
    """``value`` as a NumPy dtype (PyTorch dtypes and the name "bfloat16" included), or None."""
    text = str(value)
    if text.startswith("torch."):  # a torch.dtype, by its name
        value = text[len("torch."):]
    try:
        return np.dtype(value)
    except TypeError:
        if value == "bfloat16":
            try:
                import ml_dtypes  # its types are not known to NumPy by name until it is imported
            except ImportError:
                return None
            return np.dtype(ml_dtypes.bfloat16)
    return None


def _to_arguments(args: tuple, dtype: Any, device: Any) -> Any:
    """The dtype in ``Module.to``'s arguments (None if none); refuses devices other than the CPU."""
    for arg in args:
        if arg is None or type(arg).__name__ == "device" or isinstance(arg, str) and _parse_dtype(arg) is None:
            device = arg
        elif not isinstance(arg, (type, np.dtype)) and hasattr(arg, "dtype") and hasattr(arg, "shape"):
            # .to(tensor): take its dtype
            dtype = arg.dtype
        else:
            dtype = arg
    kind = getattr(device, "type", device)
    if kind is not None and str(kind).split(":")[0] != "cpu":
        raise ValueError(f"device must be None or 'cpu' (tconv computes with NumPy), got {device!r}")
    return dtype


class Module(abc.ABC):
    """Base class: ``__call__`` runs ``forward``; ``parameters()`` lists the trainable arrays."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    @abc.abstractmethod
    def forward(self, x: Any) -> np.ndarray:
        """The module's output for ``x``."""

    @abc.abstractmethod
    def backward(self, grad_output: Any) -> np.ndarray:
        """The gradient of the input, given the gradient of the latest forward's output."""

    def parameters(self) -> list[Parameter]:
        """The module's parameters (updated in place by the optimizers)."""
        return []

    def zero_grad(self) -> None:
        """Forget the stored gradients."""
        for p in self.parameters():
            p.grad = None

    def to(self, *args: Any, dtype: Any = None, device: Any = None, non_blocking: bool = False) -> "Module":
        """Convert the parameters to a floating ``dtype`` (in place) and return the module, as PyTorch's ``.to``.

        Takes ``.to(dtype)``, ``.to(device, dtype)``, ``.to(array)`` (its
        dtype) and keywords; NumPy and PyTorch dtypes are accepted, the only
        device is the CPU.  Converted parameters are new arrays: build
        optimizers after converting.  Gradients are converted too.

        >>> Sequential(ReLU()).to(np.float64).double().float().half()
        Sequential(
          (0): ReLU()
        )
        """
        wanted = _to_arguments(args, dtype, device)
        if wanted is not None:
            self._cast(layer_dtype(wanted))
        return self

    def float(self) -> "Module":
        """``self.to(np.float32)``."""
        return self.to(np.float32)

    def double(self) -> "Module":
        """``self.to(np.float64)``."""
        return self.to(np.float64)

    def half(self) -> "Module":
        """``self.to(np.float16)`` (computed in float32, rounded once per layer)."""
        return self.to(np.float16)

    def _cast(self, dtype: np.dtype) -> None:
        """Convert this module's own parameters to ``dtype`` (modules without parameters: nothing)."""

    def _saved_or_raise(self, saved: Any) -> Any:
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward() was called before forward(): "
                               f"run the module on an input first")
        return saved


class Sequential(Module):
    """Modules applied in order; ``backward`` runs them in reverse.

    >>> net = Sequential(ReLU(), Sigmoid())
    >>> net(np.array([-1.0, 0.0]))
    array([0.5, 0.5])
    >>> len(net), type(net[1]).__name__
    (2, 'Sigmoid')
    """

    def __init__(self, *modules: Module) -> None:
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes modules, got {type(m).__name__} at position {i}")
        self.modules = list(modules)

    def forward(self, x: Any) -> np.ndarray:
        for m in self.modules:
            x = m(x)
        return x

    def backward(self, grad_output: Any) -> np.ndarray:
        for m in reversed(self.modules):
            grad_output = m.backward(grad_output)
        return grad_output

    def parameters(self) -> list[Parameter]:
        return [p for m in self.modules for p in m.parameters()]

    def _cast(self, dtype: np.dtype) -> None:
        for m in self.modules:
            m._cast(dtype)

    def __getitem__(self, index: int) -> Module:
        return self.modules[index]

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {m!r}" for i, m in enumerate(self.modules))
        return f"Sequential({inner}\n)"


class _Elementwise(Module):
    _saved: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        xa = numeric_array(x, "x")
        dtype = compute_dtype(xa)  # integers and bool give float64; float16 / bfloat16 compute in float32
        y = self._apply(xa.astype(np.promote_types(dtype, np.float32), copy=False)).astype(dtype, copy=False)
        self._saved = y
        return y

    def backward(self, grad_output: Any) -> np.ndarray:
        y = self._saved_or_raise(self._saved)
        gy = numeric_array(grad_output, "grad_output")
        if gy.shape != y.shape:
            raise ValueError(f"grad_output must have the shape of the output, {y.shape}, got {gy.shape}")
        return gy * self._slope(y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Elementwise):
    """``max(x, 0)``; its gradient is 1 where the output is positive, 0 elsewhere."""

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def _slope(self, y: np.ndarray) -> np.ndarray:
        return (y > 0).astype(y.dtype)


class Tanh(_Elementwise):
    """``tanh(x)``; gradient ``1 - y**2``."""

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def _slope(self, y: np.ndarray) -> np.ndarray:
        return 1 - y * y


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))`` (computed without overflow); gradient ``y * (1 - y)``."""

    def _apply(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.result_type(x, np.float32), copy=False)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def _slope(self, y: np.ndarray) -> np.ndarray:
        return y * (1 - y)


class MSELoss(Module):
    """Mean (or summed) squared error; ``backward()`` returns the gradient with respect to the prediction.

    >>> loss = MSELoss()
    >>> float(loss(np.array([1.0, 3.0]), np.array([0.0, 0.0])))
    5.0
    >>> loss.backward()
    array([1., 3.])
    """

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self._saved: np.ndarray | None = None

    def forward(self, prediction: Any, target: Any) -> np.floating:
        p, t = numeric_array(prediction, "prediction"), numeric_array(target, "target")
        if p.shape != t.shape:
            raise ValueError(f"target must have the shape of prediction, {p.shape}, got {t.shape}")
        dtype = compute_dtype(p, t)  # bool and integers give float64
        diff = p.astype(dtype, copy=False) - t.astype(dtype, copy=False)
        self._saved = diff
        total = np.sum(diff * diff)
        return total / max(diff.size, 1) if self.reduction == "mean" else total

    def backward(self, grad_output: Any = 1.0) -> np.ndarray:
        diff = self._saved_or_raise(self._saved)
        scale = 2.0 / max(diff.size, 1) if self.reduction == "mean" else 2.0
        return (diff * (scale * float(grad_output))).astype(diff.dtype, copy=False)

    def __repr__(self) -> str:
        return f"MSELoss(reduction={self.reduction!r})"
