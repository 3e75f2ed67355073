"""Compiled loops (numba, optional): whether they run, and the decorator that builds them.

The fast algorithms spend much of their time outside their GEMMs: moving data
between the channels-first layout of the operator's arrays and the layouts
the GEMMs want, interleaving output phases, cropping borders and summing the
column blocks of a col2im.  NumPy does each of these as strided passes whose
speed collapses when the inner axes are short.  With ``numba`` (a dependency
of tconv on the platforms numba publishes wheels for; the ``fast`` extra is
kept as an empty alias) they run as compiled loops, each kept with the
algorithm it serves (``gemm_loops``, ``depthwise``, ``winograd``, and
:mod:`.gather` for the re-layouts shared by ``subpixel`` and ``nooverlap``).

Nothing here imports numba when tconv is imported: the first
:func:`available` (the first call that plans an algorithm) imports it, and
each loop is compiled on its first call (``cache=True``: later processes load
it from numba's on-disk cache, ``NUMBA_CACHE_DIR`` or ``__pycache__``).

Index arithmetic in the loops is unsigned: numba, like NumPy, otherwise checks
every signed index for wraparound, which keeps the loops from vectorising.
Without numba (or when it fails to import: a warning says why), or with
``TCONV_NUMBA=0``, :func:`available` is false and the algorithms keep their
NumPy paths, with the same results.

>>> isinstance(available(np.float32), bool), available(np.float16)
(True, False)
"""

from __future__ import annotations

import functools
import os

import numpy as np

ENV_NUMBA = "TCONV_NUMBA"
#: dtypes the compiled kernels are built for; others use the NumPy paths.
COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@functools.lru_cache(maxsize=None)
def _numba():
    """The numba module, or None when it is not installed or ``TCONV_NUMBA=0``."""
    if os.environ.get(ENV_NUMBA, "1").strip() in ("0", "false", "no", "off"):
        return None
    try:
        import numba
    except ImportError:  # not installed (a platform without wheels), or too old / new for this NumPy
        return None
    except Exception as exc:  # noqa: BLE001 - a broken install (llvmlite, ...) must not break tconv
        import warnings

        warnings.warn(f"numba failed to import ({type(exc).__name__}: {exc}); tconv runs its NumPy paths "
                      f"(set {ENV_NUMBA}=0 to skip numba)", RuntimeWarning, stacklevel=3)
        return None
    return numba


def reread_environment() -> None:
    """Read ``TCONV_NUMBA`` (and whether numba imports) again on the next :func:`available`.

    >>> reread_environment()
    """
    _numba.cache_clear()


def available(dtype=np.float32) -> bool:
    """Whether the compiled kernels run for arrays of ``dtype`` (numba installed and not switched off).

    >>> isinstance(available(), bool)
    True
    """
    return _numba() is not None and np.dtype(dtype) in COMPILED_DTYPES


def describe() -> str:
    """Which kernels run, in words, for reports (``tconv explain``, ``tconv bench``).

    >>> describe().startswith(("on (numba", "off ("))
    True
    """
    if os.environ.get(ENV_NUMBA, "1").strip() in ("0", "false", "no", "off"):
        return f"off ({ENV_NUMBA}={os.environ[ENV_NUMBA]}: the NumPy paths)"
    numba = _numba()
    if numba is None:
        return "off (numba does not import here: the NumPy paths)"
    return f"on (numba {numba.__version__})"


def jit(fn):
    """Compile ``fn`` with numba on first use (cached on disk, GIL released); needs :func:`available`.

    The :class:`Helper` placeholders among ``fn``'s globals are replaced by the numba functions they
    build just before ``fn`` is compiled."""
    compiled = None

    @functools.wraps(fn)
    def call(*args):
        nonlocal compiled
        if compiled is None:
            compiled = _compile(fn)
        return compiled(*args)

    return call


def _compile(fn):
    """``fn`` compiled by numba (its helpers built first)."""
    _bind_helpers(fn)
    return _numba().njit(nogil=True, cache=True, boundscheck=False)(fn)


class Helper:
    """A numba-level function that compiled loops call (a register intrinsic, a shared inner loop), which
    Python cannot call: built (importing numba) when the first loop naming it is compiled, never at import.

    A module holds the placeholder under the helper's name (``from .simd import transpose_block``);
    :func:`jit` swaps it for the built function in the calling loop's module before compiling the loop.
    numba's on-disk cache keys a loop on its own source file only: after editing a helper, clear the cache
    (``__pycache__/*.nbi``) of the modules whose loops call it.

    >>> Helper(lambda: "built").built()
    'built'
    """

    def __init__(self, build) -> None:
        self._build, self._built = build, None

    def built(self):
        """The numba function (built once)."""
        if self._built is None:
            self._built = self._build()
        return self._built


def helper(fn) -> Helper:
    """A :class:`Helper` compiling ``fn`` as an inner loop for other compiled loops (its own helpers first).

    >>> isinstance(helper(lambda a: a), Helper)
    True
    """
    return Helper(lambda: _compile(fn))


def _bind_helpers(fn) -> None:
    """Replace the :class:`Helper` placeholders that ``fn`` names among its module's globals by their functions."""
    names = fn.__globals__
    for name in fn.__code__.co_names:
        value = names.get(name)
        if isinstance(value, Helper):
            names[name] = value.built()
