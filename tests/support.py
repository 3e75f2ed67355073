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


def record_error(op: str, dtype, got, want) -> float:
    """Remember the relative error of one comparison with an oracle (relative to max(1, max |want|));
    complex values are compared as complex numbers (the modulus of the difference)."""
    kind = np.complex128 if np.iscomplexobj(want) or np.iscomplexobj(got) else np.float64
    want = np.asarray(want, kind)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(np.asarray(got, kind) - want).max(initial=0.0)) / scale
    return note_error(op, dtype, err)


def note_error(op: str, dtype, err: float) -> float:
    """Count one comparison under (``op``, ``dtype``) and keep the largest error; returns ``err``.

    For the report only: no test reads these tallies, so no outcome depends on which tests ran before.
    """
    key = (op, str(np.dtype(dtype)))
    WORST_ERRORS[key] = max(WORST_ERRORS.get(key, 0.0), err)
    CHECKED[key] = CHECKED.get(key, 0) + 1
    return err


class Compared:
    """How many configurations one run of a property drew, and how many of them it really compared.

    A property that may skip a draw (a framework refuses it, a guard returns early) takes one of these
    as its first argument; the plain test that runs it (``tally = Compared(); prop(tally)``) asserts a
    floor afterwards, so a run that compares nothing cannot pass.  Local to one test: no global state.
    """

    def __init__(self) -> None:
        self.drawn = 0
        self.compared = 0

    def assert_at_least(self, floor: int, what: str) -> None:
        assert self.compared >= max(floor, 1), (
            f"{what}: only {self.compared} of {self.drawn} drawn configurations were compared (floor {floor})")


def default_examples() -> int:
    """``max_examples`` of the loaded hypothesis profile (what a property without its own setting runs)."""
    from hypothesis import settings

    return settings.default.max_examples


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


#: Per-group channels: mostly 1-3 (fast), and in about one draw in five 16-64 on one side or both (the
#: sizes where the kernels switch to their wide-channel paths), within these bounds so the run stays fast.
WIDE_CHANNELS = (16, 64)
WIDE_MAX_ELEMENTS = 60_000  # elements of the largest array (x, result or weight)
WIDE_MAX_MACS = 2_000_000  # multiply-adds of one direction


