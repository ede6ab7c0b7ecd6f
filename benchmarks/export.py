"""Benchmark: graph form × quantisation of the compact models -> BENCHMARKS.md.

    python -m benchmarks.export --model runs/compact_lstm --model runs/compact_gru

For every variant it exports a bundle (which measures parity and test MAE through the
device runtime), then measures the file size, the peak RSS of a fresh process that loads
the bundle and forecasts once (median of --repeats processes), and the median latency of
one forecast (median over --repeats rounds of 200 invokes). Ratios are against the
rolled float32 loop measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgecast.forecaster import load_forecaster
from edgecast.measure import latency_ms, peak_rss
from training.export import ExportError, export

VARIANTS = [(form, q) for form in ("loop", "unrolled", "fused") for q in ("none", "float16", "dynamic", "int8")]
START, END = "<!-- export-table:start -->", "<!-- export-table:end -->"


def measure(bundle: Path, repeats: int) -> dict:
    forecaster = load_forecaster(bundle)
    lat = [latency_ms(forecaster.runner)["median_ms"] for _ in range(repeats)]
    rss = [peak_rss(bundle)["peak_rss_bytes"] for _ in range(repeats)]
    return {"size": bundle.stat().st_size, "latency_ms": float(np.median(lat)), "rss": float(np.median(rss)),
            "test_mae": forecaster.bundle.meta["metrics"]["test_mae"],
            "val_mae": forecaster.bundle.meta["metrics"]["val_mae"],
            "parity": forecaster.bundle.meta["parity"]["max_abs_c"], "runtime": forecaster.identity["runtime"]}


def table(model_dir: Path, out_dir: Path, repeats: int) -> list[str]:
    rows, base = [], None
    for form, q in VARIANTS:
        bundle = out_dir / f"{model_dir.name}_{form}_{q}.tflite"
        try:
            export(model_dir, bundle, graph_form=form, quantize=q, log=lambda m: print("   ", m, file=sys.stderr))
        except ExportError as exc:
            rows.append(f"| {form} | {q} | — | — | — | — | — | not offered: {exc} |")
            continue
        m = measure(bundle, repeats)
        base = base or m
        rows.append(f"| {form} | {q} | {m['size'] / 1024:.1f} KiB ({m['size'] / base['size']:.2f}×) "
                    f"| {m['rss'] / 2**20:.1f} MiB "
                    f"| {m['latency_ms']:.3f} ms ({m['latency_ms'] / base['latency_ms']:.2f}×) "
                    f"| {m['val_mae']:.3f} | {m['test_mae']:.3f} | max Δ {m['parity']:.4f} °C |")
        print(rows[-1], file=sys.stderr, flush=True)
    header = [f"#### {model_dir.name} (runtime {base['runtime'] if base else '?'})", "",
              "| graph form | quantisation | file size (vs loop/none) | peak RSS | median forecast (vs loop/none) "
              "| val MAE °C | test MAE °C | parity vs Keras |",
              "|---|---|---|---|---|---|---|---|"]
    return header + rows + [""]


def write_section(path: Path, lines: list[str]) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{START}\n" + "\n".join(lines) + f"\n{END}"
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S) \
        if START in text else text.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, type=Path, help="model dir from edgecast train")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lines = ["## Export variants: the unroll trade-off, measured", "",
                 f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
                 f"Medians of {args.repeats} runs; ratios against the rolled float32 loop of the same run.", "",
                 "    " + shlex.join(["python", "-m", "benchmarks.export", *sys.argv[1:]]), ""]
        for model_dir in args.model:
            lines += table(model_dir, Path(tmp), args.repeats)
        write_section(args.out, lines)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
