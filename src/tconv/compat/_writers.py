"""Writing a transposed-convolution layer: a Geometry -> each framework's hyper-parameters.

:func:`express` writes a layer (a :class:`~tconv.compat.Windowed` Geometry, as
:func:`~tconv.compat.describe` reads it) in a framework's own words, saying
plainly when the target has no exact equivalent and which extra crop (or zero
padding) after the target layer makes it exact (:func:`~tconv.compat.apply_extra`);
:func:`translate` reads a layer in one framework's words and writes it in
another's.  A candidate setting of the target (e.g. ONNX's ``auto_pad`` or
Keras' ``padding="same"``) is checked by reading it back through that
framework's dialect and comparing the crops of the full output.

>>> t = translate("keras", "pytorch", (5, 5), kernel_size=4, strides=2, padding="same")
>>> t.exact, t.params["padding"], t.params["output_padding"], t.output_size
(True, (1, 1), (0, 0), (10, 10))
>>> t = translate("keras", "pytorch", (5,), kernel_size=3, strides=2, padding="same")
>>> t.exact, t.params["padding"], t.params["output_padding"], t.extra_crop
(False, (0,), (0,), ((0, 1),))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from . import jax, mxnet, onnx, tensorflow
from ._common import Pairs, Windowed, check_framework
from ._readers import describe, keras_geometry


@dataclass(frozen=True)
class Translation:
    """A layer in a target framework's words.

    ``params`` are the target's own hyper-parameter names.  When ``exact`` is
    false the target layer alone gives ``output_size`` positions and
    ``extra_crop`` (per dim ``(before, after)``; negative = zeros to add) applied
    to its output reproduces the source exactly (:func:`~tconv.compat.apply_extra`).
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


def express(layer: Windowed, framework: str) -> Translation:
    """Write ``layer`` in ``framework``'s hyper-parameters (exactly, or with the extra crop it needs).

    >>> express(describe("pytorch", (4,), kernel_size=3, stride=2, padding=1, output_padding=1), "mxnet").params
    {'kernel': (3,), 'stride': (2,), 'dilate': (1,), 'pad': (1,), 'adj': (1,)}
    """
    check_framework(framework)
    return _WRITERS[framework](layer)


def translate(source: str, target: str, input_size: Sequence[int], **params: Any) -> Translation:
    """A layer given in ``source``'s hyper-parameters, for spatial ``input_size``, in ``target``'s.

    >>> print(translate("onnx", "pytorch", (4, 4), kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"))
    pytorch: kernel_size=(3, 3), stride=(2, 2), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1)  -> output (9, 9); NOT exact alone: then crop ((0, 1), (0, 1)) (before, after per dim; negative = zero-pad)
        note: PyTorch crops symmetrically (padding) and adds output_padding at the end only; tconv.conv_transpose takes (before, after) pairs: padding=((0, 1), (0, 1))
        note: no exact pytorch equivalent: the layer above gives (9, 9); crop ((0, 1), (0, 1)) (before, after) afterwards to get (8, 8)
    """
    return express(describe(source, input_size, **params), target)


# ---------------------------------------------------------------------------
# helpers shared by the writers


