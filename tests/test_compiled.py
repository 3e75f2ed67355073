"""The compiled (numba) kernels, against PyTorch and against tconv's own NumPy paths.

The rest of the suite runs with numba installed, so every algorithm test there
already goes through the compiled kernels where they apply.  Here: their
building blocks on their own (the gather, the tap tables), configurations with
enough channels to reach the channels-last col2im, a check that the compiled
paths are really taken, and the NumPy fallbacks (``TCONV_NUMBA=0``) against
PyTorch so that a machine without numba stays covered.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tconv
from support import Config, _repad, assert_close, configs, configs_for
from torch_oracle import torch_conv, torch_conv_transpose

pytest.importorskip("numba")
from tconv.algorithms import depthwise, depthwise_planes, gather, gemm_loops, jit, nooverlap  # noqa: E402  (after the skip: they import without numba too)

if not jit.available():
    pytest.skip("the compiled kernels are switched off (TCONV_NUMBA=0)", allow_module_level=True)
from tconv.algorithms.planner import running_geometry  # noqa: E402
from tconv.ops import ranked  # noqa: E402


@contextmanager
def numpy_paths():
    """Run the block with the compiled kernels switched off (``TCONV_NUMBA=0``)."""
    mp = pytest.MonkeyPatch()
    mp.setenv(jit.ENV_NUMBA, "0")
    jit.reread_environment()
    ranked.cache_clear()
    try:
        yield
    finally:
        mp.undo()
        jit.reread_environment()
        ranked.cache_clear()


@st.composite
def wide_configs(draw) -> Config:
    """Configurations with 16+ output channels per group (the compiled col2im's channels-last layout)."""
    cfg = draw(configs(max_dims=2, max_batch=2))
    per_group = draw(st.sampled_from([16, 17, 31, 32]))
    small = tuple(draw(st.integers(1, 20 if cfg.ndim == 1 else 6)) for _ in range(cfg.ndim))
    if cfg.ndim == 1 and draw(st.booleans()):
        small = (draw(st.integers(256, 300)),)  # the transposed-matrix GEMM path (>= 256 positions)
    return _repad(draw, cfg, big_channels=cfg.groups * per_group, small_spatial=small)


def _check(algorithm: str, cfg: Config, conv: bool = True) -> None:
    x, w, b = cfg.arrays()
    got = tconv.conv_transpose(x, w, b, algorithm=algorithm, **cfg.transpose_kwargs())
    assert_close(got, torch_conv_transpose(x, w, b, **cfg.transpose_kwargs()), cfg.dtype)
    if conv:
        xb, _, bs = cfg.conv_problem()
        got = tconv.conv(xb, w, bs, algorithm=algorithm, **cfg.conv_kwargs())
        assert_close(got, torch_conv(xb, w, bs, **cfg.conv_kwargs()), cfg.dtype)


@settings(max_examples=80, deadline=None)
@given(cfg=wide_configs(), algorithm=st.sampled_from(["gemm", "subpixel", "auto"]))
def test_wide_channels_match_torch(cfg, algorithm):
    _check(algorithm, cfg, conv=False)


@settings(max_examples=40, deadline=None)
@given(cfg=wide_configs(), data=st.data())
def test_gemm_weight_blocks_match_torch(cfg, data):
    """The compiled gemm path with the weight re-laid out in blocks of output channels (any block size)."""
    from tconv.algorithms import gemm

    co = cfg.big_channels // cfg.groups
    block = data.draw(st.integers(1, co))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gemm, "_channel_block", lambda geom, itemsize: block)
        _check("gemm", cfg, conv=False)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), compiled_on=st.booleans())
def test_subpixel_phase_blocks_match_torch(data, compiled_on):
    """``subpixel`` with its GEMM split into blocks of dim-0 phases (any block size), compiled and NumPy."""
    from tconv.algorithms import subpixel

    cfg = data.draw(wide_configs() if data.draw(st.booleans()) else configs())
    size = data.draw(st.integers(1, 4))

    def blocks(geom, itemsize):
        count = len(subpixel.grids(geom)[0].phases)
        return [range(p0, min(count, p0 + size)) for p0 in range(0, count, size)]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subpixel, "phase_blocks", blocks)
        if compiled_on:
            _check("subpixel", cfg, conv=False)
        else:
            with numpy_paths():
                _check("subpixel", cfg, conv=False)


