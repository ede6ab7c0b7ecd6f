"""Two rejected ideas for the band and the frost probability, on the validation parts only.

    python -m training.experiments.band_tries      # about 3 minutes here

1. A frost recalibration learnt online on each box: the map σ(a·logit(p) + b) of
   edgecast.band, started at FROST_RECALIBRATION and moved by a log-loss gradient step each
   time a forecast's 24 hours have been measured (step η for b, η/10 for a). Frost comes in
   spells and seasons, so the step chases the last spell: a worse Brier score on both parts
   at every η tried (reliability better only on the validation places at η 0.01).
2. A band that widens with the weather: the calibrated offsets multiplied by a scale of
   the situation, the last 24 hours' temperature range ((range + 2)/(median + 2))^k or the
   curve's predicted change ((|curve − now| + 1)/median)^k; the adaptive calibration keeps
   the coverage. Pinball loss at +24 h moves by less than 2 % either way.
   The band stays as wide as the point forecast's errors: its pinball loss is set by them.

Figures: BENCHMARKS.md, "How sure: the band" (tried and not adopted).
"""

from pathlib import Path

import numpy as np

from edgecast import band
from edgecast.daemon import calibration
from training.scripts import band_scores as bs


def online_recalibration(p: dict, raw: np.ndarray, scored: np.ndarray, frost: np.ndarray, eta: float) -> np.ndarray:
    """Each place's recalibrated probabilities, the map updated as each forecast is verified."""
    out = np.full(len(raw), np.nan)
    for g in np.unique(p["group"]):
        idx = np.flatnonzero(p["group"] == g)
        idx = idx[np.argsort(p["rows"][idx])]
        issued = dict(zip(p["rows"][idx], idx))
        a, b = band.FROST_RECALIBRATION
        for r, i in zip(p["rows"][idx], idx):
            j = issued.get(r - 24)  # issued 24 h ago: its 24 hours are measured now
            if j is not None and scored[j] and eta > 0:
                x = band.logit(raw[j])
                err = 1 / (1 + np.exp(-(a * x + b))) - frost[j]
                a, b = a - 0.1 * eta * err * x, b - eta * err
            out[i] = 1 / (1 + np.exp(-(a * band.logit(raw[i]) + b)))
    return out


def past_range(p: dict) -> np.ndarray:
    """Per forecast, the range of the 24 hours before it (from the forecast issued 24 h earlier)."""
    issued = {(g, r): i for i, (g, r) in enumerate(zip(p["group"], p["rows"]))}
    out = np.full(len(p["rows"]), np.nan)
    for i, (g, r) in enumerate(zip(p["group"], p["rows"])):
        j = issued.get((g, r - 24))
        if j is not None and np.isfinite(p["actual"][j]).sum() >= 12:
            out[i] = np.nanmax(p["actual"][j]) - np.nanmin(p["actual"][j])
    return out


def main() -> None:
    parts = bs.load_parts(None, Path("../shared/data"), bs.PARTS["val"])
    for name, p in parts.items():
        p10, p90 = bs.replay(p)
        raw = band.frost_probabilities(np.stack([p10, p["point"], p90], -1), calibration.LEVELS, bs.FROST_C, ab=None)
        scored, frost = bs.frost_cases(p)
        ev, naive = frost[scored].astype(float), bs.naive_frost(p)[scored]
        for eta in (0, 0.002, 0.005, 0.01, 0.02, 0.05):
            prob = online_recalibration(p, raw, scored, frost, eta)[scored]
            gaps = [abs(x["observed"] - x["forecast"]) for x in bs.reliability(prob, ev) if x["n"] >= 50]
            print(f"{name}, online frost map, eta {eta:g}: Brier skill vs naive "
                  f"{bs.skill(bs.brier(prob, ev), bs.brier(naive, ev)):.3f}, worst gap {max(gaps):.3f}")
        y, ok = p["actual"][:, -1], np.isfinite(p["actual"][:, -1])
        naive_pinball = bs.pinball(bs.naive_quantiles(p)[ok], y[ok])
        rng, change = past_range(p), np.abs(p["point"] - p["now"][:, None]) + 1
        scales = {"none": None}
        for k in (0.25, 0.5, 0.75):
            scales[f"range^{k}"] = np.nan_to_num(((rng + 2) / (np.nanmedian(rng) + 2)) ** k, nan=1.0)[:, None]
        for k in (0.25, 0.5):
            scales[f"change^{k}"] = (change / np.median(change, axis=0)) ** k
        for label, scale in scales.items():
            lo, hi = bs.replay(p, scale=scale)
            q = np.stack([lo, p["point"], hi], -1)
            pb = bs.pinball(q[ok, -1], y[ok])
            print(f"{name}, band scale {label}: coverage {100 * bs.coverage(lo, hi, p['actual'])['coverage']:.1f} %, "
                  f"pinball +24 h {pb:.3f} ({100 * (pb / naive_pinball - 1):+.1f} % vs naive {naive_pinball:.3f})")


if __name__ == "__main__":
    main()
