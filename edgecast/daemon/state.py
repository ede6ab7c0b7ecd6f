"""The hourly buffer on disk, so a restart (or kill -9, or a power cut) costs no warm-up.

Written after every completed hour and on SIGTERM: temp file in the same directory,
fsync, os.replace, fsync of the directory — a reader sees the old file or the new one,
never half of one. A file that does not load (truncated, edited, another format) is
renamed aside to ``<name>.corrupt-<unix time>`` with a warning and the daemon starts
empty: a wrong window would make wrong forecasts for five days, an empty one only
makes naive ones.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

FORMAT = "edgecast-state/1"
log = logging.getLogger("edgecast.state")


def state_path(directory: Path, station: str) -> Path:
    return Path(directory) / f"{station}.state.json"


def save(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"format": FORMAT, **payload}, separators=(",", ":")).encode()
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def load(path: Path, restore) -> bool:
    """Read ``path`` and hand its dict to ``restore``; False when absent or set aside.

    ``restore`` raises (ValueError, TypeError, KeyError) when the content does not fit:
    only those, and JSON errors, mean "not a state file". Anything else (AttributeError,
    IndexError …) is a bug in the restore code: it propagates and the file stays where it
    is, so the fixed daemon resumes the window instead of losing it (issue 14, row 10).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return False
    except OSError as exc:  # unreadable (EIO, EACCES, a directory): start empty, do not crash-loop
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
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            os.replace(path, aside)
            where = f"moved it to {aside.name}"
        except OSError as move_error:  # read-only state dir: still start, never crash-loop
            where = f"could not move it aside ({move_error.strerror or move_error})"
        log.warning("state file %s is unusable (%s); %s and starting with an empty buffer",
                    path, str(exc)[:200], where)
        return False
