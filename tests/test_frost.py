"""Frost-warning scores of a next-day curve (training/scripts/frost.py) and the daemon's alert
rule (edgecast.alerts), by hand."""

from __future__ import annotations

import numpy as np

from edgecast.alerts import FrostRule
from training.scripts.frost import scores

NO_MARGIN = FrostRule(0.0, margin_c=0.0, hysteresis_c=0.0)


def test_hit_rate_and_false_alarm_ratio_by_hand():
    # four forecasts; the minimum over each row decides
    predicted = np.array([[2.0, -0.5], [1.0, 3.0], [-1.0, 0.5], [4.0, 5.0]])
    actual = np.array([[1.0, -2.0], [0.5, -0.1], [2.0, 3.0], [6.0, 7.0]])
    r = scores(predicted, actual, NO_MARGIN)
    # frosts: rows 0, 1; alerts: rows 0, 2 -> one hit, one miss, one false alarm; on twice
    assert r == {"forecasts": 4, "frosts": 2, "alerts": 2, "hits": 1, "hit_rate": 0.5, "false_alarm_ratio": 0.5,
                 "csi": 0.333, "switched_on": 2}
    assert scores(predicted, actual, FrostRule(-5.0, 0.0, 0.0))["alerts"] == 0
    # only the scored rows count, but every forecast moves the alert
    assert scores(predicted, actual, NO_MARGIN, scored=np.array([False, True, True, True]))["alerts"] == 1


def test_a_margin_warns_earlier_but_frost_stays_measured_below_the_threshold():
    predicted = np.array([[0.5, 2.0], [3.0, 4.0]])
    actual = np.array([[-0.5, 1.0], [0.5, 2.0]])
    assert scores(predicted, actual, NO_MARGIN)["alerts"] == 0
    r = scores(predicted, actual, FrostRule(0.0, margin_c=1.0, hysteresis_c=0.0))  # 0.5 < 0 + 1 warns
    assert (r["alerts"], r["frosts"], r["hits"]) == (1, 1, 1)


def test_hysteresis_keeps_an_alert_on_until_the_minimum_is_clearly_above_the_line():
    rule = FrostRule(0.0, margin_c=1.0, hysteresis_c=1.0)  # on below 1 °C, off at 2 °C or above
    minima = np.array([1.5, 0.9, 1.2, 0.8, 1.1, 0.7, 2.0, 1.5, 0.5])
    assert rule.states(minima).tolist() == [False, True, True, True, True, True, False, False, True]
    # without hysteresis the same minima switch the alert on four times
    flapping = FrostRule(0.0, 1.0, 0.0).states(minima)
    assert flapping.tolist() == [False, True, False, True, False, True, False, False, True]
    assert rule.states(np.array([1.5]), on=True).tolist() == [True]  # a restart resumes an alert that is on
