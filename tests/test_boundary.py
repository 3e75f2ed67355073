"""Boundary modes (``padding_mode``): conv equals PyTorch's padded conv, conv_transpose is its exact adjoint.

Oracles: ``torch.nn.functional.pad`` + ``conv{n}d`` for the convolution (and PyTorch's own ``Conv*d(padding=
"same", padding_mode=...)`` layers), ``torch.autograd``'s input gradient of that padded convolution for the
transposed convolution (the adjoint itself), the dot test ``<conv(x), y> == <x, conv_transpose(y)>`` for
every algorithm, and the Fourier-diagonal form of a circular convolution at stride 1.  Each test counts
the configurations it compared and asserts a floor.  The long seeded sweep is ``-m slow``.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

import numpy as np
import pytest

import tconv
from tconv import boundary, ops
from tconv.algorithms.planner import boundary_bytes, needed_bytes
from tconv.algorithms import jit
from tconv.algorithms.registry import get
from tconv.params import Geometry, conv_geometry, geometry_from_shapes
from support import COMPILED_ONLY, note_error, record_error
from torch_boundary import (
    MODES, Case, F, cases, draw_case, tensor, torch, torch_adjoint, torch_conv, torch_pad_arg,
)

ALGORITHMS = tconv.algorithm_names()


def rel(got, want) -> float:
    """Largest difference relative to max(1, max |want|)."""
    want = np.asarray(want, np.float64)
    return float(np.abs(np.asarray(got, np.float64) - want).max(initial=0.0)) / max(1.0, float(np.abs(want).max(initial=0)))


def dot_error(x, ax, y, aty, w) -> float:
    """``|<Ax, y> - <x, A^T y>|`` relative to ``max(|Ax| |y|, |x| |A^T y|, |x| |y| |w|)`` (Cauchy-Schwarz
    bounds the products by the first two; the third keeps the scale where a padding leaves A = 0, whose
    products are rounding noise)."""
    lhs, rhs = float(np.vdot(ax, y)), float(np.vdot(x, aty))
    norm = np.linalg.norm
    return abs(lhs - rhs) / max(float(norm(ax) * norm(y)), float(norm(x) * norm(aty)), float(norm(x) * norm(y) * norm(w)))


# --------------------------------------------------------------------------- pad and fold


def _random_pad_problem(rng, mode, nd):
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) + tuple(int(v) for v in rng.integers(1, 6, nd))
    limit = {"reflect": -1, "circular": 0}.get(mode, 3)
    pairs = tuple((int(rng.integers(0, max(0, min(3, n + limit)) + 1)), int(rng.integers(0, max(0, min(3, n + limit)) + 1)))
                  for n in shape[2:])
    return rng.standard_normal(shape), pairs


def test_pad_and_fold_against_torch():
    """pad == F.pad; fold == F.pad's vjp (torch.autograd) == the adjoint (dot test); inputs untouched."""
    rng = np.random.default_rng(17)
    compared = 0
    for mode in MODES:
        for nd in (1, 2, 3):
            for _ in range(12):
                x, pairs = _random_pad_problem(rng, mode, nd)
                tm = "constant" if mode == "zeros" else mode
                tx = tensor(x, True)
                tp = F.pad(tx, torch_pad_arg(pairs), mode=tm)
                got = boundary.pad(x, pairs, mode)
                assert got.shape == tuple(tp.shape) and got.flags.c_contiguous
                np.testing.assert_array_equal(got, tp.detach().numpy())
                y = rng.standard_normal(got.shape)
                y_before = y.copy()
                folded = boundary.fold(y, pairs, mode)
                np.testing.assert_array_equal(y, y_before)  # not overwritten
                (vjp,) = torch.autograd.grad(tp, tx, tensor(y))
                assert rel(folded, vjp.numpy()) < 1e-14, (mode, pairs, x.shape)
                assert dot_error(x, got, y, folded, np.ones(1)) < 1e-14
                f32 = boundary.pad(x.astype(np.float16), pairs, mode, dtype=np.float32)
                assert f32.dtype == np.float32
                np.testing.assert_array_equal(f32, boundary.pad(x.astype(np.float16), pairs, mode).astype(np.float32))
                compared += 1
    assert compared >= 4 * 3 * 12


