"""Array-API inputs: PyTorch tensors in -> PyTorch tensors out (equal to torch.nn.functional), the strict
array-API reference namespace, JAX when installed, the GPU paths when a GPU is there; NumPy unaffected."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv
from support import assert_close, configs

torch = pytest.importorskip("torch", reason="the torch CPU wheel is in the test extra")
pytest.importorskip("array_api_compat", reason="the array-api extra: pip install 'tconv[array-api]'")
from torch_oracle import torch_conv, torch_conv_transpose  # noqa: E402

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}





# ---------------------------------------------------------------------------
# PyTorch CPU tensors


def _tensors(*arrays, track_grad: bool):
    """Torch tensors sharing the arrays' memory; with ``track_grad`` they require a gradient, which keeps the
    call on torch's own operations (the portable path) instead of the NumPy operator."""
    return tuple(None if a is None else torch.from_numpy(a).requires_grad_(track_grad) for a in arrays)


@settings(max_examples=150)
@given(cfg=configs(), use_bias=st.booleans(), track_grad=st.booleans())
def test_torch_conv_transpose_returns_torch_equal_to_functional(cfg, use_bias, track_grad):
    x, w, b = cfg.arrays()
    b = b if use_bias else None
    tx, tw, tb = _tensors(x, w, b, track_grad=track_grad)
    got = tconv.conv_transpose(tx, tw, tb, **cfg.transpose_kwargs())
    assert isinstance(got, torch.Tensor) and got.requires_grad == track_grad
    got = got.detach()
    assert got.dtype == TORCH_DTYPES[cfg.dtype] and got.device.type == "cpu"
    assert_close(got.numpy(), torch_conv_transpose(x, w, b, **cfg.transpose_kwargs()), cfg.dtype)
    assert np.array_equal(tx.detach().numpy(), x)  # input untouched


@settings(max_examples=150)
@given(cfg=configs(), extra=st.integers(0, 3), use_bias=st.booleans(), track_grad=st.booleans())
def test_torch_conv_returns_torch_equal_to_functional(cfg, extra, use_bias, track_grad):
    x, w, b = cfg.conv_problem(extra)
    b = b if use_bias else None
    got = tconv.conv(*_tensors(x, w, b, track_grad=track_grad), **cfg.conv_kwargs())
    assert isinstance(got, torch.Tensor) and got.dtype == TORCH_DTYPES[cfg.dtype]
    got = got.detach()
    assert_close(got.numpy(), torch_conv(x, w, b, **cfg.conv_kwargs()), cfg.dtype)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_torch_unbatched_string_padding_and_output_size():
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    got = tconv.conv_transpose(x, w, stride=2, padding="same")
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == (2, 14, 10)
    assert_close(got.numpy(), tconv.conv_transpose(x.numpy(), w.numpy(), stride=2, padding="same"), "float64")
    got = tconv.conv_transpose(x, w, stride=2, output_size=(16, 12))
    want = torch.nn.functional.conv_transpose2d(x[None], w, stride=2, output_padding=1)[0]
    assert_close(got.numpy(), want.numpy(), "float64")
    wc = torch.randn(4, 3, 3, 2, dtype=torch.float64)
    got = tconv.conv(x, wc, padding="same")
    assert_close(got.numpy(), torch.nn.functional.conv2d(x, wc, padding="same").numpy(), "float64")


def test_torch_mixed_with_numpy_weight_and_dtypes():
    x = torch.randn(1, 2, 6)
    w = np.random.default_rng(0).standard_normal((2, 3, 3))  # float64 NumPy weight joins x's namespace
    got = tconv.conv_transpose(x, w, stride=2)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    xi = torch.arange(12).reshape(1, 2, 6)  # integers only: the library's default float (torch: float32)
    got = tconv.conv_transpose(xi, torch.ones(2, 1, 2, dtype=torch.int64))
    assert got.dtype == torch.float32
    assert_close(got.numpy(), tconv.conv_transpose(xi.numpy(), np.ones((2, 1, 2))), "float32")
    xh = torch.randn(1, 2, 6).half()
    got = tconv.conv_transpose(xh, torch.randn(2, 1, 3).half())
    assert got.dtype == torch.float16


