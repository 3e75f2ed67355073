"""Several saved ``tconv bench --out`` runs as one table: per row, the median over the runs of each
contender's ms and of the ratios (each ratio taken within its own run, where the contenders were
interleaved), with the runs' spread; then the geomeans per operation.

On a noisy host one run's ratio for a layer can be off by 2x (a neighbour's load lands on one contender's
repeats); the median of three runs' ratios is steadier.  Timings only; nothing here is asserted.
``--exclude FILE=LAYER,...`` leaves those layers' rows of that run out (measured before a change to them);
a row is merged over the runs that have it.

    python bench/merge_runs.py bench/results-a.json bench/results-b.json bench/results-c.json
    python bench/merge_runs.py old.json new.json --exclude old.json=depthwise
"""

from __future__ import annotations

import argparse
import json
import math
import statistics


def _ratio(row: dict, other: str) -> float | None:
    ms = row["ms"]
    return ms[other] / ms["tconv"] if ms.get(other) and ms.get("tconv") else None


def merge(runs: list[dict]) -> list[dict]:
    """One merged row per (layer, op, dtype), over the runs that have it."""
    keyed = [{(r["layer"], r["op"], r["dtype"]): r for r in run["rows"]} for run in runs]
    merged = []
    for key in dict.fromkeys(k for run in keyed for k in run):
        rows = [k[key] for k in keyed if key in k]
        entry = {"runs": len(rows), "layer": key[0], "op": key[1], "dtype": key[2], "auto": rows[0].get("auto")}
        for name in ("tconv", "torch", "ort"):
            values = [r["ms"].get(name) for r in rows if r["ms"].get(name)]
            entry[f"{name} ms"] = statistics.median(values) if values else None
        for name in ("torch", "ort"):
            ratios = [x for x in (_ratio(r, name) for r in rows) if x is not None]
            entry[f"vs {name}"] = statistics.median(ratios) if ratios else None
            entry[f"vs {name} range"] = (min(ratios), max(ratios)) if ratios else None
        merged.append(entry)
    return merged


def _cell(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--exclude", action="append", default=[], metavar="FILE=LAYER,...",
                        help="leave these layers' rows of that run out")
    args = parser.parse_args(argv)
    runs = [json.load(open(path, encoding="utf-8")) for path in args.runs]
    for spec in args.exclude:
        path, _, layers = spec.partition("=")
        run = runs[args.runs.index(path)]
        run["rows"] = [r for r in run["rows"] if r["layer"] not in layers.split(",")]
    rows = merge(runs)
    fewer = sorted({f"{r['layer']} ({r['runs']})" for r in rows if r["runs"] < len(runs)})
    print(f"median over {len(runs)} runs (ratio range over the runs in brackets)"
          + (f"; rows over fewer runs: {', '.join(fewer)}" if fewer else "") + "\n")
    print("| layer | op | auto | tconv ms | torch ms | ort ms | vs torch | vs ORT |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        spread = {n: r[f"vs {n} range"] for n in ("torch", "ort")}
        cells = [f"{_cell(r[f'vs {n}'])} ({_cell(spread[n][0])}-{_cell(spread[n][1])})" if spread[n] else "-"
                 for n in ("torch", "ort")]
        print(f"| {r['layer']} | {r['op']} | {r['auto'] or '-'} | {_cell(r['tconv ms'])} | {_cell(r['torch ms'])} | "
              f"{_cell(r['ort ms'])} | {cells[0]} | {cells[1]} |")
    print()
    for op in dict.fromkeys(r["op"] for r in rows):
        for name in ("torch", "ort"):
            values = [r[f"vs {name}"] for r in rows if r["op"] == op and r[f"vs {name}"]]
            if values:
                worst = min((r for r in rows if r["op"] == op and r[f"vs {name}"]), key=lambda r: r[f"vs {name}"])
                geo = math.exp(sum(math.log(v) for v in values) / len(values))
                print(f"{op}: geomean vs {name} {geo:.2f}x over {len(values)} layers "
                      f"(worst {worst['layer']} {worst[f'vs {name}']:.2f}x)")


if __name__ == "__main__":
    main()
