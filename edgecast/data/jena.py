"""Loader for the Jena weather-station file formats.

Accepted, unchanged:
- the Keras file ``jena_climate_2009_2016.csv`` (``"Date Time"`` as ``dd.mm.yyyy HH:MM:SS``,
  14 channels), as ``.csv``, ``.csv.xz``, ``.csv.gz`` or the official ``.zip``;
- its hourly six-channel copy (rows one hour apart at :10 … :50);
- the institute's own exports ``mpi_roof*.csv`` (``Date Time`` plus 21 channels, quoted
  and space-padded, Latin-1 or UTF-8 header; hourly copies with ``T (degC)`` last);
- the 2020 ``weather.csv`` benchmark file (``date`` as ISO, 21 channels, CRLF).

Columns are found by name, so their order does not matter and extra columns (CO2 as
``OT`` or ``CO2 (ppm)``, rain, radiation) are ignored. A file may lack channels: those
that are functions of p, T and rh are derived (edgecast.physics, the daemon's formulas);
the others stay NaN, and a model that reads one is refused by name
(:func:`Series.require`). Rows are kept exactly as in the file (the row protocols are
defined on raw rows); faults are counted per file in :class:`Quality`, repairs are an
explicit separate step (edgecast.data.clean), and ``hourly`` turns rows into the hourly
grid the daemon builds from live readings (edgecast.resample). Several files are joined
in time order.

Times: ``dd.mm.yyyy HH:MM[:SS]`` or ISO 8601 (``T`` or a space, optional seconds and
fractional seconds, rounded to the second), optionally ending in ``Z``/``UTC`` or a UTC
offset (``+01:00``, ``+0100``, ``-03``); the series is in UTC. A row with an offset is
converted by it (an explicit offset always wins, also over ``timezone``, and rows may
carry different offsets). A row without one is UTC, unless ``timezone`` (an IANA name,
e.g. ``Europe/Berlin``) says the file is in that zone's civil time: then it is converted
with the zone's offset at that instant. Daylight saving, by rule: in the repeated autumn
hour the rows of its first pass are the earlier (summer-time) instants and those after
the local clock steps back the later ones, by file order; rows of a repeated hour with no
step back (one pass only) cannot be placed and are dropped, as are rows whose local time
does not exist (the skipped spring hour: no clock on that zone's time shows it). Both are
counted per file (:class:`Quality`: ``dst_repeated``, ``dst_unresolved``, ``dst_skipped``).

Units are checked, and a file in the wrong ones is refused naming file, channel and the
likely unit (:func:`_check_units`; thresholds and the evidence behind them are there).
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import json
import lzma
import re
import zipfile
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import physics, resample
from ..schema import CHANNEL_INDEX, CHANNEL_NAMES, SENTINELS, TARGET
from ..solar import JENA, Location

TIME_COLUMNS = ("Date Time", "date")
_TIME = re.compile(  # dd.mm.yyyy or yyyy-mm-dd, T or space, HH:MM[:SS[.fff]], then Z, UTC or ±HH[[:]MM]
    r"^(?:(\d{2})\.(\d{2})\.(\d{4})|(\d{4})-(\d{2})-(\d{2}))[Tt ](\d{2}:\d{2})(?:(:\d{2})(?:[.,](\d+))?)?"
    r" ?(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})?$")
TIME_FORMS = ("'dd.mm.yyyy HH:MM:SS' or ISO 8601 'yyyy-mm-dd[T ]HH:MM[:SS[.fff]]', "
              "optionally ending in Z or a UTC offset such as +01:00")
_STEPS = (600, 3600)  # the row steps the station's files come in


class DataError(ValueError):
    """A data file cannot be used; the message names the file (and line)."""


@dataclass
class Quality:
    rows: int = 0
    duplicate_times: int = 0  # rows whose time equals the previous row's
    backward_steps: int = 0  # rows earlier than the previous row
    gaps: int = 0  # steps longer than the file's row step
    largest_gap_hours: float = 0.0
    sentinels: dict[str, int] = field(default_factory=dict)  # channel -> count of -9999-style codes
    empty: dict[str, int] = field(default_factory=dict)  # channel -> empty fields (read as missing)
    # local civil times (--timezone) and daylight saving: rows of a repeated autumn hour placed by
    # file order; rows of one that could not be (one pass only) and of a skipped spring hour, dropped
    dst_repeated: int = 0
    dst_unresolved: int = 0
    dst_skipped: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class FileInfo:
    """What one file contributed: its rows [first_row, end_row) of the joined series."""

    path: str
    first_row: int
    end_row: int
    step_seconds: int  # the detected row step: 600 (10 minutes) or 3600 (hourly)
    channels: list[str]  # model channels present as columns
    derived: list[str]  # channels computed from p, T and rh because the file lacks them
    quality: Quality
    times_read: str = "UTC"  # how the file's times became UTC: "UTC", "UTC offsets in the file", a zone
    location_source: str = ""  # where this file's location came from (load fills it in)

    @property
    def lacking(self) -> list[str]:
        return [c for c in CHANNEL_NAMES if c not in self.channels and c not in self.derived]

    def report(self) -> dict:
        return {"path": self.path, "rows": self.end_row - self.first_row,
                "step_minutes": self.step_seconds // 60, "channels": self.channels,
                "derived": self.derived, "lacking": self.lacking, "times": self.times_read,
                "location_source": self.location_source, **self.quality.as_dict()}


LOCATION_ASSUMED = "assumed: Jena's (no stations.json entry and no --latitude/--longitude)"


@dataclass
class Series:
    """Raw station rows: ``values[i]`` holds the 14 channels (schema order) at ``times[i]``.

    A channel a file lacks (and cannot derive) is NaN in that file's rows.
    """

    times: np.ndarray  # datetime64[s], file row order
    values: np.ndarray  # float64, shape (rows, 14)
    files: list[FileInfo]
    location: Location = JENA  # where the station stands (the sun features read it)
    location_source: str = LOCATION_ASSUMED

    @property
    def location_assumed(self) -> bool:
        """True when no one said where the station stands (Jena's location is taken)."""
        return self.location_source == LOCATION_ASSUMED

    def __len__(self) -> int:
        return len(self.times)

    @property
    def sources(self) -> list[str]:
        return [f.path for f in self.files]

    @property
    def quality(self) -> Quality:
        """The files' faults added up, plus the gaps between files."""
        total = Quality(rows=len(self))
        for f in self.files:
            q = f.quality
            total.duplicate_times += q.duplicate_times
            total.backward_steps += q.backward_steps
            total.gaps += q.gaps
            total.largest_gap_hours = max(total.largest_gap_hours, q.largest_gap_hours)
            for name, n in q.sentinels.items():
                total.sentinels[name] = total.sentinels.get(name, 0) + n
            for name, n in q.empty.items():
                total.empty[name] = total.empty.get(name, 0) + n
            total.dst_repeated += q.dst_repeated
            total.dst_unresolved += q.dst_unresolved
            total.dst_skipped += q.dst_skipped
        for a, b in zip(self.files, self.files[1:]):
            if b.first_row < len(self) and a.end_row > 0:
                jump = float((self.times[b.first_row] - self.times[a.end_row - 1]).astype(np.int64))
                if jump > max(a.step_seconds, b.step_seconds):
                    total.gaps += 1
                    total.largest_gap_hours = max(total.largest_gap_hours, round(jump / 3600, 1))
        return total

    @property
    def step_seconds(self) -> int:
        """The common row step of all files; a DataError when they differ."""
        steps = {f.step_seconds for f in self.files}
        if len(steps) != 1:
            raise DataError("the files have different row steps ("
                            + ", ".join(f"{f.path}: {f.step_seconds // 60} min" for f in self.files)
                            + "); a row protocol needs one step — use --protocol years or whole")
        return steps.pop()

    def require(self, channels, what: str = "the model") -> None:
        """A DataError naming the first channel ``what`` reads that a file cannot supply."""
        for f in self.files:
            lacking = [c for c in channels if c in f.lacking]
            if lacking:
                raise DataError(f"{what} needs {', '.join(repr(c) for c in lacking)}, which {f.path} "
                                f"lacks (it has {', '.join(f.channels)}; derivable from p, T and rh: "
                                f"{', '.join(physics.DERIVED)})")

    def slice(self, start: int, end: int) -> "Series":
        files = []
        for f in self.files:
            lo, hi = max(f.first_row, start), min(f.end_row, end)
            if lo < hi:
                files.append(FileInfo(f.path, lo - start, hi - start, f.step_seconds, f.channels, f.derived,
                                      f.quality, f.times_read, f.location_source))
        return Series(self.times[start:end], self.values[start:end], files, self.location, self.location_source)

    def hourly(self, carry_forward_hours: int = 0) -> resample.HourlyGrid:
        """The hourly grid of all files (each with its own step's sample age), NaN between them.

        Sentinels and physically impossible values are no sample, as a rejected reading
        is none for the daemon.
        """
        from .clean import invalid_mask
        values = np.where(invalid_mask(self.values), np.nan, self.values)
        grids = []
        for f in self.files:
            rows = slice(f.first_row, f.end_row)
            order = np.argsort(self.times[rows], kind="stable")
            grids.append(resample.hourly_grid(self.times[rows][order], values[rows][order],
                                              resample.max_age_for(f.step_seconds), carry_forward_hours))
        return resample.merge(grids)


def _read_text(path: Path) -> str:
    name = path.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if m.lower().endswith(".csv") and not m.startswith("__MACOSX")]
                if len(members) != 1:
                    raise DataError(f"{path}: expected one .csv inside the zip, found {members or 'none'}")
                raw = zf.read(members[0])
        elif name.endswith(".xz"):
            raw = lzma.open(path).read()
        elif name.endswith(".gz"):
            raw = gzip.open(path).read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # the institute's exports use Latin-1 for ² and µ


