"""The reading payload contract: one MQTT payload -> a validated Reading, or a rejection
with a counted reason. The daemon reads it (edgecast.daemon); `edgecast replay` writes
and `edgecast watch` reads the same format, so it lives below both.

Rules (docs/daemon.md repeats them for users):

- the payload is a UTF-8 JSON object of at most ``max_payload_bytes``;
- ``time`` is an ISO 8601 string; without an offset it is UTC;
- channels are keyed by the Jena column name (``"T (degC)"``) or its short alias
  (``"T"``, see edgecast.schema.CHANNELS); if both are given the Jena name wins;
  other keys are ignored (sensors add battery levels, rain, …);
- a channel value that is not a number (strings, booleans, null), not finite, a
  station missing-value code (edgecast.schema.SENTINELS) or outside the channel's
  physically possible range is *dropped* and counted; the rest of the reading is kept;
- a reading with no usable channel left is rejected.

Parsing never raises: anything a broker can deliver ends as Reading or Rejection.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .schema import ALIASES, CHANNEL_INDEX, CHANNELS, SENTINELS

# Whole-reading rejection reasons and per-value drop reasons, as counted in stats.
REJECT_REASONS = ("oversized", "malformed_json", "not_object", "bad_time", "no_channels",
                  "duplicate", "out_of_order", "far_future", "unconfirmed", "bad_unit", "implausible")
DROP_REASONS = ("non_numeric", "non_finite", "sentinel", "impossible")
# Status-topic payloads of a running daemon: ``online``, or ``stale`` while its sensor is
# silent (daemon/silence.py). `edgecast replay` and `discovery remove` read them.
RUNNING = (b"online", b"stale")

_KEY_TO_INDEX: dict[str, int] = {**{a: CHANNEL_INDEX[n] for a, n in ALIASES.items()}, **CHANNEL_INDEX}
_ALIAS_TO_INDEX: dict[str, int] = {a: CHANNEL_INDEX[n] for a, n in ALIASES.items() if a not in CHANNEL_INDEX}
# The physical range of each channel (schema.CHANNELS), the same numbers the training
# data's repair uses (edgecast.data.clean.invalid_mask: outside [low, high] is invalid).
# Checked per value in plain Python: one reading is 14 numbers, and numpy's per-call
# overhead made that check a quarter of a reading's cost (benchmarks/ingest.py).
_RANGE: tuple[tuple[float, float], ...] = tuple((c.low, c.high) for c in CHANNELS)
_SENTINELS = frozenset(SENTINELS)


@dataclass
class Reading:
    time: float  # seconds since the epoch, UTC
    values: dict[int, float]  # channel index (schema.CHANNELS order) -> value
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> values dropped
    derived: list[str] = field(default_factory=list)  # channels computed by physics


@dataclass
class Rejection:
    reason: str  # one of REJECT_REASONS (or a DROP_REASON when every value was dropped)
    detail: str


def parse_time(text) -> float | None:
    """ISO 8601 -> epoch seconds; no offset means UTC; None when unreadable or out of range."""
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        return None
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return checked_time(dt.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


# Event times must map back to a datetime, also 24 h later (a forecast's valid_at): from
# 0001-01-01 (a +14:00 offset on year 1 would be year 0 in UTC) to before 9999-12-30. No
# sensor sends such stamps; they are a corrupt clock (1e15, "9999-12-31T…"), and let in
# they raised deep in the pipeline after the event clock had moved.
_EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc).timestamp()
_LATEST = datetime(9999, 12, 30, tzinfo=timezone.utc).timestamp()
TIME_RULE = "ISO 8601 or Unix seconds from 0001-01-01 to before 9999-12-30 UTC"


def checked_time(t) -> float | None:
    """``t`` (epoch seconds) as a float when it is a usable event time, else None.
    Every timestamp, native or from an adapter, passes here before the event clock sees it."""
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        return None
    try:
        t = float(t)
    except OverflowError:  # an integer too large for a float
        return None
    return t if math.isfinite(t) and _EARLIEST <= t < _LATEST else None


def _number(raw) -> tuple[str, float | None]:
    """('', value) for a finite JSON number, else (drop reason, None)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return "non_numeric", None
    try:
        value = float(raw)
    except OverflowError:  # an integer too large for a float
        return "non_finite", None
    if not math.isfinite(value):
        return "non_finite", None
    if value in _SENTINELS:
        return "sentinel", None
    return "", value


def decode(payload: bytes, max_bytes: int = 4096) -> dict | Rejection:
    """A JSON object payload, or the rejection (oversized, malformed_json, not_object)."""
    if len(payload) > max_bytes:
        return Rejection("oversized", f"{len(payload)} bytes > {max_bytes}")
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return Rejection("malformed_json", str(exc)[:80])
    if not isinstance(obj, dict):
        return Rejection("not_object", f"JSON {type(obj).__name__}, expected an object")
    return obj


def parse(payload: bytes, max_bytes: int = 4096) -> Reading | Rejection:
    obj = decode(payload, max_bytes)
    if isinstance(obj, Rejection):
        return obj
    time = parse_time(obj.get("time"))
    if time is None:
        return Rejection("bad_time", f"time {str(obj.get('time'))[:40]!r} is not {TIME_RULE}")
    return from_values(time, obj)


def from_values(time: float, obj: dict) -> Reading | Rejection:
    """Validate channel values keyed by Jena name or alias (other keys ignored).

    The one place values are checked: the native JSON format and every input adapter
    (edgecast.daemon.adapters) end here, so all of them drop and reject by the same rules.
    """
    values: dict[int, float] = {}
    dropped: dict[str, int] = {}
    # Aliases first, then Jena names, each in payload order: a Jena name overwrites its
    # alias, so the Jena name wins.
    for table in (_ALIAS_TO_INDEX, CHANNEL_INDEX):
        for key, raw in obj.items():
            index = table.get(key)
            if index is None:
                continue
            # A finite float that is no sentinel is nearly every value: skip the call.
            if type(raw) is float and raw - raw == 0.0 and raw not in _SENTINELS:
                values[index] = raw
                continue
            problem, value = _number(raw)
            if problem:
                values.pop(index, None)
                dropped[problem] = dropped.get(problem, 0) + 1
            else:
                values[index] = value
    for index in [i for i, v in values.items() if not _RANGE[i][0] <= v <= _RANGE[i][1]]:
        del values[index]
        dropped["impossible"] = dropped.get("impossible", 0) + 1
    if not values:
        if dropped:
            reason = max(dropped, key=dropped.get)
            return Rejection(reason, f"no usable channel value ({dropped})")
        return Rejection("no_channels", "no known channel key (Jena column names or aliases)")
    return Reading(time, values, dropped)
