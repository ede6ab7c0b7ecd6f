"""The daemon's hourly buffer builds the very windows the protocols train on, from every file type."""

import json

import numpy as np
import pytest

from edgecast import protocol
from edgecast.daemon import state
from edgecast.daemon.forecast import decide
from edgecast.daemon.hourly import CARRIED, MISSING, OBSERVED, HourlyBuffer
from edgecast.daemon.ordering import EventClock
from edgecast.readings import Reading, parse
from edgecast.replay import reading_payload, select_rows
from edgecast.schema import CHANNEL_INDEX, TARGET_INDEX, WINDOW_STEPS

T = TARGET_INDEX


def feed(series, start, hours, buffer=None, clock=None, on_window=None):
    """Rows -> replay JSON -> parser -> event clock -> buffer, as the daemon does."""
    buffer = buffer or HourlyBuffer(carry_forward_hours=3)
    clock = clock or EventClock(6 * 3600, 3)
    first, end = select_rows(series.times, start, hours)
    rejected = []
    for t, row in zip(series.times[first:end], series.values[first:end]):
        reading = parse(reading_payload(t, row))
        if not isinstance(reading, Reading):
            rejected.append(reading.reason)
            continue
        verdict = clock.admit(reading)
        rejected += [g.reason for g in verdict.given_up]
        if verdict.kind == "rejected":  # (the first rows are held until they agree, then enter)
            rejected.append(verdict.reason)
        for r in verdict.readings:
            buffer.add(r, on_hour=(lambda h: on_window(h, buffer.window())) if on_window else None)
    return buffer, rejected


def test_buffer_windows_equal_protocol_windows(series_2020):
    # 2020-03-01 .. +130 h: no duplicate, gap or -9999 in these rows.
    times, values = series_2020.times, series_2020.values
    row_of = {t: i for i, t in enumerate(times)}
    checked = []

    def check(hour, window):
        last_row = row_of[np.datetime64(hour, "s")]
        if last_row < protocol.span_rows() or not (window.status == OBSERVED).all():
            return
        start = last_row - protocol.span_rows()
        expected = protocol.windows(values, np.array([start]))[0]
        np.testing.assert_array_equal(window.values.astype(np.float32), expected)
        np.testing.assert_array_equal(window.values, values[protocol.step_rows(np.array([start]))[0]])
        np.testing.assert_array_equal(window.times, times[protocol.step_rows(np.array([start]))[0]])
        checked.append(hour)

    _, rejected = feed(series_2020, "2020-03-01T00:00:00", 130, on_window=check)
    assert rejected == []
    assert len(checked) == 11  # hours 119 .. 129 after the start have a full window


@pytest.mark.parametrize("name, start", [
    ("mpi_roof_2017b.csv.xz", "2017-09-01T00:00:00"),  # 10-minute rows, Latin-1 export
    ("mpi_roof_2021_hourly.csv.xz", "2021-03-01T00:00:00"),  # hourly rows at :00
    ("mpi_roof_2022_hourly.csv.xz", "2022-08-06T00:00:00"),  # across its 13-hour gap
    ("jena_climate_2009_2016_hourly.csv.xz", "2009-10-08T10:00:00"),  # hourly rows at :30 … :50
])
def test_buffer_window_equals_the_training_grid_window(name, start):
    """Rows replayed through the daemon give, hour by hour, the grid the years protocol reads."""
    from edgecast.data import load
    from edgecast.features import compute_columns

    from ..conftest import shared_file
    series = load(shared_file(name))
    grid = series.hourly(carry_forward_hours=3)  # the daemon's default gap policy
    row_of = {int(h): i for i, h in enumerate(grid.hours)}
    checked = []

    def check(hour, window):
        last = row_of[int(hour)]
        if window.times[0] <= np.datetime64(start):  # still warming up: the buffer began at start
            return
        rows = slice(last - WINDOW_STEPS + 1, last + 1)
        np.testing.assert_array_equal(window.times, grid.times[rows])
        np.testing.assert_array_equal(window.status, grid.status[rows])
        np.testing.assert_array_equal(window.values, grid.values[rows])  # NaN where missing, both
        # and the model inputs computed from them (time features included) agree too
        features = ["T (degC)", "p (mbar)", "sh (g/kg)", "hour_sin", "doy_cos"]
        np.testing.assert_array_equal(compute_columns(features, window.values, window.times),
                                      compute_columns(features, grid.values[rows], grid.times[rows]))
        checked.append(hour)

    feed(series, start, 160, on_window=check)
    assert len(checked) >= 160 - WINDOW_STEPS - 3
    if name.startswith("mpi_roof_2022"):  # the gap: missing cells beyond the 3 carried hours
        assert any(grid.status[row_of[int(h)] - WINDOW_STEPS + 1:row_of[int(h)] + 1].max() == MISSING
                   for h in checked)


