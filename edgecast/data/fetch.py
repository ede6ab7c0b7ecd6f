"""Getting the data for a user: the official Keras archive, or a local file.

The Keras archive is published without a checksum, so the download is verified two
ways: its content must be the known file (420,551 rows, 01.01.2009 00:10 to
01.01.2017 00:00), and its SHA-256 is compared with ``--sha256`` when the user pins
one (it is printed and written beside the file for the next time).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.request
from pathlib import Path

from .. import atomic
from .jena import DataError, read_file

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip"
KERAS_ROWS = 420_551
KERAS_RANGE = ("2009-01-01T00:10:00", "2017-01-01T00:00:00")


def default_data_dir() -> Path:
    return Path(os.environ.get("EDGECAST_DATA_DIR", Path.home() / ".cache" / "edgecast"))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _progress(done: int, total: int) -> None:
    if total > 0:
        sys.stderr.write(f"\r  {done / 1e6:6.1f} / {total / 1e6:.1f} MB")
    else:
        sys.stderr.write(f"\r  {done / 1e6:6.1f} MB")
    sys.stderr.flush()


def download(url: str, dest: Path, expected_sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically (a partial download never takes its name)."""
    def fetch(out) -> None:
        h = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=60) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while block := resp.read(1 << 20):
                out.write(block)
                h.update(block)
                done += len(block)
                _progress(done, total)
        sys.stderr.write("\n")
        if expected_sha256 and h.hexdigest() != expected_sha256.lower():  # before it takes the name
            raise DataError(f"{url}: SHA-256 {h.hexdigest()} does not match the expected {expected_sha256}")
    return atomic.write(dest, fetch)


def verify_keras_file(path: Path) -> None:
    series = read_file(path)
    first, last = str(series.times[0]), str(series.times[-1])
    if len(series) != KERAS_ROWS or (first, last) != KERAS_RANGE:
        raise DataError(
            f"{path}: not the Keras Jena file ({len(series)} rows from {first} to {last}; "
            f"expected {KERAS_ROWS} rows from {KERAS_RANGE[0]} to {KERAS_RANGE[1]})"
        )


def fetch_keras(dest_dir: Path, url: str = KERAS_URL, expected_sha256: str | None = None) -> Path:
    dest = dest_dir / "jena_climate_2009_2016.csv.zip"
    if dest.exists() and expected_sha256 in (None, sha256_of(dest)):
        try:
            verify_keras_file(dest)
            return dest  # fetched before and still whole: no second download
        except DataError:
            pass  # damaged: download it again
    download(url, dest, expected_sha256)
    verify_keras_file(dest)
    atomic.write(dest.parent / (dest.name + ".sha256"), f"{sha256_of(dest)}  {dest.name}\n")
    return dest


def import_local(source: Path, dest_dir: Path) -> Path:
    """Check a user's file loads, then copy it into the data directory."""
    read_file(source)  # raises DataError naming the line if it cannot be used
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / source.name
    if dest.resolve() != source.resolve():
        with open(source, "rb") as src:
            atomic.write(dest, lambda out: shutil.copyfileobj(src, out))
    return dest
