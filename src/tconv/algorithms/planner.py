"""The planner: which algorithm runs a call, and whether its memory fits.

``auto`` ranks the supported algorithms by the cost model of
:mod:`tconv.algorithms.cost` (or by a timing measured earlier in ``measure``
mode, remembered in :data:`MEASURED`) and takes the cheapest whose result,
workspace and operand copies fit under the memory guard.

>>> from tconv.params import geometry_from_shapes
>>> plan(geometry_from_shapes(True, (1, 4, 8, 8), (4, 2, 2, 2), np.float64, stride=2)).name
'nooverlap'
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from .._env import variable
from .._layout import copy_bytes
from ..memory import SMALL_BYTES, Budget, trivial
from ..params import Geometry
from . import cost
from . import registry
from .jit import available
from .registry import Algorithm, get, names

def working_dtype(geom: Geometry) -> np.dtype:
    """The dtype the kernels compute in: the result dtype, at least float32."""
    return np.promote_types(geom.dtype, np.float32)


def running_geometry(geom: Geometry) -> Geometry:
    """The geometry whose kernel a call of ``geom`` runs, planned and explained for it: ``geom``'s
    :meth:`~tconv.params.Geometry.subsampled` one where a stride divides its dilation (and the dtype is the
    working one), otherwise ``geom``.

    >>> from tconv.params import geometry_from_shapes
    >>> running_geometry(geometry_from_shapes(False, (1, 1, 9), (1, 1, 3), np.float32, stride=2, dilation=2)).stride
    (1,)
    """
    sub = geom.subsampled()
    return sub[0] if sub is not None and geom.dtype == working_dtype(geom) else geom


@functools.lru_cache(maxsize=4096)
def result_bytes(geom: Geometry) -> int:
    """The result in the working dtype, plus its cast to the result dtype only where that makes a copy
    (float16, bfloat16: computed in float32); the bias is added in place.  Cached per geometry."""
    n = int(np.prod(geom.result_shape, dtype=object))
    work = working_dtype(geom)
    return n * (work.itemsize + (geom.dtype.itemsize if geom.dtype != work else 0))


def real_geometry(geom: Geometry) -> Geometry:
    """The geometry of the real calls that a complex ``geom`` runs as (:func:`tconv.ops.execute` splits
    complex operands into real and imaginary parts): the real dtype of the same precision; a real ``geom``
    as it is.

    >>> from tconv.params import geometry_from_shapes
    >>> real_geometry(geometry_from_shapes(True, (1, 1, 3), (1, 1, 2), np.complex64)).dtype
    dtype('float32')
    """
    if geom.dtype.kind != "c":
        return geom
    return replace(geom, dtype=np.finfo(geom.dtype).dtype)


def complex_bytes(geom: Geometry) -> int:
    """What complex operands add to a call (0 for real ones): the complex result, into which the real calls
    on the parts are added one after the other (each real call counts its own result, workspace and the
    copies of the parts it reads).

    >>> from tconv.params import geometry_from_shapes
    >>> complex_bytes(geometry_from_shapes(True, (1, 1, 3), (1, 1, 2), np.complex128))
    64
    """
    if geom.dtype.kind != "c":
        return 0
    return int(np.prod(geom.result_shape, dtype=object)) * geom.dtype.itemsize


def boundary_bytes(geom: Geometry) -> int:
    """What a boundary mode adds to a call (0 for ``"zeros"``): a convolution's padded copy of its input in
    the working dtype (the kernel reads it as it is, so it replaces the input's layout copy); a transposed
    convolution's folded result, the interior of the kernel's padded-size result (counted with the kernel
    geometry's), with its cast.

    >>> from tconv.params import geometry_from_shapes
    >>> boundary_bytes(geometry_from_shapes(False, (2, 3, 8, 8), (4, 3, 3, 3), np.float64, padding=1,
    ...                                     padding_mode="reflect"))
    4800
    """
    if geom.boundary == "zeros":
        return 0
    if geom.transposed:
        return result_bytes(geom)
    n = geom.batch * geom.in_channels * int(np.prod(geom.padded_shape, dtype=object))
    return n * working_dtype(geom).itemsize


def needed_bytes(geom: Geometry, algorithm: Algorithm, operands: tuple[np.ndarray, ...] = ()) -> int:
    """Result + the algorithm's workspace + the copies that bring ``operands`` into its layout + the small
    temporaries no formula follows (:data:`tconv.memory.SMALL_BYTES`).

    A boundary mode other than zeros runs the kernel geometry (:meth:`~tconv.params.Geometry.kernel_geometry`,
    over the padded extent) and adds its padded copy or folded result (:func:`boundary_bytes`).  Complex
    operands run as real calls on their parts (:func:`real_geometry`) and add the complex result
    (:func:`complex_bytes`).
    """
    if geom.dtype.kind == "c":
        parts = tuple(np.real(a) for a in operands)  # a part of a complex operand is a strided view: copied
        return needed_bytes(real_geometry(geom), algorithm, parts) + complex_bytes(geom)
    if geom.boundary != "zeros":
        inner_operands = operands if geom.transposed else operands[1:]  # a conv's kernel reads the padded copy
        return needed_bytes(geom.kernel_geometry(), algorithm, inner_operands) + boundary_bytes(geom)
    work = working_dtype(geom)
    return _fixed_bytes(geom, algorithm.workspace_bytes, available(work)) + _copies(operands, work, algorithm.layout)


def _copies(operands: tuple[np.ndarray, ...], work: np.dtype, layout) -> int:
    """Bytes of the copies that bring ``operands`` into the working dtype ``work`` and an algorithm's ``layout``."""
    return sum(copy_bytes(a, work, layout) for a in operands)


@functools.lru_cache(maxsize=4096)
def _fixed_bytes(geom: Geometry, workspace_bytes, compiled: bool) -> int:
    """What a call of ``geom`` needs whatever its operands' layout, with an algorithm's ``workspace_bytes``
    (cached per pair and per ``compiled``, whether the compiled kernels run: the formulas follow the paths
    the kernels take, which :func:`tconv.algorithms.jit.reread_environment` may change)."""
    return result_bytes(geom) + workspace_bytes(geom, working_dtype(geom).itemsize) + SMALL_BYTES


ENV_AUTO = "TCONV_AUTO"
#: Winners measured by ``measure`` mode, per geometry (see :func:`tconv.explain`).
MEASURED: dict[Geometry, str] = {}


#: Environment variables that change which algorithms run or what they cost (part of ``ranked``'s cache key).
RANKING_ENVIRONMENT = ("TCONV_NUMBA", "TCONV_NUM_THREADS")


@functools.lru_cache(maxsize=1024)
def _ranked(geom: Geometry, environment: tuple[str | None, ...], calibration: int,
            registrations: int) -> tuple[tuple[str, float], ...]:
    supported = [get(name) for name in names() if not get(name).unsupported(geom)]
    return tuple(sorted(((a.name, float(a.cost(geom))) for a in supported), key=lambda item: item[1]))


def ranked(geom: Geometry) -> tuple[tuple[str, float], ...]:
    """Supported algorithms for ``geom`` with their predicted seconds, cheapest first (for a boundary mode,
    those of its kernel geometry: the padding and folding cost little beside the kernel; for complex
    operands, those of the real calls on their parts).

    Cached per geometry, per value of the variables in :data:`RANKING_ENVIRONMENT`, per calibration of
    the cost model (:func:`tconv.algorithms.cost.generation`) and per state of the registry
    (:func:`tconv.algorithms.registry.generation`).
    """
    environment = tuple(map(variable, RANKING_ENVIRONMENT))
    return _ranked(real_geometry(geom.kernel_geometry()), environment, cost.generation(), registry.generation())


ranked.cache_clear = _ranked.cache_clear  # type: ignore[attr-defined]


def auto_choice(geom: Geometry, budget: Budget, operands: tuple[np.ndarray, ...]) -> Algorithm:
    """The cheapest ranked algorithm whose result + workspace fit; the leanest one's error if none fits."""
    kind = "conv_transpose" if geom.transposed else "conv"
    candidates = [get(name) for name, _ in ranked(geom)]
    if geom in MEASURED:
        candidates.insert(0, get(MEASURED[geom]))
    too_big = []  # (bytes, algorithm) of the candidates that accept the values but do not fit
    for algorithm in candidates:  # in order, each asked only as far as needed: direct declines no values
        if len(operands) == 2 and algorithm.declines_values(*operands):
            continue
        needed = needed_bytes(geom, algorithm, operands)
        if budget.fits(needed):
            return algorithm
        too_big.append((needed, algorithm))
    needed, smallest = min(too_big, key=lambda item: item[0])
    budget.check(needed, f"{kind} (result + workspace of the leanest algorithm)")
    return smallest  # pragma: no cover - check_fits raised


def measure_mode() -> bool:
    """True when ``TCONV_AUTO=measure``: ``auto`` times every candidate once per new geometry."""
    value = variable(ENV_AUTO, "model")
    if value not in ("model", "measure"):
        raise ValueError(f"{ENV_AUTO} must be 'model' or 'measure', got {value!r}")
    return value == "measure"


def plan(geom: Geometry, algorithm: str = "auto", operands: tuple[np.ndarray, ...] = (),
         budget: Budget | None = None) -> Algorithm:
    """Pick the algorithm for ``geom`` and make sure its memory fits.

    ``"auto"`` takes the cheapest supported algorithm (by the measured cost
    model of :mod:`tconv.algorithms.cost`, or by a timing measured earlier in
    ``measure`` mode) whose result plus workspace fit in the available memory.
    ``operands`` (input, weight) are the arrays the kernel will get: copies
    that bring them into the algorithm's layout count against the memory too.
    ``budget``: the call's :class:`~tconv.memory.Budget`, whose reading its reservation then reuses.
    """
    kind = "conv_transpose" if geom.transposed else "conv"
    budget = Budget() if budget is None else budget  # the system read at most once per call, not for small calls
    budget.check(result_bytes(geom), f"the {kind} result {geom.result_shape}")  # before any per-algorithm work
    if algorithm != "auto":
        chosen = get(algorithm)
        reason = chosen.unsupported(real_geometry(geom.kernel_geometry())) or (
            chosen.declines_values(*operands) if len(operands) == 2 else None)
        if reason:
            raise ValueError(f"algorithm {chosen.name!r} does not support {reason}")
        needed = needed_bytes(geom, chosen, operands)
        budget.check(needed, f"{kind} with algorithm {chosen.name!r} (result + workspace)")
    else:
        chosen = auto_choice(geom, budget, operands)
    if len(operands) == 2:
        _remember_small(geom, algorithm, chosen, operands)
    return chosen


#: Small calls' choices per (geometry, requested algorithm): ``(stamp, algorithm, working dtype, the bytes of
#: needed_bytes but the operand copies)`` (see :func:`small_choice`).
_SMALL_CHOICES: dict[tuple[Geometry, str], tuple[tuple, Algorithm, np.dtype, int]] = {}
#: At most this many are kept (the oldest half is dropped when full).
SMALL_CHOICES_KEPT = 1024
#: Environment variables a choice depends on besides those of :data:`RANKING_ENVIRONMENT`.
CHOICE_ENVIRONMENT = RANKING_ENVIRONMENT + (ENV_AUTO,)


def _stamp(geom: Geometry) -> tuple:
    """What a choice for ``geom`` depends on besides the geometry: the variables of
    :data:`CHOICE_ENVIRONMENT`, the cost model's calibration, the registry, a measured winner."""
    return (tuple(map(variable, CHOICE_ENVIRONMENT)), cost.generation(), registry.generation(),
            MEASURED.get(geom))


def _remember_small(geom: Geometry, requested: str, chosen: Algorithm, operands: tuple[np.ndarray, ...]) -> None:
    """Keep ``chosen`` for :func:`small_choice` where nothing but the stamp decided it: a small need (granted
    without a reading of the system, so no memory state took part), a real geometry with zero padding, and
    for ``"auto"`` the first candidate (no algorithm skipped for these values or for memory)."""
    if not geom.direct or not trivial(needed_bytes(geom, chosen, operands)):
        return
    if requested == "auto" and chosen.name != MEASURED.get(geom, ranked(geom)[0][0]):
        return
    if len(_SMALL_CHOICES) >= SMALL_CHOICES_KEPT:
        for key in list(_SMALL_CHOICES)[:SMALL_CHOICES_KEPT // 2]:
            _SMALL_CHOICES.pop(key, None)
    work = working_dtype(geom)
    _SMALL_CHOICES[(geom, requested)] = (_stamp(geom), chosen, work,
                                         _fixed_bytes(geom, chosen.workspace_bytes, available(work)))


def small_choice(geom: Geometry, requested: str, operands: tuple[np.ndarray, ...]) -> tuple[Algorithm, int] | None:
    """The algorithm :func:`plan` chose for an earlier small call of ``geom`` and ``requested`` and this call's
    bytes (:func:`needed_bytes`), when the call may skip planning: nothing the choice depends on has changed
    (:func:`_stamp`), the algorithm takes these values and the call's need is still granted without a
    reading of the system (so the memory guard's answer cannot differ).  None otherwise: plan the call.

    The fixed cost of a small call is mostly planning (issue 15's goal 3); this makes a repeated small call
    pay a dictionary lookup instead, with the one-off call's result.

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
    >>> ops = (np.ones((1, 1, 2)), np.ones((1, 1, 2)))
    >>> small_choice(g, "direct", ops) is None, plan(g, "direct", ops).name, small_choice(g, "direct", ops)[0].name
    (True, 'direct', 'direct')
    """
    hit = _SMALL_CHOICES.get((geom, requested))
    if hit is None:
        return None
    stamp, chosen, work, fixed = hit
    if stamp != _stamp(geom) or chosen.declines_values(*operands):
        return None
    nbytes = fixed + _copies(operands, work, chosen.layout)  # needed_bytes, its fixed part kept
    return (chosen, nbytes) if trivial(nbytes) else None


def forget_small_choices() -> None:
    """Drop every choice :func:`small_choice` keeps (as ``cache_clear`` for :func:`tconv.bench.clear_caches`)."""
    _SMALL_CHOICES.clear()


small_choice.cache_clear = forget_small_choices  # type: ignore[attr-defined]