def test_torch_autograd_flows_through():
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    tconv.conv_transpose(x, w, stride=2, padding=1).square().sum().backward()
    gx, gw = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    torch.nn.functional.conv_transpose2d(x, w, stride=2, padding=1).square().sum().backward()
    assert_close(gx.numpy(), x.grad.numpy(), "float64")
    assert_close(gw.numpy(), w.grad.numpy(), "float64")


def test_cpu_tensors_outside_autograd_run_the_numpy_operator(monkeypatch):
    """Plain CPU tensors (and any under torch.no_grad) are read in place by the NumPy operator, its fast
    algorithms included; a tensor that requires a gradient keeps torch's operations (the portable path).
    The result is a tensor sharing the NumPy result's memory, equal to torch's own operator."""
    from tconv import arrayapi

    calls = []
    real = arrayapi.portable_conv_transpose
    monkeypatch.setattr(arrayapi, "portable_conv_transpose", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(11)
    x = torch.from_numpy(rng.standard_normal((2, 64, 12, 12)).astype(np.float32))
    w = torch.from_numpy(rng.standard_normal((64, 32, 4, 4)).astype(np.float32))
    want = torch.nn.functional.conv_transpose2d(x, w, stride=2, padding=1)
    cases = 0
    for tensor_w, grad_mode, portable in ((w, True, False), (w.clone().requires_grad_(), False, False),
                                          (w.clone().requires_grad_(), True, True)):
        calls.clear()
        with torch.set_grad_enabled(grad_mode):
            got = tconv.conv_transpose(x, tensor_w, stride=2, padding=1)
        assert bool(calls) == portable
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
        assert_close(got.detach().numpy(), want.numpy(), "float32")
        cases += 1
    xt = x.transpose(2, 3)  # a strided view is read as such
    assert_close(tconv.conv_transpose(xt, w, stride=2).numpy(),
                 torch.nn.functional.conv_transpose2d(xt, w, stride=2).numpy(), "float32")
    assert cases == 3


def test_autograd_on_the_portable_path_counts_what_it_keeps():
    """Under autograd the portable path keeps one window per kernel tap for backward: a call whose windows
    would not fit is refused with the size, before anything is allocated (it was killed by the OOM killer:
    fcn32s, 64x64 taps on 2 images, ~200 GB); the same call outside autograd runs."""
    x = torch.zeros(2, 21, 10, 15)
    w = torch.zeros(21, 21, 64, 64, requires_grad=True)
    with pytest.raises(ValueError, match=r"under autograd .* autograd keeps for backward.*would need \d+ bytes"):
        tconv.conv_transpose(x, w, stride=32, padding=16)
    with torch.no_grad():
        assert tuple(tconv.conv_transpose(x, w, stride=32, padding=16).shape) == (2, 21, 320, 480)


def test_sparse_torch_tensors_are_refused_by_name():
    with pytest.raises(TypeError, match=r"x is a torch.sparse_coo torch tensor; expected a dense"):
        tconv.conv_transpose(torch.randn(1, 2, 5).to_sparse(), torch.randn(2, 1, 3))


def test_numpy_only_algorithms_are_refused_for_torch():
    with pytest.raises(ValueError, match="algorithm must be 'auto' or 'direct'"):
        tconv.conv_transpose(torch.ones(1, 1, 3), torch.ones(1, 1, 2), algorithm="gemm")
    got = tconv.conv_transpose(torch.ones(1, 1, 3), torch.ones(1, 1, 2), algorithm="direct")
    assert got.tolist() == [[[1.0, 2.0, 2.0, 1.0]]]


def test_validation_errors_are_the_same_as_numpy():
    with pytest.raises(ValueError, match=r"output_padding \(2\) must be smaller than stride \(2\)"):
        tconv.conv_transpose(torch.ones(1, 1, 3), torch.ones(1, 1, 2), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="weight must have shape"):
        tconv.conv(torch.ones(1, 2, 3), torch.ones(1, 3, 2))


# ---------------------------------------------------------------------------
# unsupported types, NumPy unaffected


class _NotAnArray:
    pass


@pytest.mark.parametrize("bad", [{"a": 1}, {1.0, 2.0}, _NotAnArray(), "abc"])
def test_unsupported_types_raise_type_error(bad):
    with pytest.raises(TypeError, match="x"):
        tconv.conv_transpose(bad, np.ones((1, 1, 2)))
    with pytest.raises(TypeError, match="weight"):
        tconv.conv(np.ones((1, 1, 4)), bad)


def test_scipy_sparse_matrix_is_an_unsupported_array_type():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="not a supported array type"):
        tconv.conv_transpose(scipy_sparse.csr_matrix(np.ones((2, 3))), np.ones((2, 1, 2)))


