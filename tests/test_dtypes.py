"""The dtype rule on every NumPy door: the result dtype is the NumPy promotion of the operands.

float32 in -> float32 out, float64 -> float64; float16 and ``ml_dtypes.bfloat16``
compute in float32 and are rounded once; integer and bool operands give
float64 (where PyTorch would keep integers or refuse bool); mixes follow
``np.result_type``.  Complex is refused (for now) with a TypeError.

The operands hold small integers, so every working precision computes them
exactly: each result must equal the float64 computation rounded to the
result dtype.  Random (non-integer) float16 / bfloat16 operands check the
"rounded once" part bitwise against the float32 computation cast once.
"""

from __future__ import annotations

import numpy as np
import pytest

import tconv
import tconv.nn as nn
from tconv.compat import _common, jax as tjax, mxnet as tmxnet, onnx as tonnx, tensorflow as ttf

ml_dtypes = pytest.importorskip("ml_dtypes")

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
BF16 = np.dtype(ml_dtypes.bfloat16)
INTS = [np.dtype(t) for t in (np.int8, np.int32, np.int64, np.uint8)]
BOOL = np.dtype(bool)
SINGLE = INTS + [BOOL, F16, BF16, F32, F64]
LOW = (F16, BF16)  # computed in float32, rounded once

# (x, weight, bias, result) for operands of different dtypes: the result column is the rule,
# written out; test_mixes_are_numpy_promotion checks that it is np.result_type's.
MIXES = [
    (F16, F32, F32, F32),
    (F16, F16, F32, F32),  # the bias takes part
    (BF16, F16, F16, F32),
    (BF16, F32, BF16, F32),
    (F32, F64, F32, F64),
    (F64, F32, None, F64),
    (np.dtype(np.int64), F32, F32, F64),  # as np.result_type(int64, float32)
    (np.dtype(np.int32), F32, None, F64),
    (np.dtype(np.int8), F32, F32, F32),
    (np.dtype(np.uint8), F32, F32, F32),
    (np.dtype(np.uint8), F16, F16, F16),
    (np.dtype(np.int8), BF16, BF16, BF16),
    (BOOL, F32, F32, F32),
    (BOOL, F16, None, F16),
    (BOOL, BF16, BF16, BF16),
    (np.dtype(np.int64), np.dtype(np.int8), BOOL, F64),
    (BOOL, np.dtype(np.uint8), None, F64),
]


def rule(*dtypes) -> np.dtype:
    """The result dtype for operands of these dtypes (the same-dtype cases of the rule)."""
    dts = [np.dtype(d) for d in dtypes if d is not None]
    if all(d == dts[0] for d in dts):
        return dts[0] if dts[0] in (F16, BF16, F32, F64) else F64
    if all(d.kind in "iub" for d in dts):
        return F64
    for x, w, b, r in MIXES:  # a bias of the input's or the weight's dtype changes nothing
        if dts[:2] == [x, w] and (dts[2:] == [b] or (len(dts) == 2 and b in (None, x, w))):
            return r
    raise AssertionError(f"no rule written for {dts}")


def combos():
    """(x, weight, bias) dtypes: each dtype alone (with and without bias), then the mixes."""
    out = [(d, d, d) for d in SINGLE] + [(d, d, None) for d in SINGLE]
    return out + [(x, w, b) for x, w, b, _ in MIXES]


