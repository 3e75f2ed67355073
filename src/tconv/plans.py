"""Reusable plans: validate and plan a call once, then run it as often as a loop needs.

A training step or an iterative solver calls the same convolution thousands of times with operands of
the same shapes and dtypes.  :func:`plan_conv_transpose` and :func:`plan_conv` take the arguments of
:func:`tconv.conv_transpose` and :func:`tconv.conv` once: they validate them into a
:class:`~tconv.params.Geometry`, pick the algorithm (``"auto"``: the cost model, or a timing in
``TCONV_AUTO=measure`` mode) and check that its memory fits.  The returned :class:`Plan` is called with
new operands of the same shapes and dtypes and runs the chosen kernel directly: per call it only checks
that the operands match the plan, holds the call's bytes under the memory guard (concurrent calls still
count them) and runs the kernel, which is where the fixed cost of a small call was going
(``bench/call_overhead.py`` measures both).  A repeated small one-off call skips most of the planning
too (:func:`tconv.algorithms.planner.small_choice`); a plan still saves its validation and dispatch.

Results are those of the one-off call, bit for bit.  Operands in any memory layout are taken (a copy into
the kernel's layout is counted per call, as in the one-off call).  An algorithm that declines some values
(``fft``: an inf or a nan) is asked on every call; where it declines, an ``"auto"`` plan runs that call
as the one-off call would (the next algorithm), a plan of a named algorithm refuses it as the one-off call
does.  A plan runs NumPy arrays (array likes are converted); the public functions route PyTorch, CuPy,
JAX and Dask arrays instead.  Plans keep no state between calls: one plan may be called from several
threads at once.  Where the weight stays fixed, :meth:`Plan.bind` gives a :class:`BoundPlan` (a frozen copy
of the weight, called with ``x`` alone) that keeps the kernels' re-layouts of the weight across its calls.

>>> import numpy as np
>>> x, k = np.array([[[[0., 1], [2, 3]]]]), np.array([[[[0., 1], [2, 3]]]])
>>> p = plan_conv_transpose(x, k, stride=2)
>>> p
Plan(conv_transpose, x (1, 1, 2, 2) float64, weight (1, 1, 2, 2) float64 -> (1, 1, 4, 4) float64, algorithm 'nooverlap')
>>> p(x, k)[0, 0]
array([[0., 0., 0., 1.],
       [0., 0., 2., 3.],
       [0., 2., 0., 3.],
       [4., 6., 6., 9.]])
>>> p(x[..., :1], k)
Traceback (most recent call last):
...
ValueError: x has shape (1, 1, 2, 1) and dtype float64; this plan was made for shape (1, 1, 2, 2) and dtype float64 (make a new plan for other operands)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .algorithms import packs
from .algorithms.planner import measure_mode, needed_bytes, plan as choose, running_geometry, working_dtype, MEASURED
from .algorithms.registry import Algorithm
from .memory import Budget
from .ops import check_algorithm_name, execute, measure, operands, run_planned
from .params import Geometry, call_geometry, stand_in
from ._layout import copy_bytes


class Plan:
    """A validated, planned call of :func:`tconv.conv_transpose` or :func:`tconv.conv`, to run again on
    operands of the same shapes and dtypes (see the module's documentation).

    Attributes: ``geometry`` (the validated :class:`~tconv.params.Geometry`), ``algorithm`` (the name
    of the algorithm it runs; for complex operands or a boundary mode other than ``"zeros"``, that of
    the inner calls, chosen again per call), ``output_shape`` and ``dtype`` of the result.

    >>> import numpy as np
    >>> p = plan_conv(np.ones((2, 3, 8)), np.ones((4, 3, 3)), padding=1)
    >>> p.algorithm in ("direct", "gemm", "phase", "subpixel", "nooverlap", "depthwise", "fft"), p.output_shape
    (True, (2, 4, 8))
    >>> p(np.ones((2, 3, 8)), np.ones((4, 3, 3)))[0, 0, :3]
    array([6., 9., 9.])
    """

    def __init__(self, geometry: Geometry, signatures: tuple, requested: str, chosen: Algorithm) -> None:
        self.geometry = geometry
        self.algorithm = chosen.name
        self._signatures = signatures  # (shape, dtype) of x, weight, bias (None: no bias)
        self._requested = requested  # "auto" or a name: what the one-off call would be asked
        self._chosen = chosen
        # complex operands and boundary modes run through execute (they split or pad around inner calls)
        self._direct = geometry.direct
        self._work = working_dtype(geometry)
        self._fixed = needed_bytes(geometry, chosen) if self._direct else 0

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.geometry.result_shape

    @property
    def dtype(self) -> np.dtype:
        return self.geometry.dtype

    def __call__(self, x: Any, weight: Any, bias: Any = None) -> np.ndarray:
        """The planned operator on ``x``, ``weight`` (and ``bias`` where the plan has one): shapes and
        dtypes must be those the plan was made for."""
        xa, wa, ba = self._check(x, weight, bias)
        return self._run(xa, wa, ba)

    def _run(self, xa: np.ndarray, wa: np.ndarray, ba: np.ndarray | None) -> np.ndarray:
        """The planned call on checked operands."""
        if not self._direct or self._chosen.declines_values(xa, wa):
            return execute(self.geometry, xa, wa, ba, self._requested)
        layout = self._chosen.layout
        nbytes = self._fixed + copy_bytes(xa, self._work, layout) + copy_bytes(wa, self._work, layout)
        return run_planned(self.geometry, self._chosen, nbytes, xa, wa, ba)

    def bind(self, weight: Any, bias: Any = None) -> BoundPlan:
        """This plan with its weight (and bias) fixed: a :class:`BoundPlan`, called with ``x`` alone.

        The weight and bias are copied (frozen: later changes to the caller's arrays do not reach it), and
        the kernels' re-layouts of the weight are made on the first call and kept for the next ones
        (:mod:`tconv.algorithms.packs`), as an inference loop or a solver with a fixed operator wants.

        >>> import numpy as np
        >>> w = np.array([[[1., 2.]]])
        >>> f = plan_conv_transpose(np.ones((1, 1, 3)), w, stride=2).bind(w)
        >>> w[...] = 0  # the bound copy is not affected
        >>> f(np.array([[[1., 1., 1.]]]))
        array([[[1., 2., 1., 2., 1., 2.]]])
        """
        return BoundPlan(self, weight, bias)

    def _check(self, x: Any, weight: Any, bias: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The operands as NumPy arrays, after checking them against the plan's signatures."""
        if type(x) is not np.ndarray or type(weight) is not np.ndarray or not (bias is None or type(bias) is np.ndarray):
            x, weight, bias = operands(x, weight, bias, complex_ok=True)
        for name, a, signature in zip(("x", "weight", "bias"), (x, weight, bias), self._signatures):
            if a is None or signature is None:
                if (a is None) != (signature is None):
                    made = "with a bias" if a is None else "without a bias"
                    raise ValueError(f"bias is {'missing' if a is None else 'given'}; this plan was made {made}")
                continue
            if a.shape != signature[0] or a.dtype != signature[1]:
                operands(x, weight, bias, complex_ok=True)  # a non-numeric operand: its TypeError first
                raise ValueError(f"{name} has shape {a.shape} and dtype {a.dtype}; this plan was made for shape "
                                 f"{signature[0]} and dtype {signature[1]} (make a new plan for other operands)")
        return x, weight, bias

    def __repr__(self) -> str:
        kind = "conv_transpose" if self.geometry.transposed else "conv"
        parts = [f"{name} {sig[0]} {sig[1]}" for name, sig in zip(("x", "weight", "bias"), self._signatures)
                 if sig is not None]
        return (f"Plan({kind}, {', '.join(parts)} -> {self.output_shape} {self.dtype}, "
                f"algorithm {self.algorithm!r})")


class BoundPlan:
    """A :class:`Plan` with a frozen copy of its weight and bias (:meth:`Plan.bind`): ``f(x)`` runs
    ``plan(x, weight, bias)``, keeping the kernels' re-layouts of the weight from one call to the next.

    Results are the plan's, bit for bit.  The kept re-layouts (``gemm``'s channels-last weight blocks,
    ``subpixel``'s combined phase weight, the convolution blocks of :mod:`tconv.algorithms.blockconv`,
    ``winograd``'s and ``phase_winograd``'s transformed filters) stay with the bound plan, at most a few
    times the weight's bytes
    (:data:`tconv.algorithms.packs.STORE_SHARE`); ``fft``'s weight spectra, ``phase``'s and ``depthwise``'s
    small re-layouts are still made per call, as are all of them for complex operands and boundary
    modes other than zeros (their inner calls run on parts of the weight).  One bound plan may be called
    from several threads at once.

    Attributes: ``plan``, ``weight`` and ``bias`` (read-only copies; ``bias`` None without one).

    >>> import numpy as np
    >>> w = np.ones((2, 3, 3))
    >>> f = plan_conv_transpose(np.ones((1, 2, 4)), w, stride=2).bind(w)
    >>> f
    BoundPlan(conv_transpose, x (1, 2, 4) float64 -> (1, 3, 9) float64, algorithm 'gemm', weight (2, 3, 3) bound)
    >>> f(np.ones((1, 2, 4)))[0, 0]
    array([2., 2., 4., 2., 4., 2., 4., 2., 2.])
    """

    def __init__(self, plan: Plan, weight: Any, bias: Any = None) -> None:
        _, wa, ba = plan._check(stand_in(*plan._signatures[0]), weight, bias)  # weight and bias against the plan
        self.plan = plan
        self.weight, self.bias = _frozen(wa), None if ba is None else _frozen(ba)
        self._store = packs.Store(self.weight) if plan.geometry.whole_weight else None

    def __call__(self, x: Any) -> np.ndarray:
        """The bound operator on ``x`` (of the plan's shape and dtype)."""
        shape, dtype = self.plan._signatures[0]
        if type(x) is not np.ndarray or x.shape != shape or x.dtype != dtype:
            x = self.plan._check(x, self.weight, self.bias)[0]  # converts, or says what does not match
        with packs.keeping(self._store):  # the weight and bias were checked by bind
            return self.plan._run(x, self.weight, self.bias)

    def __repr__(self) -> str:
        kind = "conv_transpose" if self.plan.geometry.transposed else "conv"
        shape, dtype = self.plan._signatures[0]
        bound = f"weight {self.weight.shape} bound" + (", bias bound" if self.bias is not None else "")
        return (f"BoundPlan({kind}, x {shape} {dtype} -> {self.plan.output_shape} {self.plan.dtype}, "
                f"algorithm {self.plan.algorithm!r}, {bound})")


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous copy of ``a``."""
    copy = np.array(a, order="C", copy=True)
    copy.flags.writeable = False
    return copy


def _make(transposed: bool, x: Any, weight: Any, bias: Any, algorithm: str, hyper: dict) -> Plan:
    requested = check_algorithm_name(algorithm)
    xa, wa, ba = operands(x, weight, bias, complex_ok=True)
    geom = call_geometry(transposed, xa, wa, ba, **hyper)
    direct = geom.direct
    if direct and requested == "auto" and geom not in MEASURED and measure_mode():
        measure(geom, xa, wa)
    # complex operands and boundary modes: the memory of the whole call checked, values asked per call;
    # a stride that divides its dilation: the algorithm its stride-1 problem runs
    chosen = choose(running_geometry(geom), requested, (xa, wa) if direct else (), Budget())
    signatures = tuple(None if a is None else (a.shape, a.dtype) for a in (xa, wa, ba))
    return Plan(geom, signatures, requested, chosen)


def plan_conv_transpose(x: Any, weight: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                        output_padding: Any = 0, dilation: Any = 1, groups: int = 1, output_size: Any = None,
                        padding_mode: str = "zeros", algorithm: str = "auto") -> Plan:
    """A :class:`Plan` of ``tconv.conv_transpose(x, weight, bias, ...)`` with these arguments, for operands of
    the shapes and dtypes of ``x``, ``weight`` and ``bias`` (their values are not kept).

    >>> import numpy as np
    >>> p = plan_conv_transpose(np.ones((1, 4, 8)), np.ones((4, 2, 3)), stride=2, padding=1)
    >>> p.output_shape, p(np.ones((1, 4, 8)), np.ones((4, 2, 3)))[0, 0, :4]
    ((1, 2, 15), array([4., 8., 4., 8.]))
    """
    return _make(True, x, weight, bias, algorithm, dict(
        stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups,
        output_size=output_size, padding_mode=padding_mode))


def plan_conv(x: Any, weight: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
              groups: int = 1, padding_mode: str = "zeros", algorithm: str = "auto") -> Plan:
    """A :class:`Plan` of ``tconv.conv(x, weight, bias, ...)`` with these arguments, for operands of the shapes
    and dtypes of ``x``, ``weight`` and ``bias``.

    >>> import numpy as np
    >>> p = plan_conv(np.ones((1, 1, 4)), np.ones((1, 1, 2)))
    >>> p(np.arange(4.).reshape(1, 1, 4), np.ones((1, 1, 2)))
    array([[[1., 3., 5.]]])
    """
    return _make(False, x, weight, bias, algorithm, dict(
        stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode))
