"""The box learns its own site: an online linear correction of the model's curve.

A model trained on Jena's roof is biased elsewhere (a hotter, drier, sunnier place; a
sensor in the shade). Per horizon h of the bundle's curve (24 of them, or 1 for a +24 h
only bundle) the residual of the model's forecast is fitted online:

    actual − model_h  ≈  w_h · x,    x = [1, model_h − T_now, sin θ, cos θ]

θ is the local solar hour angle of the target hour (edgecast.solar.solar_hour_angle, from
the box's longitude): a bias that depends on the time of day, a model that over- or
under-does the change it forecasts. The corrected value is ``model_h + w_h · x``.

Fit: recursive least squares with exponential forgetting, one (w_h, P_h) per horizon.

- ``LAMBDA`` = 1 − 1/720: each horizon is updated once per verified hour, so the memory
  (1/(1 − λ)) is 720 hours, ~30 days — a season changes the bias slowly, a month follows it.
- ``P0`` = 1·I (w starts at 0): the same as a ridge penalty of 1 on w (one pseudo-observation
  per unit of feature²), weak next to a month of data but enough to keep the first few
  updates from jumping; with forgetting it fades as the data accumulate. P's trace is
  capped (``P_MAX``) so an input that stops varying cannot wind P up.

Prequential, so it can be trusted: each forecast's raw curve and the correction's own
prediction (made with the weights of the time it was issued) wait in skill.Skill's pending
forecasts; when hour issued + h completes and its temperature was OBSERVED, horizon h is
verified: FIRST the absolute errors of the corrected and uncorrected value are recorded
(out of sample: the prediction predates this update), THEN the RLS is updated with it.

Gate, per horizon: the corrected value serves hour h only while, over the verified
forecasts of the last ``WINDOW_DAYS`` (14) days, at least ``MIN_DAYS`` (7) × 24 of them
verified at that horizon, its prequential MAE is below the uncorrected one's. Per horizon
because the correction does not help every horizon alike (the first hours are near the
observation already); 168+ errors per horizon make the comparison stable enough. Errors
are kept as per-day sums (|e| corrected, |e| uncorrected, count) per horizon over 15 days,
so the state stays small.

The state lives in the station's state file and belongs to one bundle (its sha256) and one
longitude: another bundle, or another place, starts it afresh.
"""

from __future__ import annotations

import numpy as np

from ..resample import HOUR
from ..solar import solar_hour_angle
from .hourly import is_hour_stamp, pack_f8, unpack_f8

DAY = 24 * HOUR
FEATURES = 4  # 1, model_h − T_now, sin, cos of the target hour's solar hour angle
LAMBDA = 1.0 - 1.0 / 720.0  # forgetting: ~30 days of memory at one update per hour and horizon
P0 = 1.0  # initial P = P0·I: ridge penalty 1/P0
P_MAX = 1e3 * FEATURES  # cap on trace(P) (no wind-up when an input stops varying)
WINDOW_DAYS = 14  # the gate's window of verified forecasts ...
MIN_DAYS = 7  # ... of which at least this many days (× 24) per horizon
SLOTS = WINDOW_DAYS + 1  # day buckets kept: the window plus the day in progress


def features(model: np.ndarray, t_now: np.ndarray, target_s: np.ndarray, longitude: float) -> np.ndarray:
    """(k, 4) regressors for k forecasts: model values, temperatures at issue, target times (s)."""
    angle = solar_hour_angle(np.asarray(target_s, dtype="int64").astype("datetime64[s]"), longitude)
    return np.column_stack([np.ones_like(model), model - t_now, np.sin(angle), np.cos(angle)])