def small_ints(shape, dtype, seed):
    """Small integers (0/1 for bool, >= 0 for unsigned) of ``dtype``: exact in every dtype here."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == BOOL:
        return rng.integers(0, 2, shape).astype(bool)
    low = 0 if dtype.kind == "u" else -3
    return rng.integers(low, 4, shape).astype(dtype)


def f64(a):
    return None if a is None else np.asarray(a).astype(np.float64)


def assert_rounded(got, want64, dtype, exact=True):
    """``got`` has ``dtype`` and equals the float64 values ``want64`` rounded to it (once)."""
    assert got.dtype == dtype, (got.dtype, dtype)
    want = np.asarray(want64).astype(dtype)
    if exact:
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))
    else:  # an algorithm that is not exact on integers (fft): within the dtype's rounding
        eps = float(ml_dtypes.finfo(dtype).eps)
        scale = max(float(np.abs(want64).max(initial=0)), 1.0)
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=eps, atol=eps * scale)


def operands(xd, wd, bd, transposed, seed=0):
    x = small_ints((2, 4, 5), xd, seed)
    w = small_ints((4, 3, 3) if transposed else (3, 4, 3), wd, seed + 1)
    b = None if bd is None else small_ints((3,), bd, seed + 2)
    return x, w, b


# -- the rule itself -----------------------------------------------------------------------------


def test_mixes_are_numpy_promotion():
    for x, w, b, want in MIXES:
        operands_ = [np.ones(1, x), np.ones(1, w)] + ([] if b is None else [np.ones(1, b)])
        promoted = np.result_type(*operands_)
        assert want == (promoted if tconv._validate.real_kind(promoted) == "f" else F64)
        assert tconv._validate.compute_dtype(*operands_) == want
    assert np.promote_types(BF16, F32) == F32 and np.promote_types(F16, F32) == F32  # the working dtype
    assert len(MIXES) == 17


def test_complex_goes_to_the_operator_and_is_refused_by_the_layers():
    """The operator takes complex operands (NumPy promotion; tests/test_complex.py compares them with
    PyTorch); the layers refuse them, naming the calls that take them."""
    assert tconv.conv_transpose(np.ones((1, 1, 3), complex), np.ones((1, 1, 2))).dtype == np.complex128
    assert tconv.conv(np.ones((1, 1, 3), np.float32), np.ones((1, 1, 2), np.complex64)).dtype == np.complex64
    assert tconv.conv(np.ones((1, 1, 3)), np.ones((1, 1, 2), np.complex64)).dtype == np.complex128
    with pytest.raises(TypeError, match="x has complex dtype complex128; expected real numbers .* tconv.conv, "):
        nn.Conv1d(1, 1, 2)(np.ones((1, 1, 3), complex))


# -- the operator and its gradients -----------------------------------------------------------------


@pytest.mark.parametrize("transposed", [True, False])
def test_operator(transposed):
    op = tconv.conv_transpose if transposed else tconv.conv
    checked = 0
    for xd, wd, bd in combos():
        x, w, b = operands(xd, wd, bd, transposed)
        for algorithm in ("direct", "auto"):
            got = op(x, w, b, stride=2, algorithm=algorithm)
            want = op(f64(x), f64(w), f64(b), stride=2, algorithm="direct")
            assert_rounded(got, want, rule(xd, wd, bd), exact=algorithm == "direct")
            checked += 1
    assert checked == 2 * (2 * len(SINGLE) + len(MIXES)) == 70


@pytest.mark.parametrize("transposed", [True, False])
def test_gradients(transposed):
    backward = tconv.conv_transpose_backward if transposed else tconv.conv_backward
    op = tconv.conv_transpose if transposed else tconv.conv
    checked = 0
    for xd, wd, _ in combos():
        x, w, _b = operands(xd, wd, None, transposed)
        gy = small_ints(op(f64(x), f64(w), stride=2).shape, xd, 7)
        got = backward(gy, x, w, stride=2)
        want = backward(f64(gy), f64(x), f64(w), stride=2)
        for g, g64 in zip(got, want):
            assert_rounded(g, g64, rule(xd, wd), exact=False)
        checked += 1
    assert checked == 2 * len(SINGLE) + len(MIXES) == 35


def _random(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


LOW_CONFIGS = [  # between them, every algorithm gets a configuration it supports
    dict(stride=2, padding=1, groups=1),
    dict(stride=1, padding=1, groups=1),  # winograd (with the compiled kernels)
    dict(stride=3, padding=0, groups=1),  # nooverlap: stride >= kernel
    dict(stride=2, padding=1, groups=4),  # depthwise
]


@pytest.mark.parametrize("dtype", LOW, ids=str)
def test_low_precision_is_rounded_once(dtype):
    """float16 / bfloat16: bitwise the float32 computation (same algorithm), cast once."""
    ran, checked = set(), 0
    for transposed in (True, False):
        op = tconv.conv_transpose if transposed else tconv.conv
        backward = tconv.conv_transpose_backward if transposed else tconv.conv_backward
        for kw in LOW_CONFIGS:
            per_group = 4 // kw["groups"]
            x = _random((2, 4, 7, 6), dtype, 0)
            w = _random((4, per_group, 3, 3), dtype, 1)
            b = _random((4,), dtype, 2)
            for algorithm in tconv.algorithm_names():
                try:
                    got = op(x, w, b, algorithm=algorithm, **kw)
                except ValueError as exc:
                    assert "does not support" in str(exc)
                    continue
                want = op(x.astype(F32), w.astype(F32), b.astype(F32), algorithm=algorithm, **kw)
                assert got.dtype == dtype
                np.testing.assert_array_equal(got.view(np.uint16), want.astype(dtype).view(np.uint16))
                ran.add(algorithm)
                checked += 1
            gy = _random(op(x, w, **kw).shape, dtype, 3)
            got = backward(gy, x, w, **kw)
            want = backward(gy.astype(F32), x.astype(F32), w.astype(F32), **kw)
            for g, g32 in zip(got, want):
                assert g.dtype == dtype
                np.testing.assert_array_equal(g.view(np.uint16), g32.astype(dtype).view(np.uint16))
                checked += 1
    assert ran >= {"direct", "gemm", "phase", "subpixel", "fft", "nooverlap", "depthwise"}
    assert checked >= 2 * len(LOW_CONFIGS) * 3 + 2 * 7


def test_gradient_output_precision_takes_part():
    """A float64 grad_output with float32 x and weight: float64 gradients, computed in float64."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 9)).astype(F32), rng.standard_normal((3, 2, 3)).astype(F32)
    gy = rng.standard_normal((2, 2, 11))
    got = tconv.conv_transpose_backward(gy, x, w)
    want = tconv.conv_transpose_backward(gy, f64(x), f64(w))
    for g, g64 in zip(got, want):
        assert g.dtype == F64
        np.testing.assert_allclose(g, g64, rtol=1e-13)


