"""``jax.lax.conv_transpose`` semantics, as a Geometry run by :func:`tconv.ops.execute`.

``jax.lax.conv_transpose`` runs a stride-1 convolution over the input dilated
by ``strides`` (zeros inserted), padded by ``padding`` per spatial dim:

* ``"SAME"``: ``in * stride`` outputs (``pad_before = k_eff - 1`` when
  ``stride > k_eff - 1``, else ``ceil((k_eff + stride - 2) / 2)``);
* ``"VALID"``: ``in * stride + max(k_eff - stride, 0)`` outputs;
* explicit ``(low, high)`` pairs: used as they are as the padding of the
  dilated input (JAX's default, ``use_consistent_padding=False``), or, with
  ``use_consistent_padding=True``, as the padding of the forward convolution
  (PyTorch's meaning: ``(p, p)`` crops ``p`` at each end).

With ``transpose_kernel=False`` (the default) the kernel is applied as it is
to the dilated input, so relative to PyTorch / Keras / TensorFlow it is
spatially flipped and its I/O axes swapped.  ``transpose_kernel=True`` flips
it and swaps I and O, which is what loads a Keras ``Conv2DTranspose`` or
``tf.nn.conv_transpose`` kernel (``(*k, out, in)`` read as ``HWIO``) unchanged.

Per dim a JAX padding ``(a, b)`` is a crop of ``(k_eff - 1 - a, k_eff - 1 - b)``
of the full transposed output (negative: zeros added): a Geometry with those
crops, and, where they ask for zeros PyTorch's rule cannot place (before the
output, or more after it than an ``output_padding`` gives), a window beyond
its output (:class:`tconv.compat.Windowed`).

>>> import numpy as np
>>> x = np.arange(3.).reshape(1, 3, 1); w = np.array([1., 10, 100]).reshape(3, 1, 1)
>>> conv_transpose(x, w, (2,), "SAME")[0, :, 0]
array([  0.,   0., 100.,  10., 201.,  20.])
>>> conv_transpose(x, w, (2,), "SAME", transpose_kernel=True)[0, :, 0]
array([  0.,   0.,   1.,  10., 102.,  20.])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..shapes import effective_kernel
from .._validate import as_int, compute_dtype, numeric_array
from ._common import Pairs, Windowed, crop_geometry, int_list, run

_WHO = "jax.lax.conv_transpose"

#: jax's default dimension_numbers per rank.
DEFAULT_DIMENSION_NUMBERS = {
    3: ("NHC", "HIO", "NHC"),
    4: ("NHWC", "HWIO", "NHWC"),
    5: ("NHWDC", "HWDIO", "NHWDC"),
}


def transpose_padding(k_eff: int, s: int, padding: Any) -> tuple[int, int]:
    """JAX's padding of the dilated input for 'SAME', 'VALID' or a forward-conv pair (one dim).

    >>> transpose_padding(3, 2, "SAME"), transpose_padding(3, 2, "VALID"), transpose_padding(3, 2, (1, 1))
    ((2, 1), (2, 2), (1, 1))
    """
    if padding == "SAME":
        total = k_eff + s - 2
        before = k_eff - 1 if s > k_eff - 1 else -(-total // 2)
    elif padding == "VALID":
        total = k_eff + s - 2 + max(k_eff - s, 0)
        before = k_eff - 1
    else:
        lo, hi = padding
        before, total = k_eff - lo - 1, 2 * k_eff - lo - hi - 2
    return before, total - before


def _permutations(dimension_numbers: Any, ndim: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(lhs, rhs, out) axis orders: (N, C, *spatial), (O, I, *spatial), (N, C, *spatial), as jax does."""
    if dimension_numbers is None:
        if ndim not in DEFAULT_DIMENSION_NUMBERS:
            raise ValueError(f"{_WHO}: no default dimension_numbers for arrays of rank {ndim}; give them")
        dimension_numbers = DEFAULT_DIMENSION_NUMBERS[ndim]
    specs = tuple(dimension_numbers)
    if len(specs) != 3:
        raise TypeError(f"{_WHO}: dimension_numbers must be (lhs, rhs, out), got {dimension_numbers!r}")
    if all(not isinstance(sp, str) for sp in specs):  # a ConvDimensionNumbers: three permutations
        perms = tuple(tuple(as_int(i, f"{_WHO}: dimension_numbers") for i in sp) for sp in specs)
        if any(sorted(p) != list(range(ndim)) for p in perms):
            raise ValueError(f"{_WHO}: dimension_numbers must be permutations of range({ndim}), got {specs!r}")
        return perms  # type: ignore[return-value]
    if not all(isinstance(sp, str) for sp in specs):
        raise TypeError(f"{_WHO}: dimension_numbers must be three strings, got {dimension_numbers!r}")
    lhs, rhs, out = specs
    for i, (spec, pair) in enumerate(zip(specs, (("N", "C"), ("O", "I"), ("N", "C")))):
        if len(spec) != ndim:
            raise ValueError(f"{_WHO}: dimension_numbers[{i}] {spec!r} must have {ndim} letters (the arrays' rank)")
        if spec.count(pair[0]) != 1 or spec.count(pair[1]) != 1 or len(set(spec)) != len(spec):
            raise ValueError(
                f"{_WHO}: dimension_numbers[{i}] {spec!r} must contain {pair[0]!r} and {pair[1]!r} exactly once "
                f"and no repeated letter"
            )
    if not set(lhs) - {"N", "C"} == set(rhs) - {"O", "I"} == set(out) - {"N", "C"}:
        raise ValueError(f"{_WHO}: dimension_numbers must have the same spatial letters, got {specs!r}")

    def perm(spec: str, pair: tuple[str, str]) -> tuple[int, ...]:
        spatial = [i for i, c in enumerate(spec) if c not in pair]
        if spec is not rhs:
            spatial.sort(key=lambda i: rhs.index(spec[i]))
        return (spec.index(pair[0]), spec.index(pair[1])) + tuple(spatial)

    return perm(lhs, ("N", "C")), perm(rhs, ("O", "I")), perm(out, ("N", "C"))


