"""A glitching sensor through the real daemon, broker and shipped model: single spikes on
each channel (an SHT3x raw 0 is −45 °C and 0 %), a stuck raw 0, a reading stamped hours
ahead and published retained. Each glitch takes the place of a real reading at an hour
mark (the hour's own sample), so the forecast without the glitch is the run without that
reading: the published forecasts must equal it, with no frost warning in July.

The rules under test: admission.plausible (plausibility.py) and the event clock's hold of
a step ahead of the sensor's rhythm (ordering.EventClock.ahead_limit)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

from edgecast.readings import Reading
from harness.processes import wait_until
from tests.reliability.faults import NO_MODEL, InProcess, payloads

START = "2020-07-02T00:00:00"
HOURS = 150
TOPIC = "edgecast/jena/readings"


def stamp(p: bytes) -> str:
    return json.loads(p)["time"]


def with_values(payload: bytes, seconds: float = 0.0, **values) -> bytes:
    d = json.loads(payload)
    if seconds:
        t = datetime.fromisoformat(d["time"].replace("Z", "+00:00")).timestamp() + seconds
        d["time"] = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for key, value in values.items():
        d[{"T": "T (degC)", "rh": "rh (%)", "p": "p (mbar)", "wv": "wv (m/s)"}[key]] = value
    return json.dumps(d).encode()


def index_of(rows: list[bytes], when: str) -> int:
    return next(i for i, p in enumerate(rows) if stamp(p) == when)


def battery(rows: list[bytes]) -> tuple[list[tuple[bytes, bool]], list[bytes]]:
    """(the glitched stream as (payload, retained), the same stream without the glitched readings)."""
    def value(i, key):
        return json.loads(rows[i])[{"T": "T (degC)", "rh": "rh (%)", "p": "p (mbar)", "wv": "wv (m/s)"}[key]]
    glitched: dict[int, bytes] = {}
    raw0 = {"T": -45.0, "rh": 0.0}  # what an SHT3x reports for a raw 0
    glitched[index_of(rows, "2020-07-07T00:00:00Z")] = with_values(rows[index_of(rows, "2020-07-07T00:00:00Z")],
                                                                   **raw0)
    for when, key, delta in (("2020-07-07T03:00:00Z", "T", 40.0), ("2020-07-07T05:00:00Z", "T", -40.0),
                             ("2020-07-07T07:00:00Z", "p", -60.0), ("2020-07-07T09:00:00Z", "rh", 0.0),
                             ("2020-07-07T11:00:00Z", "wv", 30.0)):
        i = index_of(rows, when)
        if key == "rh":  # 55 % away, inside 0 .. 100
            delta = 55.0 if value(i, key) < 45 else -55.0
        glitched[i] = with_values(rows[i], **{key: round(value(i, key) + delta, 2)})
    stuck = index_of(rows, "2020-07-07T14:00:00Z")
    for i in range(stuck - 3, stuck + 1):  # 13:30 .. 14:00: raw 0 four times in a row
        glitched[i] = with_values(rows[i], **raw0)
    stream = [(glitched.get(i, p), False) for i, p in enumerate(rows)]
    # 16:00: a reading stamped 5 h ahead (21:00), -45 °C, retained, in place of the real one
    ahead = index_of(rows, "2020-07-07T16:00:00Z")
    stream[ahead] = (with_values(rows[ahead], seconds=5 * 3600, **raw0), True)
    clean = [p for i, p in enumerate(rows) if i not in glitched and i != ahead]
    return stream, clean


def counted(sub, n: int) -> dict:
    """The stats once all ``n`` readings sent are counted (accepted, rejected or held)."""
    def done():
        stats = sub.get("edgecast/jena/stats")
        r = stats[-1]["readings"] if stats else None
        return r and r["accepted"] + sum(r["rejected"].values()) + r["held"] >= n and stats[-1]
    return wait_until(done, 60, what=f"{n} readings counted")


def publish_stream(port: int, stream: list[tuple[bytes, bool]]) -> None:
    """One publisher, QoS 1, in order (the broker keeps one client's order)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"glitch-{random.random()}")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(TOPIC, p, qos=1, retain=retained) for p, retained in stream]
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def test_glitch_battery_changes_no_forecast_and_raises_no_frost(tmp_path, series_2020, broker, daemons, subscriber):
    rows = payloads(series_2020, START, HOURS)
    stream, clean = battery(rows)
    reference = InProcess(tmp_path, extra="\n").feed(clean)  # the shipped model, as the daemon below
    assert reference.station.stats()["readings"]["rejected"] == {}
    expected = {f["issued_at"]: f for f in reference.forecasts()}
    assert any(f["source"] == "model" for f in expected.values())

    sub = subscriber(broker, ["edgecast/jena/forecast", "edgecast/jena/alert", "edgecast/jena/status",
                              "edgecast/jena/stats"])
    daemon = daemons(broker).start()
    sub.wait_online()
    publish_stream(broker.port, stream)
    stats = counted(sub, len(stream))
    daemon.stop()
    got = {f["issued_at"]: f for f in sub.get("edgecast/jena/forecast")}
    differing = [h for h in expected if got.get(h) != expected[h]]
    assert differing == [], f"{len(differing)} forecasts differ from the run without glitches, first {differing[:3]}"
    assert all(not f["frost_alert"] for f in got.values())
    assert not any(a.get("on") for a in sub.get("edgecast/jena/alert") if isinstance(a, dict))
    # 6 single spikes, the stuck raw 0 four times, and the reading stamped ahead (-45 °C
    # after +20-odd °C is implausible after 5 h too)
    assert stats["readings"]["rejected"] == {"implausible": 11}
    assert stats["readings"]["accepted"] == len(clean)


def test_a_reading_stamped_hours_ahead_does_not_shut_out_the_real_ones(tmp_path, series_2020, broker, daemons,
                                                                          subscriber):
    """A believable value (the sensor's own reading, 5 h later) stamped ahead and retained:
    held, then given up by the next real reading; no real reading is out_of_order."""
    rows = payloads(series_2020, START, 30)
    i = index_of(rows, "2020-07-03T00:00:00Z")
    stray = rows[i + 30]  # 05:00, sent in place of 00:00
    stream = [(p, False) for p in rows[:i]] + [(stray, True)] + [(p, False) for p in rows[i + 1:]]
    clean = rows[:i] + rows[i + 1:]
    expected = InProcess(tmp_path).feed(clean).forecasts()

    sub = subscriber(broker, ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"])
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    publish_stream(broker.port, stream)
    stats = counted(sub, len(stream))
    daemon.stop()
    assert stats["readings"]["rejected"] == {"far_future": 1}
    assert sub.get("edgecast/jena/forecast") == expected


def reading(t: float, **values) -> Reading:
    return Reading(t, {{"T": 1, "p": 0, "rh": 4}[k]: v for k, v in values.items()})


def test_a_new_level_is_taken_when_readings_confirm_it_and_a_stuck_value_is_not():
    from edgecast.daemon.plausibility import Plausibility
    p = Plausibility()
    p.accepted(reading(0, T=15.0, p=990.0))
    # +25 °C in 10 minutes: rejected, never the reference ...
    assert p.check(reading(600, T=40.0), 3).reason == "implausible"
    # ... the next real reading is judged against 15 °C (20 minutes back)
    assert p.check(reading(1200, T=15.3), 3) is None
    p.accepted(reading(1200, T=15.3))
    # a new level (a sensor moved into a greenhouse): the third agreeing reading is accepted
    assert p.check(reading(1800, T=31.0), 3).reason == "implausible"
    assert p.check(reading(2400, T=31.4), 3).reason == "implausible"
    assert p.check(reading(3000, T=31.2), 3) is None
    p.accepted(reading(3000, T=31.2))
    assert p.check(reading(3600, T=31.0), 3) is None
    # a raw 0 repeated exactly never confirms itself
    assert all(p.check(reading(3600 + 600 * k, T=-45.0), 3) is not None for k in range(1, 8))
    # after a day's silence any value in range is believable
    assert p.check(reading(3000 + 86400, T=-5.0), 3) is None


def test_a_glitch_as_the_first_reading_after_a_restart_is_not_the_reference(tmp_path, series_2020):
    """After a restart the rule compares with the last buffered hour: a raw 0 coming first
    is rejected, and the real readings after it are accepted."""
    rows = payloads(series_2020, START, 6)
    first = InProcess(tmp_path, extra=NO_MODEL.format(dir=tmp_path)).feed(rows[:30])
    first.station.save_state()
    again = InProcess(tmp_path, extra=NO_MODEL.format(dir=tmp_path))
    again.feed([with_values(rows[30], T=-45.0, rh=0.0)] + rows[31:])
    readings = again.station.stats()["readings"]
    assert readings["rejected"] == {"implausible": 1}
    assert readings["accepted"] == len(rows) - 31


def test_the_hold_follows_the_sensors_rhythm():
    """A step ahead waits for confirmation only beyond the sensor's own rhythm: an hourly
    sensor with a few minutes of jitter is never held, a 10-minute one's stamp 5 h ahead is."""
    from edgecast.daemon.ordering import ACCEPTED, HELD, EventClock
    hourly = EventClock(6 * 3600, 3, newest=0.0)
    t = 0.0
    for k in range(1, 30):
        t += 3600 + (150 if k % 2 else -90)  # jitter
        assert hourly.admit(Reading(t, {1: 10.0})).kind == ACCEPTED
    ten = EventClock(6 * 3600, 3, newest=0.0)
    for k in range(1, 10):
        assert ten.admit(Reading(600.0 * k, {1: 10.0})).kind == ACCEPTED
    assert ten.admit(Reading(5400 + 5 * 3600, {1: 10.0})).kind == HELD
    after = ten.admit(Reading(6000, {1: 10.0}))  # the next real one: accepted, the stray given up
    assert after.kind == ACCEPTED and [r.reason for r in after.given_up] == ["far_future"]
    # a real gap of 2 hours: the three readings after it enter together, in order
    outcomes = [ten.admit(Reading(6000 + 7200 + 600 * k, {1: 10.0})) for k in range(3)]
    assert [o.kind for o in outcomes] == [HELD, HELD, ACCEPTED] and outcomes[-1].confirmed == "gap"
    assert len(outcomes[-1].readings) == 3
