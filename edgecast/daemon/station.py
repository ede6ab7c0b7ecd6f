"""One station's pipeline: its readings in, one forecast per completed hour out.

    payload ─▶ adapter ─▶ physics.fill_missing ─▶ ordering.EventClock
            ─▶ hourly.HourlyBuffer ─(hour complete)─▶ forecast.decide ─▶ MQTT
                                    └▶ state.save (every completed hour)

A station owns everything that is per sensor: its MQTT connection (so its last will
marks exactly it offline, and the broker queues its readings in its own persistent
session), buffer, state file, outbox, model interpreter (TFLite interpreters are not
thread-safe, and each station's readings arrive on its own paho thread), counters,
topics and Home Assistant device. Readings are handled on paho's network thread under
the station's lock. The process around the stations is service.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter

import numpy as np

from .. import physics
from ..readings import Reading, checked_time
from ..schema import TARGET_INDEX
from . import config as config_mod
from . import state
from .admission import Admission
from .broker_watch import BrokerWatch
from .calibration import Calibration
from .correction import Correction
from .forecast import decide, iso
from .frost_alert import FrostAlert
from .homeassistant import Discovery
from .hourly import OBSERVED, HourlyBuffer
from .logs import LastProblem, RateLimitedLog, StationLog
from .ordering import ACCEPTED, HELD, IGNORED, LATE, REJECTED, EventClock, Verdict, time_text
from .outbox import Outbox
from .silence import Silence, duration
from .skill import Skill

# Acknowledgements reach the state file at most this often: in live operation (one
# forecast an hour) at once; during a fast catch-up a few extra writes a second.
ACK_SAVE_SECONDS = 0.2


def rss_bytes() -> int | None:
    try:  # /proc/self/statm: sizes in pages; the second field is the resident set
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def apart(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with the fewest decimals (1 to 3) that tell them apart: a frost
    line must not say "1.0 °C expected … warns below 1.0 °C" of 0.973 against 1.0."""
    for decimals in (1, 2):
        texts = f"{a:.{decimals}f}", f"{b:.{decimals}f}"
        if texts[0] != texts[1]:
            return texts
    return f"{a:.3f}", f"{b:.3f}"


def load_model(cfg: config_mod.Config, log: logging.Logger | None = None):
    """(forecaster or None, reason it is None)."""
    log = log or logging.getLogger("edgecast.daemon")
    try:
        from ..forecaster import load_forecaster
        forecaster = load_forecaster(cfg.model.path or None, cfg.model.runtime)
    except Exception as exc:  # BundleError and anything a broken file can raise
        return None, str(exc) or type(exc).__name__
    log.info("model loaded: %s", forecaster.describe())
    return forecaster, None


