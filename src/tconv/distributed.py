"""Chunked execution on Dask: ``conv_transpose`` and ``conv`` for arrays larger than memory.

Both functions take a ``dask.array.Array`` (weight and bias are NumPy) and the
core functions' keyword arguments, ``padding_mode`` included, and return a
lazy ``dask.array.Array`` equal to what :func:`tconv.conv_transpose` /
:func:`tconv.conv` give on the whole array.  Nothing is computed until you
call ``.compute()``, ``.to_zarr(...)``, ``da.store(...)``; it runs on any Dask
scheduler, a ``dask.distributed`` cluster included.

How the graph is built: the batch and spatial dims stay chunked (the channel
dim is made one chunk).  Output chunks are regular: along each spatial dim
``stride`` times the largest input chunk for a transposed convolution,
``ceil(chunk / stride)`` for a convolution.  For every output block,
:mod:`tconv.chunking` gives the exact input range that contributes to it
(the halo included) and the ``(before, after)`` padding that makes the core
operator produce exactly that block from exactly that input.  The graph gets
two tasks per output block: one gathers the needed slices of the neighbouring
input blocks into one array, the next calls the core operator on it.  No task
sees more input than its block needs.

Boundary modes (``padding_mode`` other than ``"zeros"``) follow the same plan
on the operator's *kernel geometry* (:meth:`tconv.params.Geometry.kernel_geometry`:
zero padding over the padded extent), with the halo taken by the mode's own
rule (:func:`tconv.boundary.source_index`):

* a convolution's block reads a range of the padded input; the gather task
  takes it from the input blocks it maps to (the far end for ``"circular"``,
  mirrored entries for ``"reflect"``, the edge entry repeated for
  ``"replicate"``), so the padded array never exists as a whole;
* a transposed convolution's output block receives the padded-extent outputs
  that :func:`tconv.boundary.fold` adds onto it: its own range, and for the
  blocks at an edge the thin border ranges folded back onto them.  Each
  range is computed once, by its own compute task, and a fold task adds them
  up (wrapped, mirrored, or summed onto the edge entry) and then the bias.
  Blocks away from the edges are exactly the zero-padding blocks.

Needs the ``dask`` extra: ``pip install 'tconv[dask]'``.

>>> import numpy as np, dask.array as da, tconv
>>> x = da.from_array(np.arange(8.).reshape(1, 1, 8), chunks=(1, 1, 3))
>>> w = np.ones((1, 1, 3))
>>> y = conv_transpose(x, w, stride=2, padding=1)
>>> y.chunks
((1,), (1,), (6, 6, 3))
>>> bool(np.allclose(y.compute(), tconv.conv_transpose(x.compute(), w, stride=2, padding=1)))
True
>>> z = conv(x, w, padding=2, padding_mode="circular")
>>> bool(np.allclose(z.compute(), tconv.conv(x.compute(), w, padding=2, padding_mode="circular")))
True
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import ops
from .boundary import source_index
from .chunking import Span, blocks_covering, forward_span, output_chunk_size, split, transposed_span
from .params import Geometry, conv_geometry, conv_transpose_geometry, geometry_from_shapes, stand_in
from ._validate import numeric_array

try:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "tconv.distributed needs Dask: pip install 'tconv[dask]' (dask[array,distributed] and zarr)"
    ) from exc

__all__ = ["conv", "conv_transpose"]


# ---------------------------------------------------------------------------
# tasks (module-level functions and plain dataclasses, so that they pickle to workers)


@dataclass(frozen=True)
class _Gather:
    """Where the pieces of one output block's input come from: a grid of local slices.

    ``take`` (per spatial dim, or None where the gathered slices are already the wanted range in order) picks
    the wanted entries out of the concatenated slices: a boundary mode's halo, which may wrap around, run
    backwards or repeat the edge entry.
    """

    grid: tuple[int, ...]  # number of input blocks along each spatial dim
    slices: tuple[tuple[slice, ...], ...]  # per block (C-order over the grid): spatial slices
    take: tuple[np.ndarray | None, ...] | None = None


@dataclass(frozen=True)
class _Block:
    """How to turn one gathered input piece into one output block (or one part of it, see :class:`_Fold`)."""

    shape: tuple[int, ...]  # output block shape (N, C_out, *spatial)
    spans: tuple[Span, ...]
    geometry: Geometry | None  # of the operator on the gathered piece (None: no input reaches the block)
    algorithm: str
    dtype: np.dtype


#: One run of a fold along one dim: local positions ``[start, stop)`` of a computed part land on the block's
#: entries from ``target`` on with ``step`` +1 (in order), -1 (mirrored) or 0 (all summed onto ``target``).
_Run = tuple[int, int, int, int]


@dataclass(frozen=True)
class _Fold:
    """How the computed parts of one transposed-convolution output block add up (a boundary mode's fold)."""

    shape: tuple[int, ...]  # output block shape (N, C_out, *spatial)
    runs: tuple[tuple[tuple[_Run, ...], ...], ...]  # per part, per spatial dim: its runs
    work: np.dtype  # the dtype the parts are computed and added in
    dtype: np.dtype  # the result's


def _gather(blocks: list[np.ndarray], layout: _Gather) -> np.ndarray:
    """Concatenate the needed slices of neighbouring input blocks into one array."""
    pieces = [b[(Ellipsis, *s)] for b, s in zip(blocks, layout.slices)]
    if len(pieces) == 1:
        out = pieces[0]
    else:
        def nest(items: list[np.ndarray], grid: tuple[int, ...]) -> Any:
            if len(grid) == 1:
                return items
            step = len(items) // grid[0]
            return [nest(items[i * step:(i + 1) * step], grid[1:]) for i in range(grid[0])]

        out = np.block(nest(pieces, layout.grid))
    for dim, index in enumerate(layout.take or ()):
        if index is not None:
            out = np.take(out, index, axis=out.ndim - len(layout.take) + dim)
    return out


def _fill_value(bias: np.ndarray | None, spec: _Block) -> np.ndarray | float:
    """What an output that no input reaches holds: the bias, rounded as the core rounds it."""
    if bias is None:
        return 0.0
    work = np.promote_types(spec.dtype, np.float32)
    return bias.astype(work).astype(spec.dtype).reshape((-1,) + (1,) * len(spec.spans))


def _compute_block(piece: np.ndarray | None, weight: np.ndarray, bias: np.ndarray | None, spec: _Block) -> np.ndarray:
    """Run the core operator on one input piece; put bias-only outputs around it."""
    if piece is None or spec.geometry is None:
        out = np.empty(spec.shape, spec.dtype)
        out[...] = _fill_value(bias, spec)
        return out
    y = ops.execute(spec.geometry, piece, weight, bias, spec.algorithm)
    if all(span.fill == (0, 0) for span in spec.spans):
        return y
    out = np.empty(spec.shape, spec.dtype)
    out[...] = _fill_value(bias, spec)
    inner = tuple(slice(f0, n - f1) for (f0, f1), n in zip((s.fill for s in spec.spans), spec.shape[2:]))
    out[(slice(None), slice(None), *inner)] = y
    return out


def _fold(parts: list[np.ndarray], bias: np.ndarray | None, spec: _Fold) -> np.ndarray:
    """Add the computed parts onto one output block along their runs, then the bias; cast once."""
    out = np.zeros(spec.shape, spec.work)
    for part, runs in zip(parts, spec.runs):
        for combo in itertools.product(*runs):
            values = part[(Ellipsis, *(slice(a, b) for a, b, _, _ in combo))]
            target = []
            for dim, (a, b, t, step) in enumerate(combo):
                axis = 2 + dim
                if step == 0:
                    values = values.sum(axis=axis, keepdims=True)
                    target.append(slice(t, t + 1))
                elif step < 0:
                    values = np.flip(values, axis=axis)
                    target.append(slice(t - (b - a) + 1, t + 1))
                else:
                    target.append(slice(t, t + b - a))
            out[(Ellipsis, *target)] += values
    if bias is not None:
        out += bias.astype(spec.work, copy=False).reshape((-1,) + (1,) * (len(spec.shape) - 2))
    return out.astype(spec.dtype, copy=False)


# ---------------------------------------------------------------------------
# index arithmetic of the halos (per spatial dim)


def _bounds(chunks: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(itertools.accumulate(chunks, initial=0))


def _runs(values: np.ndarray) -> tuple[_Run, ...]:
    """``values`` cut greedily into runs of step +1, -1 or 0, as ``(start, stop, first value, step)``.

    >>> _runs(np.array([2, 1, 0, 1, 2, 3, 3, 3]))
    ((0, 3, 2, -1), (3, 6, 1, 1), (6, 8, 3, 0))
    """
    out, start, n = [], 0, len(values)
    while start < n:
        step = int(values[start + 1] - values[start]) if start + 1 < n else 1
        stop = start + 1
        if abs(step) <= 1:
            while stop < n and values[stop] - values[stop - 1] == step:
                stop += 1
        else:
            step = 1
        out.append((start, stop, int(values[start]), step))
        start = stop
    return tuple(out)


def _preimage(source: np.ndarray, start: int, stop: int) -> list[tuple[int, int, tuple[_Run, ...]]]:
    """The padded positions whose entries a fold adds onto ``[start, stop)``: contiguous ranges ``(a, b)``,
    each with its runs (local positions, first target relative to ``start``, step).

    ``source`` holds, per padded position, the position it folds onto (:func:`tconv.boundary.source_index`).

    >>> _preimage(source_index(4, 2, 1, "circular"), 0, 2)
    [(2, 4, ((0, 2, 0, 1),)), (6, 7, ((0, 1, 0, 1),))]
    """
    hits = np.flatnonzero((source >= start) & (source < stop))
    if not len(hits):
        return []
    cuts = np.flatnonzero(np.diff(hits) != 1) + 1
    out = []
    for chunk in np.split(hits, cuts):
        a, b = int(chunk[0]), int(chunk[-1]) + 1
        runs = tuple((s, e, v - start, step) for s, e, v, step in _runs(source[a:b]))
        out.append((a, b, runs))
    return out


def _is_identity(parts: list[tuple[int, int, tuple[_Run, ...]]], length: int) -> bool:
    """True when one dim's block is one range, in order, onto all of itself (no fold)."""
    return len(parts) == 1 and parts[0][2] == ((0, length, 0, 1),)


# ---------------------------------------------------------------------------
# graph building


def _as_dask(x: Any) -> "da.Array":
    if not isinstance(x, da.Array):
        raise TypeError(
            f"x must be a dask.array.Array, got {type(x).__name__}; wrap it with dask.array.from_array(x, chunks=...) "
            f"or call tconv.conv_transpose / tconv.conv for in-memory arrays"
        )
    if any(np.isnan(n) for n in x.shape):
        raise ValueError(f"x must have known chunk sizes, got shape {x.shape}; call x.compute_chunk_sizes() first")
    return x


def _stand_in(x: "da.Array") -> np.ndarray:
    """A zero-byte NumPy array with x's shape and dtype, for the core's validation."""
    numeric_array(np.empty((0,), x.dtype), "x")
    return stand_in(x.shape, x.dtype)


def _span(geom: Geometry, start: int, stop: int, dim: int) -> Span:
    span = transposed_span if geom.transposed else forward_span
    return span(
        start, stop, n=geom.input_shape[dim], kernel=geom.kernel_shape[dim],
        stride=geom.stride[dim], dilation=geom.dilation[dim], before=geom.before[dim],
    )


def _block_geometry(geom: Geometry, batch: int, spans: tuple[Span, ...], weight_shape: tuple[int, ...],
                    bias: bool) -> Geometry:
    """The geometry of the operator on one gathered input piece: the whole call's (zero-padding), with the
    piece's own spatial size and padding (built once per block, when the graph is built)."""
    piece = (batch, geom.in_channels) + tuple(b - a for a, b in (span.source for span in spans))
    return geometry_from_shapes(geom.transposed, piece, weight_shape, geom.dtype, bias=bias, stride=geom.stride,
                                padding=tuple(span.padding for span in spans), dilation=geom.dilation,
                                groups=geom.groups)


def _sources(geom: Geometry) -> list[np.ndarray]:
    """Per spatial dim, for each position of the kernel geometry's big side, the position it stands for: the
    input position a convolution's padding reads, the output position a transposed convolution's folds onto."""
    if geom.boundary == "zeros":
        return [np.arange(n) for n in geom.big_shape]
    return [source_index(n, lo, hi, geom.boundary) for n, (lo, hi) in zip(geom.big_shape, geom.boundary_pairs)]


class _Graph:
    """The tasks of one call, keyed under one name."""

    def __init__(self, x: "da.Array", weight: np.ndarray, bias: np.ndarray | None, geom: Geometry,
                 algorithm: str, token: str) -> None:
        self.x, self.geom, self.algorithm = x, geom, algorithm
        self.kernel = geom.kernel_geometry()
        self.sources = _sources(geom)
        self.in_bounds = [_bounds(c) for c in x.chunks[2:]]
        self.weight_shape = weight.shape
        self.name = f"tconv-{'conv_transpose' if geom.transposed else 'conv'}-{token}"
        self.w_key = (f"{self.name}-weight",)
        self.dsk: dict = {self.w_key: weight}
        self.b_key = None
        if bias is not None:
            self.b_key = (f"{self.name}-bias",)
            self.dsk[self.b_key] = bias

    def part(self, key: tuple, nb: int, batch: int, ranges: tuple[tuple[int, int], ...], with_bias: bool,
             kernel: Geometry) -> None:
        """Tasks ``key`` (and its gather) computing the kernel geometry's outputs ``ranges`` for batch block
        ``nb``: a convolution's output block, or a range of a transposed convolution's padded extent."""
        spans = tuple(_span(kernel, a, b, d) for d, (a, b) in enumerate(ranges))
        shape = (batch, kernel.out_channels) + tuple(b - a for a, b in ranges)
        piece, block_geom = None, None
        if not any(s.empty for s in spans):
            block_geom = _block_geometry(kernel, batch, spans, self.weight_shape, with_bias)
            if kernel.transposed:  # the small side is read as it is
                wanted = [np.arange(*s.source) for s in spans]
            else:  # padded positions -> input positions
                wanted = [src[slice(*s.source)] for src, s in zip(self.sources, spans)]
            per_dim, takes = zip(*(blocks_covering(b, w) for b, w in zip(self.in_bounds, wanted)))
            keys, slices = [], []
            for combo in itertools.product(*per_dim):
                keys.append((self.x.name, nb, 0, *(j for j, _ in combo)))
                slices.append(tuple(s for _, s in combo))
            take = None if all(t is None for t in takes) else tuple(takes)
            piece = (f"{key[0]}-input",) + key[1:]  # a part's gather has its own name: keys never collide
            self.dsk[piece] = (_gather, keys, _Gather(tuple(len(p) for p in per_dim), tuple(slices), take))
        spec = _Block(shape, spans, block_geom, self.algorithm, kernel.dtype)
        self.dsk[key] = (_compute_block, piece, self.w_key, self.b_key if with_bias else None, spec)

    def forward_block(self, nb: int, batch: int, idx: tuple[int, ...], ranges: tuple[tuple[int, int], ...]) -> None:
        """A convolution's output block: its halo read through the boundary mode's map."""
        self.part((self.name, nb, 0, *idx), nb, batch, ranges, True, self.kernel)

    def transposed_block(self, nb: int, batch: int, idx: tuple[int, ...],
                         ranges: tuple[tuple[int, int], ...]) -> None:
        """A transposed convolution's output block: the padded-extent ranges that fold onto it, added up."""
        key = (self.name, nb, 0, *idx)
        pre = [_preimage(src, a, b) for src, (a, b) in zip(self.sources, ranges)]
        if all(_is_identity(p, b - a) for p, (a, b) in zip(pre, ranges)):  # away from the edges: no fold
            self.part(key, nb, batch, tuple((p[0][0], p[0][1]) for p in pre), True, self.kernel)
            return
        work = np.promote_types(self.geom.dtype, np.float32)  # the parts stay unrounded until the fold
        kernel = replace(self.kernel, dtype=work)
        parts, runs = [], []
        for n, combo in enumerate(itertools.product(*pre)):
            part_ranges = tuple((a, b) for a, b, _ in combo)
            if any(_span(kernel, a, b, d).empty for d, (a, b) in enumerate(part_ranges)):
                continue  # no input reaches it: it adds zeros
            part_key = (f"{self.name}-part", nb, *idx, n)
            self.part(part_key, nb, batch, part_ranges, False, kernel)
            parts.append(part_key)
            runs.append(tuple(r for _, _, r in combo))
        shape = (batch, self.geom.out_channels) + tuple(b - a for a, b in ranges)
        self.dsk[key] = (_fold, parts, self.b_key, _Fold(shape, tuple(runs), work, self.geom.dtype))


def _build(x: "da.Array", weight: np.ndarray, bias: np.ndarray | None, geom: Geometry, algorithm: str,
           token: str) -> "da.Array":
    """The lazy result: per output block a gather task and a compute task (plus, for a transposed
    convolution's blocks at an edge in a boundary mode, one pair per border range and a fold task)."""
    nd = geom.ndim
    if x.numblocks[1] > 1:
        x = x.rechunk({1: -1})
    graph = _Graph(x, weight, bias, geom, algorithm, token)
    out_spatial = tuple(
        split(m, output_chunk_size(c, s, geom.transposed))
        for m, c, s in zip(geom.output_shape, x.chunks[2:], geom.stride)
    )
    out_bounds = [_bounds(c) for c in out_spatial]
    add = graph.transposed_block if geom.transposed else graph.forward_block
    for nb, batch in enumerate(x.chunks[0]):
        for idx in itertools.product(*(range(len(c)) for c in out_spatial)):
            add(nb, batch, idx, tuple((out_bounds[d][j], out_bounds[d][j + 1]) for d, j in enumerate(idx)))
    layer = HighLevelGraph.from_collections(graph.name, graph.dsk, dependencies=[x])
    chunks = (x.chunks[0], (geom.out_channels,)) + out_spatial
    return da.Array(layer, graph.name, chunks, meta=np.empty((0,) * (nd + 2), geom.dtype))


def _run(x: Any, weight: Any, bias: Any, kwargs: dict, transposed: bool) -> "da.Array":
    x = _as_dask(x)
    w = numeric_array(weight, "weight")
    b = None if bias is None else numeric_array(bias, "bias")
    algorithm = ops.check_algorithm_name(kwargs.pop("algorithm", "auto"))
    build_geometry = conv_transpose_geometry if transposed else conv_geometry
    geom = build_geometry(_stand_in(x), w, b, **kwargs)
    batched = x if geom.batched else x[None]
    token = tokenize(x.name, w, b, sorted(kwargs.items(), key=str), algorithm, transposed)
    y = _build(batched, w, b, geom, algorithm, token)
    return y if geom.batched else y[0]


def conv_transpose(
    x: "da.Array",
    weight: Any,
    bias: Any = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    output_size: Any = None,
    padding_mode: str = "zeros",
    algorithm: str = "auto",
) -> "da.Array":
    """Lazy, chunked :func:`tconv.conv_transpose` of a Dask array.

    Same arguments and result as the core function; ``x`` is a
    ``dask.array.Array`` ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``,
    ``weight`` and ``bias`` are NumPy.  Output chunks along a spatial dim are
    ``stride`` times the largest input chunk.  With a ``padding_mode`` other
    than ``"zeros"`` the output blocks at an edge also receive the border
    that the mode folds back onto them (the adjoint of :func:`conv`'s
    padding), computed by tasks of their own; the other blocks are unchanged.

    >>> import numpy as np, dask.array as da
    >>> x = da.ones((2, 3, 10, 10), chunks=(1, 3, 4, 4))
    >>> y = conv_transpose(x, np.ones((3, 2, 3, 3)), stride=2, padding=1, output_padding=1)
    >>> y.shape, y.chunks[2]
    ((2, 2, 20, 20), (8, 8, 4))
    >>> y = conv_transpose(da.ones((1, 1, 4), chunks=2), np.ones((1, 1, 3)), padding=1, padding_mode="circular")
    >>> y.compute()  # the cropped border wraps around: every entry gets all three taps
    array([[[3., 3., 3., 3.]]])
    """
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
                  groups=groups, output_size=output_size, padding_mode=padding_mode, algorithm=algorithm)
    return _run(x, weight, bias, kwargs, transposed=True)


def conv(
    x: "da.Array",
    weight: Any,
    bias: Any = None,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    algorithm: str = "auto",
) -> "da.Array":
    """Lazy, chunked :func:`tconv.conv` of a Dask array.

    Same arguments and result as the core function; output chunks along a
    spatial dim are ``ceil(c / stride)`` for the largest input chunk ``c``.
    With a ``padding_mode`` other than ``"zeros"`` each block's halo is read
    through the mode (wrapped around, mirrored or the edge repeated) from the
    input blocks it maps to: the padded input is never built.

    >>> import numpy as np, dask.array as da
    >>> x = da.ones((1, 2, 9), chunks=(1, 1, 2))
    >>> y = conv(x, np.ones((4, 2, 3)), padding="same")
    >>> y.chunks, float(y[0, 0, 4].compute())
    (((1,), (4,), (2, 2, 2, 2, 1)), 6.0)
    >>> conv(da.arange(4., chunks=2).reshape(1, 1, 4), np.array([[[1., 0, 0]]]), padding=1,
    ...      padding_mode="reflect").compute()
    array([[[1., 0., 1., 2.]]])
    """
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode,
                  algorithm=algorithm)
    return _run(x, weight, bias, kwargs, transposed=False)
