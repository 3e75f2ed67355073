"""The fast algorithms on their own domains, against PyTorch, plus the auto choice and explain().

tests/test_ops_torch.py runs every algorithm over the general random
configurations; ``nooverlap`` and ``depthwise`` decline most of those, so here
the strategies are steered into their domains (stride >= dilated kernel or a
single input position; groups == channels).  Each property checks
conv_transpose and conv, float32 and float64, batch 0 included.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv
from support import (Config, assert_close, configs, depthwise_configs, no_overlap_configs, phase_winograd_configs,
                     require_algorithm, winograd_configs)
from torch_oracle import torch_conv, torch_conv_transpose


def _check_both(algorithm: str, cfg: Config) -> None:
    kw = dict(stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation, groups=cfg.groups)
    x, w, b = cfg.arrays()
    got = tconv.conv_transpose(x, w, b, output_padding=cfg.output_padding, algorithm=algorithm, **kw)
    assert got.dtype == np.dtype(cfg.dtype)
    assert_close(got, torch_conv_transpose(x, w, b, output_padding=cfg.output_padding, **kw), cfg.dtype)
    rng = np.random.default_rng(cfg.seed + 7)
    xb = rng.standard_normal(got.shape).astype(cfg.dtype)
    bs = rng.standard_normal(cfg.small_channels).astype(cfg.dtype)
    got = tconv.conv(xb, w, bs, algorithm=algorithm, **kw)
    assert_close(got, torch_conv(xb, w, bs, **kw), cfg.dtype)


@settings(max_examples=150)
@given(cfg=no_overlap_configs())
def test_nooverlap_matches_torch(cfg):
    _check_both("nooverlap", cfg)


@settings(max_examples=150)
@given(cfg=depthwise_configs())
def test_depthwise_matches_torch(cfg):
    _check_both("depthwise", cfg)


@settings(max_examples=150)
@given(cfg=winograd_configs(), chunk_tiles=st.sampled_from([1, 5, 196]))
def test_winograd_matches_torch(cfg, chunk_tiles):
    """Both directions, asymmetric and cropping paddings, partial tiles, chunks of one tile row to all."""
    require_algorithm("winograd")
    from tconv.algorithms import winograd

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(winograd, "CHUNK_TILES", chunk_tiles)
        _check_both("winograd", cfg)


@settings(max_examples=150)
@given(cfg=phase_winograd_configs(), chunk_tiles=st.sampled_from([1, 7, 256]))
def test_phase_winograd_matches_torch(cfg, chunk_tiles):
    """Both directions, strides 2 and 3 per dim, any padding and output_padding, partial tiles, phases with no
    output (an output shorter than the stride), chunks of one tile row to all."""
    require_algorithm("phase_winograd")
    from tconv.algorithms import phase_winograd

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(phase_winograd, "CHUNK_TILES", chunk_tiles)
        _check_both("phase_winograd", cfg)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_phase_winograd_point_filters_against_the_whole_filter(monkeypatch, dtype):
    """In one chunk phase_winograd makes each point's filter from its taps just before its GEMM (never the
    whole transformed filter); in several chunks, or in a bound plan that keeps the filter, it builds the
    whole one.  All three paths, both directions, at layer size (96 -> 64 channels), against PyTorch, each
    path counted."""
    require_algorithm("phase_winograd")
    from tconv.algorithms import phase_winograd

    taken = []
    monkeypatch.setattr(phase_winograd._PointFilters, "products",
                        lambda self, v, out, _o=phase_winograd._PointFilters.products: (taken.append(v.shape[1]),
                                                                                       _o(self, v, out))[1])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 96, 7, 6)).astype(dtype)
    w = rng.standard_normal((96, 64, 4, 4)).astype(dtype)
    kw = dict(stride=2, padding=1, algorithm="phase_winograd")
    big = rng.standard_normal((3, 64, 14, 12)).astype(dtype)
    geo = dict(stride=(2, 2), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=1)
    want_t = torch_conv_transpose(x, w, None, output_padding=(0, 0), **geo)
    want_c = torch_conv(big, w, None, **geo)
    for chunk_tiles, bound, by_point in ((256, False, True), (1, False, False), (256, True, False)):
        monkeypatch.setattr(phase_winograd, "CHUNK_TILES", chunk_tiles)
        del taken[:]
        got_t = (tconv.plan_conv_transpose(x, w, **kw).bind(w)(x) if bound else tconv.conv_transpose(x, w, **kw))
        got_c = tconv.plan_conv(big, w, **kw).bind(w)(big) if bound else tconv.conv(big, w, **kw)
        assert_close(got_t, want_t, dtype)
        assert_close(got_c, want_c, dtype)
        # by point: each of the 4 output phases, then the convolution (stacked phases), all 3 x 2 x 2 tiles at once
        assert taken == ([12] * 5 if by_point else []), (chunk_tiles, bound, taken)


@settings(max_examples=40)
@given(cfg=phase_winograd_configs())
def test_other_algorithms_on_phase_winograd_configs(cfg):
    for algorithm in ("gemm", "phase", "subpixel", "auto"):
        _check_both(algorithm, cfg)


@settings(max_examples=40)
@given(cfg=winograd_configs())
def test_other_algorithms_on_winograd_configs(cfg):
    for algorithm in ("gemm", "phase", "subpixel", "auto"):
        _check_both(algorithm, cfg)


@settings(max_examples=60)
@given(cfg=depthwise_configs())
def test_other_algorithms_on_depthwise_configs(cfg):
    for algorithm in ("gemm", "phase", "subpixel", "fft", "auto"):
        _check_both(algorithm, cfg)


@settings(max_examples=60)
@given(cfg=no_overlap_configs())
def test_other_algorithms_on_no_overlap_configs(cfg):
    for algorithm in ("gemm", "phase", "subpixel", "fft", "auto"):
        _check_both(algorithm, cfg)


def test_fft_refuses_non_finite_inputs():
    """fft never hands them to another algorithm behind the caller's back (tests/test_planning.py has more)."""
    x = np.ones((1, 2, 5, 5))
    x[0, 0, 2, 2] = np.nan
    w = np.ones((2, 3, 3, 3))
    with pytest.raises(ValueError, match="algorithm 'fft' does not support x containing inf or nan"):
        tconv.conv_transpose(x, w, stride=2, algorithm="fft")


