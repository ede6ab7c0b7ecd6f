"""The box checks its own forecasts: each one is scored when its hour comes.

A forecast issued at hour H waits as *pending* (at most 25 of them): the value published,
its source, the model's value when it computed one (also when naive went out: shadow
scoring) — as the model would serve it, i.e. corrected where the on-box correction serves
(correction.py) — its uncorrected value, the naive value, and the model's raw curve with
the correction's prediction of it. The curve is verified hour by hour for the correction:
at each completed, OBSERVED hour H + h its horizon h (correction.Correction.verify).
The published band (``hourly_p10``/``hourly_p90``, and the curve's ``hourly_source``) is
verified the same way for the band (calibration.Calibration.verify): each completed, OBSERVED hour moves the
offsets of the horizons at which pending forecasts meet it.
When hour H + 24 completes, its temperature verifies the
forecast only if that cell was OBSERVED — the rule the training targets follow
(edgecast.protocol: a carried or missing cell is no target); otherwise the forecast is
dropped as unverifiable. A verified forecast keeps its signed errors (forecast − actual)
for 30 days of event time, so the figures are exact rolling means, not per-day buckets.

Figures over the verified forecasts whose valid hour lies in the last 7 or 30 days:

- ``model_mae``: the model as it serves on its own — its value (corrected where the
  correction serves) where it computed one, its naive fallback elsewhere (warm-up, gaps) —
  so model and naive are compared on the same forecasts, and hours the model could not
  serve count as a draw; ``uncorrected_mae``: the same with the model's own values;
- ``naive_mae``; ``published_mae`` and ``bias``: of what was published (they differ from
  the model's only while the skill guard serves naive); ``skill_pct`` = 100·(1 − model/naive);
- ``n`` verified forecasts, ``model_n`` of them with a model value.

The scores belong to the model that made them (its sha256, and the correction learnt for
it): another bundle restarts them (station.py), so a good new model is never kept off by
an old one's errors.

The skill guard (``[model] skill_guard``, on by default) serves naive while the model's 30-day MAE is
worse than naive's by more than ``skill_guard_margin`` °C, once ``skill_guard_min_days``
× 24 forecasts are verified; it lets the model serve again when its MAE (still scored in
the shadow) is below naive's: the gap between the two thresholds keeps it from flapping.
"""

from __future__ import annotations

import numpy as np

from ..resample import HOUR
from ..schema import HORIZON_HOURS
from .hourly import finite, is_hour_stamp, pack_f8, unpack_f8

DAY = 24 * HOUR
WINDOWS_DAYS = (7, 30)
KEEP = max(WINDOWS_DAYS) * DAY
HORIZON = HORIZON_HOURS * HOUR
# valid hour, then the signed errors of: published, model as served (NaN: none computed), naive,
# and the model uncorrected (files before the correction: 4 columns, the model's own = served)
COLUMNS = 5


def _mean(x: np.ndarray) -> float | None:
    return round(float(np.mean(x)), 4) if len(x) else None


