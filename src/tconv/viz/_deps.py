"""Lazy imports of the optional drawing libraries (the ``viz`` extra), and figures that leave matplotlib alone.

Drawings are made with matplotlib's object-oriented API (:func:`figure`,
:func:`subplots`): a ``Figure`` with its own Agg canvas, so drawing never
selects a backend, imports pyplot or touches ``rcParams``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

EXTRA_HINT = 'pip install "tconv[viz]"  (from a source checkout: pip install ".[viz]")'


def require(module: str, what: str = "drawing") -> ModuleType:
    """Import ``module`` or raise an ImportError that names the ``viz`` extra.

    >>> require("numpy").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        package = {"PIL": "Pillow"}.get(top, top)
        raise ImportError(
            f"{what} needs {package}, which is part of tconv's optional 'viz' extra: {EXTRA_HINT}"
        ) from exc


def figure(**kwargs: Any) -> Any:
    """A new :class:`matplotlib.figure.Figure` drawn by its own Agg canvas (``kwargs`` go to ``Figure``).

    The object-oriented API: no pyplot, no backend switch, nothing global
    changes (``matplotlib.get_backend()`` and ``matplotlib.rcParams`` stay as
    the caller set them), and the figure is not kept by pyplot's figure
    manager, so it is freed with its last reference.  It still renders
    (``savefig``, :func:`tconv.viz.to_bytes`) and shows inline in Jupyter.

    >>> fig = figure(figsize=(2, 1))
    >>> type(fig.canvas).__name__, fig.get_size_inches().tolist()
    ('FigureCanvasAgg', [2.0, 1.0])
    """
    require("matplotlib")  # the package itself first: a missing (or blocked) matplotlib names the extra
    Figure = require("matplotlib.figure").Figure
    FigureCanvasAgg = require("matplotlib.backends.backend_agg").FigureCanvasAgg
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` like ``pyplot.subplots``, on a :func:`figure` (``kwargs`` go to ``Figure``)."""
    fig = figure(**kwargs)
    return fig, fig.subplots(nrows, ncols)


def colormap(name: str) -> Any:
    """The registered matplotlib colormap ``name`` (``"viridis"``, ...), without pyplot."""
    return require("matplotlib").colormaps[name]


def pyplot() -> ModuleType:
    """matplotlib's pyplot, as the caller configured it (for showing a figure in a window, say).

    tconv's drawings do not use it (see :func:`figure`); it is kept for code
    that closed figures through it.  It no longer switches the backend.
    """
    return require("matplotlib.pyplot")


def available() -> bool:
    """True when matplotlib and Pillow can be imported."""
    try:
        require("matplotlib")
        require("PIL.Image")
    except ImportError:
        return False
    return True
