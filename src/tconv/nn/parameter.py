"""``Parameter``: a layer's weight or bias, a NumPy array that knows its name and carries its gradient.

It behaves as a plain ``ndarray`` (arithmetic and NumPy functions on it give
plain arrays), with three additions:

* ``.grad`` holds the gradient stored by the layer's ``backward`` (or None);
* ``p[...] = value`` reports a value that does not fit by the parameter's name;
* ``p.data = value`` assigns a value of exactly the parameter's shape, so
  that PyTorch code such as ``layer.weight.data = K`` runs unchanged.

Dtypes: ``p[...] = value`` writes into the existing array, so it stores the
parameter's dtype (NumPy's in-place semantics, like PyTorch's
``param[...] = t`` or ``param.copy_(t)``).  Assigning ``layer.weight = K`` or
``layer.weight.data = K`` with an array ``K`` of another floating dtype keeps
``K``'s dtype, as PyTorch's ``param.data = t`` does (never a silent
rounding): the layer then holds a new Parameter of that dtype (a NumPy array
cannot change its dtype in place), so build optimizers after such an
assignment or a ``.to(dtype)``.  Python numbers and lists, and integer or
bool arrays, are stored in the parameter's dtype.  A Parameter that belongs
to no layer always stores its own dtype.

>>> import numpy as np
>>> w = Parameter(np.zeros((1, 1, 2)), "weight")
>>> w[...] = [3., 4.]
>>> w.data = np.array([[[1., 2.]]])
>>> w * 2
array([[[2., 4.]]])
>>> w.data = np.ones(3)
Traceback (most recent call last):
...
ValueError: weight must have shape (1, 1, 2), got an array of shape (3,)
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._validate import numeric_array, real_kind


def kept_dtype(value: Any, arr: np.ndarray, current: np.dtype) -> np.dtype:
    """The dtype a parameter of dtype ``current`` gets from assigning ``value`` (``arr`` is it as an array).

    An array of its own floating dtype keeps it (PyTorch's ``param.data = t``);
    Python numbers and lists, integer and bool arrays take ``current``.

    >>> kept_dtype(np.ones(2), np.ones(2), np.dtype(np.float32))
    dtype('float64')
    >>> kept_dtype([1.0, 2.0], np.ones(2), np.dtype(np.float32))
    dtype('float32')
    """
    if hasattr(value, "dtype") and real_kind(arr.dtype) == "f":
        return arr.dtype
    return np.dtype(current)


def _plain(value: Any) -> Any:
    """Replace every Parameter in (nested tuples / lists / dicts of) ``value`` by a plain ndarray view."""
    if isinstance(value, Parameter):
        return value.view(np.ndarray)
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Parameter(np.ndarray):
    """A named array with a ``grad`` slot; see the module docstring."""

    name: str
    grad: np.ndarray | None
    #: Set by the owning layer: called with ``(self, array)`` to replace this parameter by ``array``
    #: when an assignment brings another floating dtype (views and copies do not inherit it).
    retype: Callable[["Parameter", np.ndarray], None] | None

    def __new__(cls, value: Any, name: str = "parameter") -> "Parameter":
        obj = np.array(numeric_array(value, name), copy=True).view(cls)
        obj.name = name
        obj.grad = None
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.name = getattr(obj, "name", "parameter")
        self.grad = None
        self.retype = None

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
        if out is not None:  # in place: hand back the arrays written to (Parameters stay Parameters)
            return out[0] if len(out) == 1 else out
        return result

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return func(*_plain(args), **_plain(kwargs))

    def __setitem__(self, key: Any, value: Any) -> None:
        try:
            super().__setitem__(key, value)
        except (ValueError, TypeError) as exc:
            where = "..." if key is Ellipsis else repr(key)
            raise type(exc)(f"{self.name}[{where}] = value: cannot store that value in {self.name} of "
                            f"shape {self.shape}: {exc}") from None

    @property
    def data(self) -> np.ndarray:  # type: ignore[override]
        """The values as a plain array (a view); assigning copies an array of the same shape in."""
        return self.view(np.ndarray)

    @data.setter
    def data(self, value: Any) -> None:
        self.assign(value)

    def assign(self, value: Any) -> None:
        """Assign ``value``, requiring exactly this parameter's shape.

        The values are copied in (cast to this dtype), unless ``value`` is an
        array of another floating dtype and a layer owns this parameter: then
        the layer replaces it by a parameter of ``value``'s dtype (see the
        module docstring).
        """
        if value is self:
            return
        arr = numeric_array(value, self.name)
        if arr.shape != self.shape:
            raise ValueError(f"{self.name} must have shape {self.shape}, got an array of shape {arr.shape}")
        dtype = kept_dtype(value, arr, self.dtype)
        if dtype != self.dtype and self.retype is not None:
            self.retype(self, arr)
            return
        np.copyto(self.view(np.ndarray), arr, casting="unsafe")
