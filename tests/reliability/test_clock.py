"""Clock faults. Hours are event time (the readings' own stamps), so:

- the sensor's clock jumping forward by hours is a gap (carried, then no forecast), by
  days a far-future jump that three agreeing readings confirm; jumping back by hours or
  days makes its readings ``out_of_order`` until its stamps pass the newest accepted one:
  a completed (forecast) hour is never rewritten and never forecast twice;
- a reading older than the window is ``out_of_order`` and changes nothing; a stray stamp
  (past or future) as the very first reading after a cold start is never confirmed by the
  real stream, so it is rejected (``unconfirmed``) and is not the reference;
- absurd stamps (1e15, year 0 or 10000) are ``bad_time`` in every input format and move nothing;
- the daemon's own wall clock (libfaketime: years ahead, years behind) changes nothing:
  the forecasts equal an uninterrupted in-process run's, byte for byte.
The sensor-clock cases run a daemon Station in-process on real 2020 rows."""

from __future__ import annotations

import glob
import json
import shutil
from datetime import datetime, timezone

import pytest

from edgecast.daemon import config as config_mod
from edgecast.daemon.station import Station
from tests.conftest import require
from harness.processes import replay, wait_until
from tests.reliability.faults import NO_MODEL, InProcess, compare_forecasts, offline_station, payloads

START = "2020-03-01T00:00:00"
HOUR = 3600


def service(tmp_path, extra: str = "") -> Station:
    cfg = config_mod.parse(f'[station]\nid = "jena"\n[state]\ndir = "{tmp_path / "state"}"\n'
                           + NO_MODEL.format(dir=tmp_path) + extra)
    s = offline_station(cfg)
    s.published = s.link.published
    return s


def shifted(items: list[bytes], seconds: float) -> list[bytes]:
    """The same readings with the sensor's clock off by ``seconds``."""
    out = []
    for p in items:
        d = json.loads(p)
        t = datetime.fromisoformat(d["time"].replace("Z", "+00:00")).timestamp() + seconds
        d["time"] = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(json.dumps(d).encode())
    return out


def issued(s: Station) -> list[str]:
    return [p["issued_at"] for name, p in s.published if name == "forecast"]


def feed(s: Station, items) -> Station:
    for p in items:
        s.on_payload(p)
    return s


def assert_strictly_increasing(hours: list[str]) -> None:
    assert all(a < b for a, b in zip(hours, hours[1:])), "an hour forecast twice or out of order"


def test_sensor_clock_jumps_forward_by_hours_and_days(tmp_path, series_2020):
    rows = payloads(series_2020, START, 12)
    s = feed(service(tmp_path), rows[:36])  # 6 h, then the sensor's clock runs 2 h ahead
    feed(s, shifted(rows[36:48], 2 * HOUR))
    stats = s.stats()
    assert stats["readings"]["rejected"] == {} and stats["readings"]["time_jumps"] == 0
    hours = issued(s)
    assert_strictly_increasing(hours)
    # The two skipped hours are completed too (carried values), one forecast each.
    assert hours[-1] == "2020-03-01T09:00:00Z" and len(hours) == 10
    # ... then 2 days ahead: far-future, held, confirmed by the third agreeing reading.
    feed(s, shifted(rows[48:72], 2 * HOUR + 2 * 86400))
    stats = s.stats()
    assert stats["readings"]["time_jumps"] == 1 and "far_future" not in stats["readings"]["rejected"]
    assert stats["readings"]["accepted"] == 72
    hours = issued(s)
    assert_strictly_increasing(hours)
    assert hours[-1] == "2020-03-03T13:00:00Z"
    # The gap's first 3 hours carry the last value; then no temperature: nothing goes out.
    assert stats["forecasts"]["skipped_no_temperature"] == 48 - 3 - 1


