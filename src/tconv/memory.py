"""The memory guard: refuse a result or workspace that cannot fit, before allocating it.

Why a guard: a transposed convolution's output grows with ``stride ** d``, and
its fast algorithms trade memory (columns, padded copies, spectra) for speed;
a call that cannot fit should fail at once with the size it needs, not after
minutes of swapping or at the hands of the out-of-memory killer.

The limit (:func:`available_bytes`) is the smallest of

* the memory the machine has available now (``MemAvailable`` on Linux,
  physical memory elsewhere),
* the room left in the process's control group: cgroup v2 ``memory.max -
  memory.current``, or v1 ``memory.limit_in_bytes - memory.usage_in_bytes``,
  at every level from the process's group up (file cache that can be
  reclaimed, ``inactive_file``, is counted as room, as ``MemAvailable`` does),
* inside a Dask worker, the worker's memory limit minus the process's
  resident memory,

or the number of bytes in ``TCONV_MEMORY_LIMIT`` when that is set; less the
bytes reserved by the calls running in this process (:func:`reserve`): two
threads whose calls each fit alone but not together do not both go ahead --
the later one is refused with the same ``ValueError`` (refusing, not
waiting: a wait could last forever and would hide the problem).  A running
call's reservation counts in full until it ends, also the part it has
already allocated (which the machine's figure then misses too): the guard
errs towards refusing.

What a call needs is its result, the copies that bring its operands into
the kernel's layout, its algorithm's workspace (each algorithm's
``workspace_bytes``: the largest set of buffers its kernels hold at once,
checked against ``tracemalloc`` peaks in ``tests/test_memory.py``) and
:data:`SMALL_BYTES` for the small temporaries no formula follows.  Not
counted: what NumPy cannot report -- BLAS's and the FFT's internal buffers,
thread stacks, and the compiled kernels' code (numba's first compilation
takes tens of MiB once per process; :mod:`tconv.distributed` pays it on
every worker before the graph runs) -- the operands themselves (they exist
already), and arrays on a GPU, which are checked against the device's free
memory (:func:`device_available_bytes`), never against the host's.

>>> check_fits(1024, "a small result")  # fits: returns quietly
>>> available_bytes() > 0
True
>>> with reserve(1024, "a small result"):
...     reserved_bytes() >= 1024
True
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import Any

from ._env import variable

ENV_LIMIT = "TCONV_MEMORY_LIMIT"

#: Small temporaries of a call that no workspace formula follows (index arrays, tap lists, per-tap weight
#: slices, Python objects): the largest excess of a measured peak over the formulas in tests/test_memory.py
#: was under 10 KiB.
SMALL_BYTES = 64 << 10

#: A cgroup v1 limit at or above this is "no limit" (the kernel reports 2**63 rounded down to a page).
_V1_UNLIMITED = 1 << 62

_LOCK = threading.Lock()
_RESERVED = 0


def _meminfo_available() -> int | None:
    text = _read("/proc/meminfo") or ""
    start = text.find("MemAvailable:")
    if start < 0:
        return None
    try:
        return int(text[start:].split(None, 2)[1]) * 1024
    except (ValueError, IndexError):
        return None


def _physical_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _read(path: str) -> str | None:
    """A small text file's stripped contents, None if it cannot be read (raw reads: a system file is read
    on every call that needs a memory reading, and a text-mode open costs several times more)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)


def _stat_value(path: str, key: str) -> int:
    """``key``'s value in a ``memory.stat`` file (0 when absent)."""
    text = _read(path) or ""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


@functools.lru_cache(maxsize=64)
def _levels(base: str, path: str) -> tuple[str, ...]:
    """The directories of a cgroup and its ancestors under ``base`` (just ``base`` when the group's own
    directory is not visible, as inside a container's cgroup namespace); cached per group: a process that
    moves to another group reads a new path from ``/proc/self/cgroup``."""
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    dirs = [os.path.join(base, *parts[:i]) for i in range(len(parts), -1, -1)]
    seen = tuple(d for d in dirs if os.path.isdir(d))
    return seen or (base,)


def _v2_room(directory: str) -> int | None:
    limit = _read(os.path.join(directory, "memory.max"))
    if limit is None or not limit.isdigit():  # "max" or no file: no limit here (usage not read: it costs)
        return None
    current = _read(os.path.join(directory, "memory.current"))
    if current is None or not current.isdigit():
        return None
    reclaimable = _stat_value(os.path.join(directory, "memory.stat"), "inactive_file")
    return max(0, int(limit) - int(current) + reclaimable)


