"""A catalogue of bad inputs: each raises the right exception, naming the argument."""

import numpy as np
import pytest

import tconv
import tconv.nn  # noqa: F401  (the layers' refusals)

x4 = np.ones((1, 2, 5, 5))
w4 = np.ones((2, 3, 3, 3))  # conv_transpose: (C_in=2, C_out/g=3, 3, 3)
wc = np.ones((3, 2, 3, 3))  # conv: (C_out=3, C_in/g=2, 3, 3)
CT, CV = tconv.conv_transpose, tconv.conv

CASES = [
    # (id, call, exception, words the message must contain)
    ("x wrong ndim", lambda: CT(np.ones((5, 5)), w4), ValueError, ["x", "dims"]),
    ("x too many dims", lambda: CT(np.ones((1, 1, 2, 5, 5)), w4), ValueError, ["x"]),
    ("weight without spatial dims", lambda: CT(x4, np.ones((2, 3))), ValueError, ["weight"]),
    ("channel mismatch", lambda: CT(np.ones((1, 4, 5, 5)), w4), ValueError, ["weight", "C_in = 4"]),
    ("conv channel mismatch", lambda: CV(np.ones((1, 4, 5, 5)), wc), ValueError, ["weight", "C_in"]),
    ("groups do not divide channels", lambda: CT(np.ones((1, 3, 5, 5)), np.ones((3, 1, 2, 2)), groups=2), ValueError, ["groups", "3"]),
    ("groups do not divide conv output channels", lambda: CV(np.ones((1, 2, 5, 5)), np.ones((3, 1, 2, 2)), groups=2), ValueError, ["groups"]),
    ("groups zero", lambda: CT(x4, w4, groups=0), ValueError, ["groups"]),
    ("groups float", lambda: CT(x4, w4, groups=1.0), TypeError, ["groups"]),
    ("stride zero", lambda: CT(x4, w4, stride=0), ValueError, ["stride", ">= 1"]),
    ("stride negative", lambda: CV(x4, wc, stride=-1), ValueError, ["stride"]),
    ("stride float", lambda: CT(x4, w4, stride=1.5), TypeError, ["stride", "1.5"]),
    ("stride bool", lambda: CT(x4, w4, stride=True), TypeError, ["stride", "bool"]),
    ("stride string", lambda: CT(x4, w4, stride="2"), TypeError, ["stride"]),
    ("stride wrong length", lambda: CT(x4, w4, stride=(1, 2, 3)), ValueError, ["stride", "2"]),
    ("padding wrong length", lambda: CT(x4, w4, padding=(1, 1, 1)), ValueError, ["padding"]),
    ("padding negative", lambda: CT(x4, w4, padding=-1), ValueError, ["padding", "non-negative"]),
    ("padding bad pair", lambda: CT(x4, w4, padding=((1, 2, 3), (0, 0))), ValueError, ["padding", "(before, after)"]),
    ("padding unknown string", lambda: CT(x4, w4, padding="full"), ValueError, ["padding", "'full'"]),
    ("padding crops everything", lambda: CT(np.ones((1, 2, 1, 1)), w4, padding=2), ValueError, ["padding"]),
    ("output_padding >= stride", lambda: CT(x4, w4, stride=2, output_padding=2), ValueError,
     ["output_padding (2) must be smaller than stride (2) or dilation (1) in dim 0"]),
    ("output_padding without stride", lambda: CT(x4, w4, output_padding=1), ValueError, ["output_padding"]),
    ("output_padding negative", lambda: CT(x4, w4, stride=2, output_padding=-1), ValueError, ["output_padding"]),
    ("output_padding with same", lambda: CT(x4, w4, stride=2, padding="same", output_padding=1), ValueError,
     ["output_padding=1", "padding='same'", "(10, 10)"]),
    ("output_padding array with same", lambda: CT(x4, w4, stride=2, padding="same", output_padding=np.array([0, 1])),
     ValueError, ["output_padding=[0, 1]", "padding='same'"]),
    ("output_size other than same's", lambda: CT(x4, w4, stride=2, padding="same", output_size=(11, 11)), ValueError,
     ["output_size=(11, 11)", "(10, 10)"]),
    ("output_padding array >= stride", lambda: CT(x4, w4, stride=np.array([2, 3]), output_padding=np.array([1, 3])),
     ValueError, ["output_padding (3) must be smaller than stride (3) or dilation (1) in dim 1"]),
    ("stride array wrong length", lambda: CT(x4, w4, stride=np.array([1, 2, 3])), ValueError, ["stride", "[1, 2, 3]"]),
    ("stride float array", lambda: CT(x4, w4, stride=np.array([1.0, 2.0])), TypeError, ["stride"]),
    ("padding array negative", lambda: CT(x4, w4, padding=np.array([1, -1])), ValueError, ["padding", "[1, -1]"]),
    ("output_size array unreachable", lambda: CT(x4, w4, stride=2, output_size=np.array([20, 20])), ValueError,
     ["output_size", "valid sizes range from (11, 11) to (12, 12)"]),
    ("fft on nan input", lambda: CT(np.full((1, 2, 5, 5), np.nan), w4, algorithm="fft"), ValueError,
     ["algorithm 'fft' does not support x containing inf or nan", "use another algorithm"]),
    ("winograd on a stride", lambda: CV(x4, np.ones((3, 2, 3, 3)), stride=2, algorithm="winograd"), ValueError,
     ["algorithm 'winograd' does not support stride (2, 2) (it needs stride 1)"]),
    ("dilation zero", lambda: CT(x4, w4, dilation=0), ValueError, ["dilation"]),
    ("output_size unreachable", lambda: CT(x4, w4, stride=2, output_size=(20, 20)), ValueError,
     ["output_size", "valid sizes range from (11, 11) to (12, 12)"]),
    ("output_size too small", lambda: CT(x4, w4, output_size=(3, 3)), ValueError, ["output_size", "(7, 7)"]),
    ("output_size wrong length", lambda: CT(x4, w4, output_size=(7, 7, 7)), ValueError, ["output_size"]),
    ("output_size not numbers", lambda: CT(x4, w4, output_size="7x7"), TypeError, ["output_size"]),
    ("bias wrong shape", lambda: CT(x4, w4, np.ones(2)), ValueError, ["bias", "(3,)"]),
    ("bias 2-d", lambda: CV(x4, wc, np.ones((3, 1))), ValueError, ["bias"]),
    # complex operands are taken by the operator (tests/test_complex.py), refused by name by the layers
    ("complex x in a layer", lambda: tconv.nn.ConvTranspose2d(2, 3, 3)(x4.astype(complex)), TypeError,
     ["x", "complex dtype complex128", "expected real numbers", "tconv.conv_transpose"]),
    ("complex weight in a layer", lambda: setattr(tconv.nn.Conv2d(2, 3, 3), "weight", wc.astype(complex)), TypeError,
     ["weight", "complex", "tconv.conv"]),
    ("string array", lambda: CT(np.full((1, 2, 2, 2), "a"), w4), TypeError, ["x", "dtype"]),
    ("object array", lambda: CT(np.empty((1, 2, 2, 2), dtype=object), w4), TypeError, ["x", "object"]),
    ("ragged list", lambda: CT([[[1, 2], [3]]], w4), TypeError, ["x"]),
    ("string bias", lambda: CT(x4, w4, "zero"), TypeError, ["bias"]),
    ("unknown algorithm", lambda: CT(x4, w4, algorithm="cudnn"), ValueError, ["algorithm", "cudnn", "direct"]),
    ("algorithm not a string", lambda: CT(x4, w4, algorithm=3), ValueError, ["algorithm"]),
    ("zero-size kernel", lambda: CT(x4, np.ones((2, 3, 0, 3))), ValueError, ["weight", "kernel"]),
    ("zero-size spatial input", lambda: CT(np.ones((1, 2, 0, 5)), w4), ValueError, ["x", "spatial"]),
    ("no input channels", lambda: CT(np.ones((1, 0, 4, 4)), np.ones((0, 3, 3, 3))), ValueError, ["x", "channel"]),
    ("conv kernel larger than input", lambda: CV(np.ones((1, 2, 2, 2)), wc), ValueError, ["weight", "larger"]),
    ("huge output refused", lambda: CT(np.ones((1, 1, 100, 100)), np.ones((1, 1, 3, 3)), stride=10**6), ValueError, ["bytes"]),
    ("shape fn: kernel zero", lambda: tconv.conv_transpose_output_shape((4, 4), 0), ValueError, ["kernel_size"]),
    ("shape fn: conv no output", lambda: tconv.conv_output_shape((2,), 5), ValueError, ["output"]),
    ("shape fn: negative output", lambda: tconv.conv_transpose_output_shape((1,), 1, padding=3), ValueError, ["output"]),
    ("shape fn: input_shape string", lambda: tconv.conv_transpose_output_shape("44", 2), TypeError, ["input_shape"]),
]


@pytest.mark.parametrize("call,exc,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_catalogue_is_large():
    assert len(CASES) >= 25


def test_huge_output_message_gives_the_size():
    with pytest.raises(ValueError, match=r"would need \d+ bytes"):
        CT(np.ones((1, 1, 100, 100)), np.ones((1, 1, 3, 3)), stride=10**6)


def test_memory_limit_setting(monkeypatch):
    x = np.ones((1, 1, 64, 64))
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", "1000")
    with pytest.raises(ValueError, match="bytes"):
        CT(x, np.ones((1, 1, 3, 3)))
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="TCONV_MEMORY_LIMIT"):
        CT(x, np.ones((1, 1, 3, 3)))


def test_named_algorithm_over_budget_is_refused(monkeypatch):
    """gemm's column workspace is refused where direct still fits; auto then picks direct."""
    x = np.ones((1, 1, 64, 64))
    w = np.ones((1, 1, 8, 8))
    monkeypatch.setenv("TCONV_MEMORY_LIMIT", str(400_000))
    with pytest.raises(ValueError, match="gemm"):
        CT(x, w, algorithm="gemm")
    np.testing.assert_allclose(CT(x, w), CT(x, w, algorithm="direct"))
