"""The textbook chapter's three functions, kept as readable as the chapter.

They teach; the fast N-d operator lives in :mod:`tconv.ops`.  Each one is
single-channel 2-D, stride 1 and no padding, exactly as in the chapter.

>>> X = np.array([[0., 1], [2, 3]]); K = np.array([[0., 1], [2, 3]])
>>> trans_conv(X, K)
array([[ 0.,  0.,  1.],
       [ 0.,  4.,  6.],
       [ 4., 12.,  9.]])
>>> W = kernel2matrix(K)
>>> np.array_equal(W @ np.arange(9.), corr2d(np.arange(9.).reshape(3, 3), K).ravel())
True
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._validate import as_int, compute_dtype, numeric_array


def _matrix(value: Any, name: str) -> np.ndarray:
    arr = numeric_array(value, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


def trans_conv(X: Any, K: Any) -> np.ndarray:
    """Transposed convolution by its definition: each input element scatters ``X[i, j] * K``.

    The output is ``(h + kh - 1, w + kw - 1)``; the block starting at
    ``(i, j)`` receives ``X[i, j] * K``.

    >>> trans_conv([[1.]], [[1., 2.], [3., 4.]])
    array([[1., 2.],
           [3., 4.]])
    """
    X, K = _matrix(X, "X"), _matrix(K, "K")
    kh, kw = K.shape
    Y = np.zeros((X.shape[0] + kh - 1, X.shape[1] + kw - 1), dtype=compute_dtype(X, K))
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            Y[i : i + kh, j : j + kw] += X[i, j] * K
    return Y


def corr2d(X: Any, K: Any) -> np.ndarray:
    """2-D cross-correlation ("valid"): each output is the sum of a window times ``K``.

    >>> corr2d(np.arange(9.).reshape(3, 3), [[0., 1.], [2., 3.]])
    array([[19., 25.],
           [37., 43.]])
    """
    X, K = _matrix(X, "X"), _matrix(K, "K")
    kh, kw = K.shape
    if kh > X.shape[0] or kw > X.shape[1]:
        raise ValueError(f"K of shape {K.shape} is larger than X of shape {X.shape}; corr2d needs K to fit in X")
    Y = np.zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1), dtype=compute_dtype(X, K))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
    return Y


def kernel2matrix(K: Any, input_shape: Sequence[int] = (3, 3)) -> np.ndarray:
    """The dense matrix ``W`` of ``corr2d(., K)`` for inputs of ``input_shape``.

    Row ``r`` of ``W`` computes output element ``r`` (row-major), so
    ``corr2d(X, K).ravel() == W @ X.ravel()``, and ``W.T`` applied to a
    flattened output-sized array is :func:`trans_conv`.

    >>> kernel2matrix([[0., 1.], [2., 3.]])
    array([[0., 1., 0., 2., 3., 0., 0., 0., 0.],
           [0., 0., 1., 0., 2., 3., 0., 0., 0.],
           [0., 0., 0., 0., 1., 0., 2., 3., 0.],
           [0., 0., 0., 0., 0., 1., 0., 2., 3.]])
    """
    K = _matrix(K, "K")
    if isinstance(input_shape, (str, bytes)) or len(input_shape) != 2:
        raise ValueError(f"input_shape must be (height, width), got {input_shape!r}")
    h, w = (as_int(n, "input_shape") for n in input_shape)
    kh, kw = K.shape
    if kh > h or kw > w:
        raise ValueError(f"input_shape {(h, w)} is smaller than the kernel {K.shape}")
    out_h, out_w = h - kh + 1, w - kw + 1
    W = np.zeros((out_h * out_w, h * w), dtype=compute_dtype(K))
    for i in range(out_h):
        for j in range(out_w):
            row = W[i * out_w + j].reshape(h, w)  # a view: the input grid of this output
            row[i : i + kh, j : j + kw] = K
    return W
