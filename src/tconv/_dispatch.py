"""The public ``conv_transpose`` and ``conv``: route each call by its operands' library, then run it.

NumPy operands (and array likes) go to the operator, :mod:`tconv.ops`.  Other
libraries' arrays go to a *route*: a pair of functions registered with
:func:`add_route` together with a test that claims the operands.  The package
face registers the routes (Dask arrays to :mod:`tconv.distributed`, PyTorch /
CuPy / JAX arrays to :mod:`tconv.arrayapi`), so neither the operator nor this
module imports those doors: they stay optional, loaded on their first call.

>>> conv_transpose(np.array([[[1., 2.]]]), np.array([[[1., 1.]]]))
array([[[1., 3., 2.]]])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import ops


@dataclass(frozen=True)
class Route:
    """Where calls whose operands ``claims`` go: that library's ``conv_transpose`` and ``conv``."""

    name: str
    claims: Callable[[tuple[Any, ...]], bool]
    conv_transpose: Callable[..., Any]
    conv: Callable[..., Any]


_ROUTES: list[Route] = []


def add_route(route: Route) -> None:
    """Send the calls that ``route.claims`` to ``route``'s functions (routes are asked in the order added)."""
    if any(r.name == route.name for r in _ROUTES):
        raise ValueError(f"a route named {route.name!r} is already registered")
    _ROUTES.append(route)


def routes() -> tuple[str, ...]:
    """Names of the registered routes, in the order they are asked.

    >>> import tconv
    >>> routes()
    ('dask', 'array-api')
    """
    return tuple(r.name for r in _ROUTES)


def _operator_for(operands: tuple[Any, ...], transposed: bool) -> Callable[..., Any]:
    if all(type(a) is np.ndarray or a is None for a in operands):  # no route claims plain NumPy arrays
        return ops.conv_transpose if transposed else ops.conv
    for route in _ROUTES:
        if route.claims(operands):
            return route.conv_transpose if transposed else route.conv
    return ops.conv_transpose if transposed else ops.conv


def _routed(numpy_operator: Callable[..., Any], transposed: bool) -> Callable[..., Any]:
    """``numpy_operator``'s signature and documentation, with its calls sent by :func:`_operator_for`."""

    @functools.wraps(numpy_operator)
    def public(x: Any, weight: Any, bias: Any = None, **hyper: Any) -> Any:
        return _operator_for((x, weight, bias), transposed)(x, weight, bias, **hyper)

    return public


#: Transposed convolution with PyTorch's semantics, in N-d, on NumPy or any routed library's arrays.
conv_transpose = _routed(ops.conv_transpose, transposed=True)
#: Convolution (cross-correlation) with PyTorch's semantics, on NumPy or any routed library's arrays.
conv = _routed(ops.conv, transposed=False)
