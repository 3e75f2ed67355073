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
kernel and input sizes, in every sub-command) is read by :func:`tconv.cli_values.parse_hyper`:
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
import json
import sys
import webbrowser
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import numpy as np

from . import __version__
from .cli_values import HyperValue, parse_hyper, parse_matrix

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
              help="language of the text tour and the HTML page (English or Portuguese)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="directory the HTML page is written to")
@click.option("--open", "open_page", is_flag=True, help="open the HTML page in a web browser")
@click.option("--text", "text_only", is_flag=True, help="only print the text tour, write no HTML")
def _tour(seed: int, lang: str, out_dir: Path, open_page: bool, text_only: bool) -> int:
    from .tour import tour_text

    words = {}
    if lang != "en":
        from .viz.texts import CHAPTER_PT, PAGE  # the illustrated page's translations, shared by the text

        words = dict(page=PAGE[lang], chapter=CHAPTER_PT)
    text, ok = tour_text(seed=seed, lang=lang, **words)
    click.echo(text)
    status = 0 if ok else 1
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
@click.option("--padding-mode", type=click.Choice(["zeros", "circular", "reflect", "replicate"]), default=None,
              help="draw what this boundary mode does instead: the padded extent, where each border tap folds "
                   "back onto the output (colour-coded), and the output (a 1-row --x is the 1-d case)")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("tconv-draw.svg"), show_default=True, help="picture file, .svg or .png")
def _draw(x: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, output_padding: Any, lang: str,
          padding_mode: str | None, out: Path) -> None:
    from .viz import geometry, render
    from .viz.tour_page import compact

    hyper = dict(stride=stride, padding=padding, dilation=dilation, output_padding=output_padding)
    if padding_mode is not None:
        from .viz.folding import describe_fold, fold_view

        render.draw_boundary(x, kernel, **hyper, padding_mode=padding_mode, path=out, lang=lang)
        view = fold_view(x, kernel, **hyper, padding_mode=padding_mode)
        click.echo(f"padded extent = {compact(view.padded)}")
        click.echo(f"output = {compact(view.output)}")
        click.echo(describe_fold(view, lang))
    else:
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
@click.option("--json", "as_json", is_flag=True,
              help="print the same as JSON: output size, and per target its params, output size, exactness, "
                   "extra crop, notes and weight conversion")
def _shape(framework: str, input_size: tuple[int, ...], params: tuple[str, ...], targets: tuple[str, ...],
           as_json: bool) -> None:
    from .compat import report

    hyper = dict(_hyper_parameter(p) for p in params)
    try:
        result = report(framework, input_size, list(targets) or None, as_dict=as_json, **hyper)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(json.dumps(result, indent=2) if as_json else result)


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
@click.option("--json", "as_json", is_flag=True,
              help="print the results as JSON on stdout (what --out saves as PATH.json); progress goes to stderr")
def _bench(quick: bool, ops: str, dtypes: str, layers: str, repeats: int | None, pause: float, auto_only: bool,
           suite: str | None, out: str | None, as_json: bool) -> None:
    from .bench import run

    chosen = ops.split(",") if ops else ("conv_transpose", "conv", "conv_transpose_grad", "conv_grad")
    streams = dict(stream=sys.stderr, json_stream=sys.stdout) if as_json else dict(stream=sys.stdout)
    run(quick=quick, ops=chosen, dtypes=tuple(dtypes.split(",")), repeats=repeats, pause=pause,
        layers=layers.split(",") if layers else None, every_algorithm=not auto_only, out=out, suite=suite,
        **streams)


# ---------------------------------------------------------------------------
# explain


def _hyper_flag(text: str | None, flag: str, kind: str, ndim: int) -> object:
    """A hyper-parameter flag's text read by :func:`parse_hyper` for ``ndim`` spatial dims (None: not given)."""
    if text is None:
        return None
    try:
        return parse_hyper(text, kind, ndim=ndim)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=repr(flag)) from None


def _operand(shape: tuple[int, ...] | None, path: Path | None, name: str, load: bool) -> object:
    """An operand from ``--NAME`` (a shape) or ``--NAME-file`` (a .npy file: its shape, or its array when ``load``)."""
    if (shape is None) == (path is None):
        raise click.UsageError(f"give the {name} as exactly one of --{name} SHAPE or --{name}-file FILE.npy")
    if path is None:
        return shape
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read a .npy array from {str(path)!r}: {exc}",
                                 param_hint=repr(f"--{name}-file")) from None
    return np.asarray(array) if load else array


