"""The ``tconv`` command line (built with click).

Every sub-command is a :class:`click.Command` listed in :data:`COMMANDS`; the
:func:`command` decorator defines one and registers it::

    @command("shape", help="...")
    @click.option(...)
    def _shape(...) -> int: ...

Commands return their exit status (``None`` means 0).  A ``ValueError``,
``TypeError`` or ``ImportError`` raised inside becomes a one-line
``Error: ...`` message and exit status 1.

Every hyper-parameter value (stride, padding, output_padding, dilation,
kernel and input sizes, in every sub-command) is read by :func:`parse_hyper`:
one grammar (integers separated by ``,``, spaces or ``x``; ``(...)`` /
``[...]`` groups such as ``(before, after)`` pairs; words such as ``same``),
and one error format, ``Invalid value for '<flag>': expected <what it takes>,
got '<value>'`` (exit status 2, as for every usage error).

>>> main(["tour", "--text"])  # doctest: +ELLIPSIS
tconv tour: ...
0
"""

from __future__ import annotations

import functools
import re
import sys
import webbrowser
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from . import __version__

#: Every sub-command, in the order ``tconv --help`` lists them.
COMMANDS: list[click.Command] = []


def command(name: str, **settings: Any) -> Callable[[Callable[..., Any]], click.Command]:
    """Define a sub-command (like ``click.command``) and append it to :data:`COMMANDS`.

    User errors (``ValueError``, ``TypeError``, ``ImportError``) are shown as
    ``Error: <message>`` with exit status 1 instead of a traceback.
    """

    def decorate(fn: Callable[..., Any]) -> click.Command:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> int:
            try:
                status = fn(*args, **kwargs)
            except (ValueError, TypeError, ImportError) as exc:
                raise click.ClickException(str(exc)) from exc
            return 0 if status is None else int(status)

        cmd = click.command(name, **settings)(run)
        COMMANDS.append(cmd)
        return cmd

    return decorate


