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

The GEMM rate, copy bandwidth and step cost are calibrated once per machine:
the first call that plans with a dtype measures them (a fraction of a
second) and keeps them on disk in the user's cache directory
(``tconv._cache``; ``TCONV_CACHE_DIR`` moves it), keyed by the CPU model,
the BLAS library, its kernel and threads, and tconv's thread count, so a
later process, or another BLAS kernel, finds its own constants.
``TCONV_CALIBRATE=0`` turns this off: the reference machine's constants
apply (the test suite does this, for plans that do not depend on the machine).

This is the spirit of SciPy's ``choose_conv_method``: a cheap formula, good
enough to pick among algorithms whose costs differ by large factors, with a
``measure`` mode (:func:`tconv.explain` with ``measure=True``, or the
environment variable ``TCONV_AUTO=measure``) for the close calls.

>>> c = constants(np.float32)
>>> c.mac_seconds < c.byte_seconds
True
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, replace

import numpy as np

from .._cache import load as load_cached, path as cache_path, store as store_cached
from .._threads import num_threads
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
#: What :func:`_measure`'s micro-benchmarks give on the reference machine.  The constants above are fitted
#: to whole algorithms there, not these raw rates (a copy runs at ~40 GB/s, an algorithm's strided passes far
#: slower), so a calibration scales each default by this machine's measured / reference rate.  GEMM: the
#: 2048^2 peaks recorded when the constants were fitted (bench/results.json, 2026-11-28: 479 / 194 GFLOP/s
#: float32 / float64) times 1.06, the 768^2 product's rate over the 2048^2 one's (measured 2026-12-04); copy
#: and step: measured 2026-12-04 on the same machine (whose GEMM ran at 201 GFLOP/s that day: a throttled
#: or shared host, which is what the calibration is for).
_REFERENCE_RAW = {
    np.dtype(np.float32): Constants(mac_seconds=1 / 254e9, byte_seconds=1 / 44e9, step_seconds=4.2e-6),
    np.dtype(np.float64): Constants(mac_seconds=1 / 103e9, byte_seconds=1 / 33e9, step_seconds=3.9e-6),
}
#: Fixed seconds of one GEMM call (dispatch into BLAS, thread wake-up), whatever its size.
PER_GEMM_CALL_SECONDS = 2e-6
#: NumPy calls (each at least MIN_CALL_SECONDS) in one Python-level loop step of an algorithm.
CALLS_PER_STEP = 3
MIN_CALL_SECONDS = 1e-6

_MEASURED: dict[np.dtype, Constants] = {}
_GENERATION = [0]
#: Environment variable: ``0`` keeps the reference constants (no measuring, nothing read or written on disk).
ENV_CALIBRATE = "TCONV_CALIBRATE"
#: Cache topic of the calibration, and the version of what :func:`calibrate` measures (a new one re-measures).
CACHE_TOPIC = "calibration"
CALIBRATION_VERSION = 1


def generation() -> int:
    """How many times the constants changed (:func:`calibrate`, :func:`forget_calibration`): the planner keys
    its cached rankings on it.

    >>> before = generation(); forget_calibration(); generation() == before + 1
    True
    """
    return _GENERATION[0]


def _bump_generation() -> None:
    _GENERATION[0] += 1


