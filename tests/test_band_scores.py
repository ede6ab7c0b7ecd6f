"""The offline band scores (training/scripts/band_scores.py): the daemon's calibration
replayed in time order, out of sample, and the references it is scored against."""

from __future__ import annotations

import numpy as np
import pytest

from edgecast import band
from training.scripts import band_scores


def synthetic_part(n=2000, seed=0, groups=1):
    rng = np.random.default_rng(seed)
    rows = np.concatenate([np.arange(n) + g * (n + 500) for g in range(groups)])
    truth = 5 + 4 * np.sin(np.arange(len(rows) + 24) / 24 * 2 * np.pi)
    actual = np.stack([truth[i + 1:i + 25] for i in range(len(rows))])
    point = actual + rng.normal(0, 1.5, actual.shape)
    return {"rows": rows, "times": 1_600_000_000 + 3600 * rows, "group": np.repeat([f"g{g}" for g in range(groups)], n),
            "point": point, "actual": actual, "now": truth[:len(rows)], "fallback": point,
            "train_residual": rng.normal(0, 3, (500, 24))}


def test_replay_is_calibrated_out_of_sample_and_in_time_order():
    p = synthetic_part(groups=2)
    p10, p90 = band_scores.replay(p)
    late = np.r_[500:2000, 2500:4000]
    c = band_scores.coverage(p10[late], p90[late], p["actual"][late])
    assert 0.77 < c["coverage"] < 0.83 and 0.07 < c["below"] < 0.13
    assert (p10 <= p["point"]).all() and (p["point"] <= p90).all()
    # a band never sees its own hour: changing what came after forecast 1000 leaves bands up to it unchanged
    q = {k: v.copy() for k, v in p.items()}
    q["actual"][1000:2000] += 50
    q10, _ = band_scores.replay(q)
    hidden = 1000 - 24  # its +24 h hour is row 1000's +0, the first changed one is verified later
    assert np.array_equal(q10[:hidden + 1], p10[:hidden + 1]) and not np.array_equal(q10[1500], p10[1500])
    # each place starts afresh: the second group's first band is the prior
    assert np.array_equal(p10[2000], band_scores.calibration.Calibration().band(p["point"][2000], "model")[0])


def test_a_scaled_replay_widens_the_first_band_by_its_scale():
    p = synthetic_part(n=300)
    p10, p90 = band_scores.replay(p)
    scale = np.full((300, 1), 2.0)
    w10, w90 = band_scores.replay(p, scale=scale)
    np.testing.assert_allclose(p["point"][0] - w10[0], 2 * (p["point"][0] - p10[0]))  # the prior, doubled
    np.testing.assert_allclose(w90[0] - p["point"][0], 2 * (p90[0] - p["point"][0]))
    c = band_scores.coverage(w10[100:], w90[100:], p["actual"][100:])["coverage"]
    assert 0.7 < c < 0.9  # the calibration still aims at 80 % with the scale on


def test_references():
    y = np.array([0.0, 1.0])
    q = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])
    # y=0: 0.1·1 + 0 + 0.1·1; y=1: 0.1·2 + 0.5·1 + 0 → mean over 6
    assert band_scores.pinball(q, y) == pytest.approx((0.2 + 0.2 + 0.5) / 6)
    p = {"train_residual": np.array([[-3.0] * 24, [-1.0] * 24, [0.5] * 24, [2.0] * 24]), "now": np.array([2.5, 0.5])}
    # P(now + min residual < 0): now 2.5 → only −3 (1 of 4); now 0.5 → −3 and −1 (2 of 4)
    assert band_scores.naive_frost(p).tolist() == [0.25, 0.5]
    rel = band_scores.reliability(np.array([0.05, 0.05, 0.95]), np.array([0.0, 1.0, 1.0]))
    assert [(r["n"], r["observed"]) for r in rel] == [(2, 0.5), (1, 1.0)]


def test_the_recalibration_fit_recovers_a_known_curve():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.001, 0.999, 200_000)
    event = rng.uniform(size=p.size) < band.recalibrate(p, (1.7, -0.4))  # the truth: this curve
    a, b = band_scores.fit_recalibration(p, event)
    assert a == pytest.approx(1.7, abs=0.05) and b == pytest.approx(-0.4, abs=0.05)
    a, b = band_scores.fit_recalibration(p, rng.uniform(size=p.size) < p)  # already calibrated: the identity
    assert a == pytest.approx(1.0, abs=0.05) and b == pytest.approx(0.0, abs=0.05)
