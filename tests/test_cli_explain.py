"""``tconv explain`` and ``tconv.explain`` with shapes: which algorithm auto runs, why, and every candidate."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

import tconv
from tconv import cli
from tconv.algorithms import names


def invoke(*args: str):
    return CliRunner().invoke(cli.build_cli(), ["explain", *args], catch_exceptions=False)


# ---------------------------------------------------------------------------
# the Python function takes shapes


def test_explain_takes_shapes_as_the_call_would_see_them():
    by_shape = tconv.explain((8, 64, 16, 16), (64, 32, 4, 4), stride=2, padding=1)
    by_array = tconv.explain(np.zeros((8, 64, 16, 16), np.float32), np.zeros((64, 32, 4, 4), np.float32),
                             stride=2, padding=1)
    assert by_shape.geometry == by_array.geometry
    assert by_shape.algorithm == by_array.algorithm
    assert by_shape.geometry.result_shape == (8, 32, 32, 32) and by_shape.geometry.dtype == np.float32
    assert [c.name for c in by_shape.candidates] == list(names())


def test_explain_shapes_take_every_hyper_parameter_and_dtype():
    e = tconv.explain([2, 4, 5, 6], [4, 3, 3, 3], stride=(2, 1), padding=((0, 1), (1, 0)), dilation=2,
                      groups=1, output_size=(12, 10), dtype="float64")
    g = e.geometry
    assert g.dtype == np.float64 and g.output_padding == (0, 1) and g.result_shape == (2, 3, 12, 10)
    grouped = tconv.explain((1, 8, 7), (8, 1, 3), groups=8, op="conv_transpose")
    assert grouped.geometry.groups == 8 and grouped.weight_shape == (8, 1, 3)
    forward = tconv.explain((1, 4, 9, 9), (6, 4, 3, 3), op="conv", stride=2, padding="same")
    assert forward.geometry.result_shape == (1, 6, 5, 5) and forward.weight_shape == (6, 4, 3, 3)


def test_explain_shapes_refuse_what_the_call_refuses_with_the_right_name():
    with pytest.raises(ValueError, match="weight must have shape .C_in, C_out // groups, \\*kernel. with C_in = 64"):
        tconv.explain((8, 64, 16, 16), (32, 32, 4, 4))
    with pytest.raises(ValueError, match="output_padding"):
        tconv.explain((1, 2, 4), (2, 2, 3), stride=2, output_padding=2)
    with pytest.raises(TypeError, match="output_padding applies only to op='conv_transpose'"):
        tconv.explain((1, 2, 4), (2, 2, 3), op="conv", output_padding=1)
    with pytest.raises(TypeError, match="dtype"):
        tconv.explain((1, 2, 4), (2, 2, 3), dtype="complex128")
    with pytest.raises(ValueError, match="bias must have shape \\(3,\\)"):
        tconv.explain((1, 2, 4), (2, 3, 3), bias=(2,))


def test_explain_shapes_with_a_bias_and_mixed_operands():
    w = np.ones((2, 3, 3), np.float64)
    e = tconv.explain((1, 2, 4), w, bias=True)
    assert e.geometry.dtype == np.float64 and e.geometry.result_shape == (1, 3, 6)
    assert tconv.explain((1, 2, 4), (2, 3, 3), bias=np.zeros(3)).geometry.result_shape == (1, 3, 6)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64"])
def test_measuring_shapes_times_random_operands_of_that_dtype(dtype, tuning_state):
    pytest.importorskip("ml_dtypes")
    e = tconv.explain((1, 4, 6, 6), (4, 2, 3, 3), stride=2, measure=True, dtype=dtype)
    measured = [c for c in e.candidates if c.measured_s is not None]
    assert measured and all(c.measured_s > 0 for c in measured)
    assert e.reason == "fastest when measured on this machine"


def test_as_dict_is_the_report_as_data():
    e = tconv.explain((1, 4, 8, 8), (4, 2, 2, 2), stride=2)
    d = json.loads(json.dumps(e.as_dict()))
    assert d["algorithm"] == e.algorithm and d["reason"] == e.reason
    assert d["x_shape"] == [1, 4, 8, 8] and d["weight_shape"] == [4, 2, 2, 2] and d["result_shape"] == [1, 2, 16, 16]
    assert d["stride"] == [2, 2] and d["padding"] == [[0, 0], [0, 0]] and d["dtype"] == "float32"
    assert isinstance(d["compiled_kernels"], bool)
    assert [c["name"] for c in d["candidates"]] == list(names())
    for c in d["candidates"]:
        assert c["supported"] == (c["unsupported"] is None)
        assert (c["predicted_s"] is None) == (not c["supported"])


# ---------------------------------------------------------------------------
# the command


def test_explain_prints_what_tconv_explain_prints():
    result = invoke("--x", "8,64,16,16", "--weight", "64,32,4,4", "--stride", "2", "--padding", "1")
    assert result.exit_code == 0, result.output
    want = str(tconv.explain((8, 64, 16, 16), (64, 32, 4, 4), stride=2, padding=1))
    assert result.output.rstrip("\n") == want
    assert "auto runs" in result.output and "compiled kernels:" in result.output
    for name in names():
        assert f"  {name} " in result.output


def test_explain_reads_every_hyper_parameter_with_the_one_grammar():
    result = invoke("--x", "2x4x5x6", "--weight", "4,3,3,3", "--stride", "2,1", "--padding", "(0,1),(1,0)",
                    "--dilation", "2", "--output-size", "12,10", "--dtype", "float64", "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["result_shape"] == [2, 3, 12, 10] and d["padding"] == [[0, 1], [1, 0]] and d["output_padding"] == [0, 1]
    assert d["dtype"] == "float64" and d["dilation"] == [2, 2] and d["stride"] == [2, 1]
    result = invoke("--x", "1,8,7", "--weight", "8,1,3", "--groups", "8", "--output-padding", "0", "--bias", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["groups"] == 8


def test_explain_conv():
    result = invoke("--op", "conv", "--x", "1,4,9,9", "--weight", "6,4,3,3", "--stride", "2", "--padding", "same")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("conv (1, 4, 9, 9) -> (1, 6, 5, 5) float32: auto runs")


def test_explain_reads_npy_files(tmp_path, tuning_state):
    x, w = tmp_path / "x.npy", tmp_path / "w.npy"
    np.save(x, np.random.default_rng(0).standard_normal((2, 4, 6, 6)))  # float64: the files' dtype
    np.save(w, np.random.default_rng(1).standard_normal((4, 2, 3, 3)))
    result = invoke("--x-file", str(x), "--weight-file", str(w), "--stride", "2", "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["x_shape"] == [2, 4, 6, 6] and d["dtype"] == "float64" and d["result_shape"] == [2, 2, 13, 13]
    measured = invoke("--x-file", str(x), "--weight", "4,2,3,3", "--stride", "2", "--measure", "--dtype", "float32",
                      "--json")
    assert measured.exit_code == 0, measured.output
    d = json.loads(measured.output)
    assert d["dtype"] == "float32" and d["reason"] == "fastest when measured on this machine"
    assert any(c["measured_s"] for c in d["candidates"])


@pytest.mark.parametrize("args, message", [
    (["--weight", "4,2,3"], "give the x as exactly one of --x SHAPE or --x-file FILE.npy"),
    (["--x", "1,4,5", "--x-file", __file__, "--weight", "4,2,3"], "exactly one of --x SHAPE or --x-file"),
    (["--x", "1,4,5,5", "--weight", "4,2,3,3", "--stride", "1,2,3"],
     "Invalid value for '--stride': expected an integer or 2 integers, one per dim (e.g. 2 or 2,1), got '1,2,3'"),
    (["--x", "1,4,5", "--weight", "4,2,3", "--padding", "sideways"], "Invalid value for '--padding'"),
    (["--x", "1,4,5", "--weight", "4,2,3", "--groups", "0"], "Invalid value for '--groups'"),
    (["--x-file", __file__, "--weight", "4,2,3"], "Invalid value for '--x-file': cannot read a .npy array"),
])
def test_explain_usage_errors(args, message):
    result = CliRunner().invoke(cli.build_cli(), ["explain", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_explain_call_errors_are_one_line(capsys):
    assert cli.main(["explain", "--x", "8,64,16,16", "--weight", "32,32,4,4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: weight must have shape (C_in, C_out // groups, *kernel) with C_in = 64")
    assert cli.main(["explain", "--op", "conv", "--x", "1,2,5", "--weight", "2,2,3", "--output-padding", "1"]) == 1
    assert "output_padding applies only to op='conv_transpose'" in capsys.readouterr().err


def test_explain_is_listed():
    result = CliRunner().invoke(cli.build_cli(), ["--help"])
    assert "explain" in result.output


def test_reports_say_which_kernels_run(monkeypatch):
    """explain and bench name the kernels in use: numba's version, or why the NumPy paths run."""
    from tconv.algorithms import jit

    shapes = dict(x=(1, 4, 6, 6), weight=(4, 2, 3, 3))
    if jit.available():
        assert f"compiled kernels: on (numba {__import__('numba').__version__})" in str(
            tconv.explain(shapes["x"], shapes["weight"], stride=2))
    monkeypatch.setenv("TCONV_NUMBA", "0")
    jit.reread_environment()
    try:
        assert "compiled kernels: off (TCONV_NUMBA=0: the NumPy paths)" in str(
            tconv.explain(shapes["x"], shapes["weight"], stride=2))
        from tconv import bench

        assert bench.results_document([], {}, {})["kernels"] == "off (TCONV_NUMBA=0: the NumPy paths)"
    finally:
        monkeypatch.delenv("TCONV_NUMBA")
        jit.reread_environment()


