"""The matrix view: conv_matrix is conv, its transpose is conv_transpose, ConvOperator is the same map."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, lsqr

import tconv
from support import Compared, Config, configs, default_examples, note_error, record_error
from tconv import matrix

EXACT = 1e-12  # float64: the matrix and the operator must agree to this, relative to the largest value


def _hyper(cfg: Config) -> dict:
    return dict(stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation, groups=cfg.groups)


def _problem(cfg: Config, extra: int):
    """Conv weight (float64), the conv input's spatial shape (with `extra` rows a stride may drop), a batch size."""
    rng = np.random.default_rng(cfg.seed)
    w = rng.standard_normal((cfg.small_channels, cfg.big_channels // cfg.groups) + cfg.kernel)
    big = tuple(n + extra for n in cfg.big_spatial())
    return rng, w, big, max(cfg.batch, 1)


def _assert_exact(got, want, record: str | None = None) -> None:
    """Equal to EXACT relative to the largest value; ``record`` counts the comparison in the run's report."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(got - want).max(initial=0.0))
    if record:
        record_error(f"matrix: {record}", np.float64, got, want)
    assert err <= EXACT * scale, f"max abs error {err:.3g} > {EXACT:.0e} * {scale:.3g}"


def _every_draw_compared(prop) -> None:
    """Run a property that compares every configuration it draws; at least half the profile's examples run."""
    tally = Compared()
    prop(tally)
    assert tally.compared == tally.drawn
    tally.assert_at_least(default_examples() // 2, prop.__name__)


@given(cfg=configs(), extra=st.integers(0, 3))
def matrix_times_x_is_conv(tally, cfg, extra):
    tally.drawn += 1
    rng, w, big, n = _problem(cfg, extra)
    x = rng.standard_normal((n, cfg.big_channels) + big)
    M = tconv.conv_matrix(w, big, **_hyper(cfg))
    y = tconv.conv(x, w, **_hyper(cfg))
    assert M.shape == (y[0].size, x[0].size)
    assert M.dtype == np.float64 and M.has_canonical_format
    _assert_exact((M @ x.reshape(n, -1).T).T, y.reshape(n, -1), "M @ x vs conv")
    tally.compared += 1


def test_matrix_times_x_is_conv():
    _every_draw_compared(matrix_times_x_is_conv)


@given(cfg=configs(), extra=st.integers(0, 3))
def matrix_transpose_is_conv_transpose(tally, cfg, extra):
    tally.drawn += 1
    rng, w, big, n = _problem(cfg, extra)
    M = tconv.conv_matrix(w, big, **_hyper(cfg))
    small = tconv.conv_output_shape(big, cfg.kernel, stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation)
    y = rng.standard_normal((n, cfg.small_channels) + small)
    want = tconv.conv_transpose(y, w, output_size=big, **_hyper(cfg))
    _assert_exact((M.T @ y.reshape(n, -1).T).T, want.reshape(n, -1), "M.T @ y vs conv_transpose")
    tally.compared += 1


def test_matrix_transpose_is_conv_transpose():
    _every_draw_compared(matrix_transpose_is_conv_transpose)


@given(cfg=configs(), extra=st.integers(0, 3))
def test_nnz_is_every_tap_that_meets_the_input(cfg, extra):
    """Stored entries == sum of conv(ones, ones): each output counts the (channel, tap) pairs it reads."""
    _, w, big, _ = _problem(cfg, extra)
    M = tconv.conv_matrix(w, big, **_hyper(cfg))
    reads = tconv.conv(np.ones((cfg.big_channels,) + big), np.ones_like(w), **_hyper(cfg))
    assert M.nnz == round(reads.sum()) == M.count_nonzero()  # random weights: no stored zero
    size = matrix.matrix_size(w, big, **_hyper(cfg))
    assert (size.rows, size.cols, size.nnz) == (M.shape[0], M.shape[1], M.nnz)
    assert size.csr_bytes == M.data.nbytes + M.indices.nbytes + M.indptr.nbytes


@settings(derandomize=True)  # a fixed run: the floor below on how many were compared holds every time
@given(cfg=configs(max_dims=2), padding=st.sampled_from(["same", "valid"]))
def string_padding(tally, cfg, padding):
    tally.drawn += 1
    rng, w, big, _ = _problem(cfg, 0)
    hyper = dict(stride=cfg.stride, padding=padding, dilation=cfg.dilation, groups=cfg.groups)
    x = rng.standard_normal((cfg.big_channels,) + big)
    try:
        y = tconv.conv(x, w, **hyper)
    except ValueError:  # e.g. "valid" with a kernel larger than the input: conv_matrix must refuse too
        with pytest.raises(ValueError):
            tconv.conv_matrix(w, big, **hyper)
        return
    _assert_exact(tconv.conv_matrix(w, big, **hyper) @ x.ravel(), y.ravel(), f"M @ x vs conv, padding={padding!r}")
    tally.compared += 1


def test_string_padding():
    """Some 'valid' draws have a kernel larger than the input (both refuse); most compare numbers."""
    tally = Compared()
    string_padding(tally)
    tally.assert_at_least(default_examples() * 3 // 5, "string padding")


@given(cfg=configs(max_dims=2), extra=st.integers(0, 2))
def test_dense_matrix_is_the_sparse_one(cfg, extra):
    _, w, big, _ = _problem(cfg, extra)
    M = tconv.conv_matrix(w, big, **_hyper(cfg))
    assert np.array_equal(matrix.conv_matrix_dense(w, big, **_hyper(cfg)), M.toarray())


@given(
    K=st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
        lambda k: st.tuples(st.just(k), st.integers(k[0], 9), st.integers(k[1], 9), st.integers(0, 2**31 - 1))
    )
)
def test_kernel2matrix_agrees(K):
    (kh, kw), h, w, seed = K
    k = np.random.default_rng(seed).standard_normal((kh, kw))
    assert np.array_equal(tconv.conv_matrix(k[None, None], (h, w)).toarray(), tconv.kernel2matrix(k, (h, w)))


def test_chapter_matrix():
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    M = tconv.conv_matrix(K.reshape(1, 1, 2, 2), (3, 3))
    assert np.array_equal(M.toarray(), tconv.kernel2matrix(K))
    assert M.nnz == 16 and M.count_nonzero() == 12  # the zero weight stays a stored entry


@pytest.mark.parametrize(
    "padding, stride, nnz",
    [
        (0, 1, 254 * 254 * 9),  # every tap of every one of the 254x254 outputs is inside
        (1, 1, 766 * 766),  # per dim 256 outputs x 3 taps, minus the 2 taps that fall on the padding
        (1, 2, 383 * 383),  # per dim 128 outputs x 3 taps, minus the first output's tap on the padding
    ],
)
def test_exact_nnz_256x256_3x3(padding, stride, nnz):
    w = np.random.default_rng(0).uniform(1, 2, size=(1, 1, 3, 3))
    M = tconv.conv_matrix(w, (256, 256), padding=padding, stride=stride)
    assert M.nnz == nnz == M.count_nonzero()
    assert M.indices.dtype == np.int32


# ---------------------------------------------------------------------------
# ConvOperator


def dottest(op: LinearOperator, rng: np.random.Generator) -> float:
    """Relative mismatch of ``<A u, v>`` and ``<u, A^H v>`` for a random ``u`` and ``v = A u + noise``.

    ``v`` leans on ``A u`` so that the inner product cannot cancel to nearly
    zero (which would turn rounding into a large *relative* error); the
    identity holds for every ``v``, and the noise keeps ``v`` generic.
    """
    u = rng.standard_normal(op.shape[1])
    Au = op.matvec(u)
    v = Au + rng.standard_normal(op.shape[0])
    forward, adjoint = float(np.dot(Au, v)), float(np.dot(u, op.rmatvec(v)))
    return abs(forward - adjoint) / max(abs(forward), abs(adjoint), np.finfo(float).tiny)


@given(cfg=configs(), extra=st.integers(0, 3))
def dot_product(tally, cfg, extra):
    tally.drawn += 1
    rng, w, big, _ = _problem(cfg, extra)
    err = dottest(tconv.ConvOperator(w, big, **_hyper(cfg)), rng)
    note_error("matrix: ConvOperator dot-product test", np.float64, err)  # the largest is in the run's report
    assert err < 1e-12
    tally.compared += 1


def test_dot_product():
    _every_draw_compared(dot_product)


@given(cfg=configs(max_dims=2), extra=st.integers(0, 2), columns=st.integers(1, 3))
def test_operator_is_the_matrix(cfg, extra, columns):
    rng, w, big, _ = _problem(cfg, extra)
    A = tconv.ConvOperator(w, big, **_hyper(cfg))
    M = tconv.conv_matrix(w, big, **_hyper(cfg))
    assert A.shape == M.shape and A.dtype == np.float64
    X = rng.standard_normal((A.shape[1], columns))
    Y = rng.standard_normal((A.shape[0], columns))
    _assert_exact(A @ X, M @ X)
    _assert_exact(A.H @ Y, M.T @ Y)
    _assert_exact(A.T @ Y[:, 0], M.T @ Y[:, 0])
    _assert_exact(A.matvec(X[:, 0]), M @ X[:, 0])
    _assert_exact(A.rmatvec(Y[:, 0]), M.T @ Y[:, 0])
    z = X[:, 0] + 1j * X[:, -1]
    _assert_exact(A @ z, M @ z)


def test_operator_never_builds_the_matrix(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ConvOperator built the matrix")

    monkeypatch.setattr(matrix, "_csr_parts", refuse)
    w = np.random.default_rng(1).standard_normal((3, 2, 3, 3))
    A = tconv.ConvOperator(w, (9, 7), stride=2, padding=1)
    assert (A @ np.ones(A.shape[1])).shape == (A.shape[0],)
    assert (A.H @ np.ones(A.shape[0])).shape == (A.shape[1],)
    with pytest.raises(AssertionError):
        A.to_matrix()


def test_lsqr_recovers_the_input():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 2, 3, 3))
    A = tconv.ConvOperator(w, (8, 8), padding=1)
    x = rng.standard_normal(A.shape[1])
    result = lsqr(A, A @ x, atol=1e-14, btol=1e-14, iter_lim=1000)
    assert result[1] in (1, 2)  # converged
    assert np.abs(result[0] - x).max() < 1e-8


def test_lsqr_undoes_a_transposed_convolution():
    """The adjoint is a strided transposed convolution (upsampling, groups = channels); lsqr inverts it."""
    rng = np.random.default_rng(3)
    w = rng.uniform(0.5, 1.0, size=(3, 1, 4, 4))
    A = tconv.ConvOperator(w, (16, 16), stride=2, padding=1, groups=3)
    small = rng.standard_normal(A.shape[0])
    big = tconv.conv_transpose(small.reshape(1, 3, 8, 8), w, stride=2, padding=1, groups=3)
    result = lsqr(A.H, big.ravel(), atol=1e-14, btol=1e-14, iter_lim=1000)
    assert np.abs(result[0] - small).max() < 1e-8


def test_float32_weight():
    w = np.ones((1, 1, 2, 2), dtype=np.float32)
    assert tconv.conv_matrix(w, (4, 4)).dtype == np.float32
    assert tconv.ConvOperator(w, (4, 4)).dtype == np.float32
    assert tconv.conv_matrix(np.ones((1, 1, 2, 2), dtype=int), (4, 4)).dtype == np.float64
    half = np.ones((1, 1, 2, 2), dtype=np.float16)
    assert tconv.conv_matrix(half, (4, 4)).dtype == np.float32 == tconv.ConvOperator(half, (4, 4)).dtype
    assert np.array_equal(tconv.conv_matrix(half, (4, 4)) @ np.ones(16), np.full(9, 4.0))


def test_weight_not_modified():
    w = np.arange(8.0).reshape(2, 1, 2, 2)
    w.flags.writeable = False
    tconv.conv_matrix(w, (3, 3))
    A = tconv.ConvOperator(w, (3, 3))
    A @ np.ones(A.shape[1])
    assert np.array_equal(w, np.arange(8.0).reshape(2, 1, 2, 2))


def test_operator_keeps_its_weight_relayouts(monkeypatch):
    """The operator's weight is fixed (a read-only copy): the kernels re-lay it out on the first product of
    each direction only; products equal the one-off calls."""
    from tconv.algorithms import gemm, jit

    if not jit.available(np.float32):
        pytest.skip("the kept re-layouts are those of the compiled kernels")
    builds = []
    original = gemm._channels_last_weight
    monkeypatch.setattr(gemm, "_channels_last_weight", lambda *a, **k: (builds.append(1), original(*a, **k))[1])
    rng = np.random.default_rng(2)
    w = rng.standard_normal((24, 20, 4, 4)).astype(np.float32)  # conv (C_out, C_in, k): the adjoint has 20 -> 24
    A = tconv.ConvOperator(w, (12, 10), stride=2, padding=1, algorithm="gemm")
    assert not A.weight.flags.writeable
    x, y = rng.standard_normal(A.shape[1]).astype(np.float32), rng.standard_normal(A.shape[0]).astype(np.float32)
    want_y = tconv.conv(x.reshape(A.input_shape), w, stride=2, padding=1, algorithm="gemm").ravel()
    want_x = tconv.conv_transpose(y.reshape(A.output_shape), w, stride=2, padding=1, algorithm="gemm").ravel()
    builds.clear()
    for _ in range(3):
        np.testing.assert_array_equal(A @ x, want_y)
        np.testing.assert_array_equal(A.H @ y, want_x)
    assert len(builds) == 1  # the adjoint's (gemm's transposed path) channels-last blocks: once, not per product


# ---------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "weight_shape, input_shape, kwargs, error, match",
    [
        ((1, 1, 3, 3), (5,), {}, ValueError, r"input_shape must give the 2 spatial size"),
        ((1, 1, 3, 3), (1, 5, 5), {}, ValueError, r"input_shape .* got \(1, 5, 5\) with 3 entries"),
        ((1, 1, 3, 3), (5, 0), {}, ValueError, r"input_shape must be >= 1"),
        ((1, 1, 3, 3), 5, {}, TypeError, r"input_shape must be a sequence"),
        ((1, 1, 3, 3), (5.5, 5), {}, TypeError, r"input_shape must be an integer"),
        ((3, 3), (5, 5), {}, ValueError, r"weight must have shape \(C_out, C_in // groups, \*kernel\)"),
        ((1, 1, 7, 7), (5, 5), {}, ValueError, r"weight: the dilated kernel \(7, 7\) is larger"),
        ((1, 1, 3, 3), (5, 5), {"dilation": 3}, ValueError, r"dilated kernel \(7, 7\)"),
        ((4, 3, 3, 3), (5, 5), {"groups": 3}, ValueError, r"groups \(3\) must divide the output channels \(4\)"),
        ((4, 3, 3, 3), (5, 5), {"groups": 0}, ValueError, r"groups must be >= 1"),
        ((1, 1, 3, 3), (5, 5), {"stride": 0}, ValueError, r"stride must be >= 1"),
        ((1, 1, 3, 3), (5, 5), {"padding": (1, 2, 3)}, ValueError, r"padding must be"),
    ],
)
@pytest.mark.parametrize("build", [tconv.conv_matrix, matrix.conv_matrix_dense, tconv.ConvOperator, matrix.matrix_size])
def test_bad_input(build, weight_shape, input_shape, kwargs, error, match):
    with pytest.raises(error, match=match):
        build(np.ones(weight_shape), input_shape, **kwargs)


def test_operator_rejects_a_vector_of_the_wrong_length():
    A = tconv.ConvOperator(np.ones((2, 1, 3, 3)), (5, 5))
    with pytest.raises(ValueError, match="dimension mismatch"):
        A @ np.ones(24)
    with pytest.raises(ValueError, match="dimension mismatch"):
        A.H @ np.ones(A.shape[1])


def test_dense_matrix_that_cannot_fit_is_refused(monkeypatch):
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(2**30))
    w = np.ones((1, 1, 3, 3))
    size = matrix.matrix_size(w, (256, 256), padding=1)
    needed = size.dense_bytes + size.csr_bytes
    with pytest.raises(ValueError, match=rf"dense 65536x65536 .* would need {needed} bytes \(32\.0 GiB\)"):
        matrix.conv_matrix_dense(w, (256, 256), padding=1)
    tconv.conv_matrix(w, (256, 256), padding=1)  # the sparse one (7 MB) is fine


