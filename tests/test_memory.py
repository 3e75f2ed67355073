"""The memory guard is honest: every algorithm's estimate covers its measured peak; cgroup limits, running
calls and the result's cast are counted as they happen."""

import contextlib
import importlib
import threading
import tracemalloc

import numpy as np
import pytest

import tconv
from tconv import memory, ops
from tconv.algorithms import planner
from tconv.params import conv_geometry, conv_transpose_geometry
from support import COMPILED_ONLY

registry = importlib.import_module("tconv.algorithms")

# (name, N, C_in, C_out, spatial, kernel, stride, padding, dilation, groups): suite-like layers included
CASES = [
    ("1d", 3, 4, 8, (50,), 4, 2, 1, 1, 1),
    ("hifigan", 1, 256, 128, (64,), 16, 8, 4, 1, 1),
    ("dcgan", 2, 64, 32, (16, 16), 4, 2, 1, 1, 1),
    ("wide", 4, 128, 64, (8, 8), 4, 2, 1, 1, 1),
    ("stride1", 2, 32, 32, (20, 20), 3, 1, 1, 1, 1),
    ("noverlap", 2, 16, 16, (12, 12), 2, 2, 0, 1, 1),
    ("depthwise", 2, 32, 32, (16, 16), 3, 2, 1, 1, 32),
    ("bigkernel", 1, 8, 8, (24, 24), 9, 1, 4, 1, 1),
    ("3d", 2, 8, 4, (8, 8, 8), 3, 2, 1, 1, 1),
    ("fcn", 1, 21, 21, (10, 10), 16, 8, 4, 1, 1),
    ("dilated", 2, 6, 10, (13, 11), 3, 3, 2, 2, 2),
    ("few_in", 4, 3, 64, (32, 32), 3, 1, 1, 1, 1),
    ("s4k8", 3, 16, 8, (12, 12), 8, 4, 2, 1, 1),
]


