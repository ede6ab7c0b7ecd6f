"""How a combined bundle joins the curve to the dedicated +24 h model, chosen on validation.

    python -m training.scripts.choose_blend --protocol years     # runs/years/compact_lstm{,_curve}
    python -m training.scripts.choose_blend --protocol seed

The curve model's own +24 h value is worse than the dedicated model's, so the bundle ends
at the dedicated value; the question is how the correction (dedicated − curve at +24 h)
reaches the hours before. Each candidate gives hour h the share w(h) of it. Printed per
part: the mean MAE over the 24 hours, MAE at a few horizons, and the mean |step| from +23 to
+24 h beside the median step between other neighbouring hours (a seam shows there).
training/export.py ships the winner on both validation parts (``BLEND_HOURS``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgecast import protocol
from edgecast.data import load
from edgecast.naive import HORIZONS
from edgecast.schema import FeatureSchema

CANDIDATES = {
    "splice (only +24 h)": (HORIZONS == 24).astype(float),
    "linear over the day": HORIZONS / 24,
    "over the last 12 h": np.clip((HORIZONS - 12) / 12, 0, 1),
    "over the last 6 h": np.clip((HORIZONS - 18) / 6, 0, 1),
    "quadratic": (HORIZONS / 24) ** 2,
}


def measure(runs: Path, headline_kind: str = "compact_lstm") -> dict:
    """{part: {candidate: (mean MAE, MAE per horizon, seam step, typical step)}}."""
    from training import dataset
    from training.train import load_model_dir
    curve, meta = load_model_dir(runs / f"{headline_kind}_curve")
    headline, _ = load_model_dir(runs / headline_kind)
    schema = FeatureSchema.from_dict(meta["schema"])
    prep = dataset.prepare(load(meta["data"]["sources"]), schema.features, schema=schema,
                           protocol_name=meta["data"]["protocol"], horizons=24)
    out = {}
    for part in prep.layout.evaluated:
        starts = prep.layout.starts(part)
        c, h = prep.predict_fn(curve, curve=True)(starts), prep.predict_fn(headline)(starts)
        actual = protocol.curve_targets(prep.layout, starts)
        out[part] = {}
        for name, w in CANDIDATES.items():
            f = c + w[None] * (h - c[:, -1])[:, None]
            mae = np.nanmean(np.abs(f - actual), axis=0)
            step = np.mean(np.abs(np.diff(f, axis=1)), axis=0)
            out[part][name] = (float(mae.mean()), mae, float(step[-1]), float(np.median(step[:-1])))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", choices=["years", "seed"], required=True)
    ap.add_argument("--runs", type=Path, default=Path("runs"), help="where make protocol-figures put the models")
    ap.add_argument("--kind", default="compact_lstm", help="the +24 h model; its curve is KIND_curve")
    args = ap.parse_args(argv)
    for part, rows in measure(args.runs / args.protocol, args.kind).items():
        print(f"{args.protocol} {part}: mean MAE | +1 h | +12 h | +19 h | +23 h | +24 h | step +23→+24 h (others)")
        for name, (mean, mae, seam, typical) in rows.items():
            print(f"  {name:22s} {mean:.4f} | " + " | ".join(f"{mae[h - 1]:.3f}" for h in (1, 12, 19, 23, 24))
                  + f" | {seam:.3f} ({typical:.3f})")


if __name__ == "__main__":
    main()
