"""Gradients of conv_transpose / conv against torch.autograd and against finite differences."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv
from support import (assert_close, configs, depthwise_configs, phase_winograd_configs, record_error, require_algorithm,
                     winograd_configs)
from torch_autograd import conv_grads, conv_transpose_grads
from tconv.algorithms.weight_grad import weight_grad
from tconv.params import conv_geometry, conv_transpose_geometry

def _record(op, dtype, got, want):
    for name, g, w in zip(("input", "weight", "bias"), got, want):
        if w is None:
            assert g is None
            continue
        assert g.dtype == np.dtype(dtype), f"grad_{name} dtype {g.dtype} != {dtype}"
        assert_close(g, w, dtype)
        record_error(f"{op} backward (grad_{name})", dtype, g, w)





@given(cfg=configs(), use_bias=st.booleans())
def test_conv_transpose_backward_matches_torch(cfg, use_bias):
    x, w, b = cfg.arrays()
    y = tconv.conv_transpose(x, w, b, **cfg.transpose_kwargs())
    gy = np.random.default_rng(cfg.seed + 7).standard_normal(y.shape).astype(cfg.dtype)
    got = tconv.conv_transpose_backward(gy, x, w, bias=use_bias, **cfg.transpose_kwargs())
    want = conv_transpose_grads(gy, x, w, b if use_bias else None, **cfg.transpose_kwargs())
    _record("conv_transpose", cfg.dtype, got, want)


@settings(max_examples=60, deadline=None)
@given(cfg=configs(), chunk=st.sampled_from([1, 1 << 12, 4 << 20]), batched=st.booleans())
def test_shared_columns_backward_matches_torch(cfg, chunk, batched):
    """A transposed convolution's two gradients from one im2col of the output gradient (gemm's
    ``conv_and_weight_grad``: each chunk's columns feed the input gradient's convolution and the weight
    gradient), chunks of one image to all, groups, 1-3 d, unbatched: against torch.autograd; every example
    runs the shared path (counted), the others are drawn again."""
    from hypothesis import assume

    from tconv.algorithms import gemm, jit, weight_grad
    from tconv.algorithms.weight_grad import shared_backward

    x, w, _ = cfg.arrays()
    geom = conv_transpose_geometry(x, w, **cfg.transpose_kwargs())
    assume(jit.available(x.dtype) and shared_backward(geom, x.dtype) == "gemm" and geom.direct)
    # the drawn chunk changes gemm's predicted cost (more chunks or slabs), not the weight gradient's choice
    # made without it (the assumption above): the other kernels' "wins" are held off
    keep = [(weight_grad, name, lambda g: False) for name in ("blocks_win", "winograd_wins", "phase_winograd_wins")]
    _check_shared_backward(cfg, batched, gemm,
                           [(gemm, "CACHE_CHUNK_BYTES", chunk), (gemm, "MIN_CONV_COLUMNS", 1)] + keep)


def _clear_chunk_caches() -> None:
    """Forget gemm's chunk and slab sizes, computed from module constants the tests patch."""
    from tconv.algorithms import gemm

    gemm.conv_chunk_images.cache_clear()
    gemm.conv_slabs.cache_clear()