def _paddings(padding: Any, nd: int, use_consistent_padding: bool) -> list[Any]:
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"{_WHO}: padding must be 'SAME', 'VALID' or {nd} (low, high) pairs, got {padding!r}")
        return [padding] * nd
    try:
        pairs = [tuple(p) for p in padding]
    except TypeError:
        raise TypeError(f"{_WHO}: padding must be 'SAME', 'VALID' or {nd} (low, high) pairs, got {padding!r}") from None
    if len(pairs) != nd or any(len(p) != 2 for p in pairs):
        raise ValueError(f"{_WHO}: padding must have {nd} (low, high) pairs (one per spatial dim), got {padding!r}")
    out = [(as_int(a, f"{_WHO}: padding"), as_int(b, f"{_WHO}: padding")) for a, b in pairs]
    return out if use_consistent_padding else [("raw",) + p for p in out]


def _crops(kernel: Sequence[int], strides: Sequence[int], rhs_dilation: Sequence[int], padding: Any,
           use_consistent_padding: bool) -> Pairs:
    """(crop_before, crop_after) of the full transposed output for JAX's padding."""
    crops = []
    for k, s, d, p in zip(kernel, strides, rhs_dilation, _paddings(padding, len(kernel), use_consistent_padding)):
        k_eff = effective_kernel(k, d)
        a, b = p[1:] if isinstance(p, tuple) and p[0] == "raw" else transpose_padding(k_eff, s, p)
        crops.append((k_eff - 1 - a, k_eff - 1 - b))
    return tuple(crops)


