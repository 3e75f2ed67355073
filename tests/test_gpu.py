"""tconv on GPU arrays: PyTorch CUDA tensors, CuPy arrays and JAX arrays on a GPU.

A non-NumPy array goes through :mod:`tconv.arrayapi` and is computed on its own device.  Checked here,
where a GPU is present (CI has none: every test here is skipped there and says why):

* every boundary mode, 1-3 d, strides, dilation, groups, asymmetric padding, bias: the GPU result equals
  tconv's NumPy path and PyTorch's own CUDA convolution (``F.pad`` + ``F.conv{n}d``; the transposed side
  is its vector-Jacobian product), and stays on the GPU in the caller's library; inputs are not modified;
* the sixteen layers of the benchmark suite at full size, float32 with TF32 off, against cuDNN; the times
  of both are printed (``-s``), never asserted;
* float16 and bfloat16 tensors (computed in float32, rounded once);
* the memory guard: a GPU array is checked against its device's free memory (JAX: its allocator's room),
  never against the host's -- a host limit of 1 KiB refuses the NumPy call and lets the GPU call run, and
  a result larger than the card is refused before anything is allocated.

``TCONV_TEST_TORCH_DEVICE=cpu`` runs the PyTorch checks on CPU tensors, to try this file where there is
no GPU (the memory-guard test still needs one).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

import numpy as np
import pytest

import tconv
from tconv.memory import device_available_bytes
from support import record_error

torch = pytest.importorskip("torch", reason="the torch CPU wheel is in the test extra")
pytest.importorskip("array_api_compat", reason="the array-API extra: pip install 'tconv[array-api]'")
from torch_boundary import MODES, cases, padded_conv  # noqa: E402
from test_real_sizes import suite_cases  # noqa: E402

F = torch.nn.functional
TORCH_DEVICE = os.environ.get("TCONV_TEST_TORCH_DEVICE", "cuda")


def _torch_ready() -> bool:
    return TORCH_DEVICE == "cpu" or torch.cuda.is_available()


def _cupy():
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # not installed, or no driver / device
        return None


def _jax_gpu():
    try:
        import jax

        return jax.devices("gpu")[0]
    except Exception:  # not installed, or no GPU backend
        return None


class Backend:
    """How one library puts a NumPy array on the GPU, brings it back, and says where an array lives."""

    def __init__(self, name: str) -> None:
        self.name = name

    def put(self, a: np.ndarray):
        if self.name == "torch":
            return torch.from_numpy(np.ascontiguousarray(a)).to(TORCH_DEVICE)
        if self.name == "cupy":
            return _cupy().asarray(a)
        import jax

        return jax.device_put(a, _jax_gpu())

    def get(self, a) -> np.ndarray:
        if self.name == "torch":
            return a.cpu().numpy()
        if self.name == "cupy":
            return _cupy().asnumpy(a)
        return np.asarray(a)

    def on_device(self, a) -> bool:
        """True when ``a`` is an array of this library on the GPU the test uses."""
        if self.name == "torch":
            return isinstance(a, torch.Tensor) and a.device.type == torch.device(TORCH_DEVICE).type
        if self.name == "cupy":
            return isinstance(a, _cupy().ndarray)
        return type(a).__module__.startswith("jax") and a.devices() == {_jax_gpu()}

    def precise(self):
        """JAX multiplies float32 matrices in TF32 on recent GPUs unless asked otherwise (a global setting of
        the caller's, which tconv follows); the comparisons ask for full float32."""
        if self.name != "jax":
            return contextlib.nullcontext()
        import jax

        return jax.default_matmul_precision("highest")

    @property
    def dtype(self):
        """The dtype compared: float64, except JAX (float32 unless x64 is switched on, a global setting)."""
        return np.float32 if self.name == "jax" else np.float64

    def free_bytes(self, a) -> int:
        """The device's free memory as the library itself reports it."""
        if self.name == "torch":
            return int(torch.cuda.mem_get_info(a.device)[0])
        if self.name == "cupy":
            return int(_cupy().cuda.runtime.memGetInfo()[0])
        stats = next(iter(a.devices())).memory_stats()
        return int(stats["bytes_limit"]) - int(stats["bytes_in_use"])


BACKENDS = [
    pytest.param("torch", marks=pytest.mark.skipif(not _torch_ready(), reason="no CUDA GPU for PyTorch")),
    pytest.param("cupy", marks=pytest.mark.skipif(_cupy() is None, reason="CuPy with a GPU is not available")),
    pytest.param("jax", marks=pytest.mark.skipif(_jax_gpu() is None, reason="JAX has no GPU backend here")),
]
TOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture(params=BACKENDS)
def backend(request) -> Backend:
    return Backend(request.param)


def _torch_oracles(case, x, w, b, y, bt):
    """PyTorch's own CUDA computation: the padded conv, and the transposed conv as its vector-Jacobian
    product (PyTorch has no transposed conv with a boundary mode), both in float64 on ``TORCH_DEVICE``."""
    def t(a, grad=False):
        return torch.tensor(a, dtype=torch.float64, device=TORCH_DEVICE, requires_grad=grad)

    with torch.no_grad():
        want_c = padded_conv(t(x), t(w), t(b), **case.hyper)
    x0 = t(np.zeros(x.shape), grad=True)
    (want_t,) = torch.autograd.grad(padded_conv(x0, t(w), None, **case.hyper), x0, t(y))
    want_t = want_t + t(bt).reshape((-1,) + (1,) * case.nd)
    return want_c.cpu().numpy(), want_t.cpu().numpy()


def test_every_mode_matches_numpy_and_torch_on_the_gpu(backend):
    """conv and conv_transpose on GPU arrays == tconv's NumPy path == PyTorch's CUDA ops, every mode."""
    compared = 0
    for i, case in enumerate(cases(401, 3, max_size=8)):
        x, w, b, y = case.arrays(i, backend.dtype)
        bt = case.transposed_bias(i, backend.dtype)
        kept = [a.copy() for a in (x, w, b, y, bt)]
        gx, gw, gb, gy, gbt = (backend.put(a) for a in (x, w, b, y, bt))
        with backend.precise():
            got_c = tconv.conv(gx, gw, gb, **case.conv_kwargs)
            got_t = tconv.conv_transpose(gy, gw, gbt, **case.conv_transpose_kwargs)
        assert backend.on_device(got_c) and backend.on_device(got_t), (type(got_c), case)
        got_c, got_t = backend.get(got_c), backend.get(got_t)
        assert got_c.dtype == backend.dtype and got_t.dtype == backend.dtype
        for a, before in zip((gx, gw, gb, gy, gbt), kept):
            np.testing.assert_array_equal(backend.get(a), before)  # the caller's arrays are untouched
        tol = TOL[backend.dtype]
        name = f"gpu {backend.name} {case.mode}"
        assert record_error(f"{name} conv vs numpy", backend.dtype, got_c, tconv.conv(x, w, b, **case.conv_kwargs)) < tol
        assert record_error(f"{name} conv_transpose vs numpy", backend.dtype, got_t,
                            tconv.conv_transpose(y, w, bt, **case.conv_transpose_kwargs)) < tol
        if backend.name == "torch":
            want_c, want_t = _torch_oracles(case, x, w, b, y, bt)
            assert record_error(f"{name} conv vs torch", backend.dtype, got_c, want_c) < tol, case
            assert record_error(f"{name} conv_transpose vs torch", backend.dtype, got_t, want_t) < tol, case
        compared += 1
    assert compared == len(MODES) * 3 * 3


def _cuda_ms(fn, repeats: int = 5) -> float:
    """Median milliseconds of ``fn()`` on the GPU (synchronised), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if TORCH_DEVICE == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if TORCH_DEVICE == "cuda":
            torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


@pytest.fixture
def no_tf32():
    """Plain float32 in cuDNN and cuBLAS (TF32 would round the products to 10 bits of mantissa)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.skipif(not _torch_ready(), reason="no CUDA GPU for PyTorch")
def test_suite_layers_at_full_size_match_cudnn(no_tf32):
    """The benchmark suite's layers (batch 1, full spatial size), float32, both directions, vs cuDNN."""
    rng = np.random.default_rng(402)
    transposed = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
    forward = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    compared, rows = 0, []
    for case in suite_cases(full=True):
        assert all(lo == hi for lo, hi in case.padding), case.name  # the suite's padding is symmetric
        pad = tuple(lo for lo, _ in case.padding)
        w = torch.tensor(rng.standard_normal((case.small_channels, case.big_channels // case.groups) + case.kernel),
                         dtype=torch.float32, device=TORCH_DEVICE)
        x = torch.tensor(rng.standard_normal((1, case.small_channels) + case.small_spatial),
                         dtype=torch.float32, device=TORCH_DEVICE)
        z = torch.tensor(rng.standard_normal((1, case.big_channels) + case.big_spatial()),
                         dtype=torch.float32, device=TORCH_DEVICE)
        hyper = dict(stride=case.stride, dilation=case.dilation, groups=case.groups)
        runs = {
            "conv_transpose": (lambda: tconv.conv_transpose(x, w, **case.kwargs("conv_transpose")),
                               lambda: transposed[case.ndim](x, w, padding=pad, output_padding=case.output_padding,
                                                             **hyper)),
            "conv": (lambda: tconv.conv(z, w, **case.kwargs("conv")),
                     lambda: forward[case.ndim](z, w, padding=pad, **hyper)),
        }
        for direction, (ours, theirs) in runs.items():
            got, want = ours(), theirs()
            assert got.device == want.device and got.dtype == torch.float32
            assert tuple(got.shape) == tuple(want.shape), (case.name, direction)
            err = record_error(f"gpu suite {direction}", np.float32, got.cpu().numpy(), want.cpu().numpy())
            assert err < 1e-4, (case.name, direction, err)
            rows.append((case.name, direction, _cuda_ms(ours), _cuda_ms(theirs), err))
            compared += 1
    assert compared == 2 * 16
    print("\nlayer          direction        tconv ms   cuDNN ms   ratio (cuDNN/tconv)   rel. error")
    for name, direction, ours_ms, theirs_ms, err in rows:
        print(f"{name:14s} {direction:15s} {ours_ms:9.3f} {theirs_ms:10.3f} {theirs_ms / ours_ms:12.3f}"
              f"          {err:.2e}")


@pytest.mark.skipif(not _torch_ready(), reason="no CUDA GPU for PyTorch")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_tensors_round_once(dtype):
    """float16 / bfloat16 compute in float32 and are rounded once: equal to the float32 result rounded."""
    rng = np.random.default_rng(403)
    x = rng.standard_normal((2, 8, 9, 7)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2)
    tdtype = getattr(torch, dtype)
    xs, ws = (torch.from_numpy(a).to(TORCH_DEVICE, tdtype) for a in (x, w))
    got = tconv.conv_transpose(xs, ws, **kw)
    assert got.dtype == tdtype and got.device.type == torch.device(TORCH_DEVICE).type
    want = tconv.conv_transpose(xs.float().cpu().numpy(), ws.float().cpu().numpy(), **kw)
    rounded = torch.from_numpy(want).to(tdtype).float().numpy()
    ulp = float(torch.finfo(tdtype).eps)  # one unit in the last place, relative
    np.testing.assert_allclose(got.float().cpu().numpy(), rounded, rtol=ulp, atol=1e-5 * np.abs(want).max())


def test_memory_guard_checks_the_device_not_the_host(backend, monkeypatch):
    """A GPU array is checked against its device's free memory, never the host's."""
    if backend.name == "torch" and TORCH_DEVICE != "cuda":
        pytest.skip("needs a GPU")
    rng = np.random.default_rng(404)
    x, w = rng.standard_normal((1, 4, 64, 64)).astype(np.float32), rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    gx, gw = backend.put(x), backend.put(w)
    free, seen = backend.free_bytes(gx), device_available_bytes(gx)
    assert seen is not None and abs(seen - free) <= 256 * 2**20, (seen, free)
    want = tconv.conv_transpose(x, w, stride=2)
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", "1024")  # the host has 1 KiB
    with pytest.raises(ValueError, match="memory"):
        tconv.conv_transpose(x, w, stride=2)  # the NumPy call is refused: the host limit is in force
    with backend.precise():
        got = tconv.conv_transpose(gx, gw, stride=2)  # the GPU call runs: it is checked against the device
    assert backend.on_device(got)
    np.testing.assert_allclose(backend.get(got), want, rtol=0, atol=2e-5 * np.abs(want).max())
    monkeypatch.delenv("TCONV_MEMORY_LIMIT")
    before = backend.free_bytes(gx)
    tiny = backend.put(np.ones((1, 1, 64, 64), np.float32))
    one = backend.put(np.ones((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"TiB"):  # (64 * 8192)^2 outputs of 4 bytes: 1 TiB, more than any card
        tconv.conv_transpose(tiny, one, stride=8192)
    assert backend.free_bytes(gx) >= before - 64 * 2**20  # refused before anything large was allocated