def _check_shared_backward(cfg, batched: bool, module, patches: list) -> None:
    """``cfg``'s transposed convolution's gradients by ``grad.backward`` with the algorithm of ``module``
    (``gemm`` or ``winograd``) named, under ``patches`` (``(target, attribute, value)``): the module's shared
    ``conv_and_weight_grad`` runs once (counted); against torch.autograd, batched or one unbatched image."""
    from tconv import grad

    x, w, b = cfg.arrays()
    gy = np.random.default_rng(cfg.seed + 7).standard_normal(
        conv_transpose_geometry(x, w, **cfg.transpose_kwargs()).result_shape).astype(cfg.dtype)
    if not batched:
        x, gy = x[:1], gy[:1]
    want = conv_transpose_grads(gy, x, w, b, **cfg.transpose_kwargs())
    if not batched:
        x, gy = x[0], gy[0]
    geom = conv_transpose_geometry(x, w, **cfg.transpose_kwargs())
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        for target, attribute, value in patches:
            mp.setattr(target, attribute, value)
        mp.setattr(module, "conv_and_weight_grad",
                   lambda *a, _o=module.conv_and_weight_grad: (calls.append(1), _o(*a))[1])
        _clear_chunk_caches()  # the patched sizes take effect (and do not outlive the patches)
        got = grad.backward(geom, gy, x, w, bias=True, algorithm=module.__name__.rsplit(".", 1)[1])
    _clear_chunk_caches()
    assert calls == [1]
    if not batched:
        got = (got[0][np.newaxis],) + got[1:]
    _record("conv_transpose", cfg.dtype, got, want)


def test_shared_columns_backward_at_layer_size(monkeypatch):
    """The public ``conv_transpose_backward`` takes the shared im2col on a DCGAN-type layer with the 5x5 kernels
    of DCGAN's first implementation (auto plans gemm for its input gradient): against torch.autograd."""
    from tconv.algorithms import gemm

    calls = []
    monkeypatch.setattr(gemm, "conv_and_weight_grad", lambda *a, _o=gemm.conv_and_weight_grad: (calls.append(1), _o(*a))[1])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 128, 8, 8)).astype(np.float32)
    w = rng.standard_normal((128, 64, 5, 5)).astype(np.float32) * 0.05
    kw = dict(stride=2, padding=2, output_padding=1, dilation=1, groups=1)
    gy = rng.standard_normal((4, 64, 16, 16)).astype(np.float32)
    got = tconv.conv_transpose_backward(gy, x, w, **kw)
    assert calls == [1]
    pairs = dict(stride=(2, 2), padding=((2, 2), (2, 2)), output_padding=(1, 1), dilation=(1, 1), groups=1)
    _record("conv_transpose", np.float32, got, conv_transpose_grads(gy, x, w, np.zeros(64, np.float32), **pairs))


@given(cfg=configs(), extra=st.integers(0, 3), use_bias=st.booleans())
def test_conv_backward_matches_torch(cfg, extra, use_bias):
    x, w, b = cfg.conv_problem(extra)
    y = tconv.conv(x, w, b, **cfg.conv_kwargs())
    gy = np.random.default_rng(cfg.seed + 7).standard_normal(y.shape).astype(cfg.dtype)
    got = tconv.conv_backward(gy, x, w, bias=use_bias, **cfg.conv_kwargs())
    want = conv_grads(gy, x, w, b if use_bias else None, **cfg.conv_kwargs())
    _record("conv", cfg.dtype, got, want)


