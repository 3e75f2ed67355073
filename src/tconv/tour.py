"""The chapter's guided tour: every example, computed live, in the chapter's order.

:func:`sections` returns the examples as data (title, what it shows, the
code, the live result, whether it matches the chapter's number);
:func:`render_text` turns them into the terminal text of ``tconv tour``, and
:func:`tour_text` gives that whole text in English or Portuguese.
Other renderers (an HTML page) can reuse :func:`sections`.

The Portuguese tour reuses the illustrated page's translations
(``tconv.viz.texts``: ``CHAPTER_PT`` for the chapter's sections, ``PAGE["pt"]``
for the shared words), which the command line hands to :func:`tour_text`
(``viz`` imports this module, so this module does not import ``viz``); the
words only the terminal needs are :data:`WORDS` and :data:`MATRIX_PT` here.

>>> [s.title for s in sections()][:2]
['The definition: scatter each input element times the kernel', 'The same with the operator (a layer-free call)']
>>> all(s.matches for s in sections())
True
>>> exercise_text().splitlines()[0]
'Exercise: is matrix multiplication an efficient way to implement convolution?'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from .boundary import BOUNDARY_MODES, pad
from .chapter import corr2d, kernel2matrix, trans_conv
from .matrix import conv_matrix, conv_matrix_dense
from .memory import format_bytes
from .ops import conv, conv_transpose
from ._timing import best_time


@dataclass(frozen=True)
class Section:
    """One example of the chapter: what it shows, the call, and its live result."""

    title: str
    text: str
    code: str
    result: object
    expected: object
    matches: bool
    fill: tuple[tuple[str, str], ...] = ()  # live values a translated text names as {key}


def _equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _section(title: str, text: str, code: str, result, expected, **fill: object) -> Section:
    return Section(title, text, code, result, expected, _equal(result, expected),
                   tuple((k, str(v)) for k, v in fill.items()))


def sections(seed: int = 0) -> list[Section]:
    """Compute every example of the chapter (random inputs drawn from ``seed``)."""
    X = np.array([[0.0, 1.0], [2.0, 3.0]])
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    X4, K4 = X.reshape(1, 1, 2, 2), K.reshape(1, 1, 2, 2)
    out = [
        _section(
            "The definition: scatter each input element times the kernel",
            "Each input element X[i, j] adds X[i, j] * K into the output block that starts at (i, j); "
            "a 2x2 input and a 2x2 kernel give a 3x3 output.",
            "trans_conv(X, K)   # X = K = [[0, 1], [2, 3]]",
            trans_conv(X, K),
            [[0, 0, 1], [0, 4, 6], [4, 12, 9]],
        ),
        _section(
            "The same with the operator (a layer-free call)",
            "Inputs and kernels are 4-D (batch, channels, height, width); the result is the same numbers.",
            "conv_transpose(X.reshape(1, 1, 2, 2), K.reshape(1, 1, 2, 2))",
            conv_transpose(X4, K4),
            [[[[0, 0, 1], [0, 4, 6], [4, 12, 9]]]],
        ),
        _section(
            "Padding is applied to the output",
            "padding=1 computes the 3x3 output as usual, then removes its first and last rows and columns.",
            "conv_transpose(X4, K4, padding=1)",
            conv_transpose(X4, K4, padding=1),
            [[[[4.0]]]],
        ),
        _section(
            "Stride is applied to the output",
            "stride=2 places the scattered 2x2 blocks two steps apart: the output grows to 4x4.",
            "conv_transpose(X4, K4, stride=2)",
            conv_transpose(X4, K4, stride=2),
            [[[[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]]],
        ),
    ]
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(1, 10, 16, 16))
    w_conv = rng.uniform(-0.1, 0.1, size=(20, 10, 5, 5))
    w_tconv = rng.uniform(-0.1, 0.1, size=(20, 10, 5, 5))
    y = conv(x, w_conv, padding=2, stride=3)
    back = conv_transpose(y, w_tconv, padding=2, stride=3)
    out.append(
        _section(
            "Channels: a transposed convolution inverts a convolution's shape",
            f"A convolution 10 -> 20 channels (kernel 5, padding 2, stride 3) maps 1x10x16x16 to "
            f"{'x'.join(map(str, y.shape))}; a transposed convolution 20 -> 10 with the same "
            f"hyper-parameters maps it back to {'x'.join(map(str, back.shape))}.",
            "conv_transpose(conv(X, W1, padding=2, stride=3), W2, padding=2, stride=3).shape == X.shape",
            back.shape == x.shape,
            True,
            small="x".join(map(str, y.shape)),
            back="x".join(map(str, back.shape)),
        )
    )
    X9 = np.arange(9.0).reshape(3, 3)
    Y = corr2d(X9, K)
    W = kernel2matrix(K)
    out += [
        _section(
            "The matrix view: a convolution",
            "corr2d slides the 2x2 kernel over a 3x3 input: four window sums.",
            "corr2d(arange(9).reshape(3, 3), K)",
            Y,
            [[19, 25], [37, 43]],
        ),
        _section(
            "The kernel as a matrix",
            "Row r of W holds the kernel at the input positions that output r reads: a 4x9 matrix, "
            "mostly zeros.",
            "kernel2matrix(K)",
            W,
            [
                [0, 1, 0, 2, 3, 0, 0, 0, 0],
                [0, 0, 1, 0, 2, 3, 0, 0, 0],
                [0, 0, 0, 0, 1, 0, 2, 3, 0],
                [0, 0, 0, 0, 0, 1, 0, 2, 3],
            ],
        ),
        _section(
            "Convolution is W @ x",
            "Multiplying W by the flattened input gives the convolution's output, flattened.",
            "(W @ X.ravel()).reshape(2, 2) == corr2d(X, K)",
            (W @ X9.ravel()).reshape(2, 2) == Y,
            np.ones((2, 2), dtype=bool),
        ),
        _section(
            "Transposed convolution is W.T @ x",
            "Multiplying the transpose W.T by a flattened 2x2 input gives the transposed convolution: "
            "the same W, used backwards.",
            "(W.T @ X.ravel()).reshape(3, 3) == trans_conv(X, K)",
            (W.T @ X.ravel()).reshape(3, 3) == trans_conv(X, K),
            np.ones((3, 3), dtype=bool),
        ),
    ]
    return out


def matrix_sections() -> list[Section]:
    """Beyond the chapter: the matrix view as a tool (conv_matrix) and the exercise's sizes, computed live.

    >>> [s.matches for s in matrix_sections()]
    [True, True]
    """
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    W = kernel2matrix(K)
    M = conv_matrix(K.reshape(1, 1, 2, 2), (3, 3))
    sizes = (3, 16, 64, 256)
    live = [(n, *conv_matrix(K.reshape(1, 1, 2, 2), (n, n)).shape, conv_matrix(K.reshape(1, 1, 2, 2), (n, n)).nnz)
            for n in sizes]
    # expected by counting: (n-1)^2 outputs, n^2 inputs, each output reads the 4 taps of the kernel
    expected = [(n, (n - 1) ** 2, n * n, 4 * (n - 1) ** 2) for n in sizes]
    n_big = sizes[-1]
    dense, sparse = (n_big - 1) ** 2 * n_big**2 * 8, 4 * (n_big - 1) ** 2 * 12 + ((n_big - 1) ** 2 + 1) * 4
    return [
        _section(
            "The matrix view as a tool: conv_matrix",
            "tconv.conv_matrix builds W for any input shape, channels, stride, padding, dilation and groups, "
            "as a scipy sparse matrix; conv_matrix_dense gives the chapter's dense W (and refuses one that "
            "cannot fit). For the chapter's case it is kernel2matrix's W.",
            "conv_matrix(K.reshape(1, 1, 2, 2), (3, 3)).toarray() == kernel2matrix(K)",
            conv_matrix_dense(K.reshape(1, 1, 2, 2), (3, 3)) == M.toarray(),
            np.ones(W.shape, dtype=bool),
        ),
        _section(
            "Exercise: is matrix multiplication an efficient way to implement convolution?",
            "Rows (input size n, rows of W, columns of W, stored entries): W grows with the square of the image, "
            f"but each row holds only the kernel's 4 numbers. At {n_big}x{n_big} the dense W would take "
            f"{format_bytes(dense)} for {format_bytes(sparse)} of sparse entries and a 32-byte kernel. "
            "The measured answer follows.",
            "[(n, *conv_matrix(K4, (n, n)).shape, conv_matrix(K4, (n, n)).nnz) for n in (3, 16, 64, 256)]",
            np.array(live),
            np.array(expected),
            n=n_big,
            dense=format_bytes(dense),
            sparse=format_bytes(sparse),
        ),
    ]


def _row(a) -> str:
    """A 1-d array as the tour prints it: ``[16, 10, 16, 18]``."""
    return str([int(v) if float(v).is_integer() else float(v) for v in np.ravel(a)])


def boundary_sections() -> list[Section]:
    """Beyond every framework: boundary modes as the adjoint of a padded convolution, computed live (1-d).

    The first section checks the wrapped taps against the full (uncropped) output folded by hand; the
    second checks, for every mode, ``<conv(u), y> == <u, conv_transpose(y)>``.

    >>> [s.matches for s in boundary_sections()]
    [True, True]
    """
    x, K = np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, 2.0, 3.0]]])
    full = conv_transpose(x, K)[0, 0]  # nothing cropped: the taps past both edges are still there
    zeros = conv_transpose(x, K, padding=1)[0, 0]
    circular = conv_transpose(x, K, padding=1, padding_mode="circular")[0, 0]
    by_hand = full[1:-1].copy(), full[1:-1].copy()
    by_hand[1][-1] += full[0]  # the tap before the first output wraps to the last one
    by_hand[1][0] += full[-1]  # the tap past the last output wraps to the first one
    u, y = np.array([[[2.0, 0.0, 1.0, 3.0]]]), np.array([[[1.0, -1.0, 2.0, 1.0]]])
    forward = [float((conv(u, K, padding=1, padding_mode=m) * y).sum()) for m in BOUNDARY_MODES]
    adjoint = [float((u * conv_transpose(y, K, padding=1, padding_mode=m)).sum()) for m in BOUNDARY_MODES]
    padded = "; ".join(f"{m} {_row(pad(u, ((1, 1),), m))}" for m in BOUNDARY_MODES)
    dots = ", ".join(f"{m} {f:g} = {a:g}" for m, f, a in zip(BOUNDARY_MODES, forward, adjoint))
    return [
        _section(
            "Boundary modes: circular padding wraps the border taps around",
            f"Without padding the transposed convolution of x = {_row(x)} with K = {_row(K)} is {_row(full)}. "
            f"padding=1 drops its first and last entries: with padding_mode='zeros' the taps that land past the "
            f"edges are lost ({_row(zeros)}). With padding_mode='circular' they wrap around instead: the "
            f"{full[0]:g} before the first output is added to the last one and the {full[-1]:g} past the last "
            f"output to the first ({_row(circular)}). Row 1: zeros; row 2: circular.",
            "conv_transpose(x, K, padding=1), conv_transpose(x, K, padding=1, padding_mode='circular')",
            np.stack([zeros, circular]),
            np.stack(by_hand),
            x=_row(x), K=_row(K), full=_row(full), zeros=_row(zeros), circular=_row(circular), front=f"{full[0]:g}",
            back=f"{full[-1]:g}",
        ),
        _section(
            "Why: a transposed convolution is the adjoint of a padded convolution",
            f"conv(u, K, padding=1, padding_mode=m) pads its input u = {_row(u)} in mode m ({padded}), then "
            "convolves. conv_transpose with the same mode is its exact adjoint: <conv(u), y> = <u, "
            f"conv_transpose(y)> for y = {_row(y)} in every mode ({dots}). So the taps conv_transpose writes "
            "past an edge go back to the input entry that the padding copied there: wrapped for circular, "
            "mirrored for reflect, piled on the edge entry for replicate, dropped for zeros. PyTorch's "
            "ConvTranspose layers accept only zeros.",
            "[(u * conv_transpose(y, K, padding=1, padding_mode=m)).sum() for m in BOUNDARY_MODES]  "
            "# == (conv(u, K, padding=1, padding_mode=m) * y).sum()",
            np.array(adjoint),
            np.array(forward),
            u=_row(u), y=_row(y), padded=padded, dots=dots,
        ),
    ]


def exercise_document() -> Path | None:
    """The measured answer to the exercise shipped with tconv (``docs/exercise.md`` in the repository).

    It is written by ``bench/matrix_view.py --write src/tconv/data/exercise.md``.
    """
    path = Path(__file__).resolve().parent / "data" / "exercise.md"
    return path if path.is_file() else None


def _section_text(markdown: str, start: str, stop: str) -> str:
    text = markdown.split(start, 1)[1] if start in markdown else ""
    return text.split(stop, 1)[0].strip()


def _live_timings(n: int = 32, repeats: int = 5, heading: str | None = None) -> str:
    """A tiny live measurement: one 2x2 convolution of an n x n image, four ways (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    K4, x = rng.standard_normal((1, 1, 2, 2)), rng.standard_normal((1, n, n))

    W, M = conv_matrix_dense(K4, (n, n)), conv_matrix(K4, (n, n))
    rows = [
        ("dense W @ x", best_time(lambda: W @ x.ravel(), repeats), W.nbytes),
        ("build sparse M", best_time(lambda: conv_matrix(K4, (n, n)), repeats), M.data.nbytes + M.indices.nbytes + M.indptr.nbytes),
        ("sparse M @ x", best_time(lambda: M @ x.ravel(), repeats), 0),
        ("tconv conv(x, K)", best_time(lambda: conv(x, K4), repeats), 0),
    ]
    lines = [(heading or WORDS["en"]["live"]).format(n=n, repeats=repeats)]
    lines += [f"  {name:<18} {seconds * 1e6:10.0f} us" + (f"   ({format_bytes(b)})" if b else "") for name, seconds, b in rows]
    return "\n".join(lines)


def exercise_text(page: Mapping[str, str] | None = None) -> str:
    """The exercise's measured answer: from the shipped docs/exercise.md when present, else a tiny live measurement.

    ``page``: the illustrated page's words in another language (``tconv.viz.texts.PAGE["pt"]``): the
    title and the note that the shipped answer is in English come from it.
    """
    pt = page is not None
    words = WORDS["pt" if pt else "en"]
    doc = exercise_document()
    if doc is None:
        title = page["exercise_title"] if pt else "Exercise: is matrix multiplication an efficient way to implement convolution?"
        return title + "\n" + _live_timings(heading=words["live"])
    markdown = doc.read_text(encoding="utf-8")
    answer = _section_text(markdown, "## Answer", "## Measurements")
    table = _section_text(markdown, "**Time of one convolution", "**Transposed")
    title = markdown.splitlines()[0].lstrip("# ")
    parts = [title, answer, "**Time of one convolution " + table, words["full"].format(doc=doc)]
    if pt:
        parts[:1] = [page["exercise_title"], page["exercise_file"]]
    return "\n\n".join(parts)


def _format(value) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, separator=", ")
    return repr(value)


