"""PyTorch as the oracle of the boundary modes: ``F.pad`` in a mode, then an unpadded ``F.conv{n}d``.

The transposed side has no PyTorch operator (``ConvTranspose*d`` refuses every mode but zeros), so its
oracle is what the adjoint *is*: the vector-Jacobian product of PyTorch's padded convolution with
respect to its input (``torch.autograd.grad``), and its gradients are PyTorch's double backward of that.
Also the random configurations the boundary tests draw, each within the limits PyTorch's pad sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch CPU wheel is in the test extra: pip install -e '.[test]'")
F = torch.nn.functional

MODES = ("zeros", "circular", "reflect", "replicate")
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def torch_pad_arg(pairs) -> tuple[int, ...]:
    """``F.pad``'s padding argument: (before, after) of the last dim first."""
    return tuple(v for lo, hi in reversed(tuple(pairs)) for v in (lo, hi))


def tensor(a, requires_grad: bool = False):
    return torch.tensor(np.ascontiguousarray(a), requires_grad=requires_grad)


def padded_conv(x, w, b, *, mode, pairs, stride, dilation, groups):
    """PyTorch's ``Conv*d(padding_mode=mode)`` on tensors: ``F.pad`` by ``pairs``, then an unpadded conv."""
    nd = w.ndim - 2
    xp = F.pad(x, torch_pad_arg(pairs), mode="constant" if mode == "zeros" else mode)
    return _CONV[nd](xp, w, b, stride=stride, dilation=dilation, groups=groups)


def torch_conv(x, w, b=None, **hyper) -> np.ndarray:
    with torch.no_grad():
        return padded_conv(tensor(x), tensor(w), None if b is None else tensor(b), **hyper).numpy()


def torch_adjoint(y, w, x_shape, b=None, **hyper) -> np.ndarray:
    """The adjoint of the padded convolution applied to ``y``: its input gradient for output gradient ``y``
    (plus ``b`` per channel), by ``torch.autograd``."""
    x0 = torch.zeros(tuple(x_shape), dtype=torch.float64, requires_grad=True)
    out = padded_conv(x0, tensor(w), None, **hyper)
    assert tuple(out.shape) == tuple(np.shape(y)), (out.shape, np.shape(y))
    (z,) = torch.autograd.grad(out, x0, tensor(y))
    z = z.numpy()
    if b is not None:
        z = z + np.asarray(b).reshape((-1,) + (1,) * (w.ndim - 2))
    return z


def torch_conv_grads(g, x, w, **hyper):
    """``(grad_input, grad_weight, grad_bias)`` of ``sum(g * padded_conv(x, w, b))`` by ``torch.autograd``."""
    tx, tw = tensor(x, True), tensor(w, True)
    tb = torch.zeros(w.shape[0], dtype=tx.dtype, requires_grad=True)
    out = padded_conv(tx, tw, tb, **hyper)
    return tuple(t.numpy() for t in torch.autograd.grad(out, (tx, tw, tb), tensor(g)))


def torch_conv_transpose_grads(g, y, w, x_shape, **hyper):
    """``(grad_input, grad_weight, grad_bias)`` of ``sum(g * A(y, w) + b)``, ``A`` the adjoint of the padded
    convolution (the vjp above), by ``torch.autograd``'s double backward."""
    ty, tw = tensor(y, True), tensor(w, True)
    tb = torch.zeros(g.shape[1], dtype=ty.dtype, requires_grad=True)
    x0 = torch.zeros(tuple(x_shape), dtype=ty.dtype, requires_grad=True)
    out = padded_conv(x0, tw, None, **hyper)
    (z,) = torch.autograd.grad(out, x0, ty, create_graph=True)
    z = z + tb.reshape((-1,) + (1,) * (w.ndim - 2))
    return tuple(t.numpy() for t in torch.autograd.grad((z * tensor(g)).sum(), (ty, tw, tb)))


# --------------------------------------------------------------------------- random configurations


