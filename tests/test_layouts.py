"""Every door gives the same numbers on any memory layout of its arrays: layers, gradients, dialects.

The operator brings its operands into each algorithm's declared layout once
(:mod:`tconv._layout`); these tests go through the doors users take (layers on
a transposed view, the channels-last dialects, gradients), with channel counts
where ``auto`` picks the compiled algorithms (winograd for 3x3 stride 1, gemm /
subpixel / phase for strided layers), and compare each result bitwise with
the one computed from a C-contiguous copy.  Per-algorithm layout checks at
layer sizes are in ``test_real_sizes.py``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import tconv
import tconv.nn as nn
from tconv.compat import jax as jaxc
from tconv.compat import mxnet as mxc
from tconv.compat import onnx as onnxc
from tconv.compat import tensorflow as tfc
from support import layouts


def check_all_layouts(run: Callable[..., object], *arrays: np.ndarray) -> int:
    """``run`` on every layout of each array in turn (the others contiguous) equals ``run`` on the originals."""
    want = run(*arrays)
    compared = 0
    for i, a in enumerate(arrays):
        before = a.copy()
        for name, view in layouts(a):
            args = list(arrays)
            args[i] = view
            got = run(*args)
            for g, w in zip(_flat(got), _flat(want)):
                assert g.dtype == w.dtype and np.array_equal(g, w), f"argument {i} as {name}"
            compared += 1
        assert np.array_equal(a, before)
    return compared


def _flat(result) -> list[np.ndarray]:
    if isinstance(result, tuple):
        return [np.asarray(r) for r in result if r is not None]
    return [np.asarray(result)]


RNG = np.random.default_rng(7)
LAYERS = [  # (name, channels in, channels out, kernel, stride, padding): what auto picks differs per row
    ("3x3 stride 1 (winograd)", 32, 32, 3, 1, 1),
    ("4x4 stride 2 (gemm/subpixel)", 32, 16, 4, 2, 1),
    ("2x2 stride 2 (nooverlap)", 16, 16, 2, 2, 0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer", LAYERS, ids=[row[0] for row in LAYERS])
def test_operator_and_gradients_on_every_layout(layer, dtype):
    _, cin, cout, k, s, p = layer
    x = RNG.standard_normal((2, cin, 10, 9)).astype(dtype)
    w = RNG.standard_normal((cin, cout, k, k)).astype(dtype)
    b = RNG.standard_normal(cout).astype(dtype)
    y = tconv.conv_transpose(x, w, b, stride=s, padding=p)
    compared = check_all_layouts(lambda x, w, b: tconv.conv_transpose(x, w, b, stride=s, padding=p), x, w, b)
    compared += check_all_layouts(lambda y, w: tconv.conv(y, w, stride=s, padding=p), y, w)
    compared += check_all_layouts(
        lambda g, x, w: tconv.conv_transpose_backward(g, x, w, stride=s, padding=p), y, x, w)
    compared += check_all_layouts(lambda g, y, w: tconv.conv_backward(g, y, w, stride=s, padding=p), x, y, w)
    assert compared == 7 * 11 - 1  # 7 layouts of 11 arrays, the 1-d bias without its channels-last view


def test_phase_winograd_backward_on_every_layout(monkeypatch):
    """A DCGAN-like layer (4 x 128 -> 64 channels, 4x4 stride 2) whose backward auto sends to phase_winograd's
    tiles (the transposed layer's two gradients from one transform; the convolution's weight gradient in the
    tiles): both backward doors give the same bits on every layout of each operand; the tiles' weight
    gradient ran on every call (counted)."""
    from tconv.algorithms import jit, phase_winograd

    if not jit.available(np.float32):
        pytest.skip("the compiled kernels are switched off")
    calls = []
    monkeypatch.setattr(phase_winograd._WeightTiles, "result",
                        lambda self, _o=phase_winograd._WeightTiles.result: (calls.append(1), _o(self))[1])
    x = RNG.standard_normal((4, 128, 16, 16)).astype(np.float32)
    w = (RNG.standard_normal((128, 64, 4, 4)) * 0.05).astype(np.float32)
    y = RNG.standard_normal((4, 64, 32, 32)).astype(np.float32)
    compared = check_all_layouts(
        lambda g, x, w: tconv.conv_transpose_backward(g, x, w, stride=2, padding=1), y, x, w)
    compared += check_all_layouts(lambda g, y, w: tconv.conv_backward(g, y, w, stride=2, padding=1), x, y, w)
    assert compared == 7 * 6
    assert len(calls) == compared + 2  # and the two references


def test_layers_on_every_layout():
    x = RNG.standard_normal((2, 32, 9, 8)).astype(np.float32)
    compared = 0
    for layer in (nn.ConvTranspose2d(32, 32, 3, padding=1), nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1),
                  nn.Conv2d(32, 32, 3, padding=1), nn.Conv2DTranspose(16, 4, strides=2, padding=1, in_channels=32)):
        if isinstance(layer, nn.Conv2DTranspose):  # Gluon style: weights come with initialize()
            layer.initialize()
        compared += check_all_layouts(layer, x)
        y = layer(x)
        compared += check_all_layouts(lambda g: (layer(x), layer.backward(g), layer.weight_grad), y)
    assert compared == 8 * 7


def test_channels_last_dialects_on_every_layout():
    """TensorFlow, Keras and JAX take channels-last arrays; ONNX and MXNet channels-first ones."""
    x_last = RNG.standard_normal((2, 9, 8, 32)).astype(np.float32)  # NHWC
    f_tf = RNG.standard_normal((3, 3, 32, 32)).astype(np.float32)  # (*k, out, in)
    compared = check_all_layouts(
        lambda x, f: tfc.conv_transpose(x, f, (2, 9, 8, 32), 1, padding="SAME"), x_last, f_tf)
    compared += check_all_layouts(lambda x, f: tfc.keras_conv_transpose(x, f, strides=2, padding="same"), x_last, f_tf)
    compared += check_all_layouts(lambda x, f: jaxc.conv_transpose(x, f, (1, 1), "SAME"), x_last, f_tf)
    x = RNG.standard_normal((2, 32, 9, 8)).astype(np.float32)
    w = RNG.standard_normal((32, 16, 4, 4)).astype(np.float32)
    compared += check_all_layouts(lambda x, w: onnxc.conv_transpose(x, w, strides=(2, 2), pads=(1, 1, 1, 1)), x, w)
    compared += check_all_layouts(
        lambda x, w: mxc.deconvolution(x, w, kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=16, no_bias=True),
        x, w)
    assert compared == 5 * 2 * 7
