"""Boundary-mode pictures (tconv.viz.folding, render.draw_boundary, tconv draw --padding-mode): the data are the
operator (checked against torch.autograd's adjoint of the padded convolution), the drawing shows that data, and
the sentences say where each border tap really goes, in English and Portuguese."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tconv
from tconv import cli
from tconv.boundary import BOUNDARY_MODES, source_index
from tconv.shapes import full_size
from tconv.viz import folding, geometry

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _random_case(rng: np.random.Generator, mode: str):
    """A small 2-D case (sometimes 1 row: the 1-d picture) valid for ``mode``, or None."""
    h = 1 if rng.random() < 0.3 else int(rng.integers(1, 5))
    w = int(rng.integers(1, 5))
    kh = 1 if h == 1 else int(rng.integers(1, 4))
    kw = int(rng.integers(1, 4))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    out_pad = tuple(int(rng.integers(0, s)) for s in stride)  # < stride: torch's conv gives x's size back
    full = [full_size(n, k, s, d) for n, k, s, d in zip((h, w), (kh, kw), stride, dilation)]
    padding = tuple((int(rng.integers(0, f)), int(rng.integers(0, f))) if not (i == 0 and h == 1) else (0, 0)
                    for i, f in enumerate(full))
    out = [f - lo - hi + op for f, (lo, hi), op in zip(full, padding, out_pad)]
    if min(out) < 1:
        return None
    limit = {"reflect": lambda n: n - 1, "circular": lambda n: n}.get(mode, lambda n: 10**9)
    if any(max(p) > limit(n) for p, n in zip(padding, out)):
        return None
    x = rng.integers(-4, 6, size=(h, w)).astype(float)
    k = rng.integers(-3, 4, size=(kh, kw)).astype(float)
    return x, k, dict(stride=stride, padding=padding, dilation=dilation, output_padding=out_pad)


def _torch_adjoint(x, k, hyper, mode, out_shape):
    """conv_transpose as torch.autograd sees it: the gradient of <conv(F.pad(u, mode)), x> with respect to u."""
    u = torch.zeros((1, 1) + tuple(out_shape), dtype=torch.float64, requires_grad=True)
    (t, b), (l, r) = hyper["padding"]
    padded = F.pad(u, (l, r, t, b), mode="constant" if mode == "zeros" else mode)
    y = F.conv2d(padded, torch.from_numpy(k)[None, None], stride=hyper["stride"], dilation=hyper["dilation"])
    assert tuple(y.shape[2:]) == x.shape
    (grad,) = torch.autograd.grad((y * torch.from_numpy(x)[None, None]).sum(), u)
    return grad[0, 0].numpy()


def test_fold_view_is_the_operator_and_the_adjoint_of_the_padded_conv():
    rng = np.random.default_rng(5)
    compared = {mode: 0 for mode in BOUNDARY_MODES}
    while min(compared.values()) < 25:
        mode = BOUNDARY_MODES[int(rng.integers(4))]
        case = _random_case(rng, mode)
        if case is None:
            continue
        x, k, hyper = case
        v = folding.fold_view(x, k, padding_mode=mode, **hyper)
        want = tconv.conv_transpose(x[None, None], k[None, None], padding_mode=mode, **hyper)[0, 0]
        np.testing.assert_allclose(v.output, want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(v.output, _torch_adjoint(x, k, hyper, mode, v.output.shape), rtol=0, atol=1e-12)
        # the padded extent is the uncropped scatter picture (plus output_padding), the output its folded interior
        uncropped = geometry.scatter(x, k, stride=hyper["stride"], dilation=hyper["dilation"],
                                     output_padding=hyper["output_padding"]).output
        np.testing.assert_array_equal(v.padded, uncropped)
        np.testing.assert_allclose(v.output, v.padded[v.keep] + v.folded, rtol=0, atol=1e-12)
        # each border cell's target, added up by hand, is the folded border
        by_hand = np.zeros(v.output.shape)
        for (a, b), value in np.ndenumerate(v.padded):
            r, c = v.target[a, b]
            if v.border_mask()[a, b] and r >= 0:
                by_hand[r, c] += value
            elif not v.border_mask()[a, b]:
                assert (r, c) == (a - v.pairs[0][0], b - v.pairs[1][0])  # inside: itself
        np.testing.assert_allclose(by_hand, v.folded, rtol=0, atol=1e-12)
        if mode == "zeros":
            assert not v.folded.any() and (v.target[v.border_mask()] == -1).all()
        compared[mode] += 1
    assert all(n >= 25 for n in compared.values())


def test_fold_view_refuses_what_the_operator_refuses():
    with pytest.raises(ValueError, match="padding_mode"):
        folding.fold_view([[1.0, 2.0]], [[1.0]], padding_mode="wrap")
    with pytest.raises(ValueError, match="padding_mode='reflect' needs padding smaller than the output size"):
        folding.fold_view([[1.0, 2.0]], [[1.0, 1.0]], padding=(0, 1), padding_mode="reflect")
    with pytest.raises(ValueError, match="x must have sides between 1 and 12"):
        folding.fold_view(np.ones((1, 13)), [[1.0]])


def _moves_in(text: str) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """``output[-1] -> output[3]`` (or ``saída[..]``, 2-d ``[r,c]``) pairs read back from a sentence."""
    cell = r"\w+\[(-?\d+)(?:,(-?\d+))?\]"
    out = []
    for m in re.finditer(cell + " -> " + cell, text):
        a, b, c, d = m.groups()
        out.append(((int(a),) if b is None else (int(a), int(b)), (int(c),) if d is None else (int(c), int(d))))
    return out


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_the_sentence_says_where_each_border_tap_goes(lang):
    """Read the moves back from the sentence and check each on the operator: a 1-tap transposed convolution
    whose tap lands on that border position puts it on the output entry named."""
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(40):
        mode = ("circular", "reflect", "replicate")[int(rng.integers(3))]
        n = int(rng.integers(2, 6))  # at most 12 padded entries: small enough to draw
        lo, hi = (int(rng.integers(0, min(n if mode == "reflect" else n + 1, 4))) for _ in range(2))
        if lo + hi == 0:
            continue
        x = np.arange(1.0, n + lo + hi + 1)[None]  # 1-tap kernel: the output is x cropped by the padding
        v = folding.fold_view(x, [[1.0]], padding=(0, (lo, hi)), padding_mode=mode)
        text = folding.describe_fold(v, lang, limit=100)
        rule = {"en": "output", "pt": "saída"}[lang]
        assert text.startswith(f"padding_mode={mode!r}: ") and f"{rule}[" in text
        moves = _moves_in(text)
        assert len(moves) == lo + hi
        for (j,), (i,) in moves:
            e = np.zeros((1, 1, n + lo + hi))
            e[0, 0, j + lo] = 1.0
            got = tconv.conv_transpose(e, np.ones((1, 1, 1)), padding=((lo, hi),), padding_mode=mode)[0, 0]
            assert got.tolist() == [float(t == i) for t in range(n)], (text, j, i)
            assert source_index(n, lo, hi, mode)[j + lo] == i
            checked += 1
    assert checked >= 80
    zeros = folding.describe_fold(folding.fold_view([[1.0, 2, 3]], [[1.0, 1]], padding=(0, 1), padding_mode="zeros"),
                                  lang)
    assert {"en": "cropped", "pt": "recortadas"}[lang] in zeros
    none = folding.describe_fold(folding.fold_view([[1.0, 2]], [[1.0]], padding_mode="circular"), lang)
    assert {"en": "changes nothing", "pt": "não muda nada"}[lang] in none


def test_two_d_moves_are_the_product_of_the_per_dim_moves():
    v = folding.fold_view(np.arange(9.0).reshape(3, 3), [[1.0, 0.0], [2.0, 1.0]], padding=1, padding_mode="reflect")
    rows, cols = source_index(2, 1, 1, "reflect"), source_index(2, 1, 1, "reflect")
    moves = folding.fold_moves(v)
    assert len(moves) == 4 * 4 - 2 * 2
    for (a, b), (r, c) in moves:
        assert (r, c) == (rows[a + 1], cols[b + 1])
    assert _moves_in(folding.describe_fold(v, limit=100)) == moves


# ---------------------------------------------------------------------------
# the drawing shows those numbers


def _numbers(cells: dict, shape) -> np.ndarray:
    out = np.full(shape, np.nan)
    for (r, c), text in cells.items():
        out[r, c] = float(text.split("\n")[0])
    return out


@pytest.mark.parametrize("lang", ["en", "pt"])
@pytest.mark.parametrize("mode", BOUNDARY_MODES)
def test_draw_boundary_writes_the_operator_numbers_and_destinations(lang, mode):
    pytest.importorskip("matplotlib")
    from tconv.viz import render

    x, k = np.array([[1.0, -2.0, 3.0], [0.0, 4.0, 1.0], [2.0, 1.0, -1.0]]), np.array([[1.0, 2.0], [3.0, -1.0]])
    hyper = dict(stride=2, padding=((1, 1), (1, 0)), output_padding=(1, 0))
    fig = render.draw_boundary(x, k, padding_mode=mode, lang=lang, **hyper)
    want = tconv.conv_transpose(x[None, None], k[None, None], padding_mode=mode, **hyper)[0, 0]
    out = render.panel(fig, "output")
    np.testing.assert_array_equal(_numbers(render.read_cells(out), want.shape), want)
    v = folding.fold_view(x, k, padding_mode=mode, **hyper)
    padded = render.read_cells(render.panel(fig, "padded"))
    np.testing.assert_array_equal(_numbers(padded, v.padded.shape), v.padded)
    border = v.border_mask()
    for (a, b), text in padded.items():
        label = text.split("\n")[1] if "\n" in text else None
        assert (label is not None) == border[a, b]
        if label is not None:
            r, c = v.target[a, b]
            assert label == ("x" if r < 0 else f"->{r},{c}")
    np.testing.assert_array_equal(_numbers(render.read_cells(render.panel(fig, "folded")), want.shape), v.folded)
    title = {"en": "output = interior", "pt": "saída = interior"}[lang]
    assert title in out.get_title().replace("\n", " ")
    assert f"padding_mode={mode!r}" in fig.get_suptitle()


# ---------------------------------------------------------------------------
# tconv draw --padding-mode


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_draw_command_draws_the_boundary_mode(tmp_path, capsys, lang):
    pytest.importorskip("matplotlib")
    from tconv.viz.tour_page import compact

    out = tmp_path / "b.png"
    args = ["draw", "--x", "1,2,3,4", "--kernel", "1,2,3", "--padding", "0,1", "--padding-mode", "circular",
            "--lang", lang, "-o", str(out)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    x, k = np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, 2.0, 3.0]]])
    want = tconv.conv_transpose(x, k, padding=1, padding_mode="circular")[0]
    full = tconv.conv_transpose(x, k)[0]
    assert f"output = {compact(want)}" in printed and f"padded extent = {compact(full)}" in printed
    word = {"en": "output", "pt": "saída"}[lang]
    assert f"{word}[-1] -> {word}[3], {word}[4] -> {word}[0]" in printed
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["draw", "--x", "1,2", "--kernel", "1,1", "--padding", "0,1", "--padding-mode", "reflect",
                     "-o", str(tmp_path / "r.svg")]) == 1
    assert "padding_mode='reflect' needs padding smaller" in capsys.readouterr().err
    assert cli.main(["draw", "--padding-mode", "wrap"]) == 2


def test_draw_command_routes_the_mode_and_hyper_parameters(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from tconv.viz import render

    calls = []
    monkeypatch.setattr(render, "draw_boundary", lambda *a, **kw: calls.append(kw))
    monkeypatch.setattr(render, "draw", lambda *a, **kw: pytest.fail("the plain drawing was used"))
    result = CliRunner().invoke(cli.build_cli(), ["draw", "--stride", "2", "--padding", "1", "--output-padding", "1",
                                                  "--padding-mode", "replicate", "-o", str(tmp_path / "f.svg")])
    assert result.exit_code == 0, result.output
    assert {k: calls[-1][k] for k in ("stride", "padding", "output_padding", "padding_mode")} == dict(
        stride=2, padding=1, output_padding=1, padding_mode="replicate")
    v = folding.fold_view([[0.0, 1.0], [2.0, 3.0]], [[0.0, 1.0], [2.0, 3.0]], stride=2, padding=1, output_padding=1,
                          padding_mode="replicate")
    assert f"output = {v.output.astype(int).tolist()}" in result.output
