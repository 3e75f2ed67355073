"""tconv: transposed convolution for NumPy, exact, portable and explained.

>>> import tconv, numpy as np
>>> tconv.trans_conv(np.array([[0., 1], [2, 3]]), np.array([[0., 1], [2, 3]]))
array([[ 0.,  0.,  1.],
       [ 0.,  4.,  6.],
       [ 4., 12.,  9.]])
"""

from . import arrayapi as _arrayapi
from . import compat
from .algorithms.cost import calibrate
from .chapter import corr2d, kernel2matrix, trans_conv
from ._dispatch import Route as _Route
from ._dispatch import add_route as _add_route
from ._dispatch import conv, conv_transpose
from ._explain import explain
from .grad import conv_backward, conv_transpose_backward
from .matrix import ConvOperator, conv_matrix
from .ops import algorithm_names
from .shapes import conv_output_shape, conv_transpose_output_shape


def _is_dask(operands) -> bool:
    return any(type(a).__module__.split(".")[0] == "dask" for a in operands)


def _dask_conv_transpose(*args, **kwargs):
    from . import distributed  # the dask extra, loaded on the first Dask call

    return distributed.conv_transpose(*args, **kwargs)


def _dask_conv(*args, **kwargs):
    from . import distributed

    return distributed.conv(*args, **kwargs)


_add_route(_Route("dask", _is_dask, _dask_conv_transpose, _dask_conv))
_add_route(_Route("array-api", lambda operands: _arrayapi.any_foreign(*operands), _arrayapi.conv_transpose,
                  _arrayapi.conv))

__version__ = "0.1.0"

__all__ = [
    "ConvOperator",
    "algorithm_names",
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
