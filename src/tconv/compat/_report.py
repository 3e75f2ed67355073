"""The text of ``tconv shape``: a layer's output size and the layer in every other framework's words.

Under each target's layer comes the weight conversion it needs (:func:`~tconv.compat.convert_weight`,
see :func:`weight_hint`); for JAX it is the kernel of the call as printed, that is with
``transpose_kernel`` left at JAX's default (False).  ``report(..., as_dict=True)`` gives the same
as plain data (``tconv shape --json``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from ._common import FRAMEWORKS
from ._readers import describe
from ._weights import weight_hint
from ._writers import Translation, express


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and NumPy scalars as Python numbers (JSON-ready)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _with_weight(translation: Translation, source: str) -> Translation:
    """The translation with the weight conversion as its last note."""
    hint = weight_hint(source, translation.framework)
    return replace(translation, notes=translation.notes + ((hint,) if hint else ()))


def report(source: str, input_size: Sequence[int], targets: Sequence[str] | None = None, *, as_dict: bool = False,
           **params: Any) -> Any:
    """Text of ``tconv shape``: the output size and the layer in every other framework's words.

    With ``as_dict=True``, the same as plain data: ``source``, ``params``, ``input_size``,
    ``output_size`` and, per target, ``framework``, ``params``, ``output_size``, ``exact``,
    ``extra_crop`` and ``notes`` (the weight conversion, when one is needed, also as ``weight``).

    >>> print(report("mxnet", (4,), targets=["keras"], kernel=3, stride=2, pad=1, adj=1))
    mxnet layer kernel=3, stride=2, pad=1, adj=1 on input (4,): output (8,)
      keras: kernel_size=(3,), strides=(2,), dilation_rate=(1,), padding='valid', output_padding=(0,)  -> output (9,); NOT exact alone: then crop ((1, 0),) (before, after per dim; negative = zero-pad)
          note: Keras places the crop itself; use padding='valid', output_padding=0 and a Cropping1D layer (negative entries: ZeroPadding1D)
          note: no exact keras equivalent: the layer above gives (9,); crop ((1, 0),) (before, after) afterwards to get (8,)
          note: weight: convert_weight(w, 'mxnet', 'keras') turns mxnet's (in, out // groups, *k) into keras's (*k, out, in)
    >>> report("pytorch", (5,), ["jax"], as_dict=True, kernel_size=5, stride=2, padding=1)["targets"][0]["params"]
    {'kernel_size': [5], 'strides': [2], 'rhs_dilation': [1], 'padding': [[3, 3]]}
    """
    layer = describe(source, input_size, **params)
    chosen = list(targets) if targets else [fw for fw in FRAMEWORKS if fw != source]
    translations = [_with_weight(express(layer, target), source) for target in chosen]
    if as_dict:
        return _plain({
            "source": source, "params": params, "input_size": layer.geometry.input_shape,
            "output_size": layer.output_shape,
            "targets": [{"framework": t.framework, "params": t.params, "output_size": t.output_size,
                         "exact": t.exact, "extra_crop": t.extra_crop, "notes": t.notes,
                         "weight": weight_hint(source, t.framework)} for t in translations],
        })
    args = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in params.items())
    lines = [f"{source} layer {args} on input {layer.geometry.input_shape}: output {layer.output_shape}"]
    for t in translations:
        lines.extend("  " + line for line in str(t).splitlines())
    return "\n".join(lines)
