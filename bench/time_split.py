"""Where a ``gemm`` call spends its time: the GEMMs, the compiled re-layouts around them, the weight re-layout.

For each suite layer and direction (``conv_transpose``, ``conv``) that ``auto`` runs with ``gemm``
(float32, batch as in the suite), the call is timed whole and by parts: the compiled loops of
:mod:`tconv.algorithms.gemm_loops` (``col2im``, ``col2im_planes`` after the transposed GEMM,
``im2col_planes`` before the convolution's) and the weight re-layout are wrapped with timers; the rest
of the call is the GEMM (plus the little around it).  The GEMM's rate counts every tap it multiplies
(cropped ones included) against the NumPy GEMM peak measured in the same run.  Median over
``--repeats`` calls after a warm-up.  Timings only; it says so when no layer runs on ``gemm``.

    python bench/time_split.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tconv
from tconv.algorithms import gemm, gemm_loops
from tconv.algorithms.planner import plan
from tconv.bench import _geometry, _operands, _params, gemm_peak, load_suite

#: The wrapped steps: (module, function name, column heading)
STEPS = ((gemm_loops, "col2im", "col2im"), (gemm_loops, "col2im_planes", "col2im planes"),
         (gemm_loops, "im2col_planes", "im2col"), (gemm, "_channels_last_weight", "weight"))


class _Timer:
    """Wraps a module function, adding up the seconds spent in it."""

    def __init__(self, module, name: str) -> None:
        self.module, self.name, self.inner, self.seconds = module, name, getattr(module, name), 0.0

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self.inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(module, name, timed)

    def restore(self) -> None:
        setattr(self.module, self.name, self.inner)


def _split(call, repeats: int) -> tuple[float, list[float]]:
    """Median total seconds of ``call`` and the median seconds of each of :data:`STEPS` inside it."""
    call()
    rows = []
    for _ in range(repeats):
        timers = [_Timer(module, name) for module, name, _ in STEPS]
        start = time.perf_counter()
        try:
            call()
        finally:
            for t in timers:
                t.restore()
        rows.append([time.perf_counter() - start] + [t.seconds for t in timers])
    medians = [statistics.median(r[i] for r in rows) for i in range(len(STEPS) + 1)]
    return medians[0], medians[1:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    peak = gemm_peak("float32")
    print(f"NumPy float32 GEMM peak {peak:.0f} GFLOP/s; median of {args.repeats} calls")
    print(f"{'layer':12s} {'op':15s} {'total ms':>9s} {'GEMM ms':>8s} "
          + " ".join(f"{heading + ' ms':>16s}" for *_, heading in STEPS) + f" {'GEMM GFLOP/s':>13s} {'% peak':>7s}")
    timed = 0
    for layer in load_suite():
        for op in ("conv_transpose", "conv"):
            geom = _geometry(layer, op, "float32")
            if plan(geom).name != "gemm":
                continue
            x, w, _ = _operands(layer, "float32", op)
            kw = dict(_params(layer), algorithm="gemm")
            if op == "conv_transpose":
                kw["output_padding"] = layer["output_padding"]
            run = getattr(tconv, op)
            total, steps = _split(lambda: run(x, w, **kw), args.repeats)
            rest = total - sum(steps)
            flops = 2 * geom.batch * int(np.prod(geom.small_shape)) * geom.small_channels * int(
                np.prod(geom.kernel_shape)) * geom.big_channels // geom.groups
            rate = flops / rest / 1e9
            print(f"{layer['name']:12s} {op:15s} {total * 1e3:9.2f} {rest * 1e3:8.2f} "
                  + " ".join(f"{s * 1e3:16.2f}" for s in steps) + f" {rate:13.1f} {100 * rate / peak:7.0f}")
            timed += 1
    print(f"{timed} layer-directions timed" if timed else "no suite layer runs on gemm in either direction here")


if __name__ == "__main__":
    main()
