"""Layers: the chapter's PyTorch and Gluon code, agreement with torch.nn, default init, errors, training bits."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv
import tconv.init as init
import tconv.nn as nn
import tconv.optim as optim
from support import Config, assert_close, configs, record_error
from torch_autograd import torch

X = np.array([[0.0, 1], [2, 3]]).reshape(1, 1, 2, 2)
K = np.array([[0.0, 1], [2, 3]]).reshape(1, 1, 2, 2)
CHAPTER = {  # the chapter's printed outputs
    "plain": [[0, 0, 1], [0, 4, 6], [4, 12, 9]],
    "padding": [[4]],
    "stride": [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]],
}
TORCH_ARGS = {"plain": {}, "padding": {"padding": 1}, "stride": {"stride": 2}}
GLUON_ARGS = {"plain": {}, "padding": {"padding": 1}, "stride": {"strides": 2}}


# -- the chapter, PyTorch style and Gluon style -------------------------------------------------


@pytest.mark.parametrize("case", list(CHAPTER))
@pytest.mark.parametrize("how", ["attribute", "setitem", "data"])
def test_chapter_pytorch_style(case, how):
    layer = nn.ConvTranspose2d(1, 1, kernel_size=2, bias=False, **TORCH_ARGS[case])
    if how == "attribute":
        layer.weight = K
    elif how == "setitem":
        layer.weight[...] = K
    else:
        layer.weight.data = K  # the chapter's own line
    assert layer.bias is None
    np.testing.assert_array_equal(layer(X), np.array(CHAPTER[case], dtype=float)[None, None])


@pytest.mark.parametrize("case", list(CHAPTER))
def test_chapter_gluon_style(case):
    layer = nn.Conv2DTranspose(1, kernel_size=2, **GLUON_ARGS[case])
    layer.initialize(init.Constant(K))
    np.testing.assert_array_equal(layer(X), np.array(CHAPTER[case], dtype=float)[None, None])
    np.testing.assert_array_equal(layer.bias, [0.0])


def test_chapter_shape_inversion_both_styles():
    x = np.random.default_rng(0).uniform(size=(1, 10, 16, 16))
    conv = nn.Conv2d(10, 20, kernel_size=5, padding=2, stride=3)
    tconv_layer = nn.ConvTranspose2d(20, 10, kernel_size=5, padding=2, stride=3)
    assert conv(x).shape == (1, 20, 6, 6)
    assert tconv_layer(conv(x)).shape == x.shape
    conv_g = nn.Conv2D(20, kernel_size=5, padding=2, strides=3)
    tconv_g = nn.Conv2DTranspose(10, kernel_size=5, padding=2, strides=3)
    conv_g.initialize()
    tconv_g.initialize()
    assert tconv_g(conv_g(x)).shape == x.shape
    assert conv_g.weight.shape == (20, 10, 5, 5) and tconv_g.weight.shape == (20, 10, 5, 5)


# -- agreement with torch.nn over random configurations -----------------------------------------


def _torch_layer(cfg: Config, transposed: bool, bias: bool):
    nd = cfg.ndim
    common = dict(kernel_size=cfg.kernel, stride=cfg.stride, padding=tuple(lo for lo, _ in cfg.padding),
                  dilation=cfg.dilation, groups=cfg.groups, bias=bias, dtype=torch.float64)
    if transposed:
        cls = getattr(torch.nn, f"ConvTranspose{nd}d")
        return cls(cfg.small_channels, cfg.big_channels, output_padding=cfg.output_padding, **common)
    return getattr(torch.nn, f"Conv{nd}d")(cfg.big_channels, cfg.small_channels, **common)


def _ours(cfg: Config, transposed: bool, bias: bool):
    nd = cfg.ndim
    common = dict(kernel_size=cfg.kernel, stride=cfg.stride, padding=tuple(lo for lo, _ in cfg.padding),
                  dilation=cfg.dilation, groups=cfg.groups, bias=bias, dtype=np.float64)
    if transposed:
        cls = getattr(nn, f"ConvTranspose{nd}d")
        return cls(cfg.small_channels, cfg.big_channels, output_padding=cfg.output_padding, **common)
    return getattr(nn, f"Conv{nd}d")(cfg.big_channels, cfg.small_channels, **common)


def _check(what, got, want):
    assert_close(got, want, "float64")
    record_error(f"nn layers vs torch.nn ({what})", "float64", got, want)


def _compare_layer(ours, theirs, x, output_size=None):
    ours.weight = theirs.weight.detach().numpy()
    if theirs.bias is not None:
        ours.bias = theirs.bias.detach().numpy()
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = theirs(tx) if output_size is None else theirs(tx, output_size=output_size)
    y = ours(x) if output_size is None else ours(x, output_size=output_size)
    _check("forward", y, ty.detach().numpy())
    gy = np.random.default_rng(1).standard_normal(y.shape)
    ty.backward(torch.from_numpy(gy))
    _check("grad_input", ours.backward(gy), tx.grad.numpy())
    _check("weight_grad", ours.weight_grad, theirs.weight.grad.numpy())
    if theirs.bias is not None:
        _check("bias_grad", ours.bias_grad, theirs.bias.grad.numpy())
    else:
        assert ours.bias_grad is None


@settings(max_examples=100)
@given(cfg=configs(symmetric=True), bias=st.booleans(), use_output_size=st.booleans())
def test_conv_transpose_layers_match_torch(cfg, bias, use_output_size):
    x, _, _ = cfg.arrays()
    x = x.astype(np.float64)
    output_size = None
    # torch.nn's output_size accepts output_padding < stride only (its functional form, and tconv, go up to
    # max(stride, dilation) - 1)
    if use_output_size and all(op < s for op, s in zip(cfg.output_padding, cfg.stride)):
        # the same output size, reached through output_size instead of output_padding
        output_size = list(cfg.big_spatial())
        cfg = Config(**{**cfg.__dict__, "output_padding": (0,) * cfg.ndim})
    _compare_layer(_ours(cfg, True, bias), _torch_layer(cfg, True, bias), x, output_size)


@settings(max_examples=100)
@given(cfg=configs(symmetric=True), bias=st.booleans(), extra=st.integers(0, 2))
def test_conv_layers_match_torch(cfg, bias, extra):
    big = tuple(n + extra for n in cfg.big_spatial())
    x = np.random.default_rng(cfg.seed).standard_normal((cfg.batch, cfg.big_channels) + big)
    _compare_layer(_ours(cfg, False, bias), _torch_layer(cfg, False, bias), x)


def test_unbatched_input_and_asymmetric_padding():
    layer = nn.ConvTranspose1d(2, 3, 3, stride=2, padding=((1, 0),), dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 5))
    y = layer(x)
    gy = np.ones_like(y)
    gx = layer.backward(gy)
    want = tconv.conv_transpose_backward(gy, x, layer.weight, stride=2, padding=((1, 0),))
    np.testing.assert_allclose(gx, want[0])
    np.testing.assert_allclose(layer.weight_grad, want[1])
    np.testing.assert_allclose(layer.bias_grad, want[2])
    same = nn.ConvTranspose2d(1, 1, 3, stride=2, padding="same", seed=0)
    assert same(np.ones((1, 4, 4))).shape == (1, 8, 8)


def test_backward_uses_the_weight_of_the_forward_call():
    layer = nn.Conv1d(1, 1, 2, bias=False, dtype=np.float64)
    layer.weight = [[[1.0, 2.0]]]
    x = np.arange(4.0).reshape(1, 1, 4)
    layer(x)
    layer.weight[...] = 0  # e.g. an optimizer step between forward and backward
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 3))), [[[1.0, 3.0, 3.0, 2.0]]])


def test_inputs_are_not_modified():
    layer = nn.ConvTranspose2d(2, 2, 3, seed=1)
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 3))
    x0 = x.copy()
    gy = np.ones_like(layer(x))
    gy0 = gy.copy()
    layer.backward(gy)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(gy, gy0)



# -- one Geometry per input shape ---------------------------------------------------------------


@pytest.fixture
def geometry_builds(monkeypatch):
    """Counts the layers' geometry builds; any other validation during forward / backward fails the test."""
    import tconv.grad
    import tconv.nn.base
    import tconv.ops

    calls = []
    build = tconv.nn.base.geometry_from_shapes

    def counted(*args, **kwargs):
        calls.append(args[1])  # x's shape
        return build(*args, **kwargs)

    def refused(*args, **kwargs):
        raise AssertionError("a layer's forward / backward validated its arguments again")

    monkeypatch.setattr(tconv.nn.base, "geometry_from_shapes", counted)
    monkeypatch.setattr(tconv.ops, "call_geometry", refused)
    for name in ("conv_geometry", "conv_transpose_geometry"):
        monkeypatch.setattr(tconv.grad, name, refused)
    return calls


