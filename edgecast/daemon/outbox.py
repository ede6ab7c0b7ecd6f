"""Forecasts the broker has not acknowledged yet, kept with the buffer so no hour is lost.

The problem it solves: an hour is recorded as done in the state file while its forecast
is still only queued in paho (written to the socket on the loop's next turn, together
with the PUBACKs of the readings). After a SIGKILL or power cut at that moment the broker
redelivers the unacknowledged readings, but the state already holds their hour: they are
``duplicate``/``out_of_order`` and the hour would never be forecast again.

The rule (at-least-once, identical copies):

- a forecast enters the outbox when it is published, *before* the state file that
  records its hour is written; the outbox is saved in the same file (one atomic write),
  so "hour done" and "its forecast still owed" are durable together;
- it leaves on the broker's PUBACK (paho ``on_publish`` with its message id), and the
  state file is rewritten soon after (``unsaved_acks``; the service's main thread writes
  it, at most every ACK_SAVE_SECONDS): otherwise the file kept an acknowledged forecast
  until the next completed hour, and a kill -9 in between re-sent it;
- after a restart every forecast still in the outbox is published again, first thing on
  the first connect, in hour order, with the stored payload byte for byte (same
  ``issued_at``, same value). A forecast the broker did receive but whose PUBACK was not
  yet recorded is therefore published twice, as an identical copy: subscribers see
  at-least-once delivery, never a different value for an hour and never a lost hour;
- within one process paho itself resends unacknowledged QoS 1 publishes after a
  reconnect, so the outbox only republishes what a previous process left behind;
- bounded: at most ``LIMIT`` forecasts (a week of hours, the default MQTT session
  expiry); beyond that the oldest are dropped, counted and reported through ``on_drop``
  (the station's rate-limited log). This happens during a fast backlog too: the broker's
  PUBACKs then reach us behind seconds of queued readings (measured: 1.4 s median at
  2,000 readings/s), so hundreds of hours are "unacknowledged" although sent. The oldest
  go first, and the oldest are the ones surely written to the socket long ago.

Threading: ``acked`` runs on paho's network thread inside paho's own locks, so the
outbox has its own small lock and never calls paho while holding it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .config import MqttConfig
from .jsontext import to_json

LIMIT = MqttConfig().session_expiry // 3600  # a week of hourly forecasts
MAX_BYTES = 16384  # a forecast payload is ~1.5 kB


class Outbox:
    def __init__(self, limit: int = LIMIT, on_drop: Callable[[int, str], None] | None = None):
        """``on_drop(n, issued_at)``: n forecasts dropped, the newest of them issued at."""
        self.limit = limit
        self.on_drop = on_drop
        self._lock = threading.Lock()
        self._entries: list[list] = []  # [payload dict, mid or None (not published by this process)]
        self.dropped = 0
        self.republished = 0
        self.unsaved_acks = False  # an entry left since the last snapshot() for the state file

    def add(self, payload: dict, mid: int | None) -> None:
        gone = []
        with self._lock:
            self._entries.append([payload, mid])
            if len(self._entries) > self.limit:
                gone = self._entries[:-self.limit]
                del self._entries[:-self.limit]
                self.dropped += len(gone)
        if gone and self.on_drop is not None:  # outside the lock: it logs
            self.on_drop(len(gone), gone[-1][0].get("issued_at"))

    def acked(self, mid: int) -> bool:
        """The broker acknowledged message ``mid`` (any message: most are not ours).
        True when it was one of ours (the state file now owes a rewrite)."""
        with self._lock:
            for i, entry in enumerate(self._entries):
                if entry[1] == mid:
                    del self._entries[i]
                    self.unsaved_acks = True
                    return True
        return False

    def unpublished(self) -> list[dict]:
        """Forecasts restored from the state file that this process has not published yet."""
        with self._lock:
            return [p for p, mid in self._entries if mid is None]

    def set_mid(self, payload: dict, mid: int | None) -> None:
        with self._lock:
            for entry in self._entries:
                if entry[0] is payload:
                    entry[1] = mid
                    return

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def to_list(self) -> list[dict]:
        with self._lock:
            return [p for p, _ in self._entries]

    def snapshot(self) -> list[dict]:
        """to_list() for the state file: what it saves includes every ack so far."""
        with self._lock:
            self.unsaved_acks = False
            return [p for p, _ in self._entries]

    def load_list(self, items) -> None:
        """Restore from to_list(); ValueError when it does not fit. Each entry is published
        again as it is: an object with ``issued_at``, strict JSON of at most MAX_BYTES."""
        if not isinstance(items, list) or not all(isinstance(p, dict) and isinstance(p.get("issued_at"), str)
                                                  for p in items):
            raise ValueError("outbox is not a list of forecasts")
        for p in items[-self.limit:]:
            if len(to_json(p, repair=False)) > MAX_BYTES:
                raise ValueError(f"outbox: the forecast for {p['issued_at'][:40]} is over {MAX_BYTES} bytes")
        with self._lock:
            self._entries = [[p, None] for p in items[-self.limit:]]
