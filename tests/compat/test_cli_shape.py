"""The ``tconv shape`` sub-command."""

from __future__ import annotations

import pytest

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


# ---------------------------------------------------------------------------
# --json, and the weight conversion each target needs


def test_shape_json_is_the_report_as_data(capsys):
    import json

    assert main(["shape", "keras", "5,5", "kernel_size=3", "strides=2", "padding=same", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["source"] == "keras" and d["input_size"] == [5, 5] and d["output_size"] == [10, 10]
    assert d["params"] == {"kernel_size": 3, "strides": 2, "padding": "same"}
    by = {t["framework"]: t for t in d["targets"]}
    assert set(by) == {"pytorch", "tconv", "onnx", "tensorflow", "jax", "mxnet"}
    assert by["tconv"]["exact"] and by["tconv"]["params"]["padding"] == [[0, 1], [0, 1]]
    assert not by["pytorch"]["exact"] and by["pytorch"]["extra_crop"] == [[0, 1], [0, 1]]
    assert by["jax"]["weight"].startswith("weight: convert_weight(w, 'keras', 'jax')")
    assert by["tensorflow"]["weight"] is None  # the same layout as Keras
    assert by["jax"]["weight"] in by["jax"]["notes"]


def test_shape_names_the_weight_conversion(capsys):
    assert main(["shape", "pytorch", "8", "kernel_size=4", "stride=2", "padding=1"]) == 0
    out = capsys.readouterr().out
    assert "note: weight: convert_weight(w, 'pytorch', 'keras') turns pytorch's (in, out // groups, *k) into " \
           "keras's (*k, out, in)" in out
    assert "convert_weight(w, 'pytorch', 'jax') turns pytorch's (in, out // groups, *k) into jax's (*k, in, out) " \
           "spatially flipped, the kernel of transpose_kernel=False" in out
    assert "convert_weight(w, 'pytorch', 'onnx')" not in out  # the same layout: nothing to convert
    assert "transpose_kernel=True takes" not in out  # the old hint, which disagreed with convert_weight


# a PyTorch layer: (input size, kernel, stride, padding, output_padding, dilation)
PYTORCH_LAYERS = [
    ((5, 6), (3, 3), (2, 2), (1, 1), (1, 1), (1, 1)),   # the 'SAME' of JAX
    ((4, 4), (4, 4), (2, 2), (1, 1), (0, 0), (1, 1)),   # DCGAN: explicit pairs
    ((5, 3), (3, 2), (1, 2), (0, 1), (0, 1), (2, 1)),   # dilation, mixed
    ((3, 4), (3, 3), (2, 3), (0, 0), (0, 0), (1, 1)),   # 'VALID'
]


@pytest.mark.parametrize("size, kernel, stride, padding, output_padding, dilation", PYTORCH_LAYERS)
def test_following_the_printed_jax_hint_gives_pytorchs_numbers(capsys, size, kernel, stride, padding,
                                                               output_padding, dilation):
    """Convert a PyTorch weight as the printed hint says and call jax.lax.conv_transpose with the printed
    arguments: the result is torch.nn.functional.conv_transpose2d's (and tconv's)."""
    import json

    jax = pytest.importorskip("jax")
    torch = pytest.importorskip("torch")
    import numpy as np

    import tconv
    from tconv.compat import convert_weight

    args = ["shape", "pytorch", "x".join(map(str, size)), f"kernel_size={kernel}", f"stride={stride}",
            f"padding={padding}", f"output_padding={output_padding}", f"dilation={dilation}", "--to", "jax"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert main(args + ["--json"]) == 0
    target = json.loads(capsys.readouterr().out)["targets"][0]
    assert target["framework"] == "jax" and target["exact"]
    assert "transpose_kernel" not in target["params"]  # the call as printed uses JAX's default, False
    call = "convert_weight(w, 'pytorch', 'jax')"
    assert call in target["weight"] and call in text and "transpose_kernel=False" in text

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, *size)).astype(np.float32)
    w = rng.standard_normal((3, 5, *kernel)).astype(np.float32)
    p = target["params"]
    padding_jax = p["padding"] if isinstance(p["padding"], str) else [tuple(pair) for pair in p["padding"]]
    got = jax.lax.conv_transpose(np.moveaxis(x, 1, -1), convert_weight(w, "pytorch", "jax"), tuple(p["strides"]),
                                 padding_jax, rhs_dilation=tuple(p["rhs_dilation"]))
    got = np.moveaxis(np.asarray(got), -1, 1)
    want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride,
                                                padding=padding, output_padding=output_padding,
                                                dilation=dilation).numpy()
    assert got.shape == want.shape == (2, 5, *target["output_size"])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    mine = tconv.conv_transpose(x, w, stride=stride, padding=padding, output_padding=output_padding,
                                dilation=dilation)
    np.testing.assert_allclose(mine, want, rtol=1e-4, atol=1e-4)
    # the other reading of the hint: transpose_kernel=True with convert_weight(..., transpose_kernel=True)
    other = jax.lax.conv_transpose(np.moveaxis(x, 1, -1), convert_weight(w, "pytorch", "jax", transpose_kernel=True),
                                   tuple(p["strides"]), padding_jax, rhs_dilation=tuple(p["rhs_dilation"]),
                                   transpose_kernel=True)
    np.testing.assert_allclose(np.moveaxis(np.asarray(other), -1, 1), want, rtol=1e-4, atol=1e-4)
