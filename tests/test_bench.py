"""The benchmark driver runs end to end on a tiny suite (timings are printed, never asserted)."""

from __future__ import annotations

import io
import json

from tconv import bench
from tconv.cli import main

TINY = {"shapes": [
    {"name": "tiny2d", "source": "test", "N": 2, "C_in": 4, "C_out": 6, "input": [5, 5], "kernel": [4, 4],
     "stride": 2, "padding": 1, "output_padding": 0, "dilation": 1, "groups": 1},
    {"name": "tinydw", "source": "test", "N": 1, "C_in": 4, "C_out": 4, "input": [7], "kernel": [3],
     "stride": 2, "padding": 1, "output_padding": 1, "dilation": 1, "groups": 4},
]}


def test_bench_runs_a_tiny_suite(tmp_path):
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps(TINY))
    out = io.StringIO()
    rows = bench.run(suite=str(suite), repeats=1, pause=0.0, dtypes=("float32",), out=str(tmp_path / "r"),
                     stream=out)
    text = out.getvalue()
    assert len(rows) == 2 * 4  # 2 layers x (conv_transpose, conv and their backward passes)
    assert "| tiny2d | conv_transpose | float32 |" in text and "geomean" in text
    assert all(r.ms["tconv"] > 0 and r.auto for r in rows)
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["rows"][0]["layer"] == "tiny2d" and saved["gemm_peak_gflops"]["float32"] > 0
    assert saved["memory_bandwidth_gbs"] > 0 and "memory bandwidth" in text and "% roofline" in text
    forward = [r for r in rows if r.op in ("conv_transpose", "conv")]
    assert forward and all(r.roofline_ms > 0 and r.roofline_percent() > 0 for r in forward)
    peak = saved["gemm_peak_gflops"]["float32"]
    for r in forward:  # at least the FLOP bound, and at least the bytes' bound
        macs = bench.useful_macs(next(s for s in TINY["shapes"] if s["name"] == r.layer))
        assert r.roofline_ms >= bench.roofline_ms(macs, 0, peak, 1.0) * (1 - 1e-12)
        assert r.roofline_ms >= bench.roofline_ms(0, r.io_bytes, peak, saved["memory_bandwidth_gbs"]) * (1 - 1e-12)


def test_useful_macs_counts_only_products_inside_the_crop():
    layer = dict(TINY["shapes"][0], N=1, C_in=1, C_out=1, input=[2], kernel=[3], stride=1, padding=1)
    # 1-d: i in {0,1}, t in {0,1,2}, o = i + t - 1 in [0, 2): pairs (0,1),(0,2),(1,0),(1,1)
    assert bench.useful_macs(layer) == 4


def test_cli_bench_help(capsys):
    try:
        main(["bench", "--help"])
    except SystemExit as stop:
        assert stop.code == 0
    assert "--quick" in capsys.readouterr().out


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, so tqdm draws its bar there."""

    def isatty(self) -> bool:
        return True


def test_bench_shows_a_progress_bar_on_a_terminal_and_none_elsewhere(tmp_path, monkeypatch):
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps(TINY))
    terminal, out = _Terminal(), io.StringIO()
    monkeypatch.setattr("sys.stderr", terminal)
    bench.run(suite=str(suite), repeats=1, pause=0.0, dtypes=("float32",), ops=("conv_transpose",), stream=out)
    bar = terminal.getvalue()
    assert "bench:" in bar and "/2 [" in bar and "tinydw conv_transpose float32" in bar  # the bar, live
    lines = [line for line in out.getvalue().splitlines() if line.startswith("[")]
    assert [line.split()[0] for line in lines] == ["[1/2]", "[2/2]"]  # the record: one line per row
    assert "\r" not in out.getvalue()  # the bar never goes into the record

    plain = io.StringIO()
    monkeypatch.setattr("sys.stderr", plain)
    bench.run(suite=str(suite), repeats=1, pause=0.0, dtypes=("float32",), ops=("conv_transpose",),
              stream=io.StringIO())
    assert plain.getvalue() == ""  # not a terminal: no bar
