"""Gradients of ``conv_transpose`` and ``conv``, expressed through the operator itself.

A transposed convolution and a convolution with the same weight and
hyper-parameters are adjoint, so the gradient of one with respect to its
input *is* the other:

* ``y = conv_transpose(x, W)``  ->  ``dL/dx = conv(dL/dy, W)``
* ``y = conv(x, W)``            ->  ``dL/dx = conv_transpose(dL/dy, W)``
  (with the ``output_padding`` that restores ``x``'s size, which a stride may
  have dropped).

Both are :meth:`Geometry.adjoint() <tconv.params.Geometry.adjoint>` of the
forward geometry, run by :func:`tconv.ops.execute`: the adjoint's output is
exactly ``x``'s shape, so no size is derived here.  :func:`backward` takes a
validated geometry (a layer builds it once per input shape);
:func:`conv_transpose_backward` and :func:`conv_backward` validate their
arguments into one and call it.

The weight gradient pairs every small-side position ``i`` with every big-side
position ``o = i * stride + t * dilation - before`` (see
:mod:`tconv.algorithms.taps`) and sums ``small[i] * big[o]`` over the batch and
the positions: one GEMM over an im2col gather of the big side (or one smaller
product per kernel tap when that gather would not fit in memory).  The bias
gradient is the sum of ``grad_output`` over batch and space.

Boundary modes (``padding_mode``) need nothing of their own here: the
geometry carries the mode, its adjoint keeps it (a circular convolution's
input gradient is the circular transposed convolution, which folds the
wrapped border back), and :func:`tconv.ops.weight_gradient` pairs the small
side with the padded big side.

Complex operands follow ``torch.autograd``'s convention (checked against it): the gradients of the real
loss ``L = Re(sum(conj(grad_output) * f(x, weight, b)))``, for each complex operand ``z`` the value
``dL/d(Re z) + i dL/d(Im z)`` that ``z.grad`` holds after ``f(...).backward(grad_output)`` (twice the
conjugate Wirtinger derivative): the input gradient runs the adjoint with the *conjugated* weight, the weight
gradient pairs ``grad_output`` with the *conjugated* input, ``grad_bias`` is the sum of ``grad_output``.
For real operands this is the formula above.  Where an operand is real and another complex, the real
operand's gradient is the real part (as torch gives a real tensor that was cast to complex).

>>> import numpy as np
>>> x = np.array([[[[0., 1], [2, 3]]]]); K = np.array([[[[0., 1], [2, 3]]]])
>>> gx, gw, gb = conv_transpose_backward(np.ones((1, 1, 3, 3)), x, K)
>>> gx            # each input meets every tap once: the sum of K
array([[[[6., 6.],
         [6., 6.]]]])
>>> gw            # each tap meets every input once: the sum of x
array([[[[6., 6.],
         [6., 6.]]]])
>>> gb
array([9.])
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from . import ops
from ._layout import kernel_operand
from .params import Geometry, conv_geometry, conv_transpose_geometry
from ._validate import compute_dtype, numeric_array

Grads = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]

#: The adjoint of a geometry, derived once per geometry (a training loop meets the same few again and again).
_adjoint = lru_cache(maxsize=64)(Geometry.adjoint)


def _check_grad_output(grad_output: np.ndarray, geom: Geometry) -> None:
    if grad_output.shape != geom.result_shape:
        kind = "conv_transpose" if geom.transposed else "conv"
        raise ValueError(
            f"grad_output must have the shape of the {kind} result for this x and weight, "
            f"{geom.result_shape}, got {grad_output.shape}"
        )


def _batched(a: np.ndarray, geom: Geometry) -> np.ndarray:
    return a if geom.batched else a[np.newaxis]


def _check_bias_flag(bias: Any) -> bool:
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias must be True or False (whether to return grad_bias), got {type(bias).__name__}")
    return bool(bias)


def _conj(a: np.ndarray) -> np.ndarray:
    """``a`` conjugated where complex (a real ``a`` as it is, no copy)."""
    return a.conj() if np.iscomplexobj(a) else a


def _kind_of(grad: np.ndarray, operand: np.ndarray) -> np.ndarray:
    """``grad`` for a real ``operand``: its real part (a complex gradient of a real operand, as torch.autograd
    keeps a real leaf's gradient real); else as it is."""
    return np.ascontiguousarray(grad.real) if np.iscomplexobj(grad) and not np.iscomplexobj(operand) else grad


def _bias_grad(grad_output: np.ndarray) -> np.ndarray:
    axes = (0,) + tuple(range(2, grad_output.ndim))
    return grad_output.sum(axis=axes)


def backward(geom: Geometry, grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, bias: bool = True,
             algorithm: str = "auto") -> Grads:
    """Gradients of ``sum(grad_output * f(x, weight, b))`` where ``f`` is the operator ``geom`` describes.

    ``geom`` is the validated forward geometry (:mod:`tconv.params`) of ``x`` and ``weight``, NumPy arrays
    of the shapes it was built from; ``grad_output`` is a NumPy array of its result's shape.  The input
    gradient runs ``geom.adjoint()`` (with ``algorithm``), the weight gradient is
    :func:`tconv.ops.weight_gradient`; ``grad_bias`` is the sum of ``grad_output`` over batch and space,
    or None when ``bias`` is false.  The gradients' dtype is the NumPy promotion of ``grad_output``, ``x``
    and ``weight`` (see :func:`conv_transpose_backward`; complex: torch.autograd's convention, see the
    module docstring).

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 3), (1, 1, 2), np.float64, stride=2)
    >>> backward(g, np.arange(6.).reshape(1, 1, 6), np.ones((1, 1, 3)), np.array([[[1., 2.]]]))
    (array([[[ 2.,  8., 14.]]]), array([[[6., 9.]]]), array([15.]))
    """
    bias = _check_bias_flag(bias)
    _check_grad_output(grad_output, geom)
    dtype = compute_dtype(grad_output, x, weight)  # grad_output takes part in the promotion (and the working dtype)
    gy, xa, wa = (a.astype(dtype, copy=False) for a in (grad_output, x, weight))
    if dtype != geom.dtype:
        geom = replace(geom, dtype=dtype)
    work = ops.working_dtype(geom)
    gyb, xb = (kernel_operand(_batched(a, geom), work) for a in (gy, xa))  # sums independent of the layout
    shared = ops.transposed_gradients(geom, gy, wa, xa, algorithm)  # one im2col for both, where gemm runs both
    if shared is not None:
        grad_input, grad_weight = shared
    else:
        grad_input = ops.execute(_adjoint(geom), gy, _conj(wa), algorithm=algorithm)  # complex: conj, as torch
        small, big = (_conj(xb), gyb) if geom.transposed else (gyb, _conj(xb))
        grad_weight = ops.weight_gradient(geom, small, big)
    grad_input = grad_input.astype(dtype, copy=False)
    grad_weight = grad_weight.astype(dtype, copy=False)
    grad_bias = _bias_grad(gyb).astype(dtype, copy=False) if bias else None
    return _kind_of(grad_input, x), _kind_of(grad_weight, weight), grad_bias


def conv_transpose_backward(
    grad_output: Any,
    x: Any,
    weight: Any,
    *,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    bias: bool = True,
    padding_mode: str = "zeros",
) -> Grads:
    """Gradients of ``sum(grad_output * conv_transpose(x, weight, b, ...))``.

    Takes the hyper-parameters of :func:`tconv.conv_transpose` (``padding``
    as ints, ``(before, after)`` pairs, ``"same"`` or ``"valid"``).
    ``grad_output`` has the shape of the forward result (batched or unbatched
    like ``x``).  Returns ``(grad_input, grad_weight, grad_bias)`` shaped like
    ``x``, ``weight`` and the bias ``(C_out,)``; ``grad_bias`` is None when
    ``bias=False``.  The input gradient is :func:`tconv.conv` of
    ``grad_output`` with the same weight and hyper-parameters.
    The gradients' dtype is the NumPy promotion of ``grad_output``, ``x``
    and ``weight`` (float16 and bfloat16 computed in float32 and rounded
    once; integer and bool operands give float64, where torch.autograd
    refuses them).  ``padding_mode`` (``"zeros"``, ``"circular"``,
    ``"reflect"``, ``"replicate"``) is the forward call's: the input gradient
    is then :func:`tconv.conv` with that mode, the weight gradient pairs
    ``x`` with ``grad_output`` padded in that mode.  Complex operands give
    what ``torch.autograd`` gives for ``y.backward(grad_output)``: the input
    gradient with the conjugated weight, the weight gradient with the
    conjugated ``x``, ``grad_bias`` the sum of ``grad_output``; a real
    ``x`` or ``weight`` gets the real part.

    >>> x = np.ones((1, 1, 3)); w = np.array([[[1., 2.]]])
    >>> gx, gw, gb = conv_transpose_backward(np.arange(6.).reshape(1, 1, 6), x, w, stride=2)
    >>> gx, gw, gb
    (array([[[ 2.,  8., 14.]]]), array([[[6., 9.]]]), array([15.]))
    >>> gx, gw, gb = conv_transpose_backward(np.arange(4.).reshape(1, 1, 4), np.ones((1, 1, 4)),
    ...                                      np.array([[[1., 0., 0.]]]), padding=1, padding_mode="circular")
    >>> gx, gw    # grad_output read one step back, wrapped around
    (array([[[3., 0., 1., 2.]]]), array([[[6., 6., 6.]]]))
    """
    bias = _check_bias_flag(bias)
    gy, xa, wa = _operands(grad_output, x, weight)
    geom = conv_transpose_geometry(
        xa, wa, None, stride=stride, padding=padding, output_padding=output_padding,
        dilation=dilation, groups=groups, padding_mode=padding_mode,
    )
    return backward(geom, gy, xa, wa, bias)


def conv_backward(
    grad_output: Any,
    x: Any,
    weight: Any,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    bias: bool = True,
    padding_mode: str = "zeros",
) -> Grads:
    """Gradients of ``sum(grad_output * conv(x, weight, b, ...))``.

    Takes the hyper-parameters of :func:`tconv.conv`; returns
    ``(grad_input, grad_weight, grad_bias)`` shaped like ``x``, ``weight`` and
    ``(C_out,)`` (``grad_bias`` is None when ``bias=False``).  The input
    gradient is :func:`tconv.conv_transpose` of ``grad_output`` with the same
    weight and hyper-parameters, and the ``output_padding`` that gives back
    the rows a stride dropped (they get a zero gradient).
    The gradients' dtype follows the same rule as
    :func:`conv_transpose_backward`'s.  With ``padding_mode`` other than
    ``"zeros"`` the input gradient is :func:`tconv.conv_transpose` with that
    mode: the gradient that reached the padded border is folded back onto
    the entries it was copied from.  Complex operands: as
    :func:`conv_transpose_backward` (torch.autograd's convention, the
    other operand conjugated).

    >>> x = np.arange(5.).reshape(1, 1, 5); w = np.array([[[1., 2.]]])
    >>> gx, gw, gb = conv_backward(np.ones((1, 1, 2)), x, w, stride=2)
    >>> gx, gw, gb
    (array([[[1., 2., 1., 2., 0.]]]), array([[[2., 4.]]]), array([2.]))
    >>> gx, gw, gb = conv_backward(np.ones((1, 1, 4)), np.arange(4.).reshape(1, 1, 4), np.ones((1, 1, 3)),
    ...                            padding=1, padding_mode="replicate")
    >>> gx, gw    # every entry is read three times, an edge once through its border copy
    (array([[[3., 3., 3., 3.]]]), array([[[3., 6., 9.]]]))
    """
    bias = _check_bias_flag(bias)
    gy, xa, wa = _operands(grad_output, x, weight)
    geom = conv_geometry(xa, wa, None, stride=stride, padding=padding, dilation=dilation, groups=groups,
                         padding_mode=padding_mode)
    return backward(geom, gy, xa, wa, bias)


def _operands(grad_output: Any, x: Any, weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(numeric_array(a, name, complex_ok=True)  # type: ignore[return-value]
                 for a, name in ((grad_output, "grad_output"), (x, "x"), (weight, "weight")))
