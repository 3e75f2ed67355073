"""conv_transpose is the exact adjoint of conv: <conv(x), y> == <x, conv_transpose(y)>."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tconv
from support import configs, configs_for, require_algorithm


def _dot_test(cfg, extra, algorithm):
    rng = np.random.default_rng(cfg.seed)
    big = tuple(n + extra for n in cfg.big_spatial())
    w = rng.standard_normal((cfg.small_channels, cfg.big_channels // cfg.groups) + cfg.kernel)
    x = rng.standard_normal((cfg.batch, cfg.big_channels) + big)
    kw = dict(stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation, groups=cfg.groups, algorithm=algorithm)
    y_shape = (cfg.batch, cfg.small_channels) + tconv.conv_output_shape(
        big, cfg.kernel, stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation
    )
    y = rng.standard_normal(y_shape)
    lhs = float(np.vdot(tconv.conv(x, w, **kw), y))
    back = tconv.conv_transpose(y, w, output_size=big, **kw)
    assert back.shape == x.shape
    rhs = float(np.vdot(x, back))
    scale = max(1.0, float(np.abs(x).sum() * np.abs(back).max(initial=0)))
    assert abs(lhs - rhs) <= 1e-12 * scale, (lhs, rhs)


@pytest.mark.parametrize("algorithm", tconv.algorithm_names())
@given(data=st.data(), extra=st.integers(0, 3))
def test_dot_product(algorithm, data, extra):
    require_algorithm(algorithm)
    _dot_test(data.draw(configs_for(algorithm, max_batch=2)), extra, algorithm)


@pytest.mark.parametrize("padding", ["same", "valid"])
@given(cfg=configs(max_batch=2), extra=st.integers(0, 3))
def test_dot_product_string_padding(padding, cfg, extra):
    """'same' / 'valid' of conv and conv_transpose are adjoint too."""
    rng = np.random.default_rng(cfg.seed)
    big = tuple(n * s + extra for n, s in zip(cfg.small_spatial, cfg.stride))
    w = rng.standard_normal((cfg.small_channels, cfg.big_channels // cfg.groups) + cfg.kernel)
    x = rng.standard_normal((cfg.batch, cfg.big_channels) + big)
    kw = dict(stride=cfg.stride, dilation=cfg.dilation, groups=cfg.groups)
    try:
        y_conv = tconv.conv(x, w, padding=padding, **kw)
    except ValueError:  # kernel larger than a 'valid' input
        return
    y = rng.standard_normal(y_conv.shape)
    pads = tconv.shapes.forward_padding(padding, big, cfg.kernel, cfg.stride, cfg.dilation)
    back = tconv.conv_transpose(y, w, padding=pads, output_size=big, **kw)
    assert abs(np.vdot(y_conv, y) - np.vdot(x, back)) <= 1e-12 * max(1.0, np.abs(x).sum() * np.abs(back).max(initial=0))
