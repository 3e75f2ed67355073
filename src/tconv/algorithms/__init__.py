"""The algorithm registry: every implementation of the operator, and the automatic choice.

Each :class:`Algorithm` declares what it supports, how much workspace it
needs and a cost estimate, and provides the two kernels of the adjoint pair
(transposed convolution and convolution).  Kernels receive a batched input in
the working dtype and the trusted :class:`~tconv.params.Geometry`, and return
a freshly allocated ``(N, C_out, *out_spatial)`` array; they never write to
their inputs.

>>> names()
('direct', 'gemm')
>>> get("direct").name
'direct'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..params import Geometry
from . import direct, gemm

Kernel = Callable[[np.ndarray, np.ndarray, Geometry], np.ndarray]


def _always(geom: Geometry) -> str | None:
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


_REGISTRY: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add ``algorithm`` to the registry (its name must be new)."""
    if algorithm.name in _REGISTRY or algorithm.name == "auto":
        raise ValueError(f"algorithm name {algorithm.name!r} is already taken")
    _REGISTRY[algorithm.name] = algorithm
    return algorithm


def names() -> tuple[str, ...]:
    """Names of the registered algorithms, in registration order."""
    return tuple(_REGISTRY)


def get(name: str) -> Algorithm:
    """The algorithm called ``name``; ``ValueError`` listing the choices otherwise."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"algorithm must be 'auto' or one of {list(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name]


# Rough machine constants for the cost model (seconds); the fast-algorithms work
# replaces them with measured ones.
_GEMM_SECONDS_PER_MAC = 1 / 50e9
_SMALL_GEMM_SECONDS_PER_MAC = 1 / 10e9
_SECONDS_PER_BYTE_MOVED = 1 / 2e9
_SECONDS_PER_PYTHON_STEP = 5e-6


def _taps(geom: Geometry) -> int:
    return int(np.prod(geom.kernel_shape))


def _direct_cost(geom: Geometry) -> float:
    return geom.macs() * _SMALL_GEMM_SECONDS_PER_MAC + _taps(geom) * _SECONDS_PER_PYTHON_STEP


def _gemm_cost(geom: Geometry) -> float:
    moved = gemm.workspace_bytes(geom, 8)
    return geom.macs() * _GEMM_SECONDS_PER_MAC + moved * _SECONDS_PER_BYTE_MOVED + _taps(geom) * _SECONDS_PER_PYTHON_STEP


register(
    Algorithm(
        name="direct",
        summary="reference: per-tap matrix product over channels, scattered (the chapter's definition)",
        conv_transpose=direct.conv_transpose,
        conv=direct.conv,
        workspace_bytes=direct.workspace_bytes,
        cost=_direct_cost,
    )
)
register(
    Algorithm(
        name="gemm",
        summary="one GEMM over channels for all taps, then col2im scatter-add (im2col + GEMM for conv)",
        conv_transpose=gemm.conv_transpose,
        conv=gemm.conv,
        workspace_bytes=gemm.workspace_bytes,
        cost=_gemm_cost,
    )
)
