"""The cost model calibrates itself once per machine and keeps the constants in an on-disk cache (issue 15):
lazy, atomic, keyed by machine / BLAS / threads, moved by TCONV_CACHE_DIR, off with TCONV_CALIBRATE=0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

from tconv import _cache
from tconv.algorithms import cost


@pytest.fixture
def calibrating(tmp_path, monkeypatch, tuning_state):
    """Calibration on, with a cache directory of this test's own, and no constants in memory."""
    monkeypatch.setenv("TCONV_CALIBRATE", "1")
    monkeypatch.setenv("TCONV_CACHE_DIR", str(tmp_path / "cache"))
    cost.forget_calibration()
    yield tmp_path / "cache"
    cost.forget_calibration()


def _measures(monkeypatch) -> list:
    """Count the measurements the cost model makes from now on (they still run)."""
    calls: list = []
    real = cost._measure

    def counting(dt, *args):
        calls.append(dt)
        return real(dt, *args)

    monkeypatch.setattr(cost, "_measure", counting)
    return calls


def test_first_use_measures_once_and_caches(calibrating, monkeypatch):
    calls = _measures(monkeypatch)
    before = cost.generation()
    c = cost.constants(np.float32)
    assert calls == [np.dtype(np.float32)] and cost.generation() == before + 1  # plans ranked before are stale
    assert cost.constants(np.float32) is c and len(calls) == 1  # once per process
    data = json.loads((calibrating / "calibration.json").read_text())
    assert list(data) == [cost.machine_key(np.float32)]  # the raw rates, transferred onto the reference constants
    raw = cost.Constants(**data[cost.machine_key(np.float32)])
    assert min(raw.mac_seconds, raw.byte_seconds, raw.step_seconds) > 0
    assert cost._transfer(np.dtype(np.float32), raw) == c
    assert [p.name for p in calibrating.iterdir()] == ["calibration.json"]  # no temporary file left behind
    cost.forget_calibration()
    assert cost.constants(np.float32) == c and len(calls) == 1  # read back from disk, not measured again
    cost.constants(np.float64)
    assert len(calls) == 2 and len(json.loads((calibrating / "calibration.json").read_text())) == 2