def geometry(
    x_shape: Sequence[int], weight_shape: Sequence[int], dtype: Any = np.float64, *, strides: Any,
    padding: Any, rhs_dilation: Any = None, use_consistent_padding: bool = False,
) -> Windowed:
    """The layer ``jax.lax.conv_transpose`` computes, as a :class:`~tconv.compat.Windowed` Geometry.

    ``x_shape`` is channels-first ``(N, C, *spatial)`` and ``weight_shape`` PyTorch's ``(in, out, *kernel)``
    (after the dimension numbers and ``transpose_kernel`` are applied); the other arguments as
    :func:`conv_transpose` takes them.

    >>> geometry((1, 1, 3), (1, 1, 3), strides=(2,), padding="SAME").crops
    ((0, 1),)
    >>> layer = geometry((1, 1, 3), (1, 1, 3), strides=(2,), padding=[(3, 1)])
    >>> layer.crops, layer.beyond
    (((-1, 1),), ((-1, 0),))
    """
    nd = len(weight_shape) - 2
    stride = int_list(strides, nd, "strides", _WHO, minimum=1, default=1)
    dil = int_list(rhs_dilation, nd, "rhs_dilation", _WHO, minimum=1, default=1)
    crops = _crops(weight_shape[2:], stride, dil, padding, use_consistent_padding)
    layer = crop_geometry(x_shape, weight_shape, dtype, stride=stride, dilation=dil, crops=crops)
    if any(n < 1 for n in layer.output_shape):
        raise ValueError(f"{_WHO}: padding {padding!r} leaves an empty output {layer.output_shape}")
    return layer


def conv_transpose(
    lhs: Any,
    rhs: Any,
    strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    transpose_kernel: bool = False,
    *,
    use_consistent_padding: bool = False,
) -> np.ndarray:
    """``jax.lax.conv_transpose`` on NumPy arrays (same arguments, same result).

    Args:
        lhs: the input, laid out by ``dimension_numbers[0]`` (default ``NH(W(D))C``).
        rhs: the kernel, laid out by ``dimension_numbers[1]`` (default ``H(W(D))IO``).
        strides: one per spatial dim (the input dilation).
        padding: "SAME", "VALID" or ``(low, high)`` pairs (see the module doc).
        rhs_dilation: kernel dilation per spatial dim.
        dimension_numbers: three layout strings, e.g. ``('NCHW', 'OIHW', 'NCHW')``, or
            a ``ConvDimensionNumbers``-like triple of permutations.
        transpose_kernel: flip the kernel and swap its I/O axes (TensorFlow/Keras kernels).
        use_consistent_padding: explicit pairs mean the forward conv's padding.

    >>> x = np.ones((1, 2, 2, 1), np.float32); k = np.ones((3, 3, 1, 4), np.float32)
    >>> conv_transpose(x, k, (2, 2), "SAME").shape
    (1, 4, 4, 4)
    >>> conv_transpose(x, k, (2, 2), "VALID").shape
    (1, 5, 5, 4)
    """
    a = numeric_array(lhs, "lhs")
    w = numeric_array(rhs, "rhs")
    if a.ndim != w.ndim or a.ndim < 3:
        raise ValueError(
            f"{_WHO}: lhs and rhs must have the same rank, at least 3 (one spatial dim), got {a.shape} and {w.shape}"
        )
    lhs_perm, rhs_perm, out_perm = _permutations(dimension_numbers, a.ndim)
    x = a.transpose(lhs_perm)
    r = w.transpose(rhs_perm)  # (O, I, *k)
    if transpose_kernel:
        weight = r  # the O axis meets the input's features; the kernel is used un-flipped
        which = "O"
    else:
        weight = np.flip(r.swapaxes(0, 1), axis=tuple(range(2, r.ndim)))
        which = "I"
    if weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"{_WHO}: rhs's {which} dim ({weight.shape[0]}) must equal lhs's feature dim ({x.shape[1]})"
            + (" (transpose_kernel=True swaps I and O)" if transpose_kernel else "")
        )
    layer = geometry(x.shape, weight.shape, compute_dtype(x, weight), strides=strides, padding=padding,
                     rhs_dilation=rhs_dilation, use_consistent_padding=use_consistent_padding)
    y = run(layer, x, weight)
    return y.transpose(np.argsort(out_perm))
