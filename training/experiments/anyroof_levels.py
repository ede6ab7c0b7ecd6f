"""Which levels a model for any roof may read, chosen on validation places and Jena 2021.

The `_anyroof` recipe gives the head temperature and pressure only relative to the last
five days. Variants tried here, each trained on the stations protocol's train places
(every 12th window, one member, 8 epochs — a screening, not the shipped fit) and scored on
the validation places and on Jena's 2021 (the years protocol's validation year; the
stations protocol trains on Jena before 2021 only):

- ``relative``: the shipped `_anyroof` inputs;
- ``t_level``: plus the absolute temperature now (°C is physics, not Jena's mean, once
  the statistics are pooled over every climate) — is it worth the pull toward the
  training places' climates?

    python -m training.experiments.anyroof_levels --data ../shared/data [--out runs/anyroof_levels.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/anyroof_levels.json"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--stride", type=int, default=12)
    args = ap.parse_args()

    from edgecast.places import load_places
    from training import models
    from training.train import evaluate_model_dir, train

    base = models.SENSOR_SETS["_anyroof"]
    variants = {"relative": base, "t_level": replace(base, levels=("T (degC)", *base.levels))}
    places = load_places(args.data, log=lambda *_: None)
    jena = places["jena"]
    results = {}
    for name, inputs in variants.items():
        kind = f"screen_{name}"
        spec = models._compact_spec("LSTM", inputs)
        models.MODELS[kind] = replace(spec, members=1)
        out = Path("runs/anyroof_levels") / name
        meta = train(kind, out_dir=out, epochs=args.epochs, series=places, protocol_name="stations",
                     train_stride=args.stride, log=lambda m: print(m, flush=True) if "best" in m else None)
        years = evaluate_model_dir(out, jena, "years")  # only its validation year is read here
        results[name] = {"val_mae": meta["val_mae"], "naive_val_mae": meta["naive_val_mae"],
                         "jena_2021_mae": years["val_mae"], "naive_jena_2021_mae": years["naive_val_mae"],
                         "val_by_station": {k: v["mae"] for k, v in meta["val_by_station"].items()}}
        print(name, results[name]["val_mae"], results[name]["jena_2021_mae"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps({k: (v["val_mae"], v["jena_2021_mae"]) for k, v in results.items()}))


if __name__ == "__main__":
    main()
