"""matplotlib renderers: they draw the numbers computed in :mod:`.geometry`, :mod:`.overlap` and :mod:`.matrix`.

Every panel is an axes whose label (``ax.get_label()``) names what it shows
(``"input"``, ``"kernel"``, ``"contribution 0,1"``, ``"sum"``, ``"output"``,
``"W"``, ...) and every number in a cell is a text artist, so tests can read
the drawing back and compare it with the operator.

Figures are built with matplotlib's object-oriented API (``Figure`` with an
Agg canvas, :func:`tconv.viz._deps.figure`): drawing never changes the
backend, ``rcParams`` or pyplot's list of open figures.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import folding, geometry, matrix, overlap
from ._deps import colormap, figure, pyplot, require, subplots  # noqa: F401 (pyplot: kept for callers)

_CELL = 0.42  # inches per grid cell
_INPUT, _KERNEL, _SUM, _HIT = "#9ecae1", "#fdd0a2", "#c7e9c0", "#fb6a4a"
_CROP = "#e3e3e3"
#: Most contribution panels :func:`draw` shows (one per input element); bigger inputs show the sum only.
MAX_CONTRIBUTION_PANELS = 36


#: The words written in the pictures.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "input": "input x", "kernel": "kernel K", "sum": "sum (grey: cropped)", "output": "output",
        "title": "transposed convolution", "step": "step {m} of {n}", "scatter": "scatter: x",
        "conv": "conv: padded input", "position": "output position", "taps": "taps",
        "matrix": "kernel {kh}x{kw} on a {h}x{w} input (blank cells are zeros)",
        "panels": "(one panel per input element is drawn up to {n} elements)",
        "padded": "padded extent (-> where a border tap goes)", "folded": "border taps, folded back",
        "folded_out": "output = interior + folded border", "fold_title": "transposed convolution",
    },
    "pt": {
        "input": "entrada x", "kernel": "kernel K", "sum": "soma (cinza: recortado)", "output": "saída",
        "title": "convolução transposta", "step": "etapa {m} de {n}", "scatter": "espalhar: x",
        "conv": "conv: entrada preenchida", "position": "posição na saída", "taps": "contribuições",
        "matrix": "kernel {kh}x{kw} numa entrada {h}x{w} (células vazias são zeros)",
        "panels": "(um painel por elemento da entrada é desenhado até {n} elementos)",
        "padded": "extensão preenchida (-> para onde vai cada borda)", "folded": "bordas dobradas de volta",
        "folded_out": "saída = interior + bordas dobradas", "fold_title": "convolução transposta",
    },
}


def words(lang: str) -> dict[str, str]:
    """The picture words for ``lang`` ("en" or "pt")."""
    if lang not in WORDS:
        raise ValueError(f"lang must be one of {sorted(WORDS)}, got {lang!r}")
    return WORDS[lang]


def cell_text(value: float) -> str:
    """How a number is written in a cell: integers plainly, others with 3 significant digits.

    >>> cell_text(4.0), cell_text(-0.5), cell_text(1 / 3)
    ('4', '-0.5', '0.333')
    """
    v = float(value)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"


def grid(
    ax: Any,
    values: np.ndarray,
    *,
    label: str,
    title: str = "",
    color: str = _INPUT,
    show: np.ndarray | None = None,
    shade: np.ndarray | None = None,
    highlight: np.ndarray | None = None,
    texts: np.ndarray | None = None,
    dim: np.ndarray | None = None,
) -> None:
    """Draw ``values`` as a grid of cells with their numbers (only where ``show``).

    ``shade`` marks cells greyed out (cropped padding), ``dim`` cells left
    white although their number is shown (inserted zeros), ``highlight`` cells
    outlined in red; ``texts`` replaces the numbers with other strings.
    """
    patches = require("matplotlib.patches")
    values = np.atleast_2d(values)
    rows, cols = values.shape
    show = np.ones(values.shape, bool) if show is None else show
    ax.set_label(label)
    for r in range(rows):
        for c in range(cols):
            face = color if show[r, c] and (dim is None or not dim[r, c]) else "white"
            shaded = shade is not None and bool(shade[r, c])
            if shaded:
                face = _CROP
            ax.add_patch(patches.Rectangle((c, r), 1, 1, facecolor=face, edgecolor="#555555", lw=0.8))
            if shaded:  # light hatching over the grey, so the number stays readable
                ax.add_patch(patches.Rectangle((c, r), 1, 1, fill=False, edgecolor="#b0b0b0", lw=0,
                                               hatch="//"))
            if highlight is not None and highlight[r, c]:
                ax.add_patch(patches.Rectangle((c + 0.05, r + 0.05), 0.9, 0.9, fill=False,
                                               edgecolor=_HIT, lw=2.2))
            if show[r, c]:
                text = cell_text(values[r, c]) if texts is None else str(texts[r, c])
                ax.text(c + 0.5, r + 0.5, text, ha="center", va="center", fontsize=9)
    ax.set_xlim(-0.05, cols + 0.05)
    ax.set_ylim(rows + 0.05, -0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)


def read_cells(ax: Any) -> dict[tuple[int, int], str]:
    """The strings written into an axes' cells, keyed by (row, column): a drawing read back."""
    return {(int(t.get_position()[1]), int(t.get_position()[0])): t.get_text() for t in ax.texts}


