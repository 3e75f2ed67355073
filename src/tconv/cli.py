"""The ``tconv`` command line.

Each sub-command is one small function taking the parsed arguments; they are
listed in :data:`COMMANDS`.

>>> main(["tour"])  # doctest: +ELLIPSIS
tconv tour: ...
0
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence


def _tour(args: argparse.Namespace) -> int:
    from .tour import render_text, sections

    items = sections(seed=args.seed)
    print(render_text(items))
    return 0 if all(s.matches for s in items) else 1


def _add_tour(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tour", help="walk through the transposed-convolution chapter, every example computed live")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs of the channel example")
    p.set_defaults(run=_tour)


def _hyper_parameter(text: str) -> tuple[str, object]:
    """``key=value`` with a Python literal value (``3``, ``2,2``, ``(0,1),(1,0)``) or a bare word (``same``)."""
    import ast

    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"hyper-parameters are key=value, got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = None if value == "None" else value
    return key, parsed


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are integers like 5,5 or 5x5, got {text!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError(f"sizes are integers like 5,5 or 5x5, got {text!r}")
    return sizes


def _shape(args: argparse.Namespace) -> int:
    from .compat.translate import report

    try:
        print(report(args.framework, args.input, args.to, **dict(args.params)))
    except (ValueError, TypeError) as exc:
        print(f"tconv shape: {exc}", file=sys.stderr)
        return 2
    return 0


def _add_shape(sub: argparse._SubParsersAction) -> None:
    from .compat.translate import FRAMEWORKS

    p = sub.add_parser(
        "shape",
        help="output size of a transposed-conv layer and its hyper-parameters in every framework",
        description="Give the input's spatial size and a layer's hyper-parameters in one framework's words; "
        "prints the output size and the equivalent layer in every other framework (saying when no exact "
        "equivalent exists and which extra crop makes it exact). Example: tconv shape keras 5,5 "
        "kernel_size=3 strides=2 padding=same",
    )
    p.add_argument("framework", choices=FRAMEWORKS, help="the framework whose hyper-parameter names follow")
    p.add_argument("input", type=_sizes, metavar="INPUT", help="spatial input size, e.g. 5,5 (or 5x5)")
    p.add_argument("--to", choices=FRAMEWORKS, nargs="+", help="only these target frameworks")
    p.add_argument("params", type=_hyper_parameter, nargs="*", metavar="KEY=VALUE",
                   help="hyper-parameters in that framework's names, e.g. kernel_size=3 stride=2 padding=1")
    p.set_defaults(run=_shape)


#: Every sub-command's parser builder.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_tour, _add_shape]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="tconv", description="Transposed convolution: exact, portable, fast and explained."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tconv`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