def render_text(
    items: list[Section],
    *,
    first: int = 1,
    heading: str | None = None,
    summary: bool = True,
    agreement: str = "matches the chapter",
    differs: str = "DOES NOT match: expected",
    summary_text: str = "{ok} of {n} examples reproduce the chapter's results.",
) -> str:
    """The terminal form of the tour: numbered sections from ``first``, then how many match."""
    lines = [heading or WORDS["en"]["heading"], ""]
    for number, s in enumerate(items, first):
        lines.append(f"{number}. {s.title}")
        lines.append(f"   {s.text}")
        lines.append(f"   >>> {s.code}")
        lines.extend("   " + line for line in _format(s.result).splitlines())
        lines.append(f"   {agreement if s.matches else differs + ' ' + _format(np.asarray(s.expected))}")
        lines.append("")
    if summary:
        ok = sum(s.matches for s in items)
        lines.append(summary_text.format(ok=ok, n=len(items)))
    return "\n".join(lines)


#: The words of the terminal tour that the illustrated page does not have, per language.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "heading": "tconv tour: the transposed-convolution chapter, computed live",
        "beyond": "Beyond the chapter: the matrix view",
        "as_expected": "as expected",
        "live": "Live, {n}x{n} image, chapter's 2x2 kernel (best of {repeats}; run bench/matrix_view.py for the "
                "full table):",
        "full": "(full tables and machine: {doc})",
        "boundary": "Beyond every framework: boundary modes for transposed convolution",
    },
    "pt": {
        "heading": "tconv tour: o capítulo da convolução transposta, calculado ao vivo",
        "beyond": "Além do capítulo: a visão matricial",
        "as_expected": "como esperado",
        "live": "Ao vivo, imagem {n}x{n}, kernel 2x2 do capítulo (melhor de {repeats}; bench/matrix_view.py dá a "
                "tabela completa):",
        "full": "(tabelas completas e a máquina: {doc})",
        "boundary": "Além de qualquer framework: modos de borda na convolução transposta",
    },
}

