"""The ONNX ``ConvTranspose`` and ``Conv`` operators: their attributes as a Geometry, run by :func:`tconv.ops.execute`.

* :func:`conv_transpose` and :func:`conv`: the operators as functions (NumPy in and out; onnx not needed).
* ``ConvTranspose`` and ``Conv``: the same as ``onnx.reference.op_run.OpRun`` subclasses, so that
  ``onnx.reference.ReferenceEvaluator(model, new_ops=[ConvTranspose, Conv])`` runs a whole model with
  them.  They are built on first access (a module ``__getattr__``): importing this module does not import
  onnx, and accessing them without onnx installed raises ModuleNotFoundError.

Attributes absent from a node (None, as the reference evaluator passes them) mean ONNX's defaults.

ConvTranspose: every attribute of every opset is accepted: ``auto_pad`` (NOTSET,
SAME_UPPER, SAME_LOWER, VALID), ``dilations``, ``group``, ``kernel_shape``,
``output_padding``, ``output_shape`` and ``pads`` (``[x1_begin, x2_begin, ...,
x1_end, x2_end, ...]``), ``strides``; any number of spatial dims.

Where ONNX Runtime and the ONNX reference evaluator disagree, this follows
ONNX Runtime (checked against onnxruntime 1.32):

* ``auto_pad`` SAME_UPPER / SAME_LOWER without ``output_shape``: the total
  crop is ``max(0, full + output_padding - in * stride)`` (``full`` is the
  uncropped output, :func:`tconv.shapes.full_size`), so when the stride is larger than the
  dilated kernel the output is ``full + output_padding`` positions, not
  ``in * stride`` (the reference evaluator pads zeros to reach ``in *
  stride``).  Odd totals crop the extra position at the end for SAME_UPPER
  and at the beginning for SAME_LOWER.
* ``output_shape`` (any ``auto_pad``; it overrides ``pads``): the total crop
  is ``max(0, full + output_padding - output_shape)``, split as above
  (SAME_UPPER: extra at the end; NOTSET / SAME_LOWER / VALID: extra at the
  beginning).  A larger ``output_shape`` extends the end with zeros (plus
  bias), up to ``full + stride - 1`` positions, as ONNX Runtime accepts.
* ``group > 1`` follows ONNX Runtime (the reference evaluator's grouped
  branch slices W by output channel and fails when ``M / group > 1``).

>>> import numpy as np
>>> X = np.array([[[1., 2, 3]]]); W = np.array([[[1., 10, 100]]])
>>> conv_transpose(X, W, strides=[2])
array([[[  1.,  10., 102.,  20., 203.,  30., 300.]]])
>>> conv_transpose(X, W, strides=[2], auto_pad="SAME_UPPER")
array([[[  1.,  10., 102.,  20., 203.,  30.]]])
>>> conv_transpose(X, W, strides=[2], auto_pad="SAME_LOWER")
array([[[ 10., 102.,  20., 203.,  30., 300.]]])
>>> conv_transpose(X, W, strides=[2], output_shape=[4])
array([[[102.,  20., 203.,  30.]]])

Conv (``auto_pad``, ``dilations``, ``group``, ``kernel_shape``, ``pads``, ``strides``; any number of spatial
dims): ONNX Runtime's numbers, except with ``auto_pad`` SAME_UPPER / SAME_LOWER in two corners where ONNX
Runtime (1.32) departs from the spec and the ONNX reference evaluator; there this follows the spec (the
padding is ``max(0, (ceil(D / s) - 1) * s + dilated kernel - D)``, split as the spec says):

* ``dilations`` > 1: ONNX Runtime refuses the node ("Dilation not supported for AutoPadType::SAME_UPPER or
  AutoPadType::SAME_LOWER"); the spec pads for the dilated kernel.
* a stride larger than the kernel by 3 or more (e.g. D = 5, kernel 1, stride 4 or 5): ONNX Runtime's padding
  goes negative and its windows start one or more positions into X (reading ``X[1]`` instead of ``X[0]``);
  the spec never pads negatively, so the first window starts at ``X[0]``.

A model run by the reference evaluator with these operators:

>>> from onnx import TensorProto, helper
>>> from onnx.reference import ReferenceEvaluator
>>> from tconv.compat.onnx import Conv, ConvTranspose
>>> node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], strides=[2], group=1)
>>> def value(name): return helper.make_tensor_value_info(name, TensorProto.DOUBLE, None)
>>> graph = helper.make_graph([node], "up", [value("X"), value("W")], [value("Y")])
>>> ReferenceEvaluator(helper.make_model(graph), new_ops=[ConvTranspose, Conv]).run(None, {"X": X, "W": W})[0]
array([[[  1.,  10., 102.,  20., 203.,  30., 300.]]])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ops import execute
from ..params import Geometry, geometry_from_shapes
from ..shapes import effective_kernel, full_size, same_padding_forward
from .._validate import as_int, compute_dtype, numeric_array
from ._common import int_list

#: The values ONNX allows for ``auto_pad``.
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")

_WHO = "ONNX ConvTranspose"


def parse_auto_pad(value: Any, who: str = _WHO) -> str:
    """ONNX's ``auto_pad`` attribute (str or bytes; empty means NOTSET), checked.

    >>> parse_auto_pad(b"SAME_UPPER"), parse_auto_pad("")
    ('SAME_UPPER', 'NOTSET')
    """
    if isinstance(value, bytes):
        value = value.decode()
    if value is None or value == "":
        return "NOTSET"
    if not isinstance(value, str) or value not in AUTO_PADS:
        raise ValueError(f"{who}: auto_pad must be one of {', '.join(AUTO_PADS)}, got {value!r}")
    return value


def _operands(X: Any, W: Any, B: Any, group: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    x = numeric_array(X, "X")
    w = numeric_array(W, "W")
    b = None if B is None else numeric_array(B, "B")
    if x.ndim < 3:
        raise ValueError(f"{_WHO}: X must have shape (N, C, D1, ..., Dn) with n >= 1, got {x.shape}")
    if w.ndim != x.ndim:
        raise ValueError(
            f"{_WHO}: W must have shape (C, M/group, k1, ..., kn) with the rank of X ({x.ndim}), got {w.shape}"
        )
    g = 1 if group is None else as_int(group, f"{_WHO}: group")
    if g < 1:
        raise ValueError(f"{_WHO}: group must be >= 1, got {g}")
    if w.shape[0] != x.shape[1]:
        raise ValueError(
            f"{_WHO}: W's first dim must equal X's channels C = {x.shape[1]} (W is (C, M/group, k...)), "
            f"got W of shape {w.shape}"
        )
    if x.shape[1] % g:
        raise ValueError(f"{_WHO}: group ({g}) must divide X's channels ({x.shape[1]})")
    if b is not None and b.shape != (w.shape[1] * g,):
        raise ValueError(f"{_WHO}: B must have shape ({w.shape[1] * g},) (M = W.shape[1] * group), got {b.shape}")
    return x, w, b, g


def _check_kernel_shape(kernel_shape: Any, w: np.ndarray, who: str) -> None:
    """The optional ``kernel_shape`` attribute must be W's spatial shape."""
    if kernel_shape is None or (np.ndim(kernel_shape) == 1 and len(kernel_shape) == 0):
        return
    kernel = tuple(w.shape[2:])
    given = int_list(kernel_shape, len(kernel), "kernel_shape", who, minimum=1, default=1)
    if given != kernel:
        raise ValueError(f"{who}: kernel_shape {list(given)} is inconsistent with W of shape {w.shape} "
                         f"(W's spatial dims are {list(kernel)})")


