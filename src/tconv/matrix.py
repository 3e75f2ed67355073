"""The matrix view of a convolution: the sparse matrix ``M`` and the matrix-free operator.

A convolution is linear in its input, so for a fixed weight and input shape it
is a matrix: ``conv(x)[i].ravel() == M @ x[i].ravel()``, with the channels
inside the rows and columns and the batch left out.  The transposed
convolution with the same hyper-parameters is ``M.T``.

:func:`conv_matrix` builds ``M`` as a :class:`scipy.sparse.csr_array`
(vectorised: one broadcast per spatial dim, no Python loop per entry);
:func:`conv_matrix_dense` returns it as a dense array when it fits;
:func:`matrix_size` gives its size without building it; :class:`ConvOperator`
is the same linear map as a :class:`scipy.sparse.linalg.LinearOperator` that
builds the convolution's :class:`~tconv.params.Geometry` once and runs it (and
its adjoint, the transposed convolution) with :func:`~tconv.ops.execute`,
never building the matrix.

Row ``r`` of ``M`` is output element ``r`` of ``(C_out, *out_spatial)`` in C
order, column ``c`` is input element ``c`` of ``(C_in, *in_spatial)``.  Every
place where a kernel tap meets an input element is stored, even when that
weight is zero, so the sparsity pattern depends on the geometry only
(``M.eliminate_zeros()`` drops them).

``scipy.sparse`` is imported by the functions that build a matrix;
``scipy.sparse.linalg`` when this module is imported, since
:class:`ConvOperator` is a ``LinearOperator`` subclass (a real class, so
``isinstance``, pickling and type checkers see it).  ``import tconv`` does not
import this module: the package face loads it on first use of
``tconv.ConvOperator`` / ``tconv.conv_matrix``.

>>> K = np.array([[[[0., 1], [2, 3]]]])
>>> M = conv_matrix(K, (3, 3))
>>> M.shape, M.nnz
((4, 9), 16)
>>> M.toarray()[0]
array([0., 1., 0., 2., 3., 0., 0., 0., 0.])
>>> x = np.arange(9.).reshape(1, 3, 3)
>>> (M @ x.ravel()).reshape(2, 2)
array([[19., 25.],
       [37., 43.]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import boundary
from .algorithms import packs
from .memory import check_fits
from .ops import execute
from .params import Geometry, geometry_from_shapes
from ._validate import as_int, compute_dtype, numeric_array

_INT32_MAX = np.iinfo(np.int32).max


def _spatial_shape(input_shape: Any, nd: int) -> tuple[int, ...]:
    """``input_shape`` as a tuple of ``nd`` positive ints (the input's spatial shape)."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, (Sequence, np.ndarray)):
        raise TypeError(
            f"input_shape must be a sequence of {nd} ints (the input's spatial shape), got {input_shape!r}"
        )
    shape = tuple(as_int(n, "input_shape") for n in input_shape)
    if len(shape) != nd:
        raise ValueError(
            f"input_shape must give the {nd} spatial size(s) of the input to match a weight with {nd} spatial "
            f"dim(s) (channels come from weight and groups, the batch is left out), got {shape} with "
            f"{len(shape)} entries"
        )
    if any(n < 1 for n in shape):
        raise ValueError(f"input_shape must be >= 1 in every dim, got {shape}")
    return shape


def _geometry(weight: Any, input_shape: Any, stride: Any, padding: Any, dilation: Any, groups: Any,
              padding_mode: Any = "zeros"):
    """Validate the arguments; return ``(weight array, Geometry)`` of one unbatched convolution."""
    w = numeric_array(weight, "weight", complex_ok=True)
    if w.ndim < 3:
        raise ValueError(
            f"weight must have shape (C_out, C_in // groups, *kernel) with at least one spatial dim, "
            f"got shape {w.shape}"
        )
    spatial = _spatial_shape(input_shape, w.ndim - 2)
    g = as_int(groups, "groups")
    if g < 1:
        raise ValueError(f"groups must be >= 1, got {g}")
    geom = geometry_from_shapes(False, (w.shape[1] * g,) + spatial, w.shape, w.dtype, stride=stride, padding=padding,
                                dilation=dilation, groups=g, padding_mode=padding_mode)
    return w, geom


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _axis_taps(geom: Geometry, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Input index ``o = i*stride + t*dilation - before`` for every (output i, tap t) of one dim, and its validity."""
    i = np.arange(geom.output_shape[dim])[:, None]
    t = np.arange(geom.kernel_shape[dim])[None, :]
    big = i * geom.stride[dim] + t * geom.dilation[dim] - geom.before[dim]
    return big, (big >= 0) & (big < geom.input_shape[dim])


def _axis_sources(geom: Geometry, dim: int) -> np.ndarray:
    """Input index each (output i, tap t) of one dim reads through ``geom``'s boundary mode (not zeros)."""
    lo, hi = geom.boundary_pairs[dim]
    big, _ = _axis_taps(geom.kernel_geometry(), dim)  # every tap lands in the padded extent
    return boundary.source_index(geom.input_shape[dim], lo, hi, geom.boundary)[big]


def _axis_pairs(geom: Geometry, dim: int) -> int:
    """Distinct (output index, input index) pairs of one dim that some tap connects.

    With zeros these are the taps that land inside the input; with another boundary every tap lands, but
    taps of one output may read the same input entry (a replicated edge, a mirrored or wrapped border):
    they share one matrix entry.
    """
    if geom.boundary == "zeros":
        return int(_axis_taps(geom, dim)[1].sum())
    src = np.sort(_axis_sources(geom, dim), axis=1)
    return int(src.shape[0] + np.count_nonzero(src[:, 1:] != src[:, :-1]))


def _pairs_per_position(geom: Geometry) -> int:
    """Number of (output position, input position) pairs a tap connects (separable: a product over dims)."""
    return _prod(_axis_pairs(geom, d) for d in range(geom.ndim))


@dataclass(frozen=True)
class MatrixSize:
    """The size of a convolution's matrix, computed without building it.

    ``nnz`` counts the stored entries (every tap that meets the input);
    ``csr_bytes`` is data + indices + indptr of :func:`conv_matrix`'s result.
    """

    rows: int
    cols: int
    nnz: int
    itemsize: int
    index_itemsize: int

    @property
    def dense_bytes(self) -> int:
        """Bytes of the dense ``rows x cols`` matrix."""
        return self.rows * self.cols * self.itemsize

    @property
    def csr_bytes(self) -> int:
        """Bytes of the CSR matrix: values, column indices, row pointers."""
        return self.nnz * (self.itemsize + self.index_itemsize) + (self.rows + 1) * self.index_itemsize

    @property
    def zero_fraction(self) -> float:
        """Fraction of the dense matrix's entries that are structurally zero."""
        return 1.0 - self.nnz / (self.rows * self.cols)


def _size(geom: Geometry, itemsize: int) -> MatrixSize:
    rows = geom.out_channels * _prod(geom.output_shape)
    cols = geom.in_channels * _prod(geom.input_shape)
    nnz = geom.out_channels * (geom.in_channels // geom.groups) * _pairs_per_position(geom)
    index_itemsize = 4 if max(nnz, rows, cols) <= _INT32_MAX else 8
    return MatrixSize(rows, cols, nnz, itemsize, index_itemsize)


def _matrix_dtype(w: np.ndarray) -> np.dtype:
    """The weight's float (or complex) dtype, at least float32 (scipy.sparse has no float16); integers give
    float64."""
    return np.promote_types(compute_dtype(w), np.float32)


def matrix_size(
    weight: Any, input_shape: Sequence[int], *, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
    padding_mode: str = "zeros",
) -> MatrixSize:
    """Rows, columns and stored entries of :func:`conv_matrix`'s result, without building it.

    >>> s = matrix_size(np.ones((1, 1, 3, 3)), (256, 256), padding=1)
    >>> s.rows, s.cols, s.nnz, s.csr_bytes, s.dense_bytes
    (65536, 65536, 586756, 7303220, 34359738368)
    >>> matrix_size(np.ones((1, 1, 3, 3)), (256, 256), padding=1, padding_mode="circular").nnz  # 9 per row
    589824
    """
    w, geom = _geometry(weight, input_shape, stride, padding, dilation, groups, padding_mode)
    return _size(geom, _matrix_dtype(w).itemsize)


def _position_grid(geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Flat input position of every (output position, tap) pair, and whether it lies inside the input.

    Both are ``(prod(out), prod(kernel))`` arrays, output positions and taps
    in C order.
    """
    nd = geom.ndim
    in_strides = np.cumprod((1,) + geom.input_shape[:0:-1])[::-1]
    big_flat = np.zeros((1,) * (2 * nd), dtype=np.int64)
    valid = np.ones((1,) * (2 * nd), dtype=bool)
    for d in range(nd):
        big, ok = _axis_taps(geom, d)
        shape = [1] * (2 * nd)
        shape[d], shape[nd + d] = big.shape
        big_flat = big_flat + big.reshape(shape) * int(in_strides[d])
        valid = valid & ok.reshape(shape)
    grid = (_prod(geom.output_shape), _prod(geom.kernel_shape))
    full = geom.output_shape + geom.kernel_shape
    return np.broadcast_to(big_flat, full).reshape(grid), np.broadcast_to(valid, full).reshape(grid)


def _workspace_bytes(geom: Geometry) -> int:
    """Temporaries of :func:`_csr_parts`: the (position, channel, tap) grid's int64 columns, tap indices, mask."""
    grid = _prod(geom.output_shape) * _prod(geom.kernel_shape)
    return grid * (geom.in_channels // geom.groups) * 17 + grid * 9


def _csr_parts(w: np.ndarray, geom: Geometry, size: MatrixSize):
    """``(data, indices, indptr)`` of the CSR matrix, built by broadcasting.

    One row block (one output channel) lists, for each output position, every
    in-group input channel and within it every tap that meets the input: that
    is increasing column order, so the indices come out sorted.  All output
    channels share that pattern, shifted by their group's column offset.
    """
    big, valid = _position_grid(geom)
    ci, co = geom.in_channels // geom.groups, geom.out_channels
    positions, taps = big.shape
    index = np.dtype(np.int32 if size.index_itemsize == 4 else np.int64)
    channel = np.arange(ci).reshape(1, ci, 1)
    mask = np.broadcast_to(valid[:, None, :], (positions, ci, taps))
    col = (channel * _prod(geom.input_shape) + big[:, None, :])[mask].astype(index)
    widx = np.broadcast_to(channel * taps + np.arange(taps).reshape(1, 1, taps), mask.shape)[mask]
    data = np.take(w.reshape(co, ci * taps).astype(_matrix_dtype(w), copy=False), widx, axis=1)
    group_offset = ((np.arange(co) // (co // geom.groups)) * (ci * _prod(geom.input_shape))).astype(index)
    indices = col[None, :] + group_offset[:, None]
    indptr = np.zeros(size.rows + 1, dtype=index)
    np.cumsum(np.tile(valid.sum(axis=1) * ci, co), out=indptr[1:])
    return data.ravel(), indices.ravel(), indptr


def _padded_columns(geom: Geometry) -> np.ndarray:
    """For a boundary mode: the input column (``(C_in, *input_shape)``, C order) that each column of the
    kernel geometry's matrix (``(C_in, *padded_shape)``) reads: the padding matrix, one 1 per row."""
    nd = geom.ndim
    in_strides = np.cumprod((1,) + geom.input_shape[:0:-1])[::-1]
    flat = np.zeros((1,) * nd, dtype=np.int64)
    for d, (n, (lo, hi)) in enumerate(zip(geom.input_shape, geom.boundary_pairs)):
        shape = [1] * nd
        shape[d] = n + lo + hi
        flat = flat + boundary.source_index(n, lo, hi, geom.boundary).reshape(shape) * int(in_strides[d])
    channel = np.arange(geom.in_channels, dtype=np.int64)[:, None] * _prod(geom.input_shape)
    return (channel + flat.reshape(1, -1)).ravel()


def _boundary_workspace(geom: Geometry, itemsize: int) -> int:
    """Bytes :func:`_boundary_parts` needs besides its result: the kernel geometry's matrix and its build."""
    inner = geom.kernel_geometry()
    return _size(inner, itemsize).csr_bytes * 2 + _workspace_bytes(inner) + geom.in_channels * _prod(
        inner.input_shape) * 8


def _boundary_parts(w: np.ndarray, geom: Geometry, size: MatrixSize):
    """``(data, indices, indptr)`` of a boundary mode's matrix: the zero-padding matrix of the padded extent
    (:meth:`~tconv.params.Geometry.kernel_geometry`) times the padding matrix, whose rows hold one 1 each,
    so the product renames the columns; taps of one row that read the same entry are added into one."""
    from scipy import sparse

    inner = geom.kernel_geometry()
    data, indices, indptr = _csr_parts(w, inner, _size(inner, size.itemsize))
    m = sparse.csr_array((data, _padded_columns(geom)[indices], indptr), shape=(size.rows, size.cols))
    m.sum_duplicates()  # sorts each row's columns and adds the shared ones (keeps zero weights stored)
    index = np.int32 if size.index_itemsize == 4 else np.int64
    return m.data, m.indices.astype(index, copy=False), m.indptr.astype(index, copy=False)


def _matrix_parts(w: np.ndarray, geom: Geometry, size: MatrixSize):
    """``(data, indices, indptr)`` of ``geom``'s matrix, any boundary."""
    return _csr_parts(w, geom, size) if geom.boundary == "zeros" else _boundary_parts(w, geom, size)


def _build_bytes(geom: Geometry, size: MatrixSize) -> int:
    """Temporaries of building ``geom``'s CSR parts."""
    if geom.boundary == "zeros":
        return _workspace_bytes(geom)
    return _boundary_workspace(geom, size.itemsize)


def conv_matrix(
    weight: Any, input_shape: Sequence[int], *, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
    padding_mode: str = "zeros",
):
    """The sparse matrix ``M`` of ``conv(., weight, ...)`` for inputs of spatial shape ``input_shape``.

    ``conv(x, weight, ...)[i].ravel() == M @ x[i].ravel()`` and
    ``conv_transpose(y, weight, ..., output_size=input_shape)[i].ravel() ==
    M.T @ y[i].ravel()`` (with stride > 1 a convolution may skip trailing
    input rows; ``output_size`` brings them back as zeros, as ``M.T`` does).

    Args:
        weight: ``(C_out, C_in // groups, *kernel)``, as for :func:`~tconv.ops.conv`.
        input_shape: the input's spatial shape (no batch, no channels).
        stride, padding, dilation, groups: as for :func:`~tconv.ops.conv`
            (``padding`` also ``"same"`` / ``"valid"`` / ``(before, after)`` pairs).
        padding_mode: ``"zeros"``, ``"circular"``, ``"reflect"`` or
            ``"replicate"``, as for :func:`~tconv.ops.conv`: the matrix of the
            padded convolution, i.e. the zero-padding matrix of the padded
            extent times the padding matrix (each padded entry a copy of one
            input entry).  Its transpose is then
            ``conv_transpose(..., padding_mode=..., output_size=input_shape)``.

    Returns:
        A :class:`scipy.sparse.csr_array` of shape ``(C_out * prod(out),
        C_in * prod(input_shape))``, float dtype of ``weight`` (integers give
        float64; a complex weight gives the complex matrix, and the adjoint
        is then ``M.conj().T``), sorted indices, one stored entry per tap that meets the
        input (with a boundary mode, one per input entry that some taps of
        the row read: their weights are added).  A matrix that would not fit
        in memory is refused with a ``ValueError`` giving the bytes it needs,
        before anything is built.

    >>> M = conv_matrix(np.ones((2, 1, 3)), (5,), padding=1, groups=2)
    >>> M.shape, M.nnz
    ((10, 10), 26)
    >>> M.toarray()[:5, :5]
    array([[1., 1., 0., 0., 0.],
           [1., 1., 1., 0., 0.],
           [0., 1., 1., 1., 0.],
           [0., 0., 1., 1., 1.],
           [0., 0., 0., 1., 1.]])

    A circular boundary wraps the taps that fall off one end round to the other:

    >>> conv_matrix(np.array([[[1., 2., 3.]]]), (4,), padding=1, padding_mode="circular").toarray()
    array([[2., 3., 0., 1.],
           [1., 2., 3., 0.],
           [0., 1., 2., 3.],
           [3., 0., 1., 2.]])
    """
    return _sparse_matrix(*_geometry(weight, input_shape, stride, padding, dilation, groups, padding_mode))


def _sparse_matrix(w: np.ndarray, geom: Geometry):
    """The CSR matrix of ``geom`` (an unbatched convolution) with weight ``w``, refused early when it cannot fit."""
    from scipy import sparse

    size = _size(geom, _matrix_dtype(w).itemsize)
    check_fits(size.csr_bytes + _build_bytes(geom, size), "conv_matrix (the sparse matrix and its build workspace)")
    data, indices, indptr = _matrix_parts(w, geom, size)
    m = sparse.csr_array((data, indices, indptr), shape=(size.rows, size.cols), copy=False)
    m.has_sorted_indices = True
    return m


def conv_matrix_dense(
    weight: Any, input_shape: Sequence[int], *, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """:func:`conv_matrix` as a dense array (the chapter's ``W``), refused early when it cannot fit.

    The dense matrix needs ``rows * cols * itemsize`` bytes: already 34 GB for
    a single-channel 256x256 input.  When that does not fit, a ``ValueError``
    gives the bytes needed and nothing is allocated.

    >>> conv_matrix_dense([[[[0., 1], [2, 3]]]], (3, 3))
    array([[0., 1., 0., 2., 3., 0., 0., 0., 0.],
           [0., 0., 1., 0., 2., 3., 0., 0., 0.],
           [0., 0., 0., 0., 1., 0., 2., 3., 0.],
           [0., 0., 0., 0., 0., 1., 0., 2., 3.]])
    """
    w, geom = _geometry(weight, input_shape, stride, padding, dilation, groups, padding_mode)
    size = _size(geom, _matrix_dtype(w).itemsize)
    check_fits(
        size.dense_bytes + size.csr_bytes + (0 if geom.boundary == "zeros" else _build_bytes(geom, size)),
        f"the dense {size.rows}x{size.cols} convolution matrix ({size.zero_fraction:.4%} of it zeros)",
    )
    out = np.zeros((size.rows, size.cols), dtype=_matrix_dtype(w))
    if size.nnz:
        data, indices, indptr = _matrix_parts(w, geom, size)
        rows = np.repeat(np.arange(size.rows), np.diff(indptr))
        out[rows, indices] = data
    return out


def _linear_operator_base():
    from scipy.sparse.linalg import LinearOperator

    return LinearOperator


class ConvOperator(_linear_operator_base()):
    """The convolution as a :class:`scipy.sparse.linalg.LinearOperator`, without building its matrix.

    ``matvec`` / ``matmat`` run the convolution's geometry (built once, at
    construction) with :func:`~tconv.ops.execute` on the flattened
    ``(C_in, *input_shape)`` input(s); ``rmatvec`` / ``rmatmat`` (and ``.H``,
    ``.T``) run its :meth:`~tconv.params.Geometry.adjoint`, the transposed
    convolution that gives back inputs of ``input_shape``.  It is the linear
    map of :func:`conv_matrix` with memory of one input and one output
    instead of the matrix, and it works with scipy's iterative solvers
    (``lsqr``, ``lsmr``, ``cg`` on ``A.H @ A``, ...).  Complex vectors and a
    complex weight are taken (the convolution is bilinear, as PyTorch's);
    ``rmatvec`` is then the Hermitian adjoint ``A^H``: the transposed
    convolution with the conjugated weight, so ``np.vdot(A @ x, y) ==
    np.vdot(x, A.H @ y)``.

    Args:
        weight: ``(C_out, C_in // groups, *kernel)``.
        input_shape: the input's spatial shape.
        stride, padding, dilation, groups: as for :func:`~tconv.ops.conv`.
        padding_mode: ``"zeros"``, ``"circular"``, ``"reflect"`` or
            ``"replicate"``: ``matvec`` is :func:`~tconv.ops.conv` with that
            mode, ``rmatvec`` :func:`~tconv.ops.conv_transpose` with it (and
            the conjugated weight), its exact adjoint (the map of
            :func:`conv_matrix` with the same mode).
        algorithm: passed to :func:`~tconv.ops.execute` (``"auto"`` or a name of
            :func:`tconv.algorithm_names`).

    Attributes:
        geometry: the validated :class:`~tconv.params.Geometry` of one input.
        input_shape, output_shape: full unbatched shapes ``(C, *spatial)`` of
            the vectors the operator maps between (``shape`` is their sizes).
        weight: a read-only copy of the weight: the operator is fixed, so
            the kernels' re-layouts of it are made on the first product and
            kept (:mod:`tconv.algorithms.packs`).

    >>> A = ConvOperator(np.ones((1, 1, 2)), (4,))
    >>> A.shape
    (3, 4)
    >>> A @ np.array([1., 2., 3., 4.])
    array([3., 5., 7.])
    >>> A.H @ np.array([1., 0., 0.])
    array([1., 1., 0., 0.])
    >>> from scipy.sparse.linalg import lsqr
    >>> x = np.array([1., -2., 3.])
    >>> B = ConvOperator(np.ones((2, 1, 2)), (3,), padding=1)
    >>> np.allclose(lsqr(B, B @ x, atol=1e-14, btol=1e-14)[0], x)
    True
    >>> P = ConvOperator(np.ones((1, 1, 2)), (4,), padding=((0, 1),), padding_mode="circular")
    >>> P @ np.array([1., 2., 3., 4.]), P.H @ np.array([0., 0., 0., 1.])   # the last output wraps round
    (array([3., 5., 7., 5.]), array([1., 0., 0., 1.]))
    >>> C = ConvOperator(np.array([[[1j, 2.]]]), (3,))   # complex: A^H conjugates the weight
    >>> C @ np.array([1., 1j, 0.]), C.H @ np.array([1., 0.])
    (array([ 0.+3.j, -1.+0.j]), array([0.-1.j, 2.+0.j, 0.+0.j]))
    """

    def __init__(
        self,
        weight: Any,
        input_shape: Sequence[int],
        *,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        padding_mode: str = "zeros",
        algorithm: str = "auto",
    ) -> None:
        w, geom = _geometry(weight, input_shape, stride, padding, dilation, groups, padding_mode)
        self.weight = w.copy()
        self.weight.flags.writeable = False
        self._adjoint_weight = self.weight.conj() if np.iscomplexobj(w) else self.weight  # A^H: the conjugate
        self.geometry = geom
        self.algorithm = algorithm
        self.input_shape = (geom.in_channels,) + geom.input_shape
        self.output_shape = (geom.out_channels,) + geom.output_shape
        self._batched: dict[tuple, tuple] = {}
        super().__init__(dtype=_matrix_dtype(w), shape=(_prod(self.output_shape), _prod(self.input_shape)))

    def _geometries(self, columns: int, dtype: np.dtype) -> tuple:
        """:attr:`geometry` for a batch of ``columns`` vectors of ``dtype`` and its adjoint, each with the store
        of its weight's re-layouts (:mod:`tconv.algorithms.packs`; None for complex operands and boundary
        modes, whose inner calls run on parts of the weight); kept per batch size and dtype: an iterative
        solver applies the same ones again and again."""
        entry = self._batched.get((columns, dtype))
        if entry is None:
            if len(self._batched) >= 4:
                self._batched.clear()
            geom = replace(self.geometry, batch=columns, batched=True, dtype=dtype)
            stores = ((packs.Store(self.weight), packs.Store(self._adjoint_weight)) if geom.whole_weight
                      else (None, None))
            entry = self._batched[columns, dtype] = (geom, geom.adjoint()) + stores
        return entry

    def _apply(self, columns: np.ndarray, adjoint: bool) -> np.ndarray:
        """Run the convolution (or its Hermitian adjoint) on the columns of ``columns``, one column per batch
        item (complex columns and weights go to the operator as they are: it is bilinear)."""
        source, target = (self.output_shape, self.input_shape) if adjoint else (self.input_shape, self.output_shape)
        batch = numeric_array(columns, "x", complex_ok=True).T.reshape((columns.shape[1],) + source)
        forward, backward, forward_store, backward_store = self._geometries(
            columns.shape[1], compute_dtype(batch, self.weight))
        weight = self._adjoint_weight if adjoint else self.weight
        with packs.keeping(backward_store if adjoint else forward_store):  # the weight is fixed: re-laid out once
            out = execute(backward if adjoint else forward, batch, weight, algorithm=self.algorithm)
        return out.reshape(columns.shape[1], _prod(target)).T

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        return self._apply(X, adjoint=False)

    def _rmatmat(self, X: np.ndarray) -> np.ndarray:
        return self._apply(X, adjoint=True)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._apply(np.reshape(x, (-1, 1)), adjoint=False)[:, 0]

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._apply(np.reshape(x, (-1, 1)), adjoint=True)[:, 0]

    def to_matrix(self):
        """The same map as a sparse matrix: :func:`conv_matrix` with this operator's arguments."""
        return _sparse_matrix(self.weight, self.geometry)
