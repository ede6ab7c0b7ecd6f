"""The daemon's configuration: one TOML file, one typed dataclass per section.

Each key is declared once, as a ``settings.setting`` field: its default (and so its type),
its doc line, whether a SIGHUP applies it live, and its limit check. Validation
(``validate``), reload (``apply_live``), ``run --print-config`` (``default_toml``) and the
table in docs/daemon.md (``docs_table``) are derived from these declarations. The
``[input]`` section is built from the input adapters (adapters/): each format declares
its own table, ``[input.rtl433]``, next to its code.

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

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..alerts import MODES, FrostRule
from ..resample import CARRY_FORWARD_HOURS
from ..solar import JENA, Location
from .adapters import InputConfig, flat_keys_error, foreign_tables_error
from .settings import ConfigError, at_least, between, check_section, is_subsection, markdown_table, one_of, \
    read_section, setting, toml_text
from .topics import TOPIC_MAX_BYTES, control_char, fill_template, invisible, publish_topic_problem, station_key, \
    topic_problem

_FORBIDDEN_IN_ID = ("+", "#", "/", "\0")
STATION_ID_MAX = 64  # also a file name (<id>.state.json) and part of the client id


# MQTT's strings (user name, password, client id, topics) carry a 16-bit length.
MQTT_STRING_MAX = 65535


def _mqtt_text_problem(value: str, limit: int, what: str) -> str | None:
    """A value paho writes into CONNECT as it is: refused here, or paho's network thread
    died packing it (struct.error) while the daemon went on logging "serving"."""
    if not value or len(value.encode("utf-8", "surrogatepass")) > limit or control_char(value) is not None \
            or (what == "a host name" and any(ch.isspace() for ch in value)):
        return f"must be {what} of 1..{limit} bytes without control characters" + (
            " or spaces" if what == "a host name" else "")
    return None


def _client_id_problem(client_id, cfg) -> str | None:
    if client_id and (any(ch in client_id for ch in ("+", "#", "\0")) or control_char(client_id) is not None
                      or len(client_id.encode("utf-8", "surrogatepass")) > TOPIC_MAX_BYTES):
        return f"{client_id[:80]!r} must not contain + # NUL or control characters"
    return None


def _station_id_problem(sid, cfg) -> str | None:
    if not sid or any(ch in sid for ch in _FORBIDDEN_IN_ID):
        return f"{sid!r} must be non-empty, one topic level, without + # / or NUL"
    if control_char(sid) is not None or sid.startswith("$") or sid in (".", "..") or len(sid) > STATION_ID_MAX \
            or "{" in sid or "}" in sid:
        return (f"{sid[:80]!r} must be at most {STATION_ID_MAX} characters, without control "
                "characters or braces, not . or .., and not start with $")
    if invisible(sid) or sid != sid.strip():
        return (f"{sid!r} must show at least one visible character and not start or end with whitespace "
                "(an id of blanks, fillers such as U+3164 or U+2800, or combining marks such as U+034F "
                "cannot be told apart in logs or Home Assistant)")
    return None


def _published(name: str):
    """The check of topics.<name>: its template filled in is a topic we may publish to."""
    return lambda value, cfg: publish_topic_problem(cfg.topic(name))


def _prefix_problem(prefix, cfg) -> str | None:
    if not prefix or any(ch in prefix for ch in ("+", "#", "\0")):
        return f"{prefix!r} must be a non-empty topic without + # or NUL"
    problem = topic_problem(prefix)
    return f"{prefix[:80]!r} {problem}" if problem else None


@dataclass
class MqttConfig:
    host: str = setting("localhost", "broker host", check=lambda v, cfg: _mqtt_text_problem(v, 253, "a host name"))
    port: int = setting(1883, "broker port", check=between(1, 65535))
    client_id: str = setting("", "must be stable: the broker keeps the session (queued readings) under it",
                             check=_client_id_problem, empty="`edgecast-<hostname>-<station>`")
    user: str = setting("", "user name (no user → anonymous)",
                        check=lambda v, cfg: _mqtt_text_problem(v, MQTT_STRING_MAX, "a user name") if v else None)
    password_file: str = setting(
        "", "file whose first line is the password; the password is never accepted on the command line and "
        "never logged. Read at start by `run` and `config check` alike: a missing, unreadable or directory path "
        "ends both with `configuration: mqtt.password_file: cannot read …` and exit code 1 (no traceback); a "
        "file every user may read gets a warning line")
    tls: bool = setting(False, "TLS with the system CA store (implied by any `tls_*` path)")
    tls_ca_certs: str = setting("", "CA bundle to verify the broker with")
    tls_client_cert: str = setting("", "client certificate authentication: the certificate")
    tls_client_key: str = setting("", "client certificate authentication: its key",
                                  check=lambda v, cfg: "needs mqtt.tls_client_cert too"
                                  if v and not cfg.mqtt.tls_client_cert else None)
    tls_insecure: bool = setting(False, "skip certificate and host-name verification (testing only)")
    keepalive: int = setting(60, "seconds", check=between(5, 65535))
    qos: int = setting(1, "subscription and forecast QoS", check=one_of((0, 1, 2), "must be 0, 1 or 2"))
    protocol: str = setting(
        "5", 'or `"3.1.1"`; on MQTT 5 the daemon announces a Maximum Packet Size, so the broker never sends a '
        'message larger than `readings.max_payload_bytes`; a broker that refuses 5 (Unsupported protocol version) '
        'gets 3.1.1 on the next attempt, with a warning', check=one_of(("3.1.1", "5"), 'must be "3.1.1" or "5"'))
    session_expiry: int = setting(7 * 24 * 3600, "MQTT 5 only: how long the broker keeps the session while we "
                                  "are away, seconds (4294967295: never expires)", check=between(0, 4294967295))
    reconnect_min_delay: int = setting(1, "reconnect backoff: first delay, seconds (doubles each attempt)",
                                       check=between(1, 3600))
    reconnect_max_delay: int = setting(60, "reconnect backoff: longest delay, seconds",
                                       check=lambda v, cfg: None if cfg.mqtt.reconnect_min_delay <= v <= 86400
                                       else "must be mqtt.reconnect_min_delay..86400")


@dataclass
class StationConfig:
    id: str = setting(
        "default", "one topic level: no `+ # /`, braces, control characters (NUL, newline, ESC, C1, U+FFFF …) or "
        "invisible format characters (bidi overrides such as U+202E, zero-width spaces, BOM, line separators), "
        f"not `.`/`..`, not starting with `$`, at most {STATION_ID_MAX} characters, with a visible character "
        "and no whitespace at either end; any other text is free (`garden shed`, `Dach-Süd`): where only "
        "`[a-zA-Z0-9_-]` will do (Home Assistant ids and discovery topics, the state file name) the daemon "
        "uses the id's key, the id itself when it is made of those characters, else an ASCII slug of it plus "
        "8 hex digits (`roof.north` → `roof_north_<hash>`); several stations: `[[stations]]` (below)",
        check=_station_id_problem)
    # Where the box stands: the sun features (solar time, day length) and the on-box
    # correction's solar hour read it. Unset: Jena's roof, with one warning at start.
    latitude: float | None = setting(
        None, "decimal degrees, north positive (-90 … 90), with `longitude`: where the sensor is; the sun "
        "features of a site-free model and the on-box correction read it", kind=float, example=JENA.latitude,
        empty="Jena's (50.911° N), with a warning at start", check=lambda v, cfg: _coordinate(v, cfg, 90))
    longitude: float | None = setting(
        None, "decimal degrees, east positive (-180 … 180), with `latitude`", kind=float, example=JENA.longitude,
        empty="Jena's (11.568° E)", check=lambda v, cfg: _coordinate(v, cfg, 180))

    @property
    def location(self) -> Location:
        """This station's place; Jena's when unset (``location_assumed``)."""
        if self.location_assumed:
            return JENA
        return Location(self.latitude, self.longitude)

    @property
    def location_assumed(self) -> bool:
        return self.latitude is None or self.longitude is None


def _coordinate(value, cfg, limit: int) -> str | None:
    if not -limit <= value <= limit:
        return f"must be -{limit}..{limit} (decimal degrees)"
    if (cfg.station.latitude is None) != (cfg.station.longitude is None):
        return "set station.latitude and station.longitude together"
    return None


@dataclass
class TopicsConfig:
    readings: str = setting("edgecast/{station}/readings", "in", check=_published("readings"))
    forecast: str = setting("edgecast/{station}/forecast", "out, retained, QoS 1", check=_published("forecast"))
    status: str = setting("edgecast/{station}/status", "availability: `online` / `offline`, retained",
                          check=_published("status"))
    stats: str = setting("edgecast/{station}/stats", "counters, retained JSON", check=_published("stats"))
    alert: str = setting("edgecast/{station}/alert", "the frost warning, retained JSON (below, \"Frost "
                         "warning\")", check=_published("alert"))


@dataclass
class ModelConfig:
    path: str = setting("", "an `edgecast export` bundle, or a bundled model by name: `default` (T, p, "
                        "rh, wind speed), `bme280` (p, T, rh + derived: no anemometer); both forecast the curve",
                        live=True,
                        empty="the bundle shipped in the package")
    runtime: str = setting("auto", "`litert`, `tflite-runtime`, or `auto`: the first installed", live=True,
                           check=one_of(("auto", "litert", "tflite-runtime"),
                                        'must be "auto", "litert" or "tflite-runtime"'))
    correction: bool = setting(True, "learn this box's site: an online linear correction of the model's curve "
                               "per hour ahead, served for each hour only while it beats the uncorrected model on "
                               "this box's verified forecasts (below, \"On-box correction\")", live=True)
    skill_guard: bool = setting(True, "serve naive while the model's 30-day MAE on this box (its forecasts "
                                "verified 24 h later, corrected where the correction serves) exceeds naive's by more "
                                "than `skill_guard_margin`; the model is still scored and serves again once its MAE "
                                "is below naive's; the scores restart with another bundle (below, \"On-box skill\")",
                                live=True)
    skill_guard_min_days: int = setting(7, "the guard acts only once this many days (× 24 forecasts) of the last "
                                        "30 are verified", live=True, check=between(1, 30))
    skill_guard_margin: float = setting(0.25, "°C by which the model's 30-day MAE must exceed naive's before the "
                                        "guard serves naive", live=True, check=between(0, 10))


@dataclass
class AlertsConfig:
    # The defaults are alerts.FrostRule's: the rule and its figures live there.
    frost_c: float = setting(FrostRule.threshold_c, "°C: warn of the next 24 hours' curve going below this",
                             live=True, check=between(-60, 60))
    frost_margin_c: float = setting(FrostRule.margin_c, "°C added to `frost_c` before comparing: the curve "
                                    "forecasts the coldest hour a little warm (+1 °C chosen on validation)",
                                    live=True, check=between(0, 10))
    frost_hysteresis_c: float = setting(FrostRule.hysteresis_c, "°C: an alert that is on turns off only once "
                                        "the minimum is this far above `frost_c + frost_margin_c`", live=True,
                                        check=between(0, 10))
    frost_rule: str = setting(FrostRule.mode, '`"margin"` (the curve\'s minimum against `frost_c + frost_margin_c`) '
                              'or `"probability"` (the forecast\'s `frost_probability` against '
                              '`frost_probability_on`)', live=True,
                              check=one_of(MODES, 'must be "margin" or "probability"'))
    frost_probability_on: float = setting(FrostRule.probability_on, "probability rule: the alert turns on when "
                                          "`frost_probability` reaches this (chosen on validation)", live=True,
                                          check=between(0.01, 1))
    frost_probability_hysteresis: float = setting(FrostRule.probability_hysteresis, "probability rule: an alert "
                                                  "that is on turns off only once `frost_probability` is this far "
                                                  "below `frost_probability_on`", live=True,
                                                  check=lambda v, cfg: None if 0 <= v < cfg.alerts.frost_probability_on
                                                  else "must be at least 0 and below frost_probability_on")

    @property
    def frost(self) -> FrostRule:
        return FrostRule(self.frost_c, self.frost_margin_c, self.frost_hysteresis_c, self.frost_rule,
                         self.frost_probability_on, self.frost_probability_hysteresis)


@dataclass
class ReadingsConfig:
    max_payload_bytes: int = setting(
        4096, "larger payloads are rejected unread; on MQTT 5 also the packet size the broker may send us "
        "(below, \"Payload size\"; that bound is set at connect)", live=True, check=between(64, 1 << 20))
    # Event time, not the wall clock: a box without RTC/NTP, or a replay of 2020, has no "now".
    max_future_minutes: int = setting(360, "far-future limit, relative to the newest accepted reading",
                                      live=True, check=at_least(1))
    # ... but a real jump (sensor off for a day) must not lock the daemon out.
    confirm_jump_readings: int = setting(3, "consecutive far readings that confirm a genuine time jump",
                                         live=True, check=at_least(1))
    derive_missing: bool = setting(True, "derive Tpot, Tdew, VPmax, VPact, VPdef, sh, H2OC, rho from p, T, rh",
                                   live=True)
    # A dead sensor sends no time: silence is measured on the daemon's own clock.
    stale_after_minutes: float = setting(180.0, "without an accepted reading this long the station is `stale`: "
                                         "status topic, stats, frost warning withdrawn, HA entities unavailable; "
                                         "also the wait before warning that no message arrives at all",
                                         live=True, check=between(0.05, 10080))


@dataclass
class GapsConfig:
    carry_forward_hours: int = setting(CARRY_FORWARD_HOURS, "an hour without a fresh reading repeats the last "
                                       "observed value this long", live=True, check=between(0, 120))
    min_observed_fraction: float = setting(0.75, "below this share of observed (not carried) window cells the "
                                           "model does not serve", live=True, check=between(0, 1))


@dataclass
class StateConfig:
    # systemd's StateDirectory= sets $STATE_DIRECTORY; elsewhere a per-user directory.
    dir: str = setting("", "buffer file `<station>.state.json`",
                       empty="`$STATE_DIRECTORY` (systemd), else `~/.local/state/edgecast`")


@dataclass
class LogConfig:
    level: str = setting("info", "`debug`, `info`, `warning`, `error`", live=True,
                         check=one_of(("debug", "info", "warning", "error"), "must be debug, info, warning or error",
                                      normalise=str.lower))
    repeat_seconds: int = setting(300, "a repeated rejection reason is logged at most this often (always counted)",
                                  live=True, check=at_least(0))


@dataclass
class StatsConfig:
    interval_seconds: int = setting(10, "changed counters are republished at most this often while readings stream, "
                                    "and 2 s after they pause, seconds", live=True,
                                    check=at_least(1))


@dataclass
class HomeAssistantConfig:
    discovery: bool = setting(True, "Home Assistant MQTT discovery (below)")
    prefix: str = setting("homeassistant", "HA's discovery prefix; its birth topic is `<prefix>/status`",
                          check=_prefix_problem)
    device_name: str = setting("", "the HA device name", empty="`edgecast <station>`")
    republish_delay_seconds: float = setting(5.0, "wait after HA announces `online` before republishing",
                                             check=between(0, 600))


@dataclass
class Config:
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    station: StationConfig = field(default_factory=StationConfig)
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    readings: ReadingsConfig = field(default_factory=ReadingsConfig)
    gaps: GapsConfig = field(default_factory=GapsConfig)
    state: StateConfig = field(default_factory=StateConfig)
    log: LogConfig = field(default_factory=LogConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    input: InputConfig = field(default_factory=InputConfig)  # declared in adapters/ (common and per format)
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

    def topic_map(self) -> dict[str, str]:
        """{name: topic} of every [topics] key, filled in for this station."""
        return {f.name: self.topic(f.name) for f in fields(self.topics)}

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


# The file's [tables] and their types (Config's other fields are derived, not written).
SECTIONS = {f.name: f.default_factory for f in fields(Config) if f.name not in ("stations", "_gateway")}


def validate(cfg: Config) -> None:
    """Every key's check, section by section; ConfigError names the first bad key."""
    for name in SECTIONS:
        check_section(name, getattr(cfg, name), cfg)


