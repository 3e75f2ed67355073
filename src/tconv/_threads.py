"""How many threads tconv uses for its non-GEMM work, and a helper to split work over them.

NumPy releases the GIL inside large copies and element-wise operations (and
the compiled kernels run without it), so the layout changes and
scatter/interleave steps of the algorithms can run on several cores from
plain Python threads.  The GEMMs use the BLAS library's own thread pool (set
it with ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` or threadpoolctl).

The thread count is ``TCONV_NUM_THREADS`` when set (``1`` turns the splitting
off), otherwise the number of cores this process may run on.  It is read on
every call, so changing it between calls takes effect at once.

Why the pool looks the way it does:

* **One pool per process, never rebuilt.**  The worker threads are started on
  demand and only ever added (a call that wants ``n`` threads makes sure the
  pool has ``n - 1``; the calling thread is the ``n``-th).  Lowering
  ``TCONV_NUM_THREADS`` leaves the extra workers idle, raising it adds
  workers to the same pool: no pool is thrown away with live threads in it.
* **Fork-safe.**  A forked child (``multiprocessing``'s ``fork`` start method,
  PyTorch ``DataLoader`` workers, a pre-loading gunicorn) inherits the pool's
  bookkeeping but none of its threads; a pool that still believes in its
  workers would wait for them forever.  ``os.register_at_fork`` drops the
  pool in the child, which starts its own on its first split call.
* **Many callers, no deadlock, no oversubscription.**  Calls from many user
  threads share the pool.  A split call puts its pieces on a list, asks up to
  ``n - 1`` workers to help and works through the list itself; whoever is
  free takes the next piece, so a call whose helpers are busy with other
  callers' work simply does its pieces itself.  The caller then waits only
  for pieces that are already running, and a running piece never waits on
  the pool: a call made from inside a piece (in a worker or in a caller busy
  with its own pieces) runs inline, on that thread.  So tconv adds at most
  ``max(TCONV_NUM_THREADS) - 1`` threads to a process, however many user
  threads call it at once.
* **Clean exit.**  The workers are daemon threads that a
  ``weakref.finalize`` hook (run at interpreter exit, or by :func:`shutdown`)
  stops and joins; a call still running then does its remaining pieces in
  its own thread.

When a piece raises, the pieces not yet started are skipped, the call waits
for those running, and the first exception propagates from ``run_chunks``:
no worker writes into the caller's arrays after it returns.

>>> num_threads() >= 1
True
>>> out = []
>>> run_chunks(10, lambda lo, hi: out.append((lo, hi)), min_chunk=10)
>>> out
[(0, 10)]
>>> pieces = []
>>> run_chunks(6, lambda lo, hi: pieces.append((lo, hi)))   # split when there are threads
>>> sorted(pieces)[0][0], sorted(pieces)[-1][1], sum(hi - lo for lo, hi in pieces)
(0, 6, 6)
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from typing import Callable

from ._env import variable

ENV_THREADS = "TCONV_NUM_THREADS"
#: Name prefix of the pool's worker threads.
THREAD_PREFIX = "tconv-worker"

_POOL: _Workers | None = None
_POOL_LOCK = threading.Lock()
_LOCAL = threading.local()  # .inside: this thread is running a piece of a split call


def num_threads() -> int:
    """Threads for non-GEMM work: ``TCONV_NUM_THREADS`` or the usable cores."""
    value = variable(ENV_THREADS)
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


def _serve(tasks: queue.SimpleQueue) -> None:
    """A worker's loop: run tasks until the ``None`` that stops it."""
    while (task := tasks.get()) is not None:
        task()
        del task  # drop the call's state before blocking again


def _stop(tasks: queue.SimpleQueue, threads: list[threading.Thread], closed: threading.Event) -> None:
    """Stop and join the workers (the pool's finalizer; it must not refer to the pool)."""
    closed.set()
    for _ in threads:
        tasks.put(None)
    for thread in threads:
        if thread is not threading.current_thread():
            thread.join()


class _Workers:
    """A grow-only set of daemon threads taking tasks from one queue."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.finalizer = weakref.finalize(self, _stop, self._tasks, self._threads, self._closed)

    def ask(self, helpers: int, task: Callable[[], None]) -> None:
        """Queue ``task`` for ``helpers`` workers, starting workers until there are that many."""
        with self._lock:
            if self._closed.is_set():
                return
            while len(self._threads) < helpers:
                thread = threading.Thread(target=_serve, args=(self._tasks,), daemon=True,
                                          name=f"{THREAD_PREFIX}-{len(self._threads)}")
                thread.start()
                self._threads.append(thread)
            for _ in range(helpers):
                self._tasks.put(task)


def _workers() -> _Workers:
    """The process's pool, created on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = _Workers()
        return _POOL


