"""Clock faults. Hours are event time (the readings' own stamps), so:

- the sensor's clock jumping forward by hours is a gap (carried, then no forecast), by
  days a far-future jump that three agreeing readings confirm; jumping back by hours or
  days makes its readings ``out_of_order`` until its stamps pass the newest accepted one:
  a completed (forecast) hour is never rewritten and never forecast twice;
- a reading older than the window is ``out_of_order`` and changes nothing; a stray old
  stamp as the very first reading after a cold start is taken as the reference (one
  forecast for its hour), the real stream then confirms its jump and is served as usual;
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
from tests.daemon.daemon_harness import replay, wait_until
from tests.reliability.faults import NO_MODEL, InProcess, compare_forecasts, payloads, record_publishes

START = "2020-03-01T00:00:00"
HOUR = 3600


def service(tmp_path) -> Station:
    cfg = config_mod.parse(f'[station]\nid = "jena"\n[state]\ndir = "{tmp_path / "state"}"\n'
                           + NO_MODEL.format(dir=tmp_path))
    s = Station(cfg)
    s.published = record_publishes(s)
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
    assert stats["readings"]["time_jumps"] == 1 and stats["readings"]["accepted"] == 1 + len(rows)
    got = [p for name, p in s.published if name == "forecast"]
    reference = InProcess(tmp_path).feed(rows).forecasts()
    # The stray is the reference (nothing to compare it with), so its own hour is forecast
    # once; the 3 readings that confirmed the jump then entered in order, and every real
    # hour is forecast exactly as in a clean start (the skipped hours had no temperature).
    assert got[0]["issued_at"] == "2000-03-06T00:00:00Z"
    assert got[1:] == reference


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
    assert datetime.fromtimestamp(int(aside[0].name.rsplit("-", 1)[1]), timezone.utc).year == year
    replay(broker, jena_2020_path, START, 6)
    reference = InProcess(tmp_path).feed(payloads(series_2020, START, 6)).forecasts()
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) >= 6, 20, what="6 forecasts")
    diff = compare_forecasts(sub.get("edgecast/jena/forecast"), reference)
    assert diff == {"missing": [], "differing": [], "extra": [], "duplicates": 0}
    assert daemon.stop() == 0
