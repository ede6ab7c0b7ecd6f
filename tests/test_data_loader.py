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
    with pytest.raises(DataError, match=r"line 1: missing channel column"):
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
