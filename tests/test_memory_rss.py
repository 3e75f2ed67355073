"""Peak resident memory of one call, measured in a fresh process, stays within the memory guard's estimate.

tracemalloc (``test_memory.py``) sees NumPy's allocations only; this test
measures what the operating system sees (``ru_maxrss``), which also holds
the BLAS library's scratch buffers, allocator slack and thread stacks.  Each
algorithm runs once on a small problem of the same kind first (numba
compiles, BLAS allocates its buffers), so the measured rise is the call's
own: it must stay under ``ops.needed_bytes`` plus :data:`BLAS_ALLOWANCE`,
the part the guard does not count (the BLAS library's per-thread scratch
pages that a larger GEMM touches; measured up to ~5 MiB here).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import tconv
from tconv.params import conv_transpose_geometry

BLAS_ALLOWANCE = 8 << 20

PROBE = r"""
import json, resource, sys, numpy as np, tconv
from tconv import ops
from tconv.params import conv_geometry, conv_transpose_geometry
name, direction, xs, ws, s, p, g = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.standard_normal(xs, dtype=np.float32); w = rng.standard_normal(ws, dtype=np.float32)
run = tconv.conv_transpose if direction == "conv_transpose" else tconv.conv
build = conv_transpose_geometry if direction == "conv_transpose" else conv_geometry
run(x[:1, :, :8, :8].copy(), w, stride=s, padding=p, groups=g, algorithm=name)  # compile, BLAS buffers
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
need = ops.needed_bytes(build(x, w, stride=s, padding=p, groups=g), ops.registry.get(name), (x, w))
y = run(x, w, stride=s, padding=p, groups=g, algorithm=name)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps([peak - base, need]))
"""

#: algorithm -> (x shape, weight shape, stride, padding, groups) of a transposed layer it accepts.
LAYERS = {
    "direct": ((4, 128, 48, 48), (128, 64, 4, 4), 2, 1, 1),
    "gemm": ((4, 128, 48, 48), (128, 64, 4, 4), 2, 1, 1),
    "phase": ((4, 128, 48, 48), (128, 64, 4, 4), 2, 1, 1),
    "subpixel": ((4, 128, 48, 48), (128, 64, 4, 4), 2, 1, 1),
    "nooverlap": ((4, 128, 64, 64), (128, 64, 2, 2), 2, 0, 1),
    "depthwise": ((4, 128, 96, 96), (128, 1, 4, 4), 2, 1, 128),
    "fft": ((4, 16, 64, 64), (16, 16, 9, 9), 1, 0, 1),
    "winograd": ((4, 128, 96, 96), (128, 128, 3, 3), 1, 1, 1),
    "phase_winograd": ((4, 128, 48, 48), (128, 64, 4, 4), 2, 1, 1),
}


def test_every_algorithm_has_a_layer():
    assert set(LAYERS) == set(tconv.algorithm_names())


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_peak_resident_memory_within_the_estimate(name):
    xs, ws, s, p, g = LAYERS[name]
    geom = conv_transpose_geometry(np.zeros(xs, np.float32), np.zeros(ws, np.float32), stride=s, padding=p, groups=g)
    if tconv.ops.registry.get(name).unsupported(geom):
        pytest.skip(f"{name} is not available here (e.g. winograd without numba)")
    args = json.dumps([name, "conv_transpose", xs, ws, s, p, g])
    out = subprocess.run([sys.executable, "-c", PROBE, args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rise, need = json.loads(out.stdout.strip().splitlines()[-1])
    assert need >= 2 * BLAS_ALLOWANCE  # a call large enough for the comparison to mean something
    assert rise <= need + BLAS_ALLOWANCE, f"{name}: resident memory rose {rise} bytes, estimate {need}"
