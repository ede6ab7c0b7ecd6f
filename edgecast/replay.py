"""Publish real Jena rows as the sensor would: one JSON reading per 10-minute row.

The demo and the test driver of the daemon. Rows are sent as they are in the file —
including its faults (-9999 codes, the duplicate and the gap of 2020) — so the daemon
meets what a real station sends. QoS 1, and it returns only when the broker has
acknowledged every reading.

Paced by the daemon: a broker keeps only so many QoS 1 messages queued for one
subscriber (mosquitto's default ``max_queued_messages`` is 1000) and silently drops the
rest, so a season sent at full speed would reach a slower daemon with holes. When the
station's daemon is online, ``DaemonProgress`` follows its stats topic (readings it has
counted: accepted, rejected or held) and the replay stays at most ``PACE_WINDOW`` readings
ahead — as fast as the pair can go, and nothing lost. ``--pace broker`` is the open
loop (broker acknowledgements only) for benchmarks.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid

import numpy as np

from .readings import RUNNING
from .schema import CHANNEL_NAMES

MAX_OUTSTANDING = 1000  # readings published but not yet acknowledged
PACE_WINDOW = 500  # readings sent ahead of the daemon's count: half of mosquitto's default queue
STALL_SECONDS = 60.0  # the daemon counting nothing for this long ends a paced replay


class ReplayStalled(RuntimeError):
    """The daemon stopped counting readings while a paced replay waited for it."""


class DaemonProgress:
    """How many readings the station's daemon has counted, from its stats topic.

    ``attach`` subscribes a connected paho client to the status and stats topics;
    ``online`` waits for the daemon's availability, ``counted`` is accepted + rejected +
    held readings (every reading is in exactly one of them) since the first stats seen.
    """

    def __init__(self, status_topic: str, stats_topic: str):
        self.status_topic, self.stats_topic = status_topic, stats_topic
        self._status: bytes | None = None
        self._base: int | None = None  # the current daemon process's count when first seen
        self._total: int | None = None  # its latest count
        self._before = 0  # counted by earlier processes (the daemon restarted mid-replay)
        self.changed = time.monotonic()
        self._event = threading.Condition()

    def attach(self, client) -> None:
        client.message_callback_add(self.status_topic, lambda c, u, msg: self._on_status(msg.payload))
        client.message_callback_add(self.stats_topic, lambda c, u, msg: self._on_stats(msg.payload))
        topics = [(self.status_topic, 1), (self.stats_topic, 0)]
        previous = client.on_connect

        def on_connect(c, userdata, flags, reason_code, properties):
            if previous:
                previous(c, userdata, flags, reason_code, properties)
            c.subscribe(topics)  # again after a reconnect: a clean session forgot them
        client.on_connect = on_connect
        client.subscribe(topics)

    def _on_status(self, payload: bytes) -> None:
        with self._event:
            self._status = payload
            self._event.notify_all()

    def _on_stats(self, payload: bytes) -> None:
        try:
            r = json.loads(payload)["readings"]
            total = int(r["accepted"]) + sum(int(v) for v in r["rejected"].values()) + int(r.get("held", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not the daemon's stats: ignore, the stall timeout catches a silent daemon
        with self._event:
            if self._base is None:
                self._base = total
            elif total < self._total:  # a new process counts from 0: all it counted is ours
                self._before += self._total - self._base
                self._base = 0
            if total != self._total:
                self.changed = time.monotonic()
            self._total = total
            self._event.notify_all()

    def online(self, wait: float) -> bool:
        """True when the daemon says ``online`` (or ``stale``: running, its sensor silent) and
        has published its stats within ``wait`` s (a retained ``offline`` answers at once)."""
        with self._event:
            self._event.wait_for(lambda: self._status is not None and (self._status not in RUNNING
                                                                        or self._total is not None), wait)
            return self._status in RUNNING and self._total is not None

    def counted(self) -> int:
        with self._event:
            return self._counted()

    def _counted(self) -> int:
        return 0 if self._total is None else self._before + self._total - self._base

    def wait_until(self, predicate, sent: int) -> None:
        """Block until ``predicate(counted)``; ReplayStalled when the count stops moving."""
        started = time.monotonic()
        with self._event:
            while not predicate(self._counted()):
                if time.monotonic() - max(self.changed, started) > STALL_SECONDS:
                    raise ReplayStalled(
                        f"the daemon counted no reading for {STALL_SECONDS:.0f} s ({self._counted()} of "
                        f"{sent} sent): is it stopped or overloaded? `--pace broker` sends regardless")
                self._event.wait(0.5)


def check_hours(hours: float | None) -> None:
    """Refuse an --hours that selects nothing or cannot be counted (before any file is read)."""
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise ValueError(f"--hours {hours} is not a positive number of hours (leave it out for all rows)")


def select_rows(times: np.ndarray, start: str | None, hours: float | None) -> tuple[int, int]:
    """Row range [first, end) from ``start`` (ISO time, default the first row) for ``hours``."""
    if start is None:
        first = 0
    else:
        from .readings import parse_time
        seconds = parse_time(start if len(start) > 10 else start + "T00:00:00")
        if seconds is None:
            raise ValueError(f"--start {start!r} is not an ISO 8601 time")
        first = int(np.searchsorted(times, np.datetime64(int(seconds), "s")))
    check_hours(hours)
    if hours is None:
        return first, len(times)
    if first >= len(times):
        return first, first
    span = (times[-1] - times[first]) / np.timedelta64(1, "s")
    if hours * 3600 > span:  # beyond the file's last row (and beyond what timedelta64 can hold)
        return first, len(times)
    stop = times[first] + np.timedelta64(int(round(hours * 3600)), "s")
    return first, int(np.searchsorted(times, stop))


def reading_payload(time_s: np.datetime64, values: np.ndarray) -> bytes:
    row = {"time": str(time_s.astype("datetime64[s]")) + "Z"}
    for name, value in zip(CHANNEL_NAMES, values):
        # JSON has no NaN; a sensor would leave the channel out.
        if math.isfinite(value):
            row[name] = float(value)
    return json.dumps(row, separators=(",", ":")).encode()


def count_acks(client) -> list[int]:
    """A one-element list the client's on_publish counts the broker's acknowledgements in."""
    acked = [0]
    lock = threading.Lock()

    def on_publish(client, userdata, mid, reason_code, properties):
        with lock:
            acked[0] += 1
    client.on_publish = on_publish
    return acked


def replay(client, topic: str, times: np.ndarray, values: np.ndarray, speed: float | None,
           qos: int = 1, progress=None, timeout: float = 120.0, pace: DaemonProgress | None = None) -> int:
    """Publish rows in order; ``speed`` None = as fast as possible, else event time / speed.

    ``pace``: stay at most PACE_WINDOW readings ahead of the daemon's count, and return
    once it has counted them all. Returns the number of readings acknowledged by the broker.
    """
    # Count acknowledgements with on_publish: a reading published while the broker is
    # away is queued by paho (its info says "not connected") and sent after the
    # reconnect, so the info object alone cannot tell a queued reading from a lost one.
    acked = count_acks(client)
    sent = 0
    start_wall = time.monotonic()
    t0 = times[0].astype("datetime64[s]").astype(np.int64) if len(times) else 0
    for t, row in zip(times, values):
        if speed:
            due = start_wall + (t.astype("datetime64[s]").astype(np.int64) - t0) / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        # Keep paho's queue short: message ids are 16 bits, and a whole 2009-2016 file
        # queued at once would also hold 420,000 payloads in memory.
        while qos and sent - acked[0] >= MAX_OUTSTANDING:
            time.sleep(0.005)
        if pace is not None and sent - pace.counted() >= PACE_WINDOW:
            pace.wait_until(lambda counted, sent=sent: sent - counted < PACE_WINDOW, sent)
        client.publish(topic, reading_payload(t, row), qos=qos)
        sent += 1
        if progress and sent % 1000 == 0:
            progress(sent)
    if qos == 0:
        return sent
    deadline = time.monotonic() + timeout
    while acked[0] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    if pace is not None:
        pace.wait_until(lambda counted: counted >= sent, sent)
    return acked[0]


def new_client_id() -> str:
    return f"edgecast-replay-{uuid.uuid4().hex[:8]}"