@command("explain", short_help="Which algorithm auto runs for a call, why, and every candidate.",
         help="Tell which algorithm tconv's 'auto' runs for a transposed convolution (or, with --op conv, a "
         "convolution), and why: every registered algorithm with its support, predicted time, memory and (with "
         "--measure) measured time, and whether the compiled kernels are in use. Give the operands as shapes "
         "(--x 8,64,16,16 --weight 64,32,4,4) or .npy files (--x-file, --weight-file), and the hyper-parameters "
         "as for tconv.conv_transpose.")
@click.option("--x", "x_shape", type=HyperValue("size"), default=None, metavar="SHAPE",
              help="the input's shape, (N, C_in, *spatial) or (C_in, *spatial), e.g. 8,64,16,16")
@click.option("--weight", "weight_shape", type=HyperValue("size"), default=None, metavar="SHAPE",
              help="the weight's shape: (C_in, C_out // groups, *kernel); with --op conv (C_out, C_in // groups, "
                   "*kernel)")
@click.option("--x-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="the input, a .npy file (instead of --x)")
@click.option("--weight-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="the weight, a .npy file (instead of --weight)")
@click.option("--bias", is_flag=True, help="the call has a bias")
@click.option("--op", type=click.Choice(["conv_transpose", "conv"]), default="conv_transpose", show_default=True,
              help="the operation")
@click.option("--stride", default=None, metavar="S", help="S or one per spatial dim, e.g. 2 or 2,1  [default: 1]")
@click.option("--padding", default=None, metavar="P",
              help="P, one per dim, before,after per dim, (before,after) pairs, 'same' or 'valid'  [default: 0]")
@click.option("--output-padding", default=None, metavar="OP", help="OP or one per dim (conv_transpose)  [default: 0]")
@click.option("--dilation", default=None, metavar="D", help="D or one per dim  [default: 1]")
@click.option("--groups", type=HyperValue("int", minimum=1), default=None, help="groups  [default: 1]")
@click.option("--output-size", type=HyperValue("size"), default=None, metavar="SIZES",
              help="the output's spatial sizes (or full shape), picks output_padding (conv_transpose)")
@click.option("--padding-mode", type=click.Choice(["zeros", "circular", "reflect", "replicate"]), default="zeros",
              show_default=True, help="what the padding holds; the report says what it does at the border")
@click.option("--dtype", default=None,
              help="the operands' dtype: float32, float64, float16, bfloat16, ... [default: float32, or the files' "
                   "dtype]")
@click.option("--measure", is_flag=True,
              help="also time every supported algorithm (on the files' arrays, or random operands of the shapes)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def _explain(x_shape: tuple[int, ...] | None, weight_shape: tuple[int, ...] | None, x_file: Path | None,
             weight_file: Path | None, bias: bool, op: str, stride: str | None, padding: str | None,
             output_padding: str | None, dilation: str | None, groups: int | None,
             output_size: tuple[int, ...] | None, padding_mode: str, dtype: str | None, measure: bool,
             as_json: bool) -> None:
    from ._explain import explain

    x = _operand(x_shape, x_file, "x", measure)
    weight = _operand(weight_shape, weight_file, "weight", measure)
    ndim = max(len(weight if isinstance(weight, tuple) else weight.shape) - 2, 1)
    params = {
        "stride": _hyper_flag(stride, "--stride", "per_dim", ndim),
        "padding": _hyper_flag(padding, "--padding", "padding", ndim),
        "output_padding": _hyper_flag(output_padding, "--output-padding", "per_dim", ndim),
        "dilation": _hyper_flag(dilation, "--dilation", "per_dim", ndim),
        "groups": groups,
        "output_size": output_size,
    }
    params = {k: v for k, v in params.items() if v is not None}
    if not measure:  # only the shapes matter: no file is read beyond its header
        files = [a for a in (x, weight) if isinstance(a, np.ndarray)]
        if files and dtype is None:
            dtype = str(np.result_type(*files))
        x, weight = (tuple(a.shape) if isinstance(a, np.ndarray) else a for a in (x, weight))
    explanation = explain(x, weight, True if bias else None, op=op, measure=measure, dtype=dtype,
                          padding_mode=padding_mode, **params)
    click.echo(json.dumps(explanation.as_dict(), indent=2) if as_json else str(explanation))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
