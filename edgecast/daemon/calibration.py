"""The band around every hour, kept calibrated by the box's own verified forecasts.

The shipped bundles forecast one value per hour. The box puts a 10–90 % band around it
from offsets per horizon h = 1 … 24: ``p10 = point − lower_h``, ``p90 = point + upper_h``,
both offsets > 0, so ``p10 ≤ point ≤ p90`` by construction (the point forecast stays the
band's middle knot, read as its median by edgecast.band).

Online, adaptive conformal calibration (Gibbs & Candès, "Adaptive conformal inference
under distribution shift", 2021, in its quantile-tracking form): each time hour
issued + h completes with an OBSERVED temperature (skill.Skill pairs the forecast with
that hour, the pairing the scores use), the offset of horizon h and of the side missed
moves by a step ``GAMMA`` in log space:

    log lower_h += GAMMA · (1{actual < p10} − 0.1)      (the same for upper_h, above p90)

where p10 and p90 are those the forecast was published with (the payload's
``hourly_p10``/``hourly_p90``, kept with the pending forecast): up to 24 hours old, so the
guarantee below is for the bands the user saw, not for the offsets of the moment.

A side missed more often than 1 in 10 widens, one missed less often narrows; in the long
run each side misses 10 % of the time whatever the place or season (the bound of the
paper: |misses/n − 0.1| ≤ (span of log offsets + GAMMA)/(GAMMA · n)). Log space makes the
step a fraction of the band (the same step suits a Brazilian coast and a Jena winter)
and keeps the offsets positive. Offsets are clipped to [MIN_OFFSET_C, MAX_OFFSET_C].

Two sets of offsets, one per source of the published curve (``hourly_source``: the
model's curve or the naive one, whose errors are about twice as large): each verified
pair moves the set of the source that issued it. Both start from a prior measured on the
validation parts (Jena 2021 and the validation places of edgecast.places): the q10/q90
of the shipped bundle's and of the naive curve's errors per horizon
(``python -m training.scripts.band_scores --prior``), so a new box is about right on its
first day and its own roof takes over within days. ``GAMMA`` was chosen on the same
parts (BENCHMARKS.md, "How sure: the band").

The model's offsets belong to one bundle (its sha256): another bundle starts them from the
prior again. Per horizon, the last 30 days' verified pairs are counted per day (inside the
band, below it, above it), so the stats topic reports the measured coverage.
"""

from __future__ import annotations

import math

import numpy as np

from .. import band
from ..resample import HOUR
from .hourly import pack_f8, unpack_f8

LEVELS = (0.1, band.MEDIAN, 0.9)  # the quantiles the payload carries: hourly_p10, hourly, hourly_p90
MISS = LEVELS[0]  # each side's target miss rate
GAMMA = 0.05  # log-space step per verified pair (chosen on validation)
HORIZONS = 24
SOURCES = ("model", "naive")
MIN_OFFSET_C, MAX_OFFSET_C = 0.05, 30.0
WINDOW_DAYS = 30
SLOTS = WINDOW_DAYS + 1  # day buckets: the window plus the day in progress
DAY = 24 * HOUR
GROUPS = ((1, 6), (7, 12), (13, 18), (19, 24))  # horizon groups in stats
# q10/q90 offsets (°C, point − p10 and p90 − point) per horizon +1 … +24 h on the validation parts
# (`python -m training.scripts.band_scores --prior`): the shipped bundle's curve, the naive curve.
PRIOR = {
    "model": ((0.88, 1.36, 1.69, 1.87, 1.99, 2.09, 2.21, 2.31, 2.45, 2.51, 2.54, 2.56,
               2.58, 2.61, 2.66, 2.66, 2.66, 2.67, 2.69, 2.75, 2.85, 2.88, 2.85, 2.85),
              (0.89, 1.29, 1.54, 1.73, 1.9, 2.01, 2.08, 2.11, 2.11, 2.16, 2.19, 2.21,
               2.21, 2.24, 2.28, 2.33, 2.38, 2.37, 2.35, 2.34, 2.3, 2.31, 2.31, 2.33)),
    "naive": ((1.2, 2.23, 3.2, 4.1, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8,
               2.8, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8, 2.8),
              (1.52, 2.8, 3.94, 5.0, 2.74, 2.74, 2.74, 2.74, 2.74, 2.74, 2.73, 2.73,
               2.73, 2.73, 2.73, 2.72, 2.72, 2.72, 2.72, 2.72, 2.72, 2.72, 2.73, 2.73)),
}


def source_index(source: str) -> int:
    """The offset set of a curve's ``hourly_source`` (anything but the model's: naive)."""
    return 0 if source == SOURCES[0] else 1


