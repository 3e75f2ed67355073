"""Is ``auto`` within 10% of the fastest algorithm on every suite layer, in both directions (issue 15, goal 5)?

For each layer of the packaged suite (float32, its batch) and each direction (``conv_transpose``, ``conv``
on the transposed layer's output), the candidates the cost model ranks within ``--within`` times its best
prediction (at most ``--most``; ``direct`` left out) are timed alternately, ``--repeats`` rounds after an
untimed call each, in one process without PyTorch; the line shows auto's pick (the first of the ranking of
the geometry tconv runs), the fastest, their ratio and the predictions.  Run it once per BLAS setting, e.g.
``OPENBLAS_CORETYPE=Haswell python bench/auto_check.py``.  Timings only; nothing is asserted.

    python bench/auto_check.py [--repeats 5] [--within 3] [--most 4] [--layers a,b]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from importlib import resources

import numpy as np

import tconv
from tconv.algorithms.planner import running_geometry
from tconv.ops import ranked
from tconv.params import geometry_from_shapes


def _layer_calls(layer: dict, rng: np.random.Generator):
    """(direction, geometry, call(algorithm)) for the layer's transposed convolution and its convolution."""
    x = rng.standard_normal((layer["N"], layer["C_in"], *layer["input"]), dtype=np.float32)
    w = rng.standard_normal((layer["C_in"], layer["C_out"] // layer["groups"], *layer["kernel"]), dtype=np.float32)
    hyper = dict(stride=layer["stride"], padding=layer["padding"], dilation=layer["dilation"], groups=layer["groups"])
    extra = layer["output_padding"]
    y = tconv.conv_transpose(x, w, output_padding=extra, **hyper)
    f32 = np.dtype(np.float32)
    yield ("conv_transpose", geometry_from_shapes(True, x.shape, w.shape, f32, output_padding=extra, **hyper),
           lambda a: tconv.conv_transpose(x, w, output_padding=extra, algorithm=a, **hyper))
    yield ("conv", geometry_from_shapes(False, y.shape, w.shape, f32, **hyper),
           lambda a: tconv.conv(y, w, algorithm=a, **hyper))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--within", type=float, default=3.0, help="time candidates predicted within this factor")
    parser.add_argument("--most", type=int, default=4, help="at most this many candidates")
    parser.add_argument("--layers", default="", help="comma list of layer names (default: all)")
    args = parser.parse_args()
    layers = json.loads(resources.files("tconv").joinpath("data/suite.json").read_text())["shapes"]
    wanted = set(filter(None, args.layers.split(",")))
    rng, ratios = np.random.default_rng(0), []
    for layer in layers:
        if wanted and layer["name"] not in wanted:
            continue
        for direction, geom, call in _layer_calls(layer, rng):
            ranking = [(a, c) for a, c in ranked(running_geometry(geom)) if a != "direct"]
            candidates = [a for a, c in ranking if c <= args.within * ranking[0][1]][:args.most]
            for a in candidates:
                call(a)
            times: dict[str, list[float]] = {a: [] for a in candidates}
            for _ in range(args.repeats):
                for a in candidates:
                    t0 = time.perf_counter()
                    call(a)
                    times[a].append(time.perf_counter() - t0)
            ms = {a: statistics.median(t) * 1e3 for a, t in times.items()}
            auto, fastest = candidates[0], min(ms, key=ms.get)
            ratios.append(ms[auto] / ms[fastest])
            predicted = " ".join(f"{a}={c * 1e3:.1f}" for a, c in ranking[:args.most])
            print(f"{layer['name']:12s} {direction:15s} auto {auto:15s} {ms[auto]:8.2f} ms  fastest {fastest:15s} "
                  f"{ms[fastest]:8.2f} ms  ratio {ratios[-1]:.2f}  (predicted ms: {predicted})", flush=True)
    print(f"auto within 10% of the fastest: {sum(r <= 1.1 for r in ratios)} of {len(ratios)}; "
          f"geomean auto/fastest {np.exp(np.mean(np.log(ratios))):.3f}")


if __name__ == "__main__":
    main()
