"""The illustrated tour: one self-contained HTML page (images inlined) walking the chapter.

It reuses :func:`tconv.tour.sections` for the chapter's examples (code, live
result, match) and adds a picture to each, then the general matrix view, the
chapter's exercise, the checkerboard map, boundary modes (where the border taps
fold back, :func:`tconv.tour.boundary_sections`) and an upsampling demo on a photograph.

>>> page = build_page("en")  # doctest: +SKIP
>>> "[[19, 25], [37, 43]]" in page.html  # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import functools
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..chapter import corr2d, kernel2matrix
from ..ops import conv, conv_transpose
from ..shapes import conv_output_shape, conv_transpose_output_shape
from .._timing import best_time
from ..tour import BOUNDARY_PT, WORDS as TOUR_WORDS, Section, boundary_sections, sections, translated
from . import render
from .folding import describe_fold, fold_view
from .matrix import single_channel_matrix
from .overlap import describe_overlap
from .texts import CHAPTER_EN_EXTRA, CHAPTER_PT, LANGS, PAGE
from .upsample import bilinear_kernel, to_uint8, upsample_array, upsampling_padding

X = np.array([[0.0, 1.0], [2.0, 3.0]])
K = np.array([[0.0, 1.0], [2.0, 3.0]])

Progress = Callable[[str], None]

#: Upsampling factor of the photograph demo.
DEMO_SCALE = 4


@dataclass
class Page:
    """The tour page: its HTML and, for tests, the section ids and the chapter's results as strings."""

    html: str
    section_ids: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    summary: str = ""


def compact(value: Any) -> str:
    """A result written the way the chapter prints it, integers without decimals.

    >>> compact(np.array([[19., 25.], [37., 43.]]))
    '[[19, 25], [37, 43]]'
    >>> compact(np.array([[True, True]])), compact(True)
    ('[[True, True]]', 'True')
    """
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    return str(arr.tolist())


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(data: bytes, mime: str, alt: str) -> str:
    return f'<img src="{_data_uri(data, mime)}" alt="{html.escape(alt)}">'


def _png(fig: Any, alt: str) -> str:
    data = render.to_bytes(fig, "png", dpi=90)
    return _img(data, "image/png", alt)


# ---------------------------------------------------------------------------
# pictures of the chapter sections


def _channels_picture() -> Any:
    small = conv_output_shape((16, 16), 5, stride=3, padding=2)
    back = conv_transpose_output_shape(small, 5, stride=3, padding=2)
    fig, ax = render.subplots(figsize=(7.5, 2.6))
    ax.set_label("shapes")
    boxes = [("X", (10,) + (16, 16)), ("conv(X)", (20,) + tuple(small)), ("conv_transpose(conv(X))", (10,) + tuple(back))]
    x0 = 0.0
    for name, (c, h, w) in boxes:
        ax.add_patch(render.require("matplotlib.patches").Rectangle((x0, 0), w, h, facecolor="#c6dbef", edgecolor="#333"))
        ax.text(x0 + w / 2, h + 1.2, f"{name}\n1x{c}x{h}x{w}", ha="center", va="bottom", fontsize=8)
        x0 += w + 8
    ax.set_xlim(-1, x0)
    ax.set_ylim(-1, 24)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


_WINDOW = {"en": "X (window of Y[0, 0])", "pt": "X (janela de Y[0, 0])"}
_DEMO = {
    "en": ("input {h}x{w}", "bilinear tconv x{s}: {H}x{W}", "constant 3x3 kernel, stride 2, twice: {H}x{W}"),
    "pt": ("entrada {h}x{w}", "tconv bilinear x{s}: {H}x{W}", "kernel 3x3 constante, passo 2, duas vezes: {H}x{W}"),
}


def _corr_picture(lang: str) -> Any:
    X9 = np.arange(9.0).reshape(3, 3)
    Y = corr2d(X9, K)
    fig, axes = render.subplots(1, 3, figsize=(6.5, 2.4))
    win = np.zeros((3, 3), bool)
    win[:2, :2] = True
    render.grid(axes[0], X9, label="input", title=_WINDOW[lang], highlight=win)
    render.grid(axes[1], K, label="kernel", title="K", color="#fdd0a2")
    first = np.zeros((2, 2), bool)
    first[0, 0] = True
    render.grid(axes[2], Y, label="output", title="Y = corr2d(X, K)", color="#c7e9c0", highlight=first)
    return fig


