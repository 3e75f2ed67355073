"""Memory layouts: the one place where an operand is made fit for the kernels.

Users hand tconv arrays in any layout: C or Fortran order, channels-last
views of channels-first shapes, reversed or stepped strides, read-only or
unaligned buffers.  The kernels (NumPy reshapes that must not copy, BLAS
calls, compiled loops) want one layout: C-contiguous, aligned, in the
working dtype.  Each algorithm declares which it needs
(:attr:`tconv.algorithms.Algorithm.layout`); the operator brings the operands
into it once, before the kernel, and the memory guard counts that copy
(:func:`copy_bytes`).  Every registered algorithm declares ``"C"``, the
reference ``direct`` included (its NumPy reshapes would accept any strides,
but BLAS sums in another order on strided operands, and a result that
differs in the last bit with the layout is a result that depends on it).  An operand already in the layout is passed through
untouched, never copied and never written to.

>>> import numpy as np
>>> a = np.arange(6.).reshape(2, 3)
>>> kernel_operand(a, np.float64) is a
True
>>> f = kernel_operand(np.asfortranarray(a), np.float64)
>>> f.flags.c_contiguous and bool((f == a).all())
True
>>> copy_bytes(a.T, np.float64), copy_bytes(a, np.float64), copy_bytes(a, np.float32)
(48, 0, 24)
"""

from __future__ import annotations

import numpy as np

#: What a kernel may be given: ``"C"`` (C-contiguous, aligned, the working dtype) or ``"any"``
#: (any strides and alignment; the dtype is still the working dtype).
LAYOUTS = ("C", "any")


def fits(a: np.ndarray, dtype, layout: str = "C") -> bool:
    """True when ``a`` can go to a kernel that needs ``layout`` in ``dtype`` without a copy."""
    if a.dtype != np.dtype(dtype):
        return False
    return layout == "any" or (a.flags.c_contiguous and a.flags.aligned)


def kernel_operand(a: np.ndarray, dtype, layout: str = "C") -> np.ndarray:
    """``a`` in ``dtype`` and ``layout``: itself when it already fits, else one fresh copy."""
    if fits(a, dtype, layout):
        return a
    if layout == "any":
        return a.astype(dtype)
    return np.require(a, dtype=dtype, requirements=("C", "A"))


def copy_bytes(a: np.ndarray, dtype, layout: str = "C") -> int:
    """Bytes :func:`kernel_operand` allocates for ``a`` (0 when it passes ``a`` through)."""
    return 0 if fits(a, dtype, layout) else int(a.size) * np.dtype(dtype).itemsize