def _sym_crop(lo: int, hi: int, limit: int, full: int) -> tuple[int, int, tuple[int, int]]:
    """Best (pad, output_padding < limit) for a crop (lo, hi): (pad, op, remaining extra crop).

    "Best" leaves the smallest extra crop ``|lo - pad| + |hi - (pad - op)|``, then the fewest zero paddings
    (negative entries), then the largest pad.  The target layer must have an output (``full - 2 * pad + op
    >= 1``) and may not crop what the source keeps (``pad <= max(lo, 0)``, ``pad - op <= max(hi, 0)``).
    For a given pad the best op is the one closest to ``pad - hi`` in its allowed range; over the pads, that
    score is piecewise linear with its kinks at a few known points, so only those points and their
    neighbours are scored: a handful of steps whatever the sizes (a search over every pad and op takes
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


def _express_torch(layer: Windowed, limit_by_stride: bool):
    g = layer.geometry
    pads, ops, extra = [], [], []
    for (lo, hi), s, d, f in zip(layer.crops, g.stride, g.dilation, g.full_shape):
        p, op, ex = _sym_crop(lo, hi, s if limit_by_stride else max(s, d), f)
        pads.append(p)
        ops.append(op)
        extra.append(ex)
    return tuple(pads), tuple(ops), tuple(extra)


def _result_size(layer: Windowed, extra: Pairs) -> tuple[int, ...]:
    return tuple(o + a + b for o, (a, b) in zip(layer.output_shape, extra))


def _finish(framework: str, params: dict, layer: Windowed, extra: Sequence[Sequence[int]],
            notes: Sequence[str] = ()) -> Translation:
    extra = tuple(tuple(e) for e in extra)
    exact = all(e == (0, 0) for e in extra)
    notes = list(notes)
    if not exact:
        notes.append(
            f"no exact {framework} equivalent: the layer above gives {_result_size(layer, extra)}; crop "
            f"{extra} (before, after) afterwards to get {layer.output_shape}"
        )
    return Translation(framework, params, _result_size(layer, extra), exact, extra, tuple(notes))


def _gives(crops: Pairs, read: Callable[[], Any]) -> bool:
    """Whether ``read()`` (a target setting read back through its dialect) crops the full output by ``crops``."""
    try:
        candidate = read()
    except ValueError:  # the target refuses that setting for this input
        return False
    if not isinstance(candidate, Windowed):
        candidate = Windowed.exact(candidate)
    return candidate.crops == crops


def _shapes(layer: Windowed) -> tuple[tuple[int, ...], tuple[int, ...]]:
    g = layer.geometry
    return (1, 1) + g.input_shape, (1, 1) + g.kernel_shape


# ---------------------------------------------------------------------------
# one writer per framework


def _to_pytorch(layer: Windowed) -> Translation:
    g = layer.geometry
    pads, ops, extra = _express_torch(layer, limit_by_stride=False)
    notes = []
    if any(e != (0, 0) for e in extra):
        notes.append("PyTorch crops symmetrically (padding) and adds output_padding at the end only; "
                     "tconv.conv_transpose takes (before, after) pairs: "
                     f"padding={tuple((max(lo, 0), max(hi, 0)) for lo, hi in layer.crops)}")
    params = {"kernel_size": g.kernel_shape, "stride": g.stride, "padding": pads, "output_padding": ops,
              "dilation": g.dilation}
    return _finish("pytorch", params, layer, extra, notes)


def _to_tconv(layer: Windowed) -> Translation:
    g = layer.geometry
    pads, ops, extra = [], [], []
    for (lo, hi), s, d in zip(layer.crops, g.stride, g.dilation):
        op = min(max(-hi, 0), max(s, d) - 1)
        pads.append((max(lo, 0), max(hi, 0)))
        ops.append(op)
        extra.append((min(lo, 0), hi + op if hi < 0 else 0))
    if any(r < 1 for r in _result_size(layer, extra)):  # crops that run past each other: crop afterwards
        pads, ops, extra = [(0, 0)] * len(pads), [0] * len(ops), list(layer.crops)
    params = {"kernel_size": g.kernel_shape, "stride": g.stride, "padding": tuple(pads),
              "output_padding": tuple(ops), "dilation": g.dilation}
    return _finish("tconv", params, layer, extra)


def _to_mxnet(layer: Windowed) -> Translation:
    g = layer.geometry
    pads, adjs, extra = _express_torch(layer, limit_by_stride=True)
    notes = []
    if all(e == (0, 0) for e in extra) and _gives(
            layer.crops, lambda: mxnet.geometry(*_shapes(layer), stride=g.stride, dilate=g.dilation,
                                          target_shape=layer.output_shape)):
        notes.append(f"the same as target_shape={layer.output_shape} (then pad/adj are ignored)")
    params = {"kernel": g.kernel_shape, "stride": g.stride, "dilate": g.dilation, "pad": pads, "adj": adjs}
    return _finish("mxnet", params, layer, extra, notes)


def _to_onnx(layer: Windowed) -> Translation:
    g = layer.geometry
    nd = g.ndim
    begins, ends, ops, extra = [], [], [], []
    for (lo, hi), s in zip(layer.crops, g.stride):
        op = min(max(-hi, 0), s - 1)
        begins.append(max(lo, 0))
        ends.append(max(hi, 0))
        ops.append(op)
        extra.append((min(lo, 0), min(hi + op, 0) if hi < 0 else 0))
    if any(r < 1 for r in _result_size(layer, extra)):  # crops that run past each other: crop afterwards
        begins, ends, ops, extra = [0] * nd, [0] * nd, [0] * nd, list(layer.crops)
    notes = [f"the same as auto_pad={mode!r} (without pads)" for mode in ("SAME_UPPER", "SAME_LOWER")
             if _gives(layer.crops, lambda: onnx.geometry(*_shapes(layer), auto_pad=mode, strides=g.stride,
                                                         dilations=g.dilation))]
    params = {"kernel_shape": g.kernel_shape, "strides": g.stride, "dilations": g.dilation,
              "pads": tuple(begins) + tuple(ends), "output_padding": tuple(ops)}
    return _finish("onnx", params, layer, extra, notes)


def _tf_padding_for(layer: Windowed, out: tuple[int, ...]) -> str | None:
    """'SAME' / 'VALID' when one of them gives exactly the layer's crops for ``out``."""
    g = layer.geometry
    for mode in ("SAME", "VALID"):
        if _gives(layer.crops, lambda: tensorflow.geometry(*_shapes(layer), strides=g.stride, dilations=g.dilation,
                                                          padding=mode, output_size=out)):
            return mode
    return None


