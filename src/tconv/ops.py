"""The canonical operator: ``conv_transpose`` and ``conv`` on channels-first NumPy arrays.

Every call goes the same way: validate into a :class:`~tconv.params.Geometry`,
plan (pick the algorithm and check the memory budget), run the algorithm's
kernel, add the bias, cast to the result dtype.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from . import algorithms as registry
from . import arrayapi
from .layout import copy_bytes, kernel_operand
from .memory import SMALL_BYTES, Budget, reserve
from .params import Geometry, conv_geometry, conv_transpose_geometry
from .validate import numeric_array


def algorithm_names() -> tuple[str, ...]:
    """Names accepted by the ``algorithm`` argument (besides ``"auto"``).

    >>> algorithm_names()
    ('direct', 'gemm', 'phase', 'subpixel', 'nooverlap', 'depthwise', 'fft', 'winograd')
    """
    return registry.names()


def algorithms() -> tuple[str, ...]:
    """The earlier name of :func:`algorithm_names` (it hides the subpackage ``tconv.algorithms``; it goes).

    >>> algorithms() == algorithm_names()
    True
    """
    return algorithm_names()


def working_dtype(geom: Geometry) -> np.dtype:
    """The dtype the kernels compute in: the result dtype, at least float32."""
    return np.promote_types(geom.dtype, np.float32)


def _result_bytes(geom: Geometry) -> int:
    """The result in the working dtype, plus its cast to the result dtype only where that makes a copy
    (float16, bfloat16: computed in float32); the bias is added in place."""
    n = int(np.prod(geom.result_shape, dtype=object))
    work = working_dtype(geom)
    return n * (work.itemsize + (geom.dtype.itemsize if geom.dtype != work else 0))


def _needed_bytes(geom: Geometry, algorithm: registry.Algorithm, operands: tuple[np.ndarray, ...] = ()) -> int:
    """Result + the algorithm's workspace + the copies that bring ``operands`` into its layout + the small
    temporaries no formula follows (:data:`tconv.memory.SMALL_BYTES`)."""
    work = working_dtype(geom)
    copies = sum(copy_bytes(a, work, algorithm.layout) for a in operands)
    return _result_bytes(geom) + algorithm.workspace_bytes(geom, work.itemsize) + copies + SMALL_BYTES


ENV_AUTO = "TCONV_AUTO"
#: Winners measured by ``measure`` mode, per geometry (see :func:`tconv.explain`).
MEASURED: dict[Geometry, str] = {}


#: Environment variables that change which algorithms run or what they cost (part of ``ranked``'s cache key).
RANKING_ENVIRONMENT = ("TCONV_NUMBA", "TCONV_NUM_THREADS")


@functools.lru_cache(maxsize=1024)
def _ranked(geom: Geometry, environment: tuple[str | None, ...]) -> tuple[tuple[str, float], ...]:
    supported = [registry.get(name) for name in registry.names() if not registry.get(name).unsupported(geom)]
    return tuple(sorted(((a.name, float(a.cost(geom))) for a in supported), key=lambda item: item[1]))


def ranked(geom: Geometry) -> tuple[tuple[str, float], ...]:
    """Supported algorithms for ``geom`` with their predicted seconds, cheapest first.

    Cached per geometry and per value of the variables in :data:`RANKING_ENVIRONMENT`.
    """
    return _ranked(geom, tuple(os.environ.get(name) for name in RANKING_ENVIRONMENT))


ranked.cache_clear = _ranked.cache_clear  # type: ignore[attr-defined]  # after a calibration


def _auto_choice(geom: Geometry, budget: Budget, operands: tuple[np.ndarray, ...]) -> registry.Algorithm:
    """The cheapest ranked algorithm whose result + workspace fit; the leanest one's error if none fits."""
    kind = "conv_transpose" if geom.transposed else "conv"
    candidates = [registry.get(name) for name, _ in ranked(geom)]
    if geom in MEASURED:
        candidates.insert(0, registry.get(MEASURED[geom]))
    if len(operands) == 2:  # direct declines no values, so candidates stay
        candidates = [a for a in candidates if not a.declines_values(*operands)]
    for algorithm in candidates:
        if budget.fits(_needed_bytes(geom, algorithm, operands)):
            return algorithm
    smallest = min(candidates, key=lambda a: _needed_bytes(geom, a, operands))
    budget.check(_needed_bytes(geom, smallest, operands), f"{kind} (result + workspace of the leanest algorithm)")
    return smallest  # pragma: no cover - check_fits raised