def test_sensor_clock_jumps_back_by_hours_then_days(tmp_path, series_2020):
    rows = payloads(series_2020, START, 60)
    s = feed(service(tmp_path), rows[:60])  # 10 h
    before = issued(s)
    feed(s, shifted(rows[60:78], -3 * HOUR))  # 3 h of readings stamped 3 h early
    feed(s, shifted(rows[78:96], -2 * 86400))  # then 3 h stamped 2 days early
    stats = s.stats()
    assert issued(s) == before  # no completed hour rewritten or forecast again
    # 36 readings: the one stamped 09:50 (the newest) is a duplicate, the four stamped inside
    # the open hour (09:10-09:40) are "late" (merged where newer: nowhere, 09:50 is newer for
    # every channel), the 31 others are out_of_order.
    assert stats["readings"]["rejected"] == {"out_of_order": 31, "duplicate": 1}
    assert stats["readings"]["late"] == 4 and stats["readings"]["accepted"] == 60 + 4
    feed(s, rows[96:])  # the clock is right again (NTP): it resumes with the next hour
    hours = issued(s)
    assert_strictly_increasing(hours)
    assert hours[-1] == "2020-03-03T11:00:00Z"
    reference = InProcess(tmp_path).feed(rows).forecasts()
    ref = {f["issued_at"]: f for f in reference}
    # The last forecasts (their 120-hour windows hold the gap as carried/missing cells either
    # way) are the uninterrupted run's where the window no longer differs.
    resumed = [p for name, p in s.published if name == "forecast" and p["issued_at"] >= "2020-03-01T20:00:00Z"]
    assert resumed and all(f["temperature_c"] == ref[f["issued_at"]]["temperature_c"] for f in resumed)


def test_readings_older_than_the_window_change_nothing(tmp_path, series_2020):
    rows = payloads(series_2020, START, 8)
    stray = shifted(rows[:3], -10 * 86400)  # 10 days old: far outside the 120-hour window
    s = feed(service(tmp_path), rows[:24] + stray + rows[24:])
    assert s.stats()["readings"]["rejected"] == {"out_of_order": 3}
    reference = InProcess(tmp_path).feed(rows).forecasts()
    got = [p for name, p in s.published if name == "forecast"]
    assert got == reference


def test_a_stray_old_first_reading_after_a_cold_start(tmp_path, series_2020):
    rows = payloads(series_2020, START, 8)
    s = feed(service(tmp_path), shifted(rows[:1], -20 * 365 * 86400) + rows)  # a year-2000 stamp first
    stats = s.stats()
    # With an empty state the first readings wait until 3 agree (readings.confirm_jump_readings):
    # the stray never does, so it is rejected and is not the reference; every real hour is
    # forecast exactly as in a clean start.
    assert stats["readings"]["time_jumps"] == 0 and stats["readings"]["accepted"] == len(rows)
    assert stats["readings"]["rejected"] == {"unconfirmed": 1}
    got = [p for name, p in s.published if name == "forecast"]
    assert got == InProcess(tmp_path).feed(rows).forecasts()


def libfaketime() -> str | None:
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1")
    return found[0] if found and shutil.which("faketime") else None


@pytest.mark.parametrize("fake, year", [("@2041-06-01 12:00:00", 2041), ("@2001-01-01 00:00:00", 2001)])
def test_the_daemons_wall_clock_far_off_changes_nothing(broker, daemons, subscriber, tmp_path, series_2020,
                                                        jena_2020_path, fake, year):
    lib = libfaketime()
    require(lib is not None, "libfaketime is required (apt-get install faketime)")
    sub = subscriber(broker, ["edgecast/jena/forecast", "edgecast/jena/status"])
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path),
                     env={"LD_PRELOAD": lib, "FAKETIME": fake, "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    daemon.state_file.parent.mkdir(parents=True)
    daemon.state_file.write_text("not a state file")  # set aside under the daemon's own "now"
    daemon.start()
    sub.wait_online()
    aside = list(daemon.state_file.parent.glob("*.corrupt-*"))
    assert len(aside) == 1
    # Proof the clock was off: the name carries the daemon's idea of the time.
    assert datetime.strptime(aside[0].name.rsplit("-", 1)[1], "%Y%m%dT%H%M%SZ").year == year
    replay(broker, jena_2020_path, START, 6)
    reference = InProcess(tmp_path).feed(payloads(series_2020, START, 6)).forecasts()
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) >= 6, 20, what="6 forecasts")
    diff = compare_forecasts(sub.get("edgecast/jena/forecast"), reference)
    assert diff == {"missing": [], "differing": [], "extra": [], "duplicates": 0}
    assert daemon.stop() == 0


