"""tconv.distributed: chunked Dask execution equals the in-memory operator, on threads and on a LocalCluster."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("dask.array", reason="the dask extra: pip install 'tconv[dask]'")
import dask
import dask.array as da
from dask.callbacks import Callback

import tconv
import tconv.distributed as tdist
from tconv.algorithms import jit
from tconv.chunking import forward_span, transposed_span
from tconv.shapes import forward_size, transposed_size
from support import configs, record_error

# ---------------------------------------------------------------------------
# the chunk mapping itself, against brute force


@st.composite
def one_dim(draw):
    n = draw(st.integers(1, 12))
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 5))
    d = draw(st.integers(1, 3))
    return n, k, s, d


def _hull(indices) -> tuple[int, int] | None:
    return (min(indices), max(indices) + 1) if indices else None


@given(dim=one_dim(), data=st.data())
def test_transposed_span_is_exactly_the_input_that_reaches_the_outputs(dim, data):
    n, k, s, d = dim
    full = (n - 1) * s + d * (k - 1) + 1
    before = data.draw(st.integers(0, full - 1))
    after = data.draw(st.integers(0, full - 1 - before))
    op = data.draw(st.integers(0, max(s, d) - 1))
    length = full - before - after + op
    start = data.draw(st.integers(0, length - 1))
    stop = data.draw(st.integers(start + 1, length))
    span = transposed_span(start, stop, n=n, kernel=k, stride=s, dilation=d, before=before)
    # the inputs whose dilated footprint [i*s - before, i*s - before + (k-1)*d] meets [start, stop)
    footprint = [i for i in range(n) if i * s - before <= stop - 1 and i * s - before + (k - 1) * d >= start]
    contributors = {i for i in range(n) for t in range(k) if start <= i * s + t * d - before < stop}
    assert contributors <= set(footprint)
    if span.empty:
        assert not footprint and span.fill == (stop - start, 0)
        return
    assert span.source == _hull(footprint)
    lo, hi = span.padding
    assert lo >= 0 and hi >= 0 and min(span.fill) >= 0
    m = span.source[1] - span.source[0]
    assert span.fill[0] + transposed_size(m, k, s, d, lo, hi, 0) + span.fill[1] == stop - start
    # and the numbers: the core on exactly that slice, plus zeros at the ends, is that part of the whole
    rng = np.random.default_rng(n * 1000 + k)
    x, w = rng.standard_normal((1, 1, n)), rng.standard_normal((1, 1, k))
    whole = tconv.conv_transpose(x, w, stride=s, dilation=d, padding=((before, after),), output_padding=op)
    piece = tconv.conv_transpose(x[..., slice(*span.source)], w, stride=s, dilation=d, padding=(span.padding,))
    local = np.concatenate([np.zeros(span.fill[0]), piece[0, 0], np.zeros(span.fill[1])])
    np.testing.assert_allclose(local, whole[0, 0, start:stop], rtol=1e-12, atol=1e-12)


@given(dim=one_dim(), data=st.data())
def test_forward_span_is_exactly_the_input_under_the_windows(dim, data):
    n, k, s, d = dim
    before = data.draw(st.integers(0, 6))
    after = data.draw(st.integers(0, 6))
    if n + before + after < d * (k - 1) + 1:
        return
    length = forward_size(n, k, s, d, before, after)
    start = data.draw(st.integers(0, length - 1))
    stop = data.draw(st.integers(start + 1, length))
    span = forward_span(start, stop, n=n, kernel=k, stride=s, dilation=d, before=before)
    # the hull of the windows of outputs start..stop-1, inside the input (stride gaps inside it are not read)
    windows = [o for o in range(n) if start * s - before <= o <= (stop - 1) * s - before + (k - 1) * d]
    read = {o for i in range(start, stop) for t in range(k) if 0 <= (o := i * s + t * d - before) < n}
    assert read <= set(windows)
    if span.empty:
        assert not windows and span.fill == (stop - start, 0)
        return
    assert span.source == _hull(windows)
    lo, hi = span.padding
    assert lo >= 0 and hi >= 0 and span.fill == (0, 0)
    assert forward_size(span.source[1] - span.source[0], k, s, d, lo, hi) == stop - start
    rng = np.random.default_rng(n * 1000 + k)
    x, w = rng.standard_normal((1, 1, n)), rng.standard_normal((1, 1, k))
    whole = tconv.conv(x, w, stride=s, dilation=d, padding=((before, after),))
    piece = tconv.conv(x[..., slice(*span.source)], w, stride=s, dilation=d, padding=(span.padding,))
    np.testing.assert_allclose(piece[0, 0], whole[0, 0, start:stop], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# random chunkings


@st.composite
def chunking(draw, n: int):
    """A random partition of n: single chunk, all ones, regular, or random cuts (uneven)."""
    if n == 0:
        return (0,)
    kind = draw(st.sampled_from(["one", "ones", "regular", "random"]))
    if kind == "one":
        return (n,)
    if kind == "ones":
        return (1,) * n
    if kind == "regular":
        size = draw(st.integers(1, n))
        return (size,) * (n // size) + ((n % size,) if n % size else ())
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n - 1))) if n > 1 else []
    edges = [0, *cuts, n]
    return tuple(b - a for a, b in zip(edges, edges[1:]))


def chunked(x: np.ndarray, data) -> da.Array:
    return da.from_array(x, chunks=tuple(data.draw(chunking(n)) for n in x.shape))




def assert_exact(got: np.ndarray, want: np.ndarray, key: str) -> None:
    """float64 within 1e-12 (relative to the largest magnitude), float32 within 1e-5; counted in the report."""
    assert got.shape == want.shape and got.dtype == want.dtype
    err = record_error(f"distributed {key}", want.dtype, got, want)
    assert err <= (1e-12 if want.dtype == np.float64 else 1e-5), f"relative error {err:.3g}"



@settings(max_examples=120)
@given(cfg=configs(), use_bias=st.booleans(), data=st.data())
def test_conv_transpose_equals_in_memory_threads(cfg, use_bias, data):
    x, w, b = cfg.arrays()
    b = b if use_bias else None
    y = tdist.conv_transpose(chunked(x, data), w, b, **cfg.transpose_kwargs())
    assert isinstance(y, da.Array)
    want = tconv.conv_transpose(x, w, b, **cfg.transpose_kwargs())
    assert_exact(y.compute(scheduler="threads"), want, "conv_transpose")


@settings(max_examples=120)
@given(cfg=configs(), extra=st.integers(0, 3), use_bias=st.booleans(), data=st.data())
def test_conv_equals_in_memory_threads(cfg, extra, use_bias, data):
    x, w, b = cfg.conv_problem(extra, bias=use_bias)
    y = tdist.conv(chunked(x, data), w, b, **cfg.conv_kwargs())
    want = tconv.conv(x, w, b, **cfg.conv_kwargs())
    assert_exact(y.compute(scheduler="threads"), want, "conv")


def test_chunks_smaller_than_the_kernel_and_uneven():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 11, 7, 5))
    w = rng.standard_normal((2, 3, 5, 4, 3))
    b = rng.standard_normal(3)
    kw = dict(stride=(3, 1, 2), padding=((4, 0), (0, 2), (1, 1)), output_padding=(2, 0, 1), dilation=(1, 2, 1))
    xd = da.from_array(x, chunks=((2, 1), (1, 1), (1, 3, 2, 5), (2, 2, 2, 1), (1,) * 5))
    assert_exact(tdist.conv_transpose(xd, w, b, **kw).compute(), tconv.conv_transpose(x, w, b, **kw), "conv_transpose")
    wc = rng.standard_normal((4, 2, 3, 4, 5))
    kc = dict(stride=(2, 3, 1), padding=((3, 0), (0, 5), (2, 2)), dilation=(2, 1, 1))
    assert_exact(tdist.conv(xd, wc, None, **kc).compute(), tconv.conv(x, wc, None, **kc), "conv")


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_string_padding_and_unbatched_input(padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 13, 6))
    w = rng.standard_normal((2, 3, 4, 3))
    xd = da.from_array(x, chunks=(1, 5, 4))  # channels chunked too: rechunked to one
    got = tdist.conv_transpose(xd, w, stride=(3, 2), padding=padding)
    assert got.ndim == 3
    assert_exact(got.compute(), tconv.conv_transpose(x, w, stride=(3, 2), padding=padding), "conv_transpose")
    wc = rng.standard_normal((5, 2, 4, 3))
    assert_exact(tdist.conv(xd, wc, padding=padding, stride=2).compute(),
                 tconv.conv(x, wc, padding=padding, stride=2), "conv")


def test_output_size_and_algorithms_pass_through():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 7))
    xd = da.from_array(x, chunks=(1, 2, 2))
    for algorithm in ("auto", *tconv.algorithm_names()):
        if algorithm in ("winograd", "phase_winograd"):  # 2-D 3x3 stride 1 / 4x4 stride 2, compiled kernels
            if not jit.available():
                continue
            x2 = rng.standard_normal((1, 2, 7, 6))
            k, s = (3, 1) if algorithm == "winograd" else (4, 2)
            w = rng.standard_normal((2, 3, k, k))
            got = tdist.conv_transpose(da.from_array(x2, chunks=(1, 2, 3, 4)), w, padding=(1, 0), stride=s,
                                       algorithm=algorithm)
            assert_exact(got.compute(), tconv.conv_transpose(x2, w, padding=(1, 0), stride=s, algorithm=algorithm),
                         "conv_transpose")
            continue
        groups = 2 if algorithm == "depthwise" else 1  # depthwise needs groups == channels
        w = rng.standard_normal((2, 2 // groups, 3))
        kw = dict(stride=3, output_size=(21,), groups=groups)
        got = tdist.conv_transpose(xd, w, algorithm=algorithm, **kw).compute()
        assert_exact(got, tconv.conv_transpose(x, w, **kw), "conv_transpose")


def test_float32_and_integer_inputs_keep_the_core_dtype_rules():
    x = np.arange(24, dtype=np.int32).reshape(1, 2, 12)
    w = np.ones((2, 1, 3), np.float32)
    xd = da.from_array(x, chunks=(1, 2, 5))
    got = tdist.conv_transpose(xd, w, stride=2)
    assert got.dtype == np.float64
    assert_exact(got.compute(), tconv.conv_transpose(x, w, stride=2), "conv_transpose")
    xf = da.from_array(x.astype(np.float32), chunks=(1, 2, 5))
    got = tdist.conv(xf, w.transpose(1, 0, 2).copy(), np.ones(1, np.float32))
    assert got.dtype == np.float32


def test_errors_name_the_argument():
    x = da.ones((1, 2, 8), chunks=(1, 2, 3))
    with pytest.raises(TypeError, match="x must be a dask.array.Array"):
        tdist.conv_transpose(np.ones((1, 2, 8)), np.ones((2, 1, 3)))
    with pytest.raises(ValueError, match=r"output_padding \(2\) must be smaller than stride \(2\)"):
        tdist.conv_transpose(x, np.ones((2, 1, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="weight must have shape"):
        tdist.conv_transpose(x, np.ones((3, 1, 3)))
    with pytest.raises(ValueError, match="algorithm must be"):
        tdist.conv(x, np.ones((1, 2, 3)), algorithm="nope")
    with pytest.raises(TypeError, match="x has complex dtype"):
        tdist.conv(x.astype(complex), np.ones((1, 2, 3)))


# ---------------------------------------------------------------------------
# no task sees the whole input


class _Sizes(Callback):
    """Records the largest array any task produced, and the gathered input pieces' shapes."""

    def __init__(self):
        super().__init__()
        self.largest = 0
        self.pieces: list[tuple[int, ...]] = []

    def _posttask(self, key, result, dsk, state, worker_id):
        name = str(key[0] if isinstance(key, tuple) else key)
        if isinstance(result, np.ndarray) and name.startswith("tconv-"):  # our tasks (not the final concatenation)
            self.largest = max(self.largest, result.nbytes)
            if name.endswith("-input"):
                self.pieces.append(result.shape)


