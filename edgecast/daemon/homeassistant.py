"""Home Assistant MQTT discovery: the forecast appears in Home Assistant without YAML.

On every connect the daemon publishes, retained, one discovery config per entity on
``<prefix>/<component>/<unique_id>/config`` (component ``sensor`` or ``binary_sensor``)
and subscribes to ``<prefix>/status``; when Home Assistant announces ``online`` there
(it restarted and lost its entities unless the configs were retained), the configs are
published again after ``republish_delay_seconds`` (so HA has subscribed first; several
announcements inside the delay cause one republish). Configs are never published with readings or
forecasts. ``edgecast run --remove-discovery`` publishes empty retained configs, which
makes Home Assistant delete the entities, and clears the station's retained topics.

Entities (one HA device per station, identifier ``edgecast_<key>``; ``<station>`` below is
that key too: topics.station_key, the id itself when it is made of ``[a-zA-Z0-9_-]``,
which Home Assistant requires of discovery topics, else a slug of it plus a short hash):

- ``edgecast_<station>_forecast_24h``: the 24 h forecast, device_class temperature,
  °C, state_class measurement, from ``temperature_c`` of the forecast topic; its
  attributes are valid_at, issued_at, source, reason, naive_c and the curve: hourly
  (24 values, +1 … +24 h after issued_at), hourly_source and the band around it,
  hourly_p10 and hourly_p90 (docs/daemon.md charts them);
- ``edgecast_<station>_frost_probability``: the forecast's ``frost_probability`` in %
  (that one of the next 24 hours goes below ``[alerts] frost_c``);
- ``edgecast_<station>_min_24h``, ``…_max_24h``: the curve's lowest and highest
  temperature over the next 24 hours (attribute ``at``: when);
- ``edgecast_<station>_frost`` (binary_sensor, device_class cold): the frost warning,
  from the retained alert topic (frost_alert.py); its attributes are the alert payload;
- ``edgecast_<station>_source`` (diagnostic): ``model`` or ``naive`` (enum);
- ``edgecast_<station>_window_observed`` (diagnostic): share of observed window cells, %;
- ``edgecast_<station>_model_mae_30d``, ``…_naive_mae_30d`` (diagnostic, °C) and
  ``…_skill_30d`` (diagnostic, %): the on-box skill of the last 30 days (skill.py), from
  the retained stats topic; null until a forecast is verified (HA shows "unknown"). The
  skill is this place's, so ``…_skill_30d`` carries where the box stands as attributes:
  ``latitude``, ``longitude`` and ``location_assumed`` (true: unset, Jena's assumed).
- ``edgecast_<station>_uncorrected_mae_30d`` (diagnostic, °C): the model's 30-day error
  without the on-box correction (correction.py; ``…_model_mae_30d`` is with it, where it
  serves); attributes: the correction's state from stats — ``correction_active``,
  ``corrected_hours``, ``mae_corrected``/``mae_uncorrected``/``n`` over its 14-day window.

The others read the retained forecast topic; all use the station's status topic
(``online`` / ``offline``, last will; ``stale`` after ``stale_after_minutes`` without a
reading counts as offline) as availability.
"""

from __future__ import annotations

import logging
import threading
import time

from .topics import station_key

log = logging.getLogger("edgecast.homeassistant")


def _version() -> str:
    from .. import __version__
    return __version__


