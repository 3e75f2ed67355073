"""Whole ONNX models run by ``onnx.reference.ReferenceEvaluator`` with tconv's ``ConvTranspose`` and ``Conv``.

Four models, each compared with ONNX Runtime at float32:

* ``decoder2d``: exported by ``torch.onnx.export`` (``dynamo=False``): ConvTranspose2d with groups=2,
  dilation 2, stride 2, padding 1, output_padding 1, a ReLU, then a Conv2d with groups=3.
* ``decoder1d``: exported by torch: ConvTranspose1d (stride 3, output_padding 2) then a strided, dilated
  Conv1d.
* ``decoder3d``: exported by torch: ConvTranspose3d (per-dim stride / padding / output_padding, groups=2)
  then a Conv3d without bias.
* ``auto_pad``: built with ``onnx.helper``: ConvTranspose ``auto_pad=SAME_UPPER``, Conv
  ``auto_pad=SAME_LOWER``, ConvTranspose ``output_shape`` (no ``pads``; one row past the full output), with bias.

The stock ReferenceEvaluator fails on the grouped models (see test_stock_reference_evaluator_on_the_grouped_model).
"""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest

from .onnx_support import run_ort
from .stats import record

onnx = pytest.importorskip("onnx", reason="onnx is in the test extra: pip install -e '.[test]'")
pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra: pip install -e '.[test]'")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from tconv.compat.onnx import Conv, ConvTranspose, conv, conv_transpose  # noqa: E402

RTOL = 1e-5
OPSET = 17


def _torch_model(build, x_shape, seed):
    """(model exported by torch.onnx.export, input, torch's own output) of ``build()``."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    module = build(torch.nn).eval()
    x = torch.randn(*x_shape)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated (the dynamo one needs onnxscript)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"],
                          opset_version=OPSET)
    with torch.no_grad():
        want = module(x).numpy()
    return onnx.load_from_string(buffer.getvalue()), x.numpy(), want


def decoder2d():
    return _torch_model(lambda nn: nn.Sequential(
        nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2),
        nn.ReLU(),
        nn.Conv2d(6, 3, 3, padding=1, groups=3),
    ), (2, 4, 5, 6), seed=0)


def decoder1d():
    return _torch_model(lambda nn: nn.Sequential(
        nn.ConvTranspose1d(3, 4, 5, stride=3, padding=2, output_padding=2),
        nn.Tanh(),
        nn.Conv1d(4, 2, 3, stride=2, padding=1, dilation=2),
    ), (2, 3, 9), seed=1)


def decoder3d():
    return _torch_model(lambda nn: nn.Sequential(
        nn.ConvTranspose3d(4, 6, (2, 3, 3), stride=(2, 1, 3), padding=(0, 1, 1), output_padding=(1, 0, 2),
                           groups=2),
        nn.Conv3d(6, 2, (3, 1, 2), padding=(1, 0, 0), bias=False),
    ), (1, 4, 3, 4, 3), seed=2)


def auto_pad():
    """ConvTranspose SAME_UPPER -> Conv SAME_LOWER (stride 2) -> ConvTranspose output_shape (past the full output)."""
    rng = np.random.default_rng(3)
    f32 = np.float32
    weights = {
        "W1": rng.standard_normal((2, 3, 3, 4)).astype(f32), "B1": rng.standard_normal(3).astype(f32),
        "W2": rng.standard_normal((4, 3, 2, 3)).astype(f32), "B2": rng.standard_normal(4).astype(f32),
        "W3": rng.standard_normal((4, 2, 3, 3)).astype(f32),
    }
    nodes = [
        helper.make_node("ConvTranspose", ["x", "W1", "B1"], ["h1"], auto_pad="SAME_UPPER", strides=[2, 3]),
        helper.make_node("Conv", ["h1", "W2", "B2"], ["h2"], auto_pad="SAME_LOWER", strides=[2, 2]),
        helper.make_node("ConvTranspose", ["h2", "W3"], ["y"], strides=[3, 2], output_shape=[16, 13]),
    ]
    graph = helper.make_graph(
        nodes, "auto_pad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 16, 13])],
        initializer=[numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model, rng.standard_normal((1, 2, 5, 4)).astype(f32), None


MODELS = {"decoder2d": decoder2d, "decoder1d": decoder1d, "decoder3d": decoder3d, "auto_pad": auto_pad}


def _max_rel_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.abs(got - want).max()) / max(1.0, float(np.abs(want).max()))


def test_models_run_with_tconv_operators_as_onnxruntime():
    """Every model: ReferenceEvaluator(model, new_ops=[ConvTranspose, Conv]) gives ONNX Runtime's output."""
    errors = {}
    for name, build in MODELS.items():
        model, x, torch_out = build()
        ops = {n.op_type for n in model.graph.node}
        assert {"ConvTranspose", "Conv"} <= ops, (name, ops)
        feeds = {model.graph.input[0].name: x}
        got = ReferenceEvaluator(model, new_ops=[ConvTranspose, Conv]).run(None, feeds)[0]
        want = run_ort(model, feeds)
        assert got.dtype == np.float32 and got.shape == want.shape, (name, got.dtype, got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max(), err_msg=name)
        if torch_out is not None:
            np.testing.assert_allclose(got, torch_out, rtol=RTOL, atol=RTOL * np.abs(torch_out).max(), err_msg=name)
        errors[name] = record("onnx models: ReferenceEvaluator + tconv vs onnxruntime", got, want)
    assert len(errors) == 4, errors
    print("max relative error vs onnxruntime:", errors)


