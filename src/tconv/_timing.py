"""Wall-clock timing shared by the cost-model calibration, ``explain(measure=True)`` and the tours.

>>> best_time(lambda: sum(range(100)), repeats=2, warmup=True) > 0
True
"""

from __future__ import annotations

import time
from typing import Any, Callable


def best_time(fn: Callable[[], Any], repeats: int = 3, *, warmup: bool = False) -> float:
    """The shortest of ``repeats`` timed calls of ``fn()`` in seconds (after one untimed call if ``warmup``)."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