def _to_tensorflow(layer: Windowed) -> Translation:
    g = layer.geometry
    out = layer.output_shape
    base = {"kernel_size": g.kernel_shape, "strides": g.stride, "dilations": g.dilation}
    mode = _tf_padding_for(layer, out)
    if mode:
        return _finish("tensorflow", {**base, "padding": mode, "output_shape": out}, layer, ((0, 0),) * len(out))
    nd = len(out)
    pairs, extra = [], []
    for (lo, hi), s in zip(layer.crops, g.stride):
        pairs.append((max(lo, 0), max(hi, 0)))
        extra.append((min(lo, 0), hi if hi <= -s else 0))
    if nd == 2 and all(e == (0, 0) for e in extra):
        params = {**base, "padding": tuple(pairs), "output_shape": out}
        return _finish("tensorflow", params, layer, extra,
                       ["explicit padding: tf.nn.conv2d_transpose takes [[0, 0], [top, bottom], [left, right], "
                        "[0, 0]] (NHWC)"])
    params = {**base, "padding": "VALID", "output_shape": g.full_shape}
    return _finish("tensorflow", params, layer, layer.crops,
                   ["tf.nn.conv1d/conv3d_transpose take only 'SAME' / 'VALID'" if nd != 2 else
                    "TensorFlow cannot place zeros before the output"])


def _keras_output_padding(layer: Windowed, padding: str) -> tuple[int, ...] | None:
    """Per dim the first ``output_padding`` with which Keras' ``padding`` gives the layer's crops, if any."""
    g = layer.geometry
    chosen = []
    for dim in range(g.ndim):
        one = slice(dim, dim + 1)
        for op in range(g.stride[dim]):
            if _gives(layer.crops[one], lambda: keras_geometry(g.input_shape[one], g.kernel_shape[one],
                                                               g.stride[one], g.dilation[one], padding, (op,))):
                chosen.append(op)
                break
        else:
            return None
    return tuple(chosen)


def _to_keras(layer: Windowed) -> Translation:
    g = layer.geometry
    base = {"kernel_size": g.kernel_shape, "strides": g.stride, "dilation_rate": g.dilation}
    nd = g.ndim
    for padding in ("same", "valid"):
        if _gives(layer.crops, lambda: keras_geometry(g.input_shape, g.kernel_shape, g.stride, g.dilation, padding,
                                                     None)):
            return _finish("keras", {**base, "padding": padding, "output_padding": None}, layer, ((0, 0),) * nd)
        chosen = _keras_output_padding(layer, padding)
        if chosen is not None:
            return _finish("keras", {**base, "padding": padding, "output_padding": chosen}, layer, ((0, 0),) * nd)
    params = {**base, "padding": "valid", "output_padding": (0,) * nd}
    return _finish("keras", params, layer, layer.crops,
                   ["Keras places the crop itself; use padding='valid', output_padding=0 and a Cropping"
                    f"{nd}D layer (negative entries: ZeroPadding{nd}D)"])


def _to_jax(layer: Windowed) -> Translation:
    g = layer.geometry
    base = {"kernel_size": g.kernel_shape, "strides": g.stride, "rhs_dilation": g.dilation}
    for mode in ("SAME", "VALID"):
        if _gives(layer.crops, lambda: jax.geometry(*_shapes(layer), strides=g.stride, padding=mode,
                                                   rhs_dilation=g.dilation)):
            return _finish("jax", {**base, "padding": mode}, layer, ((0, 0),) * g.ndim)
    pads = tuple((e - 1 - lo, e - 1 - hi) for e, (lo, hi) in zip(g.effective_kernel, layer.crops))
    return _finish("jax", {**base, "padding": pads}, layer, ((0, 0),) * g.ndim,
                   ["explicit pairs pad the stride-dilated input (use_consistent_padding=False, JAX's default)"])


_WRITERS: dict[str, Callable[[Windowed], Translation]] = {
    "pytorch": _to_pytorch,
    "tconv": _to_tconv,
    "onnx": _to_onnx,
    "tensorflow": _to_tensorflow,
    "keras": _to_keras,
    "jax": _to_jax,
    "mxnet": _to_mxnet,
}
