"""tconv._threads: the one process-wide pool under fork, many user threads, changing thread counts and Dask.

Every configuration here is large enough that the threaded algorithms really
split their work (checked by counting the pieces ``run_chunks`` hands out).
"""

from __future__ import annotations

import importlib
import multiprocessing
import pkgutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import tconv
from tconv import _threads as threads
from tconv.algorithms import jit
from tconv.ops import ranked
from support import COMPILED_ONLY

TIMEOUT = 120  # seconds: a hang fails the test instead of blocking the run

RNG = np.random.default_rng(7)
#: name -> (transposed input, weight, hyper-parameters): a general, a depthwise and a non-overlapping layer
CONFIGS = {
    "general": (RNG.standard_normal((8, 32, 24, 24)).astype(np.float32),
                RNG.standard_normal((32, 16, 4, 4)).astype(np.float32), dict(stride=2, padding=1)),
    "depthwise": (RNG.standard_normal((8, 32, 24, 24)).astype(np.float32),
                  RNG.standard_normal((32, 1, 4, 4)).astype(np.float32), dict(stride=2, padding=1, groups=32)),
    "nooverlap": (RNG.standard_normal((8, 32, 24, 24)).astype(np.float32),
                  RNG.standard_normal((32, 16, 2, 2)).astype(np.float32), dict(stride=2)),
    "3x3": (RNG.standard_normal((4, 16, 24, 24)).astype(np.float32),
            RNG.standard_normal((16, 16, 3, 3)).astype(np.float32), dict(stride=1, padding=1)),
}
#: the thread-pooled algorithms and the configuration each is run on in the fork test
POOLED = {"phase": "general", "gemm": "general", "depthwise": "depthwise", "nooverlap": "nooverlap"}


def conv_input(name: str) -> np.ndarray:
    """An input for ``tconv.conv`` with the configuration's weight (the adjoint's input shape)."""
    x, w, kw = CONFIGS[name]
    channels = w.shape[1] * kw.get("groups", 1)
    return np.random.default_rng(11).standard_normal((x.shape[0], channels, 48, 48)).astype(np.float32)


def run(config: str, algorithm: str, direction: str = "conv_transpose") -> np.ndarray:
    x, w, kw = CONFIGS[config]
    if direction == "conv":
        return tconv.conv(conv_input(config), w, algorithm=algorithm, **kw)
    return tconv.conv_transpose(x, w, algorithm=algorithm, **kw)


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(threads.THREAD_PREFIX)]


PIECES: list[tuple[int, int, int]] = []  # (lo, hi, total) of every piece run through run_chunks


@pytest.fixture
def count_pieces(monkeypatch):
    """Record the pieces of every ``run_chunks`` call (in threads and in every algorithm module)."""
    real = threads.run_chunks

    def spy(total, work, min_chunk=1):
        def piece(lo, hi):
            PIECES.append((lo, hi, total))
            work(lo, hi)

        real(total, piece, min_chunk)

    package = importlib.import_module("tconv.algorithms")  # (the attribute tconv.algorithms is a function)
    modules = [threads] + [importlib.import_module(f"{package.__name__}.{m.name}")
                           for m in pkgutil.iter_modules(package.__path__)]
    patched = 0
    for module in modules:
        if getattr(module, "run_chunks", None) is real:
            monkeypatch.setattr(module, "run_chunks", spy)
            patched += 1
    assert patched >= 4  # threads (parallel_copy), phase, gemm, depthwise, compiled
    PIECES.clear()
    yield PIECES
    PIECES.clear()


def split_pieces() -> int:
    """Pieces that covered less than their call's whole range (the work really was split)."""
    return sum(1 for lo, hi, total in PIECES if hi - lo < total)


