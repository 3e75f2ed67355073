"""The weight gradient of the convolution pair: one GEMM-shaped reduction over the batch and the positions.

Every registered algorithm declares a weight-gradient kernel
(:attr:`~.registry.Algorithm.weight_grad`): the NumPy one of
:mod:`.weight_grad_numpy` (an im2col GEMM, or one product per tap when the
gather would not fit in memory) unless it brings its own, as ``gemm`` does
with its compiled, chunked channels-first im2col and ``subpixel`` with its
blocks (:mod:`.blockconv`).  :func:`weight_grad` picks one: with the compiled
kernels, the one whose convolution the cost model predicts faster on the
same pair of sides (the work is alike: a gather of the big side, one GEMM).

>>> import numpy as np
>>> from tconv.params import geometry_from_shapes
>>> g = geometry_from_shapes(True, (1, 1, 2), (1, 1, 2), np.float64)
>>> weight_grad(np.ones((1, 1, 2)), np.arange(3.).reshape(1, 1, 3), g, method="per_tap")
array([[[1., 3.]]])
"""

from __future__ import annotations

import functools

import numpy as np

from ..params import Geometry
from . import cost, depthwise, gemm, phase_winograd, subpixel, weight_grad_numpy, window, winograd
from .jit import available
from .registry import get
from .weight_grad_numpy import im2col_weight_grad, per_tap_weight_grad


def weight_grad(small: np.ndarray, big: np.ndarray, geom: Geometry, method: str = "auto") -> np.ndarray:
    """``sum over batch, i, t-paired o of small[:, a, i] * big[:, b, o]`` in the weight's layout.

    ``small`` and ``big`` are batched ``(N, C, *spatial)`` arrays of the two
    sides of ``geom`` (for a transposed convolution: its input and the output
    gradient; for a convolution: the output gradient and its input).  The
    result has the layout of the weight of that operator, ``(small channels,
    big channels // groups, *kernel)``.  ``method`` is ``"im2col"`` (one GEMM),
    ``"per_tap"`` (one product per tap), ``"auto"`` (one GEMM over the batch where the one window is the
    whole big side, :mod:`.window`; with the compiled kernels and operands of one dtype: ``depthwise``'s
    per-channel sums where each group has one channel on both sides, ``winograd``'s tiles where
    :func:`winograd_wins`, otherwise
    ``gemm``'s chunked, channels-first im2col and one GEMM per chunk, or ``subpixel``'s blocks where
    :func:`blocks_win`; otherwise im2col when its workspace takes at most a quarter of the available
    memory, else per tap), or the name of a registered algorithm (its declared
    :attr:`~.registry.Algorithm.weight_grad`).
    """
    if method == "auto":
        return _auto_module(geom, small.dtype if small.dtype == big.dtype else None).weight_grad(small, big, geom)
    if method == "im2col":
        return im2col_weight_grad(small, big, geom)
    if method == "per_tap":
        return per_tap_weight_grad(small, big, geom)
    return _named(method).weight_grad(small, big, geom)


def _named(method: str):
    """The registered algorithm ``method`` names, or a ValueError listing what ``method`` may be."""
    try:
        return get(method)
    except ValueError:
        raise ValueError(f"method must be 'auto', 'im2col', 'per_tap' or a registered algorithm's name, "
                         f"got {method!r}") from None


#: The algorithms whose gather of the big side a transposed convolution's backward can share between its
#: input gradient's convolution and the weight gradient: their modules' ``weight_grad``,
#: ``conv_and_weight_grad`` and ``backward_bytes`` (run by :func:`tconv.ops.transposed_gradients`).
SHARED_BACKWARDS = {"gemm": gemm, "winograd": winograd, "phase_winograd": phase_winograd}


