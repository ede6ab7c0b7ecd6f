"""The next-day curve in the payload and the frost warning, in-process (OfflineLink);
the same through mosquitto and an HA-shaped subscriber is in test_ecosystem.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgecast.alerts import FrostRule
from edgecast.daemon.forecast import decide
from edgecast.forecaster import ModelCannotServe
from edgecast.naive import naive_curve
from edgecast.schema import TARGET_INDEX

from .test_forecast_rules import StandIn, full_buffer
from .test_skill import payloads, rows, station  # noqa: F401 (rows: the 2021 fixture)

CURVE = np.linspace(3.0, -2.0, 24) + np.sin(np.arange(24))  # coldest at +22 h


def test_a_curve_bundle_fills_hourly_and_its_min_and_max():
    window = full_buffer().window()
    f = decide(window, StandIn(["T (degC)"], result=CURVE), None, "s", 0.75).payload
    assert (f["source"], f["hourly_source"]) == ("model", "model")
    assert f["hourly"] == [round(v, 3) for v in CURVE] and f["hourly"][-1] == f["temperature_c"]
    low, high = int(np.argmin(CURVE)), int(np.argmax(CURVE))
    assert (f["min_c"], f["max_c"]) == (round(CURVE[low], 3), round(CURVE[high], 3))
    issued = np.datetime64(f["issued_at"].rstrip("Z"))
    assert f["min_at"] == str(issued + np.timedelta64(low + 1, "h")) + "Z"
    assert f["max_at"] == str(issued + np.timedelta64(high + 1, "h")) + "Z"


def test_without_the_model_the_curve_is_the_naive_one_and_says_so():
    window = full_buffer().window()
    naive = naive_curve(window.values[-24:, TARGET_INDEX])
    f = decide(window, None, "gone", "s", 0.75).payload
    assert (f["source"], f["hourly_source"]) == ("naive", "naive")
    assert f["hourly"] == [round(v, 3) for v in naive] and f["hourly"][-1] == f["temperature_c"]
    # the model raises: the same
    f = decide(window, StandIn(["T (degC)"], result=ModelCannotServe("interpreter error: x")), None, "s", 0.75).payload
    assert f["hourly_source"] == "naive"
    # a +24 h-only bundle: naive hours, ended by the model's value
    f = decide(window, StandIn(["T (degC)"], result=21.5), None, "s", 0.75).payload
    assert (f["source"], f["hourly_source"], f["hourly"][-1]) == ("model", "naive", 21.5)
    assert f["hourly"][:23] == [round(v, 3) for v in naive[:23]]


def alerts_and_forecasts(s):
    published = s.link.published
    return ([p for name, p in published if name == "alert"], [p for name, p in published if name == "forecast"])


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
def test_the_alert_follows_the_rule_over_a_winter_fortnight(tmp_path, rows):  # noqa: F811
    s = station(tmp_path)  # no model: the naive curve, so every figure is checkable from the rows
    for p in payloads(rows, "2021-01-01T00:00:00", 14 * 24):
        s.on_payload(p)
    alerts, forecasts = alerts_and_forecasts(s)
    assert len(alerts) == len(forecasts) > 10 * 24
    # each hour: the alert goes out first, then the forecast carrying the same flag
    names = [name for name, _ in s.link.published if name in ("alert", "forecast")]
    assert names[:2] == ["alert", "forecast"] and all(a != b for a, b in zip(names, names[1:]))
    expected = FrostRule().states(np.array([f["min_c"] for f in forecasts]))
    assert [a["frost"] for a in alerts] == [f["frost_alert"] for f in forecasts] == expected.tolist()
    assert expected.any() and not expected.all()  # January 2021 in Jena: frosty nights and thaws
    switches = [i for i in range(1, len(expected)) if expected[i] != expected[i - 1]]
    for i in switches:
        assert alerts[i]["since"] == forecasts[i]["issued_at"]
    a = alerts[-1]
    assert (a["min_c"], a["min_at"], a["source"]) == (forecasts[-1]["min_c"], forecasts[-1]["min_at"], "naive")
    assert (a["threshold_c"], a["warn_below_c"]) == (0.0, 1.0)
    assert json.loads(json.dumps(a)) == a


def test_hysteresis_and_threshold_come_from_the_config(tmp_path, rows):  # noqa: F811
    s = station(tmp_path, "[alerts]\nfrost_c = -30.0\n")
    for p in payloads(rows, "2021-01-01T00:00:00", 7 * 24):
        s.on_payload(p)
    alerts, _ = alerts_and_forecasts(s)
    assert not any(a["frost"] for a in alerts) and alerts[-1]["warn_below_c"] == -29.0


def test_the_alert_survives_a_restart_and_old_state_files_load(tmp_path, rows):  # noqa: F811
    s = station(tmp_path)
    items = payloads(rows, "2021-01-01T00:00:00", 14 * 24)
    alerts = []
    for p in items:
        s.on_payload(p)
        alerts, _ = alerts_and_forecasts(s)
        if alerts and alerts[-1]["frost"]:
            break
    assert alerts[-1]["frost"] and s.save_state()
    again = station(tmp_path)
    assert (again.alert.on, again.alert.since, again.alert.last) == (True, s.alert.since, s.alert.last)
    again.on_connect()  # a broker that lost its retained alert gets it back
    assert [p for name, p in again.link.published if name == "alert"] == [s.alert.last]
    # a state file from before the frost warning (no "alert") loads, the alert off
    path = s.state_file
    data = json.loads(path.read_text())
    del data["alert"]
    path.write_text(json.dumps(data))
    old = station(tmp_path)
    assert not old.alert.on and old.alert.last is None and len(old.buffer.hours) == len(s.buffer.hours)
    data["alert"] = {"on": "yes"}
    path.write_text(json.dumps(data))
    assert not station(tmp_path).alert.on  # unusable alert state: off, the rest kept


def test_stats_show_the_alert(tmp_path, rows):  # noqa: F811
    s = station(tmp_path)
    for p in payloads(rows, "2021-01-01T00:00:00", 6 * 24):
        s.on_payload(p)
    assert s.stats()["frost_alert"] == {"on": s.alert.on, "since": s.alert.since}


@pytest.mark.parametrize("bad", ["frost_margin_c = -1", "frost_hysteresis_c = 11", "frost_c = 100"])
def test_bad_alert_settings_are_refused(bad):
    from edgecast.daemon import config as config_mod
    with pytest.raises(config_mod.ConfigError, match=r"alerts\.frost"):
        config_mod.parse(f"[alerts]\n{bad}\n")
