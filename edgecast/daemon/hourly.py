"""Event-time hourly resampler and the 120-hour buffer.

The hourly rule and the gap policy are edgecast.resample's, the same functions that
turn data files into hourly grids for training: the value of channel c for hour H is the
latest reading of c at or before H:00, if it is at most HOURLY_SAMPLE_MAX_AGE_MINUTES
old. On the Jena file's 10-minute rows that is exactly the row stamped H:00, so the
buffer holds the rows the protocols' windows read (tests/daemon/test_hourly.py checks
this on real rows of each file type).

Hour H is complete when the first reading at or after H:00 arrives: readings come in
time order (edgecast.daemon.ordering), so nothing can change hour H any more.

Gap policy (edgecast.resample): an hour without a fresh sample repeats the channel's last
*observed* hourly value for up to ``carry_forward_hours``; beyond that the cell is
missing (NaN). Every cell is marked observed, carried or missing, so the forecaster can
tell how complete the window is.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import numpy as np

from ..readings import Reading, checked_time
from ..resample import CARRIED, HOUR, LIVE_MAX_AGE, MISSING, OBSERVED, carried, fresh
from ..schema import CHANNELS, WINDOW_STEPS
from .settings import FromConfig

N_CHANNELS = len(CHANNELS)
__all__ = ["CARRIED", "MISSING", "OBSERVED", "HourlyBuffer", "Window"]


@dataclass
class Window:
    """The last 120 hours: values (120, 14) float64 with NaN for missing, oldest first."""

    times: np.ndarray  # (120,) datetime64[s]; the last one is the hour just completed
    values: np.ndarray
    status: np.ndarray  # (120, 14) OBSERVED / CARRIED / MISSING

    @property
    def issued_at(self) -> np.datetime64:
        return self.times[-1]


def pack_f8(a: np.ndarray) -> str:
    """A float64 array as base64 of its little-endian bytes: bit-exact, NaN kept, fast."""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")


def finite(x) -> bool:
    """A JSON number (not a bool) that is finite: what a state file's numbers must be."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def is_hour_stamp(x) -> bool:
    """A whole hour (epoch s, an int) within the event times readings may carry
    (readings.checked_time): a state file's hour stamps must be one."""
    return isinstance(x, int) and not isinstance(x, bool) and x % HOUR == 0 and checked_time(x) is not None


def unpack_f8(raw: str, shape: tuple, key: str) -> np.ndarray:
    """pack_f8's inverse; ValueError naming ``key`` when ``raw`` does not fill ``shape``
    (rows, columns); rows -1: as many as there are."""
    if not isinstance(raw, str):
        raise TypeError(f"{key}: not a string")
    try:
        data = base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"{key}: not base64 ({exc})") from None
    row_bytes = 8 * shape[1]
    if len(data) % row_bytes or (shape[0] != -1 and len(data) != row_bytes * shape[0]):
        raise ValueError(f"{key}: {len(data)} bytes for {shape[0]} rows of {shape[1]}")
    return np.frombuffer(data, dtype="<f8").astype(np.float64).reshape(shape)


def _consecutive_hours(raw, steps: int) -> np.ndarray:
    if not isinstance(raw, list) or len(raw) > steps or not all(is_hour_stamp(h) for h in raw):
        raise ValueError(f"hours: not a list of at most {steps} hour stamps")
    hours = np.array(raw, dtype=np.int64)
    if len(hours) > 1 and np.any(np.diff(hours) != HOUR):
        raise ValueError("hours are not consecutive hour stamps")
    return hours


