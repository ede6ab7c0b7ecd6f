"""The hourly buffer on disk, so a restart (or kill -9, or a power cut) costs no warm-up.

Written after every completed hour and on SIGTERM with edgecast.atomic (random temp
name in the same directory, fsync, os.replace, fsync of the directory): a reader sees
the old file or the new one, never half of one. A file that does not load (truncated,
edited, another format), or a path that is no regular file (a FIFO would block the start,
a symlink points somewhere else), is renamed aside to ``<name>.corrupt-<unix time>`` with
a warning and the daemon starts empty: a wrong window would make wrong forecasts for
five days, an empty one only makes naive ones.
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

FORMAT = "edgecast-state/1"
log = logging.getLogger("edgecast.state")


def state_path(directory: Path, station: str) -> Path:
    return Path(directory) / f"{station}.state.json"


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


def _set_aside(path: Path, why: str) -> None:
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    try:
        os.replace(path, aside)  # renames a symlink itself, never its target
        where = f"moved it to {aside.name}"
    except OSError as move_error:  # read-only state dir: still start, never crash-loop
        where = f"could not move it aside ({move_error.strerror or move_error})"
    log.warning("state file %s %s; %s and starting with an empty buffer", path, why, where)


def load(path: Path, restore) -> bool:
    """Read ``path`` and hand its dict to ``restore``; False when absent or set aside.

    ``restore`` raises (ValueError, TypeError, KeyError) when the content does not fit:
    only those, and JSON errors, mean "not a state file". Anything else (AttributeError,
    IndexError …) is a bug in the restore code: it propagates and the file stays where it
    is, so the fixed daemon resumes the window instead of losing it.
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
        restore(data)
        return True
    except (ValueError, TypeError, KeyError) as exc:  # UnicodeDecodeError, JSONDecodeError are ValueErrors
        _set_aside(path, f"is unusable ({str(exc)[:200]})")
        return False
