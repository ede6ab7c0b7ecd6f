"""Every setting declared live changes what the running daemon does after a SIGHUP.

The list of live settings comes from the registry (each ``setting(..., live=True)`` in
config.py and the adapters' sections), so a new live key without a probe here fails
test_every_live_setting_has_a_probe. test_sighup_changes_what_every_live_setting_governs
runs the probes against a real daemon process on a real mosquitto, fed real 2020 Jena rows
by a paho client: each probe reloads with its "before" values and feeds the daemon, then
reloads with its "after" values and feeds it again, and compares what the daemon
published (forecasts, frost alert, stats) or logged in the two phases. Each check is
chosen so that the "after" phase could not look as it does had the daemon kept the
"before" values. The data, the model and the order are fixed, so the outcome is too.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import paho.mqtt.client as mqtt

from edgecast.bundle import read_bundle
from edgecast.daemon import config, state
from edgecast.daemon.hourly import HourlyBuffer
from edgecast.daemon.settings import live_keys, toml_value
from edgecast.daemon.skill import Skill
from edgecast.forecaster import bundle_path
from edgecast.replay import reading_payload

from harness.processes import wait_until

START = "2020-03-01T00:00:00"  # 260 hours on without a gap, duplicate or -9999 row
WARM_UP_HOURS = 121  # a complete window: the model serves
TOPICS = {name: f"edgecast/jena/{name}" for name in ("forecast", "alert", "stats", "status")}
READINGS = "edgecast/jena/readings"
# The daemon between probes: the model serves (no guard), the stats interval of the harness.
BASE = {"stats.interval_seconds": 1, "model.skill_guard": False}
ACCEPTED_LINE = re.compile(r"reading \S+ accepted")
MALFORMED_LINE = "reading rejected: malformed_json"
DEFAULT_SHA = read_bundle(bundle_path(None)).identity["sha256"]  # the model the package ships (`[model] path = ""`)
GUARDING = {"model.skill_guard": True, "model.skill_guard_min_days": 1, "model.skill_guard_margin": 0.0}


@dataclass
class Phase:
    """What the daemon did between one reload (included) and the end of the readings after it."""
    forecasts: list
    alerts: list
    statuses: list
    stats_start: dict
    stats: dict
    log: str
    streaming_stats: int | None = None  # stats messages that went out while readings streamed

    @property
    def forecast(self) -> dict:
        return self.forecasts[-1]

    @property
    def alert(self) -> dict:
        return self.alerts[-1]

    def delta(self, *path) -> int:
        def get(stats):
            for key in path:
                stats = stats.get(key, {}) if isinstance(stats, dict) else 0
            return stats or 0
        return get(self.stats) - get(self.stats_start)


class Run:
    """The running daemon, its readings (the next rows of the 2020 file) and its reloads."""

    def __init__(self, daemon, broker, sub, series):
        self.daemon, self.sub, self.series = daemon, sub, series
        self.row = int(np.searchsorted(series.times, np.datetime64(START)))
        self.sent = 0
        self.reloads = 0
        self.streaming_stats = None
        self.m = 0.0  # the latest forecast's 24-hour minimum when a probe starts (frost probes)
        self.base_text = daemon.config.read_text().replace("[stats]\ninterval_seconds = 1\n", "")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-live-sensor")
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def configure(self, values: dict) -> None:
        tables: dict[str, list[str]] = {}
        for key, value in {**BASE, **values}.items():
            section, name = key.rsplit(".", 1)
            tables.setdefault(section, []).append(f"{name} = {toml_value(value)}")
        self.daemon.config.write_text(self.base_text + "".join(f"[{section}]\n" + "\n".join(lines) + "\n"
                                                               for section, lines in tables.items()))

    def reload(self, values: dict) -> None:
        self.configure(values)
        self.reloads += 1
        self.daemon.send(signal.SIGHUP)
        wait_until(lambda: self.daemon.log().count("reloaded ") >= self.reloads, 30, what="reload")
        assert "keeping the running configuration" not in self.daemon.log(), self.daemon.log()[-2000:]

    def send(self, payload: bytes) -> None:
        self.client.publish(READINGS, payload, qos=1).wait_for_publish(10)
        self.sent += 1

    def rows(self, n: int, special: dict[int, Callable] | None = None, pause: float = 0.0) -> None:
        """The next ``n`` rows; ``special[k](time, values)``: the payload of the k-th instead."""
        for k in range(n):
            t, values = self.series.times[self.row], self.series.values[self.row]
            self.send((special or {}).get(k, reading_payload)(t, values))
            self.row += 1
            time.sleep(pause)

    def skip(self, n: int) -> None:
        """A gap: the sensor sends nothing for ``n`` rows."""
        self.row += n

    def stats(self) -> dict:
        stats = self.sub.get(TOPICS["stats"])
        return stats[-1] if stats else {}

    def settled(self) -> dict:
        """The stats once every message sent is counted (accepted, rejected, ignored or held)."""
        def counted(s):
            r = s.get("readings", {})
            return r and r["accepted"] + sum(r["rejected"].values()) + sum(r["ignored"].values()) + r["held"]
        return wait_until(lambda: counted(s := self.stats()) == self.sent and s, 60, what=f"{self.sent} counted")

    def phase(self, values: dict, feed: Callable[["Run"], None]) -> Phase:
        marks = {name: len(self.sub.get(topic)) for name, topic in TOPICS.items()}
        log_mark, stats_start = len(self.daemon.log()), self.settled()
        self.streaming_stats = None
        self.reload(values)
        feed(self)
        stats = self.settled()
        since = {name: self.sub.get(TOPICS[name])[marks[name]:] for name in ("forecast", "alert", "status")}
        return Phase(since["forecast"], since["alert"], since["status"], stats_start, stats,
                     self.daemon.log()[log_mark:], self.streaming_stats)


def says(phase: Phase, reason: str) -> bool:
    """Whether the phase's last forecast went out naive for ``reason``."""
    return (phase.forecast["reason"] or "").startswith(reason)


