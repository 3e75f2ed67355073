"""The algorithm registry: every implementation of the operator, and the automatic choice.

Each :class:`Algorithm` declares what it supports, how much workspace it
needs and a cost estimate, and provides the two kernels of the adjoint pair
(transposed convolution and convolution).  Kernels receive a batched input in
the working dtype and the memory layout the algorithm declares (``layout``:
``"C"`` for C-contiguous and aligned, the default, or ``"any"``; see
:mod:`tconv.layout`) and the trusted :class:`~tconv.params.Geometry`, and return
a freshly allocated ``(N, C_out, *out_spatial)`` array; they never write to
their inputs.

>>> names()
('direct', 'gemm', 'phase', 'subpixel', 'nooverlap', 'depthwise', 'fft', 'winograd')
>>> get("direct").name
'direct'
"""

from __future__ import annotations

from typing import Callable

from ..params import Geometry
from . import depthwise, direct, fft, gemm, nooverlap, phase, phases, subpixel, winograd
from .registry import Algorithm, Kernel, get, names, register
from .registry import _always, _any_values

def _with_phase_limit(module) -> Callable[[Geometry], str | None]:
    """The module's own ``unsupported`` plus the phase-count limit of the phase-wise algorithms."""
    own = getattr(module, "unsupported", _always)

    def unsupported(geom: Geometry) -> str | None:
        return own(geom) or phases.too_many_phases(geom)

    return unsupported


#: Algorithms that loop over the output phases (see :mod:`tconv.algorithms.phases`).
_PHASE_WISE = {"gemm", "phase", "subpixel", "depthwise"}


def _register_all() -> None:
    for module, name, summary in (
        (direct, "direct", "reference: per-tap matrix product over channels, scattered (the chapter's definition)"),
        (gemm, "gemm", "one GEMM over channels for all taps, then a phase-wise col2im (im2col + GEMM for conv)"),
        (phase, "phase", "sub-pixel decomposition: per output phase, im2col of the sub-kernel + one GEMM, written once"),
        (subpixel, "subpixel", "all phases as one stride-1 correlation: im2col of the common window + one GEMM"),
        (nooverlap, "nooverlap", "stride >= dilated kernel (or 1-position input): one GEMM plus a re-layout"),
        (depthwise, "depthwise", "groups == channels: cache-blocked element-wise multiply-adds, phase by phase, threaded"),
        (fft, "fft", "FFT over the spatial dims, channel mixing per frequency (large kernels, finite inputs)"),
        (winograd, "winograd", "2-D 3x3 stride 1: Winograd F(4x4, 3x3), 36 GEMMs over 6x6 tile transforms (4x fewer MACs)"),
    ):
        register(
            Algorithm(
                name=name,
                summary=summary,
                conv_transpose=module.conv_transpose,
                conv=module.conv,
                workspace_bytes=module.workspace_bytes,
                cost=module.cost,
                unsupported=_with_phase_limit(module) if name in _PHASE_WISE else getattr(module, "unsupported", _always),
                layout=getattr(module, "LAYOUT", "C"),
                declines_values=getattr(module, "accepts_values", _any_values),
            )
        )


_register_all()
