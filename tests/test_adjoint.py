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


# -- Geometry.adjoint(): the operator the gradients and ConvOperator run ---------------------------


def _random_geometry(rng):
    """A random validated Geometry (either direction) mixing the hard cases, and what it exercises."""
    from tconv.params import geometry_from_shapes

    nd = int(rng.integers(1, 4))
    kernel = tuple(int(v) for v in rng.integers(1, 4, nd))
    stride = tuple(int(v) for v in rng.integers(1, 6, nd))  # often larger than the kernel
    dilation = tuple(int(v) for v in rng.choice([1, 1, 2, 3], nd))
    groups = int(rng.choice([1, 1, 2, 3]))
    small_c, big_c = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    padding = tuple((int(rng.integers(0, 4)), int(rng.integers(0, 4))) for _ in range(nd))
    lead = (int(rng.integers(1, 3)),) if rng.random() < 0.8 else ()
    transposed = bool(rng.random() < 0.5)
    if transposed:
        small = tuple(int(v) for v in rng.integers(1, 5, nd))
        output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
        try:
            geom = geometry_from_shapes(True, lead + (small_c,) + small, (small_c, big_c // groups) + kernel,
                                        np.float64, stride=stride, padding=padding, output_padding=output_padding,
                                        dilation=dilation, groups=groups)
        except ValueError:  # the padding crops the whole output
            return None, set()
    else:
        big = tuple(int(v) for v in rng.integers(1, 12, nd))
        try:
            geom = geometry_from_shapes(False, lead + (big_c,) + big, (small_c, big_c // groups) + kernel, np.float64,
                                        stride=stride, padding=padding, dilation=dilation, groups=groups)
        except ValueError:  # the dilated kernel is larger than the padded input
            return None, set()
    features = {"transposed" if transposed else "conv"}
    features |= {"stride > kernel"} if any(s > k for s, k in zip(stride, kernel)) else set()
    features |= {"dilation"} if any(d > 1 for d in dilation) else set()
    features |= {"output_padding"} if any(geom.output_padding) else set()
    features |= {"asymmetric padding"} if any(lo != hi for lo, hi in padding) else set()
    features |= {"groups"} if groups > 1 else set()
    features |= {"unbatched"} if not lead else set()
    features |= {"dropped rows"} if any(after < 0 for _, after in geom.crops) else set()
    return geom, features


def _x_shape(geom):
    return ((geom.batch,) if geom.batched else ()) + (geom.in_channels,) + geom.input_shape


def _weight_shape(geom):
    return (geom.small_channels, geom.big_channels // geom.groups) + geom.kernel_shape


@pytest.mark.parametrize("algorithm", ["auto", "direct"])
def test_geometry_adjoint_is_the_exact_adjoint(algorithm):
    """<execute(g, x, w), y> == <x, execute(g.adjoint(), y, w)> over 250 random geometries."""
    from tconv.ops import execute

    rng = np.random.default_rng(2024)
    compared, seen = 0, set()
    while compared < 250:
        geom, features = _random_geometry(rng)
        if geom is None:
            continue
        adj = geom.adjoint()
        assert adj.transposed != geom.transposed and adj.crops == geom.crops
        assert adj.result_shape == _x_shape(geom) and _x_shape(adj) == geom.result_shape
        assert adj.adjoint().result_shape == geom.result_shape and adj.adjoint().crops == geom.crops
        w = rng.standard_normal(_weight_shape(geom))
        x = rng.standard_normal(_x_shape(geom))
        y = rng.standard_normal(geom.result_shape)
        forward, back = execute(geom, x, w, algorithm=algorithm), execute(adj, y, w, algorithm=algorithm)
        assert forward.shape == y.shape and back.shape == x.shape
        lhs, rhs = float(np.vdot(forward, y)), float(np.vdot(x, back))
        scale = max(1.0, float(np.abs(x).sum() * np.abs(back).max(initial=0)),
                    float(np.abs(y).sum() * np.abs(forward).max(initial=0)))
        assert abs(lhs - rhs) <= 1e-12 * scale, (geom, lhs, rhs)
        compared += 1
        seen |= features
    assert compared == 250
    assert seen >= {"transposed", "conv", "stride > kernel", "dilation", "output_padding", "asymmetric padding",
                    "groups", "unbatched", "dropped rows"}, seen


def test_geometry_adjoint_is_the_public_operator_of_the_other_direction():
    """The adjoint is the conv / conv_transpose a user would call: same hyper-parameters, the output_padding
    (for conv_transpose: the output_size) that gives back the input's shape."""
    from tconv.params import geometry_from_shapes

    rng = np.random.default_rng(7)
    compared = 0
    while compared < 200:
        geom, _ = _random_geometry(rng)
        if geom is None:
            continue
        adj = geom.adjoint()
        hyper = dict(stride=geom.stride, padding=geom.padding, dilation=geom.dilation, groups=geom.groups)
        if geom.transposed:  # the gradient of conv_transpose is conv, its output cropped to x's size
            public = geometry_from_shapes(False, _x_shape(adj), _weight_shape(geom), np.float64, **hyper)
            assert all(p >= n for p, n in zip(public.output_shape, geom.input_shape))
            assert public.before == adj.before and public.input_shape == adj.input_shape
            assert adj.output_shape == geom.input_shape
        else:
            public = geometry_from_shapes(True, _x_shape(adj), _weight_shape(geom), np.float64,
                                          output_size=geom.input_shape, **hyper)
            assert public.output_shape == adj.output_shape and public.crops == adj.crops
            assert public.before == adj.before
        compared += 1
    assert compared == 200