def _matvec_picture(M: np.ndarray, v: np.ndarray, title: str) -> Any:
    result = M @ v
    rows, cols = M.shape
    fig = render.figure(figsize=(max(5.0, (cols + 4) * 0.42), max(2.4, rows * 0.42 + 1)))
    gs = fig.add_gridspec(1, 3, width_ratios=[cols, 1.3, 1.3])
    render.grid(fig.add_subplot(gs[0]), M, label="matrix", title=title, color="#fdd0a2", show=M != 0)
    render.grid(fig.add_subplot(gs[1]), v[:, None], label="vector", title="x")
    render.grid(fig.add_subplot(gs[2]), result[:, None], label="product", title="=", color="#c7e9c0")
    return fig


def _matvec_w(lang: str) -> str:
    return _png(_matvec_picture(kernel2matrix(K), np.arange(9.0), "W"), "W times the flattened 3x3 input")


def _matvec_wt(lang: str) -> str:
    return _png(_matvec_picture(kernel2matrix(K).T, X.ravel(), "W.T"), "W.T times the flattened 2x2 input")


#: The picture of each chapter section of :func:`tconv.tour.sections`, by its (English) title; called with the language.
CHAPTER_PICTURES: dict[str, Callable[[str], str]] = {
    "The definition: scatter each input element times the kernel":
        lambda lang: _png(render.draw(X, K, lang=lang), "scatter of X times K"),
    "The same with the operator (a layer-free call)":
        lambda lang: _img(render.animate(X, K, view="both", frame_ms=700, lang=lang), "image/gif",
                          "scatter and convolution views, animated"),
    "Padding is applied to the output":
        lambda lang: _png(render.draw(X, K, padding=1, lang=lang), "padding crops the output"),
    "Stride is applied to the output":
        lambda lang: _png(render.draw(X, K, stride=2, lang=lang), "stride 2 spreads the blocks"),
    "Channels: a transposed convolution inverts a convolution's shape":
        lambda lang: _png(_channels_picture(), "shapes through conv and conv_transpose"),
    "The matrix view: a convolution": lambda lang: _png(_corr_picture(lang), "corr2d window sums"),
    "The kernel as a matrix": lambda lang: _png(render.matrix_picture(lang=lang), "W and W.T, nonzeros labelled"),
    "Convolution is W @ x": _matvec_w,
    "Transposed convolution is W.T @ x": _matvec_wt,
}


@functools.lru_cache(maxsize=None)
def _chapter_picture(title: str, lang: str) -> str:
    """The picture (an ``<img>``) of a chapter section (cached: the same numbers every time)."""
    if title not in CHAPTER_PICTURES:
        raise KeyError(f"no picture for the tour section {title!r}; add one to CHAPTER_PICTURES in {__name__}")
    return CHAPTER_PICTURES[title](lang)


# ---------------------------------------------------------------------------
# the extra sections


def _matrix_section(t: dict[str, str], lang: str) -> str:
    kernel = np.arange(1.0, 10.0).reshape(3, 3)
    m = single_channel_matrix(kernel, (5, 5), stride=2, padding=1)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 5)), rng.normal(size=m.output_shape)
    err_conv = np.abs(m.W @ x.ravel() - conv(x[None], kernel[None, None], stride=2, padding=1).ravel()).max()
    err_tconv = np.abs(m.W.T @ y.ravel() - conv_transpose(y[None], kernel[None, None], stride=2, padding=1).ravel()).max()
    fig = render.matrix_picture(kernel, (5, 5), stride=2, padding=1, lang=lang)
    body = f"<p>{html.escape(t['matrix_text'].format(err=max(err_conv, err_tconv)))}</p>"
    code = "tconv.viz.matrix_picture(np.arange(1., 10.).reshape(3, 3), (5, 5), stride=2, padding=1)"
    return body + f"<pre><code>{html.escape(code)}</code></pre>" + _png(fig, "W for stride 2, padding 1")