def test_mixed_libraries_and_bad_dtypes_raise_type_error():
    xs = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="arrays of one library"):
        tconv.conv_transpose(torch.ones(1, 1, 3), xs.ones((1, 1, 2)))
    with pytest.raises(TypeError, match="x has complex dtype"):
        tconv.conv_transpose(torch.ones(1, 1, 3, dtype=torch.complex64), torch.ones(1, 1, 2))
    with pytest.raises(TypeError, match="weight has dtype bool"):
        tconv.conv(torch.ones(1, 1, 3), torch.ones(1, 1, 2, dtype=torch.bool))


def test_an_unknown_array_like_library_is_refused(monkeypatch):
    import tconv.arrayapi as aa

    class Fake:
        __module__ = "mlx.core"

    with pytest.raises(TypeError, match="not a supported array type"):
        tconv.conv_transpose(Fake(), np.ones((1, 1, 2)))
    monkeypatch.setitem(sys.modules, "array_api_compat", None)
    with pytest.raises(ImportError, match=r"tconv\[array-api\]"):
        aa.conv_transpose(torch.ones(1, 1, 3), torch.ones(1, 1, 2), algorithm="auto")


def test_numpy_path_is_unchanged_and_needs_no_array_api_compat():
    code = (
        "import sys, numpy as np, tconv\n"
        "y = tconv.conv_transpose(np.ones((1, 1, 3)), np.ones((1, 1, 2)), stride=2)\n"
        "z = tconv.conv(np.ones((1, 1, 3)), np.ones((1, 1, 2)))\n"
        "assert type(y) is np.ndarray and type(z) is np.ndarray, (type(y), type(z))\n"
        "assert 'array_api_compat' not in sys.modules and 'torch' not in sys.modules\n"
        "print(y.tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]]"


# ---------------------------------------------------------------------------
# the strict array-API namespace: proves the portable algorithm uses standard operations only


@settings(max_examples=80)
@given(cfg=configs(), use_bias=st.booleans(), transposed=st.booleans(), extra=st.integers(0, 2))
def test_strict_array_api_namespace_equals_numpy(cfg, use_bias, transposed, extra):
    xs = pytest.importorskip("array_api_strict")
    if transposed:
        x, w, b = cfg.arrays()
        op, kw = tconv.conv_transpose, cfg.transpose_kwargs()
    else:
        x, w, b = cfg.conv_problem(extra)
        op, kw = tconv.conv, cfg.conv_kwargs()
    b = b if use_bias else None
    got = op(xs.asarray(x), xs.asarray(w), None if b is None else xs.asarray(b), **kw)
    assert type(got).__module__.startswith("array_api_strict")
    want = op(x, w, b, **kw)
    got = np.from_dlpack(got)
    assert got.dtype == want.dtype
    assert_close(got, want, cfg.dtype)


# ---------------------------------------------------------------------------
# JAX (when installed), Dask, GPUs (when present)


def test_jax_arrays_stay_jax():
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    got = tconv.conv_transpose(jnp.asarray(x), jnp.asarray(w), stride=(2, 1), padding=((1, 0), (0, 1)))
    assert type(got).__module__.startswith("jax")
    assert_close(np.asarray(got), tconv.conv_transpose(x, w, stride=(2, 1), padding=((1, 0), (0, 1))), "float32")
    wc = rng.standard_normal((3, 2, 2, 2)).astype(np.float32)
    got = tconv.conv(jnp.asarray(x), jnp.asarray(wc), stride=2, padding=1)
    assert_close(np.asarray(got), tconv.conv(x, wc, stride=2, padding=1), "float32")


def test_concrete_jax_arrays_run_the_numpy_operator_and_tracers_stay_jax(monkeypatch):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from tconv import arrayapi

    calls = []
    real = arrayapi.portable_conv
    monkeypatch.setattr(arrayapi, "portable_conv", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    want = tconv.conv(x, w, stride=2, padding=1)
    got = tconv.conv(jnp.asarray(x), jnp.asarray(w), stride=2, padding=1)
    assert not calls and type(got).__module__.startswith("jax")
    assert_close(np.asarray(got), want, "float32")
    jitted = jax.jit(lambda a, b: tconv.conv(a, b, stride=2, padding=1))
    assert_close(np.asarray(jitted(jnp.asarray(x), jnp.asarray(w))), want, "float32")
    assert calls  # traced: JAX's own operations
    grad = jax.grad(lambda a: tconv.conv(a, jnp.asarray(w), stride=2, padding=1).sum())(jnp.asarray(x))
    assert grad.shape == x.shape


def test_dask_arrays_go_to_tconv_distributed():
    da = pytest.importorskip("dask.array")
    x = np.random.default_rng(8).standard_normal((1, 2, 9))
    w = np.ones((2, 1, 3))
    got = tconv.conv_transpose(da.from_array(x, chunks=(1, 2, 4)), w, stride=2)
    assert isinstance(got, da.Array)
    assert_close(got.compute(), tconv.conv_transpose(x, w, stride=2), "float64")


def _cuda_torch() -> bool:
    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda_torch(), reason="no CUDA GPU: the torch-CUDA path is checked only where one exists")
def test_torch_cuda_tensors_stay_on_the_gpu():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 9, 7))
    w = rng.standard_normal((3, 2, 4, 3))
    kw = dict(stride=(2, 3), padding=((1, 2), 1), output_padding=(1, 0), dilation=(1, 2))
    got = tconv.conv_transpose(torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda(), **kw)
    assert got.is_cuda
    assert_close(got.cpu().numpy(), tconv.conv_transpose(x, w, **kw), "float64")
    got = tconv.conv(torch.from_numpy(x).cuda(), torch.from_numpy(w.transpose(1, 0, 2, 3).copy()).cuda(), stride=2)
    assert got.is_cuda


