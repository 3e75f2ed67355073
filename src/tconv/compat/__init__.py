"""Other frameworks' transposed convolutions, each a translation onto :func:`tconv.conv_transpose`.

* :mod:`tconv.compat.onnx` -- ONNX ``ConvTranspose`` (``conv_transpose``).
* :mod:`tconv.compat.tensorflow` -- ``tf.nn.conv_transpose`` and Keras ``Conv*DTranspose``.
* :mod:`tconv.compat.jax` -- ``jax.lax.conv_transpose``.
* :mod:`tconv.compat.mxnet` -- MXNet ``Deconvolution``.
* :func:`translate` -- a layer's hyper-parameters in another framework's terms
  (the module is ``tconv.compat.translate``; import its other names with
  ``from tconv.compat.translate import ...``).

None of these needs the framework itself installed.
"""

from . import jax, mxnet, onnx, tensorflow
from .translate import convert_weight, translate

__all__ = ["convert_weight", "jax", "mxnet", "onnx", "tensorflow", "translate"]
