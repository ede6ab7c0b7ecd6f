"""The daemon's configuration: one TOML file, one typed dataclass per section.

Every key has a default, so `edgecast run` with no file talks to localhost:1883 with
the bundled model. A key the daemon does not know, or a value of the wrong type, stops
the start with the key's dotted name: a typo in a config file must not be silently
ignored (it would leave, say, TLS off while the user believes it on).

A gateway box that receives several sensors lists them as ``[[stations]]`` instead of
one ``[station]``; each entry has an ``id`` and may override the per-station sections
(STATION_SECTIONS) key by key. ``Config.station_configs()`` turns the file into one
complete Config per station, so everything downstream deals with exactly one station.
"""

from __future__ import annotations

import os
import socket
import string
import unicodedata

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key."""


@dataclass
class MqttConfig:
    host: str = "localhost"
    port: int = 1883
    client_id: str = ""  # "" -> edgecast-<hostname>-<station>: stable, so the broker keeps our session
    user: str = ""
    password_file: str = ""  # a file holding the password; never the password itself
    tls: bool = False  # TLS with the system CAs; implied by any tls_* path below
    tls_ca_certs: str = ""
    tls_client_cert: str = ""
    tls_client_key: str = ""
    tls_insecure: bool = False  # skip certificate and host name verification (testing only)
    keepalive: int = 60
    qos: int = 1
    protocol: str = "3.1.1"  # or "5"
    session_expiry: int = 7 * 24 * 3600  # MQTT 5: how long the broker keeps our queued readings
    reconnect_min_delay: int = 1
    reconnect_max_delay: int = 60


@dataclass
class StationConfig:
    id: str = "default"


@dataclass
class TopicsConfig:
    readings: str = "edgecast/{station}/readings"
    forecast: str = "edgecast/{station}/forecast"
    status: str = "edgecast/{station}/status"
    stats: str = "edgecast/{station}/stats"


@dataclass
class ModelConfig:
    path: str = ""  # "" -> the bundle shipped in the package
    runtime: str = "auto"  # auto, litert or tflite-runtime


@dataclass
class ReadingsConfig:
    max_payload_bytes: int = 4096
    # Far-future rule, relative to the newest accepted reading's time (not the wall
    # clock: a box without RTC/NTP, or a replay of 2020, has no trustworthy "now").
    max_future_minutes: int = 360
    # ... but a real jump (sensor off for a day) must not lock the daemon out: this many
    # consecutive readings that agree with each other confirm the new time.
    confirm_jump_readings: int = 3
    derive_missing: bool = True  # derive Tpot, Tdew, VP*, sh, H2OC, rho from p, T, rh


@dataclass
class GapsConfig:
    carry_forward_hours: int = 3  # an hour without a reading repeats the last value up to this long
    min_observed_fraction: float = 0.75  # below this share of observed (not carried) cells: naive


@dataclass
class StateConfig:
    # systemd's StateDirectory= sets $STATE_DIRECTORY; elsewhere a per-user directory.
    dir: str = ""


@dataclass
class LogConfig:
    level: str = "info"
    repeat_seconds: int = 300  # a repeated rejection reason is logged at most this often


@dataclass
class StatsConfig:
    interval_seconds: int = 10  # counters are republished at most this often when they changed


@dataclass
class InputConfig:
    # How the sensor publishes: native (this daemon's JSON), esphome, tasmota, rtl_433.
    format: str = "native"
    # "" = the format's default subscription: native -> topics.readings, esphome
    # "{station}/sensor/+/state", tasmota "tele/{station}/SENSOR", rtl_433 "rtl_433/+/events".
    topic: str = ""
    timezone: str = ""  # local timestamps without offset (Tasmota, rtl_433): IANA zone, "" = this box's
    max_age_seconds: int = 300  # esphome: older held values are not combined into a reading
    tasmota_sensor: str = ""  # "" = the first sensor object with a Temperature
    rtl433_model: str = ""  # rtl_433: required, the device's "model"
    rtl433_id: str = ""  # "" = any id of that model
    rtl433_channel: str = ""  # "" = any channel
    # source key -> "alias [unit]", e.g. {bme280_temperature = "T", wind_speed = "wv km/h"}
    map: dict = field(default_factory=dict)


@dataclass
class HomeAssistantConfig:
    discovery: bool = True  # retained discovery configs on <prefix>/sensor/<unique_id>/config
    prefix: str = "homeassistant"  # Home Assistant's discovery prefix; its birth topic is <prefix>/status
    device_name: str = ""  # "" = "edgecast <station>"
    republish_delay_seconds: float = 5.0  # after Home Assistant announces "online"


@dataclass
class Config:
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    station: StationConfig = field(default_factory=StationConfig)
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    readings: ReadingsConfig = field(default_factory=ReadingsConfig)
    gaps: GapsConfig = field(default_factory=GapsConfig)
    state: StateConfig = field(default_factory=StateConfig)
    log: LogConfig = field(default_factory=LogConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    input: InputConfig = field(default_factory=InputConfig)
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    # [[stations]] tables as written (validated); empty = the single [station]
    stations: list = field(default_factory=list)
    _gateway: bool = field(default=False, repr=False, compare=False)  # this is one of several [[stations]]

    def station_configs(self) -> list["Config"]:
        """One complete Config per station: this one, or one per [[stations]] entry
        (the file's sections, overridden key by key by the entry's own)."""
        if not self.stations:
            return [self]
        return [_station_config(self, n, entry) for n, entry in enumerate(self.stations)]

    def topic(self, name: str) -> str:
        return fill_template(f"topics.{name}", getattr(self.topics, name), self.station.id)

    @property
    def client_id(self) -> str:
        # Each station has its own MQTT connection (its own last will, its own persistent
        # session), so ids must differ; a configured id gets the station appended.
        if self.mqtt.client_id:
            return f"{self.mqtt.client_id}-{self.station.id}" if self._gateway else self.mqtt.client_id
        return f"edgecast-{socket.gethostname()}-{self.station.id}"

    @property
    def state_dir(self) -> Path:
        if self.state.dir:
            return Path(self.state.dir)
        if os.environ.get("STATE_DIRECTORY"):
            return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(base) / "edgecast"


def _check_type(key: str, value, default):
    # bool is an int in Python; `port = true` must not pass as port 1.
    if isinstance(default, dict):  # a mapping table: string keys, string values
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__} {value!r}")
        for k, v in value.items():
            if not isinstance(v, str):
                raise ConfigError(f"{key}.{k}: expected str, got {type(v).__name__} {v!r}")
        return dict(value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{key}: expected {type(default).__name__}, got {type(value).__name__} {value!r}")
    return value


def _section(name: str, cls, table) -> object:
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: expected a [{name}] table, got {type(table).__name__}")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(sorted(known))})")
    return cls(**{k: _check_type(f"{name}.{k}", v, getattr(defaults, k)) for k, v in table.items()})


# The file's [tables] and their types (Config's other fields are derived, not written).
SECTIONS = {f.name: f.default_factory for f in fields(Config) if f.name not in ("stations", "_gateway")}


_FORBIDDEN_IN_ID = ("+", "#", "/", "\0")
STATION_ID_MAX = 64  # also a file name (<id>.state.json) and part of the client id
TOPIC_MAX_BYTES = 65535  # MQTT's limit for a UTF-8 string


def _control_char(text: str) -> str | None:
    """The first character MQTT topics should not carry (C0/C1 controls, DEL, U+FFFE/U+FFFF
    non-characters: MQTT 3.1.1 section 1.5.3), or None. A newline in a topic also forges log
    lines; format characters (bidi overrides such as U+202E, zero-width spaces, BOM) and
    line/paragraph separators make an id or topic read as something it is not."""
    for ch in text:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o <= 0x9F or (o & 0xFFFE) == 0xFFFE or 0xFDD0 <= o <= 0xFDEF \
                or (o > 0x9F and unicodedata.category(ch) in ("Cf", "Zl", "Zp")):
            return ch
    return None


def fill_template(key: str, template: str, station: str) -> str:
    """A topic template with ``{station}`` filled in: the only placeholder, with no attribute
    access, indexing, conversion or format spec. str.format would evaluate
    ``{station.__class__}`` and allocate ``{station:>999999999}`` (issue 14, row 9)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:  # an unmatched brace
        raise ConfigError(f"{key}: {template[:80]!r} is not a valid template ({exc}; "
                          "write a literal brace as {{ or }})") from None
    out = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is None:
            continue
        if field != "station" or spec or conversion:
            found = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ConfigError(f"{key}: {template[:80]!r} may only use the placeholder {{station}} "
                              f"(found {found[:40]!r})")
        out.append(station)
    return "".join(out)