#: Portuguese title and text of the sections beyond the chapter (:func:`matrix_sections`), by English title.
MATRIX_PT: dict[str, tuple[str, str]] = {
    "The matrix view as a tool: conv_matrix": (
        "A visão matricial como ferramenta: conv_matrix",
        "tconv.conv_matrix constrói W para qualquer forma de entrada, canais, passo, preenchimento, dilatação e "
        "grupos, como matriz esparsa do scipy; conv_matrix_dense dá a W densa do capítulo (e recusa uma que não "
        "caiba na memória). No caso do capítulo é a W de kernel2matrix.",
    ),
    "Exercise: is matrix multiplication an efficient way to implement convolution?": (
        "Exercício: multiplicar matrizes é um jeito eficiente de convoluir?",
        "Linhas (tamanho n da entrada, linhas de W, colunas de W, entradas guardadas): W cresce com o quadrado da "
        "imagem, mas cada linha guarda só os 4 números do kernel. Com {n}x{n} a W densa ocuparia {dense} contra "
        "{sparse} de entradas esparsas e um kernel de 32 bytes. A resposta medida vem a seguir.",
    ),
}

#: Portuguese title and text of the boundary-mode sections (:func:`boundary_sections`), by English title.
BOUNDARY_PT: dict[str, tuple[str, str]] = {
    "Boundary modes: circular padding wraps the border taps around": (
        "Modos de borda: o preenchimento circular dá a volta com as contribuições da borda",
        "Sem preenchimento, a convolução transposta de x = {x} com K = {K} é {full}. Com "
        "padding=1 a primeira e a última entrada somem: com padding_mode='zeros' as contribuições que caem além "
        "das bordas se perdem ({zeros}). Com padding_mode='circular' elas dão a volta: o {front} antes da "
        "primeira saída é somado à última, e o {back} depois da última saída é somado à primeira ({circular}). "
        "Linha 1: zeros; linha 2: circular.",
    ),
    "Why: a transposed convolution is the adjoint of a padded convolution": (
        "Por quê: a convolução transposta é a adjunta de uma convolução com preenchimento",
        "conv(u, K, padding=1, padding_mode=m) preenche a entrada u = {u} no modo m ({padded}) e depois "
        "convolui. conv_transpose com o mesmo modo é a sua adjunta exata: <conv(u), y> = <u, conv_transpose(y)> "
        "para y = {y} em todos os modos ({dots}). Assim, o que conv_transpose escreve além de uma borda "
        "volta para o elemento da entrada que o preenchimento copiou para lá: dando a volta no circular, "
        "espelhado no reflect, acumulado no elemento da borda no replicate, descartado no zeros. As camadas "
        "ConvTranspose do PyTorch só aceitam zeros.",
    ),
}