def test_fold_overwrite_and_unbatched():
    y = np.arange(2 * 7.).reshape(2, 7)  # (C, W): the pairs apply to the last dim
    kept = y.copy()
    want = boundary.fold(y, ((2, 2),), "reflect")
    np.testing.assert_array_equal(y, kept)
    np.testing.assert_array_equal(boundary.fold(y, ((2, 2),), "reflect", overwrite=True), want)
    np.testing.assert_array_equal(want[0], [8., 9., 4.])


@pytest.mark.parametrize("call, match", [
    (lambda: boundary.pad(np.ones((1, 1, 3)), ((3, 0),), "reflect"), "padding_mode='reflect' needs padding smaller"),
    (lambda: boundary.pad(np.ones((1, 1, 3)), ((0, 4),), "circular"), "padding_mode='circular' needs padding at most"),
    (lambda: boundary.pad(np.ones((1, 1, 3)), ((1, 1),), "wrap"), "padding_mode must be one of"),
    (lambda: boundary.pad(np.ones((1, 1, 3)), ((-1, 1),), "zeros"), "non-negative"),
    (lambda: boundary.fold(np.ones((1, 1, 3)), ((2, 1),), "zeros"), "no interior"),
])
def test_pad_and_fold_refuse(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- conv == PyTorch


def _check_conv(case: Case, seed: int) -> None:
    x, w, b, _ = case.arrays(seed)
    got = tconv.conv(x, w, b, **case.conv_kwargs)
    want = torch_conv(x, w, b, **case.hyper)
    assert got.shape == want.shape, (case, got.shape, want.shape)
    err = record_error(f"boundary conv {case.mode}", np.float64, got, want)
    assert err < 1e-12, (case, err)


def test_conv_matches_torch_padded_conv():
    compared = 0
    for i, case in enumerate(cases(1, 10)):
        _check_conv(case, i)
        compared += 1
    assert compared >= 4 * 3 * 10


def test_conv_unbatched_float32_and_layouts():
    """Unbatched in -> unbatched out; float32 stays float32; a Fortran-ordered or strided input gives the
    same bits as a C-ordered one; the inputs are not modified."""
    rng = np.random.default_rng(5)
    compared = 0
    for mode in MODES:
        case = Case(mode, 1, 2, 3, 1, (6, 5), (3, 2), (2, 1), (1, 2), ((2, 1), (1, 0)), False)
        x, w, b, y = case.arrays(int(rng.integers(1 << 30)))
        x_kept, y_kept = x.copy(), y.copy()
        batched = tconv.conv(x, w, b, **case.conv_kwargs)
        np.testing.assert_array_equal(tconv.conv(x[0], w, b, **case.conv_kwargs), batched[0])
        np.testing.assert_array_equal(tconv.conv(np.asfortranarray(x), w, b, **case.conv_kwargs), batched)
        strided = np.empty(x.shape[:-1] + (2 * x.shape[-1],))[..., ::2]
        strided[...] = x
        np.testing.assert_array_equal(tconv.conv(strided, w, b, **case.conv_kwargs), batched)
        low = tconv.conv(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), **case.conv_kwargs)
        assert low.dtype == np.float32 and rel(low, batched) < 1e-5
        half = tconv.conv_transpose(y.astype(np.float16), w.astype(np.float16), **case.conv_transpose_kwargs)
        full = tconv.conv_transpose(y, w, **case.conv_transpose_kwargs)
        assert half.dtype == np.float16 and rel(half, full) < 1e-2
        bt = case.transposed_bias(0)
        t_batched = tconv.conv_transpose(y, w, bt, **case.conv_transpose_kwargs)
        np.testing.assert_array_equal(tconv.conv_transpose(y[0], w, bt, **case.conv_transpose_kwargs), t_batched[0])
        np.testing.assert_array_equal(tconv.conv_transpose(np.asfortranarray(y), w, bt, **case.conv_transpose_kwargs),
                                      t_batched)
        np.testing.assert_allclose(t_batched - full, np.broadcast_to(bt.reshape(-1, 1, 1), full.shape), atol=1e-14)
        np.testing.assert_array_equal(x, x_kept)
        np.testing.assert_array_equal(y, y_kept)
        compared += 1
    assert compared == 4


# --------------------------------------------------------------------------- conv_transpose: the adjoint

