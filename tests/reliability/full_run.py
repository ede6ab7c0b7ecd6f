"""The full reliability run: ``python -m tests.reliability.full_run [--kills 100]``.

Prints a figures table (RELIABILITY.md quotes it). Uses the quick suite's parts at
larger counts: SIGKILL trials, broker restarts (persistence on, then once off), a
mixed good/bad flood through the real broker with the daemon's RSS sampled, a glitching
sensor's readings through the shipped model, three years with the skill guard on, many
stations in one daemon under the shipped unit's TasksMax (a pids cgroup), and the
hypothesis fuzz tests at 10x their examples."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from edgecast.data import load
from edgecast.replay import select_rows
from edgecast.resample import OBSERVED
from edgecast.schema import TARGET_INDEX, WINDOW_STEPS
from tests.conftest import JENA_2020
from harness.processes import EDGECAST, Broker, Daemon, Subscriber, wait_until
from tests.reliability.faults import (NO_MODEL, InProcess, compare_forecasts, payloads, publish_all, rss_kb,
                                      sigkill_trials, stats_of)
from tests.reliability.test_glitches import COLUMNS, counted, index_of, publish_stream, with_values

TOPICS = ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"]


def kills(tmp: Path, series, n: int, rng) -> dict:
    out = {"kills": 0, "readable": 0, "missing": 0, "differing": 0, "duplicates": 0, "hours": 0}
    per_round = 10
    for r in range((n + per_round - 1) // per_round):
        d = tmp / f"kill{r}"
        (d / "broker").mkdir(parents=True)
        broker = Broker(d / "broker")
        broker.start()
        sub = Subscriber(broker, TOPICS)
        start = f"2020-{3 + r % 8:02d}-01T00:00:00"
        items = payloads(series, start, 120)
        ref = InProcess(d).feed(items).forecasts()
        daemon = Daemon(d, broker, extra=NO_MODEL.format(dir=d)).start()
        sub.wait_online("jena", 20)
        daemon.stop()
        k = min(per_round, n - r * per_round)
        res = sigkill_trials(daemon, sub, items, broker.port, kills=k, rng=rng)
        wait_until(lambda: ref[-1]["issued_at"] in {f["issued_at"] for f in sub.get("edgecast/jena/forecast")}, 60)
        daemon.stop()
        diff = compare_forecasts(sub.get("edgecast/jena/forecast"), ref)
        out["kills"] += res["kills"]
        out["readable"] += res["state_readable"]
        out["missing"] += len(diff["missing"])
        out["differing"] += len(diff["differing"]) + len(diff["extra"])
        out["duplicates"] += diff["duplicates"]
        out["hours"] += len(ref)
        out["republished"] = out.get("republished", 0) + daemon.log().count("republished the unacknowledged forecast")
        sub.close()
        broker.stop()
    return out


READING_LINE = re.compile(r"reading (?:rejected \((\w+)\): reading at )?(\d{4}-\d\d-\d\dT[\d:]+)\+00:00"
                          r"(?: accepted( \(late)?)?")


def _rig(d: Path, extra: str | None = None, topics=TOPICS, subscriber=Subscriber):
    """A fresh broker, a subscriber and a daemon under ``d``, the daemon online; model-less
    unless ``extra`` says otherwise ("" = the shipped bundle)."""
    (d / "broker").mkdir(parents=True)
    broker = Broker(d / "broker")
    broker.start()
    sub = subscriber(broker, topics)
    daemon = Daemon(d, broker, extra=NO_MODEL.format(dir=d) if extra is None else extra).start()
    sub.wait_online("jena", 20)
    return broker, sub, daemon


def live_kills(tmp: Path, series, n: int, rng) -> dict:
    """Live pacing (an hour of readings, its forecast, a pause of 0.5-3 s), then SIGKILL and
    a restart, ``n`` times: copies sent again after a kill of forecasts the subscriber had
    received before it (so the broker had acknowledged them); the goal is 0."""
    d = tmp / "live"
    broker, sub, daemon = _rig(d)
    items = payloads(series, "2020-06-01T00:00:00", n + 1)
    port = broker.port
    received_before_kills: list[str] = []
    for k in range(n):
        publish_all(port, "edgecast/jena/readings", items[6 * k:6 * (k + 1)])
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) >= k + 1, 30, what="the hour's forecast")
        time.sleep(rng.uniform(0.5, 3.0))
        received_before_kills = [f["issued_at"] for f in sub.get("edgecast/jena/forecast")]
        daemon.stop(signal.SIGKILL)
        daemon.start()
        wait_until(lambda: sub.get("edgecast/jena/status").count("online") >= k + 2, 30, what="the restart")
    publish_all(port, "edgecast/jena/readings", items[6 * n:])
    wait_until(lambda: len({f["issued_at"] for f in sub.get("edgecast/jena/forecast")}) >= n + 1, 30)
    time.sleep(1)
    daemon.stop()
    got = [f["issued_at"] for f in sub.get("edgecast/jena/forecast")]
    sub.close()
    broker.stop()
    return {"kills": n, "hours": len(set(got)), "copies": len(got),
            "resent_acknowledged": len(got) - len(set(got)), "checked_before_last_kill": len(received_before_kills)}


def reading_log(text: str) -> dict:
    """Per reading, from the daemon's debug log: accepted times (set) and rejections by reason."""
    accepted, rejected = set(), {}
    for m in READING_LINE.finditer(text):
        reason, when, late = m.group(1), m.group(2), m.group(3)
        t = datetime.fromisoformat(when).replace(tzinfo=timezone.utc).timestamp()
        if reason:
            rejected.setdefault(reason, []).append(t)
        elif m.group(0).endswith("accepted") or late:
            accepted.add(t)
    return {"accepted": accepted, "rejected": rejected}