def parse_pads(pads: Any, nd: int, auto_pad: str, who: str = _WHO) -> tuple[tuple[int, int], ...]:
    """ONNX's ``pads`` ``[x1_begin, ..., xn_begin, x1_end, ..., xn_end]`` as ``(begin, end)`` per dim, checked.

    >>> parse_pads([1, 2, 3, 4], 2, "NOTSET"), parse_pads(None, 1, "SAME_UPPER")
    (((1, 3), (2, 4)), ((0, 0),))
    """
    if pads is None or (np.ndim(pads) == 1 and len(pads) == 0):
        return ((0, 0),) * nd
    if auto_pad != "NOTSET":
        raise ValueError(f"{who}: pads cannot be used together with auto_pad={auto_pad!r}; give one of them")
    if isinstance(pads, (str, bytes)) or np.ndim(pads) != 1:
        raise TypeError(f"{who}: pads must be a list of {2 * nd} integers [x1_begin, ..., x1_end, ...], got {pads!r}")
    values = [as_int(p, f"{who}: pads") for p in pads]
    if len(values) != 2 * nd:
        raise ValueError(
            f"{who}: pads must have 2 * {nd} = {2 * nd} entries [x1_begin, ..., xn_begin, x1_end, ..., xn_end], "
            f"got {values} with {len(values)}"
        )
    if any(p < 0 for p in values):
        raise ValueError(f"{who}: pads must be non-negative, got {values}")
    return tuple(zip(values[:nd], values[nd:]))


