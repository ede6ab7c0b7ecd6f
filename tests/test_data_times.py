"""The loader's times (ISO 8601 with offsets, local civil time across daylight saving), its
unit checks, and the location options of the commands that load data."""

from __future__ import annotations

import json
import lzma

import numpy as np
import pytest
from click.testing import CliRunner

from edgecast.cli import main
from edgecast.data import DataError, load, read_file
from edgecast.data.jena import WIND_MEDIAN_MAX, WIND_P99_MAX
from edgecast.schema import CHANNEL_INDEX
from edgecast.solar import Location

from .conftest import DATA_DIR, shared_file

HEADER = "Date Time,p (mbar),T (degC),rh (%),wv (m/s)"
T = CHANNEL_INDEX["T (degC)"]


def write(path, times, p=990.0, t=None, rh=80.0, wv=1.5):
    """A small station file: one row per time; T counts the rows (0, 1, 2 …) unless given."""
    rows = [HEADER]
    for i, when in enumerate(times):
        cell = lambda v: v[i] if isinstance(v, (list, np.ndarray)) else v  # noqa: E731
        rows.append(f"\"{when}\",{cell(p)},{i if t is None else cell(t)},{cell(rh)},{cell(wv)}")
    path.write_text("\n".join(rows) + "\n")
    return path


# --- time forms -----------------------------------------------------------------------------
@pytest.mark.parametrize("text, utc", [
    ("31.12.2005 23:00:00", "2005-12-31T23:00:00"),  # the Jena files' own form
    ("31.12.2005 23:00", "2005-12-31T23:00:00"),
    ("2005-12-31 23:00:00", "2005-12-31T23:00:00"),  # weather.csv's
    ("2005-12-31T23:00:00Z", "2005-12-31T23:00:00"),  # a form once refused
    ("2005-12-31 23:00Z", "2005-12-31T23:00:00"),
    ("2005-12-31T23:00:00 UTC", "2005-12-31T23:00:00"),
    ("2005-12-31T23:00:00.4Z", "2005-12-31T23:00:00"),  # fractions round to the second
    ("2005-12-31T23:00:59.5", "2005-12-31T23:01:00"),
    ("2005-12-31T23:00:00,25", "2005-12-31T23:00:00"),
    ("2006-01-01T00:00:00+01:00", "2005-12-31T23:00:00"),
    ("2006-01-01 00:00+0100", "2005-12-31T23:00:00"),
    ("2005-12-31T20:00:00-03", "2005-12-31T23:00:00"),
    ("2006-01-01T04:30:00+05:30", "2005-12-31T23:00:00"),
    ("2005-12-31T19:30:00-03:30", "2005-12-31T23:00:00"),
])
def test_each_time_form_is_read_as_utc(tmp_path, text, utc):
    s = read_file(write(tmp_path / "one.csv", [text]))
    assert str(s.times[0]) == utc


def test_an_explicit_offset_wins_over_the_timezone_and_offsets_may_differ_per_row(tmp_path):
    # summer and winter rows of a Berlin logger that writes its offset; one naive row is Berlin time
    path = write(tmp_path / "offsets.csv", ["2021-12-01T13:00:00+01:00", "2021-12-01T15:00:00+02:00",
                                            "2021-12-01 15:00", "2021-12-01 16:00"])
    s = read_file(path, timezone="Europe/Berlin")
    assert [str(t) for t in s.times] == ["2021-12-01T12:00:00", "2021-12-01T13:00:00", "2021-12-01T14:00:00",
                                         "2021-12-01T15:00:00"]
    assert s.files[0].times_read.startswith("Europe/Berlin civil time; UTC offsets in the file (+01:00, +02:00)")
    assert str(read_file(path).times[2]) == "2021-12-01T15:00:00"  # without --timezone a naive time is UTC


