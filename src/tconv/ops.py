"""The canonical operator: ``conv_transpose`` and ``conv`` on channels-first NumPy arrays.

Every call goes the same way: validate into a :class:`~tconv.params.Geometry`,
plan (pick the algorithm and check the memory budget), run the algorithm's
kernel, add the bias, cast to the result dtype.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from . import algorithms as registry
from . import boundary
from ._layout import copy_bytes, kernel_operand
from .algorithms.planner import (
    MEASURED, boundary_bytes, complex_bytes, measure_mode, needed_bytes, plan, ranked, real_geometry, result_bytes,
    running_geometry, small_choice, working_dtype,
)
from .algorithms.weight_grad import SHARED_BACKWARDS, shared_backward, weight_grad
from .algorithms.weight_grad import workspace_bytes as weight_grad_bytes
from .memory import Budget, available_bytes, reserve
from .params import Geometry, call_geometry
from ._timing import best_time
from ._validate import numeric_array


def algorithm_names() -> tuple[str, ...]:
    """Names accepted by the ``algorithm`` argument (besides ``"auto"``).

    >>> algorithm_names()
    ('direct', 'gemm', 'phase', 'subpixel', 'nooverlap', 'depthwise', 'fft', 'winograd', 'phase_winograd')
    """
    return registry.names()


def run_kernel(geom: Geometry, x: np.ndarray, weight: np.ndarray, algorithm: registry.Algorithm) -> np.ndarray:
    """Run ``algorithm``'s kernel on validated operands (no bias), in any dtype and memory layout.

    The operands are brought into the working dtype and the algorithm's layout
    here, once (:mod:`tconv._layout`); the kernel gets them batched.
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
    algorithm, the memory guard), runs the kernel, adds the bias and casts to ``geom.dtype``.  A
    ``geom.boundary`` other than zeros runs its :meth:`~tconv.params.Geometry.kernel_geometry` around
    :func:`tconv.boundary.pad` (a convolution's input, before) or :func:`tconv.boundary.fold` (a transposed
    convolution's output, after; the bias after the fold), with any algorithm.  Complex operands (a
    complex ``geom.dtype``) run as real calls on their real and imaginary parts (:func:`bilinear`), so every
    algorithm and mode takes them too.  A stride that divides its dilation runs the stride-1 operator on the
    big-side positions the taps meet (:meth:`~tconv.params.Geometry.subsampled`).

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
    >>> execute(g, np.array([[[1., 2.]]]), np.array([[[1., 1.]]]))
    array([[[1., 3., 2.]]])
    """
    algorithm = check_algorithm_name(algorithm)
    if geom.dtype.kind == "c":
        return _execute_complex(geom, x, weight, bias, algorithm)
    if geom.boundary != "zeros":
        return _execute_boundary(geom, x, weight, bias, algorithm)
    if running_geometry(geom) is not geom:
        return _execute_subsampled(geom, x, weight, bias, algorithm)
    chosen, nbytes, room = _planned(geom, algorithm, x, weight)
    return run_planned(geom, chosen, nbytes, x, weight, bias, room)


def _planned(geom: Geometry, algorithm: str, x: np.ndarray,
             weight: np.ndarray) -> tuple[registry.Algorithm, int, int | None]:
    """The algorithm for a direct ``geom`` on these operands, the bytes its call holds and the reading of the
    system taken while planning (None: not read): a small call's remembered choice, or a plan (measured
    first in measure mode)."""
    small = small_choice(geom, algorithm, (x, weight))
    if small is not None:  # planned before, and nothing it depends on has changed
        return small[0], small[1], None
    if algorithm == "auto" and geom not in MEASURED and measure_mode():
        measure(geom, x, weight)
    budget = Budget()
    chosen = plan(geom, algorithm, (x, weight), budget)
    return chosen, needed_bytes(geom, chosen, (x, weight)), budget.room


def transposed_gradients(geom: Geometry, grad_output: np.ndarray, weight: np.ndarray, x: np.ndarray,
                         algorithm: str = "auto") -> tuple[np.ndarray, np.ndarray] | None:
    """A transposed convolution's input and weight gradients from one gather of ``grad_output``, where the
    input gradient's convolution plans the algorithm whose gather the weight gradient runs on
    (:func:`~tconv.algorithms.weight_grad.shared_backward`: ``gemm``'s im2col,
    :func:`~tconv.algorithms.gemm.conv_and_weight_grad`, or ``winograd``'s transformed blocks,
    :func:`~tconv.algorithms.winograd.conv_and_weight_grad`), also under ``"auto"`` where the convolution
    alone would plan another algorithm; None where they run apart (another weight-gradient kernel, an
    algorithm named for the convolution, or the pair's memory not available).

    ``geom`` is the transposed convolution (real, zero padding; where a stride divides its dilation, the
    stride-1 problem on the output positions its taps meet, as :func:`execute` runs it) and ``grad_output``,
    ``weight``, ``x`` NumPy arrays of its shapes in its dtype; the result is ``(grad_input, grad_weight)`` in
    the working dtype,
    ``grad_input`` unbatched when ``geom`` is.  Planned, guarded and run like :func:`execute`'s convolution,
    with the weight gradient's bytes added to the reservation.

    >>> from tconv.params import geometry_from_shapes
    >>> x, w, gy = np.ones((1, 2, 3)), np.ones((2, 1, 2)), np.arange(6.).reshape(1, 1, 6)
    >>> g = geometry_from_shapes(True, x.shape, w.shape, np.float64, stride=2)
    >>> gx, gw = transposed_gradients(g, gy, w, x, "gemm")
    >>> gx.tolist(), gw[:, 0].tolist()
    ([[[1.0, 5.0, 9.0], [1.0, 5.0, 9.0]]], [[6.0, 9.0], [6.0, 9.0]])
    """
    work = working_dtype(geom)
    if geom.transposed and running_geometry(geom) is not geom:  # the stride-1 problem, as execute runs it
        geom, picks = _stride_one(geom)
        grad_output = grad_output[picks]
    shared = shared_backward(geom, work) if geom.transposed and geom.direct else None
    if shared is None or algorithm not in ("auto", shared):
        return None
    chosen, nbytes, room = _planned(geom.adjoint(), algorithm, grad_output, weight)
    if chosen.name != shared:
        # auto's convolution alone plans another algorithm (phase_winograd on DCGAN's layers): the pair still
        # wins, its one gather saving the weight gradient's own (measured: dcgan_4's transposed gradients 70 ms
        # shared, 82 ms with phase_winograd's convolution and gemm's weight gradient apart)
        try:
            chosen, nbytes, room = _planned(geom.adjoint(), shared, grad_output, weight)
        except ValueError:  # its memory is not available (the guard's refusal): run them apart
            return None
    kernels = SHARED_BACKWARDS[shared]
    batch = (lambda a: a) if geom.batched else (lambda a: a[np.newaxis])
    gy, xb = (kernel_operand(batch(a), work) for a in (grad_output, x))
    with reserve(nbytes + kernels.backward_bytes(geom, work.itemsize), "conv_transpose backward", room):
        grad_input, grad_weight = kernels.conv_and_weight_grad(gy, kernel_operand(weight, work), xb, geom)
    return (grad_input if geom.batched else grad_input[0]), grad_weight


def run_planned(geom: Geometry, chosen: registry.Algorithm, nbytes: int, x: np.ndarray, weight: np.ndarray,
                bias: np.ndarray | None = None, room: int | None = None) -> np.ndarray:
    """The part of :func:`execute` after planning, for a real ``geom`` with zero padding: hold ``nbytes``
    (:func:`~tconv.algorithms.planner.needed_bytes` of ``chosen`` on these operands) under the memory guard
    (``room``: a reading of the system just taken, or None to read it when the bytes are not trivial), run
    ``chosen``'s kernel, add the bias, cast to ``geom.dtype``, unbatch.

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
    >>> run_planned(g, registry.get("direct"), 64, np.array([[[1., 2.]]]), np.array([[[1., 1.]]]))
    array([[[1., 3., 2.]]])
    """
    work = working_dtype(geom)
    kind = "conv_transpose" if geom.transposed else "conv"
    with reserve(nbytes, kind, room):  # one reading of the system
        y = run_kernel(geom, x, weight, chosen)
        if bias is not None:
            y += bias.astype(work, copy=False).reshape((geom.out_channels,) + (1,) * geom.ndim)
        y = y.astype(geom.dtype, copy=False)
    return y if geom.batched else y[0]


def complex_parts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(real part, imaginary part)`` of ``a`` as views, the imaginary part None for a real ``a``."""
    return (a.real, a.imag) if np.iscomplexobj(a) else (a, None)


def bilinear(real_call: Any, a: np.ndarray, b: np.ndarray, dtype: Any) -> np.ndarray:
    """``f(a, b)`` in complex ``dtype`` for a bilinear ``f`` (no conjugation) from ``real_call``, ``f`` on
    real operands: ``f(ar + i ai, br + i bi) = f(ar, br) - f(ai, bi) + i (f(ar, bi) + f(ai, br))``.

    Four real calls (two where one operand is real), each added into the result as it comes, so one real
    result is alive beside the complex one; as exact as the real calls (Gauss's three-call form would
    cancel: ``f(ar + ai, br) - f(ai, br + bi)``).

    >>> bilinear(np.multiply, np.array([1 + 2j]), np.array([3 - 1j]), np.complex128)
    array([5.+5.j])
    """
    out = None
    for i, pa in enumerate(complex_parts(a)):
        for j, pb in enumerate(complex_parts(b)):
            if pa is None or pb is None:
                continue
            part = real_call(pa, pb)
            if out is None:
                out = np.zeros(part.shape, dtype)
            target = out.imag if i != j else out.real
            if i == j == 1:
                target -= part
            else:
                target += part
            del part
    return out


def _execute_complex(geom: Geometry, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                     algorithm: str) -> np.ndarray:
    """Complex operands: the real calls of :func:`~tconv.algorithms.planner.real_geometry` on the parts
    (:func:`bilinear`, with any boundary mode and algorithm), then the bias."""
    real = real_geometry(geom)
    kind = "conv_transpose" if geom.transposed else "conv"
    with reserve(complex_bytes(geom), f"{kind} with complex operands (the complex result)"):
        y = bilinear(lambda a, w: execute(real, a, w, None, algorithm), x, weight, geom.dtype)
        if bias is not None:
            y += bias.astype(geom.dtype, copy=False).reshape((geom.out_channels,) + (1,) * geom.ndim)
    return y


def _execute_boundary(geom: Geometry, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                      algorithm: str) -> np.ndarray:
    """A boundary mode around the zero-padding kernel: a convolution pads ``x`` and runs the kernel
    geometry; a transposed convolution runs it to the padded size, folds, then adds the bias."""
    inner, pairs, work = geom.kernel_geometry(), geom.boundary_pairs, working_dtype(geom)
    kind = "conv_transpose" if geom.transposed else "conv"
    with reserve(boundary_bytes(geom), f"{kind} with padding_mode={geom.boundary!r} (its padded copy)"):
        if not geom.transposed:
            return execute(inner, boundary.pad(x, pairs, geom.boundary, dtype=work), weight, bias, algorithm)
        full = execute(replace(inner, dtype=work), x, weight, None, algorithm)  # the padded size, not cast
        y = boundary.fold(full, pairs, geom.boundary, overwrite=True)
        del full
        if bias is not None:
            y += bias.astype(work, copy=False).reshape((geom.out_channels,) + (1,) * geom.ndim)
        return y.astype(geom.dtype, copy=False)


def _execute_subsampled(geom: Geometry, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                        algorithm: str) -> np.ndarray:
    """A stride that divides its dilation (:meth:`~tconv.params.Geometry.subsampled`): the operator on the
    big-side positions its taps meet, with stride 1 there (``algorithm`` planned for that geometry); a
    convolution reads ``x`` at those positions, a transposed convolution writes its result there into
    zeros, then the bias.  The same sums as the strided operator, in a smaller problem."""
    reduced, picks = _stride_one(geom)
    if not geom.transposed:
        return execute(reduced, x[picks], weight, bias, algorithm)
    with reserve(result_bytes(geom), "conv_transpose (the result around its stride-1 part)"):
        y = np.zeros(geom.result_shape, dtype=geom.dtype)
        y[picks] = execute(reduced, x, weight, None, algorithm)
        if bias is not None:
            y += bias.astype(geom.dtype, copy=False).reshape((geom.out_channels,) + (1,) * geom.ndim)
    return y


def _stride_one(geom: Geometry) -> tuple[Geometry, tuple[slice, ...]]:
    """``geom``'s :meth:`~tconv.params.Geometry.subsampled` stride-1 geometry, and the index that picks its
    big-side positions from an array laid out as ``geom``'s big side (batched or not)."""
    reduced, picks = geom.subsampled()
    return reduced, (slice(None),) * (2 if geom.batched else 1) + picks


def weight_gradient(geom: Geometry, small: np.ndarray, big: np.ndarray, method: str = "auto") -> np.ndarray:
    """The gradient of ``geom``'s weight: ``sum small[:, a, i] * big[:, b, o]`` over batch and paired positions.

    ``small`` and ``big`` are batched ``(N, C, *spatial)`` arrays of the two sides (for a transposed
    convolution: its input and the output gradient; for a convolution: the output gradient and its input);
    the result has the weight's layout (complex sides are paired without conjugation: the bilinear sum;
    the gradients conjugate first, see :mod:`tconv.grad`).  The operands are brought into the working
    dtype and C order first, so the sums do not depend on the caller's memory layout.  The memory guard
    reserves those copies and the kernel's workspace and result first, whatever the ``method`` (the guard's
    ``ValueError``, nothing allocated, where they would not fit).

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
    >>> weight_gradient(g, np.ones((1, 1, 2)), np.arange(3.).reshape(1, 1, 3))
    array([[[1., 3.]]])
    """
    work = working_dtype(geom)
    if geom.dtype.kind == "c":  # real calls on the parts, as execute
        return bilinear(lambda s, b: weight_gradient(real_geometry(geom), s, b, method), small, big, work)
    if geom.boundary != "zeros":  # the kernel geometry pairs ``small`` with the padded big side
        big, geom = boundary.pad(big, geom.boundary_pairs, geom.boundary, dtype=work), geom.kernel_geometry()
    if geom.subsampled() is not None:  # only the big positions the taps meet pair with ``small``
        geom, picks = geom.subsampled()
        big = big[(slice(None), slice(None)) + picks]
    nbytes = copy_bytes(small, work) + copy_bytes(big, work) + weight_grad_bytes(geom, work, method)
    with reserve(nbytes, "the weight gradient (operand copies, workspace and result)"):
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


def operands(x: Any, weight: Any, bias: Any,
             complex_ok: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``x``, ``weight`` and ``bias`` as NumPy arrays of numbers (complex ones only where ``complex_ok``)."""
    return (
        numeric_array(x, "x", complex_ok=complex_ok),
        numeric_array(weight, "weight", complex_ok=complex_ok),
        None if bias is None else numeric_array(bias, "bias", complex_ok=complex_ok),
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
    padding_mode: str = "zeros",
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
        padding_mode: ``"zeros"`` (PyTorch's operator), ``"circular"``,
            ``"reflect"`` or ``"replicate"``: the result is the exact adjoint
            of :func:`conv` with that ``padding_mode``, the same ``padding``
            and weight, on an input of this call's output size.  The kernel
            writes the output extended by ``padding`` and the border is
            folded back onto the entries the convolution's padding copies
            (wrapped around, mirrored or added onto the edge); the bias comes
            after.  ``padding`` must fit the output as the convolution's pad
            must fit its input: reflect ``< size``, circular ``<= size``.
            With ``padding="same"`` it is the adjoint of :func:`conv` with
            ``padding="same"`` on ``in * stride`` entries.  (Where
            ``output_padding >= stride``, possible only with a larger
            dilation, the convolution has more outputs than this call has
            inputs: it is the adjoint of their first ones.)
        algorithm: ``"auto"`` or a name from :func:`algorithm_names`; every
            algorithm runs every ``padding_mode``.

    Returns:
        ``(N, C_out, *out)`` (unbatched in -> unbatched out), dtype by NumPy
        promotion of ``x``, ``weight`` and ``bias``: float32 -> float32,
        float64 -> float64; float16 and ``ml_dtypes.bfloat16`` are computed in
        float32 and rounded once; integer and bool operands give float64
        (PyTorch would return integers, or refuse bool); mixes follow
        ``np.result_type`` (float16 with float32 gives float32, int64 with
        float32 gives float64).  Complex operands (any mix with real ones)
        give complex64 (with float32 or less) or complex128: the operator is
        bilinear, as PyTorch's complex convolutions (no conjugation), and
        runs as real calls on the real and imaginary parts, so every
        algorithm and ``padding_mode`` takes them.  PyTorch, CuPy,
        JAX (any array-api-compat library) arrays in give that library's
        array out, computed on its device (see :mod:`tconv.arrayapi`); a Dask
        array gives a lazy Dask array (:mod:`tconv.distributed`): the public
        ``tconv.conv_transpose`` routes them, this NumPy operator takes NumPy
        arrays and array likes.

    >>> X = np.array([[[[0., 1], [2, 3]]]]); K = np.array([[[[0., 1], [2, 3]]]])
    >>> conv_transpose(X, K)
    array([[[[ 0.,  0.,  1.],
             [ 0.,  4.,  6.],
             [ 4., 12.,  9.]]]])
    >>> conv_transpose(X, K, padding=1)
    array([[[[4.]]]])
    >>> conv_transpose(np.ones((1, 3)), np.ones((1, 1, 3)), stride=2, padding="same").shape
    (1, 6)

    A circular boundary wraps the cropped border around (a periodic signal's adjoint):

    >>> conv_transpose(np.array([[[1., 0, 0, 0]]]), np.array([[[1., 2, 3]]]), padding=1, padding_mode="circular")
    array([[[2., 3., 0., 1.]]])
    >>> conv_transpose(np.array([[[1., 0, 0, 0]]]), np.array([[[1., 2, 3]]]), padding=1, padding_mode="replicate")
    array([[[3., 3., 0., 0.]]])
    """
    algorithm = check_algorithm_name(algorithm)
    xa, wa, ba = operands(x, weight, bias, complex_ok=True)
    geom = call_geometry(
        True, xa, wa, ba, stride=stride, padding=padding, output_padding=output_padding,
        dilation=dilation, groups=groups, output_size=output_size, padding_mode=padding_mode,
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
    padding_mode: str = "zeros",
    algorithm: str = "auto",
) -> np.ndarray:
    """Convolution (cross-correlation) with PyTorch's ``conv{1,2,3}d`` semantics, in N-d.

    ``weight`` is ``(C_out, C_in // groups, *kernel)``; ``padding`` adds zeros
    to the input: an int, per-dim ints, ``(before, after)`` pairs, ``"valid"``
    or ``"same"`` (``ceil(in / stride)`` outputs with the odd pad at the end:
    PyTorch's rule at stride 1, TensorFlow's at any stride).  The result
    dtype follows the same rule as :func:`conv_transpose`'s.
    Complex operands are taken, as by :func:`conv_transpose` (bilinear, no
    conjugation, as PyTorch's complex convolutions).
    ``padding_mode`` is what the padding holds, as for PyTorch's ``Conv*d``
    layers: ``"zeros"``, or the input continued past its edges by
    ``torch.nn.functional.pad`` in mode ``"circular"`` (periodic; padding at
    most the input size), ``"reflect"`` (mirrored without repeating the edge;
    padding smaller than the input size) or ``"replicate"`` (the edge
    repeated), the same placement for ``"same"``.
    :func:`conv_transpose` with the same weight, hyper-parameters and
    ``padding_mode`` is its exact adjoint.

    >>> conv(np.arange(9.).reshape(1, 1, 3, 3), np.array([[[[0., 1], [2, 3]]]]))
    array([[[[19., 25.],
             [37., 43.]]]])
    >>> conv(np.array([[[1., 2, 3, 4]]]), np.array([[[1., 0, 0]]]), padding=1, padding_mode="circular")
    array([[[4., 1., 2., 3.]]])
    >>> conv(np.array([[[1., 2, 3, 4]]]), np.array([[[1., 0, 0]]]), padding=1, padding_mode="reflect")
    array([[[2., 1., 2., 3.]]])
    >>> conv(np.array([[[1j, 2.]]]), np.array([[[1j, 1.]]]))   # bilinear: no conjugation
    array([[[1.+0.j]]])
    """
    algorithm = check_algorithm_name(algorithm)
    xa, wa, ba = operands(x, weight, bias, complex_ok=True)
    geom = call_geometry(False, xa, wa, ba, stride=stride, padding=padding, dilation=dilation, groups=groups,
                         padding_mode=padding_mode)
    return execute(geom, xa, wa, ba, algorithm)