@settings(max_examples=100)
@given(cfg=configs(max_batch=2))
def test_weight_grad_methods_agree(cfg):
    """The im2col GEMM, the per-tap products, auto (compiled: chunked im2col) and subpixel's blocks (compiled:
    chunked space to depth) give the same weight gradient, in chunks of one image or of many."""
    x, w, _ = cfg.arrays()
    x, w = x.astype(np.float64), w.astype(np.float64)
    geom = conv_transpose_geometry(x, w, **cfg.transpose_kwargs())
    gy = np.random.default_rng(cfg.seed).standard_normal(geom.result_shape)
    a = weight_grad(x, gy, geom, method="im2col")
    b = weight_grad(x, gy, geom, method="per_tap")
    assert a.shape == w.shape
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    from tconv.algorithms import blockconv, gemm

    for chunk in (1, 4 << 20):  # auto: the compiled chunked im2col where numba is installed
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(gemm, "CACHE_CHUNK_BYTES", chunk)
            mp.setattr(gemm, "MIN_CONV_COLUMNS", 1)
            mp.setattr(blockconv, "CHUNK_BYTES", chunk)
            np.testing.assert_allclose(weight_grad(x, gy, geom), a, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(weight_grad(x, gy, geom, method="subpixel"), a, rtol=1e-12, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(cfg=depthwise_configs(), dtype=st.sampled_from([np.float32, np.float64]), threads=st.sampled_from(["1", "2"]),
       planes_from=st.sampled_from([1, 64, 1 << 30]))
def test_depthwise_weight_gradient_matches_im2col(cfg, dtype, threads, planes_from):
    """``depthwise``'s compiled per-channel weight gradient (auto's pick with one channel per group: the row
    kernel, or in 2-D the phase planes), both directions, 1-3 d, channels split over one or two threads:
    against the float64 im2col GEMM; counted."""
    from tconv.algorithms import depthwise, depthwise_planes, jit, window

    if not jit.available(dtype):
        pytest.skip("the compiled kernels are switched off")
    x, w = (a.astype(np.float64) for a in cfg.arrays()[:2])
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TCONV_NUM_THREADS", threads)
        for module, name in ((depthwise, "_depthwise_weight_rows"), (depthwise_planes, "_conv_planes")):
            original = getattr(module, name)
            mp.setattr(module, name, lambda *a, _o=original: (calls.append(1), _o(*a))[1])
        mp.setattr(depthwise, "PLANES_FROM_POSITIONS", planes_from)
        for transposed in (True, False):
            if transposed:
                geom = conv_transpose_geometry(x, w, **cfg.transpose_kwargs())
                small = x
                big = np.random.default_rng(cfg.seed).standard_normal(geom.result_shape)
            else:
                big, _, _ = cfg.conv_problem()
                big = big.astype(np.float64)
                geom = conv_geometry(big, w, **cfg.conv_kwargs())
                small = np.random.default_rng(cfg.seed).standard_normal(geom.result_shape)
            want = weight_grad(small, big, geom, method="im2col")
            before = len(calls)
            got = weight_grad(small.astype(dtype), big.astype(dtype), replace(geom, dtype=np.dtype(dtype)))
            assert got.dtype == dtype and got.shape == w.shape
            assert_close(got, want, dtype)
            assert len(calls) > before or window.whole_window(geom)  # the one-window GEMM comes first


def _fd_check(f, args, grads, rng, eps=1e-6):
    """Central differences along a random direction for each argument: <grad, d> == (f(a+eps d) - f(a-eps d)) / 2eps."""
    for i, (a, g) in enumerate(zip(args, grads)):
        if a is None:
            continue
        d = rng.standard_normal(a.shape)
        plus = list(args)
        minus = list(args)
        plus[i], minus[i] = a + eps * d, a - eps * d
        numeric = (f(*plus) - f(*minus)) / (2 * eps)
        analytic = float(np.sum(g * d))
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (i, numeric, analytic)


@settings(max_examples=60)
@given(cfg=configs(max_batch=2))
def test_conv_transpose_backward_finite_differences(cfg):
    x, w, b = (a.astype(np.float64) for a in cfg.arrays())
    kw = cfg.transpose_kwargs()
    y = tconv.conv_transpose(x, w, b, **kw)
    gy = np.random.default_rng(cfg.seed + 3).standard_normal(y.shape)
    grads = tconv.conv_transpose_backward(gy, x, w, **kw)
    _fd_check(lambda x_, w_, b_: float(np.sum(gy * tconv.conv_transpose(x_, w_, b_, **kw))), (x, w, b), grads,
              np.random.default_rng(cfg.seed))


@settings(max_examples=60)
@given(cfg=configs(max_batch=2), extra=st.integers(0, 3))
def test_conv_backward_finite_differences(cfg, extra):
    x, w, b = (a.astype(np.float64) for a in cfg.conv_problem(extra))
    kw = cfg.conv_kwargs()
    y = tconv.conv(x, w, b, **kw)
    gy = np.random.default_rng(cfg.seed + 3).standard_normal(y.shape)
    grads = tconv.conv_backward(gy, x, w, **kw)
    _fd_check(lambda x_, w_, b_: float(np.sum(gy * tconv.conv(x_, w_, b_, **kw))), (x, w, b), grads,
              np.random.default_rng(cfg.seed))


def test_chapter_example_gradients():
    """y = trans_conv(X, K): every input meets all four taps, every tap all four inputs."""
    X = np.array([[[[0.0, 1], [2, 3]]]])
    K = np.array([[[[0.0, 1], [2, 3]]]])
    gx, gw, gb = tconv.conv_transpose_backward(np.ones((1, 1, 3, 3)), X, K)
    np.testing.assert_array_equal(gx, np.full((1, 1, 2, 2), 6.0))
    np.testing.assert_array_equal(gw, np.full((1, 1, 2, 2), 6.0))
    np.testing.assert_array_equal(gb, [9.0])


def test_unbatched_and_padding_modes():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 3, 3, 2))
    for padding in ("same", "valid", ((1, 0), (0, 2))):
        kw = dict(stride=2, padding=padding)
        y = tconv.conv_transpose(x, w, **kw)
        gy = rng.standard_normal(y.shape)
        gx, gw, gb = tconv.conv_transpose_backward(gy, x, w, **kw)
        bx, bw, bb = tconv.conv_transpose_backward(gy[None], x[None], w, **kw)
        np.testing.assert_allclose(gx, bx[0], rtol=1e-12)
        np.testing.assert_allclose(gw, bw, rtol=1e-12)
        np.testing.assert_allclose(gb, bb, rtol=1e-12)
        assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == (3,)
    xc = rng.standard_normal((3, 7, 6))
    kw = dict(stride=2, padding="same")
    gy = rng.standard_normal(tconv.conv(xc, w, **kw).shape)
    gx, gw, gb = tconv.conv_backward(gy, xc, w, **kw)
    bx, bw, _ = tconv.conv_backward(gy[None], xc[None], w, **kw)
    np.testing.assert_allclose(gx, bx[0], rtol=1e-12)
    np.testing.assert_allclose(gw, bw, rtol=1e-12)


