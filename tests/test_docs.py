"""The runnable examples in the docstrings of every module."""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest


def _all_modules() -> list[str]:
    import tconv

    names = ["tconv"]
    for info in pkgutil.walk_packages(tconv.__path__, prefix="tconv.", onerror=_import_failed):
        if info.name != "tconv.__main__":
            names.append(info.name)
    return names


def _import_failed(name: str) -> None:
    raise ImportError(f"{name} cannot be imported, so its examples cannot run")


def _modules_on_disk() -> set[str]:
    """Every module file of the package, by name (what the walk above must have found)."""
    import tconv

    root = Path(tconv.__file__).parent
    names = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names - {"tconv.__main__"}


ALL_MODULES = _all_modules()
NEED_COMPILED = {"tconv.algorithms.gather", "tconv.algorithms.winograd"}
#: Modules with no runnable example, and why; every other module must run at least one.
WITHOUT_EXAMPLES = {
    "tconv.compat": "a package face: re-exports the dialect modules, whose own examples run",
    "tconv.params": "no examples yet: the Geometry it builds is exercised through shapes' and ops' examples",
}


@pytest.mark.parametrize("name", ALL_MODULES)
def test_docstring_examples(name):
    from tconv.algorithms import jit

    if name in NEED_COMPILED and not jit.available():
        pytest.skip(f"{name}'s examples run the compiled kernels (numba: the fast extra; TCONV_NUMBA not 0)")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name not in WITHOUT_EXAMPLES:
        assert result.attempted > 0, f"{name} has no runnable example (or add it to WITHOUT_EXAMPLES, saying why)"


def test_every_module_is_visited():
    """The parametrization above covers every module file of the package (none lost by the package walk)."""
    assert set(ALL_MODULES) == _modules_on_disk()
    assert len(ALL_MODULES) == len(set(ALL_MODULES))
    assert set(WITHOUT_EXAMPLES) <= set(ALL_MODULES)


def test_every_public_function_has_an_example():
    import tconv

    for name in tconv.__all__:
        obj = getattr(tconv, name)
        if not callable(obj):  # sub-packages such as tconv.compat document their own functions
            continue
        doc = obj.__doc__ or ""
        assert ">>>" in doc, f"tconv.{name} has no runnable example"


def test_architecture_page_code_runs():
    """docs/architecture.md's Python blocks run as written (the Geometry and ops.execute example)."""
    import re

    page = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) == 1
    scope: dict = {}
    exec(compile(blocks[0], "docs/architecture.md", "exec"), scope)
    assert scope["y"].shape == (8, 32, 32, 32) and scope["dx"].shape == (8, 64, 16, 16)
