"""Upsample a 3-D volume that does not fit in a worker's memory, streaming from disk to disk.

A synthetic volume is written to disk (Zarr, or a NumPy ``.npy`` memmap) chunk
by chunk, then upsampled 2x in every dim by a transposed convolution with a
trilinear kernel (stride 2, kernel 4, padding 1: the FCN "bilinear" upsampler)
on a ``dask.distributed`` LocalCluster whose workers have a memory limit
smaller than the volume.  The result streams to disk block by block (Zarr or
``.npy``), with a progress bar (tqdm) counting the blocks written.  The script prints the sizes, the
worker memory limit, the peak resident memory of each worker (polled), and
the time; then it spot-checks random boxes of the result against the
in-memory :func:`tconv.conv_transpose` on exactly the input they need.

    python examples/upsample_volume.py                      # 512^3 float32 (512 MiB) -> 1024^3 (4 GiB)
    python examples/upsample_volume.py --size 256 --memory-limit 300MiB --format npy

Needs the dask extra: ``pip install 'tconv[dask]'`` (tqdm comes with tconv).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import tconv
from tconv.chunking import transposed_span
from tconv.memory import format_bytes

try:
    import dask
    import dask.array as da
    import psutil
    from dask.utils import parse_bytes
    import zarr
    from distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm
except ImportError as exc:  # pragma: no cover
    raise SystemExit(f"this example needs the dask extra: pip install 'tconv[dask]' ({exc})")

STRIDE, KERNEL, PADDING = 2, 4, 1
#: A worker's memory per byte of input block while it computes one output block (one thread per worker):
#: the neighbouring input blocks, the gathered piece, the output block (8x), the lean algorithms' workspace
#: and the write; measured about 25-35 for 64^3 blocks, with margin.
BYTES_PER_INPUT_BYTE = 40


def trilinear_kernel(k: int = KERNEL) -> np.ndarray:
    """(1, 1, k, k, k) upsampling kernel: the outer product of 1-d linear-interpolation weights."""
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    line = 1 - np.abs(np.arange(k) - center) / factor
    return np.einsum("i,j,k->ijk", line, line, line).astype(np.float32)[None, None]


def synthetic_block(block: np.ndarray, block_info=None) -> np.ndarray:
    """A smooth volume with a little noise, computed for one chunk from its location only."""
    (z0, z1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    z, y, x = np.ogrid[z0:z1, y0:y1, x0:x1]
    smooth = np.sin(z / 9.0) * np.cos(y / 13.0) + 0.5 * np.sin((x + z) / 7.0)
    noise = np.random.default_rng([z0, y0, x0]).standard_normal(block.shape) * 0.05
    return (smooth + noise).astype(np.float32)


class NpyFile:
    """A ``.npy`` file seen as an array: opened as a memmap inside each task, pickled as its path only."""

    def __init__(self, path: Path, shape=None, dtype=None):
        self.path = str(path)
        if shape is None:
            m = np.load(self.path, mmap_mode="r")
            shape, dtype = m.shape, m.dtype
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    @classmethod
    def create(cls, path: Path, shape, dtype) -> "NpyFile":
        np.lib.format.open_memmap(path, mode="w+", shape=shape, dtype=dtype).flush()  # header + sparse file
        return cls(path, shape, dtype)

    def __getitem__(self, index):
        return np.array(np.load(self.path, mmap_mode="r")[index])

    def __setitem__(self, index, value):
        """Write with ``os.pwrite``, one contiguous run at a time, not through a memmap: the pages a memmap
        dirties count in the worker's resident memory until it is unmapped (four times the block's bytes for
        a 128^3 block of a 512^3 float32 volume, whose rows fill an eighth of a page each)."""
        with open(self.path, "rb") as f:
            np.lib.format.read_magic(f)
            np.lib.format.read_array_header_1_0(f)
            offset = f.tell()
        index = index if isinstance(index, tuple) else (index,)
        box = [range(*s.indices(n)) for s, n in zip(index, self.shape)] + [range(n) for n in self.shape[len(index):]]
        assert all(r.step == 1 for r in box)
        value = np.ascontiguousarray(np.broadcast_to(np.asarray(value, self.dtype), tuple(len(r) for r in box)))
        strides = np.cumprod((1,) + self.shape[:0:-1])[::-1] * self.dtype.itemsize
        fd = os.open(self.path, os.O_WRONLY)
        try:
            rows = value.reshape(-1, value.shape[-1]) if value.ndim else value.reshape(1, 1)
            for row, lead in zip(rows, itertools.product(*box[:-1])):
                at = offset + int(np.dot(lead, strides[:-1])) + box[-1].start * self.dtype.itemsize if lead else \
                    offset + box[-1].start * self.dtype.itemsize
                os.pwrite(fd, row.tobytes(), at)
        finally:
            os.close(fd)


def open_input(fmt: str, path: Path, chunk: int) -> da.Array:
    if fmt == "zarr":  # each task reads (decompresses) the stored chunks it overlaps, whatever ``chunk`` is
        return da.from_zarr(str(path), chunks=chunk)
    return da.from_array(NpyFile(path), chunks=chunk, lock=False, meta=np.empty((0, 0, 0), np.float32))


def _store_block(target, region: tuple[slice, ...], block: np.ndarray) -> None:
    target[region] = block


def _regions(chunks: tuple[tuple[int, ...], ...]):
    """The index box of every block, in the order of ``array.to_delayed().ravel()``."""
    edges = [np.cumsum((0,) + c) for c in chunks]
    return itertools.product(*([slice(int(a), int(b)) for a, b in zip(e[:-1], e[1:])] for e in edges))


def write(client: Client, array: da.Array, fmt: str, path: Path, label: str) -> float:
    """Stream ``array`` to disk on the cluster, one task per block, with a tqdm bar counting the blocks
    written; returns the seconds it took."""
    if fmt == "zarr":
        if any(len(set(c[:-1])) > 1 or c[-1] > c[0] for c in array.chunks):
            array = array.rechunk(array.chunksize)  # Zarr chunks are regular: each block then fills whole ones
        target = zarr.open_array(str(path), mode="w", shape=array.shape, chunks=array.chunksize, dtype=array.dtype)
    else:
        target = NpyFile.create(path, array.shape, array.dtype)
    stores = [dask.delayed(_store_block, pure=False)(target, region, block)
              for region, block in zip(_regions(array.chunks), array.to_delayed().ravel())]
    start = time.perf_counter()
    futures = client.compute(stores)
    with tqdm(total=len(futures), desc=label, unit="block", file=sys.stdout) as bar:
        for future in as_completed(futures):
            future.result()  # a failed block raises here
            bar.update()
    return time.perf_counter() - start


class PeakMemory:
    """Polls every worker's resident set size in a background thread; keeps the peak per worker."""

    def __init__(self, client: Client, every: float = 0.05):
        self.client, self.every = client, every
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            try:
                for worker, rss in self.client.run(lambda: psutil.Process().memory_info().rss).items():
                    self.peak[worker] = max(self.peak.get(worker, 0), rss)
            except Exception:  # a worker being restarted: reported by the worker check below
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def warm_up(weight: np.ndarray, n: int, chunk: int) -> tuple[int, tuple[str, ...]]:
    """Run one interior output block's computation (a task, so the worker's memory guard applies) until the
    algorithm it picks stops changing: the compiled kernels that the graph uses are paid for before the
    work starts, and only those.  Returns the worker's resident memory afterwards and the algorithms used."""
    start = max(0, min(n * STRIDE - 2 * chunk, chunk * STRIDE))
    spans = [transposed_span(start, start + chunk * STRIDE, n=n, kernel=KERNEL, stride=STRIDE, dilation=1,
                             before=PADDING)] * 3
    piece = np.zeros(tuple(b - a for a, b in (sp.source for sp in spans)), np.float32)
    geom = tconv.params.conv_transpose_geometry(piece[None, None], weight, None, stride=STRIDE,
                                                padding=tuple(sp.padding for sp in spans))
    used: list[str] = []
    for _ in range(4):
        name = tconv.ops.plan(geom, "auto", (piece[None, None], weight)).name
        if used and name == used[-1]:
            break
        used.append(name)
        tconv.conv_transpose(piece[None, None], weight, stride=STRIDE, padding=tuple(sp.padding for sp in spans),
                             algorithm=name)
    return psutil.Process().memory_info().rss, tuple(used)