@pytest.mark.parametrize("transposed", [True, False])
def test_graph_never_holds_the_whole_input_in_one_task(transposed):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 40, 36, 30))
    xd = da.from_array(x, chunks=(1, 3, 10, 9, 8))
    if transposed:
        w = rng.standard_normal((3, 2, 4, 3, 5))
        y = tdist.conv_transpose(xd, w, stride=(2, 3, 1), padding=((1, 2), 0, 2), dilation=(1, 2, 1))
        halo = [(k - 1) * d // s + 2 for k, s, d in [(4, 2, 1), (3, 3, 2), (5, 1, 1)]]
    else:
        w = rng.standard_normal((2, 3, 4, 3, 5))
        y = tdist.conv(xd, w, stride=(2, 3, 1), padding=((1, 2), 0, 2), dilation=(1, 2, 1))
        halo = [(k - 1) * d + 1 for k, d in [(4, 1), (3, 2), (5, 1)]]
    # static: every task reads a bounded number of input blocks
    graph = dict(y.__dask_graph__())
    input_blocks = {k for k in graph if isinstance(k, tuple) and k[0] == xd.name}
    for key, task in graph.items():
        deps = {d for d in _keys_in(task) if d in input_blocks}
        assert len(deps) <= 3 ** 3 < len(input_blocks), f"task {key} reads {len(deps)} input blocks"
    # dynamic: the largest array any task makes stays far below the input
    sizes = _Sizes()
    with sizes, dask.config.set(scheduler="sync"):
        got = y.compute()
    bound = np.prod([c + h for c, h in zip((10, 9, 8), halo)]) * 3 * 8  # one batch, all channels, float64
    assert sizes.pieces and max(int(np.prod(p)) * 8 for p in sizes.pieces) <= bound
    assert sizes.largest < x.nbytes / 8
    assert max(max(c) for c in y.chunks[2:]) < max(y.shape[2:])
    want = tconv.conv_transpose(x, w, stride=(2, 3, 1), padding=((1, 2), 0, 2), dilation=(1, 2, 1)) if transposed \
        else tconv.conv(x, w, stride=(2, 3, 1), padding=((1, 2), 0, 2), dilation=(1, 2, 1))
    assert_exact(got, want, "conv_transpose" if transposed else "conv")


def _keys_in(task):
    """Every graph key a task refers to (works for legacy tuples and dask's Task objects)."""
    deps = getattr(task, "dependencies", None)
    if deps is not None:
        return set(deps)
    from dask.core import get_dependencies
    return set(get_dependencies({"_": task}, "_"))


def test_writing_to_zarr_streams_chunk_by_chunk(tmp_path):
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 1, 21, 18)).astype(np.float32)
    w = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    y = tdist.conv_transpose(da.from_array(x, chunks=(1, 1, 8, 5)), w, stride=2, padding=1)
    assert all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in y.chunks)  # regular: Zarr takes it as is
    y.to_zarr(str(tmp_path / "out.zarr"))
    stored = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert stored.chunks == tuple(c[0] for c in y.chunks)
    assert_exact(np.asarray(stored[...]), tconv.conv_transpose(x, w, stride=2, padding=1), "conv_transpose")


