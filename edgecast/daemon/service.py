"""The daemon process: readings in, one forecast per completed hour out.

    payload ─▶ readings.parse ─▶ physics.fill_missing ─▶ ordering.EventClock
            ─▶ hourly.HourlyBuffer ─(hour complete)─▶ forecast.decide ─▶ MQTT
                                    └▶ state.save (every completed hour)

Readings are handled on paho's network thread under one lock; the main thread only
sleeps, pings the systemd watchdog, republishes changed counters and acts on signals
(SIGTERM/SIGINT: flush state, announce offline, exit 0; SIGHUP: reload config and model).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import fields
from datetime import datetime, timezone

import numpy as np

from . import config as config_mod
from . import physics, state
from .broker_watch import BrokerWatch
from .forecast import decide, iso
from .hourly import HourlyBuffer
from . import adapters
from .adapters import Ignored
from .homeassistant import Discovery
from .mqtt_link import MqttLink
from .notify import Notifier
from .outbox import Outbox
from .ordering import EventClock
from .readings import Reading, Rejection

log = logging.getLogger("edgecast.daemon")


class RateLimitedLog:
    """Log each reason the first time, then at most once per ``every`` seconds.

    A sensor with a broken channel sends the same fault every few seconds; the counters
    in the stats topic carry the numbers, the log only needs to say that it happens.
    """

    def __init__(self, every: float):
        self.every = every
        self._last: dict[str, float] = {}
        self._since: Counter = Counter()

    def event(self, what: str, reason: str, detail: str) -> None:
        key = f"{what}: {reason}"
        self._since[key] += 1
        now = time.monotonic()
        last = self._last.get(key)
        if last is None or now - last >= self.every:
            extra = f" ({self._since[key]} since the last report)" if last is not None else \
                f" (counted in stats; logged again at most every {self.every:g}s)"
            log.warning("%s: %s%s", key, detail, extra)
            self._last[key] = now
            self._since[key] = 0


class LastProblem(logging.Handler):
    """Keeps the newest warning or error the daemon logged, for the stats topic: a dashboard
    shows what went wrong last without anyone reading the journal."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.last: dict | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = {"at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="seconds"),
                     "level": record.levelname.lower(), "message": record.getMessage()[:500]}


def _rss_bytes() -> int | None:
    try:  # /proc/self/statm: sizes in pages; the second field is the resident set
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def load_model(cfg: config_mod.Config):
    """(forecaster or None, reason it is None)."""
    try:
        from ..forecaster import load_forecaster
        forecaster = load_forecaster(cfg.model.path or None, cfg.model.runtime)
    except Exception as exc:  # BundleError and anything a broken file can raise
        return None, str(exc) or type(exc).__name__
    log.info("model loaded: %s", forecaster.identity)
    return forecaster, None


