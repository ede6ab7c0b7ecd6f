"""The loader on the real 2020 file and on small files written in the other formats."""

from __future__ import annotations

import lzma
import zipfile

import numpy as np
import pytest

from edgecast.data import DataError, load, read_file
from edgecast.data.clean import repair
from edgecast.schema import CHANNEL_NAMES, CHANNEL_INDEX

# Two real rows of 2020 (from weather.csv), used to write the other formats.
ROWS = [
    ("2020-01-01 00:10:00", "1008.89,0.71,273.18,-1.33,86.1,6.43,5.54,0.89,3.42,5.49,1280.62,1.02,1.6,224.3"),
    ("2020-01-01 00:20:00", "1008.76,0.75,273.22,-1.44,85.2,6.45,5.49,0.95,3.39,5.45,1280.33,0.43,0.84,206.8"),
    ("2020-01-01 00:30:00", "1008.66,0.73,273.21,-1.48,85.1,6.44,5.48,0.96,3.39,5.43,1280.35,-9999,1.64,197.0"),
]
KERAS_HEADER = '"Date Time",' + ",".join(f'"{c}"' for c in CHANNEL_NAMES)
MPI_EXTRA = ["rain (mm)", "raining (s)", "SWDR (W/m²)", "PAR (µmol/m²/s)", "max. PAR (µmol/m²/s)",
             "Tlog (degC)", "CO2 (ppm)"]


def dotted(iso: str) -> str:
    date, time = iso.split()
    y, m, d = date.split("-")
    return f"{d}.{m}.{y} {time}"


def keras_text(rows=ROWS) -> str:
    return "\n".join([KERAS_HEADER] + [f"{dotted(t)},{v}" for t, v in rows]) + "\n"


def test_real_2020_file_rows_and_quirks(series_2020):
    s = series_2020
    assert len(s) == 52_696
    assert str(s.times[0]) == "2020-01-01T00:10:00" and str(s.times[-1]) == "2021-01-01T00:00:00"
    assert s.values.shape == (52_696, 14)
    q = s.quality
    assert q.duplicate_times == 1 and q.backward_steps == 0
    assert q.gaps == 1  # 2020-05-29 09:30 -> 11:10
    assert q.sentinels == {"wv (m/s)": 1}  # OT and max. PAR are not model channels
    dup = np.flatnonzero(np.diff(s.times).astype(int) == 0)[0]
    assert str(s.times[dup]) == "2020-05-12T06:00:00"
    assert np.array_equal(s.values[dup], s.values[dup + 1])
    assert s.values[0, CHANNEL_INDEX["T (degC)"]] == pytest.approx(0.71)


@pytest.mark.parametrize("suffix", [".csv", ".csv.xz", ".csv.zip"])
def test_keras_format_in_every_container(tmp_path, suffix):
    text = keras_text().encode()
    path = tmp_path / f"jena_climate_2009_2016{suffix}"
    if suffix == ".csv":
        path.write_bytes(text)
    elif suffix == ".csv.xz":
        path.write_bytes(lzma.compress(text))
    else:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("jena_climate_2009_2016.csv", text)
    s = read_file(path)
    assert len(s) == 3 and str(s.times[1]) == "2020-01-01T00:20:00"
    assert s.values[2, CHANNEL_INDEX["wd (deg)"]] == pytest.approx(197.0)
    assert s.quality.sentinels == {"wv (m/s)": 1}


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_mpi_roof_export_with_21_channels(tmp_path, encoding):
    header = '"Date Time",' + ",".join(f'"{c}"' for c in list(CHANNEL_NAMES) + MPI_EXTRA)
    lines = [header] + [f"{dotted(t)},{v},0,0,1.5,2.0,3.0,11.2,420.1" for t, v in ROWS]
    path = tmp_path / "mpi_roof_2020a.csv"
    path.write_bytes("\r\n".join(lines).encode(encoding))
    s = read_file(path)
    assert len(s) == 3 and s.values[0, 0] == pytest.approx(1008.89)


def test_several_files_join_in_time_order_dropping_overlap(tmp_path):
    a, b = tmp_path / "b.csv", tmp_path / "a.csv"
    a.write_text(keras_text(ROWS[:2]))
    b.write_text(keras_text(ROWS[1:]))  # overlaps a by one row, and is named first
    s = load([b, a])
    assert [str(t) for t in s.times] == ["2020-01-01T00:10:00", "2020-01-01T00:20:00", "2020-01-01T00:30:00"]
    assert len(s.sources) == 2