def panel(fig: Any, label: str) -> Any:
    """The axes of ``fig`` labelled ``label``."""
    for ax in fig.axes:
        if ax.get_label() == label:
            return ax
    raise KeyError(f"no panel labelled {label!r}; panels: {[a.get_label() for a in fig.axes]}")


def to_bytes(fig: Any, fmt: str = "png", dpi: int = 110) -> bytes:
    """Render a figure to PNG or SVG bytes."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"format must be 'png' or 'svg', got {fmt!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save(fig: Any, path: str | Path) -> Path:
    """Write a figure; the format (``.png`` or ``.svg``) follows the suffix."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"path must end in .png or .svg, got {str(path)!r}")
    path.write_bytes(to_bytes(fig, fmt))
    return path


def _hyper(s: geometry.Scatter) -> str:
    pads = tuple(tuple(p) for p in s.padding)
    return f"stride={s.stride}, padding={pads}, dilation={s.dilation}, output_padding={s.output_padding}"


def _figure(nrows: int, ncols: int, width_cells: float, height_cells: float) -> Any:
    return figure(figsize=(max(4.0, width_cells * _CELL), max(2.0, height_cells * _CELL)))


def draw_scatter(s: geometry.Scatter, *, title: str | None = None, lang: str = "en") -> Any:
    """The chapter's figure for precomputed scatter data (see :func:`draw`)."""
    w_ = words(lang)
    h, w = s.x.shape
    ch, cw = s.canvas_shape
    n = h * w if h * w <= MAX_CONTRIBUTION_PANELS else 0
    cols = max(4, min(n, 6))
    rows = 1 + -(-n // cols)
    fig = _figure(rows, cols, cols * (cw + 1.5), rows * (ch + 2.2))
    gs = fig.add_gridspec(rows, cols)
    grid(fig.add_subplot(gs[0, 0]), s.x, label="input", title=w_["input"])
    grid(fig.add_subplot(gs[0, 1]), s.kernel, label="kernel", title=w_["kernel"], color=_KERNEL)
    crop = s.cropped_mask()
    grid(fig.add_subplot(gs[0, 2]), s.total, label="sum", title=w_["sum"], color=_SUM, shade=crop)
    grid(fig.add_subplot(gs[0, 3]), s.output, label="output", title=w_["output"], color=_SUM)
    for m in range(n):
        i, j = divmod(m, w)
        ax = fig.add_subplot(gs[1 + m // cols, m % cols])
        foot = s.footprint(i, j)
        grid(ax, s.contributions[i, j], label=f"contribution {i},{j}", title=f"x[{i},{j}] * K",
             color=_KERNEL, show=foot, shade=crop)
    note = "" if n else "\n" + w_["panels"].format(n=MAX_CONTRIBUTION_PANELS)
    fig.suptitle((title or f"{w_['title']}: {_hyper(s)}") + note, fontsize=10)
    return fig


def draw(
    x: Any,
    kernel: Any,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    output_padding: Any = 0,
    path: str | Path | None = None,
    lang: str = "en",
) -> Any:
    """The chapter's figure for a small 2-D single-channel transposed convolution.

    Input grid, kernel, every input element's contribution ``x[i, j] * K``
    on the uncropped canvas, their sum with the cropped padding shaded, and
    the output; the number in every cell.  Returns the matplotlib figure and
    writes it to ``path`` (``.png`` or ``.svg``) when given; ``lang`` ("en"
    or "pt") is the language of the panel titles.

    >>> fig = draw([[0., 1], [2, 3]], [[0., 1], [2, 3]], padding=1)
    >>> read_cells(panel(fig, "output"))
    {(0, 0): '4'}
    """
    s = geometry.scatter(x, kernel, stride=stride, padding=padding, dilation=dilation, output_padding=output_padding)
    fig = draw_scatter(s, lang=lang)
    if path is not None:
        save(fig, path)
    return fig


# ---------------------------------------------------------------------------
# boundary modes


def fold_texts(v: folding.Fold) -> np.ndarray:
    """What each cell of the padded-extent panel says: its value, and on the border where it goes
    (``->r,c``, ``->c`` in 1-d, ``x`` where ``"zeros"`` drops it).

    >>> fold_texts(folding.fold_view([[1., 2, 3, 4]], [[1., 1, 1]], padding=(0, 1))).tolist()
    [['1\\n->3', '3', '6', '9', '7', '4\\n->0']]
    """
    border = v.border_mask()
    out = np.empty(v.padded.shape, dtype=object)
    for (a, b), value in np.ndenumerate(v.padded):
        text = cell_text(value)
        if border[a, b]:
            r, c = v.target[a, b]
            text += "\nx" if r < 0 else (f"\n->{c}" if v.one_dimensional else f"\n->{r},{c}")
        out[a, b] = text
    return out


def _paint(ax: Any, colours: dict[tuple[int, int], Any]) -> None:
    """Fill the cells ``(row, col)`` of a :func:`grid` with their colours (under the numbers)."""
    patches = require("matplotlib.patches")
    for (r, c), colour in colours.items():
        ax.add_patch(patches.Rectangle((c, r), 1, 1, facecolor=colour, edgecolor="#555555", lw=0.8, zorder=1.5))


def draw_fold(v: folding.Fold, *, lang: str = "en") -> Any:
    """The boundary figure for precomputed fold data (see :func:`draw_boundary`)."""
    w_ = words(lang)
    border = v.border_mask()
    dropped = border & (v.target[..., 0] < 0)
    moves = folding.fold_moves(v)
    destinations = sorted({to for _, to in moves})
    cmap = colormap("tab20")
    colour = {d: cmap(i % 20) for i, d in enumerate(destinations)}
    lo0, lo1 = v.pairs[0][0], v.pairs[1][0]
    (ph, pw), ow = v.padded.shape, v.output.shape[1]
    widths = [v.x.shape[1], v.kernel.shape[1], pw, ow, ow]
    height = max(ph, v.x.shape[0], v.kernel.shape[0])
    fig = figure(figsize=(max(8.0, (sum(widths) + 5) * _CELL * 1.2), (height + 4.5) * _CELL), layout="constrained")
    gs = fig.add_gridspec(1, 5, width_ratios=widths)

    def title(key: str, cells: int) -> str:
        return textwrap.fill(w_[key], max(10, 6 * cells))

    grid(fig.add_subplot(gs[0]), v.x, label="input", title=title("input", widths[0]))
    grid(fig.add_subplot(gs[1]), v.kernel, label="kernel", title=title("kernel", widths[1]), color=_KERNEL)
    ax = fig.add_subplot(gs[2])
    grid(ax, v.padded, label="padded", title=title("padded", pw), color=_SUM, shade=dropped, texts=fold_texts(v))
    _paint(ax, {(a + lo0, b + lo1): colour[to] for (a, b), to in moves})
    for t in ax.texts:
        t.set_fontsize(7)
    ax = fig.add_subplot(gs[3])
    grid(ax, v.folded, label="folded", title=title("folded", ow), color="white")
    _paint(ax, colour)
    ax = fig.add_subplot(gs[4])
    grid(ax, v.output, label="output", title=title("folded_out", ow), color=_SUM)
    _paint(ax, colour)
    pads = tuple(tuple(p) for p in v.pairs)
    caption = textwrap.fill(folding.describe_fold(v, lang, limit=4), 100)
    fig.suptitle(f"{w_['fold_title']}: padding_mode={v.mode!r}, padding={pads}\n{caption}", fontsize=9)
    return fig


def draw_boundary(
    x: Any,
    kernel: Any,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    output_padding: Any = 0,
    padding_mode: str = "circular",
    path: str | Path | None = None,
    lang: str = "en",
) -> Any:
    """Where a boundary mode sends the border taps of a small 2-D (or 1-row: 1-d) transposed convolution.

    Input, kernel, the padded extent (the transposed convolution before anything is cropped, each border
    cell marked with the output cell it is added to and coloured like it), the border's share folded back,
    and the output; the number in every cell.  Returns the figure and writes it to ``path`` when given.

    >>> fig = draw_boundary([[1., 2, 3, 4]], [[1., 1, 1]], padding=(0, 1), padding_mode="circular")
    >>> read_cells(panel(fig, "output"))
    {(0, 0): '7', (0, 1): '6', (0, 2): '9', (0, 3): '8'}
    """
    v = folding.fold_view(x, kernel, stride=stride, padding=padding, dilation=dilation,
                          output_padding=output_padding, padding_mode=padding_mode)
    fig = draw_fold(v, lang=lang)
    if path is not None:
        save(fig, path)
    return fig


# ---------------------------------------------------------------------------
# animations


def scatter_frames(s: geometry.Scatter) -> list[np.ndarray]:
    """Partial sums of the scatter view, one per input element added (row-major).

    >>> frames = scatter_frames(geometry.scatter([[1., 2]], [[1., 1]]))
    >>> [f.tolist() for f in frames]
    [[[1.0, 1.0, 0.0]], [[1.0, 3.0, 2.0]]]
    """
    h, w = s.x.shape
    partial = np.cumsum(s.contributions.reshape((h * w,) + s.canvas_shape), axis=0)
    return list(partial)


def conv_frames(v: geometry.ConvView) -> list[np.ndarray]:
    """Partial outputs of the convolution view, one per output element computed (row-major).

    >>> v = geometry.conv_view([[1., 2]], [[1., 1]])
    >>> [f.tolist() for f in conv_frames(v)]
    [[[1.0, 0.0, 0.0]], [[1.0, 3.0, 0.0]], [[1.0, 3.0, 2.0]]]
    """
    frames, acc = [], np.zeros_like(v.output)
    for r in range(v.output.shape[0]):
        for c in range(v.output.shape[1]):
            acc[r, c] = v.output[r, c]
            frames.append(acc.copy())
    return frames


def _scatter_frame(fig: Any, gs: Any, s: geometry.Scatter, m: int, w_: dict[str, str]) -> None:
    h, w = s.x.shape
    m = min(m, h * w - 1)
    i, j = divmod(m, w)
    pick = np.zeros(s.x.shape, bool)
    pick[i, j] = True
    grid(fig.add_subplot(gs[0]), s.x, label="input", title=w_["scatter"], highlight=pick)
    partial = scatter_frames(s)[m]
    order = np.arange(h * w).reshape(h, w)
    written = np.zeros(s.canvas_shape, bool)
    for a, b in zip(*np.nonzero(order <= m)):
        written |= s.footprint(a, b)
    grid(fig.add_subplot(gs[1]), partial, label="canvas", title=f"+ x[{i},{j}] * K",
         color=_SUM, show=written, shade=s.cropped_mask(), highlight=s.footprint(i, j))


def _conv_frame(fig: Any, gs: Any, v: geometry.ConvView, m: int, w_: dict[str, str]) -> None:
    oh, ow = v.output.shape
    m = min(m, oh * ow - 1)
    r, c = divmod(m, ow)
    win = np.zeros(v.grid.shape, bool)
    win[v.window(r, c)] = True
    grid(fig.add_subplot(gs[0]), v.grid, label="padded input", title=w_["conv"],
         highlight=win, dim=v.source[..., 0] < 0)
    done = np.zeros(v.output.shape, bool)
    done.flat[: m + 1] = True
    pick = np.zeros(v.output.shape, bool)
    pick[r, c] = True
    grid(fig.add_subplot(gs[1]), conv_frames(v)[m], label="output", title=w_["output"],
         color=_SUM, show=done, highlight=pick)


def _frame_image(fig: Any) -> Any:
    Image = require("PIL.Image", "animations")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)  # every frame has the same size: no tight bounding box (one draw less)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def animate(
    x: Any,
    kernel: Any,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    output_padding: Any = 0,
    view: str = "both",
    frame_ms: int = 900,
    path: str | Path | None = None,
    fmt: str | None = None,
    lang: str = "en",
) -> bytes:
    """An animated GIF (or APNG) of the operator, step by step; returns its bytes (and writes ``path``).

    ``view="scatter"``: one input element at a time adds ``x[i, j] * K`` to
    the canvas.  ``view="conv"``: the flipped kernel slides over the
    zero-inserted, padded input, one output at a time.  ``view="both"``: the
    two side by side, so the two views of the same operator can be compared.
    ``fmt`` is ``"gif"`` or ``"png"`` (an animated PNG); by default it follows
    the suffix of ``path`` (``.gif`` or ``.png``), else GIF; ``lang`` ("en" or
    "pt") is the language of the titles.

    >>> gif = animate([[1., 2]], [[1., 1]], view="scatter")
    >>> gif[:6]
    b'GIF89a'
    """
    if view not in ("scatter", "conv", "both"):
        raise ValueError(f"view must be 'scatter', 'conv' or 'both', got {view!r}")
    w_ = words(lang)
    if fmt is None:
        fmt = Path(path).suffix.lower().lstrip(".") if path is not None else "gif"
    if fmt not in ("gif", "png"):
        raise ValueError(f"the animation format must be 'gif' or 'png' (APNG), got {fmt!r} (from path {path!r})")
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, output_padding=output_padding)
    s = geometry.scatter(x, kernel, **kwargs)
    v = geometry.conv_view(x, kernel, **kwargs)
    steps = {"scatter": s.x.size, "conv": v.output.size, "both": max(s.x.size, v.output.size)}[view]
    ch, cw = s.canvas_shape
    gh, gw = v.grid.shape
    images = []
    for m in range(steps):
        width = {"scatter": s.x.shape[1] + cw, "conv": gw + v.output.shape[1]}
        width["both"] = width["scatter"] + width["conv"]
        height = max(ch, gh) + 2
        fig = _figure(1, 4, 1.3 * width[view] + 6, height)
        panels = 4 if view == "both" else 2
        gs = fig.add_gridspec(1, panels)
        if view in ("scatter", "both"):
            _scatter_frame(fig, [gs[0], gs[1]], s, m, w_)
        if view in ("conv", "both"):
            _conv_frame(fig, [gs[2], gs[3]] if view == "both" else [gs[0], gs[1]], v, m, w_)
        fig.suptitle(f"{w_['step'].format(m=m + 1, n=steps)}: {_hyper(s)}", fontsize=9)
        images.append(_frame_image(fig))
    size = (max(im.width for im in images), max(im.height for im in images))
    Image = require("PIL.Image", "animations")
    frames = []
    for im in images:
        canvas = Image.new("RGB", size, "white")
        canvas.paste(im, (0, 0))
        frames.append(canvas)
    buf = io.BytesIO()
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 3]
    frames[0].save(buf, format=fmt.upper(), save_all=True, append_images=frames[1:], duration=durations, loop=0)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