def test_file_quirks_duplicate_and_gap(series_2020):
    buffer, rejected = feed(series_2020, "2020-05-12T03:00:00", 5)
    assert rejected == ["duplicate"]  # the file repeats the 06:00 row
    buffer, rejected = feed(series_2020, "2020-05-29T06:00:00", 8)
    assert rejected == []
    w = buffer.window()
    hours = {str(t): i for i, t in enumerate(w.times)}
    # rows stop at 09:30 and resume at 11:10: 10:00 takes the 09:30 row (30 min old,
    # still within the rule), 11:00 has none and carries 10:00's value forward.
    assert (w.status[hours["2020-05-29T10:00:00"]] == OBSERVED).all()
    assert (w.status[hours["2020-05-29T11:00:00"]] == CARRIED).all()
    np.testing.assert_array_equal(w.values[hours["2020-05-29T11:00:00"]], w.values[hours["2020-05-29T10:00:00"]])
    assert (w.status[hours["2020-05-29T12:00:00"]] == OBSERVED).all()


def _r(hour: float, temp: float, minute: int = 0) -> Reading:
    return Reading(hour * 3600 + minute * 60, {T: temp})


def test_hourly_rule_and_gap_policy():
    b = HourlyBuffer(carry_forward_hours=2)
    assert b.add(_r(10, 1.0, 5)) == []  # the first hour to complete is 11:00
    assert b.add(_r(10, 2.0, 40)) == []
    assert b.add(_r(11, 3.0, 0)) == [11 * 3600]  # a reading at H:00 is hour H's own sample
    assert b.values[-1, T] == 3.0
    assert b.add(_r(11, 4.0, 35)) == []
    assert b.add(_r(12, 5.0, 10)) == [12 * 3600]  # 11:35 is 25 min old at 12:00
    assert b.values[-1, T] == 4.0
    # silence until 17:10: 13:00 is 85 min after 11:35 -> carried; 13, 14 carried, then missing
    assert b.add(_r(17, 6.0, 10)) == [h * 3600 for h in (13, 14, 15, 16, 17)]
    assert list(b.status[-5:, T]) == [CARRIED, CARRIED, MISSING, MISSING, MISSING]
    assert list(b.values[-5:-3, T]) == [4.0, 4.0]
    w = b.window()
    assert w.values.shape == (WINDOW_STEPS, 14) and str(w.issued_at) == "1970-01-01T17:00:00"
    assert np.isnan(w.values[:-7]).all() and (w.status[:-7] == MISSING).all()


def test_a_late_reading_in_the_open_hour_is_merged():
    b = HourlyBuffer(carry_forward_hours=2)
    b.add(_r(10, 1.0))  # completes 10:00
    b.add(Reading(10 * 3600 + 40 * 60, {T: 2.0}))  # 10:40, T only
    p = CHANNEL_INDEX["p (mbar)"]
    assert b.merge_late(Reading(10 * 3600 + 30 * 60, {T: 9.0, p: 1001.0}))  # 10:30 arrives late
    assert not b.merge_late(Reading(9 * 3600 + 50 * 60, {T: 9.0}))  # before the completed 10:00
    b.add(_r(11, 3.0, 5))
    assert b.values[-1, T] == 2.0 and b.values[-1, p] == 1001.0  # newer T kept, missing p filled


def test_a_jump_longer_than_the_window_does_not_iterate_forever():
    b = HourlyBuffer(carry_forward_hours=2)
    b.add(_r(0, 1.0))
    completed = b.add(_r(24 * 365 * 30, 2.0))
    assert len(completed) <= WINDOW_STEPS + 1 and len(b.hours) == WINDOW_STEPS
    assert np.all(np.diff(b.hours) == 3600)