def work(cfg: Config) -> tuple[int, int]:
    """Elements of the largest array (small side, big side, weight) and multiply-adds of a configuration."""
    small = int(np.prod(cfg.small_spatial))
    weight = cfg.small_channels * (cfg.big_channels // cfg.groups) * int(np.prod(cfg.kernel))
    largest = max(cfg.batch * cfg.small_channels * small, weight,
                  cfg.batch * cfg.big_channels * int(np.prod(cfg.big_spatial())))
    return largest, cfg.batch * small * weight


def _within_budget(cfg: Config) -> bool:
    largest, macs = work(cfg)
    return largest <= WIDE_MAX_ELEMENTS and macs <= WIDE_MAX_MACS


def _narrow_to_budget(cfg: Config) -> Config:
    """Shrink channels wider than 3 per group until the configuration fits the budget (narrow ones are kept)."""
    while not _within_budget(cfg):
        per_small, per_big = cfg.small_channels // cfg.groups, cfg.big_channels // cfg.groups
        if max(per_small, per_big) <= 3:
            break
        if per_small >= per_big:
            cfg = replace(cfg, small_channels=cfg.groups * max(3, per_small * 3 // 4))
        else:
            cfg = replace(cfg, big_channels=cfg.groups * max(3, per_big * 3 // 4))
    return cfg


@st.composite
def configs(draw, max_dims: int = 3, symmetric: bool = False, max_batch: int = 3, min_batch: int = 1) -> Config:
    """Random valid configurations: dims 1-3, kernel 1-5, stride 1-4, dilation 1-3, groups, padding.

    Batch is ``min_batch``..``max_batch`` (batch 0 has its own tests: tests/test_empty_batch.py); channels per
    group are 1-3, and sometimes 16-64 where the shapes are small enough (see ``WIDE_MAX_ELEMENTS``).
    """
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
    cfg = Config(
        batch=draw(st.integers(min_batch, max_batch)),
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
    return _widen(draw, cfg)


def _widen(draw, cfg: Config) -> Config:
    """In about one draw in five, 16-64 channels per group on the small side, the big side or both."""
    side = draw(st.integers(0, 9))  # 0-7: as drawn; 8: small side wide; 9: big side wide (and sometimes both)
    if side < 8:
        return cfg
    per_group = draw(st.integers(*WIDE_CHANNELS))
    both = draw(st.booleans())
    wide = replace(cfg, small_channels=cfg.groups * per_group) if side == 8 or both else cfg
    wide = replace(wide, big_channels=cfg.groups * per_group) if side == 9 or both else wide
    wide = _narrow_to_budget(wide)
    sides = [c // cfg.groups for c, was in ((wide.small_channels, cfg.small_channels),
                                            (wide.big_channels, cfg.big_channels)) if c != was]
    return wide if sides and min(sides) >= WIDE_CHANNELS[0] else cfg


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


@st.composite
def phase_winograd_configs(draw, **kwargs) -> Config:
    """2-D, kernel twice the stride (stride 2 or 3 per dim), dilation 1, one group; sizes that give several
    tiles of 4 per phase, partial ones included."""
    cfg = draw(configs(**kwargs))
    stride = (draw(st.integers(2, 3)), draw(st.integers(2, 3)))
    small = (draw(st.integers(1, 11)), draw(st.integers(1, 11)))
    return _repad(draw, cfg, kernel=tuple(2 * s for s in stride), stride=stride, dilation=(1, 1), groups=1,
                  small_spatial=small, small_channels=draw(st.integers(1, 20)), big_channels=draw(st.integers(1, 20)))


#: Algorithms that run only with the compiled kernels (numba).
COMPILED_ONLY = ("winograd", "phase_winograd")


def _repad(draw, cfg: Config, **changes) -> Config:
    """Apply ``changes`` and redraw output_padding / padding so the configuration stays valid."""
    cfg = replace(cfg, **changes)
    op = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(cfg.stride, cfg.dilation))
    pads = []
    for n, k, s, d, o in zip(cfg.small_spatial, cfg.kernel, cfg.stride, cfg.dilation, op):
        full = (n - 1) * s + d * (k - 1) + 1 + o
        lo = draw(st.integers(0, full - 1))
        pads.append((lo, draw(st.integers(0, full - 1 - lo))))
    return _narrow_to_budget(replace(cfg, output_padding=op, padding=tuple(pads)))


def configs_for(algorithm: str, **kwargs):
    """Random configurations inside ``algorithm``'s domain (nooverlap and depthwise have narrow ones)."""
    if algorithm == "nooverlap":
        return no_overlap_configs(**kwargs)
    if algorithm == "depthwise":
        return depthwise_configs(**kwargs)
    if algorithm == "winograd":
        return winograd_configs(**kwargs)
    if algorithm == "phase_winograd":
        return phase_winograd_configs(**kwargs)
    return configs(**kwargs)


def require_algorithm(algorithm: str) -> None:
    """Skip the test when ``algorithm`` needs the compiled kernels and they are missing or switched off."""
    from tconv.algorithms import jit

    if algorithm in COMPILED_ONLY and not jit.available():
        pytest.skip(f"{algorithm} needs the compiled kernels (numba: the fast extra; TCONV_NUMBA not 0)")


def layouts(a: np.ndarray):
    """``a`` in the memory layouts users hand tconv (C and Fortran order, channels-last view, reversed strides,
    step-2 view, read-only, unaligned), the values unchanged."""
    yield "C order", np.ascontiguousarray(a)
    yield "Fortran order", np.asfortranarray(a)
    if a.ndim >= 3:  # axis 1 (channels) stored last
        order = (0,) + tuple(range(2, a.ndim)) + (1,)
        yield "channels-last view", np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))
    reversed_copy = np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])
    yield "reversed strides", reversed_copy[(slice(None, None, -1),) * a.ndim]
    big = np.full(a.shape[:-1] + (2 * a.shape[-1],), np.nan, a.dtype)  # NaN where the view must not read
    big[..., ::2] = a
    yield "step-2 view", big[..., ::2]
    frozen = a.copy()
    frozen.flags.writeable = False
    yield "read-only", frozen
    raw = np.zeros(a.nbytes + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, np.uint8, a.nbytes, 1).view(a.dtype).reshape(a.shape)
    unaligned[...] = a
    assert not unaligned.flags.aligned or a.itemsize == 1
    yield "unaligned", unaligned


def clear_tconv_caches() -> None:
    """Empty every ``functools`` cache of the loaded tconv modules (:func:`tconv.bench.clear_caches`)."""
    from tconv.bench import clear_caches

    clear_caches()