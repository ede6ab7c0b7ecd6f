"""Whether a reading's values are believable after the station's last accepted ones.

A sensor glitch is a value inside the physical range (readings.py drops what is outside)
that no weather makes: an SHT3x reporting a raw 0 sends −45 °C and 0 % between two
readings of +15 °C. Taken in, one such value made the model forecast −38 °C and raised
the frost warning. Rule, per channel: the change since the channel's last accepted value
may be at most ``STEP_LIMITS[channel] * sqrt(gap / 10 min)`` (the gap floored at 10
minutes). A longer gap allows more (a day's gap: 12 times the 10-minute limit, more than
any channel's range), so a real step after an outage passes.

The limits come from the real records (``python -m benchmarks.plausibility`` prints the
largest change per channel and gap over ../shared/data and ../shared/data/stations;
RELIABILITY.md quotes the figures): about twice the largest 10-minute change of Jena's
2017 and 2020 10-minute records (T 4.49 °C, p 2.08 hPa, rh 20.3 %, wv 5.05 m/s), and,
through the square root, above every hourly change of the 39 files but their own
glitches (hourly p jumps of 200 hPa in the US files). Wind direction has no limit
(it turns 180° between two readings in the records).

A rejected reading never becomes the reference. A real new level (a sensor moved, a
front faster than the records) is taken when ``confirm`` readings in a row agree with
each other (each a believable step from the one before) but not with the reference: the
``confirm``-th is accepted and the reference moves; the ones before it stay rejected.
Readings that repeat the rejected values exactly do not confirm: that is what a stuck or
raw-0 sensor sends, a real level moves.
"""

from __future__ import annotations

import math

from ..readings import Reading, Rejection
from ..schema import CHANNEL_INDEX

STEP_SECONDS = 600  # the limits are per 10 minutes: the Jena records' step
# Largest believable change per 10-minute step (channel name -> limit in its unit).
STEP_LIMITS: dict[str, float] = {
    "p (mbar)": 5.0, "T (degC)": 10.0, "Tpot (K)": 10.0, "Tdew (degC)": 10.0, "rh (%)": 40.0,
    "VPmax (mbar)": 20.0, "VPact (mbar)": 8.0, "VPdef (mbar)": 20.0, "sh (g/kg)": 5.0,
    "H2OC (mmol/mol)": 8.0, "rho (g/m**3)": 40.0, "wv (m/s)": 15.0, "max. wv (m/s)": 30.0,
}
_LIMIT_BY_INDEX = {CHANNEL_INDEX[name]: limit for name, limit in STEP_LIMITS.items()}


def allowed_change(limit: float, gap_seconds: float) -> float:
    """The largest believable change over ``gap_seconds`` for a 10-minute ``limit``."""
    return limit * math.sqrt(max(gap_seconds, STEP_SECONDS) / STEP_SECONDS)


class Plausibility:
    def __init__(self):
        self.reference: dict[int, tuple[float, float]] = {}  # channel -> (time, value) last accepted
        self._suspects: list[Reading] = []  # rejected readings in a row that agree with each other

    def seed(self, t: float, values: dict[int, float]) -> None:
        """A reference before any reading (after a restart: the last buffered hour's values)."""
        for index, value in values.items():
            if index not in self.reference and math.isfinite(value):
                self.reference[index] = (t, value)

    def accepted(self, reading: Reading) -> None:
        """The reading entered the buffer: its values are the reference now."""
        for index, value in reading.values.items():
            if index not in self.reference or self.reference[index][0] <= reading.time:
                self.reference[index] = (reading.time, value)
        self._suspects = []

    def check(self, reading: Reading, confirm: int) -> Rejection | None:
        jumps = self._jumps(reading)
        if not jumps:
            return None
        last = self._suspects[-1] if self._suspects else None
        if last is not None and self._agrees(last, reading, jumps):
            self._suspects.append(reading)
        else:
            self._suspects = [reading]
        if len(self._suspects) >= confirm:
            return None  # a new level, confirmed (accepted() moves the reference)
        index, value, was, limit, gap = jumps[0]
        name = next(n for n, i in CHANNEL_INDEX.items() if i == index)
        return Rejection("implausible", f"{name} {value:g} after {was:g} {gap / 60:.0f} min earlier "
                                        f"(at most ±{limit:.3g} over that gap)")

    def _jumps(self, reading: Reading) -> list[tuple[int, float, float, float, float]]:
        out = []
        for index, value in reading.values.items():
            limit, ref = _LIMIT_BY_INDEX.get(index), self.reference.get(index)
            if limit is None or ref is None:
                continue
            gap = reading.time - ref[0]
            allowed = allowed_change(limit, gap)
            if abs(value - ref[1]) > allowed:
                out.append((index, value, ref[1], allowed, gap))
        return out

    @staticmethod
    def _agrees(before: Reading, reading: Reading, jumps) -> bool:
        """``reading`` continues ``before``'s level on the jumping channels, and moves."""
        moved = False
        for index, value, *_ in jumps:
            prior = before.values.get(index)
            if prior is None:
                return False
            if abs(value - prior) > allowed_change(_LIMIT_BY_INDEX[index], reading.time - before.time):
                return False
            moved = moved or value != prior
        return moved and reading.time > before.time
