"""FFT algorithm: the stride-1 linear convolution of the zero-upsampled input, in the frequency domain.

A transposed convolution is the full linear convolution of the input, with
``stride - 1`` zeros inserted between samples, with the dilated kernel, then
cropped.  Per frequency it is a ``(C_out, C_in)`` matrix-vector product, so
its cost barely depends on the kernel size: it pays only for large kernels at
small strides.  The convolution (the adjoint) is a correlation computed the
same way and then subsampled by the stride.

A NaN or infinity anywhere in an FFT spreads to every output, unlike the
direct definition.  The FFT never hands such inputs to another algorithm
behind the caller's back (that would bypass the other algorithm's limits and
memory check): :func:`accepts_values` says why it declines them, the planner
does not choose ``fft`` for them, and the kernels refuse them with a
``ValueError`` naming ``fft`` and the reason.

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> x = np.array([[[[0., 1], [2, 3]]]]); k = np.array([[[[0., 1], [2, 3]]]])
>>> np.round(conv_transpose(x, k, conv_transpose_geometry(x, k)), 12)[0, 0]
array([[ 0.,  0.,  1.],
       [ 0.,  4.,  6.],
       [ 4., 12.,  9.]])
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..params import Geometry
from ..shapes import effective_kernel
from .cost import constants, gemm_seconds, per_call_seconds
from .phasing import prod
from .registry import Algorithm

_CHUNK_BYTES = 1 << 27  # complex spectra held at once, per output-channel chunk


@functools.lru_cache(maxsize=1)
def _scipy_fft():
    """``scipy.fft``, imported on first use (it takes longer to import than the rest of tconv)."""
    from scipy import fft

    return fft

def _fast_shape(lengths) -> tuple[int, ...]:
    return tuple(_scipy_fft().next_fast_len(int(n), real=True) for n in lengths)


def _dilate(a: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Insert ``factor - 1`` zeros between samples along the trailing dims."""
    nd = len(factors)
    if all(f == 1 for f in factors):
        return a
    shape = a.shape[:-nd] + tuple(effective_kernel(n, f) for n, f in zip(a.shape[-nd:], factors))
    out = np.zeros(shape, dtype=a.dtype)
    out[(Ellipsis,) + tuple(slice(None, None, f) for f in factors)] = a
    return out


def accepts_values(x: np.ndarray, weight: np.ndarray) -> str | None:
    """Why the FFT declines these operands (an inf or a nan in ``x`` or ``weight``), or None.

    The reason reads after "algorithm 'fft' does not support ", as the registry's ``unsupported`` reasons do.

    >>> accepts_values(np.ones(3), np.ones(2)) is None
    True
    >>> accepts_values(np.array([1.0, np.inf]), np.ones(2))
    'x containing inf or nan (the FFT would spread them over the whole output; use another algorithm)'
    """
    for name, a in (("x", x), ("weight", weight)):
        if a.dtype.kind in "iub":  # integers and bools are finite
            continue
        try:
            finite = bool(np.isfinite(a).all())
        except TypeError:  # a dtype without isfinite: nothing to say against it
            continue
        if not finite:
            return f"{name} containing inf or nan (the FFT would spread them over the whole output; use another algorithm)"
    return None


def _refuse_non_finite(x: np.ndarray, weight: np.ndarray) -> None:
    reason = accepts_values(x, weight)
    if reason:
        raise ValueError(f"algorithm 'fft' does not support {reason}")


def _empty(geom: Geometry, dtype) -> np.ndarray:
    return np.zeros((geom.batch, geom.out_channels) + geom.output_shape, dtype=dtype)


def _mix(xf: np.ndarray, wf: np.ndarray) -> np.ndarray:
    """``(N, g, ci, F) x (g, ci, co, F) -> (N, g, co, F)``: one complex GEMM per frequency."""
    a = np.ascontiguousarray(xf.transpose(1, 3, 0, 2))  # (g, F, N, ci)
    b = np.ascontiguousarray(wf.transpose(0, 3, 1, 2))  # (g, F, ci, co)
    return np.matmul(a, b).transpose(2, 0, 3, 1)  # (N, g, co, F)


