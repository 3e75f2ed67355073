"""``import tconv`` stays light: no optional or heavy module is loaded, no warning is raised, lazy names work.

Each check runs in a fresh interpreter (this process has imported half the world already).  The import
time is measured and reported, never asserted on: it depends on the machine and its load.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap

#: Modules ``import tconv`` must not load: they are loaded by the first call that needs them.
NOT_AT_IMPORT = (
    "scipy.sparse",
    "scipy.sparse.linalg",
    "scipy.fft",
    "tconv.compat",
    "tconv.matrix",
    "tconv.viz",
    "tconv.distributed",
    "numba",
    "llvmlite",
    "matplotlib",
    "PIL",
    "dask",
    "distributed",
    "torch",
    "tensorflow",
    "jax",
    "onnx",
    "onnxruntime",
    "array_api_compat",
)


def _python(code: str, warnings_are_errors: bool = False) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (with ``-W error`` when asked)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    flags = ["-W", "error"] if warnings_are_errors else []
    return subprocess.run([sys.executable, *flags, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env=env)


def _json(code: str, warnings_are_errors: bool = False):
    out = _python(code, warnings_are_errors)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_no_optional_or_heavy_module_and_warns_nothing():
    loaded = _json(f"""
        import json, sys
        import tconv
        print(json.dumps([m for m in {list(NOT_AT_IMPORT)!r} if m in sys.modules]))
    """, warnings_are_errors=True)
    assert loaded == []


def test_lazy_names_of_the_face_load_on_first_use():
    state = _json("""
        import json, sys
        import numpy as np
        import tconv
        before = "scipy.sparse.linalg" in sys.modules or "tconv.compat" in sys.modules
        assert {"compat", "matrix", "ConvOperator", "conv_matrix"} <= set(dir(tconv))
        from tconv import compat
        assert tconv.compat is compat and callable(tconv.compat.translate)
        A = tconv.ConvOperator(np.ones((1, 1, 2)), (4,))
        from scipy.sparse.linalg import LinearOperator
        assert isinstance(A, LinearOperator) and (A @ np.ones(4)).tolist() == [2.0, 2.0, 2.0]
        assert tconv.conv_matrix(np.ones((1, 1, 2)), (4,)).shape == (3, 4)
        assert tconv.matrix.ConvOperator is tconv.ConvOperator
        try:
            tconv.no_such_name
        except AttributeError as exc:
            missing = str(exc)
        print(json.dumps([before, missing]))
    """)
    assert state == [False, "module 'tconv' has no attribute 'no_such_name'"]


def test_first_call_imports_numba_only_then():
    """The first convolution may plan compiled kernels (numba, when installed); the import never does."""
    state = _json("""
        import json, sys
        import numpy as np
        import tconv
        at_import = "numba" in sys.modules
        y = tconv.conv_transpose(np.ones((1, 2, 3, 3), np.float32), np.ones((2, 1, 2, 2), np.float32), stride=2)
        from tconv.algorithms import jit
        print(json.dumps([at_import, jit.available(), "numba" in sys.modules, list(y.shape)]))
    """)
    at_import, available, after_call, shape = state
    assert not at_import
    assert shape == [1, 1, 6, 6]
    if available:  # the plan asked numba whether it runs: imported by the call, not by the import
        assert after_call


def _import_seconds() -> tuple[float, float]:
    """``(import numpy, import tconv after numpy)`` in seconds, in a fresh interpreter."""
    return tuple(_json("""
        import json, time
        t0 = time.perf_counter()
        import numpy
        t1 = time.perf_counter()
        import tconv
        t2 = time.perf_counter()
        print(json.dumps([t1 - t0, t2 - t1]))
    """))


def test_import_time_is_reported(record_property, capsys):
    """Median of 3 fresh interpreters: what ``import tconv`` adds to ``import numpy`` (reported, not asserted)."""
    runs = [_import_seconds() for _ in range(3)]
    numpy_s = statistics.median(r[0] for r in runs)
    tconv_s = statistics.median(r[1] for r in runs)
    record_property("import_numpy_s", round(numpy_s, 4))
    record_property("import_tconv_after_numpy_s", round(tconv_s, 4))
    with capsys.disabled():
        print(f"\n[import time] numpy {numpy_s * 1e3:.0f} ms; tconv adds {tconv_s * 1e3:.0f} ms "
              f"(median of 3 fresh interpreters; target < 100 ms, not asserted)")
    assert numpy_s > 0 and tconv_s > 0