def _v1_room(directory: str) -> int | None:
    limit = _read(os.path.join(directory, "memory.limit_in_bytes"))
    if limit is None or not limit.isdigit() or int(limit) >= _V1_UNLIMITED:  # no limit: usage not read
        return None
    usage = _read(os.path.join(directory, "memory.usage_in_bytes"))
    if usage is None or not usage.isdigit():
        return None
    reclaimable = _stat_value(os.path.join(directory, "memory.stat"), "total_inactive_file")
    return max(0, int(limit) - int(usage) + reclaimable)


def cgroup_room(root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup") -> int | None:
    """Bytes the process's control group (v2 or v1) and its ancestors leave free, or None without a limit.

    ``root`` is where the cgroup file system is mounted and ``proc_cgroup`` the process's membership file
    (both injectable for tests).
    """
    text = _read(proc_cgroup)
    if text is None:
        return None
    rooms = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":  # v2: one unified hierarchy
            rooms += [_v2_room(d) for d in _levels(root, path)]
        elif "memory" in controllers.split(","):
            base = os.path.join(root, controllers)
            if not os.path.isdir(base):
                base = os.path.join(root, "memory")
            rooms += [_v1_room(d) for d in _levels(base, path)]
    rooms = [r for r in rooms if r is not None]
    return min(rooms) if rooms else None


def dask_worker_room() -> int | None:
    """Inside a ``dask.distributed`` task on a worker with a memory limit: that limit times the fraction at
    which the nanny kills the worker, minus this process's resident memory; otherwise None (also outside a
    task, e.g. in ``Client.run``, where ``get_worker`` fails).  Looks only if ``distributed`` is already
    imported (no import cost)."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    manager = getattr(worker, "memory_manager", None)
    limit = getattr(manager, "memory_limit", None) or getattr(worker, "memory_limit", None)
    if not limit:
        return None
    # The nanny kills the worker at a fraction of its limit (distributed.worker.memory.terminate, 0.95 by
    # default): that is the line not to cross.  (Pausing, at a lower fraction, is recoverable; callers that
    # plan their block sizes should plan under it.)
    try:
        import dask

        fraction = dask.config.get("distributed.worker.memory.terminate", default=None)
    except ImportError:
        fraction = None
    if isinstance(fraction, (int, float)) and 0 < fraction <= 1:
        limit = int(limit) * fraction
    try:
        import psutil

        rss = psutil.Process().memory_info().rss
    except (ImportError, OSError):
        return None
    return max(0, int(limit) - int(rss))


def room_bytes() -> int:
    """The memory free for tconv now, before the reservations of running calls (see the module docstring)."""
    override = os.environ.get(ENV_LIMIT)
    if override:
        try:
            return int(override)
        except ValueError:
            raise ValueError(f"{ENV_LIMIT} must be a whole number of bytes, got {override!r}") from None
    rooms = [_meminfo_available() or _physical_bytes(), cgroup_room(), dask_worker_room()]
    return min(r for r in rooms if r is not None)


def reserved_bytes() -> int:
    """Bytes reserved by the calls running in this process now."""
    return _RESERVED


def available_bytes() -> int:
    """Bytes tconv may allocate for one call's result plus workspace: the room less running calls' reservations."""
    return max(0, room_bytes() - _RESERVED)


#: A need of at most this many bytes is granted without reading the system's figures (``/proc/meminfo`` and
#: the cgroup files: reading them costs more than a small call's whole computation, see bench/RESULTS.md); with
#: ``TCONV_MEMORY_LIMIT`` set every need is compared with it.
TRIVIAL_BYTES = 1 << 20


def _trivial_bytes() -> int:
    """Needs up to this many bytes are granted without a reading: :data:`TRIVIAL_BYTES`, or -1 (none)
    when ``TCONV_MEMORY_LIMIT`` is set."""
    return -1 if variable(ENV_LIMIT) else TRIVIAL_BYTES


def trivial(nbytes: int) -> bool:
    """Whether a need of ``nbytes`` is granted without a reading of the system (see :data:`TRIVIAL_BYTES`).

    >>> trivial(1024), trivial(1 << 40)
    (True, False)
    """
    return nbytes <= _trivial_bytes()


class Budget:
    """The memory one call may use: the system's figures (:func:`room_bytes`) read at most once, and only
    for a need above :data:`TRIVIAL_BYTES`, less the running calls' reservations; the call's own
    :func:`reserve` takes the same reading (:attr:`room`), so a call reads the system once.

    >>> b = Budget()
    >>> b.fits(1024), b.fits(1 << 70)
    (True, False)
    """

    def __init__(self) -> None:
        self.room: int | None = None  # what room_bytes() read for this call, None until a need asks
        self._trivial_bytes = _trivial_bytes()  # the variable read once per call

    def limit(self) -> int:
        if self.room is None:
            self.room = room_bytes()
        return max(0, self.room - _RESERVED)

    def fits(self, nbytes: int) -> bool:
        return nbytes <= self._trivial_bytes or nbytes <= self.limit()

    def check(self, nbytes: int, what: str) -> None:
        """:func:`check_fits` against this budget."""
        if not self.fits(nbytes):
            check_fits(nbytes, what, self.limit())


class reserve:  # noqa: N801 - used as a function: ``with reserve(nbytes, what):``
    """Hold ``nbytes`` for the duration of a call, so that concurrent calls count them.

    Raises the guard's ``ValueError`` (nothing reserved) when ``nbytes`` do not fit beside the running
    calls' reservations.  The check and the reservation are one step under a lock, on entering the
    ``with`` block.  ``room`` is a reading of :func:`room_bytes` this call has just taken (its
    :class:`Budget`'s), read afresh when None.  (A class, not a generator: entering and leaving cost a
    small call less than a ``contextlib`` wrapper does.)

    >>> with reserve(1024, "a test"):
    ...     reserved_bytes() >= 1024
    True
    """

    __slots__ = ("nbytes", "what", "room")

    def __init__(self, nbytes: int, what: str = "the call", room: int | None = None) -> None:
        self.nbytes, self.what, self.room = int(nbytes), what, room

    def __enter__(self) -> None:
        global _RESERVED
        nbytes, room = self.nbytes, self.room
        with _LOCK:
            if trivial(nbytes):
                room = nbytes + _RESERVED
            elif room is None:
                room = room_bytes()
            if nbytes > room - _RESERVED:
                check_fits(nbytes, f"{self.what} (beside {_RESERVED} bytes reserved by running calls)",
                           max(0, room - _RESERVED))
            _RESERVED += nbytes

    def __exit__(self, *exc: object) -> None:
        global _RESERVED
        with _LOCK:
            _RESERVED -= self.nbytes


def device_available_bytes(array: Any) -> int | None:
    """Free bytes on the GPU that holds ``array`` (CuPy, PyTorch CUDA, JAX), the host's :func:`available_bytes`
    for arrays in host memory, or None when the device's free memory is unknown (then do not check)."""
    module = type(array).__module__.split(".")[0]
    if module == "cupy":
        import cupy

        with cupy.cuda.Device(array.device.id):
            free, _ = cupy.cuda.runtime.memGetInfo()
        return int(free)
    if module == "torch":
        import torch

        if array.device.type == "cpu":
            return available_bytes()
        if array.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(array.device)
            return int(free)
        return None
    if module in ("jax", "jaxlib"):
        return _jax_available_bytes(array)
    if module in ("numpy", "dask", "array_api_strict", "sparse"):
        return available_bytes()
    return None


def _jax_available_bytes(array: Any) -> int | None:
    """Room in JAX's allocator on the device that holds ``array`` (its ``bytes_limit`` less
    ``bytes_in_use``: JAX takes a share of the GPU up front, so the card's free memory says nothing), the
    host's for an array on the CPU, None for a traced value or a device that reports no statistics."""
    try:
        (device,) = array.devices()
    except Exception:  # a tracer inside jit, or an array sharded over several devices
        return None
    if device.platform == "cpu":
        return available_bytes()
    stats = device.memory_stats() or {}
    if "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def format_bytes(n: int) -> str:
    """Human-readable size, e.g. ``format_bytes(3 * 2**30) == '3.0 GiB'``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"


def check_fits(nbytes: int, what: str, limit: int | None = None) -> None:
    """Raise ``ValueError`` if ``nbytes`` exceed ``limit`` (default: the available memory)."""
    limit = available_bytes() if limit is None else limit
    if nbytes > limit:
        raise ValueError(
            f"{what} would need {nbytes} bytes ({format_bytes(nbytes)}), more than the {limit} bytes "
            f"({format_bytes(limit)}) of memory available; nothing was allocated"
        )
