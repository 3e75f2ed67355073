"""Boundary modes on the layers and the matrix view; ``padding="same"`` / ``"valid"`` on transposed layers.

Oracles (PyTorch CPU, float64):

* ``Conv*d`` / Gluon ``Conv2D`` with a ``padding_mode``: ``torch.nn.Conv*d(padding_mode=...)`` itself
  (forward, and ``torch.autograd`` for the input, weight and bias gradients); asymmetric ``(before, after)``
  padding, which torch's layers do not take, against ``F.pad`` + ``F.conv{n}d`` (:mod:`torch_boundary`).
* ``ConvTranspose*d`` / Gluon ``Conv2DTranspose`` with a mode (PyTorch refuses them): the adjoint of
  torch's padded convolution, i.e. its input gradient by ``torch.autograd`` (forward), and the double
  backward of that (the layer's gradients).
* ``ConvTranspose*d(padding="same" / "valid")``: :func:`tconv.conv_transpose` with the same padding, the
  TF/Keras/JAX shape rule (``in * stride``), torch's uncropped transposed convolution cropped by that rule
  (zeros) and the adjoint of torch's padded convolution with the rule's crops (every mode).
* ``conv_matrix`` / ``ConvOperator`` with a mode: ``M @ x == conv(x)`` and ``M.T @ y == conv_transpose(y,
  output_size=...)`` (and torch's padded convolution and its input gradient), the dot test, scipy's
  ``lsqr`` through the operator against ``lsqr`` on the matrix.

Every test counts what it compared and asserts a floor.
"""

from __future__ import annotations

import numpy as np
import pytest

import tconv
from tconv import nn
from tconv.matrix import conv_matrix_dense, matrix_size
from support import record_error
from torch_boundary import (
    MODES, Case, cases, padded_conv, tensor, torch, torch_adjoint, torch_conv, torch_conv_transpose_grads,
)

F = torch.nn.functional
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
TORCH_CONV = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

TOL = 1e-12  # float64, relative to max(1, max |want|)


def _check(what: str, got, want, tol: float = TOL) -> float:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    err = record_error(what, np.float64, got, want)
    assert err < tol, (what, err)
    return err


def _conv_layer(case: Case, w, b, *, gluon: bool = False):
    if gluon:
        layer = nn.Conv2D(case.small_channels, case.kernel, strides=case.stride, padding=case.padding,
                          dilation=case.dilation, groups=case.groups, in_channels=case.big_channels,
                          dtype=np.float64, padding_mode=case.mode)
        layer.initialize()
    else:
        layer = CONV[case.nd](case.big_channels, case.small_channels, case.kernel, stride=case.stride,
                              padding=case.padding, dilation=case.dilation, groups=case.groups,
                              padding_mode=case.mode, dtype=np.float64, seed=0)
    layer.weight, layer.bias = w, b
    return layer


def _output_padding(case: Case) -> tuple[int, ...]:
    """The output_padding that takes the transposed convolution of ``case.small`` back to ``case.big``."""
    return tuple(n - ((m - 1) * s - lo - hi + d * (k - 1) + 1) for n, m, s, (lo, hi), d, k in
                 zip(case.big, case.small, case.stride, case.pairs, case.dilation, case.kernel))


def _transposed_layer(case: Case, w, b, *, gluon: bool = False, by_output_size: bool = False):
    op = (0,) * case.nd if by_output_size else _output_padding(case)
    if gluon:
        layer = nn.Conv2DTranspose(case.big_channels, case.kernel, strides=case.stride, padding=case.padding,
                                   output_padding=op, dilation=case.dilation, groups=case.groups,
                                   in_channels=case.small_channels, dtype=np.float64, padding_mode=case.mode)
        layer.initialize()
    else:
        layer = CONV_T[case.nd](case.small_channels, case.big_channels, case.kernel, stride=case.stride,
                                padding=case.padding, output_padding=op, dilation=case.dilation,
                                groups=case.groups, padding_mode=case.mode, dtype=np.float64, seed=0)
    layer.weight, layer.bias = w, b
    return layer