def measure_exercise(sizes: tuple[int, ...] = (8, 16, 32), repeats: int = 5) -> list[dict[str, Any]]:
    """Dense ``W @ x`` vs sparse ``W @ x`` vs :func:`tconv.conv` for n x n inputs and a 3x3 kernel."""
    sparse = __import__("scipy.sparse", fromlist=["csr_matrix"])
    kernel = np.arange(1.0, 10.0).reshape(3, 3)
    rows = []
    for n in sizes:
        W = single_channel_matrix(kernel, (n, n)).W
        Ws = sparse.csr_matrix(W)
        x = np.random.default_rng(n).normal(size=(n, n))
        xv, x4, w4 = x.ravel(), x[None, None], kernel[None, None]
        assert np.allclose(W @ xv, conv(x4, w4).ravel())
        rows.append({
            "n": n,
            "shape": f"{W.shape[0]}x{W.shape[1]}",
            "density": f"{np.count_nonzero(W) / W.size:.1%}",
            "bytes": f"{W.nbytes:,}",
            "dense": best_time(lambda: W @ xv, repeats),
            "sparse": best_time(lambda: Ws @ xv, repeats),
            "conv": best_time(lambda: conv(x4, w4), repeats),
        })
    return rows


def find_exercise_doc() -> Path | None:
    """The shipped ``docs/exercise.md`` (see :func:`tconv.tour.exercise_document`), when it exists."""
    from ..tour import exercise_document

    return exercise_document()


def markdown_to_html(text: str) -> str:
    """A small Markdown subset (headings, paragraphs, lists, code blocks, tables, inline code) to HTML.

    >>> markdown_to_html("# T\\n\\n| a | b |\\n|---|---|\\n| 1 | 2 |")
    '<h4>T</h4>\\n<table><tr><th>a</th><th>b</th></tr>\\n<tr><td>1</td><td>2</td></tr></table>'
    """
    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)

    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1 : j])) + "</code></pre>")
            i = j + 1
        elif line.startswith("#"):
            out.append(f"<h4>{inline(line.lstrip('#').strip())}</h4>")
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    tag = "th" if not rows else "td"
                    rows.append("<tr>" + "".join(f"<{tag}>{inline(c)}</{tag}>" for c in cells) + "</tr>")
                i += 1
            out.append("<table>" + "\n".join(rows) + "</table>")
        elif re.match(r"\s*[-*] ", line):
            items = []
            while i < len(lines) and re.match(r"\s*[-*] ", lines[i]):
                item = re.sub(r"^\s*[-*] ", "", lines[i])
                items.append(f"<li>{inline(item)}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif line.strip():
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#|\||```|\s*[-*] )", lines[i]):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{inline(' '.join(para))}</p>")
        else:
            i += 1
    return "\n".join(out)


def _exercise_section(t: dict[str, str]) -> str:
    doc = find_exercise_doc()
    if doc is not None:
        return f"<p>{html.escape(t['exercise_file'])}</p>" + markdown_to_html(doc.read_text(encoding="utf-8"))
    repeats = 5
    rows = measure_exercise(repeats=repeats)
    head = "".join(f"<th>{html.escape(t[c])}</th>" for c in
                   ("col_n", "col_shape", "col_density", "col_bytes", "col_dense", "col_sparse", "col_conv"))
    body = "".join(
        f"<tr><td>{r['n']}</td><td>{r['shape']}</td><td>{r['density']}</td><td>{r['bytes']}</td>"
        f"<td>{r['dense'] * 1e6:.1f} µs</td><td>{r['sparse'] * 1e6:.1f} µs</td><td>{r['conv'] * 1e6:.1f} µs</td></tr>"
        for r in rows
    )
    return (f"<p>{html.escape(t['exercise_live'].format(repeats=repeats))}</p>"
            f"<table><tr>{head}</tr>{body}</table><p>{html.escape(t['exercise_answer'])}</p>")


def _checker_section(t: dict[str, str], lang: str) -> str:
    parts = [f"<p>{html.escape(t['checker_text'])}</p>"]
    for k, s in ((3, 2), (4, 2)):
        parts.append(f"<p class='note'>{html.escape(describe_overlap(k, s, lang=lang))}</p>")
        parts.append(f"<pre><code>tconv.viz.overlap_map({k}, {s})</code></pre>")
        parts.append(_png(render.overlap_map(k, s, lang=lang), f"overlap map kernel {k} stride {s}"))
    parts.append(_png(render.overlap_map(3, 2, ndim=1, lang=lang), "overlap counts in 1-d"))
    return "\n".join(parts)


def sample_image() -> tuple[np.ndarray, str]:
    """A real photograph (matplotlib's bundled sample) as uint8 RGB, or a generated image; and which."""
    Image = render.require("PIL.Image", "the upsampling demo")
    try:
        from matplotlib import cbook

        with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as img:
            return np.asarray(img.convert("RGB")).copy(), "sample"
    except (OSError, ValueError, ImportError):
        yy, xx = np.mgrid[0:128, 0:128] / 127.0
        rgb = np.stack([xx, yy, 0.5 + 0.5 * np.sin(12 * np.hypot(xx - 0.5, yy - 0.5))], axis=-1)
        return (rgb * 255).astype(np.uint8), "generated_image"


@functools.lru_cache(maxsize=None)
def _upsample_picture(lang: str) -> tuple[str, tuple[int, int], tuple[int, int], str]:
    """The demo's picture, the input and output sizes and the image's source key (cached)."""
    image, source = sample_image()
    h0, w0 = image.shape[:2]
    step = max(1, min(h0, w0) // 64)
    small = image[::step, ::step][:64, :64]  # a small thumbnail makes the upsampling visible
    s = DEMO_SCALE
    up = to_uint8(upsample_array(small, s))
    ones = np.ones((3, 1, 3, 3))  # constant kernel: the uneven overlap shows as a checkerboard
    checker = np.moveaxis(small.astype(np.float64), -1, 0)
    for _ in range(2):  # two stride-2 layers, each rescaled to keep the mean brightness
        checker = conv_transpose(checker, ones, stride=2, padding=1, output_padding=1, groups=3)
        checker /= 9 / 4  # each input spreads 9 taps over 4 outputs: 2.25 taps per output on average
    checker = to_uint8(np.moveaxis(checker, 0, -1))
    fig, axes = render.subplots(1, 3, figsize=(10, 3.8))
    titles = [t.format(h=small.shape[0], w=small.shape[1], s=s, H=img.shape[0], W=img.shape[1])
              for t, img in zip(_DEMO[lang], (small, up, checker))]
    for ax, img, title in zip(axes, (small, up, checker), titles):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return _png(fig, "photograph upsampled by transposed convolutions"), small.shape[:2], up.shape[:2], source


def _verdict(section: Section, t: dict[str, str], ok: str) -> str:
    """The line under a result: ``ok`` when it matches, else what was expected."""
    if section.matches:
        return f"<p class='ok'>✓ {html.escape(ok)}</p>"
    return f"<p class='bad'>✗ {html.escape(t['differs'])} {html.escape(compact(section.expected))}</p>"


#: The boundary pictures: (input, kernel, hyper-parameters) drawn in each mode named.
BOUNDARY_PICTURES = (
    ([[1.0, 2.0, 3.0, 4.0]], [[1.0, 2.0, 3.0]], dict(padding=(0, 1)), ("zeros", "circular", "reflect", "replicate")),
    ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], [[1.0, 0.0], [2.0, 1.0]], dict(padding=1),
     ("circular", "reflect")),
)