def configs(cfg) -> dict[str, dict]:
    """discovery topic -> config payload, for every entity of this station."""
    station, key = cfg.station.id, station_key(cfg.station.id)  # the name shown, the one in ids
    prefix = cfg.homeassistant.prefix
    forecast, status, stats, alert = (cfg.topic(name) for name in ("forecast", "status", "stats", "alert"))
    version = _version()
    common = {
        "state_topic": forecast,
        "availability_topic": status,
        "payload_available": "online",
        "payload_not_available": "offline",
        # "stale" (no reading for readings.stale_after_minutes) is unavailable too: a forecast
        # from hours-old readings must not look current
        "availability_template": "{{ 'online' if value == 'online' else 'offline' }}",
        "qos": 1,
        "device": {"identifiers": [f"edgecast_{key}"],
                   "name": cfg.homeassistant.device_name or f"edgecast {station}",
                   "manufacturer": "edgecast", "model": "24 h temperature forecaster", "sw_version": version},
        "origin": {"name": "edgecast", "sw_version": version},
    }
    entities = {
        "forecast_24h": {
            "name": "Temperature in 24 h",
            "device_class": "temperature",
            "unit_of_measurement": "°C",
            "state_class": "measurement",
            "suggested_display_precision": 1,
            "value_template": "{{ value_json.temperature_c }}",
            "json_attributes_topic": forecast,
            "json_attributes_template": ("{{ {'valid_at': value_json.valid_at, 'issued_at': value_json.issued_at, "
                                         "'source': value_json.source, 'reason': value_json.reason, "
                                         "'naive_c': value_json.naive_c, 'hourly': value_json.hourly, "
                                         "'hourly_source': value_json.hourly_source, "
                                         "'hourly_p10': value_json.hourly_p10, 'hourly_p90': value_json.hourly_p90} "
                                         "| tojson }}"),
        },
        "min_24h": _extreme_entity(forecast, "Lowest temperature next 24 h", "min", "mdi:thermometer-low"),
        "max_24h": _extreme_entity(forecast, "Highest temperature next 24 h", "max", "mdi:thermometer-high"),
        "frost": {
            "component": "binary_sensor",
            "name": "Frost warning",
            "device_class": "cold",
            "state_topic": alert,
            "value_template": "{{ 'ON' if value_json.frost else 'OFF' }}",
            "json_attributes_topic": alert,
        },
        "frost_probability": {
            "name": "Frost probability",
            "unit_of_measurement": "%",
            "state_class": "measurement",
            "suggested_display_precision": 0,
            "icon": "mdi:snowflake-thermometer",
            "value_template": "{{ (value_json.frost_probability * 100) | round(1) }}",
        },
        "source": {
            "name": "Forecast source",
            "entity_category": "diagnostic",
            "device_class": "enum",
            "options": ["model", "naive"],
            "icon": "mdi:chart-timeline-variant",
            "value_template": "{{ value_json.source }}",
        },
        "window_observed": {
            "name": "Window completeness",
            "entity_category": "diagnostic",
            "unit_of_measurement": "%",
            "state_class": "measurement",
            "icon": "mdi:percent",
            "value_template": "{{ (value_json.window.observed * 100) | round(1) }}",
        },
        # No device_class temperature: an error is a difference, which HA must not convert as a reading.
        "model_mae_30d": _skill_entity(stats, "Model error (30 days)", "°C", "model_mae", "mdi:target"),
        "naive_mae_30d": _skill_entity(stats, "Naive error (30 days)", "°C", "naive_mae", "mdi:target"),
        "skill_30d": {**_skill_entity(stats, "Skill vs naive (30 days)", "%", "skill_pct", "mdi:chart-line"),
                      "json_attributes_topic": stats,
                      "json_attributes_template": ("{{ {'latitude': value_json.location.latitude, "
                                                   "'longitude': value_json.location.longitude, "
                                                   "'location_assumed': value_json.location.assumed} | tojson }}")},
        "uncorrected_mae_30d": {
            **_skill_entity(stats, "Model error uncorrected (30 days)", "°C", "uncorrected_mae", "mdi:target"),
            "json_attributes_topic": stats,
            "json_attributes_template": ("{{ {'correction_active': value_json.correction.active, "
                                         "'corrected_hours': value_json.correction.hours, "
                                         "'mae_corrected': value_json.correction.mae_corrected, "
                                         "'mae_uncorrected': value_json.correction.mae_uncorrected, "
                                         "'n': value_json.correction.n} | tojson }}")},
    }
    out = {}
    for name, entity in entities.items():
        unique_id = f"edgecast_{key}_{name}"
        component = entity.pop("component", "sensor")
        out[f"{prefix}/{component}/{unique_id}/config"] = {**common, **entity, "unique_id": unique_id}
    return out


