"""Train the whole model table and write it into BENCHMARKS.md (a benchmark, not a test).

    python -m training.benchmark_models --data ../shared/data/weather.csv.xz --epochs 20 --patience 3

Each row is one ``edgecast train KIND ...`` run in its own process (clean TensorFlow
state; the row's command is exactly what ran). The table lives between
``<!-- model-table:start -->`` and ``<!-- model-table:end -->`` in BENCHMARKS.md and is
rewritten after every model, so a long run shows its progress; other sections of the
file are left alone. Rows of kinds not re-run this time are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from edgecast import atomic

from .models import MODELS

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"
# cheap first, so an interrupted run still has most of the table
ORDER = ["arima", "dense", "conv1d", "simple_rnn", "compact_gru", "compact_lstm", "lstm16",
         "gru_reversed", "bilstm", "lstm32_dropout", "gru_stacked"]
HEADER = ("| model | val MAE | naive val | test MAE | naive test | parameters | epochs (best/run) "
          "| training time | command |\n|---|---|---|---|---|---|---|---|---|")


def _row(kind: str, meta: dict, command: str) -> str:
    epochs = "fit once" if meta.get("epochs_run") is None else f"{meta['best_epoch']}/{meta['epochs_run']}"
    secs = meta["train_seconds"]
    return (f"| {kind} | {meta['val_mae']:.3f} | {meta['naive_val_mae']:.3f} | {meta['test_mae']:.3f} "
            f"| {meta['naive_test_mae']:.3f} | {meta['trainable_parameters']:,} | {epochs} "
            f"| {secs / 60:.1f} min | `{command}` |")


def _section(rows: dict[str, str], note: str) -> str:
    body = "\n".join(rows[k] for k in ORDER if k in rows)
    return f"{START}\n## Model table (reference protocol)\n\n{note}\n\n{HEADER}\n{body}\n{END}"


def _existing_rows(text: str) -> dict[str, str]:
    m = re.search(re.escape(START) + "(.*?)" + re.escape(END), text, re.S)
    rows = {}
    for line in (m.group(1).splitlines() if m else []):
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 2 and cells[1] in ORDER:
            rows[cells[1]] = line
    return rows


def write_table(path: Path, rows: dict[str, str], note: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = _section(rows, note)
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic.write(path, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True, help="Jena file(s), as for edgecast train")
    ap.add_argument("--epochs", type=int, default=None, help="cap on epochs (default: each kind's own)")
    ap.add_argument("--patience", type=int, default=None, help="early-stopping patience (default: each kind's)")
    ap.add_argument("--only", default=None, help="comma-separated kinds (default: all)")
    ap.add_argument("--out-root", default="/tmp/edgecast-model-table", help="model directories go here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--benchmarks", default=str(REPO / "BENCHMARKS.md"))
    args = ap.parse_args(argv)

    kinds = args.only.split(",") if args.only else ORDER
    unknown = [k for k in kinds if k not in ORDER]
    if unknown:
        ap.error(f"unknown kind(s) {unknown}; known: {ORDER}")
    assert set(ORDER) == set(MODELS) | {"arima"}, "ORDER must list every registry kind"
    path = Path(args.benchmarks)
    rows = _existing_rows(path.read_text()) if path.exists() else {}
    cap = f"at most {args.epochs} epochs" if args.epochs else "each kind's default epochs"
    pat = f"patience {args.patience}" if args.patience else "each kind's patience"
    note = (f"Measured by `python -m training.benchmark_models` on {platform.node() or 'this machine'} "
            f"({os.cpu_count()} CPU cores, shared, no GPU), {time.strftime('%Y-%m-%d')}, data "
            f"{', '.join(args.data)}; {cap}, early stopping ({pat}) on validation loss, best "
            "validation epoch kept. MAE in °C on the reference protocol (DESIGN.md); naive = "
            "temperature now. Parameters = trainable parameters. Training time includes the "
            "per-epoch validation pass (ARIMA: fit + filtering through every window); "
            f"load average at the start {os.getloadavg()[0]:.1f} (other jobs share the cores, so "
            "times are an upper bound).")
    failures = []
    for kind in kinds:
        out = Path(args.out_root) / kind
        cmd = ["edgecast", "train", kind, *[a for d in args.data for a in ("--data", d)],
               "--out", str(out), "--seed", str(args.seed)]
        if kind != "arima":
            cmd += (["--epochs", str(args.epochs)] if args.epochs else []) + \
                   (["--patience", str(args.patience)] if args.patience else [])
        command = shlex.join(cmd)
        print(f"=== {kind}: {command}", flush=True)
        exe = Path(sys.executable).parent / "edgecast"
        proc = subprocess.run([str(exe) if exe.exists() else "edgecast", *cmd[1:]])
        if proc.returncode != 0:
            failures.append(kind)
            print(f"=== {kind} FAILED (exit {proc.returncode})", flush=True)
            continue
        meta = json.loads((out / "metadata.json").read_text())
        rows[kind] = _row(kind, meta, command)
        write_table(path, rows, note)
        print(f"=== {kind} done: {rows[kind]}", flush=True)
    if failures:
        print(f"failed: {failures}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
