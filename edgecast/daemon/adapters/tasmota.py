"""Tasmota telemetry: ``tele/<topic>/SENSOR`` every TelePeriod, JSON such as

    {"Time":"2024-02-21T21:16:55","BME280":{"Temperature":21.7,"Humidity":66.6,
     "DewPoint":15.1,"Pressure":988.6},"PressureUnit":"hPa","TempUnit":"C"}

- ``Time`` is the device's local time without offset (its ``Timezone`` setting): read
  in ``[input.tasmota] timezone`` ("" = this box's zone; give the device's IANA zone if they
  differ). With ``SetOption52 1`` Tasmota appends the offset, which is then used.
- The sensor object: ``[input.tasmota] sensor`` ("BME280", "SHT3X", "DS18B20-1" …);
  "" = the first object holding a ``Temperature``. Its Temperature -> T, Humidity ->
  rh, Pressure -> p (station pressure; ``SeaPressure`` is never used). ``DewPoint`` is
  not taken: the daemon derives Tdew with the Jena station's formula, as in training.
- Units from the payload: ``TempUnit`` (C/F, SetOption8), ``PressureUnit`` (hPa/mmHg,
  SetOption24), ``SpeedUnit`` (m/s, km/h, kn, mph, ft/s, yd/s).
- ``[input] map`` keys are ``"<Sensor>.<Field>"`` (``"SHT3X.Humidity" = "rh"``,
  ``"ANEMOMETER.Speed" = "wv"``); a mapped field without a unit takes the payload's unit
  for its dimension. Mapped fields override the default ones.
"""

from __future__ import annotations

from ...readings import Rejection, decode
from ..settings import setting
from .base import Adapter, bad_time, event_time, register, timezone_setting
from .units import dimension

DEFAULT_FIELDS = {"Temperature": "T", "Humidity": "rh", "Pressure": "p"}
_UNIT_KEYS = {"temperature": ("TempUnit", "C"), "pressure": ("PressureUnit", "hPa"), "speed": ("SpeedUnit", "m/s")}


@register
class TasmotaAdapter(Adapter):
    name = "tasmota"
    default_topic = "tele/{station}/SENSOR"
    settings = {"sensor": setting("", "the sensor object, e.g. `BME280`", empty="first object with a `Temperature`"),
                "timezone": timezone_setting("Tasmota `Time`")}
    renamed = {"tasmota_sensor": "sensor", "timezone": "timezone"}

    def convert(self, topic, payload, received, retained):
        obj = decode(payload, self.max_bytes)
        if isinstance(obj, Rejection):
            return obj
        time = event_time(obj.get("Time"), self.own.timezone)
        if time is None:
            return bad_time("Time", obj.get("Time"))
        fields = self._fields(obj)
        if not fields:
            return Rejection("no_channels", f"no sensor {self.own.sensor or 'with a Temperature'} and no mapped field")
        return self.reading(time, fields)

    def _fields(self, obj: dict) -> dict[str, tuple[object, str]]:
        """alias -> (value, unit): the sensor object's default fields, then the mapped ones."""
        wanted = self.own.sensor
        if wanted:
            sensor = obj.get(wanted)
        else:
            sensor = next((v for v in obj.values() if isinstance(v, dict) and "Temperature" in v), None)
        fields: dict[str, tuple[object, str]] = {}
        if isinstance(sensor, dict):
            for field, alias in DEFAULT_FIELDS.items():
                if field in sensor:
                    fields[alias] = (sensor[field], _unit_for(obj, alias, ""))
        for key, (alias, unit) in self.mapping.items():
            name, _, field = key.rpartition(".")
            block = obj.get(name) if name else obj
            if isinstance(block, dict) and field in block:
                fields[alias] = (block[field], _unit_for(obj, alias, unit))
        return fields


def _unit_for(obj: dict, alias: str, given: str) -> str:
    """The unit of a field: the one configured, else the payload's for its dimension."""
    if given:
        return given
    dim = dimension(alias)
    if dim is None:
        return ""
    key, default = _UNIT_KEYS[dim]
    unit = obj.get(key, default)
    return unit if isinstance(unit, str) else str(unit)
