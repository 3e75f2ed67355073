"""The algorithm registry: every implementation of the operator, by name.

Each :class:`Algorithm` declares what it supports, how much workspace it
needs and a cost estimate, and provides the kernels of the adjoint pair
(transposed convolution and convolution) and of the weight gradient.  Kernels
receive a batched input in the working dtype and the memory layout the
algorithm declares (``layout``: ``"C"`` for C-contiguous and aligned, the
default, or ``"any"``; see :mod:`tconv._layout`) and the trusted
:class:`~tconv.params.Geometry`, and return a freshly allocated
``(N, C_out, *out_spatial)`` array; they never write to their inputs.

Adding an algorithm (``direct.py`` is the worked example):

1. in a module of its own, define ``conv_transpose(x, weight, geom)`` and
   ``conv(x, weight, geom)``, ``workspace_bytes(geom, itemsize)`` (what the
   kernels allocate besides the result) and ``cost(geom)`` (predicted seconds,
   from :mod:`.cost`); optionally ``unsupported(geom)`` (the reason it declines
   a geometry, or None) and a ``weight_grad(small, big, geom)``;
2. declare it at the bottom of the module:
   ``ALGORITHM = Algorithm(name="direct", summary="...", conv_transpose=conv_transpose, conv=conv,
   workspace_bytes=workspace_bytes, cost=cost)``;
3. register it: add the module to the list in ``algorithms/__init__.py`` (or call
   :func:`register` with the declaration).  ``algorithm="<name>"`` then runs it
   and ``"auto"`` considers it by its cost.

>>> get("direct").name
'direct'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..params import Geometry
from .weight_grad_numpy import numpy_weight_grad, numpy_weight_grad_bytes

Kernel = Callable[[np.ndarray, np.ndarray, Geometry], np.ndarray]


def _always(geom: Geometry) -> str | None:
    return None


def _any_values(x: np.ndarray, weight: np.ndarray) -> str | None:
    return None


@dataclass(frozen=True)
class Algorithm:
    """One registered implementation of the convolution / transposed-convolution pair."""

    name: str
    summary: str
    conv_transpose: Kernel
    conv: Kernel
    workspace_bytes: Callable[[Geometry, int], int]
    cost: Callable[[Geometry], float]
    unsupported: Callable[[Geometry], str | None] = field(default=_always)
    layout: str = "C"  # what the kernels need of their operands (tconv._layout.LAYOUTS)
    #: Why the algorithm declines these operand values (e.g. fft: inf or nan), or None; the planner asks.
    declines_values: Callable[[np.ndarray, np.ndarray], str | None] = field(default=_any_values)
    #: ``(small, big, geom) -> dweight`` (see :mod:`.weight_grad`); by default the shared NumPy one.
    weight_grad: Kernel = field(default=numpy_weight_grad)
    #: ``(geom, itemsize) -> bytes`` :attr:`weight_grad` allocates, its result included (the memory guard's
    #: reservation for it).
    weight_grad_bytes: Callable[[Geometry, int], int] = field(default=numpy_weight_grad_bytes)


_REGISTRY: dict[str, Algorithm] = {}
_GENERATION = [0]


def generation() -> int:
    """How many times the registry changed: the planner keys its cached rankings on it.

    >>> generation() >= len(names())
    True
    """
    return _GENERATION[0]


def register(algorithm: Algorithm) -> Algorithm:
    """Add ``algorithm`` to the registry (its name must be new)."""
    if algorithm.name in _REGISTRY or algorithm.name == "auto":
        raise ValueError(f"algorithm name {algorithm.name!r} is already taken")
    _REGISTRY[algorithm.name] = algorithm
    _GENERATION[0] += 1
    return algorithm


def unregister(name: str) -> Algorithm:
    """Remove the algorithm called ``name`` (tests that register one of their own); returns it."""
    algorithm = get(name)
    del _REGISTRY[name]
    _GENERATION[0] += 1
    return algorithm


def names() -> tuple[str, ...]:
    """Names of the registered algorithms, in registration order."""
    return tuple(_REGISTRY)


def get(name: str) -> Algorithm:
    """The algorithm called ``name``; ``ValueError`` listing the choices otherwise."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"algorithm must be 'auto' or one of {list(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name]
