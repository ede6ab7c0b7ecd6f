"""Sensor firmware in, Home Assistant out: each input adapter with payloads exactly as the
firmware publishes them, and Home Assistant discovery, through a real mosquitto and the
real daemon subprocess (the unit-level cases are in test_adapters.py)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest

from edgecast.schema import CHANNEL_INDEX
from harness.processes import EDGECAST, free_port, replay, wait_until

NO_MODEL = '[model]\npath = "{dir}/no-such-model.tflite"\n'
NO_DISCOVERY = "[homeassistant]\ndiscovery = false\n"


def publish(broker, messages, retain=False):
    """Publish (topic, payload) pairs in order with QoS 1, as a sensor would."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{free_port()}")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def stats(sub, station):
    got = sub.get(f"edgecast/{station}/stats")
    return got[-1] if got else {}


def start(daemons, broker, subscriber, tmp_path, station, extra):
    topics = [f"edgecast/{station}/{t}" for t in ("forecast", "stats", "status")]
    sub = subscriber(broker, topics)
    daemon = daemons(broker, station=station, extra=NO_MODEL.format(dir=tmp_path) + extra).start()
    sub.wait_online(station)
    return daemon, sub


def test_tasmota_bme280_in_fahrenheit_local_time(broker, daemons, subscriber, tmp_path):
    daemon, sub = start(daemons, broker, subscriber, tmp_path, "tasmota_4A1F2C",
                        NO_DISCOVERY + '[input]\nformat = "tasmota"\n[input.tasmota]\ntimezone = "Europe/Berlin"\n')
    t0 = datetime(2024, 2, 21, 0, 0)  # local time on the device, as Tasmota writes it (no offset)
    payloads = []
    for i in range(19):  # 00:00 … 03:00, 10-minute TelePeriods
        f = 50.0 + i  # °F
        payloads.append(("tele/tasmota_4A1F2C/SENSOR", json.dumps(
            {"Time": (t0 + timedelta(minutes=10 * i)).isoformat(),
             "BME280": {"Temperature": f, "Humidity": 66.6, "DewPoint": 40.1, "Pressure": 29.2},
             "PressureUnit": "inHg", "TempUnit": "F"}, separators=(",", ":"))))
    payloads.insert(5, ("tele/tasmota_4A1F2C/SENSOR", '{"Time":"2024-02-21T00:45:00","ANALOG":{"A0":512}}'))
    publish(broker, payloads)
    forecasts = wait_until(lambda: len(f := sub.get("edgecast/tasmota_4A1F2C/forecast")) >= 4 and f, 20,
                           what="4 forecasts")
    # 00:00 in Berlin (CET, UTC+1) is 23:00Z; the hourly value is the reading stamped on the hour
    assert [f["issued_at"] for f in forecasts] == ["2024-02-20T23:00:00Z", "2024-02-21T00:00:00Z",
                                                   "2024-02-21T01:00:00Z", "2024-02-21T02:00:00Z"]
    assert [f["temperature_c"] for f in forecasts] == pytest.approx([10.0, 13.333, 16.667, 20.0], abs=1e-3)
    s = wait_until(lambda: stats(sub, "tasmota_4A1F2C").get("readings", {}).get("accepted") == 19
                   and stats(sub, "tasmota_4A1F2C"), 15, what="stats")
    assert s["input"] == "tasmota" and s["readings"]["rejected"] == {"no_channels": 1}
    assert s["readings"]["derived"] == 19  # Tdew, VP*, sh, … from p, T, rh
    assert daemon.stop() == 0