# -- the matrix view ----------------------------------------------------------------------------


def test_conv_operator():
    checked = 0
    for xd, wd, _ in combos():
        x, w, _b = operands(xd, wd, None, transposed=False)
        A = tconv.ConvOperator(w, (5,))
        got = A.matvec(x[0].ravel())
        want = tconv.conv(f64(x[0]), f64(w), algorithm="direct").ravel()
        np.testing.assert_array_equal(f64(got), want)  # the values are exact in every dtype here
        M = tconv.conv_matrix(w, (5,))
        np.testing.assert_array_equal(M @ f64(x[0]).ravel(), want)
        if wd != BF16:  # scipy.sparse: at least float32
            assert M.dtype == A.dtype == np.promote_types(tconv._validate.compute_dtype(w), F32)
        checked += 1
    assert checked == 35


def test_conv_matrix_of_a_bfloat16_weight_is_float32():
    w = np.ones((1, 1, 2), BF16)
    assert tconv.conv_matrix(w, (4,)).dtype == F32 == tconv.ConvOperator(w, (4,)).dtype


# -- layers ----------------------------------------------------------------------------------------


LAYER_DTYPES = (F16, BF16, F32, F64)
# the result dtype of a layer of each of LAYER_DTYPES on an input of each dtype (NumPy promotion, written out)
LAYER_RESULTS = {
    "int8": (F16, BF16, F32, F64),
    "int32": (F64, F64, F64, F64),
    "int64": (F64, F64, F64, F64),
    "uint8": (F16, BF16, F32, F64),
    "bool": (F16, BF16, F32, F64),
    "float16": (F16, F32, F32, F64),
    "bfloat16": (F32, BF16, F32, F64),
    "float32": (F32, F32, F32, F64),
    "float64": (F64, F64, F64, F64),
}


def test_layer_results_are_numpy_promotion():
    for xd in SINGLE:
        for layer_dtype, want in zip(LAYER_DTYPES, LAYER_RESULTS[xd.name]):
            promoted = np.result_type(np.ones(1, xd), np.ones(1, layer_dtype))
            assert want == (promoted if tconv._validate.real_kind(promoted) == "f" else F64)
    assert len(LAYER_RESULTS) == len(SINGLE)


@pytest.mark.parametrize("transposed", [True, False])
def test_layers(transposed):
    checked = 0
    for column, layer_dtype in enumerate(LAYER_DTYPES):
        make = nn.ConvTranspose1d if transposed else nn.Conv1d
        layer = make(4, 3, 3, stride=2, dtype=layer_dtype, seed=0)
        layer.weight[...] = small_ints(layer.weight.shape, np.int8, 1)
        layer.bias[...] = small_ints((3,), np.int8, 2)
        assert layer.weight.dtype == layer.bias.dtype == layer_dtype
        for xd in SINGLE:
            x = small_ints((2, 4, 5), xd, 0)
            op = tconv.conv_transpose if transposed else tconv.conv
            y = layer(x)
            want = LAYER_RESULTS[xd.name][column]
            assert_rounded(y, op(f64(x), f64(layer.weight), f64(layer.bias), stride=2), want, exact=False)
            gx = layer.backward(np.ones_like(y))
            assert gx.dtype == want
            assert layer.weight_grad.dtype == layer.bias_grad.dtype == layer_dtype
            checked += 1
    assert checked == len(LAYER_DTYPES) * len(SINGLE) == 36


