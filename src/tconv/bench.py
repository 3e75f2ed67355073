"""The benchmark: tconv against PyTorch CPU and ONNX Runtime on real transposed-convolution layers.

Run it as ``tconv bench`` or ``python bench/run.py`` (``--quick`` for a
subset, ``--help`` for the options).  For every layer of the suite
(:file:`tconv/data/suite.json`), operation (``conv_transpose``, ``conv`` and,
when tconv provides them, the backward passes) and dtype, it times tconv's
``auto`` (and every registered algorithm, for the float32 transposed
convolution), PyTorch (``torch.set_num_threads(cores)``, inference mode) and
ONNX Runtime (a one-node model, ``intra_op_num_threads = cores``),
interleaved, in a new (seeded) random order every repeat, so that no contender always runs right
after the same other one.  Before each timed call it pauses
(``--pause``, 0.2 s) and makes one untimed call: the thread pools of the
previous library keep spinning briefly and would otherwise steal the cores.
The reported time is the median of the repeats.

It also measures, in the same run, the NumPy GEMM peak (a large square
matmul), tconv's peak extra memory besides the result, per output byte (tracemalloc, one untimed call),
and reports GFLOP/s counting only the multiply-adds that reach the cropped
output.  torch and onnxruntime are optional: a missing one is reported and
its columns stay empty.

>>> [layer["name"] for layer in load_suite()][:2]
['dcgan_1', 'dcgan_2']
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Callable

import numpy as np
from tqdm import tqdm

from .algorithms import get as _get_algorithm, names as _algorithm_names
from .algorithms.cost import blas_description, calibration_description, cpu_model
from .algorithms.jit import describe as describe_kernels
from .ops import conv, conv_transpose, plan, ranked, running_geometry
from .params import conv_geometry, conv_transpose_geometry, geometry_from_shapes

#: Algorithms predicted this many times slower than the best are not timed (they would take minutes).
HOPELESS = 8.0

QUICK = ("dcgan_1", "dcgan_3", "fcn32s", "unet_up4", "hifigan_up4", "depthwise", "dilated")


def load_suite(path: str | None = None) -> list[dict]:
    """The layers of the benchmark suite (the packaged one unless ``path`` is given)."""
    if path:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)["shapes"]
    text = resources.files("tconv").joinpath("data/suite.json").read_text(encoding="utf-8")
    return json.loads(text)["shapes"]


def clear_caches() -> None:
    """Empty every ``functools`` cache of the loaded tconv modules (geometries, rankings, byte counts, kernel
    tables), so that the next call plans as a first one (what ``bench/plan_time.py`` times cold, and what
    the tests that count planning work start from).

    >>> clear_caches()
    """
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "tconv":
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


# ---------------------------------------------------------------------------
# operands and FLOP counts


def _params(layer: dict) -> dict:
    return dict(stride=layer["stride"], padding=layer["padding"], dilation=layer["dilation"], groups=layer["groups"])


def _weight_shape(layer: dict) -> tuple[int, ...]:
    return (layer["C_in"], layer["C_out"] // layer["groups"], *layer["kernel"])


def _operands(layer: dict, dtype: str, op: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (the op's input), weight, and the conv_transpose output-shaped array for gradients."""
    rng = np.random.default_rng(0)
    small = (layer["N"], layer["C_in"], *layer["input"])
    w = rng.standard_normal(_weight_shape(layer)).astype(dtype)
    xs = rng.standard_normal(small).astype(dtype)
    geom = conv_transpose_geometry(xs, w, output_padding=layer["output_padding"], **_params(layer))
    xb = rng.standard_normal((layer["N"], layer["C_out"]) + geom.output_shape).astype(dtype)
    return (xs if op.startswith("conv_transpose") else xb), w, (xb if op.startswith("conv_transpose") else xs)


