"""The canonical operator: ``conv_transpose`` and ``conv`` on channels-first NumPy arrays.

Every call goes the same way: validate into a :class:`~tconv.params.Geometry`,
plan (pick the algorithm and check the memory budget), run the algorithm's
kernel, add the bias, cast to the result dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import algorithms as registry
from .layout import copy_bytes, kernel_operand
from .algorithms.planner import (
    MEASURED, RANKING_ENVIRONMENT, measure_mode, needed_bytes, plan, ranked, result_bytes, working_dtype,
)
from .algorithms.weight_grad import weight_grad
from .memory import SMALL_BYTES, Budget, available_bytes, reserve
from .params import Geometry, conv_geometry, conv_transpose_geometry
from .timing import best_time
from .validate import numeric_array


def algorithm_names() -> tuple[str, ...]:
    """Names accepted by the ``algorithm`` argument (besides ``"auto"``).

    >>> algorithm_names()
    ('direct', 'gemm', 'phase', 'subpixel', 'nooverlap', 'depthwise', 'fft', 'winograd')
    """
    return registry.names()


def run_kernel(geom: Geometry, x: np.ndarray, weight: np.ndarray, algorithm: registry.Algorithm) -> np.ndarray:
    """Run ``algorithm``'s kernel on validated operands (no bias), in any dtype and memory layout.

    The operands are brought into the working dtype and the algorithm's layout
    here, once (:mod:`tconv.layout`); the kernel gets them batched.
    """
    work = working_dtype(geom)
    xb = kernel_operand(x if geom.batched else x[np.newaxis], work, algorithm.layout)
    kernel = algorithm.conv_transpose if geom.transposed else algorithm.conv
    return kernel(xb, kernel_operand(weight, work, algorithm.layout), geom)


def execute(geom: Geometry, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
            algorithm: str = "auto") -> np.ndarray:
    """Run the operator ``geom`` describes on NumPy operands that match it: the one door into the kernels.

    ``geom`` comes from :mod:`tconv.params` (a layer builds it once per input shape); ``x``, ``weight`` and
    ``bias`` are NumPy arrays of the shapes it was built from, in any dtype and memory layout.  Plans (the
    algorithm, the memory guard), runs the kernel, adds the bias and casts to ``geom.dtype``.

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
    >>> execute(g, np.array([[[1., 2.]]]), np.array([[[1., 1.]]]))
    array([[[1., 3., 2.]]])
    """
    algorithm = check_algorithm_name(algorithm)
    if algorithm == "auto" and geom not in MEASURED and measure_mode():
        measure(geom, x, weight)
    chosen = plan(geom, algorithm, (x, weight))
    work = working_dtype(geom)
    with reserve(needed_bytes(geom, chosen, (x, weight)), f"{'conv_transpose' if geom.transposed else 'conv'}"):
        y = run_kernel(geom, x, weight, chosen)
        if bias is not None:
            y += bias.astype(work, copy=False).reshape((geom.out_channels,) + (1,) * geom.ndim)
        y = y.astype(geom.dtype, copy=False)
    return y if geom.batched else y[0]


def weight_gradient(geom: Geometry, small: np.ndarray, big: np.ndarray, method: str = "auto") -> np.ndarray:
    """The gradient of ``geom``'s weight: ``sum small[:, a, i] * big[:, b, o]`` over batch and paired positions.

    ``small`` and ``big`` are batched ``(N, C, *spatial)`` arrays of the two sides (for a transposed
    convolution: its input and the output gradient; for a convolution: the output gradient and its input);
    the result has the weight's layout.  The operands are brought into the working dtype and C order first,
    so the sums do not depend on the caller's memory layout.

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
    >>> weight_gradient(g, np.ones((1, 1, 2)), np.arange(3.).reshape(1, 1, 3))
    array([[[1., 3.]]])
    """
    work = working_dtype(geom)
    return weight_grad(kernel_operand(small, work), kernel_operand(big, work), geom, method)


#: ``measure`` skips algorithms predicted this many times slower than the best prediction.
HOPELESS_RATIO = 8.0


def measure(geom: Geometry, x: np.ndarray, weight: np.ndarray, repeats: int = 2) -> dict[str, float]:
    """Time every supported algorithm that fits on these operands; remember the fastest for ``geom``."""
    limit = available_bytes()
    times: dict[str, float] = {}
    ranking = ranked(geom)
    best_predicted = min(cost for name, cost in ranking if name != "direct") if len(ranking) > 1 else 0
    for name, predicted in ranking:
        algorithm = registry.get(name)
        if name == "direct" and len(ranking) > 1:
            continue  # the reference is never the fastest; skip its (possibly long) run
        if times and predicted > HOPELESS_RATIO * best_predicted:
            continue  # predicted far slower than the best: not worth running
        if algorithm.declines_values(x, weight):
            continue  # e.g. fft on inf / nan: it refuses them
        if needed_bytes(geom, algorithm, (x, weight)) <= limit:  # the warm-up call also faults in the memory
            times[name] = best_time(lambda: run_kernel(geom, x, weight, algorithm), repeats, warmup=True)
    if times:
        MEASURED[geom] = min(times, key=times.get)
    return times


def operands(x: Any, weight: Any, bias: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    return (
        numeric_array(x, "x"),
        numeric_array(weight, "weight"),
        None if bias is None else numeric_array(bias, "bias"),
    )


def check_algorithm_name(algorithm: Any) -> str:
    if algorithm == "auto":
        return "auto"
    return registry.get(algorithm).name


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
    """The NumPy transposed convolution: validate into a Geometry, then :func:`execute`.

    Arguments and result as :func:`tconv.conv_transpose` (which also routes other libraries' arrays);
    ``x``, ``weight`` and ``bias`` are NumPy arrays or array-likes.

    >>> conv_transpose(np.array([[[0., 1, 2]]]), np.array([[[1., 1]]]), stride=2)
    array([[[0., 0., 1., 1., 2., 2.]]])
    """
    algorithm = check_algorithm_name(algorithm)
    xa, wa, ba = operands(x, weight, bias)
    geom = conv_transpose_geometry(
        xa, wa, ba, stride=stride, padding=padding, output_padding=output_padding,
        dilation=dilation, groups=groups, output_size=output_size,
    )
    return execute(geom, xa, wa, ba, algorithm)


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
    """The NumPy convolution: validate into a Geometry, then :func:`execute`.

    Arguments and result as :func:`tconv.conv`; ``x``, ``weight`` and ``bias`` are NumPy arrays or
    array-likes.

    >>> conv(np.array([[[0., 1, 2]]]), np.array([[[1., 1]]]))
    array([[[1., 3.]]])
    """
    algorithm = check_algorithm_name(algorithm)
    xa, wa, ba = operands(x, weight, bias)
    geom = conv_geometry(xa, wa, ba, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return execute(geom, xa, wa, ba, algorithm)