def test_subpixel_blocks_keep_fcn32s_under_twice_in_out():
    """FCN-32s's combined weight (1024 phases) and GEMM result come in blocks: workspace + output <= 2x (in + out)."""
    from tconv.algorithms import subpixel
    from tconv.params import conv_transpose_geometry

    x = np.empty((1, 21, 10, 15), np.float32)
    geom = conv_transpose_geometry(x, np.empty((21, 21, 64, 64), np.float32), stride=32, padding=16)
    io = (x.size + 21 * 320 * 480) * 4
    assert len(subpixel.phase_blocks(geom, 4)) > 1
    assert subpixel.workspace_bytes(geom, 4) + 21 * 320 * 480 * 4 <= 2 * io


@pytest.mark.parametrize("name", ["dcgan_2", "hifigan_up1", "dcgan_3", "stride1"])
def test_gemm_weight_blocks_keep_suite_layers_under_twice_in_out(name):
    """Layers whose weight outweighs input + output are re-laid out in blocks: workspace + output <= 2x (in + out)."""
    from tconv.algorithms import gemm
    from tconv.algorithms.phasing import io_bytes
    from tconv.bench import load_suite
    from tconv.params import conv_transpose_geometry

    layer = next(layer for layer in load_suite() if layer["name"] == name)
    x = np.empty((layer["N"], layer["C_in"], *layer["input"]), np.float32)
    w = np.empty((layer["C_in"], layer["C_out"], *layer["kernel"]), np.float32)
    geom = conv_transpose_geometry(x, w, stride=layer["stride"], padding=layer["padding"])
    out = layer["N"] * layer["C_out"] * int(np.prod(geom.output_shape)) * 4
    block = gemm._channel_block(geom, 4)
    assert (block < layer["C_out"]) == (name in ("dcgan_2", "hifigan_up1"))
    assert layer["C_out"] % block == 0 and block % gemm_loops.LANES == 0
    assert gemm.workspace_bytes(geom, 4) + out <= 2 * io_bytes(geom, 4)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), algorithm=st.sampled_from(["gemm", "subpixel", "nooverlap", "depthwise"]))
def test_compiled_and_numpy_paths_agree(data, algorithm):
    cfg = data.draw(wide_configs() if algorithm in ("gemm", "subpixel") and data.draw(st.booleans())
                    else configs_for(algorithm))
    x, w, b = cfg.arrays()
    kw = cfg.transpose_kwargs()
    fast = tconv.conv_transpose(x, w, b, algorithm=algorithm, **kw)
    with numpy_paths():
        slow = tconv.conv_transpose(x, w, b, algorithm=algorithm, **kw)
    assert_close(fast, slow, cfg.dtype)


@settings(max_examples=60, deadline=None)
@given(cfg=configs(), chunk=st.sampled_from([1, 1 << 10, 4 << 20]), extra=st.integers(0, 2),
       stride2_from=st.sampled_from([1, gemm_loops.STRIDE2_FROM_WIDTH]), per_image_from=st.sampled_from([1, 1024]))
def test_gemm_conv_matches_torch(cfg, chunk, extra, stride2_from, per_image_from):
    """The compiled channels-first im2col + GEMM of ``gemm``'s conv, with chunks of one image to all (and the
    stride-2 im2col on rows of any length; the chunk's GEMM per image straight into the output, or one GEMM
    and a re-layout)."""
    from tconv.algorithms import gemm

    xb, w, b = cfg.conv_problem(extra=extra)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gemm, "CACHE_CHUNK_BYTES", chunk)
        mp.setattr(gemm, "MIN_CONV_COLUMNS", 1)
        mp.setattr(gemm_loops, "STRIDE2_FROM_WIDTH", stride2_from)
        mp.setattr(gemm, "PER_IMAGE_CONV_FROM", per_image_from)
        got = tconv.conv(xb, w, b, algorithm="gemm", **cfg.conv_kwargs())
    assert_close(got, torch_conv(xb, w, b, **cfg.conv_kwargs()), cfg.dtype)
    with numpy_paths():
        assert_close(tconv.conv(xb, w, b, algorithm="gemm", **cfg.conv_kwargs()), got, cfg.dtype)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), algorithm=st.sampled_from(["gemm", "subpixel", "nooverlap", "depthwise"]))
def test_numpy_fallbacks_match_torch(data, algorithm):
    cfg = data.draw(configs_for(algorithm))
    with numpy_paths():
        assert not jit.available(np.float64)
        _check(algorithm, cfg)


