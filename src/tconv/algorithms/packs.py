"""Weight re-layouts kept from one call to the next by a plan bound to a fixed weight.

Several kernels re-lay out the weight on every call before their GEMM: ``gemm``'s channels-last blocks,
``subpixel``'s combined phase weight, :mod:`.blockconv`'s blocks, ``winograd``'s filter transform.  Where
the weight does not change between calls (inference, an iterative solver), that work can be done once:
:meth:`tconv.plans.Plan.bind` keeps a frozen copy of the weight and a :class:`Store`, and runs every call
inside :func:`keeping` it.  A kernel asks :func:`packed` for its re-layout by a key that names the kernel
and the part of the weight (a block of channels or phases); inside a store the first call builds it and
later calls get the same array, outside one it is built afresh.  The geometry and dtype are the bound
plan's, so they are not part of the key.  A store holds at most :data:`STORE_SHARE` times its weight's bytes
(plus :data:`STORE_FLOOR_BYTES`): past that, re-layouts are built per call, as without a store.

>>> import numpy as np
>>> store = Store(np.ones(4))
>>> builds = []
>>> def build():
...     builds.append(1)
...     return np.arange(3)
>>> with keeping(store):
...     a = packed(("demo", 0), build)
...     b = packed(("demo", 0), build)
>>> a is b, len(builds), keeps()
(True, 1, False)
"""

from __future__ import annotations

import contextvars
from typing import Callable, Hashable

import numpy as np

#: A store keeps re-layouts up to this many times the bytes of its weight (plus STORE_FLOOR_BYTES): enough
#: for the largest, ``phase_winograd``'s transformed filter (25 points per 4 taps: 6.25 times the weight).
STORE_SHARE = 7
STORE_FLOOR_BYTES = 1 << 20


class Store:
    """The re-layouts of one frozen weight, by key.  Thread-safe without a lock (nothing for a forked child to
    inherit locked): two first calls may both build, ``dict.setdefault`` keeps one; the byte count may then
    run one array over its limit."""

    def __init__(self, weight: np.ndarray) -> None:
        self.limit = STORE_SHARE * weight.nbytes + STORE_FLOOR_BYTES
        self.nbytes = 0
        self._arrays: dict[Hashable, np.ndarray] = {}

    def get(self, key: Hashable, build: Callable[[], np.ndarray]) -> np.ndarray:
        found = self._arrays.get(key)
        if found is not None:
            return found
        array = build()
        if self.nbytes + array.nbytes > self.limit:
            return array
        array.flags.writeable = False  # shared by every later call
        kept = self._arrays.setdefault(key, array)
        if kept is array:
            self.nbytes += array.nbytes
        return kept

    def __len__(self) -> int:
        return len(self._arrays)


_ACTIVE: contextvars.ContextVar[Store | None] = contextvars.ContextVar("tconv_weight_store", default=None)


class keeping:  # noqa: N801 - used as a function: ``with keeping(store):``
    """Run the block with ``store`` active (None: none), in this thread or task only."""

    __slots__ = ("store", "_token")

    def __init__(self, store: Store | None) -> None:
        self.store = store

    def __enter__(self) -> None:
        self._token = _ACTIVE.set(self.store)

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.reset(self._token)


def keeps() -> bool:
    """Whether a store is active: kernels then ask :func:`packed` for fresh arrays, not reused buffers."""
    return _ACTIVE.get() is not None


def packed(key: Hashable, build: Callable[[], np.ndarray]) -> np.ndarray:
    """``build()``, or inside :func:`keeping` a store, the array it kept for ``key`` (built on first use)."""
    store = _ACTIVE.get()
    return build() if store is None else store.get(key, build)