def test_sparse_matrix_that_cannot_fit_is_refused(monkeypatch):
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(2**30))
    w = np.ones((64, 64, 3, 3))
    with pytest.raises(ValueError, match=r"conv_matrix .* would need \d+ bytes"):
        tconv.conv_matrix(w, (256, 256), padding=1)
    A = tconv.ConvOperator(w, (256, 256), padding=1)  # the operator needs no matrix
    assert A.shape == (64 * 256 * 256, 64 * 256 * 256)


# ---------------------------------------------------------------------------
# the tour's exercise


def test_tour_sections_match():
    from tconv.tour import matrix_sections

    items = matrix_sections()
    assert all(s.matches for s in items)
    assert any(s.title.startswith("Exercise") for s in items)


def test_exercise_text_without_the_document(monkeypatch):
    from tconv import tour

    monkeypatch.setattr(tour, "exercise_document", lambda: None)
    text = tour.exercise_text()
    assert "sparse M @ x" in text and "tconv conv(x, K)" in text


def test_exercise_text_from_the_document(monkeypatch, tmp_path):
    from tconv import tour

    doc = tmp_path / "exercise.md"
    doc.write_text("# Exercise: is it?\n\n## Answer\n\nNo, measured.\n\n## Measurements\n\n"
                   "**Time of one convolution** x\n\n| a |\n\n**Transposed** y\n", encoding="utf-8")
    monkeypatch.setattr(tour, "exercise_document", lambda: doc)
    text = tour.exercise_text()
    assert text.startswith("Exercise: is it?") and "No, measured." in text and "| a |" in text
    assert "Transposed" not in text