def _offset_seconds(path: Path, text: str, line: int) -> int:
    if text in ("Z", "z", "UTC"):
        return 0
    sign, hours, minutes = _OFFSET.match(text).groups()
    if int(hours) > 18 or int(minutes or 0) > 59:
        raise DataError(f"{path}, line {line}: impossible UTC offset {text!r}")
    return (-1 if sign == "-" else 1) * (int(hours) * 3600 + int(minutes or 0) * 60)


@dataclass
class _Times:
    utc: np.ndarray  # datetime64[s] of the rows kept
    keep: np.ndarray | None  # which rows are kept (None: all)
    read: str  # how they became UTC (FileInfo.times_read)
    dst_repeated: int = 0
    dst_unresolved: int = 0
    dst_skipped: int = 0


def _parse_times(path: Path, column: list[str], lines: list[int], timezone: str | None = None) -> _Times:
    """The rows' times in UTC (see the module docstring for the rules)."""
    stamps, fractions, offsets = [], {}, {}
    for i, text in enumerate(column):
        m = _TIME.match(text.strip())
        if m is None:
            raise DataError(f"{path}, line {lines[i]}: cannot read time {text.strip()!r} (expected {TIME_FORMS})")
        d, mo, y, year, month, day, hm, sec, frac, tz = m.groups()
        stamps.append(f"{y or year}-{mo or month}-{d or day}T{hm}{sec or ''}")
        if frac:
            fractions[i] = frac
        if tz:
            offsets[i] = tz
    try:
        times = np.array(stamps, dtype="datetime64[s]")
    except ValueError:
        for i, text in enumerate(stamps):  # locate the impossible date (e.g. 31.02.)
            try:
                np.datetime64(text, "s")
            except ValueError:
                raise DataError(f"{path}, line {lines[i]}: impossible time {column[i].strip()!r}") from None
        raise
    if fractions:  # rounded to the second (the series' resolution)
        rows = np.fromiter(fractions, np.int64, len(fractions))
        times[rows] += np.array([float("0." + f) >= 0.5 for f in fractions.values()], np.int64)
    naive = np.ones(len(times), bool)
    read = "UTC"
    if offsets:
        rows = np.fromiter(offsets, np.int64, len(offsets))
        first_row = {}
        for i, tz in offsets.items():
            first_row.setdefault(tz, i)
        seconds = {tz: _offset_seconds(path, tz, lines[i]) for tz, i in first_row.items()}
        times[rows] -= np.array([seconds[tz] for tz in offsets.values()], np.int64)
        naive[rows] = False
        read = "UTC offsets in the file (" + ", ".join(sorted(seconds)) + ")"
    if timezone is None or not naive.any():
        return _Times(times, None, read)
    result = _localize(times[naive], timezone)
    times[naive] = result.utc
    keep = np.ones(len(times), bool)
    keep[np.flatnonzero(naive)[~result.keep]] = False
    read = f"{timezone} civil time" + ("" if naive.all() else f"; {read} where given")
    return _Times(times[keep], None if keep.all() else keep, read,
                  result.dst_repeated, result.dst_unresolved, result.dst_skipped)


