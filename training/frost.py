"""Frost warnings from the next-day curve, scored offline (issue 16).

    python -m training.frost --model runs/years/compact_lstm_curve --model runs/seed/compact_lstm_curve

Every hourly forecast of a protocol's test part is an alert when the curve's minimum over
the next 24 hours is below ``--threshold`` (0 °C); it is a frost when the station then
measured a temperature below it in those 24 hours. For the curve model and for the naive
curve the daemon falls back to (edgecast.naive: persistence up to +4 h, then the same
hour yesterday): the hit rate (frosts warned of), the false-alarm
ratio (alerts without frost) and the counts. Only forecasts whose 24 hours were all
measured count. (The daemon's hysteresis is about when an alert topic turns off; it does
not change which forecasts warn.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgecast import protocol
from edgecast.data import load
from edgecast.schema import FeatureSchema


def scores(predicted: np.ndarray, actual: np.ndarray, threshold: float, margin: float = 0.0) -> dict:
    """Alerts when the forecast minimum is below ``threshold + margin``; frost when the
    measured minimum is below ``threshold``."""
    alert = predicted.min(axis=1) < threshold + margin
    frost = actual.min(axis=1) < threshold
    hits = int((alert & frost).sum())
    return {"forecasts": int(len(alert)), "frosts": int(frost.sum()), "alerts": int(alert.sum()), "hits": hits,
            "hit_rate": round(hits / max(int(frost.sum()), 1), 3),
            "false_alarm_ratio": round(int((alert & ~frost).sum()) / max(int(alert.sum()), 1), 3)}


def measure(model_dir: Path, threshold: float, margin: float = 0.0, part: str = "test") -> dict:
    from training import dataset
    from training.train import load_model_dir
    model, meta = load_model_dir(model_dir)
    schema = FeatureSchema.from_dict(meta["schema"])
    series = load(meta["data"]["sources"])
    prep = dataset.prepare(series, schema.features, schema=schema, protocol_name=meta["data"]["protocol"],
                           horizons=24)
    starts = prep.layout.starts(part)
    actual = protocol.curve_targets(prep.layout, starts)
    keep = np.isfinite(actual).all(axis=1)
    starts, actual = starts[keep], actual[keep]
    return {"protocol": meta["data"]["protocol"],
            "model": scores(prep.predict_fn(model, curve=True)(starts), actual, threshold, margin),
            "naive": scores(protocol.fallback_curve(prep.layout, starts), actual, threshold, margin)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, action="append", required=True, help="a compact_lstm_curve directory")
    ap.add_argument("--threshold", type=float, default=0.0, help="°C (the daemon's [alerts] frost_c)")
    ap.add_argument("--margin", type=float, action="append", default=None,
                    help="warn when the forecast minimum is below threshold + margin (°C; repeat to compare)")
    ap.add_argument("--part", default="test", choices=["val", "test"], help="choose margins on val")
    args = ap.parse_args(argv)
    print(f"| {args.part} part | forecast | margin °C | forecasts | frosts | alerts | hits | hit rate "
          "| false-alarm ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.model:
        for margin in args.margin or [0.0]:
            result = measure(path, args.threshold, margin, args.part)
            for name in ("model", "naive"):
                r = result[name]
                print(f"| {result['protocol']} | {'compact_lstm_curve' if name == 'model' else 'naive fallback curve'} "
                      f"| {margin:g} | {r['forecasts']} | {r['frosts']} | {r['alerts']} | {r['hits']} "
                      f"| {r['hit_rate']:.3f} | {r['false_alarm_ratio']:.3f} |")


if __name__ == "__main__":
    main()