def prior_offsets() -> np.ndarray:
    """(sources, 24, 2) log °C: the offsets a fresh box starts from."""
    return np.log(np.clip(np.array([np.column_stack(PRIOR[s]) for s in SOURCES], float), MIN_OFFSET_C,
                          MAX_OFFSET_C))


class Calibration:
    def __init__(self, sha: str | None = None, gamma: float = GAMMA, prior: np.ndarray | None = None):
        self.sha = sha  # the bundle whose model offsets these are
        self.gamma = float(gamma)
        self.log_offsets = prior_offsets() if prior is None else np.log(np.clip(prior, MIN_OFFSET_C, MAX_OFFSET_C))
        self.updates = np.zeros((len(SOURCES), HORIZONS))
        self.days = np.full(SLOTS, -1, dtype=np.int64)  # the day (valid hour // DAY) of each bucket
        self.counts = np.zeros((SLOTS, HORIZONS, 3))  # per day and horizon: n, below p10, above p90
        self.now: int | None = None  # the last verified hour

    def restart_model(self, sha: str | None) -> None:
        """Another bundle serves: its offsets start from the prior (the naive ones stay)."""
        self.sha = sha
        self.log_offsets[0] = prior_offsets()[0]
        self.updates[0] = 0

    # --- serving ---------------------------------------------------------------------------
    def offsets(self, source: str) -> np.ndarray:
        """(24, 2) °C: lower and upper offset per horizon for a curve of ``source``."""
        return np.exp(self.log_offsets[source_index(source)])

    def band(self, curve, source: str) -> tuple[np.ndarray, np.ndarray]:
        """(p10, p90) around a published curve (24 values, or fewer: the first horizons)."""
        curve = np.asarray(curve, float)
        off = self.offsets(source)[:len(curve)]
        return curve - off[:, 0], curve + off[:, 1]

    def quantiles(self, curve, source: str) -> np.ndarray:
        """(H, 3) °C at LEVELS: what edgecast.band reads."""
        low, high = self.band(curve, source)
        return np.column_stack([low, np.asarray(curve, float), high])

    # --- learning --------------------------------------------------------------------------
    def verify(self, valid_s: int, horizon, source, low, high, actual: float) -> None:
        """Hour ``valid_s`` was observed as ``actual``; the i-th pending forecast meets it at
        ``horizon[i]`` (1 … 24), its curve from ``source[i]`` (index into SOURCES) published
        with the band ``low[i]`` … ``high[i]`` there. The misses are those of the bands as
        published (so the long-run guarantee holds for them, whatever moved the offsets while
        they waited); then the offsets move."""
        horizon = np.asarray(horizon, dtype=np.int64)
        if not len(horizon):
            return
        source, low, high = np.asarray(source, dtype=np.int64), np.asarray(low, float), np.asarray(high, float)
        k = horizon - 1
        below, above = actual < low, actual > high
        self.now = int(valid_s)
        day = self.now // DAY
        slot = day % SLOTS
        if self.days[slot] != day:
            self.days[slot], self.counts[slot] = day, 0.0
        np.add.at(self.counts[slot], (k, 0), 1.0)
        np.add.at(self.counts[slot], (k, 1), below)
        np.add.at(self.counts[slot], (k, 2), above)
        step = self.gamma * (np.column_stack([below, above]) - MISS)
        np.add.at(self.log_offsets, (source, k), step)
        np.clip(self.log_offsets, math.log(MIN_OFFSET_C), math.log(MAX_OFFSET_C), out=self.log_offsets)
        np.add.at(self.updates, (source, k), 1.0)

    # --- figures ----------------------------------------------------------------------------
    def window(self, days: int = WINDOW_DAYS) -> np.ndarray:
        """(24, 3) n, below, above per horizon over the last ``days`` days up to the last verified hour."""
        if self.now is None:
            return np.zeros((HORIZONS, 3))
        today = self.now // DAY
        keep = (self.days > today - days) & (self.days <= today)
        return self.counts[keep].sum(axis=0)

    @staticmethod
    def _coverage(n: float, below: float, above: float) -> dict:
        return {"n": int(n), "coverage_pct": round(100 * (n - below - above) / n, 1) if n else None,
                "below_pct": round(100 * below / n, 1) if n else None,
                "above_pct": round(100 * above / n, 1) if n else None}

    def per_horizon(self) -> list[dict]:
        """Coverage of the 10–90 % band over the last 30 days at each horizon, with the offsets now."""
        model, naive = self.offsets("model"), self.offsets("naive")
        return [{"h": h + 1, **self._coverage(*row), "model_offsets_c": [round(float(x), 3) for x in model[h]],
                 "naive_offsets_c": [round(float(x), 3) for x in naive[h]]} for h, row in enumerate(self.window())]

    def stats(self) -> dict:
        window = self.window()
        groups = {f"{a}-{b}h": self._coverage(*window[a - 1:b].sum(axis=0)) for a, b in GROUPS}
        return {"levels": list(LEVELS), "window_days": WINDOW_DAYS, **self._coverage(*window.sum(axis=0)),
                "groups": groups, "updates": int(self.updates.sum())}

    # --- persistence (in the station's state file) ----------------------------------------
    def to_dict(self) -> dict:
        return {"sha": self.sha, "gamma": self.gamma, "now": self.now,
                "offsets": pack_f8(self.log_offsets.reshape(len(SOURCES), -1)),
                "updates": pack_f8(self.updates), "days": [int(d) for d in self.days],
                "counts": self.counts.astype(np.int64).reshape(SLOTS, -1).tolist()}  # whole numbers: small as JSON

    def load_dict(self, d: dict) -> None:
        """Restore from to_dict(); ValueError/TypeError/KeyError when it does not fit."""
        sha, gamma, now = d["sha"], d["gamma"], d["now"]
        if not (sha is None or isinstance(sha, str)):
            raise TypeError("band.sha")
        if not isinstance(gamma, (int, float)) or isinstance(gamma, bool) or not 0 < gamma <= 1:
            raise ValueError("band.gamma is not in (0, 1]")
        if now is not None and (not isinstance(now, int) or isinstance(now, bool) or now % HOUR):
            raise ValueError("band.now is not an hour stamp")
        offsets = unpack_f8(d["offsets"], (len(SOURCES), HORIZONS * 2), "band.offsets").reshape(
            len(SOURCES), HORIZONS, 2)
        updates = unpack_f8(d["updates"], (len(SOURCES), HORIZONS), "band.updates")
        days = d["days"]
        if not isinstance(days, list) or len(days) != SLOTS or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in days):
            raise ValueError("band.days")
        counts = d["counts"]
        if not isinstance(counts, list) or len(counts) != SLOTS or not all(
                isinstance(row, list) and len(row) == HORIZONS * 3 and all(
                    isinstance(x, int) and not isinstance(x, bool) for x in row) for row in counts):
            raise ValueError(f"band.counts: not {SLOTS} lists of {HORIZONS * 3} whole numbers")
        counts = np.asarray(counts, dtype=float).reshape(SLOTS, HORIZONS, 3)
        if not all(np.isfinite(a).all() for a in (offsets, updates, counts)) or (counts < 0).any() \
                or (counts[..., 1:].sum(axis=-1) > counts[..., 0]).any():
            raise ValueError("band: non-finite, negative or inconsistent values")
        if (offsets < math.log(MIN_OFFSET_C) - 1e-9).any() or (offsets > math.log(MAX_OFFSET_C) + 1e-9).any():
            raise ValueError(f"band.offsets outside [{MIN_OFFSET_C}, {MAX_OFFSET_C}] °C")
        self.sha, self.gamma, self.now = sha, float(gamma), now
        self.log_offsets, self.updates = offsets.copy(), updates.copy()
        self.days, self.counts = np.asarray(days, dtype=np.int64), counts.copy()


