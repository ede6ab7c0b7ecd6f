"""What every input adapter shares: the Adapter base, the registry its subclasses join
with ``@register``, the subscription and sensor identity of a station, and the ``[input]``
keys every format reads. The adapter modules import this; the package (__init__.py)
imports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ...readings import TIME_RULE, Reading, Rejection, checked_time, from_values
from ..settings import ConfigError, setting
from ..topics import fill_template, subscription_problem
from .units import convert, parse_mapping

REGISTRY: dict[str, type["Adapter"]] = {}  # [input] format -> adapter class, filled by @register


@dataclass
class Ignored:
    reason: str  # counted under readings.ignored
    detail: str


class Adapter:
    """Base: the configured topic, the mapping table, unit conversion into a Reading."""

    name = ""  # the [input] format
    default_topic = ""  # subscription template; "" = topics.readings
    settings: dict = {}  # this format's own [input] keys: name -> settings.setting(...)

    @classmethod
    def topic_problem(cls, topic: str) -> str | None:
        """Why this format cannot use the subscription ``topic`` (None when fine)."""
        return None

    @classmethod
    def sensor(cls, cfg) -> tuple[str, ...]:
        """What identifies a station's sensor (same_sensor): its subscription, and whatever
        tells one device from another on it."""
        return (input_topic(cfg),)

    def __init__(self, cfg):
        self.cfg = cfg  # the daemon's Config (reload replaces cfg.readings in place)
        self.topic = input_topic(cfg)
        # source key -> (alias, unit); validated by config.py already
        self.mapping = {key: parse_mapping(text) for key, text in cfg.input.map.items()}

    def topics(self) -> list[str]:
        return [self.topic]

    @property
    def max_bytes(self) -> int:
        return self.cfg.readings.max_payload_bytes

    def convert(self, topic: str, payload: bytes, received: float, retained: bool):
        raise NotImplementedError

    @staticmethod
    def reading(time: float, fields: dict[str, tuple[object, str]]) -> Reading | Rejection:
        """fields: alias -> (raw value, unit it is in) -> validated Reading or Rejection."""
        values = {}
        for alias, (raw, unit) in fields.items():
            try:
                values[alias] = convert(alias, raw, unit)
            except ValueError as exc:
                return Rejection("bad_unit", str(exc))
        return from_values(time, values)


def number(text: bytes | str):
    """A plain-text payload (ESPHome state) as a float, else the text (counted as non_numeric).

    ESPHome sends ``nan`` for an unknown state: float('nan'), dropped as non_finite.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        return float(text.strip())
    except ValueError:
        return text


def event_time(value, zone: str) -> float | None:
    """A firmware's timestamp -> epoch seconds, None when unreadable or out of range.

    Accepts ISO 8601 (``T`` or a space between date and time); with an offset it is
    used, without one the time is local time in ``zone`` (IANA name, "" = this box's
    zone; a time that a DST change makes ambiguous is taken as the first, fold=0). A
    number, or a string of digits, is Unix time (rtl_433 ``-M time:unix``). Either must
    be a usable event time (readings.checked_time: 1e15 or year 10000 is a corrupt clock).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return checked_time(value)
    if not isinstance(value, str) or not 8 <= len(value) <= 40:
        return None
    text = value.strip()
    try:
        return checked_time(float(text))
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        if zone:
            from zoneinfo import ZoneInfo
            dt = dt.replace(tzinfo=timezone.utc if zone.upper() == "UTC" else ZoneInfo(zone))
        else:
            try:
                dt = dt.astimezone()  # naive: interpreted in the box's local zone
            except (OverflowError, OSError, ValueError):  # year 1 / 9999 at the edge of the zone
                return None
    try:
        return checked_time(dt.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def bad_time(key: str, value) -> Rejection:
    return Rejection("bad_time", f"{key} {str(value)[:40]!r} is not {TIME_RULE}")


def register(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator of each adapter module: its format becomes a valid [input] format."""
    REGISTRY[cls.name] = cls
    return cls


def input_topic(cfg) -> str:
    """The subscription ``[input]`` asks for, {station} filled in."""
    default = REGISTRY[cfg.input.format].default_topic
    key = "input.topic" if cfg.input.topic or default else "topics.readings"
    return fill_template(key, cfg.input.topic or default or cfg.topics.readings, cfg.station.id)


def input_source(cfg) -> tuple[str, ...]:
    """What identifies a station's sensor: its subscription, and for rtl_433 (one receiver,
    many devices on one topic) the device filter ("" = any)."""
    return REGISTRY[cfg.input.format].sensor(cfg)


def same_sensor(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two stations' input_source() can take the same message as a reading: the
    same subscription and, for rtl_433, filters that admit a common device."""
    if a[0] != b[0]:
        return False
    if len(a) != len(b):  # one topic read in two formats: both would take its messages
        return True
    return all(x == y or not x or not y for x, y in zip(a[1:], b[1:]))


def make(cfg) -> Adapter:
    """The adapter ``[input] format`` names."""
    return REGISTRY[cfg.input.format](cfg)


# --- the [input] section: keys every format reads, then each adapter's own ----------------------
def _format_problem(value, cfg) -> str | None:
    return None if value in REGISTRY else f"{value!r} must be one of {', '.join(REGISTRY)}"


def _topic_problem(value, cfg) -> str | None:
    topic = input_topic(cfg)
    return subscription_problem(topic) or REGISTRY[cfg.input.format].topic_problem(topic)


def _timezone_problem(value, cfg) -> str | None:
    if not value or value.upper() == "UTC":
        return None
    try:
        from zoneinfo import ZoneInfo
        ZoneInfo(value)
    except Exception:
        return f"{value!r} is not a known IANA time zone"
    return None


def _map_problem(value, cfg) -> str | None:
    for key, text in value.items():
        try:
            parse_mapping(text)
        except ValueError as exc:
            raise ConfigError(f"input.map.{key}: {exc}") from None
    return None


COMMON_SETTINGS = {
    "format": setting("native", "what the sensor publishes: `native`, `esphome`, `tasmota`, `rtl_433` (below)",
                      check=_format_problem),
    "topic": setting("", "subscription; may use `{station}` and `+`/`#`", check=_topic_problem,
                     empty="the format's default: native `topics.readings`, esphome `{station}/sensor/+/state`, "
                           "tasmota `tele/{station}/SENSOR`, rtl_433 `rtl_433/+/events`"),
    "timezone": setting("", "IANA zone (or `UTC`) for Tasmota/rtl_433 times written without offset",
                        check=_timezone_problem, empty="this box's zone"),
    "map": setting({}, 'more fields: `source key = "alias [unit]"`, e.g. `{ wind_speed = "wv km/h" }`',
                   check=_map_problem),
}
