"""Differential tests: every algorithm against PyTorch over random configurations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv
from tconv.algorithms import get as get_algorithm
from tconv.algorithms.planner import running_geometry
from tconv.params import conv_geometry, conv_transpose_geometry
from support import assert_close, configs, record_error
from torch_oracle import torch_conv, torch_conv_transpose

ALGORITHMS = ["auto", *tconv.algorithm_names()]


def _unsupported(algorithm: str, call, *args, **kwargs) -> bool:
    """True (after checking the error names the algorithm) when a named algorithm declines this call.

    Algorithms with a narrow domain (``nooverlap``, ``depthwise``) are checked
    on their own domain by tests/test_algorithms.py; here they must refuse
    everything else with a ValueError naming themselves.
    """
    if algorithm == "auto":
        return False
    build = conv_transpose_geometry if call is tconv.conv_transpose else conv_geometry
    # a stride that divides its dilation runs (and is refused as) the stride-1 problem
    if get_algorithm(algorithm).unsupported(running_geometry(build(*args, **kwargs))) is None:
        return False
    with pytest.raises(ValueError, match=f"algorithm {algorithm!r} does not support"):
        call(*args, algorithm=algorithm, **kwargs)
    return True




@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(cfg=configs(), use_bias=st.booleans())
def test_conv_transpose_matches_torch(algorithm, cfg, use_bias):
    x, w, b = cfg.arrays()
    b = b if use_bias else None
    if _unsupported(algorithm, tconv.conv_transpose, x, w, b, **cfg.transpose_kwargs()):
        return
    got = tconv.conv_transpose(x, w, b, algorithm=algorithm, **cfg.transpose_kwargs())
    want = torch_conv_transpose(x, w, b, **cfg.transpose_kwargs())
    assert got.dtype == np.dtype(cfg.dtype)
    assert_close(got, want, cfg.dtype)
    record_error("conv_transpose", cfg.dtype, got, want)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(cfg=configs(symmetric=True), use_bias=st.booleans())
def test_conv_transpose_symmetric_padding_through_torch_padding(algorithm, cfg, use_bias):
    """Symmetric cases go through torch's own padding/output_padding arguments, not our crop."""
    x, w, b = cfg.arrays()
    b = b if use_bias else None
    if _unsupported(algorithm, tconv.conv_transpose, x, w, b, **cfg.transpose_kwargs()):
        return
    got = tconv.conv_transpose(x, w, b, algorithm=algorithm, **cfg.transpose_kwargs())
    want = torch_conv_transpose(x, w, b, **cfg.transpose_kwargs())
    assert_close(got, want, cfg.dtype)
    record_error("conv_transpose", cfg.dtype, got, want)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(cfg=configs(), extra=st.integers(0, 3), use_bias=st.booleans())
def test_conv_matches_torch(algorithm, cfg, extra, use_bias):
    """conv on the big side (with `extra` trailing rows that a stride may drop)."""
    x, w, b = cfg.conv_problem(extra, bias=use_bias)
    if _unsupported(algorithm, tconv.conv, x, w, b, **cfg.conv_kwargs()):
        return
    got = tconv.conv(x, w, b, algorithm=algorithm, **cfg.conv_kwargs())
    want = torch_conv(x, w, b, **cfg.conv_kwargs())
    assert_close(got, want, cfg.dtype)
    record_error("conv", cfg.dtype, got, want)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=2000)
@given(cfg=configs(), use_bias=st.booleans())
def test_conv_transpose_matches_torch_thorough(algorithm, cfg, use_bias):
    test_conv_transpose_matches_torch.hypothesis.inner_test(algorithm, cfg, use_bias)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=2000)
@given(cfg=configs(), extra=st.integers(0, 3), use_bias=st.booleans())
def test_conv_matches_torch_thorough(algorithm, cfg, extra, use_bias):
    test_conv_matches_torch.hypothesis.inner_test(algorithm, cfg, extra, use_bias)