def test_dtypes_and_inputs_untouched():
    x = np.arange(6).reshape(1, 2, 3)  # integers compute in float64
    w = np.ones((2, 1, 2), dtype=np.float32)
    gy = np.ones((1, 1, 4), dtype=np.float32)
    copies = [a.copy() for a in (gy, x, w)]
    gx, gw, gb = tconv.conv_transpose_backward(gy, x, w, groups=1)
    assert gx.dtype == gw.dtype == gb.dtype == np.float64
    for a, c in zip((gy, x, w), copies):
        np.testing.assert_array_equal(a, c)
    gx, gw, gb = tconv.conv_transpose_backward(gy, x.astype(np.float32), w, bias=False)
    assert gx.dtype == gw.dtype == np.float32 and gb is None


def test_empty_batch():
    x, w = np.zeros((0, 2, 3, 3)), np.ones((2, 4, 2, 2))
    gx, gw, gb = tconv.conv_transpose_backward(np.zeros((0, 4, 6, 6)), x, w, stride=2)
    assert gx.shape == x.shape and not gw.any() and gw.shape == w.shape and gb.shape == (4,) and not gb.any()
    gx, gw, gb = tconv.conv_backward(np.zeros((0, 4, 3, 3)), np.zeros((0, 2, 6, 6)), np.ones((4, 2, 2, 2)), stride=2)
    assert gx.shape == (0, 2, 6, 6) and gw.shape == (4, 2, 2, 2) and not gw.any()


