"""Batch 0: every algorithm, both directions, the adjoint and the gradients, against PyTorch.

The shared random configurations (tests/support.py) draw batch 1-3 so that their examples compute
numbers; batch 0 is this file's own property, with the same hyper-parameter space.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv
from support import Compared, configs, configs_for, require_algorithm
from tconv.algorithms import get as get_algorithm
from tconv.params import conv_geometry, conv_transpose_geometry
from torch_autograd import conv_grads, conv_transpose_grads
from torch_oracle import torch_conv, torch_conv_transpose

EXAMPLES = 25


def _declines(algorithm: str, geometry) -> bool:
    return algorithm != "auto" and get_algorithm(algorithm).unsupported(geometry) is not None


def _same_empty(got, want, dtype) -> None:
    assert got.shape == want.shape and got.size == 0
    assert got.dtype == np.dtype(dtype)


@settings(max_examples=EXAMPLES, derandomize=True)  # a fixed run: the floor below holds every time
@given(data=st.data(), extra=st.integers(0, 3), use_bias=st.booleans())
def empty_batch_matches_torch(tally, algorithm, data, extra, use_bias):
    tally.drawn += 1
    cfg = data.draw(configs_for(algorithm, min_batch=0, max_batch=0))
    assert cfg.batch == 0
    x, w, b = cfg.arrays()
    b = b if use_bias else None
    kw = cfg.transpose_kwargs()
    if not _declines(algorithm, conv_transpose_geometry(x, w, b, **kw)):
        got = tconv.conv_transpose(x, w, b, algorithm=algorithm, **kw)
        _same_empty(got, torch_conv_transpose(x, w, b, **kw), cfg.dtype)
        tally.compared += 1
    xc, wc, bc = cfg.conv_problem(extra, bias=use_bias)
    if not _declines(algorithm, conv_geometry(xc, wc, bc, **cfg.conv_kwargs())):
        got = tconv.conv(xc, wc, bc, algorithm=algorithm, **cfg.conv_kwargs())
        _same_empty(got, torch_conv(xc, wc, bc, **cfg.conv_kwargs()), cfg.dtype)
        tally.compared += 1


@pytest.mark.parametrize("algorithm", ["auto", *tconv.algorithm_names()])
def test_empty_batch_matches_torch(algorithm):
    """Every algorithm computes batch 0 inside its own domain (both directions counted)."""
    require_algorithm(algorithm)
    tally = Compared()
    empty_batch_matches_torch(tally, algorithm)
    tally.assert_at_least(EXAMPLES, f"batch 0 with {algorithm}")


@settings(max_examples=EXAMPLES)
@given(cfg=configs(min_batch=0, max_batch=0), extra=st.integers(0, 3), use_bias=st.booleans())
def test_empty_batch_gradients_match_torch(cfg, extra, use_bias):
    """Gradients of an empty batch: an empty input gradient, zero weight and bias gradients of full shape."""
    x, w, b = cfg.arrays()
    gy = np.zeros((0, cfg.big_channels) + cfg.big_spatial(), cfg.dtype)
    got = tconv.conv_transpose_backward(gy, x, w, bias=use_bias, **cfg.transpose_kwargs())
    want = conv_transpose_grads(gy, x, w, b if use_bias else None, **cfg.transpose_kwargs())
    xc, wc, bc = cfg.conv_problem(extra)
    y = tconv.conv(xc, wc, bc, **cfg.conv_kwargs())
    got_c = tconv.conv_backward(np.zeros_like(y), xc, wc, bias=use_bias, **cfg.conv_kwargs())
    want_c = conv_grads(np.zeros_like(y), xc, wc, bc if use_bias else None, **cfg.conv_kwargs())
    for g, expected in [*zip(got, want), *zip(got_c, want_c)]:
        if expected is None:
            assert g is None
            continue
        assert g.shape == expected.shape and g.dtype == np.dtype(cfg.dtype)
        assert not g.any() and not np.asarray(expected).any()


@settings(max_examples=EXAMPLES)
@given(cfg=configs(min_batch=0, max_batch=0), extra=st.integers(0, 3))
def test_empty_batch_adjoint_shapes(cfg, extra):
    """conv_transpose with output_size gives back the conv input's shape for an empty batch too."""
    x, w, _ = cfg.conv_problem(extra, bias=False)
    y = tconv.conv(x, w, **cfg.conv_kwargs())
    back = tconv.conv_transpose(y, w, output_size=x.shape[2:], **cfg.conv_kwargs())
    assert back.shape == x.shape and back.dtype == x.dtype
