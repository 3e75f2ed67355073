"""Initializers: values, distributions (against the formulas and torch.nn.init), reproducibility, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import tconv
import tconv.init as init
import tconv.nn as nn
from torch_autograd import torch

SHAPE = (64, 48, 3, 3)  # fan_in 432, fan_out 576; 27648 samples


def _check_uniform(values, bound):
    v = np.asarray(values, np.float64).ravel()
    assert np.abs(v).max() <= bound
    assert stats.kstest(v, stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-4


def _check_normal(values, std):
    v = np.asarray(values, np.float64).ravel()
    assert stats.kstest(v, stats.norm(0, std).cdf).pvalue > 1e-4
    assert abs(v.std() / std - 1) < 5 * math.sqrt(0.5 / v.size)


# -- values -------------------------------------------------------------------------------------------


def test_constant_broadcasts_array_values():
    K = np.array([[0.0, 1], [2, 3]])
    np.testing.assert_array_equal(init.Constant(K)((1, 1, 2, 2)), K[None, None])
    np.testing.assert_array_equal(init.Constant(K)((3, 2, 2, 2))[2, 1], K)
    np.testing.assert_array_equal(init.Constant(0.25)((2, 3)), np.full((2, 3), 0.25))
    assert init.Constant(K)((1, 1, 2, 2), np.float64).dtype == np.float64
    out = init.Constant(K)((1, 1, 2, 2))
    out[...] = 7  # a fresh, writable array; K is untouched
    np.testing.assert_array_equal(K, [[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=r"value of shape \(2, 2\) cannot be broadcast to the weight shape \(1, 1, 3, 3\)"):
        init.Constant(K)((1, 1, 3, 3))
    with pytest.raises(TypeError, match="value"):
        init.Constant("a")


def _fcn_tent(k):
    """FCN's upsample_filt, written from its definition: 1 - |t - centre| / factor."""
    factor = (k + 1) // 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    return np.array([1 - abs(t - centre) / factor for t in range(k)])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8])
def test_bilinear_kernel_values(k):
    w = init.Bilinear()((3, 3, k, k), np.float64)
    tent = _fcn_tent(k)
    for i in range(3):
        for j in range(3):
            np.testing.assert_allclose(w[i, j], np.outer(tent, tent) if i == j else 0)
    depthwise = init.Bilinear()((3, 1, k), np.float64)
    np.testing.assert_allclose(depthwise[:, 0], np.tile(tent, (3, 1)))
    np.testing.assert_allclose(init.Bilinear()((1, 1, 4), np.float64)[0, 0], [0.25, 0.75, 0.75, 0.25])


