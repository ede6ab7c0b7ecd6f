"""The daemon process: one Station per configured station (station.py), and what belongs
to the process: signals, the systemd notify protocol and watchdog, periodic stats, reload.

The main thread only sleeps, pings the watchdog, republishes changed counters and acts
on signals (SIGTERM/SIGINT: every station flushes its state and announces offline, exit
0; SIGHUP: reload config and models). Readings are handled on the one network thread
(netloop.py), which also runs every station's connection and timers.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time

from . import config as config_mod
from .logs import LastProblem
from .netloop import NetLoop
from .notify import Notifier
from .wiring import build_station

log = logging.getLogger("edgecast.daemon")
M_ARENA_MAX = -8  # glibc's mallopt parameter, malloc.h
STATS_QUIET_SECONDS = 2.0  # no reading for this long: changed stats go out without waiting for the interval


def one_malloc_arena() -> None:
    """glibc gives each further thread that allocates a malloc arena of its own, whose pages
    stay resident; the daemon's threads allocate little and seldom at once, and sharing the
    main arena keeps 0.45 MB less resident (BENCHMARKS.md, "Against the import floor").
    Call before any thread starts. MALLOC_ARENA_MAX in the environment wins; elsewhere than
    glibc (no mallopt, or musl's, which ignores it) nothing changes."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        pass


class Service:
    def __init__(self, cfg: config_mod.Config, config_path: str | None = None, link_for=None):
        """``link_for(station_cfg)``: a stand-in MQTT link per station (tests); default real ones."""
        self.cfg = cfg
        self.config_path = config_path
        self.last_problem = LastProblem()
        logging.getLogger("edgecast").addHandler(self.last_problem)
        self.notifier = Notifier()
        station_configs = cfg.station_configs()
        several = len(station_configs) > 1
        self.netloop = NetLoop()  # one thread for every station's connection and timers, not one each
        self.stations = [build_station(sc, self.last_problem, several, link_for(sc) if link_for else None,
                                       self.netloop) for sc in station_configs]
        self._stop = threading.Event()
        self._wake = threading.Event()
        for station in self.stations:  # an acknowledged forecast: save the outbox soon
            station.on_ack_saved_later = self._wake.set
        self._reload = False

    def status_text(self) -> str:
        if len(self.stations) == 1:
            return self.stations[0].status_text()
        return " | ".join(f"{s.id}: {s.status_text()}" for s in self.stations)

    # --- process --------------------------------------------------------------------------
    def _signal(self, signum, frame) -> None:
        if signum == signal.SIGHUP:
            self._reload = True
        else:
            self._stop.set()
        self._wake.set()

    def reload(self) -> None:
        """SIGHUP: new config values that apply live, and new models where they load."""
        self.notifier.reloading()
        try:
            new = config_mod.load(self.config_path)
            new_configs = {sc.station.id: sc for sc in new.station_configs()}
        except config_mod.ConfigError as exc:
            log.error("reload: keeping the running configuration: %s", exc)
            self.notifier.ready(self.status_text())
            return
        except Exception as exc:  # whatever a new file does to the reader, the daemon serves on
            log.error("reload: keeping the running configuration: %s cannot be read (%s: %s)", self.config_path,
                      type(exc).__name__, str(exc)[:200])
            self.notifier.ready(self.status_text())
            return
        running = {s.id: s for s in self.stations}
        if len(running) == len(new_configs) == 1 and not self.cfg.stations and not new.stations:
            # The one [station] renamed: still the same station, which takes all the new live
            # settings (its model and carry-forward limit too), the id itself at the next restart.
            new_configs = {self.stations[0].id: next(iter(new_configs.values()))}
        if list(new_configs) != list(running):
            log.warning("reload: the list of stations changed (%s -> %s); it takes effect at the next restart",
                        ", ".join(running), ", ".join(new_configs))
        for sid, sc in new_configs.items():
            station = running.get(sid)
            if station is not None:
                station.apply(sc)
        config_mod.apply_live(self.cfg, new)  # the process's own [log] and [stats]
        logging.getLogger("edgecast").setLevel(new.log.level.upper())
        log.info("reloaded %s", self.config_path or "defaults")
        self.notifier.ready(self.status_text())

    def start(self) -> None:
        """Each station restores its state file and connects."""
        for station in self.stations:
            station.start()

    def _thread_died(self, args) -> None:
        """threading.excepthook: what ended a thread, for the one line in _network_dead."""
        self._deaths[args.thread] = f"{args.exc_type.__name__}: {str(args.exc_value)[:200]}"
        log.debug("thread %s ended", args.thread.name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        self._wake.set()

    def _network_dead(self) -> bool:
        """A station whose paho thread has ended cannot serve (no readings, no forecasts,
        no status): say so in one line and end the process (exit 1), so that systemd
        restarts it, rather than go on looking alive."""
        dead = [s for s in self.stations if not s.link.alive]
        for s in dead:
            why = self._deaths.get(getattr(s.link, "thread", None), "no exception reported")
            log.error("station %s: its MQTT network thread ended (%s); exiting with status 1 so that systemd "
                      "restarts edgecast", s.id, why)
        return bool(dead)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signal)
        self._deaths: dict = {}
        threading.excepthook = self._thread_died
        self.start()
        self.notifier.ready(self.status_text())
        for station in self.stations:
            station.log.info("serving station %r: readings on %s, forecasts on %s", station.id,
                             ", ".join(station.adapter.topics()), station.link.topics["forecast"])
        next_ping = time.monotonic()
        last_stats = 0.0
        while not self._stop.is_set():
            if self._network_dead():
                self.shutdown()
                return 1
            now = time.monotonic()
            if self.notifier.watchdog_interval and now >= next_ping:
                self._ping_watchdog()
                next_ping = now + self.notifier.watchdog_interval
            if self._reload:
                self._reload = False
                self.reload()
            if self._publish_stats(now, now - last_stats >= self.cfg.stats.interval_seconds):
                last_stats = now
            for station in self.stations:  # a sensor that stopped (stale_after_minutes)
                station.check_silence(now)
            self._wake.wait(self._save_acks())
            self._wake.clear()
        return self.shutdown()

    def _ping_watchdog(self) -> None:
        # Ping only while every paho thread lives: if one died, systemd should restart us.
        if all(s.link.alive for s in self.stations):
            self.notifier.watchdog()

    def _publish_stats(self, now: float, interval_over: bool) -> bool:
        """The stats of every station with news and a connection; whether any went out.

        Changed counters go out at most every interval while readings stream, and as soon
        as they pause (a replay waits for the final count; a 300 s interval made it give up)."""
        due = [s for s in self.stations if s.stats_dirty and s.link.connected
               and (interval_over or now - s.last_message >= STATS_QUIET_SECONDS)]
        for station in due:
            station.publish_stats()
        if due:
            self.notifier.status(self.status_text())
        return bool(due)

    def _save_acks(self) -> float:
        """Write the state files that owe acknowledged forecasts; how long the loop may sleep."""
        timeout = min(1.0, self.notifier.watchdog_interval or 1.0)
        for station in self.stations:
            due = station.save_acks(time.monotonic())
            if due is not None:
                timeout = min(timeout, due)
        return timeout

    def shutdown(self) -> int:
        threading.excepthook = threading.__excepthook__
        self.notifier.stopping()
        for station in self.stations:
            station.stop()
        self.netloop.stop()
        self.notifier.close()
        logging.getLogger("edgecast").removeHandler(self.last_problem)
        return 0


def run(config_path: str | None) -> int:
    cfg = config_mod.load(config_path)
    logging.getLogger("edgecast").setLevel(cfg.log.level.upper())
    return Service(cfg, config_path).run()