# --- absurd stamps and stray first readings ---------------------------------------------
FORMATS = {  # [input] of each firmware, and one native row as that firmware sends it
    "native": ("", lambda d, when: {**d, "time": when}),
    "tasmota": ('[input]\nformat = "tasmota"\n[input.tasmota]\ntimezone = "UTC"\n',
                lambda d, when: {"Time": when, "BME280": {"Temperature": d["T (degC)"], "Humidity": d["rh (%)"],
                                                          "Pressure": d["p (mbar)"]}}),
    "rtl_433": ('[input]\nformat = "rtl_433"\n[input.rtl433]\nmodel = "WH24"\ntimezone = "UTC"\n',
                lambda d, when: {"time": when, "model": "WH24", "id": 1, "temperature_C": d["T (degC)"],
                                 "humidity": d["rh (%)"], "pressure_hPa": d["p (mbar)"]}),
}


def as_format(fmt: str, items: list[bytes], stamp=None) -> list[bytes]:
    """Native rows as ``fmt`` sends them; ``stamp`` replaces every row's time."""
    out = []
    for p in items:
        d = json.loads(p)
        when = d["time"].rstrip("Z") if stamp is None else stamp
        out.append(json.dumps(FORMATS[fmt][1](d, when)).encode())
    return out


@pytest.mark.parametrize("fmt, stamp", [
    ("rtl_433", 1e15), ("rtl_433", "1000000000000000"), ("tasmota", "1000000000000000"),
    ("tasmota", "9999-12-31T23:59:59"), ("native", "9999-12-31T23:59:59+00:00"),
    ("native", "0001-01-01T00:00:00+14:00"), ("rtl_433", "0001-01-01 00:00:00+14:00"), ("rtl_433", -1e15),
])
def test_absurd_stamps_are_bad_time_and_move_nothing(tmp_path, series_2020, fmt, stamp):
    """Before: 1e15 moved the event clock, then raised; no forecast ever again, also after a
    restart (the bad ``newest`` was saved). Year 0/10000: a traceback, the reading uncounted."""
    native = payloads(series_2020, START, 8)
    rows = as_format(fmt, native)
    s = feed(service(tmp_path / "a", FORMATS[fmt][0]), rows[:24])
    newest = s.clock.newest
    feed(s, as_format(fmt, native[23:24], stamp) * 3)  # three agreeing absurd readings
    assert s.clock.newest == newest
    assert s.stats()["readings"]["rejected"] == {"bad_time": 3}
    feed(s, rows[24:])
    clean = feed(service(tmp_path / "b", FORMATS[fmt][0]), rows)
    assert issued(s) == issued(clean) and len(issued(s)) == 8
    assert s.stats()["readings"]["accepted"] == len(rows)


def test_a_stray_future_first_reading_does_not_become_the_reference(tmp_path, series_2020):
    """Before: a first reading stamped 2031 after an empty state was the reference; the real
    sensor was then out_of_order for good, also after a restart (the 2031 newest was saved)."""
    rows = payloads(series_2020, START, 8)
    stray = shifted(rows[:1], 11 * 365 * 86400)
    s = feed(service(tmp_path), stray + rows[:24])
    stats = s.stats()
    assert stats["readings"]["rejected"] == {"unconfirmed": 1} and stats["readings"]["accepted"] == 24
    assert stats["readings"]["time_jumps"] == 0
    s.stop()
    again = feed(service(tmp_path), rows[24:])  # a restart from the state file it saved
    assert again.stats()["readings"]["accepted"] == len(rows) - 24 and not again.stats()["readings"]["rejected"]
    reference = InProcess(tmp_path).feed(rows).forecasts()
    assert issued(s) + issued(again) == [f["issued_at"] for f in reference]


def test_a_stray_first_reading_held_at_a_stop_is_not_saved(tmp_path, series_2020):
    """Stopped while only the stray is held: nothing was confirmed, so nothing is the
    reference after the restart either."""
    rows = payloads(series_2020, START, 8)
    s = feed(service(tmp_path), shifted(rows[:1], 11 * 365 * 86400))
    s.stop()
    assert json.loads(s.state_file.read_text())["newest"] is None
    again = feed(service(tmp_path), rows)
    assert again.stats()["readings"]["accepted"] == len(rows) and not again.stats()["readings"]["rejected"]
    assert issued(again) == [f["issued_at"] for f in InProcess(tmp_path).feed(rows).forecasts()]
