"""The illustrated tour page (EN and PT), the `tconv` command line, and the tour in a real browser."""

from __future__ import annotations

import base64
import html
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest

from tconv import cli
from tconv.tour import sections

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from tconv.viz import tour_page  # noqa: E402
from tconv.viz.texts import CHAPTER_PT, PAGE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT_DIR = Path(os.environ.get("TCONV_SCREENSHOT_DIR", ROOT / "build" / "browser"))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    return {lang: tour_page.write_tour(out, lang) for lang in ("en", "pt")}


def _chapter_results() -> list[str]:
    return [tour_page.compact(s.expected) for s in sections()]


def test_page_contains_every_chapter_result_and_is_self_contained(pages):
    for lang, (path, page) in pages.items():
        text = path.read_text(encoding="utf-8")
        for result in _chapter_results():
            assert html.escape(result) in text, (lang, result)
        assert "[[19, 25], [37, 43]]" in text
        assert "9 of 9" in text or "9 de 9" in text
        # one file: every image is an inline data URI that decodes to a real picture
        sources = re.findall(r'<img src="([^"]+)"', text)
        assert len(sources) >= 13 and all(s.startswith("data:image/") for s in sources)
        assert not re.search(r'(src|href)="(http|file|/)', text)
        for src in sources:
            with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
                assert im.width > 50 and im.height > 50


def test_english_and_portuguese_have_the_same_sections(pages):
    en, pt = pages["en"][1], pages["pt"][1]
    assert en.section_ids == pt.section_ids and len(en.section_ids) == len(sections()) + 5
    assert en.results == pt.results
    ids = lambda p: re.findall(r"<section id='([^']+)'", p.read_text(encoding="utf-8"))  # noqa: E731
    assert ids(pages["en"][0]) == ids(pages["pt"][0]) == en.section_ids
    assert "<html lang='pt'>" in pages["pt"][0].read_text(encoding="utf-8")
    titles = {s.title for s in sections()}
    assert set(CHAPTER_PT) == titles and set(tour_page.CHAPTER_PICTURES) == titles  # text and picture for each
    assert PAGE["en"].keys() == PAGE["pt"].keys()
    pt_text = pages["pt"][0].read_text(encoding="utf-8")
    for title, _ in CHAPTER_PT.values():
        assert html.escape(title) in pt_text


def test_exercise_section_uses_the_doc_when_present(monkeypatch, tmp_path):
    doc = tmp_path / "exercise.md"
    doc.write_text("# Answer\n\n| n | time |\n|---|---|\n| 8 | 1 us |\n")
    monkeypatch.setattr(tour_page, "find_exercise_doc", lambda: doc)
    section = tour_page._exercise_section(PAGE["en"])
    assert "<h4>Answer</h4>" in section and "<td>1 us</td>" in section


def test_exercise_measurement_is_real():
    rows = tour_page.measure_exercise(sizes=(6, 10), repeats=1)
    assert [r["shape"] for r in rows] == ["16x36", "64x100"]
    assert all(r["dense"] > 0 and r["sparse"] > 0 and r["conv"] > 0 for r in rows)


def test_compact_prints_like_the_chapter():
    assert tour_page.compact(np.array([[[[4.0]]]])) == "[[[[4]]]]"
    assert tour_page.compact(np.array([0.5, 1.0])) == "[0.5, 1.0]"


# ---------------------------------------------------------------------------
# command line


def test_help_is_complete(capsys):
    assert cli.main(["--help"]) == 0
    top = capsys.readouterr().out
    names = [c.name for c in cli.COMMANDS]
    assert {"tour", "draw", "animate", "overlap", "upsample"} <= set(names)
    for name in names:
        assert name in top
        assert cli.main([name, "--help"]) == 0
        text = capsys.readouterr().out
        assert f"Usage: tconv {name}" in text
        for param in cli.COMMANDS[names.index(name)].params:
            if param.param_type_name == "option":
                assert param.opts[-1] in text and (param.help or param.is_flag)


def test_tour_command_prints_text_and_writes_html(pages, tmp_path, capsys):
    # pictures are computed once per process (cached), so this reuses the fixture's work
    assert cli.main(["tour", "--lang", "pt", "--out", str(tmp_path / "site")]) == 0
    captured = capsys.readouterr()
    assert "9 de 9 exemplos do capítulo reproduzidos." in captured.out  # the terminal tour is Portuguese too
    assert "tconv-tour-pt.html" in captured.out and "[14/14]" in captured.err
    written = (tmp_path / "site" / "tconv-tour-pt.html").read_text(encoding="utf-8")
    assert "[[19, 25], [37, 43]]" in written and "<html lang='pt'>" in written


def test_tour_without_the_viz_extra_prints_the_text_tour(monkeypatch, capsys):
    import tconv.viz

    monkeypatch.setattr(tconv.viz, "available", lambda: False)
    assert cli.main(["tour"]) == 0
    captured = capsys.readouterr()
    assert "tconv tour:" in captured.out and 'pip install "tconv[viz]"' in captured.err


