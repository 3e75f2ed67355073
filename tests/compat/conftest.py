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
