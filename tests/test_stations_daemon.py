"""benchmarks.stations_daemon on ten days of a real station, through mosquitto and `edgecast run`.

The forecasts must arrive (one per completed hour, +24 h valid times), and the benchmark's
scores must equal a hand computation from the file's raw rows (the row stamped valid_at).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
STATION = REPO.parent / "shared" / "data" / "stations" / "inmet_a201_belem.csv.xz"
DAYS = 10


@pytest.fixture(scope="module")
def run():
    from benchmarks import stations_daemon as bench
    from edgecast.data import load
    if not STATION.exists():
        pytest.fail(f"the real station file is required at {STATION}")
    series = load(STATION)
    end = int(np.searchsorted(series.times, series.times[0] + np.timedelta64(DAYS * 24, "h")))
    part = series.slice(0, end)
    with_location, _ = bench.location_accepted("")
    result = bench.run_station("test_belem", part, location=part.location if with_location else None,
                               log=lambda text: None)
    return part, result


def actual_at(series, valid_at: str) -> float | None:
    """The file's temperature in the row stamped ``valid_at`` (None: no row or no value)."""
    t = np.datetime64(valid_at.rstrip("Z"), "s")
    rows = np.flatnonzero(series.times.astype("datetime64[s]") == t)
    if not len(rows):
        return None
    value = float(series.values[rows[-1], 1])  # T (degC)
    return value if math.isfinite(value) and -60 <= value <= 60 else None


def test_forecasts_arrive_once_per_hour(run):
    series, result = run
    forecasts = result["forecasts"]
    sent = len(series)
    assert result["readings"] == sent and result["acked"] == sent
    # every completed hour but the first few (event time confirmed by 3 readings) gives one
    assert sent - 5 <= len(forecasts) <= sent
    issued = [np.datetime64(f["issued_at"].rstrip("Z"), "s") for f in forecasts]
    assert all(np.diff(issued) == np.timedelta64(1, "h"))
    for f in forecasts:
        assert np.datetime64(f["valid_at"].rstrip("Z"), "s") - np.datetime64(f["issued_at"].rstrip("Z"), "s") \
            == np.timedelta64(24, "h")
        assert f["source"] in ("model", "naive") and math.isfinite(f["naive_c"])
    # the window fills after 120 hours: the model computes its own value from then on
    assert any(f["model_c"] is not None for f in forecasts)
    assert all(f["model_c"] is None for f in forecasts[:100])


def test_score_matches_hand_computation(run):
    from benchmarks.stations_daemon import score
    series, result = run
    forecasts = result["forecasts"]
    grid = series.hourly(3)
    # two hours by hand: one with the model's value, one (early) where model_c is null
    measured = [f for f in forecasts if actual_at(series, f["valid_at"]) is not None]
    late = next(f for f in reversed(measured) if f["model_c"] is not None)
    early = next(f for f in measured if f["model_c"] is None)
    a_late, a_early = actual_at(series, late["valid_at"]), actual_at(series, early["valid_at"])
    two = score([early, late], grid)["all"]
    assert two["n"] == 2 and two["model_null"] == 1
    assert two["served_mae"] == pytest.approx((abs(early["temperature_c"] - a_early)
                                               + abs(late["temperature_c"] - a_late)) / 2, abs=1e-4)
    assert two["naive_mae"] == pytest.approx((abs(early["naive_c"] - a_early) + abs(late["naive_c"] - a_late)) / 2,
                                             abs=1e-4)
    # model_c null counts as naive's value
    assert two["model_mae"] == pytest.approx((abs(early["naive_c"] - a_early) + abs(late["model_c"] - a_late)) / 2,
                                             abs=1e-4)

    # all of them, by hand from the raw rows
    errors = [(f["temperature_c"] - a, f["naive_c"] - a) for f in forecasts
              if (a := actual_at(series, f["valid_at"])) is not None]
    assert len(errors) > 24 * (DAYS - 2) - 10  # the last day's valid hours lie beyond the slice
    s = score(forecasts, grid)
    assert s["scored"] == s["all"]["n"] == len(errors)
    assert s["all"]["served_mae"] == pytest.approx(np.mean([abs(e[0]) for e in errors]), abs=1e-4)
    assert s["all"]["naive_mae"] == pytest.approx(np.mean([abs(e[1]) for e in errors]), abs=1e-4)
    assert s["first"] == s["all"] and s["after"] is None  # ten days: all in the first 30
    # the 30-day split, here at 5 days: by issued_at since the first forecast
    split = score(forecasts, grid, first_days=5)
    start = np.datetime64(forecasts[0]["issued_at"].rstrip("Z"), "s")
    first = [f for f in forecasts if np.datetime64(f["issued_at"].rstrip("Z"), "s") < start + np.timedelta64(5, "D")
             and actual_at(series, f["valid_at"]) is not None]
    assert split["first"]["n"] == len(first) and split["first"]["n"] + split["after"]["n"] == len(errors)
    assert split["first"]["served_mae"] == pytest.approx(
        np.mean([abs(f["temperature_c"] - actual_at(series, f["valid_at"])) for f in first]), abs=1e-4)
    # a daemon without the on-box correction: corrected_c absent is null
    assert s["all"]["corrected_n"] == sum(f.get("corrected_c") is not None for f in forecasts
                                          if actual_at(series, f["valid_at"]) is not None)
