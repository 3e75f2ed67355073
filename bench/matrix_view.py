"""Is matrix multiplication an efficient way to implement convolution?  Measured.

The chapter writes a convolution as ``W @ x`` and the transposed convolution
as ``W.T @ y``, and asks whether that is efficient.  For the chapter's 2x2
kernel (one channel) and a 3x3 kernel with 16 input and 16 output channels,
at input sizes from 4x4 up to 1024x1024 and on 3-D volumes, this script
measures, in float64, one image at a time (batch 1, as in the chapter):

(a) dense ``W @ x``: the matrix from ``tconv.matrix.conv_matrix_dense``, as
    long as it fits under ``--max-bytes``; beyond that it reports the bytes
    the matrix would need (the library refuses it before allocating);
(b) sparse ``M @ x`` with ``M = tconv.conv_matrix(...)`` (CSR), with and
    without the time to build ``M``;
(c) im2col + one GEMM: copy every input window into a column (NumPy's
    ``sliding_window_view``), then one ``(C_out, C_in*k^d) @ (C_in*k^d, P)``
    product; written here, independent of tconv;
(d) tconv's own ``conv`` (and ``conv_transpose`` for the ``W.T`` direction),
    with ``algorithm="auto"``.

For each it reports the time (best of a few runs), the bytes of the structure
it multiplies with (dense W, CSR arrays, im2col columns), the peak memory
allocated while running (``tracemalloc``: NumPy/SciPy arrays), the fraction of
zeros in W and the FLOPs spent against the useful FLOPs (2 per stored entry of
W: one multiply-add per kernel tap that meets the input).

Usage::

    PYTHONPATH=src python bench/matrix_view.py            # the full run (a few minutes on 2 cores)
    PYTHONPATH=src python bench/matrix_view.py --quick    # small sizes only (seconds)
    PYTHONPATH=src python bench/matrix_view.py --write src/tconv/data/exercise.md   # docs/exercise.md links there
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np
import scipy

import tconv
from tconv.matrix import conv_matrix_dense, matrix_size
from tconv.memory import available_bytes, format_bytes
from tconv.ops import plan
from tconv.params import conv_geometry, conv_transpose_geometry


@dataclass(frozen=True)
class Case:
    """One kernel configuration, measured at several input sizes."""

    name: str
    weight_shape: tuple[int, ...]
    padding: int
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]

    @property
    def nd(self) -> int:
        return len(self.weight_shape) - 2


CASES = (
    Case("chapter 2x2 kernel, 1 channel, no padding", (1, 1, 2, 2), 0,
         (4, 8, 16, 32, 64, 128, 256, 512, 1024), (4, 8, 16, 32, 64)),
    Case("3x3 kernel, 16 -> 16 channels, padding 1", (16, 16, 3, 3), 1,
         (4, 8, 16, 32, 64, 128, 256, 512, 1024), (4, 8, 16, 32)),
    Case("3-D: 2x2x2 kernel, 1 channel, no padding", (1, 1, 2, 2, 2), 0,
         (4, 8, 16, 32, 64, 128), (4, 8, 16)),
    Case("3-D: 3x3x3 kernel, 16 -> 16 channels, padding 1", (16, 16, 3, 3, 3), 1,
         (4, 8, 16, 32, 64), (4, 8)),
)


@dataclass
class Row:
    """The measurements of one case at one size (None: not run; see ``skipped``)."""

    case: str
    size: str
    rows: int
    cols: int
    nnz: int
    zero_fraction: float
    useful_flops: int
    dense_flops: int
    im2col_flops: int
    dense_bytes: int
    csr_bytes: int
    im2col_bytes: int
    algorithm: str = ""
    times: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    max_error: float = 0.0


# ---------------------------------------------------------------------------
# measuring


def best_time(fn, min_total: float = 0.3, max_runs: int = 7, min_runs: int = 3):
    """Best wall time of ``fn()``: at least ``min_runs`` runs, more (up to ``max_runs``) until ``min_total`` s."""
    best, total, runs, out = float("inf"), 0.0, 0, None
    while runs < min_runs or (total < min_total and runs < max_runs):
        out = None
        gc.collect()
        start = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - start
        best, total, runs = min(best, elapsed), total + elapsed, runs + 1
    return best, out


def peak_bytes(fn) -> int:
    """Peak bytes allocated (traced by tracemalloc: NumPy and SciPy arrays) while ``fn()`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak


def im2col_conv(x: np.ndarray, w: np.ndarray, padding: int) -> np.ndarray:
    """Stride-1 convolution of one ``(C_in, *spatial)`` input: im2col copy, then one GEMM."""
    nd = x.ndim - 1
    xp = np.pad(x, [(0, 0)] + [(padding, padding)] * nd)
    kernel = w.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(xp, kernel, axis=tuple(range(1, nd + 1)))
    out_shape = windows.shape[1 : nd + 1]
    # (C_in, *out, *k) -> (C_in, *k, *out): one copy, the column matrix
    cols = np.ascontiguousarray(windows.transpose((0,) + tuple(range(nd + 1, 2 * nd + 1)) + tuple(range(1, nd + 1))))
    cols = cols.reshape(w.shape[1] * int(np.prod(kernel)), -1)
    return (w.reshape(w.shape[0], -1) @ cols).reshape((w.shape[0],) + out_shape)


def measure(case: Case, n: int, limit: int, rng: np.random.Generator) -> Row:
    shape = (n,) * case.nd
    w = rng.standard_normal(case.weight_shape)
    c_out, c_in = case.weight_shape[:2]
    taps = int(np.prod(case.weight_shape[2:]))
    kw = dict(padding=case.padding)
    size = matrix_size(w, shape, **kw)
    out_positions = size.rows // c_out
    x = rng.standard_normal((c_in,) + shape)
    y = rng.standard_normal((c_out,) + tconv.conv_output_shape(shape, w.shape[2:], **kw))
    row = Row(
        case=case.name, size="x".join(map(str, shape)), rows=size.rows, cols=size.cols, nnz=size.nnz,
        zero_fraction=size.zero_fraction, useful_flops=2 * size.nnz, dense_flops=2 * size.rows * size.cols,
        im2col_flops=2 * c_out * c_in * taps * out_positions, dense_bytes=size.dense_bytes,
        csr_bytes=size.csr_bytes, im2col_bytes=c_in * taps * out_positions * 8,
    )
    reference = tconv.conv(x, w, **kw).ravel()
    reference_t = tconv.conv_transpose(y, w, output_size=shape, **kw).ravel()

    def check(got, want) -> None:
        row.max_error = max(row.max_error, float(np.abs(got - want).max() / max(1.0, np.abs(want).max())))

    # (d) tconv
    geom = conv_geometry(x[None], w, **kw)
    row.algorithm = plan(geom).name + " / " + plan(conv_transpose_geometry(y[None], w, output_size=shape, **kw)).name
    row.peaks["tconv"] = peak_bytes(lambda: tconv.conv(x, w, **kw))
    row.times["tconv"], got = best_time(lambda: tconv.conv(x, w, **kw))
    row.times["tconv_t"], _ = best_time(lambda: tconv.conv_transpose(y, w, output_size=shape, **kw))

    # (c) im2col + one GEMM
    if row.im2col_bytes * 2 > limit:
        row.skipped["im2col"] = f"needs {format_bytes(row.im2col_bytes)} of columns"
    else:
        row.peaks["im2col"] = peak_bytes(lambda: im2col_conv(x, w, case.padding))
        row.times["im2col"], got = best_time(lambda: im2col_conv(x, w, case.padding))
        check(got.ravel(), reference)

    # (b) sparse
    if size.csr_bytes > limit:
        row.skipped["sparse"] = f"needs {format_bytes(size.csr_bytes)}"
    else:
        row.peaks["sparse"] = peak_bytes(lambda: tconv.conv_matrix(w, shape, **kw) @ x.ravel())
        row.times["sparse_build"], M = best_time(lambda: tconv.conv_matrix(w, shape, **kw), max_runs=3, min_runs=1)
        row.times["sparse"], got = best_time(lambda: M @ x.ravel())
        check(got, reference)
        row.times["sparse_t"], got = best_time(lambda: M.T @ y.ravel())
        check(got, reference_t)
        del M

    # (a) dense
    if size.dense_bytes + size.csr_bytes > limit:
        row.skipped["dense"] = f"needs {format_bytes(size.dense_bytes)}"
    else:
        row.peaks["dense"] = peak_bytes(lambda: conv_matrix_dense(w, shape, **kw) @ x.ravel())
        row.times["dense_build"], W = best_time(lambda: conv_matrix_dense(w, shape, **kw), max_runs=3, min_runs=1)
        row.times["dense"], got = best_time(lambda: W @ x.ravel())
        check(got, reference)
        row.times["dense_t"], got = best_time(lambda: W.T @ y.ravel())
        check(got, reference_t)
        del W
    gc.collect()
    return row


# ---------------------------------------------------------------------------
# the machine


def machine() -> list[str]:
    """Lines describing where the numbers were measured."""
    lines = []
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        keep = ("Model name", "CPU(s):", "Thread(s) per core", "L1d cache", "L2 cache", "L3 cache", "Hypervisor")
        lines += [" ".join(line.split()) for line in lscpu.splitlines() if line.strip().startswith(keep)]
        flags = next((line for line in lscpu.splitlines() if line.startswith("Flags")), "")
        simd = [f for f in ("avx2", "fma", "avx512f") if f" {f} " in f" {flags} "]
        lines.append("SIMD: " + ", ".join(simd))
    except (OSError, subprocess.SubprocessError):
        lines.append(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    lines.append(f"memory available at start: {format_bytes(available_bytes())}")
    lines.append(f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}")
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        lines.append(f"NumPy BLAS: {blas.get('name')} {blas.get('version')} ({blas.get('openblas configuration', '')})".strip())
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode
        lines.append("NumPy BLAS: unknown")
    try:
        from threadpoolctl import threadpool_info

        lines += [f"BLAS library loaded: {i['internal_api']} {i['version']} ({i['filepath'].rsplit('/', 1)[-1]}), "
                  f"kernel {i.get('architecture')}" for i in threadpool_info() if i["user_api"] == "blas"]
    except ImportError:
        pass
    if hasattr(os, "getloadavg"):
        lines.append("load average at start: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    return lines


def limit_threads(n: int):
    """Limit BLAS to ``n`` threads for the rest of the run (None when threadpoolctl is missing)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n, user_api="blas")


# ---------------------------------------------------------------------------
# reporting


def t(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def b(nbytes: int | None) -> str:
    return "-" if nbytes is None else format_bytes(nbytes)


def ratio(value: float) -> str:
    return f"{value:.3g}x"


def zeros(fraction: float) -> str:
    if fraction >= 0.9999:
        return f"{fraction:.6%}"
    return f"{fraction:.2%}"


def cell(row: Row, key: str, skip_key: str | None = None) -> str:
    if key in row.times:
        return t(row.times[key])
    return "not run" if (skip_key or key) not in row.skipped else f"— ({row.skipped[skip_key or key]})"


def tables(rows: list[Row]) -> list[str]:
    out = []
    for case in dict.fromkeys(r.case for r in rows):
        rs = [r for r in rows if r.case == case]
        out += [f"### {case}", ""]
        out += ["**Size of W and work per product** (useful FLOPs = 2 x stored entries of W):", ""]
        out += ["| input | W (rows x cols) | zeros in W | dense W | sparse W (CSR) | im2col columns "
                "| dense FLOPs / useful | im2col FLOPs / useful |",
                "|---|---|---|---|---|---|---|---|"]
        for r in rs:
            out.append(f"| {r.size} | {r.rows} x {r.cols} | {zeros(r.zero_fraction)} | {b(r.dense_bytes)} | "
                       f"{b(r.csr_bytes)} | {b(r.im2col_bytes)} | {ratio(r.dense_flops / r.useful_flops)} | "
                       f"{ratio(r.im2col_flops / r.useful_flops)} |")
        out += ["", "**Time of one convolution `W @ x`** (build = making W once; best of several runs):", ""]
        out += ["| input | dense build | dense W@x | sparse build | sparse M@x | sparse build + M@x "
                "| im2col + GEMM | tconv conv | time ratio sparse / tconv | time ratio dense / tconv |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rs:
            both = (t(r.times["sparse_build"] + r.times["sparse"]) if "sparse" in r.times else "-")
            vs_sparse = ratio(r.times["sparse"] / r.times["tconv"]) if "sparse" in r.times else "-"
            vs_dense = ratio(r.times["dense"] / r.times["tconv"]) if "dense" in r.times else "-"
            out.append(f"| {r.size} | {cell(r, 'dense_build', 'dense')} | {cell(r, 'dense')} | "
                       f"{cell(r, 'sparse_build', 'sparse')} | {cell(r, 'sparse')} | {both} | "
                       f"{cell(r, 'im2col')} | {t(r.times['tconv'])} | {vs_sparse} | {vs_dense} |")
        out += ["", "**Transposed convolution `W.T @ y`, effective speed, peak memory** "
                "(GFLOP/s counts useful FLOPs only; peak = bytes allocated while building and applying):", ""]
        out += ["| input | dense W.T@y | sparse M.T@y | tconv conv_transpose | GFLOP/s dense / sparse / im2col / tconv "
                "| peak dense / sparse / im2col / tconv | tconv algorithm (conv / conv_transpose) |",
                "|---|---|---|---|---|---|---|"]
        for r in rs:
            rates = " / ".join(
                f"{r.useful_flops / r.times[k] / 1e9:.2f}" if k in r.times else "-"
                for k in ("dense", "sparse", "im2col", "tconv")
            )
            peaks = " / ".join(b(r.peaks.get(k)) for k in ("dense", "sparse", "im2col", "tconv"))
            out.append(f"| {r.size} | {cell(r, 'dense_t', 'dense')} | {cell(r, 'sparse_t', 'sparse')} | "
                       f"{t(r.times['tconv_t'])} | {rates} | {peaks} | {r.algorithm} |")
        out.append("")
    return out


def largest(rows: list[Row], case: str, key: str) -> Row | None:
    done = [r for r in rows if r.case == case and key in r.times]
    return done[-1] if done else None


def largest_size(rows: list[Row], case: str, key: str) -> str:
    r = largest(rows, case, key)
    return r.size if r else "none"


def first_refused(rows: list[Row], case: str, key: str) -> Row | None:
    return next((r for r in rows if r.case == case and key in r.skipped), None)


def mid_row(rows: list[Row], case: str) -> Row | None:
    """The largest size at which every method ran (the dense matrix is the limit)."""
    return largest(rows, case, "dense")


def faster(a: float, b: float) -> str:
    """'N times faster than' / 'N times slower than' / 'about as fast as' for time a against time b."""
    if max(a, b) / min(a, b) < 1.25:
        return "about as fast as"
    return f"{b / a:.2g} times faster than" if a < b else f"{a / b:.2g} times slower than"


def gflops(r: Row, key: str) -> float:
    return r.useful_flops / r.times[key] / 1e9


def headline(rows: list[Row]) -> list[str]:
    out = ["| case | largest input built: dense W / sparse M | at | dense W@x | sparse M@x (+ build) "
           "| im2col + GEMM | tconv conv | time ratio sparse / tconv, dense / tconv (> 1: tconv faster) |", "|---|---|---|---|---|---|---|---|"]
    for case in CASES:
        mid = mid_row(rows, case.name)
        if mid is None:
            continue
        out.append(
            f"| {case.name} | {largest_size(rows, case.name, 'dense')} / {largest_size(rows, case.name, 'sparse')} "
            f"| {mid.size} | {t(mid.times['dense'])} | {t(mid.times['sparse'])} (+ {t(mid.times['sparse_build'])}) "
            f"| {t(mid.times['im2col'])} | {t(mid.times['tconv'])} "
            f"| {ratio(mid.times['sparse'] / mid.times['tconv'])} / {ratio(mid.times['dense'] / mid.times['tconv'])} |"
        )
    return out


def answer(rows: list[Row], build_256: tuple[float, int]) -> list[str]:
    """The exercise's answer, every number taken from ``rows``."""
    one, many = CASES[0].name, CASES[1].name
    mid1, mid16 = mid_row(rows, one), mid_row(rows, many)
    big1 = [r for r in rows if r.case == one][-1]
    sparse16 = largest(rows, many, "sparse")
    lines = ["## Answer", ""]
    lines.append(
        "**No, not by multiplying with the convolution's matrix W; yes, when the matrix being multiplied is "
        "the small weight matrix.** Multiplying by W — dense or sparse — needs a matrix far larger than the "
        "kernel, which has to be built (and rebuilt whenever the weight changes); dense W also multiplies "
        "mostly zeros. Rearranging the input so that the *kernel* becomes one dense matrix (im2col + one "
        "GEMM: a k^d-times copy of the input, not a matrix the size of the image squared), or running the "
        "kernel's taps directly (tconv), does about the useful arithmetic only, at BLAS speed once there are "
        "channels."
    )
    if {"sparse", "im2col", "tconv"} <= big1.times.keys() and big1.times["sparse"] < min(
        big1.times["im2col"], big1.times["tconv"]
    ):
        lines[-1] += (f" With a single channel, though, a prebuilt sparse W gave the fastest product at "
                      f"{big1.size}: there is no channel sum for a GEMM to speed up.")
    lines[-1] += " The numbers (float64, one image, one BLAS thread):"
    lines += [""] + headline(rows) + [""]
    if mid1 is not None and mid16 is not None:
        refused1, refused16 = first_refused(rows, one, "dense"), first_refused(rows, many, "dense")
        text = (
            f"- **Dense W: quadratic memory, and almost all of it zeros.** W has a row per output element and a "
            f"column per input element, so it grows as (H·W)^2·C_in·C_out. At {mid1.size} with the chapter's kernel "
            f"it is {mid1.rows} x {mid1.cols} = {b(mid1.dense_bytes)}, {zeros(mid1.zero_fraction)} zeros, and "
            f"`W @ x` does {ratio(mid1.dense_flops / mid1.useful_flops)} the useful FLOPs: it took "
            f"{t(mid1.times['dense'])} where tconv took {t(mid1.times['tconv'])}"
            f" ({ratio(mid1.times['dense'] / mid1.times['tconv'])}), not counting {t(mid1.times['dense_build'])} "
            f"to build W. With 16 channels at {mid16.size}, W is {b(mid16.dense_bytes)} and `W @ x` is "
            f"{ratio(mid16.times['dense'] / mid16.times['tconv'])} slower than tconv."
        )
        if refused1 is not None and refused16 is not None:
            text += (f" The next sizes cannot be built at all: {refused1.size} needs {b(refused1.dense_bytes)}, "
                     f"{refused16.size} with 16 channels {b(refused16.dense_bytes)}, "
                     f"and {big1.size} with one channel {b(big1.dense_bytes)}.")
        lines += [text, ""]
    if mid16 is not None and sparse16 is not None:
        text = (
            f"- **Sparse W (CSR): only the useful FLOPs, but the kernel is stored once per output position and "
            f"read through an index per entry.** M takes 12 bytes per tap per output position per channel pair "
            f"(value + column index), O(H·W·k^d·C_in·C_out): {b(sparse16.csr_bytes)} at {sparse16.size} with "
            f"16 channels for a {b(int(np.prod(CASES[1].weight_shape)) * 8)} weight"
        )
        refused = first_refused(rows, many, "sparse")
        if refused is not None:
            text += f"; {refused.size} would need {b(refused.csr_bytes)}"
        text += (
            f". With 16 channels at {sparse16.size} `M @ x` ran at {gflops(sparse16, 'sparse'):.2f} GFLOP/s, "
            f"tconv at {gflops(sparse16, 'tconv'):.2f} and im2col + GEMM at {gflops(sparse16, 'im2col'):.2f}: "
            f"tconv was {faster(sparse16.times['tconv'], sparse16.times['sparse'])} the sparse product, and "
            f"building M took another {t(sparse16.times['sparse_build'])}."
        )
        if "sparse" in big1.times:
            text += (
                f" With one channel the picture changes: every method only streams the image through memory, and "
                f"at {big1.size} `M @ x` ({t(big1.times['sparse'])}) was "
                f"{faster(big1.times['sparse'], big1.times['tconv'])} tconv ({t(big1.times['tconv'])}) and "
                f"{faster(big1.times['sparse'], big1.times['im2col'])} im2col + GEMM ({t(big1.times['im2col'])}) — "
                f"once M exists: building it took {t(big1.times['sparse_build'])}, "
                f"{ratio(big1.times['sparse_build'] / big1.times['sparse'])} the product, so built for one use "
                f"it was {faster(big1.times['sparse_build'] + big1.times['sparse'], big1.times['tconv'])} tconv. "
                f"A fixed weight applied to many images (the matrix built once) is where sparse W pays off."
            )
        text += (f" (Building the 256x256 single-channel 3x3 matrix with padding 1, {build_256[1]} stored "
                 f"entries, took {t(build_256[0])}.)")
        lines += [text, ""]
    if mid16 is not None:
        big16 = [r for r in rows if r.case == many][-1]
        text = (
            f"- **im2col + one GEMM: matrix multiplication done right.** The matrix is the weight "
            f"(C_out x C_in·k^d = 16 x 144 here) and the input is copied into k^d-times-larger columns "
            f"({b(big16.im2col_bytes)} at {big16.size} with 16 channels); with padding it multiplies some "
            f"padding zeros too ({ratio(mid16.im2col_flops / mid16.useful_flops)} the useful FLOPs at "
            f"{mid16.size}). It ran every size"
        )
        if "im2col" in big16.times:
            text += (f", {big16.size} with 16 channels in {t(big16.times['im2col'])} "
                     f"({gflops(big16, 'im2col'):.1f} GFLOP/s; tconv {t(big16.times['tconv'])})")
        text += "."
        lines += [text, ""]
        text = (
            "- **tconv's `conv` / `conv_transpose`** build no matrix: `algorithm=\"auto\"` picks, by a measured cost "
            "model, among dense products over the channels (per tap, per output phase, or im2col in bounded "
            "batch chunks). It handled every size, and `conv_transpose` computes `W.T @ y` without W"
        )
        if "tconv_t" in big16.times:
            text += f" ({t(big16.times['tconv'])} for `conv`, {t(big16.times['tconv_t'])} for `conv_transpose` at {big16.size} with 16 channels)"
        text += (f". Its time never fell below {t(min(r.times['tconv'] for r in rows))}: a fixed cost per call "
                 "(validation, planning, Python) larger than the arithmetic of the small sizes, which is why a "
                 "prebuilt dense or sparse W wins there.")
        lines += [text, ""]
    lines.append(
        "So the matrix view is exact — tconv's tests check `conv_matrix(...) @ x == conv(x)` and "
        "`M.T @ y == conv_transpose(y)` to 1e-12 — and it is the right tool for small problems and for "
        "linear-algebra work (the adjoint, least squares: `tconv.ConvOperator`, which applies M without "
        "building it). As a way to compute convolutions it loses: dense W is quadratic in the image size "
        "and stops at tiny images, sparse W multiplies the kernel's memory by the number of output positions, "
        "and both must be rebuilt whenever the weight changes. Matrix multiplication is efficient when the "
        "dense matrix is the weight itself: im2col + GEMM, or tconv's per-tap products."
    )
    return lines


