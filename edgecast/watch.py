"""Follow a station's forecasts and score each one once its actual temperature is read.

The library of ``edgecast watch`` (the command is in edgecast/daemon/cli.py): the line
printed per forecast, and the matching of forecasts with the readings 24 h later.
Forecasts and readings arrive in any relative order (a replay runs ahead of the
daemon), so both are matched both ways, each history bounded.
"""

from __future__ import annotations

import json
import uuid
from typing import Callable

from .readings import Reading, parse, parse_time
from .schema import TARGET_INDEX

KEEP = 2000  # forecasts waiting for their actual, and hourly actuals waiting for a forecast
MAX_READING_BYTES = 1 << 20


def new_client_id() -> str:
    return f"edgecast-watch-{uuid.uuid4().hex[:8]}"


def _band_at(f: dict, which) -> str:
    """`` [p10…p90]`` of the curve's hour that is its low (``min``) or high (``max``); empty
    for a daemon without the band."""
    hourly, low, high = f.get("hourly"), f.get("hourly_p10"), f.get("hourly_p90")
    if not hourly or not low or not high or not len(hourly) == len(low) == len(high):
        return ""
    i = hourly.index(which(hourly))  # the first, as the daemon's argmin / argmax
    return f" [{low[i]:.1f}…{high[i]:.1f}]"


def forecast_line(f: dict) -> str:
    """One compact line per forecast: now, the next 24 hours' min and max (and when) with the
    10–90 % band at those hours, +24 h, where it came from, the frost probability, and FROST
    while the frost warning is on."""
    if "min_c" not in f:  # a daemon that published the +24 h value only, without the curve
        extremes = ""
    else:
        extremes = (f"min {f['min_c']:6.2f}{_band_at(f, min)} at {f['min_at'][11:16]}  "
                    f"max {f['max_c']:6.2f}{_band_at(f, max)} at {f['max_at'][11:16]}"
                    f"{'' if f['hourly_source'] == f['source'] else ' (curve: ' + f['hourly_source'] + ')'}  ")
    frost = f"  frost {100 * f['frost_probability']:.0f} %" if f.get("frost_probability") is not None else ""
    return (f"{f['issued_at']}  now {f['naive_c']:6.2f}  {extremes}+24 h {f['temperature_c']:6.2f} °C  "
            f"[{f['source']}{' (' + f['reason'] + ')' if f.get('reason') else ''}]{frost}"
            f"{'  FROST' if f.get('frost_alert') else ''}")


def actual_line(f: dict, actual: float) -> str:
    return (f"{f['valid_at']}  actual {actual:6.2f} °C, forecast {f['temperature_c']:6.2f} °C "
            f"({f['source']}), error {f['temperature_c'] - actual:+.2f} °C")


class Watcher:
    """Turns forecast and reading payloads into the lines to print (``echo``)."""

    def __init__(self, echo: Callable[[str], None], as_json: bool = False, keep: int = KEEP):
        self.echo, self.as_json, self.keep = echo, as_json, keep
        self.pending: dict[float, dict] = {}  # valid_at (epoch s) -> forecast still waiting for its actual
        self.actuals: dict[float, float] = {}  # hourly reading time -> temperature
        self.forecasts = 0
        self.ignored = 0  # forecast payloads that are not a forecast

    def on_forecast(self, payload: bytes) -> None:
        try:
            f = json.loads(payload)
            valid = parse_time(f["valid_at"])
            text = forecast_line(f)
        # not ours: garbage, a nesting deeper than the parser's stack (RecursionError), a
        # 400-digit number that no float holds (OverflowError)
        except (ValueError, KeyError, TypeError, RecursionError, OverflowError):
            self.ignored += 1
            return
        self.forecasts += 1
        self.echo(json.dumps(f) if self.as_json else text)
        if valid in self.actuals:
            self.echo(actual_line(f, self.actuals[valid]))
        elif valid is not None:
            self.pending[valid] = f
        self._trim()

    def on_reading(self, payload: bytes) -> None:
        r = parse(payload, MAX_READING_BYTES)
        if not isinstance(r, Reading) or TARGET_INDEX not in r.values:
            return
        actual = r.values[TARGET_INDEX]
        if r.time in self.pending:
            self.echo(actual_line(self.pending.pop(r.time), actual))
        elif r.time % 3600 == 0:
            self.actuals[r.time] = actual
        self._trim()

    def _trim(self) -> None:
        for history in (self.pending, self.actuals):
            while len(history) > self.keep:
                history.pop(next(iter(history)))