def test_stock_reference_evaluator_on_the_grouped_model():
    """The stock evaluator fails on the grouped ConvTranspose (M / group = 3 > 1), tconv's does not.

    Observed with onnx 1.23.2: ``ValueError: cannot reshape array of size 81 into shape (1,2,27)`` (its grouped
    branch slices W by output channel); decoder3d fails the same way.
    """
    model, x, _ = decoder2d()
    with pytest.raises(ValueError, match="reshape"):
        ReferenceEvaluator(model).run(None, {"x": x})
    assert ReferenceEvaluator(model, new_ops=[ConvTranspose, Conv]).run(None, {"x": x})[0].shape == (2, 3, 12, 14)


def test_importing_the_module_does_not_import_onnx():
    code = "import sys, tconv.compat.onnx as m; assert 'onnx' not in sys.modules, 'onnx imported'; m.Conv; " \
           "assert 'onnx' in sys.modules; print(m.ConvTranspose.__module__, m.Conv.__mro__[1].__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["tconv.compat.onnx", "OpRun"]


def test_absent_attributes_mean_the_onnx_defaults():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 5, 5))
    w = rng.standard_normal((4, 2, 3, 3))
    none = dict(auto_pad=None, dilations=None, group=None, kernel_shape=None, pads=None, strides=None)
    np.testing.assert_array_equal(conv_transpose(x, w, output_padding=None, output_shape=None, **none),
                                  conv_transpose(x, w))
    np.testing.assert_array_equal(conv(x, w.transpose(1, 0, 2, 3), **none), conv(x, w.transpose(1, 0, 2, 3)))


def _conv_cases():
    """One-node Conv attribute sets: auto_pad modes with strides and dilations, explicit pads, groups."""
    cases = []
    for mode in ("SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"):
        for s in (1, 2, 3, 4, 6):
            for d in (1, 2):
                cases.append({"auto_pad": mode, "strides": [s, 1], "dilations": [d, 1]})
    cases += [{"pads": [0, 1, 2, 0], "strides": [2, 3]}, {"pads": [2, 2, 1, 1], "dilations": [3, 2]},
              {"group": 2, "pads": [1, 1, 1, 1]}, {"group": 4, "strides": [2, 2], "kernel_shape": [2, 3]}]
    return cases


def _ort_departs(attrs, spatial, kernel):
    """Where ONNX Runtime departs from the spec (tconv.compat.onnx's module doc): SAME_* with a dilation, or with
    a stride that makes its SAME padding -3 or less."""
    if attrs.get("auto_pad") not in ("SAME_UPPER", "SAME_LOWER"):
        return False
    strides, dilations = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    needs = [(-(-n // s) - 1) * s + k - n for n, k, s in zip(spatial, kernel, strides)]
    return any(d > 1 for d in dilations) or min(needs) <= -3


@pytest.mark.parametrize("n", [1, 5, 8])
def test_conv_matches_onnxruntime(n):
    """tconv.compat.onnx.conv against ONNX Runtime's Conv on one-node models (the spec's reference evaluator
    where ONNX Runtime departs from it)."""
    rng = np.random.default_rng(n)
    compared = {"onnxruntime": 0, "reference": 0}
    for attrs in _conv_cases():
        g = attrs.get("group", 1)
        x = rng.standard_normal((2, 4, n, 6)).astype(np.float32)
        w = rng.standard_normal((4, 4 // g, 2, 3)).astype(np.float32)
        b = rng.standard_normal(4).astype(np.float32)
        node = helper.make_node("Conv", ["X", "W", "B"], ["Y"], **attrs)
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, None)
                                                for k in "XWB"],
                                  [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        feeds = {"X": x, "W": w, "B": b}
        side = "reference" if _ort_departs(attrs, (n, 6), (2, 3)) else "onnxruntime"
        try:
            want = run_ort(model, feeds) if side == "onnxruntime" else ReferenceEvaluator(model).run(None, feeds)[0]
        except Exception:  # refused (no output position fits): so must tconv
            with pytest.raises(ValueError, match="ONNX Conv"):
                conv(x, w, b, **attrs)
            continue
        got = conv(x, w, b, **attrs)
        assert got.shape == want.shape, (attrs, got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * max(1.0, np.abs(want).max()), err_msg=str(attrs))
        record(f"onnx Conv: tconv vs {side}", got, want)
        compared[side] += 1
    assert compared["onnxruntime"] >= 10 and sum(compared.values()) >= 20, compared


def test_onnxruntime_departures_are_real():
    """The two corners where tconv.compat.onnx.conv follows the spec rather than ONNX Runtime 1.32."""
    x = np.arange(1, 6, dtype=np.float32).reshape(1, 1, 5)
    w = np.ones((1, 1, 1), np.float32)

    def ort_conv(**attrs):
        node = helper.make_node("Conv", ["X", "W"], ["Y"], **attrs)
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, None)
                                                for k in "XW"],
                                  [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
        return run_ort(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), {"X": x, "W": w})

    assert conv(x, w, auto_pad="SAME_UPPER", strides=[5]).ravel().tolist() == [1.0]  # the spec: X[0]
    shifted = ort_conv(auto_pad="SAME_UPPER", strides=[5]).ravel().tolist()
    assert shifted in ([1.0], [2.0]), shifted  # 2.0 (X[1]) with onnxruntime 1.32
    with pytest.raises(Exception, match="[Dd]ilation"):
        ort_conv(auto_pad="SAME_UPPER", dilations=[2])
    assert conv(x, np.ones((1, 1, 2), np.float32), auto_pad="SAME_UPPER", dilations=[2]).shape == (1, 1, 5)
