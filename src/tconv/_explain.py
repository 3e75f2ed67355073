"""Which algorithm ``"auto"`` runs for a call, and why.

:func:`explain` validates a call exactly as :func:`tconv.conv_transpose` (or
:func:`tconv.conv` with ``op="conv"``) would, and reports every registered
algorithm: whether it supports the call (and the reason if not), its
predicted time from the cost model, its workspace, whether it fits in the
memory guard, and -- with ``measure=True`` -- its measured time on the given
operands.  In measure mode the fastest measured algorithm is remembered for
that geometry, so later ``"auto"`` calls with the same shapes use it.

>>> import numpy as np, tconv
>>> e = tconv.explain(np.ones((1, 4, 8, 8)), np.ones((4, 2, 2, 2)), stride=2)
>>> e.algorithm
'nooverlap'
>>> print(e)  # doctest: +ELLIPSIS
conv_transpose (1, 4, 8, 8) -> (1, 2, 16, 16) float64: auto runs 'nooverlap' ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .algorithms import Algorithm, get as _get_algorithm, names as _algorithm_names
from .algorithms.jit import available as compiled_available
from .memory import available_bytes, format_bytes
from .ops import MEASURED, measure as _measure_all, needed_bytes, operands, plan, ranked, working_dtype
from .params import Geometry, conv_geometry, conv_transpose_geometry


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
        lines.append("  compiled kernels: " + ("on (numba)" if compiled_available(working_dtype(g)) else
                                               "off (NumPy paths; pip install 'tconv[fast]' for numba)"))
        return "\n".join(lines)


def explain(x: Any, weight: Any, bias: Any = None, *, op: str = "conv_transpose", measure: bool = False,
            **params: Any) -> Explanation:
    """Tell which algorithm ``auto`` would run for this call, and why.

    Args:
        x, weight, bias: the operands, as for :func:`tconv.conv_transpose`.
        op: ``"conv_transpose"`` (default) or ``"conv"``.
        measure: also time every supported algorithm on these operands (the
            fastest then becomes ``auto``'s choice for this geometry).
        **params: ``stride``, ``padding``, ``output_padding``, ``dilation``,
            ``groups``, ``output_size`` as for the operator.

    >>> e = explain(np.ones((1, 4, 8, 8)), np.ones((4, 4, 2, 2)), stride=2)
    >>> e.algorithm in {c.name for c in e.candidates if c.unsupported is None}
    True
    >>> [c.name for c in e.candidates if c.unsupported]  # groups == channels; a 3x3 stride-1 kernel
    ['depthwise', 'winograd']
    """
    if op not in ("conv_transpose", "conv"):
        raise ValueError(f"op must be 'conv_transpose' or 'conv', got {op!r}")
    xa, wa, ba = operands(x, weight, bias)
    geom = (conv_transpose_geometry if op == "conv_transpose" else conv_geometry)(xa, wa, ba, **params)
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
    return Explanation(geom, chosen, reason, tuple(candidates))