def test_gluon_layers_and_sequential():
    layer = nn.Conv2DTranspose(2, kernel_size=2, dtype=BF16)
    layer.initialize()
    assert layer(np.ones((1, 3, 2, 2), np.float16)).dtype == F32  # bfloat16 with float16
    assert layer.weight.dtype == BF16
    layer.cast(np.float64)
    assert layer.weight.dtype == layer.bias.dtype == F64
    net = nn.Sequential(nn.Conv1d(1, 2, 2, seed=0), nn.Tanh(), nn.ConvTranspose1d(2, 1, 2, seed=0), nn.Sigmoid())
    for dtype in LAYER_DTYPES:
        net.to(dtype)
        assert all(p.dtype == dtype for p in net.parameters())
        assert net(np.ones((1, 1, 4), dtype)).dtype == dtype
    assert net(np.ones((1, 1, 4), bool)).dtype == F64


# -- dialects -----------------------------------------------------------------------------------------


def test_dialects():
    checked = 0
    for xd, wd, bd in combos():
        x, w, b = operands(xd, wd, bd, transposed=True)  # x (N, C, W), w (C_in, C_out, k)
        want_dtype = rule(xd, wd, bd)
        want = tconv.conv_transpose(f64(x), f64(w), f64(b), stride=2, algorithm="direct")
        got = tonnx.conv_transpose(x, w, b, strides=[2])
        assert_rounded(got, want, want_dtype, exact=False)
        got = tmxnet.deconvolution(x, w, b, kernel=(3,), stride=(2,), num_filter=3, no_bias=b is None)
        assert_rounded(got, want, want_dtype, exact=False)
        want_nb = tconv.conv_transpose(f64(x), f64(w), stride=2, algorithm="direct")
        xl, wl = np.moveaxis(x, 1, -1), np.moveaxis(w, (0, 1), (-1, -2))  # NWC, (k, out, in)
        got = ttf.conv_transpose(xl, wl, [2, 11, 3], 2, padding="VALID")
        assert_rounded(np.moveaxis(got, -1, 1), want_nb, rule(xd, wd), exact=False)
        got = tjax.conv_transpose(xl, np.moveaxis(w, (0, 1), (-2, -1))[::-1], (2,), "VALID")  # (k, in, out)
        assert_rounded(np.moveaxis(got, -1, 1), want_nb, rule(xd, wd), exact=False)
        # the bias on positions beyond the contributions (the crop/extend step): added once, in float32
        got = _run_cropped(x, w, b, stride=(2,), dilation=(1,), groups=1, crops=((1, -2),))
        extended = np.zeros(want.shape[:2] + (12,))
        extended[..., :10] = tconv.conv_transpose(f64(x), f64(w), stride=2, algorithm="direct")[..., 1:]
        extended += 0 if b is None else f64(b)[:, None]
        assert_rounded(got, extended, want_dtype, exact=False)
        checked += 1
    assert checked == 2 * len(SINGLE) + len(MIXES) == 35


def _run_cropped(x, w, b, *, stride, dilation, groups, crops):
    """The dialects' windowed transposed conv: the Geometry PyTorch's rule runs, cropped / zero-extended."""
    dtype = tconv._validate.compute_dtype(*(a for a in (x, w, b) if a is not None))
    layer = _common.crop_geometry(x.shape, w.shape, dtype, stride=stride, dilation=dilation, crops=crops,
                                  groups=groups, bias=b is not None)
    return _common.run(layer, x, w, b)


@pytest.mark.parametrize("dtype", LOW, ids=str)
def test_dialect_bias_rounded_once(dtype):
    x, w, b = _random((2, 4, 5), dtype, 0), _random((4, 3, 3), dtype, 1), _random((3,), dtype, 2)
    for crops in (((1, 0),), ((1, -2),)):  # within the contributions, and beyond them
        got = _run_cropped(x, w, b, stride=(2,), dilation=(1,), groups=1, crops=crops)
        want = _run_cropped(x.astype(F32), w.astype(F32), b.astype(F32), stride=(2,), dilation=(1,),
                                   groups=1, crops=crops)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.view(np.uint16), want.astype(dtype).view(np.uint16))
