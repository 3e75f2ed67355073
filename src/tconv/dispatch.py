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
    for route in _ROUTES:
        if route.claims(operands):
            return route.conv_transpose if transposed else route.conv
    return ops.conv_transpose if transposed else ops.conv


def conv_transpose(
    x: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    output_size: Any = None,
    algorithm: str = "auto",
) -> np.ndarray:
    """Transposed convolution with PyTorch's ``conv_transpose{1,2,3}d`` semantics, in N-d.

    Args:
        x: ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``.
        weight: ``(C_in, C_out // groups, *kernel)``.
        bias: ``(C_out,)`` or None.
        stride, dilation: an int or one int per spatial dim.
        padding: outputs cropped at each end: an int, one int per dim,
            ``(before, after)`` pairs per dim, ``"valid"`` (crop nothing) or
            ``"same"`` (``in * stride`` outputs, the odd crop at the end, as
            TensorFlow/Keras/JAX).
        output_padding: extra outputs at the end of each dim; must be smaller
            than stride or dilation.
        output_size: the wanted spatial size (or PyTorch's full shape); picks
            ``output_padding``.
        algorithm: ``"auto"`` or a name from :func:`tconv.algorithm_names`.

    Returns:
        ``(N, C_out, *out)`` (unbatched in -> unbatched out), dtype by NumPy
        promotion of ``x``, ``weight`` and ``bias``: float32 -> float32,
        float64 -> float64; float16 and ``ml_dtypes.bfloat16`` are computed in
        float32 and rounded once; integer and bool operands give float64
        (PyTorch would return integers, or refuse bool); mixes follow
        ``np.result_type`` (float16 with float32 gives float32, int64 with
        float32 gives float64); complex is refused for now.  PyTorch, CuPy,
        JAX (any array-api-compat library) arrays in give that library's
        array out, computed on its device (see :mod:`tconv.arrayapi`); a Dask
        array gives a lazy Dask array (:mod:`tconv.distributed`).

    >>> X = np.array([[[[0., 1], [2, 3]]]]); K = np.array([[[[0., 1], [2, 3]]]])
    >>> conv_transpose(X, K)
    array([[[[ 0.,  0.,  1.],
             [ 0.,  4.,  6.],
             [ 4., 12.,  9.]]]])
    >>> conv_transpose(X, K, padding=1)
    array([[[[4.]]]])
    >>> conv_transpose(np.ones((1, 3)), np.ones((1, 1, 3)), stride=2, padding="same").shape
    (1, 6)
    """
    hyper = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups,
                 output_size=output_size, algorithm=algorithm)
    return _operator_for((x, weight, bias), transposed=True)(x, weight, bias, **hyper)


def conv(
    x: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    algorithm: str = "auto",
) -> np.ndarray:
    """Convolution (cross-correlation) with PyTorch's ``conv{1,2,3}d`` semantics, in N-d.

    ``weight`` is ``(C_out, C_in // groups, *kernel)``; ``padding`` adds zeros
    to the input: an int, per-dim ints, ``(before, after)`` pairs, ``"valid"``
    or ``"same"`` (``ceil(in / stride)`` outputs with the odd pad at the end:
    PyTorch's rule at stride 1, TensorFlow's at any stride).  The result
    dtype follows the same rule as :func:`conv_transpose`'s.
    :func:`conv_transpose` with the same weight and hyper-parameters is its
    exact adjoint.

    >>> conv(np.arange(9.).reshape(1, 1, 3, 3), np.array([[[[0., 1], [2, 3]]]]))
    array([[[[19., 25.],
             [37., 43.]]]])
    """
    hyper = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, algorithm=algorithm)
    return _operator_for((x, weight, bias), transposed=False)(x, weight, bias, **hyper)