# ---------------------------------------------------------------------------
# overlap maps and matrices


def overlap_map(
    kernel_size: Any,
    stride: Any,
    *,
    dilation: Any = 1,
    input_size: Any = None,
    ndim: int = 2,
    lang: str = "en",
    path: str | Path | None = None,
) -> Any:
    """A picture of how many kernel taps land on each output pixel (1-d bars or a 2-d map).

    The caption is :func:`tconv.viz.overlap.describe_overlap` for the first axis.

    >>> fig = overlap_map(3, 2, input_size=2)
    >>> read_cells(panel(fig, "overlap"))[(2, 2)]
    '4'
    """
    counts = overlap.overlap_counts(kernel_size, stride, dilation=dilation, input_size=input_size, ndim=ndim)
    first = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
    caption = overlap.describe_overlap(first(kernel_size), first(stride), first(dilation), lang=lang)
    if ndim == 1:
        fig, ax = subplots(figsize=(max(5.0, 0.35 * counts.size), 3.2))
        ax.set_label("overlap")
        ax.bar(np.arange(counts.size), counts, color=_SUM, edgecolor="#555555")
        for o, c in enumerate(counts):
            ax.text(o, c + 0.05, str(int(c)), ha="center", va="bottom", fontsize=8)
        ax.set_xlabel(words(lang)["position"])
        ax.set_ylabel(words(lang)["taps"])
    else:
        fig, ax = subplots(figsize=(max(4.5, 0.38 * counts.shape[1] + 1), max(4.0, 0.38 * counts.shape[0] + 1.6)))
        cmap = colormap("viridis")
        colors = counts / max(1, counts.max())
        grid(ax, counts, label="overlap", color="white")
        for patch, value in zip(ax.patches, colors.ravel()):
            patch.set_facecolor(cmap(0.25 + 0.7 * value))
    fig.suptitle(textwrap.fill(caption, 90), fontsize=8)
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def matrix_picture(
    kernel: Any = matrix.CHAPTER_KERNEL,
    input_shape: Sequence[int] = (3, 3),
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    path: str | Path | None = None,
    lang: str = "en",
) -> Any:
    """The convolution matrix ``W`` and its transpose, nonzeros labelled with kernel entries.

    The default is the chapter's 4x9 example: ``conv(x) == W @ x`` and
    ``conv_transpose(y) == W.T @ y``.

    >>> fig = matrix_picture()
    >>> read_cells(panel(fig, "W"))[(0, 1)], read_cells(panel(fig, "W"))[(0, 0)]
    ('k01=1', 'k00=0')
    """
    words(lang)
    m = matrix.single_channel_matrix(kernel, input_shape, stride=stride, padding=padding, dilation=dilation)
    labels = np.array([[f"{m.label(r, c)}={cell_text(m.W[r, c])}" if m.tap[r, c] >= 0 else ""
                        for c in range(m.W.shape[1])] for r in range(m.W.shape[0])], dtype=object)
    rows, cols = m.W.shape
    fig = _figure(1, 2, (cols + rows) * 2.1 + 2, max(rows, cols) + 2)
    gs = fig.add_gridspec(1, 2, width_ratios=[cols, rows])
    nz = m.tap >= 0
    grid(fig.add_subplot(gs[0]), m.W, label="W", title=f"W ({rows}x{cols}): conv(x) = W @ x",
         color=_KERNEL, show=nz, texts=labels)
    grid(fig.add_subplot(gs[1]), m.W.T, label="W.T", title=f"W.T ({cols}x{rows}): conv_transpose(y) = W.T @ y",
         color=_KERNEL, show=nz.T, texts=labels.T)
    for ax in fig.axes:
        for t in ax.texts:
            t.set_fontsize(6.5)
    fig.suptitle(words(lang)["matrix"].format(kh=m.kernel.shape[0], kw=m.kernel.shape[1], h=m.input_shape[0],
                                              w=m.input_shape[1]), fontsize=9)
    if path is not None:
        save(fig, path)
    return fig
