"""How many threads tconv uses for its non-GEMM work, and a helper to split work over them.

NumPy releases the GIL inside large copies and element-wise operations, so
the layout changes and scatter/interleave steps of the algorithms can run on
several cores from plain Python threads.  The GEMMs use the BLAS library's
own thread pool (set it with ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``
or threadpoolctl).

The thread count is ``TCONV_NUM_THREADS`` when set (``1`` turns the splitting
off), otherwise the number of cores this process may run on.

>>> num_threads() >= 1
True
>>> out = []
>>> run_chunks(10, lambda lo, hi: out.append((lo, hi)), min_chunk=10)
>>> out
[(0, 10)]
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

ENV_THREADS = "TCONV_NUM_THREADS"
_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0


def num_threads() -> int:
    """Threads for non-GEMM work: ``TCONV_NUM_THREADS`` or the usable cores."""
    value = os.environ.get(ENV_THREADS)
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{ENV_THREADS} must be a whole number >= 1, got {value!r}") from None
        if n < 1:
            raise ValueError(f"{ENV_THREADS} must be a whole number >= 1, got {value!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _pool(n: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE != n:
        _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="tconv")
        _POOL_SIZE = n
    return _POOL


def run_chunks(total: int, work: Callable[[int, int], None], min_chunk: int = 1) -> None:
    """Call ``work(lo, hi)`` on consecutive pieces of ``range(total)``, in parallel.

    Pieces are at least ``min_chunk`` long; with one thread (or one piece) the
    work runs in the calling thread.  Exceptions propagate.
    """
    if total <= 0:
        return
    n = min(num_threads(), max(1, total // max(1, min_chunk)))
    if n <= 1 or threading.current_thread().name.startswith("tconv"):  # no nesting inside a worker
        work(0, total)
        return
    bounds = [total * j // n for j in range(n + 1)]
    futures = [_pool(n).submit(work, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    for f in futures:
        f.result()


def parallel_copy(dst, src, min_items: int = 1 << 16) -> None:
    """``dst[...] = src`` (same shapes), split over threads along the first axis long enough to share.

    >>> import numpy as np
    >>> a = np.zeros((2, 3)); parallel_copy(a, np.ones((2, 3))); a.sum()
    np.float64(6.0)
    """
    axis = next((i for i, n in enumerate(dst.shape) if n >= num_threads()), None)
    if axis is None or dst.size < min_items:
        dst[...] = src
        return
    lead = (slice(None),) * axis

    def work(lo: int, hi: int) -> None:
        dst[lead + (slice(lo, hi),)] = src[lead + (slice(lo, hi),)]

    run_chunks(dst.shape[axis], work)