def apply_live(running: Config, new: Config) -> list[str]:
    """SIGHUP: take ``new``'s live keys into ``running``; returns the dotted names of the
    changed keys that need a restart. Sections are replaced, never edited in place: the
    stations of one file share the process's sections."""
    restart: list[str] = []
    for name in SECTIONS:
        section = _live_part(name, getattr(running, name), getattr(new, name), restart)
        if section is not None:
            setattr(running, name, section)
    return restart


def _live_part(name: str, old, new, restart: list[str]):
    """``old`` with ``new``'s live keys (a new object), or None when it has none; the changed
    restart keys are appended to ``restart``."""
    live = {}
    for f in fields(old):
        value = getattr(new, f.name)
        if is_subsection(f):
            value = _live_part(f"{name}.{f.name}", getattr(old, f.name), value, restart)
            if value is not None:
                live[f.name] = value
        elif f.metadata["live"]:
            live[f.name] = value
        elif value != getattr(old, f.name):
            restart.append(f"{name}.{f.name}")
    return replace(old, **live) if live else None


def default_toml() -> str:
    """The defaults as a TOML file, every key under its doc line (`edgecast run --print-config`)."""
    return toml_text(SECTIONS)


def docs_table() -> str:
    """The configuration table of docs/daemon.md (a test keeps the two equal)."""
    return markdown_table(SECTIONS)