class Correction:
    def __init__(self, sha: str | None = None, horizons=(24,), longitude: float = 0.0):
        self.sha = sha
        self.horizons = [int(h) for h in horizons]
        self.longitude = float(longitude)
        k = len(self.horizons)
        self.w = np.zeros((k, FEATURES))
        self.P = np.tile(np.eye(FEATURES) * P0, (k, 1, 1))
        self.updates = np.zeros(k)  # RLS updates per horizon (for stats)
        self.days = np.full(SLOTS, -1, dtype=np.int64)  # the day (valid hour // DAY) of each bucket
        self.sums = np.zeros((SLOTS, k, 3))  # per day and horizon: Σ|e corrected|, Σ|e uncorrected|, n
        self.now: int | None = None  # the last verified hour

    def fits(self, sha: str | None, horizons, longitude: float) -> bool:
        return self.sha == sha and self.horizons == [int(h) for h in horizons] and self.longitude == float(longitude)

    # --- serving ---------------------------------------------------------------------------
    def apply(self, curve: np.ndarray, t_now: float, issued_s: int) -> np.ndarray:
        """The corrected curve (same horizons as ``curve``), with the weights of now."""
        curve = np.asarray(curve, float)
        x = features(curve, np.full_like(curve, t_now), issued_s + HOUR * np.asarray(self.horizons), self.longitude)
        return curve + np.einsum("kj,kj->k", self.w, x)

    def active(self) -> np.ndarray:
        """Per horizon: whether the corrected value serves (beats uncorrected on enough verified data)."""
        c, u, n = self._window().transpose(1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (n >= MIN_DAYS * 24) & (c < u)

    def _window(self) -> np.ndarray:
        """(k, 3) sums over the last WINDOW_DAYS days up to the last verified hour."""
        if self.now is None:
            return np.zeros((len(self.horizons), 3))
        today = self.now // DAY
        keep = (self.days > today - WINDOW_DAYS) & (self.days <= today)
        return self.sums[keep].sum(axis=0)

    # --- learning --------------------------------------------------------------------------
    def verify(self, valid_s: int, index: np.ndarray, model: np.ndarray, corrected: np.ndarray,
               t_now: np.ndarray, actual: float) -> None:
        """Hour ``valid_s`` was observed as ``actual``; ``index[i]`` is the horizon (position in
        ``self.horizons``) at which the i-th pending forecast meets it, with its raw value
        ``model[i]``, its corrected value as issued ``corrected[i]`` and ``t_now[i]``.
        First the prequential errors are recorded, then the weights learn."""
        index = np.asarray(index, dtype=np.int64)
        if not len(index):
            return
        model, corrected, t_now = (np.asarray(a, float) for a in (model, corrected, t_now))
        self.now = int(valid_s)
        day = self.now // DAY
        slot = day % SLOTS
        if self.days[slot] != day:
            self.days[slot], self.sums[slot] = day, 0.0
        np.add.at(self.sums[slot], (index, 0), np.abs(corrected - actual))
        np.add.at(self.sums[slot], (index, 1), np.abs(model - actual))
        np.add.at(self.sums[slot], (index, 2), 1.0)
        # RLS, batched over the horizons met this hour (each horizon at most once)
        x = features(model, t_now, np.full(len(index), self.now), self.longitude)
        w, P = self.w[index], self.P[index]
        Px = np.einsum("kij,kj->ki", P, x)
        gain = Px / (LAMBDA + np.einsum("ki,ki->k", x, Px))[:, None]
        error = (actual - model) - np.einsum("kj,kj->k", w, x)
        self.w[index] = w + gain * error[:, None]
        P = (P - np.einsum("ki,kj->kij", gain, Px)) / LAMBDA
        P = 0.5 * (P + P.transpose(0, 2, 1))  # keep it symmetric against rounding
        trace = np.einsum("kii->k", P)
        over = trace > P_MAX
        if over.any():
            P[over] *= (P_MAX / trace[over])[:, None, None]
        self.P[index] = P
        self.updates[index] += 1

    # --- figures ----------------------------------------------------------------------------
    def figures(self) -> dict:
        """The gate's window (all horizons pooled), and how many horizons are corrected."""
        window = self._window()
        c, u, n = window.sum(axis=0)
        active = self.active()
        return {"active": bool(active.any()), "hours": int(active.sum()),
                "mae_corrected": round(float(c / n), 4) if n else None,
                "mae_uncorrected": round(float(u / n), 4) if n else None, "n": int(n)}

    def stats(self) -> dict:
        window = self._window()
        with np.errstate(invalid="ignore", divide="ignore"):
            per = [{"h": h, "n": int(s[2]), "mae_corrected": round(float(s[0] / s[2]), 3) if s[2] else None,
                    "mae_uncorrected": round(float(s[1] / s[2]), 3) if s[2] else None, "active": bool(a)}
                   for h, s, a in zip(self.horizons, window, self.active())]
        return {**self.figures(), "window_days": WINDOW_DAYS, "updates": int(self.updates.sum()),
                "horizons": per}

    # --- persistence (in the station's state file) ----------------------------------------
    def to_dict(self) -> dict:
        return {"sha": self.sha, "horizons": self.horizons, "longitude": self.longitude, "now": self.now,
                "w": pack_f8(self.w), "P": pack_f8(self.P.reshape(len(self.horizons), -1)),
                "updates": pack_f8(self.updates[:, None]), "days": [int(d) for d in self.days],
                "sums": pack_f8(self.sums.reshape(SLOTS, -1))}

    def load_dict(self, d: dict) -> None:
        """Restore from to_dict(); ValueError/TypeError/KeyError when it does not fit."""
        sha, horizons, longitude, now = d["sha"], d["horizons"], d["longitude"], d["now"]
        if not (sha is None or isinstance(sha, str) and len(sha) <= 64):
            raise TypeError("correction.sha")
        if not isinstance(horizons, list) or not horizons or not all(
                isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 24 for h in horizons):
            raise ValueError("correction.horizons: not a list of hours 1..24")
        if not isinstance(longitude, (int, float)) or not -180 <= longitude <= 180:
            raise ValueError("correction.longitude")
        if now is not None and not is_hour_stamp(now):
            raise ValueError("correction.now is not an hour stamp")
        k = len(horizons)
        w = unpack_f8(d["w"], (k, FEATURES), "correction.w")
        P = unpack_f8(d["P"], (k, FEATURES * FEATURES), "correction.P").reshape(k, FEATURES, FEATURES)
        updates = unpack_f8(d["updates"], (k, 1), "correction.updates")[:, 0]
        days = d["days"]
        if not isinstance(days, list) or len(days) != SLOTS or not all(isinstance(x, int) for x in days):
            raise ValueError("correction.days")
        sums = unpack_f8(d["sums"], (SLOTS, k * 3), "correction.sums").reshape(SLOTS, k, 3)
        if not all(np.isfinite(a).all() for a in (w, P, updates, sums)) or (sums < 0).any():
            raise ValueError("correction: non-finite or negative values")
        if not (np.einsum("kii->k", P) > 0).all():
            raise ValueError("correction.P is not positive")
        self.sha, self.horizons, self.longitude, self.now = sha, list(horizons), float(longitude), now
        self.w, self.P, self.updates = w.copy(), P.copy(), updates.copy()
        self.days, self.sums = np.asarray(days, dtype=np.int64), sums.copy()