def shared_backward(geom: Geometry, dtype) -> str | None:
    """The algorithm whose gather of the big side ``"auto"``'s weight gradient of ``geom`` on operands of
    ``dtype`` (both) runs on: ``"gemm"`` (its im2col), ``"winograd"`` or ``"phase_winograd"`` (their transformed blocks), which a
    transposed convolution's backward then shares with its input gradient's convolution where that plans the
    same algorithm (:data:`SHARED_BACKWARDS`); None for the other weight-gradient kernels.

    >>> from tconv.params import geometry_from_shapes
    >>> dense = geometry_from_shapes(True, (2, 8, 4, 4), (8, 4, 4, 4), np.float32, stride=2, padding=1)
    >>> per_channel = geometry_from_shapes(True, (2, 4, 4, 4), (4, 1, 4, 4), np.float32, stride=2, groups=4)
    >>> stride1 = geometry_from_shapes(True, (8, 64, 56, 56), (64, 64, 3, 3), np.float32, padding=1)
    >>> [shared_backward(g, np.float32) for g in (dense, per_channel, stride1)]  # depthwise sums its own
    ['gemm', None, 'winograd']
    """
    chosen = _auto_module(geom, np.dtype(dtype))
    return next((name for name, module in SHARED_BACKWARDS.items() if chosen is module), None)


def _auto_module(geom: Geometry, dtype: np.dtype | None):
    """The module of ``"auto"``'s weight-gradient kernel for operands of ``dtype`` (None: of two dtypes): its
    ``weight_grad`` and its ``weight_grad_bytes``."""
    if window.whole_window(geom):  # one GEMM over the batch, no gather (any dtype)
        return window
    if dtype is None or not available(dtype):
        return weight_grad_numpy
    if depthwise.unsupported(geom) is None:  # one channel per group: compiled per-channel sums
        return depthwise
    if winograd_wins(geom):
        return winograd
    if phase_winograd_wins(geom):
        return phase_winograd
    return subpixel if blocks_win(geom) else gemm


def workspace_bytes(geom: Geometry, dtype, method: str = "auto") -> int:
    """The bytes :func:`weight_grad` of ``geom`` with ``method`` allocates on operands of ``dtype`` (both, in C
    order), its result included: what :func:`tconv.ops.weight_gradient` reserves (a registered algorithm's
    count covers its fallback to the NumPy gradient where its kernel does not take ``geom``).

    >>> from tconv.params import geometry_from_shapes
    >>> g = geometry_from_shapes(True, (2, 8, 4, 4), (8, 4, 4, 4), np.float32, stride=2, padding=1)
    >>> workspace_bytes(g, np.float32) >= 8 * 4 * 16 * 4  # at least the gradient itself
    True
    >>> workspace_bytes(g, np.float32, "per_tap") < workspace_bytes(g, np.float32, "im2col")
    True
    """
    dtype = np.dtype(dtype)
    size = dtype.itemsize
    if method == "auto":
        counted = _auto_module(geom, dtype).weight_grad_bytes(geom, size)
    elif method in ("im2col", "per_tap"):
        counted = getattr(weight_grad_numpy, f"{method}_weight_grad_bytes")(geom, size)
    else:
        counted = _named(method).weight_grad_bytes(geom, size)
    return counted + counted // ESTIMATE_MARGIN + ESTIMATE_FLOOR_BYTES


#: The kernels' ``weight_grad_bytes`` count their buffers and result; what they leave out (index tables,
#: NumPy's and the kernels' small temporaries) stayed within 2% and 18 KiB of the count on
#: tests/test_memory.py's cases: the reservation adds a 1/ESTIMATE_MARGIN share and ESTIMATE_FLOOR_BYTES.
ESTIMATE_MARGIN = 8
ESTIMATE_FLOOR_BYTES = 64 << 10


