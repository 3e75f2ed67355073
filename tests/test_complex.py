"""Complex operands: ``conv`` / ``conv_transpose`` are bilinear, as PyTorch's complex convolutions.

Oracles, all PyTorch in complex128 (``F.pad`` takes complex tensors in every mode):
- ``conv``: ``F.pad`` in the mode, then PyTorch's complex ``F.conv{n}d``;
- ``conv_transpose``: PyTorch's complex ``F.conv_transpose{n}d`` (zeros; asymmetric padding cropped from
  its unpadded result), and for every mode its definition, the transpose of the padded convolution:
  ``torch.autograd``'s input gradient of PyTorch's padded convolution with the *conjugated* weight
  (torch's vector-Jacobian product is the Hermitian adjoint ``A^H y``, and ``A_conj(w)^H = A_w^T``);
- gradients: ``torch.autograd`` on complex leaves (its convention: ``z.grad`` after
  ``out.backward(grad_output)``), double backward for the transposed side with a mode.
``ConvOperator``: the Hermitian dot test with ``np.vdot``, ``conv_matrix``, and lsqr against lsqr on the
explicit matrix.  Every test counts what it compared and asserts a floor; the long sweep is ``-m slow``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import tconv
import tconv.nn as nn
from tconv.algorithms.planner import complex_bytes, needed_bytes
from tconv.algorithms.registry import get
from tconv.params import geometry_from_shapes
from support import note_error, record_error
from torch_boundary import MODES, Case, F, cases, draw_case, padded_conv, torch

ALGORITHMS = tconv.algorithm_names()
COMPLEX = (np.complex64, np.complex128)
#: Largest error relative to max(1, max |want|) against a complex128 oracle.
TOL = {np.dtype(np.complex64): 2e-5, np.dtype(np.complex128): 1e-12}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
NAMES = ("grad_input", "grad_weight", "grad_bias")


def crandn(rng: np.random.Generator, shape, dtype=np.complex128) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def ct(a, requires_grad: bool = False):
    """A complex128 tensor of ``a`` (the oracle computes in complex128 whatever the operands' precision)."""
    return torch.tensor(np.ascontiguousarray(a, np.complex128), requires_grad=requires_grad)


def complex_arrays(case: Case, seed: int, dtype=np.complex128):
    """``x`` (big side), ``w`` (conv layout), the conv's bias, ``y`` (small side) and the transposed bias."""
    rng = np.random.default_rng(seed)
    x = crandn(rng, (case.batch, case.big_channels) + case.big, dtype)
    w = crandn(rng, (case.small_channels, case.big_channels // case.groups) + case.kernel, dtype)
    b = crandn(rng, (case.small_channels,), dtype)
    y = crandn(rng, (case.batch, case.small_channels) + case.small, dtype)
    bt = crandn(rng, (case.big_channels,), dtype)
    return x, w, b, y, bt


def output_padding(case: Case) -> tuple[int, ...]:
    """The output_padding that brings the transposed conv back to the conv's input size."""
    return tuple(n - ((m - 1) * s + d * (k - 1) + 1 - lo - hi) for n, m, s, d, k, (lo, hi) in
                 zip(case.big, case.small, case.stride, case.dilation, case.kernel, case.pairs))


def _bias_shape(b, nd: int):
    return b.reshape((-1,) + (1,) * nd)


def torch_conv(x, w, b, case: Case) -> np.ndarray:
    with torch.no_grad():
        return padded_conv(ct(x), ct(w), None if b is None else ct(b), **case.hyper).numpy()


def torch_transpose_by_vjp(y, w, bt, case: Case) -> np.ndarray:
    """``A_w^T y`` (+ bias) for the padded conv ``A_w``: torch's vjp (``A^H``) with the conjugated weight."""
    x0 = torch.zeros((case.batch, case.big_channels) + case.big, dtype=torch.complex128, requires_grad=True)
    (z,) = torch.autograd.grad(padded_conv(x0, ct(w).conj(), None, **case.hyper), x0, ct(y))
    z = z.resolve_conj().numpy()
    return z if bt is None else z + _bias_shape(np.asarray(bt, np.complex128), case.nd)


def torch_transpose_zeros(y, w, bt, case: Case) -> np.ndarray:
    """PyTorch's own complex ``F.conv_transpose{n}d`` (unpadded), cropped by the pairs to the conv's input size."""
    with torch.no_grad():  # the conv's weight (C_small, C_big // g, *k) is the transposed conv's, as it is
        full = _CONV_T[case.nd](ct(y), ct(w), None, stride=case.stride, dilation=case.dilation,
                                groups=case.groups).numpy()
    extent = tuple(max(f, lo + n) for f, (lo, _), n in zip(full.shape[2:], case.pairs, case.big))
    ext = np.zeros(full.shape[:2] + extent, np.complex128)  # output_padding past the last tap reads zeros
    ext[(slice(None), slice(None)) + tuple(slice(0, f) for f in full.shape[2:])] = full
    out = ext[(slice(None), slice(None)) + tuple(slice(lo, lo + n) for (lo, _), n in zip(case.pairs, case.big))]
    return out if bt is None else out + _bias_shape(np.asarray(bt, np.complex128), case.nd)


def rel(got, want) -> float:
    want = np.asarray(want, np.complex128)
    return float(np.abs(np.asarray(got, np.complex128) - want).max(initial=0.0)) / max(
        1.0, float(np.abs(want).max(initial=0.0)))


def tailored_cases(seed: int, per: int = 2) -> list[Case]:
    """``per`` cases of each kind the specialised algorithms accept, every mode: 2-D 3x3 stride 1
    (winograd), 2-D 4x4 stride 2 (phase_winograd), stride at least the kernel (nooverlap), one channel per
    group (depthwise)."""
    rng = np.random.default_rng(seed)
    out = []
    for mode in MODES:
        for nd, spec in per * ((2, dict(kernel=(3, 3), stride=(1, 1), dilation=(1, 1), groups=1)),
                               (2, dict(kernel=(4, 4), stride=(2, 2), dilation=(1, 1), groups=1)),
                               (int(rng.integers(1, 4)), "nooverlap"),
                               (int(rng.integers(1, 4)), dict(groups=2, channels=(2, 2)))):
            case = None
            while case is None:
                if spec == "nooverlap":
                    k = tuple(int(v) for v in rng.integers(1, 4, nd))
                    kw = dict(kernel=k, stride=tuple(v + int(rng.integers(0, 2)) for v in k), dilation=(1,) * nd)
                else:
                    kw = spec
                case = draw_case(rng, mode, nd, **kw)
            out.append(case)
    return out


def _refused(exc: ValueError, algorithm: str) -> None:
    assert f"algorithm {algorithm!r} does not support" in str(exc), exc


# --------------------------------------------------------------------------- conv, conv_transpose == PyTorch


def _compare_algorithms(all_cases, dtypes=COMPLEX) -> Counter:
    """Every algorithm that accepts a case, both directions, against the oracles; counts per (op, algorithm,
    dtype)."""
    counts: Counter = Counter()
    for i, case in enumerate(all_cases):
        x, w, b, y, bt = complex_arrays(case, i)
        want_c = torch_conv(x, w, b, case)
        want_t = torch_transpose_by_vjp(y, w, bt, case)
        if case.mode == "zeros":  # PyTorch's own complex transposed convolution agrees with its definition
            assert rel(torch_transpose_zeros(y, w, bt, case), want_t) < 1e-13, case
        for dtype in dtypes:
            xd, wd, bd, yd, btd = (a.astype(dtype) for a in (x, w, b, y, bt))
            for algorithm in ALGORITHMS:
                try:
                    got_c = tconv.conv(xd, wd, bd, **case.conv_kwargs, algorithm=algorithm)
                    got_t = tconv.conv_transpose(yd, wd, btd, **case.conv_transpose_kwargs, algorithm=algorithm)
                except ValueError as exc:
                    _refused(exc, algorithm)
                    continue
                assert got_c.dtype == dtype and got_t.dtype == dtype
                assert got_c.shape == want_c.shape and got_t.shape == want_t.shape, case
                err_c = record_error(f"complex conv {algorithm}", dtype, got_c, want_c)
                err_t = record_error(f"complex conv_transpose {algorithm}", dtype, got_t, want_t)
                assert max(err_c, err_t) < TOL[np.dtype(dtype)], (algorithm, dtype, case, err_c, err_t)
                counts[algorithm, np.dtype(dtype).name] += 1
                counts["mode", case.mode] += 1
    return counts


def _assert_floors(counts: Counter, floor: int, dtypes=COMPLEX) -> None:
    for algorithm in ALGORITHMS:
        for dtype in dtypes:
            n = counts[algorithm, np.dtype(dtype).name]
            assert n >= floor, f"{algorithm} {np.dtype(dtype).name}: only {n} cases compared (floor {floor})"


def test_every_algorithm_and_mode_matches_torch():
    """conv == F.pad + PyTorch's complex conv{n}d, conv_transpose == its transpose (PyTorch's complex
    conv_transpose{n}d for zeros), 1-3 d, strides, dilation, groups, asymmetric padding, output_padding
    (through output_size), complex64 and complex128, every algorithm that accepts the case."""
    counts = _compare_algorithms(cases(61, 1, max_size=6) + tailored_cases(62))
    _assert_floors(counts, floor=8)
    for mode in MODES:
        assert counts["mode", mode] >= 30, (mode, counts["mode", mode])
    assert sum(v for k, v in counts.items() if k[0] != "mode") >= 250


def test_conv_transpose_with_output_padding_matches_torch():
    """PyTorch's complex conv_transpose{n}d with its own padding / output_padding / groups arguments."""
    rng = np.random.default_rng(63)
    compared = 0
    for nd in (1, 2, 3):
        for _ in range(6):
            g = int(rng.integers(1, 3))
            s = tuple(int(v) for v in rng.integers(1, 4, nd))
            d = tuple(int(v) for v in rng.integers(1, 3, nd))
            k = tuple(int(v) for v in rng.integers(1, 4, nd))
            p = tuple(int(rng.integers(0, kk)) for kk in k)
            op = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
            x = crandn(rng, (2, 2 * g) + tuple(int(v) for v in rng.integers(2, 5, nd)))
            w = crandn(rng, (2 * g, int(rng.integers(1, 3))) + k)
            b = crandn(rng, (w.shape[1] * g,))
            try:
                with torch.no_grad():
                    want = _CONV_T[nd](ct(x), ct(w), ct(b), stride=s, padding=p, output_padding=op, groups=g,
                                       dilation=d).numpy()
            except RuntimeError:
                continue  # PyTorch refuses (e.g. an empty output)
            for dtype in COMPLEX:
                got = tconv.conv_transpose(x.astype(dtype), w.astype(dtype), b.astype(dtype), stride=s, padding=p,
                                           output_padding=op, groups=g, dilation=d)
                assert got.dtype == dtype
                err = record_error("complex conv_transpose output_padding", dtype, got, want)
                assert err < TOL[np.dtype(dtype)], (nd, s, d, k, p, op, g, err)
            compared += 1
    assert compared >= 15


# --------------------------------------------------------------------------- dtypes, mixes, layouts


MIXES = [  # (x, weight, bias) dtypes
    (np.complex64, np.float32, None), (np.float32, np.complex64, np.float32), (np.complex64, np.float64, None),
    (np.float64, np.complex64, None), (np.complex64, np.complex128, None), (np.complex128, np.float32, np.complex64),
    (np.float32, np.float32, np.complex64), (np.complex64, np.int8, None), (np.int64, np.complex64, None),
    (np.complex64, bool, None), (np.float16, np.complex64, np.float16), (np.complex128, np.complex128, np.float64),
]


def operand(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """A random array of ``dtype``: complex, floating, small integers or bools."""
    dt, z = np.dtype(dtype), crandn(rng, shape)
    if dt.kind in "c":
        return z.astype(dt)
    if dt.kind == "f":
        return z.real.astype(dt)
    if dt.kind == "b":
        return z.real > 0
    return np.round(3 * z.real).astype(dt)


def test_mixes_follow_numpy_promotion():
    """Any mix of real and complex operands gives ``np.result_type`` (complex64 with float32 or less,
    complex128 with float64 or int64), with the values of the complex128 operator, in every mode."""
    rng = np.random.default_rng(65)
    compared = 0
    for xd, wd, bd in MIXES:
        for mode in MODES:
            case = Case(mode, 2, 2, 3, 1, (5, 4), (2, 3), (2, 1), (1, 1), ((1, 0), (1, 2)), False)
            x, w = operand(rng, (2, 2, 5, 4), xd), operand(rng, (3, 2, 2, 3), wd)
            b = None if bd is None else operand(rng, (3,), bd)
            got = tconv.conv(x, w, b, **case.conv_kwargs)
            want_dtype = np.result_type(*(a for a in (x, w, b) if a is not None))
            assert want_dtype.kind == "c" and got.dtype == want_dtype, (xd, wd, bd, got.dtype)
            err = record_error("complex conv mixes", want_dtype, got, torch_conv(x, w, b, case))
            assert err < TOL[want_dtype], (xd, wd, bd, mode, err)
            y = operand(rng, got.shape, xd)  # the transposed side, with the same kinds
            bt = None if bd is None else operand(rng, (2,), bd)
            got_t = tconv.conv_transpose(y, w, bt, **case.conv_transpose_kwargs)
            want_dtype = np.result_type(*(a for a in (y, w, bt) if a is not None))
            assert got_t.dtype == want_dtype, (xd, wd, bd, got_t.dtype)
            want = torch_transpose_by_vjp(y, w, bt, case)
            err = record_error("complex conv_transpose mixes", want_dtype, got_t, want)
            assert err < TOL[want_dtype], (xd, wd, bd, mode, err)
            compared += 1
    assert compared == len(MIXES) * 4


def test_layouts_unbatched_and_inputs_untouched():
    """Fortran order, strided and read-only complex views, and real / imaginary part views as real operands
    give the bits of the C-ordered call; unbatched in -> unbatched out; an empty batch; inputs unchanged."""
    rng = np.random.default_rng(67)
    compared = 0
    for mode in MODES:
        case = Case(mode, 2, 2, 3, 1, (6, 5), (3, 2), (2, 1), (1, 2), ((2, 1), (1, 0)), False)
        x, w, b, y, bt = complex_arrays(case, int(rng.integers(1 << 30)))
        kept = [a.copy() for a in (x, w, b, y, bt)]
        ref = tconv.conv(x, w, b, **case.conv_kwargs)
        ref_t = tconv.conv_transpose(y, w, bt, **case.conv_transpose_kwargs)
        strided = np.empty(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)[..., ::2]
        strided[...] = x
        frozen = x.copy()
        frozen.flags.writeable = False
        for xv in (np.asfortranarray(x), strided, frozen):
            np.testing.assert_array_equal(tconv.conv(xv, np.asfortranarray(w), b, **case.conv_kwargs), ref)
        np.testing.assert_array_equal(tconv.conv_transpose(np.asfortranarray(y), w, bt, **case.conv_transpose_kwargs),
                                      ref_t)
        np.testing.assert_array_equal(tconv.conv(x[0], w, b, **case.conv_kwargs), ref[0])
        np.testing.assert_array_equal(tconv.conv_transpose(y[1], w, bt, **case.conv_transpose_kwargs), ref_t[1])
        # a part view (strided, real) as an operand: the same as its copy
        np.testing.assert_array_equal(tconv.conv(x.imag, w, **case.conv_kwargs),
                                      tconv.conv(np.ascontiguousarray(x.imag), w, **case.conv_kwargs))
        # bilinear: conv(x) = conv(Re x) + i conv(Im x) for a complex weight too
        assert rel(tconv.conv(x, w, **case.conv_kwargs),
                   tconv.conv(x.real, w, **case.conv_kwargs) + 1j * tconv.conv(x.imag, w, **case.conv_kwargs)) < 1e-14
        empty = tconv.conv(x[:0], w, b, **case.conv_kwargs)
        assert empty.shape == (0,) + ref.shape[1:] and empty.dtype == np.complex128
        for a, k in zip((x, w, b, y, bt), kept):
            np.testing.assert_array_equal(a, k)
        compared += 1
    assert compared == 4


# --------------------------------------------------------------------------- the adjoint


def test_dot_tests_every_mode_and_algorithm():
    """Bilinear: ``sum(conv(x) * y) == sum(x * conv_transpose(y))`` (the transpose, no conjugation), and
    Hermitian: ``vdot(conv(x), y) == vdot(x, conv_transpose(y, conj(w)))``, to 1e-12 relative in complex128,
    every mode, every algorithm that accepts the case."""
    counts: Counter = Counter()
    for i, case in enumerate(cases(69, 1, max_size=6) + tailored_cases(70)):
        x, w, _, y, _ = complex_arrays(case, i)
        for algorithm in ALGORITHMS:
            try:
                ax = tconv.conv(x, w, **case.conv_kwargs, algorithm=algorithm)
                aty = tconv.conv_transpose(y, w, **case.conv_transpose_kwargs, algorithm=algorithm)
                ahy = tconv.conv_transpose(y, w.conj(), **case.conv_transpose_kwargs, algorithm=algorithm)
            except ValueError as exc:
                _refused(exc, algorithm)
                continue
            scale = max(np.linalg.norm(ax) * np.linalg.norm(y), np.linalg.norm(x) * np.linalg.norm(aty),
                        np.linalg.norm(x) * np.linalg.norm(y) * np.linalg.norm(w))
            bilinear = abs(np.sum(ax * y) - np.sum(x * aty)) / scale
            hermitian = abs(np.vdot(ax, y) - np.vdot(x, ahy)) / scale
            note_error(f"complex adjoint {case.mode} {algorithm}", np.complex128, max(bilinear, hermitian))
            assert max(bilinear, hermitian) < 1e-12, (algorithm, case, bilinear, hermitian)
            counts[case.mode, algorithm] += 1
    for mode in MODES:
        for algorithm in ALGORITHMS:
            assert counts[mode, algorithm] >= 2, (mode, algorithm, counts[mode, algorithm])
    assert sum(counts.values()) >= 120


# --------------------------------------------------------------------------- gradients vs torch.autograd


def torch_conv_grads(g, x, w, case: Case):
    """``(x.grad, w.grad, b.grad)`` after ``padded_conv(x, w, b).backward(g)`` on complex leaves."""
    tx, tw, tb = ct(x, True), ct(w, True), torch.zeros(w.shape[0], dtype=torch.complex128, requires_grad=True)
    out = padded_conv(tx, tw, tb, **case.hyper)
    return tuple(t.resolve_conj().numpy() for t in torch.autograd.grad(out, (tx, tw, tb), ct(g)))


def torch_conv_transpose_grads(g, y, w, case: Case):
    """The same for ``A_w^T y + b`` (the vjp with the conjugated weight), by torch's double backward."""
    ty, tw = ct(y, True), ct(w, True)
    tb = torch.zeros(case.big_channels, dtype=torch.complex128, requires_grad=True)
    x0 = torch.zeros((case.batch, case.big_channels) + case.big, dtype=torch.complex128, requires_grad=True)
    (z,) = torch.autograd.grad(padded_conv(x0, tw.conj(), None, **case.hyper), x0, ty, create_graph=True)
    z = z + tb.reshape((-1,) + (1,) * case.nd)
    return tuple(t.resolve_conj().numpy() for t in torch.autograd.grad(z, (ty, tw, tb), ct(g)))


def _check_grads(case: Case, seed: int, dtype) -> None:
    x, w, _, y, _ = complex_arrays(case, seed)
    g_small = crandn(np.random.default_rng(seed + 1), y.shape)
    g_big = crandn(np.random.default_rng(seed + 2), x.shape)
    xd, wd, yd, gs, gb = (a.astype(dtype) for a in (x, w, y, g_small, g_big))
    got = tconv.conv_backward(gs, xd, wd, **case.conv_kwargs)
    want = torch_conv_grads(g_small, x, w, case)
    got_t = tconv.conv_transpose_backward(gb, yd, wd, **case.conv_kwargs, output_padding=output_padding(case))
    want_t = torch_conv_transpose_grads(g_big, y, w, case)
    for op, gots, wants in (("conv_backward", got, want), ("conv_transpose_backward", got_t, want_t)):
        for name, a, b in zip(NAMES, gots, wants):
            assert a.shape == b.shape and a.dtype == dtype, (op, name, case, a.dtype)
            err = record_error(f"complex {op} ({name})", dtype, a, b)
            assert err < TOL[np.dtype(dtype)], (op, name, case, err)


def test_gradients_match_torch_autograd():
    """conv_backward / conv_transpose_backward on complex operands == torch.autograd's gradients
    (``z.grad`` after ``out.backward(grad_output)``: the other operand conjugated), every mode, 1-3 d."""
    assert _check_all_grads(cases(71, 2, max_size=6)) >= 4 * 3 * 2 * 2


def _check_all_grads(drawn) -> int:
    """:func:`_check_grads` on every case in both complex dtypes; how many were compared."""
    compared = 0
    for i, case in enumerate(drawn):
        for dtype in COMPLEX:
            _check_grads(case, i, dtype)
            compared += 1
    return compared


def test_gradients_of_real_operands_mixed_with_complex_are_real():
    """A real x (or weight) beside a complex one gets the real gradient torch gives a real leaf cast to
    complex: the real part; the complex operand's gradient is as with both complex."""
    rng = np.random.default_rng(73)
    compared = 0
    for mode in MODES:
        case = Case(mode, 2, 2, 4, 2, (6, 5), (2, 3), (2, 1), (1, 2), ((1, 0), (2, 1)), False)
        x, w, _, y, _ = complex_arrays(case, int(rng.integers(1 << 30)))
        g = crandn(rng, y.shape)
        for real_x in (True, False):
            xa = x.real.copy() if real_x else x
            wa = w if real_x else w.real.copy()
            tx, tw = torch.tensor(xa, requires_grad=True), torch.tensor(wa, requires_grad=True)
            tb = torch.zeros(4, dtype=torch.complex128, requires_grad=True)
            out = padded_conv(tx.to(torch.complex128), tw.to(torch.complex128), tb, **case.hyper)
            want = [t.resolve_conj().numpy() for t in torch.autograd.grad(out, (tx, tw, tb), ct(g))]
            got = tconv.conv_backward(g, xa, wa, **case.conv_kwargs)
            for name, a, b in zip(NAMES, got, want):
                assert a.dtype == b.dtype, (name, real_x, a.dtype, b.dtype)
                assert record_error(f"complex conv_backward mixed ({name})", a.dtype, a, b) < 1e-12, (name, mode)
            # the transposed side: grad_output complex, x and weight real -> real input and weight gradients
            gt = tconv.conv_transpose_backward(crandn(rng, x.shape), y.real.copy(), w.real.copy(),
                                               **case.conv_kwargs, output_padding=output_padding(case))
            assert [a.dtype for a in gt] == [np.float64, np.float64, np.complex128]
            compared += 1
    assert compared == 8


# --------------------------------------------------------------------------- the matrix view


def test_conv_operator_is_hermitian_and_matches_conv_matrix():
    """``matvec`` is conv, ``rmatvec`` the Hermitian adjoint: ``vdot(A x, y) == vdot(x, A^H y)`` to 1e-12
    relative (complex128) in every mode; ``conv_matrix`` is the complex matrix (``A^H`` is ``M^H``)."""
    rng = np.random.default_rng(75)
    compared = 0
    for mode in MODES:
        for nd in (1, 2, 3):
            for _ in range(3):
                case = None
                while case is None:
                    case = draw_case(rng, mode, nd, max_size=5)
                w = crandn(rng, (case.small_channels, case.big_channels // case.groups) + case.kernel)
                kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups,
                          padding_mode=mode)
                A = tconv.ConvOperator(w, case.big, **kw)
                M = tconv.conv_matrix(w, case.big, **kw)
                assert A.dtype == np.complex128 and M.dtype == np.complex128
                x, y = crandn(rng, A.shape[1]), crandn(rng, A.shape[0])
                ax, ahy = A @ x, A.H @ y
                err = abs(np.vdot(ax, y) - np.vdot(x, ahy)) / max(
                    np.linalg.norm(ax) * np.linalg.norm(y), np.linalg.norm(x) * np.linalg.norm(ahy),
                    np.linalg.norm(x) * np.linalg.norm(y) * np.linalg.norm(w))
                note_error(f"complex ConvOperator vdot {mode}", np.complex128, err)
                assert err < 1e-12, (case, err)
                assert rel(ax, M @ x) < 1e-13 and rel(ahy, M.conj().T @ y) < 1e-13, case
                assert rel(A.T @ y, M.T @ y) < 1e-13, case
                conv_x = tconv.conv(x.reshape((case.big_channels,) + case.big), w, **kw)
                assert rel(ax, conv_x.ravel()) < 1e-13
                assert rel(A.matmat(np.stack([x, 2j * x], 1)), np.stack([ax, 2j * ax], 1)) < 1e-13
                compared += 1
    assert compared == 4 * 3 * 3


def test_lsqr_on_the_operator_equals_lsqr_on_the_matrix():
    """scipy's lsqr on a complex ConvOperator converges to the answer lsqr finds with the explicit matrix
    (and the least-squares solution of the dense matrix), in every mode."""
    from scipy.sparse.linalg import lsqr

    rng = np.random.default_rng(77)
    compared = 0
    for mode in MODES:
        for shape, kw in (((9,), dict(padding=1)), ((5, 4), dict(padding=((1, 0), (1, 1)), stride=(1, 1)))):
            w = crandn(rng, (3, 2) + (3,) * len(shape)) / 3
            A = tconv.ConvOperator(w, shape, padding_mode=mode, **kw)
            M = tconv.conv_matrix(w, shape, padding_mode=mode, **kw)
            b = crandn(rng, A.shape[0])
            got = lsqr(A, b, atol=1e-14, btol=1e-14, iter_lim=2000)[0]
            want = lsqr(M, b, atol=1e-14, btol=1e-14, iter_lim=2000)[0]
            exact = np.linalg.lstsq(M.toarray(), b, rcond=None)[0]
            assert got.dtype == np.complex128
            err = record_error(f"complex lsqr {mode}", np.complex128, got, want)
            assert err < 1e-8 and rel(got, exact) < 1e-8, (mode, shape, err, rel(got, exact))
            compared += 1
    assert compared == 8


# --------------------------------------------------------------------------- memory, refusals


@pytest.mark.parametrize("transposed, mode", [(False, "zeros"), (True, "zeros"), (False, "reflect"),
                                              (True, "circular")])
def test_needed_bytes_counts_the_complex_result(transposed, mode, monkeypatch):
    """A complex call needs its real calls' memory (result, workspace, the copies of the parts they read)
    plus the complex result: the guard refuses one byte below that, before allocating, and runs at it."""
    rng = np.random.default_rng(79)
    x_shape, w_shape = ((2, 4, 7, 6), (4, 3, 3, 3)) if transposed else ((2, 3, 9, 8), (4, 3, 3, 3))
    x, w = crandn(rng, x_shape), crandn(rng, w_shape)
    g = geometry_from_shapes(transposed, x_shape, w_shape, np.complex128, padding=1, padding_mode=mode)
    need = needed_bytes(g, get("direct"), (x, w))
    assert complex_bytes(g) == int(np.prod(g.result_shape)) * 16
    real_g = geometry_from_shapes(transposed, x_shape, w_shape, np.float64, padding=1, padding_mode=mode)
    assert need == needed_bytes(real_g, get("direct"), (x.real, w.real)) + complex_bytes(g)
    run = tconv.conv_transpose if transposed else tconv.conv
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(need - 1))
    with pytest.raises(ValueError, match="bytes"):
        run(x, w, padding=1, padding_mode=mode, algorithm="direct")
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(need))
    assert run(x, w, padding=1, padding_mode=mode, algorithm="direct").shape == g.result_shape


def test_huge_complex_result_is_refused_before_allocating():
    x = np.lib.stride_tricks.as_strided(np.zeros(1, np.complex64), (1, 1, 100, 100), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"complex operands \(the complex result\).* would need \d+ bytes"):
        tconv.conv_transpose(x, np.ones((1, 1, 2, 2), np.complex64), stride=10**6)


def test_layers_and_other_doors_refuse_complex_by_name():
    """The layers (and the dialects, the chapter's functions) take real numbers: a complex input or
    parameter is a TypeError naming the argument and the calls that take complex operands."""
    z = np.ones((1, 1, 4), np.complex64)
    layer = nn.Conv1d(1, 1, 2)
    checks = [(lambda: layer(z), "x"), (lambda: setattr(layer, "weight", np.ones((1, 1, 2), complex)), "weight"),
              (lambda: nn.ConvTranspose1d(1, 1, 2)(z), "x"), (lambda: tconv.corr2d(z[0], np.ones((1, 1))), "X")]
    for call, name in checks:
        with pytest.raises(TypeError, match=f"^{name} has complex dtype .*expected real numbers.* tconv.conv, "
                                            f"tconv.conv_transpose"):
            call()
    with pytest.raises(TypeError, match="dtype"):
        nn.Conv1d(1, 1, 2, dtype=np.complex64)
    assert layer(z.real).dtype == np.float32  # the real part goes through


# --------------------------------------------------------------------------- the long sweep


@pytest.mark.slow
def test_slow_sweep():
    """Many more seeded cases and larger sizes: every algorithm and mode vs PyTorch, and the gradients."""
    counts = _compare_algorithms(cases(81, 16, max_size=9, max_kernel=4, max_stride=3, max_dilation=3)
                                 + sum((tailored_cases(s, per=3) for s in range(82, 86)), []))
    _assert_floors(counts, floor=40)
    assert _check_all_grads(cases(87, 6, max_size=8)) >= 4 * 3 * 6 * 2