def test_unsupported_algorithms_name_themselves():
    with pytest.raises(ValueError, match="'nooverlap' does not support overlapping taps"):
        tconv.conv_transpose(np.ones((1, 2, 4)), np.ones((2, 2, 3)), stride=2, algorithm="nooverlap")
    with pytest.raises(ValueError, match="'depthwise' does not support groups"):
        tconv.conv_transpose(np.ones((1, 2, 4)), np.ones((2, 2, 3)), algorithm="depthwise")


def test_explain_reports_every_algorithm_and_the_choice():
    x, w = np.ones((2, 8, 6, 6), np.float32), np.ones((8, 4, 4, 4), np.float32)
    e = tconv.explain(x, w, stride=2, padding=1)
    assert e.algorithm in tconv.algorithm_names()
    assert {c.name for c in e.candidates} == set(tconv.algorithm_names())
    assert next(c for c in e.candidates if c.name == "nooverlap").unsupported
    assert e.algorithm in str(e)
    ec = tconv.explain(np.ones((2, 8, 12, 12)), np.ones((4, 8, 3, 3)), op="conv", stride=2)
    assert ec.geometry.output_shape == (5, 5)


def test_explain_measure_mode_remembers_the_fastest(tuning_state):
    x, w = np.ones((1, 4, 5, 5)), np.ones((4, 2, 3, 3))
    e = tconv.explain(x, w, stride=2, measure=True)
    timed = [c for c in e.candidates if c.measured_s is not None]
    assert timed and e.algorithm == min(timed, key=lambda c: c.measured_s).name
    assert e.reason.startswith("fastest when measured")
    np.testing.assert_allclose(tconv.conv_transpose(x, w, stride=2), tconv.conv_transpose(x, w, stride=2, algorithm="direct"))