def test_bad_input():
    x, w = np.ones((1, 2, 3)), np.ones((2, 1, 2))
    with pytest.raises(ValueError, match=r"grad_output must have the shape .*\(1, 1, 4\)"):
        tconv.conv_transpose_backward(np.ones((1, 1, 5)), x, w)
    with pytest.raises(ValueError, match="grad_output must have the shape"):
        tconv.conv_backward(np.ones((1, 2, 2)), x, np.ones((1, 2, 2)))
    with pytest.raises(TypeError, match="grad_output"):
        tconv.conv_backward(np.array([["a"]]), x, w)
    with pytest.raises(TypeError, match="bias must be True or False"):
        tconv.conv_transpose_backward(np.ones((1, 1, 4)), x, w, bias=np.ones(1))
    with pytest.raises(ValueError, match="output_padding"):
        tconv.conv_transpose_backward(np.ones((1, 1, 4)), x, w, output_padding=1)
    with pytest.raises(ValueError, match="method"):
        weight_grad(x, x, conv_geometry(x, np.ones((2, 2, 1))), method="bogus")


def test_docstring_examples():
    import doctest

    import tconv.grad

    result = doctest.testmod(tconv.grad)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.slow
@settings(max_examples=2000)
@given(cfg=configs(), use_bias=st.booleans())
def test_conv_transpose_backward_matches_torch_thorough(cfg, use_bias):
    test_conv_transpose_backward_matches_torch.hypothesis.inner_test(cfg, use_bias)


@pytest.mark.slow
@settings(max_examples=2000)
@given(cfg=configs(), extra=st.integers(0, 3), use_bias=st.booleans())
def test_conv_backward_matches_torch_thorough(cfg, extra, use_bias):
    test_conv_backward_matches_torch.hypothesis.inner_test(cfg, extra, use_bias)



@settings(max_examples=60, deadline=None)
@given(cfg=winograd_configs(), transposed=st.booleans(), dtype=st.sampled_from(["float32", "float64"]))
def test_winograd_weight_gradient_matches_torch(cfg, transposed, dtype):
    """The weight gradient in Winograd tiles (``winograd.weight_grad``: the 6x6 blocks of the big side, the
    4x4 blocks of the small side, 36 GEMMs over the tiles), both directions, partial tiles and any padding:
    by name and through ``ops.weight_gradient`` with auto sent to it, against torch.autograd in float64."""
    from tconv.algorithms import winograd

    _check_tile_weight_gradient(winograd, cfg, transposed, dtype)


#: The weight gradient's thresholds for the tile kernels (``tconv.algorithms.weight_grad``): opened, auto sends
#: every geometry the tiles support to them.
TILE_SHARES = ("WINOGRAD_SHARE", "PHASE_WINOGRAD_SHARE")


def _check_tile_weight_gradient(module, cfg, transposed: bool, dtype: str, patches: tuple = ()) -> None:
    """``module``'s (``winograd`` or ``phase_winograd``) weight gradient in its tiles on ``cfg``'s layer, under
    ``patches`` (``(target, attribute, value)``): by name and through ``ops.weight_gradient`` with auto sent
    to the tiles, against torch.autograd in float64; the tiles' sums counted (auto takes the one-window GEMM
    and the one-channel sums first)."""
    from tconv import ops
    from tconv.algorithms import depthwise, window
    from tconv.algorithms import weight_grad as wg

    name = module.__name__.rsplit(".", 1)[1]
    require_algorithm(name)
    geom, small, big, want = _weight_gradient_problem(replace(cfg, dtype=dtype), transposed, dtype)
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        for share in TILE_SHARES:  # auto sends every supported geometry to the tiles
            mp.setattr(wg, share, float("inf"))
        for target, attribute, value in patches:
            mp.setattr(target, attribute, value)
        mp.setattr(module._WeightTiles, "result",
                   lambda self, *args, _o=module._WeightTiles.result: (calls.append(1), _o(self, *args))[1])
        for got in (wg.weight_grad(small, big, geom, method=name), ops.weight_gradient(geom, small, big)):
            assert got.dtype == dtype and got.shape == want.shape
            assert_close(got, want, dtype)
            record_error(f"{name} weight gradient", dtype, got, want)
    assert len(calls) == (1 if window.whole_window(geom) or depthwise.unsupported(geom) is None else 2)


