"""Loader for the Jena weather-station file formats.

Accepted, unchanged:
- the Keras file ``jena_climate_2009_2016.csv`` (``"Date Time"`` as ``dd.mm.yyyy HH:MM:SS``,
  14 channels), as ``.csv``, ``.csv.xz``, ``.csv.gz`` or the official ``.zip``;
- the institute's own exports ``mpi_roof*.csv`` (``Date Time`` plus 21 channels,
  Latin-1 or UTF-8 header);
- the 2020 ``weather.csv`` benchmark file (``date`` as ISO, 21 channels, CRLF).

Rows are kept exactly as in the file (the reference protocol is defined on raw rows);
faults are counted in :class:`Quality`, and repairs are an explicit separate step
(:func:`edgecast.data.clean.repair`). Several files are joined in time order.
"""

from __future__ import annotations

import csv
import gzip
import lzma
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..schema import CHANNEL_NAMES, SENTINELS

TIME_COLUMNS = ("Date Time", "date")
_DOTTED = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}:\d{2}(?::\d{2})?)$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")


class DataError(ValueError):
    """A data file cannot be used; the message names the file (and line)."""


@dataclass
class Quality:
    rows: int = 0
    duplicate_times: int = 0  # rows whose time equals the previous row's
    backward_steps: int = 0  # rows earlier than the previous row
    gaps: int = 0  # steps longer than 10 minutes
    sentinels: dict[str, int] = field(default_factory=dict)  # channel -> count of -9999-style codes

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Series:
    """Raw station rows: ``values[i]`` holds the 14 channels (schema order) at ``times[i]``."""

    times: np.ndarray  # datetime64[s], file row order
    values: np.ndarray  # float64, shape (rows, 14)
    sources: list[str]
    quality: Quality

    def __len__(self) -> int:
        return len(self.times)

    def slice(self, start: int, end: int) -> "Series":
        return Series(self.times[start:end], self.values[start:end], self.sources, self.quality)


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
    header = [h.strip() for h in next(csv.reader([lines[0]]))]
    time_col = next((c for c in TIME_COLUMNS if c in header), None)
    if time_col is None:
        raise DataError(f"{path}, line 1: no time column (expected one of {TIME_COLUMNS}); header starts {header[:3]}")
    missing = [c for c in CHANNEL_NAMES if c not in header]
    if missing:
        raise DataError(f"{path}, line 1: missing channel column(s) {missing}")
    wanted = [header.index(time_col)] + [header.index(c) for c in CHANNEL_NAMES]

    body = [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    if not body:
        raise DataError(f"{path}: header but no data rows")
    rows = []
    for n, fields in zip((n for n, _ in body), csv.reader(line for _, line in body)):
        if len(fields) != len(header):
            raise DataError(f"{path}, line {n}: {len(fields)} fields, header has {len(header)}")
        rows.append([fields[j] for j in wanted])
    line_numbers = [n for n, _ in body]

    times = _parse_times(path, [r[0] for r in rows], 2)
    try:
        values = np.array([r[1:] for r in rows], dtype=np.float64)
    except ValueError:
        for r, n in zip(rows, line_numbers):
            for name, text in zip(CHANNEL_NAMES, r[1:]):
                try:
                    float(text)
                except ValueError:
                    raise DataError(f"{path}, line {n}: {name} is not a number: {text!r}") from None
        raise
    return Series(times, values, [str(path)], _quality(times, values))


def _quality(times: np.ndarray, values: np.ndarray) -> Quality:
    steps = np.diff(times).astype(np.int64)
    sentinel = np.isin(values, SENTINELS)
    return Quality(
        rows=len(times),
        duplicate_times=int((steps == 0).sum()),
        backward_steps=int((steps < 0).sum()),
        gaps=int((steps > 600).sum()),
        sentinels={name: int(n) for name, n in zip(CHANNEL_NAMES, sentinel.sum(axis=0)) if n},
    )


def load(paths: str | Path | list) -> Series:
    """Read one or several files and join them in time order.

    Files are ordered by their first timestamp; rows of a later file that do not come
    after the previous file's last row (an overlap between exports) are dropped.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise DataError("no data file given")
    parts = sorted((read_file(p) for p in paths), key=lambda s: s.times[0])
    times, values, sources = [parts[0].times], [parts[0].values], list(parts[0].sources)
    for part in parts[1:]:
        keep = part.times > times[-1][-1]
        times.append(part.times[keep])
        values.append(part.values[keep])
        sources += part.sources
    t, v = np.concatenate(times), np.concatenate(values)
    return Series(t, v, sources, _quality(t, v))