def sent_times(items) -> set:
    return {datetime.fromisoformat(json.loads(p)["time"].replace("Z", "+00:00")).timestamp() for p in items}


def broker_restarts(tmp: Path, series, restarts: int) -> dict:
    """Broker stopped and started mid-stream while readings flow; more readings published
    while the daemon is away. Proven per reading from the daemon's debug log: every
    reading sent was accepted (lost = sent - accepted = 0); every rejection is a QoS 1
    redelivery of a reading already accepted (the broker restarted before it got the
    daemon's PUBACK), counted as ``duplicate`` (the newest) or ``out_of_order`` (older)."""
    out = {"restarts": 0, "reconnect_s": []}
    d = tmp / "broker-restarts"
    (d / "broker").mkdir(parents=True)
    broker = Broker(d / "broker")
    broker.start()
    sub = Subscriber(broker, TOPICS)
    daemon = Daemon(d, broker, extra=NO_MODEL.format(dir=d) + '[log]\nlevel = "debug"\n').start()
    sub.wait_online("jena", 20)
    # 2 * restarts + 1 chunks of 6 hours: one while connected before each restart, one while
    # the daemon is away (broker just restarted), one at the end. (The first version of this
    # run made only restarts + 2 chunks but counted 2 * restarts + 1 as sent: the empty
    # slices past the end were its "141 readings not accepted".)
    chunks = 2 * restarts + 1
    items = payloads(series, "2020-04-01T00:00:00", 6 * chunks)
    sent = 0
    chunk = len(items) // chunks
    for i in range(restarts + 1):
        publish_all(broker.port, "edgecast/jena/readings", items[sent:sent + chunk])
        sent += chunk
        if i == restarts:
            break
        n_online = sub.get("edgecast/jena/status").count("online")
        broker.stop()
        publish_at = time.monotonic()
        broker.start()
        publish_all(broker.port, "edgecast/jena/readings", items[sent:sent + chunk])  # daemon still away
        sent += chunk
        wait_until(lambda: sub.get("edgecast/jena/status").count("online") > n_online, 30)
        out["reconnect_s"].append(time.monotonic() - publish_at)
        out["restarts"] += 1
    assert sent == len(items), (sent, len(items))
    want = sent_times(items)
    try:
        wait_until(lambda: want <= reading_log(daemon.log())["accepted"], 60, interval=0.5)
    except AssertionError:
        pass
    seen = reading_log(daemon.log())
    redelivered = {r: ts for r, ts in seen["rejected"].items()}
    out.update(sent=len(want), accepted=len(want & seen["accepted"]), lost=len(want - seen["accepted"]),
               duplicate=len(redelivered.get("duplicate", [])), out_of_order=len(redelivered.get("out_of_order", [])),
               other_rejections={r: len(ts) for r, ts in redelivered.items() if r not in ("duplicate", "out_of_order")},
               rejected_not_redelivery=sum(1 for ts in redelivered.values() for t in ts if t not in seen["accepted"]))
    s = stats_of(sub)
    out["late"] = s.get("readings", {}).get("late", 0)
    expected_hours = len(items) // 6  # every hour of the rows: the last reading (H:50) leaves none open
    try:  # the last forecasts may still be on their way to the subscriber
        wait_until(lambda: len({f["issued_at"] for f in sub.get("edgecast/jena/forecast")}) >= expected_hours, 30)
    except AssertionError:
        pass
    out["hours_expected"] = expected_hours
    hours = [f["issued_at"] for f in sub.get("edgecast/jena/forecast")]
    out["hours_forecast"] = len(set(hours))
    out["forecast_duplicates"] = len(hours) - len(set(hours))
    by_hour = {}
    for f in sub.get("edgecast/jena/forecast"):
        by_hour.setdefault(f["issued_at"], []).append(f)
    out["forecast_copies_differing"] = sum(1 for fs in by_hour.values() if any(f != fs[0] for f in fs))
    # Once with the broker's persistence off: what it had queued for the daemon is gone.
    broker.conf.write_text(broker.conf.read_text().replace("persistence true", "persistence false"))
    n_subscribed = daemon.log().count("subscribing to")
    broker.stop()
    broker.start()
    hours_before = stats_of(sub).get("hours_completed", 0)
    # The broker forgot every session: a reading published before the daemon has
    # subscribed again has no subscriber and is dropped by design; publish after that.
    wait_until(lambda: daemon.log().count("subscribing to") > n_subscribed, 30)
    time.sleep(1)  # its SUBSCRIBE went out with that log line; the SUBACK follows
    rest = payloads(series, "2020-05-01T00:00:00", 6)  # a later stretch after the restart (confirmed jump)
    publish_all(broker.port, "edgecast/jena/readings", rest)
    try:
        wait_until(lambda: stats_of(sub).get("hours_completed", 0) >= hours_before + 5, 30)
        out["persistence_off_serves_after"] = True
    except AssertionError:
        out["persistence_off_serves_after"] = False
    try:  # the jump is confirmed (hours_completed leaps) before the last of them are handled
        wait_until(lambda: sent_times(rest) <= reading_log(daemon.log())["accepted"], 30, interval=0.5)
    except AssertionError:
        pass
    out["persistence_off_lost_after_restart"] = len(sent_times(rest) - reading_log(daemon.log())["accepted"])
    out["exit"] = daemon.stop()
    sub.close()
    broker.stop()
    return out


