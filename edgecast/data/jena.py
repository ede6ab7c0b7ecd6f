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
"""

from __future__ import annotations

import csv
import gzip
import json
import lzma
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import physics, resample
from ..schema import CHANNEL_INDEX, CHANNEL_NAMES, SENTINELS, TARGET
from ..solar import JENA, Location

TIME_COLUMNS = ("Date Time", "date")
_DOTTED = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}:\d{2}(?::\d{2})?)$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")
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

    @property
    def lacking(self) -> list[str]:
        return [c for c in CHANNEL_NAMES if c not in self.channels and c not in self.derived]

    def report(self) -> dict:
        return {"path": self.path, "rows": self.end_row - self.first_row,
                "step_minutes": self.step_seconds // 60, "channels": self.channels,
                "derived": self.derived, "lacking": self.lacking, **self.quality.as_dict()}


@dataclass
class Series:
    """Raw station rows: ``values[i]`` holds the 14 channels (schema order) at ``times[i]``.

    A channel a file lacks (and cannot derive) is NaN in that file's rows.
    """

    times: np.ndarray  # datetime64[s], file row order
    values: np.ndarray  # float64, shape (rows, 14)
    files: list[FileInfo]
    location: Location = JENA  # where the station stands (the sun features read it)
    location_source: str = "assumed: Jena's (no stations.json entry and no --latitude/--longitude)"

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
                                      f.quality))
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


def _parse_times(path: Path, column: list[str], first_line: int) -> np.ndarray:
    iso = []
    for i, text in enumerate(column):
        text = text.strip()
        m = _DOTTED.match(text)
        if m:
            d, mo, y, hms = m.groups()
            iso.append(f"{y}-{mo}-{d}T{hms}")
        elif _ISO.match(text):
            iso.append(text.replace(" ", "T"))
        else:
            raise DataError(f"{path}, line {first_line + i}: cannot read time {text!r} "
                            "(expected 'dd.mm.yyyy HH:MM:SS' or 'yyyy-mm-dd HH:MM:SS')")
    try:
        return np.array(iso, dtype="datetime64[s]")
    except ValueError:
        for i, text in enumerate(iso):  # locate the impossible date (e.g. 31.02.)
            try:
                np.datetime64(text, "s")
            except ValueError:
                raise DataError(f"{path}, line {first_line + i}: impossible time {column[i]!r}") from None
        raise


def read_file(path: str | Path) -> Series:
    path = Path(path)
    lines = _read_text(path).splitlines()
    if not lines:
        raise DataError(f"{path}: empty file")
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
    line_numbers = [n for n, _ in body]

    times = _parse_times(path, [r[0] for r in rows], 2)
    cells = np.array([r[1:] for r in rows], dtype=object)
    empty = cells == ""
    cells[empty] = "nan"
    try:
        columns = cells.astype(np.float64)
    except ValueError:
        for r, n in zip(rows, line_numbers):
            for name, text in zip(present, r[1:]):
                try:
                    float(text or "nan")
                except ValueError:
                    raise DataError(f"{path}, line {n}: {name} is not a number: {text!r}") from None
        raise
    values = np.full((len(times), len(CHANNEL_NAMES)), np.nan)
    values[:, [CHANNEL_INDEX[c] for c in present]] = columns
    derived = _derive_absent(values, present)
    step = _detect_step(path, times)
    quality = _quality(times, values, step)
    quality.empty = {name: int(n) for name, n in zip(present, empty.sum(axis=0)) if n}
    return Series(times, values, [FileInfo(str(path), 0, len(times), step, present, derived, quality)])


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


def _location(paths, location: Location | None) -> tuple[Location, str]:
    if location is not None:
        return location, "given"
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
        return next(f for f in found.values() if f)
    return JENA, Series.location_source


def load(paths: str | Path | list, location: Location | None = None) -> Series:
    """Read one or several files of one station and join them in time order.

    Files are ordered by their first timestamp; rows of a later file that do not come
    after the previous file's last row (an overlap between exports) are dropped. The
    station's location is ``location``, else its entry in a ``stations.json`` beside the
    files, else Jena's (``Series.location_source`` says which).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise DataError("no data file given")
    where, source = _location(paths, location)
    parts = sorted((read_file(p) for p in paths), key=lambda s: s.times[0])
    times, values, files = [], [], []
    n = 0
    for part in parts:
        keep = part.times > times[-1][-1] if times else np.ones(len(part), bool)
        if not keep.any():
            continue
        times.append(part.times[keep])
        values.append(part.values[keep])
        f = part.files[0]
        files.append(FileInfo(f.path, n, n + int(keep.sum()), f.step_seconds, f.channels, f.derived, f.quality))
        n += int(keep.sum())
    return Series(np.concatenate(times), np.concatenate(values), files, where, source)
