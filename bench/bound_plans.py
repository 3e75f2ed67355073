"""A fixed weight: the one-off call against a bound plan (``tconv.plan_conv_transpose(...).bind(w)``), which
re-lays out the weight for its kernels on its first call only, with PyTorch CPU and ONNX Runtime (whose
session holds the weight as an initializer and packs it once) in the same run.

Per suite layer and direction (float32, auto): the contenders run interleaved in a new seeded order every
round, a pause between calls, after a warm-up (the bound plan's first call is the warm-up); the table
gives the median ms over ``--repeats`` rounds and the ratios.  Timings only; nothing here is asserted.

    python bench/bound_plans.py [--repeats 7] [--pause 0.1] [--layers fcn32s,dcgan_2] [--ops conv_transpose,conv]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import tconv
from tconv.bench import _operands, _ort_runner, _params, _timed, _torch_runner, load_suite, machine


def _tconv_pair(layer: dict, op: str):
    """(one-off call, bound plan call, the bound plan's algorithm), each returning its seconds."""
    x, w, _ = _operands(layer, "float32", op)
    kw = _params(layer)
    if op == "conv_transpose":
        kw["output_padding"] = layer["output_padding"]
        call, make = tconv.conv_transpose, tconv.plan_conv_transpose
    else:
        call, make = tconv.conv, tconv.plan_conv
    bound = make(x, w, **kw).bind(w)
    return (lambda: _timed(lambda: call(x, w, **kw))), (lambda: _timed(lambda: bound(x))), bound.plan.algorithm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--layers", default="")
    parser.add_argument("--ops", default="conv_transpose,conv")
    args = parser.parse_args(argv)
    wanted = set(filter(None, args.layers.split(",")))
    print(machine())
    print(f"median of {args.repeats} interleaved rounds, float32, auto; ms and ratios")
    print(f"{'layer':12s} {'op':15s} {'algorithm':10s} {'one-off':>8s} {'bound':>8s} {'torch':>8s} {'ort':>8s} "
          f"{'one-off/bound':>14s} {'vs torch':>9s} {'vs ORT':>7s}")
    rng = random.Random(0)
    for layer in load_suite():
        if wanted and layer["name"] not in wanted:
            continue
        for op in args.ops.split(","):
            one_off, bound, algorithm = _tconv_pair(layer, op)
            contenders = {"one-off": one_off, "bound": bound, "torch": _torch_runner(layer, op, "float32"),
                          "ort": _ort_runner(layer, op, "float32", threads=2)}
            contenders = {k: v for k, v in contenders.items() if v is not None}
            for run in contenders.values():
                run()  # warm-up: compiled kernels, caches, the bound plan's kept re-layouts
            times: dict[str, list[float]] = {k: [] for k in contenders}
            for _ in range(args.repeats):
                order = list(contenders)
                rng.shuffle(order)
                for name in order:
                    time.sleep(args.pause)
                    times[name].append(contenders[name]())
            ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
            cells = [f"{ms.get(k, float('nan')):8.2f}" for k in ("one-off", "bound", "torch", "ort")]
            ratio = [ms["one-off"] / ms["bound"]] + [ms[k] / ms["bound"] if k in ms else float("nan")
                                                      for k in ("torch", "ort")]
            print(f"{layer['name']:12s} {op:15s} {algorithm:10s} {' '.join(cells)} {ratio[0]:14.2f} "
                  f"{ratio[1]:9.2f} {ratio[2]:7.2f}", flush=True)


if __name__ == "__main__":
    main()
