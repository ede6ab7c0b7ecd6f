"""The README's picture: a bundle's forecasts against what happened, beside naive.

    python -m training.scripts.plot_forecast --data ../shared/data/mpi_roof_2022_hourly.csv.xz \
        --bundle runs/years/compact_lstm.tflite [--out docs/forecast_vs_actual.png]

Every window of the given file(s) (the ``whole`` protocol, on the hourly grid the daemon
builds): top, three weeks of forecasts plotted at the hour they are valid for; bottom, MAE
per month, model vs naive. Give it a bundle trained on other years (the ``years``
protocol's model on 2022): months the bundle was trained on are marked in-sample.
Forecasts run through the device runtime (no TensorFlow), exactly as the daemon's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgecast import protocol
from edgecast.data import load
from edgecast.forecaster import DEFAULT_BUNDLE, load_forecaster


def hourly_forecasts(forecaster, series):
    """(valid-at times, forecast, naive, actual) for every complete window of the files."""
    layout, curves = forecaster.on_layout("whole", series)
    starts = layout.starts("all")
    model = curves(starts)[:, -1]
    return layout.target_times(starts), model, layout.naive(starts), layout.targets(starts)


def plot(series, forecaster, out: Path, days: int = 21) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    valid, model, naive, actual = hourly_forecasts(forecaster, series)
    test_first = valid[0]
    train_last = np.datetime64(forecaster.bundle.meta["training"]["train_last"])
    meta = forecaster.bundle.meta
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.5), gridspec_kw={"height_ratios": [3, 2]})

    shown = (valid >= test_first + np.timedelta64(14, "D")) & (valid < test_first + np.timedelta64(14 + days, "D"))
    top.plot(valid[shown], actual[shown], color="k", lw=1.6, label="actual temperature")
    top.plot(valid[shown], model[shown], color="tab:blue", lw=1.1,
             label=f"{meta['kind']} ({meta['graph_form']}): MAE {protocol.mae(model[shown], actual[shown]):.2f} °C")
    top.plot(valid[shown], naive[shown], color="tab:orange", lw=1.0, ls="--",
             label=f"naive (24 h ago): MAE {protocol.mae(naive[shown], actual[shown]):.2f} °C")
    top.set(ylabel="°C", title=f"24-hour-ahead forecasts, {days} days from {str(test_first)[:10]} + 14 days")
    top.legend(loc="upper right", fontsize="small")
    top.grid(alpha=0.3)

    months = valid.astype("datetime64[M]")
    labels, m_mae, n_mae = [], [], []
    for month in np.unique(months):
        sel = (months == month) & np.isfinite(actual) & (actual > -100)
        if sel.sum() < 24 * 7:
            continue
        in_sample = month <= train_last.astype("datetime64[M]")
        labels.append(str(month)[5:] + ("*" if in_sample else ""))
        m_mae.append(protocol.mae(model[sel], actual[sel]))
        n_mae.append(protocol.mae(naive[sel], actual[sel]))
    x = np.arange(len(labels))
    bottom.bar(x - 0.2, m_mae, 0.4, color="tab:blue", label=meta["kind"])
    bottom.bar(x + 0.2, n_mae, 0.4, color="tab:orange", label="naive")
    bottom.set_xticks(x, labels)
    bottom.set(ylabel="MAE °C", xlabel="month the forecast is valid for (* = train part, in-sample)",
               title="MAE per month, every hourly forecast of the file")
    bottom.legend(fontsize="small")
    bottom.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", required=True, type=Path)
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--out", type=Path, default=Path("docs/forecast_vs_actual.png"))
    args = parser.parse_args()
    plot(load(args.data), load_forecaster(args.bundle), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
