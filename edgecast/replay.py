"""Publish real Jena rows as the sensor would: one JSON reading per 10-minute row.

The demo and the test driver of the daemon. Rows are sent as they are in the file —
including its faults (-9999 codes, the duplicate and the gap of 2020) — so the daemon
meets what a real station sends. QoS 1, and it returns only when the broker has
acknowledged every reading.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid

import numpy as np

from .schema import CHANNEL_NAMES

MAX_OUTSTANDING = 1000  # readings published but not yet acknowledged


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
    if hours is None:
        return first, len(times)
    if first >= len(times):
        return first, first
    stop = times[first] + np.timedelta64(int(round(hours * 3600)), "s")
    return first, int(np.searchsorted(times, stop))


def reading_payload(time_s: np.datetime64, values: np.ndarray) -> bytes:
    row = {"time": str(time_s.astype("datetime64[s]")) + "Z"}
    for name, value in zip(CHANNEL_NAMES, values):
        # JSON has no NaN; a sensor would leave the channel out.
        if math.isfinite(value):
            row[name] = float(value)
    return json.dumps(row, separators=(",", ":")).encode()


def replay(client, topic: str, times: np.ndarray, values: np.ndarray, speed: float | None,
           qos: int = 1, progress=None, timeout: float = 120.0) -> int:
    """Publish rows in order; ``speed`` None = as fast as possible, else event time / speed.

    Returns the number of readings acknowledged by the broker.
    """
    # Count acknowledgements with on_publish: a reading published while the broker is
    # away is queued by paho (its info says "not connected") and sent after the
    # reconnect, so the info object alone cannot tell a queued reading from a lost one.
    acked = [0]
    lock = threading.Lock()

    def on_publish(client, userdata, mid, reason_code, properties):
        with lock:
            acked[0] += 1
    client.on_publish = on_publish
    sent = 0
    start_wall = time.monotonic()
    t0 = times[0].astype("datetime64[s]").astype(np.int64) if len(times) else 0
    for i, (t, row) in enumerate(zip(times, values)):
        if speed:
            due = start_wall + (t.astype("datetime64[s]").astype(np.int64) - t0) / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        # Keep paho's queue short: message ids are 16 bits, and a whole 2009-2016 file
        # queued at once would also hold 420,000 payloads in memory.
        while qos and sent - acked[0] >= MAX_OUTSTANDING:
            time.sleep(0.005)
        client.publish(topic, reading_payload(t, row), qos=qos)
        sent += 1
        if progress and sent % 1000 == 0:
            progress(sent)
    if qos == 0:
        return sent
    deadline = time.monotonic() + timeout
    while acked[0] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    return acked[0]


def new_client_id() -> str:
    return f"edgecast-replay-{uuid.uuid4().hex[:8]}"
