"""What the framework dialects share: attribute parsing, and a Geometry seen through a window.

Each dialect translates its attributes into a :class:`~tconv.params.Geometry`
(PyTorch's rule: per spatial dim, ``padding`` outputs cropped from each end of
the full output, ``output_padding`` positions added at the end) and runs it
with :func:`tconv.ops.execute`.  A Geometry's :attr:`~tconv.params.Geometry.crops`
are the framework's crops: ``(before, after)`` removed from the full output,
``after`` negative where the output runs past the last contribution.

One framework asks for more than PyTorch's rule reaches: JAX's explicit
padding may put zeros *before* the output, or more zeros after it than an
``output_padding`` (smaller than stride or dilation) gives.  Such a layer is a
:class:`Windowed` Geometry: the Geometry PyTorch's rule runs, and the window
``beyond`` its output (per dim ``(before, after)`` cropped from it; negative:
zeros added).  For every other layer ``beyond`` is all zeros.

>>> import numpy as np
>>> w = crop_geometry((1, 1, 2), (1, 1, 2), np.float64, stride=(2,), dilation=(1,), crops=((-1, -2),))
>>> w.geometry.crops, w.beyond, w.crops, w.output_shape
(((0, -1),), ((-1, -1),), ((-1, -2),), (7,))
>>> run(w, np.ones((1, 1, 2)), np.ones((1, 1, 2)))
array([[[0., 1., 1., 1., 1., 0., 0.]]])
"""

from dataclasses import replace
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..ops import execute
from ..params import Geometry, geometry_from_shapes
from ..shapes import full_size
from .._validate import as_int

Pairs = tuple[tuple[int, int], ...]

#: The frameworks whose layers :func:`tconv.compat.translate` reads and writes.
FRAMEWORKS = ("pytorch", "tconv", "onnx", "tensorflow", "keras", "jax", "mxnet")


def check_framework(framework: str, name: str = "framework") -> str:
    """``framework`` if it is one of :data:`FRAMEWORKS`, else a ValueError naming ``name``.

    >>> check_framework("onnx")
    'onnx'
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"{name} must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    return framework


def int_list(value: Any, ndim: int, name: str, framework: str, *, minimum: int, default: int) -> tuple[int, ...]:
    """A framework's per-dim integer attribute (None or empty -> default); errors name the attribute.

    >>> int_list([2, 3], 2, "strides", "ONNX", minimum=1, default=1)
    (2, 3)
    >>> int_list(None, 2, "pads", "ONNX", minimum=0, default=0)
    (0, 0)
    """
    if value is None:
        return (default,) * ndim
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{framework}: {name} must be a sequence of {ndim} integers, got {value!r}")
    if np.ndim(value) == 0:
        values = (as_int(value, f"{framework}: {name}"),) * ndim
    else:
        values = tuple(as_int(v, f"{framework}: {name}") for v in np.asarray(value, dtype=object).ravel())
        if len(values) == 0:
            return (default,) * ndim
        if len(values) != ndim:
            raise ValueError(
                f"{framework}: {name} must have one entry per spatial dim ({ndim}), got {list(values)} "
                f"with {len(values)} entries"
            )
    for dim, v in enumerate(values):
        if v < minimum:
            raise ValueError(f"{framework}: {name} must be >= {minimum} in every dim, got {list(values)} (dim {dim})")
    return values


class Windowed(NamedTuple):
    """A layer: the :class:`~tconv.params.Geometry` PyTorch's rule runs, and the window ``beyond`` its output.

    ``beyond`` holds ``(before, after)`` per spatial dim, cropped from the Geometry's output (negative: zeros
    added); all zeros unless a framework asks for positions PyTorch's rule cannot give.
    """

    geometry: Geometry
    beyond: Pairs

    @classmethod
    def exact(cls, geometry: Geometry) -> "Windowed":
        """``geometry`` alone (no window beyond its output)."""
        return cls(geometry, ((0, 0),) * geometry.ndim)

    @property
    def crops(self) -> Pairs:
        """``(before, after)`` per dim removed from the full output (negative: zeros added at that end)."""
        return tuple((a + c, b + e) for (a, b), (c, e) in zip(self.geometry.crops, self.beyond))

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Spatial shape of the layer's output (the window; not positive where the crops run past each other)."""
        return tuple(n - lo - hi for n, (lo, hi) in zip(self.geometry.output_shape, self.beyond))


