"""The frost warning: when the next-day curve's minimum turns an alert on and off.

One rule for the daemon (its alert topic) and for training/scripts/frost.py (the hit and
false-alarm figures): an alert turns on when the curve's minimum goes below
``threshold_c + margin_c`` and off once the minimum is back at or above that line plus
``hysteresis_c``, so a minimum hovering at the line does not toggle the alert every hour.

Both defaults were chosen on the validation parts (2021 and seed val) with the shipped
pairing's curve (BENCHMARKS.md, "Frost warnings from the curve"). The margin, +1 °C: the
best mean critical success index (hits / (hits + misses + false alarms)) over both parts;
without one a curve fitted for mean error forecasts the coldest hour a little warm. The
hysteresis, 0.5 °C: the widest that keeps the CSI within 0.01 of none on both parts; it
cuts how often the alert switches on by 27 % (2021) and 31 % (seed val).

The probability mode (``mode = "probability"``): the alert turns on when the forecast's
``frost_probability`` (edgecast.band over the calibrated band, daemon/calibration.py)
reaches ``probability_on`` and off once it is below ``probability_on −
probability_hysteresis``; a forecast without a probability moves it by the margin rule.
Its defaults were chosen on the same validation parts with the shipped bundle
(training/scripts/band_scores.py --part val; BENCHMARKS.md, "How sure: the band"): 0.4, the
best CSI of 0.2 … 0.6 on both parts (2021: 0.622, validation places: 0.532), and a
hysteresis of 0.05, the widest keeping both within 0.01 of none (0.615, 0.530) while the
alert switches on 40 % less often. The margin rule stays the default: on Jena 2021 its CSI
is higher (0.638 against 0.615), on the validation places lower (0.519 against 0.530) —
no clear win, and its hit and false-alarm figures are the established ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


MODES = ("margin", "probability")


@dataclass(frozen=True)
class FrostRule:
    threshold_c: float = 0.0
    margin_c: float = 1.0
    hysteresis_c: float = 0.5
    mode: str = "margin"
    probability_on: float = 0.4
    probability_hysteresis: float = 0.05

    @property
    def warn_below_c(self) -> float:
        return self.threshold_c + self.margin_c

    def next_state(self, on: bool, minimum: float, probability: float | None = None) -> bool:
        """The alert after a forecast whose minimum is ``minimum`` (and frost probability
        ``probability``), given it was ``on``."""
        if self.mode == "probability" and probability is not None:
            return probability >= self.probability_on - (self.probability_hysteresis if on else 0.0)
        return minimum < self.warn_below_c + (self.hysteresis_c if on else 0.0)

    def states(self, minima: np.ndarray, probabilities: np.ndarray | None = None, on: bool = False) -> np.ndarray:
        """The alert after each of a run of consecutive hourly forecasts' minima (and probabilities)."""
        out = np.zeros(len(minima), bool)
        for i, minimum in enumerate(minima):
            p = None if probabilities is None else float(probabilities[i])
            on = out[i] = self.next_state(on, float(minimum), p)
        return out