@pytest.mark.parametrize("text, message", [
    ("2005/12/31 23:00", "cannot read time '2005/12/31 23:00'"),
    ("2005-12-31T23", "cannot read time"),
    ("2005-12-31T23:00:00+25:00", "impossible UTC offset '\\+25:00'"),
    ("31.02.2005 23:00:00", "impossible time"),
])
def test_unreadable_times_are_refused_with_file_and_line(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", ["2005-12-31 22:00", text])
    with pytest.raises(DataError, match=f"bad.csv, line 3: {message}"):
        read_file(path)


# --- local civil time across daylight saving -------------------------------------------------
def test_berlin_civil_time_across_both_changes(tmp_path):
    spring = ["2021-03-28 00:00", "2021-03-28 01:00", "2021-03-28 02:00",  # 02:00 does not exist that night
              "2021-03-28 03:00", "2021-03-28 04:00"]
    autumn = ["2021-10-31 00:00", "2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 02:00",  # repeated
              "2021-10-31 03:00", "2021-10-31 04:00"]
    s = read_file(write(tmp_path / "berlin.csv", spring + autumn), timezone="Europe/Berlin")
    assert [str(t) for t in s.times] == [
        "2021-03-27T23:00:00", "2021-03-28T00:00:00", "2021-03-28T01:00:00", "2021-03-28T02:00:00",
        "2021-10-30T22:00:00", "2021-10-30T23:00:00", "2021-10-31T00:00:00", "2021-10-31T01:00:00",
        "2021-10-31T02:00:00", "2021-10-31T03:00:00"]
    assert list(s.values[:, T]) == [0, 1, 3, 4, 5, 6, 7, 8, 9, 10]  # the rows stay with their times
    q = s.files[0].quality
    assert (q.dst_repeated, q.dst_unresolved, q.dst_skipped) == (2, 0, 1)
    assert q.duplicate_times == 0 and q.backward_steps == 0
    assert s.files[0].times_read == "Europe/Berlin civil time"


def test_ten_minute_rows_of_the_repeated_hour_by_file_order(tmp_path):
    first = [f"31.10.2021 02:{m:02d}:00" for m in range(0, 60, 10)]
    local = ["31.10.2021 01:50:00", *first, *first, "31.10.2021 03:00:00"]
    s = read_file(write(tmp_path / "tenmin.csv", local), timezone="Europe/Berlin")
    steps = np.diff(s.times).astype(int)
    assert str(s.times[0]) == "2021-10-30T23:50:00" and str(s.times[-1]) == "2021-10-31T02:00:00"
    assert (steps == 600).all() and len(s) == 14 and s.step_seconds == 600
    assert s.files[0].quality.dst_repeated == 12


def test_a_repeated_hour_seen_once_cannot_be_placed_and_is_counted(tmp_path):
    local = ["2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 03:00", "2021-10-31 04:00"]  # 02:00 once
    s = read_file(write(tmp_path / "once.csv", local), timezone="Europe/Berlin")
    assert [str(t) for t in s.times] == ["2021-10-30T23:00:00", "2021-10-31T02:00:00", "2021-10-31T03:00:00"]
    q = s.files[0].quality
    assert (q.dst_repeated, q.dst_unresolved, q.dst_skipped) == (0, 1, 0)


def test_southern_zone_and_utc_default(tmp_path):
    # São Paulo kept summer time until 2019: in 2018 clocks went forward on 4 Nov at 00:00 (-03 -> -02)
    path = write(tmp_path / "sp.csv", ["2018-11-03 23:00", "2018-11-04 00:00", "2018-11-04 01:00", "2018-11-04 02:00"])
    s = load(path, timezone="America/Sao_Paulo")
    assert [str(t) for t in s.times] == ["2018-11-04T02:00:00", "2018-11-04T03:00:00", "2018-11-04T04:00:00"]
    assert s.quality.dst_skipped == 1
    assert str(load(path).times[0]) == "2018-11-03T23:00:00"
    for reader in (load, read_file):
        with pytest.raises(DataError, match="unknown time zone 'Europe/Jena'"):
            reader(path, timezone="Europe/Jena")


# --- units ------------------------------------------------------------------------------------
DAY = [f"2021-06-01 {h:02d}:00" for h in range(24)] + [f"2021-06-02 {h:02d}:00" for h in range(24)]
RH = list(np.linspace(45, 95, len(DAY)).round(1))
WIND = list(np.linspace(0.5, 6.0, len(DAY)).round(2))


@pytest.mark.parametrize("columns, message", [
    ({"t": list(np.linspace(280, 295, len(DAY)))}, r"T \(degC\) looks like kelvin \(median 287.5"),
    ({"rh": [round(r / 100, 3) for r in RH]}, r"rh \(%\) looks like a 0–1 fraction"),
    ({"wv": [round(w * 3.6, 2) for w in WIND]}, r"wv \(m/s\) looks like km/h"),
    ({"p": 99.0}, r"p \(mbar\) looks like kPa"),
    ({"p": 99000.0}, r"p \(mbar\) looks like Pa"),
])
def test_wrong_units_are_refused_naming_file_channel_and_unit(tmp_path, columns, message):
    kwargs = {"t": 15.0, "rh": RH, "wv": WIND, **columns}
    path = write(tmp_path / "units.csv", DAY, **kwargs)
    with pytest.raises(DataError, match=f"units.csv: {message}"):
        read_file(path)


def test_right_units_near_the_limits_pass(tmp_path):
    # a windy, dry, high place: median wind just under the rule, one gale; 15 % humidity; 600 mbar
    windy = [WIND_MEDIAN_MAX - 0.5] * (len(DAY) - 1) + [WIND_P99_MAX + 10]
    path = write(tmp_path / "windy.csv", DAY, p=600.0, t=-20.0, rh=[15.0] * len(DAY), wv=windy)
    assert len(read_file(path)) == len(DAY)
    few = write(tmp_path / "few.csv", DAY[:3], rh=[0.9, 0.8, 0.7])  # too few rows to judge a distribution
    assert len(read_file(few)) == 3


def test_a_real_record_in_kmh_is_refused(tmp_path):
    # the 2022 roof record (99th percentile 7.8 m/s) with its wind written in km/h
    lines = lzma.open(shared_file("mpi_roof_2022_hourly.csv.xz"), "rt", encoding="latin-1").read().splitlines()
    header = [h.strip().strip('"') for h in lines[0].split(",")]
    wv = header.index("wv (m/s)")
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[wv] = f"{float(cells[wv]) * 3.6:.2f}" if float(cells[wv]) >= 0 else cells[wv]
        out.append(",".join(cells))
    path = tmp_path / "roof_kmh.csv"
    path.write_text("\n".join(out) + "\n")
    with pytest.raises(DataError, match=r"roof_kmh.csv: wv \(m/s\) looks like km/h \(median 6.\d, 99th percentile 2"):
        read_file(path)


@pytest.mark.slow
def test_every_real_file_passes_the_unit_checks():
    files = sorted(DATA_DIR.glob("*.csv.xz")) + sorted((DATA_DIR / "stations").glob("*.csv.xz"))
    assert len(files) >= 39
    for path in files:
        assert len(read_file(path)) > 5000, path


# --- location on the command line ------------------------------------------------------------
def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("given", [("--latitude", "10"), ("--longitude", "10")])
def test_latitude_and_longitude_go_together(tmp_path, given):
    path = write(tmp_path / "x.csv", DAY)
    for command in (["data", "check"], ["evaluate", "naive"]):
        result = invoke(*command, "--data", path, *given)
        assert result.exit_code == 2
        assert "give both (decimal degrees, north and east positive) or neither" in result.output
    assert invoke("data", "check", "--data", path, "--latitude", "91", "--longitude", "0").exit_code == 2


def test_data_check_says_where_each_file_stands_and_why(tmp_path):
    path = write(tmp_path / "x.csv", DAY)
    assumed = invoke("data", "check", "--data", path)
    assert assumed.exit_code == 0, assumed.output
    assert "location  50.911° N, 11.568° E, assumed: Jena's" in assumed.output
    given = invoke("data", "check", "--data", path, "--latitude", "-33.5", "--longitude", "-70.25")
    assert "location  33.500° S, 70.250° W, given (--latitude/--longitude)" in given.output
    (tmp_path / "stations.json").write_text(json.dumps({"stations": [{"id": "x", "lat": 60.0, "lon": 25.0}]}))
    listed = invoke("data", "check", "--data", path, "--json")
    report = json.loads(listed.output)
    assert report["location"] == {"latitude": 60.0, "longitude": 25.0}
    assert report["files"][0]["location_source"] == str(tmp_path / "stations.json")
    assert f"60.000° N, 25.000° E, from {tmp_path / 'stations.json'}" in invoke("data", "check", "--data", path).output


def test_data_check_reports_the_daylight_saving_repairs(tmp_path):
    path = write(tmp_path / "berlin.csv", ["2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 02:00",
                                           "2021-10-31 03:00", "2022-03-27 02:30", "2022-03-27 03:00"])
    text = invoke("data", "check", "--data", path, "--timezone", "Europe/Berlin")
    assert text.exit_code == 0, text.output
    assert "times     Europe/Berlin civil time" in text.output
    assert "DST       2 rows of a repeated autumn hour placed by file order, 0 dropped" in text.output
    assert "1 dropped (a skipped spring hour" in text.output
    report = json.loads(invoke("data", "check", "--data", path, "--timezone", "Europe/Berlin", "--json").output)
    assert (report["dst_repeated"], report["dst_unresolved"], report["dst_skipped"]) == (2, 0, 1)
    assert report["first"] == "2021-10-30T23:00:00" and report["rows"] == 5
    assert "DST" not in invoke("data", "check", "--data", path).output  # UTC: nothing to repair
    bad = invoke("data", "check", "--data", path, "--timezone", "Berlin")
    assert bad.exit_code == 2 and "unknown time zone 'Berlin'" in bad.output


def test_evaluate_notes_an_assumed_location_on_stderr_and_passes_a_given_one(monkeypatch):
    import edgecast.data.jena as jena
    seen = []
    real_load = jena.load
    monkeypatch.setattr("edgecast.data.load", lambda *a, **k: seen.append(k) or real_load(*a, **k))
    data = shared_file("mpi_roof_2022_hourly.csv.xz")
    assumed = invoke("evaluate", "naive", "--protocol", "whole", "--data", data, "--json")
    assert assumed.exit_code == 0, assumed.output
    assert "Jena's assumed" in assumed.stderr and "Jena's" not in assumed.stdout
    given = invoke("evaluate", "naive", "--protocol", "whole", "--data", data, "--json",
                   "--latitude", "50.9", "--longitude", "11.6", "--timezone", "UTC")
    assert given.exit_code == 0, given.output
    assert given.stderr == "" and json.loads(given.stdout)["mae"] == json.loads(assumed.stdout)["mae"]
    assert seen[-1] == {"location": Location(50.9, 11.6), "timezone": "UTC"}


def test_the_stations_protocol_refuses_the_place_options():
    result = invoke("evaluate", "naive", "--protocol", "stations", "--data", DATA_DIR,
                    "--timezone", "UTC")
    assert result.exit_code == 2 and "do not apply" in result.output