def test_draw_animate_overlap_upsample_commands(tmp_path, capsys):
    out = tmp_path / "d.png"
    assert cli.main(["draw", "--stride", "2", "-o", str(out)]) == 0
    assert "[[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]" in capsys.readouterr().out
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["draw", "--x", "1,2,3", "--kernel", "1;1", "--padding", "0,1", "-o", str(tmp_path / "d.svg")]) == 0
    assert "output = [[2], [2]]" in capsys.readouterr().out
    assert cli.main(["animate", "--view", "scatter", "--frame-ms", "100", "-o", str(tmp_path / "a.gif")]) == 0
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 4
    assert cli.main(["overlap", "3", "2", "--input-size", "3"]) == 0
    assert "[1, 1, 2, 1, 2, 1, 1]" in capsys.readouterr().out
    Image.fromarray(np.full((4, 6, 3), 200, np.uint8)).save(tmp_path / "in.png")
    assert cli.main(["upsample", str(tmp_path / "in.png"), str(tmp_path / "up.png"), "--scale", "3"]) == 0
    with Image.open(tmp_path / "up.png") as im:
        assert im.size == (18, 12) and np.all(np.asarray(im) == 200)


def test_commands_report_bad_input_clearly(tmp_path, capsys):
    assert cli.main(["draw", "--x", "1,a"]) == 2
    assert "Invalid value for '--x'" in capsys.readouterr().err
    assert cli.main(["draw", "--stride", "0", "-o", str(tmp_path / "x.svg")]) == 1
    assert "Error: stride" in capsys.readouterr().err
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "one.png")
    assert cli.main(["upsample", str(tmp_path / "one.png"), str(tmp_path / "o.png"), "--scale", "2"]) == 1
    assert "at least 2x2 pixels" in capsys.readouterr().err
    assert cli.main(["upsample", str(tmp_path / "one.png"), str(tmp_path / "o.png"), "--scale", "1000"]) == 1
    assert "scale must be an integer between 1 and 32" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# the tour in a real browser


def _chromium() -> str:
    from chromium import find_chromium

    exe = find_chromium()
    if exe is None:
        if os.environ.get("TCONV_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (TCONV_REQUIRE_BROWSER is set) but was not found")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    return exe


@pytest.mark.browser
def test_browser_harness_catches_errors_and_broken_images(tmp_path):
    from chromium import inspect_page

    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>x</p><img src='data:image/png;base64,AAAA'>"
                   "<script>console.error('boom')</script></body></html>")
    report = inspect_page(bad, _chromium())
    assert any("boom" in e for e in report.console_errors)
    assert report.images and report.images[0]["naturalWidth"] == 0


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "pt"])
def test_tour_in_headless_chromium(pages, lang):
    from chromium import inspect_page

    path, page = pages[lang]
    report = inspect_page(path, _chromium())
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / f"tour-{lang}.png"
    shot.write_bytes(report.screenshot)
    print(f"screenshot: {shot}")
    assert report.console_errors == []
    assert len(report.images) >= 13
    assert all(img["complete"] and img["naturalWidth"] > 0 for img in report.images), report.images
    for result in _chapter_results():
        assert result in report.text, result
    with Image.open(shot) as im:
        assert im.width == 1200 and im.height > 3000


def test_boundary_section_shows_the_live_step_and_pictures_in_both_languages(pages):
    from tconv.tour import BOUNDARY_PT, WORDS, boundary_sections, translated
    from tconv.viz.folding import describe_fold, fold_view

    import tconv

    for lang, (path, page) in pages.items():
        text = path.read_text(encoding="utf-8")
        section = text.split("<section id='boundary'>")[1].split("</section>")[0]
        assert html.escape(PAGE[lang]["boundary_title"]) in section
        items = boundary_sections() if lang == "en" else translated(boundary_sections(), BOUNDARY_PT)
        for s in items:
            assert html.escape(s.title) in section and html.escape(s.text) in section
            assert f"<pre class='result'>{html.escape(tour_page.compact(s.result))}</pre>" in section
        assert section.count(WORDS[lang]["as_expected"]) == len(items)
        # the circular wrap computed now by the operator is what the page prints
        x, k = np.array([[[1.0, 2, 3, 4]]]), np.array([[[1.0, 2, 3]]])
        circular = tconv.conv_transpose(x, k, padding=1, padding_mode="circular")[0, 0]
        assert tour_page.compact(circular)[1:-1] in section
        pictures = 0
        for x2, k2, hyper, modes in tour_page.BOUNDARY_PICTURES:
            for mode in modes:
                assert html.escape(describe_fold(fold_view(x2, k2, padding_mode=mode, **hyper), lang)) in section
                pictures += 1
        assert section.count("data:image/png") == pictures == 6
