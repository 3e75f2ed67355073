"""Arrays of other libraries (PyTorch, CuPy, JAX, ...) through the array API.

:func:`tconv.conv_transpose` and :func:`tconv.conv` send a call here when one
of ``x``, ``weight``, ``bias`` is an array of a library other than NumPy.  The
call is validated exactly as for NumPy (the same :class:`~tconv.params.Geometry`,
built from the shapes alone), then computed *in that array's own namespace*
(found by ``array-api-compat``) by the portable direct algorithm of
:mod:`tconv._portable`: a CUDA tensor or a CuPy array stays on its
GPU, a JAX array stays a JAX array.  The result is an array of the same
library, on the same device.  One exception, for speed: PyTorch CPU tensors
outside autograd and concrete JAX CPU arrays, float32 or float64, are read in
place as NumPy arrays and run by the NumPy operator with its fast algorithms
(the portable algorithm is a direct one: up to thousands of times slower on
real layers); the result comes back as the library's array (PyTorch shares
its memory).  A tensor that requires a gradient (grad mode on) or a JAX tracer
keeps the library's own operations, so autograd, ``jax.jit`` and ``jax.grad``
work through the call.

Rules beyond NumPy's:

* The namespace comes from the non-NumPy operands, which must agree (a torch
  ``x`` with a CuPy ``weight`` is a ``TypeError``); NumPy operands and array
  likes are moved into it (``xp.asarray`` on ``x``'s device).
* The result dtype is the library's own promotion of the floating operands;
  integer operands only give the library's default float dtype (float32 for
  PyTorch and JAX, float64 for NumPy and CuPy).  Float16/bfloat16 compute in
  float32 and are rounded once at the end.
* ``algorithm`` must be ``"auto"`` or ``"direct"`` (the NumPy-specific
  algorithms do not apply).
* ``padding_mode`` works as for NumPy: the input is padded by ``take`` with
  the indices of :func:`tconv.boundary.source_index`, a transposed result
  folded back by a product with the 0/1 matrix of that gather, per dim.
* A Dask array goes to :mod:`tconv.distributed` (chunked, lazy): the public functions route it there
  before this module sees it.

Needs the ``array-api`` extra (``pip install 'tconv[array-api]'``); NumPy
users never import it.

>>> import torch  # doctest: +SKIP
>>> y = tconv.conv_transpose(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), stride=2)  # doctest: +SKIP
>>> type(y), tuple(y.shape)  # doctest: +SKIP
(<class 'torch.Tensor'>, (1, 1, 4, 4))
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .boundary import source_index
from ._portable import conv as portable_conv
from ._portable import conv_transpose as portable_conv_transpose
from .memory import check_fits, device_available_bytes
from .ops import conv as numpy_conv
from .ops import conv_transpose as numpy_conv_transpose
from .params import Geometry, conv_geometry, conv_transpose_geometry, stand_in
from .shapes import full_size

#: Top-level modules whose array types need array-api-compat.
ARRAY_LIBRARIES = ("torch", "cupy", "jax", "jaxlib", "dask", "array_api_strict", "sparse", "ndonnx", "mlx")

_PORTABLE_ALGORITHMS = ("auto", "direct")


def is_foreign(value: Any) -> bool:
    """True for an array of a library other than NumPy (it goes through the array API).

    >>> is_foreign(np.ones(3)), is_foreign([1.0, 2.0]), is_foreign(None)
    (False, False, False)
    """
    if value is None or isinstance(value, (np.ndarray, np.generic, numbers.Number, list, tuple, str, bytes)):
        return False
    root = type(value).__module__.split(".")[0]
    return root in ARRAY_LIBRARIES or hasattr(value, "__array_namespace__")


def any_foreign(*values: Any) -> bool:
    """True when one of ``values`` is a non-NumPy array."""
    return any(is_foreign(v) for v in values)


def to_numpy(value: Any, name: str) -> np.ndarray:
    """A NumPy copy of a non-NumPy array (moved to the host first), for code that computes in NumPy.

    >>> to_numpy(np.ones(2), "x")
    array([1., 1.])
    """
    if not is_foreign(value):
        return value
    xp, _ = _namespace({name: value})
    if _is_dask(xp):
        raise TypeError(f"{name} is a Dask array; use tconv.distributed for chunked execution")
    return np.asarray(_compat().to_device(value, "cpu"))


def like(result: np.ndarray, template: Any) -> Any:
    """``result`` as an array of ``template``'s library, on its device (NumPy stays NumPy).

    >>> like(np.zeros(2), np.ones(3))
    array([0., 0.])
    """
    if not is_foreign(template):
        return result
    xp, device = _namespace({"x": template})
    return xp.asarray(result, device=device)


def _compat() -> Any:
    try:
        import array_api_compat
    except ImportError:
        raise ImportError(
            "tconv needs array-api-compat for non-NumPy arrays (PyTorch, CuPy, JAX, ...): "
            "pip install 'tconv[array-api]'"
        ) from None
    return array_api_compat


def _namespace(named: dict[str, Any]) -> tuple[Any, Any]:
    """(xp, device) of the non-NumPy operands; TypeError for unsupported or mixed libraries."""
    compat = _compat()
    foreign = {name: v for name, v in named.items() if is_foreign(v)}
    for name, value in foreign.items():
        if not compat.is_array_api_obj(value):
            raise TypeError(
                f"{name} is a {type(value).__module__}.{type(value).__name__}, which is not a supported array type: "
                f"expected a NumPy array (or array-like) or an array supported by array-api-compat "
                f"(PyTorch, CuPy, JAX, Dask, ...)"
            )
    try:
        xp = compat.array_namespace(*foreign.values())
    except TypeError:
        kinds = ", ".join(f"{name}: {type(v).__module__}.{type(v).__name__}" for name, v in foreign.items())
        raise TypeError(f"x, weight and bias must be arrays of one library (or NumPy), got {kinds}") from None
    first = next(iter(foreign.values()))
    return xp, compat.device(first)


def _is_dask(xp: Any) -> bool:
    return "dask" in getattr(xp, "__name__", "")


def _to_namespace(xp: Any, value: Any, device: Any, name: str) -> Any:
    if is_foreign(value):
        return value
    try:
        return xp.asarray(np.asarray(value), device=device)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from None


def _check_dtype(xp: Any, value: Any, name: str) -> None:
    layout = getattr(value, "layout", None)  # a torch tensor's: sparse and other layouts have no dense view
    if layout is not None and type(value).__module__.split(".")[0] == "torch" and str(layout) != "torch.strided":
        raise TypeError(f"{name} is a {layout} torch tensor; expected a dense (strided) one ({name}.to_dense())")
    dtype = value.dtype
    if xp.isdtype(dtype, "bool"):
        raise TypeError(f"{name} has dtype bool; expected real numbers (cast it first)")
    if xp.isdtype(dtype, "complex floating"):
        raise TypeError(f"{name} has complex dtype {dtype}; expected real numbers")
    if not xp.isdtype(dtype, ("real floating", "integral")):
        raise TypeError(f"{name} has dtype {dtype}; expected a real numeric dtype (int or float)")


def _result_dtype(xp: Any, operands: list[Any], device: Any) -> Any:
    floats = [a.dtype for a in operands if xp.isdtype(a.dtype, "real floating")]
    if floats:
        return xp.result_type(*floats)
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None:
        return info().default_dtypes(device=device)["real floating"]
    return xp.float64


def _check_memory(xp: Any, geom: Geometry, work: Any, upsampled: int, array: Any, recorded: bool = False) -> None:
    """Refuse a call whose result + workspace exceed the free memory of ``array``'s device (host or GPU);
    where that is unknown, nothing is checked (never a GPU array against host memory).  ``recorded``: torch's
    autograd records the call, and keeps every tap's window (``batch x out x C_in`` elements) for backward."""
    limit = device_available_bytes(array)
    if limit is None:
        return
    itemsize = xp.finfo(work).bits // 8
    result = int(np.prod(geom.result_shape, dtype=object))
    per_channel_in = geom.batch * upsampled
    workspace = per_channel_in * geom.in_channels * 2 + result * 2
    what = "conv_transpose" if geom.transposed else "conv"
    if recorded:
        saved = (int(np.prod(geom.kernel_shape, dtype=object)) * geom.batch
                 * int(np.prod(geom.output_shape, dtype=object)) * geom.in_channels)
        check_fits((result + workspace + saved) * itemsize,
                   f"{what} with the array-API algorithm under autograd (result + workspace + the {saved} elements "
                   f"autograd keeps for backward: one window per kernel tap)", limit)
        return
    check_fits((result + workspace) * itemsize, f"{what} with the array-API algorithm (result + workspace)", limit)


