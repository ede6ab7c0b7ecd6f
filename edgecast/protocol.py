"""The protocols: which windows a model is fitted on and measured on, and the MAE metric.

Every protocol gives a :class:`Layout`: rows (of a file, or of the hourly grid), the
row step of the model's hourly steps, and the window start rows of each part. A window
at start row ``s`` reads ``rows_per_step`` apart rows ``s … s + span``; its target is
the temperature ``delay`` rows after ``s``, 24 hours after the last input step.

Row protocols reproduce Keras ``timeseries_dataset_from_array(data[:-delay],
targets[delay:], sampling_rate=rows_per_step, sequence_length=120, start_index=…,
end_index=…)`` as used in the Keras book, without TensorFlow: rows split in order, first
50 % train, next 25 % validation, last 25 % test; every row of a part starts a window
whose input steps lie inside the part (the test part ends ``delay`` rows before the end).

- ``seed``: the book's protocol; on the hourly 2009–2016 copy every hourly row starts a
  window (naive: val 2.44 / test 2.62, as published).
- ``reference``: the same rules on a 10-minute file (the design notes' name; the 2020 figures
  2.82 / 2.15), one step every 6th row.

Grid protocols work on the hourly grid all given files make (edgecast.resample, the
daemon's own rule and gap policy), so files of any step join across the gaps between
them. A window is used when every input hour has the channels the model reads and its
target hour was observed; a part holds the windows whose *target* falls in it.

- ``years``: train on targets before the validation year, validate on YEARS_VAL (2021),
  test on the year after it (2022), with per-quarter and per-month figures;
- ``whole``: every window of the files, for a season the model never saw (evaluate only);
- ``final``: train on every window, no held-out part — the model to ship once its
  recipe was chosen on ``years`` (it trains for the recipe's fixed number of epochs).

The metric is the mean absolute error in °C against the raw (never repaired) target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .naive import HORIZONS, naive_curve
from .resample import CARRY_FORWARD_HOURS, OBSERVED
from .schema import HORIZON_HOURS, ROWS_PER_STEP, TARGET, TARGET_INDEX, WINDOW_STEPS
from .solar import JENA, Location

PARTS = ("train", "val", "test")
ROW_PROTOCOLS = ("seed", "reference")
GRID_PROTOCOLS = ("years", "whole", "final")
PLACE_PROTOCOLS = ("stations",)  # many places at once: edgecast.places
PROTOCOLS = ROW_PROTOCOLS + GRID_PROTOCOLS + PLACE_PROTOCOLS
YEARS_VAL = 2021  # the `years` protocol's validation year; its test year is the next one
# The station's files in ../shared/data the figures are measured on (SOURCES.md there):
# `seed` uses the first (the book's years, hourly), `years` all of them.
SEED_FILE = "jena_climate_2009_2016_hourly.csv.xz"
YEARS_FILES = (SEED_FILE, "mpi_roof_2017b.csv.xz", "weather.csv.xz", "mpi_roof_2021_hourly.csv.xz",
               "mpi_roof_2022_hourly.csv.xz")


def span_rows(rows_per_step: int = ROWS_PER_STEP) -> int:
    """Rows from a window's first to its last input step."""
    return (WINDOW_STEPS - 1) * rows_per_step


def delay_rows(rows_per_step: int = ROWS_PER_STEP) -> int:
    """Rows from a window's first step to its target: rows_per_step·(120 + 24 − 1)."""
    return rows_per_step * (WINDOW_STEPS + HORIZON_HOURS - 1)


# --- row protocols: the book's split by row position --------------------------------------
def split_rows(n_rows: int, rows_per_step: int = ROWS_PER_STEP) -> dict[str, tuple[int, int]]:
    """Row range [start, end) of each part, as Keras start_index/end_index."""
    n_train = int(0.5 * n_rows)
    n_val = int(0.25 * n_rows)
    return {"train": (0, n_train), "val": (n_train, n_train + n_val),
            "test": (n_train + n_val, n_rows - delay_rows(rows_per_step))}


def window_starts(n_rows: int, part: str, rows_per_step: int = ROWS_PER_STEP) -> np.ndarray:
    start, end = split_rows(n_rows, rows_per_step)[part]
    n = min(end - start - span_rows(rows_per_step), n_rows - delay_rows(rows_per_step))
    if n <= 0:
        raise ValueError(f"{n_rows} rows are too few for a {part} window: the part has {max(end - start, 0)} "
                         f"rows, a window and its target need {delay_rows(rows_per_step) + 1}")
    return start + np.arange(n)


