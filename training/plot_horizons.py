"""The next day hour by hour (issue 16): MAE of the two naive curves against horizon.

    python -m training.plot_horizons --data-dir ../shared/data [--out docs/naive_by_horizon.png]

For the `seed` test part (the 2009–2016 hourly copy) and the `years` test year (2022,
all five files): the MAE at +1 … +24 h of persistence (the temperature now) and of the
same hour yesterday. A curve model has to beat the better of the two at every horizon;
this is the bar. Prints the table BENCHMARKS.md shows and writes the picture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgecast import protocol
from edgecast.data import load

YEARS_FILES = ("jena_climate_2009_2016_hourly", "mpi_roof_2017b", "weather", "mpi_roof_2021_hourly",
               "mpi_roof_2022_hourly")


def measure(data_dir: Path) -> dict[str, list[dict]]:
    """{"seed test": rows, "years test": rows} of protocol.evaluate_horizons."""
    seed = protocol.layout("seed", load([data_dir / "jena_climate_2009_2016_hourly.csv.xz"]))
    years = protocol.layout("years", load([data_dir / f"{name}.csv.xz" for name in YEARS_FILES]))
    return {"seed test": protocol.evaluate_horizons(seed, parts=["test"])["test"],
            "years test (2022)": protocol.evaluate_horizons(years, parts=["test"])["test"]}


def table(results: dict[str, list[dict]]) -> str:
    names = list(results)
    head = "| horizon | " + " | ".join(f"{n}: persistence | {n}: yesterday" for n in names) + " |"
    lines = [head, "|---" * (1 + 2 * len(names)) + "|"]
    for i in range(len(next(iter(results.values())))):
        cells = [f"+{results[names[0]][i]['h']} h"]
        for n in names:
            r = results[n][i]
            better = min(r["persistence"], r["yesterday"])
            cells += [f"**{v:.3f}**" if v == better else f"{v:.3f}" for v in (r["persistence"], r["yesterday"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, list[dict]], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), sharey=True)
    for ax, (name, rows) in zip(axes, results.items()):
        h = [r["h"] for r in rows]
        ax.plot(h, [r["persistence"] for r in rows], "o-", ms=3, label="persistence (T now)")
        ax.plot(h, [r["yesterday"] for r in rows], "s--", ms=3, label="yesterday (T at h − 24 h)")
        ax.set(title=name, xlabel="horizon (hours ahead)", xticks=[1, 6, 12, 18, 24])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MAE °C")
    axes[0].legend(fontsize="small")
    fig.suptitle("The two naive forecasts of the next 24 hours: the bar for a curve model")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("docs/naive_by_horizon.png"))
    args = ap.parse_args(argv)
    results = measure(args.data_dir)
    plot(results, args.out)
    print(table(results))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