@settings(max_examples=40, deadline=None)
@given(cfg=winograd_configs(), chunk_tiles=st.sampled_from([1, 7, 196]), batched=st.booleans())
def test_winograd_shared_backward_matches_torch(cfg, chunk_tiles, batched):
    """A stride-1 3x3 transposed convolution's two gradients from one transform of the output gradient's
    blocks (``winograd.conv_and_weight_grad``: each chunk's blocks feed the input gradient's 36 GEMMs and the
    weight gradient's), chunks of one tile row to all, unbatched: against torch.autograd; every example runs
    the shared path (counted); geometries whose weight gradient auto sends elsewhere (one window, one
    channel a side) are drawn again."""
    from tconv.algorithms import winograd

    _check_tiles_shared_backward(winograd, cfg, batched, (winograd, "CHUNK_TILES", chunk_tiles))


def _check_tiles_shared_backward(module, cfg, batched: bool, *chunk_patches: tuple) -> None:
    """:func:`_check_shared_backward` for a tile kernel (``winograd`` or ``phase_winograd``) with auto's
    weight gradient sent to the tiles wherever they are supported, under ``chunk_patches``; geometries whose
    weight gradient auto sends elsewhere are drawn again."""
    from hypothesis import assume

    from tconv.algorithms import weight_grad as wg

    name = module.__name__.rsplit(".", 1)[1]
    require_algorithm(name)
    x, w, _ = cfg.arrays()
    geom = conv_transpose_geometry(x, w, **cfg.transpose_kwargs())
    with pytest.MonkeyPatch.context() as mp:
        for share in TILE_SHARES:
            mp.setattr(wg, share, float("inf"))
        assume(wg.shared_backward(geom, x.dtype) == name)
    _check_shared_backward(cfg, batched, module, [(wg, share, float("inf")) for share in TILE_SHARES] + list(chunk_patches))


def test_winograd_shared_backward_at_layer_size(monkeypatch):
    """The public ``conv_transpose_backward`` of a stride-1 3x3 layer with 64 channels takes the Winograd
    tiles for both gradients under auto (one transform of the output gradient's blocks): against
    torch.autograd in float32, and the float64 gradients within winograd's bound."""
    from tconv.algorithms import winograd

    require_algorithm("winograd")
    calls = []
    monkeypatch.setattr(winograd, "conv_and_weight_grad",
                        lambda *a, _o=winograd.conv_and_weight_grad: (calls.append(1), _o(*a))[1])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 64, 28, 28))
    w = rng.standard_normal((64, 64, 3, 3)) * 0.05
    gy = rng.standard_normal((2, 64, 28, 28))
    pairs = dict(stride=(1, 1), padding=((1, 1), (1, 1)), output_padding=(0, 0), dilation=(1, 1), groups=1)
    want = conv_transpose_grads(gy, x, w, np.zeros(64), **pairs)
    for dtype in ("float32", "float64"):
        got = tconv.conv_transpose_backward(*(a.astype(dtype) for a in (gy, x, w)), padding=1)
        _record("conv_transpose", dtype, got, want)
    assert calls == [1, 1]