def _train(net, shapes, rng):
    opt, loss = optim.SGD(net.parameters(), lr=0.01), nn.MSELoss()
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        y = net(x)
        loss(y, rng.standard_normal(y.shape).astype(np.float32))
        net.backward(loss.backward())
        opt.step()


def test_a_layer_builds_its_geometry_once_per_input_shape(geometry_builds):
    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, seed=0), nn.ReLU(),
                        nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1, seed=0))
    _train(net, [(2, 1, 8, 8)] * 4, rng)
    assert len(geometry_builds) == 2  # one per layer, over four training steps
    _train(net, [(3, 1, 10, 10)] * 3, rng)
    assert len(geometry_builds) == 4  # a new input shape: one more per layer
    _train(net, [(2, 1, 8, 8), (3, 1, 10, 10)] * 2, rng)
    assert len(geometry_builds) == 4  # both shapes are kept
    net.double()
    _train(net, [(2, 1, 8, 8)] * 2, rng)
    assert len(geometry_builds) == 6  # float64 parameters: another geometry (float64 results)


def test_output_size_and_gluon_layers_keep_their_geometries(geometry_builds):
    layer = nn.ConvTranspose1d(2, 1, 3, stride=2, seed=0)
    x = np.ones((1, 2, 4), np.float32)
    for _ in range(3):
        assert layer(x, output_size=(10,)).shape == (1, 1, 10)
        layer.backward(np.ones((1, 1, 10), np.float32))
    assert layer(x, output_size=[1, 1, 9]).shape == (1, 1, 9)
    assert len(geometry_builds) == 2
    with pytest.raises(ValueError, match="output_size"):
        layer(x, output_size=(20,))
    gluon = nn.Conv2DTranspose(3, kernel_size=3, strides=2, in_channels=0)
    gluon.initialize(init.Uniform(seed=0))
    for _ in range(3):
        gluon.backward(np.ones_like(gluon(np.ones((2, 5, 4, 4), np.float32))))
    assert len(geometry_builds) == 4 and gluon.weight_grad.shape == (5, 3, 3, 3)


