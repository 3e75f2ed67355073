"""The fixed cost of a call: small inputs, where the arithmetic is nothing and the Python around it is all.

Each case is timed for tconv and for PyTorch CPU in the same run, interleaved (tconv, torch, tconv,
torch, ...), as the median over ``--repeats`` rounds of the best of ``--number`` back-to-back calls per
round, in microseconds per call; "plan" is the same call through a reusable plan (:func:`tconv.plan_conv_transpose`,
:func:`tconv.plan_conv`), validated and planned once; all after a warm-up that compiles the kernels and fills tconv's caches (its
geometry, plan and kernel tables are kept per call signature: the cost measured is what a training or
solver loop pays on every call after the first).  Timings only; nothing here is asserted.

    python bench/call_overhead.py [--repeats 7] [--number 2000]
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import numpy as np

import tconv
import tconv.nn


def _cases(torch):
    """name -> (tconv call, PyTorch call, what auto picks)."""
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    chapter_x, chapter_k = np.array([[[[0., 1], [2, 3]]]]), np.array([[[[0., 1], [2, 3]]]])
    x8 = rng.standard_normal((1, 8, 8, 8)).astype(np.float32)
    w8 = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    x1 = rng.standard_normal((1, 4, 32)).astype(np.float32)
    w1 = rng.standard_normal((4, 2, 4)).astype(np.float32)
    layer = tconv.nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, seed=0)
    t = {name: torch.from_numpy(a) for name, a in
         dict(cx=chapter_x, ck=chapter_k, x8=x8, w8=w8, x1=x1, w1=w1, lw=np.asarray(layer.weight),
              lb=np.asarray(layer.bias)).items()}
    P = dict(ct=tconv.plan_conv_transpose, c=tconv.plan_conv)
    plans = dict(
        chapter=P["ct"](chapter_x, chapter_k), chapter_s2=P["ct"](chapter_x, chapter_k, stride=2),
        x8=P["ct"](x8, w8, stride=2, padding=1), conv8=P["c"](x8, w8, padding=1), x1=P["ct"](x1, w1, stride=2))
    return {
        "chapter 2x2, float64": (lambda: tconv.conv_transpose(chapter_x, chapter_k),
                                 lambda: plans["chapter"](chapter_x, chapter_k),
                                 lambda: F.conv_transpose2d(t["cx"], t["ck"])),
        "chapter 2x2 stride 2": (lambda: tconv.conv_transpose(chapter_x, chapter_k, stride=2),
                                 lambda: plans["chapter_s2"](chapter_x, chapter_k),
                                 lambda: F.conv_transpose2d(t["cx"], t["ck"], stride=2)),
        "8->8 ch 8x8 k3 s2 p1, float32": (lambda: tconv.conv_transpose(x8, w8, stride=2, padding=1),
                                          lambda: plans["x8"](x8, w8),
                                          lambda: F.conv_transpose2d(t["x8"], t["w8"], stride=2, padding=1)),
        "conv 8->8 ch 8x8 k3 p1": (lambda: tconv.conv(x8, w8, padding=1),
                                   lambda: plans["conv8"](x8, w8),
                                   lambda: F.conv2d(t["x8"], t["w8"], padding=1)),
        "1-d 4->2 ch 32 k4 s2": (lambda: tconv.conv_transpose(x1, w1, stride=2),
                                 lambda: plans["x1"](x1, w1),
                                 lambda: F.conv_transpose1d(t["x1"], t["w1"], stride=2)),
        "nn.ConvTranspose2d layer (bias)": (lambda: layer(x8), None,
                                            lambda: F.conv_transpose2d(t["x8"], t["lw"], t["lb"], stride=2,
                                                                       padding=1)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # small calls: a thread pool only adds its hand-off
    print(f"tconv {tconv.__version__}, torch {torch.__version__}, numpy {np.__version__}; "
          f"median of {args.repeats} rounds, best of {args.number} calls each")
    print(f"{'case':34s} {'tconv us':>9s} {'plan us':>8s} {'torch us':>9s} {'tconv/torch':>12s} {'plan/torch':>11s}")
    with torch.no_grad():
        for name, calls in _cases(torch).items():
            contenders = {who: fn for who, fn in zip(("tconv", "plan", "torch"), calls) if fn is not None}
            for fn in contenders.values():
                for _ in range(50):
                    fn()
            rounds: dict[str, list[float]] = {who: [] for who in contenders}
            for _ in range(args.repeats):
                for who, fn in contenders.items():
                    rounds[who].append(min(timeit.repeat(fn, number=args.number // 10, repeat=10))
                                       / (args.number // 10) * 1e6)
            us = {who: statistics.median(r) for who, r in rounds.items()}
            plan = f"{us['plan']:8.1f}" if "plan" in us else f"{'-':>8s}"
            plan_ratio = f"{us['plan'] / us['torch']:11.1f}" if "plan" in us else f"{'-':>11s}"
            print(f"{name:34s} {us['tconv']:9.1f} {plan} {us['torch']:9.1f} {us['tconv'] / us['torch']:12.1f} "
                  f"{plan_ratio}")

if __name__ == "__main__":
    main()