def step_rows(starts: np.ndarray, rows_per_step: int = ROWS_PER_STEP) -> np.ndarray:
    """(n, 120) row index of every input step of every window."""
    return starts[:, None] + rows_per_step * np.arange(WINDOW_STEPS)[None, :]


def last_step_rows(starts: np.ndarray, rows_per_step: int = ROWS_PER_STEP) -> np.ndarray:
    return starts + span_rows(rows_per_step)


def target_rows(starts: np.ndarray, rows_per_step: int = ROWS_PER_STEP) -> np.ndarray:
    return starts + delay_rows(rows_per_step)


def windows(columns: np.ndarray, starts: np.ndarray, rows_per_step: int = ROWS_PER_STEP) -> np.ndarray:
    """Gather (n, 120, F) float32 windows from per-row feature columns."""
    return columns[step_rows(starts, rows_per_step)].astype(np.float32, copy=False)


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(predicted, dtype=np.float64) - actual)))


# --- a protocol applied to data -----------------------------------------------------------
@dataclass
class Layout:
    """Rows, their step geometry and each part's window starts, for one protocol."""

    protocol: str
    times: np.ndarray  # (rows,) datetime64[s]
    raw: np.ndarray  # (rows, 14): targets and the naive forecast come from here, never repaired
    clean: np.ndarray  # (rows, 14): what features are computed from (repaired rows / grid cells)
    rows_per_step: int
    parts: dict[str, np.ndarray]  # part -> window start rows
    train_rows: slice  # the rows whose statistics normalise the inputs
    sources: list[str] = field(default_factory=list)
    observed: np.ndarray | None = None  # (rows,) the temperature was measured there (grid: not carried)
    location: Location = JENA  # where the rows were measured (one place, or one per row)
    station: np.ndarray | None = None  # (rows,) station id of each row, when several places are laid out

    @property
    def evaluated(self) -> tuple[str, ...]:
        return tuple(p for p in self.parts if p != "train")

    def starts(self, part: str) -> np.ndarray:
        if part not in self.parts:
            raise ValueError(f"the {self.protocol} protocol has no {part} part (it has {', '.join(self.parts)})")
        return self.parts[part]

    def windows(self, columns: np.ndarray, starts: np.ndarray) -> np.ndarray:
        return windows(columns, starts, self.rows_per_step)

    def batches(self, columns: np.ndarray, starts: np.ndarray, batch_size: int = 1024) -> Iterator[np.ndarray]:
        for i in range(0, len(starts), batch_size):
            yield self.windows(columns, starts[i:i + batch_size])

    def last_step_rows(self, starts: np.ndarray) -> np.ndarray:
        return last_step_rows(starts, self.rows_per_step)

    def target_rows(self, starts: np.ndarray) -> np.ndarray:
        return target_rows(starts, self.rows_per_step)

    def targets(self, starts: np.ndarray) -> np.ndarray:
        return self.raw[self.target_rows(starts), TARGET_INDEX]

    def target_times(self, starts: np.ndarray) -> np.ndarray:
        return self.times[self.target_rows(starts)]

    def naive(self, starts: np.ndarray) -> np.ndarray:
        """The naive forecast: temperature in 24 h = temperature at the last input step."""
        return self.raw[self.last_step_rows(starts), TARGET_INDEX]

    def temperature_observed(self) -> np.ndarray:
        """(rows,) True where the raw temperature is a valid measurement (a target may sit there)."""
        if self.observed is None:
            from .data.clean import invalid_mask
            self.observed = ~invalid_mask(self.raw)[:, TARGET_INDEX]
        return self.observed

    def data_range(self) -> dict:
        train = self.parts.get("train")
        info = {"protocol": self.protocol, "sources": list(self.sources), "rows": len(self.times),
                "first": str(self.times[0]), "last": str(self.times[-1])}
        if train is not None and len(train):
            info |= {"train_first": str(self.times[train[0]]),
                     "train_last": str(self.times[self.target_rows(train[-1:])[0]])}
        return info