def _coverage(all_cases) -> dict[str, int]:
    return dict(stride=sum(max(c.stride) > 1 for c in all_cases), dilation=sum(max(c.dilation) > 1 for c in all_cases),
                groups=sum(c.groups > 1 for c in all_cases), asymmetric=sum(not c.symmetric for c in all_cases))


# --------------------------------------------------------------------------- Conv*d == torch.nn.Conv*d


def _torch_module(case: Case, w, b):
    module = TORCH_CONV[case.nd](case.big_channels, case.small_channels, case.kernel, stride=case.stride,
                                 padding=case.padding, dilation=case.dilation, groups=case.groups,
                                 padding_mode=case.mode, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(tensor(w))
        module.bias.copy_(tensor(b))
    return module


def _torch_layer_run(case: Case, x, w, b, g):
    """``(y, grad_input, grad_weight, grad_bias)`` of torch's own layer (symmetric padding) or of ``F.pad`` +
    ``F.conv{n}d`` (asymmetric), by torch.autograd."""
    tx = tensor(x, True)
    if case.symmetric:
        module = _torch_module(case, w, b)
        out = module(tx)
        params = (module.weight, module.bias)
    else:
        params = (tensor(w, True), tensor(b, True))
        out = padded_conv(tx, *params, **case.hyper)
    grads = torch.autograd.grad(out, (tx,) + params, tensor(g))
    return (out.detach().numpy(),) + tuple(t.numpy() for t in grads)


def test_conv_layers_match_torch_forward_and_backward():
    """Conv1d/2d/3d (and unbatched input) with every mode == torch.nn.Conv*d(padding_mode=...): forward and
    the three gradients by torch.autograd."""
    all_cases = cases(101, 6)
    compared = 0
    for i, case in enumerate(all_cases):
        x, w, b, _ = case.arrays(i)
        layer = _conv_layer(case, w, b)
        unbatched = i % 5 == 0
        y = layer(x[0] if unbatched else x)
        g = np.random.default_rng(i).standard_normal(y.shape)
        gx = layer.backward(g)
        if unbatched:
            y, g, gx = y[None], g[None], gx[None]
            x = x[:1]
        want = _torch_layer_run(case, x, w, b, g)
        _check("boundary layers: Conv*d forward", y, want[0])
        _check("boundary layers: Conv*d grad_input", gx, want[1])
        _check("boundary layers: Conv*d weight_grad", layer.weight_grad, want[2])
        _check("boundary layers: Conv*d bias_grad", layer.bias_grad, want[3])
        compared += 1
    assert compared >= 4 * 3 * 6
    cover = _coverage(all_cases)
    assert min(cover.values()) >= 8, cover


def test_gluon_conv2d_matches_torch():
    all_cases = cases(102, 8, nds=(2,))
    compared = 0
    for i, case in enumerate(all_cases):
        x, w, b, _ = case.arrays(i)
        layer = _conv_layer(case, w, b, gluon=True)
        y = layer(x)
        g = np.random.default_rng(i).standard_normal(y.shape)
        gx = layer.backward(g)
        want = _torch_layer_run(case, x, w, b, g)
        for what, got, exp in zip(("forward", "grad_input", "weight_grad", "bias_grad"),
                                  (y, gx, layer.weight_grad, layer.bias_grad), want):
            _check(f"boundary layers: Gluon Conv2D {what}", got, exp)
        compared += 1
    assert compared >= 4 * 8


@pytest.mark.parametrize("mode", MODES)
def test_conv_layer_same_padding_with_a_mode_matches_torch(mode):
    """padding='same' (stride 1) with a mode: torch's own Conv*d(padding='same', padding_mode=mode)."""
    rng = np.random.default_rng(7)
    compared = 0
    for nd in (1, 2, 3):
        for _ in range(3):
            kernel = tuple(int(v) for v in rng.integers(1, 5, nd))
            dilation = tuple(int(v) for v in rng.integers(1, 3, nd))
            size = tuple(int(v) for v in rng.integers(4, 8, nd))
            module = TORCH_CONV[nd](2, 4, kernel, padding="same", dilation=dilation, groups=2, padding_mode=mode,
                                    dtype=torch.float64)
            layer = nn.from_torch(module)
            assert layer.padding == "same" and layer.padding_mode == mode
            x = rng.standard_normal((2, 2) + size)
            tx = tensor(x, True)
            out = module(tx)
            y = layer(x)
            g = rng.standard_normal(y.shape)
            out.backward(tensor(g))
            _check("boundary layers: Conv*d same forward", y, out.detach().numpy())
            _check("boundary layers: Conv*d same grad_input", layer.backward(g), tx.grad.numpy())
            _check("boundary layers: Conv*d same weight_grad", layer.weight_grad, module.weight.grad.numpy())
            compared += 1
    assert compared == 9


# --------------------------------------------------------------------------- ConvTranspose*d: the adjoint


def test_transposed_layers_are_the_adjoint_of_torchs_padded_conv():
    """ConvTranspose1d/2d/3d with every mode == the input gradient of torch's padded conv (plus the bias);
    its gradients == torch's double backward; output_padding and output_size pick the same operator."""
    all_cases = cases(103, 5)
    compared = 0
    for i, case in enumerate(all_cases):
        _, w, _, y = case.arrays(i)
        bt = case.transposed_bias(i)
        by_size = i % 2 == 1
        layer = _transposed_layer(case, w, bt, by_output_size=by_size)
        x_shape = (case.batch, case.big_channels) + case.big
        out = layer(y, output_size=case.big) if by_size else layer(y)
        want = torch_adjoint(y, w, x_shape, bt, **case.hyper)
        _check("boundary layers: ConvTranspose*d forward", out, want)
        g = np.random.default_rng(i).standard_normal(out.shape)
        gy = layer.backward(g)
        want_gy, want_gw, want_gb = torch_conv_transpose_grads(g, y, w, x_shape, **case.hyper)
        _check("boundary layers: ConvTranspose*d grad_input", gy, want_gy)
        _check("boundary layers: ConvTranspose*d weight_grad", layer.weight_grad, want_gw)
        _check("boundary layers: ConvTranspose*d bias_grad", layer.bias_grad, want_gb)
        # the functional door with the same arguments gives the same bits
        np.testing.assert_array_equal(out, tconv.conv_transpose(y, w, bt, **case.conv_transpose_kwargs))
        compared += 1
    assert compared >= 4 * 3 * 5
    cover = _coverage(all_cases)
    assert min(cover.values()) >= 6, cover


def test_gluon_conv2d_transpose_is_the_adjoint():
    all_cases = cases(104, 6, nds=(2,))
    compared = 0
    for i, case in enumerate(all_cases):
        _, w, _, y = case.arrays(i)
        bt = case.transposed_bias(i)
        layer = _transposed_layer(case, w, bt, gluon=True)
        x_shape = (case.batch, case.big_channels) + case.big
        out = layer(y)
        _check("boundary layers: Gluon Conv2DTranspose forward", out,
               torch_adjoint(y, w, x_shape, bt, **case.hyper))
        g = np.random.default_rng(i).standard_normal(out.shape)
        gy = layer.backward(g)
        want = torch_conv_transpose_grads(g, y, w, x_shape, **case.hyper)
        for what, got, exp in zip(("grad_input", "weight_grad", "bias_grad"),
                                  (gy, layer.weight_grad, layer.bias_grad), want):
            _check(f"boundary layers: Gluon Conv2DTranspose {what}", got, exp)
        compared += 1
    assert compared >= 4 * 6


def test_transposed_and_conv_layers_with_one_weight_are_adjoint():
    """The dot test between a Conv*d and a ConvTranspose*d layer sharing a weight, every mode, 1-3 d."""
    compared = 0
    for i, case in enumerate(cases(105, 4)):
        x, w, _, y = case.arrays(i)
        conv = _conv_layer(case, w, np.zeros(case.small_channels))
        up = _transposed_layer(case, w, np.zeros(case.big_channels))
        ax, aty = conv(x), up(y)
        lhs, rhs = float(np.vdot(ax, y)), float(np.vdot(x, aty))
        scale = max(np.linalg.norm(ax) * np.linalg.norm(y), np.linalg.norm(x) * np.linalg.norm(aty), 1.0)
        assert abs(lhs - rhs) / scale < 1e-13, (case, lhs, rhs)
        compared += 1
    assert compared >= 4 * 3 * 4


# --------------------------------------------------------------------------- 'same' / 'valid' transposed layers


def _tf_same_crops(k_eff: int, s: int) -> tuple[tuple[int, int], int]:
    """TensorFlow's SAME for a transposed conv, written out here: ``in * s`` outputs, of the
    ``k_eff - s`` surplus the larger half cropped at the end; a shortfall is padded at the end."""
    surplus = k_eff - s
    if surplus >= 0:
        return (surplus // 2, surplus - surplus // 2), 0
    return (0, 0), -surplus


def _torch_same_transpose(y, w, b, stride, dilation, groups):
    """torch's uncropped transposed conv, then the TF SAME crop (zeros mode)."""
    nd = w.ndim - 2
    with torch.no_grad():
        full = TORCH_CONV_T[nd](tensor(y), tensor(w), tensor(b), stride=stride, dilation=dilation,
                                groups=groups).numpy()
    index = [slice(None), slice(None)]
    widths = [(0, 0), (0, 0)]
    for k, s, d, n in zip(w.shape[2:], stride, dilation, full.shape[2:]):
        (lo, hi), extra = _tf_same_crops(d * (k - 1) + 1, s)
        index.append(slice(lo, n - hi))
        widths.append((0, extra))
    bias = np.asarray(b).reshape((-1,) + (1,) * nd)
    return np.pad(full[tuple(index)] - bias, widths) + bias  # entries past the last contribution: the bias


@pytest.mark.parametrize("mode", MODES)
def test_transposed_layer_same_padding(mode):
    """ConvTranspose*d(padding='same'): ``in * stride`` outputs; == tconv.conv_transpose(padding='same');
    == torch's uncropped result cropped by TF's rule (zeros); == the adjoint of torch's conv padded in
    ``mode`` by that rule's crops (every mode); backward == torch's double backward of that adjoint."""
    rng = np.random.default_rng(11 + MODES.index(mode))
    compared = 0
    for nd in (1, 2, 3):
        for _ in range(5):
            groups = int(rng.integers(1, 3))
            c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
            kernel = tuple(int(v) for v in rng.integers(1, 5, nd))
            stride = tuple(int(v) for v in rng.integers(1, 4, nd))
            dilation = tuple(int(v) for v in rng.integers(1, 3, nd))
            size = tuple(int(v) for v in rng.integers(2, 5, nd))
            big = tuple(n * s for n, s in zip(size, stride))
            placed = [_tf_same_crops(d * (k - 1) + 1, s) for k, s, d in zip(kernel, stride, dilation)]
            pairs = tuple(p for p, _ in placed)
            if any(max(p) >= n if mode == "reflect" else max(p) > n for p, n in zip(pairs, big)):
                continue  # the mode cannot pad the output by these crops (refused below)
            layer = CONV_T[nd](c_in, c_out, kernel, stride=stride, padding="same", dilation=dilation, groups=groups,
                               padding_mode=mode, dtype=np.float64, seed=int(rng.integers(1 << 30)))
            w, b = np.array(layer.weight), np.array(layer.bias)
            y = rng.standard_normal((2, c_in) + size)
            out = layer(y)
            assert out.shape == (2, c_out) + big
            np.testing.assert_array_equal(out, tconv.conv_transpose(y, w, b, stride=stride, padding="same",
                                                                    dilation=dilation, groups=groups,
                                                                    padding_mode=mode))
            np.testing.assert_array_equal(layer(y, output_size=big), out)  # the size 'same' gives is accepted
            hyper = dict(mode=mode, pairs=pairs, stride=stride, dilation=dilation, groups=groups)
            x_shape = (2, c_out) + big
            _check("boundary layers: ConvTranspose*d same forward", out,
                   torch_adjoint(y, w, x_shape, b, **hyper))
            if mode == "zeros":
                _check("boundary layers: ConvTranspose*d same vs torch cropped", out,
                       _torch_same_transpose(y, w, b, stride, dilation, groups))
            g = rng.standard_normal(out.shape)
            gy = layer.backward(g)
            want = torch_conv_transpose_grads(g, y, w, x_shape, **hyper)
            for what, got, exp in zip(("grad_input", "weight_grad", "bias_grad"),
                                      (gy, layer.weight_grad, layer.bias_grad), want):
                _check(f"boundary layers: ConvTranspose*d same {what}", got, exp)
            compared += 1
    assert compared >= 12, compared


@pytest.mark.parametrize("mode", MODES)
def test_transposed_layer_valid_padding(mode):
    """ConvTranspose*d(padding='valid') crops nothing: torch's unpadded transposed conv, any mode."""
    rng = np.random.default_rng(23 + MODES.index(mode))
    compared = 0
    for nd in (1, 2, 3):
        for _ in range(3):
            kernel = tuple(int(v) for v in rng.integers(1, 4, nd))
            stride = tuple(int(v) for v in rng.integers(1, 4, nd))
            dilation = tuple(int(v) for v in rng.integers(1, 3, nd))
            size = tuple(int(v) for v in rng.integers(1, 5, nd))
            layer = CONV_T[nd](2, 3, kernel, stride=stride, padding="valid", dilation=dilation, padding_mode=mode,
                               dtype=np.float64, seed=int(rng.integers(1 << 30)))
            w, b = np.array(layer.weight), np.array(layer.bias)
            y = rng.standard_normal((1, 2) + size)
            out = layer(y)
            assert out.shape[2:] == tuple((n - 1) * s + d * (k - 1) + 1
                                          for n, s, d, k in zip(size, stride, dilation, kernel))
            with torch.no_grad():
                want = TORCH_CONV_T[nd](tensor(y), tensor(w), tensor(b), stride=stride, dilation=dilation).numpy()
            _check("boundary layers: ConvTranspose*d valid", out, want)
            np.testing.assert_array_equal(out, tconv.conv_transpose(y, w, b, stride=stride, padding="valid",
                                                                    dilation=dilation, padding_mode=mode))
            compared += 1
    assert compared == 9


def test_transposed_same_layer_output_size_rules():
    """With padding='same' forward(x, output_size=...) accepts exactly ``in * stride`` (spatial or the full
    shape) and refuses any other size naming output_size; output_padding != 0 is refused at construction."""
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding="same", padding_mode="circular")
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5)).astype(np.float32)
    y = layer(x)
    assert y.shape == (1, 3, 8, 10)
    np.testing.assert_array_equal(layer(x, output_size=(8, 10)), y)
    np.testing.assert_array_equal(layer(x, output_size=(1, 3, 8, 10)), y)
    for bad in ((9, 10), (7, 10), (1, 3, 8, 11)):
        with pytest.raises(ValueError, match=r"output_size=.*cannot be reached with padding='same'.*\(8, 10\)"):
            layer(x, output_size=bad)
    with pytest.raises(ValueError, match="output_padding=1 cannot be combined with padding='same'"):
        nn.ConvTranspose2d(2, 3, 3, stride=2, padding="same", output_padding=1)
    assert "padding='same'" in repr(layer) and repr(layer).endswith("padding_mode='circular')")
    assert "padding=" not in repr(nn.ConvTranspose1d(1, 1, 2, padding="valid"))


