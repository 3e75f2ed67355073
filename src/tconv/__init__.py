"""tconv: transposed convolution for NumPy, exact, portable and explained.

>>> import tconv, numpy as np
>>> tconv.trans_conv(np.array([[0., 1], [2, 3]]), np.array([[0., 1], [2, 3]]))
array([[ 0.,  0.,  1.],
       [ 0.,  4.,  6.],
       [ 4., 12.,  9.]])
"""

from . import compat
from .chapter import corr2d, kernel2matrix, trans_conv
from .grad import conv_backward, conv_transpose_backward
from .matrix import ConvOperator, conv_matrix
from .algorithms.cost import calibrate
from .explain import explain
from .ops import algorithm_names, algorithms, conv, conv_transpose
from .shapes import conv_output_shape, conv_transpose_output_shape

__version__ = "0.1.0"

__all__ = [
    "ConvOperator",
    "algorithm_names",
    "algorithms",
    "compat",
    "calibrate",
    "conv",
    "conv_backward",
    "conv_matrix",
    "conv_output_shape",
    "conv_transpose",
    "conv_transpose_backward",
    "conv_transpose_output_shape",
    "explain",
    "corr2d",
    "kernel2matrix",
    "trans_conv",
]