def _tailored_cases(seed: int) -> list[Case]:
    """Cases that the specialised algorithms accept, for every mode: 2-D 3x3 stride 1 (winograd), 2-D 4x4
    stride 2 (phase_winograd), stride at least the dilated kernel (nooverlap), one channel per group
    (depthwise)."""
    rng = np.random.default_rng(seed)
    out = []
    for mode in MODES:
        for spec in (dict(nds=(2,), kernel=(3, 3), stride=(1, 1), dilation=(1, 1), groups=1),
                     dict(nds=(2,), kernel=(4, 4), stride=(2, 2), dilation=(1, 1), groups=1),
                     dict(nds=(1, 2, 3), kernel=None, stride=None, dilation=None, groups=None, nooverlap=True),
                     dict(nds=(1, 2, 3), groups=2, channels=(2, 2))):
            spec = dict(spec)
            nds = spec.pop("nds")
            nooverlap = spec.pop("nooverlap", False)
            for nd in nds:
                for _ in range(2):
                    case = None
                    while case is None:
                        if nooverlap:
                            k = tuple(int(v) for v in rng.integers(1, 4, nd))
                            spec = dict(kernel=k, stride=tuple(int(v) + int(rng.integers(0, 2)) for v in k),
                                        dilation=(1,) * nd)
                        case = draw_case(rng, mode, nd, **spec)
                    out.append(case)
    return out


def _adjoint_with(case: Case, seed: int, algorithm: str) -> float | None:
    """The dot-test error of conv / conv_transpose run by ``algorithm``, or None when it refuses the case
    (with a ValueError that names it)."""
    x, w, b, y = case.arrays(seed)
    try:
        ax = tconv.conv(x, w, **case.conv_kwargs, algorithm=algorithm)
        aty = tconv.conv_transpose(y, w, **case.conv_transpose_kwargs, algorithm=algorithm)
    except ValueError as exc:
        assert f"algorithm {algorithm!r} does not support" in str(exc), exc
        return None
    assert aty.shape == x.shape and ax.shape == y.shape, case
    return dot_error(x, ax, y, aty, w)


def _run_adjoint(all_cases, floor_per_pair: int) -> dict[tuple[str, str], list[float]]:
    errors: dict[tuple[str, str], list[float]] = {}
    for i, case in enumerate(all_cases):
        for algorithm in ALGORITHMS:
            err = _adjoint_with(case, i, algorithm)
            if err is None:
                continue
            errors.setdefault((case.mode, algorithm), []).append(err)
            note_error(f"boundary adjoint {case.mode} {algorithm}", np.float64, err)
            assert err < 1e-12, (algorithm, case, err)
    for mode in MODES:
        for algorithm in ALGORITHMS:
            if algorithm in COMPILED_ONLY and not jit.available():
                continue  # without the compiled kernels these refuse every case (by name, checked above)
            n = len(errors.get((mode, algorithm), []))
            assert n >= floor_per_pair, f"{mode}/{algorithm}: only {n} cases compared"
    return errors


def test_conv_transpose_is_the_adjoint_for_every_algorithm():
    """<conv(x), y> == <x, conv_transpose(y)> to 1e-12 (relative to |conv(x)| |y|) in float64, every mode,
    every algorithm that accepts the case (the others refuse by name), 1-3 d, strides, dilation, groups."""
    errors = _run_adjoint(cases(2, 3, max_size=6) + _tailored_cases(3), floor_per_pair=2)
    assert sum(len(v) for v in errors.values()) >= 250


def test_conv_transpose_matches_torch_input_gradient():
    """conv_transpose with a mode == torch.autograd's input gradient of PyTorch's padded conv (the adjoint
    itself), bias added after the fold."""
    compared = 0
    for i, case in enumerate(cases(4, 8)):
        x, w, _, y = case.arrays(i)
        b = case.transposed_bias(i)
        got = tconv.conv_transpose(y, w, b, **case.conv_transpose_kwargs)
        want = torch_adjoint(y, w, x.shape, b, **case.hyper)
        err = record_error(f"boundary conv_transpose {case.mode}", np.float64, got, want)
        assert err < 1e-12, (case, err)
        compared += 1
    assert compared >= 4 * 3 * 8


def test_conv_transpose_output_padding_picks_the_same_operator():
    """output_padding and output_size are two ways to the same adjoint; the small side's dropped rows come
    back as the conv's unread input (zero there for zeros, folded border values otherwise)."""
    compared = 0
    for i, case in enumerate(cases(6, 4)):
        _, w, _, y = case.arrays(i)
        by_size = tconv.conv_transpose(y, w, **case.conv_transpose_kwargs)
        kwargs = dict(case.conv_kwargs)
        full = [(m - 1) * s + d * (k - 1) + 1 - lo - hi for m, s, d, k, (lo, hi) in
                zip(case.small, case.stride, case.dilation, case.kernel, case.pairs)]
        op = tuple(n - f for n, f in zip(case.big, full))
        np.testing.assert_array_equal(tconv.conv_transpose(y, w, output_padding=op, **kwargs), by_size)
        compared += 1
    assert compared >= 48


