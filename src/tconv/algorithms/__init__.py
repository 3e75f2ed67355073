"""The algorithm registry: every implementation of the operator, and the automatic choice.

Each algorithm module declares itself at its bottom (``ALGORITHM = Algorithm(...)``, see
:mod:`.registry`); this package registers them in a fixed order, which is the order of :func:`names`
and the tie-break of ``auto``.

>>> names()
('direct', 'gemm', 'phase', 'subpixel', 'nooverlap', 'depthwise', 'fft', 'winograd', 'phase_winograd')
>>> get("direct").name
'direct'
"""

from __future__ import annotations

from . import depthwise, direct, fft, gemm, nooverlap, phase, phase_winograd, subpixel, winograd
from .registry import Algorithm, Kernel, get, names, register, unregister  # noqa: F401 (the registry's face)

for _module in (direct, gemm, phase, subpixel, nooverlap, depthwise, fft, winograd, phase_winograd):
    register(_module.ALGORITHM)
del _module
