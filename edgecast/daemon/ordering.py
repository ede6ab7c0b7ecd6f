"""Event-time admission: which readings may enter the hourly buffer, in what order.

Rules:

- event times must strictly increase: a reading stamped exactly at the newest accepted
  time is a ``duplicate`` (QoS 1 redelivers after reconnects), an earlier one is
  ``out_of_order``. The buffer is built in time order and an hour, once completed and
  forecast, is never rewritten, so a reading from before the last completed hour cannot
  be used. (An out-of-order reading that still falls in the open hour — QoS 1
  redelivery after a broker restart reorders a few — is merged by the station as
  ``late``: see HourlyBuffer.merge_late.)
- ``far_future``: more than ``max_future`` seconds after the newest accepted reading.
  The reference is event time, not the wall clock: a box without a real-time clock, or
  a replay of 2020, has no trustworthy "now". A single corrupt stamp (year 2099) is
  thus rejected, but a genuine jump (sensor off for two days) is accepted once
  ``confirm`` consecutive far readings agree with each other (each strictly later than
  the previous, within ``max_future`` of it); those held readings then enter in order.
- a forward step longer than the sensor's own rhythm (``ahead_limit``: three times the
  median of its last steps, at least 30 minutes; 90 minutes while fewer than three steps
  are known, as after a restart) is held the same way, under ``far_future``, until
  ``confirm`` readings agree. Taken at once, one stamp 5 hours ahead (a retained reading
  from a sensor whose clock ran ahead) became the newest and shut out every real reading
  behind it for 5 hours. A real gap (a sensor back after an outage) costs only the wait
  for ``confirm`` readings: the held ones then enter in order. The next reading at the
  usual step gives a held stray up.
- ``unconfirmed``: with no reference yet (an empty state: first start, or a state file
  set aside) the first readings are held the same way until ``confirm`` of them agree.
  Taken as is, one stray stamp (year 2031) would become the reference for good — the
  real sensor then ``out_of_order`` forever, also after a restart, since ``newest`` is
  saved. Held readings are not saved: a restart holds afresh.

A held reading is counted once, when its fate is known: accepted when others confirm
it, rejected (under the reason it was held for) when it is given up — its candidate
line pushed out by newer ones, or dropped when an in-range reading or another line is
taken. ``EventClock.held`` is how many wait now.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..readings import Reading, Rejection
from .settings import FromConfig

MAX_CANDIDATES = 4  # time lines held at once; the oldest gives way (its readings are rejected)
# A step ahead beyond the sensor's rhythm waits for confirmation (ahead_limit): the rhythm
# is the median of its last RHYTHM_STEPS steps, UNKNOWN_STEP while fewer than 3 are known.
AHEAD_FACTOR, AHEAD_FLOOR, UNKNOWN_STEP, RHYTHM_STEPS = 3, 1800.0, 1800.0, 9

# What became of one message (Verdict.kind).
ACCEPTED = "accepted"  # ``readings`` enter the buffer now, in order (held ones confirmed with it)
LATE = "late"  # out of order but inside the open hour: merged into it
HELD = "held"  # waits: for agreeing readings (``reason``), or in the adapter (ESPHome; reason "")
REJECTED = "rejected"  # counted under ``reason``
IGNORED = "ignored"  # expected traffic that is no reading for this station, counted under ``reason``


@dataclass(frozen=True)
class Verdict:
    kind: str
    readings: tuple[Reading, ...] = ()
    reason: str = ""
    detail: str = ""
    # held readings given up by this message: each counted as rejected, once
    given_up: tuple[Rejection, ...] = ()
    # ACCEPTED with held readings: what they waited for (far_future: a time jump; gap: readings
    # resuming after a step beyond the sensor's rhythm; unconfirmed: the start)
    confirmed: str = ""


def rejected(reason: str, detail: str = "", given_up: tuple[Rejection, ...] = ()) -> Verdict:
    return Verdict(REJECTED, reason=reason, detail=detail, given_up=given_up)


class EventClock(FromConfig):
    def __init__(self, max_future_seconds: float, confirm: int, newest: float | None = None):
        self.apply_settings(max_future_seconds, confirm)
        self.newest = newest
        # far-future (or, with no reference, first) readings waiting for confirmation: chains
        # of readings that agree with each other, one per candidate time line, with the
        # reason they wait
        self._held: list[tuple[str, list[Reading]]] = []
        self._steps: deque[float] = deque(maxlen=RHYTHM_STEPS)  # recent steps between accepted readings

    @staticmethod
    def settings(cfg) -> dict:
        """The live settings: [readings] max_future_minutes and confirm_jump_readings (which
        the plausibility rule shares)."""
        return {"max_future_seconds": cfg.readings.max_future_minutes * 60,
                "confirm": cfg.readings.confirm_jump_readings}

    def apply_settings(self, max_future_seconds: float, confirm: int) -> None:
        """The far-future limit and how many agreeing readings confirm a jump (readings
        already held keep waiting under new ones)."""
        self.max_future = max_future_seconds
        self.confirm = confirm

    @property
    def ahead_limit(self) -> float:
        """Seconds after the newest accepted reading beyond which a reading waits (at most max_future)."""
        step = _median(self._steps) if len(self._steps) >= 3 else UNKNOWN_STEP
        return min(self.max_future, max(AHEAD_FLOOR, AHEAD_FACTOR * step))

    def _advance(self, t: float) -> None:
        if self.newest is not None and t > self.newest:
            self._steps.append(t - self.newest)
        self.newest = t

    @property
    def held(self) -> int:
        return sum(len(chain) for _, chain in self._held)

    def admit(self, reading: Reading) -> Verdict:
        t = reading.time
        if self.newest is None:
            return self._hold(reading, "unconfirmed")
        if t <= self.newest:
            return rejected("duplicate" if t == self.newest else "out_of_order", self._versus(t))
        if t - self.newest > self.ahead_limit:
            return self._hold(reading, "far_future")
        given_up = self._give_up(self._held)
        self._held = []
        self._advance(t)
        return Verdict(ACCEPTED, (reading,), given_up=given_up)

    def _hold(self, reading: Reading, reason: str) -> Verdict:
        t = reading.time
        if any(t == chain[-1].time for _, chain in self._held):  # a QoS 1 redelivery of a held one
            return rejected("duplicate", self._versus(t))
        for _, chain in self._held:  # extend the first candidate it agrees with ...
            if 0 < t - chain[-1].time <= self.max_future:
                chain.append(reading)
                break
        else:  # ... or start one: a stray among them must not discard the real ones
            chain = [reading]
            self._held.append((reason, chain))
        pushed_out = self._give_up(self._held[:-MAX_CANDIDATES])
        del self._held[:-MAX_CANDIDATES]
        if len(chain) < self.confirm:
            return Verdict(HELD, reason=reason, given_up=pushed_out)
        others = self._give_up([held for held in self._held if held[1] is not chain])
        self._held = []
        if reason == "far_future" and chain[0].time - self.newest <= self.max_future:
            reason = "gap"  # readings resuming after a gap, not a jump of the clock
        for held in chain:
            self._advance(held.time)
        return Verdict(ACCEPTED, tuple(chain), given_up=pushed_out + others,
                       confirmed=reason if len(chain) > 1 else "")

    def _versus(self, t: float) -> str:
        return f"reading at {time_text(t)}, newest accepted {time_text(self.newest)}"

    @staticmethod
    def _give_up(held: list[tuple[str, list[Reading]]]) -> tuple[Rejection, ...]:
        return tuple(Rejection(reason, f"held reading at {time_text(r.time)} not confirmed")
                     for reason, chain in held for r in chain)


def _median(values) -> float:
    """statistics.median without importing statistics (its fractions and decimal: 0.5 MB
    resident in the daemon)."""
    ordered, mid = sorted(values), len(values) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def time_text(t: float | None) -> str:
    """An event time for log lines; never raises."""
    if t is None:
        return "none"
    from datetime import datetime, timezone
    try:
        return datetime.fromtimestamp(t, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return repr(t)
