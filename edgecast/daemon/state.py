"""The hourly buffer on disk, so a restart (or kill -9, or a power cut) costs no warm-up.

Written after every completed hour and on SIGTERM with edgecast.atomic (random temp
name in the same directory, fsync, os.replace, fsync of the directory): a reader sees
the old file or the new one, never half of one. A file that does not load (truncated,
edited, another format), or a path that is no regular file (a FIFO would block the start,
a symlink points somewhere else), is renamed aside to ``<name>.corrupt-<UTC time>`` with
a warning and the daemon starts empty: a wrong window would make wrong forecasts for
five days, an empty one only makes naive ones. A file whose window loads but one of
whose other sections does not (skill scores, frost alert, outbox, correction: each is
checked for types, ranges and sizes) keeps what is valid: that section starts afresh,
the file is copied once to the same ``.corrupt-`` name for a look, with one warning.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import time
from pathlib import Path

from .. import atomic
from .topics import station_key

FORMAT = "edgecast-state/1"
log = logging.getLogger("edgecast.state")


def state_path(directory: Path, station: str) -> Path:
    """``<key>.state.json``: the station's key (topics.station_key) is a valid file name
    of at most 48 characters whatever the id (60 emoji made one over 255 bytes)."""
    return Path(directory) / f"{station_key(station)}.state.json"


def adopt_old_name(directory: Path, station: str) -> Path | None:
    """A state file under the raw id (before ids had keys, ``roof.north.state.json``) moves
    to the key's name when that is free; returns the old path when it moved."""
    old, new = Path(directory) / f"{station}.state.json", state_path(directory, station)
    try:
        if old == new or new.exists() or not old.is_file():
            return None
        os.replace(old, new)
    except (OSError, ValueError):  # an id no file could be named after: there is nothing to adopt
        return None
    return old


def save(path: Path, payload: dict) -> None:
    data = json.dumps({"format": FORMAT, **payload}, separators=(",", ":")).encode()
    atomic.write(path, data, mode=0o600)


class NotRegular(OSError):
    """The state path is a FIFO, symlink, directory or device: never read it."""


def _read_regular(path: Path) -> bytes:
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever;
    # O_NOFOLLOW: a symlink is not followed (ELOOP). Then only a regular file is read.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular("a symbolic link") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = {stat.S_IFIFO: "a FIFO", stat.S_IFDIR: "a directory", stat.S_IFSOCK: "a socket",
                    stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}
            raise NotRegular(kind.get(stat.S_IFMT(mode), "not a regular file"))
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def _aside(path: Path) -> Path:
    return path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")


def _keep_copy(path: Path, raw: bytes, problems: list[str]) -> None:
    """Sections of the file were unusable and start afresh: keep the file as it was."""
    aside = _aside(path)
    try:
        atomic.write(aside, raw, mode=0o600)
        where = f"a copy of the file is kept as {aside.name}"
    except OSError as exc:  # read-only state dir: still start
        where = f"could not keep a copy ({exc.strerror or exc})"
    log.warning("state file %s: %s; %s", path, "; ".join(problems), where)


def _set_aside(path: Path, why: str) -> None:
    aside = _aside(path)
    try:
        os.replace(path, aside)  # renames a symlink itself, never its target
        where = f"moved it to {aside.name}"
    except OSError as move_error:  # read-only state dir: still start, never crash-loop
        where = f"could not move it aside ({move_error.strerror or move_error})"
    log.warning("state file %s %s; %s and starting with an empty buffer", path, why, where)


# What a restore raises when the content does not fit (OverflowError: a number too large
# for a float or an int64, e.g. an hour stamp of 3600·10^400).
UNFIT = (ValueError, TypeError, KeyError, OverflowError)


def load(path: Path, restore) -> bool:
    """Read ``path`` and hand its dict to ``restore``; False when absent or set aside.

    ``restore`` raises one of UNFIT when the content does not fit: only those, and JSON
    errors, mean "not a state file". Anything else (AttributeError, IndexError …) is a bug
    in the restore code: it propagates and the file stays where it is, so the fixed daemon
    resumes the window instead of losing it. ``restore`` may return
    the problems of sections it started afresh (what they were, what follows): the file
    is then copied aside once and they are logged in one warning.
    """
    try:
        raw = _read_regular(path)
    except FileNotFoundError:
        return False
    except NotRegular as exc:
        _set_aside(path, f"is not a regular file ({exc})")
        return False
    except OSError as exc:  # unreadable (EIO, EACCES): start empty, do not crash-loop
        log.warning("state file %s cannot be read (%s); starting with an empty buffer", path,
                    exc.strerror or exc)
        return False
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format') if isinstance(data, dict) else None!r}, "
                             f"expected {FORMAT!r}")
        problems = restore(data)
    except (*UNFIT, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError are ValueErrors;
        # RecursionError: JSON nested deeper than the parser goes
        _set_aside(path, f"is unusable ({str(exc)[:200]})")
        return False
    if problems:
        _keep_copy(path, raw, problems)
    return True
