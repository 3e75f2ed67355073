"""Hypothesis profiles: the default run checks a few hundred configurations per property;
``-m slow`` runs the thousands-of-configurations suites."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.register_profile("ci", parent=settings.get_profile("default"), print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_terminal_summary(terminalreporter):
    """Report the largest error seen against the oracles in this run."""
    from support import CHECKED, WORST_ERRORS

    if WORST_ERRORS:
        terminalreporter.section("largest relative error vs oracles")
        for key, err in sorted(WORST_ERRORS.items()):
            op, dtype = key
            terminalreporter.write_line(f"{op} {dtype}: {CHECKED[key]} comparisons, largest error {err:.3g}")