def markdown(rows: list[Row], info: list[str], build_256: tuple[float, int], quick: bool, limit: int,
             seconds: float, when: str) -> str:
    errors = max(r.max_error for r in rows)
    lines = [
        "# Exercise: is matrix multiplication an efficient way to implement convolution?",
        "",
        "The chapter writes a convolution as a product `W @ x` with the matrix W of `kernel2matrix`, and the "
        "transposed convolution as `W.T @ y`. This page answers its exercise by measurement: "
        "`bench/matrix_view.py` times and sizes four ways of computing the same convolution, one image "
        "(batch 1) at a time, in float64.",
        "",
        "- **dense**: `W = tconv.matrix.conv_matrix_dense(weight, input_shape)`, then `W @ x` (and `W.T @ y`);",
        "- **sparse**: `M = tconv.conv_matrix(weight, input_shape)` (scipy CSR), then `M @ x` (and `M.T @ y`);",
        "- **im2col + GEMM**: every input window copied into a column, then one product with the "
        "(C_out x C_in·k^d) weight (written in the script with NumPy, independent of tconv);",
        "- **tconv**: `tconv.conv(x, weight)` and `tconv.conv_transpose(y, weight, output_size=...)`.",
        "",
        f"Matrices that would need more than {format_bytes(limit)} are not built; the table gives the bytes they "
        "would need (the library refuses such a request with a `ValueError` stating them). "
        f"All methods agree with tconv's result to a relative error of {errors:.1e}.",
        "",
    ]
    lines += answer(rows, build_256)
    lines += ["", "## Measurements", ""]
    if quick:
        lines += ["(`--quick` run: small sizes only.)", ""]
    lines += tables(rows)
    lines += ["## Machine", "", f"Measured {when} "
              f"in {seconds:.0f} s by `PYTHONPATH=src python bench/matrix_view.py{' --quick' if quick else ''}` "
              "(other jobs shared the machine: see the load averages and the CPU share below; single timings can be "
              "off by a factor of two, the conclusions do not depend on that):", ""]
    lines += ["```"] + info + ["```", ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    """Measure every case; return the markdown report (and save the raw numbers with ``--json``)."""
    blas = limit_threads(args.threads)
    info = machine() + [f"BLAS threads used by this run: {args.threads}" if blas else
                        "BLAS threads: not limited (threadpoolctl not installed)"]
    limit = int(min(args.max_bytes, available_bytes() // 2))
    os.environ["TCONV_MEMORY_LIMIT"] = str(limit)  # the library's own guard refuses what does not fit
    print("\n".join(info), file=sys.stderr)
    started, cpu_started = time.perf_counter(), time.process_time()
    w256 = np.random.default_rng(0).standard_normal((1, 1, 3, 3))
    tconv.conv_matrix(w256, (256, 256), padding=1)  # warm-up (imports, page faults)
    build, m256 = best_time(lambda: tconv.conv_matrix(w256, (256, 256), padding=1))
    print(f"conv_matrix 256x256, 3x3, padding 1: {t(build)}, nnz {m256.nnz}", file=sys.stderr)
    rng = np.random.default_rng(0)
    rows = []
    for case in CASES:
        for n in case.quick_sizes if args.quick else case.sizes:
            row = measure(case, n, limit, rng)
            rows.append(row)
            print(f"{case.name:48s} {row.size:>12s} " + " ".join(f"{k}={t(v)}" for k, v in row.times.items())
                  + "".join(f" [{k}: {v}]" for k, v in row.skipped.items()), file=sys.stderr)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    info.append(f"CPU time / wall time of the run: {cpu:.0f} s / {seconds:.0f} s"
                + (f"; load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}"
                   if hasattr(os, "getloadavg") else ""))
    when = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": [dataclasses.asdict(r) for r in rows], "info": info, "build_256": [build, m256.nnz],
                       "quick": args.quick, "limit": limit, "seconds": seconds, "when": when}, fh, indent=1)
    return markdown(rows, info, (build, m256.nnz), args.quick, limit, seconds, when)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a few seconds)")
    parser.add_argument("--max-bytes", type=float, default=4 * 2**30,
                        help="largest matrix/workspace to build, in bytes (default 4 GiB, capped at half the "
                             "available memory)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1: on a shared machine one thread gives stable timings; "
                             "sparse products and tconv's taps loop are single-threaded anyway)")
    parser.add_argument("--json", metavar="PATH", help="also save the raw measurements there")
    parser.add_argument("--from-json", metavar="PATH", help="render a saved run (--json) instead of measuring")
    parser.add_argument("--write", metavar="PATH", help="write the markdown report there (e.g. src/tconv/data/exercise.md, which docs/exercise.md links to)")
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as fh:
            saved = json.load(fh)
        rows = [Row(**r) for r in saved["rows"]]
        text = markdown(rows, saved["info"], tuple(saved["build_256"]), saved["quick"], saved["limit"],
                        saved["seconds"], saved["when"])
    else:
        text = run(args)
    if args.write:
        with open(args.write, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {args.write}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
