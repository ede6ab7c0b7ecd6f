"""A rejected idea: a minimum on-time for the frost warning, on validation.

    python -m training.experiments.frost_hold      # needs runs/{years,seed}/compact_lstm_curve

Holding the warning on for at least N hours after it switches on (on top of the daemon's
margin and hysteresis) barely reduces how often it switches on (2021: 80 -> 74 at 6 h)
and costs CSI; not adopted (BENCHMARKS.md, "Frost warnings from the curve").
"""
import numpy as np
from pathlib import Path
from edgecast import protocol
from edgecast.alerts import FrostRule
from edgecast.data import load
from edgecast.schema import FeatureSchema
from training import dataset
from training.train import load_model_dir


def held(rule: FrostRule, minima: np.ndarray, hold: int) -> np.ndarray:
    """The warning's state per forecast, kept on for at least ``hold`` forecasts once on."""
    on, left, out = False, 0, []
    for m in minima:
        new = rule.next_state(on, float(m))
        if on and not new and left > 0:
            new = True
        if new and not on:
            left = hold
        left -= 1
        on = new
        out.append(on)
    return np.array(out)


def main() -> None:
    for proto in ("years", "seed"):
        model, meta = load_model_dir(Path(f"runs/{proto}/compact_lstm_curve"))
        schema = FeatureSchema.from_dict(meta["schema"])
        prep = dataset.prepare(load(meta["data"]["sources"]), schema.features, schema=schema, protocol_name=proto,
                               horizons=24)
        st = prep.layout.starts("val")
        actual = protocol.curve_targets(prep.layout, st)
        ok = np.isfinite(actual).all(axis=1)
        mins = prep.predict_fn(model, curve=True)(st).min(axis=1)
        for hold in (0, 3, 6, 12, 24):
            a = held(FrostRule(), mins, hold)
            sw = int((a[1:] & ~a[:-1]).sum() + a[:1].sum())
            a2, fr = a[ok], actual[ok].min(axis=1) < 0
            hits = int((a2 & fr).sum())
            csi = hits / (a2 | fr).sum()
            print(proto, "val", "hold", hold, "hit", round(hits / fr.sum(), 3),
                  "far", round((a2 & ~fr).sum() / a2.sum(), 3), "csi", round(csi, 3), "switched on", sw)


if __name__ == "__main__":
    main()