def _boundary_section(t: dict[str, str], lang: str) -> str:
    """Boundary modes: the tour's live sections (:func:`tconv.tour.boundary_sections`) and where the border
    taps go, drawn for a 1-d and a 2-d case."""
    items = boundary_sections()
    if lang != "en":
        items = translated(items, BOUNDARY_PT)
    parts = [f"<p>{html.escape(t['boundary_text'])}</p>"]
    for section in items:
        parts.append(
            f"<h3>{html.escape(section.title)}</h3><p>{html.escape(section.text)}</p>"
            f"<pre><code>{html.escape(section.code)}</code></pre>"
            f"<pre class='result'>{html.escape(compact(section.result))}</pre>"
            + _verdict(section, t, TOUR_WORDS[lang]["as_expected"])
        )
    for x, kernel, hyper, modes in BOUNDARY_PICTURES:
        for mode in modes:
            view = fold_view(x, kernel, padding_mode=mode, **hyper)
            args = ", ".join(f"{k}={v!r}" for k, v in hyper.items())
            code = f"tconv.viz.draw_boundary({x}, {kernel}, {args}, padding_mode={mode!r})"
            parts.append(f"<p class='note'>{html.escape(describe_fold(view, lang))}</p>"
                         f"<pre><code>{html.escape(code)}</code></pre>")
            parts.append(_png(render.draw_fold(view, lang=lang), f"where padding_mode={mode} sends the border taps"))
    return "\n".join(parts)


def _upsample_section(t: dict[str, str], lang: str) -> str:
    s = DEMO_SCALE
    picture, (h, w), (H, W), source = _upsample_picture(lang)
    text = t["upsample_text"].format(s=s, k=bilinear_kernel(s).shape[0], p=upsampling_padding(s),
                                     h=h, w=w, H=H, W=W, source=t[source])
    code = f"tconv.viz.upsample_array(image, {s})   # or: tconv upsample in.png out.png --scale {s}"
    return f"<p>{html.escape(text)}</p><pre><code>{html.escape(code)}</code></pre>" + picture


