"""The box scores its own forecasts, in-process on real 2021 rows: scoring
against observed hours only, shadow scoring, the skill guard, and the scores in the
state file (restart, old files, a damaged section). The broker-level check against an
offline computation is test_skill_replay.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from edgecast.daemon import config as config_mod
from edgecast.daemon.forecast import decide
from edgecast.daemon.hourly import HourlyBuffer
from edgecast.daemon.skill import DAY, HORIZON, Skill
from edgecast.data import load
from edgecast.readings import Reading
from edgecast.replay import reading_payload, select_rows
from edgecast.resample import HOUR
from edgecast.schema import FeatureSchema, TARGET_INDEX
from harness.offline import offline_station

from .test_forecast_rules import StandIn

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mpi_roof_2021_hourly.csv.xz"
NO_MODEL = '[model]\npath = "{dir}/no-such-model.tflite"\n'
GUARD = re.compile(r"^skill guard: model MAE \d+\.\d\d vs naive \d+\.\d\d over the last 30 days$")


@pytest.fixture(scope="module")
def rows():
    if not DATA.exists():
        pytest.skip(f"{DATA} is not here")
    return load(DATA)


def payloads(series, start: str, hours: float) -> list[bytes]:
    first, end = select_rows(series.times, start, hours)
    return [reading_payload(t, v) for t, v in zip(series.times[first:end], series.values[first:end])]


def station(tmp_path, extra=""):
    cfg = config_mod.parse(f'[station]\nid = "jena"\n[state]\ndir = "{tmp_path / "state"}"\n'
                           + NO_MODEL.format(dir=tmp_path) + extra)
    return offline_station(cfg)


def last_stats(s) -> dict:
    return [p for name, p in s.link.published if name == "stats"][-1]


def forecast(value, source="naive", model=None, naive=None):
    return {"temperature_c": value, "source": source, "model_c": model, "naive_c": value if naive is None else naive}


def test_scored_against_observed_hours_only_over_rolling_windows():
    sk = Skill()
    h0 = 1000 * DAY
    sk.issued(h0, forecast(10.0, "model", model=10.0, naive=12.0))
    sk.issued(h0 + HOUR, forecast(11.0, "naive", naive=11.0))  # the model computed nothing (warm-up)
    sk.issued(h0 + 2 * HOUR, forecast(5.0))
    sk.verify(h0 + HORIZON, 11.0)  # errors: published -1, model -1, naive +1
    sk.verify(h0 + HORIZON + HOUR, 13.0)  # published -2; the model's fallback is naive: -2
    sk.verify(h0 + HORIZON + 2 * HOUR, None)  # carried or missing: no target, as in training
    f = sk.figures(7)
    assert f == {"n": 2, "model_n": 1, "model_mae": 1.5, "uncorrected_mae": 1.5, "naive_mae": 1.5,
                 "published_mae": 1.5, "bias": -1.5, "skill_pct": 0.0}
    assert sk.unverified == 1 and not sk.pending
    # 8 days later the 7-day window is empty (null MAEs), the 30-day one still holds both
    sk.verify(h0 + HORIZON + 8 * DAY, 0.0)
    assert sk.figures(7) == {"n": 0, "model_n": 0, "model_mae": None, "uncorrected_mae": None, "naive_mae": None,
                             "published_mae": None, "bias": None, "skill_pct": None}
    assert sk.figures(30)["n"] == 2
    sk.verify(h0 + HORIZON + 31 * DAY, 0.0)
    assert sk.figures(30)["n"] == 0 and len(sk.records) == 0
    # a forecast whose hour went by in a gap (the buffer skipped it) is dropped, not kept forever
    sk.issued(h0 + 40 * DAY, forecast(1.0))
    sk.verify(h0 + 45 * DAY, 1.0)
    assert not sk.pending and sk.unverified == 2


def test_the_guard_holds_on_a_margin_and_lets_go_when_the_model_does_better():
    sk = Skill()
    h = 0
    def day(model_err, naive_err):
        nonlocal h
        for _ in range(24):
            sk.issued(h, forecast(20 + naive_err, "naive", model=20 + model_err, naive=20 + naive_err))
            h += HOUR
            sk.verify(h + HORIZON - HOUR, 20.0)
    day(2.05, 2.0)
    assert not sk.guard(True, 1, 0.1) and sk.guard_text() is None  # worse, but within the margin
    day(2.5, 2.0)
    assert not sk.guard(True, 3, 0.1)  # 2 verified days of the 3 required
    assert not sk.guard(False, 1, 0.1)  # off
    assert sk.guard(True, 1, 0.1) and GUARD.match(sk.guard_text())
    day(1.9, 2.0)
    assert sk.guard(True, 1, 0.1)  # 2.15 vs 2.00: still worse, it holds
    day(1.0, 2.0)
    assert not sk.guard(True, 1, 0.1)  # 1.86 < 2.00: the model serves again


def test_guard_reason_goes_out_with_the_models_value_as_model_c():
    b = HourlyBuffer(carry_forward_hours=3)
    for h in range(1000, 1121):
        b.add(Reading(h * HOUR, {c: 5.0 for c in range(14)}))

    served = decide(b.window(), StandIn(["T (degC)"]), None, "s", 0.75).payload
    assert (served["source"], served["temperature_c"], served["model_c"], served["reason"]) == ("model", 21.5,
                                                                                                 21.5, None)
    text = "skill guard: model MAE 3.00 vs naive 2.00 over the last 30 days"
    guarded = decide(b.window(), StandIn(["T (degC)"]), None, "s", 0.75, guard=text).payload
    assert (guarded["source"], guarded["temperature_c"], guarded["model_c"], guarded["reason"]) == ("naive", 5.0,
                                                                                                   21.5, text)
    assert decide(b.window(), None, "gone", "s", 0.75, guard=text).payload["model_c"] is None


class Biased:
    """A model that is 4 °C too warm, then (``fixed``) knows the future: the guard must
    serve naive while it is bad and the model again once it does better."""

    identity = {"kind": "stand-in"}
    schema = FeatureSchema(features=["T (degC)"])

    def __init__(self, grid):
        self.actual = dict(zip(grid.hours.tolist(), grid.values[:, TARGET_INDEX].tolist()))
        self.fixed = False

    def forecast(self, values, times, location=None):
        issued = int(times[-1].astype("datetime64[s]").astype(np.int64))
        if self.fixed:
            return np.array([self.actual.get(issued + HORIZON, values[-1, TARGET_INDEX])])
        return np.array([values[-1, TARGET_INDEX] + 4.0])


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_guard_in_a_station_serves_naive_then_the_model_again(tmp_path, rows):
    s = station(tmp_path, "skill_guard = true\nskill_guard_min_days = 2\n")
    s.forecaster, s.model_error = Biased(rows.hourly(3)), None
    items = payloads(rows, "2021-05-01T00:00:00", 14 * 24)
    for p in items[:8 * 24]:
        s.on_payload(p)
    forecasts = [p for name, p in s.link.published if name == "forecast"]
    guarded = [f for f in forecasts if f["reason"] and f["reason"].startswith("skill guard")]
    assert guarded and all(GUARD.match(f["reason"]) and f["source"] == "naive" for f in guarded)
    assert all(f["model_c"] == pytest.approx(f["naive_c"] + 4.0, abs=0.002) for f in guarded)  # shadow-scored
    first = forecasts.index(guarded[0])
    # the model serves after 120 h of warm-up; its first forecasts are verified 24 h later
    assert 120 + 24 <= first < 7 * 24 and all(f["source"] == "model" for f in forecasts[119:first])
    assert last_stats(s)["skill"]["guard"] == guarded[-1]["reason"]
    s.forecaster.fixed = True
    for p in items[8 * 24:]:
        s.on_payload(p)
    tail = [p for name, p in s.link.published if name == "forecast"][-24:]
    assert all(f["source"] == "model" and f["reason"] is None for f in tail)
    skill = last_stats(s)["skill"]
    assert skill["guard"] is None and skill["days_30"]["model_mae"] < skill["days_30"]["naive_mae"]
    # published_mae counts what went out: between the two while the guard held
    assert skill["days_30"]["published_mae"] != skill["days_30"]["model_mae"]


def test_scores_survive_a_restart_and_old_state_files_load(tmp_path, rows):
    s = station(tmp_path)
    for p in payloads(rows, "2021-05-01T00:00:00", 4 * 24):
        s.on_payload(p)
    before = last_stats(s)["skill"]
    assert before["days_7"]["n"] == 3 * 24 and before["pending"] == 24
    assert s.save_state()
    again = station(tmp_path)
    assert again.skill.stats() == before and again.skill.pending == s.skill.pending
    # it goes on scoring from there
    for p in payloads(rows, "2021-05-05T00:00:00", 2):
        again.on_payload(p)
    assert last_stats(again)["skill"]["days_7"]["n"] == before["days_7"]["n"] + 2

    # a state file from before the on-box skill (no "skill"): the window resumes, the scores start empty
    data = json.loads(s.state_file.read_text())
    del data["skill"]
    s.state_file.write_text(json.dumps(data))
    old = station(tmp_path)
    assert len(old.buffer.hours) == len(again.buffer.hours) and old.skill.stats()["days_30"]["n"] == 0
    assert not list(s.state_file.parent.glob("*.corrupt-*"))

    # a damaged skill section costs the scores only, never the window
    data["skill"] = {"now": "yesterday", "pending": [], "records": "", "unverified": 0, "guarding": False}
    s.state_file.write_text(json.dumps(data))
    damaged = station(tmp_path)
    assert len(damaged.buffer.hours) == len(again.buffer.hours) and damaged.skill.stats()["days_30"]["n"] == 0
    assert len(list(s.state_file.parent.glob("*.corrupt-*"))) == 1  # the file as it was, kept for a look