# ---------------------------------------------------------------------------
# padding_mode: the report says what the mode does at the border, and it is what the operator does

MODES = ("zeros", "circular", "reflect", "replicate")


def _moves(text: str) -> dict[int, list[tuple[int, int]]]:
    """``dim d: j -> i, ...`` (or ``<-``) of a border description, per dim."""
    out = {}
    for dim, body in re.findall(r"dim (\d+): ([^;]*)", text):
        out[int(dim)] = [(int(j), int(i)) for j, i in re.findall(r"(-?\d+) (?:->|<-) (-?\d+)", body)]
    return out


def _probe_transposed(n: int, lo: int, hi: int, mode: str, j: int) -> np.ndarray:
    """The output of a 1-tap transposed convolution whose only tap lands on padded position ``j`` (from the
    output's first entry): where the operator puts a tap that lands there."""
    e = np.zeros((1, 1, n + lo + hi))
    e[0, 0, j + lo] = 1.0
    return tconv.conv_transpose(e, np.ones((1, 1, 1)), padding=((lo, hi),), padding_mode=mode)[0, 0]


def test_explain_takes_padding_mode_and_reports_it():
    for mode in MODES:
        e = tconv.explain((1, 2, 8, 8), (2, 3, 3, 3), stride=2, padding=1, padding_mode=mode)
        assert e.geometry.boundary == mode
        assert e.geometry.result_shape == tconv.explain((1, 2, 8, 8), (2, 3, 3, 3), stride=2, padding=1).geometry.result_shape
        d = json.loads(json.dumps(e.as_dict()))
        assert d["padding_mode"] == mode and d["boundary"] == e.boundary
        assert e.boundary.startswith(f"padding_mode={mode!r}: ") and f"border: {e.boundary}" in str(e)
    with pytest.raises(ValueError, match="padding_mode"):
        tconv.explain((1, 2, 8), (2, 3, 3), padding=1, padding_mode="wrap")
    with pytest.raises(ValueError, match="padding_mode='reflect' needs padding smaller"):
        tconv.explain((1, 2, 4), (3, 2, 3), op="conv", padding=4, padding_mode="reflect")
    assert "no padding" in tconv.explain((1, 2, 8), (2, 3, 3), padding_mode="circular").boundary
    assert "cropped" in tconv.explain((1, 2, 8), (2, 3, 3), padding=1).boundary
    assert "padded with zeros" in tconv.explain((1, 2, 8), (3, 2, 3), padding=1, op="conv").boundary