def _cupy():
    try:
        import cupy
        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # not installed, or no driver / device
        return None


@pytest.mark.skipif(_cupy() is None, reason="CuPy with a GPU is not available: the CuPy path is checked only there")
def test_cupy_arrays_stay_on_the_gpu():
    cp = _cupy()
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 4, 6, 5, 4))
    w = rng.standard_normal((4, 1, 3, 3, 2))
    kw = dict(stride=2, padding=((0, 1), 1, (2, 0)), groups=2)
    got = tconv.conv_transpose(cp.asarray(x), cp.asarray(w), **kw)
    assert isinstance(got, cp.ndarray)
    assert_close(cp.asnumpy(got), tconv.conv_transpose(x, w, **kw), "float64")


@pytest.mark.parametrize("transposed", [True, False])
def test_layers_take_and_return_torch_tensors(transposed):
    """tconv.nn layers: torch in -> torch out (forward and backward), equal to torch.nn.functional + autograd."""
    import tconv.nn as nn

    layer = (nn.ConvTranspose2d if transposed else nn.Conv2d)(3, 4, 3, stride=2, padding=1, seed=0)
    x = torch.randn(2, 3, 5, 6, requires_grad=True)  # float32, the layer's default dtype
    y = layer(x.detach())
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    f = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
    w = torch.from_numpy(np.asarray(layer.weight)).requires_grad_()
    b = torch.from_numpy(np.asarray(layer.bias)).requires_grad_()
    ref = f(x, w, b, stride=2, padding=1)
    torch.testing.assert_close(y, ref.detach(), rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    ref.backward(g)
    gx = layer.backward(g)
    assert isinstance(gx, torch.Tensor)
    torch.testing.assert_close(gx, x.grad, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.weight_grad, w.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.bias_grad, b.grad.numpy(), rtol=1e-4, atol=1e-4)
