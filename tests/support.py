"""Hypothesis strategies for random convolution configurations, shared by the test modules."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import strategies as st


#: Largest relative error against an oracle per (operation, dtype), and how many comparisons were made;
#: printed at the end of the run by conftest.py.
WORST_ERRORS: dict[tuple[str, str], float] = {}
CHECKED: dict[tuple[str, str], int] = {}


def record_error(op: str, dtype, got, want) -> None:
    """Remember the relative error of one comparison with an oracle."""
    want = np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(np.asarray(got, np.float64) - want).max(initial=0.0)) / scale
    key = (op, str(np.dtype(dtype)))
    WORST_ERRORS[key] = max(WORST_ERRORS.get(key, 0.0), err)
    CHECKED[key] = CHECKED.get(key, 0) + 1


@dataclass(frozen=True)
class Config:
    """One random problem: shapes and hyper-parameters of a transposed conv / conv pair."""

    batch: int
    small_channels: int  # conv_transpose input channels == conv output channels
    big_channels: int  # conv_transpose output channels == conv input channels
    groups: int
    small_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    output_padding: tuple[int, ...]
    dtype: str
    seed: int

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @property
    def symmetric(self) -> bool:
        return all(lo == hi for lo, hi in self.padding)

    def k_eff(self, dim: int) -> int:
        return self.dilation[dim] * (self.kernel[dim] - 1) + 1

    def big_spatial(self) -> tuple[int, ...]:
        """The conv_transpose output size (== a conv input size that maps back to small_spatial)."""
        return tuple(
            (n - 1) * s - lo - hi + self.k_eff(d) + op
            for d, (n, s, (lo, hi), op) in enumerate(zip(self.small_spatial, self.stride, self.padding, self.output_padding))
        )

    def transpose_kwargs(self) -> dict:
        """Hyper-parameters of the transposed convolution, as keyword arguments."""
        return dict(stride=self.stride, padding=self.padding, output_padding=self.output_padding,
                    dilation=self.dilation, groups=self.groups)

    def conv_kwargs(self) -> dict:
        """Hyper-parameters of the convolution (no output_padding), as keyword arguments."""
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def conv_problem(self, extra: int = 0, bias: bool = True):
        """x (big side, with ``extra`` trailing rows that a stride may drop), weight and bias of a conv."""
        rng = np.random.default_rng(self.seed + 1)
        w = rng.standard_normal((self.small_channels, self.big_channels // self.groups) + self.kernel).astype(self.dtype)
        big = tuple(n + extra for n in self.big_spatial())
        x = rng.standard_normal((self.batch, self.big_channels) + big).astype(self.dtype)
        b = rng.standard_normal(self.small_channels).astype(self.dtype) if bias else None
        return x, w, b

    def arrays(self):
        """x (small side), weight (conv_transpose layout) and bias, random."""
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.batch, self.small_channels) + self.small_spatial).astype(self.dtype)
        w = rng.standard_normal((self.small_channels, self.big_channels // self.groups) + self.kernel).astype(self.dtype)
        b = rng.standard_normal(self.big_channels).astype(self.dtype)
        return x, w, b


@st.composite
def configs(draw, max_dims: int = 3, symmetric: bool = False, max_batch: int = 3) -> Config:
    """Random valid configurations: dims 1-3, kernel 1-5, stride 1-4, dilation 1-3, groups, padding."""
    nd = draw(st.integers(1, max_dims))
    groups = draw(st.integers(1, 3))
    small_c = groups * draw(st.integers(1, 3))
    big_c = groups * draw(st.integers(1, 3))
    max_k = 5
    max_n = {1: 9, 2: 6, 3: 4}[nd]
    kernel = tuple(draw(st.integers(1, max_k)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    small = tuple(draw(st.integers(1, max_n)) for _ in range(nd))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    padding = []
    for n, k, s, d, op in zip(small, kernel, stride, dilation, output_padding):
        full = (n - 1) * s + d * (k - 1) + 1 + op
        lo = draw(st.integers(0, (full - 1) // 2 if symmetric else full - 1))
        hi = lo if symmetric else draw(st.integers(0, full - 1 - lo))
        padding.append((lo, hi))
    return Config(
        batch=draw(st.integers(0, max_batch)),
        small_channels=small_c,
        big_channels=big_c,
        groups=groups,
        small_spatial=small,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=tuple(padding),
        output_padding=output_padding,
        dtype=draw(st.sampled_from(["float32", "float64"])),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def tolerance(dtype) -> dict:
    """The project's tolerances: float64 1e-10 relative, float32 1e-4."""
    return {"rtol": 1e-10, "atol": 1e-10} if np.dtype(dtype) == np.float64 else {"rtol": 1e-4, "atol": 1e-4}


