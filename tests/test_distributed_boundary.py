"""tconv.distributed with boundary modes: chunked halos (wrapped, mirrored, edge-repeated) and folds equal the
in-memory operator on random chunkings, 1-3 d, both directions, on threads and on a LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dask.array", reason="the dask extra: pip install 'tconv[dask]'")
import dask.array as da

import tconv
import tconv.distributed as tdist
from support import record_error
from torch_boundary import MODES, cases, torch_adjoint, torch_conv


def random_chunks(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Per dim a random partition: one chunk, all ones, or random cuts (uneven, some smaller than a kernel)."""
    out = []
    for n in shape:
        kind = rng.integers(0, 3)
        if kind == 0 or n == 1:
            out.append((n,))
        elif kind == 1:
            out.append((1,) * n)
        else:
            cuts = sorted(set(int(c) for c in rng.integers(1, n, rng.integers(1, n))))
            edges = [0, *cuts, n]
            out.append(tuple(b - a for a, b in zip(edges, edges[1:])))
    return tuple(out)


def _exact(got, want, key: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
    err = record_error(f"distributed boundary: {key}", want.dtype, got, want)
    assert err <= (1e-12 if want.dtype == np.float64 else 1e-5), f"{key}: relative error {err:.3g}"


def test_every_mode_chunked_equals_in_memory():
    """Both directions, with and without bias, against the in-memory operator (and, once per case, torch's
    padded conv and its adjoint): at least 8 cases per mode and dimension count, every one computed."""
    rng = np.random.default_rng(17)
    computed = dict.fromkeys(MODES, 0)
    for i, case in enumerate(cases(2024, 8)):
        x, w, b, y = case.arrays(i)
        bt = case.transposed_bias(i)
        xd = da.from_array(x, chunks=random_chunks(rng, x.shape))
        yd = da.from_array(y, chunks=random_chunks(rng, y.shape))
        got = tdist.conv(xd, w, b, **case.conv_kwargs).compute(scheduler="threads")
        _exact(got, tconv.conv(x, w, b, **case.conv_kwargs), f"conv {case.mode}")
        _exact(got, torch_conv(x, w, b, **case.hyper), f"conv {case.mode} vs torch")
        got = tdist.conv_transpose(yd, w, bt, **case.conv_transpose_kwargs).compute(scheduler="threads")
        _exact(got, tconv.conv_transpose(y, w, bt, **case.conv_transpose_kwargs), f"conv_transpose {case.mode}")
        _exact(got, torch_adjoint(y, w, x.shape, bt, **case.hyper), f"conv_transpose {case.mode} vs torch")
        computed[case.mode] += 1
    assert all(n >= 3 * 8 for n in computed.values()), computed


@pytest.mark.parametrize("mode", MODES[1:])
def test_float32_and_a_wide_border(mode):
    """float32 keeps the core's dtype and agrees to float32 precision; a border as wide as PyTorch allows
    (circular: the whole input; reflect: one less) with chunks of one entry."""
    rng = np.random.default_rng(5)
    n = 6
    pad = n if mode == "circular" else n - 1
    x = rng.standard_normal((2, 3, n, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    kw = dict(padding=((pad, 1), (1, 0)), stride=(2, 1), padding_mode=mode)
    got = tdist.conv(da.from_array(x, chunks=(1, 1, 1, 2)), w, **kw).compute()
    _exact(got, tconv.conv(x, w, **kw), f"conv {mode} float32")
    y = rng.standard_normal(got.shape).astype(np.float32)
    got = tdist.conv_transpose(da.from_array(y, chunks=(1, 2, 1, 1)), w, output_size=(n, 5),
                               **kw).compute()
    _exact(got, tconv.conv_transpose(y, w, output_size=(n, 5), **kw),
           f"conv_transpose {mode} float32")


def test_only_edge_blocks_get_fold_tasks():
    """Away from the edges a transposed block is the zero-padding block: fold tasks exist for edge blocks only,
    and with zeros there are none."""
    x = da.ones((1, 1, 40), chunks=(1, 1, 8))
    w = np.ones((1, 1, 3))
    for mode, folds in (("zeros", 0), ("circular", 2), ("replicate", 2)):
        y = tdist.conv_transpose(x, w, padding=1, padding_mode=mode)
        graph = dict(y.__dask_graph__())
        parts = {k[:-1] for k in graph if isinstance(k, tuple) and str(k[0]).endswith("-part")}
        assert len(parts) == folds, (mode, parts)
        np.testing.assert_array_equal(y.compute(), tconv.conv_transpose(x.compute(), w, padding=1, padding_mode=mode))


def test_every_mode_on_a_local_cluster(client):
    """Periodic and mirrored halos computed by worker processes equal the in-memory result, 2-d and 3-d."""
    rng = np.random.default_rng(8)
    computed = 0
    for i, case in enumerate(cases(77, 2, nds=(2, 3))):
        x, w, b, y = case.arrays(i)
        xd = da.from_array(x, chunks=random_chunks(rng, x.shape))
        yd = da.from_array(y, chunks=random_chunks(rng, y.shape))
        got = client.compute(tdist.conv(xd, w, b, **case.conv_kwargs)).result()
        _exact(got, tconv.conv(x, w, b, **case.conv_kwargs), f"conv {case.mode} cluster")
        got = client.compute(tdist.conv_transpose(yd, w, **case.conv_transpose_kwargs)).result()
        _exact(got, tconv.conv_transpose(y, w, **case.conv_transpose_kwargs), f"conv_transpose {case.mode} cluster")
        computed += 1
    assert computed == len(MODES) * 2 * 2