def build_cli() -> click.Group:
    """The ``tconv`` group with every command of :data:`COMMANDS`."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
    @click.version_option(__version__, prog_name="tconv")
    def tconv() -> None:
        """Transposed convolution: exact, portable, fast and explained.

        Run `tconv COMMAND --help` for a command's options.
        """

    for cmd in COMMANDS:
        tconv.add_command(cmd)
    return tconv


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tconv`` command; returns the exit status."""
    try:
        status = build_cli().main(args=list(argv) if argv is not None else None, prog_name="tconv",
                                  standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return status if isinstance(status, int) else 0


# ---------------------------------------------------------------------------
# argument parsing: one grammar for every hyper-parameter value


def parse_matrix(text: str) -> list[list[float]]:
    """``"0,1;2,3"`` -> ``[[0.0, 1.0], [2.0, 3.0]]`` (rows split by ``;``, values by ``,`` or spaces).

    >>> parse_matrix("0 1; 2 3")
    [[0.0, 1.0], [2.0, 3.0]]
    """
    rows = [r for r in text.split(";") if r.strip()]
    try:
        matrix = [[float(v) for v in r.replace(",", " ").split()] for r in rows]
    except ValueError:
        raise click.BadParameter(f"expected numbers like '0,1;2,3', got {text!r}") from None
    if not matrix or len({len(r) for r in matrix}) != 1 or not matrix[0]:
        raise click.BadParameter(f"expected equal-length rows like '0,1;2,3', got {text!r}")
    return matrix


_WORD = re.compile(r"""(['"]?)([A-Za-z_]\w*)\1""")
_TOKEN = re.compile(r"\s*(?:(?P<num>[+-]?\d+)|(?P<open>[(\[])|(?P<close>[)\]])|(?P<sep>[,xX]))\s*")
_CLOSING = {"(": ")", "[": "]"}
_WORDS = {"None": None, "True": True, "False": False}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(text)
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _group(tokens: list[tuple[str, str]], pos: int, close: str | None) -> tuple[list, bool, int]:
    """Items from ``pos`` up to ``close`` (or the end): (items, ended on a separator, position after)."""
    items: list = []
    trailing = False
    while pos < len(tokens):
        kind, value = tokens[pos]
        pos += 1
        if kind == "close":
            if value != close or not items:
                raise ValueError(value)
            return items, trailing, pos
        if kind == "sep":
            if not items or trailing:
                raise ValueError(value)
            trailing = True
            continue
        if kind == "num":
            items.append(int(value))
        else:
            inner, inner_trailing, pos = _group(tokens, pos, _CLOSING[value])
            single = len(inner) == 1 and not inner_trailing and value == "("  # "(2)" is 2, as in Python
            items.append(inner[0] if single else list(inner) if value == "[" else tuple(inner))
        trailing = False
    if close is not None or not items:
        raise ValueError("unclosed")
    return items, trailing, pos


def _literal(text: str) -> Any:
    """The grammar: a word (``same``, ``'SAME'``, ``None``, ``True``), or integers separated by ``,``,
    spaces or ``x``, grouped by ``(...)`` (a tuple) or ``[...]`` (a list).  One bare integer is an int;
    several, or a trailing separator, make a tuple.  Raises ``ValueError`` for anything else."""
    word = _WORD.fullmatch(text.strip())
    if word:
        name = word.group(2)
        return _WORDS[name] if name in _WORDS and not word.group(1) else name
    items, trailing, _ = _group(_tokens(text), 0, None)
    return items[0] if len(items) == 1 and not trailing else tuple(items)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ints(value: Any) -> tuple[int, ...] | None:
    """``value`` as a flat tuple of ints (an int is one), or None when it is not one."""
    if _is_int(value):
        return (value,)
    if isinstance(value, (tuple, list)) and value and all(_is_int(v) for v in value):
        return tuple(value)
    return None


def _per_dim(value: Any, ndim: int) -> int | tuple[int, ...] | None:
    flat = _ints(value)
    if flat is None or len(flat) not in (1, ndim):
        return None
    return flat[0] if len(flat) == 1 else flat


def _padding(value: Any, ndim: int) -> Any:
    if isinstance(value, str):
        return value.lower() if value.lower() in ("same", "valid") else None
    symmetric = _per_dim(value, ndim)
    if symmetric is not None:
        return symmetric
    flat = _ints(value)
    if flat is not None and len(flat) == 2 * ndim:  # before, after of each dim in turn
        return tuple(flat[i : i + 2] for i in range(0, 2 * ndim, 2))
    if isinstance(value, (tuple, list)) and len(value) == ndim:
        pairs = [_ints(v) if isinstance(v, (tuple, list)) else None for v in value]
        if all(p is not None and len(p) == 2 for p in pairs):
            return tuple(pairs)
    return None


#: What each kind of value may be, as the error messages say it.
EXPECTED = {
    "value": "integers (e.g. 2, 2,2, 5x5, (0,1),(1,0) or [0,1,1,0]) or a word (e.g. same)",
    "int": "an integer",
    "size": "sizes like 5, 5,5 or 5x5",
    "per_dim": "an integer or {ndim} integers, one per dim (e.g. 2 or 2,1)",
    "padding": "an integer, {ndim} integers (one per dim), {pairs} integers or {ndim} (before, after) pairs "
               "(e.g. 1, 1,0, 0,1,1,0 or (0,1),(1,0)), 'same' or 'valid'",
}


def parse_hyper(text: str, kind: str = "value", *, ndim: int = 2, minimum: int | None = None,
                maximum: int | None = None) -> Any:
    """Read a hyper-parameter value (stride, padding, output_padding, dilation, kernel, sizes) from the command line.

    One grammar for every sub-command: integers separated by ``,``, spaces or
    ``x``; ``(...)`` / ``[...]`` groups, e.g. ``(before, after)`` pairs; or a
    word such as ``same``.  ``kind`` says what the flag takes:

    * ``"value"``: anything the grammar reads, as Python would (a framework's
      own words for ``tconv shape``: ``[0,1,1,0]`` stays a list, ``SAME`` a word);
    * ``"int"``: one integer, from ``minimum`` to ``maximum`` when given;
    * ``"size"``: spatial sizes, always a tuple;
    * ``"per_dim"``: an int or ``ndim`` ints (stride, dilation, output_padding);
    * ``"padding"``: as per_dim, or ``2 * ndim`` ints ``before, after`` per dim
      (TOP,BOTTOM,LEFT,RIGHT in 2-D), or ``ndim`` pairs, or 'same' / 'valid'.

    A value that does not fit raises ``ValueError("expected <what it takes>, got '<text>'")``;
    the commands show it as ``Invalid value for '<flag>': expected ..., got '...'``.

    >>> parse_hyper("2", "per_dim"), parse_hyper("1, 2", "per_dim"), parse_hyper("same", "padding")
    (2, (1, 2), 'same')
    >>> parse_hyper("0,1,1,0", "padding"), parse_hyper("(0,1),(1,0)", "padding")
    (((0, 1), (1, 0)), ((0, 1), (1, 0)))
    >>> parse_hyper("5x5", "size"), parse_hyper("[0,1,1,0]"), parse_hyper("SAME"), parse_hyper("(1,1),(2,2)")
    ((5, 5), [0, 1, 1, 0], 'SAME', ((1, 1), (2, 2)))
    >>> parse_hyper("1,2,3", "per_dim")
    Traceback (most recent call last):
    ...
    ValueError: expected an integer or 2 integers, one per dim (e.g. 2 or 2,1), got '1,2,3'
    """
    if kind not in EXPECTED:
        raise ValueError(f"kind must be one of {', '.join(EXPECTED)}, got {kind!r}")
    try:
        value = _interpret(_literal(text), kind, ndim)
    except ValueError:
        value = _MISFIT
    if kind == "int" and value is not _MISFIT and not (
            (minimum is None or value >= minimum) and (maximum is None or value <= maximum)):
        value = _MISFIT
    if value is _MISFIT:
        raise ValueError(f"expected {_expected(kind, ndim, minimum, maximum)}, got {text!r}")
    return value


_MISFIT = object()  # a value the grammar reads but the flag does not take


def _interpret(value: Any, kind: str, ndim: int) -> Any:
    """``value`` (as the grammar read it) as ``kind`` takes it, or ``_MISFIT``."""
    if kind == "value":
        return value
    if kind == "int":
        fitted = value if _is_int(value) else None
    elif kind == "size":
        fitted = _ints(value)
    elif kind == "per_dim":
        fitted = _per_dim(value, ndim)
    else:
        fitted = _padding(value, ndim)
    return _MISFIT if fitted is None else fitted


def _expected(kind: str, ndim: int, minimum: int | None, maximum: int | None) -> str:
    text = EXPECTED[kind].format(ndim=ndim, pairs=2 * ndim)
    if kind == "int" and minimum is not None and maximum is not None:
        return f"{text} from {minimum} to {maximum}"
    if kind == "int" and minimum is not None:
        return f"{text} >= {minimum}"
    if kind == "int" and maximum is not None:
        return f"{text} <= {maximum}"
    return text


class HyperValue(click.ParamType):
    """A click type reading its value with :func:`parse_hyper`; bad values become click's
    ``Invalid value for '<flag>': expected ..., got '...'``."""

    name = "value"

    def __init__(self, kind: str = "value", *, ndim: int = 2, minimum: int | None = None,
                 maximum: int | None = None) -> None:
        self.kind, self.ndim, self.minimum, self.maximum = kind, ndim, minimum, maximum
        self.name = {"int": "integer", "size": "sizes"}.get(kind, kind)  # the metavar in --help

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):  # a default given as a number
            value = str(value)
        try:
            return parse_hyper(value, self.kind, ndim=self.ndim, minimum=self.minimum, maximum=self.maximum)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _matrix_option(name: str, default: str, what: str) -> Callable[[Callable[..., Any]], Any]:
    return click.option(name, default=default, show_default=True, metavar="ROWS",
                        callback=lambda _c, _p, v: parse_matrix(v),
                        help=f"{what}: rows separated by ';', values by ','.")