def test_layer_geometries_are_bounded():
    from tconv.nn.base import GEOMETRY_CACHE_SIZE

    layer = nn.Conv1d(1, 1, 2, seed=0)
    for n in range(2, GEOMETRY_CACHE_SIZE + 6):
        assert layer(np.ones((1, 1, n), np.float32)).shape == (1, 1, n - 1)
    assert len(layer._geometries) == GEOMETRY_CACHE_SIZE


def test_parameters_behave_as_plain_arrays():
    import copy
    import pickle

    layer = nn.ConvTranspose2d(1, 2, 2, seed=0)
    w = layer.weight
    assert isinstance(w, np.ndarray) and w.name == "weight" and layer.bias.name == "bias"
    for result in (w * 2, w + w, np.sin(w), np.concatenate([w, w]), np.asarray(w), w @ np.ones(2)):
        assert type(result) is np.ndarray
    assert type(w.sum()) is np.float32
    layer.weight -= 1  # in place: the same object stays attached (optimizers keep working)
    assert layer.weight is w
    layer.weight = w  # assigning the parameter to itself is a no-op
    restored = pickle.loads(pickle.dumps(w))
    np.testing.assert_array_equal(restored, w)
    np.testing.assert_array_equal(copy.deepcopy(w), w)
    layer(np.ones((1, 1, 2, 2)))
    layer.backward(np.ones((1, 2, 3, 3)))
    assert layer.weight_grad is w.grad and w.grad.shape == w.shape
    layer.zero_grad()
    assert layer.weight_grad is None and layer.bias_grad is None
    assert nn.Sequential(layer, nn.ReLU(), layer).parameters() == [w, layer.bias, w, layer.bias]