def test_compiled_kernels_are_used(monkeypatch):
    """With numba the fast paths really run (a silent fallback to NumPy would pass every other test)."""
    calls = []
    for module, name in ((gemm_loops, "_col2im4"), (gemm_loops, "_col2im_planes"), (gather, "_gather4"),
                         (depthwise, "_depthwise_rows"), (gemm_loops, "_im2col_planes"),
                         (gemm_loops, "_im2col_stride2"), (depthwise_planes, "_ct_planes"),
                         (nooverlap, "_interleave_taps")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _o=original, _n=name: (calls.append(_n), _o(*a))[1])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 5))
    tconv.conv_transpose(x, rng.standard_normal((4, 16, 3, 3)), stride=2, algorithm="gemm")
    tconv.conv_transpose(x, rng.standard_normal((4, 3, 3, 3)), stride=2, algorithm="gemm")  # few channels
    tconv.conv_transpose(x, rng.standard_normal((4, 16, 3, 3)), stride=2, algorithm="subpixel")
    tconv.conv_transpose(rng.standard_normal((1, 4, 9, 9)), rng.standard_normal((4, 3, 2, 2)), stride=2,
                         algorithm="nooverlap")  # the taps tile the output: rows interleaved
    tconv.conv_transpose(rng.standard_normal((1, 4, 9, 9)), rng.standard_normal((4, 3, 2, 2)), stride=3,
                         algorithm="nooverlap")  # gaps between the taps: the gather
    tconv.conv_transpose(x, rng.standard_normal((4, 1, 3, 3)), stride=2, groups=4, algorithm="depthwise")
    assert calls.count("_col2im4") == 1 and calls.count("_col2im_planes") == 1
    assert calls.count("_interleave_taps") == 1
    assert calls.count("_gather4") >= 2 and calls.count("_ct_planes") >= 1  # 11x11 outputs: the phase planes
    tconv.conv_transpose(x[..., :3, :3], rng.standard_normal((4, 1, 3, 3)), stride=2, groups=4, algorithm="depthwise")
    assert calls.count("_depthwise_rows") >= 1  # 7x7 outputs: the row kernel
    tconv.conv(x, rng.standard_normal((3, 4, 3, 3)), stride=2, algorithm="gemm")
    assert calls.count("_im2col_planes") == 1
    tconv.conv(rng.standard_normal((1, 2, 3, 80)), rng.standard_normal((3, 2, 3, 3)), stride=2, padding=1,
               algorithm="gemm")  # 40 outputs per row at stride 2: the taps of a row written together
    assert calls.count("_im2col_planes") == 1 and calls.count("_im2col_stride2") == 1


