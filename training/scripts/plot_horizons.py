"""The next day hour by hour: MAE against horizon, a curve model beside the
two naive curves.

    python -m training.scripts.plot_horizons --data-dir ../shared/data [--out docs/naive_by_horizon.png]
    python -m training.scripts.plot_horizons --model runs/years/compact_lstm_curve \
        --model runs/seed/compact_lstm_curve --out docs/curve_by_horizon.png
    python -m training.scripts.plot_horizons --bundle runs/years/compact_lstm_with_curve.tflite \
        --bundle runs/seed/compact_lstm_with_curve.tflite --out docs/curve_by_horizon.png

For the `seed` test part (the 2009–2016 hourly copy) and the `years` test year (2022,
all five files): the MAE at +1 … +24 h of persistence (the temperature now) and of the
same hour yesterday — the bar a curve model has to clear at every horizon — and, with
``--model``, the curve model's own (from its metadata: `edgecast train` scored it on the
same windows), or with ``--bundle`` a curve bundle's (`edgecast export --curve` scored it
through the device runtime). Prints the table BENCHMARKS.md shows and writes the picture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import json

from edgecast import protocol
from edgecast.data import load



def measure(data_dir: Path) -> dict[str, list[dict]]:
    """{"seed test": rows, "years test": rows} of protocol.evaluate_horizons."""
    seed = protocol.layout("seed", load([data_dir / protocol.SEED_FILE]))
    years = protocol.layout("years", load([data_dir / name for name in protocol.YEARS_FILES]))
    return {"seed test": protocol.evaluate_horizons(seed, parts=["test"])["test"],
            "years test (2022)": protocol.evaluate_horizons(years, parts=["test"])["test"]}


def from_models(model_dirs: list[Path]) -> dict[str, list[dict]]:
    """The test part's by_horizon rows of trained curve models, keyed like ``measure``."""
    out = {}
    for path in model_dirs:
        meta = json.loads((path / "metadata.json").read_text())
        name = {"seed": "seed test", "years": "years test (2022)"}[meta["data"]["protocol"]]
        out[name] = meta["by_horizon"]["test"]
    return out


def from_bundles(paths: list[Path]) -> dict[str, list[dict]]:
    """The same from curve bundles (their by_horizon metadata is stored as columns)."""
    from edgecast.bundle import read_bundle
    out = {}
    for path in paths:
        meta = read_bundle(path).meta
        name = {"seed": "seed test", "years": "years test (2022)"}[meta["training"]["protocol"]]
        columns = meta["by_horizon"]["test"]
        out[name] = [{"h": i + 1, **{k: v[i] for k, v in columns.items()}} for i in range(len(columns["model"]))]
    return out


def table(results: dict[str, list[dict]]) -> str:
    names = list(results)
    forecasts = [f for f in ("model", "persistence", "yesterday") if f in results[names[0]][0]]
    head = "| horizon | " + " | ".join(f"{n}: {f}" for n in names for f in forecasts) + " |"
    lines = [head, "|---" * (1 + len(forecasts) * len(names)) + "|"]
    for i in range(len(next(iter(results.values())))):
        cells = [f"+{results[names[0]][i]['h']} h"]
        for n in names:
            r = results[n][i]
            best = min(r[f] for f in forecasts)
            cells += [f"**{r[f]:.3f}**" if r[f] == best else f"{r[f]:.3f}" for f in forecasts]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, list[dict]], out: Path, label: str = "compact_lstm_curve") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), sharey=True)
    for ax, (name, rows) in zip(axes, results.items()):
        h = [r["h"] for r in rows]
        if "model" in rows[0]:
            ax.plot(h, [r["model"] for r in rows], "D-", ms=3, lw=2, color="C2", label=label)
        ax.plot(h, [r["persistence"] for r in rows], "o-", ms=3, label="persistence (T now)")
        ax.plot(h, [r["yesterday"] for r in rows], "s--", ms=3, label="yesterday (T at h − 24 h)")
        ax.set(title=name, xlabel="horizon (hours ahead)", xticks=[1, 6, 12, 18, 24])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MAE °C")
    axes[0].legend(fontsize="small")
    title = "the curve model beside" if "model" in next(iter(results.values()))[0] else "the bar for a curve model:"
    fig.suptitle(f"The next 24 hours, MAE by horizon: {title} the two naive forecasts")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--model", type=Path, action="append", default=[],
                    help="a curve model directory (edgecast train compact_lstm_curve --protocol seed|years)")
    ap.add_argument("--bundle", type=Path, action="append", default=[],
                    help="a curve bundle exported for the seed or years protocol (edgecast export … --curve …)")
    ap.add_argument("--out", type=Path, default=Path("docs/naive_by_horizon.png"))
    args = ap.parse_args(argv)
    if args.bundle:
        results, label = from_bundles(args.bundle), "bundle: curve, +24 h model blended in"
    else:
        results, label = (from_models(args.model) if args.model else measure(args.data_dir)), "compact_lstm_curve"
    plot(results, args.out, label)
    print(table(results))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
