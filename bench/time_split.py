"""Where a ``gemm`` transposed convolution spends its time: the GEMM, the col2im, the weight re-layout.

For each suite layer that ``auto`` runs with ``gemm`` (float32, batch as in the suite), the compiled
channels-last path is timed whole and by parts: :func:`tconv.algorithms.gemm_loops.col2im` and the
weight re-layout are wrapped with timers, the rest of the call is the GEMM (plus the little around it).
The GEMM's rate counts every tap it multiplies (cropped ones included), against the NumPy GEMM peak
measured in the same run.  Median over ``--repeats`` calls after a warm-up.  Timings only.

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    peak = gemm_peak("float32")
    print(f"NumPy float32 GEMM peak {peak:.0f} GFLOP/s; median of {args.repeats} calls")
    print(f"{'layer':12s} {'total ms':>9s} {'GEMM ms':>8s} {'col2im ms':>10s} {'weight ms':>10s} "
          f"{'GEMM GFLOP/s':>13s} {'% peak':>7s}")
    for layer in load_suite():
        x, w, _ = _operands(layer, "float32", "conv_transpose")
        kw = dict(_params(layer), output_padding=layer["output_padding"])
        geom = _geometry(layer, "conv_transpose", "float32")
        if plan(geom).name != "gemm" or not gemm._compiled_path(geom):
            continue
        tconv.conv_transpose(x, w, **kw, algorithm="gemm")
        rows = []
        for _ in range(args.repeats):
            timers = [_Timer(gemm_loops, "col2im"), _Timer(gemm, "_channels_last_weight")]
            start = time.perf_counter()
            tconv.conv_transpose(x, w, **kw, algorithm="gemm")
            total = time.perf_counter() - start
            for t in timers:
                t.restore()
            rows.append((total, timers[0].seconds, timers[1].seconds))
        total, col2im, relayout = (statistics.median(r[i] for r in rows) for i in range(3))
        rest = total - col2im - relayout
        flops = 2 * x.shape[0] * int(np.prod(geom.input_shape)) * geom.in_channels * int(
            np.prod(geom.kernel_shape)) * geom.out_channels // geom.groups
        rate = flops / rest / 1e9
        print(f"{layer['name']:12s} {total * 1e3:9.2f} {rest * 1e3:8.2f} {col2im * 1e3:10.2f} "
              f"{relayout * 1e3:10.2f} {rate:13.1f} {100 * rate / peak:7.0f}")


if __name__ == "__main__":
    main()