def parse_output_shape(output_shape: Any, nd: int) -> tuple[int, ...] | None:
    """ONNX's ``output_shape`` (the spatial sizes, or ``[N, M, ...]``) as spatial sizes; None when absent.

    >>> parse_output_shape([1, 2, 8, 8], 2), parse_output_shape([], 2)
    ((8, 8), None)
    """
    if output_shape is None:
        return None
    if isinstance(output_shape, (str, bytes)) or np.ndim(output_shape) != 1:
        raise TypeError(f"{_WHO}: output_shape must be a list of {nd} integers, got {output_shape!r}")
    values = [as_int(v, f"{_WHO}: output_shape") for v in output_shape]
    if len(values) == 0:
        return None
    if len(values) == nd + 2:
        values = values[2:]
    if len(values) != nd:
        raise ValueError(
            f"{_WHO}: output_shape must have {nd} entries (the spatial sizes; or {nd + 2} with N and C), "
            f"got {values}"
        )
    if any(v < 1 for v in values):
        raise ValueError(f"{_WHO}: output_shape must be >= 1 in every dim, got {values}")
    return tuple(values)


def _split(total: int, auto_pad: str) -> tuple[int, int]:
    """(begin, end) of a total crop: SAME_UPPER puts the odd one at the end, the others at the beginning."""
    before = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
    return before, total - before


def _crop(dim: int, n: int, full: int, s: int, adj: int, auto_pad: str, pads: tuple[int, int],
          output_shape: tuple[int, ...] | None) -> tuple[tuple[int, int], int]:
    """(begin, end) cropped from the full output plus ``output_padding``, and the output size, of one dim."""
    if output_shape is not None:
        out = output_shape[dim]
        return _split(max(0, full + adj - out), auto_pad), out
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        total = max(0, full + adj - n * s)
        return _split(total, auto_pad), full + adj - total
    before, after = pads if auto_pad == "NOTSET" else (0, 0)
    return (before, after), full + adj - before - after


def geometry(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    dtype: Any = np.float64,
    *,
    bias: bool = False,
    auto_pad: Any = "NOTSET",
    dilations: Any = None,
    group: Any = 1,
    output_padding: Any = None,
    output_shape: Any = None,
    pads: Any = None,
    strides: Any = None,
) -> Geometry:
    """The :class:`~tconv.params.Geometry` of ONNX ``ConvTranspose`` on operands of these shapes.

    The attributes as :func:`conv_transpose` takes them (None: absent, ONNX's default), checked by ONNX
    Runtime's rules (see the module doc); the Geometry's :attr:`~tconv.params.Geometry.crops` are ONNX's crops
    of the full output.

    >>> geometry((1, 1, 3), (1, 1, 3), strides=[2], auto_pad="SAME_UPPER").crops
    ((0, 1),)
    >>> geometry((1, 1, 4), (1, 1, 3), strides=[2], output_shape=[10]).crops
    ((0, -1),)
    """
    nd = len(w_shape) - 2
    mode = parse_auto_pad(auto_pad)
    stride = int_list(strides, nd, "strides", _WHO, minimum=1, default=1)
    dil = int_list(dilations, nd, "dilations", _WHO, minimum=1, default=1)
    adj = int_list(output_padding, nd, "output_padding", _WHO, minimum=0, default=0)
    for dim, (a, s, d) in enumerate(zip(adj, stride, dil)):
        if a >= max(s, d):
            raise ValueError(
                f"{_WHO}: output_padding[{dim}] ({a}) must be smaller than max(strides, dilations) ({max(s, d)})"
            )
    pad_pairs = parse_pads(pads, nd, mode)
    out_shape = parse_output_shape(output_shape, nd)
    spatial, kernel = tuple(x_shape[2:]), tuple(w_shape[2:])
    if any(n < 1 for n in spatial) or any(k < 1 for k in kernel):
        raise ValueError(f"{_WHO}: X's spatial dims and W's kernel dims must be >= 1, got X {tuple(x_shape)}, "
                         f"W {tuple(w_shape)}")
    crops, sizes = [], []
    for dim, (n, k, s, d, a) in enumerate(zip(spatial, kernel, stride, dil, adj)):
        full = full_size(n, k, s, d)
        (before, after), out = _crop(dim, n, full, s, a, mode, pad_pairs[dim], out_shape)
        if out < 1:
            raise ValueError(
                f"{_WHO}: pads {[p[0] for p in pad_pairs] + [p[1] for p in pad_pairs]} crop the whole output of "
                f"dim {dim} ({full + a} positions before cropping)"
            )
        # ONNX Runtime's consistency check: a Conv over the output must give back the input size.
        if (out + before + after - effective_kernel(k, d)) // s + 1 != n:
            if out_shape is not None:
                top = full + s - 1 if a < s else full + a
                raise ValueError(
                    f"{_WHO}: output_shape {list(out_shape)} cannot be reached in dim {dim}: with input size {n}, "
                    f"kernel {k}, strides {s}, dilations {d} and output_padding {a}, ONNX Runtime accepts "
                    + (f"output_shape from 1 to {top}" if a < s else
                       f"no output_shape below {full + a}, and only {full + a} itself")
                    + " (a Conv over the output must give back the input size)"
                )
            raise ValueError(
                f"{_WHO}: output_padding[{dim}] ({a}) must be smaller than strides[{dim}] ({s}) for ONNX Runtime "
                f"(a Conv over the output must give back the input size {n})"
            )
        crops.append((before, after))
        sizes.append(out)
    return geometry_from_shapes(True, x_shape, w_shape, dtype, bias=bias, stride=stride, dilation=dil,
                                groups=1 if group is None else group, padding=tuple(crops),
                                output_size=tuple(sizes))


