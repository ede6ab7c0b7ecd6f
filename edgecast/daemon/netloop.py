"""One thread for every station's MQTT connection and every timer of the daemon.

paho's ``loop_start`` gives each client its own thread, and the Home Assistant republish
delay was a ``threading.Timer`` per station: 40 stations needed over 80 threads, and
the shipped unit's ``TasksMax=32`` made the daemon crash with "can't start new thread"
(and with 16 stations a birth message left some stations without discovery). Here one
thread selects over all the clients' sockets (paho's external-loop API: ``loop_read``,
``loop_write``, ``loop_misc``), connects and reconnects each with its own exponential
backoff, and runs the timers: the daemon's thread count is the same for 1 station or 64.

Every socket operation happens on this thread: a publish from another thread (the
service's stats) only queues the packet and wakes the loop (``on_socket_register_write``).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import paho.mqtt.client as mqtt

log = logging.getLogger("edgecast.mqtt")
MISC_SECONDS = 1.0  # keepalive pings and retries (paho's loop_misc) at least this often


@dataclass
class _Entry:
    client: mqtt.Client
    on_connect_fail: Callable[[], None]
    min_delay: float
    max_delay: float
    delay: float = 0.0
    next_attempt: float = 0.0  # monotonic; when to (re)connect while there is no socket
    active: bool = True  # False once stopped: never reconnect
    had_socket: bool = False  # the connection was up at the last look (lost: back off first)


@dataclass(order=True)
class Timer:
    when: float
    seq: int
    fn: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True

    def is_alive(self) -> bool:
        return not self.cancelled and self.fn is not None


class NetLoop:
    def __init__(self):
        self._entries: list[_Entry] = []
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._stopping = False

    # --- from any thread ------------------------------------------------------------------
    def add(self, client: mqtt.Client, on_connect_fail: Callable[[], None], min_delay: float,
            max_delay: float) -> None:
        """Connect ``client`` (connect_async already called) now, and again after each loss."""
        client.on_socket_register_write = lambda c, userdata, sock: self.wake()
        with self._lock:
            self._entries.append(_Entry(client, on_connect_fail, min_delay, max_delay, delay=min_delay))
        self.wake()

    def remove(self, client: mqtt.Client) -> None:
        with self._lock:
            for entry in self._entries:
                if entry.client is client:
                    entry.active = False
        self.wake()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + delay, next(self._seq), fn)
        with self._lock:
            heapq.heappush(self._timers, timer)
        self.wake()
        return timer

    def wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):  # full: the loop wakes anyway
            pass

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="edgecast-network", daemon=True)
            self._thread.start()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # --- the loop thread ------------------------------------------------------------------
    def _run(self) -> None:
        last_misc = 0.0
        while not self._stopping:
            now = time.monotonic()
            self._run_timers(now)
            wait = self._keep_connected(now)
            live = [e.client for e in self._snapshot() if e.client.socket() is not None]
            readers = [self._wake_r] + [c.socket() for c in live]
            writers = [c.socket() for c in live if c.want_write()]
            try:
                readable, writable, _ = select.select(readers, writers, [], max(0.0, wait))
            except (OSError, ValueError):  # a socket closed meanwhile: look again
                continue
            if self._wake_r in readable:
                self._drain_wake()
            for client in live:
                sock = client.socket()
                if sock is not None and sock in readable:
                    self._step(client.loop_read)
                if client.socket() is not None and (sock in writable or client.want_write()):
                    self._step(client.loop_write)
            if time.monotonic() - last_misc >= MISC_SECONDS:  # keepalive pings, retries
                last_misc = time.monotonic()
                for client in live:
                    if client.socket() is not None:
                        self._step(client.loop_misc)

    def _snapshot(self) -> list[_Entry]:
        with self._lock:
            self._entries = [e for e in self._entries if e.active or e.client.socket() is not None]
            return list(self._entries)

    def _keep_connected(self, now: float) -> float:
        """Connect what has no socket and is due; the seconds until the next thing to do."""
        wait = MISC_SECONDS
        for entry in self._snapshot():
            if entry.client.socket() is None:
                if entry.had_socket:  # lost (or refused): the next attempt after the backoff
                    entry.had_socket = False
                    entry.next_attempt = now + entry.delay
                    entry.delay = min(entry.delay * 2, entry.max_delay)
                wait = min(wait, self._connect(entry, now))
            else:
                entry.had_socket = True
                if entry.client.is_connected():
                    entry.delay = entry.min_delay  # a good connection resets the backoff
        with self._lock:
            if self._timers:
                wait = min(wait, self._timers[0].when - now)
        return wait

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _connect(self, entry: _Entry, now: float) -> float:
        """(Re)connect when due; the seconds until the next attempt."""
        if not entry.active:
            return MISC_SECONDS
        if now < entry.next_attempt:
            return entry.next_attempt - now
        try:
            entry.client.reconnect()
            entry.had_socket = True
        except OSError:  # refused or unreachable: try again after the backoff
            entry.next_attempt = now + entry.delay
            entry.delay = min(entry.delay * 2, entry.max_delay)
            entry.on_connect_fail()
        # Anything else ends this thread as it ended paho's own: the service sees the network
        # thread dead and exits with one line (systemd restarts it) instead of looking alive.
        return max(0.0, entry.next_attempt - now)

    def _step(self, step) -> None:
        """One paho step. The callbacks catch their own errors (MqttLink._on_message); what
        paho itself raises ends the thread, as it ended paho's (see _connect)."""
        step()

    def _run_timers(self, now: float) -> None:
        while True:
            with self._lock:
                if not self._timers or self._timers[0].when > now:
                    return
                timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            fn, timer.fn = timer.fn, None
            try:
                fn()
            except Exception:
                log.exception("unexpected error in a timer")
