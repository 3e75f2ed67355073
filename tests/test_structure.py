"""The package's shape: layered and acyclic imports, no private names across modules, one home per formula.

The layering itself is declared as import-linter contracts in pyproject.toml (see shared DESIGN.md's
"Layers of the package"); this test runs them, so a change that imports upward or closes a cycle fails
here.  What import-linter does not look at (names, formulas) is checked on the source text.
"""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tconv"

pytest.importorskip("importlinter", reason="the test extra: pip install -e '.[test]'")


def modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_import_linter_contracts_are_kept():
    out = subprocess.run(
        [sys.executable, "-c", "import sys, importlinter.cli as c; sys.exit(c.lint_imports(no_cache=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    kept = re.findall(r"KEPT", out.stdout)
    assert len(kept) >= 5, out.stdout  # layers, acyclic siblings, the face, private modules, algorithms


def imported_names(path: pathlib.Path, module: str):
    """(target module, name) for every ``from X import name`` of tconv, lazy ones included."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] == "tconv":
            for alias in node.names:
                yield target, alias.name


def test_no_module_imports_another_modules_private_names():
    mods = modules()
    offences, checked = [], 0
    for module, path in mods.items():
        for target, name in imported_names(path, module):
            checked += 1
            full = f"{target}.{name}"
            if name.startswith("_") and not name.startswith("__") and full not in mods and target != module:
                offences.append(f"{module} imports {full}")
    assert checked > 150
    assert not offences, offences


#: The effective-kernel / full-size formula written out (``d * (k - 1) + 1``, ``(k - 1) * d + 1``).
K_EFF = re.compile(r"\*\s*\(\s*\w+\s*-\s*1\s*\)\s*\+\s*1|\(\s*\w+\s*-\s*1\s*\)\s*\*\s*\w+\s*\+\s*1")


def test_the_size_formulas_live_in_shapes():
    sites = []
    for module, path in modules().items():
        if module == "tconv.shapes":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if K_EFF.search(line) and not line.lstrip().startswith(("#", ">>>")):
                sites.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert K_EFF.search("d * (k - 1) + 1") and K_EFF.search("(n - 1) * s + 1")  # the pattern itself works
    assert not sites, "\n".join(sites)


def test_public_names_do_not_shadow_modules():
    import tconv
    import tconv.algorithms.cost  # noqa: F401  (a submodule reachable as an attribute)

    assert tconv.algorithms.cost.calibrate is tconv.calibrate
    assert callable(tconv.explain) and callable(tconv.algorithm_names)
    assert callable(tconv.compat.translate)
    assert tconv.algorithm_names()[0] == "direct"