# -- PyTorch's default initialisation ------------------------------------------------------------

DEFAULT_INIT_CASES = [
    ("ConvTranspose2d", (48, 32, 3), {}),
    ("ConvTranspose2d", (48, 32, 3), {"groups": 4}),  # fan_in = 32 // 4 * 9: from the out channels
    ("ConvTranspose1d", (64, 40, 5), {}),
    ("ConvTranspose3d", (16, 24, 3), {"groups": 2}),
    ("Conv2d", (32, 48, 3), {}),
    ("Conv1d", (40, 64, 5), {"groups": 8}),
    ("Conv3d", (24, 16, 3), {}),
]


@pytest.mark.parametrize("name,args,kwargs", DEFAULT_INIT_CASES)
def test_default_init_has_pytorchs_distribution(name, args, kwargs):
    from scipy import stats

    ours = getattr(nn, name)(*args, seed=0, **kwargs)
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert ours.weight.shape == tuple(theirs.weight.shape) and ours.weight.dtype == np.float32
    w_theirs = theirs.weight.detach().numpy().ravel()
    fan_in = ours.weight.shape[1] * int(np.prod(ours.kernel_size))
    bound = 1 / math.sqrt(fan_in)
    for ours_values, theirs_values in ((ours.weight.ravel(), w_theirs),
                                       (ours.bias, theirs.bias.detach().numpy())):
        assert np.abs(ours_values).max() <= bound
        assert np.abs(theirs_values).max() <= bound  # the same bound (same fan_in) as PyTorch
    w = np.asarray(ours.weight, np.float64).ravel()
    n = w.size
    assert abs(w.mean()) < 5 * bound / math.sqrt(3 * n)
    assert abs(w.var() / (bound**2 / 3) - 1) < 5 * math.sqrt(0.8 / n)  # var of U(-b, b) is b^2/3
    assert np.abs(w).max() > bound * (1 - 20 / n)
    assert stats.ks_2samp(w, w_theirs).pvalue > 1e-4
    assert stats.kstest(np.asarray(ours.bias, np.float64), stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-4


def test_seed_makes_layers_reproducible():
    a, b, c = (nn.ConvTranspose2d(3, 4, 3, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(a.bias, b.bias)
    assert not np.array_equal(a.weight, c.weight)
    rng = np.random.default_rng(5)
    d = nn.Conv2d(3, 4, 3, seed=rng)
    e = nn.Conv2d(3, 4, 3, seed=rng)
    assert not np.array_equal(d.weight, e.weight)  # one generator, successive draws


# -- Gluon's initialize and deferred shapes --------------------------------------------------------


def test_gluon_initialize_rules():
    layer = nn.Conv2DTranspose(4, kernel_size=3, in_channels=2)
    assert layer.weight is None
    layer.initialize()  # Gluon's default: Uniform(0.07); bias zero
    assert layer.weight.shape == (2, 4, 3, 3)
    assert np.abs(layer.weight).max() <= 0.07 and np.abs(layer.weight).max() > 0.05
    np.testing.assert_array_equal(layer.bias, np.zeros(4))
    with pytest.warns(UserWarning, match="already initialized"):
        layer.initialize(init.Constant(1.0))
    assert not np.all(layer.weight == 1.0)
    layer.initialize(init.Constant(1.0), force_reinit=True)
    assert np.all(layer.weight == 1.0)
    own = nn.Conv2D(3, kernel_size=2, weight_initializer=init.Constant(2.0))
    own.initialize(init.Constant(5.0))  # the layer's own initializer wins, as in Gluon
    own(np.ones((1, 6, 4, 4)))
    assert np.all(own.weight == 2.0) and own.weight.shape == (3, 6, 2, 2)
    no_bias = nn.Conv2D(3, kernel_size=2, use_bias=False, in_channels=1)
    no_bias.initialize(init.Xavier(seed=0))
    assert no_bias.bias is None and no_bias.parameters() == [no_bias.weight]


def test_gluon_deferred_inference_and_backward():
    layer = nn.Conv2DTranspose(3, kernel_size=2, strides=2, groups=1)
    layer.initialize(init.Normal(seed=1))
    x = np.random.default_rng(0).standard_normal((2, 5, 3, 3))
    y = layer(x)
    assert layer.in_channels == 5 and layer.weight.shape == (5, 3, 2, 2) and y.shape == (2, 3, 6, 6)
    gx = layer.backward(np.ones_like(y))
    want = tconv.conv_transpose_backward(np.ones_like(y), x, layer.weight, stride=2)
    np.testing.assert_allclose(gx, want[0], rtol=1e-6)
    np.testing.assert_allclose(layer.weight_grad, want[1], rtol=1e-5)


# -- bad input ---------------------------------------------------------------------------------------


def test_weight_of_wrong_shape():
    layer = nn.ConvTranspose2d(2, 3, kernel_size=2)
    with pytest.raises(ValueError, match=r"weight must have shape \(2, 3, 2, 2\) \(in_channels, out_channels"):
        layer.weight = np.ones((3, 2, 2, 2))
    with pytest.raises(ValueError, match=r"weight\[\.\.\.\] = value.*shape \(2, 3, 2, 2\)"):
        layer.weight[...] = np.ones((3, 3))
    with pytest.raises(ValueError, match=r"weight must have shape \(2, 3, 2, 2\)"):
        layer.weight.data = np.ones((2, 3, 2))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        layer.bias = np.ones(2)
    with pytest.raises(TypeError, match="weight"):
        layer.weight = np.full((2, 3, 2, 2), "a")
    with pytest.raises(ValueError, match="weight cannot be None"):
        layer.weight = None
    conv = nn.Conv2d(2, 4, kernel_size=3, groups=2)
    with pytest.raises(ValueError, match=r"\(4, 1, 3, 3\) \(out_channels, in_channels // groups"):
        conv.weight = np.ones((4, 2, 3, 3))
    no_bias = nn.Conv1d(1, 1, 1, bias=False)
    with pytest.raises(ValueError, match="built with bias=False"):
        no_bias.bias = np.ones(1)


def test_backward_before_forward():
    for layer in (nn.ConvTranspose2d(1, 1, 2), nn.Conv3d(1, 1, 2), nn.ReLU(), nn.Sequential(nn.Tanh())):
        with pytest.raises(RuntimeError, match=r"backward\(\) was called before forward\(\)"):
            layer.backward(np.ones((1, 1, 2, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.MSELoss().backward()
    gluon = nn.Conv2D(2, kernel_size=1)
    gluon.initialize()
    with pytest.raises(RuntimeError, match="before forward"):
        gluon.backward(np.ones((1, 2, 2, 2)))


def test_in_channels_mismatch():
    deferred = nn.Conv2DTranspose(2, kernel_size=2)
    deferred.initialize()
    deferred(np.ones((1, 3, 4, 4)))
    with pytest.raises(ValueError, match="in_channels: x has 4 channels but the layer's in_channels was inferred as 3"):
        deferred(np.ones((1, 4, 4, 4)))
    explicit = nn.Conv2D(2, kernel_size=2, in_channels=3)
    explicit.initialize()
    with pytest.raises(ValueError, match="in_channels"):
        explicit(np.ones((1, 4, 4, 4)))
    with pytest.raises(ValueError, match="in_channels: x has 5 channels but the layer was built with in_channels=4"):
        nn.ConvTranspose2d(4, 2, 2)(np.ones((1, 5, 3, 3)))
    grouped = nn.Conv2D(4, kernel_size=1, groups=2)
    grouped.initialize()
    with pytest.raises(ValueError, match=r"in_channels: x has 3 channels, which groups \(2\)"):
        grouped(np.ones((1, 3, 2, 2)))


def test_gluon_use_before_initialize_and_assignment_before_shapes():
    layer = nn.Conv2DTranspose(2, kernel_size=2)
    with pytest.raises(RuntimeError, match=r"has not been initialized: call \.initialize\(\)"):
        layer(np.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"call \.initialize\(\) first"):
        layer.weight = np.ones((1, 2, 2, 2))
    layer.initialize()
    with pytest.raises(ValueError, match="in_channels=0 defers"):
        layer.weight = np.ones((1, 2, 2, 2))
    with pytest.raises(TypeError, match="init must be a tconv.init initializer"):
        layer.initialize("xavier", force_reinit=True)


@pytest.mark.parametrize("make,match", [
    (lambda: nn.ConvTranspose2d(3, 4, 2, groups=2), r"in_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Conv2d(4, 3, 2, groups=2), r"out_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Conv2DTranspose(3, 2, groups=2), r"channels \(3\) must be divisible by groups"),
    (lambda: nn.ConvTranspose2d(1, 1, 0), "kernel_size must be >= 1"),
    (lambda: nn.ConvTranspose2d(1, 1, 2, stride=2, output_padding=2), r"output_padding \(2\) must be smaller"),
    (lambda: nn.Conv2DTranspose(1, 2, strides=0), "strides must be >= 1"),
    (lambda: nn.Conv2d(0, 1, 2), "in_channels must be >= 1"),
    (lambda: nn.Conv2d(1, 1, (2, 2, 2)), "kernel_size must have one entry per spatial dim"),
    (lambda: nn.Conv2d(1, 1, 2, padding_mode="wrap"), "padding_mode must be one of 'zeros', 'circular'"),
    (lambda: nn.ConvTranspose2d(1, 1, 2, padding_mode="constant"), "padding_mode must be one of"),
    (lambda: nn.Conv2D(1, 2, padding_mode="Reflect"), "padding_mode must be one of"),
    (lambda: nn.Conv2d(1, 1, 2, padding=-1), "padding must be non-negative"),
    (lambda: nn.ConvTranspose2d(1, 1, 2, padding="same", output_padding=1), "output_padding"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_constructor_types():
    with pytest.raises(TypeError, match="bias must be True or False"):
        nn.Conv2d(1, 1, 2, bias="yes")
    with pytest.raises(TypeError, match="use_bias must be True or False"):
        nn.Conv2D(1, 2, use_bias=None)
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        nn.Conv2d(1, 1, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="weight_initializer"):
        nn.Conv2D(1, 2, weight_initializer="zeros")


def test_bad_forward_input():
    layer = nn.ConvTranspose2d(1, 1, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, \*spatial\) or \(C, \*spatial\) with 2 spatial"):
        layer(np.ones((1, 1, 1, 2, 2)))
    with pytest.raises(ValueError, match="output_size"):
        layer(np.ones((1, 1, 2, 2)), output_size=(9, 9))
    layer(np.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="grad_output must have the shape"):
        layer.backward(np.ones((1, 1, 2, 2)))


# -- Sequential, activations, loss and optimizers against torch ---------------------------------------


def test_small_network_gradients_match_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 6, 6))
    target = rng.uniform(size=(3, 2, 6, 6))
    ours = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype=np.float64, seed=1), nn.ReLU(),
        nn.Conv2d(4, 4, 1, dtype=np.float64, seed=2), nn.Tanh(),
        nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, dtype=np.float64, seed=3), nn.Sigmoid(),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype=torch.float64), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 1, dtype=torch.float64), torch.nn.Tanh(),
        torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, dtype=torch.float64),
        torch.nn.Sigmoid(),
    )
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        p[...] = tp.detach().numpy()
    loss_fn = nn.MSELoss()
    loss = loss_fn(ours(x), target)
    tx = torch.from_numpy(x).requires_grad_(True)
    tloss = torch.nn.functional.mse_loss(theirs(tx), torch.from_numpy(target))
    tloss.backward()
    assert abs(float(loss) - tloss.item()) < 1e-12
    assert_close(ours.backward(loss_fn.backward()), tx.grad.numpy(), "float64")
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        assert_close(p.grad, tp.grad.numpy(), "float64")


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_optimizers_match_torch(kind):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4))
    p = nn.Parameter(start, "weight")
    tp = torch.nn.Parameter(torch.from_numpy(start.copy()))
    if kind == "adam":
        opt, topt = optim.Adam([p], lr=0.01, weight_decay=0.1), torch.optim.Adam([tp], lr=0.01, weight_decay=0.1)
    else:
        m = 0.9 if kind == "momentum" else 0.0
        opt = optim.SGD([p], lr=0.05, momentum=m, weight_decay=0.01)
        topt = torch.optim.SGD([tp], lr=0.05, momentum=m, weight_decay=0.01)
    for _ in range(5):
        g = rng.standard_normal((3, 4))
        p.grad, tp.grad = g, torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-12)
    opt.zero_grad()
    assert p.grad is None