def hour(run: Run) -> None:
    run.rows(6)


def stream(run: Run) -> None:
    """Readings every 0.4 s for about 5 s, after the stats have been quiet; counts the stats
    that went out on the interval while they streamed."""
    def quiet() -> bool:
        n = len(run.sub.get(TOPICS["stats"]))
        time.sleep(2.5)
        return len(run.sub.get(TOPICS["stats"])) == n
    wait_until(quiet, 60, what="quiet stats")
    def count() -> int:  # every forecast also sends the stats: those do not count
        return len(run.sub.get(TOPICS["stats"])) - len(run.sub.get(TOPICS["forecast"]))
    first = count()
    run.rows(12, pause=0.4)
    run.streaming_stats = count() - first


def padded(t, values) -> bytes:
    payload = reading_payload(t, values)
    return payload[:1] + b" " * 1000 + payload[1:]  # JSON allows the whitespace: only the size differs


def bare(t, values) -> bytes:
    """A BME280-class reading: p, T and rh only (the daemon derives the others when allowed)."""
    return json.dumps({"time": str(t.astype("datetime64[s]")) + "Z", "p": float(values[0]), "T": float(values[1]),
                       "rh": float(values[4])}).encode()


def with_malformed(run: Run) -> None:
    run.rows(3)
    run.send(b"{not json")
    run.send(b"{not json")
    run.rows(3)


def then_silent(run: Run) -> None:
    """An hour of readings, then the sensor says nothing for 6 s (by the daemon's clock)."""
    run.rows(6)
    time.sleep(6)


def after_gap(hours: int) -> Callable[[Run], None]:
    def feed(run: Run) -> None:
        run.skip(6 * hours)
        run.rows(6)
    return feed


@dataclass
class Probe:
    before: dict | Callable[[Run], dict]
    after: dict | Callable[[Run], dict]
    check: Callable[[Phase, Phase], bool]
    feed: Callable[[Run], None] = hour


def frost(**values) -> Callable[[Run], dict]:
    """[alerts] values; ``frost_c`` given as an offset from the minimum the last forecast expected."""
    return lambda run: {f"alerts.{k}": (run.m + v if k == "frost_c" else v) for k, v in values.items()}


PROB = {"frost_rule": "probability", "frost_c": 0.0}  # frost_c: at the expected minimum

