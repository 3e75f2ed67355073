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
    PYTHONPATH=src python bench/matrix_view.py --write docs/exercise.md
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


def best_time(fn, min_total: float = 0.3, max_runs: int = 7):
    """Best wall time of ``fn()`` over repeated runs (at least one, until ``min_total`` seconds)."""
    best, total, runs, out = float("inf"), 0.0, 0, None
    while runs == 0 or (total < min_total and runs < max_runs):
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
        row.times["sparse_build"], M = best_time(lambda: tconv.conv_matrix(w, shape, **kw), max_runs=3)
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
        row.times["dense_build"], W = best_time(lambda: conv_matrix_dense(w, shape, **kw), max_runs=3)
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
                "| im2col + GEMM | tconv conv | tconv vs sparse M@x | tconv vs dense W@x |",
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


def largest(rows: list[Row], case: str, key: str) -> str:
    done = [r for r in rows if r.case == case and key in r.times]
    return done[-1].size if done else "none"


def first_refused(rows: list[Row], case: str, key: str) -> Row | None:
    return next((r for r in rows if r.case == case and key in r.skipped), None)


def pick(rows: list[Row], case: str, size: str) -> Row | None:
    return next((r for r in rows if r.case == case and r.size == size), None)


def faster(a: float, b: float) -> str:
    """'N times faster' / 'N times slower' for time a against time b."""
    return f"{b / a:.3g} times faster than" if a < b else f"{a / b:.3g} times slower than"


