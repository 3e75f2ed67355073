"""The ``tconv shape`` sub-command."""

from __future__ import annotations

from tconv.cli import main


def test_shape_lists_every_other_framework(capsys):
    assert main(["shape", "keras", "5,5", "kernel_size=3", "strides=2", "padding=same"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("keras layer kernel_size=3, strides=2, padding='same' on input (5, 5): output (10, 10)")
    for fw in ("pytorch", "tconv", "onnx", "tensorflow", "jax", "mxnet"):
        assert f"\n  {fw}: " in out
    assert "no exact pytorch equivalent" in out
    assert "padding=((0, 1), (0, 1))" in out  # tconv's exact asymmetric form
    assert "padding='SAME', output_shape=(10, 10)" in out


def test_shape_targets_and_sizes(capsys):
    assert main(["shape", "pytorch", "16x16", "kernel_size=5", "stride=3", "padding=2", "--to", "mxnet"]) == 0
    out = capsys.readouterr().out
    assert "output (46, 46)" in out and "pad=(2, 2), adj=(0, 0)" in out and "onnx" not in out


def test_shape_bad_attribute_is_a_clear_error(capsys):
    assert main(["shape", "onnx", "4", "kernel_shape=3", "auto_pad=SAME"]) == 2
    assert "auto_pad must be one of NOTSET, SAME_UPPER, SAME_LOWER, VALID" in capsys.readouterr().err