def test_forecast_decisions(series_2020):
    buffer, _ = feed(series_2020, "2020-03-01T00:00:00", 125)
    w = buffer.window()
    f = decide(w, None, "model file x does not exist", "jena", 0.75).payload
    assert f["source"] == "naive" and f["reason"] == "no model: model file x does not exist"
    assert f["temperature_c"] == round(w.values[-1, T], 3)
    assert f["issued_at"] == "2020-03-06T04:00:00Z" and f["valid_at"] == "2020-03-07T04:00:00Z"
    assert f["window"]["observed"] == 1.0 and f["window"]["missing_cells"] == 0
    # no recent temperature: nothing at all
    w.values[-1, T] = np.nan
    w.status[-1, T] = MISSING
    assert decide(w, None, None, "jena", 0.75) is None


def test_state_round_trip_and_corrupt_file(tmp_path, series_2020, caplog):
    buffer, _ = feed(series_2020, "2020-03-01T00:00:00", 30)
    path = state.state_path(tmp_path, "jena")
    state.save(path, {"buffer": buffer.to_dict()})
    again = HourlyBuffer(carry_forward_hours=3)
    assert state.load(path, lambda d: again.load_dict(d["buffer"]))
    np.testing.assert_array_equal(again.values, buffer.values)
    assert again.next_hour == buffer.next_hour
    np.testing.assert_array_equal(again.window().values, buffer.window().values)

    data = json.loads(path.read_text())
    data["buffer"]["hours"][3] += 60  # not consecutive hours any more
    path.write_text(json.dumps(data))
    fresh = HourlyBuffer(carry_forward_hours=3)
    assert not state.load(path, lambda d: fresh.load_dict(d["buffer"]))
    assert not path.exists() and len(list(tmp_path.glob("jena.state.json.corrupt-*"))) == 1
    assert "unusable" in caplog.text
    for junk in (b"", b"{", b"[]", b'{"format": "edgecast-state/1"}'):
        path.write_bytes(junk)
        assert not state.load(path, lambda d: fresh.load_dict(d["buffer"]))
    assert len(fresh.hours) == 0


@pytest.mark.parametrize("channel", ["wv (m/s)"])
def test_a_sentinel_row_keeps_the_other_channels(series_2020, channel):
    # 2020-02-20 07:40 has wv = -9999: the value is dropped, the reading kept.
    i = int(np.searchsorted(series_2020.times, np.datetime64("2020-02-20T07:40:00")))
    r = parse(reading_payload(series_2020.times[i], series_2020.values[i]))
    assert r.dropped == {"sentinel": 1} and CHANNEL_INDEX[channel] not in r.values and len(r.values) == 13


def test_state_compact_form_round_trips_and_the_list_form_still_loads(series_2020):
    """to_dict writes the grids compactly (base64 float64, one status digit per cell);
    an empty buffer and files written in the older list form load too."""
    for hours in (0, 3):
        buffer, _ = feed(series_2020, "2020-03-01T00:00:00", hours) if hours else (HourlyBuffer(3), None)
        d = json.loads(json.dumps(buffer.to_dict()))
        assert isinstance(d["values"], str) and isinstance(d["status"], str)
        again = HourlyBuffer(carry_forward_hours=3)
        again.load_dict(d)
        np.testing.assert_array_equal(again.values, buffer.values)
        np.testing.assert_array_equal(again.status, buffer.status)
        # the list form (state files written before the compact one)
        d["values"] = [None if not np.isfinite(x) else float(x) for x in np.ravel(buffer.values)]
        d["status"] = [int(s) for s in np.ravel(buffer.status)]
        old = HourlyBuffer(carry_forward_hours=3)
        old.load_dict(d)
        np.testing.assert_array_equal(old.values, buffer.values)
        np.testing.assert_array_equal(old.status, buffer.status)
    d = buffer.to_dict()
    for bad in ({"status": d["status"][:-1]}, {"status": "9" * len(d["status"])}, {"values": "not base64!"},
                {"values": d["values"][:-4]}):
        with pytest.raises(ValueError):
            HourlyBuffer(carry_forward_hours=3).load_dict({**d, **bad})
