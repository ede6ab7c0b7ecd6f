"""Several stations in one daemon (a gateway box): each has its own buffer, state file,
topics, model, MQTT session and Home Assistant device, and what happens to one (a broken
model, another sensor's readings, a kill) does not reach the others. Real mosquitto,
real daemon subprocess, real 2020 rows and the bundled model."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import datetime, timedelta

import pytest

from edgecast.replay import select_rows
from harness.processes import EDGECAST, replay, wait_until
from tests.daemon.test_ecosystem import publish

STATIONS = ("roof", "garden", "shed")
GATEWAY = '''
[input]
format = "rtl_433"
[input.rtl433]
model = "Fineoffset-WH24"
timezone = "UTC"

[[stations]]
id = "roof"
input = { format = "native" }

[[stations]]
id = "garden"
input = { rtl433 = { id = "140" } }
model = { path = "{dir}/no-such-model.tflite" }

[[stations]]
id = "shed"
latitude = -33.9
longitude = 151.2
[stations.input.rtl433]
id = "141"
[stations.homeassistant]
device_name = "Garden shed"
'''


def rtl433_hours(device_id: int, first_c: float, step_c: float, hours: int) -> list[tuple[str, str]]:
    """A WH24's events every 10 minutes over ``hours`` hours, on the receiver's one topic."""
    t0 = datetime(2024, 2, 21, 21, 0, 0)
    return [("rtl_433/gateway/events", json.dumps(
        {"time": (t0 + timedelta(minutes=10 * i)).strftime("%Y-%m-%d %H:%M:%S"), "model": "Fineoffset-WH24",
         "id": device_id, "battery_ok": 1, "temperature_C": round(first_c + step_c * i, 2), "humidity": 87,
         "wind_avg_m_s": 1.1, "mic": "CRC"})) for i in range(6 * hours)]


def topics(*kinds: str) -> list[str]:
    return [f"edgecast/{s}/{k}" for s in STATIONS for k in kinds]


def test_one_daemon_serves_three_stations_independently(broker, daemons, subscriber, tmp_path, jena_2020_path,
                                                        series_2020):
    discovery = [f"homeassistant/sensor/edgecast_{s}_forecast_24h/config" for s in STATIONS]
    sub = subscriber(broker, topics("forecast", "stats", "status") + discovery)
    daemon = daemons(broker, station="gateway", stations=GATEWAY.replace("{dir}", str(tmp_path))).start()
    for station in STATIONS:
        sub.wait_online(station)

    # Two rtl_433 sensors on one receiver topic, interleaved, plus a neighbour's device.
    garden, shed = rtl433_hours(140, 10.0, 0.1, 3), rtl433_hours(141, -5.0, -0.1, 3)
    neighbour = rtl433_hours(999, 30.0, 0.0, 3)
    publish(broker, [m for triple in zip(garden, shed, neighbour) for m in triple])
    replay(broker, jena_2020_path, "2020-10-02", 123, station="roof")

    got = {s: sub.wait_for(f"edgecast/{s}/forecast", 3) for s in ("garden", "shed")}
    assert [f["temperature_c"] for f in got["garden"]] == pytest.approx([10.0, 10.6, 11.2])
    assert [f["temperature_c"] for f in got["shed"]] == pytest.approx([-5.0, -5.6, -6.2])
    assert {f["station"] for f in got["garden"]} == {"garden"} and {f["station"] for f in got["shed"]} == {"shed"}
    # garden's broken model is garden's alone: it serves naive with the reason ...
    assert all(f["source"] == "naive" and "no-such-model.tflite" in f["reason"] for f in got["garden"])
    # shed's WH24 sends T and rh only: the default model also reads p and wind speed
    assert all(f["source"] == "naive" and f["reason"].startswith("window incomplete") and "p (mbar)" in f["reason"]
               for f in got["shed"])
    # ... while roof, in the same process, serves the bundled model once its window is full.
    roof = wait_until(lambda: [f for f in sub.get("edgecast/roof/forecast") if f["source"] == "model"], 30,
                      what="a model forecast for roof")
    assert roof[0]["model"]["kind"] == "compact_lstm_anyroof" and roof[0]["station"] == "roof"

    def counts(station):
        s = sub.get(f"edgecast/{station}/stats")
        return s[-1]["readings"] if s else {}
    first, end = select_rows(series_2020.times, "2020-10-02", 123)
    wait_until(lambda: counts("garden").get("accepted") == 18 and counts("shed").get("accepted") == 18
               and counts("roof").get("accepted") == end - first, 20, what="each station's own readings counted")
    for station in ("garden", "shed"):  # each sees the other's and the neighbour's device as not its own
        assert counts(station)["ignored"] == {"other_device": 36}
    assert counts("roof")["ignored"] == {} and counts("roof")["rejected"] == {}

    configs = {t: wait_until(lambda t=t: sub.retained[t] or sub.get(t), 10, what=t)[-1] for t in discovery}
    names = {c["unique_id"]: c["device"]["name"] for c in configs.values()}
    assert names == {"edgecast_roof_forecast_24h": "edgecast roof", "edgecast_garden_forecast_24h": "edgecast garden",
                     "edgecast_shed_forecast_24h": "Garden shed"}
    assert {c["availability_topic"] for c in configs.values()} == set(topics("status"))

    # A kill: every station's own last will says offline; each state file is its own.
    daemon.stop(signal.SIGKILL)
    for station in STATIONS:
        wait_until(lambda s=station: sub.get(f"edgecast/{s}/status")[-1:] == ["offline"], 15,
                   what=f"{station} offline (last will)")
    saved = {s: json.loads((tmp_path / "state" / f"{s}.state.json").read_text()) for s in STATIONS}
    assert {s: d["station"] for s, d in saved.items()} == {s: s for s in STATIONS}

    # Restarted, each resumes its own window: garden and shed continue from their hour 3.
    daemon.start()
    for station in STATIONS:
        wait_until(lambda s=station: sub.get(f"edgecast/{s}/status")[-1:] == ["online"], 15, what=f"{station} back")
    publish(broker, rtl433_hours(140, 10.0, 0.1, 4)[-6:] + rtl433_hours(141, -5.0, -0.1, 4)[-6:])
    # (a forecast the kill left unacknowledged comes again first, identical: at-least-once)
    for station, expected in (("garden", 11.8), ("shed", -6.8)):
        new = wait_until(lambda s=station: [f for f in sub.get(f"edgecast/{s}/forecast")
                                            if f["issued_at"] == "2024-02-22T00:00:00Z"], 15, what=f"{station} 00:00")
        assert [f["temperature_c"] for f in new] == pytest.approx([expected])
    # the 3 hours before the kill, resumed, and this one
    assert new[0]["reason"].endswith("4 of 120 hours buffered")
    log = daemon.log()
    for station in STATIONS:
        assert f"[{station}] resumed" in log
    assert daemon.stop() == 0


def test_check_lists_every_station_and_clients_pick_one(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(GATEWAY.replace("{dir}", str(tmp_path)))
    out = subprocess.run(EDGECAST + ["run", "--config", str(config), "--check"], capture_output=True, text=True,
                         timeout=60)
    # every station listed; garden's model is missing: run would serve it naive only, so exit 1
    assert out.returncode == 1 and "station garden: the model cannot serve (model file" in out.stderr, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "configuration ok; 3 stations"
    # each: topics, location, model, frost warning
    roof, garden, shed = (lines[1 + 4 * i:5 + 4 * i] for i in range(3))
    assert roof[0].startswith("station roof: native readings on edgecast/roof/readings")
    assert garden[0].startswith("station garden: rtl_433 readings on rtl_433/+/events")
    # each station its own place: set for the shed, Jena's assumed (and said) for the others
    assert roof[1] == "  location: 50.911° N, 11.568° E (assumed: Jena's; set [station] latitude and longitude)"
    assert shed[1] == "  location: 33.900° S, 151.200° E"
    assert "model: none, naive forecasts" in garden[2] and "model: compact_lstm_anyroof" in shed[2]
    assert shed[3] == "  frost warning on edgecast/shed/alert: below 1 °C (frost_c 0 + margin 1), off from 1.5 °C"

    # A client of one station's topics must be told which one.
    out = subprocess.run(EDGECAST + ["watch", "--config", str(config), "--count", "1"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "serves several stations; pick one with --station (roof, garden, shed)" \
        in out.stderr
    out = subprocess.run(EDGECAST + ["watch", "--config", str(config), "--station", "attic"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no station 'attic'" in out.stderr


def test_sighup_applies_each_stations_own_changes(tmp_path, caplog):
    """Service.reload (what SIGHUP runs), in-process: links never connect."""
    import logging
    from edgecast.daemon import config as config_mod
    from edgecast.daemon.service import Service
    path = tmp_path / "gateway.toml"
    path.write_text(f'[state]\ndir = "{tmp_path}"\n' + GATEWAY.replace("{dir}", str(tmp_path)))
    svc = Service(config_mod.load(path), str(path))
    roof, garden, shed = svc.stations
    assert garden.forecaster is None and roof.forecaster is not None and shed.forecaster is not None
    running = roof.forecaster

    # garden's model fixed, shed's carry-forward changed, a fourth station added
    path.write_text(path.read_text().replace(f'model = {{ path = "{tmp_path}/no-such-model.tflite" }}',
                                             'model = { path = "bme280" }')
                    + '[stations.gaps]\ncarry_forward_hours = 1\n'
                    + '[[stations]]\nid = "attic"\ninput = { format = "native" }\n')
    with caplog.at_level(logging.INFO, logger="edgecast"):
        svc.reload()
    assert garden.forecaster is not None and garden.model_error is None
    assert garden.forecaster.identity["kind"] != roof.forecaster.identity["kind"]  # the bme280 bundle
    assert roof.forecaster.identity == running.identity  # unchanged config: the same bundle again
    assert (shed.buffer.carry, roof.buffer.carry) == (3600, 3 * 3600)
    assert "the list of stations changed (roof, garden, shed -> roof, garden, shed, attic)" in caplog.text
    assert len(svc.stations) == 3
    svc.shutdown()
