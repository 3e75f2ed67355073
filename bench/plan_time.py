"""How long planning takes: ``tconv.ops.plan`` (validation excluded), cold and warm, on a few geometries.

Planning must cost Python work that grows with kernel + stride per dim at most, never with their
product: the worst case here, kernel 6000 at stride 3000 on a 2-position input, plans in milliseconds.
"cold" is the first plan of a geometry (every cache in tconv cleared before each repeat),
"warm" a repeated plan of the same geometry (what every later call pays), "call" a whole
``conv_transpose`` with ``algorithm="auto"`` (the kernel included), "explain" ``tconv.explain``.
Timings only; nothing here asserts on time (tests/test_planning.py counts planning steps instead).

    python bench/plan_time.py
"""

from __future__ import annotations

import time

import numpy as np

import tconv
from tconv import ops
from tconv.bench import clear_caches
from tconv.params import conv_transpose_geometry

#: name -> (x shape, weight shape, hyper-parameters)
CASES = {
    "k6000_s3000 (1-d, 2 positions)": ((1, 1, 2), (1, 1, 6000), dict(stride=3000)),
    "k600_s300 (1-d, 2 positions)": ((1, 1, 2), (1, 1, 600), dict(stride=300)),
    "k64_s32x32 (2-d, 64x64 phases)": ((1, 1, 2, 2), (1, 1, 64, 64), dict(stride=(32, 32))),
    "dcgan_up (512->256, 4x4 s2)": ((1, 512, 8, 8), (512, 256, 4, 4), dict(stride=2, padding=1)),
    "fcn32s_up (21ch, 64x64 s32)": ((1, 21, 16, 16), (21, 21, 64, 64), dict(stride=32, padding=16)),
    "unet3d_up (32->16, 2x2x2 s2)": ((1, 32, 8, 8, 8), (32, 16, 2, 2, 2), dict(stride=2)),
}


def _best(fn, repeats: int) -> float:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(xs, ws, params, repeats: int = 5) -> dict[str, float]:
    x = np.ones(xs)
    w = np.ones(ws)
    geom = conv_transpose_geometry(x, w, **params)

    def cold(i):
        clear_caches()
        ops.plan(geom)

    return {
        "cold": _best(cold, repeats),
        "warm": _best(lambda i: ops.plan(geom), repeats),
        "explain": _best(lambda i: tconv.explain(x, w, **params), repeats),
        "call": _best(lambda i: tconv.conv_transpose(x, w, **params), 3),
        "algorithm": ops.plan(geom).name,
    }


def main() -> None:
    tconv.conv_transpose(np.ones((1, 1, 3)), np.ones((1, 1, 2)))  # imports and first-use work out of the way
    print(f"{'case':34s} {'cold plan':>10s} {'warm plan':>10s} {'explain':>10s} {'whole call':>11s}  auto picks")
    for name, (xs, ws, params) in CASES.items():
        r = measure(xs, ws, params)
        print(f"{name:34s} {r['cold'] * 1e3:8.3f}ms {r['warm'] * 1e3:8.3f}ms {r['explain'] * 1e3:8.3f}ms "
              f"{r['call'] * 1e3:9.3f}ms  {r['algorithm']}")


if __name__ == "__main__":
    main()
