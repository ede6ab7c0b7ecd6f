"""Input adapters and unit conversion, unit level (payloads exactly as the firmware sends
them); through a real broker in test_ecosystem.py."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from edgecast.daemon import adapters, config
from edgecast.daemon.adapters import Ignored, event_time
from edgecast.daemon.adapters.units import convert, parse_mapping
from edgecast.readings import Reading, Rejection
from edgecast.schema import CHANNEL_INDEX

T, RH, P, WV, MAX_WV, WD, TPOT = (CHANNEL_INDEX[n] for n in (
    "T (degC)", "rh (%)", "p (mbar)", "wv (m/s)", "max. wv (m/s)", "wd (deg)", "Tpot (K)"))
TASMOTA = (b'{"Time":"2024-02-21T21:16:55","BME280":{"Temperature":21.7,"Humidity":66.6,"DewPoint":15.1,'
           b'"Pressure":988.6},"PressureUnit":"hPa","TempUnit":"C"}')
RTL433 = {"time": "2024-02-21 21:16:55", "model": "Fineoffset-WH24", "id": 140, "battery_ok": 1,
          "temperature_C": 7.8, "humidity": 87, "wind_dir_deg": 212, "wind_avg_m_s": 1.12,
          "wind_max_m_s": 2.24, "rain_mm": 1238.4, "uv": 1, "uvi": 0, "light_lux": 0, "mic": "CRC"}


def adapter(text: str):
    return adapters.make(config.parse(text))


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.mark.parametrize("alias, value, unit, expected", [
    ("T", 70.0, "degF", 21.1111), ("T", 32, "F", 0.0), ("T", 294.15, "K", 21.0), ("Tpot", 21.0, "degC", 294.15),
    ("p", 29.92, "inHg", 1013.21), ("p", 760.0, "mmHg", 1013.25), ("p", 101325, "Pa", 1013.25),
    ("p", 101.3, "kPa", 1013.0), ("p", 14.696, "psi", 1013.25), ("wv", 36.0, "km/h", 10.0),
    ("wv", 10.0, "mph", 4.4704), ("max_wv", 10.0, "kn", 5.14444), ("rh", 55.0, "%", 55.0),
])
def test_unit_conversion(alias, value, unit, expected):
    assert convert(alias, value, unit) == pytest.approx(expected, abs=0.01)


def test_conversion_leaves_non_numbers_to_the_validation_and_refuses_wrong_units():
    assert convert("T", "abc", "degF") == "abc" and convert("T", None, "F") is None
    with pytest.raises(ValueError, match="does not fit"):
        convert("T", 1.0, "hPa")
    assert parse_mapping("wv km/h") == ("wv", "km/h") and parse_mapping("T") == ("T", "")
    for bad in ("X", "T degF extra", "rh km/h"):
        with pytest.raises(ValueError):
            parse_mapping(bad)


def test_event_time_local_offset_and_unix():
    assert event_time("2024-02-21T21:16:55", "UTC") == epoch("2024-02-21T21:16:55+00:00")
    assert event_time("2024-02-21T21:16:55", "Europe/Berlin") == epoch("2024-02-21T20:16:55+00:00")
    assert event_time("2024-07-21 21:16:55", "Europe/Berlin") == epoch("2024-07-21T19:16:55+00:00")  # DST
    assert event_time("2024-02-21T21:16:55+01:00", "UTC") == epoch("2024-02-21T20:16:55+00:00")  # SetOption52
    assert event_time("1708550215", "") == 1708550215.0 and event_time(1708550215, "") == 1708550215.0
    assert event_time("yesterday", "") is None and event_time(None, "") is None
    # Corrupt clocks: beyond what a datetime (and a forecast 24 h later) can hold.
    for absurd in (1e15, -1e15, "1000000000000000", float("nan"), 10**400, "9999-12-31T23:59:59",
                   "0001-01-01T00:00:00+14:00"):
        assert event_time(absurd, "Pacific/Kiritimati") is None, absurd


def test_native_is_the_plain_parser_and_the_map_renames_with_units():
    plain = adapter("")
    r = plain.convert("edgecast/default/readings", b'{"time":"2020-03-01T00:00:00Z","T":4.5,"p":990}', 0, False)
    assert isinstance(r, Reading) and r.values == {T: 4.5, P: 990.0}
    mapped = adapter('[input]\nmap = {temp_f = "T degF", baro = "p inHg"}\n')
    r = mapped.convert("x", b'{"time":"2020-03-01T00:00:00Z","temp_f":50,"baro":29.5,"rh":80}', 0, False)
    assert r.values[T] == pytest.approx(10.0) and r.values[P] == pytest.approx(998.98, abs=0.01)
    assert r.values[RH] == 80.0


def test_esphome_combines_per_sensor_messages_on_temperature():
    a = adapter('[station]\nid = "weather"\n[input]\nformat = "esphome"\nmap = {bme280_pressure = "p"}\n')
    assert a.topics() == ["weather/sensor/+/state"]
    assert a.convert("weather/sensor/humidity/state", b"66.6", 1000.0, False) is None  # held
    assert a.convert("weather/sensor/bme280_pressure/state", b"988.6", 1000.1, False) is None
    r = a.convert("weather/sensor/temperature/state", b"21.7", 1000.2, False)
    assert isinstance(r, Reading) and r.time == 1000.2
    assert r.values == {T: 21.7, RH: 66.6, P: 988.6}
    # nan while unknown: the temperature is dropped (non_finite), the rest is used
    r = a.convert("weather/sensor/temperature/state", b"nan", 1060.0, False)
    assert r.values == {RH: 66.6, P: 988.6} and r.dropped == {"non_finite": 1}
    # a held value older than max_age_seconds (300) is not combined
    r = a.convert("weather/sensor/temperature/state", b"20.0", 1400.0, False)
    assert r.values == {T: 20.0}
    assert isinstance(a.convert("weather/sensor/temperature/state", b"21.0", 1500.0, True), Ignored)  # retained
    ignored = a.convert("weather/sensor/wifi_signal/state", b"-61", 1500.0, False)
    assert isinstance(ignored, Ignored) and ignored.reason == "unmapped_sensor"
    r = a.convert("weather/sensor/temperature/state", b"unavailable", 1500.0, False)
    assert isinstance(r, Rejection) and r.reason == "non_numeric"


def test_tasmota_bme280_units_and_local_time():
    a = adapter('[station]\nid = "tasmota_4A1F2C"\n[input]\nformat = "tasmota"\n'
                '[input.tasmota]\ntimezone = "Europe/Berlin"\n')
    assert a.topics() == ["tele/tasmota_4A1F2C/SENSOR"]
    r = a.convert(a.topic, TASMOTA, 0.0, False)
    assert r.time == epoch("2024-02-21T20:16:55+00:00")
    assert r.values == {T: 21.7, RH: 66.6, P: 988.6}  # DewPoint is derived by the daemon instead
    fahrenheit = (b'{"Time":"2024-02-21T21:16:55+01:00","SHT3X":{"Temperature":71.1,"Humidity":66.6,'
                  b'"DewPoint":59.2},"BMP280":{"Temperature":70.5,"Pressure":741.5},'
                  b'"PressureUnit":"mmHg","TempUnit":"F"}')
    b = adapter('[input]\nformat = "tasmota"\nmap = {"BMP280.Pressure" = "p"}\n[input.tasmota]\nsensor = "SHT3X"\n')
    r = b.convert(b.topic, fahrenheit, 0.0, False)
    assert r.values[T] == pytest.approx(21.722, abs=1e-3) and r.values[RH] == 66.6
    assert r.values[P] == pytest.approx(988.58, abs=0.01)
    bad = b.convert(b.topic, fahrenheit.replace(b'"TempUnit":"F"', b'"TempUnit":"X"'), 0.0, False)
    assert isinstance(bad, Rejection) and bad.reason == "bad_unit"
    assert b.convert(b.topic, b'{"Time":"soon"}', 0.0, False).reason == "bad_time"
    assert b.convert(b.topic, b'{"Time":"2024-02-21T21:16:55","ANALOG":{"A0":3}}', 0.0, False).reason == "no_channels"


def test_rtl433_filters_one_device_and_converts():
    a = adapter('[input]\nformat = "rtl_433"\n[input.rtl433]\nmodel = "Fineoffset-WH24"\nid = "140"\n'
                'timezone = "UTC"\n')
    assert a.topics() == ["rtl_433/+/events"]
    r = a.convert("rtl_433/pi/events", json.dumps(RTL433).encode(), 0.0, False)
    assert r.time == epoch("2024-02-21T21:16:55+00:00")
    assert r.values == {T: 7.8, RH: 87.0, WD: 212.0, WV: 1.12, MAX_WV: 2.24}
    again = a.convert("rtl_433/pi/events", json.dumps(RTL433).encode(), 0.0, False)
    assert isinstance(again, Ignored) and again.reason == "repeat"
    other = a.convert("rtl_433/pi/events", json.dumps({**RTL433, "id": 7}).encode(), 0.0, False)
    assert isinstance(other, Ignored) and other.reason == "other_device"
    neighbour = {"time": "2024-02-21 21:17:00", "model": "Acurite-Tower", "id": 2, "temperature_C": 3.0}
    assert a.convert("rtl_433/pi/events", json.dumps(neighbour).encode(), 0.0, False).reason == "other_device"
    imperial = {"time": "2024-02-21 21:18:00", "model": "Fineoffset-WH24", "id": 140, "temperature_F": 46.0,
                "humidity": 87, "wind_avg_km_h": 7.2, "wind_max_km_h": 14.4}
    r = a.convert("rtl_433/pi/events", json.dumps(imperial).encode(), 0.0, False)
    assert r.values[T] == pytest.approx(7.778, abs=1e-3) and r.values[WV] == pytest.approx(2.0)
    assert r.values[MAX_WV] == pytest.approx(4.0)
    untimed = {k: v for k, v in RTL433.items() if k != "time"}
    assert a.convert("rtl_433/pi/events", json.dumps(untimed).encode(), 5e9, False).time == 5e9


def test_config_rejects_bad_input_and_discovery_keys_by_name():
    for text, key in [('[input]\nformat = "zigbee"\n', "input.format"),
                      ('[input]\nformat = "rtl_433"\n', "input.rtl433.model"),
                      ('[input]\nformat = "esphome"\ntopic = "node/sensor/temperature/state"\n', "input.topic"),
                      ('[input]\nformat = "tasmota"\n[input.tasmota]\ntimezone = "Mars/Olympus"\n',
                       "input.tasmota.timezone"),
                      ('[input]\nmap = {t = "T furlongs"}\n', "input.map.t"),
                      ('[input]\nmap = {t = 1}\n', "input.map.t"),
                      ('[input]\nmap = "T"\n', "input.map"),
                      ('[input]\nformat = "esphome"\n[input.esphome]\nmax_age_seconds = "5"\n',
                       "input.esphome.max_age_seconds"),
                      ('[homeassistant]\ndiscovery = "yes"\n', "homeassistant.discovery"),
                      ('[homeassistant]\nprefx = "ha"\n', "homeassistant.prefx"),
                      ('[homeassistant]\nprefix = "ha/#"\n', "homeassistant.prefix")]:
        with pytest.raises(config.ConfigError, match=f"^{key}"):
            config.parse(text)