def test_side_by_side_images_match_torch():
    """gemm's channels-first path with a chunk's images side by side (one GEMM per block of output channels,
    ``_ct_planes_wide``) against PyTorch: chunks of two images to all, blocks of one channel to all (drawn in
    place of ``_wide_planes``'s sizes), 1-3 d; counted."""
    from tconv.algorithms import gemm
    from tconv.params import geometry_from_shapes

    taken = []

    @settings(max_examples=60, deadline=None)
    @given(cfg=configs(min_batch=2, max_batch=5), data=st.data())
    def compare(cfg, data):
        cfg = replace(cfg, groups=1, small_channels=cfg.small_channels // cfg.groups,
                      big_channels=cfg.big_channels // cfg.groups)
        x, w, b = cfg.arrays()
        geom = geometry_from_shapes(True, x.shape, w.shape, x.dtype, **cfg.transpose_kwargs())
        sizes = data.draw(st.integers(2, cfg.batch)), data.draw(st.integers(1, cfg.big_channels))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(gemm, "_wide_planes", lambda *args: sizes)
            got = tconv.conv_transpose(x, w, b, algorithm="gemm", **cfg.transpose_kwargs())
        assert_close(got, torch_conv_transpose(x, w, b, **cfg.transpose_kwargs()), cfg.dtype)
        if not gemm._compiled_path(geom):
            taken.append((sizes, geom.batch, geom.out_channels, geom.ndim))

    compare()
    assert len(taken) >= 30  # the side-by-side path ran (and was compared) that often
    assert any(per < n for (per, _), n, _, _ in taken) and any(block < co for (_, block), _, co, _ in taken)
    assert {nd for *_, nd in taken} == {1, 2, 3}


def test_wide_planes_sizes():
    """The side-by-side path's sizes: short images of one group and a batch, within the lean workspace
    (hifigan_up1: 4 images side by side, blocks of 64 of its 256 output channels); None elsewhere."""
    from tconv.algorithms import gemm
    from tconv.params import geometry_from_shapes

    def sizes(x, w, **kw):
        return gemm._wide_planes(geometry_from_shapes(True, x, w, np.float32, **kw), 4)

    assert sizes((4, 512, 128), (512, 256, 16), stride=8, padding=4) == (4, 64)
    assert sizes((1, 512, 128), (512, 256, 16), stride=8, padding=4) is None  # one image
    assert sizes((4, 512, 256), (512, 256, 16), stride=8, padding=4) is None  # long enough per image
    assert sizes((4, 512, 128), (512, 4, 16), stride=8, padding=4, groups=2) is None  # groups
    assert sizes((64, 64, 32, 32), (64, 3, 4, 4), stride=2, padding=1) is None  # dcgan_5: 1024 positions


def _compare_with_the_general_im2col(data, geom, seed: int, special) -> None:
    """Draw a chunk of images and channels of the convolution ``geom``, fill NaN columns with the general
    ``_im2col_planes`` and with ``special(got, x, tables, n0, nb, c0, c1)``, and compare them bit for bit."""
    n, c = geom.batch, geom.in_channels
    n0 = data.draw(st.integers(0, n - 1), label="first image")
    nb = data.draw(st.integers(1, n - n0), label="images in the chunk")
    c0 = data.draw(st.integers(0, c - 1), label="first channel")
    c1 = data.draw(st.integers(c0 + 1, c), label="channel end")
    x = np.random.default_rng(seed).standard_normal((n, c) + geom.input_shape).astype(geom.dtype)
    tables = gemm_loops.conv_tap_rows(geom)
    shape = (int(np.prod(geom.kernel_shape)) * (c1 - c0), nb * int(np.prod(geom.output_shape)))
    want, got = np.full(shape, np.nan, geom.dtype), np.full(shape, np.nan, geom.dtype)
    gemm_loops._im2col_planes(want, x.reshape(n, c, -1, geom.input_shape[-1]), n0, nb, c0, c1, *tables,
                              geom.stride[-1], geom.output_shape[-1])
    special(got, x, tables, n0, nb, c0, c1)
    assert not np.isnan(want).any()
    np.testing.assert_array_equal(got, want)


def test_stride2_im2col_matches_the_general_one():
    """``_im2col_stride2`` (a row's taps written together) fills the same columns as ``_im2col_planes``, bit for
    bit, on 1-3 d convolutions of stride 2 along the last dim: 2-4 taps, any padding (taps with a narrower
    range, or none at all), rows shorter and longer than its threshold, a chunk of images and channels; the
    comparison is counted over every tap count, padded and unpadded rows, short and long ones."""
    from tconv.params import geometry_from_shapes

    cases = []

    @settings(max_examples=80, deadline=None)
    @given(data=st.data())
    def compare(data):
        nd = data.draw(st.integers(1, 3), label="ndim")
        k = data.draw(st.integers(2, 4), label="k")
        if data.draw(st.booleans(), label="rows longer than the threshold"):
            least = 2 * gemm_loops.STRIDE2_FROM_WIDTH + k  # its outputs reach the threshold with any padding
            width = data.draw(st.integers(least, least + 40), label="input width")
        else:
            width = data.draw(st.integers(1, 80), label="input width")
        pad = data.draw(st.integers(0, k - 1), label="last padding")
        outer = tuple(data.draw(st.integers(1, 5)) for _ in range(nd - 1))
        kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(nd - 1)) + (k,)
        if width + 2 * pad < k:
            width = k
        n, c = data.draw(st.integers(1, 3), label="images"), data.draw(st.integers(1, 4), label="channels")
        stride = tuple(data.draw(st.integers(1, 2)) for _ in range(nd - 1)) + (2,)
        padding = tuple(data.draw(st.integers(0, kk - 1)) for kk in kernel[:-1]) + (pad,)
        outer = tuple(max(o, kk) for o, kk in zip(outer, kernel))
        geom = geometry_from_shapes(False, (n, c) + outer + (width,), (2, c) + kernel, np.float64, stride=stride,
                                    padding=padding)
        _compare_with_the_general_im2col(data, geom, len(cases), lambda got, x, tables, n0, nb, c0, c1: (
            gemm_loops._im2col_stride2(got, x.reshape(x.shape[:2] + (-1, width)), n0, nb, c0, c1, *tables,
                                       geom.output_shape[-1])))
        cases.append((k, pad, geom.output_shape[-1] >= gemm_loops.STRIDE2_FROM_WIDTH))

    compare()
    assert len(cases) >= 40
    assert {k for k, _, _ in cases} == {2, 3, 4}
    assert {p > 0 for _, p, _ in cases} == {True, False}
    assert {long for _, _, long in cases} == {True, False}


