"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The one implementation for the package (daemon state, data downloads, training outputs):

- the temp file comes from ``tempfile.mkstemp`` in the target's directory: a random name
  opened with O_CREAT|O_EXCL|O_NOFOLLOW, so a symlink or file planted at a guessable temp
  name (``.x.tmp``) is never followed or overwritten;
- written, fsync'd, then ``os.replace``'d over the target (on one file system: atomic; a
  symlink *at* the target is replaced itself, its target is never written);
- the directory is fsync'd, so the rename survives a power cut too;
- on any error the temp file is removed and the target is untouched.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write(path: str | Path, content: bytes | str | Callable[[BinaryIO], object], mode: int = 0o644) -> Path:
    """Write ``content`` (bytes, text as UTF-8, or a function that writes to the open
    binary file) to ``path`` atomically, with permissions ``mode``. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fchmod(f.fileno(), mode)  # mkstemp's 0600 is right for state, not for a report
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be fsync'd)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