class Service:
    def __init__(self, cfg: config_mod.Config, config_path: str | None = None):
        self.cfg = cfg
        self.config_path = config_path
        self.started = time.monotonic()
        self.last_problem = LastProblem()
        logging.getLogger("edgecast").addHandler(self.last_problem)
        self.lock = threading.RLock()
        self.notifier = Notifier()
        self.limiter = RateLimitedLog(cfg.log.repeat_seconds)
        self.counters = {"accepted": 0, "rejected": Counter(), "ignored": Counter(), "values_dropped": Counter(),
                         "derived_readings": 0, "time_jumps": 0, "late": 0, "hours_completed": 0,
                         "forecasts": Counter(), "state_write_failures": 0}
        self.state_error: str | None = None  # why the last state write failed, None when it worked
        self.state_saved_hour = None
        self.last_forecast: dict | None = None
        self.outbox = Outbox()  # forecasts not yet acknowledged by the broker (saved with the buffer)
        self.buffer = HourlyBuffer(cfg.gaps.carry_forward_hours)
        self.clock = EventClock(cfg.readings.max_future_minutes * 60, cfg.readings.confirm_jump_readings)
        self.state_file = state.state_path(cfg.state_dir, cfg.station.id)
        if state.load(self.state_file, self._restore):
            log.info("resumed %d buffered hours from %s (next hour %s)", len(self.buffer.hours),
                     self.state_file, self._hour_text(self.buffer.next_hour))
        self.forecaster, self.model_error = load_model(cfg)
        if self.forecaster is None:
            log.warning("no model, serving the naive forecast: %s", self.model_error)
        self.adapter = adapters.make(cfg)  # [input] format: the firmware's payloads -> readings
        subscriptions = self.adapter.topics()
        ha_status = f"{cfg.homeassistant.prefix}/status"
        if cfg.homeassistant.discovery:
            subscriptions.append(ha_status)
        self.link = MqttLink(cfg, self.on_message, self.on_connect, subscriptions)
        self.broker_watch = BrokerWatch(self.link.client, self.limiter)
        self.broker_watch.on_ack = self.outbox.acked
        self.discovery = Discovery(cfg, self.link) if cfg.homeassistant.discovery else None
        self._stop = threading.Event()
        self._reload = False
        self._stats_dirty = True

    # --- state ----------------------------------------------------------------------------
    @staticmethod
    def _hour_text(hour) -> str:
        return iso(np.datetime64(int(hour), "s")) if hour is not None else "unknown"

    def _restore(self, data: dict) -> None:
        if data.get("station") != self.cfg.station.id:
            raise ValueError(f"state of station {data.get('station')!r}, this is {self.cfg.station.id!r}")
        self.buffer.load_dict(data["buffer"])
        newest = data["newest"]
        if newest is not None and not isinstance(newest, (int, float)):
            raise TypeError("newest is not a number")
        self.clock.newest = newest
        self.outbox.load_list(data.get("outbox", []))  # absent in files written before the outbox

    def save_state(self) -> bool:
        """Write the buffer; on a disk fault keep serving from memory and report it.

        A read-only or full state directory must not stop the forecasts: the error is
        logged (rate-limited), counted, shown in stats (``state.error``) and in the
        systemd STATUS line, and cleared by the next write that succeeds.
        """
        with self.lock:
            try:
                state.save(self.state_file, {"station": self.cfg.station.id, "newest": self.clock.newest,
                                             "buffer": self.buffer.to_dict(), "outbox": self.outbox.to_list()})
            except OSError as exc:
                self.state_error = f"cannot write {self.state_file}: {exc.strerror or exc}"
                self.counters["state_write_failures"] += 1
                self._stats_dirty = True
                self.limiter.event("state not saved", type(exc).__name__,
                                   f"{self.state_error}; serving from memory (a restart would lose "
                                   "the hours since the last successful write)")
                return False
            if self.state_error:
                log.warning("state written again to %s after %d failed write(s)", self.state_file,
                            self.counters["state_write_failures"])
                self.state_error = None
                self._stats_dirty = True
            self.state_saved_hour = self.buffer.hours[-1] if len(self.buffer.hours) else None
            return True

    # --- readings -------------------------------------------------------------------------
    def on_message(self, payload: bytes, topic: str, retained: bool) -> None:
        """Every subscribed message: Home Assistant's status, or a reading for the adapter."""
        if self.discovery is not None and topic == self.discovery.status_topic:
            self.discovery.on_status(payload)
            return
        self.on_payload(payload, topic, retained)

    def on_payload(self, payload: bytes, topic: str | None = None, retained: bool = False) -> None:
        with self.lock:
            self._stats_dirty = True
            # Adapters stamp readings without a timestamp (ESPHome) with the receive time.
            result = self.adapter.convert(topic or self.adapter.topic, payload, time.time(), retained)
            if result is None:  # held (an ESPHome value waiting for the next reading)
                return
            if isinstance(result, Ignored):
                self.counters["ignored"][result.reason] += 1
                log.debug("message on %s ignored: %s (%s)", topic, result.reason, result.detail)
                return
            if isinstance(result, Rejection):
                self._reject(result.reason, result.detail)
                return
            for reason, n in result.dropped.items():
                self.counters["values_dropped"][reason] += n
                self.limiter.event("value dropped", reason, f"{n} value(s) in the reading at "
                                   f"{self._time_text(result.time)}")
            admitted, reason = self.clock.admit(result)
            if reason == "out_of_order" and self.buffer.in_open_hour(result.time):
                self._derive(result)
                self.buffer.merge_late(result)
                self.counters["accepted"] += 1
                self.counters["late"] += 1
                log.debug("reading %s accepted (late, merged into the open hour)", self._time_text(result))
                return
            if reason:
                self._reject(reason, f"reading at {self._time_text(result)}, newest accepted "
                                     f"{self._time_text(self.clock.newest)}")
                return
            if len(admitted) > 1:
                self.counters["time_jumps"] += 1
                # The held readings were counted as far_future; confirmed, they are accepted.
                self.counters["rejected"]["far_future"] -= len(admitted) - 1
                if not self.counters["rejected"]["far_future"]:
                    del self.counters["rejected"]["far_future"]
                log.warning("event time jumped to %s, confirmed by %d readings", self._time_text(admitted[0]),
                            len(admitted))
            for reading in admitted:
                log.debug("reading %s accepted", self._time_text(reading))
                self._derive(reading)
                self.counters["accepted"] += 1
                if self.buffer.add(reading, on_hour=self._forecast):
                    self.save_state()

    def _derive(self, reading: Reading) -> None:
        if self.cfg.readings.derive_missing and physics.fill_missing(reading.values):
            self.counters["derived_readings"] += 1

    @staticmethod
    def _time_text(t) -> str:
        t = t.time if isinstance(t, Reading) else t
        return "none" if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat()

    def _reject(self, reason: str, detail: str) -> None:
        self.counters["rejected"][reason] += 1
        log.debug("reading rejected (%s): %s", reason, detail)  # every one; the warning is rate-limited
        self.limiter.event("reading rejected", reason, detail)

    def _forecast(self, hour: int) -> None:
        """One forecast for each completed hour (called by the buffer as it completes)."""
        self.counters["hours_completed"] += 1
        payload = decide(self.buffer.window(), self.forecaster, self.model_error, self.cfg.station.id,
                         self.cfg.gaps.min_observed_fraction)
        if payload is None:
            self.counters["forecasts"]["skipped_no_temperature"] += 1
            self.limiter.event("no forecast", "no_temperature",
                               f"no recent temperature for {self._hour_text(hour)}")
            return
        self.counters["forecasts"][payload["source"]] += 1
        self.last_forecast = payload
        info = self.link.publish("forecast", payload, retain=True)
        # Owed until the broker's PUBACK; the caller's state write (after this hour) saves it.
        self.outbox.add(payload, getattr(info, "mid", None))
        self.link.publish("stats", self.stats(), retain=True)
        self._stats_dirty = False
        log.debug("forecast %s", payload)

    # --- stats and status -----------------------------------------------------------------
    def stats(self) -> dict:
        c = self.counters
        return {
            "station": self.cfg.station.id,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "rss_bytes": _rss_bytes(),
            "last_problem": self.last_problem.last,
            "readings": {"accepted": c["accepted"], "rejected": dict(c["rejected"]),
                         "ignored": dict(c["ignored"]),
                         "values_dropped": dict(c["values_dropped"]), "derived": c["derived_readings"],
                         "late": c["late"], "time_jumps": c["time_jumps"]},
            "hours_completed": c["hours_completed"],
            "hours_buffered": int(len(self.buffer.hours)),
            "forecasts": dict(c["forecasts"]),
            "last_issued_at": self.last_forecast["issued_at"] if self.last_forecast else None,
            "model": self.forecaster.identity if self.forecaster else None,
            "model_error": self.model_error,
            "connects": self.link.connects,
            "broker": self.broker_watch.stats(),
            "input": self.cfg.input.format,
            "discovery_published": self.discovery.published if self.discovery else None,
            "outbox": {"pending": len(self.outbox), "republished": self.outbox.republished,
                       "dropped": self.outbox.dropped},
            "state": {"error": self.state_error, "write_failures": c["state_write_failures"],
                      "saved_hour": self._hour_text(self.state_saved_hour)
                      if self.state_saved_hour is not None else None},
        }

    def status_text(self) -> str:
        c = self.counters
        last = self.last_forecast
        text = (f"{len(self.buffer.hours)} h buffered; {c['accepted']} readings accepted, "
                f"{sum(c['rejected'].values())} rejected")
        if last:
            text += f"; {last['issued_at']} {last['source']} {last['temperature_c']:.1f} °C"
        if self.state_error:
            text += f"; STATE NOT SAVED: {self.state_error}"
        return text

    def on_connect(self) -> None:
        with self.lock:
            # Forecasts a previous process published but never saw acknowledged: again, as
            # they were (same payload), before anything new. paho resends its own in-flight
            # ones after a reconnect, so this only concerns what the state file brought.
            for payload in self.outbox.unpublished():
                info = self.link.publish("forecast", payload, retain=True)
                self.outbox.set_mid(payload, getattr(info, "mid", None))
                self.outbox.republished += 1
                log.info("republished the unacknowledged forecast for %s", payload["issued_at"])
        if self.discovery is not None:  # on every connect: the broker may have lost retained configs
            self.discovery.publish()
        with self.lock:
            self.link.publish("stats", self.stats(), retain=True)

    # --- process --------------------------------------------------------------------------
    def _signal(self, signum, frame) -> None:
        if signum == signal.SIGHUP:
            self._reload = True
        else:
            self._stop.set()
        self._wake.set()

    def reload(self) -> None:
        """SIGHUP: new config values that apply live, and a new model if it loads."""
        self.notifier.reloading()
        try:
            new = config_mod.load(self.config_path)
        except config_mod.ConfigError as exc:
            log.error("reload: keeping the running configuration: %s", exc)
            self.notifier.ready(self.status_text())
            return
        for section in ("mqtt", "station", "topics", "state", "input", "homeassistant"):
            if getattr(new, section) != getattr(self.cfg, section):
                log.warning("reload: [%s] changed; it takes effect at the next restart", section)
        forecaster, error = load_model(new)
        with self.lock:
            for section in ("model", "readings", "gaps", "log", "stats"):
                setattr(self.cfg, section, getattr(new, section))
            self.buffer.carry = new.gaps.carry_forward_hours * 3600
            self.clock.max_future = new.readings.max_future_minutes * 60
            self.clock.confirm = new.readings.confirm_jump_readings
            self.limiter.every = new.log.repeat_seconds
            logging.getLogger("edgecast").setLevel(new.log.level.upper())
            if forecaster is not None:
                self.forecaster, self.model_error = forecaster, None
            elif self.forecaster is not None:
                log.error("reload: the new model cannot serve (%s); keeping the running model", error)
            else:
                self.model_error = error
                log.warning("reload: still no model: %s", error)
            self._stats_dirty = True
        log.info("reloaded %s", self.config_path or "defaults")
        self.notifier.ready(self.status_text())

    def run(self) -> int:
        self._wake = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signal)
        self.link.start()
        self.notifier.ready(self.status_text())
        log.info("serving station %r: readings on %s, forecasts on %s", self.cfg.station.id,
                 self.link.topics["readings"], self.link.topics["forecast"])
        next_ping = time.monotonic()
        last_stats = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if self.notifier.watchdog_interval and now >= next_ping:
                # Ping only while paho's thread lives: if it died, systemd should restart us.
                if self.link.alive:
                    self.notifier.watchdog()
                next_ping = now + self.notifier.watchdog_interval
            if self._reload:
                self._reload = False
                self.reload()
            if self._stats_dirty and now - last_stats >= self.cfg.stats.interval_seconds and self.link.connected:
                with self.lock:
                    self.link.publish("stats", self.stats(), retain=True)
                    self._stats_dirty = False
                self.notifier.status(self.status_text())
                last_stats = now
            timeout = min(1.0, self.notifier.watchdog_interval or 1.0)
            self._wake.wait(timeout)
            self._wake.clear()
        return self.shutdown()

    def shutdown(self) -> int:
        log.info("stopping: flushing state to %s", self.state_file)
        self.notifier.stopping()
        if self.discovery is not None:
            self.discovery.cancel()
        with self.lock:
            if self.link.connected:
                self.link.publish("stats", self.stats(), retain=True)
        # Disconnect first (waiting for "offline", hence for the forecasts queued before it,
        # to be acknowledged), then save: once paho's thread has stopped no reading can be
        # acknowledged to the broker without being in the saved state.
        self.link.stop()
        with self.lock:
            self.save_state()
        self.notifier.close()
        logging.getLogger("edgecast").removeHandler(self.last_problem)
        return 0


def run(config_path: str | None) -> int:
    cfg = config_mod.load(config_path)
    logging.getLogger("edgecast").setLevel(cfg.log.level.upper())
    return Service(cfg, config_path).run()


def default_config_text() -> str:
    """The defaults as a TOML file (`edgecast run --print-config`)."""
    cfg = config_mod.Config()
    lines = []
    for section in fields(cfg):
        lines.append(f"[{section.name}]")
        for f in fields(getattr(cfg, section.name)):
            value = getattr(getattr(cfg, section.name), f.name)
            if isinstance(value, dict):
                text = "{" + ", ".join(f'{k} = "{v}"' for k, v in value.items()) + "}"
            elif isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, (int, float)):
                text = repr(value)
            else:
                text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{f.name} = {text}")
        lines.append("")
    return "\n".join(lines)