# ---------------------------------------------------------------------------
# a distributed LocalCluster: 2 worker processes (the `client` fixture, tests/conftest.py)


@settings(max_examples=25)
@given(cfg=configs(max_dims=2), use_bias=st.booleans(), data=st.data())
def test_conv_transpose_on_a_local_cluster(client, cfg, use_bias, data):
    x, w, b = cfg.arrays()
    b = b if use_bias else None
    y = tdist.conv_transpose(chunked(x, data), w, b, **cfg.transpose_kwargs())
    assert_exact(client.compute(y).result(), tconv.conv_transpose(x, w, b, **cfg.transpose_kwargs()), "conv_transpose")


@settings(max_examples=25)
@given(cfg=configs(max_dims=2), extra=st.integers(0, 2), use_bias=st.booleans(), data=st.data())
def test_conv_on_a_local_cluster(client, cfg, extra, use_bias, data):
    x, w, b = cfg.conv_problem(extra, bias=use_bias)
    y = tdist.conv(chunked(x, data), w, b, **cfg.conv_kwargs())
    assert_exact(client.compute(y).result(), tconv.conv(x, w, b, **cfg.conv_kwargs()), "conv")


def test_cluster_runs_a_3d_volume_in_many_tasks(client):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 24, 20, 16))
    w = rng.standard_normal((2, 1, 4, 4, 4))
    xd = da.from_array(x, chunks=(1, 2, 7, 6, 5))
    y = tdist.conv_transpose(xd, w, stride=2, padding=1)
    assert np.prod(y.numblocks) > 20
    got = client.compute(y).result()
    assert_exact(got, tconv.conv_transpose(x, w, stride=2, padding=1), "conv_transpose")
    assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.slow