class Station:
    def __init__(self, cfg: config_mod.Config, *, link, adapter, buffer: HourlyBuffer, clock: EventClock,
                 outbox: Outbox, model: tuple, log: StationLog, limiter: RateLimitedLog,
                 broker_watch: BrokerWatch, discovery: Discovery | None = None,
                 last_problem: LastProblem | None = None):
        """``cfg``: this station's complete configuration (Config.station_configs()); the
        rest are its collaborators (wiring.build_station makes the real ones): ``link``
        publishes and reports to this station (mqtt_link.MqttLink or a stand-in),
        ``model``: (forecaster or None, why it is None). Nothing is read or written
        here: ``start()`` restores the state file and starts the link."""
        self.cfg = cfg
        self.id = cfg.station.id
        self.log = log
        # Where the box stands ([station] latitude/longitude; a restart key): Jena's roof when unset.
        self.location, self.location_assumed = cfg.station.location, cfg.station.location_assumed
        self.last_problem = last_problem or LastProblem()
        self.started = time.monotonic()
        self.lock = threading.RLock()
        self.limiter = limiter
        self.counters = {"accepted": 0, "rejected": Counter(), "ignored": Counter(), "values_dropped": Counter(),
                         "derived_readings": 0, "time_jumps": 0, "late": 0, "hours_completed": 0,
                         "forecasts": Counter(), "state_write_failures": 0}
        self.state_error: str | None = None  # why the last state write failed, None when it worked
        self.state_saved_hour = None
        self.last_forecast: dict | None = None
        self.outbox = outbox  # forecasts not yet acknowledged by the broker (saved with the buffer)
        self.outbox.on_drop = self._outbox_dropped
        self.buffer = buffer
        self.clock = clock
        self.admission = Admission(clock, buffer.in_open_hour)
        self._on_verdict = {ACCEPTED: self._accept, LATE: self._merge_late, HELD: self._hold, IGNORED: self._ignore,
                            REJECTED: self._rejected}
        self.skill = Skill()  # its forecasts scored against the readings (kept in the state file)
        self.alert = FrostAlert()  # the frost warning's state (kept in the state file)
        self.correction = Correction()  # the on-box correction of the model (kept in the state file)
        self.calibration = Calibration()  # the band's offsets, calibrated on this box (kept in the state file)
        self.silence = Silence.from_config(cfg)  # how long the sensor has not been heard
        self.state_file = state.state_path(cfg.state_dir, self.id)
        self.forecaster, self.model_error = model
        self.adapter = adapter  # [input] format: the firmware's payloads -> readings
        self.link = link
        self.broker_watch = broker_watch
        self.discovery = discovery
        self.on_ack_saved_later = None  # service: wakes its main thread, which saves (save_acks)
        self._last_ack_save = 0.0
        self.stats_dirty = True
        self.last_message = 0.0  # monotonic time of the last reading (service: stats once they pause)
        link.attach(self)

    def start(self) -> None:
        """Restore the state file, say what is missing, then connect (the link's thread)."""
        if self.location_assumed:
            self.log.warning("no [station] latitude/longitude: assuming Jena's (%s); set them so the sun "
                             "features match your roof", self.location.describe())
        old = state.adopt_old_name(self.cfg.state_dir, self.id)
        if old is not None:
            self.log.info("state file %s renamed to %s (the station's key)", old, self.state_file)
        if state.load(self.state_file, self._restore):
            self.log.info("resumed %d buffered hours from %s (next hour %s)", len(self.buffer.hours),
                          self.state_file, self._hour_text(self.buffer.next_hour))
        if self.forecaster is None:
            self.log.warning("no model, serving the naive forecast: %s", self.model_error)
        self._seed_plausibility()
        self._model_changed()
        self.check_silence(time.monotonic())  # hours-old data must not be re-asserted on connect
        self.link.start()

    def _seed_plausibility(self) -> None:
        """After a restart the plausibility rule compares the first readings with the last
        buffered hour (a glitch must not become the reference because it came first)."""
        if len(self.buffer.hours):
            row = self.buffer.values[-1]
            self.admission.plausibility.seed(float(self.buffer.hours[-1]),
                                             {i: float(v) for i, v in enumerate(row) if np.isfinite(v)})

    def _outbox_dropped(self, n: int, issued: str) -> None:
        self.limiter.event("outbox full", "dropped_oldest", f"{self.outbox.limit} forecasts await the broker's "
                           f"PUBACK; dropped {n} older one(s), the newest issued at {issued} (normal while a "
                           "backlog streams in)")

    # --- state ----------------------------------------------------------------------------
    @staticmethod
    def _hour_text(hour) -> str:
        return iso(np.datetime64(int(hour), "s")) if hour is not None else "unknown"

    def _restore(self, data: dict) -> list[str]:
        """The state file's sections; the problems of those that start afresh (state.load)."""
        if data.get("station") != self.cfg.station.id:
            raise ValueError(f"state of station {data.get('station')!r}, this is {self.cfg.station.id!r}")
        newest = data["newest"]
        if newest is not None and checked_time(newest) is None:
            raise ValueError(f"newest is not a usable event time ({str(newest)[:40]})")
        self.buffer.load_dict(data["buffer"])  # last: a file set aside leaves nothing of it behind
        self.clock.newest = newest
        # The other sections are worth less than the window, which is kept without them
        # (absent in older files: they start afresh without a word).
        problems: list[str] = []
        skill, alert, correction = Skill(), FrostAlert(), Correction()
        if self._restore_part(data, "skill", skill.load_dict, "skill scores", "scoring starts afresh", problems):
            self.skill = skill
        if self._restore_part(data, "alert", alert.load_dict, "frost-alert state", "the alert starts off", problems):
            self.alert = alert
        if self._restore_part(data, "correction", correction.load_dict, "on-box correction",
                              "the correction starts afresh", problems):
            self.correction = correction
        calibration = Calibration()
        if self._restore_part(data, "band", calibration.load_dict, "band calibration", "the band starts from its prior",
                              problems):
            self.calibration = calibration
        self._restore_part(data, "outbox", self.outbox.load_list, "unacknowledged forecasts",
                           "they are not sent again", problems)
        self.silence.restore(data.get("heard_at"), time.monotonic(), time.time())
        return problems

    @staticmethod
    def _restore_part(data: dict, key: str, load, what: str, consequence: str, problems: list[str]) -> bool:
        """``load(section)`` (which changes nothing when it raises); False, with the problem
        noted, when the section is unusable."""
        if key not in data:
            return False
        try:
            if not isinstance(data[key], list if key == "outbox" else dict):
                raise TypeError(f"{key} is a {type(data[key]).__name__}")
            load(data[key])
        except state.UNFIT as exc:
            problems.append(f"unusable {what} ({str(exc)[:200]}): {consequence}")
            return False
        return True

    def on_ack(self, mid: int) -> None:
        """The broker acknowledged publish ``mid`` (the link, on paho's thread)."""
        # Inside paho's locks: never write here (save_state takes the station lock, which
        # a thread calling paho may hold); the service's main thread writes.
        if self.outbox.acked(mid):
            self.stats_dirty = True  # outbox.pending changed: stats must not keep the old count
            if self.on_ack_saved_later is not None:
                self.on_ack_saved_later()

    def save_acks(self, now: float) -> float | None:
        """Main thread: rewrite the state file when forecasts were acknowledged since the
        last write, at most every ACK_SAVE_SECONDS. Returns the seconds until one is due
        (None: nothing owed). After a failed write only the hourly writes retry."""
        if not self.outbox.unsaved_acks or self.state_error:
            return None
        wait = self._last_ack_save + ACK_SAVE_SECONDS - now
        if wait > 0:
            return wait
        self._last_ack_save = now
        self.save_state()
        return None

    def save_state(self) -> bool:
        """Write the buffer; on a disk fault keep serving from memory and report it.

        A read-only or full state directory must not stop the forecasts: the error is
        logged (rate-limited), counted, shown in stats (``state.error``) and in the
        systemd STATUS line, and cleared by the next write that succeeds.
        """
        with self.lock:
            try:
                state.save(self.state_file, {"station": self.cfg.station.id, "newest": self.clock.newest,
                                             "buffer": self.buffer.to_dict(), "outbox": self.outbox.snapshot(),
                                             "skill": self.skill.to_dict(), "alert": self.alert.to_dict(),
                                             "correction": self.correction.to_dict(),
                                             "band": self.calibration.to_dict(),
                                             "heard_at": self.silence.heard_wall})
            except OSError as exc:
                self.state_error = f"cannot write {self.state_file}: {exc.strerror or exc}"
                self.counters["state_write_failures"] += 1
                self.stats_dirty = True
                self.limiter.event("state not saved", type(exc).__name__,
                                   f"{self.state_error}; serving from memory (a restart would lose "
                                   "the hours since the last successful write)")
                return False
            if self.state_error:
                self.log.warning("state written again to %s after %d failed write(s)", self.state_file,
                            self.counters["state_write_failures"])
                self.state_error = None
                self.stats_dirty = True
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
            self.stats_dirty = True
            self.last_message = time.monotonic()
            # Adapters stamp readings without a timestamp (ESPHome) with the receive time.
            self.silence.message()
            result = self.adapter.convert(topic or self.adapter.topic, payload, time.time(), retained)
            if isinstance(result, Reading):
                self._count_dropped(result)
            verdict = self.admission.admit(result)
            for given_up in verdict.given_up:
                self._reject(given_up.reason, given_up.detail)
            self._on_verdict[verdict.kind](verdict)

    def _count_dropped(self, reading: Reading) -> None:
        for reason, n in reading.dropped.items():
            self.counters["values_dropped"][reason] += n
            self.limiter.event("value dropped", reason, f"{n} value(s) in the reading at {time_text(reading.time)}")

    def _accept(self, verdict: Verdict) -> None:
        first, n = verdict.readings[0], len(verdict.readings)
        if verdict.confirmed == "far_future":
            self.counters["time_jumps"] += 1
            self.log.warning("event time jumped to %s, confirmed by %d readings", time_text(first.time), n)
        elif verdict.confirmed == "gap":
            self.log.info("readings resume at %s after a gap, confirmed by %d readings", time_text(first.time), n)
        elif verdict.confirmed:
            self.log.info("event time starts at %s, confirmed by %d readings", time_text(first.time), n)
        self._heard()
        for reading in verdict.readings:
            self.log.debug("reading %s accepted", time_text(reading.time))
            self._derive(reading)
            self.counters["accepted"] += 1
            if self.buffer.add(reading, on_hour=self._forecast):
                self.save_state()

    def _merge_late(self, verdict: Verdict) -> None:
        reading = verdict.readings[0]
        self._heard()
        self._derive(reading)
        self.buffer.merge_late(reading)
        self.counters["accepted"] += 1
        self.counters["late"] += 1
        self.log.debug("reading %s accepted (late, merged into the open hour)", time_text(reading.time))

    # --- silence ------------------------------------------------------------------------
    def _heard(self) -> None:
        if self.silence.reading(time.monotonic(), time.time()):
            self.log.info("readings again after the silence: the station is current (status online)")
            self.link.publish("status", "online", retain=True)

    def check_silence(self, now: float) -> None:
        """The service's main thread, about every second: after ``stale_after_minutes``
        without an accepted reading the station says it is stale and withdraws the frost
        warning (a restart after such a silence does so before it connects)."""
        with self.lock:
            topics = ", ".join(self.adapter.topics())
            if self.silence.turns_input_silent(now):
                self.stats_dirty = True
                self.log.warning("no message at all on %s in %s since connecting: the broker may grant the "
                                 "subscription but not let this client read it (ACL: `topic read` for this user), "
                                 "or nothing publishes there", topics, duration(now - self.silence.connected_at))
            if not self.silence.turns_stale(now):
                return
            self.stats_dirty = True
            silent = duration(self.silence.silent_for(now))
            self.log.warning("no reading accepted for %s (readings.stale_after_minutes): forecasts are stale, "
                             "status %r; %d message(s) on %s since connecting", silent, "stale",
                             self.silence.messages, topics)
            if self.alert.withdraw(f"no reading for {silent}"):
                self.log.info("frost warning withdrawn: it rests on readings %s old", silent)
            if self.link.connected:
                self.link.publish("status", "stale", retain=True)
                if self.alert.last is not None:
                    self.link.publish("alert", self.alert.last, retain=True)

    def _hold(self, verdict: Verdict) -> None:
        if verdict.reason:  # not an adapter's own hold (an ESPHome value waiting for the temperature)
            self.log.debug("reading held (%s) until %d readings agree on the time", verdict.reason,
                           self.clock.confirm)

    def _ignore(self, verdict: Verdict) -> None:
        self.counters["ignored"][verdict.reason] += 1
        self.log.debug("message ignored: %s (%s)", verdict.reason, verdict.detail)

    def _rejected(self, verdict: Verdict) -> None:
        self._reject(verdict.reason, verdict.detail)

    def _derive(self, reading: Reading) -> None:
        if self.cfg.readings.derive_missing and physics.fill_missing(reading.values):
            self.counters["derived_readings"] += 1

    def _reject(self, reason: str, detail: str) -> None:
        self.counters["rejected"][reason] += 1
        self.log.debug("reading rejected (%s): %s", reason, detail)  # every one; the warning is rate-limited
        if reason != "unconfirmed":  # a stray before the start is routine: counted, not warned about
            self.limiter.event("reading rejected", reason, detail)

    def _forecast(self, hour: int) -> None:
        """One forecast for each completed hour (called by the buffer as it completes)."""
        self.counters["hours_completed"] += 1
        # The forecast issued 24 h ago meets its hour; only an observed cell verifies it.
        observed = self.buffer.status[-1, TARGET_INDEX] == OBSERVED
        self._model_changed()  # cheap when it has not (tests and benchmarks swap models in place)
        correction = self.correction if self.cfg.model.correction and self.forecaster is not None else None
        self.skill.verify(hour, float(self.buffer.values[-1, TARGET_INDEX]) if observed else None, correction,
                          self.calibration)
        guard = self._skill_guard()
        decision = decide(self.buffer.window(), self.forecaster, self.model_error, self.cfg.station.id,
                          self.cfg.gaps.min_observed_fraction, guard, location=self.location, correction=correction,
                          alert=self.alert, rule=self.cfg.alerts.frost, calibration=self.calibration)
        if decision is None:
            self.counters["forecasts"]["skipped_no_temperature"] += 1
            self.limiter.event("no forecast", "no_temperature",
                               f"no recent temperature for {self._hour_text(hour)}")
            return
        payload = decision.payload
        self.counters["forecasts"][payload["source"]] += 1
        self._frost_alert(decision)
        self.skill.issued(hour, payload, decision.model, decision.curve, decision.corrected)
        self.last_forecast = payload
        info = self.link.publish("forecast", payload, retain=True)
        # Owed until the broker's PUBACK; the caller's state write (after this hour) saves it.
        self.outbox.add(payload, getattr(info, "mid", None))
        self.publish_stats()
        self.log.debug("forecast %s", payload)

    def _frost_alert(self, decision) -> None:
        """Publish the frost warning as this forecast moved it (before the forecast, which
        carries the same flag as ``frost_alert``)."""
        forecast, switched = decision.payload, decision.frost
        # info, not warning: a frost is news for the user, not a problem of the daemon (last_problem)
        if switched == "on":
            minimum, below = apart(forecast["min_c"], self.cfg.alerts.frost.warn_below_c)
            self.log.info("frost warning on: %s °C expected at %s (%s curve, warns below %s °C)",
                          minimum, forecast["min_at"], forecast["hourly_source"], below)
        elif switched == "off":
            self.log.info("frost warning off: the next 24 hours' minimum is %.1f °C", forecast["min_c"])
        self.link.publish("alert", self.alert.last, retain=True)

    def _skill_guard(self) -> str | None:
        """The guard's reason when it holds this hour (logged when it starts and ends)."""
        m = self.cfg.model
        was = self.skill.guarding
        if self.skill.guard(m.skill_guard, m.skill_guard_min_days, m.skill_guard_margin) != was:
            if was:
                f = self.skill.figures(30)
                self.log.info("skill guard released at %s: model MAE %.2f vs naive %.2f over the last 30 days; "
                              "the model serves again", self._hour_text(self.skill.now), f["model_mae"],
                              f["naive_mae"])
            else:
                self.log.warning("%s: serving naive from %s", self.skill.guard_text(),
                                 self._hour_text(self.skill.now))
        return self.skill.guard_text()

    # --- stats and status -----------------------------------------------------------------
    def stats(self) -> dict:
        c = self.counters
        return {
            "station": self.cfg.station.id,
            "location": {**self.location.as_dict(), "assumed": self.location_assumed},
            "uptime_s": round(time.monotonic() - self.started, 1),
            "rss_bytes": rss_bytes(),
            "last_problem": self.last_problem.last(self.cfg.station.id),
            "readings": {"accepted": c["accepted"], "rejected": dict(c["rejected"]),
                         "ignored": dict(c["ignored"]),
                         "values_dropped": dict(c["values_dropped"]), "derived": c["derived_readings"],
                         "late": c["late"], "held": self.clock.held, "time_jumps": c["time_jumps"]},
            "hours_completed": c["hours_completed"],
            "hours_buffered": int(len(self.buffer.hours)),
            "forecasts": dict(c["forecasts"]),
            "last_issued_at": self.last_forecast["issued_at"] if self.last_forecast else None,
            "model": self.forecaster.identity if self.forecaster else None,
            "model_error": self.model_error,
            "skill": self.skill.stats(),
            "correction": {"enabled": self.cfg.model.correction, **self.correction.stats()},
            "band": self.calibration.stats(),
            "frost_alert": {"on": self.alert.on, "since": self.alert.since},
            "silence": self.silence.stats(time.monotonic()),
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
        if self.silence.stale:
            text += f"; STALE: no reading for {duration(self.silence.silent_for(time.monotonic()))}"
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
                self.log.info("republished the unacknowledged forecast for %s", payload["issued_at"])
            if self.alert.last is not None:  # the broker may have lost its retained copy
                self.link.publish("alert", self.alert.last, retain=True)
            self.silence.connected(time.monotonic())
            if self.silence.stale:  # the link has just said "online"
                self.link.publish("status", "stale", retain=True)
        if self.discovery is not None:  # on every connect: the broker may have lost retained configs
            self.discovery.publish()
        self.publish_stats()

    # --- live configuration -----------------------------------------------------------
    def apply(self, new: config_mod.Config) -> None:
        """SIGHUP: this station's new values that apply live, and its new model if it loads."""
        forecaster, error = load_model(new, self.log)
        with self.lock:
            restart = config_mod.apply_live(self.cfg, new)
            if restart:
                self.log.warning("reload: %s changed; it takes effect at the next restart", ", ".join(restart))
            # apply_live replaced self.cfg's sections: whatever reads self.cfg (the adapter,
            # the forecast, the alert, the guard) follows by itself; the parts that keep a
            # setting in their own form (a limit in seconds) take it again from the Config.
            for part in (self.buffer, self.clock, self.silence, self.limiter):
                part.reconfigure(self.cfg)
            if forecaster is not None:
                self.forecaster, self.model_error = forecaster, None
                self._model_changed()
            elif self.forecaster is not None:
                self.log.error("reload: the new model cannot serve (%s); keeping the running model", error)
            else:
                self.model_error = error
                self.log.warning("reload: still no model: %s", error)
            self.stats_dirty = True

    def _model_changed(self) -> None:
        """The model serving now (at start, after a reload): the correction belongs to one
        bundle (sha256), its horizons and this place's longitude; another starts afresh."""
        if self.forecaster is None:
            return  # no model for now: what was learnt waits for it
        sha, horizons = self.forecaster.identity.get("sha256"), list(getattr(self.forecaster, "horizons", [24]))
        if self.skill.sha != sha:  # the scores (and the guard) belong to the model that made them
            if len(self.skill.records) or self.skill.pending:
                self.log.info("the model changed (sha256 %s, was %s): its on-box skill scores and the skill guard "
                              "start afresh", sha, self.skill.sha)
            fresh = Skill()
            fresh.sha, fresh.now, fresh.unverified = sha, self.skill.now, self.skill.unverified
            self.skill = fresh
        if self.calibration.sha != sha:  # the model's band offsets belong to the model that earned them
            self.calibration.restart_model(sha)
        if not self.correction.fits(sha, horizons, float(self.location.longitude)):
            if self.correction.sha is not None and self.correction.updates.any():
                self.log.info("the model changed (sha256 %s, was %s): the on-box correction starts afresh", sha,
                              self.correction.sha)
            self.correction = Correction(sha, horizons, float(self.location.longitude))
            self.skill.drop_curves()

    def reset_correction(self) -> None:
        """`edgecast run --reset-correction` (the daemon stopped): forget what was learnt."""
        self.correction = Correction()
        self.skill.drop_curves()
        self._model_changed()

    def publish_stats(self) -> None:
        with self.lock:
            self.link.publish("stats", self.stats(), retain=True)
            self.stats_dirty = False

    def stop(self) -> None:
        """Disconnect first (waiting for "offline", hence for the forecasts queued before it,
        to be acknowledged), then save: once paho's thread has stopped no reading can be
        acknowledged to the broker without being in the saved state."""
        self.log.info("stopping: flushing state to %s", self.state_file)
        if self.discovery is not None:
            self.discovery.cancel()
        if self.link.connected:
            self.publish_stats()
        self.link.stop()
        with self.lock:
            self.save_state()
