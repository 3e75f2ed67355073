"""Every number of the chapter, exactly, through the chapter's functions and the operator."""

import numpy as np
import pytest

import tconv

X = np.array([[0.0, 1.0], [2.0, 3.0]])
K = np.array([[0.0, 1.0], [2.0, 3.0]])
X4, K4 = X.reshape(1, 1, 2, 2), K.reshape(1, 1, 2, 2)
CHAPTER_W = np.array(
    [
        [0, 1, 0, 2, 3, 0, 0, 0, 0],
        [0, 0, 1, 0, 2, 3, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 2, 3, 0],
        [0, 0, 0, 0, 0, 1, 0, 2, 3],
    ],
    dtype=float,
)


def test_trans_conv_definition():
    assert np.array_equal(tconv.trans_conv(X, K), [[0, 0, 1], [0, 4, 6], [4, 12, 9]])


@pytest.mark.parametrize("algorithm", ["auto", *tconv.algorithm_names()])
def test_operator_reproduces_the_chapter(algorithm):
    """Every algorithm gives the chapter's numbers (fft to 1e-12), or (nooverlap at stride 1, winograd for the
    2x2 kernel) refuses, naming itself."""
    cases = [
        ({}, [[[[0, 0, 1], [0, 4, 6], [4, 12, 9]]]]),
        ({"padding": 1}, [[[[4.0]]]]),
        ({"stride": 2}, [[[[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]]]),
    ]
    for kwargs, want in cases:
        if algorithm == "nooverlap" and "stride" not in kwargs:
            with pytest.raises(ValueError, match="'nooverlap' does not support overlapping taps"):
                tconv.conv_transpose(X4, K4, algorithm=algorithm, **kwargs)
            continue
        if algorithm == "winograd":
            with pytest.raises(ValueError, match="'winograd' does not support.*3x3 kernel"):
                tconv.conv_transpose(X4, K4, algorithm=algorithm, **kwargs)
            continue
        if algorithm == "phase_winograd":  # 2x2 kernels: stride 1, or a stride of the kernel
            with pytest.raises(ValueError, match="'phase_winograd' does not support.*twice a stride"):
                tconv.conv_transpose(X4, K4, algorithm=algorithm, **kwargs)
            continue
        got = tconv.conv_transpose(X4, K4, algorithm=algorithm, **kwargs)
        if algorithm == "fft":  # exact up to the FFT's rounding
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        else:
            assert np.array_equal(got, want)


def test_channel_shape_inversion():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(1, 10, 16, 16))
    y = tconv.conv(x, rng.uniform(size=(20, 10, 5, 5)), padding=2, stride=3)
    assert y.shape == (1, 20, 6, 6)
    back = tconv.conv_transpose(y, rng.uniform(size=(20, 10, 5, 5)), padding=2, stride=3)
    assert back.shape == x.shape


def test_corr2d_and_kernel2matrix():
    X9 = np.arange(9.0).reshape(3, 3)
    Y = tconv.corr2d(X9, K)
    assert np.array_equal(Y, [[19, 25], [37, 43]])
    W = tconv.kernel2matrix(K)
    assert np.array_equal(W, CHAPTER_W)
    assert np.array_equal(W @ X9.ravel(), Y.ravel())
    assert np.array_equal(W.T @ X.ravel(), tconv.trans_conv(X, K).ravel())
    # the chapter uses an integer K for the matrix view
    assert np.array_equal(tconv.corr2d(X9, K.astype(int)), Y)