def spot_check(out_path: Path, in_path: Path, fmt: str, weight: np.ndarray, rng: np.random.Generator, box: int = 24):
    """Compare random boxes of the stored result with the in-memory operator on exactly their input."""
    src = open_input(fmt, in_path, 64)
    dst = open_input(fmt, out_path, 64)
    n, m = src.shape[0], dst.shape[0]
    worst = 0.0
    for _ in range(4):
        start = rng.integers(0, m - box, size=3)
        spans = [transposed_span(int(s), int(s) + box, n=n, kernel=KERNEL, stride=STRIDE, dilation=1, before=PADDING)
                 for s in start]
        piece = src[tuple(slice(*sp.source) for sp in spans)].compute()
        want = tconv.conv_transpose(piece[None, None], weight, stride=STRIDE, padding=tuple(sp.padding for sp in spans))
        got = dst[tuple(slice(int(s), int(s) + box) for s in start)].compute()
        assert all(sp.fill == (0, 0) for sp in spans)
        worst = max(worst, float(np.abs(got - want[0, 0]).max()))
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="edge of the cubic input volume (default 512)")
    parser.add_argument("--chunk", type=int, default=64, help="input chunk edge (default 64)")
    parser.add_argument("--memory-limit", default="384MiB", help="memory limit of each worker (default 384MiB)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--format", choices=["zarr", "npy"], default="zarr")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    args = parser.parse_args(argv)

    limit = parse_bytes(args.memory_limit)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="tconv-volume-"))
    workdir.mkdir(parents=True, exist_ok=True)
    suffix = ".zarr" if args.format == "zarr" else ".npy"
    in_path, out_path = workdir / f"input{suffix}", workdir / f"output{suffix}"
    shape = (args.size,) * 3
    in_bytes = int(np.prod(shape)) * 4
    out_shape = tuple(tconv.conv_transpose_output_shape(shape, KERNEL, stride=STRIDE, padding=PADDING))
    out_bytes = int(np.prod(out_shape)) * 4
    print(f"input  {shape} float32 = {format_bytes(in_bytes)} ({args.format}, chunks {args.chunk}^3) in {workdir}")
    print(f"output {out_shape} float32 = {format_bytes(out_bytes)}")
    print(f"workers: {args.workers} processes x 1 thread, memory limit {format_bytes(limit)} each")
    if in_bytes <= limit:
        print("note: the volume fits in one worker's memory limit; use a larger --size to make the point")

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, memory_limit=limit,
                           dashboard_address=None, silence_logs=40)
    try:
        with Client(cluster) as client:
            volume = da.zeros(shape, chunks=args.chunk, dtype=np.float32).map_blocks(synthetic_block, dtype=np.float32)
            write(client, volume, args.format, in_path, "writing the input volume")
            workers_before = set(client.scheduler_info()["workers"])
            baseline = client.run(lambda: psutil.Process().memory_info().rss)
            weight = trilinear_kernel()

            def warm_all(chunk):
                futures = {w: client.submit(warm_up, weight, args.size, chunk, workers=[w],
                                            allow_other_workers=False, pure=False) for w in workers_before}
                done = {w: f.result() for w, f in futures.items()}
                for w, (rss, used) in sorted(done.items()):
                    print(f"warm-up ({chunk}^3 blocks) {w}: algorithms {', '.join(used)}; resident "
                          f"{format_bytes(rss)} (idle {format_bytes(baseline.get(w, 0))})")
                return max(rss for rss, _ in done.values())

            # The compiled kernels stay resident: pay them first, then size the blocks from what is left
            # under the worker's pause threshold (the fraction of its limit where it stops running tasks).
            warm_rss = warm_all(min(args.chunk, 16))
            pause = dask.config.get("distributed.worker.memory.pause") or 1.0
            room = int(limit * pause) - warm_rss
            smallest = BYTES_PER_INPUT_BYTE * 8 ** 3 * 4
            if room < smallest:  # a worker above its pause threshold runs no task: it would wait forever
                raise SystemExit(
                    f"a worker holds {format_bytes(warm_rss)} once the compiled kernels are resident, which "
                    f"leaves {format_bytes(max(room, 0))} under its pause threshold ({pause:.0%} of "
                    f"{format_bytes(limit)}); the smallest blocks (8^3) need {format_bytes(smallest)}: "
                    f"raise --memory-limit")
            chunk = args.chunk
            while chunk > 8 and BYTES_PER_INPUT_BYTE * chunk ** 3 * 4 > room:
                chunk //= 2
            print(f"room per worker after warm-up: {format_bytes(max(room, 0))} -> input chunks {chunk}^3 "
                  f"(asked {args.chunk}^3)")
            warm_all(chunk)

            x = open_input(args.format, in_path, chunk)  # read in the chunks chosen here, no rechunk tasks
            y = tconv.distributed.conv_transpose(x[None, None], weight, stride=STRIDE, padding=PADDING)[0, 0]
            print(f"graph: {len(y.__dask_graph__())} tasks, output chunks {y.chunksize}, "
                  f"largest output chunk {format_bytes(int(np.prod(y.chunksize)) * 4)}")
            with PeakMemory(client) as peak:
                seconds = write(client, y, args.format, out_path, "upsampling (streaming to disk)")
            restarted = workers_before != set(client.scheduler_info()["workers"])

        print(f"time: {seconds:.1f} s ({in_bytes / seconds / 2**20:.1f} MiB/s in, {out_bytes / seconds / 2**20:.1f} MiB/s out)")
        for worker, rss in sorted(peak.peak.items()):
            print(f"peak worker memory {worker}: {format_bytes(rss)} (idle {format_bytes(baseline.get(worker, 0))}, "
                  f"limit {format_bytes(limit)}, {100 * rss / limit:.0f}%)")
        top = max(peak.peak.values(), default=0)
        print(f"peak worker memory (max over workers): {format_bytes(top)} vs limit {format_bytes(limit)}; "
              f"volume {format_bytes(in_bytes)} in, {format_bytes(out_bytes)} out; "
              f"workers restarted: {'yes' if restarted else 'no'}")
        print(f"spot check against the in-memory operator: max abs error "
              f"{spot_check(out_path, in_path, args.format, weight, np.random.default_rng(0)):.3g}")
    finally:
        cluster.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"files kept in {workdir}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    import tconv.distributed  # noqa: F401  (needs the dask extra)

    main()