def test_the_border_moves_in_the_report_are_what_the_operator_does():
    """Every listed move, read back from the text, checked on the operator: a conv's padded position reads
    the input entry named (and torch.nn.functional.pad agrees); a transposed conv's tap past an edge lands on
    the output entry named."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    checked = configs = 0
    for _ in range(60):
        mode = MODES[1 + rng.integers(3)]
        op = ("conv", "conv_transpose")[rng.integers(2)]
        nd = int(rng.integers(1, 3))
        big = [int(rng.integers(2, 9)) for _ in range(nd)]
        limit = [n - 1 if mode == "reflect" else n for n in big]
        pads = [(int(rng.integers(0, min(m, 4) + 1)), int(rng.integers(0, min(m, 4) + 1))) for m in limit]
        if op == "conv":
            e = tconv.explain((1, 1, *big), (1, 1) + (1,) * nd, op="conv", padding=tuple(pads), padding_mode=mode)
        else:  # a 1-tap kernel: the output is the input cropped by the padding, the big side is `big`
            small = tuple(n + lo + hi for n, (lo, hi) in zip(big, pads))
            e = tconv.explain((1, 1, *small), (1, 1) + (1,) * nd, padding=tuple(pads), padding_mode=mode)
            assert e.geometry.output_shape == tuple(big)
        moves = _moves(e.boundary)
        configs += 1
        for d, (n, (lo, hi)) in enumerate(zip(big, pads)):
            listed = moves.get(d, [])
            assert len(listed) == min(lo, 3) + min(hi, 3), (e.boundary, d)
            if op == "conv":
                padded = tconv.conv(np.arange(float(n))[None, None], np.ones((1, 1, 1)), padding=((lo, hi),),
                                    padding_mode=mode)[0, 0]
                ref = torch.nn.functional.pad(torch.arange(float(n))[None, None], (lo, hi), mode=mode)[0, 0].numpy()
                np.testing.assert_array_equal(padded, ref)
            for j, i in listed:
                assert j < 0 or j >= n
                if op == "conv":
                    assert padded[j + lo] == i, (e.boundary, d, j, i)
                else:
                    want = np.zeros(n)
                    want[i] = 1.0
                    np.testing.assert_array_equal(_probe_transposed(n, lo, hi, mode, j), want)
                checked += 1
    assert configs == 60 and checked >= 150


def test_explain_command_takes_padding_mode():
    args = ["--x", "1,2,8,8", "--weight", "2,3,3,3", "--stride", "2", "--padding", "1"]
    result = invoke(*args, "--padding-mode", "circular")
    assert result.exit_code == 0, result.output
    want = tconv.explain((1, 2, 8, 8), (2, 3, 3, 3), stride=2, padding=1, padding_mode="circular")
    assert result.output.rstrip("\n") == str(want)
    assert "border: padding_mode='circular': the adjoint of a circular-padded convolution" in result.output
    conv = ["--x", "1,2,8,8", "--weight", "3,2,3,3", "--padding", "1", "--op", "conv"]
    d = json.loads(invoke(*conv, "--padding-mode", "replicate", "--json").output)
    assert d["padding_mode"] == "replicate" and "repeating the edge entry" in d["boundary"]
    assert _moves(d["boundary"]) == {0: [(-1, 0), (8, 7)], 1: [(-1, 0), (8, 7)]}
    assert json.loads(invoke(*args, "--json").output)["padding_mode"] == "zeros"  # the default
    bad = CliRunner().invoke(cli.build_cli(), ["explain", *args, "--padding-mode", "wrap"])
    assert bad.exit_code == 2 and "Invalid value for '--padding-mode'" in bad.output