def _operands(case, transposed, dtype):
    _, n, ci, co, spatial, k, s, p, d, g = case
    rng = np.random.default_rng(0)
    kernel = (k,) * len(spatial)
    w = rng.standard_normal((ci, co // g) + kernel).astype(dtype)
    if transposed:
        x = rng.standard_normal((n, ci) + spatial).astype(dtype)
        return x, w, conv_transpose_geometry(x, w, None, stride=s, padding=p, dilation=d, groups=g)
    big = tconv.conv_transpose_output_shape(spatial, kernel, stride=s, padding=p, dilation=d)
    x = rng.standard_normal((n, co) + tuple(big)).astype(dtype)
    return x, w, conv_geometry(x, w, None, stride=s, padding=p, dilation=d, groups=g)


def _traced_peak(geom, x, w, algorithm):
    """Bytes allocated at most at once by the kernel and the cast, beyond the operands (which exist)."""
    ops.run_kernel(geom, x, w, algorithm)  # compilation and caches first
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        y = ops.run_kernel(geom, x, w, algorithm).astype(geom.dtype, copy=False)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del y
    return peak


@contextlib.contextmanager
def _compiled_kernels(monkeypatch, numba: str):
    """``TCONV_NUMBA=numba`` for the block, read again (tconv reads it once), with the cached choices that
    depend on it forgotten before and after."""
    from tconv.algorithms import jit
    from tconv.algorithms import weight_grad as wg

    def forget():
        jit.reread_environment()
        ops.ranked.cache_clear()
        wg._share_of_gemm.cache_clear()

    monkeypatch.setenv(jit.ENV_NUMBA, numba)
    forget()
    try:
        assert jit.available() == (numba == "1")
        yield
    finally:
        monkeypatch.undo()
        forget()


@pytest.mark.parametrize("numba", ["1", "0"])
def test_estimate_covers_the_measured_peak(numba, monkeypatch):
    computed, worst = 0, {}
    with _compiled_kernels(monkeypatch, numba):
        for dtype in (np.float32, np.float64, np.float16):
            for case in CASES:
                for transposed in (True, False):
                    x, w, geom = _operands(case, transposed, dtype)
                    for name in registry.names():
                        algorithm = registry.get(name)
                        if algorithm.unsupported(geom):
                            continue
                        estimate = ops.needed_bytes(geom, algorithm, (x, w))
                        peak = _traced_peak(geom, x, w, algorithm)
                        worst[name] = max(worst.get(name, 0), peak / estimate)
                        assert peak <= estimate, (name, case[0], transposed, np.dtype(dtype).name, peak, estimate)
                        computed += 1
    assert computed >= 400, computed
    assert set(worst) >= set(registry.names()) - (set(COMPILED_ONLY) if numba == "0" else set())


def test_result_counted_once_unless_cast():
    x32, w32 = np.ones((1, 2, 5, 5), np.float32), np.ones((2, 3, 3, 3), np.float32)
    g32 = conv_transpose_geometry(x32, w32)
    assert planner.result_bytes(g32) == 3 * 7 * 7 * 4  # float32 result, no cast copy
    g16 = conv_transpose_geometry(x32.astype(np.float16), w32.astype(np.float16))
    assert planner.result_bytes(g16) == 3 * 7 * 7 * (4 + 2)  # computed in float32, cast to float16


def _v2(root, tmp_path, limit, current, inactive=0):
    group = root / "job" / "task"
    group.mkdir(parents=True)
    (group / "memory.max").write_text(f"{limit}\n")
    (group / "memory.current").write_text(f"{current}\n")
    (group / "memory.stat").write_text(f"anon 5\ninactive_file {inactive}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/job/task\n")
    return str(proc)


def test_cgroup_v2_room(tmp_path):
    root = tmp_path / "fs"
    proc = _v2(root, tmp_path, 1000, 400, inactive=50)
    assert memory.cgroup_room(str(root), proc) == 650
    (root / "job" / "memory.max").write_text("500\n")  # a tighter parent
    (root / "job" / "memory.current").write_text("450\n")
    assert memory.cgroup_room(str(root), proc) == 50


def test_cgroup_v2_max_means_no_limit(tmp_path):
    root = tmp_path / "fs"
    proc = _v2(root, tmp_path, "max", 400)
    assert memory.cgroup_room(str(root), proc) is None


def test_cgroup_v1_room(tmp_path):
    base = tmp_path / "fs" / "memory" / "docker" / "abc"
    base.mkdir(parents=True)
    (base / "memory.limit_in_bytes").write_text("2000\n")
    (base / "memory.usage_in_bytes").write_text("1500\n")
    (tmp_path / "fs" / "memory" / "memory.limit_in_bytes").write_text(f"{9223372036854771712}\n")  # unlimited
    (tmp_path / "fs" / "memory" / "memory.usage_in_bytes").write_text("9999\n")
    proc = tmp_path / "cgroup"
    proc.write_text("5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n")
    assert memory.cgroup_room(str(tmp_path / "fs"), str(proc)) == 500


def test_no_cgroup_files_no_limit(tmp_path):
    assert memory.cgroup_room(str(tmp_path), str(tmp_path / "missing")) is None


def test_cgroup_limits_the_available_bytes(monkeypatch):
    monkeypatch.delenv(memory.ENV_LIMIT, raising=False)
    monkeypatch.setattr(memory, "cgroup_room", lambda *a: 12345)
    assert memory.available_bytes() <= 12345


def test_reservations_of_running_calls_count(monkeypatch):
    """Two calls that each fit alone but not together: the later one is refused while the first runs."""
    x, w = np.ones((1, 4, 32, 32)), np.ones((4, 4, 3, 3))
    geom = conv_transpose_geometry(x, w)
    need = ops.needed_bytes(geom, registry.get("direct"), (x, w))
    monkeypatch.setenv(memory.ENV_LIMIT, str(int(need * 1.5)))
    started, release = threading.Event(), threading.Event()
    real = ops.run_kernel

    def slow(*args):
        started.set()
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(ops, "run_kernel", slow)
    results = []
    first = threading.Thread(target=lambda: results.append(tconv.conv_transpose(x, w, algorithm="direct")))
    first.start()
    assert started.wait(10)
    try:
        with pytest.raises(ValueError, match="bytes"):
            tconv.conv_transpose(x, w, algorithm="direct")
    finally:
        release.set()
        first.join(10)
    assert memory.reserved_bytes() == 0 and len(results) == 1
    np.testing.assert_allclose(tconv.conv_transpose(x, w, algorithm="direct"), results[0])  # room again


def test_reserve_refuses_and_releases(monkeypatch):
    monkeypatch.setenv(memory.ENV_LIMIT, "1000")
    with memory.reserve(600):
        assert memory.available_bytes() == 400
        with pytest.raises(ValueError, match="600 bytes reserved"):
            with memory.reserve(600):
                pass
    assert memory.reserved_bytes() == 0
    with pytest.raises(RuntimeError):
        with memory.reserve(600):
            raise RuntimeError
    assert memory.reserved_bytes() == 0


def test_device_memory_for_host_arrays_is_host_memory(monkeypatch):
    monkeypatch.setenv(memory.ENV_LIMIT, str(123 << 20))  # a fixed figure, so that the two reads agree
    assert memory.device_available_bytes(np.ones(3)) == 123 << 20
    torch = pytest.importorskip("torch")
    assert memory.device_available_bytes(torch.ones(3)) == 123 << 20
    jax = pytest.importorskip("jax")
    assert memory.device_available_bytes(jax.numpy.ones(3)) == 123 << 20  # a JAX array on the CPU
    seen = []
    jax.jit(lambda a: seen.append(memory.device_available_bytes(a)) or a)(jax.numpy.ones(3))
    assert seen == [None]  # a traced value has no device yet: not checked (GPU checks: tests/test_gpu.py)


def test_small_calls_skip_the_system_reads_and_large_ones_do_not(monkeypatch):
    """Below memory.TRIVIAL_BYTES no /proc or cgroup file is read (their cost exceeds a small call's);
    above it, and whenever TCONV_MEMORY_LIMIT is set, the need is checked."""
    from tconv import memory

    reads = []
    real_room = memory.room_bytes
    monkeypatch.delenv(memory.ENV_LIMIT, raising=False)
    monkeypatch.setattr(memory, "room_bytes", lambda: reads.append(1) or 1 << 40)
    x = np.ones((1, 1, 2, 2))
    tconv.conv_transpose(x, x)
    assert reads == []
    tconv.conv_transpose(np.ones((1, 64, 64, 64)), np.ones((64, 64, 4, 4)), stride=2)
    assert len(reads) >= 1
    monkeypatch.setattr(memory, "room_bytes", real_room)
    monkeypatch.setenv(memory.ENV_LIMIT, "100")
    with pytest.raises(ValueError, match="100 bytes"):
        tconv.conv_transpose(x, x)


def _peak_of(call):
    """``call()``'s result and the bytes it allocated at most at once (its result included)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        y = call()
        return y, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


#: The kernels' index tables (a few int64 per output row: nnunet3d_up's are 0.2% of its 64 MiB output).
INDEX_TABLES = 0.01
#: Suite layers allowed more extra memory than their output, each with the reason and the bound kept.
WIDER_THAN_THE_OUTPUT = {
    # one image, 1 024 taps, one output channel: the GEMM's columns are taps / stride = 4x the 0.23 MiB output
    # (the weight alone is 18x); bounding them by the output would need an overlap-add over position chunks
    "istft": 4.5,
    # phase_winograd (Winograd F(4x4, 2x2) per phase, 0.6x gemm's time on these layers): the channels-last
    # input (0.5x the output), a chunk's transformed blocks and products (<= 8 MiB: 0.95x dcgan_3's output,
    # 1.6x dcgan_2's) and a row phase's transformed filters (dcgan_3: 0.8x; dcgan_2, one chunk: only the
    # taps and one point's filter, 0.6x); measured 2.28x and 2.69x.  A trade of memory for speed, in the
    # issue 15 notes for steering.
    "dcgan_2": 2.8,
    "dcgan_3": 2.35,
}
#: Layers where this project's machine's calibrated cost model picks another algorithm than the reference
#: constants the tests plan with: measured too.
CALIBRATED_PICKS = {"dcgan_2": "phase_winograd", "dcgan_4": "phase_winograd"}


def test_auto_needs_at_most_the_output_besides_it_on_the_suite():
    """Issue 15 goal 4: on every suite layer (full size, float32, contiguous operands), what ``auto``'s choice
    allocates besides its result stays within the result's size, give or take the kernels' index tables
    (INDEX_TABLES; the layers in WIDER_THAN_THE_OUTPUT within their stated bound), and so does what a
    calibrated machine picks instead (CALIBRATED_PICKS).  ``nooverlap`` sits at 1.00: its GEMM result is the
    uncropped output, gathered into place."""
    import json
    from importlib import resources

    layers = json.loads(resources.files("tconv").joinpath("data/suite.json").read_text())["shapes"]
    rng = np.random.default_rng(0)
    measured = {}
    for layer in layers:
        x = rng.standard_normal((layer["N"], layer["C_in"], *layer["input"]), dtype=np.float32)
        w = rng.standard_normal((layer["C_in"], layer["C_out"] // layer["groups"], *layer["kernel"]),
                                dtype=np.float32)
        kw = dict(stride=layer["stride"], padding=layer["padding"], output_padding=layer["output_padding"],
                  dilation=layer["dilation"], groups=layer["groups"])
        for algorithm in ("auto", CALIBRATED_PICKS.get(layer["name"])):
            if algorithm is None:
                continue
            tconv.conv_transpose(x[:1], w, algorithm=algorithm, **kw)  # compile, fill the caches beforehand
            y, peak = _peak_of(lambda: tconv.conv_transpose(x, w, algorithm=algorithm, **kw))
            ratio = (peak - y.nbytes) / y.nbytes
            measured[layer["name"], algorithm] = ratio
            bound = WIDER_THAN_THE_OUTPUT.get(layer["name"], 1.0) + INDEX_TABLES
            assert ratio <= bound, (layer["name"], algorithm, round(ratio, 4))
    assert len(measured) == 16 + len(CALIBRATED_PICKS), measured


def _traced_weight_grad_peak(geom, small, big, method="auto"):
    """Bytes the weight gradient with ``method`` allocated at most at once (its result included), beyond its
    operands."""
    from tconv.algorithms.weight_grad import weight_grad

    weight_grad(small, big, geom, method)  # compilation and caches first
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        dw = weight_grad(small, big, geom, method)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del dw
    return peak


@pytest.mark.parametrize("numba", ["1", "0"])
def test_weight_gradient_estimate_covers_the_measured_peak(numba, monkeypatch):
    """What ``ops.weight_gradient`` reserves for auto's kernel (``weight_grad.workspace_bytes``) covers what
    the kernel allocates, on every case, both directions, float32 and float64; with the Winograd shares
    opened every kernel auto can pick runs somewhere (counted by module)."""
    from tconv.algorithms import weight_grad as wg

    computed, kernels = 0, set()
    with _compiled_kernels(monkeypatch, numba):
        for shares in ((wg.WINOGRAD_SHARE, wg.PHASE_WINOGRAD_SHARE), (float("inf"),) * 2):  # then the tiles
            monkeypatch.setattr(wg, "WINOGRAD_SHARE", shares[0])  # wherever they are supported
            monkeypatch.setattr(wg, "PHASE_WINOGRAD_SHARE", shares[1])
            for dtype in (np.float32, np.float64):
                for case in CASES + [("window", 3, 16, 8, (1, 1), 4, 1, 0, 1, 1)]:
                    for transposed in (True, False):
                        x, w, geom = _operands(case, transposed, dtype)
                        other = np.random.default_rng(1).standard_normal(geom.result_shape).astype(dtype)
                        small, big = (x, other) if transposed else (other, x)
                        estimate = wg.workspace_bytes(geom, dtype)
                        peak = _traced_weight_grad_peak(geom, small, big)
                        assert peak <= estimate, (case[0], transposed, np.dtype(dtype).name, peak, estimate)
                        kernels.add(wg._auto_module(geom, np.dtype(dtype)).__name__.rsplit(".", 1)[1])
                        computed += 1
    assert computed == 2 * 2 * 2 * (len(CASES) + 1)
    expected = {"window", "weight_grad_numpy"} if numba == "0" else {
        "window", "depthwise", "gemm", "subpixel", "winograd", "phase_winograd"}
    assert kernels >= expected, kernels


@pytest.mark.parametrize("numba", ["1", "0"])
@pytest.mark.parametrize("method", ["im2col", "per_tap", "gemm", "subpixel", "depthwise", "winograd",
                                    "phase_winograd"])
def test_a_named_weight_gradient_is_reserved_too(method, numba, monkeypatch):
    """A weight-gradient method named explicitly is reserved like auto's: ``weight_grad.workspace_bytes(geom,
    dtype, method)`` covers what it allocates on every case (both directions, float32; where the kernel
    does not take the geometry, or runs without the compiled kernels, it falls back to the NumPy gradient,
    counted too), and ``ops.weight_gradient`` refuses it with less room."""
    from tconv.algorithms import weight_grad as wg

    computed = 0
    with _compiled_kernels(monkeypatch, numba):
        for case in CASES:
            for transposed in (True, False):
                x, w, geom = _operands(case, transposed, np.float32)
                other = np.random.default_rng(1).standard_normal(geom.result_shape).astype(np.float32)
                small, big = (x, other) if transposed else (other, x)
                estimate = wg.workspace_bytes(geom, np.float32, method)
                peak = _traced_weight_grad_peak(geom, small, big, method)
                assert peak <= estimate, (case[0], transposed, peak, estimate)
                computed += 1
    assert computed == 2 * len(CASES)
    need = wg.workspace_bytes(geom, np.float32, method) + small.nbytes + big.nbytes
    # room for the operands' copies alone (the NumPy fallback's own choice shrinks with the room: per tap)
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(small.nbytes + big.nbytes))
    with pytest.raises(ValueError, match="the weight gradient .* would need"):
        ops.weight_gradient(geom, np.asfortranarray(small), np.asfortranarray(big), method)
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(need))
    assert ops.weight_gradient(geom, np.asfortranarray(small), np.asfortranarray(big), method).shape == w.shape


@pytest.mark.parametrize("patch", ["one tile row", "one channel a block"])
def test_tile_weight_gradients_are_reserved_in_every_chunking(patch, monkeypatch):
    """The tile kernels' weight gradients (winograd, phase_winograd) named on every case they take, both
    directions, float32: the reservation covers the traced peak in chunks of one tile row (their sums and a
    part per chunk) and with phase_winograd's products one small-side channel at a time (counted)."""
    from tconv.algorithms import phase_winograd, winograd
    from tconv.algorithms import weight_grad as wg

    if patch == "one tile row":
        monkeypatch.setattr(winograd, "CHUNK_TILES", 1)
        monkeypatch.setattr(phase_winograd, "WEIGHT_CHUNK_TILES", 1)
    else:
        monkeypatch.setattr(phase_winograd, "WEIGHT_BLOCK_BYTES", 1)
    computed = {"winograd": 0, "phase_winograd": 0}
    for method, module in (("winograd", winograd), ("phase_winograd", phase_winograd)):
        for case in CASES:
            for transposed in (True, False):
                x, w, geom = _operands(case, transposed, np.float32)
                if module.unsupported(geom.convolution()):
                    continue
                other = np.random.default_rng(1).standard_normal(geom.result_shape).astype(np.float32)
                small, big = (x, other) if transposed else (other, x)
                estimate = wg.workspace_bytes(geom, np.float32, method)
                peak = _traced_weight_grad_peak(geom, small, big, method)
                assert peak <= estimate, (method, case[0], transposed, peak, estimate)
                computed[method] += 1
    assert computed["winograd"] >= 2 and computed["phase_winograd"] >= 6, computed


@pytest.mark.parametrize("chunks", ["default", "one tile row", "one channel a block"])
def test_the_shared_backward_is_reserved(chunks, monkeypatch):
    """A transposed convolution's backward from one gather (``conv_and_weight_grad`` of gemm, winograd and
    phase_winograd, as ``ops.transposed_gradients`` runs it) allocates at most what it reserves: its
    convolution's need (``planner.needed_bytes``) plus the module's ``backward_bytes``, on every case each
    module's convolution takes, float32 and float64, in the default chunks, in chunks of one tile row
    (the tile kernels' sums then add a part per chunk; phase_winograd's whole filter instead of its point
    filters) and with phase_winograd's products made one small-side channel at a time.  Counted per module."""
    from tconv.algorithms import gemm, phase_winograd, winograd
    from tconv.algorithms import weight_grad as wg

    if chunks == "one channel a block":
        monkeypatch.setattr(phase_winograd, "WEIGHT_BLOCK_BYTES", 1)
    elif chunks != "default":
        monkeypatch.setattr(winograd, "CHUNK_TILES", 1)
        monkeypatch.setattr(phase_winograd, "WEIGHT_CHUNK_TILES", 1)
        monkeypatch.setattr(gemm, "CACHE_CHUNK_BYTES", 1)
    computed = dict.fromkeys(wg.SHARED_BACKWARDS, 0)
    for name, module in wg.SHARED_BACKWARDS.items():
        algorithm = registry.get(name)
        for dtype in (np.float32, np.float64):
            for case in CASES:
                x, w, geom = _operands(case, True, dtype)
                conv_geom = geom.adjoint()
                if algorithm.unsupported(conv_geom) or geom.groups > 1:
                    continue
                gy = np.random.default_rng(1).standard_normal(geom.result_shape).astype(dtype)
                reserved = (planner.needed_bytes(conv_geom, algorithm, (gy, w))
                            + module.backward_bytes(geom, np.dtype(dtype).itemsize))
                module.conv_and_weight_grad(gy, w, x, geom)  # compilation and caches first
                tracemalloc.start()
                try:
                    tracemalloc.reset_peak()
                    base = tracemalloc.get_traced_memory()[0]
                    grads = module.conv_and_weight_grad(gy, w, x, geom)
                    peak = tracemalloc.get_traced_memory()[1] - base
                finally:
                    tracemalloc.stop()
                del grads
                assert peak <= reserved, (name, case[0], np.dtype(dtype).name, peak, reserved)
                computed[name] += 1
    assert computed["gemm"] >= 2 * 10 and computed["winograd"] >= 2 and computed["phase_winograd"] >= 2 * 3, \
        computed


def test_weight_gradient_is_refused_when_it_would_not_fit(monkeypatch):
    """``ops.weight_gradient`` (what the gradients run where the transposed backward's shared pair does not)
    asks the memory guard first: with less room than its reservation, the guard's error, and with enough
    the gradient; a Fortran-order operand's copy counts too."""
    from tconv.algorithms import weight_grad as wg

    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 8, 6, 6)), rng.standard_normal((8, 4, 3, 3))
    geom = conv_transpose_geometry(x, w, stride=2)
    gy = rng.standard_normal(geom.result_shape)
    need = wg.workspace_bytes(geom, np.float64)
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(need - 1))
    with pytest.raises(ValueError, match="the weight gradient .* would need"):
        ops.weight_gradient(geom, x, gy)
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(need))
    assert ops.weight_gradient(geom, x, gy).shape == w.shape
    with pytest.raises(ValueError, match="the weight gradient .* would need"):
        ops.weight_gradient(geom, np.asfortranarray(x), gy)  # its C-order copy does not fit beside
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(need + x.nbytes))
    np.testing.assert_array_equal(ops.weight_gradient(geom, np.asfortranarray(x), gy),
                                  ops.weight_gradient(geom, x, gy))
