"""The ``tconv`` command line: one grammar for hyper-parameter values, and every sub-command still reading
the forms it read before (driven through click's CliRunner; the drawing and timing work is stubbed where
it is not what is tested)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tconv import cli
from tconv.cli_values import parse_hyper


def invoke(*args: str):
    return CliRunner().invoke(cli.build_cli(), list(args), catch_exceptions=False)


# ---------------------------------------------------------------------------
# the grammar


@pytest.mark.parametrize("text, kind, want", [
    # the drawing commands' old forms: an int, per-dim values, 4 ints as before/after per dim, same/valid
    ("2", "per_dim", 2),
    ("1,2", "per_dim", (1, 2)),
    ("1 2", "per_dim", (1, 2)),
    (" 1, 2 ", "per_dim", (1, 2)),
    ("2,", "per_dim", 2),
    ("0", "padding", 0),
    ("1,0", "padding", (1, 0)),
    ("0,1,1,0", "padding", ((0, 1), (1, 0))),
    ("0 1 1 0", "padding", ((0, 1), (1, 0))),
    ("same", "padding", "same"),
    ("SAME", "padding", "same"),
    ("valid", "padding", "valid"),
    # what the shape command read (Python literals, bare words), now for every flag too
    ("(0,1),(1,0)", "padding", ((0, 1), (1, 0))),
    ("((0, 1), (1, 0))", "padding", ((0, 1), (1, 0))),
    ("[[0,1],[1,0]]", "padding", ((0, 1), (1, 0))),
    ("(1,2)", "per_dim", (1, 2)),
    ("1x2", "per_dim", (1, 2)),
    # sizes: 5,5 or 5x5 (the shape command's INPUT)
    ("5,5", "size", (5, 5)),
    ("5x5", "size", (5, 5)),
    ("16X16", "size", (16, 16)),
    ("5", "size", (5,)),
    ("4,5,6", "size", (4, 5, 6)),
    ("(5, 5)", "size", (5, 5)),
    # a framework's own words, kept as Python's literal_eval would read them
    ("3", "value", 3),
    ("-1", "value", -1),
    ("2,2", "value", (2, 2)),
    ("2,", "value", (2,)),
    ("(2)", "value", 2),
    ("(0,1),(1,0)", "value", ((0, 1), (1, 0))),
    ("0,1,1,0", "value", (0, 1, 1, 0)),
    ("[0,1,1,0]", "value", [0, 1, 1, 0]),
    ("[[0,0],[1,1],[1,1],[0,0]]", "value", [[0, 0], [1, 1], [1, 1], [0, 0]]),
    ("[(1,1),(1,1)]", "value", [(1, 1), (1, 1)]),
    ("same", "value", "same"),
    ("SAME_UPPER", "value", "SAME_UPPER"),
    ("'SAME'", "value", "SAME"),
    ('"valid"', "value", "valid"),
    ("None", "value", None),
    ("True", "value", True),
    ("False", "value", False),
    # plain integers
    ("3", "int", 3),
    ("+3", "int", 3),
])
def test_the_grammar_reads_every_old_form(text, kind, want):
    got = parse_hyper(text, kind)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("text, kind", [
    ("1,2,3", "per_dim"), ("1,a", "per_dim"), ("same", "per_dim"), ("1.5", "per_dim"), ("", "per_dim"),
    ("1,2,3", "padding"), ("(0,1,2),(1,0)", "padding"), ("sometimes", "padding"), ("(0,1),2", "padding"),
    ("5;5", "size"), ("(1,2),(3,4)", "size"), ("same", "size"),
    ("", "value"), ("1,,2", "value"), (",1", "value"), ("(1,2", "value"), ("1,2)", "value"), ("(1]", "value"),
    ("()", "value"), ("1;2", "value"), ("3.0", "value"), ("same,1", "value"),
    ("2,2", "int"), ("x", "int"),
])
def test_a_bad_value_names_the_value_and_the_expectation(text, kind):
    with pytest.raises(ValueError) as info:
        parse_hyper(text, kind)
    message = str(info.value)
    assert message.startswith("expected ") and message.endswith(f", got {text!r}")


def test_ranges_and_kinds():
    assert parse_hyper("64", "int", minimum=1, maximum=64) == 64
    with pytest.raises(ValueError, match=r"^expected an integer from 1 to 64, got '65'$"):
        parse_hyper("65", "int", minimum=1, maximum=64)
    with pytest.raises(ValueError, match=r"^expected an integer >= 1, got '0'$"):
        parse_hyper("0", "int", minimum=1)
    assert parse_hyper("1,2,3", "per_dim", ndim=3) == (1, 2, 3)
    assert parse_hyper("0,1,2,3,4,5", "padding", ndim=3) == ((0, 1), (2, 3), (4, 5))
    with pytest.raises(ValueError, match="kind must be one of"):
        parse_hyper("1", "stride")


# ---------------------------------------------------------------------------
# one error format on the command line: the flag, the value, the expectation


@pytest.mark.parametrize("args, flag, bad", [
    (["draw", "--stride", "1,2,3"], "'--stride'", "1,2,3"),
    (["draw", "--padding", "1,2,3"], "'--padding'", "1,2,3"),
    (["animate", "--dilation", "a"], "'--dilation'", "a"),
    (["animate", "--output-padding", "1 2 3"], "'--output-padding'", "1 2 3"),
    (["overlap", "0", "2"], "'KERNEL_SIZE'", "0"),
    (["overlap", "3", "2", "--input-size", "3,3"], "'--input-size'", "3,3"),
    (["upsample", "a.png", "b.png", "--scale", "2x"], "'--scale'", "2x"),
    (["shape", "keras", "5;5", "kernel_size=3"], "'INPUT'", "5;5"),
    (["shape", "onnx", "5,5", "kernel_shape=3", "pads=1;2"], "'pads'", "1;2"),
])
def test_bad_values_are_reported_in_one_format(args, flag, bad):
    result = CliRunner().invoke(cli.build_cli(), args)
    assert result.exit_code == 2
    assert f"Error: Invalid value for {flag}: expected " in result.output
    assert f", got {bad!r}" in result.output


# ---------------------------------------------------------------------------
# every sub-command still reads its old examples


@pytest.fixture
def drawn(monkeypatch):
    """render.draw / render.animate replaced by recorders (no matplotlib needed)."""
    from tconv.viz import render

    calls = []
    monkeypatch.setattr(render, "draw", lambda *a, **kw: calls.append(kw))
    monkeypatch.setattr(render, "animate", lambda *a, **kw: calls.append(kw) or b"GIF89a")
    return calls


@pytest.mark.parametrize("flags, want", [
    ([], dict(stride=1, padding=0, dilation=1, output_padding=0)),
    (["--stride", "2"], dict(stride=2)),
    (["--stride", "2,1", "--dilation", "1,2"], dict(stride=(2, 1), dilation=(1, 2))),
    (["--padding", "1", "--stride", "2", "--output-padding", "1"], dict(padding=1, output_padding=1)),
    (["--padding", "0,1"], dict(padding=(0, 1))),
    (["--padding", "0,1,1,0"], dict(padding=((0, 1), (1, 0)))),
    (["--padding", "(0,1),(1,0)"], dict(padding=((0, 1), (1, 0)))),
    (["--padding", "same", "--stride", "2"], dict(padding="same", stride=2)),
])
@pytest.mark.parametrize("name", ["draw", "animate"])
def test_draw_and_animate_read_their_hyper_parameters(drawn, tmp_path, name, flags, want):
    result = invoke(name, *flags, "-o", str(tmp_path / ("f.svg" if name == "draw" else "f.gif")))
    assert result.exit_code == 0, result.output
    assert {k: drawn[-1][k] for k in want} == want


def test_draw_prints_the_output(drawn, tmp_path):
    result = invoke("draw", "--x", "1,2,3", "--kernel", "1;1", "--padding", "0,1", "-o", str(tmp_path / "d.svg"))
    assert result.exit_code == 0 and "output = [[2], [2]]" in result.output


def test_overlap_reads_its_integers():
    result = invoke("overlap", "3", "2", "--input-size", "3")
    assert result.exit_code == 0 and "[1, 1, 2, 1, 2, 1, 1]" in result.output and "2:1" in result.output
    result = invoke("overlap", "2", "2", "--dilation", "2")
    assert result.exit_code == 0 and "dilation 2" in result.output


def test_upsample_reads_its_scale(monkeypatch):
    from tconv.viz import upsample

    seen = []
    monkeypatch.setattr(upsample, "upsample_file", lambda src, dst, scale: seen.append(scale) or ((4, 3), (12, 9)))
    result = invoke("upsample", "in.png", "out.png", "--scale", "3")
    assert result.exit_code == 0 and seen == [3] and "(scale 3)" in result.output


@pytest.mark.parametrize("args, expect", [
    (["keras", "5,5", "kernel_size=3", "strides=2", "padding=same"], "output (10, 10)"),
    (["pytorch", "16x16", "kernel_size=5", "stride=3", "padding=2", "--to", "mxnet"], "pad=(2, 2), adj=(0, 0)"),
    (["onnx", "5,5", "kernel_shape=3,3", "strides=2,2", "pads=[1,1,1,1]", "--to", "tconv"],
     "pads=[1, 1, 1, 1] on input (5, 5): output (9, 9)"),
    (["tensorflow", "5,5", "kernel_size=3", "strides=2", "padding=[[0,0],[1,1],[1,1],[0,0]]", "output_shape=10,10",
      "--to", "pytorch"], "output (10, 10)"),
    (["jax", "5", "kernel_size=3", "strides=2", "padding=SAME", "use_consistent_padding=True", "--to", "tconv"],
     "output (10,)"),
    (["tconv", "4", "kernel_size=3", "stride=2", "padding=(0,1),", "--to", "onnx"], "pads=(0, 1)"),
    (["mxnet", "4", "kernel=3", "stride=2", "pad=1", "adj=1", "--to", "keras"], "output (8,)"),
])
def test_shape_reads_each_frameworks_words(args, expect):
    result = invoke("shape", *args)
    assert result.exit_code == 0, result.output
    assert expect in result.output


def test_tour_reads_its_options():
    result = invoke("tour", "--text", "--seed", "3")
    assert result.exit_code == 0 and "tconv tour:" in result.output


def test_bench_reads_its_options(monkeypatch):
    import tconv.bench

    seen = {}
    monkeypatch.setattr(tconv.bench, "run", lambda **kw: seen.update(kw))
    result = invoke("bench", "--quick", "--ops", "conv_transpose,conv", "--dtypes", "float32", "--layers", "dcgan_1",
                    "--repeats", "2", "--pause", "0", "--auto-only")
    assert result.exit_code == 0, result.output
    assert seen["ops"] == ["conv_transpose", "conv"] and seen["dtypes"] == ("float32",)
    assert seen["layers"] == ["dcgan_1"] and seen["repeats"] == 2 and seen["every_algorithm"] is False


def test_bench_json_prints_the_results_as_json(tmp_path):
    import json

    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"shapes": [
        {"name": "tiny", "source": "test", "N": 1, "C_in": 2, "C_out": 3, "input": [4, 4], "kernel": [3, 3],
         "stride": 2, "padding": 1, "output_padding": 0, "dilation": 1, "groups": 1}]}))
    result = CliRunner().invoke(
        cli.build_cli(), ["bench", "--json", "--suite", str(suite), "--ops", "conv_transpose", "--dtypes", "float32",
                          "--repeats", "1", "--pause", "0", "--auto-only"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # only the JSON on stdout
    assert document["gemm_peak_gflops"]["float32"] > 0 and document["machine"]
    (row,) = document["rows"]
    assert row["layer"] == "tiny" and row["op"] == "conv_transpose" and row["ms"]["tconv"] > 0
    assert "GEMM peak" in result.stderr  # the progress and the table


def test_explain_is_a_sub_command():
    result = invoke("--help")
    assert "explain" in result.output
