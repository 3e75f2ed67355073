"""Per-framework tally of compared random configurations and the largest error seen.

The compat tests call :func:`record` for each comparison; ``tests/compat/conftest.py``
prints the tally at the end of the run.
"""

from __future__ import annotations

import numpy as np

TALLY: dict[str, dict[str, float]] = {}


def record(name: str, got, want) -> float:
    """Count one comparison under ``name`` and keep the largest abs error (relative to max(1, |want|))."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(got - want).max(initial=0.0)) / scale
    entry = TALLY.setdefault(name, {"count": 0, "max_err": 0.0})
    entry["count"] += 1
    entry["max_err"] = max(entry["max_err"], err)
    return err


def count(name: str) -> None:
    """Count a compared configuration with no numeric error (e.g. both sides refused it)."""
    entry = TALLY.setdefault(name, {"count": 0, "max_err": 0.0})
    entry["count"] += 1


def examples(default: int) -> int:
    """Random configurations per property: ``default``, or ``$TCONV_COMPAT_EXAMPLES`` for a longer run."""
    import os

    return int(os.environ.get("TCONV_COMPAT_EXAMPLES", default))