# ---------------------------------------------------------------------------
# the page

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
section { border-top: 1px solid #ddd; padding-top: .6em; margin-top: 1.4em; }
pre { background: #f5f5f5; padding: .5em .8em; overflow-x: auto; }
img { max-width: 100%; display: block; margin: .6em 0; }
.ok { color: #1a7f37; } .bad { color: #cf222e; font-weight: bold; }
table { border-collapse: collapse; margin: .6em 0; } td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: right; }
.note { font-style: italic; }
"""


def _chapter_title_text(section: Section, lang: str) -> tuple[str, str]:
    if lang == "en":
        return section.title, section.text + CHAPTER_EN_EXTRA.get(section.title, "")
    if section.title not in CHAPTER_PT:
        raise KeyError(f"no Portuguese text for the tour section {section.title!r}; add it to tconv/viz/texts.py")
    title, text = CHAPTER_PT[section.title]
    small = (1, 20) + tuple(conv_output_shape((16, 16), 5, stride=3, padding=2))
    back = (1, 10) + tuple(conv_transpose_output_shape(small[2:], 5, stride=3, padding=2))
    return title, text.format(small="x".join(map(str, small)), back="x".join(map(str, back)))


def build_page(lang: str = "en", *, seed: int = 0, progress: Progress | None = None) -> Page:
    """Compute every example and picture and return the tour page."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    t = PAGE[lang]
    say = progress or (lambda _msg: None)
    items = sections(seed=seed)
    page = Page(html="")
    parts: list[str] = []
    extras = (("matrix", "matrix_title", lambda: _matrix_section(t, lang)),
              ("exercise", "exercise_title", lambda: _exercise_section(t)),
              ("checkerboard", "checker_title", lambda: _checker_section(t, lang)),
              ("boundary", "boundary_title", lambda: _boundary_section(t, lang)),
              ("upsampling", "upsample_title", lambda: _upsample_section(t, lang)))
    total = len(items) + len(extras)
    for index, section in enumerate(items):
        title, text = _chapter_title_text(section, lang)
        say(f"[{index + 1}/{total}] {section.title}")
        picture = _chapter_picture(section.title, lang)
        result = compact(section.result)
        verdict = (f"<p class='ok'>✓ {html.escape(t['matches'])}</p>" if section.matches else
                   f"<p class='bad'>✗ {html.escape(t['differs'])} {html.escape(compact(section.expected))}</p>")
        sid = f"chapter-{index + 1}"
        page.section_ids.append(sid)
        page.results.append(result)
        parts.append(
            f"<section id='{sid}'><h2>{index + 1}. {html.escape(title)}</h2><p>{html.escape(text)}</p>"
            f"<h3>{t['code']}</h3><pre><code>{html.escape(section.code)}</code></pre>"
            f"<h3>{t['result']}</h3><pre class='result'>{html.escape(result)}</pre>{verdict}{picture}</section>"
        )
    for offset, (sid, title_key, make) in enumerate(extras, len(items) + 1):
        say(f"[{offset}/{total}] {PAGE['en'][title_key]}")
        page.section_ids.append(sid)
        parts.append(f"<section id='{sid}'><h2>{offset}. {html.escape(t[title_key])}</h2>{make()}</section>")
    ok = sum(s.matches for s in items)
    page.summary = t["summary"].format(ok=ok, n=len(items))
    page.html = (
        f"<!DOCTYPE html>\n<html lang='{lang}'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(t['title'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(t['title'])}</h1><p>{html.escape(t['intro'])}</p>"
        f"<p><b>{html.escape(page.summary)}</b></p>" + "\n".join(parts)
        + f"<footer><p>{html.escape(t['footer'])} {html.escape(t['generated'].format(version=__version__))}</p>"
        "</footer></body></html>\n"
    )
    return page


def write_tour(out_dir: str | Path = ".", lang: str = "en", *, seed: int = 0, progress: Progress | None = None) -> tuple[Path, Page]:
    """Write ``tconv-tour-<lang>.html`` into ``out_dir`` (created if needed); returns its path and the page."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a directory, got the file {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    page = build_page(lang, seed=seed, progress=progress)
    path = out / f"tconv-tour-{lang}.html"
    path.write_text(page.html, encoding="utf-8")
    return path, page