# --------------------------------------------------------------------------- layer plumbing


def test_layer_mode_in_repr_key_and_errors():
    """repr shows a non-default mode last (as torch's extra_repr); changing ``padding_mode`` on a built layer
    takes effect at the next call (it is part of the geometry key, as torch reads it at each call); a
    padding the mode cannot make is refused at the call, naming padding_mode."""
    assert repr(nn.Conv2d(1, 2, 3)) == "Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(nn.Conv2d(1, 2, 3, padding=1, bias=False, padding_mode="reflect")) == (
        "Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=((1, 1), (1, 1)), bias=False, "
        "padding_mode='reflect')")
    assert repr(nn.Conv2D(4, 3, padding_mode="replicate")).endswith("padding_mode='replicate')")
    layer = nn.Conv1d(1, 1, 3, padding=1, bias=False, dtype=np.float64)
    layer.weight = np.array([[[1., 0., 0.]]])
    x = np.array([[[1., 2., 3., 4.]]])
    np.testing.assert_array_equal(layer(x), [[[0., 1., 2., 3.]]])
    compared = 0
    for mode, first in (("circular", 4.), ("reflect", 2.), ("replicate", 1.), ("zeros", 0.)):
        layer.padding_mode = mode
        assert layer.geometry(x).boundary == mode
        np.testing.assert_array_equal(layer(x), [[[first, 1., 2., 3.]]])
        compared += 1
    assert compared == 4
    with pytest.raises(ValueError, match="padding_mode='reflect' needs padding smaller than the input size"):
        nn.Conv1d(1, 1, 3, padding=3, padding_mode="reflect")(np.ones((1, 1, 3)))
    with pytest.raises(ValueError, match="padding_mode='circular' needs padding at most the output size"):
        nn.ConvTranspose1d(1, 1, 1, padding=2, padding_mode="circular")(np.ones((1, 1, 5)))
    layer.padding_mode = "wrap"
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        layer(x)