def _utc_offset(zone: zoneinfo.ZoneInfo, t: int) -> int:
    return int(_dt.datetime.fromtimestamp(t, zone).utcoffset().total_seconds())


_SAMPLE = 6 * 3600  # the zone's offset is sampled every 6 h around the rows


def _zone_periods(zone: zoneinfo.ZoneInfo, wall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(transitions, offsets) of ``zone`` around the wall-clock seconds ``wall``: offsets[k] holds
    from transitions[k - 1] (seconds, UTC) to transitions[k]. The offset is sampled every 6 h
    within two days of a row (more than any UTC offset) and each change bisected to the second:
    a few thousand zoneinfo calls for years of rows, not one a row, and none across a long gap."""
    buckets = np.unique(wall // _SAMPLE)
    samples = np.unique((buckets[:, None] + np.arange(-8, 9)).ravel()) * _SAMPLE
    sampled = np.array([_utc_offset(zone, int(t)) for t in samples])
    transitions = []
    for j in np.flatnonzero(np.diff(sampled)):
        a, b = int(samples[j]), int(samples[j + 1])  # offset at a is the old one, at b a new one
        while b - a > 1:
            mid = (a + b) // 2
            if _utc_offset(zone, mid) == sampled[j]:
                a = mid
            else:
                b = mid
        transitions.append(b)
    return np.array(transitions, np.int64), np.concatenate([sampled[:1], sampled[1:][np.diff(sampled) != 0]])


def _localize(local: np.ndarray, timezone: str) -> _Times:
    """UTC instants of local civil times (file order), by the daylight-saving rules of the module."""
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DataError(f"unknown time zone {timezone!r} (an IANA name such as Europe/Berlin)") from None
    wall = local.astype(np.int64)
    transitions, offsets = _zone_periods(zone, wall)
    lowest, highest = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    # period k runs from local start_k to local end_k (exclusive)
    start = np.concatenate([[lowest], transitions + offsets[1:]])
    end = np.concatenate([transitions + offsets[:-1], [highest]])
    k = np.searchsorted(start, wall, side="right") - 1  # the last period begun by this wall-clock time
    exists = wall < end[k]
    utc = wall - offsets[k]  # the later reading where there are two
    earlier = np.zeros(len(wall), bool)
    repeated = exists & (k >= 1) & (wall < end[np.maximum(k - 1, 0)])
    unresolved = np.zeros(len(wall), bool)
    for t in np.unique(k[repeated]):  # one repeated hour a year: walk its rows in file order
        rows = np.flatnonzero(repeated & (k == t))
        back = np.flatnonzero(np.diff(wall[rows]) <= 0) + 1  # where the local clock does not advance
        if not len(back):
            unresolved[rows] = True  # one pass only: summer or winter time, nothing says which
            continue
        earlier[rows[:back[0]]] = True
        if len(back) > 1:
            unresolved[rows[back[1]:]] = True  # a third pass
    utc[earlier] = wall[earlier] - offsets[k[earlier] - 1]
    keep = exists & ~unresolved
    return _Times(utc.astype("datetime64[s]"), keep, timezone, int((repeated & keep).sum()),
                  int(unresolved.sum()), int((~exists).sum()))


def read_file(path: str | Path, timezone: str | None = None) -> Series:
    """One file's rows; ``timezone``: the IANA zone whose civil time its offset-free times are in."""
    path = Path(path)
    lines = _read_text(path).splitlines()
    if not lines:
        raise DataError(f"{path}: empty file")
    present, rows, line_numbers = _rows(path, lines)
    parsed = _parse_times(path, [r[0] for r in rows], line_numbers, timezone)
    times = parsed.utc
    if parsed.keep is not None:
        rows = [r for r, k in zip(rows, parsed.keep) if k]
        line_numbers = [n for n, k in zip(line_numbers, parsed.keep) if k]
        if not rows:
            raise DataError(f"{path}: no row has a time that exists in {timezone}")
    columns, empty = _numbers(path, rows, line_numbers, present)
    values = np.full((len(times), len(CHANNEL_NAMES)), np.nan)
    values[:, [CHANNEL_INDEX[c] for c in present]] = columns
    _check_units(path, values, present)
    derived = _derive_absent(values, present)
    step = _detect_step(path, times)
    quality = _quality(times, values, step)
    quality.empty = {name: int(n) for name, n in zip(present, empty.sum(axis=0)) if n}
    quality.dst_repeated, quality.dst_unresolved = parsed.dst_repeated, parsed.dst_unresolved
    quality.dst_skipped = parsed.dst_skipped
    return Series(times, values, [FileInfo(str(path), 0, len(times), step, present, derived, quality,
                                           parsed.read)])


def _rows(path: Path, lines: list[str]) -> tuple[list[str], list[list[str]], list[int]]:
    """(the model channels present, per data row [time, channel texts …], their
    line numbers); a file without a time or a temperature column, or with a row of the
    wrong width, is refused by line."""
    header = [h.strip().strip('"').strip() for h in next(csv.reader([lines[0]]))]
    time_col = next((c for c in TIME_COLUMNS if c in header), None)
    if time_col is None:
        raise DataError(f"{path}, line 1: no time column (expected one of {TIME_COLUMNS}); header starts {header[:3]}")
    present = [c for c in CHANNEL_NAMES if c in header]
    if TARGET not in present:
        raise DataError(f"{path}, line 1: no {TARGET!r} column, the temperature every model forecasts "
                        f"(columns: {', '.join(header[:25])})")
    wanted = [header.index(time_col)] + [header.index(c) for c in present]
    body = [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    if not body:
        raise DataError(f"{path}: header but no data rows")
    rows = []
    width = len(header) - (header[-1] == "")  # a trailing comma in the header names no column
    for n, fields in zip((n for n, _ in body), csv.reader(line for _, line in body)):
        if len(fields) not in (len(header), width):
            raise DataError(f"{path}, line {n}: {len(fields)} fields, header has {width}")
        rows.append([fields[j].strip() for j in wanted])
    return present, rows, [n for n, _ in body]


def _numbers(path: Path, rows: list[list[str]], line_numbers: list[int], present: list[str]):
    """(values (rows, channels present), where a field was empty); a field that is not a
    number is refused with its line and column."""
    cells = np.array([r[1:] for r in rows], dtype=object)
    empty = cells == ""
    cells[empty] = "nan"
    try:
        return cells.astype(np.float64), empty
    except ValueError:
        for r, n in zip(rows, line_numbers):
            for name, text in zip(present, r[1:]):
                try:
                    float(text or "nan")
                except ValueError:
                    raise DataError(f"{path}, line {n}: {name} is not a number: {text!r}") from None
        raise


# Units. Each rule names a unit a file could plausibly be in by mistake and is far from every
# real record: checked on the 39 files of ../shared/data and ../shared/data/stations (Jena,
# Beijing, Brazil, US cities, Szeged; all in the right units, none refused). Sentinels and
# missing values are left out of the statistics.
MIN_ROWS_FOR_SHAPE = 24  # the distribution rules (rh, wv) need a day of hourly rows
# wv in km/h: 3.6 times m/s. Real records: median wind 0.4 … 2.76 m/s (Szeged), 99th percentile
# 2.4 … 11.0 m/s (Albuquerque). A median above 8 m/s (a fresh breeze, force 5, half the time) or
# a 99th percentile above 20 m/s (severe gale, force 9, for ~90 hours a year) is climatology of
# exposed summits and polar coasts, not of a roof; both are 1.8–2.9 times the real maxima. The
# km/h copies of 25 of the 39 real files cross it (Jena's: median 6.3, 99th percentile 26 "m/s");
# calm places in km/h (99th percentile below 5.6 m/s) look like windy ones in m/s and pass.
WIND_MEDIAN_MAX = 8.0
WIND_P99_MAX = 20.0


def _check_units(path: Path, values: np.ndarray, present: list[str]) -> None:
    """A DataError naming file, channel and likely unit when a channel is in the wrong one."""
    def finite(name):
        x = values[:, CHANNEL_INDEX[name]]
        return x[np.isfinite(x) & ~np.isin(x, SENTINELS)]

    for name in ("T (degC)", "Tdew (degC)"):
        if name in present and len(x := finite(name)) and np.median(x) > 150:
            # real records: median T 8.3 … 28.0 °C; in kelvin every Earth temperature is above 180
            raise DataError(f"{path}: {name} looks like kelvin (median {np.median(x):.1f}; a temperature in °C "
                            f"has a median below 150): convert it to °C (subtract 273.15)")
    if "rh (%)" in present and len(x := finite("rh (%)")) >= MIN_ROWS_FOR_SHAPE and np.percentile(x, 99) <= 1.0:
        # real records: 99th percentile 88 … 100 %, not one value ≤ 1 % in 1.1 million rows
        raise DataError(f"{path}: rh (%) looks like a 0–1 fraction (99th percentile {np.percentile(x, 99):.2f} "
                        f"over {len(x)} values): give it in percent (multiply by 100)")
    if "wv (m/s)" in present and len(x := finite("wv (m/s)")) >= MIN_ROWS_FOR_SHAPE:
        median, p99 = float(np.median(x)), float(np.percentile(x, 99))
        if median > WIND_MEDIAN_MAX or p99 > WIND_P99_MAX:
            raise DataError(f"{path}: wv (m/s) looks like km/h (median {median:.1f}, 99th percentile {p99:.1f}; "
                            f"wind in m/s at a station has a median at most {WIND_MEDIAN_MAX:g} and a 99th "
                            f"percentile at most {WIND_P99_MAX:g}): give it in m/s (divide by 3.6)")
    if "p (mbar)" in present and len(x := finite("p (mbar)")):
        median = float(np.median(x))
        # real records: median 837 (Campos do Jordão, 1,600 m) … 1021 mbar; Everest's summit reads ~330
        if median < 150:
            raise DataError(f"{path}: p (mbar) looks like kPa (median {median:.1f}; station pressure in mbar/hPa "
                            "is 300 … 1100): give it in mbar (multiply kPa by 10)")
        if median > 20000:
            raise DataError(f"{path}: p (mbar) looks like Pa (median {median:.0f}; station pressure in mbar/hPa "
                            "is 300 … 1100): give it in mbar (divide by 100)")


def _derive_absent(values: np.ndarray, present: list[str]) -> list[str]:
    """Fill the derivable channels a file lacks from its p, T and rh (in place)."""
    absent = [name for name in physics.DERIVED if name not in present]
    if not absent or not all(c in present for c in ("p (mbar)", "T (degC)", "rh (%)")):
        return []
    clean = np.where(np.isin(values, SENTINELS), np.nan, values)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        derived = physics.derive(clean[:, physics.P], clean[:, physics.T], clean[:, physics.RH])
    for name in absent:
        values[:, CHANNEL_INDEX[name]] = derived[name]
    return absent


def _detect_step(path: Path, times: np.ndarray) -> int:
    """The file's row step: the most common positive step, which must be 10 min or 1 h."""
    steps = np.diff(times).astype(np.int64)
    steps = steps[steps > 0]
    if not len(steps):
        return _STEPS[0]  # one row (or one time): nothing to detect, the station's native step
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    if step not in _STEPS:
        raise DataError(f"{path}: rows are {step // 60} min apart; expected 10-minute or hourly rows")
    return step


def _quality(times: np.ndarray, values: np.ndarray, step: int) -> Quality:
    steps = np.diff(times).astype(np.int64)
    sentinel = np.isin(values, SENTINELS)
    gaps = steps[steps > step]
    return Quality(
        rows=len(times),
        duplicate_times=int((steps == 0).sum()),
        backward_steps=int((steps < 0).sum()),
        gaps=int(len(gaps)),
        largest_gap_hours=round(float(gaps.max()) / 3600, 1) if len(gaps) else 0.0,
        sentinels={name: int(n) for name, n in zip(CHANNEL_NAMES, sentinel.sum(axis=0)) if n},
    )


STATIONS_FILE = "stations.json"


def station_entry(path: str | Path) -> dict | None:
    """The entry of ``stations.json`` beside ``path`` that describes this file, if any."""
    path = Path(path)
    index = path.parent / STATIONS_FILE
    if not index.exists():
        return None
    try:
        stations = json.loads(index.read_text()).get("stations", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"{index}: cannot read ({exc})") from None
    for entry in stations:
        name = entry.get("file", {}).get("name") if isinstance(entry.get("file"), dict) else entry.get("file")
        if name == path.name or entry.get("id") == path.name.split(".")[0]:
            return entry
    return None


def file_location(path: str | Path) -> tuple[Location, str] | None:
    """(location, where it came from) of a file, from the stations.json beside it."""
    entry = station_entry(path)
    if entry is None:
        return None
    try:
        return Location(float(entry["lat"]), float(entry["lon"])), f"{Path(path).parent / STATIONS_FILE}"
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{Path(path).parent / STATIONS_FILE}: the entry of {Path(path).name} has no usable "
                        f"lat/lon ({exc})") from None


def _location(paths, location: Location | None) -> tuple[Location, str, dict[str, str]]:
    """(location, where it came from, where it came from per file)."""
    if location is not None:
        return location, "given", {str(p): "given" for p in paths}
    found = {str(p): file_location(p) for p in paths}
    known = {loc for loc, _ in filter(None, found.values())}
    if len(known) > 1:
        raise DataError("the files come from different places (" + "; ".join(
            f"{p}: {f[0].describe()}" for p, f in found.items() if f) + "): a series is one station's record")
    if known and None in found.values():
        missing = [p for p, f in found.items() if f is None]
        raise DataError(f"{', '.join(missing)}: no entry in a stations.json beside it, while the other files "
                        "have one; give --latitude/--longitude")
    if known:
        return (*next(f for f in found.values() if f), {p: f[1] for p, f in found.items()})
    return JENA, LOCATION_ASSUMED, {p: LOCATION_ASSUMED for p in found}


def load(paths: str | Path | list, location: Location | None = None, timezone: str | None = None) -> Series:
    """Read one or several files of one station and join them in time order.

    Files are ordered by their first timestamp; rows of a later file that do not come
    after the previous file's last row (an overlap between exports) are dropped. The
    station's location is ``location``, else its entry in a ``stations.json`` beside the
    files, else Jena's (``Series.location_source`` says which). ``timezone``: the IANA
    zone whose civil time the files' offset-free times are in (default: they are UTC).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise DataError("no data file given")
    if timezone is not None:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise DataError(f"unknown time zone {timezone!r} (an IANA name such as Europe/Berlin)") from None
    where, source, sources = _location(paths, location)
    parts = sorted((read_file(p, timezone) for p in paths), key=lambda s: s.times[0])
    times, values, files = [], [], []
    n = 0
    for part in parts:
        keep = part.times > times[-1][-1] if times else np.ones(len(part), bool)
        if not keep.any():
            continue
        times.append(part.times[keep])
        values.append(part.values[keep])
        f = part.files[0]
        files.append(FileInfo(f.path, n, n + int(keep.sum()), f.step_seconds, f.channels, f.derived, f.quality,
                              f.times_read, sources[f.path]))
        n += int(keep.sum())
    return Series(np.concatenate(times), np.concatenate(values), files, where, source)
