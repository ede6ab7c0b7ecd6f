"""The on-box skill end to end: `edgecast replay` of 33 days of real 2022 rows through a real
daemon and mosquitto, then the stats topic's skill figures equal an offline computation
from the data file to 0.01 °C. The rows cross the file's 14-hour gap of 2022-08-10, so
the rule "only an observed hour verifies a forecast" is exercised (carried hours get a
naive forecast but verify none, missing ones get no forecast).

- without a model: the forecasts themselves come from the file too (naive = the hour's
  temperature, observed or carried), so the whole chain is checked offline;
- with the bundled model: the forecasts are the ones published (temperature_c, model_c,
  naive_c), their targets and windows come from the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edgecast.data import load
from edgecast.data.clean import invalid_mask
from edgecast.replay import select_rows
from edgecast.resample import HOUR, LIVE_MAX_AGE, OBSERVED, hourly_grid
from edgecast.schema import TARGET_INDEX
from harness.processes import replay, wait_until

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mpi_roof_2022_hourly.csv.xz"
START, HOURS = "2022-07-16T00:00:00", 33 * 24
NO_MODEL = '[model]\npath = "{dir}/no-such-model.tflite"\n[homeassistant]\ndiscovery = false\n'
HA_CONFIGS = [f"homeassistant/sensor/edgecast_jena_{e}/config" for e in ("model_mae_30d", "naive_mae_30d",
                                                                         "skill_30d")]
TOPICS = ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"]


def daemon_grid():
    """The hourly cells of the replayed rows by the daemon's own rule (a rejected value is no sample)."""
    series = load(DATA)
    first, end = select_rows(series.times, START, HOURS)
    values = series.values[first:end]
    return hourly_grid(series.times[first:end], np.where(invalid_mask(values), np.nan, values), LIVE_MAX_AGE, 3)


def offline_skill(grid, forecasts: dict[int, tuple]) -> dict:
    """The skill figures from the file: ``forecasts`` issued hour -> (published, model or None, naive)."""
    t, observed = grid.values[:, TARGET_INDEX], grid.status[:, TARGET_INDEX] == OBSERVED
    now = int(grid.hours[-1])
    rows = []
    for i, hour in enumerate(grid.hours.tolist()):
        issued = hour - 24 * HOUR
        if issued in forecasts and observed[i]:
            published, model, naive = forecasts[issued]
            rows.append((hour, published - t[i], (naive if model is None else model) - t[i], naive - t[i]))
    rows = np.array(rows)
    out = {}
    for days in (7, 30):
        r = rows[rows[:, 0] > now - days * 24 * HOUR]
        out[f"days_{days}"] = {"n": len(r), "published_mae": np.abs(r[:, 1]).mean(), "bias": r[:, 1].mean(),
                               "model_mae": np.abs(r[:, 2]).mean(), "naive_mae": np.abs(r[:, 3]).mean()}
    return out


def run(broker, daemons, subscriber, extra: str, topics=()):
    sub = subscriber(broker, TOPICS + list(topics))
    daemons(broker, extra=extra).start()
    sub.wait_online()
    replay(broker, DATA, START, HOURS)
    grid = daemon_grid()
    hours = len(grid)
    stats = wait_until(lambda: [s for s in sub.get(TOPICS[1]) if s["hours_completed"] == hours], 30,
                       what=f"stats after {hours} hours")[-1]
    return grid, stats, sub


def check(daemon: dict, offline: dict) -> None:
    for window in ("days_7", "days_30"):
        got, want = daemon[window], offline[window]
        assert got["n"] == want["n"], window
        for key in ("model_mae", "naive_mae", "published_mae", "bias"):
            assert got[key] == pytest.approx(want[key], abs=0.01), (window, key)
        assert got["skill_pct"] == pytest.approx(100 * (1 - want["model_mae"] / want["naive_mae"]), abs=0.1)


@pytest.fixture(scope="module")
def data():
    if not DATA.exists():
        pytest.fail(f"the real 2022 file is required at {DATA}")


def test_naive_skill_equals_the_offline_figures(data, broker, daemons, subscriber, tmp_path):
    grid, stats, sub = run(broker, daemons, subscriber, NO_MODEL.format(dir=tmp_path))
    published = sub.get(TOPICS[0])
    t = grid.values[:, TARGET_INDEX]
    forecasts = {h: (t[i], None, t[i]) for i, h in enumerate(grid.hours.tolist()) if np.isfinite(t[i])}
    assert len(published) == len(forecasts) == stats["forecasts"]["naive"]  # the gap's missing hours: none
    offline = offline_skill(grid, forecasts)
    carried = (grid.status[:, TARGET_INDEX] != OBSERVED) & np.isfinite(t)
    # 13 hours without a reading: 3 carried (a naive forecast, no target), 10 missing (neither)
    assert carried.sum() == 3 and stats["forecasts"]["skipped_no_temperature"] == 10
    # so the last 30 days verify every hour but those 13 and the 10 whose forecast never went out
    assert offline["days_30"]["n"] == 30 * 24 - 13 - 10
    check(stats["skill"], offline)
    assert stats["skill"]["days_30"]["model_n"] == 0


def test_model_skill_equals_the_offline_figures(data, broker, daemons, subscriber, tmp_path):
    grid, stats, sub = run(broker, daemons, subscriber, "[model]\nskill_guard = false\n", HA_CONFIGS)
    published = sub.get(TOPICS[0])
    assert stats["forecasts"]["model"] > 20 * 24
    stamp = {iso: h for h, iso in zip(grid.hours.tolist(),
                                      np.datetime_as_string(grid.hours.astype("datetime64[s]"), unit="s"))}
    # the model as it serves: its value, corrected where the on-box correction serves
    # — what went out whenever the model served (the guard is off here)
    forecasts = {stamp[f["issued_at"][:-1]]: (f["temperature_c"], f["temperature_c"] if f["source"] == "model"
                                              else f["model_c"], f["naive_c"]) for f in published}
    assert len(forecasts) == len(published)
    check(stats["skill"], offline_skill(grid, forecasts))
    # ... and without it: the model's own values (model_c)
    raw = offline_skill(grid, {h: (p, m, n) for h, (p, m, n) in zip(
        forecasts, ((f["temperature_c"], f["model_c"], f["naive_c"]) for f in published))})
    for window in ("days_7", "days_30"):
        assert stats["skill"][window]["uncorrected_mae"] == pytest.approx(raw[window]["model_mae"], abs=0.01)
    assert 0 < stats["skill"]["days_30"]["model_n"] < stats["skill"]["days_30"]["n"]  # the gap cost model hours
    # Home Assistant's diagnostic sensors read these figures from the stats topic
    days_30 = stats["skill"]["days_30"]
    shown = []
    for topic in HA_CONFIGS:
        config = (sub.retained[topic] or sub.get(topic))[-1]
        assert config["state_topic"] == TOPICS[1] and config["entity_category"] == "diagnostic"
        path = re.fullmatch(r"\{\{ value_json\.skill\.days_30\.(\w+) \}\}", config["value_template"])
        shown.append(days_30[path.group(1)])
    assert shown == [days_30["model_mae"], days_30["naive_mae"], days_30["skill_pct"]]
    assert all(isinstance(x, float) for x in shown)
