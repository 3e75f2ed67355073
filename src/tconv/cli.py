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
    from .tour import exercise_text, render_text, sections

    items = sections(seed=args.seed)
    print(render_text(items))
    print()
    print(exercise_text())
    return 0 if all(s.matches for s in items) else 1


def _add_tour(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tour", help="walk through the transposed-convolution chapter, every example computed live")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs of the channel example")
    p.set_defaults(run=_tour)


#: Every sub-command's parser builder.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_tour]


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
