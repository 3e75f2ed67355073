"""Round trips of tconv.compat.translate: the source dialect's result equals the translated
layer run through the target dialect (plus the reported extra crop), over random layers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tconv
from support import Compared
from tconv.compat import jax as jaxc
from tconv.compat import mxnet as mxc
from tconv.compat import onnx as onnxc
from tconv.compat import tensorflow as tfc
from tconv.compat import FRAMEWORKS, apply_extra, convert_weight, describe, translate

from .stats import examples, record


def _torch(x, w, p):
    torch = pytest.importorskip("torch")
    fn = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
          3: torch.nn.functional.conv_transpose3d}[x.ndim - 2]
    return fn(torch.from_numpy(x), torch.from_numpy(w), stride=p["stride"], padding=p["padding"],
              output_padding=p["output_padding"], dilation=p["dilation"]).numpy()


def _last(a):
    return np.moveaxis(a, 1, -1)


def _first(a):
    return np.moveaxis(a, -1, 1)


def run(framework: str, x: np.ndarray, w: np.ndarray, p: dict) -> np.ndarray:
    """Run a layer given in ``framework``'s hyper-parameters through that framework's dialect.

    ``x`` is channels-first and ``w`` in PyTorch's layout; the result is channels-first.
    """
    nd = x.ndim - 2
    if framework == "pytorch":
        return _torch(x, w, p)
    if framework == "tconv":
        return tconv.conv_transpose(x, w, stride=p["stride"], padding=p["padding"],
                                    output_padding=p["output_padding"], dilation=p["dilation"])
    if framework == "onnx":
        kw = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}
        return onnxc.conv_transpose(x, convert_weight(w, "pytorch", "onnx"), **kw)
    if framework == "tensorflow":
        wt = convert_weight(w, "pytorch", "tensorflow")
        padding = p.get("padding", "SAME")
        if not isinstance(padding, str):
            padding = [[0, 0]] + [list(q) for q in padding] + [[0, 0]]
        shape = [x.shape[0], *p["output_shape"], wt.shape[-2]]
        return _first(tfc.conv_transpose(_last(x), wt, shape, p.get("strides", 1), padding,
                                         dilations=p.get("dilations")))
    if framework == "keras":
        wt = convert_weight(w, "pytorch", "keras")
        return _first(tfc.keras_conv_transpose(_last(x), wt, strides=p.get("strides", 1),
                                               padding=p.get("padding", "valid"),
                                               output_padding=p.get("output_padding"),
                                               dilation_rate=p.get("dilation_rate", 1)))
    if framework == "jax":
        tk = bool(p.get("transpose_kernel", False))
        wj = convert_weight(w, "pytorch", "jax", transpose_kernel=tk)
        return _first(jaxc.conv_transpose(_last(x), wj, p.get("strides", (1,) * nd), p["padding"],
                                          p.get("rhs_dilation"), transpose_kernel=tk,
                                          use_consistent_padding=bool(p.get("use_consistent_padding", False))))
    if framework == "mxnet":
        kw = {k: v for k, v in p.items() if k in ("stride", "dilate", "pad", "adj", "target_shape")}
        return mxc.deconvolution(x, w, kernel=p["kernel"], num_filter=w.shape[1], **kw)
    raise AssertionError(framework)


@st.composite
def layers(draw, framework):
    """A random layer in ``framework``'s hyper-parameters, with its input size."""
    nd = draw(st.integers(1, 3)) if framework != "tensorflow" else draw(st.sampled_from([1, 2, 2, 3]))
    n = tuple(draw(st.integers(1, {1: 7, 2: 5, 3: 3}[nd])) for _ in range(nd))
    k = tuple(draw(st.integers(1, {1: 5, 2: 4, 3: 3}[nd])) for _ in range(nd))
    s = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 3)) for _ in range(nd)) if draw(st.booleans()) else (1,) * nd
    k_eff = tuple(b * (a - 1) + 1 for a, b in zip(k, d))
    full = tuple((a - 1) * b + e for a, b, e in zip(n, s, k_eff))
    if framework in ("pytorch", "tconv"):
        op = tuple(draw(st.integers(0, max(a, b) - 1)) for a, b in zip(s, d))
        if framework == "pytorch":
            pad = tuple(draw(st.integers(0, f // 2)) for f in full)
        else:
            pad = draw(st.sampled_from(["pairs", "same", "valid"]))
            if pad == "pairs":
                pad = tuple((draw(st.integers(0, f // 2)), draw(st.integers(0, f // 2))) for f in full)
            else:
                op = (0,) * nd
        p = {"kernel_size": k, "stride": s, "padding": pad, "output_padding": op, "dilation": d}
    elif framework == "onnx":
        p = {"kernel_shape": k, "strides": s, "dilations": d,
             "output_padding": tuple(draw(st.integers(0, a - 1)) for a in s)}
        kind = draw(st.sampled_from(["pads", "SAME_UPPER", "SAME_LOWER", "output_shape", "VALID"]))
        if kind == "pads":
            p["pads"] = tuple(draw(st.integers(0, 3)) for _ in range(2 * nd))
        elif kind == "output_shape":
            p["output_shape"] = tuple(draw(st.integers(1, f + a - 1)) for f, a in zip(full, s))
        else:
            p["auto_pad"] = kind
    elif framework == "tensorflow":
        padding = draw(st.sampled_from(["SAME", "VALID"] + (["pairs"] if nd == 2 else [])))
        if padding == "pairs":
            padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd))
            lo = [f - sum(q) for f, q in zip(full, padding)]
        elif padding == "SAME":
            lo = [(a - 1) * b + 1 for a, b in zip(n, s)]
        else:
            lo = list(full)
        out = tuple(draw(st.integers(max(m, 1), max(m + b - 1, 1))) for m, b in zip(lo, s))
        p = {"kernel_size": k, "strides": s, "dilations": d, "padding": padding, "output_shape": out}
    elif framework == "keras":
        op = None if draw(st.booleans()) else tuple(draw(st.integers(0, a - 1)) for a in s)
        p = {"kernel_size": k, "strides": s, "padding": draw(st.sampled_from(["same", "valid"])),
             "output_padding": op, "dilation_rate": d}
    elif framework == "jax":
        padding = draw(st.sampled_from(["SAME", "VALID", "pairs"]))
        if padding == "pairs":
            padding = tuple((draw(st.integers(-1, e + 2)), draw(st.integers(-1, e + 2))) for e in k_eff)
        p = {"kernel_size": k, "strides": s, "padding": padding, "rhs_dilation": d}
    else:
        p = {"kernel": k, "stride": s, "dilate": d}
        if draw(st.booleans()):
            p["target_shape"] = tuple(draw(st.integers(max(1, f - 3), f)) for f in full)
        else:
            p["pad"] = tuple(draw(st.integers(0, 2)) for _ in range(nd))
            p["adj"] = tuple(draw(st.integers(0, a - 1)) for a in s)
    return n, p


ROUND_TRIPS = examples(40)


@pytest.mark.parametrize("source", FRAMEWORKS)
def test_round_trip_to_every_framework(source):
    tally = Compared()

    # a fixed seed (derandomize): the floor below on how many layers were compared holds every run
    @settings(max_examples=ROUND_TRIPS, deadline=None, derandomize=True)
    @given(case=layers(source), seed=st.integers(0, 2**31 - 1))
    def check(case, seed):
        tally.drawn += 1
        n, p = case
        try:
            layer = describe(source, n, **p)
        except ValueError:
            assume(False)
        assume(all(o >= 1 for o in layer.output_shape))
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((2, 2) + n)
        w = rng.standard_normal((2, 3) + layer.geometry.kernel_shape)
        want = run(source, x, w, p)
        assert want.shape[2:] == layer.output_shape
        for target in FRAMEWORKS:
            t = translate(source, target, n, **p)
            got = apply_extra(run(target, x, w, t.params), t.extra_crop)
            assert got.shape == want.shape, (target, t)
            assert record(f"translate: {source} -> every framework", got, want) <= 1e-9, (target, str(t))
            if t.exact:
                assert t.output_size == layer.output_shape
        tally.compared += 1

    check()
    tally.assert_at_least(ROUND_TRIPS // 2, f"round trips from {source}")


def test_keras_same_odd_kernel_to_pytorch_says_not_exact():
    """keras-team/keras#22876: padding=1, output_padding=1 has the right shape but is shifted by one."""
    t = translate("keras", "pytorch", (5, 5), kernel_size=3, strides=2, padding="same")
    assert not t.exact and t.extra_crop == ((0, 1), (0, 1))
    assert "no exact pytorch equivalent" in str(t)
    assert translate("keras", "tconv", (5, 5), kernel_size=3, strides=2, padding="same").exact


def test_onnx_same_upper_to_tensorflow_is_same():
    t = translate("onnx", "tensorflow", (4, 4), kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    assert t.exact and t.params["padding"] == "SAME" and t.params["output_shape"] == (8, 8)


@pytest.mark.parametrize("source", FRAMEWORKS)
@pytest.mark.parametrize("target", FRAMEWORKS)
@pytest.mark.parametrize("transpose_kernel", [False, True])
def test_convert_weight_round_trip(source, target, transpose_kernel):
    w = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    there = convert_weight(convert_weight(w, "pytorch", source, transpose_kernel=transpose_kernel), source, target,
                           transpose_kernel=transpose_kernel)
    back = convert_weight(there, target, "pytorch", transpose_kernel=transpose_kernel)
    np.testing.assert_array_equal(back, w)


def test_bad_input():
    with pytest.raises(ValueError, match="framework must be one of"):
        translate("caffe", "pytorch", (3,), kernel_size=3)
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        translate("pytorch", "onnx", (3,), kernel_size=3, strides=2)
    with pytest.raises(ValueError, match="symmetric"):
        translate("pytorch", "onnx", (3,), kernel_size=3, padding=((0, 1),))
    with pytest.raises(ValueError, match="groups=2"):
        convert_weight(np.ones((2, 1, 3)), "pytorch", "keras", groups=2)