def _fourier_kernel(w, n, dilation, before, groups):
    """``h[b, a]`` on the periodic grid of ``n``: tap ``t`` of ``w[b, a]`` at ``(t * dilation - before) mod n``,
    as a dense (C_small, C_big, *n) array (zeros off the groups' blocks)."""
    c_small, c_big_g = w.shape[:2]
    nd = len(n)
    h = np.zeros((c_small, c_big_g * groups) + tuple(n))
    per_group = c_small // groups
    for b in range(c_small):
        g = b // per_group
        for a in range(c_big_g):
            for tap in np.ndindex(*w.shape[2:]):
                pos = tuple((t * d - lo) % m for t, d, lo, m in zip(tap, dilation, before, n))
                h[(b, g * c_big_g + a) + pos] += w[(b, a) + tap]
    assert h.ndim == nd + 2
    return h


def test_circular_stride_one_is_fourier_diagonal():
    """At stride 1 with before + after = dilated kernel - 1, circular conv_transpose is ifft(fft(y) fft(h)),
    summed over the small channels, and circular conv its correlation ifft(fft(x) conj(fft(h)))."""
    rng = np.random.default_rng(11)
    compared = 0
    for nd in (1, 2, 3):
        for _ in range(8):
            groups = int(rng.integers(1, 3))
            c_big, c_small = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
            n = tuple(int(v) for v in rng.integers(3, 8, nd))
            k = tuple(int(v) for v in rng.integers(1, 4, nd))
            d = tuple(int(v) for v in rng.integers(1, 3, nd))
            keff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
            if any(e - 1 > m for e, m in zip(keff, n)):
                continue  # circular padding is at most the size
            pairs = []
            for e, m in zip(keff, n):
                lo = int(rng.integers(0, e))
                pairs.append((lo, e - 1 - lo))
            w = rng.standard_normal((c_small, c_big // groups) + k)
            y = rng.standard_normal((2, c_small) + n)
            x = rng.standard_normal((2, c_big) + n)
            h = _fourier_kernel(w, n, d, [lo for lo, _ in pairs], groups)
            axes = tuple(range(-nd, 0))
            hf = np.fft.fftn(h, axes=axes)
            want_t = np.fft.ifftn(np.einsum("nb...,ba...->na...", np.fft.fftn(y, axes=axes), hf), axes=axes).real
            want_c = np.fft.ifftn(np.einsum("na...,ba...->nb...", np.fft.fftn(x, axes=axes), hf.conj()),
                                  axes=axes).real
            kwargs = dict(padding=tuple(pairs), dilation=d, groups=groups, padding_mode="circular")
            got_t = tconv.conv_transpose(y, w, output_size=n, **kwargs)
            got_c = tconv.conv(x, w, **kwargs)
            assert rel(got_t, want_t) < 1e-12 and rel(got_c, want_c) < 1e-12, (n, k, d, pairs, groups)
            note_error("boundary circular vs Fourier", np.float64, max(rel(got_t, want_t), rel(got_c, want_c)))
            compared += 1
    assert compared >= 15


# --------------------------------------------------------------------------- "same" and "valid"


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
def test_same_matches_torch_layers_and_placement():
    """conv padding='same' with a mode == PyTorch's Conv*d(padding='same', padding_mode=mode) at stride 1,
    and == F.pad with TensorFlow's placement (odd pad at the end) at larger strides."""
    rng = np.random.default_rng(21)
    layers = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
    compared = 0
    for mode in MODES:
        for nd in (1, 2, 3):
            for stride in (1, 2):
                n = tuple(int(v) for v in rng.integers(3, 7, nd))
                k = tuple(int(v) for v in rng.integers(1, 4, nd))
                d = tuple(int(v) for v in rng.integers(1, 3, nd)) if stride == 1 else (1,) * nd
                x = rng.standard_normal((2, 2) + n)
                if stride == 1:
                    layer = layers[nd](2, 3, k, padding="same", dilation=d, padding_mode=mode).double()
                    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
                    with torch.no_grad():
                        want = layer(tensor(x)).numpy()
                else:
                    w, b = rng.standard_normal((3, 2) + k), rng.standard_normal(3)
                    pairs = []
                    for m, kk, dd in zip(n, k, d):
                        total = max((-(-m // stride) - 1) * stride + dd * (kk - 1) + 1 - m, 0)
                        pairs.append((total // 2, total - total // 2))
                    want = torch_conv(x, w, b, mode=mode, pairs=tuple(pairs), stride=(stride,) * nd, dilation=d,
                                      groups=1)
                got = tconv.conv(x, w, b, stride=stride, padding="same", dilation=d, padding_mode=mode)
                assert rel(got, want) < 1e-12, (mode, n, k, d, stride)
                compared += 1
    assert compared >= 24


def test_transposed_same_is_the_adjoint_of_conv_same():
    """conv_transpose padding='same' (in * stride outputs) with a mode is the adjoint of conv padding='same'
    with that mode on in * stride entries -- also where the stride exceeds the kernel (no crop at all:
    the extension is output_padding, and every mode gives the zeros result there)."""
    rng = np.random.default_rng(23)
    compared = 0
    for mode in MODES:
        for nd in (1, 2):
            for _ in range(6):
                m = tuple(int(v) for v in rng.integers(2, 5, nd))
                k = tuple(int(v) for v in rng.integers(1, 5, nd))
                s = tuple(int(v) for v in rng.integers(1, 4, nd))
                w = rng.standard_normal((2, 3) + k)
                y = rng.standard_normal((1, 2) + m)
                big = tuple(a * b for a, b in zip(m, s))
                x = rng.standard_normal((1, 3) + big)
                try:
                    aty = tconv.conv_transpose(y, w, stride=s, padding="same", padding_mode=mode)
                except ValueError as exc:  # a same crop larger than the output for reflect / circular
                    assert f"padding_mode={mode!r}" in str(exc)
                    continue
                ax = tconv.conv(x, w, stride=s, padding="same", padding_mode=mode)
                assert aty.shape == x.shape and ax.shape == y.shape
                assert dot_error(x, ax, y, aty, w) < 1e-12
                if all(ss >= kk for ss, kk in zip(s, k)):
                    np.testing.assert_array_equal(aty, tconv.conv_transpose(y, w, stride=s, padding="same"))
                compared += 1
    assert compared >= 40


def test_valid_ignores_the_mode():
    rng = np.random.default_rng(29)
    x, w = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2))
    y = rng.standard_normal((1, 3, 5, 5))
    for mode in MODES:
        np.testing.assert_array_equal(tconv.conv(x, w, padding="valid", padding_mode=mode), tconv.conv(x, w))
        np.testing.assert_array_equal(tconv.conv_transpose(y, w, padding="valid", padding_mode=mode),
                                      tconv.conv_transpose(y, w))


# --------------------------------------------------------------------------- refusals


def test_refuses_what_torch_refuses():
    """reflect needs padding < size, circular padding <= size (of the conv's input, i.e. the transposed
    conv's output): refused by name with the limit, where PyTorch's pad refuses too."""
    w = np.ones((1, 1, 2))
    checked = 0
    for mode, p, n in (("reflect", 3, 3), ("reflect", (0, 4), 4), ("circular", 4, 3), ("circular", (5, 0), 4)):
        x = np.ones((1, 1, n))
        pairs = ((p, p),) if isinstance(p, int) else (p,)
        with pytest.raises(RuntimeError):
            F.pad(tensor(x), torch_pad_arg(pairs), mode=mode)
        with pytest.raises(ValueError, match=f"padding_mode={mode!r} needs padding .* the input size .* got "
                                              f"padding \\({pairs[0][0]}, {pairs[0][1]}\\) in dim 0 for an input size of {n}"):
            tconv.conv(x, w, padding=pairs, padding_mode=mode)
        small = n + sum(pairs[0]) - 1
        with pytest.raises(ValueError, match=f"padding_mode={mode!r} needs padding .* the output size"):
            tconv.conv_transpose(np.ones((1, 1, small)), w, padding=pairs, padding_mode=mode)
        with pytest.raises(ValueError, match="padding_mode"):
            tconv.conv_backward(np.ones((1, 1, small)), x, w, padding=pairs, padding_mode=mode)
        checked += 1
    # the largest padding each mode takes goes through (and equals PyTorch)
    for mode, p in (("reflect", 2), ("circular", 3), ("replicate", 7)):
        x = np.arange(3.).reshape(1, 1, 3)
        np.testing.assert_allclose(tconv.conv(x, w, padding=p, padding_mode=mode),
                                   torch_conv(x, w, mode=mode, pairs=((p, p),), stride=(1,), dilation=(1,), groups=1))
        checked += 1
    assert checked == 7


@pytest.mark.parametrize("value", ["wrap", "Zeros", "constant", None, 0, ("zeros",)])
def test_bad_padding_mode_is_named(value):
    x, w = np.ones((1, 1, 4)), np.ones((1, 1, 2))
    for call in (lambda: tconv.conv(x, w, padding_mode=value),
                 lambda: tconv.conv_transpose(x, w, padding_mode=value),
                 lambda: tconv.conv_backward(np.ones((1, 1, 3)), x, w, padding_mode=value),
                 lambda: tconv.conv_transpose_backward(np.ones((1, 1, 5)), x, w, padding_mode=value),
                 lambda: geometry_from_shapes(True, (1, 1, 4), (1, 1, 2), padding_mode=value)):
        with pytest.raises(ValueError, match="padding_mode must be one of 'zeros', 'circular', 'reflect', 'replicate'"):
            call()


# --------------------------------------------------------------------------- the geometry and its memory


def test_geometry_carries_the_mode():
    g = geometry_from_shapes(True, (2, 3, 5, 4), (3, 2, 3, 3), np.float64, stride=2, padding=((1, 2), (0, 1)),
                             output_padding=1, padding_mode="reflect")
    assert g.boundary == "reflect" and g.adjoint().boundary == "reflect"
    twice = g.adjoint().adjoint()  # the same operator, its end crop net of output_padding
    assert (twice.boundary, twice.output_shape, twice.padding) == ("reflect", g.output_shape, ((1, 1), (0, 0)))
    y, w = np.random.default_rng(0).standard_normal((2, 3, 5, 4)), np.random.default_rng(1).standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(ops.execute(twice, y, w), ops.execute(g, y, w), rtol=1e-13, atol=1e-13)
    assert geometry_from_shapes(True, (2, 3, 5, 4), (3, 2, 3, 3)).boundary == "zeros"
    assert Geometry.__dataclass_fields__["boundary"].default == "zeros"
    zeros = replace(g, boundary="zeros")
    assert zeros.kernel_geometry() is zeros and g != zeros and hash(g) != hash(zeros)
    k = g.kernel_geometry()
    assert (k.boundary, k.padding, k.output_shape, k.input_shape) == ("zeros", ((0, 0), (0, 0)), g.padded_shape, g.input_shape)
    assert g.padded_shape == tuple(n + lo + hi for n, (lo, hi) in zip(g.output_shape, g.padding))
    c = g.adjoint()
    assert c.kernel_geometry().input_shape == c.padded_shape and c.kernel_geometry().output_shape == c.output_shape
    # a conv whose stride drops input rows: the adjoint has a negative end padding, padded with nothing
    c = conv_geometry(np.ones((1, 1, 9)), np.ones((1, 1, 3)), stride=3, padding=1, padding_mode="circular")
    twice = c.adjoint().adjoint()
    assert c.crops == ((1, -1),) and twice.padding == ((1, -1),) and twice.boundary_pairs == ((1, 0),)
    assert twice.kernel_geometry().padding == ((0, -1),) and twice.kernel_geometry().input_shape == (10,)
    x, w = np.random.default_rng(2).standard_normal((1, 1, 9)), np.random.default_rng(3).standard_normal((1, 1, 3))
    np.testing.assert_allclose(ops.execute(twice, x, w), ops.execute(c, x, w), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("transposed", [False, True])
def test_needed_bytes_counts_the_padded_copy(transposed, monkeypatch):
    """The planner's estimate of a boundary call is its kernel geometry's plus the padded copy (conv) or
    the folded result (conv_transpose); the memory guard refuses the call one byte below it, before
    allocating, and runs it at exactly that limit."""
    x_shape = (2, 3, 9, 8) if not transposed else (2, 4, 7, 6)
    w = np.ones((4, 3, 3, 3)) if not transposed else np.ones((4, 3, 3, 3))
    x = np.ones(x_shape)
    kwargs = dict(padding=2, stride=1)
    g = geometry_from_shapes(transposed, x_shape, w.shape, np.float64, padding_mode="reflect", **kwargs)
    direct = get("direct")
    need = needed_bytes(g, direct, (x, w))
    extra = boundary_bytes(g)
    padded_elements = 2 * (3 if not transposed else 3) * int(np.prod(g.padded_shape))
    assert extra == (padded_elements * 8 if not transposed else int(np.prod(g.result_shape)) * 8)
    inner_operands = (x, w) if transposed else (w,)
    assert need == needed_bytes(g.kernel_geometry(), direct, inner_operands) + extra
    assert need > needed_bytes(replace(g, boundary="zeros"), direct, (x, w)) - (0 if transposed else 1)
    run = tconv.conv_transpose if transposed else tconv.conv
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(need - 1))
    with pytest.raises(ValueError, match="bytes"):
        run(x, w, padding_mode="reflect", algorithm="direct", **kwargs)
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(need))
    assert run(x, w, padding_mode="reflect", algorithm="direct", **kwargs).shape == g.result_shape


def test_huge_padded_copy_is_refused_before_allocating():
    """A 2x2 result of a 10**12-entry input (a zero-byte view): its padded copy cannot fit, and is refused."""
    x = np.lib.stride_tricks.as_strided(np.zeros(1), (1, 1, 10**6, 10**6), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"padding_mode='replicate' \(its padded copy\).* would need \d+ bytes"):
        tconv.conv(x, np.ones((1, 1, 1, 1)), stride=10**6, padding=1, padding_mode="replicate")


def test_weight_gradient_methods_agree_on_a_boundary_geometry():
    """ops.weight_gradient pairs the small side with the padded big side, with every method."""
    rng = np.random.default_rng(31)
    compared = 0
    for mode in MODES[1:]:
        case = draw_case(rng, mode, 2, groups=1, channels=(2, 3), kernel=(3, 2), stride=(2, 1), dilation=(1, 2))
        while case is None:
            case = draw_case(rng, mode, 2, groups=1, channels=(2, 3), kernel=(3, 2), stride=(2, 1), dilation=(1, 2))
        x, w, _, y = case.arrays(compared)
        g = conv_geometry(x, w, padding=case.pairs, stride=case.stride, dilation=case.dilation, padding_mode=mode)
        want = ops.weight_gradient(g, y, x, "im2col")
        for method in ("per_tap", "auto", "direct", "gemm"):
            np.testing.assert_allclose(ops.weight_gradient(g, y, x, method), want, rtol=1e-12, atol=1e-12)
        compared += 1
    assert compared == 3


def test_torch_tensors_take_the_array_api_route_with_every_mode():
    """PyTorch tensors in (the array-API route, computed in torch): the same numbers as NumPy, as tensors."""
    pytest.importorskip("array_api_compat")
    compared = 0
    for i, case in enumerate(cases(51, 2, nds=(1, 2))):
        x, w, b, y = case.arrays(i)
        bt = case.transposed_bias(i)
        got = tconv.conv(tensor(x), tensor(w), tensor(b), **case.conv_kwargs)
        got_t = tconv.conv_transpose(tensor(y), tensor(w), tensor(bt), **case.conv_transpose_kwargs)
        assert isinstance(got, torch.Tensor) and isinstance(got_t, torch.Tensor)
        assert rel(got.numpy(), tconv.conv(x, w, b, **case.conv_kwargs)) < 1e-12, case
        assert rel(got_t.numpy(), tconv.conv_transpose(y, w, bt, **case.conv_transpose_kwargs)) < 1e-12, case
        compared += 1
    assert compared >= 16


def test_public_signatures_expose_padding_mode():
    for f in (tconv.conv, tconv.conv_transpose, tconv.conv_backward, tconv.conv_transpose_backward):
        param = inspect.signature(f).parameters["padding_mode"]
        assert param.default == "zeros" and param.kind is inspect.Parameter.KEYWORD_ONLY
        assert "padding_mode" in (f.__doc__ or "")
    assert list(inspect.signature(tconv.conv_transpose).parameters)[-3:] == ["output_size", "padding_mode", "algorithm"]


# --------------------------------------------------------------------------- the long sweep


@pytest.mark.slow
def test_slow_sweep():
    """Many more seeded cases, larger sizes and kernels: conv vs PyTorch, conv_transpose vs autograd, and the
    dot test for every algorithm."""
    compared = 0
    for i, case in enumerate(cases(101, 150, max_size=10, max_kernel=4, max_stride=4, max_dilation=3)):
        _check_conv(case, i)
        x, w, _, y = case.arrays(i)
        b = case.transposed_bias(i)
        got = tconv.conv_transpose(y, w, b, **case.conv_transpose_kwargs)
        want = torch_adjoint(y, w, x.shape, b, **case.hyper)
        assert record_error(f"boundary conv_transpose {case.mode}", np.float64, got, want) < 1e-12, case
        compared += 1
    assert compared >= 4 * 3 * 150
    _run_adjoint(cases(102, 40, max_size=9) + sum((_tailored_cases(s) for s in range(103, 108)), []), floor_per_pair=8)


# --------------------------------------------------------------------------- every algorithm at layer sizes

#: One configuration each algorithm accepts, at layer-like channel counts (2-d, batch 2):
#: (C_big, C_small, groups, big spatial, kernel, stride, padding pairs).
LAYER_SIZED = {
    "direct": (32, 48, 1, (10, 9), (4, 4), (2, 2), ((1, 1), (1, 2))),
    "gemm": (64, 32, 2, (12, 10), (4, 4), (2, 2), ((1, 1), (1, 1))),
    "phase": (48, 64, 1, (12, 11), (3, 3), (2, 2), ((1, 1), (2, 1))),
    "subpixel": (32, 64, 1, (12, 12), (4, 4), (2, 2), ((1, 1), (1, 1))),
    "fft": (32, 16, 1, (16, 14), (7, 7), (1, 1), ((3, 3), (3, 2))),
    "nooverlap": (64, 48, 1, (12, 10), (2, 2), (2, 2), ((1, 1), (0, 1))),
    "depthwise": (64, 64, 64, (14, 12), (3, 3), (2, 2), ((1, 1), (1, 1))),
    "winograd": (64, 64, 1, (12, 10), (3, 3), (1, 1), ((1, 1), (1, 0))),
    "phase_winograd": (48, 64, 1, (18, 16), (4, 4), (2, 2), ((1, 2), (1, 1))),
}
#: float32 bounds per algorithm, docs/accuracy.md (as tests/test_real_sizes.py).
F32_BOUNDS = {"direct": 4e-6, "gemm": 4e-6, "phase": 4e-6, "subpixel": 4e-6, "nooverlap": 2e-6, "depthwise": 1e-6,
              "fft": 1e-5, "winograd": 5e-5, "phase_winograd": 5e-5}


def test_every_algorithm_and_mode_at_layer_sizes():
    """Tens of channels, every algorithm forced by name, every mode: conv == PyTorch's padded conv and
    conv_transpose == its adjoint (torch.autograd), float64 to 1e-12 and float32 within the algorithm's
    documented bound; every (algorithm, mode, dtype) computed, none refused."""
    assert set(LAYER_SIZED) == set(ALGORITHMS)
    compiled = jit.available()
    computed = 0
    for algorithm, (c_big, c_small, g, big, k, s, pairs) in LAYER_SIZED.items():
        if algorithm in COMPILED_ONLY and not compiled:
            continue  # these need the compiled kernels (they refuse by name without them)
        for mode in MODES:
            case = Case(mode, 2, c_big, c_small, g, big, k, s, (1, 1), pairs, False)
            x, w, b, y = case.arrays(computed)
            want_conv = torch_conv(x, w, b, **case.hyper)
            want_adj = torch_adjoint(y, w, x.shape, **case.hyper)
            for dtype, tol in ((np.float64, 1e-12), (np.float32, F32_BOUNDS[algorithm])):
                got = tconv.conv(x.astype(dtype), w.astype(dtype), b.astype(dtype), **case.conv_kwargs,
                                 algorithm=algorithm)
                err = record_error(f"boundary layer-sized conv {algorithm}", dtype, got, want_conv)
                assert got.dtype == dtype and err <= tol, (algorithm, mode, dtype, err)
                got = tconv.conv_transpose(y.astype(dtype), w.astype(dtype), **case.conv_transpose_kwargs,
                                           algorithm=algorithm)
                err = record_error(f"boundary layer-sized conv_transpose {algorithm}", dtype, got, want_adj)
                assert got.dtype == dtype and err <= tol, (algorithm, mode, dtype, err)
                computed += 1
    assert computed >= 2 * len(MODES) * (len(ALGORITHMS) - (0 if compiled else len(COMPILED_ONLY)))