def _spectral_product(x: np.ndarray, w: np.ndarray, g: int, shape: tuple[int, ...]) -> np.ndarray:
    """Full linear convolution over the trailing dims, summed over input channels.

    ``x``: ``(N, g*ci, *sx)``; ``w``: ``(g*ci, co, *sw)``.  Returns ``(N, g*co, *shape)`` (real).
    """
    nd = len(shape)
    axes = tuple(range(-nd, 0))
    n, co = x.shape[0], w.shape[1]
    ci = x.shape[1] // g
    sfft = _scipy_fft()
    xf = sfft.rfftn(x, s=shape, axes=axes, workers=-1)
    freq_shape = xf.shape[2:]
    xf = xf.reshape((n, g, ci, -1))
    out = np.empty((n, g, co) + shape, dtype=x.dtype)
    per_channel = max(1, g * ci * xf.shape[-1] * 16)
    step = max(1, min(co, _CHUNK_BYTES // per_channel))
    wg = w.reshape((g, ci, co) + w.shape[2:])
    for c0 in range(0, co, step):
        c1 = min(co, c0 + step)
        wf = sfft.rfftn(wg[:, :, c0:c1], s=shape, axes=axes, workers=-1).reshape((g, ci, c1 - c0, -1))
        yf = _mix(xf, wf).reshape((n, g, c1 - c0) + freq_shape)
        out[:, :, c0:c1] = sfft.irfftn(yf, s=shape, axes=axes, workers=-1)
    return out.reshape((n, g * co) + shape)


def _crop(full: np.ndarray, starts: tuple[int, ...], steps: tuple[int, ...], lengths: tuple[int, ...]) -> np.ndarray:
    """``full[..., start + step * j]`` for ``j < length`` per dim, zeros past the end of ``full``."""
    out = np.zeros(full.shape[:2] + lengths, dtype=full.dtype)
    src, dst = [], []
    for n, a, st, m in zip(full.shape[2:], starts, steps, lengths):
        j0 = max(0, -(a // st)) if a < 0 else 0
        j1 = min(m, (n - 1 - a) // st + 1) if n - 1 >= a else 0
        j1 = max(j0, j1)
        src.append(slice(a + st * j0, a + st * j1, st))
        dst.append(slice(j0, j1))
    out[(slice(None), slice(None)) + tuple(dst)] = full[(slice(None), slice(None)) + tuple(src)]
    return out


def conv_transpose(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Upsample, FFT, per-frequency channel mixing, inverse FFT, crop."""
    _refuse_non_finite(x, weight)
    if geom.batch == 0:
        return _empty(geom, x.dtype)
    xu = _dilate(x, geom.stride)
    wu = _dilate(weight, geom.dilation)
    full = tuple(a + b - 1 for a, b in zip(xu.shape[2:], wu.shape[2:]))
    spec = _spectral_product(xu, wu, geom.groups, _fast_shape(full))
    spec = spec[(slice(None), slice(None)) + tuple(slice(0, f) for f in full)]
    return _crop(spec, geom.before, (1,) * geom.ndim, geom.output_shape)


def conv(x: np.ndarray, weight: np.ndarray, geom: Geometry) -> np.ndarray:
    """Correlation by FFT (convolution with the flipped kernel), then subsample by the stride."""
    _refuse_non_finite(x, weight)
    if geom.batch == 0:
        return _empty(geom, x.dtype)
    g = geom.groups
    co, ci = geom.out_channels // g, geom.in_channels // g
    nd = geom.ndim
    flipped = weight[(Ellipsis,) + (slice(None, None, -1),) * nd]
    # (C_out, ci, *k) -> (g*ci, co, *k): the channel layout _spectral_product expects
    w = flipped.reshape((g, co, ci) + geom.kernel_shape).transpose((0, 2, 1) + tuple(range(3, 3 + nd)))
    wu = _dilate(np.ascontiguousarray(w).reshape((g * ci, co) + geom.kernel_shape), geom.dilation)
    full = tuple(a + b - 1 for a, b in zip(x.shape[2:], wu.shape[2:]))
    spec = _spectral_product(x, wu, g, _fast_shape(full))
    # output i reads input positions i*s + t*d - lo; the full convolution index is i*s - lo + keff - 1
    starts = tuple(b - 1 - lo for b, lo in zip(wu.shape[2:], geom.before))
    return _crop(spec[(slice(None), slice(None)) + tuple(slice(0, f) for f in full)], starts, geom.stride, geom.output_shape)


def workspace_bytes(geom: Geometry, itemsize: int) -> int:
    """The upsampled operands, the input's spectrum and its re-laid-out copy, the full-size real result,
    and per chunk of output channels the kernel spectra (and their copy), the mixed spectra (and their
    copy) and their inverse transform (see :func:`_spectral_product`); the FFT's own scratch is about one
    more spectrum."""
    full = geom.full_shape
    shape = _fast_shape(full)
    f = prod(shape)
    fc = prod(shape[:-1]) * (shape[-1] // 2 + 1)  # complex frequencies
    g, n = geom.groups, geom.batch
    cs, co = geom.in_channels // g, geom.out_channels // g  # channels in and out of the spectral product
    step = max(1, min(co, _CHUNK_BYTES // max(1, g * cs * fc * 16)))
    # the upsampled input and kernel (conv: the flipped weight's copy too)
    upsampled = n * g * cs * prod(full) + 2 * g * cs * co * prod(geom.effective_kernel)
    spectra = 2 * (2 * n * g * cs * fc) + n * g * co * f  # xf, its copy in _mix; the real full-size result
    chunk = 2 * (2 * g * cs * step * fc) + 2 * (2 * n * g * step * fc) + n * g * step * f
    scratch = 2 * max(n * g * cs, g * cs * step, n * g * step) * fc
    return (upsampled + spectra + chunk + scratch) * itemsize


#: Cost model: a transform of ``f`` points costs ``f * log2(f)`` times this many byte_seconds
FFT_BYTES_PER_POINT_LOG = 2
#: the channel mixing: complex GEMMs (4 real multiply-adds each) times 4, fitted to the suite's measurements
#: (the batched complex matmul runs far from the BLAS peak)
COMPLEX_MIXING_FACTOR = 16
#: about this many NumPy calls whatever the size (transforms, transposes, crops): FFT never wins on small problems
FIXED_STEPS = 40
#: byte passes per full-size position and big-side channel (the real full-size result and its crop)
FULL_RESULT_BYTES = 8

def cost(geom: Geometry) -> float:
    """FFTs of every input, kernel and output channel plus one complex GEMM per frequency."""
    c = constants(np.promote_types(geom.dtype, np.float32))
    f = prod(geom.full_shape)
    g = geom.groups
    cs, cb = geom.small_channels // g, geom.big_channels // g
    transforms = geom.batch * (geom.small_channels + geom.big_channels) + geom.small_channels * cb
    fft_seconds = transforms * f * math.log2(max(f, 2)) * c.byte_seconds * FFT_BYTES_PER_POINT_LOG
    # complex GEMMs per frequency plus the transposes around them
    mixing = COMPLEX_MIXING_FACTOR * gemm_seconds(geom.batch, cb, cs, c, calls=g * (f // 2 + 1))
    calls = FIXED_STEPS * c.step_seconds
    return (fft_seconds + mixing + FULL_RESULT_BYTES * f * geom.batch * geom.big_channels * c.byte_seconds + calls
            + per_call_seconds(c))


ALGORITHM = Algorithm(
    name="fft",
    summary="FFT over the spatial dims, channel mixing per frequency (large kernels, finite inputs)",
    conv_transpose=conv_transpose,
    conv=conv,
    workspace_bytes=workspace_bytes,
    cost=cost,
    declines_values=accepts_values,
)
