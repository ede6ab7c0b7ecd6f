"""The naive curve by hand: what the daemon publishes when the model cannot serve."""

import numpy as np

from edgecast.naive import PERSISTENCE_UP_TO_H, naive_curve


def test_persistence_first_then_yesterdays_hour():
    last_day = np.arange(24, dtype=float)  # T(now − 23 h) = 0 … T(now) = 23
    curve = naive_curve(last_day)
    assert curve.shape == (24,)
    assert (curve[:PERSISTENCE_UP_TO_H] == 23).all()  # +1 … +4 h: the temperature now
    assert curve[4] == 4  # +5 h: T(now + 5 h − 24 h), 19 hours ago
    assert curve[-1] == 23  # +24 h: both naives are the temperature now


def test_a_missing_hour_of_yesterday_falls_back_to_now():
    last_day = np.arange(24, dtype=float)
    last_day[10] = np.nan
    curve = naive_curve(last_day)
    assert curve[10] == 23 and np.isfinite(curve).all()


def test_many_windows_at_once():
    days = np.stack([np.arange(24.0), -np.arange(24.0)])
    assert np.array_equal(naive_curve(days)[1], naive_curve(days[1]))
