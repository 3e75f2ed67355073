"""The runnable examples in the docstrings of the core modules."""

import doctest
import importlib

import pytest

CORE_MODULES = [
    "tconv",
    "tconv.validate",
    "tconv.shapes",
    "tconv.params",
    "tconv.memory",
    "tconv.ops",
    "tconv.chapter",
    "tconv.tour",
    "tconv.cli",
    "tconv.algorithms",
    "tconv.algorithms.taps",
    "tconv.algorithms.direct",
    "tconv.algorithms.gemm",
]


@pytest.mark.parametrize("name", CORE_MODULES)
def test_docstring_examples(name):
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
