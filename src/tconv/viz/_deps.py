"""Lazy imports of the optional drawing libraries (the ``viz`` extra)."""

from __future__ import annotations

import importlib
from types import ModuleType

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


def pyplot() -> ModuleType:
    """matplotlib's pyplot on the non-interactive Agg backend."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg", force=True)
    return require("matplotlib.pyplot")


def available() -> bool:
    """True when matplotlib and Pillow can be imported."""
    try:
        require("matplotlib")
        require("PIL.Image")
    except ImportError:
        return False
    return True
