"""The direct algorithm written with array-API operations only, for arrays that are not NumPy.

It runs in the namespace ``xp`` of the caller's arrays (PyTorch, CuPy, JAX,
``array_api_strict``, ...), so GPU arrays stay on their GPU.  It uses no
in-place writes (JAX arrays are immutable) and no library-specific call:
``zeros``, ``concat``, ``expand_dims``, ``reshape``, ``permute_dims``,
slicing (with steps) and ``matmul``.

* Convolution: pad the input with zeros, then for every kernel tap take the
  strided window ``x[t*dilation : ... : stride]`` and contract its channels
  with that tap of the weight (one batched matmul per tap, batched over groups).
* Transposed convolution: insert ``stride - 1`` zeros between the inputs
  (``u[i*stride] = x[i]``), pad, and gather: output ``o`` is the sum over taps
  of ``u[o + before - t*dilation]`` times the tap.  That is the same relation
  ``o = i*stride + t*dilation - before`` as the NumPy kernels, read as a gather.

Both take a batched ``(N, C, *spatial)`` input in the working dtype and the
trusted :class:`~tconv.params.Geometry`, and return ``(N, C_out, *out)``.

>>> import numpy as np
>>> from tconv.params import conv_transpose_geometry
>>> x, w = np.array([[[0., 1], [2, 3]]]), np.array([[[[0., 1], [2, 3]]]])
>>> g = conv_transpose_geometry(x[None], w)
>>> conv_transpose(np, x[None], w, g, "cpu")[0, 0]
array([[ 0.,  0.,  1.],
       [ 0.,  4.,  6.],
       [ 4., 12.,  9.]])
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator

from .params import Geometry
from .shapes import full_size


def _along(ndim: int, axis: int, index: slice) -> tuple[slice, ...]:
    key = [slice(None)] * ndim
    key[axis] = index
    return tuple(key)


def _pad(xp: Any, a: Any, axis: int, before: int, after: int, device: Any) -> Any:
    """Zeros before/after ``a`` along ``axis`` (concatenation: no in-place writes)."""
    parts = []
    for size in (before, after):
        shape = list(a.shape)
        shape[axis] = size
        parts.append(xp.zeros(tuple(shape), dtype=a.dtype, device=device) if size > 0 else None)
    pieces = [p for p in (parts[0], a, parts[1]) if p is not None]
    return pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=axis)


def _dilate(xp: Any, a: Any, axis: int, stride: int, device: Any) -> Any:
    """``u[i*stride] = a[i]`` along ``axis``, zeros in between (the last input ends it)."""
    if stride == 1:
        return a
    shape = tuple(a.shape)
    n = shape[axis]
    zeros = xp.zeros(shape[:axis + 1] + (stride - 1,) + shape[axis + 1:], dtype=a.dtype, device=device)
    interleaved = xp.concat([xp.expand_dims(a, axis=axis + 1), zeros], axis=axis + 1)
    flat = xp.reshape(interleaved, shape[:axis] + (n * stride,) + shape[axis + 1:])
    return flat[_along(len(shape), axis, slice(0, full_size(n, 1, stride, 1)))]


def _channels_last_grouped(xp: Any, a: Any, groups: int) -> Any:
    """(N, C, *sp) -> (G, N, *sp, C // G)."""
    n, c, spatial = a.shape[0], a.shape[1], tuple(a.shape[2:])
    nd = len(spatial)
    grouped = xp.reshape(a, (n, groups, c // groups) + spatial)
    return xp.permute_dims(grouped, (1, 0, *range(3, 3 + nd), 2))


def _contract(xp: Any, pairs: Iterator[tuple[Any, Any]], batch: int, out: tuple[int, ...], groups: int) -> Any:
    """Sum over taps of ``window @ tap_weight``, one tap at a time; returns (N, C_out, *out)."""
    acc = None
    size = batch
    for n in out:
        size *= n
    for window, tap_weight in pairs:
        cols = xp.reshape(window, (groups, size, window.shape[-1]))
        term = xp.matmul(cols, tap_weight)
        acc = term if acc is None else acc + term
    cog = acc.shape[-1]
    y = xp.reshape(acc, (groups, batch) + out + (cog,))
    nd = len(out)
    y = xp.permute_dims(y, (1, 0, nd + 2, *range(2, 2 + nd)))
    return xp.reshape(y, (batch, groups * cog) + out)


def conv_transpose(xp: Any, x: Any, w: Any, geom: Geometry, device: Any) -> Any:
    """Transposed convolution of batched ``x`` with ``w`` ``(C_in, C_out // G, *k)`` in namespace ``xp``."""
    nd, g = geom.ndim, geom.groups
    u = x
    for a in range(nd):
        u = _dilate(xp, u, 2 + a, geom.stride[a], device)
    starts = []
    for a in range(nd):
        reach = geom.effective_kernel[a] - 1  # taps reach this far before an input
        lo, m, length = geom.before[a], geom.output_shape[a], u.shape[2 + a]
        front, back = max(0, reach - lo), max(0, m + lo - length)
        u = _pad(xp, u, 2 + a, front, back, device)
        starts.append(lo + front)
    u = _channels_last_grouped(xp, u, g)
    wg = xp.reshape(w, (g, geom.in_channels // g, geom.out_channels // g) + geom.kernel_shape)

    def pairs() -> Iterator[tuple[Any, Any]]:
        for tap in itertools.product(*(range(k) for k in geom.kernel_shape)):
            index = tuple(slice(st - t * d, st - t * d + m)
                          for st, t, d, m in zip(starts, tap, geom.dilation, geom.output_shape))
            yield u[(slice(None), slice(None), *index, slice(None))], wg[(slice(None),) * 3 + tap]

    return _contract(xp, pairs(), x.shape[0], geom.output_shape, g)


def conv(xp: Any, x: Any, w: Any, geom: Geometry, device: Any) -> Any:
    """Convolution of batched ``x`` with ``w`` ``(C_out, C_in // G, *k)`` in namespace ``xp``."""
    nd, g = geom.ndim, geom.groups
    p = x
    for a in range(nd):
        p = _pad(xp, p, 2 + a, geom.before[a], max(0, geom.crops[a][1]), device)  # zeros up to the full extent
    p = _channels_last_grouped(xp, p, g)
    wg = xp.reshape(w, (g, geom.out_channels // g, geom.in_channels // g) + geom.kernel_shape)

    def pairs() -> Iterator[tuple[Any, Any]]:
        for tap in itertools.product(*(range(k) for k in geom.kernel_shape)):
            index = tuple(slice(t * d, t * d + full_size(m, 1, s, 1), s)
                          for t, d, s, m in zip(tap, geom.dilation, geom.stride, geom.output_shape))
            window = p[(slice(None), slice(None), *index, slice(None))]
            yield window, xp.permute_dims(wg[(slice(None),) * 3 + tap], (0, 2, 1))

    return _contract(xp, pairs(), x.shape[0], geom.output_shape, g)