def test_bilinear_upsamples_like_interpolation():
    """ConvTranspose2d(k=2s, stride=s, padding=s/2) + Bilinear: a linear ramp stays a ramp (interior)."""
    s = 2
    layer = nn.ConvTranspose2d(2, 2, kernel_size=2 * s, stride=s, padding=s // 2, bias=False, dtype=np.float64)
    layer.weight = init.Bilinear()(layer.weight_shape, np.float64)
    rows, cols = np.meshgrid(np.arange(6.0), np.arange(5.0), indexing="ij")
    x = np.stack([rows, 2 * cols + 1])[None]
    y = layer(x)
    assert y.shape == (1, 2, 12, 10)
    # output position o sits at input coordinate (o + 0.5) / s - 0.5
    r_out = (np.arange(12) + 0.5) / s - 0.5
    c_out = (np.arange(10) + 0.5) / s - 0.5
    np.testing.assert_allclose(y[0, 0, 1:-1, 1:-1], np.broadcast_to(r_out[1:-1, None], (10, 8)))
    np.testing.assert_allclose(y[0, 1, 1:-1, 1:-1], np.broadcast_to(2 * c_out[None, 1:-1] + 1, (10, 8)))
    constant = nn.ConvTranspose2d(3, 3, kernel_size=4, stride=2, padding=1, groups=3, bias=False, dtype=np.float64)
    constant.weight = init.Bilinear()(constant.weight_shape, np.float64)
    np.testing.assert_allclose(constant(np.ones((3, 4, 4)))[:, 1:-1, 1:-1], 1.0)


# -- distributions ---------------------------------------------------------------------------------------


def test_uniform_and_normal():
    _check_uniform(init.Uniform(seed=0)(SHAPE), 0.07)
    _check_uniform(init.Uniform(0.5, seed=1)(SHAPE), 0.5)
    _check_normal(init.Normal(seed=2)(SHAPE), 0.01)
    _check_normal(init.Normal(2.0, seed=3)(SHAPE), 2.0)


def test_xavier():
    fan_in, fan_out = 48 * 9, 64 * 9
    _check_uniform(init.Xavier(seed=0)(SHAPE), math.sqrt(6 / (fan_in + fan_out)))
    _check_uniform(init.Xavier(factor_type="in", magnitude=2, seed=0)(SHAPE), math.sqrt(2 / fan_in))
    _check_normal(init.Xavier("gaussian", "out", 1.5, seed=0)(SHAPE), math.sqrt(1.5 / fan_out))


@pytest.mark.parametrize("a,mode,nonlinearity,distribution", [
    (0.0, "fan_in", "relu", "normal"),
    (0.0, "fan_out", "relu", "uniform"),
    (math.sqrt(5), "fan_in", "leaky_relu", "uniform"),  # PyTorch's default for conv weights
    (0.2, "fan_out", "leaky_relu", "normal"),
    (0.0, "fan_in", "tanh", "uniform"),
])
def test_kaiming_matches_torch_init(a, mode, nonlinearity, distribution):
    values = init.Kaiming(a, mode, nonlinearity, distribution, seed=0)(SHAPE, np.float64)
    fan = 48 * 9 if mode == "fan_in" else 64 * 9
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    if distribution == "uniform":
        _check_uniform(values, math.sqrt(3) * std)
    else:
        _check_normal(values, std)
    torch.manual_seed(0)
    t = torch.empty(SHAPE, dtype=torch.float64)
    fill = torch.nn.init.kaiming_uniform_ if distribution == "uniform" else torch.nn.init.kaiming_normal_
    fill(t, a=a, mode=mode, nonlinearity=nonlinearity)
    assert stats.ks_2samp(values.ravel(), t.numpy().ravel()).pvalue > 1e-4


def test_fans_and_gains_match_torch():
    for shape in [(5, 3), (4, 6, 3), (8, 2, 3, 5), (2, 3, 1, 2, 4)]:
        assert init.fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    for name in ["linear", "conv2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "selu"]:
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    for slope in (None, 0.0, 0.2, math.sqrt(5)):
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", slope))


# -- reproducibility ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda seed: init.Uniform(seed=seed),
    lambda seed: init.Normal(seed=seed),
    lambda seed: init.Xavier(seed=seed),
    lambda seed: init.Kaiming(seed=seed),
])
def test_seed_and_generator(make):
    np.testing.assert_array_equal(make(3)((4, 5, 2)), make(3)((4, 5, 2)))
    assert not np.array_equal(make(3)((4, 5, 2)), make(4)((4, 5, 2)))
    one = make(3)
    assert not np.array_equal(one((4, 5, 2)), one((4, 5, 2)))  # successive draws of one stream
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(make(rng_a)((4, 5, 2)), make(rng_b)((4, 5, 2)))
    assert rng_a.bit_generator.state == rng_b.bit_generator.state  # the generator itself was used


def test_gluon_layer_initialize_is_reproducible():
    def build():
        layer = nn.Conv2DTranspose(3, kernel_size=3)
        layer.initialize(init.Xavier(seed=11))
        layer(np.ones((1, 2, 4, 4)))
        return layer.weight

    np.testing.assert_array_equal(build(), build())


# -- errors ------------------------------------------------------------------------------------------------


def test_bad_arguments():
    with pytest.raises(TypeError, match="seed must be None, a non-negative int or a numpy.random.Generator"):
        init.Uniform(seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        init.Normal(seed=-1)
    with pytest.raises(ValueError, match="scale must be a positive number"):
        init.Uniform(-0.1)
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        init.Normal(0)
    with pytest.raises(ValueError, match="rnd_type must be one of"):
        init.Xavier(rnd_type="normal")
    with pytest.raises(ValueError, match="mode must be one of"):
        init.Kaiming(mode="avg")
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        init.Kaiming(nonlinearity="gelu")
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.Xavier()((5,))
    with pytest.raises(ValueError, match="Bilinear needs a convolution weight shape"):
        init.Bilinear()((3, 3))
    with pytest.raises(ValueError, match="shape must not have negative sizes"):
        init.Uniform()((2, -1))
    with pytest.raises(TypeError, match="shape must be a sequence of ints"):
        init.Uniform()("ab")
    assert tconv.__version__


@pytest.mark.parametrize("module", ['tconv.init'])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