def layout(protocol: str, series, channels=(TARGET,)) -> Layout:
    """The ``protocol`` applied to a loaded series, for a model reading ``channels``.

    Raises ``ValueError`` (the data.DataError subclass where the data is at fault) with
    what is missing: a channel the files cannot supply, a year the protocol needs, rows.
    """
    if protocol in PLACE_PROTOCOLS:  # edgecast.places lays several places out together
        if not hasattr(series, "layout"):
            from .data import DataError
            raise DataError("the stations protocol reads a data folder (--data ../shared/data), not single files")
        return series.layout(protocol, channels)
    series.require(channels)
    if protocol in ROW_PROTOCOLS:
        return _row_layout(protocol, series)
    if protocol in GRID_PROTOCOLS:
        return _grid_layout(protocol, series, channels)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def _row_layout(protocol: str, series) -> Layout:
    from .data import DataError
    from .data.clean import repair
    rps = 3600 // series.step_seconds
    n = len(series)
    try:
        parts = {part: window_starts(n, part, rps) for part in PARTS}
    except ValueError as exc:
        need = 4 * (span_rows(rps) + 1) + delay_rows(rps)
        raise DataError(f"{', '.join(series.sources)}: {exc}; the {protocol} protocol's 50/25/25 % split needs "
                        f"about {need} rows ({need / rps / 24:.0f} days)") from None
    repaired, _ = repair(series.values)
    return Layout(protocol, series.times, series.values, repaired, rps, parts,
                  slice(0, split_rows(n, rps)["train"][1]), series.sources, location=series.location)


def _grid_layout(protocol: str, series, channels) -> Layout:
    from .data import DataError
    grid = series.hourly(CARRY_FORWARD_HOURS)
    n = len(grid)
    starts = usable_starts(grid, channels, ", ".join(series.sources))
    year = target_years(grid, starts)
    if protocol == "years":
        parts = {"train": starts[year < YEARS_VAL], "val": starts[year == YEARS_VAL],
                 "test": starts[year == YEARS_VAL + 1]}
        empty = [p for p, s in parts.items() if not len(s)]
        if empty:
            raise DataError(f"the years protocol trains on years before {YEARS_VAL}, validates on {YEARS_VAL} and "
                            f"tests on {YEARS_VAL + 1}; the given data ({', '.join(series.sources)}) has no usable "
                            f"window for: {', '.join(empty)}")
        train_end = int(np.searchsorted(grid.hours, np.datetime64(f"{YEARS_VAL}-01-01", "s").astype(np.int64)))
        train_rows = slice(0, train_end)
    else:
        if not len(starts):
            raise DataError(f"{', '.join(series.sources)}: no complete window (120 hours with "
                            f"{', '.join(channels)} and an observed target)")
        parts = {"train": starts} if protocol == "final" else {"all": starts}
        train_rows = slice(0, n)
    # Targets are observed cells (target_ok); the naive forecast may read a carried T, as
    # the daemon's does within its gap policy.
    return Layout(protocol, grid.times, grid.values, grid.values, 1, parts, train_rows, series.sources,
                  observed=grid.status[:, TARGET_INDEX] == OBSERVED, location=series.location)


def usable_starts(grid, channels, name: str) -> np.ndarray:
    """Window starts of an hourly grid whose 120 input hours all have ``channels`` and
    whose target hour was observed."""
    from .data import DataError
    from .schema import CHANNEL_INDEX
    n = len(grid)
    if n <= delay_rows(1):
        raise DataError(f"{name}: {n} hours are too few for one window ({delay_rows(1) + 1} needed)")
    cols = [CHANNEL_INDEX[c] for c in channels]
    complete = np.isfinite(grid.values[:, cols]).all(axis=1).astype(np.int64)
    run = np.concatenate([[0], np.cumsum(complete)])
    starts = np.arange(n - delay_rows(1))
    inputs_ok = run[starts + WINDOW_STEPS] - run[starts] == WINDOW_STEPS
    target_ok = grid.status[target_rows(starts, 1), TARGET_INDEX] == OBSERVED
    return starts[inputs_ok & target_ok]


def target_years(grid, starts: np.ndarray) -> np.ndarray:
    return grid.times[target_rows(starts, 1)].astype("datetime64[Y]").astype(int) + 1970


# --- scoring ----------------------------------------------------------------------------------
def _by_period(layout: Layout, starts, predicted, unit: str) -> dict:
    times = layout.target_times(starts)
    if unit == "quarter":
        months = times.astype("datetime64[M]").astype(int)
        keys = np.array([f"{1970 + m // 12}-Q{m % 12 // 3 + 1}" for m in months])
    else:
        keys = times.astype("datetime64[M]").astype(str)
    actual, naive = layout.targets(starts), layout.naive(starts)
    out = {}
    for key in sorted(set(keys)):
        sel = keys == key
        out[str(key)] = {"mae": round(mae(predicted[sel], actual[sel]), 4),
                         "naive_mae": round(mae(naive[sel], actual[sel]), 4), "windows": int(sel.sum())}
    return out


