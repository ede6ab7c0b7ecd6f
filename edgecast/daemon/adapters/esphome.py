"""ESPHome (``mqtt:`` component): one topic per sensor, ``<node>/sensor/<object_id>/state``,
the state as plain text (``21.5``; ``nan`` while unknown), no timestamp.

- Event time is the receive time (the daemon's wall clock): keep the box's clock on
  NTP. Readings are not stamped by the sensor, so a replay through the broker is not
  possible with this format.
- The ``+`` level of the subscription is the sensor's object_id (ESPHome's slug of the
  sensor name: "BME280 Temperature" -> ``bme280_temperature``). Default mapping:
  ``temperature`` -> T, ``humidity`` -> rh, ``pressure`` -> p, ``wind_speed`` -> wv,
  ``wind_gust`` -> max_wv, ``wind_direction`` -> wd; ``[input] map`` adds or overrides
  (``bme280_temperature = "T"``, ``wind_speed = "wv km/h"``).
- Combining: ESPHome publishes each sensor separately (usually within milliseconds of
  each other, every ``update_interval``). The adapter keeps the latest value of every
  mapped sensor; a message from the temperature sensor emits one reading at its receive
  time with the temperature plus every other value received within the last
  ``[input.esphome] max_age_seconds``. Other sensors' messages only update the held values.
  A pressure that arrives just after the temperature is thus used one round later:
  harmless for an hourly point sample.
- ESPHome publishes states retained by default. A retained state has an unknown age,
  so it is ignored (counted as ``ignored.retained``), never stamped "now".
"""

from __future__ import annotations

from paho.mqtt.client import topic_matches_sub

from ..settings import at_least, setting
from .base import Adapter, Ignored, number, register

DEFAULT_MAP = {"temperature": ("T", ""), "humidity": ("rh", ""), "pressure": ("p", ""),
               "wind_speed": ("wv", ""), "wind_gust": ("max_wv", ""), "wind_direction": ("wd", "")}


@register
class EsphomeAdapter(Adapter):
    name = "esphome"
    default_topic = "{station}/sensor/+/state"
    settings = {"max_age_seconds": setting(
        300, "held sensor values older than this are not combined into a reading", check=at_least(1))}
    renamed = {"max_age_seconds": "max_age_seconds"}

    @classmethod
    def topic_problem(cls, topic):
        if topic.split("/").count("+") != 1:
            return f"{topic!r} needs exactly one + level (the sensor name) for esphome"
        return None

    def __init__(self, cfg):
        super().__init__(cfg)
        levels = self.topic.split("/")
        self._name_level = levels.index("+")  # topic_problem() made sure there is exactly one
        self.sensors = {**DEFAULT_MAP, **self.mapping}
        self.held: dict[str, tuple[object, str, float]] = {}  # alias -> (value, unit, received)

    def convert(self, topic, payload, received, retained):
        if not topic_matches_sub(self.topic, topic):
            return Ignored("other_topic", topic)
        name = topic.split("/")[self._name_level]
        target = self.sensors.get(name)
        if target is None:
            return Ignored("unmapped_sensor", f"sensor {name!r} is not mapped to a channel")
        if retained:
            return Ignored("retained", f"retained state of {name!r} has an unknown age")
        if len(payload) > self.max_bytes:
            from ...readings import Rejection
            return Rejection("oversized", f"{len(payload)} bytes > {self.max_bytes}")
        alias, unit = target
        self.held[alias] = (number(payload), unit, received)
        if alias != "T":
            return None
        oldest = received - self.own.max_age_seconds
        fields = {a: (v, u) for a, (v, u, t) in self.held.items() if t >= oldest}
        return self.reading(received, fields)