class Skill:
    def __init__(self):
        # issued hour -> [published, source, model (as served) or None, naive, model uncorrected or None,
        #                 raw curve or None, corrected curve as issued or None,
        #                 the published curve's source (hourly_source) and band (hourly_p10, hourly_p90) or None]
        self.pending: dict[int, list] = {}
        self.records = np.zeros((0, COLUMNS))
        self.now: int | None = None  # the last completed hour: the end of the rolling windows
        self.unverified = 0  # forecasts whose valid hour was not observed (or skipped by a gap)
        self.guarding = False
        self.sha: str | None = None  # the bundle whose forecasts these are (station.py restarts them for another)

    # --- scoring ---------------------------------------------------------------------------
    def issued(self, hour: int, payload: dict, model: float | None = None, curve=None, corrected=None) -> None:
        """The forecast published for ``hour`` (its payload, as it went out); ``model``: the
        +24 h value the model would serve (corrected where the correction serves; default
        ``model_c``); ``curve``/``corrected``: the model's raw curve and the correction's."""
        raw = payload.get("model_c")
        self.pending[int(hour)] = [payload["temperature_c"], payload["source"], raw if model is None else model,
                                   payload["naive_c"], raw,
                                   None if curve is None else [round(float(v), 4) for v in curve],
                                   None if corrected is None else [round(float(v), 4) for v in corrected],
                                   payload.get("hourly_source"), payload.get("hourly_p10"), payload.get("hourly_p90")]

    def drop_curves(self) -> None:
        """The model or correction changed: pending curves must not teach the new one."""
        for entry in self.pending.values():
            entry[5] = entry[6] = None

    def verify(self, hour: int, actual: float | None, correction=None, calibration=None) -> None:
        """Hour ``hour`` completed; ``actual`` is its observed temperature, None if not observed.
        ``correction``: the on-box correction learns from every pending curve meeting this hour;
        ``calibration``: the band's offsets, from every pending published curve meeting it."""
        self.now = int(hour)
        if actual is not None and correction is not None:
            self._verify_curves(actual, correction)
        if actual is not None and calibration is not None:
            self._verify_band(actual, calibration)
        issued = self.now - HORIZON
        forecast = self.pending.pop(issued, None)
        stale = [h for h in self.pending if h < issued]  # their hour went by in a gap
        for h in stale:
            del self.pending[h]
        self.unverified += len(stale)
        if forecast is not None:
            if actual is None:
                self.unverified += 1
            else:
                published, _, model, naive, raw = forecast[:5]
                row = [self.now, published - actual, np.nan if model is None else model - actual, naive - actual,
                       np.nan if raw is None else raw - actual]
                self.records = np.vstack([self.records, row])
        self.records = self.records[self.records[:, 0] > self.now - KEEP]

    def _verify_curves(self, actual: float, correction) -> None:
        position = {h: i for i, h in enumerate(correction.horizons)}
        index, model, corrected, t_now = [], [], [], []
        for issued, entry in self.pending.items():
            curve, predicted = entry[5], entry[6]
            i = position.get((self.now - issued) // HOUR)
            if i is None or curve is None or predicted is None or len(curve) != len(position) \
                    or len(predicted) != len(position):
                continue
            index.append(i)
            model.append(curve[i])
            corrected.append(predicted[i])
            t_now.append(entry[3])
        correction.verify(self.now, index, model, corrected, t_now, actual)

    def _verify_band(self, actual: float, calibration) -> None:
        from .calibration import source_index
        horizon, source, low, high = [], [], [], []
        for issued, entry in self.pending.items():
            p10, p90, h = entry[8], entry[9], (self.now - issued) // HOUR
            if p10 is not None and p90 is not None and 1 <= h <= min(len(p10), len(p90)):
                horizon.append(h)
                source.append(source_index(entry[7]))
                low.append(p10[h - 1])
                high.append(p90[h - 1])
        calibration.verify(self.now, horizon, source, low, high, actual)

    def figures(self, days: int) -> dict:
        r = self.records
        if self.now is not None:
            r = r[r[:, 0] > self.now - days * DAY]
        has_model = np.isfinite(r[:, 2])
        model_err = np.where(has_model, r[:, 2], r[:, 3])
        raw_err = np.where(np.isfinite(r[:, 4]), r[:, 4], r[:, 3])
        model, naive = _mean(np.abs(model_err)), _mean(np.abs(r[:, 3]))
        return {"n": int(len(r)), "model_n": int(has_model.sum()), "model_mae": model,
                "uncorrected_mae": _mean(np.abs(raw_err)), "naive_mae": naive,
                "published_mae": _mean(np.abs(r[:, 1])), "bias": _mean(r[:, 1]),
                "skill_pct": round(100 * (1 - model / naive), 1) if naive else None}

    def stats(self) -> dict:
        out = {f"days_{d}": self.figures(d) for d in WINDOWS_DAYS}
        out |= {"pending": len(self.pending), "unverified": self.unverified, "guard": self.guard_text()}
        return out

    # --- the guard -------------------------------------------------------------------------
    def guard(self, enabled: bool, min_days: int, margin: float) -> bool:
        """Whether naive must serve this hour; changes state once per completed hour."""
        f = self.figures(30)
        if not enabled or f["n"] < min_days * 24:
            self.guarding = False
        elif self.guarding:
            self.guarding = f["model_mae"] >= f["naive_mae"]  # back once the model does better
        else:
            self.guarding = f["model_mae"] > f["naive_mae"] + margin
        return self.guarding

    def guard_text(self) -> str | None:
        f = self.figures(30) if self.guarding else {}
        if not f.get("n"):  # (the state file's guard is checked on load; never a crash here)
            return None
        return f"skill guard: model MAE {f['model_mae']:.2f} vs naive {f['naive_mae']:.2f} over the last 30 days"

    # --- persistence (in the station's state file) ----------------------------------------
    def to_dict(self) -> dict:
        return {"now": self.now, "pending": [[h, *f] for h, f in sorted(self.pending.items())],
                "records": pack_f8(self.records), "columns": COLUMNS, "unverified": self.unverified,
                "guarding": self.guarding, "sha": self.sha}

    def load_dict(self, d: dict) -> None:
        """Restore from to_dict(); ValueError/TypeError/KeyError when it does not fit (types,
        hour stamps in range, finite numbers, no more entries than the rules keep)."""
        now = d["now"]
        if now is not None and not is_hour_stamp(now):
            raise ValueError(f"skill.now is not an hour stamp ({str(now)[:40]})")
        if not isinstance(d["pending"], list) or len(d["pending"]) > MAX_PENDING:
            raise ValueError(f"skill.pending: not a list of at most {MAX_PENDING} entries")
        pending = dict(_pending_entry(entry) for entry in d["pending"])
        columns = d.get("columns", 4)
        if columns not in (4, COLUMNS):
            raise ValueError(f"skill.columns: {columns!r}")
        records = unpack_f8(d["records"], (-1, columns), "skill.records")
        if columns == 4:  # before the correction: the model's own value was what it served
            records = np.column_stack([records, records[:, 2]])
        _check_records(records)
        unverified, guarding, sha = d["unverified"], d["guarding"], d.get("sha")  # no sha: an older file
        if not isinstance(unverified, int) or isinstance(unverified, bool) or unverified < 0 \
                or not isinstance(guarding, bool) or not (sha is None or isinstance(sha, str) and len(sha) <= 64):
            raise TypeError("skill.unverified / skill.guarding / skill.sha")
        self.now, self.pending, self.records = now, pending, records
        if guarding and self.figures(30)["n"] == 0:
            self.now, self.pending, self.records = None, {}, np.zeros((0, COLUMNS))
            raise ValueError("skill.guarding without a verified forecast in the last 30 days")
        self.unverified, self.guarding, self.sha = unverified, guarding, sha


# A forecast waits 24 h for its hour (one per completed hour, plus the one just issued).
MAX_PENDING = HORIZON_HOURS + 1


def _pending_entry(entry) -> tuple[int, list]:
    # 5: files before the correction, 8: before the band
    if not isinstance(entry, list) or len(entry) not in (5, 8, 11):
        raise ValueError("skill.pending: bad entry")
    h, published, source, model, naive = entry[:5]
    raw, curve, corrected = entry[5:8] if len(entry) >= 8 else (model, None, None)
    hourly_source, p10, p90 = entry[8:11] if len(entry) == 11 else (None, None, None)
    if not is_hour_stamp(h) or source not in ("model", "naive") or not (finite(published) and finite(naive)) \
            or not all(x is None or finite(x) for x in (model, raw)) \
            or not all(c is None or (isinstance(c, list) and 1 <= len(c) <= HORIZON_HOURS and all(
                finite(x) for x in c)) for c in (curve, corrected, p10, p90)) \
            or hourly_source not in (None, "model", "naive"):
        raise ValueError(f"skill.pending: bad entry for hour {str(h)[:40]}")
    return h, [float(published), source, model, float(naive), raw, curve, corrected, hourly_source, p10, p90]


def _check_records(records: np.ndarray) -> None:
    """One row per verified hour of the last 30 days: hour stamps, finite errors (the
    model's columns: NaN where it computed no value)."""
    if len(records) > KEEP // HOUR:
        raise ValueError(f"skill.records: {len(records)} rows, at most {KEEP // HOUR} are kept")
    hours_ok = all(float(h).is_integer() and is_hour_stamp(int(h)) for h in records[:, 0])
    if not hours_ok or not np.isfinite(records[:, [1, 3]]).all() or np.isinf(records[:, [2, 4]]).any():
        raise ValueError("skill.records: not hour stamps with finite errors")