@pytest.mark.parametrize("shape,kshape", [((3, 3), (2, 2)), ((5, 4), (3, 2)), ((4, 7), (1, 3)), ((2, 2), (2, 2))])
def test_kernel2matrix_any_shape(shape, kshape):
    rng = np.random.default_rng(1)
    Xr, Kr = rng.standard_normal(shape), rng.standard_normal(kshape)
    W = tconv.kernel2matrix(Kr, input_shape=shape)
    out = (shape[0] - kshape[0] + 1, shape[1] - kshape[1] + 1)
    assert W.shape == (out[0] * out[1], shape[0] * shape[1])
    np.testing.assert_allclose(W @ Xr.ravel(), tconv.corr2d(Xr, Kr).ravel(), rtol=1e-12, atol=1e-12)
    Yr = rng.standard_normal(out)
    np.testing.assert_allclose(W.T @ Yr.ravel(), tconv.trans_conv(Yr, Kr).ravel(), rtol=1e-12, atol=1e-12)


def test_chapter_functions_agree_with_the_operator():
    rng = np.random.default_rng(2)
    Xr, Kr = rng.standard_normal((5, 6)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(
        tconv.trans_conv(Xr, Kr), tconv.conv_transpose(Xr[None, None], Kr[None, None])[0, 0], rtol=1e-12
    )
    np.testing.assert_allclose(tconv.corr2d(Xr, Kr), tconv.conv(Xr[None, None], Kr[None, None])[0, 0], rtol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda: tconv.trans_conv(np.ones((2, 2, 2)), K),
        lambda: tconv.corr2d(np.ones((2, 2)), np.ones((3, 3))),
        lambda: tconv.kernel2matrix(K, input_shape=(1, 5)),
        lambda: tconv.kernel2matrix(K, input_shape=(3, 3, 3)),
        lambda: tconv.corr2d(np.array([["a", "b"]]), K),
    ],
)
def test_chapter_functions_refuse_bad_input(call):
    with pytest.raises((ValueError, TypeError)):
        call()


def test_tour_reproduces_every_example(capsys):
    from tconv.cli import main

    assert main(["tour", "--text"]) == 0
    out = capsys.readouterr().out
    assert "[[19., 25.],\n    [37., 43.]]" in out
    assert "[[[[4.]]]]" in out
    assert "9 of 9 examples reproduce the chapter's results." in out


def test_tour_in_portuguese_prints_the_pages_translations(capsys):
    from tconv.cli import main
    from tconv.tour import MATRIX_PT, PAGE_ONLY_PT, sections
    from tconv.viz.texts import CHAPTER_PT, PAGE

    assert main(["tour", "--text", "--lang", "pt"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tconv tour: o capítulo da convolução transposta, calculado ao vivo")
    for section in sections():
        title, _ = CHAPTER_PT[section.title]
        assert title in out and section.title not in out
    for title, _ in MATRIX_PT.values():
        assert title in out
    assert "1x20x6x6" in out and "1x10x16x16" in out  # the channel example's live shapes, filled in
    assert PAGE["pt"]["summary"].format(ok=9, n=9) in out
    assert out.count(PAGE["pt"]["matches"]) == 9 and "como esperado" in out
    assert "[[19., 25.],\n    [37., 43.]]" in out and "[[[[4.]]]]" in out  # the same live numbers
    assert PAGE["pt"]["exercise_title"] in out
    # the page's words about its pictures stay on the page
    for part in PAGE_ONLY_PT:
        assert any(part in text for _, text in CHAPTER_PT.values()), part
        assert part.strip() not in out
    assert "figura" not in out and "animação" not in out


def test_tour_text_in_english_is_unchanged(capsys):
    from tconv.cli import main
    from tconv.tour import tour_text

    assert main(["tour", "--text"]) == 0
    out = capsys.readouterr().out
    text, ok = tour_text()
    assert ok and out.split("Exercise")[0] == text.split("Exercise")[0]
    assert "Beyond the chapter: the matrix view" in out and "as expected" in out


def test_tour_text_needs_the_pages_words_for_portuguese():
    from tconv.tour import tour_text

    with pytest.raises(ValueError, match="page=tconv.viz.texts.PAGE"):
        tour_text(lang="pt")
    with pytest.raises(ValueError, match="lang must be one of"):
        tour_text(lang="fr")