def _extreme_entity(forecast_topic: str, name: str, which: str, icon: str) -> dict:
    """The curve's min or max: a temperature, with when it is expected as attribute ``at``."""
    return {"name": name, "device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement",
            "suggested_display_precision": 1, "icon": icon, "value_template": f"{{{{ value_json.{which}_c }}}}",
            "json_attributes_topic": forecast_topic,
            "json_attributes_template": f"{{{{ {{'at': value_json.{which}_at}} | tojson }}}}"}


def _skill_entity(stats_topic: str, name: str, unit: str, key: str, icon: str) -> dict:
    return {"name": name, "entity_category": "diagnostic", "unit_of_measurement": unit,
            "state_class": "measurement", "suggested_display_precision": 2 if unit == "°C" else 1, "icon": icon,
            "state_topic": stats_topic, "value_template": f"{{{{ value_json.skill.days_30.{key} }}}}"}


def _thread_timer(delay: float, fn):
    timer = threading.Timer(delay, fn)
    timer.daemon = True
    timer.start()
    return timer


class Discovery:
    def __init__(self, cfg, link, logger: logging.Logger | logging.LoggerAdapter = log, call_later=_thread_timer):
        """``call_later(delay, fn)`` -> a timer with cancel() and is_alive(): the daemon's
        network loop (netloop.py: no thread per station); a thread of its own elsewhere."""
        self.cfg = cfg
        self.call_later = call_later
        self.log = logger
        self.link = link
        self.status_topic = f"{cfg.homeassistant.prefix}/status"
        self.configs = configs(cfg)
        self.published = 0  # discovery rounds, for stats and tests
        self._timer = None
        self._lock = threading.Lock()

    def publish(self) -> None:
        for topic, payload in self.configs.items():
            self.link.publish_to(topic, payload, retain=True, qos=1)
        self.published += 1
        self.log.info("Home Assistant discovery published (%d entities under %s/)", len(self.configs),
                      self.cfg.homeassistant.prefix)

    def on_status(self, payload: bytes) -> None:
        """Home Assistant's birth/will message: republish after a delay when it is back."""
        if payload.strip().lower() != b"online":
            return
        with self._lock:
            if self._timer is not None and self._timer.is_alive():
                return  # one republish for a burst of announcements
            self._timer = self.call_later(self.cfg.homeassistant.republish_delay_seconds, self._republish)

    def _republish(self) -> None:
        if self.link.connected and not self.link.stopping:
            self.publish()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()


STATION_TOPICS = ("forecast", "stats", "status", "alert")


def remove(cfg, link, station_topics: bool = True) -> int:
    """Empty retained configs: Home Assistant deletes the entities, the broker the configs.
    ``station_topics``: also clear the station's retained forecast, stats, status and alert, so
    no ghost forecast greets a later install (not while its daemon runs: they are its own).
    Returns the number of discovery configs removed."""
    discovery = list(configs(cfg))
    _clear(link, discovery)
    if station_topics:
        # Home Assistant unsubscribes from an entity's topics only after it has handled the
        # removal; an empty state topic arriving before that is rendered by its templates
        # (2024.3.3 logged 12-20 template errors each time; with a pause, none).
        time.sleep(REMOVAL_PAUSE_SECONDS)
        _clear(link, [cfg.topic(name) for name in STATION_TOPICS])
    return len(discovery)


REMOVAL_PAUSE_SECONDS = 1.5  # between the empty discovery configs and the empty state topics


def _clear(link, topics: list[str]) -> None:
    """Empty retained messages on ``topics``, each acknowledged by the broker."""
    infos = [link.publish_to(topic, b"", retain=True, qos=1) for topic in topics]
    for info in infos:
        info.wait_for_publish(10)
