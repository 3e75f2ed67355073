"""Translate a transposed-convolution layer between frameworks, for a given input size.

Every framework's hyper-parameters come down to the same thing per spatial
dim: kernel, stride, dilation and how many positions are cropped from each
end of the *full* output (``(in - 1) * stride + dilation * (kernel - 1) + 1``
positions; a negative crop appends zeros).  :func:`describe` reads a layer in
one framework's words into that :class:`Layer`; :func:`express` writes a
:class:`Layer` in another framework's words, saying plainly when the target
has no exact equivalent and which extra crop (or zero padding) after the
target layer makes it exact; :func:`translate` does both.

Frameworks and the hyper-parameters they take (their own names):

* ``pytorch``: ``kernel_size, stride, padding, output_padding, dilation``
  (``ConvTranspose{1,2,3}d``; symmetric ``padding``);
* ``tconv``: as pytorch, plus ``(before, after)`` padding pairs, "same", "valid";
* ``onnx``: ``kernel_shape, strides, dilations, pads, output_padding,
  output_shape, auto_pad`` (ONNX Runtime's rules, see :mod:`tconv.compat.onnx`);
* ``tensorflow``: ``kernel_size, strides, dilations, padding`` ("SAME",
  "VALID" or pairs), ``output_shape`` (spatial sizes) of ``tf.nn.conv_transpose``;
* ``keras``: ``kernel_size, strides, padding`` ("same"/"valid"),
  ``output_padding, dilation_rate`` of ``Conv{1,2,3}DTranspose``;
* ``jax``: ``kernel_size, strides, padding, rhs_dilation,
  use_consistent_padding`` of ``jax.lax.conv_transpose``;
* ``mxnet``: ``kernel, stride, dilate, pad, adj, target_shape`` of ``Deconvolution``
  (Gluon: ``padding`` = pad, ``output_padding`` = adj).

Weights move between layouts with :func:`convert_weight`.

>>> t = translate("keras", "pytorch", (5, 5), kernel_size=4, strides=2, padding="same")
>>> t.exact, t.params["padding"], t.params["output_padding"], t.output_size
(True, (1, 1), (0, 0), (10, 10))
>>> t = translate("keras", "pytorch", (5,), kernel_size=3, strides=2, padding="same")
>>> t.exact, t.params["padding"], t.params["output_padding"], t.extra_crop
(False, (0,), (0,), ((0, 1),))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..shapes import transposed_padding
from ..validate import as_int, int_tuple, padding_mode
from ._common import full_size, int_list
from .jax import jax_crops
from .mxnet import mxnet_crops
from .onnx import _auto_pad, _output_shape, _pads, onnx_crops
from .tensorflow import keras_output_size, tf_crops

#: The frameworks :func:`translate` knows.
FRAMEWORKS = ("pytorch", "tconv", "onnx", "tensorflow", "keras", "jax", "mxnet")

Pairs = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Layer:
    """A transposed-conv layer's geometry per spatial dim, framework-free."""

    input_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    crops: Pairs  # removed from each end of the full output; negative: zeros appended

    @property
    def full_size(self) -> tuple[int, ...]:
        return tuple(full_size(n, k, s, d) for n, k, s, d in zip(self.input_size, self.kernel, self.stride,
                                                                  self.dilation))

    @property
    def output_size(self) -> tuple[int, ...]:
        return tuple(f - lo - hi for f, (lo, hi) in zip(self.full_size, self.crops))


@dataclass(frozen=True)
class Translation:
    """A layer in a target framework's words.

    ``params`` are the target's own hyper-parameter names.  When ``exact`` is
    false the target layer alone gives ``output_size`` positions and
    ``extra_crop`` (per dim ``(before, after)``; negative = zeros to add) applied
    to its output reproduces the source exactly (:func:`apply_extra`).
    """

    framework: str
    params: dict
    output_size: tuple[int, ...]
    exact: bool
    extra_crop: Pairs
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        text = f"{self.framework}: {args}  -> output {self.output_size}"
        if not self.exact:
            text += f"; NOT exact alone: then crop {self.extra_crop} (before, after per dim; negative = zero-pad)"
        for note in self.notes:
            text += f"\n    note: {note}"
        return text


