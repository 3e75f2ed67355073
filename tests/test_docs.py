"""The runnable examples in the docstrings of every module."""

import doctest
import importlib
import pkgutil

import pytest

def _all_modules() -> list[str]:
    import tconv

    names = ["tconv"]
    for info in pkgutil.walk_packages(tconv.__path__, prefix="tconv."):
        if info.name != "tconv.__main__":
            names.append(info.name)
    return names


ALL_MODULES = _all_modules()
NEED_COMPILED = {"tconv.algorithms.compiled", "tconv.algorithms.winograd"}


@pytest.mark.parametrize("name", ALL_MODULES)
def test_docstring_examples(name):
    from tconv.algorithms import compiled

    if name in NEED_COMPILED and not compiled.available():
        pytest.skip(f"{name}'s examples run the compiled kernels (numba: the fast extra; TCONV_NUMBA not 0)")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_function_has_an_example():
    import tconv

    for name in tconv.__all__:
        obj = getattr(tconv, name)
        if not callable(obj):  # sub-packages such as tconv.compat document their own functions
            continue
        doc = obj.__doc__ or ""
        assert ">>>" in doc, f"tconv.{name} has no runnable example"
