"""The terminal tour's boundary-mode step (tconv.tour.boundary_sections), in English and Portuguese: its live
numbers are PyTorch's (the adjoint of the padded convolution, by autograd) and the text prints them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tconv import cli
from tconv.boundary import BOUNDARY_MODES
from tconv.tour import BOUNDARY_PT, WORDS, boundary_sections, tour_text, translated

torch = pytest.importorskip("torch")
F = torch.nn.functional

X, K = [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]
U, Y = [2.0, 0.0, 1.0, 3.0], [1.0, -1.0, 2.0, 1.0]


def _t(values):
    return torch.tensor(values, dtype=torch.float64)[None, None]


def _torch_conv(u, mode):
    padded = F.pad(u, (1, 1), mode="constant" if mode == "zeros" else mode)
    return F.conv1d(padded, _t(K))


def _torch_conv_transpose(y, mode):
    """The adjoint of the padded convolution, by autograd: the gradient of <conv(u), y> in u."""
    u = torch.zeros((1, 1, 4), dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad((_torch_conv(u, mode) * y).sum(), u)
    return grad[0, 0].numpy()


def test_the_boundary_step_computes_torchs_numbers():
    wrap, adjoint = boundary_sections()
    assert wrap.matches and adjoint.matches
    zeros, circular = (_torch_conv_transpose(_t(X), m) for m in ("zeros", "circular"))
    np.testing.assert_array_equal(wrap.result, np.stack([zeros, circular]))
    assert circular.tolist() == [16.0, 10.0, 16.0, 18.0] and zeros.tolist() == [4.0, 10.0, 16.0, 17.0]
    compared = 0
    for mode, got, want in zip(BOUNDARY_MODES, adjoint.result, adjoint.expected):
        forward = float((_torch_conv(_t(U), mode) * _t(Y)).sum())
        backward = float((_t(U)[0, 0].numpy() * _torch_conv_transpose(_t(Y), mode)).sum())
        assert got == backward and want == forward and forward == backward
        compared += 1
    assert compared == 4
    # the text names the live values: the full output, both results, the taps that wrap
    fill = dict(wrap.fill)
    assert fill["full"] == "[1, 4, 10, 16, 17, 12]" and fill["circular"] == "[16, 10, 16, 18]"
    assert f"the {fill['front']} before the first output" in wrap.text and fill["back"] == "12"
    assert "circular 37 = 37" in adjoint.text  # <conv(u), y> = <u, conv_transpose(y)> in each mode


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_the_terminal_tour_prints_the_boundary_step(lang):
    from tconv.viz.texts import CHAPTER_PT, PAGE

    words = {} if lang == "en" else dict(page=PAGE[lang], chapter=CHAPTER_PT)
    text, ok = tour_text(lang=lang, **words)
    assert ok
    head = WORDS[lang]["boundary"]
    assert head in text
    step = text[text.index(head):]
    items = boundary_sections() if lang == "en" else translated(boundary_sections(), BOUNDARY_PT)
    for number, section in enumerate(items, 12):
        assert f"{number}. {section.title}" in step
        assert section.text in step  # the live values filled in
    printed = [float(v) for v in re.findall(r"-?\d+\.", step.split(items[1].title)[1].split("\n\n")[0].split(">>>")[1])]
    want = [float((np.array(U) * _torch_conv_transpose(_t(Y), m)).sum()) for m in BOUNDARY_MODES]
    assert printed[-4:] == want
    assert step.count(WORDS[lang]["as_expected"]) == 2
    if lang == "pt":
        assert "dão a volta" in step and "[16, 10, 16, 18]" in step


def test_every_boundary_section_has_a_portuguese_text():
    assert set(BOUNDARY_PT) == {s.title for s in boundary_sections()}
    for s in translated(boundary_sections(), BOUNDARY_PT):
        assert "{" not in s.text  # every live value filled in


def test_tour_command_prints_the_boundary_step_in_portuguese(capsys):
    assert cli.main(["tour", "--text", "--lang", "pt"]) == 0
    out = capsys.readouterr().out
    assert WORDS["pt"]["boundary"] in out and "como esperado" in out