@settings(max_examples=1000)
@given(cfg=configs(), use_bias=st.booleans(), data=st.data())
def test_conv_transpose_equals_in_memory_thorough(cfg, use_bias, data):
    test_conv_transpose_equals_in_memory_threads.hypothesis.inner_test(cfg, use_bias, data)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["zarr", "npy"])
def test_volume_example_runs_small(fmt, tmp_path):
    """examples/upsample_volume.py end to end on a small volume (it starts its own cluster)."""
    script = pathlib.Path(__file__).parents[1] / "examples" / "upsample_volume.py"
    out = subprocess.run(
        [sys.executable, str(script), "--size", "40", "--chunk", "16", "--memory-limit", "400MiB",
         "--format", fmt, "--dir", str(tmp_path / "v")],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "workers restarted: no" in out.stdout
    assert re.search(r"upsampling \(streaming to disk\): 100%.* (\d+)/\1 ", out.stdout)  # tqdm counted every block
    error = float(re.search(r"max abs error (\S+)", out.stdout).group(1))
    assert error < 1e-5


def run_volume_example(script, tmp_path, limit_mib: float):
    return subprocess.run(
        [sys.executable, str(script), "--size", "64", "--chunk", "64", "--memory-limit", f"{limit_mib:.0f}MiB",
         "--format", "npy", "--workers", "1", "--dir", str(tmp_path), "--keep"],
        capture_output=True, text=True, timeout=180,
    )


def test_volume_example_fits_a_tight_worker_limit(tmp_path):
    """The volume example, unchunked (one 64^3 input block), under a worker limit that the whole volume's
    computation would exceed once the compiled kernels are resident: it warms the kernels up first, sizes
    its blocks from the room left, finishes without losing a worker, and its stored result equals the
    in-memory operator on the stored input.  The tight limit is set from a first run under a roomy one (which
    keeps the asked 64^3 blocks): a worker's resident size after warm-up differs between machines and
    between a cold and a warm compiled-kernel cache by tens of MiB."""
    script = pathlib.Path(__file__).resolve().parents[1] / "examples" / "upsample_volume.py"
    roomy = run_volume_example(script, tmp_path / "roomy", 1024)
    assert roomy.returncode == 0, roomy.stderr[-2000:]
    assert "-> input chunks 64^3" in roomy.stdout
    resident = max(float(v) for v in re.findall(r"resident ([\d.]+) MiB", roomy.stdout))
    pause = dask.config.get("distributed.worker.memory.pause")  # the example's threshold too
    limit = (resident + 12) / pause  # 12 MiB of room: less than a 64^3 block needs, more than a 16^3 block
    out = run_volume_example(script, tmp_path, limit)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "workers restarted: no" in out.stdout
    chunk = int(re.search(r"-> input chunks (\d+)\^3", out.stdout).group(1))
    assert chunk < 64  # the unchunked block did not fit
    peak = re.search(r"peak worker memory \(max over workers\): ([\d.]+) MiB", out.stdout)
    assert peak and float(peak.group(1)) < limit
    x = np.load(tmp_path / "input.npy")
    sys.path.insert(0, str(script.parent))
    try:
        from upsample_volume import PADDING, STRIDE, trilinear_kernel
    finally:
        sys.path.remove(str(script.parent))
    want = tconv.conv_transpose(x[None, None], trilinear_kernel(), stride=STRIDE, padding=PADDING)[0, 0]
    np.testing.assert_allclose(np.load(tmp_path / "output.npy"), want, rtol=1e-5, atol=1e-5)
