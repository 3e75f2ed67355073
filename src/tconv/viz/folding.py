"""What a boundary mode does to a transposed convolution, as plain data (no plotting here).

A transposed convolution with ``padding_mode`` other than ``"zeros"`` is the
adjoint of a convolution whose input was padded in that mode.  Computed as
tconv computes it: the unpadded transposed convolution writes the *padded
extent* (the output grown by ``padding`` at each end), then every border tap
is added back onto the output position the padding copied it from
(:func:`tconv.boundary.fold`): wrapped around for ``"circular"``, mirrored
for ``"reflect"``, piled on the edge entry for ``"replicate"``; ``"zeros"``
drops it (the ordinary crop).

:func:`fold_view` computes that picture for a small 2-D single-channel case
(a 1-row input is the 1-d case): the padded extent, where each border cell
goes (:func:`tconv.boundary.source_index` per dim), the border's share once
folded, and the output.  The renderer (:func:`tconv.viz.render.draw_boundary`)
only draws these numbers.

>>> v = fold_view([[1., 2, 3, 4]], [[1., 1, 1]], padding=(0, 1), padding_mode="circular")
>>> v.padded.tolist(), v.output.tolist()
([[1.0, 3.0, 6.0, 9.0, 7.0, 4.0]], [[7.0, 6.0, 9.0, 8.0]])
>>> fold_moves(v)
[((0, -1), (0, 3)), ((0, 4), (0, 0))]
>>> print(describe_fold(v))
padding_mode='circular': the taps past the output's edges wrap around to the other side: output[-1] -> output[3], output[4] -> output[0].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..boundary import fold, source_index
from ..ops import conv_transpose
from ..params import conv_transpose_geometry
from .._validate import boundary_mode
from .geometry import small_matrix


@dataclass(frozen=True)
class Fold:
    """The boundary picture of ``conv_transpose(x, kernel, ..., padding_mode=mode)`` in 2-D.

    ``padded`` is the unpadded transposed convolution over the padded extent
    (``pairs`` = ``(before, after)`` per axis around the output); ``target[a, b]``
    is the output cell that padded cell ``(a, b)`` is added to (itself inside,
    ``(-1, -1)`` where ``"zeros"`` drops it); ``folded`` is the border's share
    of the output (the border alone, folded back); ``output`` is the result:
    the interior of ``padded`` plus ``folded``.
    """

    x: np.ndarray
    kernel: np.ndarray
    mode: str
    pairs: tuple[tuple[int, int], tuple[int, int]]
    padded: np.ndarray
    target: np.ndarray
    folded: np.ndarray
    output: np.ndarray

    @property
    def keep(self) -> tuple[slice, slice]:
        """The padded extent's slices that are the output's own positions."""
        return _keep(self.pairs, self.output.shape)

    def border_mask(self) -> np.ndarray:
        """True on the padded extent's border (the cells outside :attr:`keep`)."""
        mask = np.ones(self.padded.shape, bool)
        mask[self.keep] = False
        return mask

    @property
    def one_dimensional(self) -> bool:
        """A 1-row picture with nothing padded along the rows: the 1-d case."""
        return self.x.shape[0] == 1 and self.kernel.shape[0] == 1 and self.pairs[0] == (0, 0)


def _keep(pairs, output_shape) -> tuple[slice, slice]:
    return tuple(slice(lo, lo + n) for (lo, _), n in zip(pairs, output_shape))  # type: ignore[return-value]


def fold_view(
    x: Any,
    kernel: Any,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    output_padding: Any = 0,
    padding_mode: str = "circular",
) -> Fold:
    """The boundary picture's data for a 2-D single-channel transposed convolution.

    Hyper-parameters are those of :func:`tconv.conv_transpose` (``padding_mode`` included: ``"zeros"``,
    ``"circular"``, ``"reflect"`` or ``"replicate"``).

    >>> v = fold_view([[1., 2, 3]], [[1., 1]], padding=(0, 1), padding_mode="replicate")
    >>> v.padded.tolist(), v.folded.tolist(), v.output.tolist()
    ([[1.0, 3.0, 5.0, 3.0]], [[1.0, 3.0]], [[4.0, 8.0]])
    """
    mode = boundary_mode(padding_mode)
    x, kernel = small_matrix(x, "x"), small_matrix(kernel, "kernel")
    x4, k4 = x[None, None], kernel[None, None]
    hyper = dict(stride=stride, dilation=dilation)
    geom = conv_transpose_geometry(x4, k4, padding=padding, output_padding=output_padding, padding_mode=mode, **hyper)
    pairs = geom.boundary_pairs
    # the padded extent: the same transposed convolution, nothing cropped, as long as the padded output
    padded = conv_transpose(x4, k4, output_size=geom.padded_shape, **hyper)[0, 0]
    sources = [source_index(n, lo, hi, mode) for n, (lo, hi) in zip(geom.output_shape, pairs)]
    rows, cols = np.meshgrid(*sources, indexing="ij")
    dropped = (rows < 0) | (cols < 0)
    target = np.stack([np.where(dropped, -1, rows), np.where(dropped, -1, cols)], axis=-1)
    border = padded.copy()
    border[_keep(pairs, geom.output_shape)] = 0.0
    folded = fold(border[None, None], pairs, mode)[0, 0]  # the border alone, folded back
    output = fold(padded[None, None], pairs, mode)[0, 0]
    return Fold(x, kernel, mode, pairs, padded, target, folded, output)


