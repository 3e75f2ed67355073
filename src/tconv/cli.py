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


def _bench(args: argparse.Namespace) -> int:
    from .bench import run

    ops = args.ops.split(",") if args.ops else ("conv_transpose", "conv", "conv_transpose_grad", "conv_grad")
    run(quick=args.quick, ops=ops, dtypes=tuple(args.dtypes.split(",")), repeats=args.repeats, pause=args.pause,
        layers=args.layers.split(",") if args.layers else None, every_algorithm=not args.auto_only, out=args.out,
        suite=args.suite)
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time tconv against PyTorch CPU and ONNX Runtime on real layers")
    p.add_argument("--quick", action="store_true", help="a 7-layer subset and 3 repeats")
    p.add_argument("--ops", default="", help="comma list of conv_transpose,conv,conv_transpose_grad,conv_grad")
    p.add_argument("--dtypes", default="float32,float64", help="comma list (default: float32,float64)")
    p.add_argument("--layers", default="", help="comma list of layer names (default: all)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per contender (default 7, quick 3)")
    p.add_argument("--pause", type=float, default=0.2, help="seconds to pause before each untimed+timed call pair")
    p.add_argument("--auto-only", action="store_true", help="time only tconv's auto, not every algorithm")
    p.add_argument("--suite", default=None, help="a suite JSON file (default: the packaged suite)")
    p.add_argument("--out", default=None, help="save PATH.json and PATH.md")
    p.set_defaults(run=_bench)


#: Every sub-command's parser builder.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_tour, _add_bench]


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
