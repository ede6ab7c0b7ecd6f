"""The README's fan chart: the next 24 hours with their 10–90 % band, as the box publishes them.

    python -m training.scripts.plot_fan [--start 2022-03-19] [--days 4] [--out docs/fan_chart.png]

Jena 2022 (the ``years`` test year) through the shipped bundle in LiteRT; the band of each
forecast is the one the daemon's calibration (edgecast/daemon/calibration.py) gave it,
replayed from the start of the year in order (training/scripts/band_scores.py). One
forecast a day, issued at ``--hour`` UTC: its curve, its band shaded, its frost
probability; the measured temperature in black.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgecast import band
from edgecast.daemon.calibration import LEVELS
from training.scripts.band_scores import FROST_C, load_parts, replay


def plot(p: dict, p10: np.ndarray, p90: np.ndarray, start: np.datetime64, days: int, hour: int, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    issued = p["times"].astype("datetime64[s]")
    end = start + np.timedelta64(days, "D")
    fig, ax = plt.subplots(figsize=(11, 4.5))
    shown = (issued >= start) & (issued < end + np.timedelta64(1, "D"))
    # the measured temperature: each hour once (the +1 h target of the forecast issued an hour before)
    ax.plot(issued[shown] + np.timedelta64(1, "h"), p["actual"][shown, 0], color="k", lw=1.4, label="measured")
    picks = np.flatnonzero((issued >= start) & (issued < end) & (issued.astype("datetime64[h]").astype(int) % 24
                                                                 == hour))
    for n, i in enumerate(picks):
        t = issued[i] + np.arange(1, 25) * np.timedelta64(1, "h")
        q = np.column_stack([p10[i], p["point"][i], p90[i]])
        prob = band.frost_probability(q, LEVELS, FROST_C)
        ax.fill_between(t, p10[i], p90[i], color=f"C{n % 10}", alpha=0.25, lw=0,
                        label="10–90 % band" if n == 0 else None)
        ax.plot(t, p["point"][i], color=f"C{n % 10}", lw=1.6, label="forecast" if n == 0 else None)
        low = int(np.argmin(p10[i]))
        ax.annotate(f"P(< {FROST_C:g} °C) {100 * prob:.0f} %", (t[low], p10[i][low]), xytext=(0, -14),
                    textcoords="offset points", fontsize=8, ha="center", color=f"C{n % 10}")
    ax.axhline(FROST_C, color="0.5", lw=0.8, ls=":")
    ax.set(ylabel="°C", title=f"Jena {str(start)[:10]} + {days} days: the forecast issued at {hour:02d}:00 UTC each "
           f"day, its calibrated 10–90 % band and frost probability (shipped bundle, LiteRT; held-out year)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out, dpi=80)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--bundle", type=Path, default=None, help="default: the shipped bundle")
    ap.add_argument("--start", default="2022-03-19", help="first day shown (2022)")
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--hour", type=int, default=12, help="UTC hour of the forecast shown each day")
    ap.add_argument("--out", type=Path, default=Path("docs/fan_chart.png"))
    args = ap.parse_args(argv)
    p = load_parts(args.bundle, args.data_dir, ["Jena 2022"])["Jena 2022"]
    p10, p90 = replay(p)
    plot(p, p10, p90, np.datetime64(args.start, "s"), args.days, args.hour, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
