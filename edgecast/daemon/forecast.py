"""Model or naive: which forecast goes out for a completed hour, and its payload.

Rules, in order:

1. the last hour has no temperature (observed, or carried within the gap policy):
   publish nothing — a stale number is worse than none;
2. no usable model (none loaded, or the bundle was refused): naive, reason = why;
3. the window lacks cells the model reads (missing beyond the gap policy, or still
   warming up), or fewer than ``min_observed_fraction`` of them were observed:
   naive, reason says how many hours/cells;
4. the model raises ModelCannotServe (interpreter error, non-finite output): naive,
   reason = its message; any other exception while it forecasts (a fault no check
   foresaw): naive, reason ``model failed: <type>: <message>``, never a skipped hour;
5. the skill guard holds (skill.py: the model did worse than naive on this box): naive,
   reason = the guard's figures; the model's value still goes out as ``model_c``, so
   it keeps being scored;
6. otherwise the model's forecast.

``model_c`` is the model's own +24 h value whenever it computed one, else null.

The on-box correction (correction.py), when given: the model's curve corrected hour by
hour; each hour whose correction beats the uncorrected model on this box's verified
forecasts serves corrected (so ``temperature_c``/``hourly`` are what is served),
``corrected_c`` is the corrected +24 h value whenever one was computed (else null), and
``correction`` says whether it serves (``active``: at least one hour; ``hours``: how
many), with its prequential MAEs over the last 14 days (``mae_corrected``,
``mae_uncorrected``, ``n`` verified values, all horizons); null while it is off.

The whole next day: ``hourly`` holds 24 values, element i for
``issued_at + (i + 1) h``; its last one is always ``temperature_c``. They come from the
model when it serves and its bundle forecasts the curve (``hourly_source: model``), else
from the naive curve (edgecast.naive: the better naive per hour) — also under a +24 h-only
bundle, whose model value then ends the curve. ``min_c``/``max_c`` and their times are
over those 24 hours.

The band (calibration.Calibration: offsets per horizon, kept calibrated by this box's
verified forecasts): ``hourly_p10``/``hourly_p90``, the 10 % and 90 % quantiles of each
hour of ``hourly`` (``hourly_p10[i] ≤ hourly[i] ≤ hourly_p90[i]``), and
``frost_probability``, the probability that one of the 24 hours goes below the alert's
``frost_c`` (edgecast.band over the three quantiles: its rule ``FROST_COMBINE``, then
``recalibrate``).

``frost_alert``: the frost warning after this forecast (frost_alert.FrostAlert moved by
the station's rule), so the payload leaves ``decide`` whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ..features import required_channels
from ..naive import HORIZONS, naive_curve
from ..schema import CHANNEL_INDEX, CHANNEL_NAMES, HORIZON_HOURS, TARGET_INDEX
from .. import band
from ..alerts import FrostRule
from .calibration import LEVELS, Calibration
from .frost_alert import FrostAlert
from .hourly import CARRIED, MISSING, OBSERVED, Window

log = logging.getLogger("edgecast.forecast")

def needed_channels(features) -> list[int]:
    """Raw channel indices a model's feature list reads (edgecast.features decides)."""
    return [CHANNEL_INDEX[n] for n in required_channels(features)]