def useful_macs(layer: dict) -> int:
    """Multiply-adds whose product lands inside the cropped output (the same for conv, its adjoint)."""
    geom = geometry_from_shapes(True, (1, layer["C_in"], *layer["input"]), _weight_shape(layer),
                                output_padding=layer["output_padding"], **_params(layer))
    pairs = 1
    for n, k, s, d, lo, out in zip(geom.input_shape, geom.kernel_shape, geom.stride, geom.dilation, geom.before,
                                   geom.output_shape):
        pairs *= sum(1 for i in range(n) for t in range(k) if 0 <= i * s + t * d - lo < out)
    return layer["N"] * pairs * layer["C_in"] * (layer["C_out"] // layer["groups"])


def gemm_peak(dtype: str, size: int = 2048, repeats: int = 5) -> float:
    """The NumPy (BLAS) GEMM rate on a large square product, in GFLOP/s (best of ``repeats``)."""
    a = np.random.default_rng(1).standard_normal((size, size)).astype(dtype)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def memory_bandwidth(mib: int = 256, repeats: int = 5) -> float:
    """The memory bandwidth of a large copy (read + written bytes, far beyond the caches), in GB/s."""
    src = np.ones(mib << 18, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(repeats))
    return 2 * src.nbytes / best / 1e9


#: The share of the measured GEMM peak a layer's multiply-adds can reach at best (issue 15's roofline).
ROOFLINE_GEMM_SHARE = 0.85


def roofline_ms(macs: int, moved_bytes: int, peak_gflops: float, bandwidth_gbs: float) -> float:
    """The lower bound on a layer's time: its useful FLOPs at 85% of the GEMM peak, or its operand and result
    bytes at the memory bandwidth, whichever takes longer.

    >>> roofline_ms(10**9, 0, 200.0, 20.0)  # 2 GFLOP at 170 GFLOP/s
    11.76470588235294
    >>> roofline_ms(1, 2 * 10**9, 200.0, 20.0)  # 2 GB at 20 GB/s
    100.0
    """
    return 1e3 * max(2 * macs / (ROOFLINE_GEMM_SHARE * peak_gflops * 1e9), moved_bytes / (bandwidth_gbs * 1e9))


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ---------------------------------------------------------------------------
# the contenders: each returns a callable that runs once and returns the seconds of its timed part


def _tconv_runner(layer: dict, op: str, dtype: str, algorithm: str) -> Callable[[], float] | None:
    x, w, other = _operands(layer, dtype, op)
    p = _params(layer)
    if op == "conv_transpose":
        geom = running_geometry(conv_transpose_geometry(x, w, output_padding=layer["output_padding"], **p))
        if algorithm != "auto" and _get_algorithm(algorithm).unsupported(geom):
            return None
        return lambda: _timed(lambda: conv_transpose(x, w, output_padding=layer["output_padding"], algorithm=algorithm, **p))
    if op == "conv":
        geom = running_geometry(conv_geometry(x, w, **p))
        if algorithm != "auto" and _get_algorithm(algorithm).unsupported(geom):
            return None
        return lambda: _timed(lambda: conv(x, w, algorithm=algorithm, **p))
    import tconv

    grad = getattr(tconv, f"{op.replace('_grad', '')}_backward", None)
    if grad is None or algorithm != "auto":
        return None
    if op == "conv_transpose_grad":
        return lambda: _timed(lambda: grad(other, x, w, output_padding=layer["output_padding"], **p))
    return lambda: _timed(lambda: grad(other, x, w, **p))


def _torch_runner(layer: dict, op: str, dtype: str) -> Callable[[], float] | None:
    import torch

    x, w, other = _operands(layer, dtype, op)
    nd = len(layer["input"])
    p = _params(layer)
    tx, tw, to = (torch.from_numpy(a) for a in (x, w, other))
    if op.startswith("conv_transpose"):
        fn = getattr(torch.nn.functional, f"conv_transpose{nd}d")
        kw = dict(p, output_padding=layer["output_padding"])
    else:
        fn = getattr(torch.nn.functional, f"conv{nd}d")
        kw = p
    if not op.endswith("_grad"):
        def run() -> float:
            with torch.inference_mode():
                return _timed(lambda: fn(tx, tw, **kw))
        return run
    tb = torch.zeros(tw.shape[1] * layer["groups"] if op.startswith("conv_transpose") else tw.shape[0], dtype=tw.dtype)

    def run_grad() -> float:
        xr, wr, br = (t.clone().requires_grad_(True) for t in (tx, tw, tb))
        y = fn(xr, wr, br, **kw)
        return _timed(lambda: torch.autograd.grad(y, (xr, wr, br), to))
    return run_grad


def _ort_runner(layer: dict, op: str, dtype: str, threads: int) -> Callable[[], float] | None:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if op.endswith("_grad"):
        return None
    x, w, _ = _operands(layer, dtype, op)
    nd = len(layer["input"])
    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    attrs = dict(kernel_shape=list(layer["kernel"]), strides=[layer["stride"]] * nd, pads=[layer["padding"]] * (2 * nd),
                 dilations=[layer["dilation"]] * nd, group=layer["groups"])
    if op == "conv_transpose":
        attrs["output_padding"] = [layer["output_padding"]] * nd
        node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], **attrs)
    else:
        node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    graph = helper.make_graph([node], "layer", [helper.make_tensor_value_info("x", elem, list(x.shape))],
                              [helper.make_tensor_value_info("y", elem, None)],
                              initializer=[onnx.numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        sess.run(None, {"x": x})
    except Exception:  # ORT lacks some dtype/op combinations (e.g. float64 ConvTranspose)
        return None
    return lambda: _timed(lambda: sess.run(None, {"x": x}))


def _peak_traced_bytes(fn: Callable[[], float]) -> int:
    """The most bytes ``fn`` had allocated at once (tracemalloc: NumPy's allocations), its result included."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------
# one measurement


@dataclass
class Row:
    """One layer x op x dtype: median milliseconds of every contender and derived figures."""

    layer: str
    op: str
    dtype: str
    auto: str  # the algorithm auto ran
    ms: dict[str, float] = field(default_factory=dict)  # contender -> median ms ("tconv" is auto)
    spread: dict[str, float] = field(default_factory=dict)  # contender -> (max - min) / median over repeats
    gflops: float = 0.0  # tconv auto, useful multiply-adds only
    peak_percent: float = 0.0  # of the GEMM peak measured in this run
    roofline_ms: float = 0.0  # the layer's bound on this machine (:func:`roofline_ms`)
    extra_bytes: int = 0  # tconv auto's peak traced allocation during one call, less its result
    io_bytes: int = 0  # input + output bytes
    out_bytes: int = 0  # output bytes

    def roofline_percent(self) -> float | None:
        """How close tconv's auto gets to the bound: 100 = at the roofline."""
        return 100 * self.roofline_ms / self.ms["tconv"] if self.roofline_ms and "tconv" in self.ms else None

    def ratio(self, other: str) -> float | None:
        return self.ms[other] / self.ms["tconv"] if other in self.ms and "tconv" in self.ms else None

    def fastest_algorithm(self) -> tuple[str, float] | None:
        algos = {k[6:]: v for k, v in self.ms.items() if k.startswith("tconv:")}
        return min(algos.items(), key=lambda kv: kv[1]) if algos else None


def measure_row(layer: dict, op: str, dtype: str, *, repeats: int, pause: float, every_algorithm: bool,
                threads: int, peak: float, have_torch: bool, have_ort: bool, bandwidth: float = 0.0) -> Row:
    runners: dict[str, Callable[[], float]] = {}
    auto = _tconv_runner(layer, op, dtype, "auto")
    if auto is not None:
        runners["tconv"] = auto
    if every_algorithm and op in ("conv_transpose", "conv"):
        predicted = dict(ranked(running_geometry(_geometry(layer, op, dtype))))
        best = min(v for k, v in predicted.items() if k != "direct")
        for name in _algorithm_names():
            if name == "direct" or predicted.get(name, 0) > HOPELESS * best:
                continue  # the reference, and algorithms the model predicts hopeless (e.g. fft on small kernels)
            r = _tconv_runner(layer, op, dtype, name)
            if r is not None:
                runners[f"tconv:{name}"] = r
    if have_torch:
        runners["torch"] = _torch_runner(layer, op, dtype)
    if have_ort:
        r = _ort_runner(layer, op, dtype, threads)
        if r is not None:
            runners["ort"] = r
    times: dict[str, list[float]] = {k: [] for k in runners}
    order = random.Random(f"{layer['name']} {op} {dtype}")  # seeded: a rerun draws the same orders
    names = list(runners)
    for _ in range(repeats):
        order.shuffle(names)  # a new order every repeat: no contender always follows the same one
        for name in names:
            time.sleep(pause)
            runners[name]()
            times[name].append(runners[name]())
    x, w, other = _operands(layer, dtype, op)
    row = Row(layer["name"], op, dtype, auto=_auto_name(layer, op, dtype))
    for name, ts in times.items():
        med = statistics.median(ts)
        row.ms[name] = med * 1e3
        row.spread[name] = (max(ts) - min(ts)) / med if med else 0.0
    if "tconv" in row.ms and op in ("conv_transpose", "conv"):
        row.gflops = 2 * useful_macs(layer) / (row.ms["tconv"] / 1e3) / 1e9
        row.peak_percent = 100 * row.gflops / peak
        row.extra_bytes = max(0, _peak_traced_bytes(runners["tconv"]) - other.nbytes)
        row.io_bytes, row.out_bytes = x.nbytes + other.nbytes, other.nbytes
        if bandwidth:
            row.roofline_ms = roofline_ms(useful_macs(layer), row.io_bytes + w.nbytes, peak, bandwidth)
    return row


def _geometry(layer: dict, op: str, dtype: str):
    """The geometry of ``op`` on the layer, from shapes alone (no operands allocated)."""
    small = (layer["N"], layer["C_in"], *layer["input"])
    transposed = geometry_from_shapes(True, small, _weight_shape(layer), dtype,
                                      output_padding=layer["output_padding"], **_params(layer))
    if op == "conv_transpose":
        return transposed
    return geometry_from_shapes(False, (layer["N"], layer["C_out"]) + transposed.output_shape, _weight_shape(layer),
                                dtype, **_params(layer))


def _auto_name(layer: dict, op: str, dtype: str) -> str:
    if op not in ("conv_transpose", "conv"):
        return "-"
    return plan(running_geometry(_geometry(layer, op, dtype))).name  # a stride dividing its dilation: stride 1


# ---------------------------------------------------------------------------
# reporting


def geomean(values) -> float:
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[Row]) -> str:
    """A Markdown table of the rows."""
    head = ("| layer | op | dtype | auto | tconv ms | torch ms | ort ms | vs torch | vs ORT | GFLOP/s | % peak "
            "| % roofline | fastest algo (ms) | auto/fastest | extra mem / output |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        fastest = r.fastest_algorithm()
        auto_vs = "-" if not fastest or "tconv" not in r.ms else f"{r.ms['tconv'] / fastest[1]:.2f}"
        best = "-" if not fastest else f"{fastest[0]} ({fastest[1]:.2f})"
        mem = "-" if not r.out_bytes else f"{r.extra_bytes / r.out_bytes:.2f}"
        lines.append(
            f"| {r.layer} | {r.op} | {r.dtype} | {r.auto} | {_fmt(r.ms.get('tconv'))} | {_fmt(r.ms.get('torch'))} "
            f"| {_fmt(r.ms.get('ort'))} | {_fmt(r.ratio('torch'))} | {_fmt(r.ratio('ort'))} | {_fmt(r.gflops, '.1f')} "
            f"| {_fmt(r.peak_percent, '.0f')} | {_fmt(r.roofline_percent(), '.0f')} | {best} | {auto_vs} | {mem} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """Geometric means vs torch and ORT and the worst layer, per op and dtype."""
    out = []
    for op in dict.fromkeys(r.op for r in rows):
        for dtype in dict.fromkeys(r.dtype for r in rows):
            sel = [r for r in rows if r.op == op and r.dtype == dtype and "tconv" in r.ms]
            if not sel:
                continue
            vt = [r.ratio("torch") for r in sel if r.ratio("torch")]
            vo = [r.ratio("ort") for r in sel if r.ratio("ort")]
            line = f"{op} {dtype}: geomean speed-up vs torch {geomean(vt):.2f}x"
            if vt:
                worst = min(sel, key=lambda r: r.ratio("torch") or float("inf"))
                line += f" (worst {worst.layer} {worst.ratio('torch'):.2f}x)"
            if vo:
                worst_o = min((r for r in sel if r.ratio("ort")), key=lambda r: r.ratio("ort"))
                line += f", vs ORT {geomean(vo):.2f}x over {len(vo)} layers (worst {worst_o.layer} {worst_o.ratio('ort'):.2f}x)"
            out.append(line)
    return "\n".join(out)


def machine() -> str:
    """CPU model, cores, Python/NumPy versions and the BLAS kernel."""
    return (f"{cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy {np.__version__}; "
            f"BLAS: {blas_description()}; cost model: {calibration_description()}")


# ---------------------------------------------------------------------------
# the driver


def run(quick: bool = False, ops=("conv_transpose", "conv", "conv_transpose_grad", "conv_grad"),
        dtypes=("float32", "float64"), repeats: int | None = None, pause: float = 0.2, layers=None,
        every_algorithm: bool = True, out: str | None = None, suite: str | None = None,
        stream=None, json_stream=None) -> list[Row]:
    """Run the benchmark, print progress and the table, optionally save JSON + Markdown to ``out``.

    ``stream`` receives the progress and the table (default: standard output); ``json_stream``, when
    given, the results as one JSON document (:func:`results_document`, what ``out`` saves as ``.json``).
    """
    stream = sys.stdout if stream is None else stream
    threads = os.cpu_count() or 1
    have_torch, have_ort = _optional("torch", stream), _optional("onnxruntime", stream) and _optional("onnx", stream)
    if have_torch:
        import torch

        torch.set_num_threads(threads)
    shapes = [s for s in load_suite(suite) if (not quick or s["name"] in QUICK) and (not layers or s["name"] in layers)]
    repeats = repeats or (3 if quick else 7)
    import tconv

    asked = list(ops)
    ops = [op for op in ops if not op.endswith("_grad") or hasattr(tconv, op.replace("_grad", "_backward"))]
    skipped = [op for op in asked if op not in ops]
    print(f"machine: {machine()}", file=stream)
    print(f"compiled kernels: {describe_kernels()}", file=stream)
    if skipped:
        print(f"note: {', '.join(skipped)} skipped (this tconv has no *_backward functions)", file=stream)
    peaks = {dt: gemm_peak(dt) for dt in dtypes}
    print("GEMM peak (NumPy, 2048^2): " + ", ".join(f"{dt} {p:.0f} GFLOP/s" for dt, p in peaks.items()), file=stream)
    bandwidth = memory_bandwidth()
    print(f"memory bandwidth (256 MiB copy): {bandwidth:.1f} GB/s", file=stream)
    rows, total = [], len(shapes) * len(ops) * len(dtypes)
    work = [(dtype, op, layer) for dtype in dtypes for op in ops for layer in shapes]
    # a live bar on a terminal's stderr (tqdm turns itself off elsewhere); the per-row lines are the record
    with tqdm(total=total, desc="bench", unit="row", file=sys.stderr, disable=None, leave=False) as bar:
        for k, (dtype, op, layer) in enumerate(work, 1):
            bar.set_postfix_str(f"{layer['name']} {op} {dtype}")
            row = measure_row(layer, op, dtype, repeats=repeats, pause=pause,
                              every_algorithm=every_algorithm and dtype == "float32" and op == "conv_transpose",
                              threads=threads, peak=peaks[dtype], have_torch=have_torch, have_ort=have_ort,
                              bandwidth=bandwidth)
            rows.append(row)
            bar.write(f"[{k}/{total}] {layer['name']:12s} {op:20s} {dtype}: tconv({row.auto}) "
                      f"{_fmt(row.ms.get('tconv'))} ms, torch {_fmt(row.ms.get('torch'))} ms, ort "
                      f"{_fmt(row.ms.get('ort'))} ms", file=stream)
            stream.flush()
            bar.update()
    peaks_after = {dt: gemm_peak(dt) for dt in dtypes}
    print("\n" + table(rows) + "\n\n" + summary(rows), file=stream)
    print("GEMM peak again at the end: " + ", ".join(f"{dt} {p:.0f} GFLOP/s" for dt, p in peaks_after.items()), file=stream)
    document = results_document(rows, peaks, peaks_after, bandwidth)
    if json_stream is not None:
        json.dump(document, json_stream, indent=1)
        json_stream.write("\n")
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out + ".json", "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1)
        with open(out + ".md", "w", encoding="utf-8") as fh:
            fh.write(table(rows) + "\n\n" + summary(rows).replace("\n", "\n\n") + "\n")
        print(f"saved {out}.json and {out}.md", file=stream)
    return rows


def results_document(rows: list[Row], peaks: dict[str, float], peaks_after: dict[str, float],
                     bandwidth: float = 0.0) -> dict:
    """The results as plain data: machine, date, GEMM peaks (start and end of the run), memory bandwidth and
    every row (``tconv bench --json`` prints it; ``--out PATH`` saves it as ``PATH.json``)."""
    return {"machine": machine(), "kernels": describe_kernels(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "gemm_peak_gflops": peaks, "gemm_peak_end_gflops": peaks_after, "memory_bandwidth_gbs": bandwidth,
            "rows": [asdict(r) for r in rows]}


def _optional(module: str, stream) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        extra = "torch" if module == "torch" else "onnxruntime and onnx"
        print(f"note: {module} is not installed; its column stays empty (pip install {extra} to compare)", file=stream)
        return False