@pytest.fixture(params=["0", "1"], ids=["numpy", "numba"])
def numba(request, monkeypatch):
    """Run with the compiled kernels off (``TCONV_NUMBA=0``) and, where numba imports, on."""
    if request.param == "1":
        pytest.importorskip("numba")
    monkeypatch.setenv(jit.ENV_NUMBA, request.param)
    jit.reread_environment()
    ranked.cache_clear()
    assert jit.available() == (request.param == "1")
    yield request.param
    monkeypatch.undo()
    jit.reread_environment()
    ranked.cache_clear()


def _in_fork_child(cases: list[tuple[str, str]]) -> tuple[list[np.ndarray], int, int]:
    """In the forked child: the same calls, the pieces they were split into and the child's pool threads."""
    PIECES.clear()
    results = [run(config, name) for name, config in cases]
    return results, split_pieces(), len(worker_threads())


def test_fork_child_after_threaded_work_in_parent(monkeypatch, numba, count_pieces):
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    cases = list(POOLED.items())
    parent, split = [], {}
    for name, config in cases:
        PIECES.clear()
        parent.append(run(config, name))
        split[name] = split_pieces()
    # the parent's pool is in use when the child is forked; numba's gemm does its col2im in one compiled call
    expected = {"phase", "depthwise", "nooverlap"} | ({"gemm"} if numba == "0" else set())
    assert {name for name, n in split.items() if n > 0} == expected
    assert worker_threads(), "the parent's pool should have a worker"
    with multiprocessing.get_context("fork").Pool(1) as pool:
        job = pool.apply_async(_in_fork_child, (cases,))
        try:
            child, child_split, child_workers = job.get(timeout=TIMEOUT)
        except multiprocessing.TimeoutError:
            pytest.fail(f"a fork child hung on its first threaded call (after {TIMEOUT} s)")
    assert child_split >= sum(split.values()) > 0  # the child split its work too, on its own pool
    assert child_workers >= 1
    assert len(child) == len(parent) == 4
    for (name, _), mine, theirs in zip(cases, parent, child):
        assert np.array_equal(mine, theirs), name


def _references() -> dict[tuple[str, str, str], np.ndarray]:
    """Every (configuration, algorithm, direction) an algorithm accepts, computed in this thread alone."""
    refs = {}
    for config in CONFIGS:
        for name in tconv.algorithm_names():
            for direction in ("conv_transpose", "conv"):
                try:
                    refs[config, name, direction] = run(config, name, direction)
                except ValueError as error:
                    assert name in str(error)  # the algorithm's own refusal, naming itself
    return refs


def test_many_user_threads_share_the_pool(monkeypatch, count_pieces):
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    refs = _references()
    assert split_pieces() > 0
    pairs = {(name, direction) for _, name, direction in refs}
    # every algorithm in both directions on some configuration (winograd and phase_winograd need the compiled
    # kernels); direct, gemm, phase, subpixel and fft on all four, depthwise, nooverlap, winograd and
    # phase_winograd on theirs
    assert len(pairs) >= (18 if jit.available() else 14), sorted(pairs)
    assert len(refs) >= (48 if jit.available() else 44), len(refs)
    assert {name for name, _ in pairs} >= set(tconv.algorithm_names()) - (set(COMPILED_ONLY) if not jit.available()
                                                                           else set())
    with monkeypatch.context() as m:  # the single-threaded results, without any splitting
        m.setenv(threads.ENV_THREADS, "1")
        single = {key: run(*key) for key in refs}
    before = len(worker_threads())
    PIECES.clear()
    keys = list(refs) * 2
    with ThreadPoolExecutor(8) as users:
        futures = [users.submit(run, *key) for key in keys]
        results = [f.result(timeout=TIMEOUT) for f in futures]
    assert split_pieces() > 0
    assert len(results) == 2 * len(refs)
    for key, result in zip(keys, results):
        assert result.dtype == refs[key].dtype
        assert np.array_equal(result, refs[key]), key
        assert np.array_equal(result, single[key]), key
    # 8 callers share one pool: no thread per caller, none beyond what 2 threads per call need
    assert len(worker_threads()) <= max(before, 1)