def test_another_process_reads_the_cache_without_measuring(calibrating):
    """A fresh process measures and writes; the next fresh one (same machine key) reads and never measures."""
    code = ("import sys, numpy as np; from dataclasses import asdict; from tconv.algorithms import cost\n"
            "if sys.argv[1] == 'read':\n"
            "    def refuse(*a): raise AssertionError('measured again')\n"
            "    cost._measure = refuse\n"
            "print(asdict(cost.constants(np.float64)))")
    env = dict(os.environ, TCONV_CALIBRATE="1", TCONV_CACHE_DIR=str(calibrating))
    printed = []
    for step in ("measure", "read"):
        out = subprocess.run([sys.executable, "-c", code, step], env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        printed.append(out.stdout.strip())
    assert printed[0] == printed[1] and "mac_seconds" in printed[0]
    assert len(json.loads((calibrating / "calibration.json").read_text())) == 1


def test_the_key_follows_the_thread_count_and_blas(calibrating, monkeypatch):
    key = cost.machine_key(np.float32)
    assert cost.cpu_model() in key and cost.blas_description() in key and "v1" in key
    monkeypatch.setenv("TCONV_NUM_THREADS", "1")
    assert cost.machine_key(np.float32) != key or os.cpu_count() == 1
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")  # a different kernel is a different machine
    assert "OPENBLAS_CORETYPE" in cost.machine_key(np.float32)


def test_a_corrupt_or_foreign_cache_is_measured_again(calibrating, monkeypatch):
    calls = _measures(monkeypatch)
    calibrating.mkdir(parents=True)
    (calibrating / "calibration.json").write_text("{not json")
    cost.constants(np.float32)
    assert len(calls) == 1 and json.loads((calibrating / "calibration.json").read_text())
    cost.forget_calibration()
    (calibrating / "calibration.json").write_text(json.dumps({cost.machine_key(np.float32): {"rate": 1}}))
    again = cost.constants(np.float32)
    assert len(calls) == 2 and again.mac_seconds > 0  # a record of another shape is not trusted: measured
    record = json.loads((calibrating / "calibration.json").read_text())[cost.machine_key(np.float32)]
    assert cost._transfer(np.dtype(np.float32), cost.Constants(**record)) == again


def test_an_unwritable_cache_directory_only_means_nothing_is_kept(calibrating, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("TCONV_CACHE_DIR", str(blocker / "cache"))  # below a file: cannot be created
    calls = _measures(monkeypatch)
    c = cost.constants(np.float32)
    assert c.mac_seconds > 0 and len(calls) == 1
    assert _cache.store("calibration", "k", {}) is False and _cache.load("calibration") == {}


def test_on_the_reference_rates_the_constants_are_the_references():
    """The transfer is a ratio: the reference machine's own rates give back the fitted constants exactly, and a
    machine with twice the GEMM rate gets half the seconds per multiply-add."""
    for dt, ref in cost._REFERENCE_RAW.items():
        assert asdict(cost._transfer(dt, ref)) == pytest.approx(asdict(cost._DEFAULTS[dt]), rel=1e-12)
        fast = cost._transfer(dt, cost.Constants(ref.mac_seconds / 2, ref.byte_seconds, ref.step_seconds))
        assert fast.mac_seconds == pytest.approx(cost._DEFAULTS[dt].mac_seconds / 2)


def test_calibrate_0_keeps_the_reference_constants_and_touches_no_disk(tmp_path, monkeypatch, tuning_state):
    monkeypatch.setenv("TCONV_CALIBRATE", "0")
    monkeypatch.setenv("TCONV_CACHE_DIR", str(tmp_path / "cache"))
    cost.forget_calibration()
    calls = _measures(monkeypatch)
    assert cost.constants(np.float32) == cost._DEFAULTS[np.dtype(np.float32)]
    assert calls == [] and not (tmp_path / "cache").exists()
    assert "TCONV_CALIBRATE=0" in cost.calibration_description()


def test_the_default_directory_is_the_users_cache(monkeypatch):
    import platformdirs

    monkeypatch.delenv("TCONV_CACHE_DIR")
    assert str(_cache.cache_dir()) == platformdirs.user_cache_dir("tconv", appauthor=False)


def test_concurrent_writers_never_leave_a_broken_file(tmp_path):
    """Four processes store 25 keys each at once: the file is valid JSON at every read, and each process's
    last key is there or was overwritten by a whole other version of the file (never half of one)."""
    code = ("import sys; from tconv import _cache\n"
            "for i in range(25):\n"
            "    _cache.store('race', f'{sys.argv[1]}-{i}', {'i': i})\n"
            "    assert isinstance(_cache.load('race'), dict)\n")
    env = dict(os.environ, TCONV_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)], env=env, stderr=subprocess.PIPE, text=True)
             for n in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    data = json.loads((tmp_path / "race.json").read_text())
    assert data and all(v == {"i": int(k.split("-")[1])} for k, v in data.items())
    assert [p.name for p in tmp_path.iterdir()] == ["race.json"]


def test_calibration_works_without_threadpoolctl_and_platformdirs(tmp_path):
    """An environment that lacks the two helpers (an older install, a pinned image) still calibrates and
    computes: the BLAS comes from NumPy's build configuration, the cache directory from the XDG rule."""
    code = ("import sys\n"
            "sys.modules['threadpoolctl'] = None\n"  # import now raises ImportError, as if not installed
            "sys.modules['platformdirs'] = None\n"
            "import numpy as np, tconv\n"
            "from tconv.algorithms import cost\n"
            "from tconv import _cache\n"
            "x = np.array([[[[0., 1], [2, 3]]]])\n"
            "print(tconv.conv_transpose(x, x)[0, 0].tolist())\n"
            "print(cost.blas_description())\n"
            "print(_cache.cache_dir())\n"
            "print(cost.calibration_description())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TCONV_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(TCONV_CALIBRATE="1", HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result, blas, directory, calibration = out.stdout.strip().splitlines()
    assert result == "[[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]]"
    assert "threadpoolctl is not installed" in blas
    assert directory == str(tmp_path / ".cache" / "tconv")
    assert "calibrated" in calibration and (tmp_path / ".cache" / "tconv" / "calibration.json").is_file()
