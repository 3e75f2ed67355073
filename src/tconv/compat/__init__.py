"""Other frameworks' transposed convolutions, each translated into a Geometry run by :func:`tconv.ops.execute`.

* :mod:`tconv.compat.onnx` -- ONNX ``ConvTranspose`` (``conv_transpose``).
* :mod:`tconv.compat.tensorflow` -- ``tf.nn.conv_transpose`` and Keras ``Conv*DTranspose``.
* :mod:`tconv.compat.jax` -- ``jax.lax.conv_transpose``.
* :mod:`tconv.compat.mxnet` -- MXNet ``Deconvolution``.
* :func:`translate` -- a layer's hyper-parameters in another framework's terms:
  :func:`describe` reads a layer in one framework's words into a
  :class:`Windowed` Geometry, :func:`express` writes it in another's (a
  :class:`Translation`), :func:`apply_extra` applies the extra crop a
  translation may need; :func:`report` is the text of ``tconv shape``;
  :func:`convert_weight` moves a weight between the frameworks' layouts.

None of these needs the framework itself installed.
"""

from . import jax, mxnet, onnx, tensorflow
from ._common import FRAMEWORKS, Windowed, apply_extra, crop_geometry
from ._readers import describe
from ._report import report
from ._weights import convert_weight
from ._writers import Translation, express, translate

__all__ = [
    "FRAMEWORKS", "Translation", "Windowed", "apply_extra", "convert_weight", "crop_geometry", "describe",
    "express", "jax", "mxnet", "onnx", "report", "tensorflow", "translate",
]