def test_calls_from_inside_a_piece_run_inline(monkeypatch):
    """User threads whose own run_chunks pieces call tconv: nested calls run on the piece's thread."""
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    want = run("general", "phase")
    before = len(worker_threads())

    def user_call(_):
        out = [None] * 4

        def piece(lo, hi):
            for i in range(lo, hi):
                out[i] = run("general", "phase")

        threads.run_chunks(4, piece)
        return out

    with ThreadPoolExecutor(8) as users:
        results = [r for f in [users.submit(user_call, i) for i in range(8)] for r in f.result(timeout=TIMEOUT)]
    assert len(results) == 32
    assert all(np.array_equal(r, want) for r in results)
    assert len(worker_threads()) <= max(before, 1)


def test_pool_not_rebuilt_when_the_thread_count_changes(monkeypatch, count_pieces):
    monkeypatch.setenv(threads.ENV_THREADS, "3")
    want = run("general", "phase")
    assert split_pieces() > 0
    workers = set(worker_threads())
    assert len(workers) >= 2  # 3 threads per call: the caller and two workers
    computed = 0
    for count in ("2", "1", "3", "2", "3"):
        monkeypatch.setenv(threads.ENV_THREADS, count)
        PIECES.clear()
        assert np.array_equal(run("general", "phase"), want)
        computed += 1
        if count == "1":  # no splitting at all
            assert PIECES and split_pieces() == 0
        else:
            assert split_pieces() > 0
            assert all(hi - lo >= total // int(count) for lo, hi, total in PIECES)  # at most `count` pieces a call
        assert set(worker_threads()) == workers  # the same threads, none added, none replaced
        assert all(t.is_alive() for t in workers)
    assert computed == 5
    monkeypatch.setenv(threads.ENV_THREADS, "4")  # more threads: the same pool grows by one worker
    assert np.array_equal(run("general", "phase"), want)
    grown = set(worker_threads())
    assert grown >= workers and len(grown) == max(len(workers), 3)


def test_shutdown_joins_the_workers_and_a_new_pool_follows(monkeypatch):
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    want = run("general", "phase")
    old = worker_threads()
    assert old
    threads.shutdown()
    assert worker_threads() == [] and not any(t.is_alive() for t in old)
    assert np.array_equal(run("general", "phase"), want)
    assert len(worker_threads()) == 1 and not set(worker_threads()) & set(old)


def test_first_error_propagates_after_every_piece_has_stopped(monkeypatch):
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    running, finished = [], []
    release = threading.Event()

    def work(lo, hi):
        running.append(lo)
        if lo == 0:
            release.wait(TIMEOUT)  # the other piece fails meanwhile
            finished.append(lo)
            return
        release.set()
        raise RuntimeError(f"piece {lo}")

    with pytest.raises(RuntimeError, match="piece 5"):
        threads.run_chunks(10, work)
    assert sorted(running) == [0, 5] and finished == [0]  # the slow piece ended before run_chunks returned


def test_interpreter_exits_after_threaded_work():
    code = ("import numpy as np, os; os.environ['TCONV_NUM_THREADS'] = '2'; import tconv, threading; "
            "y = tconv.conv_transpose(np.ones((8, 32, 24, 24), np.float32), np.ones((32, 16, 4, 4), np.float32), "
            "stride=2, padding=1, algorithm='phase'); "
            "print(sum(t.name.startswith('tconv-worker') for t in threading.enumerate()), y.shape)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "(8,", "16,", "48,", "48)"]


def test_dask_worker_calls_tconv(monkeypatch):
    distributed = pytest.importorskip("distributed", reason="the dask extra: pip install 'tconv[dask]'")
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    x, w, kw = CONFIGS["general"]
    want = {name: run("general", name) for name in ("phase", "gemm")}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster:
        with distributed.Client(cluster) as client:
            futures = [(name, client.submit(tconv.conv_transpose, x, w, algorithm=name, pure=False, **kw))
                       for name in want for _ in range(2)]  # two at once on the worker's two threads
            got = [(name, f.result(timeout=TIMEOUT)) for name, f in futures]
    assert len(got) == 4
    for name, result in got:
        assert np.array_equal(result, want[name]), name


def _phase_winograd_calls() -> list[np.ndarray]:
    """phase_winograd on a DCGAN-like layer, both directions, in one chunk and in chunks of one tile row."""
    from tconv.algorithms import phase_winograd

    x, w, kw = CONFIGS["general"]
    y = tconv.conv_transpose(x, w, algorithm="direct", **kw)
    out = []
    for chunk in (phase_winograd.CHUNK_TILES, 1):
        saved, phase_winograd.CHUNK_TILES = phase_winograd.CHUNK_TILES, chunk
        try:
            out.append(tconv.conv_transpose(x, w, algorithm="phase_winograd", **kw))
            out.append(tconv.conv(y, w, algorithm="phase_winograd", **kw))
        finally:
            phase_winograd.CHUNK_TILES = saved
    return out


def test_phase_winograd_from_threads_and_a_forked_child(monkeypatch):
    """phase_winograd's compiled transforms and per-call buffers from four user threads at once, and in a
    forked child after the parent ran them (its channels-last copy is split over the pool): the same bits
    as one call alone."""
    if not jit.available(np.float32):
        pytest.skip("the compiled kernels are switched off")
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    x, w, kw = CONFIGS["general"]
    y = tconv.conv_transpose(x, w, algorithm="direct", **kw)
    want_ct = tconv.conv_transpose(x, w, algorithm="phase_winograd", **kw)
    want_conv = tconv.conv(y, w, algorithm="phase_winograd", **kw)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(tconv.conv_transpose, x, w, algorithm="phase_winograd", **kw) for _ in range(4)]
        futures += [pool.submit(tconv.conv, y, w, algorithm="phase_winograd", **kw) for _ in range(4)]
        got = [f.result(timeout=TIMEOUT) for f in futures]
    compared = 0
    for i, result in enumerate(got):
        assert np.array_equal(result, want_ct if i < 4 else want_conv), i
        compared += 1
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_phase_winograd_calls).get(timeout=TIMEOUT)
    for i, result in enumerate(child):  # one chunk: the same bits; chunks of one tile row: other GEMM shapes
        want = want_ct if i % 2 == 0 else want_conv
        if i < 2:
            assert np.array_equal(result, want), i
        else:
            np.testing.assert_allclose(result, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))
        compared += 1
    assert compared == 12