def test_measure_mode_from_the_environment(monkeypatch, tuning_state):
    from tconv.ops import MEASURED

    monkeypatch.setenv("TCONV_AUTO", "measure")
    x, w = np.ones((1, 3, 7)), np.ones((3, 2, 5))
    y = tconv.conv_transpose(x, w, stride=3)
    assert any(g.input_shape == (7,) and g.kernel_shape == (5,) for g in MEASURED)
    np.testing.assert_allclose(y, tconv.conv_transpose(x, w, stride=3, algorithm="direct"))
    monkeypatch.setenv("TCONV_AUTO", "sometimes")
    with pytest.raises(ValueError, match="TCONV_AUTO"):
        tconv.conv_transpose(np.ones((1, 3, 8)), w, stride=3)


def test_thread_setting(monkeypatch):
    from tconv._threads import num_threads

    monkeypatch.setenv("TCONV_NUM_THREADS", "1")
    assert num_threads() == 1
    x, w = np.random.default_rng(0).standard_normal((2, 16, 20, 20)), np.ones((16, 1, 4, 4))
    one = tconv.conv_transpose(x, w, stride=2, groups=16, algorithm="depthwise")
    monkeypatch.setenv("TCONV_NUM_THREADS", "2")
    np.testing.assert_allclose(tconv.conv_transpose(x, w, stride=2, groups=16, algorithm="depthwise"), one)
    monkeypatch.setenv("TCONV_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="TCONV_NUM_THREADS"):
        num_threads()


def test_calibrate_measures_positive_constants(monkeypatch):
    from tconv.algorithms import cost

    monkeypatch.setattr(cost, "_MEASURED", {})  # keep the model's defaults for the other tests
    c = tconv.calibrate(np.float64, size=128)
    assert c.mac_seconds > 0 and c.byte_seconds > 0 and c.step_seconds > 0


@settings(max_examples=100)
@given(cfg=configs())
def test_gemm_channels_last_path_matches_torch(cfg):
    """The channels-last col2im of ``gemm`` (normally for >= 16 output channels) on the small random configs."""
    from tconv.algorithms import gemm

    saved = gemm._CHANNELS_LAST_MIN
    gemm._CHANNELS_LAST_MIN = 1
    try:
        _check_both("gemm", cfg)
    finally:
        gemm._CHANNELS_LAST_MIN = saved


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("algorithm", ["gemm", "phase", "subpixel", "nooverlap", "depthwise", "fft", "winograd",
                                       "phase_winograd"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threaded_sizes_match_direct(algorithm, dtype, chunked, monkeypatch):
    """Arrays large enough for the thread split (and the channels-last gemm), against the reference.

    ``chunked``: a tiny workspace budget, so gemm and phase run the batch one image at a time.
    """
    from tconv.algorithms import phasing

    from tconv.algorithms import phase

    monkeypatch.setattr(phase, "BATCH_PHASES_FROM", 4 if chunked else 8)  # both phase paths
    if chunked:
        monkeypatch.setattr(phasing, "WORKSPACE_FLOOR", 0)
        monkeypatch.setattr(phasing, "WORKSPACE_FRACTION", 1e-6)
    rng = np.random.default_rng(3)
    require_algorithm(algorithm)
    groups = {"depthwise": 24, "winograd": 1, "phase_winograd": 1}.get(algorithm, 2)
    stride, kernel = {"nooverlap": (3, (3, 2)), "winograd": (1, (3, 3)),
                      "phase_winograd": ((2, 3), (4, 6))}.get(algorithm, (2, (4, 3)))
    cin, cout = 24, (24 if algorithm == "depthwise" else 40)
    x = rng.standard_normal((5, cin, 20, 17)).astype(dtype)
    w = rng.standard_normal((cin, cout // groups) + kernel).astype(dtype)
    kw = dict(stride=stride, padding=((1, 2), (0, 1)), groups=groups)
    want = tconv.conv_transpose(x, w, algorithm="direct", **kw)
    assert_close(tconv.conv_transpose(x, w, algorithm=algorithm, **kw), want, dtype)
    xb = rng.standard_normal(want.shape).astype(dtype)
    assert_close(tconv.conv(xb, w, algorithm=algorithm, **kw), tconv.conv(xb, w, algorithm="direct", **kw), dtype)


@settings(max_examples=100)
@given(cfg=configs())
def test_phase_batched_path_matches_torch(cfg):
    """The batched-phases path of ``phase`` (normally for >= 8 phases) on the small random configs."""
    from tconv.algorithms import phase

    saved = phase.BATCH_PHASES_FROM
    phase.BATCH_PHASES_FROM = 1
    try:
        _check_both("phase", cfg)
    finally:
        phase.BATCH_PHASES_FROM = saved


def test_nooverlap_tiled_interleave_matches_the_gather():
    """Where the taps' blocks tile the output (stride == kernel, nothing cropped) and each image has at least
    ``PER_IMAGE_GEMM_FROM`` positions, ``nooverlap`` interleaves rows (``_interleave_taps``) slab by slab
    (``_tiled_slabs``); in one slab it gives the same bits as its general gather, in slabs of one input row
    and up the same to rounding, and PyTorch's result in float64, on 1-3 d layers with kernels 1-4 per dim
    (2 along the last: the vectorised branch), groups and several images.  Counted over dims, last-dim kernels of 2 and others,
    grouped layers, calls in more than two slabs (each also run in one), and slabs of several images."""
    from tconv.algorithms import nooverlap
    from tconv.params import conv_transpose_geometry

    seen = []

    @settings(max_examples=40, deadline=None)
    @given(data=st.data())
    def compare(data):
        nd = data.draw(st.integers(1, 3), label="ndim")
        kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
        inp = tuple(data.draw(st.integers(1, 9 if nd > 1 else 80)) for _ in range(nd))
        one_row = data.draw(st.booleans(), label="one input row per slab")  # then three slabs or more
        if one_row:
            inp = (max(3, inp[0]),) + inp[1:]
        if np.prod(inp) < nooverlap.PER_IMAGE_GEMM_FROM:
            inp = inp[:-1] + (-(-nooverlap.PER_IMAGE_GEMM_FROM // int(np.prod(inp[:-1]))),)
        g = data.draw(st.integers(1, 2), label="groups")
        ci, co = g * data.draw(st.integers(1, 3)), g * data.draw(st.integers(1, 3))
        n, dtype = data.draw(st.integers(1, 3), label="images"), data.draw(st.sampled_from(["float32", "float64"]))
        rng = np.random.default_rng(len(seen))
        x = rng.standard_normal((n, ci) + inp).astype(dtype)
        w = rng.standard_normal((ci, co // g) + kernel).astype(dtype)
        geom = conv_transpose_geometry(x, w, stride=kernel, groups=g)
        assert nooverlap._tiled(geom)
        least = 1 if one_row else data.draw(st.sampled_from([7, 64, nooverlap.SLAB_LEAST_POSITIONS]),
                                            label="slab positions")
        with pytest.MonkeyPatch.context() as mp:  # small slabs: several GEMMs, a shorter last slab
            mp.setattr(nooverlap, "SLAB_BYTES", 1)
            mp.setattr(nooverlap, "SLAB_LEAST_POSITIONS", least)
            nooverlap._slabs.cache_clear()
            slab = nooverlap._slabs(geom, x.dtype.itemsize)[0]
            got = nooverlap.conv_transpose(x, w, geom)
        nooverlap._slabs.cache_clear()
        assert nooverlap._slabs(geom, x.dtype.itemsize)[1] == n
        whole = nooverlap.conv_transpose(x, w, geom)  # one slab (these sizes), all images in one GEMM
        tolerance = 1e-6 if dtype == "float32" else 1e-14  # other GEMM shapes: other roundings
        np.testing.assert_allclose(got, whole, rtol=tolerance, atol=tolerance * np.abs(whole).max())
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(nooverlap, "_tiled", lambda geom: False)
            np.testing.assert_array_equal(whole, nooverlap.conv_transpose(x, w, geom))
        if dtype == "float64":
            assert_close(got, torch_conv_transpose(x, w, None, stride=kernel, padding=((0, 0),) * nd,
                                                   output_padding=(0,) * nd, dilation=(1,) * nd, groups=g), dtype)
        seen.append((nd, kernel[-1] == 2, g > 1, -(-inp[0] // slab), n))

    compare()
    assert len(seen) >= 30
    assert {nd for nd, *_ in seen} == {1, 2, 3} and {two for _, two, *_ in seen} == {True, False}
    assert {grouped for _, _, grouped, *_ in seen} == {True, False}
    assert sum(slabs > 2 for *_, slabs, _ in seen) >= 8  # and every call compared in one slab, too
    assert sum(images > 1 for *_, images in seen) >= 6  # several images in one slab's GEMM
