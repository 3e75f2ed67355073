"""tconv.compat.tensorflow against tensorflow-cpu: tf.nn.conv_transpose and keras Conv*DTranspose."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import Compared
from tconv.compat import tensorflow as tfc

from .stats import count, examples, record

TOL = 1e-4  # float32; TensorFlow's CPU kernels (oneDNN) compute in float32

#: Messages of TensorFlow CPU kernels that refuse a configuration the operator itself defines
#: (e.g. oneDNN with dilation > 1 at stride 1); those configurations are not compared.
TF_LIMITS = ("primitive descriptor", "do not yet support", "not supported", "Unimplemented", "only supports", "does not support")

EXAMPLES = examples(150)
#: A fixed seed (derandomize): the floors on how many configurations were compared hold on every run.
_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True)


@st.composite
def tf_cases(draw):
    nd = draw(st.integers(1, 3))
    max_n, max_k = {1: (7, 5), 2: (5, 4), 3: (3, 3)}[nd]
    n = [draw(st.integers(1, max_n)) for _ in range(nd)]
    k = [draw(st.integers(1, max_k)) for _ in range(nd)]
    s = [draw(st.integers(1, 4)) for _ in range(nd)]
    d = [draw(st.integers(1, 3)) for _ in range(nd)] if draw(st.booleans()) else [1] * nd
    if max(d) > 1 and draw(st.integers(0, 3)):  # TensorFlow defines dilation > 1 only at stride 1
        s = [1] * nd
    kinds = ["SAME", "VALID"] + (["explicit"] if nd == 2 else [])
    padding = draw(st.sampled_from(kinds))
    k_eff = [b * (a - 1) + 1 for a, b in zip(k, d)]
    if padding == "explicit":
        pairs = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd)]
        lo = [(a - 1) * b + e - p - q for a, b, e, (p, q) in zip(n, s, k_eff, pairs)]
        padding_arg = [[0, 0]] + [list(p) for p in pairs] + [[0, 0]]
    elif padding == "SAME":
        lo = [(a - 1) * b + 1 for a, b in zip(n, s)]
        padding_arg = "SAME"
    else:
        lo = [(a - 1) * b + e for a, b, e in zip(n, s, k_eff)]
        padding_arg = "VALID"
    valid = draw(st.integers(0, 9)) > 0
    out = [draw(st.integers(max(m, 1), max(m + b - 1, 1))) if valid else draw(st.integers(1, max(m + b + 2, 1)))
           for m, b in zip(lo, s)]
    c_in, c_out, batch = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    first = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((batch,) + tuple(n) + (c_in,)).astype(np.float32)
    f = rng.standard_normal(tuple(k) + (c_out, c_in)).astype(np.float32)
    strides = draw(st.sampled_from([s, s[0] if len(set(s)) == 1 else s]))
    return x, f, out, strides, padding_arg, d, first


def _run_tf(tf, x, f, out, strides, padding, d, first):
    nd = x.ndim - 2
    fmt_last, fmt_first = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[nd]
    c_out = f.shape[-2]
    if first:
        xin = np.moveaxis(x, -1, 1)
        shape = [x.shape[0], c_out] + list(out)
        if isinstance(padding, list):
            padding = [padding[0], padding[-1]] + padding[1:-1]
        return xin, shape, padding, fmt_first
    return x, [x.shape[0]] + list(out) + [c_out], padding, fmt_last


def _grad_of_conv(tf, x, f, out_spatial, strides, padding, dilations):
    """TensorFlow's own definition of the op: the gradient of tf.nn.convolution w.r.t. its input.

    Used where the CPU conv_transpose kernel refuses a configuration but the forward convolution
    runs (stride 1).  ``x`` is channels-last.  Returns ("ok", channels-last result), ("mismatch",
    None) when the forward conv does not map ``out_spatial`` back to x's size (an invalid
    output_shape), or ("unavailable", None).
    """
    nd = x.ndim - 2
    if isinstance(strides, int):
        strides = [strides] * nd
    if any(s != 1 for s in strides):
        return "unavailable", None
    y0 = tf.zeros([x.shape[0], *out_spatial, f.shape[-2]], dtype=x.dtype)
    if not isinstance(padding, str):
        padding = [list(q) for q in padding]
    try:
        with tf.GradientTape() as tape:
            tape.watch(y0)
            if isinstance(padding, list):
                z = tf.nn.conv2d(y0, f, 1, padding, dilations=dilations)
            else:
                z = tf.nn.convolution(y0, f, padding=padding, dilations=dilations)
        if tuple(z.shape) != x.shape:
            return "mismatch", None
        return "ok", tape.gradient(z, y0, output_gradients=tf.constant(x)).numpy()
    except Exception:
        return "unavailable", None


@_SETTINGS
@given(case=tf_cases())
def matches_tf_nn_conv_transpose(tally, tf, case):
    tally.drawn += 1
    x, f, out, strides, padding, d, first = case
    xin, shape, pad, fmt = _run_tf(tf, x, f, out, strides, padding, d, first)
    try:
        want = tf.nn.conv_transpose(xin, f, shape, strides, pad, data_format=fmt, dilations=d).numpy()
    except Exception as exc:
        if any(m in str(exc) for m in TF_LIMITS):
            status, grad = _grad_of_conv(tf, x, f, out, strides, padding, d)
            if status == "mismatch":
                with pytest.raises(ValueError):
                    tfc.conv_transpose(xin, f, shape, strides, pad, data_format=fmt, dilations=d)
                count("tensorflow: tf.nn.conv_transpose (refused by both)")
                return
            if status == "unavailable":
                count("tensorflow: tf.nn.conv_transpose (TF CPU kernel refused; not compared)")
                return
            got = tfc.conv_transpose(xin, f, shape, strides, pad, data_format=fmt, dilations=d)
            got = np.moveaxis(got, 1, -1) if first else got
            assert got.shape == grad.shape
            assert record("tensorflow: gradient of tf.nn.convolution (dilated, stride 1)", got, grad) <= TOL
            tally.compared += 1
            return
        with pytest.raises(ValueError):
            tfc.conv_transpose(xin, f, shape, strides, pad, data_format=fmt, dilations=d)
        count("tensorflow: tf.nn.conv_transpose (refused by both)")
        return
    got = tfc.conv_transpose(xin, f, shape, strides, pad, data_format=fmt, dilations=d)
    assert got.shape == want.shape
    assert record("tensorflow: tf.nn.conv_transpose", got, want) <= TOL
    tally.compared += 1


def test_matches_tf_nn_conv_transpose(tf):
    """Most draws run in TensorFlow (or, where its CPU kernel refuses, as the gradient of its convolution)."""
    tally = Compared()
    matches_tf_nn_conv_transpose(tally, tf)
    tally.assert_at_least(EXAMPLES // 2, "tf.nn.conv_transpose")


@st.composite
def keras_cases(draw):
    nd = draw(st.sampled_from([2, 2, 1, 3]))
    max_n, max_k = {1: (7, 5), 2: (5, 4), 3: (3, 3)}[nd]
    n = [draw(st.integers(1, max_n)) for _ in range(nd)]
    k = [draw(st.integers(1, max_k)) for _ in range(nd)]
    s = [draw(st.integers(1, 3)) for _ in range(nd)]
    d = [draw(st.integers(1, 2)) for _ in range(nd)] if draw(st.booleans()) else [1] * nd
    if max(d) > 1 and draw(st.integers(0, 3)):  # Keras refuses strides > 1 with dilation_rate > 1
        s = [1] * nd
    padding = draw(st.sampled_from(["same", "valid"]))
    op = None if draw(st.booleans()) else [draw(st.integers(0, b - 1)) for b in s]
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 2)),) + tuple(n) + (c_in,)).astype(np.float32)
    kernel = rng.standard_normal(tuple(k) + (c_out, c_in)).astype(np.float32)
    bias = rng.standard_normal(c_out).astype(np.float32)
    return x, kernel, bias, dict(strides=tuple(s), padding=padding, output_padding=op, dilation_rate=tuple(d))


@_SETTINGS
@given(case=keras_cases())
def matches_keras_conv_transpose(tally, tf, keras, case):
    tally.drawn += 1
    x, kernel, bias, kw = case
    nd = x.ndim - 2
    cls = {1: keras.layers.Conv1DTranspose, 2: keras.layers.Conv2DTranspose, 3: keras.layers.Conv3DTranspose}[nd]
    try:
        layer = cls(kernel.shape[-2], kernel.shape[:-2], **kw)
        layer.build(x.shape)
        layer.set_weights([kernel, bias])
        want = np.asarray(layer(x))
    except Exception as exc:
        if any(m in str(exc) for m in TF_LIMITS):
            sizes = [tfc.keras_output_size(n, k, s, d, kw["padding"], None if kw["output_padding"] is None
                                           else kw["output_padding"][i])
                     for i, (n, k, s, d) in enumerate(zip(x.shape[1:-1], kernel.shape[:-2], kw["strides"],
                                                          kw["dilation_rate"]))]
            status, grad = _grad_of_conv(tf, x, kernel, sizes, kw["strides"], kw["padding"].upper(),
                                         kw["dilation_rate"])
            if status == "mismatch":
                with pytest.raises(ValueError):
                    tfc.keras_conv_transpose(x, kernel, bias, **kw)
                count("tensorflow: keras Conv*DTranspose (refused by both)")
                return
            if status == "unavailable":
                count("tensorflow: keras Conv*DTranspose (TF CPU kernel refused; not compared)")
                return
            got = tfc.keras_conv_transpose(x, kernel, bias, **kw)
            assert got.shape == grad.shape
            assert record("tensorflow: keras layer via gradient of tf.nn.convolution (dilated, stride 1)",
                          got, grad + bias) <= TOL
            tally.compared += 1
            return
        with pytest.raises(ValueError):
            tfc.keras_conv_transpose(x, kernel, bias, **kw)
        count("tensorflow: keras Conv*DTranspose (refused by both)")
        return
    if want.size == 0:  # Keras computes an empty output (e.g. 'same', even kernel, output_padding 0, one input)
        with pytest.raises(ValueError, match="output_shape must be >= 1"):
            tfc.keras_conv_transpose(x, kernel, bias, **kw)
        count("tensorflow: keras Conv*DTranspose (empty output in Keras, error in tconv)")
        return
    got = tfc.keras_conv_transpose(x, kernel, bias, **kw)
    assert got.shape == want.shape
    assert record("tensorflow: keras Conv*DTranspose", got, want) <= TOL
    tally.compared += 1


def test_matches_keras_conv_transpose(tf, keras):
    tally = Compared()
    matches_keras_conv_transpose(tally, tf, keras)
    tally.assert_at_least(EXAMPLES // 2, "keras Conv*DTranspose")


def test_filters_layout_is_out_then_in(tf):
    """The TRAP in old tf.nn.conv_transpose docs: filters are (*k, out, in), not (*k, in, out)."""
    x = np.ones((1, 3, 3, 2), np.float32)
    f = np.ones((2, 2, 5, 2), np.float32)  # 5 out, 2 in
    want = tf.nn.conv_transpose(x, f, [1, 6, 6, 5], 2).numpy()
    assert tfc.conv_transpose(x, f, [1, 6, 6, 5], 2).shape == want.shape == (1, 6, 6, 5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"output_shape": [1, 9, 6, 5]}, "output_shape size 9 in spatial dim 0 does not map back"),
        ({"output_shape": [1, 6, 6, 4]}, "must have batch 1 and 5 channels"),
        ({"output_shape": None}, "output_shape is required"),
        ({"padding": "same"}, "padding must be 'SAME', 'VALID'"),
        ({"data_format": "NCW"}, "data_format must be 'NHWC' or 'NCHW'"),
        ({"strides": [1, 2, 2]}, "strides must be an int or have 1, 2 or 4 entries"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"output_shape": [1, 6, 6, 5], "strides": 2, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        tfc.conv_transpose(np.ones((1, 3, 3, 2)), np.ones((2, 2, 5, 2)), **args)