def flood(tmp: Path, series, n_bad: int, rng) -> dict:
    d = tmp / "flood"
    broker, sub, daemon = _rig(d)
    good = payloads(series, "2020-06-01T00:00:00", 48)
    bad_kinds = [lambda: b"x" * rng.randint(4097, 300_000), lambda: b"{" * rng.randint(1, 5000),
                 lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))),
                 lambda: json.dumps({"time": "2020-06-01T00:00:00Z", "T": rng.choice(["warm", None, True])}).encode(),
                 lambda: b'{"time": "2020-06-01T00:00:00Z", "T": NaN, "p": 1e999}',
                 lambda: json.dumps({"time": rng.choice(["soon", "9999-12-31T23:59:59", "2031-01-01T00:00:00Z"]),
                                     "T": 1.0}).encode(),
                 lambda: json.dumps({"time": "2020-06-01T00:00:00Z", "\u2603" * 50: 1, "T": -9999}).encode(),
                 lambda: json.dumps([1] * 100).encode()]
    mixed = []
    per_good = n_bad // len(good)
    for g in good:
        mixed.append(g)
        mixed += [rng.choice(bad_kinds)() for _ in range(per_good)]
    samples = []
    stop = []

    def sample():
        while not stop:
            try:
                samples.append(rss_kb(daemon.proc.pid))
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.2)
    import threading
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    publish_all(broker.port, "edgecast/jena/readings", mixed)
    total = len(mixed)

    def dropped_by_broker() -> int:
        """Messages over the Maximum Packet Size the daemon announces (MQTT 5, the default):
        the broker drops them and logs each one; they never reach the daemon."""
        return (broker.dir / "mosquitto.log").read_text(errors="replace").count(
            "Dropping too large outgoing PUBLISH for edgecast-test-jena")

    def counted_of(s) -> int:  # every reading is accepted, rejected or held (a stamp ahead awaiting others)
        return s["readings"]["accepted"] + sum(s["readings"]["rejected"].values()) + s["readings"]["held"]
    s = wait_until(lambda: (s := stats_of(sub)) and counted_of(s) + dropped_by_broker() >= total and s, 300,
                   interval=0.5, what="every flood message counted or dropped by the broker")
    stop.append(1)
    t.join()
    forecasts = sub.get("edgecast/jena/forecast")
    out = {"messages": total, "bad": total - len(good), "counted": counted_of(s), "accepted": s["readings"]["accepted"],
           "dropped_by_broker": dropped_by_broker(),
           "rejected": s["readings"]["rejected"], "forecasts": len(forecasts),
           "rss_first_kb": samples[0][0] if samples else None,
           "rss_last_kb": samples[-1][0] if samples else None, "hwm_kb": samples[-1][1] if samples else None,
           "alive": daemon.proc.poll() is None}
    out["exit"] = daemon.stop()
    sub.close()
    broker.stop()
    return out


