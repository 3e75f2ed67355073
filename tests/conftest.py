"""Hypothesis profiles, the tuning-state guard, and the end-of-run report of what was compared.

Profiles (``HYPOTHESIS_PROFILE``): ``default`` checks a few hundred configurations per property;
``ci`` is the same with reproduction blobs; ``ci-slow`` is CI's time-boxed share of the ``-m slow``
suites: every slow property runs at most ``CI_SLOW_EXAMPLES`` examples (the suites ask for
thousands).  Its examples stay random, so that successive CI runs cover different configurations; a
failure prints the blob that reproduces it (``@reproduce_failure``).
"""

import os
import tempfile

import pytest

# The cost model calibrates itself per machine (tconv.algorithms.cost); the tests plan with the reference
# constants, so that which algorithm ``auto`` picks does not depend on the machine or on its load, and any
# cache they write goes to a directory of their own (tests/test_calibration.py turns both on on purpose).
os.environ.setdefault("TCONV_CALIBRATE", "0")
os.environ.setdefault("TCONV_CACHE_DIR", tempfile.mkdtemp(prefix="tconv-test-cache-"))
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.register_profile("ci", parent=settings.get_profile("default"), print_blob=True)
CI_SLOW_EXAMPLES = 1000  # half of what the torch suites ask for; all of the distributed one
settings.register_profile("ci-slow", parent=settings.get_profile("ci"), max_examples=CI_SLOW_EXAMPLES)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(config, items):
    """Under ``ci-slow``, cap the examples of every slow property at the profile's ``max_examples``.

    A property's own ``@settings(max_examples=2000)`` outranks any profile, so the cap is put on the
    settings hypothesis keeps on the test function (the attribute ``@settings`` itself writes).
    """
    if PROFILE != "ci-slow":
        return
    cap = settings.get_profile("ci-slow").max_examples
    for item in items:
        if item.get_closest_marker("slow") is None:
            continue
        test = getattr(item, "obj", None)
        if not getattr(test, "is_hypothesis_test", False):
            continue
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is None:
            raise pytest.UsageError(f"ci-slow cannot cap {item.nodeid}: hypothesis keeps its settings elsewhere now")
        if own.max_examples > cap:
            test._hypothesis_internal_use_settings = settings(own, max_examples=cap)


# --------------------------------------------------------------------------- tuning state

#: Tests that left measure-mode winners or calibrated constants behind (restored after each of them).
LEAKS: list[str] = []


def _tuning_state():
    from tconv import ops
    from tconv.algorithms import cost

    return dict(ops.MEASURED), dict(cost._MEASURED)


def _restore_tuning_state(state) -> None:
    from tconv import ops
    from tconv.algorithms import cost

    measured, constants = state
    ops.MEASURED.clear()
    ops.MEASURED.update(measured)
    cost.forget_calibration()  # clears the constants and the per-geometry rankings made with them
    cost._MEASURED.update(constants)


@pytest.fixture
def tuning_state():
    """For a test that measures or calibrates on purpose: whatever it records is dropped afterwards."""
    state = _tuning_state()
    yield
    _restore_tuning_state(state)


@pytest.fixture(autouse=True)
def _no_leaked_tuning_state(request):
    """Every test starts from the same measure-mode cache (``tconv.ops.MEASURED``) and cost constants.

    A test that leaves entries behind is named in the report at the end of the run, and the state is
    restored, so no test's outcome depends on which tests ran before it.
    """
    before = _tuning_state()
    yield
    if _tuning_state() != before:
        if "tuning_state" not in request.fixturenames:
            LEAKS.append(request.node.nodeid)
        _restore_tuning_state(before)


# --------------------------------------------------------------------------- the report


def pytest_terminal_summary(terminalreporter):
    """How many comparisons with the oracles were made, the largest error seen, and leaked state."""
    from support import CHECKED, WORST_ERRORS

    if WORST_ERRORS:
        terminalreporter.section("largest relative error vs oracles")
        for key, err in sorted(WORST_ERRORS.items()):
            op, dtype = key
            terminalreporter.write_line(f"{op} {dtype}: {CHECKED[key]} comparisons, largest error {err:.3g}")
        terminalreporter.write_line(f"total: {sum(CHECKED.values())} comparisons")
    if LEAKS:
        terminalreporter.section("tests that left tconv's tuning state behind (restored after each)")
        for nodeid in LEAKS:
            terminalreporter.write_line(nodeid)


@pytest.fixture(scope="module")
def client():
    """A dask.distributed LocalCluster of 2 worker processes (one thread each), per test module."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()
