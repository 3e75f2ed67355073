"""tconv.compat.onnx against onnxruntime and the ONNX reference evaluator on one-node models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import Compared
from tconv.compat.onnx import conv_transpose

from .onnx_support import convtranspose_model, run_ort, run_reference
from .stats import count, examples, record

pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra: pip install -e '.[test]'")
pytest.importorskip("onnx", reason="onnx is in the test extra: pip install -e '.[test]'")

TOL = 1e-4  # float32: onnxruntime only implements float ConvTranspose


@st.composite
def onnx_cases(draw, max_group=3):
    """Random attributes (all of them), 1-3 spatial dims; some are ones ONNX Runtime refuses."""
    nd = draw(st.integers(1, 3))
    g = draw(st.integers(1, max_group))
    c = g * draw(st.integers(1, 2))
    mg = draw(st.integers(1, 2))
    max_n, max_k = {1: (7, 5), 2: (5, 4), 3: (3, 3)}[nd]
    n = [draw(st.integers(1, max_n)) for _ in range(nd)]
    k = [draw(st.integers(1, max_k)) for _ in range(nd)]
    s = [draw(st.integers(1, 4)) for _ in range(nd)]
    d = [draw(st.integers(1, 3)) for _ in range(nd)]
    op = [draw(st.integers(0, max(a, b) - 1)) for a, b in zip(s, d)]
    auto_pad = draw(st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", None]))
    attrs = {"strides": s, "dilations": d, "group": g}
    if draw(st.booleans()):
        attrs["output_padding"] = op
    if auto_pad is not None:
        attrs["auto_pad"] = auto_pad
    if draw(st.booleans()):
        attrs["kernel_shape"] = k
    full = [(a - 1) * b + e * (f - 1) + 1 for a, b, e, f in zip(n, s, d, k)]
    shape_kind = draw(st.sampled_from(["none", "pads", "output_shape", "output_shape_nc"]))
    if shape_kind.startswith("output_shape"):
        out = [draw(st.integers(1, f + b)) for f, b in zip(full, s)]
        attrs["output_shape"] = ([1, 1] + out) if shape_kind == "output_shape_nc" else out
    elif shape_kind == "pads" and auto_pad in (None, "NOTSET"):
        attrs["pads"] = [draw(st.integers(0, 3)) for _ in range(2 * nd)]
    with_bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((draw(st.integers(1, 2)), c) + tuple(n)).astype(np.float32)
    w = rng.standard_normal((c, mg) + tuple(k)).astype(np.float32)
    b = rng.standard_normal(mg * g).astype(np.float32) if with_bias else None
    return attrs, x, w, b


def _feeds(x, w, b):
    return {"X": x, "W": w, **({"B": b} if b is not None else {})}


def _reference_agrees_with_ort(attrs, x, w) -> bool:
    """False for the configurations where the reference evaluator is known to differ from ONNX Runtime.

    * group > 1: its grouped branch slices W by output channel and fails or is wrong (compare with ORT only);
    * SAME_* without output_shape when the stride exceeds the dilated kernel (+ output_padding): it pads
      to in * stride, ONNX Runtime (and ONNX shape inference) clamp the total padding at 0;
    * output_shape with output_padding, or larger than the contributions: it ignores output_padding there.
    """
    nd = x.ndim - 2
    if attrs["group"] > 1:
        return False
    op = attrs.get("output_padding", [0] * nd)
    full = [(n - 1) * s + d * (k - 1) + 1 for n, s, d, k in
            zip(x.shape[2:], attrs["strides"], attrs["dilations"], w.shape[2:])]
    if "output_shape" in attrs:
        out = attrs["output_shape"][-nd:]
        return not any(op) and all(o <= f for o, f in zip(out, full))
    if attrs.get("auto_pad") in ("SAME_UPPER", "SAME_LOWER"):
        return all(f + a >= n * s for f, a, n, s in zip(full, op, x.shape[2:], attrs["strides"]))
    return True


ORT_EXAMPLES, REFERENCE_EXAMPLES = examples(400), examples(300)


# The properties run with a fixed seed (derandomize) so that the floors on how many configurations were
# compared, asserted by the plain tests that run them, hold on every run.
@settings(max_examples=ORT_EXAMPLES, derandomize=True)
@given(onnx_cases())
def matches_onnxruntime(tally, case):
    tally.drawn += 1
    attrs, x, w, b = case
    model = convtranspose_model(x.ndim - 2, attrs, b is not None)
    try:
        want = run_ort(model, _feeds(x, w, b))
    except Exception:  # ONNX Runtime refuses the configuration: so must we
        with pytest.raises(ValueError):
            conv_transpose(x, w, b, **attrs)
        count("onnx: onnxruntime (refused by both)")
        return
    got = conv_transpose(x, w, b, **attrs)
    assert got.shape == want.shape
    assert record("onnx: onnxruntime", got, want) <= TOL
    tally.compared += 1


def test_matches_onnxruntime():
    """Most random attribute sets run in ONNX Runtime and give its numbers; the rest are refused by both."""
    tally = Compared()
    matches_onnxruntime(tally)
    tally.assert_at_least(ORT_EXAMPLES // 2, "onnxruntime")


@settings(max_examples=REFERENCE_EXAMPLES, derandomize=True)
@given(onnx_cases(max_group=1))
def matches_reference_evaluator(tally, case):
    tally.drawn += 1
    attrs, x, w, b = case
    if not _reference_agrees_with_ort(attrs, x, w):
        return
    model = convtranspose_model(x.ndim - 2, attrs, b is not None)
    try:
        ort_out = run_ort(model, _feeds(x, w, b))
    except Exception:
        return  # refused by ONNX Runtime: covered by test_matches_onnxruntime
    try:
        want = run_reference(model, _feeds(x, w, b))
    except Exception:  # the reference evaluator crashes on some valid models (e.g. output_shape with N, C)
        count("onnx: reference evaluator crashed (ORT ran it; not compared)")
        return
    got = conv_transpose(x, w, b, **attrs)
    if want.shape != ort_out.shape or not np.allclose(want, ort_out, rtol=TOL, atol=TOL):
        # a disagreement beyond the known ones above: tconv follows ONNX Runtime (API.md)
        count("onnx: reference evaluator differs from ORT (tconv == ORT checked)")
        np.testing.assert_allclose(got, ort_out, rtol=TOL, atol=TOL)
        return
    assert got.shape == want.shape
    assert record("onnx: onnx.reference.ReferenceEvaluator", got, want) <= TOL
    tally.compared += 1


def test_matches_reference_evaluator():
    """Where the reference evaluator is known to agree with ONNX Runtime (see above), tconv equals it."""
    tally = Compared()
    matches_reference_evaluator(tally)
    tally.assert_at_least(REFERENCE_EXAMPLES // 4, "onnx reference evaluator")


def test_same_with_stride_above_kernel_follows_onnxruntime():
    """The documented disagreement: ORT gives s*(in-1) + k_eff positions, the reference evaluator in*s."""
    x = np.array([[[1.0, 2.0, 3.0]]], np.float32)
    w = np.array([[[2.0]]], np.float32)
    for mode in ("SAME_UPPER", "SAME_LOWER"):
        attrs = {"strides": [2], "auto_pad": mode}
        want = run_ort(convtranspose_model(1, attrs, False), _feeds(x, w, None))
        np.testing.assert_array_equal(conv_transpose(x, w, **attrs), want)
        np.testing.assert_array_equal(want, [[[2, 0, 4, 0, 6]]])
        assert run_reference(convtranspose_model(1, attrs, False), _feeds(x, w, None)).shape == (1, 1, 6)


def _pb_cases():
    """ConvTranspose cases stored as model + .pb files in the onnx wheel (node suite, pytorch-converted)."""
    try:
        import onnx
    except ImportError:
        return []
    import pathlib

    root = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data"
    found = list(root.glob("node/test_convtranspose*")) + list(root.glob("pytorch-converted/test_ConvTranspose*"))
    return sorted(p for p in found if p.is_dir())


def _generated_cases():
    """The node suite's ConvTranspose cases from their generators (onnx.backend.test.case.node.convtranspose).

    Recent onnx wheels ship the generators but not always the ``data/node`` .pb files; the
    generators are where those files come from, so both give the same models and arrays.
    """
    try:
        from onnx.backend.test.case import node as node_cases
        from onnx.backend.test.case.node import convtranspose
    except ImportError:
        return []
    node_cases._TargetOpType = "ConvTranspose"
    before = len(node_cases._NodeTestCases)
    try:
        for name in dir(convtranspose.ConvTranspose):
            if name.startswith("export"):
                getattr(convtranspose.ConvTranspose, name)()
    except ValueError:  # already collected in this process
        pass
    finally:
        node_cases._TargetOpType = None
    cases = node_cases._NodeTestCases[before:] or [
        c for c in node_cases._NodeTestCases if c.name.startswith("test_convtranspose")
    ]
    return [c for c in cases if not c.name.endswith("_expanded")]


def _node_attrs(model):
    import onnx

    (node,) = model.graph.node
    assert node.op_type == "ConvTranspose"
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _check_backend_case(name, model, data_sets):
    from onnx import numpy_helper

    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in _node_attrs(model).items()}
    initial = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    fed = [i.name for i in model.graph.input if i.name not in initial]
    assert data_sets, name
    for inputs, outputs in data_sets:
        (want,) = outputs
        values = {**initial, **dict(zip(fed, inputs))}
        got = conv_transpose(*[values[n] for n in model.graph.node[0].input if n], **attrs)
        assert got.shape == want.shape, name
        assert record("onnx: backend test suite cases", got, want) <= TOL, name


@pytest.mark.parametrize("case_dir", _pb_cases(), ids=lambda p: p.name)
def test_onnx_backend_pb_cases(case_dir):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(case_dir / "model.onnx"))
    data_sets = []
    for ds in sorted(case_dir.glob("test_data_set_*")):
        inputs = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(ds.glob("input_*.pb"))]
        outputs = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(ds.glob("output_*.pb"))]
        data_sets.append((inputs, outputs))
    _check_backend_case(case_dir.name, model, data_sets)


@pytest.mark.parametrize("case", _generated_cases(), ids=lambda c: c.name)
def test_onnx_backend_node_cases(case):
    _check_backend_case(case.name, case.model, case.data_sets)


def test_backend_suite_is_found():
    names = {c.name for c in _generated_cases()} | {p.name for p in _pb_cases()}
    assert {"test_convtranspose_autopad_same", "test_convtranspose_output_shape", "test_convtranspose_group_2"} <= names


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"auto_pad": "SAME"}, "auto_pad must be one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"),
        ({"pads": [1, 1, 1]}, r"pads must have 2 \* 2 = 4 entries"),
        ({"pads": [1, 1, 1, 1], "auto_pad": "SAME_UPPER"}, "pads cannot be used together with auto_pad"),
        ({"kernel_shape": [3, 2]}, r"kernel_shape \[3, 2\] is inconsistent with W"),
        ({"output_shape": [40, 5]}, r"output_shape \[40, 5\] cannot be reached in dim 0"),
        ({"output_padding": [2, 0], "strides": [2, 2]}, r"output_padding\[0\] \(2\) must be smaller"),
        ({"strides": [1, 0]}, "strides must be >= 1"),
        ({"dilations": [1]}, "dilations must have one entry per spatial dim"),
        ({"group": 2}, r"group \(2\) must divide X's channels"),
    ],
)
def test_bad_attributes_name_the_attribute(kwargs, match):
    x = np.ones((1, 3, 4, 4), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=match):
        conv_transpose(x, w, **kwargs)


def test_inputs_not_modified():
    x = np.arange(8.0).reshape(1, 2, 4)
    w = np.ones((2, 1, 3))
    x0, w0 = x.copy(), w.copy()
    conv_transpose(x, w, np.ones(1), strides=[2], auto_pad="SAME_LOWER")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_output_shape_cropping_both_sides_follows_onnxruntime():
    """A case where the reference evaluator differs from ONNX Runtime (output_shape, NOTSET, dilations)."""
    x = np.array([[[[0.12573022, -0.13210486, 0.64042264, 0.10490011]]]], np.float32)
    w = np.array([[[[-0.5356694, 0.36159506, 1.304], [0.94708097, -0.70373523, -1.2654215]]]], np.float32)
    attrs = {"strides": [1, 1], "dilations": [2, 3], "group": 1, "auto_pad": "NOTSET", "output_shape": [1, 2]}
    want = run_ort(convtranspose_model(2, attrs, False), _feeds(x, w, None))
    np.testing.assert_allclose(conv_transpose(x, w, **attrs), want, rtol=TOL, atol=TOL)
