"""A message's way into a station's buffer, in one direction: adapter result -> Verdict.

    adapter result ─▶ reading rules (in order; the first reason rejects: bad time, implausible)
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
from .ordering import ACCEPTED, HELD, IGNORED, LATE, EventClock, Verdict, rejected
from .plausibility import Plausibility


def usable_time(reading: Reading, admission: "Admission") -> Rejection | None:
    """An adapter's receive-time stamp from a wild wall clock is refused like a bad payload time."""
    if checked_time(reading.time) is None:
        return Rejection("bad_time", f"time {reading.time!r} is not {TIME_RULE}")
    return None


def plausible(reading: Reading, admission: "Admission") -> Rejection | None:
    """A value no weather makes after the last accepted ones (a sensor glitch) is
    ``implausible``; several readings in a row at a new level confirm it (plausibility.py)."""
    return admission.plausibility.check(reading, admission.clock.confirm)


Rule = Callable[[Reading, "Admission"], "Rejection | None"]
RULES: list[Rule] = [usable_time, plausible]


class Admission:
    def __init__(self, clock: EventClock, in_open_hour: Callable[[float], bool], rules: list[Rule] = RULES):
        """``in_open_hour(t)``: whether an out-of-order time still falls in the hour being
        filled (hourly.HourlyBuffer.in_open_hour)."""
        self.clock, self.in_open_hour, self.rules = clock, in_open_hour, rules
        self.plausibility = Plausibility()  # the reference values: only what entered the buffer

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
            verdict = Verdict(LATE, (result,))
        if verdict.kind in (ACCEPTED, LATE):
            for reading in verdict.readings:
                self.plausibility.accepted(reading)
        return verdict
