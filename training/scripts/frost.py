"""Frost warnings from the next-day curve, scored offline.

    python -m training.scripts.frost --model runs/years/compact_lstm_curve --model runs/seed/compact_lstm_curve
    python -m training.scripts.frost --bundle runs/years/compact_lstm_with_curve.tflite \
        --bundle runs/seed/compact_lstm_with_curve.tflite          # what the daemon serves

Every hourly forecast of a protocol's part is replayed in order through the daemon's own
rule (edgecast.alerts.FrostRule: on when the curve's minimum is below ``threshold +
margin``, off again once it is ``hysteresis`` above that). A forecast is a frost when the
station then measured a temperature below the threshold in its 24 hours. For the curve
model and for the naive curve the daemon falls back to (edgecast.naive): the hit rate
(frosts warned of), the false-alarm ratio (alerts without frost), the counts and how often
the alert switched on. Only forecasts whose 24 hours were all measured are scored; every
forecast moves the alert, as in the daemon.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgecast import protocol
from edgecast.alerts import FrostRule
from edgecast.data import load
from edgecast.schema import FeatureSchema


def scores(predicted: np.ndarray, actual: np.ndarray, rule: FrostRule, scored: np.ndarray | None = None) -> dict:
    """``predicted``: consecutive hourly forecast curves (n, 24); ``actual``: what was then
    measured (n, 24); ``scored``: the rows to count (default all)."""
    alert = rule.states(predicted.min(axis=1))
    switched_on = int((alert[1:] & ~alert[:-1]).sum() + alert[:1].sum())
    if scored is not None:
        alert, actual = alert[scored], actual[scored]
    frost = actual.min(axis=1) < rule.threshold_c
    hits = int((alert & frost).sum())
    return {"forecasts": int(len(alert)), "frosts": int(frost.sum()), "alerts": int(alert.sum()), "hits": hits,
            "hit_rate": round(hits / max(int(frost.sum()), 1), 3),
            "false_alarm_ratio": round(int((alert & ~frost).sum()) / max(int(alert.sum()), 1), 3),
            # critical success index: hits / (hits + misses + false alarms)
            "csi": round(hits / max(int((alert | frost).sum()), 1), 3), "switched_on": switched_on}


def from_model_dir(model_dir: Path):
    """(protocol name, layout, starts -> (n, 24) curves) of a trained curve model."""
    from training import dataset
    from training.train import load_model_dir
    model, meta = load_model_dir(model_dir)
    schema = FeatureSchema.from_dict(meta["schema"])
    prep = dataset.prepare(load(meta["data"]["sources"]), schema.features, schema=schema,
                           protocol_name=meta["data"]["protocol"], horizons=24)
    return meta["data"]["protocol"], prep.layout, prep.predict_fn(model, curve=True)


def from_bundle(path: Path, data_dir: Path):
    """The same for a curve bundle, through the device runtime (what the daemon serves)."""
    from edgecast.forecaster import load_forecaster
    forecaster = load_forecaster(path)
    training = forecaster.bundle.meta["training"]
    layout, curves = forecaster.on_layout(training["protocol"], load([data_dir / name for name in training["sources"]]))
    return training["protocol"], layout, curves


def measure(source, rules: list[FrostRule], part: str = "test") -> dict:
    """``source``: (protocol name, layout, curve function) from from_model_dir / from_bundle.
    {"protocol": name, "frost_episodes": n, "model": [scores per rule], "naive": [scores per rule]}."""
    protocol_name, layout, predict = source
    starts = layout.starts(part)
    actual = protocol.curve_targets(layout, starts)
    measured = np.isfinite(actual).all(axis=1)
    curves = {"model": predict(starts), "naive": protocol.fallback_curve(layout, starts)}
    # How often frost itself "switched on" (a perfect forecast's alert, no margin or hysteresis).
    with np.errstate(invalid="ignore"):
        episodes = scores(np.fmin.reduce(actual, axis=1)[:, None], actual, FrostRule(rules[0].threshold_c, 0, 0))
    return {"protocol": protocol_name, "frost_episodes": episodes["switched_on"],
            **{name: [scores(c, actual, rule, measured) for rule in rules] for name, c in curves.items()}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, action="append", default=[], help="a compact_lstm_curve directory")
    ap.add_argument("--bundle", type=Path, action="append", default=[],
                    help="a curve bundle for the seed or years protocol (make curve-figures), scored through LiteRT")
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"), help="where a bundle's files are")
    ap.add_argument("--threshold", type=float, default=FrostRule.threshold_c, help="°C (the daemon's [alerts] frost_c)")
    ap.add_argument("--margin", type=float, action="append", default=None,
                    help=f"warn when the forecast minimum is below threshold + margin (°C; default "
                         f"{FrostRule.margin_c:g}; repeat to compare)")
    ap.add_argument("--hysteresis", type=float, action="append", default=None,
                    help=f"°C (default {FrostRule.hysteresis_c:g}; repeat to compare)")
    ap.add_argument("--part", default="test", choices=["val", "test"], help="choose settings on val")
    args = ap.parse_args(argv)
    if not args.model and not args.bundle:
        ap.error("give --model or --bundle")
    rules = [FrostRule(args.threshold, m, h) for m in args.margin or [FrostRule.margin_c]
             for h in args.hysteresis or [FrostRule.hysteresis_c]]
    print(f"| {args.part} part | forecast | margin °C | hysteresis °C | forecasts | frosts | alerts | hits "
          "| hit rate | false-alarm ratio | CSI | switched on |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    sources = [(p.name, from_model_dir(p)) for p in args.model] + [(p.name, from_bundle(p, args.data_dir))
                                                                   for p in args.bundle]
    for label, source in sources:
        result = measure(source, rules, args.part)
        for name in ("model", "naive"):
            for rule, r in zip(rules, result[name]):
                print(f"| {result['protocol']} | {label if name == 'model' else 'naive fallback curve'} "
                      f"| {rule.margin_c:g} | {rule.hysteresis_c:g} | {r['forecasts']} | {r['frosts']} "
                      f"| {r['alerts']} | {r['hits']} | {r['hit_rate']:.3f} | {r['false_alarm_ratio']:.3f} "
                      f"| {r['csi']:.3f} | {r['switched_on']} |")
        print(f"| {result['protocol']} | measured: frost episodes | | | | | | | | | | {result['frost_episodes']} |")


if __name__ == "__main__":
    main()