# --- a glitching sensor through the shipped model ------------------------------------------------
GLITCH_START, GLITCH_AT = "2020-07-02T00:00:00", "2020-07-07T00:00:00Z"  # the model serves from 07-06 23:00
GLITCH_HOURS = 5 * 24 + 6 + WINDOW_STEPS + 1  # warm-up, the longest glitch, then a whole window after it
SPIKES = (("T", 40.0), ("T", -40.0), ("p", 60.0), ("p", -60.0), ("rh", 55.0), ("rh", -55.0), ("wv", 30.0))
RAW_0 = {"T": -45.0, "rh": 0.0}  # what an SHT3x reports for a raw 0


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def observed_temperature(series) -> dict[int, float]:
    """Hour (epoch s) -> the temperature observed then: what a forecast's valid_at is scored on."""
    grid = series.hourly(3)
    ok = grid.status[:, TARGET_INDEX] == OBSERVED
    return {int(h): float(t) for h, t, o in zip(grid.hours, grid.values[:, TARGET_INDEX], ok) if o}


def glitch_cases(rows: list[bytes]) -> list[tuple[str, list[tuple[bytes, bool]], int, int | None]]:
    """(name, the stream as (payload, retained), readings glitched, restart the daemon after
    this many or None). Each glitch takes the place of the real readings from GLITCH_AT on."""
    i = index_of(rows, GLITCH_AT)

    def replaced(new: dict[int, tuple[bytes, bool]]):
        return [new.get(k, (p, False)) for k, p in enumerate(rows)]

    def value(k: int, key: str) -> float:
        return json.loads(rows[k])[COLUMNS[key]]

    def frozen(k: int) -> bytes:  # every channel stuck at the reading before the glitch
        return json.dumps({**json.loads(rows[i - 1]), "time": json.loads(rows[k])["time"]}).encode()
    cases = [(f"{key} {delta:+g} once", replaced({i: (with_values(rows[i], **{key: round(value(i, key) + delta, 2)}),
                                                       False)}), 1, None) for key, delta in SPIKES]
    cases += [
        ("raw 0 (T -45, rh 0) once", replaced({i: (with_values(rows[i], **RAW_0), False)}), 1, None),
        ("raw 0 stuck 2 h", replaced({k: (with_values(rows[k], **RAW_0), False) for k in range(i, i + 12)}), 12, None),
        ("all channels stuck 6 h at the last value", replaced({k: (frozen(k), False) for k in range(i, i + 36)}), 36,
         None),
        ("-45 C stamped 5 h ahead, retained; restart 1 h on",
         replaced({i: (with_values(rows[i], seconds=5 * 3600, **RAW_0), True)}), 1, i + 7),
        ("own reading 5 h ahead, retained; restart 1 h on", replaced({i: (rows[i + 30], True)}), 1, i + 7),
    ]
    return cases


def glitch_run(d: Path, stream, restart_after: int | None, last_hour: str) -> tuple[list[dict], list, dict]:
    """The stream through a private broker and the daemon with the shipped bundle; its
    forecasts, alert messages and rejections (summed over its processes)."""
    broker, sub, daemon = _rig(d, extra="", topics=TOPICS + ["edgecast/jena/alert"])
    parts = [stream] if restart_after is None else [stream[:restart_after], stream[restart_after:]]
    totals: dict[str, dict] = {"rejected": {}, "values_dropped": {}}
    try:
        for n, part in enumerate(parts):
            after = len(sub.get("edgecast/jena/stats"))
            if n:  # the broker sends the retained reading again when the daemon resubscribes
                daemon.stop()
                daemon.start().wait_serving()
                wait_until(lambda: sub.get("edgecast/jena/status").count("online") > n, 30, what="the restart")
            publish_stream(broker.port, part)
            counted(sub, len(part), after=after, timeout=300)
            if n == len(parts) - 1:
                wait_until(lambda: last_hour in {f["issued_at"] for f in sub.get("edgecast/jena/forecast")}, 60,
                           what="the last hour's forecast")
                time.sleep(1.5)  # the process's last stats (a changed count goes out 2 s after readings pause)
            readings = stats_of(sub)["readings"]
            for key in totals:
                for reason, k in readings[key].items():
                    totals[key][reason] = totals[key].get(reason, 0) + k
    finally:
        daemon.stop()
        sub.close()
        broker.stop()
    return sub.get("edgecast/jena/forecast"), sub.get("edgecast/jena/alert"), totals


def frost_switches(forecasts: list[dict]) -> int:
    """Frost warnings raised: hours whose forecast turned frost_alert on."""
    flags = [f["frost_alert"] for f in sorted(forecasts, key=lambda f: f["issued_at"])]
    return sum(1 for before, now in zip([False] + flags, flags) if now and not before)