def answer(rows: list[Row], build_256: tuple[float, int]) -> list[str]:
    """The exercise's answer, every number taken from ``rows``."""
    chapter, channels = CASES[0].name, CASES[1].name
    mid = pick(rows, chapter, "64x64") or [r for r in rows if r.case == chapter][-1]
    mid16 = pick(rows, channels, "32x32") or [r for r in rows if r.case == channels][-1]
    big16 = [r for r in rows if r.case == channels][-1]
    lines = ["## Answer", ""]
    refused = first_refused(rows, chapter, "dense")
    refused16 = first_refused(rows, channels, "dense")
    lines.append(
        "**Multiplying by the convolution matrix W is not an efficient way to compute a convolution; "
        "matrix multiplication is, when the matrix is the small weight matrix and the input is rearranged "
        "(im2col + one GEMM), and better still is not forming any matrix (tconv).** The measurements:"
    )
    lines.append("")
    dense_text = (
        f"- **Dense W costs O((HW)^2 · C_in · C_out) memory and FLOPs, almost all of them on zeros.** "
        f"W has one row per output and one column per input element. At {mid.size} with the chapter's 2x2 kernel "
        f"W is {mid.rows} x {mid.cols} ({b(mid.dense_bytes)}) and {zeros(mid.zero_fraction)} of it is zero, so "
        f"`W @ x` spends {ratio(mid.dense_flops / mid.useful_flops)} the useful FLOPs"
    )
    if "dense" in mid.times:
        dense_text += (f"; it took {t(mid.times['dense'])} against {t(mid.times['tconv'])} for tconv's `conv` "
                       f"(tconv is {ratio(mid.times['dense'] / mid.times['tconv'])} faster), and building W took "
                       f"{t(mid.times['dense_build'])}")
    dense_text += "."
    dense_text += (f" The largest input whose dense W could be built here was {largest(rows, chapter, 'dense')} "
                   f"for the chapter's kernel and {largest(rows, channels, 'dense')} for 16 channels")
    if refused is not None:
        dense_text += f"; at {refused.size} (one channel) W would need {b(refused.dense_bytes)}"
    if refused16 is not None:
        dense_text += f", at {refused16.size} with 16 channels {b(refused16.dense_bytes)}"
    lines += [dense_text + f"; at 1024x1024 one channel it would need {b(pick(rows, chapter, '1024x1024').dense_bytes) if pick(rows, chapter, '1024x1024') else 'about 8 TB'}.", ""]

    sparse = (
        f"- **Sparse W (CSR) does exactly the useful FLOPs, but stores the kernel once per output position and "
        f"multiplies with irregular, index-driven memory access.** Its size grows as O(HW · k^d · C_in · C_out): "
        f"{b(big16.csr_bytes)} at {big16.size} with 16 channels, where the weight itself is "
        f"{b(int(np.prod(CASES[1].weight_shape)) * 8)}."
    )
    if "sparse" in mid16.times:
        sparse += (
            f" At {mid16.size} with 16 channels, `M @ x` ran at "
            f"{mid16.useful_flops / mid16.times['sparse'] / 1e9:.2f} GFLOP/s against "
            f"{mid16.useful_flops / mid16.times['tconv'] / 1e9:.2f} for tconv: tconv is "
            f"{faster(mid16.times['tconv'], mid16.times['sparse'])} the sparse product"
            f" and {faster(mid16.times['tconv'], mid16.times['sparse'] + mid16.times['sparse_build'])} "
            f"building M and multiplying once ({t(mid16.times['sparse_build'])} + {t(mid16.times['sparse'])})."
        )
    if "sparse" in mid.times:
        sparse += (
            f" With the chapter's kernel at {mid.size}, tconv is {faster(mid.times['tconv'], mid.times['sparse'])} "
            f"`M @ x`."
        )
    sparse += (f" Building a 256x256 single-channel 3x3 matrix ({build_256[1]} stored entries) took "
               f"{t(build_256[0])}. The largest inputs whose sparse W fit under this run's limit: "
               f"{largest(rows, chapter, 'sparse')} (chapter kernel), {largest(rows, channels, 'sparse')} (16 channels).")
    lines += [sparse, ""]

    im = (
        f"- **im2col + one GEMM is matrix multiplication done right:** the matrix is the weight "
        f"(C_out x C_in·k^d), the input is copied into k^d-times-larger columns "
        f"({b(big16.im2col_bytes)} at {big16.size} with 16 channels), and BLAS runs a dense GEMM"
    )
    if "im2col" in mid16.times:
        im += f": {mid16.useful_flops / mid16.times['im2col'] / 1e9:.2f} GFLOP/s at {mid16.size} with 16 channels"
        if "sparse" in mid16.times:
            im += f", {faster(mid16.times['im2col'], mid16.times['sparse'])} sparse `M @ x`"
    im += (f". With padding it spends {ratio(mid16.im2col_flops / mid16.useful_flops)} the useful FLOPs at "
           f"{mid16.size} (products with the padding zeros). With a single channel the GEMM degenerates to "
           f"a (1 x k^d) times (k^d x HW) product, which is memory-bound, so the copy dominates.")
    lines += [im, ""]

    tc = "- **tconv's `conv` / `conv_transpose`** build no matrix: "
    tc += ("the time grows with the useful work only, and the same code gives `W.T @ y` (the transposed "
           "convolution) without transposing anything. ")
    if "tconv" in big16.times:
        tc += (f"At {big16.size} with 16 channels it took {t(big16.times['tconv'])} "
               f"({big16.useful_flops / big16.times['tconv'] / 1e9:.2f} GFLOP/s).")
    lines += [tc, ""]
    lines.append(
        "So: as a way to *think* about convolution (and to see that the transposed convolution is W.T), the "
        "matrix view is exact; as a way to *compute* it, W should never be formed. Dense W is quadratic in the "
        "image size and mostly zeros; sparse W is linear but stores the kernel once per position and runs "
        "index-bound; rearranging the input so that the kernel becomes one dense matrix (im2col + GEMM), or "
        "looping over the k^d taps with small dense products (tconv), does the same arithmetic at BLAS speed."
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
              "(other jobs shared the machine, so single timings can be off by tens of percent):", ""]
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
    started = time.perf_counter()
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
    parser.add_argument("--write", metavar="PATH", help="write the markdown report there (e.g. docs/exercise.md)")
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
