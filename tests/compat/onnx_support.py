"""One-node ONNX models and their runners (onnxruntime, the ONNX reference evaluator)."""

from __future__ import annotations

import numpy as np


def convtranspose_model(ndim: int, attrs: dict, with_bias: bool, opset: int = 22):
    """A one-node ConvTranspose model with float32 inputs X, W (and B)."""
    from onnx import TensorProto, helper

    names = ["X", "W"] + (["B"] if with_bias else [])
    node = helper.make_node("ConvTranspose", names, ["Y"], **{k: v for k, v in attrs.items() if v is not None})
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names]
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run_ort(model, feeds: dict) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def run_reference(model, feeds: dict) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, feeds)[0]