def _topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be one of ours (None when fine); wildcards are checked by the caller."""
    if not topic:
        return "must not be empty"
    bad = _control_char(topic)
    if bad is not None:
        return f"must not contain control characters (found {bad!r})"
    if topic.startswith("$"):
        return "must not start with $ (reserved for the broker: $SYS/...)"
    if len(topic.encode("utf-8", "surrogatepass")) > TOPIC_MAX_BYTES:
        return f"is longer than MQTT's {TOPIC_MAX_BYTES} bytes"
    return None


def _validate(cfg: Config) -> None:
    sid = cfg.station.id
    if not sid or any(ch in sid for ch in _FORBIDDEN_IN_ID):
        raise ConfigError(f"station.id: {sid!r} must be non-empty, one topic level, without + # / or NUL")
    if _control_char(sid) is not None or sid.startswith("$") or sid in (".", "..") or len(sid) > STATION_ID_MAX \
            or "{" in sid or "}" in sid:
        raise ConfigError(f"station.id: {sid[:80]!r} must be at most {STATION_ID_MAX} characters, without control "
                          "characters or braces, not . or .., and not start with $")
    client_id = cfg.mqtt.client_id
    if client_id and (any(ch in client_id for ch in ("+", "#", "\0")) or _control_char(client_id) is not None
                      or len(client_id.encode("utf-8", "surrogatepass")) > TOPIC_MAX_BYTES):
        raise ConfigError(f"mqtt.client_id: {client_id[:80]!r} must not contain + # NUL or control characters")
    for f in fields(TopicsConfig):
        topic = cfg.topic(f.name)
        if not topic or any(ch in topic for ch in ("+", "#", "\0")):
            raise ConfigError(f"topics.{f.name}: {topic!r} must be a non-empty topic without wildcards (+ #) or NUL")
        problem = _topic_problem(topic)
        if problem:
            raise ConfigError(f"topics.{f.name}: {topic[:80]!r} {problem}")
    checks = [
        ("mqtt.port", 1 <= cfg.mqtt.port <= 65535, "must be 1..65535"),
        ("mqtt.qos", cfg.mqtt.qos in (0, 1, 2), "must be 0, 1 or 2"),
        ("mqtt.keepalive", cfg.mqtt.keepalive >= 5, "must be at least 5 seconds"),
        ("mqtt.protocol", cfg.mqtt.protocol in ("3.1.1", "5"), 'must be "3.1.1" or "5"'),
        ("mqtt.session_expiry", cfg.mqtt.session_expiry >= 0, "must be >= 0"),
        ("mqtt.reconnect_min_delay", cfg.mqtt.reconnect_min_delay >= 1, "must be >= 1"),
        ("mqtt.reconnect_max_delay", cfg.mqtt.reconnect_max_delay >= cfg.mqtt.reconnect_min_delay,
         "must be >= mqtt.reconnect_min_delay"),
        ("mqtt.tls_client_key", not cfg.mqtt.tls_client_key or cfg.mqtt.tls_client_cert,
         "needs mqtt.tls_client_cert too"),
        ("model.runtime", cfg.model.runtime in ("auto", "litert", "tflite-runtime"),
         'must be "auto", "litert" or "tflite-runtime"'),
        ("readings.max_payload_bytes", 64 <= cfg.readings.max_payload_bytes <= 1 << 20, "must be 64..1048576"),
        ("readings.max_future_minutes", cfg.readings.max_future_minutes >= 1, "must be >= 1"),
        ("readings.confirm_jump_readings", cfg.readings.confirm_jump_readings >= 1, "must be >= 1"),
        ("gaps.carry_forward_hours", 0 <= cfg.gaps.carry_forward_hours <= 120, "must be 0..120"),
        ("gaps.min_observed_fraction", 0.0 <= cfg.gaps.min_observed_fraction <= 1.0, "must be 0..1"),
        ("log.level", cfg.log.level.lower() in ("debug", "info", "warning", "error"),
         "must be debug, info, warning or error"),
        ("log.repeat_seconds", cfg.log.repeat_seconds >= 0, "must be >= 0"),
        ("stats.interval_seconds", cfg.stats.interval_seconds >= 1, "must be >= 1"),
    ]
    for key, ok, why in checks:
        if not ok:
            raise ConfigError(f"{key}: {why}")
    _validate_input(cfg)


def _validate_input(cfg: Config) -> None:
    from .adapters import FORMATS, input_topic
    from .adapters.units import parse_mapping
    i = cfg.input
    if i.format not in FORMATS:
        raise ConfigError(f"input.format: {i.format!r} must be one of {', '.join(FORMATS)}")
    topic = input_topic(cfg)
    problem = _topic_problem(topic)
    if problem:
        raise ConfigError(f"input.topic: {topic[:80]!r} {problem}")
    levels = topic.split("/")
    if not topic or "\0" in topic or any(("+" in lv or "#" in lv) and lv not in ("+", "#") for lv in levels) \
            or "#" in levels[:-1]:
        raise ConfigError(f"input.topic: {topic!r} is not a valid subscription")
    if i.format == "esphome" and levels.count("+") != 1:
        raise ConfigError(f"input.topic: {topic!r} needs exactly one + level (the sensor name) for esphome")
    if i.format == "rtl_433" and not i.rtl433_model:
        raise ConfigError('input.rtl433_model: required for format "rtl_433" (the device\'s "model" field)')
    if i.timezone and i.timezone.upper() != "UTC":
        try:
            from zoneinfo import ZoneInfo
            ZoneInfo(i.timezone)
        except Exception:
            raise ConfigError(f"input.timezone: {i.timezone!r} is not a known IANA time zone") from None
    if i.max_age_seconds < 1:
        raise ConfigError("input.max_age_seconds: must be >= 1")
    for key, text in i.map.items():
        try:
            parse_mapping(text)
        except ValueError as exc:
            raise ConfigError(f"input.map.{key}: {exc}") from None
    h = cfg.homeassistant
    if not h.prefix or any(ch in h.prefix for ch in ("+", "#", "\0")):
        raise ConfigError(f"homeassistant.prefix: {h.prefix!r} must be a non-empty topic without + # or NUL")
    problem = _topic_problem(h.prefix)
    if problem:
        raise ConfigError(f"homeassistant.prefix: {h.prefix[:80]!r} {problem}")
    if not 0 <= h.republish_delay_seconds <= 600:
        raise ConfigError("homeassistant.republish_delay_seconds: must be 0..600")


# --- several stations ---------------------------------------------------------------------
# What a [[stations]] entry may set besides its id; [mqtt], [state], [log] and [stats]
# belong to the process and are shared.
STATION_SECTIONS = {name: SECTIONS[name] for name in ("topics", "model", "readings", "gaps", "input", "homeassistant")}


def _station_entries(entries) -> list[dict]:
    """The [[stations]] array, checked for shape (values are checked per station later)."""
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("stations: expected one or more [[stations]] tables, each with an id")
    for n, entry in enumerate(entries):
        for key, value in entry.items():
            if key == "id":
                if not isinstance(value, str):
                    raise ConfigError(f"stations[{n}].id: expected str, got {type(value).__name__} {value!r}")
            elif key not in STATION_SECTIONS:
                raise ConfigError(f"stations[{n}].{key}: not a per-station setting (a station may set id and "
                                  f"[stations.{'|'.join(STATION_SECTIONS)}]; the rest is shared)")
            elif not isinstance(value, dict):
                raise ConfigError(f"stations[{n}].{key}: expected a table, got {type(value).__name__}")
        if "id" not in entry:
            raise ConfigError(f"stations[{n}]: needs an id")
    return entries


def _station_config(cfg: Config, n: int, entry: dict) -> Config:
    """``cfg`` with the n-th entry's id and its sections laid over the file's, key by key."""
    sections = {}
    for name, cls in STATION_SECTIONS.items():
        merged = {**vars(getattr(cfg, name)), **entry.get(name, {})}
        sections[name] = _section(f"stations[{n}].{name}", cls, merged)
    return Config(mqtt=cfg.mqtt, station=StationConfig(id=entry["id"]), state=cfg.state, log=cfg.log,
                  stats=cfg.stats, _gateway=True, **sections)


def _validate_stations(cfg: Config) -> None:
    """Each station on its own, then what they must not share: an id, a published topic,
    or a source of readings (two stations reading the same sensor would both count it)."""
    per_station = cfg.station_configs()
    ids = [sc.station.id for sc in per_station]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(f"stations: the id {twice[0]!r} is used more than once")
    from .adapters import input_source, same_sensor
    publishers: dict[str, str] = {}
    sources: list[tuple[str, tuple]] = []
    for n, sc in enumerate(per_station):
        try:
            _validate(sc)
        except ConfigError as exc:
            raise ConfigError(f"stations[{n}] ({sc.station.id!r}): {exc}") from None
        sid = sc.station.id
        for f in fields(TopicsConfig):
            other = publishers.setdefault(sc.topic(f.name), sid)
            if other != sid:
                raise ConfigError(f"stations: {other!r} and {sid!r} would share the topic {sc.topic(f.name)!r} "
                                  "(keep {station} in the [topics] templates)")
        source = input_source(sc)
        for other, other_source in sources:
            if same_sensor(source, other_source):
                raise ConfigError(f"stations: {other!r} and {sid!r} would both take readings from "
                                  f"{' '.join(x or '*' for x in source)} (give each station its own sensor: "
                                  "input.topic, or rtl433_model/rtl433_id/rtl433_channel)")
        sources.append((sid, source))


def parse(text: str, source: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    for name in data:
        if name not in SECTIONS and name != "stations":
            raise ConfigError(f"{name}: unknown section (known: {', '.join(SECTIONS)}, stations)")
    cfg = Config(**{name: _section(name, cls, data.get(name, {})) for name, cls in SECTIONS.items()})
    if "stations" in data:
        if "station" in data:
            raise ConfigError("stations: use either one [station] or several [[stations]], not both")
        cfg.stations = _station_entries(data["stations"])
        _validate_stations(cfg)
    else:
        _validate(cfg)
    return cfg


def load(path: str | Path | None) -> Config:
    """The configuration from ``path``; None -> all defaults."""
    if path is None:
        cfg = Config()
        _validate(cfg)
        return cfg
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse(text, str(path))


def check_password_file(cfg: MqttConfig) -> str | None:
    """Before anything connects (`run` and `run --check` alike): ConfigError when the file
    cannot be read; a warning text when every user may read it. The content is never kept."""
    if not cfg.password_file:
        return None
    read_password(cfg)
    mode = Path(cfg.password_file).stat().st_mode
    if mode & 0o004:
        return (f"mqtt.password_file: {cfg.password_file} is readable by every user (mode {mode & 0o777:o}); "
                f"chmod 600 it (or 640 with the service's group)")
    return None


def read_password(cfg: MqttConfig) -> str | None:
    """The broker password from ``password_file`` (first line, newline stripped)."""
    if not cfg.password_file:
        return None
    try:
        lines = Path(cfg.password_file).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        # The path may be logged; the content never is.
        raise ConfigError(f"mqtt.password_file: cannot read {cfg.password_file} "
                          f"({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"mqtt.password_file: {cfg.password_file} is not UTF-8 text") from None
    return lines[0] if lines else ""