@pytest.mark.parametrize("body, message", [
    ("01.01.2020 00:10:00,1008.89,0.71\n", "line 2: 3 fields"),
    ("01.01.2020 00:10:00," + ROWS[0][1].replace("0.71", "warm") + "\n", r"line 2: T \(degC\) is not a number"),
    ("2020/01/01 00:10," + ROWS[0][1] + "\n", "line 2: cannot read time"),
    ("31.02.2020 00:10:00," + ROWS[0][1] + "\n", "line 2: impossible time"),
])
def test_malformed_rows_name_file_and_line(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(KERAS_HEADER + "\n" + body)
    with pytest.raises(DataError, match=message) as err:
        read_file(path)
    assert "bad.csv" in str(err.value)


def test_missing_columns_and_files_are_clear_errors(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('"Date Time","p (mbar)"\n01.01.2020 00:10:00,1000\n')
    with pytest.raises(DataError, match=r"line 1: no 'T \(degC\)' column"):
        read_file(path)
    with pytest.raises(DataError, match="no such file"):
        read_file(tmp_path / "nope.csv")


def test_repair_interpolates_sentinels_and_impossible_values():
    values = np.array([[float(x) for x in v.split(",")] for _, v in ROWS])
    values[1, CHANNEL_INDEX["rh (%)"]] = 180.0  # impossible
    fixed, counts = repair(values)
    wv = CHANNEL_INDEX["wv (m/s)"]
    assert fixed[2, wv] == pytest.approx(0.43)  # held at the end
    assert fixed[1, CHANNEL_INDEX["rh (%)"]] == pytest.approx((86.1 + 85.1) / 2)
    assert counts == {"rh (%)": 1, "wv (m/s)": 1}
    assert values[2, wv] == -9999  # the input is not modified


# --- the other files of ../shared/data, unchanged -------------------------------------------
@pytest.mark.parametrize("name, rows, step, lacking, derived", [
    ("jena_climate_2009_2016_hourly.csv.xz", 70_038, 60, ["max. wv (m/s)", "wd (deg)"],
     ["Tpot (K)", "VPact (mbar)", "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)"]),
    ("mpi_roof_2017b.csv.xz", 26_496, 10, [], []),
    ("mpi_roof_2021_hourly.csv.xz", 8_760, 60, [], []),
    ("mpi_roof_2022_hourly.csv.xz", 8_749, 60, [], []),
])
def test_every_shared_file_loads_with_its_step_and_channels(name, rows, step, lacking, derived):
    from .conftest import shared_file
    s = read_file(shared_file(name))
    f = s.files[0]
    assert (len(s), f.step_seconds // 60, f.lacking, f.derived) == (rows, step, lacking, derived)
    assert np.isnan(s.values[:, [CHANNEL_INDEX[c] for c in lacking]]).all()
    assert np.isfinite(s.values[:, CHANNEL_INDEX["T (degC)"]]).all()


def test_derived_channels_match_the_stations_own_values(series_2020):
    # The hourly copy lacks sh: derived from p, T, rh it must match what the station writes.
    from edgecast.physics import derive
    v = series_2020.values[:5000]
    ok = (v[:, 0] > 800) & (v[:, 4] > 0)
    d = derive(v[ok, 0], v[ok, 1], v[ok, 4])
    assert np.abs(d["sh (g/kg)"] - v[ok, CHANNEL_INDEX["sh (g/kg)"]]).max() < 0.06


def test_hourly_copy_minutes_drift_but_every_hour_gets_one_row():
    from .conftest import shared_file
    s = read_file(shared_file("jena_climate_2009_2016_hourly.csv.xz"))
    grid = s.hourly()
    observed = grid.status[:, CHANNEL_INDEX["T (degC)"]] == 0
    # each file row serves the next full hour (rows at :10 … :50 are < 60 min old then)
    assert observed.sum() == len(s) - 1  # the last row (23:50 on 31.12.2016) has no later full hour in range
    first = np.flatnonzero(observed)[0]
    assert str(grid.times[first]) == "2009-01-01T01:00:00"
    assert grid.values[first, CHANNEL_INDEX["T (degC)"]] == pytest.approx(-8.02)  # the 00:10 row


def test_header_variants_t_last_extra_columns_padding_and_empty_fields(tmp_path):
    header = "date," + ",".join(c for c in CHANNEL_NAMES if c != "T (degC)") + ",CO2 (ppm),T (degC)"
    body = []
    for t, v in ROWS:
        vals = v.split(",")
        t_value = vals.pop(CHANNEL_INDEX["T (degC)"])
        body.append(f"{t}," + ",".join(f"  {x}" for x in vals) + f",420.1,{t_value}")
    body[0] = body[0].replace("  1.6,", ",", 1)  # an empty max. wv field
    path = tmp_path / "mpi_roof_2021_hourly.csv"
    path.write_text(header + "\n" + "\n".join(body) + "\n")
    s = read_file(path)
    assert s.values[:, CHANNEL_INDEX["T (degC)"]] == pytest.approx([0.71, 0.75, 0.73])
    assert np.isnan(s.values[0, CHANNEL_INDEX["max. wv (m/s)"]])
    assert s.files[0].quality.empty == {"max. wv (m/s)": 1}


def test_rows_at_an_unknown_step_are_refused(tmp_path):
    path = tmp_path / "odd.csv"
    rows = [("2020-01-01 00:00:00", ROWS[0][1]), ("2020-01-01 00:07:00", ROWS[1][1]),
            ("2020-01-01 00:14:00", ROWS[1][1])]
    path.write_text(keras_text(rows))
    with pytest.raises(DataError, match="odd.csv: rows are 7 min apart"):
        read_file(path)


def test_cli_data_check_reports_step_channels_and_faults():
    import json
    import subprocess
    import sys
    from .conftest import shared_file
    out = subprocess.run([sys.executable, "-m", "edgecast.cli", "data", "check", "--json",
                          "--data", str(shared_file("mpi_roof_2022_hourly.csv.xz")),
                          "--data", str(shared_file("jena_climate_2009_2016_hourly.csv.xz"))],
                         capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    old, new = report["files"]  # in time order, whatever the order given
    assert old["step_minutes"] == 60 and old["lacking"] == ["max. wv (m/s)", "wd (deg)"] and old["gaps"] == 5
    assert new["duplicate_times"] == 2 and new["gaps"] == 1 and new["largest_gap_hours"] == 14.0
    assert report["gaps"] == 7  # plus the five years between the two files
