"""Safe by default: the skill guard is on by default, its scores belong to
the model (sha256) that made them, and a box whose model loses to naive serves naive within
days and the model again once it (or its on-box correction) wins — in-process replays of
real 2021 rows with the default guard settings."""

from __future__ import annotations

import numpy as np
import pytest

from edgecast.daemon import config as config_mod
from edgecast.daemon.skill import HORIZON
from edgecast.resample import HOUR
from edgecast.schema import FeatureSchema, TARGET_INDEX
from harness.offline import offline_station

from .test_skill import GUARD, payloads, rows  # noqa: F401  (the module's real 2021 rows)

DAY_H = 24


def test_the_guard_is_on_by_default():
    m = config_mod.Config().model
    assert (m.skill_guard, m.skill_guard_min_days, m.skill_guard_margin, m.correction) == (True, 7, 0.25, True)


class Oracle:
    """A curve model that knows the future, spoilt on purpose: ``bias`` °C too warm plus
    ``noise`` (°C, Gaussian: what no linear correction can remove)."""

    schema = FeatureSchema(features=["T (degC)"])
    horizons = list(range(1, 25))

    def __init__(self, grid, sha="aaaaaaaaaaaa", bias=0.0, noise=0.0, seed=0):
        self.actual = dict(zip(grid.hours.tolist(), grid.values[:, TARGET_INDEX].tolist()))
        self.identity = {"kind": "stand-in", "sha256": sha}
        self.bias, self.noise = bias, noise
        self.rng = np.random.default_rng(seed)

    def forecast(self, values, times, location=None):
        issued = int(times[-1].astype("datetime64[s]").astype(np.int64))
        now = values[-1, TARGET_INDEX]
        truth = np.array([self.actual.get(issued + h * HOUR, now) for h in self.horizons])
        truth = np.where(np.isfinite(truth), truth, now)
        return truth + self.bias + self.rng.normal(0, self.noise, len(truth)) if self.noise else truth + self.bias


def station(tmp_path, extra=""):
    cfg = config_mod.parse(f'[station]\nid = "jena"\nlatitude = 50.911\nlongitude = 11.5675\n'
                           f'[state]\ndir = "{tmp_path / "state"}"\n'
                           f'[model]\npath = "{tmp_path}/none.tflite"\n' + extra)
    return offline_station(cfg)


def forecasts(s):
    return [p for name, p in s.link.published if name == "forecast"]


def guarded(f) -> bool:
    return bool(f["reason"]) and f["reason"].startswith("skill guard")


