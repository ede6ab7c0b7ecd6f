"""Train the whole model table on one protocol and write it into BENCHMARKS.md (a benchmark, not a test).

    python -m training.scripts.benchmark_models --protocol seed \\
        --data ../shared/data/jena_climate_2009_2016_hourly.csv.xz --epochs 20 --patience 3
    python -m training.scripts.benchmark_models --protocol years --data FILE --data FILE ... --train-stride 2
    python -m training.scripts.benchmark_models --data ../shared/data/weather.csv.xz   # reference (default)

Each row is one ``edgecast train KIND --protocol P ...`` run in its own process (clean
TensorFlow state; the row's command is exactly what ran); the ``naive`` row is
``edgecast evaluate naive --protocol P ... --json``. Every protocol has its own table
between ``<!-- model-table:P:start -->`` and ``<!-- model-table:P:end -->`` in
BENCHMARKS.md, rewritten after every model, so a long run shows its progress; other
sections are left alone, and rows of kinds not re-run this time are kept.
``--train-stride N`` fits the Keras kinds on every N-th train window (recorded in the
command): the years train part has ~82k windows, too many for the slow book RNNs here.
ARIMA runs on row protocols only (its filter needs a gap-free series): skipped on years.
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

from training.kinds import KINDS

REPO = Path(__file__).resolve().parents[2]  # training/scripts/ -> the checkout
PROTOCOLS = ("reference", "seed", "years")
# Every kind of training.kinds, in its order (naive, the peers, ARIMA, the Keras recipes),
# except that the slow book RNNs go last, so an interrupted run still has most of the table.
_SLOW = ["lstm16", "gru_reversed", "bilstm", "lstm32_dropout", "gru_stacked"]
ORDER = [*[k for k in KINDS if k not in _SLOW], *_SLOW]
TITLES = {"reference": "Model table (reference protocol)",
          "seed": "Model table (seed protocol: the 2009–2016 hourly copy, 50/25/25 % by rows)",
          "years": "Model table (years protocol: train before 2021, validate 2021, test 2022)"}
# Chollet, Deep Learning with Python (2nd ed.), ch. 10: test MAE on the Keras file (10-minute
# rows, all 14 channels); the book's figures are rounded as printed there.
BOOK_ROWS = [("naive", "2.44", "2.62"), ("lstm32_dropout", "", "~2.45"), ("gru_stacked", "", "~2.39")]
QUARTERS = ("Q1", "Q2", "Q3", "Q4")


def markers(protocol: str) -> tuple[str, str]:
    return f"<!-- model-table:{protocol}:start -->", f"<!-- model-table:{protocol}:end -->"


def _header(protocol: str) -> str:
    quarters = [f"2022 {q} test" for q in QUARTERS] if protocol == "years" else []
    cols = ["model", "val MAE", "naive val", "test MAE", "naive test", *quarters, "parameters",
            "epochs (best/run)", "training time", "command"]
    return "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)


def _change(mae: float, naive: float) -> str:
    return f"{100 * (mae / naive - 1):+.1f} %"


def _epochs(meta: dict) -> str:
    if meta.get("epochs_run") is None:
        return meta.get("fit", "fit once")
    best, run = meta["best_epoch"], meta["epochs_run"]
    text = f"{len(best)} members, best {best} of {run}" if isinstance(best, list) else f"{best}/{run}"
    stride = meta.get("hyperparameters", {}).get("train_stride", 1)
    return text + (f", 1 in {stride} train windows" if stride > 1 else "")


def row(kind: str, meta: dict, command: str, protocol: str) -> str:
    """One table row from a model's metadata (or the naive figures: ``meta`` of evaluate naive)."""
    cells = [kind, f"{meta['val_mae']:.3f}", f"{meta['naive_val_mae']:.3f}",
             f"{meta['test_mae']:.3f} ({_change(meta['test_mae'], meta['naive_test_mae'])})",
             f"{meta['naive_test_mae']:.3f}"]
    if protocol == "years":
        by_quarter = meta["test_by_quarter"]
        for q in QUARTERS:
            r = next(v for k, v in by_quarter.items() if k.endswith(q))
            cells.append(f"{r['mae']:.3f} ({_change(r['mae'], r['naive_mae'])})")
    if not KINDS[kind].trainable:  # naive: nothing fitted, no parameters
        cells += ["0", "—", "—"]
    else:
        unit = meta.get("parameters_unit")
        cells += [f"{meta['trainable_parameters']:,}" + (f" {unit}" if unit else ""), _epochs(meta),
                  f"{meta['train_seconds'] / 60:.1f} min"]
    return "| " + " | ".join(cells + [f"`{command}`"]) + " |"


def _book_rows(protocol: str) -> list[str]:
    if protocol != "seed":
        return []
    blanks = ["—"] * 3
    return [f"| book, published: {kind} | {val or '—'} | 2.44 | {test} | 2.62 | " + " | ".join(blanks)
            + " | Chollet, *Deep Learning with Python* 2nd ed., ch. 10: 10-minute Keras file, 14 channels |"
            for kind, val, test in BOOK_ROWS]


def section(protocol: str, rows: dict[str, str], note: str) -> str:
    start, end = markers(protocol)
    body = [rows[k] for k in ORDER[:1] if k in rows] + _book_rows(protocol) + \
           [rows[k] for k in ORDER[1:] if k in rows] + [r for k, r in rows.items() if k not in ORDER]
    return f"{start}\n## {TITLES[protocol]}\n\n{note}\n\n{_header(protocol)}\n" + "\n".join(body) + f"\n{end}"


