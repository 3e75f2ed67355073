"""``ConvLayerBase``: what every convolution layer shares, both dialects (PyTorch, Gluon) and both directions.

A layer is a door onto the operator.  It validates its hyper-parameters once,
at construction; at a call it needs the :class:`~tconv.params.Geometry` of
that input, which depends only on the input's shape and dtype, the
parameters' shapes and dtypes and whether there is a bias.  So the layer
builds it once per such combination and keeps the last few
(:data:`GEOMETRY_CACHE_SIZE`): a training loop that feeds batches of one shape
validates once, then every forward is :func:`tconv.ops.execute` and every
backward :func:`tconv.grad.backward` on the kept geometry.

Arrays of other libraries (PyTorch, CuPy, JAX) are converted to NumPy on the
way in and back on the way out (:mod:`tconv.arrayapi`).

>>> import numpy as np
>>> from tconv.nn import ConvTranspose1d
>>> layer = ConvTranspose1d(1, 1, 2, stride=2, bias=False, seed=0)
>>> x = np.ones((4, 1, 3), np.float32)
>>> g = layer.geometry(x)
>>> g is layer.geometry(x), g.output_shape
(True, (6,))
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .. import arrayapi
from ..grad import backward as grad_backward
from ..ops import execute
from ..params import Geometry, geometry_from_shapes
from ..shapes import forward_padding, transposed_padding
from .._validate import as_int, boundary_mode, compute_dtype, int_tuple, numeric_array, pad_pairs, padding_rule
from .module import Module, layer_dtype
from .parameter import Parameter, kept_dtype

#: How many geometries (input shape / dtype combinations) a layer keeps.
GEOMETRY_CACHE_SIZE = 8

_UNCACHED = object()  # an output_size that makes no key: validated at every call (which reports it)


def _size_key(output_size: Any) -> Any:
    """``output_size`` as a hashable key (None, or a tuple of ints), or :data:`_UNCACHED`."""
    if output_size is None:
        return None
    try:
        if isinstance(output_size, (tuple, list, np.ndarray)):
            return tuple(operator.index(v) for v in output_size)
        return (operator.index(output_size),)
    except TypeError:
        return _UNCACHED


# Public argument names of the two layer dialects (for error messages).
TORCH_NAMES = {"in_channels": "in_channels", "out_channels": "out_channels", "stride": "stride", "bias": "bias"}


def _padding(value: Any, nd: int) -> Any:
    """Validate ``padding`` (numbers, pairs, 'same', 'valid') without resolving a string."""
    if isinstance(value, str):
        return padding_rule(value)
    return pad_pairs(value, nd)


class ConvLayerBase(Module):
    """The machinery shared by every convolution layer, both dialects and both directions."""

    transposed: bool = False
    nd: int = 2
    names: dict = TORCH_NAMES

    # -- construction ------------------------------------------------------------------

    def _configure(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any, padding: Any,
                   output_padding: Any, dilation: Any, groups: Any, bias: Any, dtype: Any,
                   defer_in_channels: bool = False, padding_mode: Any = "zeros") -> None:
        n = self.names
        self.padding_mode = boundary_mode(padding_mode)
        self.in_channels = as_int(in_channels, n["in_channels"])
        self.out_channels = as_int(out_channels, n["out_channels"])
        if self.in_channels < (0 if defer_in_channels else 1):
            hint = " (0 defers it to the first call)" if defer_in_channels else ""
            raise ValueError(f"{n['in_channels']} must be >= 1{hint}, got {self.in_channels}")
        if self.out_channels < 1:
            raise ValueError(f"{n['out_channels']} must be >= 1, got {self.out_channels}")
        self.kernel_size = int_tuple(kernel_size, self.nd, "kernel_size", minimum=1)
        self.stride = int_tuple(stride, self.nd, n["stride"], minimum=1)
        self.dilation = int_tuple(dilation, self.nd, "dilation", minimum=1)
        self.padding = _padding(padding, self.nd)
        self.groups = as_int(groups, "groups")
        if self.groups < 1:
            raise ValueError(f"groups must be >= 1, got {self.groups}")
        self._check_divisible(n["out_channels"], self.out_channels)
        if self.in_channels:
            self._check_divisible(n["in_channels"], self.in_channels)
        if self.transposed:
            _, self.output_padding = transposed_padding(
                self.padding, output_padding, None, (1,) * self.nd, self.kernel_size, self.stride, self.dilation
            )
            if isinstance(self.padding, str):
                self.output_padding = (0,) * self.nd  # 'same' resolves its own at each call
        else:
            forward_padding(self.padding, (1,) * self.nd, self.kernel_size, self.stride, self.dilation)
            self.output_padding = (0,) * self.nd
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"{n['bias']} must be True or False, got {bias!r}")
        self.use_bias = bool(bias)
        self.dtype = layer_dtype(dtype)  # the dtype new parameters get (changed by .to())
        self._weight: Parameter | None = None
        self._bias: Parameter | None = None
        self._saved: tuple | None = None
        self._geometries: dict[tuple, Geometry] = {}

    def _check_divisible(self, name: str, channels: int) -> None:
        if channels % self.groups:
            raise ValueError(f"{name} ({channels}) must be divisible by groups ({self.groups})")

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """``(in, out // groups, *k)`` for a transposed convolution, ``(out, in // groups, *k)`` otherwise."""
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    def _layout(self) -> str:
        if self.transposed:
            return "(in_channels, out_channels // groups, *kernel_size)"
        return "(out_channels, in_channels // groups, *kernel_size)"

    def _create_parameters(self, weight: np.ndarray) -> None:
        self._weight = Parameter(np.asarray(weight, dtype=self.dtype), "weight")
        self._bias = Parameter(np.zeros(self.out_channels, self.dtype), "bias") if self.use_bias else None

    def _owned(self, param: Parameter | None) -> Parameter | None:
        """``param`` with the hook that lets ``param.data = K`` of another float dtype replace it."""
        if param is not None:
            param.retype = self._replace
        return param

    def _replace(self, param: Parameter, value: np.ndarray) -> None:
        """Put a new parameter holding ``value`` (its dtype) where ``param`` is; its gradient follows."""
        new = Parameter(value, param.name)
        if param.grad is not None:
            new.grad = param.grad.astype(new.dtype)
        if param is self._weight:
            self._weight = new
        elif param is self._bias:
            self._bias = new
        else:  # a parameter this layer no longer holds: it keeps its own dtype
            np.copyto(param.view(np.ndarray), value, casting="unsafe")

    def _cast(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        for param in self.parameters():
            if param.dtype != dtype:
                self._replace(param, param.astype(dtype))

    # -- parameters ----------------------------------------------------------------------

    @property
    def weight(self) -> Parameter | None:
        """The weight array; assign an array of :attr:`weight_shape` (or write into it with ``[...]``).

        An assigned array of another floating dtype keeps its dtype; ``[...]``
        stores the weight's dtype (see the module docstring).
        """
        return self._owned(self._weight)

    @weight.setter
    def weight(self, value: Any) -> None:
        if value is None:
            raise ValueError(f"weight cannot be None; it must be an array of shape {self._expected('weight')}")
        if self._weight is None:
            raise ValueError(
                f"weight cannot be assigned yet: {self._not_ready()}"
            )
        self._assign(self._weight, value, "weight")

    @property
    def bias(self) -> Parameter | None:
        """The bias array ``(out_channels,)``, or None for a layer built without bias (dtypes: as ``weight``)."""
        return self._owned(self._bias)

    @bias.setter
    def bias(self, value: Any) -> None:
        if value is None:
            self._bias, self.use_bias = None, False
            return
        if self._bias is None:
            if not self.use_bias:
                raise ValueError(f"bias cannot be assigned: this layer was built with {self.names['bias']}=False")
            raise ValueError(f"bias cannot be assigned yet: {self._not_ready()}")
        self._assign(self._bias, value, "bias")

    def _expected(self, name: str) -> str:
        if name == "bias":
            return f"({self.out_channels},)"
        return f"{self.weight_shape} {self._layout()}"

    def _assign(self, param: Parameter, value: Any, name: str) -> None:
        if value is param:
            return
        arr = numeric_array(value, name)
        if arr.shape != param.shape:
            raise ValueError(f"{name} must have shape {self._expected(name)}, got an array of shape {arr.shape}")
        if kept_dtype(value, arr, param.dtype) != param.dtype:
            self._replace(param, arr)
        else:
            param.assign(arr.astype(param.dtype, copy=False))

    def _not_ready(self) -> str:
        return "the layer has no parameters yet"

    def parameters(self) -> list[Parameter]:
        return [self._owned(p) for p in (self._weight, self._bias) if p is not None]

    @property
    def weight_grad(self) -> np.ndarray | None:
        """Gradient of the weight from the latest :meth:`backward` (None before)."""
        return None if self._weight is None else self._weight.grad

    @property
    def bias_grad(self) -> np.ndarray | None:
        """Gradient of the bias from the latest :meth:`backward` (None before, or without bias)."""
        return None if self._bias is None else self._bias.grad

    # -- forward / backward ----------------------------------------------------------------

    def _prepare(self, channels: int) -> None:
        """Make sure the parameters exist for an input with ``channels`` channels."""
        if channels != self.in_channels:
            raise ValueError(
                f"in_channels: x has {channels} channels but the layer was built with "
                f"{self.names['in_channels']}={self.in_channels}"
            )

    def _input(self, x: Any) -> np.ndarray:
        xa = numeric_array(x, "x")
        if xa.ndim not in (self.nd + 1, self.nd + 2):
            raise ValueError(
                f"x must have shape (N, C, *spatial) or (C, *spatial) with {self.nd} spatial dims for "
                f"{type(self).__name__}, got x of shape {xa.shape}"
            )
        self._prepare(xa.shape[-self.nd - 1])
        return xa

    def _run(self, x: Any, output_size: Any = None) -> Any:
        """Forward pass; PyTorch/CuPy/JAX input gives that library's array back (computed in NumPy)."""
        return arrayapi.like(self._run_numpy(arrayapi.to_numpy(x, "x"), output_size), x)

    def _run_numpy(self, x: Any, output_size: Any = None) -> np.ndarray:
        xa = self._input(x)
        w = np.array(self._weight)  # a snapshot: an optimizer step before backward must not change it
        b = None if self._bias is None else np.array(self._bias)
        geom = self._geometry(xa, w, b, output_size)
        y = execute(geom, xa, w, b)
        self._saved = (geom, xa, w, b is not None)
        return y

    def geometry(self, x: Any, output_size: Any = None) -> Geometry:
        """The validated :class:`~tconv.params.Geometry` of ``layer(x, ...)`` with the current parameters.

        Built once per input shape and dtype (the parameters' shapes and dtypes, the bias's presence, the
        hyper-parameters and ``output_size`` complete the key); the last :data:`GEOMETRY_CACHE_SIZE` are kept.
        """
        xa = self._input(arrayapi.to_numpy(x, "x"))
        return self._geometry(xa, self._weight, self._bias, output_size)

    def _geometry(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, output_size: Any) -> Geometry:
        hyper = self._hyper()
        key = (x.shape, x.dtype, weight.shape, weight.dtype, None if bias is None else bias.dtype,
               tuple(hyper.items()), _size_key(output_size))
        if key[-1] is _UNCACHED:
            return self._build(x, weight, bias, hyper, output_size)
        geom = self._geometries.get(key)
        if geom is None:
            geom = self._build(x, weight, bias, hyper, output_size)
            if len(self._geometries) >= GEOMETRY_CACHE_SIZE:
                del self._geometries[next(iter(self._geometries))]  # the oldest
            self._geometries[key] = geom
        return geom

    def _hyper(self) -> dict:
        """The layer's hyper-parameters as the geometry builder's keyword arguments."""
        hyper = dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups,
                     padding_mode=self.padding_mode)
        if self.transposed:
            hyper["output_padding"] = self._output_padding_arg()
        return hyper

    def _build(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, hyper: dict,
               output_size: Any) -> Geometry:
        if self.transposed:
            hyper = dict(hyper, output_size=output_size)
        dtype = compute_dtype(*(a for a in (x, weight, bias) if a is not None))
        return geometry_from_shapes(self.transposed, x.shape, weight.shape, dtype, bias=bias is not None, **hyper)

    def _output_padding_arg(self) -> Any:
        return 0 if isinstance(self.padding, str) else self.output_padding  # 'same' sets its own

    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient of the input; stores ``weight_grad`` and ``bias_grad`` (overwriting earlier ones)."""
        geom, xa, w, has_bias = self._saved_or_raise(self._saved)
        gy = numeric_array(arrayapi.to_numpy(grad_output, "grad_output"), "grad_output")
        gx, gw, gb = grad_backward(geom, gy, xa, w, has_bias)
        self._weight.grad = gw.astype(self._weight.dtype, copy=False)
        if has_bias and self._bias is not None:
            self._bias.grad = gb.astype(self._bias.dtype, copy=False)
        return arrayapi.like(gx, grad_output)

    def __repr__(self) -> str:
        n = self.names
        parts = [f"{self.in_channels}", f"{self.out_channels}", f"kernel_size={self.kernel_size}",
                 f"{n['stride']}={self.stride}"]
        if self.padding not in ("valid",) and self.padding != ((0, 0),) * self.nd:
            parts.append(f"padding={self.padding!r}")
        if any(self.output_padding):
            parts.append(f"output_padding={self.output_padding}")
        if any(d != 1 for d in self.dilation):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if not self.use_bias:
            parts.append(f"{n['bias']}=False")
        if self.padding_mode != "zeros":
            parts.append(f"padding_mode={self.padding_mode!r}")
        return f"{type(self).__name__}({', '.join(parts)})"
