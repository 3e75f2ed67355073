"""tconv.compat.mxnet against mxnet 1.9.1 (mx.nd.Deconvolution, Gluon Conv*DTranspose), run in a side env.

The MXNet environment is created once (see ``mxnet_env.py``); one subprocess runs every random
configuration and the chapter's MXNet code, and the tests compare tconv with the saved outputs.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import tconv
from tconv.compat.mxnet import deconvolution

from .mxnet_env import RUNNER, cache_dir, find_env, runner_env
from .stats import count, examples, record

N_CASES = examples(300)
MX_LIMITS = ("only 1D or 2D", "descriptor", "not supported", "not compared")


def _full(n, k, s, d):
    return (n - 1) * s + d * (k - 1) + 1


def _nd_case(rng, i):
    nd = int(rng.integers(1, 3))
    g = int(rng.integers(1, 3))
    c, fg = g * int(rng.integers(1, 3)), int(rng.integers(1, 3))
    n = [int(v) for v in rng.integers(1, 7 if nd == 1 else 5, nd)]
    k = [int(v) for v in rng.integers(1, 5, nd)]
    s = [int(v) for v in rng.integers(1, 4, nd)]
    d = [int(v) for v in rng.integers(1, 3, nd)] if rng.random() < 0.4 else [1] * nd
    params = {"kernel": k, "stride": s, "dilate": d, "num_filter": fg * g, "num_group": g,
              "no_bias": bool(rng.integers(0, 2))}
    if rng.random() < 0.3:
        params["target_shape"] = [int(rng.integers(max(1, _full(*a) - 3), _full(*a) + 2)) for a in zip(n, k, s, d)]
    else:
        params["pad"] = [int(v) for v in rng.integers(0, 3, nd)]
        params["adj"] = [int(rng.integers(0, b + (1 if rng.random() < 0.1 else 0))) for b in s]
    dtype = rng.choice(["float32", "float64"])
    x = rng.standard_normal((int(rng.integers(1, 3)), c) + tuple(n)).astype(dtype)
    w = rng.standard_normal((c, fg) + tuple(k)).astype(dtype)
    b = rng.standard_normal(fg * g).astype(dtype)
    return {"kind": "nd", "params": params}, x, w, b


def _gluon_case(rng, i):
    nd = int(rng.integers(1, 3))
    g = int(rng.integers(1, 3))
    c, fg = g * int(rng.integers(1, 3)), int(rng.integers(1, 3))
    n = [int(v) for v in rng.integers(1, 6, nd)]
    k = [int(v) for v in rng.integers(1, 5, nd)]
    s = [int(v) for v in rng.integers(1, 4, nd)]
    params = {"channels": fg * g, "kernel_size": k, "strides": s,
              "padding": [int(v) for v in rng.integers(0, 3, nd)],
              "output_padding": [int(rng.integers(0, b)) for b in s],
              "dilation": [int(v) for v in rng.integers(1, 3, nd)], "groups": g,
              "use_bias": bool(rng.integers(0, 2))}
    x = rng.standard_normal((int(rng.integers(1, 3)), c) + tuple(n)).astype("float32")
    w = rng.standard_normal((c, fg) + tuple(k)).astype("float32")
    b = rng.standard_normal(fg * g).astype("float32")
    return {"kind": "gluon", "params": params}, x, w, b


@pytest.fixture(scope="session")
def mxnet_run(tmp_path_factory):
    python = find_env()
    if python is None:
        pytest.skip(f"no mxnet 1.9.1 side environment under {cache_dir()}: create it with "
                    f"`python tests/compat/mxnet_env.py` (.ci/run does, before the tests)")
    rng = np.random.default_rng(20261127)
    cases = [(_nd_case if i % 3 else _gluon_case)(rng, i) for i in range(N_CASES)]
    folder = tmp_path_factory.mktemp("mxnet")
    arrays = {}
    for i, (_, x, w, b) in enumerate(cases):
        arrays.update({f"x{i}": x, f"w{i}": w, f"b{i}": b})
    np.savez(folder / "cases.npz", spec=np.array(json.dumps([c[0] for c in cases])), **arrays)
    outs = []
    for onednn in (True, False):
        target = folder / f"out_onednn{int(onednn)}.npz"
        done = subprocess.run([str(python), str(RUNNER), str(folder / "cases.npz"), str(target)],
                              capture_output=True, text=True, timeout=900, env=runner_env(onednn))
        assert done.returncode == 0, done.stderr[-3000:]
        outs.append(dict(np.load(target)))
    out, native = outs
    # Which MXNet result to compare with, per case:
    # * target_shape: MXNet's own CPU path (oneDNN ignores target_shape's computed pad and crops
    #   everything at the end, or refuses odd differences; the native path follows InferPad);
    # * float64: the native path anyway (oneDNN has no float64);
    # * the native path is wrong with dilate > 1 and stride > 1 (apache/mxnet#11203): those are
    #   compared only where oneDNN ran them (float32, no target_shape).
    for i, (case, x, _w, _b) in enumerate(cases):
        p = case["params"]
        dil, stride = p.get("dilate", p.get("dilation")), p.get("stride", p.get("strides"))
        onednn_refused = f"err{i}" in out and "descriptor" in str(out[f"err{i}"])
        native_only = "target_shape" in p or x.dtype == np.float64 or onednn_refused
        if not native_only:
            continue
        out.pop(f"y{i}", None)
        out.pop(f"err{i}", None)
        if max(dil) > 1 and max(stride) > 1:
            out[f"err{i}"] = np.array("not compared: only MXNet's native CPU path runs it, apache/mxnet#11203")
        elif f"y{i}" in native:
            out[f"y{i}"] = native[f"y{i}"]
        else:
            out[f"err{i}"] = native[f"err{i}"]
    return cases, out


def _ours(case, x, w, b):
    p = case["params"]
    if case["kind"] == "nd":
        kw = dict(p)
        return deconvolution(x, w, None if p["no_bias"] else b, **kw)
    return deconvolution(
        x, w, b if p["use_bias"] else None, kernel=p["kernel_size"], stride=p["strides"], pad=p["padding"],
        adj=p["output_padding"], dilate=p["dilation"], num_filter=p["channels"], num_group=p["groups"],
    )


def test_environment_versions(mxnet_run):
    _, out = mxnet_run
    assert str(out["mxnet_version"]) == "1.9.1"
    assert str(out["numpy_version"]) < "1.24"


def test_random_configurations_match_mxnet(mxnet_run):
    cases, out = mxnet_run
    label = {"nd": "mxnet: mx.nd.Deconvolution", "gluon": "mxnet: gluon.nn.Conv*DTranspose"}
    compared = 0
    for i, (case, x, w, b) in enumerate(cases):
        if f"err{i}" in out:
            msg = str(out[f"err{i}"])
            if any(m in msg for m in MX_LIMITS):
                count(label[case["kind"]] + " (MXNet CPU refused; not compared)")
                continue
            with pytest.raises(ValueError):
                _ours(case, x, w, b)
                pytest.fail(f"case {i} {case}: MXNet refused it ({msg}), tconv did not")
            count(label[case["kind"]] + " (refused by both)")
            continue
        want = out[f"y{i}"]
        if want.size == 0:  # MXNet returns an empty array when pad crops everything; tconv refuses it
            with pytest.raises(ValueError, match="crops the whole output"):
                _ours(case, x, w, b)
            count(label[case["kind"]] + " (empty in MXNet, error in tconv)")
            continue
        got = _ours(case, x, w, b)
        assert got.shape == want.shape, (i, case)
        tol = 1e-10 if x.dtype == np.float64 else 1e-4
        assert record(f"{label[case['kind']]} [{x.dtype}]", got, want) <= tol, (i, case)
        compared += 1
    assert compared >= N_CASES // 2


def test_chapter_mxnet_code(mxnet_run):
    """The chapter's MXNet examples, run by MXNet, give the chapter's numbers and tconv's arrays."""
    _, out = mxnet_run
    X = np.array([[0.0, 1], [2, 3]])
    np.testing.assert_array_equal(out["chapter_trans_conv"], [[0, 0, 1], [0, 4, 6], [4, 12, 9]])
    np.testing.assert_array_equal(out["chapter_trans_conv"], tconv.trans_conv(X, X))
    K4 = X.reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(out["chapter_gluon_basic"], deconvolution(K4, K4, kernel=(2, 2), num_filter=1))
    np.testing.assert_array_equal(out["chapter_gluon_padding"], [[[[4.0]]]])
    np.testing.assert_array_equal(
        out["chapter_gluon_padding"], deconvolution(K4, K4, kernel=(2, 2), pad=(1, 1), num_filter=1))
    np.testing.assert_array_equal(
        out["chapter_gluon_strides"], [[[[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]]])
    np.testing.assert_array_equal(
        out["chapter_gluon_strides"], deconvolution(K4, K4, kernel=(2, 2), stride=(2, 2), num_filter=1))
    assert bool(out["chapter_shape_roundtrip"])
    conv_x = tconv.conv(out["chapter_X"], out["chapter_conv_weight"], stride=3, padding=2)
    np.testing.assert_allclose(conv_x, out["chapter_conv_X"], rtol=1e-4, atol=1e-5)
    back = deconvolution(out["chapter_conv_X"], out["chapter_tconv_weight"], out["chapter_tconv_bias"],
                         kernel=(5, 5), stride=(3, 3), pad=(2, 2), num_filter=10)
    assert back.shape == out["chapter_X"].shape
    np.testing.assert_allclose(back, out["chapter_tconv_conv_X"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out["chapter_corr2d"], [[19, 25], [37, 43]])
    np.testing.assert_array_equal(out["chapter_corr2d"], tconv.corr2d(np.arange(9.0).reshape(3, 3), X))
    np.testing.assert_array_equal(out["chapter_kernel2matrix"], tconv.kernel2matrix(X))
    assert out["chapter_matmul_check"].all() and out["chapter_transpose_check"].all()
    try:
        from tconv import init, nn
    except ImportError:
        return  # the Gluon-style layers live in another module; compared there when present
    layer = nn.Conv2DTranspose(1, kernel_size=2, strides=2)
    layer.initialize(init.Constant(K4))
    np.testing.assert_array_equal(layer(K4), out["chapter_gluon_strides"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel": (3, 2)}, r"kernel \(3, 2\) is inconsistent with weight"),
        ({"target_shape": (20, 20)}, r"target_shape \[20, 20\] is too big in dim 0: at most 6"),
        ({"adj": (2, 0), "stride": (2, 2)}, r"adj \[2, 0\] must be smaller than stride \[2, 2\]"),
        ({"num_filter": 5}, "weight must have shape"),
        ({"pad": (5, 5)}, r"pad \[5, 5\] crops the whole output"),
        ({"target_shape": (8, 0)}, "must be non-zero in every dim"),
        ({"layout": "NHWC"}, "layout must be None or 'NCHW'"),
    ],
)
def test_bad_arguments_name_mxnets_attribute(kwargs, match):
    args = {"kernel": (3, 3), "num_filter": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        deconvolution(np.ones((1, 2, 4, 4)), np.ones((2, 4, 3, 3)), **args)


def test_inputs_are_never_modified():
    from tconv.compat import jax as jaxc
    from tconv.compat import onnx as onnxc
    from tconv.compat import tensorflow as tfc

    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    f = rng.standard_normal((3, 3, 2, 2))
    saved = [a.copy() for a in (x, w, b, f)]
    deconvolution(x, w, b, kernel=(3, 3), stride=(2, 2), target_shape=(6, 6), num_filter=2)
    onnxc.conv_transpose(x, w, b, strides=[2, 2], output_shape=[8, 8])
    tfc.conv_transpose(x, f, [1, 2, 6, 6], 2, data_format="NCHW")
    tfc.keras_conv_transpose(x, f, b, strides=2, padding="same", data_format="channels_first")
    jaxc.conv_transpose(x, w, (2, 2), [(-1, 4), (0, 0)], dimension_numbers=("NCHW", "OIHW", "NCHW"))
    for a, s in zip((x, w, b, f), saved):
        np.testing.assert_array_equal(a, s)