#: Parts of the page's Portuguese texts (``tconv.viz.texts.CHAPTER_PT``) that speak of its pictures; the
#: terminal leaves them out.
PAGE_ONLY_PT: tuple[str, ...] = (
    " A animação compara as duas leituras do operador: espalhar (à esquerda) e deslizar o kernel invertido sobre "
    "a entrada com zeros inseridos (à direita).",
    " (em cinza na figura)",
)


def translated(items: list[Section], words: Mapping[str, tuple[str, str]]) -> list[Section]:
    """``items`` with each title and text from ``words`` (English title -> (title, text)), live values filled in.

    >>> [s.title for s in translated(matrix_sections(), MATRIX_PT)][0]
    'A visão matricial como ferramenta: conv_matrix'
    """
    out = []
    for s in items:
        if s.title not in words:
            raise KeyError(f"no translation for the tour section {s.title!r}")
        title, text = words[s.title]
        for part in PAGE_ONLY_PT:
            text = text.replace(part, "")
        out.append(replace(s, title=title, text=text.format(**dict(s.fill))))
    return out


def tour_text(seed: int = 0, lang: str = "en", *, page: Mapping[str, str] | None = None,
              chapter: Mapping[str, tuple[str, str]] | None = None) -> tuple[str, bool]:
    """The whole terminal tour (chapter, matrix view, exercise, boundary modes) in ``lang``, and whether every
    example matches.

    For ``lang="pt"`` give the illustrated page's Portuguese: ``page=tconv.viz.texts.PAGE["pt"]``
    and ``chapter=tconv.viz.texts.CHAPTER_PT`` (``tconv tour --lang pt`` does).

    >>> text, ok = tour_text()
    >>> ok, text.splitlines()[0]
    (True, 'tconv tour: the transposed-convolution chapter, computed live')
    """
    if lang not in WORDS:
        raise ValueError(f"lang must be one of {list(WORDS)}, got {lang!r}")
    items, extra, edges = sections(seed=seed), matrix_sections(), boundary_sections()
    ok = all(s.matches for s in items + extra + edges)
    words = WORDS[lang]
    first_edge = len(items) + len(extra) + 1
    if lang == "en":
        body = render_text(items)
        more = render_text(extra, first=len(items) + 1, heading=words["beyond"], summary=False,
                           agreement=words["as_expected"])
        modes = render_text(edges, first=first_edge, heading=words["boundary"], summary=False,
                            agreement=words["as_expected"])
        return "\n".join([body, "", more, exercise_text(), "", modes]), ok
    if page is None or chapter is None:
        raise ValueError(f"lang={lang!r} needs the page's words: page=tconv.viz.texts.PAGE[{lang!r}], "
                         f"chapter=tconv.viz.texts.CHAPTER_PT")
    body = render_text(translated(items, chapter), heading=words["heading"], agreement=page["matches"],
                       differs=page["differs"], summary_text=page["summary"])
    more = render_text(translated(extra, MATRIX_PT), first=len(items) + 1, heading=words["beyond"], summary=False,
                       agreement=words["as_expected"], differs=page["differs"])
    modes = render_text(translated(edges, BOUNDARY_PT), first=first_edge, heading=words["boundary"], summary=False,
                        agreement=words["as_expected"], differs=page["differs"])
    return "\n".join([body, "", more, exercise_text(page), "", modes]), ok
