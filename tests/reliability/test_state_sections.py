"""A damaged section of the state file never stops the daemon, and what it publishes is
strict JSON: each case below crash-looped the daemon or went out as it was before every
section was checked on load. A real mosquitto and the real daemon process: the file is
written by an in-process run of the same station, one section is damaged, the daemon
starts on it and serves readings replayed after it (`edgecast replay`)."""

from __future__ import annotations

import json
import threading

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from edgecast.daemon.hourly import pack_f8
from edgecast.daemon.jsontext import to_json
from harness.processes import free_port, replay, wait_until
from tests.reliability.faults import NO_MODEL, InProcess, payloads

START = "2020-03-01T00:00:00"
FILLED = 40  # hours in the state file: the skill has verified forecasts to score
TOPICS = ("forecast", "stats", "alert", "status")


def _records_with_nan_and_infinity(skill: dict) -> None:
    rows = np.frombuffer(__import__("base64").b64decode(skill["records"]), dtype="<f8").reshape(-1, 5).copy()
    rows[0, 1], rows[1, 3] = np.inf, np.nan
    skill["records"] = pack_f8(rows)


DAMAGE = {  # what is done to the file, the warning's words
    "skill_now_overflows": (lambda d: d["skill"].__setitem__("now", 3600 * 10 ** 400),
                            "unusable skill scores (skill.now is not an hour stamp"),
    "guarding_without_records": (lambda d: d["skill"].update(guarding=True, records=""),
                                 "unusable skill scores (skill.guarding without a verified forecast"),
    "nan_and_infinity_in_records": (lambda d: _records_with_nan_and_infinity(d["skill"]),
                                    "unusable skill scores (skill.records: not hour stamps with finite errors"),
    "alert_last_of_5_mb": (lambda d: d["alert"]["last"].__setitem__("note", "x" * 5_000_000),
                           "unusable frost-alert state (alert.last is not the alert payload"),
    "band_offsets_of_1000_degrees": (lambda d: d["band"].__setitem__("offsets", pack_f8(np.full((2, 48), 7.0))),
                                    "unusable band calibration (band.offsets outside [0.05, 30.0] °C"),
    "nan_in_the_outbox": (lambda d: d["outbox"].append({**d["outbox"][-1], "temperature_c": float("nan")}),
                          "unusable unacknowledged forecasts (Out of range float values are not JSON compliant"),
}


class RawSubscriber:
    """Every message of the station's topics as the bytes that went over the wire."""

    def __init__(self, broker):
        self.raw: dict[str, list[bytes]] = {t: [] for t in TOPICS}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{free_port()}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("edgecast/jena/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        wait_until(self.client.is_connected, 10, what="subscriber connection")

    def _on_message(self, client, userdata, msg):
        name = msg.topic.rsplit("/", 1)[-1]
        with self.lock:
            self.raw.setdefault(name, []).append(msg.payload)

    def get(self, name: str) -> list[bytes]:
        with self.lock:
            return list(self.raw.get(name, []))

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def strict(raw: bytes):
    """The payload as a strict JSON parser reads it (NaN / Infinity are no JSON)."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(raw, parse_constant=refuse)


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_section_is_set_aside_and_the_daemon_serves(broker, daemons, tmp_path, series_2020,
                                                              jena_2020_path, caplog, case):
    damage, words = DAMAGE[case]
    run = InProcess(tmp_path).feed(payloads(series_2020, START, FILLED))
    run.station.outbox.load_list(run.station.outbox.to_list()[-1:])  # one forecast left unacknowledged
    assert run.station.save_state() and run.station.skill.records.shape[0] > 5
    data = json.loads(run.station.state_file.read_text())
    damage(data)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path))
    daemon.state_file.parent.mkdir(parents=True)
    daemon.state_file.write_text(json.dumps(data))  # Python's json writes NaN/Infinity as a damaged file may hold
    sub = RawSubscriber(broker)
    try:
        daemon.start()
        wait_until(lambda: b"online" in sub.get("status"), 20, what="daemon online")
        replay(broker, jena_2020_path, "2020-03-02T16:00:00", 3)
        wait_until(lambda: len(sub.get("forecast")) >= 3, 20, what="3 forecasts after the damaged file")
        wait_until(lambda: len(sub.get("stats")) >= 2, 20, what="stats")
        assert daemon.proc.poll() is None, daemon.log()
    finally:
        sub.close()
    for name in ("forecast", "stats", "alert"):
        for raw in sub.get(name):
            assert len(raw) < 100_000, (name, len(raw))
            strict(raw)
    stats = strict(sub.get("stats")[-1])
    assert stats["skill"]["days_30"]["skill_pct"] != 100.0
    log = daemon.log()
    assert words in log and "a copy of the file is kept as jena.state.json.corrupt-" in log, log
    assert "resumed" in log and "Traceback" not in log, log
    assert len(list(daemon.state_file.parent.glob("jena.state.json.corrupt-*"))) == 1
    issued = [strict(raw)["issued_at"] for raw in sub.get("forecast")]
    assert {"2020-03-02T16:00:00Z", "2020-03-02T17:00:00Z"} <= set(issued), issued
    assert daemon.stop() == 0
    run.station.state_file.write_bytes(daemon.state_file.read_bytes())  # the file the daemon wrote
    caplog.clear()
    again = InProcess(tmp_path)
    assert "unusable" not in caplog.text and len(again.station.buffer.hours) > FILLED - 2


def test_to_json_writes_strict_json_only(caplog):
    payload = {"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}, "e": "ok"}
    assert to_json(payload) == '{"a":null,"b":[1.0,null],"c":{"d":null},"e":"ok"}'
    assert "non-finite number" in caplog.text
    with pytest.raises(ValueError):
        to_json(payload, repair=False)
    assert to_json({"x": 1.5, "s": "Dach-Süd"}, ensure_ascii=False) == '{"x":1.5,"s":"Dach-Süd"}'


def test_a_state_file_nested_deeper_than_the_parser_goes_is_set_aside(tmp_path):
    from edgecast.daemon import state
    path = tmp_path / "jena.state.json"
    path.write_text("[" * 100_000)
    assert state.load(path, lambda data: None) is False  # was: RecursionError at every start
    assert not path.exists() and len(list(tmp_path.glob("jena.state.json.corrupt-*"))) == 1


@pytest.mark.parametrize("newest", [float("inf"), 1e300, -1e300])
def test_a_newest_time_no_reading_can_have_sets_the_file_aside(tmp_path, series_2020, newest):
    """Before: Infinity or 1e300 became the event clock's newest time, and every reading after
    the restart was `out_of_order`, silently, for good."""
    run = InProcess(tmp_path).feed(payloads(series_2020, START, 6))
    data = json.loads(run.station.state_file.read_text())
    data["newest"] = newest
    run.station.state_file.write_text(json.dumps(data))
    again = InProcess(tmp_path).feed(payloads(series_2020, "2020-03-01T06:00:00", 3))
    assert len(list(run.station.state_file.parent.glob("jena.state.json.corrupt-*"))) == 1
    assert again.station.counters["accepted"] > 0 and not again.station.counters["rejected"]
    assert len(again.station.buffer.hours) < 6  # started empty: nothing of the set-aside file kept