@dataclass(frozen=True)
class Case:
    """One padded convolution: the conv's input is the big side (the transposed conv's output)."""

    mode: str
    batch: int
    big_channels: int  # conv input channels == conv_transpose output channels
    small_channels: int  # conv output channels == conv_transpose input channels
    groups: int
    big: tuple[int, ...]  # conv input spatial shape
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    symmetric: bool

    @property
    def nd(self) -> int:
        return len(self.kernel)

    @property
    def padding(self):
        """``padding`` as a user writes it: one int per dim when symmetric, else the pairs."""
        return tuple(lo for lo, _ in self.pairs) if self.symmetric else self.pairs

    @property
    def small(self) -> tuple[int, ...]:
        return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1 for n, (lo, hi), k, s, d in
                     zip(self.big, self.pairs, self.kernel, self.stride, self.dilation))

    @property
    def hyper(self) -> dict:
        """Keyword arguments of the torch oracle."""
        return dict(mode=self.mode, pairs=self.pairs, stride=self.stride, dilation=self.dilation, groups=self.groups)

    @property
    def conv_kwargs(self) -> dict:
        """Keyword arguments of ``tconv.conv``."""
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups,
                    padding_mode=self.mode)

    @property
    def conv_transpose_kwargs(self) -> dict:
        """Keyword arguments of ``tconv.conv_transpose`` for the adjoint (its output of the conv's input size)."""
        return dict(self.conv_kwargs, output_size=self.big)

    def arrays(self, seed: int, dtype=np.float64):
        """``x`` (big side), ``w`` (conv layout), the conv's bias ``b`` and ``y`` (small side), seeded."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.batch, self.big_channels) + self.big).astype(dtype)
        w = rng.standard_normal((self.small_channels, self.big_channels // self.groups) + self.kernel).astype(dtype)
        b = rng.standard_normal(self.small_channels).astype(dtype)
        y = rng.standard_normal((self.batch, self.small_channels) + self.small).astype(dtype)
        return x, w, b, y

    def transposed_bias(self, seed: int, dtype=np.float64) -> np.ndarray:
        """A bias of the transposed conv (one per big-side channel), seeded."""
        return np.random.default_rng(seed + 7).standard_normal(self.big_channels).astype(dtype)


def _pad_limit(mode: str, n: int) -> int:
    return {"reflect": n - 1, "circular": n}.get(mode, n + 2)


def draw_case(rng: np.random.Generator, mode: str, nd: int, *, max_size: int = 7, max_kernel: int = 3,
              max_stride: int = 3, max_dilation: int = 2, groups=None, channels=None, kernel=None, stride=None,
              dilation=None) -> Case | None:
    """A random case within PyTorch's pad limits whose output is not empty; None when the draw does not fit
    (the caller draws again).  The transposed conv reaches the conv's input size with an ``output_padding``
    below the stride, so the padded conv has exactly as many outputs as the transposed conv has inputs."""
    g = int(rng.integers(1, 3)) if groups is None else groups
    c_big, c_small = channels if channels is not None else (g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3)))
    big = tuple(int(v) for v in rng.integers(1, max_size + 1, nd))
    k = tuple(int(v) for v in rng.integers(1, max_kernel + 1, nd)) if kernel is None else kernel
    s = tuple(int(v) for v in rng.integers(1, max_stride + 1, nd)) if stride is None else stride
    d = tuple(int(v) for v in rng.integers(1, max_dilation + 1, nd)) if dilation is None else dilation
    symmetric = bool(rng.integers(0, 2))
    pairs = []
    for n in big:
        limit = _pad_limit(mode, n)
        lo = int(rng.integers(0, min(limit, 3) + 1))
        hi = lo if symmetric else int(rng.integers(0, min(limit, 3) + 1))
        pairs.append((lo, hi))
    case = Case(mode, int(rng.integers(1, 3)), c_big, c_small, g, big, k, s, d, tuple(pairs), symmetric)
    if any(n + lo + hi < dd * (kk - 1) + 1 for n, (lo, hi), kk, dd in zip(big, pairs, k, d)):
        return None  # no output position
    return case


def cases(seed: int, count: int, modes=MODES, nds=(1, 2, 3), **limits) -> list[Case]:
    """``count`` random cases per (mode, nd), seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for mode in modes:
        for nd in nds:
            drawn = 0
            while drawn < count:
                case = draw_case(rng, mode, nd, **limits)
                if case is not None:
                    out.append(case)
                    drawn += 1
    return out