def test_optimizer_and_loss_bad_input():
    with pytest.raises(TypeError, match="params must be tconv.nn Parameters"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="params is empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="lr must be a number"):
        optim.SGD(nn.Conv1d(1, 1, 1).parameters(), lr=-1)
    with pytest.raises(ValueError, match="target must have the shape of prediction"):
        nn.MSELoss()(np.ones(3), np.ones(2))
    with pytest.raises(TypeError, match="Sequential takes modules"):
        nn.Sequential(np.tanh)


def test_sequential_training_reduces_the_loss():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 1, 8, 8)).astype(np.float32)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, seed=0), nn.ReLU(),
                        nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1, seed=1), nn.Sigmoid())
    loss_fn, opt = nn.MSELoss(), optim.Adam(net.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        losses.append(float(loss_fn(net(x), x)))
        net.backward(loss_fn.backward())
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repr(net)


# -- dtypes: an assigned array keeps its precision; .to(), .float(), .double() -----------------------


@pytest.mark.parametrize("how", ["attribute", "data"])
def test_assigning_another_float_dtype_keeps_it(how):
    layer = nn.ConvTranspose2d(1, 2, 2, seed=0)
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    w64 = np.full((1, 2, 2, 2), 1 / 3)  # not representable in float32
    b64 = np.array([0.1, 0.2])
    if how == "attribute":
        layer.weight, layer.bias = w64, b64
    else:
        layer.weight.data, layer.bias.data = w64, b64
    assert layer.weight.dtype == layer.bias.dtype == np.float64
    np.testing.assert_array_equal(layer.weight, w64)  # never a silent rounding
    assert layer.weight.name == "weight" and layer.parameters() == [layer.weight, layer.bias]
    w64[...] = 0  # the layer holds a copy
    assert layer.weight[0, 0, 0, 0] == 1 / 3
    x = np.ones((1, 1, 2, 2), np.float32)
    assert layer(x).dtype == np.float64  # NumPy promotion (PyTorch would refuse the mixed dtypes)
    layer.backward(np.ones((1, 2, 3, 3)))
    assert layer.weight_grad.dtype == layer.bias_grad.dtype == np.float64
    layer.weight = np.ones((1, 2, 2, 2), np.float16)
    assert layer.weight.dtype == np.float16 and layer.weight_grad.dtype == np.float16  # the gradient follows


def test_torch_keeps_the_assigned_dtype_too():
    t = torch.nn.ConvTranspose2d(1, 2, 2)
    t.weight.data = torch.ones(1, 2, 2, 2, dtype=torch.float64)
    ours = nn.ConvTranspose2d(1, 2, 2)
    ours.weight.data = np.ones((1, 2, 2, 2))
    assert str(t.weight.dtype) == "torch.float64" and ours.weight.dtype == np.float64


def test_in_place_and_dtype_free_assignments_store_the_parameter_dtype():
    layer = nn.Conv2d(1, 1, 2, seed=0)
    w = layer.weight
    layer.weight[...] = np.full((1, 1, 2, 2), 1 / 3)  # in place, as PyTorch's param[...] = t: float32
    layer.weight = [[[[1.0, 2.0], [3.0, 4.0]]]]  # a list has no dtype of its own
    layer.weight = np.arange(4, dtype=np.int64).reshape(1, 1, 2, 2)  # integers: the parameter's dtype
    layer.bias = np.array([True])
    layer.weight = np.ones((1, 1, 2, 2), np.float32)  # same dtype: copied in place
    assert layer.weight is w and w.dtype == np.float32 and layer.bias.dtype == np.float32
    free = nn.Parameter(np.zeros(2, np.float32), "p")  # a parameter without a layer cannot be replaced
    free.data = np.array([1 / 3, 1.0])
    assert free.dtype == np.float32


def test_to_float_double_half():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    layer = nn.ConvTranspose1d(2, 3, 2, seed=0)
    w32 = np.array(layer.weight)
    layer(np.ones((1, 2, 4), np.float32))
    layer.backward(np.ones((1, 3, 5), np.float32))
    assert layer.double() is layer
    assert layer.weight.dtype == layer.bias.dtype == layer.weight_grad.dtype == layer.dtype == np.float64
    np.testing.assert_array_equal(layer.weight, w32)
    assert layer.float().weight.dtype == np.float32 and layer.half().bias.dtype == np.float16
    for arg, want in ((np.float64, np.float64), ("float32", np.float32), (torch.float64, np.float64),
                      (ml_dtypes.bfloat16, ml_dtypes.bfloat16), (torch.bfloat16, ml_dtypes.bfloat16),
                      (np.ones(1, np.float16), np.float16), (torch.ones(1, dtype=torch.float64), np.float64)):
        assert layer.to(arg).weight.dtype == want
    assert layer.to("cpu", torch.float32).weight.dtype == np.float32
    assert layer.to(dtype=np.float64, device="cpu").weight.dtype == np.float64
    assert layer.to("cpu").weight.dtype == np.float64  # a device alone changes nothing
    with pytest.raises(ValueError, match="device must be None or 'cpu'"):
        layer.to("cuda")
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        layer.to(np.int32)
    # Gluon: cast, and a deferred layer creates its weight in the converted dtype
    g = nn.Conv2DTranspose(2, kernel_size=2)
    g.initialize()
    g.cast("float64")
    assert g(np.ones((1, 3, 2, 2), np.float32)).dtype == np.float64 and g.weight.dtype == np.float64
    assert nn.Conv2D(2, 3, dtype=np.float16).double().dtype == np.float64


def test_layer_dtype_argument():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for dtype in (np.float16, ml_dtypes.bfloat16, np.float32, np.float64, torch.float64, "float16"):
        layer = nn.Conv1d(1, 2, 2, dtype=dtype, seed=0)
        want = np.dtype(str(dtype).replace("torch.", "")) if not isinstance(dtype, type) else np.dtype(dtype)
        assert layer.weight.dtype == layer.bias.dtype == want
        assert layer(np.ones((1, 1, 3), want)).dtype == want  # float16 / bfloat16: computed in float32
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        nn.Conv1d(1, 1, 2, dtype=bool)


def test_optimizers_keep_working_after_to_when_built_after():
    net = nn.Sequential(nn.Conv1d(1, 1, 2, seed=0)).double()
    opt = optim.SGD(net.parameters(), lr=0.1)
    before = np.array(net[0].weight)
    loss = nn.MSELoss()
    loss(net(np.ones((1, 1, 3))), np.zeros((1, 1, 2)))
    net.backward(loss.backward())
    opt.step()
    assert net[0].weight.dtype == np.float64 and not np.array_equal(net[0].weight, before)


def test_activations_and_loss_follow_the_rule():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for act in (nn.ReLU(), nn.Tanh(), nn.Sigmoid()):
        assert act(np.array([True, False])).dtype == np.float64
        assert act(np.array([1, -2], np.int8)).dtype == np.float64
        assert act(np.ones(2, np.float16)).dtype == np.float16
        assert act(np.ones(2, ml_dtypes.bfloat16)).dtype == ml_dtypes.bfloat16
    assert float(nn.MSELoss()(np.array([True, False]), np.array([False, False]))) == 0.5


@pytest.mark.parametrize("module", ['tconv.nn', 'tconv.nn.base', 'tconv.nn.conv', 'tconv.nn.gluon', 'tconv.nn.module',
                                    'tconv.nn.parameter', 'tconv.optim'])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