def fold_moves(view: Fold) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Every border cell and the output cell it is added to, ``((row, col), (row, col))``, positions counted
    from the output's first cell (so a cell before the output has a negative index); dropped cells
    (``"zeros"``) are left out.

    >>> fold_moves(fold_view([[1., 2, 3]], [[1., 1]], padding=(0, 1), padding_mode="reflect"))
    [((0, -1), (0, 1)), ((0, 2), (0, 0))]
    """
    (lo0, _), (lo1, _) = view.pairs
    moves = []
    for a, b in zip(*np.nonzero(view.border_mask())):
        r, c = view.target[a, b]
        if r >= 0:
            moves.append(((int(a) - lo0, int(b) - lo1), (int(r), int(c))))
    return moves


#: How each mode treats the taps past the output's edges, per language.
_RULES = {
    "en": {
        "head": "padding_mode={mode!r}: ",
        "zeros": "the taps past the output's edges are cropped away (the adjoint of padding with zeros).",
        "circular": "the taps past the output's edges wrap around to the other side",
        "reflect": "the taps past the output's edges are mirrored back about the edge entry (not repeated)",
        "replicate": "the taps past the output's edges pile up on the edge entry",
        "none": "nothing lands past the output's edges (no padding): the mode changes nothing.",
        "output": "output",
        "more": "and {n} more",
    },
    "pt": {
        "head": "padding_mode={mode!r}: ",
        "zeros": "as contribuições além das bordas da saída são recortadas (a adjunta do preenchimento com zeros).",
        "circular": "as contribuições além das bordas da saída dão a volta para o outro lado",
        "reflect": "as contribuições além das bordas da saída voltam espelhadas em torno do elemento da borda "
        "(sem repeti-lo)",
        "replicate": "as contribuições além das bordas da saída se acumulam no elemento da borda",
        "none": "nada cai além das bordas da saída (sem preenchimento): o modo não muda nada.",
        "output": "saída",
        "more": "e mais {n}",
    },
}

#: Most moves :func:`describe_fold` lists before summarising the rest.
MAX_LISTED = 8


def _cell(view: Fold, rc: tuple[int, int], word: str) -> str:
    return f"{word}[{rc[1]}]" if view.one_dimensional else f"{word}[{rc[0]},{rc[1]}]"


def describe_fold(view: Fold, lang: str = "en", limit: int = MAX_LISTED) -> str:
    """One sentence saying where the border taps of ``view`` go, with the moves themselves (``"en"`` or
    ``"pt"``; the first ``limit`` of them, then how many more).

    >>> print(describe_fold(fold_view([[1., 2]], [[1., 1]], padding=(0, 1), padding_mode="zeros"), lang="pt"))
    padding_mode='zeros': as contribuições além das bordas da saída são recortadas (a adjunta do preenchimento com zeros).
    """
    if lang not in _RULES:
        raise ValueError(f"lang must be one of {sorted(_RULES)}, got {lang!r}")
    words = _RULES[lang]
    head = words["head"].format(mode=view.mode)
    if not view.border_mask().any():
        return head + words["none"]
    if view.mode == "zeros":
        return head + words["zeros"]
    moves = fold_moves(view)
    listed = [f"{_cell(view, a, words['output'])} -> {_cell(view, b, words['output'])}" for a, b in moves[:limit]]
    if len(moves) > limit:
        listed.append(words["more"].format(n=len(moves) - limit))
    return head + words[view.mode] + ": " + ", ".join(listed) + "."