def test_rtl433_weather_station_one_device(broker, daemons, subscriber, tmp_path):
    daemon, sub = start(daemons, broker, subscriber, tmp_path, "garden",
                        NO_DISCOVERY + '[input]\nformat = "rtl_433"\n[input.rtl433]\nmodel = "Fineoffset-WH24"\n'
                        'id = "140"\ntimezone = "UTC"\n')
    t0 = datetime(2024, 2, 21, 21, 0, 0)
    messages = []
    for i in range(14):  # a WH24 every 16 s in reality; every 10 minutes here, each sent 2x
        event = {"time": (t0 + timedelta(minutes=10 * i)).strftime("%Y-%m-%d %H:%M:%S"),
                 "model": "Fineoffset-WH24", "id": 140, "battery_ok": 1, "temperature_C": 7.8 - 0.1 * i,
                 "humidity": 87, "wind_dir_deg": 212, "wind_avg_m_s": 1.12, "wind_max_m_s": 2.24,
                 "rain_mm": 1238.4, "uv": 1, "uvi": 0, "light_lux": 0, "mic": "CRC"}
        text = json.dumps(event)
        messages += [("rtl_433/raspberrypi/events", text), ("rtl_433/raspberrypi/events", text)]
        messages.append(("rtl_433/raspberrypi/events", json.dumps(
            {"time": event["time"], "model": "Acurite-Tower", "id": 11, "channel": "A", "battery_ok": 1,
             "temperature_C": 21.0, "humidity": 40, "mic": "CHECKSUM"})))
    publish(broker, messages)
    forecasts = wait_until(lambda: len(f := sub.get("edgecast/garden/forecast")) >= 3 and f, 20,
                           what="3 forecasts")
    # hour H completes with the reading stamped H:00 (21:00 … 23:10 here)
    assert [f["issued_at"] for f in forecasts] == ["2024-02-21T21:00:00Z", "2024-02-21T22:00:00Z",
                                                   "2024-02-21T23:00:00Z"]
    assert [f["temperature_c"] for f in forecasts] == pytest.approx([7.8, 7.2, 6.6])  # the neighbour's 21 °C never
    # every message counted (the last one, the neighbour's, comes after the 14th reading)
    s = wait_until(lambda: (r := stats(sub, "garden").get("readings", {})).get("accepted") == 14
                   and sum(r.get("ignored", {}).values()) == 28 and stats(sub, "garden"), 30, what="stats")
    assert s["readings"]["ignored"] == {"repeat": 14, "other_device": 14}
    assert s["readings"]["rejected"] == {}
    assert daemon.stop() == 0
    state = json.loads(daemon.state_file.read_text())["buffer"]["sample_value"]
    assert state[CHANNEL_INDEX["wv (m/s)"]] == 1.12 and state[CHANNEL_INDEX["wd (deg)"]] == 212


def test_esphome_per_sensor_topics_receive_time(broker, daemons, subscriber, tmp_path):
    node = "weather-station"
    # ESPHome retains states by default: one from before the daemon started has an unknown age
    publish(broker, [(f"{node}/sensor/bme280_temperature/state", "3.0")], retain=True)
    daemon, sub = start(daemons, broker, subscriber, tmp_path, "roof",
                        NO_DISCOVERY + f'[input]\nformat = "esphome"\ntopic = "{node}/sensor/+/state"\n'
                        'map = {bme280_temperature = "T", bme280_humidity = "rh", '
                        'bme280_pressure = "p", anemometer = "wv km/h"}\n')
    rounds = [("21.7", "66.6", "988.6", "18.0"), ("nan", "66.0", "988.5", "18.0"), ("21.9", "65.9", "988.5", "3.6")]
    messages = []
    for temperature, humidity, pressure, wind in rounds:  # one update_interval each
        messages += [(f"{node}/sensor/bme280_humidity/state", humidity),
                     (f"{node}/sensor/bme280_pressure/state", pressure),
                     (f"{node}/sensor/anemometer/state", wind),
                     (f"{node}/sensor/wifi_signal/state", "-61"),
                     (f"{node}/sensor/bme280_temperature/state", temperature)]
    publish(broker, messages)
    s = wait_until(lambda: stats(sub, "roof").get("readings", {}).get("accepted") == 3 and stats(sub, "roof"),
                   15, what="stats")
    assert s["readings"]["ignored"] == {"retained": 1, "unmapped_sensor": 3}
    assert s["readings"]["values_dropped"] == {"non_finite": 1}  # the nan temperature
    assert s["readings"]["derived"] == 2  # the rounds with p, T and rh
    assert daemon.stop(signal.SIGTERM) == 0
    buffer = json.loads(daemon.state_file.read_text())["buffer"]
    sample = buffer["sample_value"]
    assert sample[CHANNEL_INDEX["T (degC)"]] == 21.9 and sample[CHANNEL_INDEX["p (mbar)"]] == 988.5
    assert sample[CHANNEL_INDEX["wv (m/s)"]] == pytest.approx(1.0)  # 3.6 km/h
    newest = max(t for t in buffer["sample_time"] if t is not None)
    assert abs(newest - datetime.now(timezone.utc).timestamp()) < 3600  # stamped at receipt, not 1970