def existing_rows(text: str, protocol: str) -> dict[str, str]:
    start, end = markers(protocol)
    m = re.search(re.escape(start) + "(.*?)" + re.escape(end), text, re.S)
    rows = {}  # kind -> row; rows of kinds no longer in the registry are kept too
    for line in (m.group(1).splitlines() if m else []):
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 2 and cells[1] not in ("model", "") and not cells[1].startswith(("---", "book, published")):
            rows[cells[1]] = line
    return rows


def write_table(path: Path, protocol: str, rows: dict[str, str], note: str) -> None:
    """Replace ``protocol``'s section of ``path`` (append it if absent); atomic."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = markers(protocol)
    new = section(protocol, rows, note)
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: new, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    atomic.write(path, text)


def _note(args) -> str:
    cap = f"at most {args.epochs} epochs" if args.epochs else "each kind's default epochs"
    pat = f"patience {args.patience}" if args.patience else "each kind's patience"
    note = (f"Measured by `python -m training.scripts.benchmark_models --protocol {args.protocol}` on "
            f"{platform.node() or 'this machine'} ({os.cpu_count()} CPU cores, shared, no GPU), "
            f"{time.strftime('%Y-%m-%d')}, data {', '.join(args.data)}; {cap}, early stopping ({pat}) on "
            "validation, best validation epoch kept; a row whose command has `--train-stride N` was fitted on "
            f"1 in N train windows (neighbours an hour apart are near-copies). One seed ({args.seed}). MAE in °C "
            "against the raw target; naive = temperature now, on the model's own windows; \"+x %\" = the "
            "MAE's change against that naive (negative = better). Parameters: trainable parameters "
            "(ridge: coefficients, LightGBM: leaves of its trees). Training time includes the per-epoch "
            "validation pass; "
            f"load average at the start {os.getloadavg()[0]:.1f} (other jobs share the cores, so times "
            "are an upper bound). Rows of kinds not re-run keep their earlier figures and command.")
    if args.protocol == "years":
        note += (" The naive row reads temperature only; a model reading more channels is scored on the "
                 "windows where all of them are complete (its own naive columns). Quarters: of the 2022 "
                 "target time. ARIMA is not run on years: its Kalman filter needs a gap-free series.")
    if args.protocol == "seed":
        note += (" The book's models read 14 channels of the 10-minute file; here they read the 12 every "
                 "file supplies (`training.models.BOOK_CHANNELS`: no wind direction, no gusts).")
    return note


def _command(kind: str, args) -> list[str]:
    data = [a for d in args.data for a in ("--data", d)]
    if not KINDS[kind].trainable:  # naive
        return ["edgecast", "evaluate", kind, *data, "--protocol", args.protocol, "--json"]
    cmd = ["edgecast", "train", kind, *data, "--protocol", args.protocol,
           "--out", str(Path(args.out_root) / args.protocol / kind), "--seed", str(args.seed)]
    for option in KINDS[kind].family.options:  # the Keras kinds': epochs, patience, train_stride
        if getattr(args, option):
            cmd += ["--" + option.replace("_", "-"), str(getattr(args, option))]
    return cmd


def _run(kind: str, cmd: list[str], args) -> dict | None:
    exe = Path(sys.executable).parent / "edgecast"
    argv = [str(exe) if exe.exists() else "edgecast", *cmd[1:]]
    if not KINDS[kind].trainable:  # naive: its figures are evaluate's --json line
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
        return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    proc = subprocess.run(argv)
    out = Path(args.out_root) / args.protocol / kind
    return json.loads((out / "metadata.json").read_text()) if proc.returncode == 0 else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True, help="Jena file(s), as for edgecast train")
    ap.add_argument("--protocol", choices=PROTOCOLS, default="reference", help="the protocol (default: reference)")
    ap.add_argument("--epochs", type=int, default=None, help="cap on epochs (default: each kind's own)")
    ap.add_argument("--patience", type=int, default=None, help="early-stopping patience (default: each kind's)")
    ap.add_argument("--train-stride", type=int, default=None,
                    help="Keras kinds fit on every N-th train window (default: each kind's own)")
    ap.add_argument("--only", default=None, help=f"comma-separated kinds, run in this order (default: {ORDER})")
    ap.add_argument("--out-root", default="/tmp/edgecast-model-table", help="model directories go here, per protocol")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--benchmarks", default=str(REPO / "BENCHMARKS.md"))
    args = ap.parse_args(argv)

    kinds = args.only.split(",") if args.only else ORDER
    unknown = [k for k in kinds if k not in ORDER]
    if unknown:
        ap.error(f"unknown kind(s) {unknown}; known: {ORDER}")
    for kind in [k for k in kinds if not KINDS[k].runs_on(args.protocol)]:
        print(f"=== {kind}: skipped, it runs on the {', '.join(KINDS[kind].family.protocols)} protocols only")
    kinds = [k for k in kinds if KINDS[k].runs_on(args.protocol)]
    path = Path(args.benchmarks)
    rows = existing_rows(path.read_text(), args.protocol) if path.exists() else {}
    note = _note(args)
    failures = []
    for kind in kinds:
        cmd = _command(kind, args)
        command = shlex.join(cmd)
        print(f"=== {kind}: {command}", flush=True)
        meta = _run(kind, cmd, args)
        if meta is None:
            failures.append(kind)
            print(f"=== {kind} FAILED", flush=True)
            continue
        rows[kind] = row(kind, meta, command, args.protocol)
        write_table(path, args.protocol, rows, note)
        print(f"=== {kind} done: {rows[kind]}", flush=True)
    if failures:
        print(f"failed: {failures}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
