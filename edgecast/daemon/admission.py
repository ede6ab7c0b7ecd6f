"""A message's way into a station's buffer, in one direction: adapter result -> Verdict.

    adapter result ─▶ reading rules (in order; the first reason rejects)
                   ─▶ ordering.EventClock (duplicate, out of order, held, far future)
                   ─▶ late merge (out of order, but inside the open hour)

``Admission.admit`` returns one ordering.Verdict (accepted / late / held / rejected /
ignored) that the station counts once and acts on. Reading rules are an open list:
each is ``rule(reading, admission) -> Rejection | None``; a new rule is one more entry
in ``RULES`` (its reason joins readings.REJECT_REASONS for the stats and the docs).
"""

from __future__ import annotations

from collections.abc import Callable

from ..readings import TIME_RULE, Reading, Rejection, checked_time
from .adapters import Ignored
from .ordering import HELD, IGNORED, LATE, EventClock, Verdict, rejected


def usable_time(reading: Reading, admission: "Admission") -> Rejection | None:
    """An adapter's receive-time stamp from a wild wall clock is refused like a bad payload time."""
    if checked_time(reading.time) is None:
        return Rejection("bad_time", f"time {reading.time!r} is not {TIME_RULE}")
    return None


Rule = Callable[[Reading, "Admission"], "Rejection | None"]
RULES: list[Rule] = [usable_time]


class Admission:
    def __init__(self, clock: EventClock, in_open_hour: Callable[[float], bool], rules: list[Rule] = RULES):
        """``in_open_hour(t)``: whether an out-of-order time still falls in the hour being
        filled (hourly.HourlyBuffer.in_open_hour)."""
        self.clock, self.in_open_hour, self.rules = clock, in_open_hour, rules

    def admit(self, result) -> Verdict:
        """``result``: what the adapter made of one message (Reading, Rejection, Ignored, or
        None while it holds a value)."""
        if result is None:
            return Verdict(HELD)
        if isinstance(result, Ignored):
            return Verdict(IGNORED, reason=result.reason, detail=result.detail)
        if isinstance(result, Rejection):
            return rejected(result.reason, result.detail)
        for rule in self.rules:
            rejection = rule(result, self)
            if rejection is not None:
                return rejected(rejection.reason, rejection.detail)
        verdict = self.clock.admit(result)
        if verdict.reason == "out_of_order" and self.in_open_hour(result.time):
            return Verdict(LATE, (result,))
        return verdict