def test_sizes_of_a_matrix_too_big_to_build():
    size = matrix.matrix_size(np.ones((64, 64, 3, 3)), (1024, 1024), padding=1)
    assert size.nnz == 64 * 64 * (3 * 1024 - 2) ** 2  # per dim: 1024 outputs x 3 taps, 2 on the padding
    assert size.index_itemsize == 8  # more than 2**31 entries: int64 indices
    assert size.dense_bytes == (64 * 1024 * 1024) ** 2 * 8


def test_int64_indices(monkeypatch):
    """The int64 index path (used past 2**31 entries), exercised on a small matrix."""
    monkeypatch.setattr(matrix, "_INT32_MAX", 10)
    rng = np.random.default_rng(4)
    w = rng.standard_normal((4, 1, 3, 2))
    M = tconv.conv_matrix(w, (7, 6), stride=(2, 1), padding=1, groups=2)
    assert M.indices.dtype == np.int64 and M.indptr.dtype == np.int64
    x = rng.standard_normal((2, 7, 6))
    _assert_exact(M @ x.ravel(), tconv.conv(x, w, stride=(2, 1), padding=1, groups=2).ravel())


def test_deconvolve_example_runs(capsys):
    """examples/deconvolve.py: the residual falls to rounding level on exact data."""
    import runpy
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "deconvolve.py"
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    exact = out.split("exact data:")[1].split("with 1% noise")[0]
    residuals = [float(line.split()[1]) for line in exact.strip().splitlines()[1:]]
    assert residuals[0] > 1 and residuals[-1] < 1e-9
    assert all(b <= a for a, b in zip(residuals, residuals[1:]))
