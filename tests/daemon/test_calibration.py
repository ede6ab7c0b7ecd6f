"""The band around every hour: adaptive conformal offsets per horizon (daemon/calibration.py),
fed by the skill module's verified pairs, in the payload, the stats and the state file."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from edgecast.alerts import FrostRule
from edgecast.daemon import config as config_mod
from edgecast.daemon.calibration import (HORIZONS, MAX_OFFSET_C, MIN_OFFSET_C, SLOTS, Calibration, prior_offsets,
                                         source_index)
from edgecast.daemon.skill import Skill
from edgecast.replay import reading_payload
from edgecast.resample import HOUR
from edgecast.schema import TARGET_INDEX
from harness.offline import offline_station

H0 = 1_600_000_000 // HOUR * HOUR


def run_stream(cal: Calibration, errors: np.ndarray, source: str = "model") -> np.ndarray:
    """Each hour one verified pair per horizon (point 0, actual = error), its band as issued
    24 hours before; returns (hours, 24, 2) misses below / above."""
    issued = []  # the bands published each hour
    misses = []
    for t, row in enumerate(errors):
        if t >= 24:
            h = np.arange(1, HORIZONS + 1)
            low = np.array([issued[t - k][0][k - 1] for k in h])
            high = np.array([issued[t - k][1][k - 1] for k in h])
            for k, y in zip(h, row):  # one call per horizon: each with its own actual
                cal.verify(H0 + t * HOUR, [k], [source_index(source)], [low[k - 1]], [high[k - 1]], float(y))
            misses.append(np.column_stack([row < low, row > high]))
        issued.append(cal.band(np.zeros(HORIZONS), source))
    return np.array(misses)


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_from_a_prior_five_times_too_narrow_each_side_misses_one_in_ten():
    rng = np.random.default_rng(0)
    cal = Calibration(prior=np.full((2, HORIZONS, 2), 0.3))
    # errors grow with the horizon like a forecast's, skewed: a heavier cold side
    scale = np.linspace(0.8, 2.5, HORIZONS)
    errors = rng.normal(0, 1, (3000, HORIZONS)) * scale + rng.exponential(0.5, (3000, HORIZONS)) * -scale
    misses = run_stream(cal, errors)
    late = misses[1000:]  # after the first weeks
    below, above = late[..., 0].mean(), late[..., 1].mean()
    assert 0.08 < below < 0.12 and 0.08 < above < 0.12
    assert 0.77 < 1 - below - above < 0.83
    lower = cal.offsets("model")[:, 0]
    assert lower[-1] > 2 * lower[0]  # the band widened with the horizon, as the errors do
    assert cal.stats()["groups"]["19-24h"]["n"] > 0


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_monotone_and_bounded_whatever_the_stream():
    cal = Calibration()
    run_stream(cal, np.full((300, HORIZONS), 1e4))  # every hour far above the band
    assert (cal.offsets("model")[:, 1] == pytest.approx(MAX_OFFSET_C))
    run_stream(cal, np.zeros((3000, HORIZONS)))  # never a miss: the band narrows to its floor
    off = cal.offsets("model")
    assert (off >= MIN_OFFSET_C - 1e-12).all() and (off <= MAX_OFFSET_C + 1e-12).all()
    q = cal.quantiles(np.linspace(-5, 5, HORIZONS), "model")
    assert (np.diff(q, axis=1) > 0).all()  # p10 < point < p90 at every hour
    assert np.allclose(cal.offsets("naive"), np.exp(prior_offsets()[1]))  # the naive set never moved


def test_skill_pairs_each_published_band_with_its_hour():
    sk, cal = Skill(), Calibration()
    payload = {"temperature_c": 5.0, "source": "model", "naive_c": 4.0, "model_c": 5.0, "hourly": [5.0] * 24,
               "hourly_source": "model", "hourly_p10": [4.0] * 24, "hourly_p90": [6.0] * 24}
    for t in range(3):
        sk.issued(H0 + t * HOUR, payload)
    sk.verify(H0 + 3 * HOUR, 3.0, calibration=cal)  # below all three bands: horizons 1, 2, 3
    n, below, above = cal.window()[:4].T
    assert n.tolist() == [1, 1, 1, 0] and below.tolist() == [1, 1, 1, 0] and above.sum() == 0
    assert (cal.offsets("model")[:3, 0] > np.exp(prior_offsets()[0, :3, 0])).all()
    sk.verify(H0 + 4 * HOUR, None, calibration=cal)  # not observed: nothing counted
    assert cal.window()[:, 0].sum() == 3
    again = Skill()
    again.load_dict(json.loads(json.dumps(sk.to_dict())))
    assert again.pending == sk.pending
    old = sk.to_dict()
    old["pending"] = [e[:8] for e in old["pending"]]  # a file written before the band
    again.load_dict(old)
    assert again.pending[H0][7:] == [None, None, None]


def test_state_round_trip_and_damaged_sections_refused():
    cal = Calibration(sha="abc")
    run_stream(cal, np.random.default_rng(1).normal(0, 2, (100, HORIZONS)))
    again = Calibration()
    again.load_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.array_equal(again.log_offsets, cal.log_offsets) and again.stats() == cal.stats()
    assert again.sha == "abc" and again.now == cal.now
    for key, bad in [("gamma", 0), ("gamma", True), ("now", 1.5), ("days", [0] * (SLOTS - 1)),
                     ("offsets", "not base64!"), ("sha", 3), ("counts", [[0] * 72] * SLOTS + [[0] * 72]),
                     ("counts", [[0.5] * 72] * SLOTS), ("counts", [[-1] * 72] * SLOTS)]:
        d = cal.to_dict() | {key: bad}
        with pytest.raises((ValueError, TypeError, KeyError)):
            Calibration().load_dict(d)
    wide = Calibration()
    wide.log_offsets[:] = math.log(MAX_OFFSET_C * 10)
    with pytest.raises(ValueError, match="outside"):
        Calibration().load_dict(wide.to_dict())
    inconsistent = Calibration()
    inconsistent.counts[0, 0] = [1, 2, 0]  # more misses than pairs
    with pytest.raises(ValueError, match="inconsistent"):
        Calibration().load_dict(inconsistent.to_dict())


def test_probability_rule_with_hysteresis():
    rule = FrostRule(mode="probability", probability_on=0.4, probability_hysteresis=0.1)
    p = np.array([0.1, 0.45, 0.35, 0.29, 0.5])
    assert rule.states(np.zeros(5), p).tolist() == [False, True, True, False, True]
    assert FrostRule().states(np.full(5, 5.0), p).tolist() == [False] * 5  # margin: the minimum decides
    cfg = config_mod.parse('[alerts]\nfrost_rule = "probability"\nfrost_probability_on = 0.6\n')
    assert cfg.alerts.frost == FrostRule(mode="probability", probability_on=0.6)
    for bad in ('frost_rule = "maybe"', "frost_probability_on = 0", "frost_probability_hysteresis = 0.5\n"
                "frost_probability_on = 0.4"):
        with pytest.raises(config_mod.ConfigError):
            config_mod.parse(f"[alerts]\n{bad}\n")


# --- in a station ------------------------------------------------------------------------------
def station(tmp_path, extra=""):
    cfg = config_mod.parse(f'[station]\nid = "x"\nlatitude = 50\nlongitude = 10\n[state]\ndir = "{tmp_path}"\n'
                           f'[model]\npath = "{tmp_path}/none.tflite"\n' + extra)
    return offline_station(cfg)


def feed(s, first: int, hours: int, seed: int = 0):
    rng = np.random.default_rng(seed + first)
    for h in range(first, first + hours):
        values = np.full(14, 10.0)
        values[TARGET_INDEX] = 4.0 + 3 * math.sin(2 * math.pi * h / 24) + rng.normal(0, 1.5)  # T (degC)
        s.on_payload(reading_payload(np.datetime64(H0 + h * HOUR, "s"), values))
        s.link.acknowledge()


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_in_a_station_the_band_is_published_calibrated_and_kept(tmp_path, caplog):
    s = station(tmp_path, '[alerts]\nfrost_rule = "probability"\n')
    feed(s, 0, 120 + 24 + 20 * 24)
    forecasts = [p for name, p in s.link.published if name == "forecast"]
    f = forecasts[-1]
    assert len(f["hourly_p10"]) == len(f["hourly_p90"]) == 24
    assert all(lo <= v <= hi for lo, v, hi in zip(f["hourly_p10"], f["hourly"], f["hourly_p90"]))
    assert 0 <= f["frost_probability"] <= 1
    alerts = [p for name, p in s.link.published if name == "alert"]
    assert alerts[-1]["rule"] == "probability" and alerts[-1]["probability"] == f["frost_probability"]
    # nights near 0 °C: the alert follows the probability rule (with its hysteresis), not the margin
    probability = np.array([a["probability"] for a in alerts])
    expected = FrostRule(mode="probability").states(np.zeros(len(alerts)), probability)
    assert [a["frost"] for a in alerts] == expected.tolist() and 0 < expected.sum() < len(alerts)
    assert expected.tolist() != FrostRule().states(np.array([a["min_c"] for a in alerts])).tolist()
    band = [p for name, p in s.link.published if name == "stats"][-1]["band"]
    assert band["n"] > 19 * 24 * 24 * 0.9 and 70 < band["coverage_pct"] < 90
    assert set(band["groups"]) == {"1-6h", "7-12h", "13-18h", "19-24h"}
    assert s.save_state()
    again = station(tmp_path)
    assert np.array_equal(again.calibration.log_offsets, s.calibration.log_offsets)
    data = json.loads(s.state_file.read_text())
    data["band"]["offsets"] = "not base64!"
    s.state_file.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        damaged = station(tmp_path)
    assert "unusable band calibration" in caplog.text and "the band starts from its prior" in caplog.text
    assert len(damaged.buffer.hours) == len(s.buffer.hours)  # the window is kept
    assert np.array_equal(damaged.calibration.log_offsets, prior_offsets())


def test_inspect_prints_the_coverage_per_horizon_of_a_state_file(tmp_path):
    from click.testing import CliRunner

    from edgecast.cli import main
    s = station(tmp_path)
    feed(s, 0, 120 + 24 + 3 * 24)
    assert s.save_state()
    out = CliRunner().invoke(main, ["inspect", str(s.state_file)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("station x: 10–90 % band over the last 30 days")
    rows = [line for line in lines if line.strip().startswith("+")]
    per = s.calibration.per_horizon()
    assert len(rows) == 24 and all(f"{p['n']:6d}" in row for p, row in zip(per, rows))
    as_json = json.loads(CliRunner().invoke(main, ["inspect", "--json", str(s.state_file)]).output)
    assert as_json["horizons"] == per and as_json["groups"] == s.calibration.stats()["groups"]
    bad = tmp_path / "y.state.json"
    bad.write_text('{"format": "edgecast-state/1", "band": {"sha": null}}')
    out = CliRunner().invoke(main, ["inspect", str(bad)])
    assert out.exit_code != 0 and "y.state.json" in out.output and "Traceback" not in out.output