def crop_geometry(x_shape: Sequence[int], weight_shape: Sequence[int], dtype: Any = np.float64, *,
                  stride: Sequence[int], dilation: Sequence[int], crops: Pairs, groups: int = 1,
                  bias: bool = False) -> Windowed:
    """The layer whose output is the window ``crops`` of the full output (see the module doc).

    The Geometry takes as much of the crops as PyTorch's rule reaches: the non-negative part as
    ``padding`` (at most the full output less one position) and zeros at the end as ``output_padding``
    (smaller than stride or dilation); ``beyond`` is the rest.  Crops that leave no output give a
    :class:`Windowed` whose ``output_shape`` is not positive; the caller refuses it in its own words.

    >>> crop_geometry((1, 1, 3), (1, 1, 3), stride=(2,), dilation=(1,), crops=((1, -1),)).geometry.padding
    ((1, 0),)
    """
    kernel = tuple(weight_shape[2:])
    spatial = tuple(x_shape[-len(kernel):])
    pads, output_padding, beyond = [], [], []
    for n, k, s, d, (lo, hi) in zip(spatial, kernel, stride, dilation, crops):
        full = full_size(n, k, s, d)
        before = min(max(lo, 0), full - 1)
        after = min(max(hi, 0), full - 1 - before)
        op = min(max(-hi, 0), max(s, d) - 1)
        pads.append((before, after))
        output_padding.append(op)
        beyond.append((lo - before, hi - (after - op)))
    geom = geometry_from_shapes(True, x_shape, weight_shape, dtype, bias=bias, stride=tuple(stride),
                                dilation=tuple(dilation), groups=groups, padding=tuple(pads),
                                output_padding=tuple(output_padding))
    return Windowed(geom, tuple(beyond))


def run(layer: Windowed, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """Run ``layer.geometry`` with :func:`tconv.ops.execute`, then cut its window ``layer.beyond``.

    The bias is added to every position of the window, the zeros added beyond the Geometry's output
    included (as ONNX Runtime does), and the result is rounded to the Geometry's dtype once.

    >>> layer = crop_geometry((1, 1, 2), (1, 1, 2), stride=(1,), dilation=(1,), crops=((-1, 0),))
    >>> run(layer, np.ones((1, 1, 2)), np.ones((1, 1, 2)), np.array([10.]))
    array([[[10., 11., 12., 11.]]])
    """
    geom, beyond = layer
    if all(b == (0, 0) for b in beyond):
        return execute(geom, x, weight, bias)
    if bias is None:
        return apply_extra(execute(geom, x, weight), beyond)
    # the bias also lands on the zeros added: run in the working dtype (float16 / bfloat16 compute in
    # float32), cut the window, add the bias there, then round once to the result dtype
    work = np.promote_types(geom.dtype, np.float32)
    y = apply_extra(execute(replace(geom, dtype=work), x, weight), beyond)
    y += np.asarray(bias).astype(work, copy=False).reshape((-1,) + (1,) * geom.ndim)
    return y.astype(geom.dtype, copy=False)


def apply_extra(y: Any, extra: Pairs, spatial_axes: Sequence[int] | None = None) -> np.ndarray:
    """The window ``extra`` of ``y``: per axis ``(before, after)`` cropped, negative entries added as zeros.

    The axes are the last ``len(extra)`` of ``y`` (channels-first) unless ``spatial_axes`` names them; this
    is how a :class:`~tconv.compat.Translation`'s ``extra_crop`` completes the target layer.

    >>> apply_extra(np.arange(5.).reshape(1, 1, 5), ((1, -2),))
    array([[[1., 2., 3., 4., 0., 0.]]])
    """
    y = np.asarray(y)
    axes = list(spatial_axes) if spatial_axes is not None else list(range(y.ndim - len(extra), y.ndim))
    shape = list(y.shape)
    src, dst = [slice(None)] * y.ndim, [slice(None)] * y.ndim
    empty = False
    for axis, (lo, hi) in zip(axes, extra):
        have = y.shape[axis]
        shape[axis] = max(have - lo - hi, 0)
        a, b = max(lo, 0), min(have, have - hi)  # the part of y inside the window
        empty = empty or a >= b
        src[axis], dst[axis] = slice(a, b), slice(a - lo, b - lo)
    out = np.zeros(shape, dtype=y.dtype)
    if not empty:
        out[tuple(dst)] = y[tuple(src)]
    return out