# --- several stations ---------------------------------------------------------------------
# What a [[stations]] entry may set besides its id; [mqtt], [state], [log] and [stats]
# belong to the process and are shared.
STATION_SECTIONS = {name: SECTIONS[name] for name in ("topics", "model", "alerts", "readings", "gaps", "input",
                                                             "homeassistant")}
# ... and the [station] keys an entry sets directly (`id`, and where it stands)
STATION_KEYS = tuple(f.name for f in fields(StationConfig))


def _station_entries(entries, file_format: str) -> list[dict]:
    """The [[stations]] array, checked for shape (values are checked per station later).
    ``file_format``: the [input] format of the file, which an entry inherits."""
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("stations: expected one or more [[stations]] tables, each with an id")
    for n, entry in enumerate(entries):
        error = flat_keys_error(f"stations[{n}].input", entry.get("input"), file_format)
        if error:
            raise error
        for key, value in entry.items():
            if key in STATION_KEYS:
                read_section(f"stations[{n}]", StationConfig, {key: value})  # its type
            elif key not in STATION_SECTIONS:
                raise ConfigError(f"stations[{n}].{key}: not a per-station setting (a station may set "
                                  f"{', '.join(STATION_KEYS)} and [stations.{'|'.join(STATION_SECTIONS)}]; "
                                  "the rest is shared)")
            elif not isinstance(value, dict):
                raise ConfigError(f"stations[{n}].{key}: expected a table, got {type(value).__name__}")
        if "id" not in entry:
            raise ConfigError(f"stations[{n}]: needs an id")
    return entries