def glitch_battery(tmp: Path, series) -> list[dict]:
    """Per glitch: the published forecasts on the hours whose 120-hour window holds it,
    against the truth and against the run of the same readings without the glitch (the
    real readings in its place: an in-process run of the same station code)."""
    rows = payloads(series, GLITCH_START, GLITCH_HOURS)
    reference = {f["issued_at"]: f for f in InProcess(tmp / "glitch-reference", extra="\n").feed(rows).forecasts()}
    truth = observed_temperature(series)
    last_hour = max(reference)
    out = []
    for n, (name, stream, glitched, restart_after) in enumerate(glitch_cases(rows)):
        started = time.monotonic()
        got, alerts, rejections = glitch_run(tmp / f"glitch{n}", stream, restart_after, last_hour)
        first = _epoch(GLITCH_AT)
        last = first + (glitched // 6 + WINDOW_STEPS) * 3600  # every window holding a glitched reading
        hours = [h for h in sorted(reference) if first <= _epoch(h) < last]
        by_hour = {f["issued_at"]: f for f in got}  # identical copies (at-least-once) collapse
        served = [by_hour[h] for h in hours if h in by_hour]

        def mae(fs):
            e = [abs(f["temperature_c"] - truth[_epoch(f["valid_at"])]) for f in fs if _epoch(f["valid_at"]) in truth]
            return round(sum(e) / len(e), 3) if e else None
        out.append({
            "glitch": name, "hours": len(hours), "hours_without_forecast": len(hours) - len(served),
            "model_hours": sum(f["source"] == "model" for f in served),
            "mae": mae(served), "mae_without": mae([reference[h] for h in hours if h in by_hour]),
            "max_diff_24h": round(max((abs(f["temperature_c"] - reference[f["issued_at"]]["temperature_c"])
                                       for f in served), default=0.0), 3),
            "max_diff_curve": round(max((abs(a - b) for f in served
                                         for a, b in zip(f["hourly"], reference[f["issued_at"]]["hourly"])),
                                        default=0.0), 3),
            "frost_raised": frost_switches(list(by_hour.values())),
            "frost_raised_without": frost_switches(list(reference.values())),
            "alerts_on": sum(1 for a in alerts if isinstance(a, dict) and a.get("on")),
            "rejected": rejections["rejected"], "values_dropped": rejections["values_dropped"],
            "seconds": round(time.monotonic() - started)})
        print("glitch:", json.dumps(out[-1]), flush=True)
    return out


# --- three years with the skill guard on -----------------------------------------------------------
YEARS = ("weather.csv.xz", "mpi_roof_2021_hourly.csv.xz", "mpi_roof_2022_hourly.csv.xz")  # 2020 .. 2022
# The state file is written every completed hour (fsynced); on a RAM disk that costs nothing,
# which changes no forecast and keeps a loaded disk from setting the pace of 26,000 hours.
RAM_DISK = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


class ForecastFields(Subscriber):
    """The harness subscriber keeping of each forecast only what is scored (three years of
    full payloads would hold hundreds of MB)."""

    FIELDS = ("issued_at", "valid_at", "temperature_c", "naive_c", "model_c", "source", "reason")

    def _on_message(self, client, userdata, msg):
        if msg.topic.endswith("/forecast") and not msg.retain:
            f = json.loads(msg.payload)
            with self.lock:
                self.messages[msg.topic].append({k: f.get(k) for k in self.FIELDS})
            return
        super()._on_message(client, userdata, msg)


def guarded(f: dict) -> bool:
    return f["source"] == "naive" and (f["reason"] or "").startswith("skill guard")


def three_years(tmp: Path, names=YEARS, start: str = "2020-01-01T00:00:00", hours: float | None = None) -> dict:
    """2020-01-01 .. 2022-12-31 of the Jena roof (10-minute rows, then hourly ones) replayed
    at full speed through `edgecast replay`, mosquitto and `edgecast run` with the shipped
    bundle and the skill guard on; every +24 h forecast scored against the observed hour."""
    files = [JENA_2020.parent / name for name in names]
    data = load(files)  # the rows replayed: their last hour, and the truth
    last_hour = str(data.times[select_rows(data.times, start, hours)[1] - 1])[:13]
    d = tmp / "years"
    started = time.monotonic()
    broker, sub, daemon = _rig(d, extra="[homeassistant]\ndiscovery = false\n[model]\nskill_guard = true\n",
                               subscriber=ForecastFields)
    try:
        span = ["--start", start] + (["--hours", str(hours)] if hours else [])
        out = subprocess.run(EDGECAST + ["replay", *sum((["--data", str(f)] for f in files), []), "--host",
                                         "127.0.0.1", "--port", str(broker.port), "--station", "jena", *span,
                                         "--speed", "max", "--quiet"], capture_output=True, text=True, timeout=3600)
        assert out.returncode == 0, out.stderr[-2000:]
        stats = wait_until(lambda: (s := stats_of(sub)) and (s.get("last_issued_at") or "") >= last_hour and s,
                           120, what="the last hour's stats")
        time.sleep(1)
        forecasts = {f["issued_at"]: f for f in sub.get("edgecast/jena/forecast")}.values()
        log = daemon.log()
    finally:
        daemon.stop()
        sub.close()
        broker.stop()
    truth = observed_temperature(data)
    rows = [(f, truth[_epoch(f["valid_at"])]) for f in forecasts if _epoch(f["valid_at"]) in truth]

    def mae(values):
        return round(sum(abs(v - t) for v, t in values) / len(values), 4) if values else None
    return {
        "span": f'{min(f["issued_at"] for f in forecasts)[:10]} .. {max(f["issued_at"] for f in forecasts)[:10]}',
        "forecasts": len(forecasts), "scored": len(rows),
        "served_by": {"model": sum(f["source"] == "model" for f in forecasts),
                      "naive (skill guard)": sum(guarded(f) for f in forecasts),
                      "naive (no model value: warm-up, gaps)": sum(f["source"] == "naive" and not guarded(f)
                                                                   for f in forecasts)},
        "guard_on_switches": log.count(": serving naive from"), "guard_released": log.count("skill guard released"),
        "published_mae": mae([(f["temperature_c"], t) for f, t in rows]),
        "model_mae": mae([(f["model_c"] if f["model_c"] is not None else f["naive_c"], t) for f, t in rows]),
        "naive_mae": mae([(f["naive_c"], t) for f, t in rows]),
        "model_mae_own_hours": mae([(f["model_c"], t) for f, t in rows if f["model_c"] is not None]),
        "naive_mae_same_hours": mae([(f["naive_c"], t) for f, t in rows if f["model_c"] is not None]),
        "skill_30d_at_end": stats.get("skill", {}).get("days_30"), "seconds": round(time.monotonic() - started)}


# --- many stations under the shipped unit's TasksMax -------------------------------------------------
def pids_cgroup(name: str, limit: int) -> tuple[Path | None, str]:
    """A cgroup whose pids controller allows ``limit`` tasks (threads count, as under systemd's
    TasksMax, which is this controller): (its directory, how) or (None, why not)."""
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    v1 = [m[1] for m in mounts if m[2] == "cgroup" and "pids" in m[3].split(",")]
    v2 = [m[1] for m in mounts if m[2] == "cgroup2"
          and "pids" in (Path(m[1]) / "cgroup.controllers").read_text(errors="replace").split()]
    for root, kind in [(Path(p), "cgroup v1 pids") for p in v1] + [(Path(p), "cgroup v2 pids") for p in v2]:
        group = root / name
        try:
            group.mkdir(exist_ok=True)
            (group / "pids.max").write_text(str(limit))
            return group, f"{kind} at {group}"
        except OSError as exc:
            why = f"{kind} at {root}: {exc}"
    return None, why if v1 or v2 else "no pids controller mounted"


class TopicCounts:
    """Forecasts and the last status per station, over wildcard subscriptions."""

    def __init__(self, broker: Broker):
        import paho.mqtt.client as mqtt
        self.forecasts: dict[str, dict[str, str]] = {}  # station -> {issued_at: source} (copies collapse)
        self.status: dict[str, str] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"full-run-{random.random()}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([("edgecast/+/forecast", 1),
                                                                     ("edgecast/+/status", 1)])
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        station, kind = msg.topic.split("/")[1:3]
        if kind == "status":
            self.status[station] = msg.payload.decode(errors="replace")
        elif not msg.retain:
            f = json.loads(msg.payload)
            self.forecasts.setdefault(station, {})[f["issued_at"]] = f["source"]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def many_stations(tmp: Path, series, n: int, tasks_max: int, hours: int = WINDOW_STEPS + 10) -> dict:
    """``n`` stations in one daemon (the shipped bundle each) started inside a pids cgroup of
    ``tasks_max`` tasks; each station gets the same ``hours`` hourly readings of 2020."""
    group, how = pids_cgroup(f"edgecast-full-run-{os.getpid()}", tasks_max)
    if group is None:
        return {"measurable": False, "why": how}
    d = tmp / "stations"
    (d / "broker").mkdir(parents=True)
    broker = Broker(d / "broker")
    broker.start()
    counts = TopicCounts(broker)
    ids = [f"st{i:02d}" for i in range(n)]
    # the launcher joins the cgroup, then becomes the daemon: every thread it starts counts
    launcher = ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs")] + EDGECAST
    daemon = Daemon(d, broker, station="gateway", command=launcher,
                    stations="".join(f'[[stations]]\nid = "{s}"\n' for s in ids))
    hourly = [p for p in payloads(series, "2020-06-01T00:00:00", hours) if json.loads(p)["time"].endswith(":00:00Z")]
    threads, started = [], time.monotonic()
    daemon.start()
    try:
        def sample() -> bool:
            try:
                threads.append(len(os.listdir(f"/proc/{daemon.proc.pid}/task")))
            except FileNotFoundError:
                pass
            return daemon.proc.poll() is not None
        wait_until(lambda: sample() or sum(v == "online" for v in counts.status.values()) == n, 120, interval=0.2,
                   what="every station online")
        for s in ids:
            publish_all(broker.port, f"edgecast/{s}/readings", hourly)
        try:
            wait_until(lambda: sample() or all(len(counts.forecasts.get(s, {})) >= len(hourly) for s in ids),
                       600, interval=0.5, what="every station's forecasts")
        except AssertionError:
            pass
        alive = daemon.proc.poll() is None
        events = (group / "pids.events").read_text().split() if (group / "pids.events").exists() else []
        peak = (group / "pids.peak").read_text().strip() if (group / "pids.peak").exists() else "-"
        per_station = [len(counts.forecasts.get(s, {})) for s in ids]
        model = [list(counts.forecasts.get(s, {}).values()).count("model") for s in ids]
        online = sum(counts.status.get(s) == "online" for s in ids)
    finally:
        exit_code = daemon.stop()
        counts.close()
        broker.stop()
        try:
            group.rmdir()
        except OSError:
            pass
    lines = daemon.log().splitlines()
    errors = [x for x in lines if "can't start new thread" in x] or [x for x in lines if "Error:" in x]
    return {"measurable": True, "how": how, "stations": n, "tasks_max": tasks_max, "alive": alive,
            "online_at_end": online, "readings_per_station": len(hourly),
            "forecasts_per_station": f"{min(per_station)}..{max(per_station)}",
            "model_forecasts_per_station": f"{min(model)}..{max(model)}",
            "threads_max": max(threads, default=None), "threads_last": threads[-1] if threads else None,
            "pids_peak": peak, "fork_failures": int(events[1]) if len(events) > 1 else None,
            "first_error": errors[0][:200] if errors else None, "exit": exit_code,
            "seconds": round(time.monotonic() - started)}