def test_space_to_depth_matches_the_general_one():
    """``_space_to_depth`` (each input row read once and dealt to its last-dim taps) fills the same columns
    as ``_im2col_planes``, bit for bit, through ``im2col_planes``'s own dispatch, on 1-3 d convolutions
    with no padding, no overlap and the last dim's stride equal to its kernel: strides 1-4, outer dims
    with gaps between taps and dilation, a chunk of images and channels; geometries with padding or
    overlapping taps stay on the general loop.  Counted over every last-dim stride and dims with and
    without gaps."""
    from tconv.params import geometry_from_shapes

    cases = []

    @settings(max_examples=80, deadline=None)
    @given(data=st.data())
    def compare(data):
        nd = data.draw(st.integers(1, 3), label="ndim")
        s = data.draw(st.integers(1, 4), label="last stride = kernel")
        kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(nd - 1)) + (s,)
        dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(nd - 1)) + (1,)
        stride = tuple((k - 1) * d + 1 + data.draw(st.integers(0, 2)) for k, d in zip(kernel[:-1], dilation)) + (s,)
        shape = tuple((k - 1) * d + 1 + data.draw(st.integers(0, 9)) for k, d in zip(kernel, dilation))
        n, c = data.draw(st.integers(1, 3), label="images"), data.draw(st.integers(1, 4), label="channels")
        geom = geometry_from_shapes(False, (n, c) + shape, (2, c) + kernel, np.float32, stride=stride,
                                    dilation=dilation)
        assert gemm_loops.space_to_depth(geom)
        _compare_with_the_general_im2col(data, geom, len(cases), lambda got, x, tables, n0, nb, c0, c1: (
            gemm_loops.im2col_planes(got, x, geom, tables, n0, nb, c0, c1)))
        cases.append((s, any(st > (k - 1) * d + 1 for st, k, d in zip(stride, kernel, dilation))))

    compare()
    assert len(cases) >= 40
    assert {s for s, _ in cases} == {1, 2, 3, 4} and {gaps for _, gaps in cases} == {True, False}
    for kw in (dict(padding=1), dict(stride=1), dict(stride=(2, 1)), dict(dilation=(1, 2))):
        geom = geometry_from_shapes(False, (1, 1, 8, 8), (1, 1, 2, 2), np.float32, **{"stride": 2, **kw})
        assert not gemm_loops.space_to_depth(geom), kw


def test_space_to_depth_declines_block_views_reaching_past_the_input():
    """A blockconv block view can have taps past its input with no padding (stride 2 on a 1-long dim: found
    reading past the input and leaving columns unwritten); it stays on the general loop, which writes zeros
    there, and subpixel's convolution (the block view's caller) matches PyTorch on it every time."""
    from tconv.algorithms import blockconv
    from tconv.params import conv_geometry

    x = np.random.default_rng(0).standard_normal((1, 1, 1, 1, 1)).astype(np.float32)
    w = np.full((1, 1, 1, 1, 1), 2.0, np.float32)
    view = blockconv.block_geometry(conv_geometry(x, w, stride=(2, 1, 2)))
    assert view.kernel_shape == (2, 1, 2) and view.input_shape == (1, 1, 1)
    assert not gemm_loops.space_to_depth(view)
    tables = gemm_loops.conv_tap_rows(view)
    cols = np.full((4, 1), np.nan, np.float32)
    gemm_loops.im2col_planes(cols, x, view, tables, 0, 1, 0, 1)
    np.testing.assert_array_equal(cols.ravel(), [x.item(), 0, 0, 0])
    for _ in range(50):  # freed NaN blocks for the allocator to hand back: unwritten columns would show
        junk = [np.full(size, np.nan, np.float32) for size in (1, 4, 16, 64)]
        del junk
        got = tconv.conv(x, w, stride=(2, 1, 2), algorithm="subpixel")
        np.testing.assert_array_equal(got, 2 * x)


