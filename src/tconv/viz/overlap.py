"""How many kernel taps land on each output pixel: the checkerboard, as numbers.

A transposed convolution writes input ``i``'s tap ``t`` to output
``i * stride + t * dilation``.  Away from the borders, output ``o`` therefore
receives one tap for every ``t`` with ``t * dilation ≡ o (mod stride)``.  When
the kernel size is not a multiple of the stride these counts differ from one
output phase to the next, and a layer with smooth weights paints a
checkerboard (the artefact of Odena et al., 2016).

>>> overlap_counts(3, 2, input_size=4).tolist()
[1, 1, 2, 1, 2, 1, 2, 1, 1]
>>> phase_counts(3, 2)
(2, 1)
>>> print(describe_overlap(3, 2))  # doctest: +ELLIPSIS
Kernel 3, stride 2: ...uneven...2:1 ratio...
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..shapes import effective_kernel, full_size
from .._validate import as_int, int_tuple


def _positive(value: Any, name: str) -> int:
    n = as_int(value, name)
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n


def default_input_size(kernel_size: int, stride: int, dilation: int = 1) -> int:
    """An input length that shows the borders and a few interior periods.

    >>> default_input_size(3, 2)
    6
    """
    return max(4, -(-effective_kernel(kernel_size, dilation) // stride) + 4)


def overlap_counts(kernel_size: Any, stride: Any, *, dilation: Any = 1, input_size: Any = None, ndim: int = 1) -> np.ndarray:
    """Number of (input element, kernel tap) pairs that write each output pixel.

    ``kernel_size``, ``stride``, ``dilation`` and ``input_size`` are ints or
    per-dim tuples; ``ndim`` is 1 or 2 (the picture's dimensions).  No
    padding: every position of the full output is shown.

    >>> overlap_counts(4, 2, input_size=3).tolist()
    [1, 1, 2, 2, 2, 2, 1, 1]
    >>> overlap_counts(3, 2, input_size=2, ndim=2).tolist()
    [[1, 1, 2, 1, 1], [1, 1, 2, 1, 1], [2, 2, 4, 2, 2], [1, 1, 2, 1, 1], [1, 1, 2, 1, 1]]
    """
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim!r}")
    k = int_tuple(kernel_size, ndim, "kernel_size", minimum=1)
    s = int_tuple(stride, ndim, "stride", minimum=1)
    d = int_tuple(dilation, ndim, "dilation", minimum=1)
    if input_size is None:
        n = tuple(default_input_size(*args) for args in zip(k, s, d))
    else:
        n = int_tuple(input_size, ndim, "input_size", minimum=1)
    per_axis = []
    for ni, ki, si, di in zip(n, k, s, d):
        counts = np.zeros(full_size(ni, ki, si, di), dtype=np.int64)
        targets = (np.arange(ni)[:, None] * si + np.arange(ki)[None, :] * di).ravel()
        np.add.at(counts, targets, 1)
        per_axis.append(counts)
    if ndim == 1:
        return per_axis[0]
    return np.multiply.outer(per_axis[0], per_axis[1])


def phase_counts(kernel_size: Any, stride: Any, dilation: Any = 1) -> tuple[int, ...]:
    """Taps per interior output, for each output phase ``o mod stride`` (1-d).

    >>> phase_counts(4, 2), phase_counts(5, 2), phase_counts(1, 3)
    ((2, 2), (3, 2), (1, 0, 0))
    """
    k, s, d = _positive(kernel_size, "kernel_size"), _positive(stride, "stride"), _positive(dilation, "dilation")
    counts = [0] * s
    for t in range(k):
        counts[(t * d) % s] += 1
    return tuple(counts)


_TEXT = {
    "en": {
        "head": "Kernel {k}, stride {s}{dil}: ",
        "dil": ", dilation {d}",
        "even": "the overlap is even: every interior output pixel receives {c} tap(s) per axis "
        "({c2} in 2-D), so a constant input gives a constant output away from the borders.",
        "holes": "some outputs receive no tap at all ({zeros} of every {s} per axis): the stride is larger "
        "than the dilated kernel's coverage, so the output has holes regardless of the weights.",
        "uneven": "the overlap is uneven: interior output pixels receive {counts} taps depending on their "
        "position modulo {s}, a {ratio} ratio per axis ({ratio2} in 2-D). Even a constant input and a "
        "constant kernel give a periodic pattern: the checkerboard. A kernel size divisible by the stride "
        "(e.g. {fix}) spreads the taps evenly.",
    },
    "pt": {
        "head": "Kernel {k}, passo {s}{dil}: ",
        "dil": ", dilatação {d}",
        "even": "a sobreposição é uniforme: cada pixel interior da saída recebe {c} contribuição(ões) por eixo "
        "({c2} em 2-D); uma entrada constante dá uma saída constante longe das bordas.",
        "holes": "algumas saídas não recebem contribuição nenhuma ({zeros} em cada {s} por eixo): o passo é maior "
        "que o alcance do kernel dilatado, e a saída fica com buracos, sejam quais forem os pesos.",
        "uneven": "a sobreposição é desigual: os pixels interiores da saída recebem {counts} contribuições "
        "conforme a posição módulo {s}, uma razão de {ratio} por eixo ({ratio2} em 2-D). Mesmo uma entrada e "
        "um kernel constantes produzem um padrão periódico: o tabuleiro de xadrez. Um kernel cujo tamanho é "
        "múltiplo do passo (por exemplo {fix}) distribui as contribuições por igual.",
    },
}


def _ratio(values: list[int]) -> str:
    return ":".join(str(v) for v in sorted(set(values), reverse=True))


def describe_overlap(kernel_size: Any, stride: Any, dilation: Any = 1, lang: str = "en") -> str:
    """A short explanation of the overlap pattern, generated from :func:`phase_counts`.

    (Not :func:`tconv.explain`, which explains how a whole call is computed.)

    >>> print(describe_overlap(4, 2))
    Kernel 4, stride 2: the overlap is even: every interior output pixel receives 2 tap(s) per axis (4 in 2-D), so a constant input gives a constant output away from the borders.
    >>> print(describe_overlap(3, 2, lang="pt"))  # doctest: +ELLIPSIS
    Kernel 3, passo 2: a sobreposição é desigual: ... 2:1 por eixo (4:2:1 em 2-D)...
    """
    if lang not in _TEXT:
        raise ValueError(f"lang must be one of {sorted(_TEXT)}, got {lang!r}")
    text = _TEXT[lang]
    k, s, d = _positive(kernel_size, "kernel_size"), _positive(stride, "stride"), _positive(dilation, "dilation")
    counts = list(phase_counts(k, s, d))
    head = text["head"].format(k=k, s=s, dil=text["dil"].format(d=d) if d != 1 else "")
    if 0 in counts:
        return head + text["holes"].format(zeros=counts.count(0), s=s)
    if len(set(counts)) == 1:
        return head + text["even"].format(c=counts[0], c2=counts[0] ** 2)
    products = [a * b for a in counts for b in counts]
    fix = (k // s + 1) * s
    shown = " / ".join(str(c) for c in sorted(set(counts), reverse=True))
    return head + text["uneven"].format(counts=shown, s=s, ratio=_ratio(counts), ratio2=_ratio(products), fix=fix)
