"""The cost model behind ``algorithm="auto"``: seconds predicted from GEMM, memory and Python-step terms.

Each algorithm's estimate adds three kinds of work, each with a machine
constant measured on the project's reference machine (2-core AMD EPYC,
OpenBLAS; see ``bench/RESULTS.md``) and re-measurable on any machine with
:func:`calibrate`:

- GEMM multiply-adds, at the BLAS rate, derated for thin matrices
  (``m``, ``n`` or ``k`` small: BLAS cannot reach its peak there);
- bytes moved by copies, gathers and element-wise passes (strided writes
  count double);
- Python-level steps (one per tap / phase loop iteration), a fixed overhead;
- the fixed cost of every call (validation, planning, the result's
  allocation, bias and cast: :func:`per_call_seconds`), the same for every
  algorithm, so that the predicted seconds of a tiny call are not near zero.

This is the spirit of SciPy's ``choose_conv_method``: a cheap formula, good
enough to pick among algorithms whose costs differ by large factors, with a
``measure`` mode (:func:`tconv.explain` with ``measure=True``, or the
environment variable ``TCONV_AUTO=measure``) for the close calls.

>>> c = constants(np.float32)
>>> c.mac_seconds < c.byte_seconds
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._timing import best_time


@dataclass(frozen=True)
class Constants:
    """Machine constants (seconds per unit of work) for one dtype."""

    mac_seconds: float  # one multiply-add inside a large GEMM
    byte_seconds: float  # one byte read + written by a contiguous copy
    step_seconds: float  # one Python-level loop step with a few NumPy calls
    thin: float = 48.0  # a GEMM dimension of this size runs at about half the peak rate
    call_seconds: float = 60e-6  # what every call pays besides its kernel (validation, plan, result, cast)


# Measured on the reference machine (OpenBLAS 0.3.31 SkylakeX kernel, 2 threads).
_DEFAULTS = {
    np.dtype(np.float32): Constants(mac_seconds=1 / 200e9, byte_seconds=1 / 6e9, step_seconds=15e-6),
    np.dtype(np.float64): Constants(mac_seconds=1 / 95e9, byte_seconds=1 / 6e9, step_seconds=15e-6),
}
#: Fixed seconds of one GEMM call (dispatch into BLAS, thread wake-up), whatever its size.
PER_GEMM_CALL_SECONDS = 2e-6
#: NumPy calls (each at least MIN_CALL_SECONDS) in one Python-level loop step of an algorithm.
CALLS_PER_STEP = 3
MIN_CALL_SECONDS = 1e-6

_MEASURED: dict[np.dtype, Constants] = {}
_GENERATION = [0]


def generation() -> int:
    """How many times the constants changed (:func:`calibrate`, :func:`forget_calibration`): the planner keys
    its cached rankings on it.

    >>> before = generation(); forget_calibration(); generation() == before + 1
    True
    """
    return _GENERATION[0]


def _bump_generation() -> None:
    _GENERATION[0] += 1


def constants(dtype) -> Constants:
    """The constants for ``dtype`` (measured by :func:`calibrate` if it ran, else the defaults)."""
    dt = np.dtype(dtype)
    dt = dt if dt in _DEFAULTS else np.dtype(np.float64)
    return _MEASURED.get(dt, _DEFAULTS[dt])


def calibrate(dtype=np.float32, size: int = 768) -> Constants:
    """Measure this machine's GEMM rate and copy bandwidth for ``dtype`` and use them from now on.

    Takes a fraction of a second.  Returns the new constants.

    >>> c = calibrate(np.float32, size=128)
    >>> c.mac_seconds > 0 and c.byte_seconds > 0
    True
    >>> forget_calibration()  # back to the reference machine's constants
    """
    dt = np.dtype(dtype)
    a = np.ones((size, size), dtype=dt)
    mac = best_time(lambda: a @ a, warmup=True) / size**3
    big = np.ones(1 << 22, dtype=dt)
    dst = np.empty_like(big)
    copy = best_time(lambda: np.copyto(dst, big), warmup=True) / (2 * big.nbytes)
    step = best_time(lambda: [np.add(a[:2, :2], 1.0) for _ in range(100)], warmup=True) / 100
    result = replace(constants(dt), mac_seconds=mac, byte_seconds=copy,
                     step_seconds=max(step, MIN_CALL_SECONDS) * CALLS_PER_STEP)
    _MEASURED[dt] = result
    _bump_generation()  # the planner's cached rankings used the old constants
    return result


def forget_calibration() -> None:
    """Drop what :func:`calibrate` measured; the reference machine's constants apply again."""
    _MEASURED.clear()
    _bump_generation()


def per_call_seconds(c: Constants) -> float:
    """The fixed cost of one call, whatever the algorithm: every algorithm's cost includes it.

    >>> per_call_seconds(constants(np.float64)) > 0
    True
    """
    return c.call_seconds


def gemm_seconds(m: int, n: int, k: int, c: Constants, calls: int = 1) -> float:
    """A GEMM ``(m, k) @ (k, n)`` (``calls`` times), derated when a dimension is thin."""
    if m * n * k == 0:
        return 0.0
    derate = (1 + c.thin / m) * (1 + c.thin / n) * (1 + c.thin / k)
    return calls * m * n * k * c.mac_seconds * derate + calls * PER_GEMM_CALL_SECONDS
