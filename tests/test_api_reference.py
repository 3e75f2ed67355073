"""The API reference builds from the docstrings (pdoc, warnings as errors) and covers the public modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("pdoc", reason="the test extra: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_without_warnings(tmp_path):
    spec = importlib.util.spec_from_file_location("docs_api", ROOT / "docs" / "api.py")
    api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(api)
    done = api.build(tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")}
    for module in api.MODULES + ("tconv.compat", "tconv.compat.onnx"):
        assert module.replace(".", "/") + ".html" in pages, sorted(pages)
    assert len(pages) >= 30
    text = (tmp_path / "tconv" / "ops.html").read_text(encoding="utf-8")
    assert "execute" in text and "weight_gradient" in text