def _phase_winograd_weight_gradient() -> np.ndarray:
    """phase_winograd's weight gradient of a DCGAN-like layer whose taps are split over the pool."""
    from tconv.algorithms.weight_grad import weight_grad
    from tconv.params import geometry_from_shapes

    rng = np.random.default_rng(3)
    small = rng.standard_normal((4, 128, 8, 8)).astype(np.float32)
    big = rng.standard_normal((4, 64, 16, 16)).astype(np.float32)
    geom = geometry_from_shapes(True, small.shape, (128, 64, 4, 4), np.float32, stride=2, padding=1)
    return weight_grad(small, big, geom, "phase_winograd")


def test_phase_winograd_weight_gradient_from_threads_and_a_forked_child(monkeypatch):
    """phase_winograd's weight gradient (its 25 x 128 x 256 products reduced to taps by the pool's two
    threads) from four user threads at once, and in a forked child after the parent ran it: the same bits
    as one call alone (five compared)."""
    if not jit.available(np.float32):
        pytest.skip("the compiled kernels are switched off")
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    want = _phase_winograd_weight_gradient()
    with ThreadPoolExecutor(4) as pool:
        got = [f.result(timeout=TIMEOUT) for f in [pool.submit(_phase_winograd_weight_gradient) for _ in range(4)]]
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got.append(pool.apply_async(_phase_winograd_weight_gradient).get(timeout=TIMEOUT))
    for i, result in enumerate(got):
        assert np.array_equal(result, want), i
    assert len(got) == 5