def _recorded(*arrays: Any) -> bool:
    """Whether torch's autograd records a call on these operands (grad mode on, one requires a gradient)."""
    present = [a for a in arrays if a is not None]
    if not present or type(present[0]).__module__.split(".")[0] != "torch":
        return False
    import torch

    return torch.is_grad_enabled() and any(getattr(a, "requires_grad", False) for a in present)


def _gather_matrix(xp: Any, geom: Geometry, dim: int, dtype: Any, device: Any) -> Any:
    """``(padded, n)`` 0/1 matrix of the boundary's gather along spatial ``dim`` (its product folds)."""
    (lo, hi), n = geom.boundary_pairs[dim], geom.big_shape[dim]
    index = source_index(n, lo, hi, geom.boundary)
    m = np.zeros((index.size, n))
    m[np.arange(index.size)[index >= 0], index[index >= 0]] = 1.0
    return xp.asarray(m, dtype=dtype, device=device)


def _boundary(xp: Any, a: Any, geom: Geometry, device: Any) -> Any:
    """A convolution's input padded in ``geom.boundary`` mode, or a transposed convolution's result folded."""
    for dim in range(geom.ndim):
        axis = a.ndim - geom.ndim + dim
        if not geom.transposed:
            (lo, hi), n = geom.boundary_pairs[dim], geom.big_shape[dim]
            a = xp.take(a, xp.asarray(source_index(n, lo, hi, geom.boundary), device=device), axis=axis)
        else:
            moved = xp.moveaxis(a, axis, -1)
            a = xp.moveaxis(xp.matmul(moved, _gather_matrix(xp, geom, dim, a.dtype, device)), -1, axis)
    return a


