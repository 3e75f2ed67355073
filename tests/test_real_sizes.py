"""Every algorithm against PyTorch (float64) where ``auto`` sends real layers, in both directions.

For each name in :func:`tconv.algorithm_names`, ``conv_transpose(..., algorithm=name)``
and ``conv(..., algorithm=name)`` (the adjoint, with the same weight: it maps
the transposed output back) are compared with ``torch.nn.functional`` computed
in float64 on

(a) the layers of the benchmark suite (``tconv/data/suite.json``) with the
    batch reduced to 1 and, where a layer would make the run slow, the spatial
    sizes halved (the channels stay as they are);
(b) seeded random configurations with up to 256 channels per group, 1-3
    spatial dims, groups, dilation, output_padding, asymmetric padding,
    strides and kernels 1-7, a share of them aimed at each algorithm's
    domain (winograd's 2-D 3x3 stride 1, depthwise's groups == channels,
    nooverlap's stride >= dilated kernel, fft's large kernels, a stride with
    more phases than the phase-wise algorithms take);
(c) seven memory layouts of ``x`` and ``weight``, each of which must give
    bitwise the numbers of the C-contiguous copy.

The data are float32 values; the float64 run takes the same values, so one
float64 reference serves both dtypes.  The relative error
``max|got - ref| / max(1, max|ref|)`` of every comparison must stay under the
algorithm's bound in :data:`BOUNDS`, the table of ``docs/accuracy.md``.  An
algorithm that declines a configuration must raise ``ValueError`` naming
itself; each test asserts how many configurations its algorithm computed.
Inputs are never modified.  ``-m slow`` runs the suite at its full spatial
sizes and three times as many random configurations.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import tconv
from support import assert_close, layouts, record_error, require_algorithm
from torch_oracle import torch_conv, torch_conv_transpose

ALGORITHMS = tconv.algorithm_names()
DTYPES = ("float32", "float64")
DIRECTIONS = ("conv_transpose", "conv")

#: Largest relative error allowed per algorithm and dtype: the table of docs/accuracy.md.
BOUNDS = {
    "direct": {"float32": 4e-6, "float64": 5e-14},
    "gemm": {"float32": 4e-6, "float64": 5e-14},
    "phase": {"float32": 4e-6, "float64": 5e-14},
    "subpixel": {"float32": 4e-6, "float64": 5e-14},
    "nooverlap": {"float32": 2e-6, "float64": 1e-14},
    "depthwise": {"float32": 1e-6, "float64": 1e-15},
    "fft": {"float32": 1e-5, "float64": 5e-14},
    "winograd": {"float32": 5e-5, "float64": 1e-13},
    "phase_winograd": {"float32": 5e-5, "float64": 1e-13},
}


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """One BLAS thread while this module runs (when threadpoolctl is installed).

    The results do not depend on it (the comparisons are with tolerances, the
    layout ones within one setting), but on a shared two-core machine
    OpenBLAS's threads, tconv's and scipy.fft's workers wait for each other
    and the many small GEMMs here take several times longer, erratically.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with the bench extra
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class Case:
    """One layer: the transposed convolution maps ``small`` to ``big``; the convolution maps back."""

    name: str
    small_channels: int
    big_channels: int
    groups: int
    small_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    output_padding: tuple[int, ...]
    batch: int = 1

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    def k_eff(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    def full_spatial(self) -> tuple[int, ...]:
        """The uncropped transposed-convolution output."""
        return tuple((n - 1) * s + k for n, s, k in zip(self.small_spatial, self.stride, self.k_eff()))

    def big_spatial(self) -> tuple[int, ...]:
        pads = zip(self.full_spatial(), self.padding, self.output_padding)
        return tuple(f - lo - hi + op for f, (lo, hi), op in pads)

    def kwargs(self, direction: str) -> dict:
        kw = dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)
        if direction == "conv_transpose":
            kw["output_padding"] = self.output_padding
        return kw

    def macs(self) -> int:
        """Multiply-adds of the definition (the scatter over taps)."""
        per = self.small_channels * self.big_channels // self.groups
        return self.batch * int(np.prod(self.small_spatial)) * int(np.prod(self.kernel)) * per

    def fft_work(self) -> int:
        """The channel mixing of the FFT algorithm: one small GEMM per frequency of the full output."""
        return self.batch * int(np.prod(self.full_spatial())) * self.small_channels * self.big_channels // self.groups

    def with_spatial(self, small: tuple[int, ...]) -> "Case":
        """The same layer on a smaller input, with the padding clipped so that the output stays non-empty."""
        case = replace(self, small_spatial=small)
        pads = []
        for (lo, hi), full, op in zip(self.padding, case.full_spatial(), self.output_padding):
            lo = min(lo, (full + op - 1) // 2)
            pads.append((lo, min(hi, full + op - 1 - lo)))
        return replace(case, padding=tuple(pads))


def _per_dim(value, nd: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (int(value),) * nd


def _suite_layers() -> list[dict]:
    text = resources.files("tconv").joinpath("data/suite.json").read_text()
    return json.loads(text)["shapes"]


def test_the_packaged_suite_has_the_sixteen_layers():
    names = [layer["name"] for layer in _suite_layers()]
    assert len(names) == 16 == len(set(names)) and {"istft", "nnunet3d_up", "dcgan_1", "fcn32s"} <= set(names)


#: A layer larger than this (multiply-adds, FFT channel mixing) is run on a smaller input by default.
SUITE_MACS, SUITE_FFT_WORK = 4e7, 2e7


def _shrunk(case: Case, macs: float, fft_work: float) -> Case:
    """Halve the largest spatial dim until the layer fits the budget (channels and kernel untouched)."""
    while (case.macs() > macs or case.fft_work() > fft_work) and max(case.small_spatial) > 1:
        small = list(case.small_spatial)
        i = int(np.argmax(small))
        small[i] = (small[i] + 1) // 2
        case = case.with_spatial(tuple(small))
    return case


def suite_cases(full: bool = False) -> list[Case]:
    """The benchmark suite's layers, batch 1 (smaller spatial sizes unless ``full``)."""
    cases = []
    for layer in _suite_layers():
        nd = len(layer["input"])
        pad = _per_dim(layer["padding"], nd)
        case = Case(
            name=layer["name"], small_channels=layer["C_in"], big_channels=layer["C_out"], groups=layer["groups"],
            small_spatial=tuple(layer["input"]), kernel=tuple(layer["kernel"]), stride=_per_dim(layer["stride"], nd),
            dilation=_per_dim(layer["dilation"], nd), padding=tuple((p, p) for p in pad),
            output_padding=_per_dim(layer["output_padding"], nd),
        )
        cases.append(case if full else _shrunk(case, SUITE_MACS, SUITE_FFT_WORK))
    return cases


#: What the random configurations aim at, in turn (general ones twice as often).
TARGETS = ("general", "nooverlap", "general", "depthwise", "winograd", "fft", "pointwise")
#: Cost caps of one random configuration (multiply-adds, FFT channel mixing, output elements).
RANDOM_MACS, RANDOM_FFT_WORK, RANDOM_OUTPUT = 3e6, 6e6, 3e5


def _channels(rng: np.random.Generator, top: int = 256) -> int:
    """Log-uniform in 1..top: a few channels as often as hundreds."""
    return int(np.exp(rng.uniform(0, np.log(top + 1))))


def _random_case(rng: np.random.Generator, target: str, index: int) -> Case:
    nd = int(rng.integers(1, 4))
    groups = int(rng.choice([1, 1, 1, 2, 3, 4]))
    small_c, big_c = groups * _channels(rng, 256 // groups), groups * _channels(rng, 256 // groups)
    kmax = {1: 7, 2: 7, 3: 4}
    kernel = tuple(int(rng.integers(1, kmax[nd] + 1)) for _ in range(nd))
    stride = tuple(int(rng.integers(1, 5)) for _ in range(nd))
    dilation = tuple(int(rng.choice([1, 1, 2, 3])) for _ in range(nd))
    one_position = [False] * nd
    if target == "nooverlap":
        one_position = [bool(rng.random() < 0.2) for _ in range(nd)]
        stride = tuple(s if one else d * (k - 1) + 1 + int(rng.integers(0, 2))
                       for s, k, d, one in zip(stride, kernel, dilation, one_position))
    elif target == "depthwise":
        groups = small_c = big_c = _channels(rng)
    elif target == "winograd":
        nd, groups, kernel, stride, dilation = 2, 1, (3, 3), (1, 1), (1, 1)
        small_c, big_c = _channels(rng), _channels(rng)
        one_position = [False] * nd
    elif target == "fft":
        nd = int(rng.integers(1, 3))
        kernel = tuple(int(rng.integers(5, 8)) for _ in range(nd))
        stride = tuple(int(rng.integers(1, 3)) for _ in range(nd))
        dilation = tuple(int(rng.choice([1, 1, 2])) for _ in range(nd))
        one_position = [False] * nd
    elif target == "pointwise":
        kernel, dilation = (1,) * nd, (1,) * nd
    output_padding = tuple(int(rng.integers(0, max(s, d))) if rng.random() < 0.4 else 0
                           for s, d in zip(stride, dilation))
    case = Case(name=f"random{index}-{target}", small_channels=small_c, big_channels=big_c, groups=groups,
                small_spatial=(1,) * nd, kernel=kernel, stride=stride, dilation=dilation,
                padding=((0, 0),) * nd, output_padding=output_padding, batch=int(rng.choice([1, 1, 1, 2])))
    cap = {1: 96, 2: 20, 3: 8}[nd]
    small = tuple(1 if one else int(rng.integers(1, cap + 1)) for one in one_position)
    case = _shrunk(replace(case, small_spatial=small), RANDOM_MACS, RANDOM_FFT_WORK)
    while case.batch * case.big_channels * np.prod(case.full_spatial()) > RANDOM_OUTPUT and max(case.small_spatial) > 1:
        case = _shrunk(case, case.macs() / 2, case.fft_work())  # halves the largest dim once
    return replace(case, padding=_random_padding(rng, case))


def _random_padding(rng: np.random.Generator, case: Case) -> tuple[tuple[int, int], ...]:
    """Symmetric (half the time) or asymmetric crops, mostly below the dilated kernel, output never empty."""
    symmetric = rng.random() < 0.5
    pads = []
    for full, k, op in zip(case.full_spatial(), case.k_eff(), case.output_padding):
        most = full + op - 1  # crops that leave one output
        lo = int(rng.integers(0, min(most, k) + 1))
        hi = lo if symmetric else int(rng.integers(0, min(most, k) + 1))
        if lo + hi > most:
            lo, hi = min(lo, most // 2), min(hi, most - min(lo, most // 2))
        pads.append((lo, hi))
    return tuple(pads)


def many_phases_cases() -> list[Case]:
    """Strides with more output phases than the phase-wise algorithms take (they must decline by name)."""
    return [
        Case("many-phases-2d", 8, 16, 1, (3, 2), (2, 3), (65, 70), (1, 1), ((1, 0), (0, 2)), (0, 0)),
        Case("many-phases-3d", 4, 6, 2, (2, 2, 2), (1, 2, 1), (17, 17, 17), (1, 1, 1), ((0, 0),) * 3, (3, 0, 0)),
    ]


def wide_winograd_cases() -> list[Case]:
    """Winograd's error grows with the channels summed per tile: 256 and 512 of them."""
    return [
        Case("winograd-256", 256, 256, 1, (12, 10), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (0, 0)),
        Case("winograd-512", 512, 384, 1, (9, 8), (3, 3), (1, 1), (1, 1), ((1, 0), (2, 1)), (0, 0)),
    ]


def random_cases(count: int, seed: int) -> list[Case]:
    """``count`` seeded configurations cycling through :data:`TARGETS`, plus the fixed extreme ones."""
    rng = np.random.default_rng(seed)
    cases = [_random_case(rng, TARGETS[i % len(TARGETS)], i) for i in range(count)]
    return cases + many_phases_cases() + wide_winograd_cases() + phase_winograd_cases()


def phase_winograd_cases() -> list[Case]:
    """phase_winograd's domain (2-D kernels of twice the stride), which the random draws rarely hit: at layer
    channel counts, stride 2 and 3, mixed strides, cropping and asymmetric paddings, output_padding; and one
    small enough for the layout sweep."""
    return [
        Case("phase_winograd-small", 12, 16, 1, (5, 4), (4, 4), (2, 2), (1, 1), ((1, 2), (0, 1)), (1, 0)),
        Case("phase_winograd-256", 256, 128, 1, (6, 5), (4, 4), (2, 2), (1, 1), ((1, 1), (1, 1)), (0, 0)),
        Case("phase_winograd-s3", 96, 160, 1, (7, 6), (6, 6), (3, 3), (1, 1), ((2, 1), (0, 3)), (1, 2)),
        Case("phase_winograd-s23", 64, 48, 1, (9, 4), (4, 6), (2, 3), (1, 1), ((1, 0), (2, 2)), (0, 1)),
    ]


RANDOM_COUNT, RANDOM_SEED = 140, 20240617
SUITE = suite_cases()
RANDOM = random_cases(RANDOM_COUNT, RANDOM_SEED)


# --------------------------------------------------------------------------- data and oracle


@functools.lru_cache(maxsize=None)
def problem(case: Case, direction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 arrays holding float32 values: the input of ``direction``, the weight and the bias."""
    seed = zlib.crc32(repr((case, direction)).encode())  # the same in every process (hash() is salted)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((case.small_channels, case.big_channels // case.groups) + case.kernel)
    if direction == "conv_transpose":
        x = rng.standard_normal((case.batch, case.small_channels) + case.small_spatial)
        b = rng.standard_normal(case.big_channels)
    else:
        x = rng.standard_normal((case.batch, case.big_channels) + case.big_spatial())
        b = rng.standard_normal(case.small_channels)
    return tuple(a.astype(np.float32).astype(np.float64) for a in (x, w, b))


@functools.lru_cache(maxsize=None)
def reference(case: Case, direction: str) -> np.ndarray:
    """PyTorch in float64."""
    x, w, b = problem(case, direction)
    if direction == "conv_transpose":
        return torch_conv_transpose(x, w, b, **case.kwargs(direction))
    return torch_conv(x, w, b, **case.kwargs(direction))


#: The FFT algorithm transforms every (in, out) channel pair of the weight at the full output size: by
#: default it gets the layers whose channel mixing stays under this (smaller inputs, the same channels).
FFT_WORK = 4e6


def for_algorithm(algorithm: str, cases: list[Case], fft_work: float = FFT_WORK) -> list[Case]:
    """``cases`` for ``algorithm``: fft gets the layers whose channel mixing exceeds ``fft_work`` on a
    smaller input (at full size the suite's U-Nets take it minutes)."""
    if algorithm != "fft":
        return cases
    return [_shrunk(case, case.macs(), fft_work) for case in cases]


def call(algorithm: str, direction: str, x, w, b, case: Case) -> np.ndarray:
    op = tconv.conv_transpose if direction == "conv_transpose" else tconv.conv
    return op(x, w, b, algorithm=algorithm, **case.kwargs(direction))


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    return float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale


def declined(algorithm: str, error: ValueError) -> bool:
    """A refusal that names the algorithm (anything else is a real error)."""
    return repr(algorithm) in str(error) and "does not support" in str(error)


def sweep(algorithm: str, cases: list[Case]) -> tuple[dict, dict, list[str]]:
    """Run ``algorithm`` on every case, direction and dtype: computed counts, worst errors, failures."""
    counts = {d: 0 for d in DIRECTIONS}
    worst = {dt: 0.0 for dt in DTYPES}
    failures = []
    for case in cases:
        for direction in DIRECTIONS:
            x64, w64, b64 = problem(case, direction)
            computed = False
            for dtype in DTYPES:
                x, w, b = (a.astype(dtype) for a in (x64, w64, b64))
                copies = [a.copy() for a in (x, w, b)]
                try:
                    got = call(algorithm, direction, x, w, b, case)
                except ValueError as error:
                    if not declined(algorithm, error):
                        raise
                    continue
                for a, c in zip((x, w, b), copies):
                    assert np.array_equal(a, c), f"{case} {direction}: an input was modified"
                want = reference(case, direction)
                if got.shape != want.shape or got.dtype != np.dtype(dtype):
                    failures.append(f"{case.name} {direction} {dtype}: {got.shape} {got.dtype}, want {want.shape}")
                    continue
                err = relative_error(got, want)
                record_error(f"{algorithm} {direction}", dtype, got, want)
                worst[dtype] = max(worst[dtype], err)
                if not err <= bound(algorithm, dtype):
                    failures.append(f"{case} {direction} {dtype}: relative error {err:.3g}")
                computed = True
            counts[direction] += computed
    return counts, worst, failures


def bound(algorithm: str, dtype: str) -> float:
    """The algorithm's documented bound; ``auto`` may pick any algorithm, so it gets the largest."""
    if algorithm == "auto":
        return max(b[dtype] for b in BOUNDS.values())
    return BOUNDS[algorithm][dtype]


def assert_sweep(algorithm: str, cases: list[Case], floors: dict) -> None:
    require_algorithm(algorithm)
    counts, worst, failures = sweep(algorithm, cases)
    assert not failures, "\n".join(failures)
    for direction in DIRECTIONS:
        assert counts[direction] >= floors[algorithm], (
            f"{algorithm} {direction} computed only {counts[direction]} of {len(cases)} configurations "
            f"(floor {floors[algorithm]}); worst errors {worst}")


# --------------------------------------------------------------------------- (a) the benchmark suite

#: Suite layers each algorithm computes (per direction), a little under what it does today.
SUITE_FLOORS = {"direct": 15, "gemm": 15, "phase": 15, "subpixel": 15, "nooverlap": 4, "depthwise": 1,
                "fft": 15, "winograd": 1, "phase_winograd": 4}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_suite_layers_match_torch(algorithm):
    assert_sweep(algorithm, for_algorithm(algorithm, SUITE), SUITE_FLOORS)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_suite_layers_at_full_size_match_torch(algorithm):
    assert_sweep(algorithm, for_algorithm(algorithm, suite_cases(full=True), 1e8), SUITE_FLOORS)


#: Weight-gradient kernels: gemm's chunked im2col, subpixel's blocks (tconv.algorithms.blockconv), auto's pick.
WEIGHT_GRAD_METHODS = ("gemm", "subpixel", "auto")


def test_bound_plans_on_the_suite():
    """Every suite layer (batch 1, shrunk), both directions, float32, auto: a bound plan's first and second
    calls (the second with the kept weight re-layouts) equal the one-off call bit for bit; at full size
    FCN-32s (subpixel's combined weight kept) too."""
    compared = 0
    cases = SUITE + [c for c in suite_cases(full=True) if c.name == "fcn32s"]
    for case in cases:
        for direction in DIRECTIONS:
            x, w, b = (a.astype(np.float32) for a in problem(case, direction))
            kwargs = case.kwargs(direction)
            call, plan = ((tconv.conv_transpose, tconv.plan_conv_transpose) if direction == "conv_transpose"
                          else (tconv.conv, tconv.plan_conv))
            want = call(x, w, b, **kwargs)
            f = plan(x, w, b, **kwargs).bind(w, b)
            for _ in range(2):
                np.testing.assert_array_equal(f(x), want, err_msg=f"{case.name} {direction}")
                compared += 1
    assert compared == 2 * len(cases) * len(DIRECTIONS)


def test_suite_weight_gradients_match_torch():
    """Every suite layer's weight gradient, both directions, by each compiled weight-gradient kernel (the
    Winograd tiles where they take the layer), against PyTorch's autograd in float64 (float32 runs within the
    gemm bound, or winograd's where the tiles run)."""
    from tconv.algorithms import weight_grad as wg
    from tconv.algorithms import winograd
    from torch_autograd import conv_grads, conv_transpose_grads

    require_algorithm("gemm")
    require_algorithm("winograd")
    compared, blocks_picked, winograd_layers = 0, [], 0
    for case in SUITE:
        for direction in DIRECTIONS:
            x64, w64, _ = problem(case, direction)
            kwargs = case.kwargs(direction)
            gy = np.random.default_rng(compared).standard_normal(reference(case, direction).shape)
            oracle = conv_transpose_grads if direction == "conv_transpose" else conv_grads
            want = oracle(gy, x64, w64, None, **kwargs)[1]
            plan = tconv.plan_conv_transpose if direction == "conv_transpose" else tconv.plan_conv
            geom = plan(x64, w64, **kwargs).geometry
            blocks_picked.append(wg.blocks_win(geom))
            small, big = (x64, gy) if direction == "conv_transpose" else (gy, x64)
            tiles = winograd.unsupported(geom) is None  # the Winograd tiles take stride-1 3x3 layers
            winograd_layers += tiles
            for method in WEIGHT_GRAD_METHODS + (("winograd",) if tiles else ()):
                rounding = "winograd" if method == "winograd" or (method == "auto" and wg.winograd_wins(geom)) else "gemm"
                for dtype in DTYPES:
                    got = wg.weight_grad(small.astype(dtype), big.astype(dtype), geom, method=method)
                    assert relative_error(got, want) <= bound(rounding, dtype), (case.name, direction, method, dtype)
                    compared += 1
    assert winograd_layers >= 2  # stride1, both directions
    assert compared == (len(SUITE) * len(DIRECTIONS) * len(WEIGHT_GRAD_METHODS) + winograd_layers) * len(DTYPES)
    assert not all(blocks_picked)
    # at full size FCN-32s's gradient runs in blocks under auto (64x64 taps at stride 32), as its convolution
    case = next(c for c in suite_cases(full=True) if c.name == "fcn32s")
    x64, w64, _ = problem(case, "conv_transpose")
    gy = np.random.default_rng(0).standard_normal(reference(case, "conv_transpose").shape)
    geom = tconv.plan_conv_transpose(x64, w64, **case.kwargs("conv_transpose")).geometry
    assert wg.blocks_win(geom)
    want = conv_transpose_grads(gy, x64, w64, None, **case.kwargs("conv_transpose"))[1]
    for dtype in DTYPES:
        got = tconv.conv_transpose_backward(gy.astype(dtype), x64.astype(dtype), w64.astype(dtype),
                                            **case.kwargs("conv_transpose"))[1]
        assert relative_error(got, want) <= bound("gemm", dtype)


# --------------------------------------------------------------------------- (b) random configurations

#: Random configurations each algorithm computes (per direction), a little under what it does today.
RANDOM_FLOORS = {"direct": 140, "gemm": 138, "phase": 138, "subpixel": 138, "nooverlap": 48, "depthwise": 18,
                 "fft": 140, "winograd": 20, "phase_winograd": 4}
SLOW_RANDOM_FLOORS = {"direct": 420, "gemm": 416, "phase": 416, "subpixel": 416, "nooverlap": 145,
                      "depthwise": 60, "fft": 420, "winograd": 58, "phase_winograd": 4}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_random_configurations_match_torch(algorithm):
    assert_sweep(algorithm, for_algorithm(algorithm, RANDOM), RANDOM_FLOORS)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_many_random_configurations_match_torch(algorithm):
    assert_sweep(algorithm, random_cases(3 * RANDOM_COUNT, RANDOM_SEED + 1), SLOW_RANDOM_FLOORS)


def test_auto_matches_torch():
    """Whatever ``auto`` picks, on every layer and configuration (the largest bound: it may pick any)."""
    cases = SUITE + RANDOM
    assert_sweep("auto", cases, {"auto": len(cases)})


def test_random_configurations_cover_every_domain():
    """The targeted shares exist: every knob is exercised somewhere."""
    assert {c.ndim for c in RANDOM} == {1, 2, 3}
    assert any(c.groups > 1 and c.groups < c.small_channels for c in RANDOM)
    assert max(c.small_channels // c.groups for c in RANDOM) >= 128
    assert any(c.padding[0][0] != c.padding[0][1] for c in RANDOM)
    assert any(any(op) for c in RANDOM for op in [c.output_padding])
    assert any(d > 1 for c in RANDOM for d in c.dilation)
    assert {k for c in RANDOM for k in c.kernel} >= set(range(1, 8))
    assert random_cases(5, RANDOM_SEED) == random_cases(5, RANDOM_SEED)  # seeded: the same every run


# --------------------------------------------------------------------------- (c) memory layouts


LAYOUT_MACS = 4e5


def layout_cases(algorithm: str) -> list[Case]:
    """Two of the random configurations ``algorithm`` computes, one 2-D and one of another rank, small enough."""
    picked: dict[bool, Case] = {}
    for case in RANDOM:
        if case.macs() > LAYOUT_MACS or case.fft_work() > 4 * LAYOUT_MACS or (case.ndim == 2) in picked:
            continue
        x, w, b = problem(case, "conv_transpose")
        try:
            call(algorithm, "conv_transpose", x, w, b, case)
        except ValueError as error:
            assert declined(algorithm, error), error
            continue
        picked[case.ndim == 2] = case
    return list(picked.values())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_layout_gives_the_same_bits(algorithm, dtype):
    require_algorithm(algorithm)
    cases = layout_cases(algorithm)
    assert len(cases) >= (1 if algorithm in ("winograd", "phase_winograd") else 2)  # 2-D only
    compared = 0
    for case in cases:
        for direction in DIRECTIONS:
            x, w, b = (a.astype(dtype) for a in problem(case, direction))
            want = call(algorithm, direction, x, w, b, case)
            for position in (0, 1):  # x, then the weight, in each layout (the other operand contiguous)
                for name, view in layouts((x, w)[position]):
                    before = np.array(view, copy=True)
                    args = [x, w]
                    args[position] = view
                    got = call(algorithm, direction, *args, b, case)
                    assert got.dtype == want.dtype and np.array_equal(got, want), (
                        f"{case.name} {direction}: {('x', 'weight')[position]} as {name} changes the result "
                        f"(largest difference {np.abs(got - want).max():.3g})")
                    assert np.array_equal(view, before), f"{name} {('x', 'weight')[position]} was modified"
                    compared += 1
    assert compared >= len(cases) * 2 * 2 * 6


# --------------------------------------------------------------------------- batch 0


def _domain_case(algorithm: str) -> Case:
    """The smallest random configuration ``algorithm`` computes."""
    for case in sorted(RANDOM, key=Case.macs):
        try:
            call(algorithm, "conv_transpose", *problem(case, "conv_transpose"), case)
        except ValueError as error:
            assert declined(algorithm, error), error
            continue
        return case
    raise AssertionError(f"no random configuration in the domain of {algorithm}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty_batch(algorithm):
    require_algorithm(algorithm)
    case = replace(_domain_case(algorithm), batch=0)
    for direction in DIRECTIONS:
        want = reference(case, direction)
        for dtype in DTYPES:
            x, w, b = (a.astype(dtype) for a in problem(case, direction))
            got = call(algorithm, direction, x, w, b, case)
            assert got.shape == want.shape and got.dtype == np.dtype(dtype), (direction, got.shape, want.shape)




# --------------------------------------------------------------------------- the documented bounds

DOC = Path(__file__).resolve().parents[1] / "docs" / "accuracy.md"


def documented_bounds() -> dict[str, dict[str, float]]:
    """The rows ``| name | float32 bound | float64 bound | ... |`` of docs/accuracy.md's table."""
    rows, in_table = {}, False
    for line in DOC.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            in_table = False
        elif cells[:3] == ["algorithm", "float32 bound", "float64 bound"]:
            in_table = True
        elif in_table and cells[0] in ALGORITHMS:
            rows[cells[0]] = {"float32": float(cells[1]), "float64": float(cells[2])}
    return rows


def test_documented_bounds_are_the_tested_ones():
    assert documented_bounds() == BOUNDS
    assert re.search(r"max\s*\|got\s*-\s*ref\|", DOC.read_text())


# --------------------------------------------------------------------------- slabs at the layers' own sizes

def test_slabs_at_the_suite_sizes():
    """The slab paths at the sizes that take them, with their default thresholds: nnunet3d_up's transposed
    convolution (one image: a 33.5 MB GEMM result, ``nooverlap`` interleaves it in slabs) and unet_up4's
    convolution (19 MB of columns per image, ``gemm`` runs slabs of output rows), each against PyTorch
    with the float32 tolerance, and the slab counts asserted (more than one each)."""
    from tconv.algorithms import gemm, nooverlap
    from tconv.params import conv_transpose_geometry, geometry_from_shapes

    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 64, 32, 32, 32), dtype=np.float32)
    w = rng.standard_normal((64, 32, 2, 2, 2), dtype=np.float32)
    slab, images, _ = nooverlap._slabs(conv_transpose_geometry(x, w, stride=2), 4)
    assert -(-32 // slab) > 1 and images == 1
    got = tconv.conv_transpose(x, w, stride=2, algorithm="nooverlap")
    assert_close(got, torch_conv_transpose(x, w, None, stride=(2,) * 3, padding=((0, 0),) * 3,
                                           output_padding=(0,) * 3, dilation=(1,) * 3, groups=1), "float32")
    big = rng.standard_normal((1, 64, 272, 272), dtype=np.float32)
    wc = rng.standard_normal((128, 64, 2, 2), dtype=np.float32)
    assert len(gemm.conv_slabs(geometry_from_shapes(False, big.shape, wc.shape, np.dtype(np.float32), stride=2), 4)) > 1
    got = tconv.conv(big, wc, stride=2, algorithm="gemm")
    assert_close(got, torch_conv(big, wc, None, stride=(2, 2), padding=((0, 0),) * 2, dilation=(1, 1), groups=1),
                 "float32")