def _by_station(layout: Layout, starts, predicted) -> dict:
    stations = layout.station[layout.target_rows(starts)]
    actual, naive = layout.targets(starts), layout.naive(starts)
    out = {}
    for name in dict.fromkeys(stations):
        sel = stations == name
        out[str(name)] = {"mae": round(mae(predicted[sel], actual[sel]), 4),
                          "naive_mae": round(mae(naive[sel], actual[sel]), 4), "windows": int(sel.sum())}
    return out


def evaluate(layout: Layout, predict: Callable[[np.ndarray], np.ndarray], parts=None) -> dict:
    """MAE per part of ``predict(starts) -> °C``, with the naive MAE on the same windows.

    ``predict`` receives window start rows, so any model (naive, ARIMA, Keras, TFLite)
    is measured by exactly the same code. Grid protocols add per-quarter and per-month
    figures of their last part (``test``, or ``all`` for ``whole``).
    """
    parts = tuple(parts or layout.evaluated)
    result = {}
    for part in parts:
        starts = layout.starts(part)
        predicted = np.asarray(predict(starts), dtype=np.float64).reshape(-1)
        actual = layout.targets(starts)
        prefix = "" if part == "all" else f"{part}_"
        result[f"{prefix}mae"] = round(mae(predicted, actual), 4)
        result[f"naive_{prefix}mae"] = round(mae(layout.naive(starts), actual), 4)
        result[f"{prefix}windows"] = int(len(starts))
        if layout.station is not None:
            result[f"{prefix}by_station"] = _by_station(layout, starts, predicted)
        if layout.protocol in GRID_PROTOCOLS and part == parts[-1]:
            if layout.protocol == "years":
                result[f"{prefix}by_quarter"] = _by_period(layout, starts, predicted, "quarter")
            result[f"{prefix}by_month"] = _by_period(layout, starts, predicted, "month")
    return result


# --- every hour of the next day: the curve +1 … +24 h ------------------------------------


def curve_rows(layout: Layout, starts: np.ndarray, offset_hours: np.ndarray) -> np.ndarray:
    """(n, len(offset_hours)) rows ``offset_hours`` after each window's last input step."""
    return layout.last_step_rows(starts)[:, None] + layout.rows_per_step * np.asarray(offset_hours)[None, :]


def curve_targets(layout: Layout, starts: np.ndarray) -> np.ndarray:
    """(n, 24) measured temperature at +1 … +24 h; NaN where it was not measured."""
    rows = curve_rows(layout, starts, HORIZONS)
    actual = layout.raw[rows, TARGET_INDEX].astype(np.float64)
    return np.where(layout.temperature_observed()[rows], actual, np.nan)


def naive_curves(layout: Layout, starts: np.ndarray) -> dict[str, np.ndarray]:
    """The two honest naive forecasts of hour +h: the temperature now (persistence), and
    the temperature at the same hour yesterday, T(now + h − 24 h). They agree at +24 h."""
    now = layout.naive(starts).astype(np.float64)
    return {"persistence": np.repeat(now[:, None], len(HORIZONS), axis=1),
            "yesterday": _last_day(layout, starts)}


def fallback_curve(layout: Layout, starts: np.ndarray) -> np.ndarray:
    """(n, 24) °C: the daemon's naive curve (naive.naive_curve), from the raw readings."""
    return naive_curve(_last_day(layout, starts))


def _last_day(layout: Layout, starts: np.ndarray) -> np.ndarray:
    """(n, 24) raw temperature of the 24 hours up to each window's last step, oldest first:
    the same hour yesterday for +1 … +24 h."""
    return layout.raw[curve_rows(layout, starts, HORIZONS - HORIZON_HOURS), TARGET_INDEX].astype(np.float64)


def evaluate_horizons(layout: Layout, curves: dict[str, np.ndarray] | None = None, parts=None) -> dict:
    """MAE per horizon and part of each named (n, 24) forecast curve, beside both naives.

    ``curves``: {name: function(starts) -> (n, 24) °C}; the naive curves are always added.
    Per horizon, every forecast is scored on the same windows: those whose target was
    measured and every curve has a value.
    """
    out = {}
    for part in tuple(parts or layout.evaluated):
        starts = layout.starts(part)
        forecasts = naive_curves(layout, starts) | {k: np.asarray(f(starts), np.float64)
                                                     for k, f in (curves or {}).items()}
        actual = curve_targets(layout, starts)
        usable = np.isfinite(actual) & np.all([np.isfinite(c) for c in forecasts.values()], axis=0)
        rows = []
        for j, h in enumerate(HORIZONS):
            sel = usable[:, j]
            row = {"h": int(h), "windows": int(sel.sum())}
            row |= {name: round(mae(c[sel, j], actual[sel, j]), 4) for name, c in forecasts.items()}
            rows.append(row)
        out[part] = rows
    return out
