"""Shared fixtures of the framework-dialect tests."""

from __future__ import annotations

from .stats import TALLY


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    terminalreporter.section("tconv.compat: configurations compared with the real frameworks")
    for name in sorted(TALLY):
        e = TALLY[name]
        terminalreporter.write_line(f"{name:55s} {int(e['count']):6d} configs   max rel error {e['max_err']:.3g}")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, imported once per session (the import takes seconds)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow", reason="tensorflow-cpu is in the test extra: pip install -e '.[test]'")


@pytest.fixture(scope="session")
def keras(tf):
    return pytest.importorskip("keras", reason="keras comes with tensorflow-cpu (test extra)")
