"""The text of ``tconv shape``: a layer's output size and the layer in every other framework's words."""

from __future__ import annotations

from typing import Any, Sequence

from ._common import FRAMEWORKS
from ._readers import describe
from ._writers import express


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
    lines = [f"{source} layer {args} on input {layer.geometry.input_shape}: output {layer.output_shape}"]
    for target in targets or [fw for fw in FRAMEWORKS if fw != source]:
        lines.extend("  " + line for line in str(express(layer, target)).splitlines())
    return "\n".join(lines)
