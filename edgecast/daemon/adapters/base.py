"""What every input adapter shares: the Adapter base, the registry its subclasses join
with ``@register``, the subscription and sensor identity of a station, and the checks of
the ``[input]`` keys every format reads. The adapter modules import this; the package
(__init__.py) imports them and builds the ``[input]`` section from the registry."""

from __future__ import annotations

import re
from dataclasses import Field, dataclass
from datetime import datetime, timezone

from ...readings import TIME_RULE, Reading, Rejection, checked_time, from_values
from ..settings import ConfigError, setting, toml_value
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
    section = ""  # its own table, [input.<section>]; "" = the name
    default_topic = ""  # subscription template; "" = topics.readings
    settings: dict = {}  # the keys of [input.<section>]: name -> settings.setting(...)
    renamed: dict = {}  # a key of the flat [input] of earlier versions -> its name in [input.<section>]

    @classmethod
    def topic_problem(cls, topic: str) -> str | None:
        """Why this format cannot use the subscription ``topic`` (None when fine)."""
        return None

    @classmethod
    def sensor(cls, cfg) -> tuple[str, ...]:
        """What identifies a station's sensor (same_sensor): its subscription, and whatever
        tells one device from another on it."""
        return (input_topic(cfg),)

    @classmethod
    def table(cls) -> str:
        return cls.section or cls.name

    def __init__(self, cfg):
        self.cfg = cfg  # the daemon's Config (reload replaces cfg.readings in place)
        self.topic = input_topic(cfg)
        # source key -> (alias, unit); validated by config.py already
        self.mapping = {key: parse_mapping(text) for key, text in cfg.input.map.items()}

    @property
    def own(self):
        """This format's [input.<section>] keys."""
        return getattr(self.cfg.input, self.table())

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


# --- the [input] section: the keys every format reads (the package adds each format's table) ---
def format_problem(value, cfg) -> str | None:
    return None if value in REGISTRY else f"{value!r} must be one of {', '.join(REGISTRY)}"


def foreign_tables_error(name: str, table, formats: set[str]) -> ConfigError | None:
    """The error for a format table in ``table`` (an [input] as written) that none of
    ``formats`` reads: its keys would be ignored. A gateway's file-level [input] may hold
    the tables of every format its stations use."""
    if not isinstance(table, dict):
        return None
    for cls in REGISTRY.values():
        if cls.table() in table and cls.name not in formats:
            chosen = " or ".join(repr(f) for f in sorted(formats))
            return ConfigError(f"{name}.{cls.table()}: read with format = {cls.name!r} only, and the format here "
                               f"is {chosen}: remove [{_table_header(name)}.{cls.table()}] or set that format")
    return None


def topic_problem(value, cfg) -> str | None:
    topic = input_topic(cfg)
    return subscription_problem(topic) or REGISTRY[cfg.input.format].topic_problem(topic)


def timezone_setting(reader: str) -> Field:
    """The zone of a firmware's times written without an offset (each format that has such times)."""
    return setting("", f"IANA zone (or `UTC`) of {reader} times written without offset",
                   check=_timezone_problem, empty="this box's zone")


def _timezone_problem(value, cfg) -> str | None:
    if not value or value.upper() == "UTC":
        return None
    try:
        from zoneinfo import ZoneInfo
        ZoneInfo(value)
    except Exception:
        return f"{value!r} is not a known IANA time zone"
    return None


def map_problem(value, cfg) -> str | None:
    for key, text in value.items():
        try:
            parse_mapping(text)
        except ValueError as exc:
            raise ConfigError(f"input.map.{key}: {exc}") from None
    return None


def flat_keys_error(name: str, table, inherited: str = "native") -> ConfigError | None:
    """The error for an ``[input]`` table with the flat per-format keys of earlier versions
    (``rtl433_model = …``): it shows exactly those lines in their new tables, to paste, and
    the ones the chosen format never read (to drop). ``inherited``: the format when the
    table names none (a [[stations]] entry's is the file's)."""
    if not isinstance(table, dict):
        return None
    fmt = table.get("format", inherited)
    old, moved, dropped = [], {}, []
    for key, value in table.items():
        owners = [cls for cls in REGISTRY.values() if key in cls.renamed]
        if not owners:
            continue
        old.append(f"{key} = {toml_value(value)}")
        cls = next((c for c in owners if c.name == fmt), None)
        if cls is None:
            dropped.append(f"{key} (read by {' and '.join(repr(c.name) for c in owners)} only)")
        else:
            moved.setdefault(cls.table(), []).append(f"{cls.renamed[key]} = {toml_value(value)}")
    if not old:
        return None
    new = [line for table_name, lines in moved.items()
           for line in [f"[{_table_header(name)}.{table_name}]", *lines]]
    text = f"{name}: each input format has its own table now; replace\n    " + "\n    ".join(old)
    if new:
        text += "\nby\n    " + "\n    ".join(new)
    if dropped:
        text += f"\nand drop, with format = {fmt!r}: " + ", ".join(dropped)
    return ConfigError(text + '\n(docs/daemon.md, "Input formats")')


def _table_header(name: str) -> str:
    """``input`` -> ``input``; ``stations[2].input`` -> ``stations.input`` (under its [[stations]])."""
    return re.sub(r"\[\d+\]", "", name)
