"""Pictures of transposed convolution, drawn from the real computation.

The data functions (:func:`scatter`, :func:`conv_view`, :func:`overlap_counts`,
:func:`describe_overlap`, :func:`single_channel_matrix`, :func:`fold_view`, :func:`describe_fold`,
:func:`upsample_array`) need only NumPy; the renderers (:func:`draw`, :func:`animate`, :func:`overlap_map`,
:func:`matrix_picture`, :func:`draw_boundary`) and image files need matplotlib and Pillow, the
optional ``viz`` extra (``pip install "tconv[viz]"``), imported when first used;
:func:`available` says whether they can be (:data:`EXTRA_HINT` says how to install them).

>>> from tconv.viz import overlap_counts
>>> overlap_counts(3, 2, input_size=3).tolist()
[1, 1, 2, 1, 2, 1, 1]
"""

from ._deps import EXTRA_HINT, available
from .folding import Fold, describe_fold, fold_view
from .geometry import ConvView, Scatter, conv_view, scatter
from .matrix import ConvMatrix, single_channel_matrix
from .overlap import describe_overlap, overlap_counts, phase_counts
from .render import animate, draw, draw_boundary, matrix_picture, overlap_map, panel, read_cells, save, to_bytes
from .upsample import bilinear_kernel, upsample_array, upsample_file

__all__ = [
    "ConvMatrix",
    "ConvView",
    "EXTRA_HINT",
    "Fold",
    "Scatter",
    "animate",
    "available",
    "bilinear_kernel",
    "conv_view",
    "describe_fold",
    "describe_overlap",
    "draw",
    "draw_boundary",
    "fold_view",
    "matrix_picture",
    "overlap_counts",
    "overlap_map",
    "panel",
    "phase_counts",
    "read_cells",
    "save",
    "scatter",
    "single_channel_matrix",
    "to_bytes",
    "upsample_array",
    "upsample_file",
]

#: Earlier names, kept one release with a DeprecationWarning (they read like tconv.explain / tconv.conv_matrix).
_RENAMED = {"explain": "describe_overlap", "conv_matrix": "single_channel_matrix"}


def __getattr__(name: str):
    if name in _RENAMED:
        import warnings

        warnings.warn(f"tconv.viz.{name} is now tconv.viz.{_RENAMED[name]}", DeprecationWarning, stacklevel=2)
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module 'tconv.viz' has no attribute {name!r}")
