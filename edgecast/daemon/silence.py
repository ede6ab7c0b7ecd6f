"""How long a station has not heard its sensor, by the daemon's own clock.

Event time cannot tell that a sensor died: no reading, no time. So the daemon measures
silence on its monotonic clock, from the last accepted reading (or from its start, or
from before a restart: the wall-clock time of the last accepted reading is kept in the
state file). After ``[readings] stale_after_minutes`` without one the station is
*stale*: the status topic says ``stale`` (Home Assistant's entities turn unavailable),
stats say so, the frost warning is withdrawn, and a line is logged. When no message at
all arrived on the readings topic since connecting, the line says so and names the topic:
mosquitto grants a subscription that its ACL does not let the client read, then drops
every message silently.
"""

from __future__ import annotations

import math
import time

from .settings import FromConfig


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


class Silence(FromConfig):
    def __init__(self, limit_seconds: float, now: float | None = None):
        self.apply_settings(limit_seconds)
        self.heard = time.monotonic() if now is None else now  # last accepted reading (or start), monotonic
        self.heard_wall: float | None = None  # its wall-clock time (saved with the state)
        self.messages = 0  # messages on the readings topics since the last connect
        self.connected_at: float | None = None
        self.stale = False
        self._input_warned = False  # the no-message warning of this connection was given

    @staticmethod
    def settings(cfg) -> dict:
        """The live setting: [readings] stale_after_minutes."""
        return {"limit_seconds": cfg.readings.stale_after_minutes * 60}

    def apply_settings(self, limit_seconds: float) -> None:
        self.limit = limit_seconds

    def restore(self, heard_wall, now: float, wall: float) -> None:
        """The last reading's wall-clock time from the state file: silence spans the restart."""
        if isinstance(heard_wall, (int, float)) and not isinstance(heard_wall, bool) and math.isfinite(heard_wall):
            self.heard_wall = float(heard_wall)
            self.heard = now - max(0.0, wall - self.heard_wall)

    def reading(self, now: float, wall: float) -> bool:
        """An accepted reading; True when it ends a stale spell."""
        self.heard, self.heard_wall = now, wall
        was, self.stale = self.stale, False
        return was

    def message(self) -> None:
        self.messages += 1

    def connected(self, now: float) -> None:
        self.connected_at, self.messages, self._input_warned = now, 0, False

    def silent_for(self, now: float) -> float:
        return max(0.0, now - self.heard)

    def turns_stale(self, now: float) -> bool:
        """True once, when the silence passes the limit."""
        if self.stale or self.silent_for(now) <= self.limit:
            return False
        self.stale = True
        return True

    def input_silent(self, now: float) -> bool:
        """Connected for longer than the limit without one message on the readings topics."""
        return self.connected_at is not None and self.messages == 0 and now - self.connected_at > self.limit

    def turns_input_silent(self, now: float) -> bool:
        """True once per connection, when it has been silent past the limit."""
        if self._input_warned or not self.input_silent(now):
            return False
        self._input_warned = True
        return True

    def stats(self, now: float) -> dict:
        return {"stale": self.stale, "silent_s": round(self.silent_for(now), 1),
                "stale_after_s": self.limit, "messages_since_connect": self.messages,
                "input_silent": self.input_silent(now)}
