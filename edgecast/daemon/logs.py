"""Logging for a daemon that may serve several stations: who said it, how often, and the
newest problem of each station for its stats topic."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timezone

from .settings import FromConfig


class StationLog(logging.LoggerAdapter):
    """A logger that tags each record with its station (``record.station``) and, when the
    daemon serves several, prefixes the message with ``[station]`` so journal lines can be
    told apart. With one station the lines read as they always did."""

    def __init__(self, logger: logging.Logger, station: str, prefix: bool):
        super().__init__(logger, {"station": station})
        self.prefix = f"[{station}] " if prefix else ""

    def process(self, msg, kwargs):
        kwargs["extra"] = {**kwargs.get("extra", {}), "station": self.extra["station"]}
        return self.prefix + str(msg), kwargs

    def child(self, name: str) -> "StationLog":
        """The same station on another logger (edgecast.mqtt, edgecast.homeassistant ...)."""
        return StationLog(logging.getLogger(name), self.extra["station"], bool(self.prefix))


class RateLimitedLog(FromConfig):
    """Log each reason the first time, then at most once per ``every`` seconds.

    A sensor with a broken channel sends the same fault every few seconds; the counters
    in the stats topic carry the numbers, the log only needs to say that it happens.
    """

    def __init__(self, every: float, log: logging.Logger | logging.LoggerAdapter):
        self.every = every
        self.log = log
        self._last: dict[str, float] = {}
        self._since: Counter = Counter()

    @staticmethod
    def settings(cfg) -> dict:
        """The live setting: [log] repeat_seconds."""
        return {"every": cfg.log.repeat_seconds}

    def apply_settings(self, every: float) -> None:
        self.every = every

    def event(self, what: str, reason: str, detail: str) -> None:
        key = f"{what}: {reason}"
        self._since[key] += 1
        now = time.monotonic()
        last = self._last.get(key)
        if last is None or now - last >= self.every:
            extra = f" ({self._since[key]} since the last report)" if last is not None else \
                f" (counted in stats; logged again at most every {self.every:g}s)"
            self.log.warning("%s: %s%s", key, detail, extra)
            self._last[key] = now
            self._since[key] = 0


class LastProblem(logging.Handler):
    """Keeps the newest warning or error per station (records a StationLog tagged) and the
    newest untagged one (the process's own), for the stats topic: a dashboard shows what
    went wrong last without anyone reading the journal."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self._last: dict[str | None, tuple[float, dict]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self._last[getattr(record, "station", None)] = (record.created, {
            "at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="seconds"),
            "level": record.levelname.lower(), "message": record.getMessage()[:500]})

    def last(self, station: str | None = None) -> dict | None:
        """The newest problem of ``station`` or of the process, whichever came later."""
        found = [self._last[k] for k in (station, None) if k in self._last]
        return max(found, key=lambda item: item[0])[1] if found else None