def _weight_gradient_problem(cfg, transposed: bool, dtype: str):
    """``(geom, small, big, want)``: ``cfg``'s layer in ``dtype`` as a transposed convolution or a
    convolution, the two sides of its weight gradient and torch.autograd's."""
    if transposed:
        small, w, _ = cfg.arrays()
        geom = conv_transpose_geometry(small, w, **cfg.transpose_kwargs())
        big = np.random.default_rng(cfg.seed + 3).standard_normal(geom.result_shape).astype(dtype)
        return geom, small, big, conv_transpose_grads(big, small, w, None, **cfg.transpose_kwargs())[1]
    big, w, _ = cfg.conv_problem()
    geom = conv_geometry(big, w, **cfg.conv_kwargs())
    small = np.random.default_rng(cfg.seed + 3).standard_normal(geom.result_shape).astype(dtype)
    return geom, small, big, conv_grads(small, big, w, None, **cfg.conv_kwargs())[1]


@settings(max_examples=60, deadline=None)
@given(cfg=phase_winograd_configs(), transposed=st.booleans(), dtype=st.sampled_from(["float32", "float64"]),
       chunk_tiles=st.sampled_from([1, 7, 1024]), block_bytes=st.sampled_from([1, 3000, 8 << 20]))
def test_phase_winograd_weight_gradient_matches_torch(cfg, transposed, dtype, chunk_tiles, block_bytes):
    """The weight gradient in phase_winograd's tiles (``phase_winograd.weight_grad``: the big side's phase
    blocks, the small side's 4x4 blocks, 25 GEMMs over the tiles per transform point, the phases stacked),
    both directions, strides 2 and 3, partial tiles, any padding, chunks of one tile row to all, in one chunk
    the small side's channels in blocks of one, a few or all: by name and through ``ops.weight_gradient``
    with auto sent to it, against torch.autograd in float64."""
    from tconv.algorithms import phase_winograd

    _check_tile_weight_gradient(phase_winograd, cfg, transposed, dtype,
                                ((phase_winograd, "WEIGHT_CHUNK_TILES", chunk_tiles),
                                 (phase_winograd, "WEIGHT_BLOCK_BYTES", block_bytes)))


@settings(max_examples=40, deadline=None)
@given(cfg=phase_winograd_configs(), chunk_tiles=st.sampled_from([1, 7, 1024]), batched=st.booleans(),
       block_bytes=st.sampled_from([1, 8 << 20]))
def test_phase_winograd_shared_backward_matches_torch(cfg, chunk_tiles, batched, block_bytes):
    """A transposed convolution whose kernel is twice the stride: its two gradients from one transform of the
    output gradient's phase blocks (``phase_winograd.conv_and_weight_grad``), chunks of one tile row to all,
    unbatched: against torch.autograd; every example runs the shared path (counted); geometries whose
    weight gradient auto sends elsewhere (one window) are drawn again."""
    from tconv.algorithms import phase_winograd

    _check_tiles_shared_backward(phase_winograd, cfg, batched, (phase_winograd, "WEIGHT_CHUNK_TILES", chunk_tiles),
                                 (phase_winograd, "WEIGHT_BLOCK_BYTES", block_bytes))


def test_phase_winograd_shared_backward_at_layer_size(monkeypatch):
    """The public ``conv_transpose_backward`` of a DCGAN layer (batch 16, 128 -> 64 channels, 4x4 stride 2) takes the
    F(4x4, 2x2) tiles for both gradients under auto (one transform of the output gradient's phase blocks),
    and ``conv_backward`` of its adjoint the tiles' weight gradient: against torch.autograd in float32 and
    float64, within phase_winograd's bound."""
    from tconv.algorithms import phase_winograd

    require_algorithm("phase_winograd")
    calls = []
    monkeypatch.setattr(phase_winograd, "conv_and_weight_grad",
                        lambda *a, _o=phase_winograd.conv_and_weight_grad: (calls.append("shared"), _o(*a))[1])
    monkeypatch.setattr(phase_winograd, "weight_grad",
                        lambda *a, _o=phase_winograd.weight_grad: (calls.append("weight"), _o(*a))[1])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 128, 16, 16))
    w = rng.standard_normal((128, 64, 4, 4)) * 0.05
    gy = rng.standard_normal((16, 64, 32, 32))
    pairs = dict(stride=(2, 2), padding=((1, 1), (1, 1)), output_padding=(0, 0), dilation=(1, 1), groups=1)
    want_ct = conv_transpose_grads(gy, x, w, np.zeros(64), **pairs)
    want_conv = conv_grads(x, gy, w, np.zeros(128), **{k: v for k, v in pairs.items() if k != "output_padding"})
    for dtype in ("float32", "float64"):
        got = tconv.conv_transpose_backward(*(a.astype(dtype) for a in (gy, x, w)), stride=2, padding=1)
        _record("conv_transpose", dtype, got, want_ct)
        got = tconv.conv_backward(*(a.astype(dtype) for a in (x, gy, w)), stride=2, padding=1)
        _record("conv", dtype, got, want_conv)
    assert calls == ["shared", "weight", "shared", "weight"]


