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
- ``unconfirmed``: with no reference yet (an empty state: first start, or a state file
  set aside) the first readings are held the same way until ``confirm`` of them agree.
  Taken as is, one stray stamp (year 2031) became the reference for good — the real
  sensor was then ``out_of_order`` forever, also after a restart, since ``newest`` is
  saved (issue 14, row 3). Held readings are not saved: a restart holds afresh.
"""

from __future__ import annotations

from ..readings import Reading

MAX_CANDIDATES = 4  # time lines held at once; the oldest gives way (its readings stay rejected)


class EventClock:
    def __init__(self, max_future_seconds: float, confirm: int, newest: float | None = None):
        self.set_limits(max_future_seconds, confirm)
        self.newest = newest
        # far-future (or, with no reference, first) readings waiting for confirmation: chains
        # of readings that agree with each other, one per candidate time line
        self._held: list[list[Reading]] = []

    def set_limits(self, max_future_seconds: float, confirm: int) -> None:
        """The far-future limit and how many agreeing readings confirm a jump (SIGHUP may
        change them; readings already held keep waiting under the new ones)."""
        self.max_future = max_future_seconds
        self.confirm = confirm

    def admit(self, reading: Reading) -> tuple[list[Reading], str | None]:
        """(readings to feed the buffer now, in order; rejection reason or None)."""
        t = reading.time
        if self.newest is None:
            return self._hold(reading, "unconfirmed")
        if t == self.newest:
            return [], "duplicate"
        if t < self.newest:
            return [], "out_of_order"
        if t - self.newest > self.max_future:
            return self._hold(reading, "far_future")
        self._held.clear()
        self.newest = t
        return [reading], None

    def _hold(self, reading: Reading, reason: str) -> tuple[list[Reading], str | None]:
        t = reading.time
        if any(t == chain[-1].time for chain in self._held):  # a QoS 1 redelivery of a held one
            return [], "duplicate"
        for chain in self._held:  # extend the first candidate it agrees with ...
            if 0 < t - chain[-1].time <= self.max_future:
                chain.append(reading)
                break
        else:  # ... or start one: a stray among them must not discard the real ones
            chain = [reading]
            self._held.append(chain)
            del self._held[:-MAX_CANDIDATES]
        if len(chain) < self.confirm:
            return [], reason
        self._held = []
        self.newest = chain[-1].time
        return chain, None
