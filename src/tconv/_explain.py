"""Which algorithm ``"auto"`` runs for a call, and why.

:func:`explain` validates a call exactly as :func:`tconv.conv_transpose` (or
:func:`tconv.conv` with ``op="conv"``) would, and reports every registered
algorithm: whether it supports the call (and the reason if not), its
predicted time from the cost model, its workspace, whether it fits in the
memory guard, and -- with ``measure=True`` -- its measured time on the given
operands.  In measure mode the fastest measured algorithm is remembered for
that geometry, so later ``"auto"`` calls with the same shapes use it.

The operands may be arrays or just their shapes (a tuple or list of ints, as
``tconv explain --x 8,64,16,16 --weight 64,32,4,4`` gives them, with ``dtype``
saying their dtype, float32 unless given); measuring a shape times random
operands of that shape and dtype.  :meth:`Explanation.as_dict` is the same
report as plain data (``tconv explain --json``).

>>> import numpy as np, tconv
>>> e = tconv.explain(np.ones((1, 4, 8, 8)), np.ones((4, 2, 2, 2)), stride=2)
>>> e.algorithm
'nooverlap'
>>> print(e)  # doctest: +ELLIPSIS
conv_transpose (1, 4, 8, 8) -> (1, 2, 16, 16) float64: auto runs 'nooverlap' ...
>>> tconv.explain((8, 64, 16, 16), (64, 32, 4, 4), stride=2, padding=1).geometry.result_shape
(8, 32, 32, 32)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .algorithms import get as _get_algorithm, names as _algorithm_names
from .algorithms.jit import available as compiled_available
from .algorithms.jit import describe as describe_kernels
from .boundary import source_index
from ._validate import numeric_array, real_kind
from .memory import available_bytes, check_fits, format_bytes
from .ops import MEASURED, measure as _measure_all, needed_bytes, operands, plan, ranked, running_geometry, working_dtype
from .params import Geometry, conv_geometry, conv_transpose_geometry, geometry_from_shapes


@dataclass(frozen=True)
class Candidate:
    """One registered algorithm as seen for one call."""

    name: str
    unsupported: str | None  # why it cannot run this call (None: it can)
    predicted_s: float | None  # cost-model estimate in seconds
    needed_bytes: int | None  # result + workspace
    fits: bool  # within the memory guard
    measured_s: float | None = None  # best measured time (measure=True only)


@dataclass(frozen=True)
class Explanation:
    """The algorithm ``auto`` picks for a call, the reason, and every candidate."""

    geometry: Geometry
    algorithm: str
    reason: str
    candidates: tuple[Candidate, ...]

    def __str__(self) -> str:
        g = self.geometry
        op = "conv_transpose" if g.transposed else "conv"
        lead = (g.batch,) if g.batched else ()
        src = lead + (g.in_channels,) + g.input_shape
        head = f"{op} {src} -> {g.result_shape} {g.dtype}: auto runs {self.algorithm!r} ({self.reason})"
        lines = [head]
        for c in self.candidates:
            if c.unsupported:
                lines.append(f"  {c.name:10s} unsupported: {c.unsupported}")
                continue
            measured = f"  measured {c.measured_s * 1e3:9.3f} ms" if c.measured_s is not None else ""
            fits = "" if c.fits else "  (does not fit in memory)"
            lines.append(f"  {c.name:10s} predicted {c.predicted_s * 1e3:9.3f} ms  needs "
                         f"{format_bytes(c.needed_bytes)}{measured}{fits}")
        lines.append(f"  compiled kernels: {describe_kernels()}")  # the working dtype is always compiled for
        lines.append(f"  border: {self.boundary}")
        return "\n".join(lines)

    @property
    def boundary(self) -> str:
        """What the ``padding_mode`` does at the border for this call (:func:`describe_boundary`)."""
        return describe_boundary(self.geometry)

    @property
    def compiled(self) -> bool:
        """Whether the compiled (numba) kernels run for this call's working dtype."""
        return compiled_available(working_dtype(self.geometry))

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """The weight's shape: ``(C_in, C_out // groups, *kernel)`` (transposed) or ``(C_out, C_in // groups, *kernel)``."""
        g = self.geometry
        lead = (g.in_channels, g.out_channels // g.groups) if g.transposed else (g.out_channels, g.in_channels // g.groups)
        return lead + g.kernel_shape

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (ints, floats, strings, lists; JSON-ready): what ``tconv explain --json`` prints.

        Times are in seconds, sizes in bytes; a candidate that cannot run has ``unsupported`` set and no numbers.
        """
        g = self.geometry
        lead = (g.batch,) if g.batched else ()
        return {
            "op": "conv_transpose" if g.transposed else "conv",
            "x_shape": list(lead + (g.in_channels,) + g.input_shape),
            "weight_shape": list(self.weight_shape),
            "result_shape": list(g.result_shape),
            "dtype": str(g.dtype),
            "stride": list(g.stride),
            "padding": [list(p) for p in g.padding],
            "output_padding": list(g.output_padding),
            "dilation": list(g.dilation),
            "groups": g.groups,
            "padding_mode": g.boundary,
            "boundary": self.boundary,
            "algorithm": self.algorithm,
            "reason": self.reason,
            "compiled_kernels": self.compiled,
            "candidates": [
                {"name": c.name, "supported": c.unsupported is None, "unsupported": c.unsupported,
                 "predicted_s": c.predicted_s, "needed_bytes": c.needed_bytes, "fits": c.fits,
                 "measured_s": c.measured_s}
                for c in self.candidates
            ],
        }


#: How each mode continues the big side past its edges (a convolution's input, a transposed convolution's output).
_RULES = {  # mode -> (conv: what the padding reads, conv_transpose: where the border goes)
    "circular": ("wrapping around to the other side (periodic)", "wrapping around to the other side (periodic)"),
    "reflect": ("mirrored about the edge entry (which is not repeated)",
                "mirrored back about the edge entry (which is not repeated)"),
    "replicate": ("repeating the edge entry", "piling up on the edge entry"),
}
#: Most border positions listed per side of a dim.
_LISTED = 3


def _moves(n: int, lo: int, hi: int, mode: str, arrow: str) -> str:
    """``"-1 -> 7, 8 -> 0"``: the border positions of one dim (counted from the first entry) and the entry each
    one is (conv: ``<-``, reads) or is added to (conv_transpose: ``->``)."""
    src = source_index(n, lo, hi, mode)
    sides = [range(-lo, 0), range(n, n + hi)]
    parts = []
    for side in sides:
        shown = [f"{j} {arrow} {int(src[j + lo])}" for j in list(side)[:_LISTED]]
        if len(side) > _LISTED:
            shown.append(f"... ({len(side)} positions)")
        parts += shown
    return ", ".join(parts)


def describe_boundary(geom: Geometry) -> str:
    """What ``geom``'s ``padding_mode`` does at the border, per spatial dim, in one sentence.

    A convolution pads its input in the mode (each padded position reads an input entry); a transposed
    convolution, the adjoint, computes the padded extent and folds its border back onto the output (each
    position past an edge is added to the entry the padding would have read), or crops it for ``"zeros"``.

    >>> print(describe_boundary(geometry_from_shapes(True, (1, 1, 8), (1, 1, 3), padding=1, padding_mode="circular")))
    padding_mode='circular': the adjoint of a circular-padded convolution: the kernels write the padded extent (10,) and fold the taps past the output's edges (padding ((1, 1),)) back onto it, wrapping around to the other side (periodic): dim 0: -1 -> 7, 8 -> 0
    >>> print(describe_boundary(geometry_from_shapes(False, (1, 1, 8), (1, 1, 3), padding=1, padding_mode="reflect")))
    padding_mode='reflect': the input (8,) is padded to (10,) by ((1, 1),), mirrored about the edge entry (which is not repeated): dim 0: -1 <- 1, 8 <- 6
    >>> print(describe_boundary(geometry_from_shapes(True, (1, 1, 8), (1, 1, 3), padding=1)))
    padding_mode='zeros': the outputs in the padding ((1, 1),) are cropped: the taps that land there are dropped
    """
    mode, pairs = geom.boundary, geom.boundary_pairs
    head = f"padding_mode={mode!r}: "
    if not any(lo or hi for lo, hi in pairs):
        return head + "no padding, so the border is left as it is (every mode gives the same result)"
    if mode == "zeros":
        if geom.transposed:
            return head + f"the outputs in the padding {pairs} are cropped: the taps that land there are dropped"
        return head + f"the input {geom.big_shape} is padded with zeros by {pairs}"
    arrow = "->" if geom.transposed else "<-"
    dims = [_moves(n, lo, hi, mode, arrow) for n, (lo, hi) in zip(geom.big_shape, pairs)]
    per_dim = "; ".join(f"dim {d}: {text}" for d, text in enumerate(dims) if text)
    if geom.transposed:
        return (head + f"the adjoint of a {mode}-padded convolution: the kernels write the padded extent "
                f"{geom.padded_shape} and fold the taps past the output's edges (padding {pairs}) back onto it, "
                f"{_RULES[mode][1]}: {per_dim}")
    return head + f"the input {geom.big_shape} is padded to {geom.padded_shape} by {pairs}, {_RULES[mode][0]}: {per_dim}"


def _is_shape(value: Any) -> bool:
    """A tuple or list of ints (never an operand: ``x`` has >= 2 dims, ``weight`` >= 3)."""
    return (isinstance(value, (tuple, list)) and len(value) > 0
            and all(isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) for n in value))


def resolve_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype; names of ``ml_dtypes`` types (``"bfloat16"``) are taken too.

    >>> resolve_dtype("float16"), resolve_dtype(np.float64)
    (dtype('float16'), dtype('float64'))
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
        if isinstance(dtype, str):
            try:
                import ml_dtypes

                dt = np.dtype(getattr(ml_dtypes, dtype))
            except (ImportError, AttributeError, TypeError):
                dt = None
        if dt is None:
            raise TypeError(f"dtype must be a real numeric dtype such as float32, float64, float16 or bfloat16, "
                            f"got {dtype!r}") from None
    if real_kind(dt) is None:
        raise TypeError(f"dtype must be a real numeric dtype such as float32, float64, float16 or bfloat16, "
                        f"got {dtype!r}")
    return dt


def _random(shape: Sequence[int], dtype: np.dtype, rng: np.random.Generator, name: str) -> np.ndarray:
    """Random operand of ``shape`` and ``dtype`` for measuring (refused before allocating if it cannot fit)."""
    shape = tuple(int(n) for n in shape)
    check_fits(int(np.prod(shape, dtype=np.int64)) * max(dtype.itemsize, 8), f"a random {name} of shape {shape}")
    kind = real_kind(dtype)
    if kind == "b":
        return rng.random(shape) < 0.5
    if kind in "iu":
        return rng.integers(0 if kind == "u" else -3, 4, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def explain(x: Any, weight: Any, bias: Any = None, *, op: str = "conv_transpose", measure: bool = False,
            dtype: Any = None, padding_mode: str = "zeros", **params: Any) -> Explanation:
    """Tell which algorithm ``auto`` would run for this call, and why.

    Args:
        x, weight: the operands as for :func:`tconv.conv_transpose`, or their shapes (a tuple or list of
            ints, e.g. ``(8, 64, 16, 16)``; no memory is allocated unless ``measure``).
        bias: the bias array; with shapes, ``True`` (or the bias's shape) says there is one.
        op: ``"conv_transpose"`` (default) or ``"conv"``.
        measure: also time every supported algorithm on these operands (the
            fastest then becomes ``auto``'s choice for this geometry); an operand
            given by its shape is measured as random numbers of that shape and dtype.
        dtype: the operands' dtype when given as shapes (default float32); with
            arrays, they are converted to it first (default: kept as they are).
        padding_mode: ``"zeros"``, ``"circular"``, ``"reflect"`` or ``"replicate"``, as for the
            operator; the report says what it does at the border (:attr:`Explanation.boundary`).
        **params: ``stride``, ``padding``, ``output_padding``, ``dilation``,
            ``groups``, ``output_size`` as for the operator.

    >>> e = explain(np.ones((1, 4, 8, 8)), np.ones((4, 4, 2, 2)), stride=2)
    >>> e.algorithm in {c.name for c in e.candidates if c.unsupported is None}
    True
    >>> [c.name for c in e.candidates if c.unsupported]  # groups == channels; 3x3 stride 1; 4x4 stride 2
    ['depthwise', 'winograd', 'phase_winograd']
    """
    if op not in ("conv_transpose", "conv"):
        raise ValueError(f"op must be 'conv_transpose' or 'conv', got {op!r}")
    if op == "conv":
        extra = [k for k in ("output_padding", "output_size") if k in params]
        if extra:
            raise TypeError(f"{extra[0]} applies only to op='conv_transpose' (conv has no {extra[0]})")
    dt = None if dtype is None else resolve_dtype(dtype)
    params = dict(params, padding_mode=padding_mode)
    if _is_shape(x) or _is_shape(weight):
        geom, xa, wa = _from_shapes(op, x, weight, bias, dt, measure, params)
    else:
        xa, wa, ba = operands(x, weight, None if isinstance(bias, (bool, np.bool_)) else bias)
        if dt is not None:
            xa, wa, ba = xa.astype(dt, copy=False), wa.astype(dt, copy=False), None if ba is None else ba.astype(dt)
        geom = (conv_transpose_geometry if op == "conv_transpose" else conv_geometry)(xa, wa, ba, **params)
    user_geom, geom = geom, running_geometry(geom)  # the stride-1 problem of a stride dividing its dilation
    if geom is not user_geom:
        picks = user_geom.subsampled()[1]
        lead = (slice(None),) * (2 if user_geom.batched else 1)
        xa = xa if user_geom.transposed else xa[lead + picks]
    times = _measure_all(geom, xa, wa) if measure else {}
    predicted = dict(ranked(geom))
    limit = available_bytes()
    candidates = []
    for name in _algorithm_names():
        algorithm = _get_algorithm(name)
        reason = algorithm.unsupported(geom)
        if reason:
            candidates.append(Candidate(name, reason, None, None, False))
            continue
        need = needed_bytes(geom, algorithm)
        candidates.append(Candidate(name, None, predicted[name], need, need <= limit, times.get(name)))
    chosen = plan(geom, "auto").name
    cheapest = next(name for name, _ in ranked(geom))
    if geom in MEASURED and MEASURED[geom] == chosen:
        reason = "fastest when measured on this machine"
    elif chosen == cheapest:
        reason = "lowest predicted time of the supported algorithms"
    else:
        reason = "the cheaper algorithms need more memory than the guard allows"
    if geom is not user_geom:
        reason += (f"; on the stride-1 problem {geom.input_shape} -> {geom.output_shape} of the positions its "
                   f"taps meet (stride {user_geom.stride} divides dilation {user_geom.dilation})")
    return Explanation(user_geom, chosen, reason, tuple(candidates))


def _from_shapes(op: str, x: Any, weight: Any, bias: Any, dt: np.dtype | None, measure: bool,
                 params: dict[str, Any]) -> tuple[Geometry, Any, Any]:
    """The geometry of a call whose ``x`` and/or ``weight`` are shapes, and operands to measure (random for a shape)."""
    given = [None if _is_shape(v) else numeric_array(v, name) for v, name in ((x, "x"), (weight, "weight"))]
    if dt is None:
        arrays = [a for a in given if a is not None]
        dt = np.result_type(*arrays) if arrays else np.dtype(np.float32)
    shapes = [tuple(int(n) for n in v) if a is None else a.shape for v, a in zip((x, weight), given)]
    for shape, name in zip(shapes, ("x", "weight")):
        if any(n < 0 for n in shape):
            raise ValueError(f"{name} shape must have sizes >= 0, got {shape}")
    has_bias = bias is not None and bias is not False
    geom = geometry_from_shapes(op == "conv_transpose", shapes[0], shapes[1], dt, bias=has_bias, **params)
    if has_bias and not isinstance(bias, bool):  # a bias array, or its shape
        bias_shape = tuple(int(n) for n in bias) if _is_shape(bias) else numeric_array(bias, "bias").shape
        if bias_shape != (geom.out_channels,):
            raise ValueError(f"bias must have shape ({geom.out_channels},) (one value per output channel), "
                             f"got bias of shape {bias_shape}")
    if not measure:
        return geom, None, None
    rng = np.random.default_rng(0)
    xa, wa = (a.astype(dt, copy=False) if a is not None else _random(s, dt, rng, name)
              for a, s, name in zip(given, shapes, ("x", "weight")))
    return geom, xa, wa