#: :func:`winograd_wins` wants winograd's predicted convolution at most this share of gemm's: its weight
#: gradient's 36 GEMMs reduce over the tiles into ``C_small x C_big`` products, further from the BLAS peak
#: than the forward's (measured: 512 channels on 28x28, predicted 0.98 of gemm, ran 1.2x slower than gemm's
#: weight gradient; 64 channels on 56x56, predicted 0.5, ran 0.57 of it).
WINOGRAD_SHARE = 0.8
#: :func:`phase_winograd_wins` wants phase_winograd's predicted convolution at most this share of gemm's: its
#: weight gradient runs at least as close to gemm's as its convolution (measured, one process, alternating,
#: 15 rounds: phase_winograd / gemm weight gradient 0.67 on dcgan_2, 0.73 on dcgan_3, 0.83 on dcgan_4, where
#: the convolutions measured 0.86, 0.92, 0.84 and the cost model predicts 0.72, 0.55, 0.57; dcgan_5, predicted
#: 1.10, ran 1.9).
PHASE_WINOGRAD_SHARE = 1.0


def winograd_wins(geom: Geometry) -> bool:
    """Whether the weight gradient runs in Winograd tiles (:func:`.winograd.weight_grad`): where winograd
    takes the convolution between the two sides of ``geom`` (3x3, stride 1) and the cost model predicts it
    at most :data:`WINOGRAD_SHARE` of ``gemm``'s.

    >>> from tconv.params import geometry_from_shapes
    >>> winograd_wins(geometry_from_shapes(False, (8, 64, 56, 56), (64, 64, 3, 3), np.float32, padding=1))
    True
    >>> winograd_wins(geometry_from_shapes(False, (8, 3, 224, 224), (64, 3, 3, 3), np.float32, padding=1))
    False
    """
    return _tiles_win("winograd", geom, WINOGRAD_SHARE)


def phase_winograd_wins(geom: Geometry) -> bool:
    """Whether the weight gradient runs in phase_winograd's F(4x4, 2x2) tiles
    (:func:`.phase_winograd.weight_grad`): where it takes the convolution between the two sides of ``geom``
    (a 2-D kernel twice the stride) and the cost model predicts it at most :data:`PHASE_WINOGRAD_SHARE` of
    ``gemm``'s.

    >>> from tconv.params import geometry_from_shapes
    >>> phase_winograd_wins(geometry_from_shapes(True, (64, 128, 16, 16), (128, 64, 4, 4), np.float32, stride=2,
    ...                                          padding=1))
    True
    >>> phase_winograd_wins(geometry_from_shapes(True, (64, 512, 4, 4), (512, 256, 4, 4), np.float32, stride=2,
    ...                                          padding=1))  # one tile per image
    True
    >>> phase_winograd_wins(geometry_from_shapes(True, (64, 64, 32, 32), (64, 3, 4, 4), np.float32, stride=2,
    ...                                          padding=1))
    False
    """
    return _tiles_win("phase_winograd", geom, PHASE_WINOGRAD_SHARE)


def _tiles_win(name: str, geom: Geometry, most: float) -> bool:
    share = _share_of_gemm(name, geom.convolution(), cost.generation())
    return share is not None and share <= most


def blocks_win(geom: Geometry) -> bool:
    """Whether the cost model predicts ``subpixel``'s convolution (blocks) faster than ``gemm``'s (im2col) on
    the convolution between the two sides of ``geom``: then the weight gradient runs in blocks too.

    >>> from tconv.params import geometry_from_shapes
    >>> blocks_win(geometry_from_shapes(True, (1, 21, 10, 15), (21, 21, 64, 64), np.float32, stride=32, padding=16))
    True
    >>> blocks_win(geometry_from_shapes(True, (8, 64, 16, 16), (64, 32, 3, 3), np.float32, stride=1, padding=1))
    False
    """
    share = _share_of_gemm("subpixel", geom.convolution(), cost.generation())
    return share is not None and share < 1


@functools.lru_cache(maxsize=512)
def _share_of_gemm(name: str, conv_geom: Geometry, generation: int) -> float | None:
    """Algorithm ``name``'s predicted convolution over ``gemm``'s (None: one of them does not take it)."""
    other = get(name)
    if other.unsupported(conv_geom) or gemm.ALGORITHM.unsupported(conv_geom):
        return None
    return other.cost(conv_geom) / gemm.cost(conv_geom)
