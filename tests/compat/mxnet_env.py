"""A side virtual environment with ``mxnet==1.9.1`` and ``numpy<1.24``, created once and cached.

MXNet 1.9.1 is the last release; it needs NumPy < 1.24 (it uses ``np.bool``),
which has wheels for CPython <= 3.11, while tconv's own environment may use a
newer NumPy.  So MXNet runs in its own environment, outside the repository
(``~/.cache/tconv-mxnet`` or ``$TCONV_MXNET_ENV``), and the tests talk to it
through a subprocess running ``mxnet_runner.py``.

``python tests/compat/mxnet_env.py`` creates it (``.ci/run`` does that before
the tests); the tests only look for it (:func:`find_env`) and skip, saying how to create it,
where it does not exist: a test never installs packages.  The interpreter is
``$TCONV_MXNET_PYTHON`` if set, else the first of this Python (if <= 3.11),
``python3.11`` ... ``python3.8`` on PATH or under pyenv, in which the install works.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = ["mxnet==1.9.1", "numpy<1.24"]
RUNNER = Path(__file__).with_name("mxnet_runner.py")


def cache_dir() -> Path:
    return Path(os.environ.get("TCONV_MXNET_ENV") or Path.home() / ".cache" / "tconv-mxnet")


def _candidates() -> list[str]:
    found = []
    if os.environ.get("TCONV_MXNET_PYTHON"):
        found.append(os.environ["TCONV_MXNET_PYTHON"])
    if sys.version_info < (3, 12):
        found.append(sys.executable)
    for minor in (11, 10, 9, 8):
        exe = shutil.which(f"python3.{minor}")
        if exe:
            found.append(exe)
        found += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / f"3.{minor}.*" / "bin" / "python")))
    unique = []
    for exe in found:
        if exe not in unique and Path(exe).exists():
            unique.append(exe)
    return unique


def _works(python: Path) -> bool:
    try:
        done = subprocess.run([str(python), "-c", "import mxnet, numpy; assert numpy.__version__ < '1.24'"],
                              capture_output=True, timeout=120, env=runner_env())
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def runner_env(onednn: bool = True) -> dict:
    """Environment of the MXNet subprocess, with MXNet's oneDNN (MKLDNN) path on or off.

    oneDNN refuses asymmetric crops (``target_shape`` with an odd difference); MXNet's own CPU
    path takes them but is wrong with dilate > 1 and stride > 1 (apache/mxnet#11203).
    """
    env = dict(os.environ)
    env["MXNET_MKLDNN_ENABLED"] = "1" if onednn else "0"
    env["MXNET_STORAGE_FALLBACK_LOG_VERBOSE"] = "0"
    env.pop("PYTHONPATH", None)
    return env


def find_env() -> Path | None:
    """The python of an existing, working MXNet environment, or None (nothing is created)."""
    for existing in sorted(cache_dir().glob("venv-py*/bin/python")):
        if _works(existing):
            return existing
    return None


def ensure_env(verbose: bool = False) -> tuple[Path | None, str]:
    """(python of the MXNet environment, "") or (None, why it could not be made); creates it if needed."""
    root = cache_dir()
    existing = find_env()
    if existing is not None:
        return existing, ""
    reasons = []
    for exe in _candidates():
        try:
            version = subprocess.run([exe, "-c", "import sys; print('%d%d' % sys.version_info[:2])"],
                                     capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if not version or int(version) > 311:
            continue
        venv = root / f"venv-py{version}"
        python = venv / "bin" / "python"
        steps = [[exe, "-m", "venv", "--clear", str(venv)],
                 [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *PACKAGES]]
        ok = True
        for step in steps:
            if verbose:
                print("+", " ".join(step), flush=True)
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if done.returncode:
                reasons.append(f"{exe} (Python {version}): {' '.join(step[:3])} failed: {done.stderr.strip()[-300:]}")
                ok = False
                break
        if ok and _works(python):
            return python, ""
        shutil.rmtree(venv, ignore_errors=True)
    if not reasons:
        reasons.append("no CPython <= 3.11 found (mxnet 1.9.1 needs numpy<1.24, which has no wheels for newer Pythons)")
    return None, "; ".join(reasons)


if __name__ == "__main__":
    python, why = ensure_env(verbose=True)
    print(f"MXNet environment: {python}" if python else f"MXNet environment unavailable: {why}")
    sys.exit(0 if python else 1)