def _run(x: Any, weight: Any, bias: Any, kwargs: dict, transposed: bool) -> Any:
    algorithm = kwargs.pop("algorithm", "auto")
    named = {"x": x, "weight": weight, "bias": bias}
    xp, device = _namespace(named)
    if _is_dask(xp):
        raise TypeError("a Dask array goes to tconv.distributed (tconv.conv_transpose routes it there)")
    if algorithm not in _PORTABLE_ALGORITHMS:
        raise ValueError(
            f"algorithm must be 'auto' or 'direct' for {xp.__name__} arrays (the array-API implementation), "
            f"got {algorithm!r}"
        )
    xa, wa = _to_namespace(xp, x, device, "x"), _to_namespace(xp, weight, device, "weight")
    ba = None if bias is None else _to_namespace(xp, bias, device, "bias")
    operands = [a for a in (xa, wa, ba) if a is not None]
    for name, a in zip(("x", "weight", "bias"), operands):
        _check_dtype(xp, a, name)
    host = _host_views(xa, wa, ba)
    if host is not None:  # CPU memory NumPy can read in place: the NumPy operator and its fast algorithms
        operator = numpy_conv_transpose if transposed else numpy_conv
        return xp.asarray(operator(*host, algorithm=algorithm, **kwargs), device=device)
    build = conv_transpose_geometry if transposed else conv_geometry
    geom = build(stand_in(xa.shape), stand_in(wa.shape), None if ba is None else stand_in(ba.shape), **kwargs)
    dtype = _result_dtype(xp, operands, device)
    work = xp.result_type(dtype, xp.float32)
    upsampled = int(np.prod([full_size(n, 1, s, 1) + k_eff - 1 + m for n, s, k_eff, m in zip(  # dilated + padded
        geom.input_shape, geom.stride, geom.effective_kernel, geom.output_shape)], dtype=object))
    _check_memory(xp, geom, work, upsampled if transposed else int(np.prod(geom.input_shape, dtype=object)), xa,
                  _recorded(xa, wa, ba))
    xb = xp.astype(xa if geom.batched else xp.expand_dims(xa, axis=0), work)
    kernel = portable_conv_transpose if transposed else portable_conv
    if geom.boundary != "zeros" and not transposed:
        xb = _boundary(xp, xb, geom, device)
    y = kernel(xp, xb, xp.astype(wa, work), geom.kernel_geometry(), device)
    if geom.boundary != "zeros" and transposed:
        y = _boundary(xp, y, geom, device)
    if ba is not None:
        y = y + xp.reshape(xp.astype(ba, work), (1, geom.out_channels) + (1,) * geom.ndim)
    y = xp.astype(y, dtype)
    return y if geom.batched else y[0, ...]


#: Library -> dtypes whose NumPy promotion and results are the library's own (see :func:`_host_views`).
_HOST_DTYPES = {"torch": ("float32", "float64"), "jax": ("float32", "float64")}


def _host_views(*arrays: Any) -> tuple[np.ndarray | None, ...] | None:
    """NumPy views of ``arrays`` (None stays None) where the NumPy operator computes exactly what the library
    would get from the portable path, only faster; None where it must not take them.

    Taken: PyTorch CPU tensors outside autograd (none requires a gradient while grad mode is on: a tensor
    that does keeps torch's operations, so its gradient flows) and concrete JAX arrays on the CPU (a
    tracer, under ``jax.jit`` or ``grad``, keeps JAX's operations), all float32 or float64, where NumPy
    promotes as the library does.  Integer, half-precision and GPU arrays keep the portable path.
    """
    present = [a for a in arrays if a is not None]
    roots = {type(a).__module__.split(".")[0] for a in present}
    if roots == {"torch"}:  # strided: _check_dtype refused the other layouts
        if _recorded(*present) or any(str(a.dtype).removeprefix("torch.") not in _HOST_DTYPES["torch"]
                                      or a.device.type != "cpu" for a in present):
            return None
        return tuple(None if a is None else a.detach().resolve_neg().numpy() for a in arrays)
    if roots <= {"jax", "jaxlib"} and roots:
        import jax

        for a in present:
            if isinstance(a, jax.core.Tracer) or str(a.dtype) not in _HOST_DTYPES["jax"]:
                return None
            if any(d.platform != "cpu" for d in a.devices()):
                return None
        return tuple(None if a is None else np.asarray(a) for a in arrays)
    return None


def conv_transpose(x: Any, weight: Any, bias: Any = None, **kwargs: Any) -> Any:
    """:func:`tconv.conv_transpose` for non-NumPy arrays (same arguments, result in ``x``'s library)."""
    return _run(x, weight, bias, kwargs, transposed=True)


def conv(x: Any, weight: Any, bias: Any = None, **kwargs: Any) -> Any:
    """:func:`tconv.conv` for non-NumPy arrays (same arguments, result in ``x``'s library)."""
    return _run(x, weight, bias, kwargs, transposed=False)
