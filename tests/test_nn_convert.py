"""tconv.nn.from_torch / from_keras: the converted layer computes what the framework's layer computes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tconv.nn as nn

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def _close(got, want, dtype) -> float:
    """Assert ``got`` equals ``want`` to the dtype's relative tolerance (of the largest entry); the error."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-30)
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)), initial=0.0)) / scale
    assert err <= TOL[np.dtype(dtype)], err
    return err


def test_import_tconv_nn_imports_neither_framework():
    code = ("import sys, tconv.nn; bad = [m for m in ('torch', 'keras', 'tensorflow') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# PyTorch

try:
    import torch
except ImportError:  # the torch CPU wheel is in the test extra
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="the torch CPU wheel is in the test extra")


def _torch_cases() -> list[dict]:
    """4 random modules per (dims, direction, dtype): 48, covering groups, dilation, output_padding, every
    padding form (int, per-dim tuple, 'same', 'valid'), bias on and off."""
    rng = np.random.default_rng(16)
    cases = []
    for nd in (1, 2, 3):
        for transposed in (False, True):
            for dtype in (np.float32, np.float64):
                for variant in range(4):
                    groups = (1, 2, 1, 3)[variant]
                    kmax = 3 if nd == 3 else 4
                    k = tuple(int(v) for v in rng.integers(1, kmax + 1, nd))
                    stride = tuple(int(v) for v in rng.integers(1, 4, nd))
                    dilation = tuple(int(v) for v in rng.integers(1, 3, nd))
                    keff = [d * (kk - 1) + 1 for kk, d in zip(k, dilation)]
                    case = dict(nd=nd, transposed=transposed, dtype=np.dtype(dtype), groups=groups,
                                in_channels=groups * int(rng.integers(1, 3)),
                                out_channels=groups * int(rng.integers(1, 3)), kernel_size=k,
                                dilation=dilation, bias=variant % 2 == 0)
                    if transposed:
                        case["padding"] = tuple(int(rng.integers(0, e // 2 + 1)) for e in keff) if variant % 2 \
                            else int(rng.integers(0, min(keff) // 2 + 1))
                        case["output_padding"] = tuple(int(rng.integers(0, max(s, d)))
                                                       for s, d in zip(stride, dilation))
                    elif variant == 0:
                        case["padding"], stride = "same", (1,) * nd  # PyTorch: 'same' only at stride 1
                    elif variant == 1:
                        case["padding"] = "valid"
                    else:
                        case["padding"] = tuple(int(rng.integers(0, e // 2 + 1)) for e in keff) if variant == 2 \
                            else int(rng.integers(0, min(keff) // 2 + 1))
                    case["stride"] = stride
                    lo = 2 if transposed else max(keff)
                    case["spatial"] = tuple(int(v) for v in rng.integers(lo, lo + (3 if nd == 3 else 5), nd))
                    cases.append(case)
    return cases


TORCH_CASES = _torch_cases() if torch is not None else []


def _torch_module(case: dict):
    name = f"ConvTranspose{case['nd']}d" if case["transposed"] else f"Conv{case['nd']}d"
    kwargs = {k: case[k] for k in ("stride", "padding", "dilation", "groups", "bias")}
    if case["transposed"]:
        kwargs["output_padding"] = case["output_padding"]
    dtype = torch.float32 if case["dtype"] == np.float32 else torch.float64
    return getattr(torch.nn, name)(case["in_channels"], case["out_channels"], case["kernel_size"], **kwargs,
                                   dtype=dtype)


def _pairs(padding, nd):
    if isinstance(padding, str):
        return padding
    padding = (padding,) * nd if np.ndim(padding) == 0 else padding
    return tuple((p, p) for p in padding)


@needs_torch
def test_torch_cases_cover_the_features():
    assert len(TORCH_CASES) == 48
    assert {c["groups"] for c in TORCH_CASES} == {1, 2, 3}
    assert {c["padding"] for c in TORCH_CASES if isinstance(c["padding"], str)} == {"same", "valid"}
    assert any(isinstance(c["padding"], tuple) for c in TORCH_CASES)
    assert any(isinstance(c["padding"], int) and c["padding"] > 0 for c in TORCH_CASES)
    assert any(max(c["dilation"]) > 1 for c in TORCH_CASES)
    assert any(max(c.get("output_padding", (0,))) > 0 for c in TORCH_CASES)
    assert {c["bias"] for c in TORCH_CASES} == {True, False}


@needs_torch
def test_from_torch_matches_the_module():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    compared, worst = 0, {}
    for case in TORCH_CASES:
        module = _torch_module(case)
        layer = nn.from_torch(module)
        assert type(layer).__name__ == type(module).__name__
        # every hyper-parameter, the dtype, the bias presence
        assert (layer.in_channels, layer.out_channels, layer.kernel_size) == \
            (module.in_channels, module.out_channels, module.kernel_size)
        assert layer.stride == module.stride and layer.dilation == module.dilation
        assert layer.groups == module.groups
        assert layer.padding == _pairs(module.padding, case["nd"])
        if case["transposed"]:
            assert layer.output_padding == module.output_padding
        assert layer.use_bias == (module.bias is not None) and (layer.bias is None) == (module.bias is None)
        assert layer.weight.dtype == case["dtype"]
        x = rng.standard_normal((2, case["in_channels"]) + case["spatial"]).astype(case["dtype"])
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        err = _close(layer(x), want, case["dtype"])
        worst[case["dtype"]] = max(worst.get(case["dtype"], 0.0), err)
        compared += 1
    assert compared == 48
    print(f"from_torch: {compared} modules compared, max relative error {worst}")


@needs_torch
def test_from_torch_copies_the_weights():
    module = torch.nn.ConvTranspose2d(2, 3, 3, stride=2)
    layer = nn.from_torch(module)
    before_w, before_b = np.array(layer.weight), np.array(layer.bias)
    np.testing.assert_array_equal(before_w, module.weight.detach().numpy())
    with torch.no_grad():
        module.weight.add_(1.0)
        module.bias.add_(1.0)
    np.testing.assert_array_equal(layer.weight, before_w)
    np.testing.assert_array_equal(layer.bias, before_b)
    layer.weight[...] = 0.0
    np.testing.assert_array_equal(module.weight.detach().numpy(), before_w + 1.0)


@needs_torch
@pytest.mark.parametrize("which", ["ConvTranspose2d", "Conv3d", "ConvTranspose1d"])
def test_from_torch_gradients_equal_autograd(which):
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    if which == "ConvTranspose2d":
        module = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=1, output_padding=(1, 2),
                                          groups=2, dilation=(1, 2), dtype=torch.float64)
        shape = (2, 4, 4, 5)
    elif which == "Conv3d":
        module = torch.nn.Conv3d(3, 4, 2, stride=(1, 2, 1), padding=(1, 0, 1), dilation=2, dtype=torch.float64)
        shape = (2, 3, 5, 6, 4)
    else:
        module = torch.nn.ConvTranspose1d(2, 2, 4, stride=3, padding=2, bias=False, dtype=torch.float64)
        shape = (3, 2, 5)
    layer = nn.from_torch(module)
    x = rng.standard_normal(shape)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = module(xt)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(g))
    y = layer(x)
    _close(y, yt.detach().numpy(), np.float64)
    _close(layer.backward(g), xt.grad.numpy(), np.float64)
    _close(layer.weight_grad, module.weight.grad.numpy(), np.float64)
    if module.bias is not None:
        _close(layer.bias_grad, module.bias.grad.numpy(), np.float64)
    else:
        assert layer.bias_grad is None


@needs_torch
def test_from_torch_output_size():
    module = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    layer = nn.from_torch(module)
    x = np.random.default_rng(2).standard_normal((1, 3, 4, 5)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x), output_size=[8, 10]).numpy()
    _close(layer(x, output_size=[8, 10]), want, np.float32)


@needs_torch
def test_from_torch_keeps_bfloat16():
    module = torch.nn.Conv1d(2, 3, 3).to(torch.bfloat16)
    layer = nn.from_torch(module)
    assert layer.weight.dtype.name == "bfloat16"
    np.testing.assert_array_equal(layer.weight.astype(np.float32), module.weight.detach().float().numpy())


@needs_torch
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_from_torch_padding_mode(mode, nd):
    """Every padding_mode of torch's Conv*d is converted, and the layer's forward and gradients match."""
    cls = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[nd]
    module = cls(2, 4, 3, stride=2, padding=(1, 2, 1)[:nd], padding_mode=mode, groups=2).double()
    layer = nn.from_torch(module)
    assert layer.padding_mode == mode
    assert (f"padding_mode='{mode}'" in repr(layer)) == (mode != "zeros")
    x = np.random.default_rng(3).standard_normal((2, 2) + (5, 6, 4)[:nd])
    tx = torch.tensor(x, requires_grad=True)
    out = module(tx)
    y = layer(x)
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(4).standard_normal(y.shape)
    out.backward(torch.from_numpy(g))
    np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight_grad, module.weight.grad.numpy(), rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(layer.bias_grad, module.bias.grad.numpy(), rtol=1e-12, atol=1e-11)


@needs_torch
def test_from_torch_refusals():
    with pytest.raises(TypeError, match="torch.nn.Conv1d/2d/3d or ConvTranspose1d/2d/3d module, got Linear"):
        nn.from_torch(torch.nn.Linear(2, 3))

    class Doubled(torch.nn.Conv2d):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(ValueError, match="overrides Conv2d.forward"):
        nn.from_torch(Doubled(1, 1, 3))

    class Named(torch.nn.Conv2d):  # a subclass with the standard forward converts
        pass

    assert type(nn.from_torch(Named(1, 2, 3))).__name__ == "Conv2d"

    lazy = torch.nn.LazyConv2d(4, 3)
    with pytest.raises(ValueError, match="lazy module"):
        nn.from_torch(lazy)
    lazy(torch.zeros(1, 2, 5, 5))
    assert nn.from_torch(lazy).in_channels == 2

    hooked = torch.nn.Conv1d(1, 1, 2)
    hooked.register_forward_hook(lambda m, i, o: o * 2)
    with pytest.raises(ValueError, match="hooks"):
        nn.from_torch(hooked)

    with pytest.raises(ValueError, match="meta"):
        nn.from_torch(torch.nn.Conv1d(1, 1, 2, device="meta"))


# ---------------------------------------------------------------------------
# Keras


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras", reason="tensorflow-cpu (Keras 3) is in the test extra")


def _keras_cases() -> list[dict]:
    """Every Keras kind x padding same/valid x (stride 1 | stride 2 | mixed strides | dilation 2), transposed
    layers also with output_padding, convolutions also with groups; 2 dtypes; plus Conv1D 'causal'."""
    cases = []
    kernels = {1: (3,), 2: (3, 2), 3: (2, 3, 1)}
    for dtype in ("float32", "float64"):
        for nd in (1, 2, 3):
            mixed = {1: (3,), 2: (1, 3), 3: (3, 1, 2)}[nd]  # stride 1 only where the kernel is odd (see below)
            geometries = [((1,) * nd, (1,) * nd), ((2,) * nd, (1,) * nd), (mixed, (1,) * nd),
                          ((1,) * nd, (2,) * nd)]
            for transposed in (False, True):
                for padding in ("valid", "same"):
                    for i, (strides, dilation) in enumerate(geometries):
                        base = dict(nd=nd, transposed=transposed, padding=padding, strides=strides,
                                    dilation_rate=dilation, kernel_size=kernels[nd], use_bias=i % 2 == 0,
                                    dtype=dtype, groups=1, output_padding=None)
                        cases.append(base)
                        if transposed and max(strides) > 1:
                            cases.append(dict(base, output_padding=tuple(s - 1 for s in strides)))
                        if not transposed and i in (0, 1):
                            cases.append(dict(base, groups=2))
        for d in (1, 2):
            cases.append(dict(nd=1, transposed=False, padding="causal", strides=(1,), dilation_rate=(d,),
                              kernel_size=(3,), use_bias=True, dtype=dtype, groups=1, output_padding=None))
    return cases


KERAS_CASES = _keras_cases()
KERAS_COUNT = 2 * (3 * (2 * (4 + 2) + 2 * (4 + 2)) + 2)  # 2 dtypes x (3 nd x (conv + transposed) + causal)


def _keras_layer(keras, case, in_channels=4, data_format="channels_last"):
    nd = case["nd"]
    kind = f"Conv{nd}DTranspose" if case["transposed"] else f"Conv{nd}D"
    kwargs = dict(strides=case["strides"], padding=case["padding"], dilation_rate=case["dilation_rate"],
                  use_bias=case["use_bias"], dtype=case["dtype"], data_format=data_format,
                  bias_initializer="random_normal")
    if case["transposed"]:
        kwargs["output_padding"] = case["output_padding"]
    else:
        kwargs["groups"] = case["groups"]
    layer = getattr(keras.layers, kind)(6, case["kernel_size"], **kwargs)
    shape = (None,) + (None,) * nd + (in_channels,) if data_format == "channels_last" else \
        (None, in_channels) + (None,) * nd
    layer.build(shape)
    return layer


def _keras_reference(klayer, case, x):
    """``klayer(x)``; for a dilated transposed layer, which TensorFlow's CPU kernels refuse ("Current CPU
    implementations do not yet support dilation rates larger than 1"), what it defines it as: the gradient
    of ``tf.nn.convolution`` (same kernel, padding, dilation) with respect to an input of Keras' output
    shape, plus the bias."""
    if not (case["transposed"] and max(case["dilation_rate"]) > 1):
        return np.asarray(klayer(x))
    import tensorflow as tf

    z = tf.zeros(klayer.compute_output_shape(x.shape), dtype=case["dtype"])
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = tf.nn.convolution(z, klayer.kernel, strides=list(case["strides"]), padding=case["padding"].upper(),
                              dilations=list(case["dilation_rate"]))
    want = tape.gradient(y, z, output_gradients=tf.constant(x)).numpy()
    return want + np.asarray(klayer.bias) if case["use_bias"] else want


def test_keras_cases_cover_the_features():
    assert len(KERAS_CASES) == KERAS_COUNT == 148


def test_from_keras_matches_the_layer(keras):
    rng = np.random.default_rng(5)
    compared, worst = 0, {}
    for case in KERAS_CASES:
        klayer = _keras_layer(keras, case)
        layer = nn.from_keras(klayer)
        assert isinstance(layer, nn.KerasLayer) and layer.channels_last
        assert layer.weight.dtype == np.dtype(case["dtype"])
        sizes = [(5, 5, 3), (6, 7, 4)]  # odd and even sizes through the same converted layer
        for size in sizes:
            x = rng.standard_normal((2,) + size[:case["nd"]] + (4,)).astype(case["dtype"])
            want = _keras_reference(klayer, case, x)
            err = _close(layer(x), want, case["dtype"])
            worst[case["dtype"]] = max(worst.get(case["dtype"], 0.0), err)
            compared += 1
    assert compared == 2 * KERAS_COUNT == 296
    print(f"from_keras: {compared} calls ({KERAS_COUNT} layers) compared, max relative error {worst}")


def _channels_first_reference(keras, klayer_first, case, x_first):
    """keras_layer(x) for a channels_first layer; where TensorFlow's CPU kernels refuse NC* layouts, the
    same weights in a channels_last layer, transposed."""
    try:
        return np.asarray(klayer_first(x_first))
    except Exception:  # noqa: BLE001 - TF CPU kernels without NCHW support
        last = _keras_layer(keras, case)
        last.set_weights(klayer_first.get_weights())
        return np.moveaxis(np.asarray(last(np.moveaxis(x_first, 1, -1))), -1, 1)


CHANNELS_FIRST_CASES = [
    next(c for c in KERAS_CASES if c["nd"] == nd and c["transposed"] == t and max(c["strides"]) > 1
         and c["padding"] == "same" and (c["groups"] > 1 or c["output_padding"] is not None or not t))
    for nd in (1, 2, 3) for t in (False, True)
]


@pytest.mark.parametrize("case", CHANNELS_FIRST_CASES, ids=lambda c: f"{c['nd']}d-{c['transposed']}")
def test_from_keras_channels_first(keras, case):
    klayer = _keras_layer(keras, case, data_format="channels_first")
    layer = nn.from_keras(klayer)
    assert not layer.channels_last and layer.data_format == "channels_first"
    x = np.random.default_rng(6).standard_normal((2, 4) + (5, 6, 4)[:case["nd"]]).astype(case["dtype"])
    _close(layer(x), _channels_first_reference(keras, klayer, case, x), case["dtype"])


def test_from_keras_channels_last_option_and_weights_round_trip(keras):
    case = dict(nd=2, transposed=True, padding="same", strides=(2, 2), dilation_rate=(1, 1), kernel_size=(3, 2),
                use_bias=True, dtype="float32", groups=1, output_padding=(1, 1))
    klayer = _keras_layer(keras, case)
    x = np.random.default_rng(7).standard_normal((2, 5, 4, 4)).astype(np.float32)
    want = np.asarray(klayer(x))
    first = nn.from_keras(klayer, channels_last=False)
    assert isinstance(first.layer, nn.ConvTranspose2d)
    _close(first(np.moveaxis(x, -1, 1)), np.moveaxis(want, -1, 1), np.float32)
    _close(first.layer(np.moveaxis(x, -1, 1)), np.moveaxis(want, -1, 1), np.float32)  # a plain tconv layer
    fresh = _keras_layer(keras, case)
    fresh.set_weights(first.get_weights())
    np.testing.assert_array_equal(np.asarray(fresh(x)), want)
    # float64 input on a float32 layer: cast first, as Keras does
    _close(nn.from_keras(klayer)(x.astype(np.float64)), want, np.float32)


def test_from_keras_backward_equals_tensorflow(keras):
    tf = pytest.importorskip("tensorflow")
    case = dict(nd=2, transposed=True, padding="same", strides=(2, 3), dilation_rate=(1, 1), kernel_size=(3, 4),
                use_bias=True, dtype="float64", groups=1, output_padding=None)
    klayer = _keras_layer(keras, case)
    layer = nn.from_keras(klayer)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 4, 3, 4))
    y = layer(x)
    g = rng.standard_normal(y.shape)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = klayer(xt)
        loss = tf.reduce_sum(yt * g)
    gx, gk, gb = tape.gradient(loss, [xt, klayer.kernel, klayer.bias])
    _close(y, yt.numpy(), np.float64)
    _close(layer.backward(g), gx.numpy(), np.float64)
    _close(np.moveaxis(layer.weight_grad, (0, 1), (-1, -2)), np.asarray(gk), np.float64)
    _close(layer.bias_grad, np.asarray(gb), np.float64)


def test_from_keras_refusals(keras):
    with pytest.raises(ValueError, match="activation='relu' is not converted"):
        nn.from_keras(_built(keras.layers.Conv2D(2, 3, activation="relu"), (None, 5, 5, 1)))
    assert nn.from_keras(_built(keras.layers.Conv2D(2, 3, activation="linear"), (None, 5, 5, 1))) is not None
    with pytest.raises(ValueError, match="not built"):
        nn.from_keras(keras.layers.Conv1DTranspose(2, 3))
    with pytest.raises(ValueError, match="mixed precision"):
        nn.from_keras(_built(keras.layers.Conv2D(2, 3, dtype="mixed_float16"), (None, 5, 5, 1)))
    with pytest.raises(TypeError, match="got Dense"):
        nn.from_keras(_built(keras.layers.Dense(2), (None, 3)))
    with pytest.raises(TypeError, match="got Conv2D"):  # tconv's own Gluon-style Conv2D is not a Keras layer
        nn.from_keras(nn.Conv2D(2, 3, in_channels=1))
    # padding='same', output_padding=0, even kernel: TensorFlow refuses Keras' output size on every input
    odd = _built(keras.layers.Conv1DTranspose(2, 2, strides=2, padding="same", output_padding=0), (None, 4, 1))
    with pytest.raises(ValueError, match="Keras cannot run this layer"):
        nn.from_keras(odd)
    with pytest.raises(Exception):  # noqa: B017 - whatever TensorFlow raises
        odd(np.ones((1, 4, 1), np.float32))


def _built(layer, shape):
    layer.build(shape)
    return layer
