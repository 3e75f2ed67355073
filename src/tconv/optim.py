"""Two optimizers for :mod:`tconv.nn` modules: ``SGD`` (with momentum) and ``Adam``, PyTorch's update rules.

They take the parameters (``model.parameters()``), read the gradients that
``backward`` stored in each parameter's ``.grad``, and update the arrays in
place; parameters without a gradient are skipped.

>>> import numpy as np
>>> from tconv.nn import Parameter
>>> p = Parameter(np.array([1.0, -2.0]), "weight")
>>> p.grad = np.array([0.5, 0.5])
>>> SGD([p], lr=0.1).step()
>>> p
Parameter([ 0.95, -2.05])
"""

from __future__ import annotations

import abc
import numbers
from typing import Any, Iterable

import numpy as np

from .nn.parameter import Parameter

__all__ = ["SGD", "Adam"]


def _params(params: Iterable[Any]) -> list[Parameter]:
    out = list(params)
    for i, p in enumerate(out):
        if not isinstance(p, Parameter):
            raise TypeError(f"params must be tconv.nn Parameters (use model.parameters()), "
                            f"got {type(p).__name__} at position {i}")
    if not out:
        raise ValueError("params is empty: the optimizer has nothing to update")
    return out


def _number(value: Any, name: str, low: float, high: float = float("inf"), *, closed_low: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and (low <= value if closed_low else low < value) and value < high
    if not ok:
        bracket = "[" if closed_low else "("
        raise ValueError(f"{name} must be a number in {bracket}{low}, {high}), got {value!r}")
    return float(value)


class _Optimizer(abc.ABC):
    def __init__(self, params: Iterable[Any]) -> None:
        self.params = _params(params)

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for i, p in enumerate(self.params):
            if p.grad is not None:
                g = np.asarray(p.grad, dtype=p.dtype)
                if g.shape != p.shape:
                    raise ValueError(f"the gradient of {p.name} has shape {g.shape}, the parameter {p.shape}")
                self._update(i, p.view(np.ndarray), g)

    @abc.abstractmethod
    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        """Update parameter ``i`` (``p``, a view) in place from its gradient ``g``."""


class SGD(_Optimizer):
    """``p -= lr * (g + weight_decay * p)``, with PyTorch's momentum buffer when ``momentum > 0``."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params)
        self.lr = _number(lr, "lr", 0.0, closed_low=False)
        self.momentum = _number(momentum, "momentum", 0.0, 1.0)
        self.weight_decay = _number(weight_decay, "weight_decay", 0.0)
        self._velocity: dict[int, np.ndarray] = {}

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            v = self._velocity.get(i)
            v = g.copy() if v is None else self.momentum * v + g
            self._velocity[i] = v
            g = v
        p -= self.lr * g


class Adam(_Optimizer):
    """Adam (Kingma & Ba) with bias correction, PyTorch's defaults and update."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params)
        self.lr = _number(lr, "lr", 0.0, closed_low=False)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_number(betas[0], "betas[0]", 0.0, 1.0), _number(betas[1], "betas[1]", 0.0, 1.0))
        self.eps = _number(eps, "eps", 0.0)
        self.weight_decay = _number(weight_decay, "weight_decay", 0.0)
        self._state: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p
        t, m, v = self._state.get(i, (0, np.zeros_like(p), np.zeros_like(p)))
        t += 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        self._state[i] = (t, m, v)
        step = self.lr / (1 - b1**t)
        denom = np.sqrt(v) / np.sqrt(1 - b2**t) + self.eps
        p -= (step * m / denom).astype(p.dtype, copy=False)