def run(s, items):
    for p in items:
        s.on_payload(p)
        s.link.acknowledge()


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_a_losing_model_serves_naive_within_days_and_comes_back_when_it_wins(tmp_path, rows):  # noqa: F811
    """Default guard settings. The model errs by 8 °C of noise no correction removes: once
    7 days of its forecasts are verified the box serves naive; fixed, the model serves again."""
    s = station(tmp_path, "correction = false\n")
    s.forecaster, s.model_error = Oracle(rows.hourly(3), bias=0.0, noise=8.0), None
    items = payloads(rows, "2021-05-01T00:00:00", 40 * DAY_H)
    run(s, items[:14 * DAY_H])
    out = forecasts(s)
    first = next(i for i, f in enumerate(out) if guarded(f))
    # 7 days × 24 verified (the warm-up's naive ones count as draws), the model's among them
    assert 119 + 24 < first <= 119 + 24 + 7 * 24 and GUARD.match(out[first]["reason"])
    assert all(f["source"] == "model" for f in out[119:first])
    held = [f for f in out[first:] if guarded(f)]
    assert all(f["source"] == "naive" for f in held) and guarded(out[-1])
    assert len(held) >= 0.75 * len(out[first:])  # it may let go while naive has a bad spell, briefly
    assert all(f["model_c"] is not None for f in out[first:])  # still scored in the shadow
    s.forecaster.noise = 0.0  # the model is fixed: it knows the future
    run(s, items[14 * DAY_H:])
    out = forecasts(s)
    back = next(i for i in range(14 * DAY_H, len(out)) if not guarded(out[i]))
    # its 30-day record must beat naive's: the worse it was, the longer (here ~6 days bad)
    assert back - 14 * DAY_H <= 14 * DAY_H
    assert all(f["source"] == "model" and f["reason"] is None for f in out[back:])


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_a_biased_model_comes_back_through_its_correction(tmp_path, rows):  # noqa: F811
    """5 °C too warm (plus 1 °C of noise; naive errs by ~3 °C in this May): the model loses
    to naive and the guard serves naive; the on-box correction learns the bias, serves once
    it beats the uncorrected model, and with it the model beats naive again: the guard lets it serve, corrected."""
    s = station(tmp_path)
    s.forecaster, s.model_error = Oracle(rows.hourly(3), bias=5.0, noise=1.0), None
    run(s, payloads(rows, "2021-05-01T00:00:00", 30 * DAY_H))
    out = forecasts(s)
    first = next(i for i, f in enumerate(out) if guarded(f))
    assert first <= 119 + 24 + 7 * 24  # within days of the first verified forecast
    # (its 30-day record may let it out and in again while naive has a bad spell: the rule's)
    back = max(i for i, f in enumerate(out) if guarded(f)) + 1
    assert back < len(out) - 3 * DAY_H
    assert all(not f["correction"]["active"] for f in out[:first])  # the correction was not the guard's
    tail = out[back:]
    assert all(f["source"] == "model" and f["correction"]["active"] for f in tail)
    assert all(f["temperature_c"] == f["corrected_c"] != f["model_c"] for f in tail)
    skill = s.stats()["skill"]["days_7"]
    assert skill["model_mae"] < skill["naive_mae"] < skill["uncorrected_mae"]
    assert skill["uncorrected_mae"] == pytest.approx(5.0, abs=0.4)


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_the_guards_record_restarts_with_another_bundle(tmp_path, rows):  # noqa: F811
    s = station(tmp_path, "correction = false\n")
    grid = rows.hourly(3)
    s.forecaster, s.model_error = Oracle(grid, noise=8.0), None
    items = payloads(rows, "2021-05-01T00:00:00", 18 * DAY_H)
    run(s, items[:15 * DAY_H])
    assert guarded(forecasts(s)[-1]) and s.skill.figures(30)["n"] >= 7 * 24
    assert s.save_state()
    # a restart with another bundle: a good new model is not kept off by the old one's errors
    again = station(tmp_path, "correction = false\n")
    again.forecaster, again.model_error = Oracle(grid, sha="bbbbbbbbbbbb"), None
    run(again, items[15 * DAY_H:15 * DAY_H + 2])
    assert again.skill.sha == "bbbbbbbbbbbb" and again.skill.figures(30)["n"] == 0
    assert [f["source"] for f in forecasts(again)] == ["model", "model"]
    # ... and the same bundle after a restart keeps its record (and the guard)
    assert again.save_state()
    same = station(tmp_path, "correction = false\n")
    same.forecaster, same.model_error = Oracle(grid, sha="bbbbbbbbbbbb"), None
    run(same, items[15 * DAY_H + 2:15 * DAY_H + 3])
    assert same.skill.sha == "bbbbbbbbbbbb" and same.skill.pending
    assert HORIZON == 24 * HOUR


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_a_sighup_reload_of_another_bundle_restarts_the_record(tmp_path, rows, monkeypatch):  # noqa: F811
    s = station(tmp_path, "correction = false\n")
    grid = rows.hourly(3)
    s.forecaster, s.model_error = Oracle(grid, noise=8.0), None
    run(s, payloads(rows, "2021-05-01T00:00:00", 15 * DAY_H))
    assert s.skill.guarding
    from edgecast.daemon import station as station_mod
    monkeypatch.setattr(station_mod, "load_model", lambda cfg, log=None: (Oracle(grid, sha="cccccccccccc"), None))
    s.apply(s.cfg)
    assert s.skill.sha == "cccccccccccc" and not s.skill.guarding and s.skill.figures(30)["n"] == 0