def _forget_pool_in_child() -> None:
    """After ``fork``, in the child: the parent's workers do not exist here."""
    global _POOL, _POOL_LOCK
    if _POOL is not None:
        _POOL.finalizer.detach()  # nothing to stop or join: the threads stayed in the parent
    _POOL = None
    _POOL_LOCK = threading.Lock()  # may have been held by another parent thread at the fork


def shutdown() -> None:
    """Stop and join the pool's worker threads now; the next split call starts a new pool.

    Interpreter exit does this by itself; this is for a program (or a test)
    that wants the threads gone earlier.  Calls still running finish their
    remaining pieces in their own threads.

    >>> shutdown(); [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    []
    """
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.finalizer()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


class _Split:
    """One split call: pieces taken in order by whichever thread is free, and its completion."""

    def __init__(self, work: Callable[[int, int], None], bounds: list[int]) -> None:
        self._work: Callable[[int, int], None] | None = work
        self._bounds = bounds
        self._pieces = len(bounds) - 1
        self._next = 0
        self._left = self._pieces
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._error: BaseException | None = None

    def _claim(self) -> tuple[Callable[[int, int], None], int, int] | None:
        with self._lock:
            if self._next >= self._pieces or self._work is None:
                return None
            i = self._next
            self._next += 1
            return self._work, self._bounds[i], self._bounds[i + 1]

    def _finish(self, error: BaseException | None) -> None:
        with self._lock:
            self._left -= 1
            if error is not None and self._error is None:
                self._error = error
                self._left -= self._pieces - self._next  # skip the pieces nobody has started
                self._next = self._pieces
            if self._left == 0:
                self._work = None  # queued helpers that start late must not keep the arrays alive
                self._done.set()

    def help(self) -> None:
        """Run pieces until none is left (callers and workers alike); calls made inside run inline."""
        outer = getattr(_LOCAL, "inside", False)
        _LOCAL.inside = True
        try:
            while (piece := self._claim()) is not None:
                work, lo, hi = piece
                del piece
                try:
                    work(lo, hi)
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    self._finish(error)
                else:
                    self._finish(None)
                del work
        finally:
            _LOCAL.inside = outer

    def wait(self) -> None:
        """Wait until every piece has finished or been skipped; raise the first error."""
        self._done.wait()
        error, self._error = self._error, None
        if error is not None:
            raise error


def run_chunks(total: int, work: Callable[[int, int], None], min_chunk: int = 1) -> None:
    """Call ``work(lo, hi)`` on consecutive pieces of ``range(total)``, in parallel.

    Pieces are at least ``min_chunk`` long, at most :func:`num_threads` of
    them; with one thread (or one piece), or when called from inside a piece
    of another split call, the work runs in the calling thread.  The calling
    thread runs pieces too.  Exceptions propagate (the first one raised).
    """
    if total <= 0:
        return
    pieces = total // max(1, min_chunk)
    n = min(num_threads(), pieces) if pieces > 1 else 1  # one piece: no need to ask how many threads
    if n <= 1 or getattr(_LOCAL, "inside", False):  # no nesting inside a piece
        work(0, total)
        return
    bounds = [total * j // n for j in range(n + 1)]
    call = _Split(work, bounds)
    del work
    _workers().ask(n - 1, call.help)
    call.help()
    call.wait()


def parallel_copy(dst, src, min_items: int = 1 << 16) -> None:
    """``dst[...] = src`` (same shapes), split over threads along the first axis long enough to share.

    >>> import numpy as np
    >>> a = np.zeros((2, 3)); parallel_copy(a, np.ones((2, 3))); a.sum()
    np.float64(6.0)
    """
    if dst.size < min_items:  # before asking for the threads: small copies are the common case
        dst[...] = src
        return
    threads = num_threads()
    axis = next((i for i, n in enumerate(dst.shape) if n >= threads), None)
    if axis is None:
        dst[...] = src
        return
    lead = (slice(None),) * axis

    def work(lo: int, hi: int) -> None:
        dst[lead + (slice(lo, hi),)] = src[lead + (slice(lo, hi),)]

    run_chunks(dst.shape[axis], work)