# --- Home Assistant discovery -----------------------------------------------------------------
# The MQTT sensor's discovery schema (home-assistant.io/integrations/sensor.mqtt and
# /integrations/mqtt#discovery-payload), for the keys edgecast uses.
SENSOR_KEYS = {"name": str, "unique_id": str, "state_topic": str, "value_template": str,
               "availability_topic": str, "payload_available": str, "payload_not_available": str,
               "availability_template": str,  # its result is compared to payload_(not_)available
               "device_class": str, "unit_of_measurement": str, "state_class": str, "entity_category": str,
               "icon": str, "options": list, "json_attributes_topic": str, "json_attributes_template": str,
               "suggested_display_precision": int, "qos": int, "device": dict, "origin": dict}
DEVICE_KEYS = {"identifiers", "name", "manufacturer", "model", "sw_version", "hw_version", "connections",
               "configuration_url", "suggested_area", "via_device", "serial_number", "model_id"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
# The MQTT binary sensor's (/integrations/binary_sensor.mqtt): no unit, no state class.
BINARY_SENSOR_KEYS = {k: v for k, v in SENSOR_KEYS.items() if k not in ("unit_of_measurement", "state_class",
                                                                        "options", "suggested_display_precision")}
BINARY_SENSOR_KEYS |= {"payload_on": str, "payload_off": str}
ENTITIES = [("sensor", "forecast_24h"), ("sensor", "min_24h"), ("sensor", "max_24h"), ("binary_sensor", "frost"),
            ("sensor", "source"), ("sensor", "window_observed"), ("sensor", "model_mae_30d"),
            ("sensor", "naive_mae_30d"), ("sensor", "skill_30d"), ("sensor", "uncorrected_mae_30d"),
            ("sensor", "frost_probability")]
CONFIG_TOPICS = [f"homeassistant/{component}/edgecast_jena_{key}/config" for component, key in ENTITIES]
STATION_TOPICS = [f"edgecast/jena/{t}" for t in ("forecast", "status", "stats", "alert")]


def check_discovery(topic: str, config: dict, payloads: dict) -> None:
    """``payloads``: a real payload of each state topic (forecast, stats, alert)."""
    component = topic.split("/")[1]
    assert topic == f"homeassistant/{component}/{config['unique_id']}/config"
    schema = {"sensor": SENSOR_KEYS, "binary_sensor": BINARY_SENSOR_KEYS}[component]
    assert set(config) <= set(schema), set(config) - set(schema)
    for key, kind in schema.items():
        assert key not in config or isinstance(config[key], kind), key
    assert config["state_topic"] in payloads
    assert config.get("json_attributes_topic", config["state_topic"]) == config["state_topic"]
    assert config["availability_topic"] == "edgecast/jena/status"
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    device, origin = config["device"], config["origin"]
    assert set(device) <= DEVICE_KEYS and device["identifiers"] == ["edgecast_jena"]
    assert device["name"] and device["model"] and device["sw_version"]
    assert set(origin) <= ORIGIN_KEYS and origin["name"] == "edgecast"
    assert config.get("entity_category", "diagnostic") in ("diagnostic", "config")
    assert config.get("state_class", "measurement") in ("measurement", "total", "total_increasing")
    if config.get("device_class") == "temperature":
        assert config["unit_of_measurement"] in ("°C", "°F", "K")
    if config.get("device_class") == "enum":  # enum sensors: options, no unit, no state class
        assert config["options"] and "unit_of_measurement" not in config and "state_class" not in config
    if config.get("unit_of_measurement") == "°C" and config.get("device_class") != "temperature":
        assert "state_class" in config  # an error in °C: a measurement HA must not convert as a temperature
    # every value_json path a template reads exists in a real payload of its state topic
    for template in (config["value_template"], config.get("json_attributes_template", "")):
        for path in re.findall(r"value_json\.([\w.]+)", template):
            node = payloads[config["state_topic"]]
            for part in path.split("."):
                assert part in node, f"{path} not in the {config['state_topic']} payload"
                node = node[part]


def test_home_assistant_discovery(broker, daemons, subscriber, tmp_path, jena_2020_path):
    ha = subscriber(broker, CONFIG_TOPICS + STATION_TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path) +
                     "[homeassistant]\nrepublish_delay_seconds = 0.5\n").start()
    wait_until(lambda: all(ha.get(t) for t in CONFIG_TOPICS), 15, what="discovery configs")
    replay(broker, jena_2020_path, "2020-03-01T00:00:00", 6)
    forecast = wait_until(lambda: len(f := ha.get("edgecast/jena/forecast")) >= 6 and f[-1], 20, what="forecasts")
    stats = wait_until(lambda: (s := ha.get("edgecast/jena/stats")) and s[-1]["hours_completed"] >= 6 and s[-1],
                       20, what="stats")
    alert = wait_until(lambda: (a := ha.get("edgecast/jena/alert")) and a[-1]["issued_at"] == forecast["issued_at"]
                       and a[-1], 20, what="the alert of the last forecast")
    configs = {t: ha.get(t)[-1] for t in CONFIG_TOPICS}
    for topic, config in configs.items():
        check_discovery(topic, config, {"edgecast/jena/forecast": forecast, "edgecast/jena/stats": stats,
                                        "edgecast/jena/alert": alert})
    main = configs[CONFIG_TOPICS[0]]
    assert (main["device_class"], main["unit_of_measurement"], main["state_class"]) == ("temperature", "°C",
                                                                                        "measurement")
    assert main["value_template"] == "{{ value_json.temperature_c }}"
    assert [configs[t].get("entity_category") for t in CONFIG_TOPICS] == [None] * 4 + ["diagnostic"] * 6 + [None]
    # the next day: the curve as attributes, its min and max, the frost warning
    assert "'hourly': value_json.hourly" in main["json_attributes_template"] and len(forecast["hourly"]) == 24
    low, high, frost = (configs[t] for t in CONFIG_TOPICS[1:4])
    assert (low["value_template"], high["value_template"]) == ("{{ value_json.min_c }}", "{{ value_json.max_c }}")
    assert low["device_class"] == high["device_class"] == "temperature"
    assert forecast["min_c"] <= forecast["temperature_c"] <= forecast["max_c"]
    assert (frost["device_class"], frost["state_topic"]) == ("cold", "edgecast/jena/alert")
    assert frost["value_template"] == "{{ 'ON' if value_json.frost else 'OFF' }}"
    assert alert["frost"] == forecast["frost_alert"] and alert["min_c"] == forecast["min_c"]
    # the band (attributes of the forecast sensor) and the frost probability in %
    assert "'hourly_p10': value_json.hourly_p10" in main["json_attributes_template"]
    assert all(lo <= v <= hi for lo, v, hi in zip(forecast["hourly_p10"], forecast["hourly"], forecast["hourly_p90"]))
    probability = configs[CONFIG_TOPICS[10]]
    assert (probability["name"], probability["unit_of_measurement"]) == ("Frost probability", "%")
    assert probability["value_template"] == "{{ (value_json.frost_probability * 100) | round(1) }}"
    # the on-box skill from the stats topic; null until a forecast is verified (HA: unknown)
    skill = {t: configs[t] for t in CONFIG_TOPICS[6:10]}
    assert all(c["state_topic"] == "edgecast/jena/stats" for c in skill.values())
    assert [c["value_template"] for c in skill.values()] == [
        "{{ value_json.skill.days_30.model_mae }}", "{{ value_json.skill.days_30.naive_mae }}",
        "{{ value_json.skill.days_30.skill_pct }}", "{{ value_json.skill.days_30.uncorrected_mae }}"]
    assert [c["unit_of_measurement"] for c in skill.values()] == ["°C", "°C", "%", "°C"]
    assert stats["skill"]["days_30"]["naive_mae"] is None  # 6 hours: nothing verified yet
    assert all(len(ha.get(t)) == 1 for t in CONFIG_TOPICS)  # once per connect, never with readings

    # Retained: Home Assistant connecting later still finds them.
    late = subscriber(broker, CONFIG_TOPICS)
    wait_until(lambda: all(late.retained[t] for t in CONFIG_TOPICS), 10, what="retained configs")
    assert late.retained[CONFIG_TOPICS[0]][-1] == main

    # Home Assistant restarts: its birth message (a burst of two) -> one republish after the delay
    publish(broker, [("homeassistant/status", "offline"), ("homeassistant/status", "online"),
                     ("homeassistant/status", "online")])
    wait_until(lambda: all(len(ha.get(t)) == 2 for t in CONFIG_TOPICS), 10, what="republished configs")
    assert daemon.stop() == 0
    assert all(len(ha.get(t)) == 2 for t in CONFIG_TOPICS)

    # --remove-discovery: empty retained configs make Home Assistant delete the entities
    out = subprocess.run(EDGECAST + ["run", "--config", str(daemon.config), "--remove-discovery"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    wait_until(lambda: all(ha.get(t)[-1] == "" for t in CONFIG_TOPICS), 10, what="empty configs")
    gone = subscriber(broker, CONFIG_TOPICS)
    assert all(not gone.retained[t] for t in CONFIG_TOPICS)


def test_remove_discovery_clears_retained_topics_and_warns_while_the_daemon_runs(broker, daemons, subscriber,
                                                                                   tmp_path, jena_2020_path):
    """Before: the retained forecast/status/stats stayed behind (a later HA install showed a
    ghost forecast), and removing while the daemon ran gave no warning although its next
    connect brought the entities back."""
    station_topics = STATION_TOPICS
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub = subscriber(broker, station_topics)
    sub.wait_online()
    replay(broker, jena_2020_path, "2020-03-01T00:00:00", 2)
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 2, 20, what="2 forecasts")
    remove = EDGECAST + ["run", "--config", str(daemon.config), "--remove-discovery"]
    running = subprocess.run(remove, capture_output=True, text=True, timeout=30)
    assert running.returncode == 0 and "is running" in running.stderr and "stop it first" in running.stderr
    assert daemon.stop() == 0
    out = subprocess.run(remove, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "is running" not in out.stderr, out.stderr
    late = subscriber(broker, CONFIG_TOPICS + station_topics)
    time.sleep(1)  # retained messages arrive right after the subscription
    assert all(not late.retained[t] for t in CONFIG_TOPICS + station_topics), late.retained


def test_watch_prints_the_next_day_and_the_frost_warning(broker, daemons, subscriber, tmp_path, jena_2020_path):
    """`edgecast watch`: one compact line per forecast (now, min, max, +24 h, source, FROST),
    beside the alert topic; a 4 °C threshold (warning below 5 °C) switches it on and off in
    early March 2020 in Jena."""
    daemon, sub = start(daemons, broker, subscriber, tmp_path, "jena", NO_DISCOVERY + "[alerts]\nfrost_c = 4.0\n")
    alerts = subscriber(broker, ["edgecast/jena/alert"])
    watch = subprocess.Popen(EDGECAST + ["watch", "--config", str(daemon.config), "--count", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # its subscription first
        replay(broker, jena_2020_path, "2020-03-01T00:00:00", 30)
        out, err = watch.communicate(timeout=60)
    finally:
        watch.kill()
    assert watch.returncode == 0, err
    forecasts = sub.wait_for("edgecast/jena/forecast", 30, 30)
    got = wait_until(lambda: len(a := alerts.get("edgecast/jena/alert")) >= 30 and a, 20, what="30 alerts")
    band = r" \[(-?[\d.]+)…(-?[\d.]+)\]"
    line = re.compile(r"^(\S+Z)  now +(-?[\d.]+)  min +(-?[\d.]+)" + band + r" at (\d\d:\d\d)  max +(-?[\d.]+)"
                      + band + r" at (\d\d:\d\d)  \+24 h +(-?[\d.]+) °C  \[naive \(no model: .*\)\]  frost (\d+) %"
                      r"(  FROST)?$")
    lines = [m for m in map(line.match, out.splitlines()) if m]
    assert len(lines) == 30, out
    assert [a["frost"] for a in got[:30]] == [f["frost_alert"] for f in forecasts]
    assert any(f["frost_alert"] for f in forecasts) and not all(f["frost_alert"] for f in forecasts)
    for m, f in zip(lines, forecasts):
        low, high = f["hourly"].index(f["min_c"]), f["hourly"].index(f["max_c"])
        assert m[1] == f["issued_at"] and float(m[3]) == pytest.approx(f["min_c"], abs=0.005)
        assert (float(m[4]), float(m[5])) == pytest.approx((f["hourly_p10"][low], f["hourly_p90"][low]), abs=0.05)
        assert m[6] == f["min_at"][11:16] and float(m[7]) == pytest.approx(f["max_c"], abs=0.005)
        assert (float(m[8]), float(m[9])) == pytest.approx((f["hourly_p10"][high], f["hourly_p90"][high]), abs=0.05)
        assert float(m[11]) == pytest.approx(f["temperature_c"], abs=0.005)
        assert int(m[12]) == round(100 * f["frost_probability"])
        assert bool(m[13]) == f["frost_alert"]
    assert daemon.stop() == 0