def inspect_state(path, as_json: bool = False) -> str:
    """`edgecast inspect STATE_FILE`: the band's coverage per horizon over the last 30 days
    of a station's state file (read only; ValueError when it holds no usable band)."""
    import json

    from . import state
    data = json.loads(state._read_regular(path))  # never a FIFO or a symlink
    if not isinstance(data, dict) or data.get("format") != state.FORMAT:
        raise ValueError(f"not an edgecast state file (format {str(data.get('format'))[:40]!r})"
                         if isinstance(data, dict) else "not an edgecast state file")
    if "band" not in data:
        raise ValueError("no band section (written by a daemon before the band)")
    cal = Calibration()
    cal.load_dict(data["band"])
    report = {"station": data.get("station"), "last_verified": cal.now, **cal.stats(), "horizons": cal.per_horizon()}
    if as_json:
        return json.dumps(report, indent=1)
    pct = lambda x: "—" if x is None else f"{x:5.1f} %"  # noqa: E731
    lines = [f"station {report['station']}: 10–90 % band over the last {WINDOW_DAYS} days "
             f"({report['n']} verified hours × horizons, coverage {pct(report['coverage_pct'])}, "
             f"{report['updates']} updates)",
             "  horizon      n  coverage  below p10  above p90   model offsets °C   naive offsets °C"]
    for row in report["horizons"]:
        lines.append(f"  +{row['h']:2d} h  {row['n']:6d}  {pct(row['coverage_pct'])}  {pct(row['below_pct'])}    "
                     f"{pct(row['above_pct'])}    −{row['model_offsets_c'][0]:.2f} +{row['model_offsets_c'][1]:.2f}"
                     f"      −{row['naive_offsets_c'][0]:.2f} +{row['naive_offsets_c'][1]:.2f}")
    return "\n".join(lines)