def assert_close(got, want, dtype) -> None:
    """Compare with the project's tolerance, relative to the largest magnitude in ``want``."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    tol = tolerance(dtype)["rtol"]
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max(initial=0.0))
    assert err <= tol * scale, f"max abs error {err:.3g} > {tol:.0e} * {scale:.3g}"


@st.composite
def no_overlap_configs(draw, **kwargs) -> Config:
    """Stride >= dilated kernel (or a single small-side position): the taps never overlap."""
    cfg = draw(configs(**kwargs))
    one = draw(st.lists(st.booleans(), min_size=cfg.ndim, max_size=cfg.ndim))
    stride = tuple(max(s, (k - 1) * d + 1 + draw(st.integers(0, 1))) for s, k, d in zip(cfg.stride, cfg.kernel, cfg.dilation))
    small = tuple(1 if o else n for o, n in zip(one, cfg.small_spatial))
    return _repad(draw, cfg, stride=stride, small_spatial=small)


@st.composite
def depthwise_configs(draw, **kwargs) -> Config:
    """groups == in_channels == out_channels."""
    cfg = draw(configs(**kwargs))
    c = draw(st.integers(1, 6))
    return _repad(draw, cfg, groups=c, small_channels=c, big_channels=c)


@st.composite
def winograd_configs(draw, **kwargs) -> Config:
    """2-D, 3x3, stride 1, dilation 1, one group; sizes that give several tiles of 4, partial ones included."""
    cfg = draw(configs(**kwargs))
    small = (draw(st.integers(1, 13)), draw(st.integers(1, 13)))
    return _repad(draw, cfg, kernel=(3, 3), stride=(1, 1), dilation=(1, 1), groups=1, small_spatial=small,
                  small_channels=draw(st.integers(1, 20)), big_channels=draw(st.integers(1, 20)))


def _repad(draw, cfg: Config, **changes) -> Config:
    """Apply ``changes`` and redraw output_padding / padding so the configuration stays valid."""
    cfg = replace(cfg, **changes)
    op = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(cfg.stride, cfg.dilation))
    pads = []
    for n, k, s, d, o in zip(cfg.small_spatial, cfg.kernel, cfg.stride, cfg.dilation, op):
        full = (n - 1) * s + d * (k - 1) + 1 + o
        lo = draw(st.integers(0, full - 1))
        pads.append((lo, draw(st.integers(0, full - 1 - lo))))
    return replace(cfg, output_padding=op, padding=tuple(pads))


def configs_for(algorithm: str, **kwargs):
    """Random configurations inside ``algorithm``'s domain (nooverlap and depthwise have narrow ones)."""
    if algorithm == "nooverlap":
        return no_overlap_configs(**kwargs)
    if algorithm == "depthwise":
        return depthwise_configs(**kwargs)
    if algorithm == "winograd":
        return winograd_configs(**kwargs)
    return configs(**kwargs)


def require_algorithm(algorithm: str) -> None:
    """Skip the test when ``algorithm`` needs the compiled kernels and they are missing or switched off."""
    from tconv.algorithms import compiled

    if algorithm == "winograd" and not compiled.available():
        pytest.skip("winograd needs the compiled kernels (numba: the fast extra; TCONV_NUMBA not 0)")