#: (transposed, x shape, weight shape, hyper-parameters, method) of the weight-gradient kernels' test below.
_WEIGHT_GRAD_CASES = [
    (True, (2, 24, 20, 20), (24, 16, 3, 3), dict(padding=1), "winograd"),
    (False, (2, 16, 20, 20), (24, 16, 3, 3), dict(padding=1), "winograd"),
    (True, (4, 32, 6, 6), (32, 16, 4, 4), dict(stride=2, padding=1), "gemm"),
    (True, (1, 8, 5, 6), (8, 8, 16, 16), dict(stride=8, padding=4), "subpixel"),
    (True, (2, 12, 9, 9), (12, 1, 4, 4), dict(stride=2, padding=1, groups=12), "depthwise"),
    (True, (4, 32, 32, 32), (32, 32, 3, 3), dict(padding=1), "auto"),  # auto: the tiles here (predicted 0.5 of gemm)
    (True, (2, 24, 9, 8), (24, 16, 4, 4), dict(stride=2, padding=1), "phase_winograd"),
    (False, (2, 16, 18, 16), (24, 16, 6, 6), dict(stride=3, padding=2), "phase_winograd"),
]


def _weight_grad_operands():
    """The cases' (geometry, small side, big side, method), float32, seeded."""
    rng = np.random.default_rng(21)
    out = []
    for transposed, xs, ws, kw, method in _WEIGHT_GRAD_CASES:
        x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
        geom = (conv_transpose_geometry if transposed else conv_geometry)(x, w, **kw)
        other = rng.standard_normal(geom.result_shape).astype(np.float32)
        out.append((geom,) + ((x, other) if transposed else (other, x)) + (method,))
    return out


def _weight_grads_in_child() -> list:
    return [weight_grad(small, big, geom, method=method) for geom, small, big, method in _weight_grad_operands()]


def test_weight_gradient_kernels_from_threads_and_a_forked_child():
    """Each compiled weight-gradient kernel (winograd's and phase_winograd's tiles both ways, gemm's columns, subpixel's blocks,
    depthwise's sums, auto) from four user threads at once, and in a forked child after the parent ran them:
    the same bits as one call alone (no shared buffer between calls, nothing inherited half-built)."""
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    from tconv.algorithms import jit

    if not jit.available(np.float32):
        pytest.skip("the compiled kernels are switched off")
    cases = _weight_grad_operands()
    want = [weight_grad(small, big, geom, method=method) for geom, small, big, method in cases]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(weight_grad, small, big, geom, method=method)
                   for _ in range(3) for geom, small, big, method in cases]
        got = [f.result(timeout=120) for f in futures]
    compared = 0
    for i, result in enumerate(got):
        np.testing.assert_array_equal(result, want[i % len(cases)], err_msg=cases[i % len(cases)][3])
        compared += 1
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_weight_grads_in_child).get(timeout=120)
    for (_, _, _, method), mine, theirs in zip(cases, want, child):
        np.testing.assert_array_equal(theirs, mine, err_msg=method)
        compared += 1
    assert compared == 4 * len(cases)