def _station_config(cfg: Config, n: int, entry: dict) -> Config:
    """``cfg`` with the n-th entry's id and its sections laid over the file's, key by key."""
    sections = {}
    for name, cls in STATION_SECTIONS.items():
        merged = _overlay(getattr(cfg, name), entry.get(name, {}))
        sections[name] = read_section(f"stations[{n}].{name}", cls, merged)
    station = read_section(f"stations[{n}]", StationConfig, {k: entry[k] for k in STATION_KEYS if k in entry})
    return Config(mqtt=cfg.mqtt, station=station, state=cfg.state, log=cfg.log,
                  stats=cfg.stats, _gateway=True, **sections)


def _overlay(section, table: dict) -> dict:
    """The keys of ``section`` (a dataclass) with ``table``'s laid over, key by key, also
    inside its sub-tables ([input.rtl433]); a value that is itself a table (input.map)
    replaces the section's."""
    merged = dict(table)
    for f in fields(section):
        value = getattr(section, f.name)
        if is_subsection(f):
            sub = table.get(f.name, {})
            merged[f.name] = _overlay(value, sub) if isinstance(sub, dict) else sub  # not a table: read_section says so
        elif f.name not in table:
            merged[f.name] = value
    return merged


def _validate_stations(cfg: Config) -> None:
    """Each station on its own, then what they must not share: an id, a published topic,
    or a source of readings (two stations reading the same sensor would both count it)."""
    per_station = cfg.station_configs()
    ids = [sc.station.id for sc in per_station]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(f"stations: the id {twice[0]!r} is used more than once")
    keys = {}
    for sid in ids:
        other = keys.setdefault(station_key(sid), sid)
        if other != sid:
            raise ConfigError(f"stations: {other!r} and {sid!r} would share the key {station_key(sid)!r} "
                              "(Home Assistant ids, state file name)")
    from .adapters import input_source, same_sensor
    publishers: dict[str, str] = {}
    sources: list[tuple[str, tuple]] = []
    for n, sc in enumerate(per_station):
        try:
            validate(sc)
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
                                  "input.topic, or [input.rtl433] model/id/channel)")
        sources.append((sid, source))


