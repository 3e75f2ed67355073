"""Chunked execution on Dask: ``conv_transpose`` and ``conv`` for arrays larger than memory.

Both functions take a ``dask.array.Array`` (weight and bias are NumPy) and the
core functions' keyword arguments, and return a lazy ``dask.array.Array`` equal
to what :func:`tconv.conv_transpose` / :func:`tconv.conv` give on the whole
array.  Nothing is computed until you call ``.compute()``, ``.to_zarr(...)``,
``da.store(...)``; it runs on any Dask scheduler, a ``dask.distributed``
cluster included.

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

Needs the ``dask`` extra: ``pip install 'tconv[dask]'``.

>>> import numpy as np, dask.array as da, tconv
>>> x = da.from_array(np.arange(8.).reshape(1, 1, 8), chunks=(1, 1, 3))
>>> w = np.ones((1, 1, 3))
>>> y = conv_transpose(x, w, stride=2, padding=1)
>>> y.chunks
((1,), (1,), (6, 6, 3))
>>> bool(np.allclose(y.compute(), tconv.conv_transpose(x.compute(), w, stride=2, padding=1)))
True
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import ops
from .chunking import Span, blocks_covering, forward_span, output_chunk_size, split, transposed_span
from .params import Geometry, conv_geometry, conv_transpose_geometry, geometry_from_shapes
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
    """Where the pieces of one output block's input come from: a grid of local slices."""

    grid: tuple[int, ...]  # number of input blocks along each spatial dim
    slices: tuple[tuple[slice, ...], ...]  # per block (C-order over the grid): spatial slices


@dataclass(frozen=True)
class _Block:
    """How to turn one gathered input piece into one output block."""

    shape: tuple[int, ...]  # output block shape (N, C_out, *spatial)
    spans: tuple[Span, ...]
    geometry: Geometry | None  # of the operator on the gathered piece (None: no input reaches the block)
    algorithm: str
    dtype: np.dtype


def _gather(blocks: list[np.ndarray], layout: _Gather) -> np.ndarray:
    """Concatenate the needed slices of neighbouring input blocks into one array."""
    pieces = [b[(Ellipsis, *s)] for b, s in zip(blocks, layout.slices)]
    if len(pieces) == 1:
        return pieces[0]

    def nest(items: list[np.ndarray], grid: tuple[int, ...]) -> Any:
        if len(grid) == 1:
            return items
        step = len(items) // grid[0]
        return [nest(items[i * step:(i + 1) * step], grid[1:]) for i in range(grid[0])]

    return np.block(nest(pieces, layout.grid))


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


# ---------------------------------------------------------------------------
# graph building


def _bounds(chunks: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(itertools.accumulate(chunks, initial=0))


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
    return np.broadcast_to(np.zeros((), x.dtype), x.shape)


def _spans(geom: Geometry, out_bounds: tuple[int, ...], j: int, dim: int) -> Span:
    span = transposed_span if geom.transposed else forward_span
    return span(
        out_bounds[j], out_bounds[j + 1], n=geom.input_shape[dim], kernel=geom.kernel_shape[dim],
        stride=geom.stride[dim], dilation=geom.dilation[dim], before=geom.before[dim],
    )


def _block_geometry(geom: Geometry, batch: int, spans: tuple[Span, ...], weight_shape: tuple[int, ...],
                    bias: bool) -> Geometry:
    """The geometry of the operator on one gathered input piece: the whole call's, with the piece's own
    spatial size and padding (built once per block, when the graph is built)."""
    piece = (batch, geom.in_channels) + tuple(b - a for a, b in (span.source for span in spans))
    return geometry_from_shapes(geom.transposed, piece, weight_shape, geom.dtype, bias=bias, stride=geom.stride,
                                padding=tuple(span.padding for span in spans), dilation=geom.dilation,
                                groups=geom.groups)


def _build(x: "da.Array", weight: np.ndarray, bias: np.ndarray | None, geom: Geometry, algorithm: str,
           token: str) -> "da.Array":
    """The lazy result: per output block a gather task and a compute task."""
    nd = geom.ndim
    if x.numblocks[1] > 1:
        x = x.rechunk({1: -1})
    in_bounds = [_bounds(c) for c in x.chunks[2:]]
    out_spatial = tuple(
        split(m, output_chunk_size(c, s, geom.transposed))
        for m, c, s in zip(geom.output_shape, x.chunks[2:], geom.stride)
    )
    out_bounds = [_bounds(c) for c in out_spatial]
    name = f"tconv-{'conv_transpose' if geom.transposed else 'conv'}-{token}"
    gather_name, w_key = f"{name}-input", (f"{name}-weight",)
    dsk: dict = {w_key: weight}
    b_key = None
    if bias is not None:
        b_key = (f"{name}-bias",)
        dsk[b_key] = bias
    for nb, batch in enumerate(x.chunks[0]):
        for idx in itertools.product(*(range(len(c)) for c in out_spatial)):
            spans = tuple(_spans(geom, out_bounds[d], j, d) for d, j in enumerate(idx))
            shape = (batch, geom.out_channels) + tuple(out_spatial[d][j] for d, j in enumerate(idx))
            piece, block_geom = None, None
            if not any(s.empty for s in spans):
                block_geom = _block_geometry(geom, batch, spans, weight.shape, bias is not None)
                per_dim = [blocks_covering(in_bounds[d], *spans[d].source) for d in range(nd)]
                keys, slices = [], []
                for combo in itertools.product(*per_dim):
                    keys.append((x.name, nb, 0, *(j for j, _ in combo)))
                    slices.append(tuple(s for _, s in combo))
                piece = (gather_name, nb, *idx)
                dsk[piece] = (_gather, keys, _Gather(tuple(len(p) for p in per_dim), tuple(slices)))
            spec = _Block(shape, spans, block_geom, algorithm, geom.dtype)
            dsk[(name, nb, 0, *idx)] = (_compute_block, piece, w_key, b_key, spec)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    chunks = (x.chunks[0], (geom.out_channels,)) + out_spatial
    return da.Array(graph, name, chunks, meta=np.empty((0,) * (nd + 2), geom.dtype))


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
    algorithm: str = "auto",
) -> "da.Array":
    """Lazy, chunked :func:`tconv.conv_transpose` of a Dask array.

    Same arguments and result as the core function; ``x`` is a
    ``dask.array.Array`` ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``,
    ``weight`` and ``bias`` are NumPy.  Output chunks along a spatial dim are
    ``stride`` times the largest input chunk.

    >>> import numpy as np, dask.array as da
    >>> x = da.ones((2, 3, 10, 10), chunks=(1, 3, 4, 4))
    >>> y = conv_transpose(x, np.ones((3, 2, 3, 3)), stride=2, padding=1, output_padding=1)
    >>> y.shape, y.chunks[2]
    ((2, 2, 20, 20), (8, 8, 4))
    """
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
                  groups=groups, output_size=output_size, algorithm=algorithm)
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
    algorithm: str = "auto",
) -> "da.Array":
    """Lazy, chunked :func:`tconv.conv` of a Dask array.

    Same arguments and result as the core function; output chunks along a
    spatial dim are ``ceil(c / stride)`` for the largest input chunk ``c``.

    >>> import numpy as np, dask.array as da
    >>> x = da.ones((1, 2, 9), chunks=(1, 1, 2))
    >>> y = conv(x, np.ones((4, 2, 3)), padding="same")
    >>> y.chunks, float(y[0, 0, 4].compute())
    (((1,), (4,), (2, 2, 2, 2, 1)), 6.0)
    """
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, algorithm=algorithm)
    return _run(x, weight, bias, kwargs, transposed=False)