def _hyper_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The hyper-parameter flags of :func:`tconv.conv_transpose`, shared by draw and animate (2-D pictures)."""
    per_dim, padding = HyperValue("per_dim"), HyperValue("padding")
    options = [
        _matrix_option("--x", "0,1;2,3", "input matrix"),
        _matrix_option("--kernel", "0,1;2,3", "kernel matrix"),
        click.option("--stride", default="1", show_default=True, type=per_dim, metavar="S",
                     help="stride: S or SH,SW."),
        click.option("--padding", default="0", show_default=True, type=padding, metavar="P",
                     help="outputs cropped: P, PH,PW, TOP,BOTTOM,LEFT,RIGHT, (TOP,BOTTOM),(LEFT,RIGHT), "
                          "'same' or 'valid'."),
        click.option("--dilation", default="1", show_default=True, type=per_dim, metavar="D",
                     help="kernel dilation: D or DH,DW."),
        click.option("--output-padding", default="0", show_default=True, type=per_dim, metavar="OP",
                     help="extra outputs at the end: OP or OPH,OPW."),
        click.option("--lang", type=click.Choice(["en", "pt"]), default="en", show_default=True,
                     help="language of the titles in the picture"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


# ---------------------------------------------------------------------------
# tour


@command("tour", short_help="Walk through the chapter, computed live (text and HTML page).", help="Walk through the transposed-convolution chapter, every example computed live. "
         "Prints the text tour and, when the 'viz' extra is installed, writes an illustrated HTML page "
         "(one self-contained file) into --out.")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the random inputs of the channel example")
@click.option("--lang", type=click.Choice(["en", "pt"]), default="en", show_default=True,
              help="language of the HTML page (English or Portuguese)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="directory the HTML page is written to")
@click.option("--open", "open_page", is_flag=True, help="open the HTML page in a web browser")
@click.option("--text", "text_only", is_flag=True, help="only print the text tour, write no HTML")
def _tour(seed: int, lang: str, out_dir: Path, open_page: bool, text_only: bool) -> int:
    from .tour import exercise_text, matrix_sections, render_text, sections

    items = sections(seed=seed)
    extra = matrix_sections()
    click.echo(render_text(items))
    click.echo()
    click.echo(render_text(extra, first=len(items) + 1, heading="Beyond the chapter: the matrix view",
                           summary=False, agreement="as expected"))
    click.echo(exercise_text())
    status = 0 if all(s.matches for s in items + extra) else 1
    if text_only:
        return status
    from . import viz

    if not viz.available():
        click.echo(f"\nThe illustrated HTML tour needs matplotlib and Pillow: {viz.EXTRA_HINT}", err=True)
        return status
    from .viz.tour_page import write_tour

    click.echo("\nWriting the illustrated tour:", err=True)
    path, page = write_tour(out_dir, lang, seed=seed, progress=lambda msg: click.echo(f"  {msg}", err=True))
    click.echo(f"{page.summary} Illustrated tour ({len(page.section_ids)} sections, one file, images inlined):")
    click.echo(f"  {path.resolve()}")
    if open_page:
        webbrowser.open(path.resolve().as_uri())
    return status


# ---------------------------------------------------------------------------
# draw, animate, overlap


@command("draw", short_help="Draw the chapter's figure for a small 2-D case (SVG or PNG).", help="Draw the chapter's figure of a small 2-D transposed convolution: input, kernel, each "
         "input element's contribution, their sum with the cropped padding shaded, and the output.")
@_hyper_options
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("tconv-draw.svg"), show_default=True, help="picture file, .svg or .png")
def _draw(x: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, output_padding: Any, lang: str,
          out: Path) -> None:
    from .viz import geometry, render
    from .viz.tour_page import compact

    hyper = dict(stride=stride, padding=padding, dilation=dilation, output_padding=output_padding)
    render.draw(x, kernel, **hyper, path=out, lang=lang)
    click.echo(f"output = {compact(geometry.scatter(x, kernel, **hyper).output)}")
    click.echo(f"wrote {out}")


@command("animate", short_help="Animate the scatter and/or the convolution view (GIF or APNG).", help="Animate a small 2-D transposed convolution as a GIF: the scatter (one input element "
         "at a time), the convolution view (flipped kernel sliding over the zero-inserted, padded input), or both "
         "side by side.")
@_hyper_options
@click.option("--view", type=click.Choice(["scatter", "conv", "both"]), default="both", show_default=True,
              help="which view of the operator to animate")
@click.option("--frame-ms", type=click.IntRange(50, 10000), default=900, show_default=True,
              help="milliseconds per frame")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("tconv-animate.gif"), show_default=True, help="animation file: .gif, or .png for an APNG")
def _animate(x: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, output_padding: Any, lang: str,
             view: str, frame_ms: int, out: Path) -> None:
    from .viz.render import animate

    data = animate(x, kernel, stride=stride, padding=padding, dilation=dilation, output_padding=output_padding,
                   view=view, frame_ms=frame_ms, path=out, lang=lang)
    click.echo(f"wrote {out} ({len(data):,} bytes)")


@command("overlap", short_help="Count taps per output pixel (the checkerboard) and explain it.", help="Count the kernel taps that land on each output pixel of a transposed convolution "
         "(the checkerboard pattern) with kernel size KERNEL_SIZE and stride STRIDE (each 1 to 64), "
         "and explain the ratio; optionally draw the map.")
@click.argument("kernel_size", type=HyperValue("int", minimum=1, maximum=64))
@click.argument("stride", type=HyperValue("int", minimum=1, maximum=64))
@click.option("--dilation", type=HyperValue("int", minimum=1, maximum=64), default="1", show_default=True,
              help="kernel dilation, 1 to 64")
@click.option("--input-size", type=HyperValue("int", minimum=1, maximum=64), default=None,
              help="input length, 1 to 64 (default: a few periods)")
@click.option("--ndim", type=click.Choice(["1", "2"]), default="1", show_default=True, help="1-d or 2-d map")
@click.option("--lang", type=click.Choice(["en", "pt"]), default="en", show_default=True, help="language")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also draw the map into this .svg or .png file")
def _overlap(kernel_size: int, stride: int, dilation: int, input_size: int | None, ndim: str, lang: str,
             out: Path | None) -> None:
    from .viz.overlap import describe_overlap, overlap_counts

    counts = overlap_counts(kernel_size, stride, dilation=dilation, input_size=input_size, ndim=int(ndim))
    click.echo(str(counts.tolist()) if ndim == "1" else "\n".join(" ".join(f"{c:2d}" for c in row) for row in counts))
    click.echo(describe_overlap(kernel_size, stride, dilation, lang=lang))
    if out is not None:
        from .viz.render import overlap_map

        overlap_map(kernel_size, stride, dilation=dilation, input_size=input_size, ndim=int(ndim), lang=lang, path=out)
        click.echo(f"wrote {out}")


# ---------------------------------------------------------------------------
# upsample


@command("upsample", short_help="Upsample an image with a bilinear transposed convolution (FCN).", help="Upsample an image with a bilinear-initialised transposed convolution per colour "
         "channel (the FCN trick): stride SCALE, kernel 2*SCALE - SCALE % 2. SRC is the image to read (PNG, "
         "JPEG, ...), DST the file to write (format from its suffix), SCALE times larger in each direction. Images over 40 megapixels (as declared by the file) or results over 100 megapixels "
         "are refused.")
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scale", type=HyperValue("int"), required=True, help="integer upsampling factor, 1 to 32")
def _upsample(src: Path, dst: Path, scale: int) -> None:
    from .viz.upsample import upsample_file

    before, after = upsample_file(src, dst, scale)
    click.echo(f"{src}: {before[1]}x{before[0]} -> {dst}: {after[1]}x{after[0]} (scale {scale})")


# ---------------------------------------------------------------------------
# shape


def _hyper_parameter(text: str) -> tuple[str, object]:
    """``key=value``, the value read by :func:`parse_hyper` in the framework's own words (``3``, ``2,2``,
    ``(0,1),(1,0)``, ``[0,1,1,0]``, ``same``, ``SAME``, ``None``, ``True``).

    >>> _hyper_parameter("padding=(0,1),(1,0)")
    ('padding', ((0, 1), (1, 0)))
    >>> _hyper_parameter("padding=same")
    ('padding', 'same')
    """
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise click.UsageError(f"hyper-parameters are key=value, got {text!r}")
    try:
        return key, parse_hyper(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=repr(key)) from None


def _frameworks() -> list[str]:
    from .compat import FRAMEWORKS

    return list(FRAMEWORKS)


@command("shape", short_help="Output size of a transposed-conv layer, and the layer in every framework.",
         help="Give a framework, the input's spatial size (INPUT, e.g. 5,5 or 5x5) and a layer's hyper-parameters "
         "in that framework's own words (PARAMS, key=value, e.g. kernel_size=3 strides=2 padding=same); prints the "
         "output size and the equivalent layer in every other framework, saying when no exact equivalent exists "
         "and which extra crop makes it exact. FRAMEWORK is one of: " + ", ".join(_frameworks()) + ".")
@click.argument("framework", type=click.Choice(_frameworks()))
@click.argument("input_size", metavar="INPUT", type=HyperValue("size"))
@click.argument("params", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--to", "targets", type=click.Choice(_frameworks()), multiple=True,
              help="only this target framework (repeat the option for several)")
def _shape(framework: str, input_size: tuple[int, ...], params: tuple[str, ...], targets: tuple[str, ...]) -> None:
    from .compat import report

    hyper = dict(_hyper_parameter(p) for p in params)
    try:
        click.echo(report(framework, input_size, list(targets) or None, **hyper))
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from exc


# ---------------------------------------------------------------------------
# bench


@command("bench", short_help="Time tconv against PyTorch CPU and ONNX Runtime on real layers.",
         help="Time tconv against PyTorch CPU and ONNX Runtime on the layers of the benchmark suite, interleaved "
         "(median of repeats, a pause and an untimed call before each timed one); prints ms, speed-up ratios, "
         "GFLOP/s, percentage of the NumPy GEMM peak and peak extra memory. PyTorch and ONNX Runtime are optional "
         "(pip install \"tconv[bench]\").")
@click.option("--quick", is_flag=True, help="a 7-layer subset and 3 repeats")
@click.option("--ops", default="", help="comma list of conv_transpose,conv,conv_transpose_grad,conv_grad (default: all)")
@click.option("--dtypes", default="float32,float64", show_default=True, help="comma list of dtypes")
@click.option("--layers", default="", help="comma list of layer names (default: all)")
@click.option("--repeats", type=int, default=None, help="timed repeats per contender (default 7, quick 3)")
@click.option("--pause", type=float, default=0.2, show_default=True,
              help="seconds to pause before each untimed+timed call pair")
@click.option("--auto-only", is_flag=True, help="time only tconv's auto, not every algorithm")
@click.option("--suite", default=None, help="a suite JSON file (default: the packaged suite)")
@click.option("--out", default=None, help="save PATH.json and PATH.md")
def _bench(quick: bool, ops: str, dtypes: str, layers: str, repeats: int | None, pause: float, auto_only: bool,
           suite: str | None, out: str | None) -> None:
    from .bench import run

    chosen = ops.split(",") if ops else ("conv_transpose", "conv", "conv_transpose_grad", "conv_grad")
    run(quick=quick, ops=chosen, dtypes=tuple(dtypes.split(",")), repeats=repeats, pause=pause,
        layers=layers.split(",") if layers else None, every_algorithm=not auto_only, out=out, suite=suite)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