def test_conv_slabs_match_whole_images():
    """Where one image's columns are large, ``gemm``'s compiled convolution, its weight gradient and the
    shared transposed backward run slabs of dim 0's output rows (``gemm.conv_slabs``): the results equal
    those from whole images (the convolution bit for bit, the weight gradient's sums to rounding) and
    PyTorch's in float64, on 2-3 d layers with any stride, padding, dilation and groups, slabs of one row
    up to all but one.  Counted over the im2col's three kernels (space to depth, stride-2 rows, the general
    one) and calls in more than two slabs."""
    from tconv.algorithms import gemm
    from tconv.params import geometry_from_shapes

    seen = []

    @settings(max_examples=60, deadline=None)
    @given(data=st.data())
    def compare(data):
        nd = data.draw(st.integers(2, 3), label="ndim")
        kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
        stride = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
        dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
        padding = tuple(data.draw(st.integers(0, 2)) for _ in range(nd))
        path = data.draw(st.sampled_from(["space to depth", "stride-2 rows", "any"]), label="path")
        if path == "space to depth":
            stride, dilation, padding = kernel, (1,) * nd, (0,) * nd
        if path == "stride-2 rows":  # long output rows of stride 2 and 2-4 adjacent taps
            kernel = kernel[:-1] + (data.draw(st.integers(2, 4)),)
            stride, dilation = stride[:-1] + (2,), dilation[:-1] + (1,)
        big = tuple(data.draw(st.integers(ke, ke + 9)) for ke in
                    ((k - 1) * d + 1 for k, d in zip(kernel, dilation)))
        if path == "stride-2 rows":
            big = big[:-1] + (2 * (gemm_loops.STRIDE2_FROM_WIDTH + kernel[-1]) + data.draw(st.integers(0, 9)),)
        g = data.draw(st.integers(1, 2), label="groups")
        cb, cs = g * data.draw(st.integers(1, 3)), g * data.draw(st.integers(1, 3))
        n, dtype = data.draw(st.integers(1, 3), label="images"), data.draw(st.sampled_from(["float32", "float64"]))
        rng = np.random.default_rng(len(seen))
        x = rng.standard_normal((n, cb) + big).astype(dtype)
        w = rng.standard_normal((cs, cb // g) + kernel).astype(dtype)
        conv = geometry_from_shapes(False, x.shape, w.shape, np.dtype(dtype), stride=stride, padding=padding,
                                    dilation=dilation, groups=g)
        transposed = conv.adjoint()
        small = rng.standard_normal((n, cs) + conv.output_shape).astype(dtype)

        def run():
            gemm.conv_slabs.cache_clear()
            return (gemm.conv(x, w, conv), gemm.weight_grad(small, x, transposed),
                    *gemm.conv_and_weight_grad(x, w, small, transposed))

        whole = run()
        rows = data.draw(st.integers(1, max(1, conv.output_shape[0] - 1)), label="rows per slab")
        per_row = cb // g * int(np.prod(kernel)) * int(np.prod(conv.output_shape[1:])) * x.dtype.itemsize
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(gemm, "SLAB_FROM_BYTES", 0)
            mp.setattr(gemm, "MIN_CONV_COLUMNS", 1)
            mp.setattr(gemm, "CACHE_CHUNK_BYTES", rows * per_row)
            gemm.conv_chunk_images.cache_clear()
            gemm.conv_slabs.cache_clear()
            slabs = len(gemm.conv_slabs(conv, x.dtype.itemsize))
            sliced = run()
        gemm.conv_chunk_images.cache_clear()
        gemm.conv_slabs.cache_clear()
        assert slabs >= -(-conv.output_shape[0] // rows)  # (smaller where the image's output is)
        tolerance = 1e-5 if dtype == "float32" else 1e-12  # other GEMM shapes: other roundings
        for got, want in zip(sliced, (whole[0], whole[1], whole[0], whole[1])):
            np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * max(1, np.abs(want).max()))
        if dtype == "float64":
            assert_close(sliced[0], torch_conv(x, w, None, stride=stride, padding=tuple((p, p) for p in padding),
                                               dilation=dilation, groups=g), dtype)
        kind = ("space to depth" if gemm_loops.space_to_depth(conv) else
                "stride-2 rows" if gemm_loops._stride2_rows(conv) else "general")
        seen.append((kind, slabs))

    compare()
    assert len(seen) >= 50
    assert {kind for kind, _ in seen} == {"space to depth", "stride-2 rows", "general"}
    assert sum(slabs > 2 for _, slabs in seen) >= 10


def test_available_switches():
    assert jit.available(np.float32) and jit.available(np.float64)
    assert not jit.available(np.float16) and not jit.available(np.longdouble)
    with numpy_paths():
        assert not jit.available(np.float32)
    assert jit.available(np.float32)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_gather_matches_fancy_indexing(data):
    """``gather`` against NumPy's own fancy indexing, on contiguous and strided destinations of 3-5 dims."""
    ndim = data.draw(st.integers(3, 5))
    shape = tuple(data.draw(st.integers(1, 5)) for _ in range(ndim))
    src = np.random.default_rng(ndim).standard_normal(200)
    offsets = [np.array(data.draw(st.lists(st.integers(-1, 30), min_size=n, max_size=n)), dtype=np.int64)
               for n in shape]
    step = data.draw(st.integers(1, 3))
    big = np.full(shape[:2] + tuple(n * step for n in shape[2:]), 7.0)
    dst = big[(slice(None), slice(None)) + (slice(None, None, step),) * (ndim - 2)]
    gather.gather(dst, src, offsets)
    axes = [o.reshape((1,) * i + (-1,) + (1,) * (ndim - 1 - i)) for i, o in enumerate(offsets)]
    index = sum(axes)
    missing = functools.reduce(np.logical_or, [a < 0 for a in axes])
    want = np.where(missing, 0.0, src[np.where(missing, 0, index)])
    np.testing.assert_array_equal(dst, want)
    if step > 1:  # the elements between the strided view's ones are untouched
        assert (big[(slice(None), slice(None)) + (slice(1, None, step),) * (ndim - 2)] == 7.0).all()


def test_depthwise_conv_adjoint():
    """Compiled depthwise pair: <conv(x), y> == <x, conv_transpose(y)>."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 1, 3, 4))
    kw = dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=5)
    x = rng.standard_normal((2, 5, 11, 13))
    cx = tconv.conv(x, w, algorithm="depthwise", **kw)
    y = rng.standard_normal(cx.shape)
    ty = tconv.conv_transpose(y, w, algorithm="depthwise", output_size=x.shape[2:], **kw)
    assert abs(np.vdot(cx, y) - np.vdot(x, ty)) <= 1e-12 * abs(np.vdot(cx, y))


@settings(max_examples=60, deadline=None)
@given(cfg=configs_for("depthwise", max_dims=2), planes_from=st.sampled_from([1, 64, 1 << 30]))
@example(  # 65 big positions, but stride 3 divides dilation 3: the stride-1 problem runs on 25 of them
    cfg=Config(batch=1, small_channels=1, big_channels=1, groups=1, small_spatial=(5, 1), kernel=(1, 3),
               stride=(3, 1), dilation=(3, 2), padding=((0, 0), (0, 0)), output_padding=(0, 0),
               dtype="float32", seed=0),
    planes_from=64)
def test_depthwise_phase_planes_match_torch(cfg, planes_from):
    """The 2-D depthwise kernels on padded phase planes (``depthwise_planes``: both directions), or the row
    kernels, by the drawn threshold: against PyTorch; the planes run wherever the threshold lets them."""
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(depthwise, "PLANES_FROM_POSITIONS", planes_from)
        for name in ("_ct_planes", "_conv_planes"):
            original = getattr(depthwise_planes, name)
            mp.setattr(depthwise_planes, name, lambda *a, _o=original, _n=name: (calls.append(_n), _o(*a))[1])
        _check("depthwise", cfg)
    x, w, _ = cfg.arrays()
    xb = cfg.conv_problem()[0]
    plans = (tconv.plan_conv_transpose(x, w, **cfg.transpose_kwargs()), tconv.plan_conv(xb, w, **cfg.conv_kwargs()))
    # the threshold counts the big positions of the problem the call runs (a stride dividing its dilation
    # runs the stride-1 problem on every stride-th position)
    bigs = [running_geometry(p.geometry).big_shape for p in plans]
    for name, big in zip(("_ct_planes", "_conv_planes"), bigs):
        assert (name in calls) == (cfg.ndim == 2 and int(np.prod(big)) >= planes_from), (name, big, planes_from)


def test_winograd_needs_the_compiled_kernels():
    x, w = np.ones((1, 2, 6, 6)), np.ones((2, 3, 3, 3))
    assert tconv.conv_transpose(x, w, algorithm="winograd").shape == (1, 3, 8, 8)
    with numpy_paths():
        with pytest.raises(ValueError, match="'winograd' does not support.*numba"):
            tconv.conv_transpose(x, w, algorithm="winograd")
        assert tconv.explain(x, w).algorithm != "winograd"


def test_winograd_transforms_match_their_matrices():
    """The compiled tile transforms (written out term by term) against B^T d B and A^T m A; the filter's."""
    from tconv.algorithms import winograd as W

    rng = np.random.default_rng(0)
    k = np.array([2.0, 4, 5, 8])
    x = rng.standard_normal((1, 2, 6, 6))  # one tile
    v = np.empty((36, 2, 1))
    W._input_tiles(x, v, k, 0, 0, 1, 1, 0, 1)
    m = rng.standard_normal((36, 2, 1))
    y = np.empty((1, 2, 4, 4))
    W._output_tiles(m, y, W.OUTPUT, k, 1, 1, 0, 1)
    g = rng.standard_normal((2, 3, 3, 3))
    u, flipped = W.filter_transform(g, np.float64), W.filter_transform(g, np.float64, flip=True)
    for c in range(2):
        np.testing.assert_allclose(v[:, c, 0].reshape(6, 6), W.INPUT @ x[0, c] @ W.INPUT.T, rtol=0, atol=1e-12)
        np.testing.assert_allclose(y[0, c], W.OUTPUT @ m[:, c, 0].reshape(6, 6) @ W.OUTPUT.T, rtol=0, atol=1e-12)
        for j in range(3):
            np.testing.assert_allclose(u[:, c, j].reshape(6, 6), W.FILTER @ g[c, j] @ W.FILTER.T, atol=1e-12)
            np.testing.assert_allclose(flipped[:, c, j].reshape(6, 6), W.FILTER @ g[c, j, ::-1, ::-1] @ W.FILTER.T,
                                       atol=1e-12)


def test_phase_winograd_needs_the_compiled_kernels():
    x, w = np.ones((1, 2, 6, 6)), np.ones((2, 3, 4, 4))
    assert tconv.conv_transpose(x, w, stride=2, padding=1, algorithm="phase_winograd").shape == (1, 3, 12, 12)
    with numpy_paths():
        with pytest.raises(ValueError, match="'phase_winograd' does not support.*numba"):
            tconv.conv_transpose(x, w, stride=2, padding=1, algorithm="phase_winograd")
        assert tconv.explain(x, w, stride=2, padding=1).algorithm != "phase_winograd"


def test_phase_winograd_transforms_match_their_matrices():
    """The compiled 5x5 tile transforms (written out term by term) against B^T d B and A^T m A, and the
    filter transform against G g G^T, in both weight layouts."""
    from tconv.algorithms import phase_winograd as P

    rng = np.random.default_rng(0)
    k = np.array([2.0, 3, 4, 8])
    x = rng.standard_normal((1, 5, 5, 3))  # one tile, channels-last
    v = np.empty((25, 1, 3))
    P._input_blocks(x, v, k, 0, 0, 0, 1, 1, 1, 1, 0, 1)
    m = rng.standard_normal((1, 25, 1, 3))
    y = np.empty((1, 3, 4, 4))
    P._output_phases(m, y, k, 0, 1, 1, 1, 1, 0, 1)
    w = rng.standard_normal((3, 2, 4, 4))
    u = np.empty((25, 3, 2))
    P._phase_filter(w, (3, 1), (2, 0), u)
    uc = np.empty((25, 2, 3))  # the same weight read as a convolution's (C_out, C_in) = (3, 2)
    P._phase_filter(w, (0, 2), (1, 3), uc, transposed=False)
    compared = 0
    for c in range(3):
        np.testing.assert_allclose(v[:, 0, c].reshape(5, 5), P.INPUT @ x[0, :, :, c] @ P.INPUT.T, atol=1e-12)
        np.testing.assert_allclose(y[0, c], P.OUTPUT @ m[0, :, 0, c].reshape(5, 5) @ P.OUTPUT.T, atol=1e-12)
        for j in range(2):
            g = w[c, j][np.ix_([3, 1], [2, 0])]
            np.testing.assert_allclose(u[:, c, j].reshape(5, 5), P.FILTER @ g @ P.FILTER.T, atol=1e-12)
            gc = w[c, j][np.ix_([0, 2], [1, 3])]
            np.testing.assert_allclose(uc[:, j, c].reshape(5, 5), P.FILTER @ gc @ P.FILTER.T, atol=1e-12)
            compared += 1
    assert compared == 6
    # F(4, 2) itself: 4 outputs of a 2-tap correlation from 5 inputs
    d, g = rng.standard_normal(5), rng.standard_normal(2)
    np.testing.assert_allclose(P.OUTPUT @ ((P.FILTER @ g) * (P.INPUT @ d)), [d[i:i + 2] @ g for i in range(4)],
                               atol=1e-12)