# ---------------------------------------------------------------------------
# reading a layer


def _nd(input_size: Any) -> tuple[int, ...]:
    if np.ndim(input_size) == 0:
        raise TypeError(f"input_size must be a sequence of spatial sizes, got {input_size!r}")
    sizes = tuple(as_int(v, "input_size") for v in input_size)
    if not sizes or any(v < 1 for v in sizes):
        raise ValueError(f"input_size must have at least one spatial size, all >= 1, got {sizes}")
    return sizes


def _check_known(framework: str, params: dict, known: Sequence[str]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TypeError(f"{framework} takes {', '.join(known)}; unknown hyper-parameter(s): {', '.join(unknown)}")


def describe(framework: str, input_size: Sequence[int], **params: Any) -> Layer:
    """Read a layer given in ``framework``'s hyper-parameters (see the module doc).

    >>> describe("mxnet", (4,), kernel=(3,), stride=(2,), target_shape=(8,)).crops
    ((1, 0),)
    >>> describe("onnx", (4,), kernel_shape=[3], strides=[2], auto_pad="SAME_LOWER").crops
    ((1, 0),)
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    size = _nd(input_size)
    nd = len(size)
    reader = _READERS[framework]
    return reader(size, nd, params)


def _read_torch(framework: str):
    def read(size, nd, p):
        _check_known(framework, p, ("kernel_size", "stride", "padding", "output_padding", "dilation"))
        if "kernel_size" not in p:
            raise TypeError(f"{framework}: kernel_size is required")
        kernel = int_tuple(p["kernel_size"], nd, "kernel_size", minimum=1)
        stride = int_tuple(p.get("stride", 1), nd, "stride", minimum=1)
        dil = int_tuple(p.get("dilation", 1), nd, "dilation", minimum=1)
        padding = p.get("padding", 0)
        if framework == "pytorch" and (padding_mode(padding) or any(np.ndim(v) for v in np.atleast_1d(
                np.asarray(padding, dtype=object)))):
            raise ValueError("pytorch: padding must be an int or one int per dim (symmetric); "
                             "use framework 'tconv' for (before, after) pairs or 'same'/'valid'")
        pads, ops = transposed_padding(padding, p.get("output_padding", 0), None, size, kernel, stride, dil)
        return Layer(size, kernel, stride, dil, tuple((lo, hi - op) for (lo, hi), op in zip(pads, ops)))
    return read


def _read_onnx(size, nd, p):
    _check_known("onnx", p, ("kernel_shape", "strides", "dilations", "pads", "output_padding", "output_shape",
                             "auto_pad"))
    who = "ONNX ConvTranspose"
    if p.get("kernel_shape") is None:
        raise TypeError(f"{who}: kernel_shape is required here (there is no W to read it from)")
    kernel = int_list(p["kernel_shape"], nd, "kernel_shape", who, minimum=1, default=1)
    stride = int_list(p.get("strides"), nd, "strides", who, minimum=1, default=1)
    dil = int_list(p.get("dilations"), nd, "dilations", who, minimum=1, default=1)
    adj = int_list(p.get("output_padding"), nd, "output_padding", who, minimum=0, default=0)
    mode = _auto_pad(p.get("auto_pad", "NOTSET"))
    crops = onnx_crops(size, kernel, stride, dil, adj, mode, _pads(p.get("pads"), nd, mode),
                       _output_shape(p.get("output_shape"), nd))
    if any(a >= max(s, d) for a, s, d in zip(adj, stride, dil)):
        raise ValueError(f"{who}: output_padding {list(adj)} must be smaller than max(strides, dilations)")
    return Layer(size, kernel, stride, dil, crops)


def _read_tf(size, nd, p):
    _check_known("tensorflow", p, ("kernel_size", "strides", "dilations", "padding", "output_shape"))
    who = "tf.nn.conv_transpose"
    kernel = int_list(p.get("kernel_size"), nd, "kernel_size", who, minimum=1, default=0)
    stride = int_list(p.get("strides", 1), nd, "strides", who, minimum=1, default=1)
    dil = int_list(p.get("dilations", 1), nd, "dilations", who, minimum=1, default=1)
    if p.get("output_shape") is None:
        raise TypeError(f"{who}: output_shape (the spatial output sizes) is required")
    out = int_list(p["output_shape"], nd, "output_shape", who, minimum=1, default=1)
    padding = p.get("padding", "SAME")
    if not isinstance(padding, str):
        padding = tuple(tuple(int(v) for v in pair) for pair in padding)
        if len(padding) == nd + 2:
            padding = padding[1:-1]
    elif padding not in ("SAME", "VALID"):
        raise ValueError(f"{who}: padding must be 'SAME', 'VALID' or (before, after) pairs, got {padding!r}")
    return Layer(size, kernel, stride, dil, tf_crops(size, kernel, stride, dil, padding, out))


def _read_keras(size, nd, p):
    _check_known("keras", p, ("kernel_size", "strides", "padding", "output_padding", "dilation_rate"))
    who = "keras Conv*DTranspose"
    kernel = int_list(p.get("kernel_size"), nd, "kernel_size", who, minimum=1, default=0)
    stride = int_list(p.get("strides", 1), nd, "strides", who, minimum=1, default=1)
    dil = int_list(p.get("dilation_rate", 1), nd, "dilation_rate", who, minimum=1, default=1)
    padding = p.get("padding", "valid")
    if not isinstance(padding, str) or padding.lower() not in ("same", "valid"):
        raise ValueError(f"{who}: padding must be 'same' or 'valid', got {padding!r}")
    op = p.get("output_padding")
    ops = None if op is None else int_list(op, nd, "output_padding", who, minimum=0, default=0)
    if ops is not None and any(a >= s for a, s in zip(ops, stride)):
        raise ValueError(f"{who}: output_padding {list(ops)} must be smaller than strides {list(stride)}")
    out = [keras_output_size(n, k, s, d, padding.lower(), None if ops is None else ops[i])
           for i, (n, k, s, d) in enumerate(zip(size, kernel, stride, dil))]
    if any(o < 1 for o in out):
        raise ValueError(f"{who}: this layer gives an empty output {tuple(out)} for input {size}")
    return Layer(size, kernel, stride, dil, tf_crops(size, kernel, stride, dil, padding.upper(), out))


def _read_jax(size, nd, p):
    _check_known("jax", p, ("kernel_size", "strides", "padding", "rhs_dilation", "use_consistent_padding"))
    who = "jax.lax.conv_transpose"
    kernel = int_list(p.get("kernel_size"), nd, "kernel_size", who, minimum=1, default=0)
    stride = int_list(p.get("strides", 1), nd, "strides", who, minimum=1, default=1)
    dil = int_list(p.get("rhs_dilation"), nd, "rhs_dilation", who, minimum=1, default=1)
    crops = jax_crops(kernel, stride, dil, p.get("padding", "SAME"), bool(p.get("use_consistent_padding", False)))
    layer = Layer(size, kernel, stride, dil, crops)
    if any(o < 1 for o in layer.output_size):
        raise ValueError(f"{who}: padding {p.get('padding')!r} leaves an empty output {layer.output_size}")
    return layer


def _read_mxnet(size, nd, p):
    _check_known("mxnet", p, ("kernel", "stride", "dilate", "pad", "adj", "target_shape"))
    who = "MXNet Deconvolution"
    kernel = int_list(p.get("kernel"), nd, "kernel", who, minimum=1, default=0)
    stride = int_list(p.get("stride"), nd, "stride", who, minimum=1, default=1)
    dil = int_list(p.get("dilate"), nd, "dilate", who, minimum=1, default=1)
    pad = int_list(p.get("pad"), nd, "pad", who, minimum=0, default=0)
    adj = int_list(p.get("adj"), nd, "adj", who, minimum=0, default=0)
    target = int_list(p.get("target_shape"), nd, "target_shape", who, minimum=0, default=0)
    return Layer(size, kernel, stride, dil, mxnet_crops(size, kernel, stride, dil, pad, adj,
                                                        target if any(target) else None))


_READERS = {
    "pytorch": _read_torch("pytorch"),
    "tconv": _read_torch("tconv"),
    "onnx": _read_onnx,
    "tensorflow": _read_tf,
    "keras": _read_keras,
    "jax": _read_jax,
    "mxnet": _read_mxnet,
}


# ---------------------------------------------------------------------------
# writing a layer


def _sym_crop(lo: int, hi: int, limit: int, full: int) -> tuple[int, int, tuple[int, int]]:
    """Best (pad, output_padding < limit) for a crop (lo, hi): (pad, op, remaining extra crop).

    "Best" leaves the smallest extra crop ``|lo - pad| + |hi - (pad - op)|``, then the fewest zero paddings
    (negative entries), then the largest pad.  The target layer must have an output (``full - 2 * pad + op
    >= 1``) and may not crop what the source keeps (``pad <= max(lo, 0)``, ``pad - op <= max(hi, 0)``).
    For a given pad the best op is the one closest to ``pad - hi`` in its allowed range; over the pads, that
    score is piecewise linear with its kinks at a few known points, so only those points and their
    neighbours are scored: a handful of steps whatever the sizes (a search over every pad and op took
    ``lo * limit`` steps).

    >>> _sym_crop(1, 0, 2, 9), _sym_crop(0, 1, 2, 9), _sym_crop(-2, 3, 4, 20)
    ((1, 1, (0, 0)), (0, 0, (0, 1)), (0, 0, (-2, 3)))
    """
    if lo >= 0 and 0 <= lo - hi < limit:
        return lo, lo - hi, (0, 0)
    keep_lo, keep_hi = max(lo, 0), max(hi, 0)
    top = min(keep_lo, keep_hi + limit - 1, (full + limit - 2) // 2)  # the largest pad some op allows
    if top < 0:
        return 0, 0, (lo, hi)

    def scored(pad: int):
        op = min(max(pad - hi, 0, pad - keep_hi, 2 * pad - full + 1), limit - 1)
        extra = (lo - pad, hi - (pad - op))
        return (abs(extra[0]) + abs(extra[1]), sum(e < 0 for e in extra), -pad), pad, op, extra

    kinks = (0, top, lo, hi, keep_hi, full - 1 - hi, full - 1 - keep_hi, hi + limit - 1, (full - 1) // 2, full // 2)
    _, pad, op, extra = min(scored(p + e) for p in kinks for e in (-1, 0, 1) if 0 <= p + e <= top)
    return pad, op, extra


def _express_torch(layer: Layer, limit_by_stride: bool):
    pads, ops, extra = [], [], []
    for (lo, hi), s, d, f in zip(layer.crops, layer.stride, layer.dilation, layer.full_size):
        p, op, ex = _sym_crop(lo, hi, s if limit_by_stride else max(s, d), f)
        pads.append(p)
        ops.append(op)
        extra.append(ex)
    return tuple(pads), tuple(ops), tuple(extra)


def _result_size(layer: Layer, extra: Pairs) -> tuple[int, ...]:
    return tuple(o + a + b for o, (a, b) in zip(layer.output_size, extra))


def _finish(framework, params, layer, extra, notes=()):
    extra = tuple(tuple(e) for e in extra)
    exact = all(e == (0, 0) for e in extra)
    notes = list(notes)
    if not exact:
        notes.append(
            f"no exact {framework} equivalent: the layer above gives {_result_size(layer, extra)}; crop "
            f"{extra} (before, after) afterwards to get {layer.output_size}"
        )
    return Translation(framework, params, _result_size(layer, extra), exact, extra, tuple(notes))


def _to_pytorch(layer: Layer) -> Translation:
    pads, ops, extra = _express_torch(layer, limit_by_stride=False)
    notes = []
    if any(e != (0, 0) for e in extra):
        notes.append("PyTorch crops symmetrically (padding) and adds output_padding at the end only; "
                     "tconv.conv_transpose takes (before, after) pairs: "
                     f"padding={tuple((max(lo, 0), max(hi, 0)) for lo, hi in layer.crops)}")
    params = {"kernel_size": layer.kernel, "stride": layer.stride, "padding": pads, "output_padding": ops,
              "dilation": layer.dilation}
    return _finish("pytorch", params, layer, extra, notes)


def _to_tconv(layer: Layer) -> Translation:
    pads, ops, extra = [], [], []
    for (lo, hi), s, d in zip(layer.crops, layer.stride, layer.dilation):
        op = min(max(-hi, 0), max(s, d) - 1)
        pads.append((max(lo, 0), max(hi, 0)))
        ops.append(op)
        extra.append((min(lo, 0), hi + op if hi < 0 else 0))
    if any(r < 1 for r in _result_size(layer, extra)):  # crops that run past each other: crop afterwards
        pads, ops, extra = [(0, 0)] * len(pads), [0] * len(ops), list(layer.crops)
    params = {"kernel_size": layer.kernel, "stride": layer.stride, "padding": tuple(pads),
              "output_padding": tuple(ops), "dilation": layer.dilation}
    return _finish("tconv", params, layer, extra)


def _to_mxnet(layer: Layer) -> Translation:
    pads, adjs, extra = _express_torch(layer, limit_by_stride=True)
    notes = []
    if all(e == (0, 0) for e in extra):
        notes.append(f"the same as target_shape={layer.output_size} (then pad/adj are ignored)"
                     if _target_matches(layer) else "")
    params = {"kernel": layer.kernel, "stride": layer.stride, "dilate": layer.dilation, "pad": pads, "adj": adjs}
    return _finish("mxnet", params, layer, extra, [n for n in notes if n])


def _target_matches(layer: Layer) -> bool:
    try:
        return mxnet_crops(layer.input_size, layer.kernel, layer.stride, layer.dilation, (0,) * len(layer.kernel),
                           (0,) * len(layer.kernel), layer.output_size) == layer.crops
    except ValueError:
        return False


def _to_onnx(layer: Layer) -> Translation:
    begins, ends, ops, extra = [], [], [], []
    for (lo, hi), s in zip(layer.crops, layer.stride):
        op = min(max(-hi, 0), s - 1)
        begins.append(max(lo, 0))
        ends.append(max(hi, 0))
        ops.append(op)
        extra.append((min(lo, 0), min(hi + op, 0) if hi < 0 else 0))
    if any(r < 1 for r in _result_size(layer, extra)):  # crops that run past each other: crop afterwards
        nd = len(layer.kernel)
        begins, ends, ops, extra = [0] * nd, [0] * nd, [0] * nd, list(layer.crops)
    notes = []
    nd = len(layer.kernel)
    for mode in ("SAME_UPPER", "SAME_LOWER"):
        try:
            if onnx_crops(layer.input_size, layer.kernel, layer.stride, layer.dilation, (0,) * nd, mode,
                          ((0, 0),) * nd, None) == layer.crops:
                notes.append(f"the same as auto_pad={mode!r} (without pads)")
        except ValueError:
            pass
    params = {"kernel_shape": layer.kernel, "strides": layer.stride, "dilations": layer.dilation,
              "pads": tuple(begins) + tuple(ends), "output_padding": tuple(ops)}
    return _finish("onnx", params, layer, extra, notes)


def _tf_padding_for(layer: Layer, out: tuple[int, ...]):
    """'SAME' / 'VALID' when one of them gives exactly the layer's crops for ``out``."""
    for mode in ("SAME", "VALID"):
        try:
            if tf_crops(layer.input_size, layer.kernel, layer.stride, layer.dilation, mode, out) == layer.crops:
                return mode
        except ValueError:
            pass
    return None


def _to_tensorflow(layer: Layer) -> Translation:
    out = layer.output_size
    base = {"kernel_size": layer.kernel, "strides": layer.stride, "dilations": layer.dilation}
    mode = _tf_padding_for(layer, out)
    if mode:
        return _finish("tensorflow", {**base, "padding": mode, "output_shape": out}, layer, ((0, 0),) * len(out))
    nd = len(out)
    pairs, extra = [], []
    for (lo, hi), s in zip(layer.crops, layer.stride):
        pairs.append((max(lo, 0), max(hi, 0)))
        extra.append((min(lo, 0), hi if hi <= -s else 0))
    if nd == 2 and all(e == (0, 0) for e in extra):
        params = {**base, "padding": tuple(pairs), "output_shape": out}
        return _finish("tensorflow", params, layer, extra,
                       ["explicit padding: tf.nn.conv2d_transpose takes [[0, 0], [top, bottom], [left, right], "
                        "[0, 0]] (NHWC)"])
    full = layer.full_size
    params = {**base, "padding": "VALID", "output_shape": full}
    return _finish("tensorflow", params, layer, layer.crops,
                   ["tf.nn.conv1d/conv3d_transpose take only 'SAME' / 'VALID'" if nd != 2 else
                    "TensorFlow cannot place zeros before the output"])


def _keras_crops(layer: Layer, padding: str, ops):
    out = [keras_output_size(n, k, s, d, padding, None if ops is None else ops[i])
           for i, (n, k, s, d) in enumerate(zip(layer.input_size, layer.kernel, layer.stride, layer.dilation))]
    return tf_crops(layer.input_size, layer.kernel, layer.stride, layer.dilation, padding.upper(), out)


def _to_keras(layer: Layer) -> Translation:
    base = {"kernel_size": layer.kernel, "strides": layer.stride, "dilation_rate": layer.dilation}
    nd = len(layer.kernel)
    for padding in ("same", "valid"):
        try:
            if _keras_crops(layer, padding, None) == layer.crops:
                return _finish("keras", {**base, "padding": padding, "output_padding": None}, layer,
                               ((0, 0),) * nd)
        except ValueError:
            pass
        chosen = []
        for dim in range(nd):
            sub = Layer(layer.input_size[dim:dim + 1], layer.kernel[dim:dim + 1], layer.stride[dim:dim + 1],
                        layer.dilation[dim:dim + 1], layer.crops[dim:dim + 1])
            for op in range(layer.stride[dim]):
                try:
                    if _keras_crops(sub, padding, (op,)) == sub.crops:
                        chosen.append(op)
                        break
                except ValueError:
                    pass
            else:
                break
        if len(chosen) == nd:
            return _finish("keras", {**base, "padding": padding, "output_padding": tuple(chosen)}, layer,
                           ((0, 0),) * nd)
    params = {**base, "padding": "valid", "output_padding": (0,) * nd}
    return _finish("keras", params, layer, layer.crops,
                   ["Keras places the crop itself; use padding='valid', output_padding=0 and a Cropping"
                    f"{nd}D layer (negative entries: ZeroPadding{nd}D)"])


def _to_jax(layer: Layer) -> Translation:
    base = {"kernel_size": layer.kernel, "strides": layer.stride, "rhs_dilation": layer.dilation}
    for mode in ("SAME", "VALID"):
        if jax_crops(layer.kernel, layer.stride, layer.dilation, mode) == layer.crops:
            return _finish("jax", {**base, "padding": mode}, layer, ((0, 0),) * len(layer.kernel),
                           ["kernel: transpose_kernel=True takes a TF/Keras (*k, out, in) kernel; "
                            "see convert_weight"])
    pads = tuple((d * (k - 1) - lo, d * (k - 1) - hi) for k, d, (lo, hi) in zip(layer.kernel, layer.dilation,
                                                                                layer.crops))
    return _finish("jax", {**base, "padding": pads}, layer, ((0, 0),) * len(layer.kernel),
                   ["explicit pairs pad the stride-dilated input (use_consistent_padding=False, JAX's default)"])


_WRITERS = {
    "pytorch": _to_pytorch,
    "tconv": _to_tconv,
    "onnx": _to_onnx,
    "tensorflow": _to_tensorflow,
    "keras": _to_keras,
    "jax": _to_jax,
    "mxnet": _to_mxnet,
}


def express(layer: Layer, framework: str) -> Translation:
    """Write ``layer`` in ``framework``'s hyper-parameters (exactly, or with the extra crop it needs)."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    return _WRITERS[framework](layer)


def translate(source: str, target: str, input_size: Sequence[int], **params: Any) -> Translation:
    """A layer given in ``source``'s hyper-parameters, for spatial ``input_size``, in ``target``'s.

    >>> print(translate("onnx", "pytorch", (4, 4), kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"))
    pytorch: kernel_size=(3, 3), stride=(2, 2), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1)  -> output (9, 9); NOT exact alone: then crop ((0, 1), (0, 1)) (before, after per dim; negative = zero-pad)
        note: PyTorch crops symmetrically (padding) and adds output_padding at the end only; tconv.conv_transpose takes (before, after) pairs: padding=((0, 1), (0, 1))
        note: no exact pytorch equivalent: the layer above gives (9, 9); crop ((0, 1), (0, 1)) (before, after) afterwards to get (8, 8)
    """
    return express(describe(source, input_size, **params), target)


def apply_extra(y: np.ndarray, extra: Pairs, spatial_axes: Sequence[int] | None = None) -> np.ndarray:
    """Apply a :class:`Translation`'s ``extra_crop`` to an output (channels-first by default).

    >>> apply_extra(np.arange(5.).reshape(1, 1, 5), ((1, -2),))
    array([[[1., 2., 3., 4., 0., 0.]]])
    """
    y = np.asarray(y)
    axes = list(spatial_axes) if spatial_axes is not None else list(range(y.ndim - len(extra), y.ndim))
    for axis, (lo, hi) in zip(axes, extra):
        if lo < 0 or hi < 0:
            width = [(0, 0)] * y.ndim
            width[axis] = (max(-lo, 0), max(-hi, 0))
            y = np.pad(y, width)
            lo, hi = max(lo, 0), max(hi, 0)
        index = [slice(None)] * y.ndim
        index[axis] = slice(lo, y.shape[axis] - hi)
        y = y[tuple(index)]
    return y


# ---------------------------------------------------------------------------
# weights

_LAYOUT_DOC = {
    "pytorch": "(in, out // groups, *kernel)",
    "tconv": "(in, out // groups, *kernel)",
    "onnx": "(in, out // groups, *kernel)",
    "mxnet": "(in, out // groups, *kernel)",
    "tensorflow": "(*kernel, out, in)",
    "keras": "(*kernel, out, in)",
    "jax": "(*kernel, in, out), spatially flipped (transpose_kernel=False); (*kernel, out, in) with True",
}


def _to_canonical(w: np.ndarray, source: str, transpose_kernel: bool) -> np.ndarray:
    if source in ("pytorch", "tconv", "onnx", "mxnet"):
        return w
    nd = w.ndim - 2
    if source in ("tensorflow", "keras") or (source == "jax" and transpose_kernel):
        return np.moveaxis(w, (-1, -2), (0, 1))
    return np.flip(np.moveaxis(w, (-2, -1), (0, 1)), axis=tuple(range(2, 2 + nd)))


def _from_canonical(w: np.ndarray, target: str, transpose_kernel: bool) -> np.ndarray:
    if target in ("pytorch", "tconv", "onnx", "mxnet"):
        return w
    nd = w.ndim - 2
    if target in ("tensorflow", "keras") or (target == "jax" and transpose_kernel):
        return np.moveaxis(w, (0, 1), (-1, -2))
    return np.moveaxis(np.flip(w, axis=tuple(range(2, 2 + nd))), (0, 1), (-2, -1))


def convert_weight(weight: Any, source: str, target: str, *, groups: int = 1,
                   transpose_kernel: bool = False) -> np.ndarray:
    """A transposed-conv weight moved from ``source``'s layout to ``target``'s (a new array).

    Layouts: pytorch / tconv / onnx / mxnet ``(in, out // groups, *k)``; tensorflow / keras
    ``(*k, out, in)``; jax (default dimension numbers) ``(*k, in, out)`` spatially flipped, or
    ``(*k, out, in)`` with ``transpose_kernel=True``.  Grouped weights (``groups > 1``) exist
    only in pytorch / tconv / onnx / mxnet.

    >>> w = np.arange(12.).reshape(2, 3, 2)            # PyTorch: 2 in, 3 out, kernel 2
    >>> convert_weight(w, "pytorch", "keras").shape
    (2, 3, 2)
    >>> np.array_equal(convert_weight(convert_weight(w, "pytorch", "jax"), "jax", "onnx"), w)
    True
    """
    for name, fw in (("source", source), ("target", target)):
        if fw not in FRAMEWORKS:
            raise ValueError(f"{name} must be one of {', '.join(FRAMEWORKS)}, got {fw!r}")
    w = np.asarray(weight)
    if w.ndim < 3:
        raise ValueError(f"weight must have at least 3 dims (two channel dims and a kernel), got shape {w.shape}")
    g = as_int(groups, "groups")
    if g != 1 and ({source, target} - {"pytorch", "tconv", "onnx", "mxnet"}):
        raise ValueError(f"groups={g}: {source if source not in ('pytorch', 'tconv', 'onnx', 'mxnet') else target}"
                         f" has no grouped transposed convolution weight layout")
    return np.ascontiguousarray(_from_canonical(_to_canonical(w, source, transpose_kernel), target,
                                                transpose_kernel))


def report(source: str, input_size: Sequence[int], targets: Sequence[str] | None = None, **params: Any) -> str:
    """Text of ``tconv shape``: the output size and the layer in every other framework's words.

    >>> print(report("mxnet", (4,), targets=["keras"], kernel=3, stride=2, pad=1, adj=1))
    mxnet layer kernel=3, stride=2, pad=1, adj=1 on input (4,): output (8,)
      keras: kernel_size=(3,), strides=(2,), dilation_rate=(1,), padding='valid', output_padding=(0,)  -> output (9,); NOT exact alone: then crop ((1, 0),) (before, after per dim; negative = zero-pad)
          note: Keras places the crop itself; use padding='valid', output_padding=0 and a Cropping1D layer (negative entries: ZeroPadding1D)
          note: no exact keras equivalent: the layer above gives (9,); crop ((1, 0),) (before, after) afterwards to get (8,)
    """
    layer = describe(source, input_size, **params)
    args = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in params.items())
    lines = [f"{source} layer {args} on input {tuple(layer.input_size)}: output {layer.output_size}"]
    for target in targets or [fw for fw in FRAMEWORKS if fw != source]:
        lines.extend("  " + line for line in str(express(layer, target)).splitlines())
    return "\n".join(lines)