def calibration_enabled() -> bool:
    """False when ``TCONV_CALIBRATE=0``: the reference machine's constants apply."""
    return os.environ.get(ENV_CALIBRATE, "1").strip().lower() not in ("0", "false", "no", "off")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` where there is one)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "Model", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_description() -> str:
    """Which BLAS library, version, kernel and threads NumPy runs (threadpoolctl), with the OpenBLAS
    environment variables that change the kernel.  Where threadpoolctl is missing from an environment,
    the BLAS NumPy was built with (its build configuration), kernel and threads unknown."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        parts = [f"{_numpy_blas()} (kernel and threads unknown: threadpoolctl is not installed)"]
    else:
        parts = [f"{d.get('internal_api')} {d.get('version')} kernel={d.get('architecture')} "
                 f"threads={d.get('num_threads')}" for d in threadpool_info() if d.get("user_api") == "blas"]
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return ("; ".join(parts) or "no BLAS found") + (f" (env {env})" if env else "")


def _numpy_blas() -> str:
    """The BLAS named in NumPy's build configuration, e.g. ``'scipy-openblas 0.3.31'``."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # an older NumPy, or a configuration without the entry
        return "NumPy's BLAS"


def machine_key(dtype) -> str:
    """What the calibration of ``dtype`` depends on: CPU model, BLAS library / kernel / threads, tconv's
    thread count, NumPy's version, the calibration's own version.

    >>> "float32" in machine_key(np.float32)
    True
    """
    return " | ".join([f"v{CALIBRATION_VERSION}", np.dtype(dtype).name, cpu_model(), blas_description(),
                       f"tconv threads {num_threads()}", f"numpy {np.__version__}"])


def _transfer(dt: np.dtype, raw: Constants) -> Constants:
    """The reference constants scaled by this machine's raw rates over the reference machine's."""
    base, ref = _DEFAULTS[dt], _REFERENCE_RAW[dt]
    return replace(base, mac_seconds=base.mac_seconds * raw.mac_seconds / ref.mac_seconds,
                   byte_seconds=base.byte_seconds * raw.byte_seconds / ref.byte_seconds,
                   step_seconds=base.step_seconds * raw.step_seconds / ref.step_seconds)


def _cached_or_measured(dt: np.dtype) -> Constants:
    """This machine's raw rates from the cache, or measured now and cached (atomically); transferred."""
    key = machine_key(dt)
    record = load_cached(CACHE_TOPIC).get(key)
    raw = None
    if isinstance(record, dict):
        try:
            raw = Constants(**record)
        except TypeError:
            pass  # written by another version: measure again
    if raw is None or min(raw.mac_seconds, raw.byte_seconds, raw.step_seconds) <= 0:
        raw = _measure(dt)
        store_cached(CACHE_TOPIC, key, asdict(raw))
    return _transfer(dt, raw)


def constants(dtype) -> Constants:
    """The constants for ``dtype``: this machine's calibration (cached on disk, measured on first use),
    or the reference machine's defaults when ``TCONV_CALIBRATE=0``."""
    dt = np.dtype(dtype)
    dt = dt if dt in _DEFAULTS else np.dtype(np.float64)
    found = _MEASURED.get(dt)
    if found is None:
        if not calibration_enabled():
            return _DEFAULTS[dt]
        found = _MEASURED[dt] = _cached_or_measured(dt)
        _bump_generation()
    return found


def calibration_description(dtype=np.float32) -> str:
    """Where ``auto``'s constants for ``dtype`` come from, in words, with the measured GEMM rate.

    >>> calibration_description().startswith(("calibrated", "the reference"))
    True
    """
    if not calibration_enabled():
        return f"the reference machine's constants ({ENV_CALIBRATE}=0)"
    dt = np.dtype(dtype)
    dt = dt if dt in _DEFAULTS else np.dtype(np.float64)
    raw_mac = _REFERENCE_RAW[dt].mac_seconds * constants(dt).mac_seconds / _DEFAULTS[dt].mac_seconds
    return (f"calibrated on this machine: {dt.name} GEMM {2e-9 / raw_mac:.0f} GFLOP/s measured, the reference "
            f"constants scaled by its rates (cached in {cache_path(CACHE_TOPIC)})")


def calibrate(dtype=np.float32, size: int = 768) -> Constants:
    """Measure this machine's GEMM rate and copy bandwidth for ``dtype`` and use them from now on (and, unless
    ``TCONV_CALIBRATE=0``, remember them in the cache for later processes).

    Takes a fraction of a second.  Returns the new constants.

    >>> c = calibrate(np.float32, size=128)
    >>> c.mac_seconds > 0 and c.byte_seconds > 0
    True
    >>> forget_calibration()  # back to the cached calibration (or the reference constants)
    """
    dt = np.dtype(dtype)
    dt = dt if dt in _DEFAULTS else np.dtype(np.float64)
    raw = _measure(dt, size)
    result = _MEASURED[dt] = _transfer(dt, raw)
    if calibration_enabled():
        store_cached(CACHE_TOPIC, machine_key(dt), asdict(raw))
    _bump_generation()  # the planner's cached rankings used the old constants
    return result


def _measure(dt: np.dtype, size: int = 768) -> Constants:
    """Raw rates for ``dt``: seconds per multiply-add of a square GEMM, per byte of a contiguous copy, per
    Python step of a few tiny NumPy calls."""
    a = np.ones((size, size), dtype=dt)
    mac = best_time(lambda: a @ a, warmup=True) / size**3
    big = np.ones(1 << 22, dtype=dt)
    dst = np.empty_like(big)
    copy = best_time(lambda: np.copyto(dst, big), warmup=True) / (2 * big.nbytes)
    step = best_time(lambda: [np.add(a[:2, :2], 1.0) for _ in range(100)], warmup=True) / 100
    return Constants(mac_seconds=mac, byte_seconds=copy, step_seconds=max(step, MIN_CALL_SECONDS) * CALLS_PER_STEP)


def forget_calibration() -> None:
    """Drop the constants this process measured or loaded: the next plan reads the cache again (or uses the
    reference machine's constants when ``TCONV_CALIBRATE=0``)."""
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