def measure_mode() -> bool:
    """True when ``TCONV_AUTO=measure``: ``auto`` times every candidate once per new geometry."""
    value = os.environ.get(ENV_AUTO, "model")
    if value not in ("model", "measure"):
        raise ValueError(f"{ENV_AUTO} must be 'model' or 'measure', got {value!r}")
    return value == "measure"


def plan(geom: Geometry, algorithm: str = "auto", operands: tuple[np.ndarray, ...] = ()) -> registry.Algorithm:
    """Pick the algorithm for ``geom`` and make sure its memory fits.

    ``"auto"`` takes the cheapest supported algorithm (by the measured cost
    model of :mod:`tconv.algorithms.cost`, or by a timing measured earlier in
    ``measure`` mode) whose result plus workspace fit in the available memory.
    ``operands`` (input, weight) are the arrays the kernel will get: copies
    that bring them into the algorithm's layout count against the memory too.
    """
    kind = "conv_transpose" if geom.transposed else "conv"
    budget = Budget()  # the system's figures read at most once per call, and not for small calls
    budget.check(_result_bytes(geom), f"the {kind} result {geom.result_shape}")  # before any per-algorithm work
    if algorithm != "auto":
        chosen = registry.get(algorithm)
        reason = chosen.unsupported(geom) or (chosen.declines_values(*operands) if len(operands) == 2 else None)
        if reason:
            raise ValueError(f"algorithm {chosen.name!r} does not support {reason}")
        needed = _needed_bytes(geom, chosen, operands)
        budget.check(needed, f"{kind} with algorithm {chosen.name!r} (result + workspace)")
        return chosen
    return _auto_choice(geom, budget, operands)


def run_kernel(geom: Geometry, x: np.ndarray, weight: np.ndarray, algorithm: registry.Algorithm) -> np.ndarray:
    """Run ``algorithm``'s kernel on validated operands (no bias), in any dtype and memory layout.

    The operands are brought into the working dtype and the algorithm's layout
    here, once (:mod:`tconv.layout`); the kernel gets them batched.
    """
    work = working_dtype(geom)
    xb = kernel_operand(x if geom.batched else x[np.newaxis], work, algorithm.layout)
    kernel = algorithm.conv_transpose if geom.transposed else algorithm.conv
    return kernel(xb, kernel_operand(weight, work, algorithm.layout), geom)


def _execute(geom: Geometry, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, algorithm: str) -> np.ndarray:
    if algorithm == "auto" and geom not in MEASURED and measure_mode():
        from .explain import measure

        measure(geom, x, weight)
    chosen = plan(geom, algorithm, (x, weight))
    work = working_dtype(geom)
    with reserve(_needed_bytes(geom, chosen, (x, weight)), f"{'conv_transpose' if geom.transposed else 'conv'}"):
        y = run_kernel(geom, x, weight, chosen)
        if bias is not None:
            y += bias.astype(work, copy=False).reshape((geom.out_channels,) + (1,) * geom.ndim)
        y = y.astype(geom.dtype, copy=False)
    return y if geom.batched else y[0]


def _operands(x: Any, weight: Any, bias: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    return (
        numeric_array(x, "x"),
        numeric_array(weight, "weight"),
        None if bias is None else numeric_array(bias, "bias"),
    )


def _check_algorithm_name(algorithm: Any) -> str:
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
        algorithm: ``"auto"`` or a name from :func:`algorithm_names`.

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
    if arrayapi.any_foreign(x, weight, bias):  # PyTorch, CuPy, JAX, Dask, ...: computed in their namespace
        return arrayapi.conv_transpose(
            x, weight, bias, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
            groups=groups, output_size=output_size, algorithm=algorithm,
        )
    algorithm = _check_algorithm_name(algorithm)
    xa, wa, ba = _operands(x, weight, bias)
    geom = conv_transpose_geometry(
        xa, wa, ba, stride=stride, padding=padding, output_padding=output_padding,
        dilation=dilation, groups=groups, output_size=output_size,
    )
    return _execute(geom, xa, wa, ba, algorithm)


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
    if arrayapi.any_foreign(x, weight, bias):
        return arrayapi.conv(
            x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups, algorithm=algorithm
        )
    algorithm = _check_algorithm_name(algorithm)
    xa, wa, ba = _operands(x, weight, bias)
    geom = conv_geometry(xa, wa, ba, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return _execute(geom, xa, wa, ba, algorithm)