# In the order they run: the guard's before the model changes (another bundle restarts its
# scores), the gaps' last (their missing hours stay in the window).
PROBES: dict[str, Probe] = {
    "log.level": Probe({"log.level": "info"}, {"log.level": "debug"},
                       lambda b, a: not ACCEPTED_LINE.search(b.log) and bool(ACCEPTED_LINE.search(a.log))),
    "log.repeat_seconds": Probe({"log.repeat_seconds": 0}, {"log.repeat_seconds": 3600},
                                lambda b, a: b.log.count(MALFORMED_LINE) == 2 and a.log.count(MALFORMED_LINE) == 0,
                                with_malformed),
    "readings.max_payload_bytes": Probe(
        {"readings.max_payload_bytes": 4096}, {"readings.max_payload_bytes": 512},
        lambda b, a: b.delta("readings", "rejected", "oversized") == 0 and a.delta("readings", "rejected",
                                                                                   "oversized") == 1,
        lambda run: run.rows(6, {2: padded})),
    "readings.derive_missing": Probe(
        {"readings.derive_missing": True}, {"readings.derive_missing": False},
        lambda b, a: b.delta("readings", "derived") == 1 and a.delta("readings", "derived") == 0,
        lambda run: run.rows(6, {2: bare})),
    "stats.interval_seconds": Probe({"stats.interval_seconds": 1}, {"stats.interval_seconds": 3600},
                                    lambda b, a: b.streaming_stats >= 1 and a.streaming_stats == 0, stream),
    "readings.stale_after_minutes": Probe({"readings.stale_after_minutes": 10.0},
                                          {"readings.stale_after_minutes": 0.05},
                                          lambda b, a: "stale" not in b.statuses and "stale" in a.statuses,
                                          then_silent),
    "alerts.frost_c": Probe({"alerts.frost_c": -60.0}, {"alerts.frost_c": 60.0},
                            lambda b, a: not b.alert["frost"] and a.alert["frost"]),
    "alerts.frost_margin_c": Probe(frost(frost_c=-5.0, frost_margin_c=0.0, frost_hysteresis_c=0.0),
                                   frost(frost_c=-5.0, frost_margin_c=10.0, frost_hysteresis_c=0.0),
                                   lambda b, a: not b.alert["frost"] and a.alert["frost"]),
    # on in the first phase; in the second it stays on only by the hysteresis
    "alerts.frost_hysteresis_c": Probe(frost(frost_c=5.0, frost_margin_c=0.0, frost_hysteresis_c=0.0),
                                       frost(frost_c=-3.0, frost_margin_c=0.0, frost_hysteresis_c=10.0),
                                       lambda b, a: b.alert["frost"] and a.alert["frost"]
                                       and a.alert["min_c"] >= a.alert["warn_below_c"]),
    "alerts.frost_rule": Probe({"alerts.frost_rule": "margin"}, {"alerts.frost_rule": "probability"},
                               lambda b, a: b.alert["rule"] == "margin" and a.alert["rule"] == "probability"),
    "alerts.frost_probability_on": Probe(
        frost(**PROB, frost_probability_on=1.0, frost_probability_hysteresis=0.0),
        frost(**PROB, frost_probability_on=0.01, frost_probability_hysteresis=0.0),
        lambda b, a: not b.alert["frost"] and b.alert["probability"] < 1 and a.alert["frost"]),
    # on in the first phase; in the second it stays on only by the hysteresis
    "alerts.frost_probability_hysteresis": Probe(
        frost(**PROB, frost_probability_on=0.01, frost_probability_hysteresis=0.0),
        frost(**PROB, frost_probability_on=1.0, frost_probability_hysteresis=0.99),
        lambda b, a: b.alert["frost"] and a.alert["frost"] and a.alert["probability"] < 1),
    "model.correction": Probe({"model.correction": True}, {"model.correction": False},
                              lambda b, a: b.forecast["correction"] is not None and a.forecast["correction"] is None),
    # The state file's history (guard_history) makes the model's MAE exceed naive's by ~3 °C.
    "model.skill_guard_margin": Probe({**GUARDING, "model.skill_guard_margin": 10.0}, GUARDING,
                                      lambda b, a: b.forecast["source"] == "model"
                                      and says(a, "skill guard")),
    "model.skill_guard_min_days": Probe({**GUARDING, "model.skill_guard_min_days": 30}, GUARDING,
                                        lambda b, a: b.forecast["source"] == "model"
                                        and says(a, "skill guard")),
    "model.skill_guard": Probe({**GUARDING, "model.skill_guard": False}, GUARDING,
                               lambda b, a: b.forecast["source"] == "model"
                               and says(a, "skill guard")),
    "model.runtime": Probe({"model.runtime": "auto"}, {"model.runtime": "tflite-runtime"},
                           lambda b, a: "cannot serve" not in b.log
                           and ("tflite-runtime is not installed" in a.log
                                or a.forecast["model"]["runtime"].startswith("tflite-runtime"))),
    "model.path": Probe({"model.path": "bme280"}, {"model.path": ""},
                        lambda b, a: b.forecast["source"] == a.forecast["source"] == "model"
                        and b.forecast["model"]["sha256"] != DEFAULT_SHA == a.forecast["model"]["sha256"]),
    "readings.confirm_jump_readings": Probe(
        {"readings.confirm_jump_readings": 1}, {"readings.confirm_jump_readings": 3},
        lambda b, a: "after a gap, confirmed by" not in b.log and "after a gap, confirmed by 3 readings" in a.log,
        after_gap(1)),
    "readings.max_future_minutes": Probe({"readings.max_future_minutes": 360}, {"readings.max_future_minutes": 60},
                                         lambda b, a: b.delta("readings", "time_jumps") == 0
                                         and a.delta("readings", "time_jumps") == 1, after_gap(2)),
    # the gaps above left carried cells in the window
    "gaps.min_observed_fraction": Probe({"gaps.min_observed_fraction": 0.0}, {"gaps.min_observed_fraction": 1.0},
                                        lambda b, a: b.forecast["source"] == "model"
                                        and says(a, "window too incomplete")),
    "gaps.carry_forward_hours": Probe({"gaps.carry_forward_hours": 3}, {"gaps.carry_forward_hours": 0},
                                      lambda b, a: b.delta("forecasts", "skipped_no_temperature") == 0
                                      and a.delta("forecasts", "skipped_no_temperature") >= 1, after_gap(2)),
}