def glitch_table(results: list[dict]) -> str:
    lines = ["\nglitch battery (shipped bundle, July 2020; hours: forecasts whose 120-hour window holds a glitched "
             "reading; \"without\": the same readings without the glitch, in-process):\n",
             "| glitch | hours (none forecast) | MAE +24 h, glitch / without | max abs diff +24 h / curve "
             "| frost raised, glitch / without | alert hours on | rejected | values dropped |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f'| {r["glitch"]} | {r["hours"]} ({r["hours_without_forecast"]}) | {r["mae"]} / '
                     f'{r["mae_without"]} | {r["max_diff_24h"]} / {r["max_diff_curve"]} | {r["frost_raised"]} / '
                     f'{r["frost_raised_without"]} | {r["alerts_on"]} | {json.dumps(r["rejected"])} | '
                     f'{json.dumps(r["values_dropped"])} |')
    return "\n".join(lines)


def fuzz(scale: int) -> dict:
    env = {**os.environ, "EDGECAST_FUZZ_SCALE": str(scale)}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/reliability/test_fuzz.py", "--hypothesis-show-statistics"],
                       capture_output=True, text=True, env=env)
    # hypothesis prints "- 800 passing, 0 failing, and 48 invalid test cases" per phase
    examples = sum(int(n) for n in re.findall(r"- (\d+) passing", r.stdout))
    return {"ok": r.returncode == 0, "examples": examples, "tail": r.stdout.strip().splitlines()[-1]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--live-kills", type=int, default=20)
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument("--flood", type=int, default=20000)
    ap.add_argument("--fuzz-scale", type=int, default=10)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--years-hours", type=float, default=None, help="replay only this many hours from 2020-01-01 "
                                                                    "(default: all three years)")
    ap.add_argument("--stations", type=int, default=64, help="stations in one daemon under --tasks-max")
    ap.add_argument("--tasks-max", type=int, default=32, help="the pids limit (deploy/edgecast.service's TasksMax)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    series = load(JENA_2020)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir=RAM_DISK) as ram, \
            ThreadPoolExecutor(1) as background:
        tmp = Path(tmp)
        # 26,000 forecast hours: alongside the other parts (it has its own broker and daemon)
        years = background.submit(three_years, Path(ram), hours=a.years_hours)
        k = kills(tmp, series, a.kills, rng)
        print("kills:", json.dumps(k), flush=True)
        lk = live_kills(tmp, series, a.live_kills, rng)
        print("live kills:", json.dumps(lk), flush=True)
        b = broker_restarts(tmp, series, a.restarts)
        print("broker restarts:", json.dumps(b), flush=True)
        f = flood(tmp, series, a.flood, rng)
        g = glitch_battery(tmp, series)
        m = many_stations(tmp, series, a.stations, a.tasks_max)
        print("stations:", json.dumps(m), flush=True)
        z = fuzz(a.fuzz_scale)
        y = years.result()
        print("three years:", json.dumps(y), flush=True)
    rows = [
        ("SIGKILL trials (restart each)", k["kills"]),
        ("  state file readable after kill", f'{k["readable"]}/{k["kills"]}'),
        ("  hours replayed / forecasts differing from uninterrupted run", f'{k["hours"]} / {k["differing"]}'),
        ("  forecasts lost (hours never forecast)", k["missing"]),
        ("  duplicate forecasts (identical at-least-once copies)", k["duplicates"]),
        ("  forecasts republished from the state file's outbox", k["republished"]),
        ("SIGKILL in live pacing (a pause after each hour's forecast)", lk["kills"]),
        ("  hours forecast / copies received", f'{lk["hours"]} / {lk["copies"]}'),
        ("  forecasts re-sent although acknowledged before the kill", lk["resent_acknowledged"]),
        ("broker restarts, persistence on", b["restarts"]),
        ("  QoS 1 readings sent (incl. while daemon away) / accepted", f'{b["sent"]} / {b["accepted"]}'),
        ("  readings lost (sent, never accepted)", b["lost"]),
        ("  redeliveries rejected: duplicate / out_of_order", f'{b["duplicate"]} / {b["out_of_order"]}'),
        ("  rejections that were not a redelivery of an accepted reading", b["rejected_not_redelivery"]),
        ("  late readings merged (redelivered within the open hour)", b["late"]),
        ("  hours forecast (of hours in the rows) / duplicate forecasts",
         f'{b["hours_forecast"]} ({b["hours_expected"]}) / {b["forecast_duplicates"]}'),
        ("  hours whose copies differ", b["forecast_copies_differing"]),
        ("  reconnect time after broker start, s (min/max)",
         f'{min(b["reconnect_s"]):.2f} / {max(b["reconnect_s"]):.2f}' if b["reconnect_s"] else "-"),
        ("broker restart, persistence off: serves afterwards", b.get("persistence_off_serves_after")),
        ("  readings sent after it, lost", b.get("persistence_off_lost_after_restart")),
        ("flood through the broker: messages / bad", f'{f["messages"]} / {f["bad"]}'),
        ("  counted (accepted + rejected + held) / dropped by the broker (over the announced packet size) / lost",
         f'{f["counted"]} / {f["dropped_by_broker"]} / {f["messages"] - f["counted"] - f["dropped_by_broker"]}'),
        ("  forecasts during the flood", f["forecasts"]),
        ("  daemon RSS first / last / peak, MB", f'{f["rss_first_kb"]/1024:.1f} / {f["rss_last_kb"]/1024:.1f} / '
                                                 f'{f["hwm_kb"]/1024:.1f}'),
        ("  daemon alive, clean exit", f'{f["alive"]}, rc {f["exit"]}'),
        ("hypothesis examples (fuzz at scale)", f'{z["examples"]} ({z["tail"]})'),
        (f'skill guard on, shipped bundle, issued {y["span"]}: forecasts / scored',
         f'{y["forecasts"]} / {y["scored"]}'),
        ("  served by model / naive (guard) / naive (no model value)", " / ".join(map(str, y["served_by"].values()))),
        ("  guard switched on / released", f'{y["guard_on_switches"]} / {y["guard_released"]}'),
        ("  MAE +24 h, °C: published / model / naive", f'{y["published_mae"]} / {y["model_mae"]} / {y["naive_mae"]}'),
        ("  model's own hours: model / naive MAE", f'{y["model_mae_own_hours"]} / {y["naive_mae_same_hours"]}'),
    ]
    if m["measurable"]:
        rows += [
            (f'{m["stations"]} stations in one daemon, pids limit {m["tasks_max"]}', m["how"]),
            ("  alive at the end / stations online / exit", f'{m["alive"]} / {m["online_at_end"]} / rc {m["exit"]}'),
            ("  hours forecast per station (hourly readings each)",
             f'{m["forecasts_per_station"]} ({m["readings_per_station"]}), model {m["model_forecasts_per_station"]}'),
            ("  threads max (/proc/<pid>/task) / cgroup pids peak / forks refused",
             f'{m["threads_max"]} / {m["pids_peak"]} / {m["fork_failures"]}'),
            ("  first error line in the daemon's log", m["first_error"] or "none"),
        ]
    else:
        rows.append((f"{a.stations} stations under a pids limit of {a.tasks_max}", f'not measurable: {m["why"]}'))
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")
    print(f"\nrejections in the flood: {json.dumps(f['rejected'])}")
    print(glitch_table(g))
    print(f"took {time.monotonic() - t0:.0f} s (the three years alongside the other parts: {y['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