def test_float32_layers_with_a_mode():
    """float32 layers with a mode stay float32 and agree with torch's float32 layer to float32 rounding."""
    rng = np.random.default_rng(3)
    compared = 0
    for mode in MODES:
        module = torch.nn.Conv2d(3, 4, 3, stride=2, padding=2, padding_mode=mode)
        layer = nn.from_torch(module)
        x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        y = layer(x)
        assert y.dtype == np.float32
        err = record_error("boundary layers: Conv2d", np.float32, y, want)
        assert err < 1e-5, (mode, err)
        up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=2, padding_mode=mode, seed=1)
        z = up(y, output_size=(6, 7))
        assert z.dtype == np.float32 and z.shape == x.shape
        compared += 1
    assert compared == 4


# --------------------------------------------------------------------------- conv_matrix and ConvOperator


def test_conv_matrix_with_a_mode():
    """M @ x == conv(x, mode) == torch; M.T @ y == conv_transpose(y, mode, output_size) == torch's adjoint;
    nnz == matrix_size's; dense == sparse; sorted indices, zeros of the weight still stored."""
    compared = 0
    for i, case in enumerate(cases(106, 5)):
        x, w, _, y = case.arrays(i)
        kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups,
                  padding_mode=case.mode)
        m = tconv.conv_matrix(w, case.big, **kw)
        assert m.has_sorted_indices and m.nnz == matrix_size(w, case.big, **kw).nnz
        assert m.shape == (case.small_channels * int(np.prod(case.small)), case.big_channels * int(np.prod(case.big)))
        conv = tconv.conv(x, w, **case.conv_kwargs)
        adj = tconv.conv_transpose(y, w, **case.conv_transpose_kwargs)
        want_conv = torch_conv(x, w, **case.hyper)
        want_adj = torch_adjoint(y, w, x.shape, **case.hyper)
        for n in range(case.batch):
            _check("boundary matrix: M @ x vs conv", m @ x[n].ravel(), conv[n].ravel())
            _check("boundary matrix: M @ x vs torch", m @ x[n].ravel(), want_conv[n].ravel())
            _check("boundary matrix: M.T @ y vs conv_transpose", m.T @ y[n].ravel(), adj[n].ravel())
            _check("boundary matrix: M.T @ y vs torch adjoint", m.T @ y[n].ravel(), want_adj[n].ravel())
        np.testing.assert_array_equal(conv_matrix_dense(w, case.big, **kw), m.toarray())
        zeroed = w.copy()
        zeroed.reshape(-1)[::2] = 0
        assert tconv.conv_matrix(zeroed, case.big, **kw).nnz == m.nnz  # the pattern is the geometry's
        compared += 1
    assert compared >= 4 * 3 * 5


