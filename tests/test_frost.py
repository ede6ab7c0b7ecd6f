"""Frost-warning scores of a next-day curve (training/frost.py), by hand."""

from __future__ import annotations

import numpy as np

from training.frost import scores


def test_hit_rate_and_false_alarm_ratio_by_hand():
    # four forecasts; the minimum over each row decides
    predicted = np.array([[2.0, -0.5], [1.0, 3.0], [-1.0, 0.5], [4.0, 5.0]])
    actual = np.array([[1.0, -2.0], [0.5, -0.1], [2.0, 3.0], [6.0, 7.0]])
    r = scores(predicted, actual, threshold=0.0)
    # frosts: rows 0, 1; alerts: rows 0, 2 -> one hit, one miss, one false alarm
    assert r == {"forecasts": 4, "frosts": 2, "alerts": 2, "hits": 1, "hit_rate": 0.5, "false_alarm_ratio": 0.5}
    assert scores(predicted, actual, threshold=-5.0)["alerts"] == 0


def test_a_margin_warns_earlier_but_frost_stays_measured_below_the_threshold():
    predicted = np.array([[0.5, 2.0], [3.0, 4.0]])
    actual = np.array([[-0.5, 1.0], [0.5, 2.0]])
    assert scores(predicted, actual, 0.0)["alerts"] == 0
    r = scores(predicted, actual, 0.0, margin=1.0)  # 0.5 < 0 + 1 warns; the frost count is unchanged
    assert (r["alerts"], r["frosts"], r["hits"]) == (1, 1, 1)