class HourlyBuffer(FromConfig):
    def __init__(self, carry_forward_hours: int, steps: int = WINDOW_STEPS):
        self.apply_settings(carry_forward_hours)
        self.steps = steps
        self.hours = np.zeros(0, dtype=np.int64)  # completed hour stamps (epoch s), at most `steps`
        self.values = np.zeros((0, N_CHANNELS))
        self.status = np.zeros((0, N_CHANNELS), dtype=np.int8)
        self.next_hour: int | None = None  # the next hour stamp to complete
        # per channel: the latest raw sample (time, value) and the last observed hourly value
        self.sample_time = np.full(N_CHANNELS, np.nan)
        self.sample_value = np.full(N_CHANNELS, np.nan)
        self.observed_hour = np.full(N_CHANNELS, np.nan)
        self.observed_value = np.full(N_CHANNELS, np.nan)

    @staticmethod
    def settings(cfg) -> dict:
        """The live setting: [gaps] carry_forward_hours."""
        return {"carry_forward_hours": cfg.gaps.carry_forward_hours}

    def apply_settings(self, carry_forward_hours: int) -> None:
        """The gap policy's limit: applies from the next hour."""
        self.carry = carry_forward_hours * HOUR

    # --- feeding -----------------------------------------------------------------------
    def add(self, reading: Reading, on_hour=None) -> list[int]:
        """Take one reading (in time order); return the hour stamps it completed.

        ``on_hour(hour)`` is called as each hour completes, while window() still ends at it.
        """
        t = reading.time
        if self.next_hour is None:
            self.next_hour = int(-(-t // HOUR) * HOUR)  # the first hour at or after t
        completed = []
        end = int(t // HOUR) * HOUR  # the last hour this reading completes
        if end - self.next_hour > (self.steps + 1) * HOUR:
            # A jump longer than the window: the skipped hours would all be missing and
            # fall out of the window anyway, so do not iterate over a year of them.
            self.next_hour = end - self.steps * HOUR
        # Hours strictly before t are decided by earlier samples only ...
        while self.next_hour <= end and self.next_hour < t:
            completed.append(self._complete(self.next_hour))
            if on_hour:
                on_hour(completed[-1])
        for index, value in reading.values.items():
            self.sample_time[index] = t
            self.sample_value[index] = value
        # ... and a reading stamped exactly H:00 is hour H's own sample.
        if self.next_hour == t:
            completed.append(self._complete(self.next_hour))
            if on_hour:
                on_hour(completed[-1])
        return completed

    def in_open_hour(self, t: float) -> bool:
        """True when ``t`` is after the last completed hour (so it changes no forecast)."""
        return self.next_hour is not None and t > self.next_hour - HOUR

    def merge_late(self, reading: Reading) -> bool:
        """A reading older than the newest one, but after the last completed hour.

        QoS 1 redelivery after a broker restart can reorder a few readings. One that
        still falls in the open hour cannot change a published forecast, so its values
        are kept where they are newer than the channel's latest sample (it may carry a
        channel the newer reading lacked). False when it is too late for that.
        """
        if not self.in_open_hour(reading.time):
            return False
        for index, value in reading.values.items():
            if not reading.time <= self.sample_time[index]:  # NaN (no sample yet) counts as older
                self.sample_time[index] = reading.time
                self.sample_value[index] = value
        return True

    def _complete(self, hour: int) -> int:
        row = np.full(N_CHANNELS, np.nan)
        status = np.full(N_CHANNELS, MISSING, dtype=np.int8)
        is_fresh = fresh(self.sample_time, hour, LIVE_MAX_AGE)
        carry = carried(is_fresh, hour, self.observed_hour, self.carry)
        row[is_fresh] = self.sample_value[is_fresh]
        status[is_fresh] = OBSERVED
        row[carry] = self.observed_value[carry]
        status[carry] = CARRIED
        self.observed_hour[is_fresh] = hour
        self.observed_value[is_fresh] = row[is_fresh]
        self.hours = np.append(self.hours, hour)[-self.steps:]
        self.values = np.vstack([self.values, row])[-self.steps:]
        self.status = np.vstack([self.status, status])[-self.steps:]
        self.next_hour = hour + HOUR
        return hour

    # --- reading -------------------------------------------------------------------------
    def window(self) -> Window:
        """The last ``steps`` hours; hours before the first completed one are missing."""
        n = len(self.hours)
        last = int(self.hours[-1]) if n else (self.next_hour or 0) - HOUR
        times = (last - HOUR * np.arange(self.steps - 1, -1, -1)).astype("datetime64[s]")
        values = np.full((self.steps, N_CHANNELS), np.nan)
        status = np.full((self.steps, N_CHANNELS), MISSING, dtype=np.int8)
        if n:
            values[-n:], status[-n:] = self.values, self.status
        return Window(times, values, status)

    # --- persistence (edgecast.daemon.state writes these dicts) -------------------------
    # The 120 x 14 grids are written compactly: ``values`` as base64 of little-endian
    # float64 (NaN = missing; bit-exact, no float formatting) and ``status`` as one digit
    # per cell ("0" observed, "1" carried, "2" missing), row-major. As JSON lists they cost
    # ~0.8 ms to encode on every completed hour, more than the fsync (benchmarks/ingest.py).
    # The per-channel vectors stay readable lists; load_dict also reads the list form.
    def to_dict(self) -> dict:
        def nan_to_none(a):  # JSON has no NaN: missing becomes null
            return [x if math.isfinite(x) else None for x in a.tolist()]
        return {
            "hours": self.hours.tolist(),
            "values": pack_f8(self.values),
            "status": (np.ravel(self.status).astype(np.uint8) + ord("0")).tobytes().decode("ascii"),
            "next_hour": self.next_hour,
            "sample_time": nan_to_none(self.sample_time),
            "sample_value": nan_to_none(self.sample_value),
            "observed_hour": nan_to_none(self.observed_hour),
            "observed_value": nan_to_none(self.observed_value),
        }

    def load_dict(self, d: dict) -> None:
        """Restore from to_dict(); ValueError/TypeError/KeyError when it does not fit (then
        nothing is changed)."""
        def arr(key, shape):
            raw = d[key]
            if not isinstance(raw, list) or not all(x is None or finite(x) for x in raw):
                raise ValueError(f"{key}: not a list of finite numbers or nulls")
            a = np.array([np.nan if x is None else float(x) for x in raw], dtype=np.float64)
            return a.reshape(shape)

        def grid(key, shape):
            raw = d[key]
            if isinstance(raw, str):  # the compact form
                return unpack_f8(raw, shape, key)
            return arr(key, shape)

        def status_grid(shape):
            raw = d["status"]
            if isinstance(raw, str):
                # "" is a buffer with no hours yet
                if len(raw) != shape[0] * shape[1] or (raw and not (raw.isascii() and raw.isdigit())):
                    raise ValueError("status is not one digit per cell")
                return (np.frombuffer(raw.encode("ascii"), dtype=np.uint8) - ord("0")).astype(np.int8).reshape(shape)
            return np.array(raw, dtype=np.int8).reshape(shape)
        hours = _consecutive_hours(d["hours"], self.steps)
        n = len(hours)
        values = grid("values", (n, N_CHANNELS))
        status = status_grid((n, N_CHANNELS))
        if np.any((status < OBSERVED) | (status > MISSING)) or np.any(np.isnan(values) != (status == MISSING)):
            raise ValueError("status does not match values")
        if np.isinf(values).any():
            raise ValueError("values: not finite")
        next_hour = d["next_hour"]
        if next_hour is not None and (not is_hour_stamp(next_hour) or (n and next_hour != hours[-1] + HOUR)):
            raise ValueError("next_hour does not follow the buffer")
        vectors = [arr(key, (N_CHANNELS,)) for key in ("sample_time", "sample_value", "observed_hour",
                                                        "observed_value")]
        self.hours, self.values, self.status, self.next_hour = hours, values, status, next_hour
        self.sample_time, self.sample_value, self.observed_hour, self.observed_value = vectors