def test_conv_matrix_merges_taps_that_read_one_entry():
    """A replicate / reflect / circular border makes taps of one row read the same input entry: one stored
    entry holding their sum (here every tap of a 5-tap kernel on a 1-entry input)."""
    w = np.arange(1., 6.).reshape(1, 1, 5)
    m = tconv.conv_matrix(w, (1,), padding=2, padding_mode="replicate")
    assert m.shape == (1, 1) and m.nnz == 1 and m.toarray()[0, 0] == 15.
    m = tconv.conv_matrix(w, (3,), padding=2, padding_mode="reflect")
    # reflect pads (a0, a1, a2) to (a2, a1, a0, a1, a2, a1, a0): 15 taps land on 9 entries
    np.testing.assert_array_equal(m.toarray(), [[3, 2 + 4, 1 + 5], [2, 1 + 3 + 5, 4], [1 + 5, 2 + 4, 3]])
    assert m.nnz == 9 == matrix_size(w, (3,), padding=2, padding_mode="reflect").nnz
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        tconv.conv_matrix(w, (3,), padding_mode="periodic")


def _dot_error(op, x, y) -> float:
    ax, aty = op @ x, op.H @ y
    lhs, rhs = float(np.vdot(ax, y)), float(np.vdot(x, aty))
    return abs(lhs - rhs) / max(np.linalg.norm(ax) * np.linalg.norm(y), np.linalg.norm(x) * np.linalg.norm(aty), 1.0)


