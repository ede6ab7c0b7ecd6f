"""The protocols: window/target alignment and the published naive figures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgecast import protocol
from edgecast.schema import TARGET_INDEX

from .conftest import YEARS_FILES, shared_file


def test_window_alignment_by_hand():
    # 2000 rows whose temperature equals the row number make every index visible.
    n = 2000
    values = np.zeros((n, 14))
    values[:, TARGET_INDEX] = np.arange(n)
    assert protocol.split_rows(n)["val"] == (1000, 1500)
    starts = protocol.window_starts(n, "train")
    # Keras: num_seqs = end - start - (120-1)*6 = 1000 - 714 = 286 windows
    assert len(starts) == 286 and starts[0] == 0 and starts[-1] == 285
    w = protocol.windows(values, starts[:2])
    assert w.shape == (2, 120, 14)
    assert list(w[1, :3, TARGET_INDEX]) == [1, 7, 13] and w[1, -1, TARGET_INDEX] == 1 + 714
    # target: 24 h (144 rows) after the last input step = start + 858
    assert list(protocol.target_rows(starts[:2])) == [858, 859]
    assert list(values[protocol.last_step_rows(starts[:2]), TARGET_INDEX]) == [714, 715]  # naive
    # hourly rows (the seed protocol's file): one step per row, target 143 rows after the start
    assert list(protocol.target_rows(starts[:2], 1)) == [143, 144]
    assert protocol.window_starts(n, "train", 1)[-1] == 1000 - 120


def test_naive_reproduces_published_2020_figures(series_2020):
    layout = protocol.layout("reference", series_2020)
    result = protocol.evaluate(layout, layout.naive)
    assert round(result["val_mae"], 2) == 2.82
    assert round(result["test_mae"], 2) == 2.15
    assert result["val_windows"] == 12_460 and result["test_windows"] == 11_602


def test_seed_protocol_reproduces_the_books_naive_on_the_hourly_copy():
    from edgecast.data import load
    layout = protocol.layout("seed", load(shared_file(YEARS_FILES[0])))
    assert layout.rows_per_step == 1  # the hourly copy: every row starts a window
    result = protocol.evaluate(layout, layout.naive)
    assert (round(result["val_mae"], 2), round(result["test_mae"], 2)) == (2.44, 2.62)


def test_years_protocol_parts_by_target_year(series_years):
    layout = protocol.layout("years", series_years)
    years = {part: set(layout.target_times(s).astype("datetime64[Y]").astype(str)) for part, s in layout.parts.items()}
    assert years["val"] == {"2021"} and years["test"] == {"2022"}
    assert max(years["train"]) < "2021" and {"2009", "2017", "2020"} <= years["train"]
    result = protocol.evaluate(layout, layout.naive)
    assert result["val_windows"] == 8760  # 2021 is complete
    # 2022 lacks 13 hours: no window targets them, and 129 windows would read one of the
    # 10 hours left missing after the 3 carried ones
    assert result["test_windows"] == 8760 - 13 - (120 + 10 - 1)
    assert set(result["test_by_quarter"]) == {"2022-Q1", "2022-Q2", "2022-Q3", "2022-Q4"}
    assert len(result["test_by_month"]) == 12
    q = result["test_by_quarter"]
    assert sum(r["windows"] for r in q.values()) == result["test_windows"]
    assert all(r["mae"] == r["naive_mae"] for r in q.values())
    # every window's inputs are complete hours, and no window reads a gap between files
    rows = protocol.step_rows(layout.starts("train"), 1)
    assert np.isfinite(layout.clean[rows, TARGET_INDEX]).all()


def test_a_channel_the_files_lack_is_refused_by_name(series_years):
    from edgecast.data import DataError
    with pytest.raises(DataError, match=r"'wd \(deg\)', which .*jena_climate_2009_2016_hourly"):
        protocol.layout("years", series_years, ["T (degC)", "wd (deg)"])
    # derived channels count: the hourly copy lacks sh, computed from p, T and rh
    protocol.layout("years", series_years, ["T (degC)", "sh (g/kg)"])


def test_cli_evaluate_naive_json_without_tensorflow(jena_2020_path):
    # The command must work on a box without TensorFlow: block the import and run it.
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; "
            "from edgecast.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", code, "evaluate", "naive", "--data", str(jena_2020_path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert set(result) == {"val_mae", "test_mae", "val_windows", "test_windows", "naive_val_mae", "naive_test_mae"}
    assert (round(result["val_mae"], 2), round(result["test_mae"], 2)) == (2.82, 2.15)


def test_cli_whole_and_years_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "edgecast.cli", "evaluate", "naive", "--protocol", "whole",
                          "--data", str(shared_file(YEARS_FILES[-1])), "--json"],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert set(result) == {"mae", "naive_mae", "windows", "by_month"} and result["mae"] == result["naive_mae"]
    proc = subprocess.run([sys.executable, "-m", "edgecast.cli", "evaluate", "naive", "--protocol", "years",
                           "--data", str(shared_file(YEARS_FILES[-1]))], capture_output=True, text=True)
    assert proc.returncode == 1 and "no usable window for: train, val" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_bad_data_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.csv"
    bad.write_text("hello,world\n1,2\n")
    proc = subprocess.run([sys.executable, "-m", "edgecast.cli", "evaluate", "naive", "--data", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "notes.csv, line 1: no time column" in proc.stderr and "Traceback" not in proc.stderr


def test_a_half_year_hourly_file_is_too_short_for_the_seed_split(tmp_path):
    # (it used to end in a ValueError traceback from the split code)
    from edgecast.data import load
    series = load(shared_file(YEARS_FILES[-1])).slice(0, 500)
    with pytest.raises(ValueError, match="500 rows are too few for a test window.*split needs about"):
        protocol.layout("seed", series)


def test_naive_curves_per_horizon_on_the_seed_protocol():
    from edgecast.data import load
    layout = protocol.layout("seed", load(shared_file("jena_climate_2009_2016_hourly.csv.xz")))
    rows = protocol.evaluate_horizons(layout)["test"]
    assert [r["h"] for r in rows] == list(range(1, 25))
    # +24 h: both naives are "the temperature now", the book's test figure
    assert rows[-1]["persistence"] == rows[-1]["yesterday"] == pytest.approx(2.6249, abs=1e-4)
    # persistence wins the first hours, yesterday's same hour the rest of the day
    assert rows[0]["persistence"] < 1.0 < 2.5 < rows[0]["yesterday"]
    assert rows[11]["yesterday"] < rows[11]["persistence"]
    # by hand: window 0's +5 h yesterday forecast is the temperature 19 h before its last step
    starts = layout.starts("test")[:1]
    last = layout.last_step_rows(starts)[0]
    assert protocol.naive_curves(layout, starts)["yesterday"][0, 4] == layout.raw[last - 19, TARGET_INDEX]
    assert protocol.curve_targets(layout, starts)[0, 4] == layout.raw[last + 5, TARGET_INDEX]


def test_curve_targets_are_measured_hours_only():
    """On the grid a carried temperature fills a gap for the inputs, never as a target."""
    from edgecast.data import load
    from edgecast.resample import OBSERVED
    series = load(shared_file("mpi_roof_2022_hourly.csv.xz"))
    layout = protocol.layout("whole", series)
    starts = layout.starts("all")
    targets = protocol.curve_targets(layout, starts)
    grid = series.hourly(protocol.CARRY_FORWARD_HOURS)
    observed = grid.status[protocol.curve_rows(layout, starts, protocol.HORIZONS), TARGET_INDEX] == OBSERVED
    assert (~observed).any()  # 2022 has gaps the carry-forward rule fills
    assert np.array_equal(np.isnan(targets), ~observed)


def _better_naive_is_persistence(layout) -> list[bool]:
    return [r["persistence"] <= r["yesterday"] for r in protocol.evaluate_horizons(layout, parts=["val"])["val"]]


def test_the_fallback_curves_switch_hour_is_the_one_validation_shows(series_years):
    """naive.PERSISTENCE_UP_TO_H was read off the validation parts; it must stay true there."""
    from edgecast.data import load
    from edgecast.naive import HORIZONS, PERSISTENCE_UP_TO_H
    expected = list(HORIZONS <= PERSISTENCE_UP_TO_H)
    seed = protocol.layout("seed", load(shared_file(protocol.SEED_FILE)))
    years = protocol.layout("years", series_years)
    assert _better_naive_is_persistence(seed)[:-1] == expected[:-1]  # at +24 h the two are the same forecast
    assert _better_naive_is_persistence(years)[:-1] == expected[:-1]


def test_the_fallback_curve_is_the_better_naive_per_hour_on_seed_test():
    from edgecast.data import load
    layout = protocol.layout("seed", load(shared_file(protocol.SEED_FILE)))
    starts = layout.starts("test")
    fallback = protocol.fallback_curve(layout, starts)
    naive = protocol.naive_curves(layout, starts)
    actual = protocol.curve_targets(layout, starts)
    mae = {name: np.nanmean(np.abs(c - actual), axis=0) for name, c in {"fallback": fallback, **naive}.items()}
    assert (mae["fallback"] <= np.minimum(mae["persistence"], mae["yesterday"]) + 1e-9).all()