def conv_transpose(
    X: Any,
    W: Any,
    B: Any = None,
    *,
    auto_pad: Any = "NOTSET",
    dilations: Any = None,
    group: Any = 1,
    kernel_shape: Any = None,
    output_padding: Any = None,
    output_shape: Any = None,
    pads: Any = None,
    strides: Any = None,
) -> np.ndarray:
    """ONNX ``ConvTranspose`` (all opsets' attributes), following ONNX Runtime.

    Every attribute may be None (absent from the node, as the ONNX reference evaluator passes it), which
    means ONNX's default.

    Args:
        X: ``(N, C, D1, ..., Dn)``.
        W: ``(C, M / group, k1, ..., kn)``.
        B: ``(M,)`` or None.
        auto_pad: "NOTSET" (use ``pads``), "SAME_UPPER", "SAME_LOWER" or "VALID".
        dilations, strides, output_padding: one integer per spatial dim
            (defaults 1, 1, 0).  ``output_padding`` must be smaller than
            ``max(stride, dilation)`` (ONNX Runtime's check).
        group: number of groups (default 1).
        kernel_shape: optional; must equal ``W.shape[2:]``.
        output_shape: spatial output sizes (or ``[N, M, ...]``); overrides ``pads``.
        pads: ``[x1_begin, ..., xn_begin, x1_end, ..., xn_end]``.

    Returns:
        ``(N, M, *out)`` as NumPy, dtype by NumPy promotion of the operands.

    >>> X = np.ones((1, 1, 3, 3), np.float32); W = np.ones((1, 2, 3, 3), np.float32)
    >>> conv_transpose(X, W, strides=[3, 2], output_padding=[1, 1]).shape
    (1, 2, 10, 8)
    >>> conv_transpose(X, W, strides=[2, 2], pads=[1, 1, 1, 1]).shape
    (1, 2, 5, 5)
    """
    x, w, b, g = _operands(X, W, B, group)
    _check_kernel_shape(kernel_shape, w, _WHO)
    geom = geometry(x.shape, w.shape, compute_dtype(*(a for a in (x, w, b) if a is not None)), bias=b is not None,
                    auto_pad=auto_pad, dilations=dilations, group=g, output_padding=output_padding,
                    output_shape=output_shape, pads=pads, strides=strides)
    return execute(geom, x, w, b)


# --- Conv ------------------------------------------------------------------------------------------------------

_CONV = "ONNX Conv"