def test_every_live_setting_has_a_probe():
    live = live_keys(config.SECTIONS)
    assert not set(live) - set(PROBES), (f"{sorted(set(live) - set(PROBES))}: a live setting needs a behaviour "
                                         "probe here (or live=False: it applies at the next restart)")
    assert not set(PROBES) - set(live), f"{sorted(set(PROBES) - set(live))}: no longer live settings"


def guard_history(sha: str) -> dict:
    """A state file whose skill section holds two days in which the model (``sha``) missed
    by 10 °C and naive by 0: the guard acts as soon as its settings let it."""
    start = int(np.datetime64(START, "s").astype(np.int64))
    skill = Skill()
    skill.sha, skill.now = sha, start - 3600
    hours = start - 3600 * np.arange(48, 0, -1)
    ten, zero = np.full(48, 10.0), np.zeros(48)
    skill.records = np.column_stack([hours, ten, ten, zero, ten])
    return {"station": "jena", "newest": None, "buffer": HourlyBuffer(3).to_dict(), "skill": skill.to_dict()}


def summary(phase: Phase) -> dict:
    return {"forecast": {k: phase.forecasts[-1].get(k) for k in ("source", "reason", "min_c")} if phase.forecasts
            else None, "alert": phase.alerts[-1] if phase.alerts else None, "streaming_stats": phase.streaming_stats,
            "readings": phase.stats.get("readings"), "log": phase.log[-1500:]}


def test_sighup_changes_what_every_live_setting_governs(broker, daemons, subscriber, series_2020):
    daemon = daemons(broker)
    (daemon.dir / "state").mkdir()
    state.save(daemon.state_file, guard_history(DEFAULT_SHA))
    sub = subscriber(broker, list(TOPICS.values()))
    run = Run(daemon, broker, sub, series_2020)
    run.configure({})
    daemon.start()
    sub.wait_online()
    run.rows(6 * WARM_UP_HOURS)
    run.settled()
    assert sub.get(TOPICS["forecast"])[-1]["source"] == "model"
    failed = []  # every probe runs: the report names each setting the daemon did not follow
    for key, probe in PROBES.items():
        run.m = sub.get(TOPICS["forecast"])[-1]["min_c"]
        phases = [run.phase(values(run) if callable(values) else values, probe.feed)
                  for values in (probe.before, probe.after)]
        if not probe.check(*phases):
            failed.append((key, summary(phases[0]), summary(phases[1])))
    assert not failed, f"not followed: {', '.join(key for key, *_ in failed)}; {failed}"
    assert daemon.stop() == 0
