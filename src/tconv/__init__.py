"""tconv: transposed convolution for NumPy, exact, portable and explained.

>>> import tconv, numpy as np
>>> tconv.trans_conv(np.array([[0., 1], [2, 3]]), np.array([[0., 1], [2, 3]]))
array([[ 0.,  0.,  1.],
       [ 0.,  4.,  6.],
       [ 4., 12.,  9.]])

``import tconv`` stays light: the framework dialects (:mod:`tconv.compat`) and
the matrix view (:class:`ConvOperator`, :func:`conv_matrix`, which need
``scipy.sparse``) are imported on first use through the module's
``__getattr__`` (PEP 562); numba is imported by the first call that plans
compiled kernels, matplotlib by the first drawing, Dask by the first Dask call.
"""

from typing import TYPE_CHECKING

from . import arrayapi as _arrayapi
from .algorithms.cost import calibrate
from .chapter import corr2d, kernel2matrix, trans_conv
from ._dispatch import Route as _Route
from ._dispatch import add_route as _add_route
from ._dispatch import conv, conv_transpose
from ._explain import explain
from .grad import conv_backward, conv_transpose_backward
from .ops import algorithm_names
from .plans import BoundPlan, Plan, plan_conv, plan_conv_transpose
from .shapes import conv_output_shape, conv_transpose_output_shape

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and IDEs
    from . import compat, matrix
    from .matrix import ConvOperator, conv_matrix

#: Names of the face imported on first access: name -> (module, attribute or None for the module itself).
_LAZY = {
    "compat": (".compat", None),
    "matrix": (".matrix", None),  # an attribute of the package when the face imported it eagerly
    "ConvOperator": (".matrix", "ConvOperator"),
    "conv_matrix": (".matrix", "conv_matrix"),
}


def __getattr__(name: str):
    """Import a lazy name of the face on first use (``tconv.compat``, ``tconv.ConvOperator``, ...)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'tconv' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "BoundPlan",
    "Plan",
    "plan_conv",
    "plan_conv_transpose",
    "corr2d",
    "kernel2matrix",
    "trans_conv",
]