def _conv_operands(X: Any, W: Any, B: Any, group: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    x = numeric_array(X, "X")
    w = numeric_array(W, "W")
    b = None if B is None else numeric_array(B, "B")
    if x.ndim < 3:
        raise ValueError(f"{_CONV}: X must have shape (N, C, D1, ..., Dn) with n >= 1, got {x.shape}")
    if w.ndim != x.ndim:
        raise ValueError(
            f"{_CONV}: W must have shape (M, C/group, k1, ..., kn) with the rank of X ({x.ndim}), got {w.shape}"
        )
    g = 1 if group is None else as_int(group, f"{_CONV}: group")
    if g < 1:
        raise ValueError(f"{_CONV}: group must be >= 1, got {g}")
    if x.shape[1] % g or w.shape[0] % g:
        raise ValueError(f"{_CONV}: group ({g}) must divide X's channels ({x.shape[1]}) and W's first dim M "
                         f"({w.shape[0]})")
    if w.shape[1] * g != x.shape[1]:
        raise ValueError(
            f"{_CONV}: W's second dim must be X's channels / group = {x.shape[1]} / {g} = {x.shape[1] // g} "
            f"(W is (M, C/group, k...)), got W of shape {w.shape}"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{_CONV}: B must have shape ({w.shape[0]},) (M = W.shape[0]), got {b.shape}")
    return x, w, b, g


def _same_pads(n: int, k_eff: int, s: int, auto_pad: str) -> tuple[int, int]:
    """SAME_UPPER / SAME_LOWER input padding of one dim: ``ceil(n / s)`` outputs, the odd pad at the end / start."""
    before, after = same_padding_forward(n, k_eff, s)
    return (before, after) if auto_pad == "SAME_UPPER" else (after, before)


def conv_geometry(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    dtype: Any = np.float64,
    *,
    bias: bool = False,
    auto_pad: Any = "NOTSET",
    dilations: Any = None,
    group: Any = 1,
    pads: Any = None,
    strides: Any = None,
) -> Geometry:
    """The :class:`~tconv.params.Geometry` of ONNX ``Conv`` on operands of these shapes.

    The attributes as :func:`conv` takes them (None: absent, ONNX's default); the Geometry's
    :attr:`~tconv.params.Geometry.padding` is the ``(begin, end)`` padding of X per spatial dim.

    >>> conv_geometry((1, 1, 5), (1, 1, 2), strides=[2], auto_pad="SAME_LOWER").padding
    ((1, 0),)
    >>> conv_geometry((1, 1, 5), (1, 1, 3), pads=[1, 2]).output_shape
    (6,)
    """
    nd = len(w_shape) - 2
    mode = parse_auto_pad(auto_pad, _CONV)
    stride = int_list(strides, nd, "strides", _CONV, minimum=1, default=1)
    dil = int_list(dilations, nd, "dilations", _CONV, minimum=1, default=1)
    pad_pairs = parse_pads(pads, nd, mode, _CONV)
    spatial, kernel = tuple(x_shape[2:]), tuple(w_shape[2:])
    if any(n < 1 for n in spatial) or any(k < 1 for k in kernel):
        raise ValueError(f"{_CONV}: X's spatial dims and W's kernel dims must be >= 1, got X {tuple(x_shape)}, "
                         f"W {tuple(w_shape)}")
    padding = []
    for n, k, s, d, given in zip(spatial, kernel, stride, dil, pad_pairs):
        k_eff = effective_kernel(k, d)
        lo, hi = _same_pads(n, k_eff, s, mode) if mode in ("SAME_UPPER", "SAME_LOWER") else given
        if n + lo + hi < k_eff:
            raise ValueError(
                f"{_CONV}: the dilated kernel ({k_eff} = dilations {list(dil)} applied to kernel {list(kernel)}) is "
                f"larger than the padded input ({n} + pads {lo} + {hi}); no output position fits"
            )
        padding.append((lo, hi))
    return geometry_from_shapes(False, x_shape, w_shape, dtype, bias=bias, stride=stride, dilation=dil,
                                groups=1 if group is None else group, padding=tuple(padding))


def conv(
    X: Any,
    W: Any,
    B: Any = None,
    *,
    auto_pad: Any = "NOTSET",
    dilations: Any = None,
    group: Any = 1,
    kernel_shape: Any = None,
    pads: Any = None,
    strides: Any = None,
) -> np.ndarray:
    """ONNX ``Conv`` (cross-correlation; all opsets' attributes), following ONNX Runtime.

    Every attribute may be None (absent from the node, as the ONNX reference evaluator passes it), which
    means ONNX's default.

    Args:
        X: ``(N, C, D1, ..., Dn)``.
        W: ``(M, C / group, k1, ..., kn)``.
        B: ``(M,)`` or None.
        auto_pad: "NOTSET" (use ``pads``), "SAME_UPPER" / "SAME_LOWER" (pad X so that the output has
            ``ceil(D / stride)`` positions; an odd total pad goes at the end / at the beginning; where ONNX
            Runtime departs from this, see the module doc) or "VALID" (no padding).
        dilations, strides: one integer per spatial dim (default 1).
        group: number of groups (default 1).
        kernel_shape: optional; must equal ``W.shape[2:]``.
        pads: ``[x1_begin, ..., xn_begin, x1_end, ..., xn_end]`` (default 0).

    Returns:
        ``(N, M, *out)`` with ``out = floor((D + begin + end - dilation * (k - 1) - 1) / stride) + 1`` per dim,
        as NumPy, dtype by NumPy promotion of the operands.

    >>> X = np.arange(5.).reshape(1, 1, 5); W = np.array([[[1., 10]]])
    >>> conv(X, W, strides=[2])
    array([[[10., 32.]]])
    >>> conv(X, W, strides=[2], auto_pad="SAME_UPPER")
    array([[[10., 32.,  4.]]])
    >>> conv(X, W, strides=[2], auto_pad="SAME_LOWER")
    array([[[ 0., 21., 43.]]])
    """
    x, w, b, g = _conv_operands(X, W, B, group)
    _check_kernel_shape(kernel_shape, w, _CONV)
    geom = conv_geometry(x.shape, w.shape, compute_dtype(*(a for a in (x, w, b) if a is not None)),
                         bias=b is not None, auto_pad=auto_pad, dilations=dilations, group=g, pads=pads,
                         strides=strides)
    return execute(geom, x, w, b)


# --- onnx.reference operators --------------------------------------------------------------------------------

#: The ``onnx.reference.op_run.OpRun`` subclasses this module gives (built on first access: they need onnx).
OPERATORS = ("ConvTranspose", "Conv")


def _build_operators() -> dict[str, type]:
    """``ConvTranspose`` and ``Conv`` as ``OpRun`` subclasses running :func:`conv_transpose` and :func:`conv`."""
    try:
        from onnx.reference.op_run import OpRun
    except ImportError as error:
        raise ModuleNotFoundError(
            f"{__name__}.ConvTranspose and {__name__}.Conv are operators of onnx's ReferenceEvaluator and need "
            "the onnx package (pip install onnx); the functions conv_transpose and conv do not",
            name="onnx",
        ) from error

    class ConvTranspose(OpRun):
        """ONNX ``ConvTranspose`` for ``onnx.reference.ReferenceEvaluator(model, new_ops=[ConvTranspose])``.

        Runs :func:`tconv.compat.onnx.conv_transpose`: ONNX Runtime's numbers (groups, ``auto_pad`` and
        ``output_shape`` included; see the module doc for where it and the stock evaluator differ).
        """

        op_domain = ""

        def _run(self, X, W, B=None, *, auto_pad=None, dilations=None, group=None, kernel_shape=None,
                 output_padding=None, output_shape=None, pads=None, strides=None):
            return (conv_transpose(X, W, B, auto_pad=auto_pad, dilations=dilations, group=group,
                                   kernel_shape=kernel_shape, output_padding=output_padding,
                                   output_shape=output_shape, pads=pads, strides=strides),)

    class Conv(OpRun):
        """ONNX ``Conv`` for ``onnx.reference.ReferenceEvaluator(model, new_ops=[Conv])``.

        Runs :func:`tconv.compat.onnx.conv`.
        """

        op_domain = ""

        def _run(self, X, W, B=None, *, auto_pad=None, dilations=None, group=None, kernel_shape=None, pads=None,
                 strides=None):
            return (conv(X, W, B, auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                         pads=pads, strides=strides),)

    built = {"ConvTranspose": ConvTranspose, "Conv": Conv}
    for cls in built.values():
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return built


def __getattr__(name: str) -> Any:
    """``ConvTranspose`` / ``Conv``: built on first access, so that importing this module does not import onnx."""
    if name in OPERATORS:
        for key, cls in _build_operators().items():
            globals().setdefault(key, cls)  # a concurrent first access keeps the first classes built
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
