"""The full reliability run: ``python -m tests.reliability.full_run [--kills 100]``.

Prints a figures table (RELIABILITY.md quotes it). Uses the quick suite's parts at
larger counts: SIGKILL trials, broker restarts (persistence on, then once off), a
mixed good/bad flood through the real broker with the daemon's RSS sampled, and the
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
from datetime import datetime, timezone
from pathlib import Path

from edgecast.data import load
from tests.conftest import JENA_2020
from harness.processes import Broker, Daemon, Subscriber, wait_until
from tests.reliability.faults import (NO_MODEL, InProcess, compare_forecasts, payloads, publish_all, rss_kb,
                                      sigkill_trials, stats_of)

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


def _rig(d: Path):
    """A fresh broker, a subscriber and a model-less daemon under ``d``, the daemon online."""
    (d / "broker").mkdir(parents=True)
    broker = Broker(d / "broker")
    broker.start()
    sub = Subscriber(broker, TOPICS)
    daemon = Daemon(d, broker, extra=NO_MODEL.format(dir=d)).start()
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
    s = wait_until(lambda: (s := stats_of(sub)) and s["readings"]["accepted"] + sum(s["readings"]["rejected"].values())
                   >= total and s, 300, interval=0.5)
    stop.append(1)
    t.join()
    forecasts = sub.get("edgecast/jena/forecast")
    counted = s["readings"]["accepted"] + sum(s["readings"]["rejected"].values())
    out = {"messages": total, "bad": total - len(good), "counted": counted, "accepted": s["readings"]["accepted"],
           "rejected": s["readings"]["rejected"], "forecasts": len(forecasts),
           "rss_first_kb": samples[0][0] if samples else None,
           "rss_last_kb": samples[-1][0] if samples else None, "hwm_kb": samples[-1][1] if samples else None,
           "alive": daemon.proc.poll() is None}
    out["exit"] = daemon.stop()
    sub.close()
    broker.stop()
    return out


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
    a = ap.parse_args()
    rng = random.Random(a.seed)
    series = load(JENA_2020)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        k = kills(tmp, series, a.kills, rng)
        print("kills:", json.dumps(k), flush=True)
        lk = live_kills(tmp, series, a.live_kills, rng)
        print("live kills:", json.dumps(lk), flush=True)
        b = broker_restarts(tmp, series, a.restarts)
        print("broker restarts:", json.dumps(b), flush=True)
        f = flood(tmp, series, a.flood, rng)
    z = fuzz(a.fuzz_scale)
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
        ("  counted (accepted + rejected) / lost", f'{f["counted"]} / {f["messages"] - f["counted"]}'),
        ("  forecasts during the flood", f["forecasts"]),
        ("  daemon RSS first / last / peak, MB", f'{f["rss_first_kb"]/1024:.1f} / {f["rss_last_kb"]/1024:.1f} / '
                                                 f'{f["hwm_kb"]/1024:.1f}'),
        ("  daemon alive, clean exit", f'{f["alive"]}, rc {f["exit"]}'),
        ("hypothesis examples (fuzz at scale)", f'{z["examples"]} ({z["tail"]})'),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")
    print(f"\nrejections in the flood: {json.dumps(f['rejected'])}")
    print(f"took {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