def iso(t: np.datetime64) -> str:
    return datetime.fromtimestamp(int(t.astype("datetime64[s]").astype(np.int64)), timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def completeness(window: Window, channels: list[int]) -> dict:
    status = window.status[:, channels]
    cells = status.size
    missing_hours = int((status == MISSING).any(axis=1).sum())
    return {
        "hours": int(window.status.shape[0]),
        "observed": round(float((status == OBSERVED).sum()) / cells, 4),
        "carried_cells": int((status == CARRIED).sum()),
        "missing_cells": int((status == MISSING).sum()),
        "missing_hours": missing_hours,
    }


def _incomplete_reason(window: Window, channels: list[int], quality: dict) -> str:
    never = [CHANNEL_NAMES[c] for c in channels if (window.status[:, c] == MISSING).all()]
    if never:  # the sensor does not send a channel the model reads (or the mapping misses it)
        buffered = int((window.status[:, TARGET_INDEX] != MISSING).sum())
        return (f"window incomplete: the readings carry no {', '.join(never)}, which the model reads; "
                f"{buffered} of {quality['hours']} hours buffered")
    missing_rows = (window.status[:, channels] == MISSING).all(axis=1)
    leading = int(np.argmin(missing_rows)) if not missing_rows.all() else len(missing_rows)
    hours = quality["hours"]
    if leading == quality["missing_hours"]:
        # Only the oldest hours are missing: the buffer has not yet seen 120 hours.
        return f"warming up: {hours - leading} of {hours} hours buffered"
    lacking = [CHANNEL_NAMES[c] for c in channels if (window.status[:, c] == MISSING).any()]
    names = ", ".join(lacking[:4]) + (f" and {len(lacking) - 4} more" if len(lacking) > 4 else "")
    return (f"window incomplete: {quality['missing_hours']} of {hours} hours lack {names} "
            f"(a gap longer than the carry-forward limit)")


@dataclass
class Decision:
    """One completed hour's forecast: the payload as published, and what the skill keeps
    pending (not published): ``model`` (the +24 h value the model would serve), ``curve``
    (its raw curve) and ``corrected`` (the corrected curve); ``frost``: "on"/"off" when
    the frost warning switched with it."""
    payload: dict
    model: float | None = None
    curve: np.ndarray | None = None
    corrected: np.ndarray | None = None
    frost: str | None = None


def decide(window: Window, forecaster, model_error: str | None, station: str,
           min_observed_fraction: float, guard: str | None = None, location=None, correction=None,
           alert: FrostAlert | None = None, rule: FrostRule | None = None,
           calibration: Calibration | None = None) -> Decision | None:
    """The forecast for the window's last hour, or None when nothing may go out.
    ``guard``: the skill guard's reason when it holds, else None; ``location``: where the
    box stands (edgecast.solar.Location), for bundles that read the sun's features;
    ``correction``: the on-box correction (correction.Correction) or None when off;
    ``alert``: the station's frost warning, moved by ``rule`` (None: the default rule) with
    this forecast (None: a fresh one, as for a first hour); ``calibration``: the station's
    band offsets (None: a fresh box's, the prior)."""
    t_now = window.values[-1, TARGET_INDEX]
    if not np.isfinite(t_now):
        return None
    channels = needed_channels(forecaster.schema.features) if forecaster else list(range(len(CHANNEL_NAMES)))
    quality = completeness(window, channels)
    # The naive curve reads the last 24 hours (observed or carried; a missing one: T now).
    hourly, hourly_source = naive_curve(window.values[-HORIZON_HOURS:, TARGET_INDEX]), "naive"
    value, source, reason, model_value, corrected_value = float(t_now), "naive", None, None, None
    extras: dict = {}
    if forecaster is None:
        reason = f"no model: {model_error}" if model_error else "no model"
    elif quality["missing_cells"]:
        reason = _incomplete_reason(window, channels, quality)
    elif quality["observed"] < min_observed_fraction:
        reason = (f"window too incomplete: {quality['observed']:.0%} of cells observed, "
                  f"below min_observed_fraction {min_observed_fraction:.0%}")
    else:
        from ..forecaster import ModelCannotServe
        filled = np.where(np.isnan(window.values), 0.0, window.values)  # channels the model does not read
        try:
            outputs = forecaster.forecast(filled, window.times, location=location)
            model_value = float(outputs[-1])
        except ModelCannotServe as exc:
            reason = str(exc) or "the model could not serve"
        except Exception as exc:  # a fault no check foresaw: this hour still goes out, naive
            reason = f"model failed: {type(exc).__name__}: {str(exc)[:200]}"
            log.error("station %s: %s; serving the naive forecast", station, reason)
        if model_value is not None:
            served = outputs
            extras["curve"] = outputs
            if correction is not None:
                corrected = correction.apply(outputs, float(t_now), int(window.issued_at.astype("datetime64[s]")
                                                                         .astype(np.int64)))
                corrected_value = float(corrected[-1])
                served = np.where(correction.active(), corrected, outputs)
                extras["corrected"] = corrected
            extras["model"] = round(float(served[-1]), 3)
            if guard:
                reason = guard
            else:
                value, source = float(served[-1]), "model"
                if len(served) == len(HORIZONS):
                    hourly, hourly_source = served, "model"
                else:
                    hourly = np.concatenate([hourly[:-1], [value]])
    issued = window.issued_at
    rule = rule or FrostRule()
    quantiles = (calibration or Calibration()).quantiles(hourly, hourly_source)
    low, high = int(np.argmin(hourly)), int(np.argmax(hourly))
    payload = {
        "station": station,
        "issued_at": iso(issued),
        "valid_at": iso(issued + np.timedelta64(HORIZON_HOURS, "h")),
        "temperature_c": round(value, 3),
        "source": source,
        "reason": reason,
        "naive_c": round(float(t_now), 3),
        "model_c": None if model_value is None else round(model_value, 3),
        "corrected_c": None if corrected_value is None else round(corrected_value, 3),
        "correction": None if correction is None else correction.figures(),
        "hourly": [round(float(v), 3) for v in hourly],
        "hourly_source": hourly_source,
        "hourly_p10": [round(float(v), 3) for v in quantiles[:, 0]],
        "hourly_p90": [round(float(v), 3) for v in quantiles[:, 2]],
        "frost_probability": round(band.frost_probability(quantiles, LEVELS, rule.threshold_c), 4),
        "min_c": round(float(hourly[low]), 3),
        "min_at": iso(issued + np.timedelta64(int(HORIZONS[low]), "h")),
        "max_c": round(float(hourly[high]), 3),
        "max_at": iso(issued + np.timedelta64(int(HORIZONS[high]), "h")),
        "model": forecaster.identity if forecaster else None,
        "window": quality,
    }
    alert = FrostAlert() if alert is None else alert
    switched = alert.update(rule, payload)
    payload["frost_alert"] = alert.on
    return Decision(payload, extras.get("model"), extras.get("curve"), extras.get("corrected"), switched)