def parse(text: str, source: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    except RecursionError:  # arrays or tables nested thousands deep: no configuration is
        raise ConfigError(f"{source}: not valid TOML (nested deeper than the parser goes)") from None
    for name in data:
        if name not in SECTIONS and name != "stations":
            raise ConfigError(f"{name}: unknown section (known: {', '.join(SECTIONS)}, stations)")
    error = flat_keys_error("input", data.get("input"))
    if error:
        raise error
    cfg = Config(**{name: read_section(name, cls, data.get(name, {})) for name, cls in SECTIONS.items()})
    if "stations" in data:
        if "station" in data:
            raise ConfigError("stations: use either one [station] or several [[stations]], not both")
        cfg.stations = _station_entries(data["stations"], cfg.input.format)
        _validate_stations(cfg)
    else:
        validate(cfg)
    _check_format_tables(data, cfg)
    return cfg


def _check_format_tables(data: dict, cfg: Config) -> None:
    """A format's table ([input.rtl433]) only where a station reads that format."""
    stations = cfg.station_configs()
    tables = [("input", data.get("input"), {sc.input.format for sc in stations})]
    tables += [(f"stations[{n}].input", entry.get("input"), {sc.input.format})
               for n, (entry, sc) in enumerate(zip(cfg.stations, stations))]
    for name, table, formats in tables:
        error = foreign_tables_error(name, table, formats)
        if error:
            raise error


def load(path: str | Path | None) -> Config:
    """The configuration from ``path``; None -> all defaults."""
    if path is None:
        cfg = Config()
        validate(cfg)
        return cfg
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse(text, str(path))


def check_password_file(cfg: MqttConfig) -> str | None:
    """Before anything connects (`run` and `config check` alike): ConfigError when the file
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
    password = lines[0] if lines else ""
    if len(password.encode("utf-8")) > MQTT_STRING_MAX:
        raise ConfigError(f"mqtt.password_file: the password in {cfg.password_file} is over {MQTT_STRING_MAX} "
                          "bytes (MQTT's limit)")
    return password
