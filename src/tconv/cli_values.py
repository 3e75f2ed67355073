"""The command line's one grammar for hyper-parameter values, and its click type.

Every value a ``tconv`` sub-command takes for a stride, padding, output_padding,
dilation, kernel or input size is read by :func:`parse_hyper`: integers
separated by ``,``, spaces or ``x``; ``(...)`` / ``[...]`` groups such as
``(before, after)`` pairs; words such as ``same``.  A value that does not fit
gets one error format, ``expected <what it takes>, got '<value>'``, which
click shows as ``Invalid value for '<flag>': ...`` (exit status 2).

>>> parse_hyper("2x1", "per_dim")
(2, 1)
>>> parse_hyper("(0,1),(1,0)", "padding")
((0, 1), (1, 0))
"""

from __future__ import annotations

import re
from typing import Any

import click



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