def test_conv_operator_with_a_mode_dot_test_and_matrix():
    """ConvOperator with every mode: the dot test to 1e-13; matvec / rmatvec == the matrix's; matmat ==
    column by column; to_matrix == conv_matrix."""
    compared = 0
    for i, case in enumerate(cases(107, 4)):
        x, w, _, y = case.arrays(i)
        op = tconv.ConvOperator(w, case.big, stride=case.stride, padding=case.padding, dilation=case.dilation,
                                groups=case.groups, padding_mode=case.mode)
        assert op.geometry.boundary == case.mode
        m = op.to_matrix()
        xv, yv = x[0].ravel(), y[0].ravel()
        assert _dot_error(op, xv, yv) < 1e-13, case
        _check("boundary operator: matvec", op @ xv, m @ xv)
        _check("boundary operator: rmatvec", op.H @ yv, m.T @ yv)
        xs = x.reshape(case.batch, -1).T
        np.testing.assert_allclose(op @ xs, np.stack([op @ c for c in xs.T], axis=1), rtol=0, atol=1e-13)
        compared += 1
    assert compared >= 4 * 3 * 4


@pytest.mark.parametrize("mode", MODES)
def test_conv_operator_in_lsqr(mode):
    """scipy's lsqr through ConvOperator with a mode takes the same steps as lsqr on the explicit matrix
    (a few iterations, strided reflect-style blur, 2-D); at stride 1 with an invertible blur it recovers
    the input."""
    from scipy.sparse.linalg import lsqr

    rng = np.random.default_rng(31 + MODES.index(mode))
    w = rng.standard_normal((2, 1, 3, 3))
    op = tconv.ConvOperator(w, (9, 8), stride=2, padding=1, padding_mode=mode)
    m = op.to_matrix()
    b = rng.standard_normal(op.shape[0])
    compared = 0
    for iters in (1, 3, 6):
        got, want = lsqr(op, b, iter_lim=iters)[0], lsqr(m, b, iter_lim=iters)[0]
        _check("boundary operator: lsqr steps vs matrix", got, want, 1e-10)
        compared += 1
    blur = np.zeros((1, 1, 3, 3))
    blur[0, 0, 1, 1] = 1.0
    blur[0, 0] += 0.1 * rng.random((3, 3))  # diagonally dominant: invertible in every mode
    op = tconv.ConvOperator(blur, (10, 12), padding=1, padding_mode=mode)
    truth = rng.standard_normal(op.shape[1])
    found = lsqr(op, op @ truth, atol=1e-14, btol=1e-14, iter_lim=200)[0]
    _check("boundary operator: lsqr recovery", found, truth, 1e-8)
    assert compared == 3
