"""`edgecast watch`'s matching of forecasts with the readings they forecast, in either order."""

from __future__ import annotations

import json

from edgecast.watch import Watcher


def forecast(issued: str, valid: str, value: float) -> bytes:
    return json.dumps({"issued_at": issued, "valid_at": valid, "naive_c": 1.0, "temperature_c": value,
                       "min_c": 0.5, "min_at": issued, "max_c": 3.0, "max_at": valid, "source": "model",
                       "hourly_source": "model"}).encode()


def reading(time: str, t: float) -> bytes:
    return json.dumps({"time": time, "T": t}).encode()


def test_an_actual_read_after_its_forecast_is_reported_once():
    lines: list[str] = []
    w = Watcher(lines.append)
    w.on_forecast(forecast("2020-03-01T00:00:00Z", "2020-03-02T00:00:00Z", 2.5))
    w.on_reading(reading("2020-03-02T00:00:00Z", 2.0))
    w.on_reading(reading("2020-03-02T00:00:00Z", 2.0))
    assert len(lines) == 2 and lines[1].endswith("error +0.50 °C") and w.forecasts == 1


def test_a_forecast_arriving_after_its_actual_is_scored_at_once():
    lines: list[str] = []
    w = Watcher(lines.append)
    w.on_reading(reading("2020-03-02T00:10:00Z", 9.0))  # not on the hour: no forecast is valid then
    w.on_reading(reading("2020-03-02T00:00:00Z", 3.0))
    w.on_forecast(forecast("2020-03-01T00:00:00Z", "2020-03-02T00:00:00Z", 2.5))
    assert lines[1] == "2020-03-02T00:00:00Z  actual   3.00 °C, forecast   2.50 °C (model), error -0.50 °C"


def test_histories_stay_bounded_and_garbage_is_ignored():
    lines: list[str] = []
    w = Watcher(lines.append, keep=3)
    for day in range(1, 9):
        w.on_reading(reading(f"2020-03-0{day}T00:00:00Z", 1.0))
    w.on_forecast(b"not json")
    w.on_reading(b"{}")
    assert len(w.actuals) == 3 and lines == [] and w.forecasts == 0


def test_the_band_at_the_low_and_the_high_and_the_frost_probability():
    f = json.loads(forecast("2020-03-01T00:00:00Z", "2020-03-02T00:00:00Z", 2.5))
    f |= {"hourly": [1.0, 0.5, 3.0], "hourly_p10": [0.0, -1.25, 2.0], "hourly_p90": [2.0, 1.5, 4.5],
          "frost_probability": 0.234}
    lines: list[str] = []
    Watcher(lines.append).on_forecast(json.dumps(f).encode())
    assert "min   0.50 [-1.2…1.5] at 00:00  max   3.00 [2.0…4.5] at 00:00" in lines[0]
    assert lines[0].endswith("[model]  frost 23 %")
    f["hourly_p90"] = [2.0]  # a damaged band: the line without it, never a crash
    Watcher(lines.append).on_forecast(json.dumps(f).encode())
    assert "min   0.50 at 00:00" in lines[1]
