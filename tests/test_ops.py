"""Behaviour of the public operator beyond the torch comparison: dtypes, layouts, strings, purity."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tconv
from support import configs, configs_for, require_algorithm

ALGORITHMS = ["auto", *tconv.algorithm_names()]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(data=st.data())
def test_inputs_are_never_modified(algorithm, data):
    require_algorithm(algorithm)
    cfg = data.draw(configs_for(algorithm, max_batch=2))
    x, w, b = cfg.arrays()
    copies = [a.copy() for a in (x, w, b)]
    kw = dict(stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation, groups=cfg.groups)
    y = tconv.conv_transpose(x, w, b, output_padding=cfg.output_padding, algorithm=algorithm, **kw)
    rng = np.random.default_rng(cfg.seed)
    wc = rng.standard_normal((cfg.small_channels, cfg.big_channels // cfg.groups) + cfg.kernel)
    yc = tconv.conv(y, wc, algorithm=algorithm, **kw)
    for before, after in zip(copies, (x, w, b)):
        assert np.array_equal(before, after)
    assert not np.shares_memory(y, x) and not np.shares_memory(yc, y)


@pytest.mark.parametrize(
    "xdt,wdt,want",
    [
        ("float32", "float32", "float32"),
        ("float64", "float64", "float64"),
        ("float32", "float64", "float64"),
        ("int64", "int64", "float64"),
        ("int32", "float32", "float64"),
        ("uint8", "float32", "float32"),
        ("float16", "float16", "float16"),
    ],
)
def test_result_dtype_follows_numpy_promotion(xdt, wdt, want):
    x = np.arange(8).reshape(1, 2, 4).astype(xdt)
    w = np.ones((2, 1, 3), dtype=wdt)
    assert tconv.conv_transpose(x, w).dtype == np.dtype(want)
    assert tconv.conv(x, np.ones((1, 2, 3), dtype=wdt)).dtype == np.dtype(want)


def test_integer_inputs_compute_exactly():
    X = [[[[0, 1], [2, 3]]]]
    assert np.array_equal(tconv.conv_transpose(X, X, stride=2)[0, 0], [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unbatched_matches_batched(algorithm):
    require_algorithm(algorithm)
    rng = np.random.default_rng(3)
    depthwise = algorithm == "depthwise"
    stride = {"nooverlap": (2, 3), "winograd": (1, 1), "phase_winograd": (2, 2)}.get(algorithm, (2, 1))
    kw = dict(stride=stride, padding=((1, 0), (0, 2)), groups=3 if depthwise else 1)
    c_out = 3 if depthwise else 2
    x = rng.standard_normal((3, 5, 4))
    kernel = {"winograd": (3, 3), "phase_winograd": (4, 4)}.get(algorithm, (2, 3))
    w = rng.standard_normal((3, 1 if depthwise else 2) + kernel)
    b = rng.standard_normal(c_out)
    y = tconv.conv_transpose(x, w, b, algorithm=algorithm, **kw)
    np.testing.assert_allclose(y, tconv.conv_transpose(x[None], w, b, algorithm="direct", **kw)[0], rtol=1e-12)
    assert y.ndim == 3
    yc = tconv.conv(y, w, algorithm=algorithm, **kw)
    np.testing.assert_allclose(yc, tconv.conv(y[None], w, algorithm="direct", **kw)[0], rtol=1e-12)
    assert yc.shape == (3, 5, 4)


def test_non_contiguous_and_list_inputs():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((2, 3, 8, 10))
    x = base[:, :, ::2, 1::3]  # strided view
    w = np.asfortranarray(rng.standard_normal((3, 2, 3, 3)))
    want = tconv.conv_transpose(np.ascontiguousarray(x), np.ascontiguousarray(w), stride=2)
    np.testing.assert_allclose(tconv.conv_transpose(x, w, stride=2), want, rtol=1e-12)
    np.testing.assert_allclose(tconv.conv_transpose(x.tolist(), w.tolist(), stride=2), want, rtol=1e-12)


@given(
    n=st.integers(1, 9), k=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 3), nd=st.integers(1, 2),
)
def test_same_padding_gives_in_times_stride(n, k, s, d, nd):
    """'same' is TF/Keras/JAX SAME: in*stride outputs, cropped from the full output with the odd crop at the end."""
    rng = np.random.default_rng(n * 100 + k)
    x = rng.standard_normal((1, 2) + (n,) * nd)
    w = rng.standard_normal((2, 3) + (k,) * nd)
    y = tconv.conv_transpose(x, w, stride=s, dilation=d, padding="same")
    assert y.shape[2:] == (n * s,) * nd
    k_eff = d * (k - 1) + 1
    full = tconv.conv_transpose(x, w, stride=s, dilation=d)
    # JAX's rule: pad_before = k_eff - 1 if s > k_eff - 1 else ceil((k_eff + s - 2) / 2) of the dilated input,
    # i.e. crop_before = k_eff - 1 - pad_before of the full output; the rest beyond the full output is zero.
    pad_a = k_eff - 1 if s > k_eff - 1 else -(-(k_eff + s - 2) // 2)
    lo = k_eff - 1 - pad_a
    padded = np.pad(full, [(0, 0), (0, 0)] + [(0, n * s)] * nd)
    want = padded[(slice(None), slice(None)) + (slice(lo, lo + n * s),) * nd]
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert tconv.conv_transpose_output_shape((n,) * nd, k, stride=s, dilation=d, padding="same") == (n * s,) * nd


def test_valid_padding_crops_nothing():
    x, w = np.ones((1, 1, 3)), np.ones((1, 1, 4))
    assert tconv.conv_transpose(x, w, stride=2, padding="valid").shape == (1, 1, 8)
    assert tconv.conv_transpose(x, w, stride=2, padding="valid", output_padding=1).shape == (1, 1, 9)
    assert tconv.conv(np.ones((1, 1, 8)), np.ones((1, 1, 4)), stride=2, padding="VALID").shape == (1, 1, 3)


def test_conv_same_padding_keeps_size_at_stride_one_and_ceil_divides_otherwise():
    x = np.random.default_rng(5).standard_normal((1, 1, 7, 6))
    for k in (1, 2, 3, 4):
        assert tconv.conv(x, np.ones((1, 1, k, k)), padding="same").shape == (1, 1, 7, 6)
    assert tconv.conv(x, np.ones((1, 1, 3, 3)), padding="same", stride=2).shape == (1, 1, 4, 3)


def test_output_size_forms():
    x, w = np.ones((2, 1, 4, 4)), np.ones((1, 1, 3, 3))
    for size in [(10, 9), (2, 1, 10, 9), [10, 9]]:
        assert tconv.conv_transpose(x, w, stride=2, output_size=size).shape == (2, 1, 10, 9)
    assert tconv.conv_transpose(x[0], w, stride=2, output_size=(1, 10, 10)).shape == (1, 10, 10)
    # with dilation > stride every size up to min + dilation - 1 is reachable (PyTorch's kernel rule)
    assert tconv.conv_transpose(x, w, stride=1, dilation=3, output_size=(12, 12)).shape[2:] == (12, 12)
    assert tconv.conv_transpose(np.ones((1, 1, 4)), np.ones((1, 1, 3)), stride=2, output_size=10).shape == (1, 1, 10)


@given(cfg=configs(max_batch=1))
def test_shape_functions_agree_with_the_operator(cfg):
    x, w, _ = cfg.arrays()
    kw = dict(stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation)
    y = tconv.conv_transpose(x, w, output_padding=cfg.output_padding, groups=cfg.groups, **kw)
    assert y.shape[2:] == tconv.conv_transpose_output_shape(cfg.small_spatial, cfg.kernel, output_padding=cfg.output_padding, **kw)
    w_conv = np.ones((cfg.groups, cfg.big_channels // cfg.groups) + cfg.kernel)
    want = tconv.conv(y, w_conv, groups=cfg.groups, **kw).shape[2:]
    assert tconv.conv_output_shape(y.shape[2:], cfg.kernel, **kw) == want


def test_empty_batch():
    y = tconv.conv_transpose(np.ones((0, 2, 3, 3)), np.ones((2, 4, 2, 2)), np.ones(4), stride=2)
    assert y.shape == (0, 4, 6, 6)
    assert tconv.conv(np.ones((0, 2, 3, 3)), np.ones((4, 2, 2, 2))).shape == (0, 4, 2, 2)


def test_nan_propagates_like_torch():
    x = np.zeros((1, 1, 3))
    x[0, 0, 1] = np.nan
    y = tconv.conv_transpose(x, np.ones((1, 1, 2)))
    assert np.isnan(y[0, 0, 1]) and np.isnan(y[0, 0, 2]) and y[0, 0, 0] == 0


def test_four_spatial_dims():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 1, 2, 2, 2, 2))
    w = rng.standard_normal((1, 1, 2, 2, 2, 2))
    y = tconv.conv_transpose(x, w, algorithm="direct")
    np.testing.assert_allclose(y, tconv.conv_transpose(x, w, algorithm="gemm"), rtol=1e-12)
    assert y.shape == (1, 1, 3, 3, 3, 3)
    assert abs(y.sum() - x.sum() * w.sum()) < 1e-9
