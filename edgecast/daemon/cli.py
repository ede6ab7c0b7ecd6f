"""`edgecast run`, `config check|print`, `discovery remove`, `replay` and `watch` (registered
in edgecast/cli.py; the work of replay and watch is in edgecast/replay.py and edgecast/watch.py).

Only click and the standard library at import time: `edgecast --help` on a small box
must not pay for numpy, paho or the TFLite runtime.
"""

from __future__ import annotations

import logging
import math
import sys
import time

import click

from ..cli_options import data_option, load_data

CONFIG_HELP = "TOML configuration file (docs/daemon.md). Default: all defaults (localhost:1883, bundled model)."
_config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                              help=CONFIG_HELP)


def _config(path):
    from .config import ConfigError, load
    try:
        return load(path)
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def _broker_options(f):
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                     help="Take broker, TLS, credentials and topics from this daemon configuration.")(f)
    f = click.option("--station", default=None, help="Station id (default: from --config, else 'default'); "
                     "required when --config lists several [[stations]].")(f)
    f = click.option("--port", type=int, default=None, help="Broker port (default: from --config, else 1883).")(f)
    f = click.option("--host", default=None, help="Broker host (default: from --config, else localhost).")(f)
    return f


def _client_config(config_path, host, port, station):
    """The configuration of one station, for a client (replay, watch) of its topics."""
    from .config import ConfigError, validate
    cfg = _config(config_path)
    if cfg.stations:  # a gateway's config: --station picks one of its [[stations]]
        by_id = {sc.station.id: sc for sc in cfg.station_configs()}
        if station is None and len(by_id) > 1:
            raise click.UsageError(f"{config_path} serves several stations; pick one with --station "
                                   f"({', '.join(by_id)})")
        if station is not None and station not in by_id:
            raise click.UsageError(f"no station {station!r} in {config_path} ({', '.join(by_id)})")
        cfg = by_id[station] if station is not None else next(iter(by_id.values()))
    elif station:
        cfg.station.id = station
    if host:
        cfg.mqtt.host = host
    if port:
        cfg.mqtt.port = port
    try:
        validate(cfg)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return cfg


def _connect(cfg, client_id, persistent=False, on_connect=None, on_message=None):
    from .config import ConfigError
    from .mqtt_link import connect_args, fall_back_to_311, make_client
    try:
        client = make_client(cfg, client_id, persistent=persistent)
    except ConfigError as exc:  # an unreadable password file
        raise click.ClickException(f"configuration: {exc}") from None
    def connected(c, userdata, flags, reason_code, properties):
        if not fall_back_to_311(c, reason_code, persistent, logging.getLogger("edgecast.mqtt")) \
                and on_connect is not None:
            on_connect(c, userdata, flags, reason_code, properties)
    client.on_connect, client.on_message = connected, on_message
    try:
        client.connect(cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.keepalive, **connect_args(cfg, persistent))
    except OSError as exc:
        raise click.ClickException(f"cannot reach the broker at {cfg.mqtt.host}:{cfg.mqtt.port} ({exc})") from None
    client.loop_start()
    return client


def _retained(client, topic: str, wait: float = 1.0) -> bytes | None:
    """The retained message on ``topic`` (None when there is none within ``wait`` seconds)."""
    import threading
    got: list[bytes] = []
    arrived = threading.Event()

    def on_message(c, userdata, msg):
        if msg.topic == topic and msg.retain:
            got.append(msg.payload)
            arrived.set()
    client.on_message = on_message
    client.subscribe(topic, qos=1)
    arrived.wait(wait)
    client.unsubscribe(topic)
    return got[0] if got else None


# --- run, and the commands that read or tidy its configuration -------------------------------
def _load_for_run(config_path):
    """The configuration as `run` reads it at start (logging set up, the password file read):
    `config check` and `discovery remove` fail on exactly what `run` would fail on."""
    cfg = _config(config_path)
    logging.basicConfig(level=cfg.log.level.upper(), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from .config import ConfigError, check_password_file
    try:  # here, not at the first connect: a clear exit, the same for `config check` and run
        warning = check_password_file(cfg.mqtt)
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    if warning:
        logging.getLogger("edgecast.daemon").warning("%s", warning)
    return cfg


def check_configuration(cfg) -> None:
    """What `edgecast config check` prints: each station's input, topics, state file, place,
    model and frost rule, as the daemon would serve them — built by the same function as
    `run` builds them (_service: the model loaded, the MQTT client made with its TLS files
    read). Exit 1 when a model cannot serve (run would serve naive forecasts only)."""
    from .adapters import input_topic
    from .state import state_path
    stations = _service(cfg).stations
    click.echo(f"configuration ok; {len(stations)} station{'s' if len(stations) > 1 else ''}")
    for station in stations:
        sc, forecaster, error = station.cfg, station.forecaster, station.model_error
        click.echo(f"station {sc.station.id}: {sc.input.format} readings on {input_topic(sc)}, "
                   f"forecast {sc.topic('forecast')}, state {state_path(sc.state_dir, sc.station.id)}")
        click.echo(f"  location: {sc.station.location.describe()}" + (
            " (assumed: Jena's; set [station] latitude and longitude)" if sc.station.location_assumed else ""))
        click.echo(f"  model: {forecaster.describe()}" if forecaster else
                   f"  model: none, naive forecasts ({error})")
        rule = sc.alerts.frost
        click.echo(f"  frost warning on {sc.topic('alert')}: below {rule.warn_below_c:g} °C "
                   f"(frost_c {rule.threshold_c:g} + margin {rule.margin_c:g}), off from "
                   f"{rule.warn_below_c + rule.hysteresis_c:g} °C")
    failed = [s for s in stations if s.forecaster is None]
    if failed:
        raise click.ClickException("; ".join(f"station {s.id}: the model cannot serve ({s.model_error})"
                                             for s in failed) + ": `run` would serve naive forecasts only")


def print_defaults() -> None:
    """What `edgecast config print` prints: every key with its default and doc line."""
    from .config import default_toml
    click.echo(default_toml())


def remove_discovery_of(cfg) -> None:
    """What `edgecast discovery remove` does: empty retained discovery configs for every
    configured station (and its retained station topics, unless its daemon is online)."""
    from .homeassistant import STATION_TOPICS, remove
    from .mqtt_link import MqttLink
    from ..readings import RUNNING

    class _Link:  # publish_to without the daemon's subscriptions or availability
        def __init__(self, client):
            self.client = client
        publish_to = MqttLink.publish_to
    for sc in cfg.station_configs():
        client = _connect(sc, f"{sc.client_id}-discovery")
        try:
            running = _retained(client, sc.topic("status")) in RUNNING
            if running:  # its next (re)connect would publish the entities again
                click.echo(f"warning: the daemon of station {sc.station.id} is running (status online): "
                           "stop it first (systemctl stop edgecast), or Home Assistant gets the entities "
                           "back at its next connect; its retained " + "/".join(STATION_TOPICS)
                           + " are left alone",
                           err=True)
            n = remove(sc, _Link(client), station_topics=not running)
        finally:
            client.disconnect()
            client.loop_stop()
        click.echo(f"removed {n} Home Assistant discovery configs of station {sc.station.id}"
                   + ("" if running else f" and its retained {', '.join(STATION_TOPICS)}"))


# The flags `run` once had for these, and the command each now is.
RENAMED = {"check": "edgecast config check", "print_config": "edgecast config print",
           "remove_discovery": "edgecast discovery remove"}


def _renamed(flag: str, config_path) -> None:
    """One line on stderr: the old flag still works, here is its new spelling."""
    command = RENAMED[flag] + (f" --config {config_path}" if config_path else "")
    click.echo(f"note: `edgecast run --{flag.replace('_', '-')}` is now `{command}`", err=True)


def _one_mode(config_path, **flags) -> None:
    """`run`'s old flags each do something else instead of serving: refuse a combination
    instead of picking one."""
    chosen = ["--" + name.replace("_", "-") for name, on in flags.items() if on]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} cannot be combined: give one of them")
    if flags["print_config"] and config_path:
        raise click.UsageError("--print-config prints the defaults and reads no --config "
                               "(to validate a file: edgecast config check --config FILE)")


@click.command()
@_config_option
@click.option("--check", is_flag=True, help="Old spelling of `edgecast config check`.")
@click.option("--print-config", is_flag=True, help="Old spelling of `edgecast config print`.")
@click.option("--remove-discovery", "--uninstall", "remove_discovery", is_flag=True,
              help="Old spelling of `edgecast discovery remove`.")
@click.option("--reset-correction", is_flag=True,
              help="Forget what the on-box correction learnt, and the skill scores made with it, in every "
                   "configured station's state file (the window is kept) and exit. Stop the daemon first.")
def run(config_path, check, print_config, remove_discovery, reset_correction):
    """The forecasting daemon: readings in over MQTT, a 24 h forecast out every hour.

    One process serves one station ([station] in the config) or, on a gateway box that
    receives several sensors, each of its [[stations]]: every station has its own
    buffer, state file, topics, MQTT session and model (docs/daemon.md, "Several stations").
    Check a configuration first with `edgecast config check`.

    \b
    Example:
      edgecast run --config /etc/edgecast/edgecast.toml
    """
    _one_mode(config_path, check=check, print_config=print_config, remove_discovery=remove_discovery,
              reset_correction=reset_correction)
    for flag, on in (("check", check), ("print_config", print_config), ("remove_discovery", remove_discovery)):
        if on:
            _renamed(flag, config_path)
    if print_config:
        print_defaults()
        return
    cfg = _load_for_run(config_path)
    if check:
        check_configuration(cfg)
        return
    if reset_correction:
        for sc in cfg.station_configs():
            click.echo(_reset_correction(sc))
        return
    if remove_discovery:
        remove_discovery_of(cfg)
        return
    from .service import one_malloc_arena
    one_malloc_arena()  # before the stations' network thread starts
    sys.exit(_service(cfg, config_path).run())


def _service(cfg, config_path=None):
    """The daemon as `run` serves it and `config check` checks it: every station built (its
    model loaded, its MQTT client made: TLS files read), nothing started yet."""
    from . import service
    from .config import ConfigError
    try:
        return service.Service(cfg, config_path)
    except ConfigError as exc:  # a TLS file that does not load; the password file vanished since the check
        raise click.ClickException(f"configuration: {exc}") from None


@click.group("config")
def config_group():
    """Check or print the daemon's configuration (docs/daemon.md).

    \b
    Example:
      edgecast config check --config /etc/edgecast/edgecast.toml
    """


@config_group.command("check")
@_config_option
def config_check(config_path):
    """Validate the configuration and each station's model, print what `run` would serve, exit.

    Exit code 0 when `edgecast run` would start on it, 1 with the reason when not.

    \b
    Example:
      edgecast config check --config /etc/edgecast/edgecast.toml
    """
    check_configuration(_load_for_run(config_path))


@config_group.command("print")
def config_print():
    """Print every key with its default value and doc line, as TOML, and exit.

    \b
    Example:
      edgecast config print > edgecast.toml
    """
    print_defaults()


@click.group("discovery")
def discovery_group():
    """Home Assistant's MQTT discovery of the daemon's entities.

    \b
    Example:
      edgecast discovery remove --config /etc/edgecast/edgecast.toml
    """


@discovery_group.command("remove")
@_config_option
def discovery_remove(config_path):
    """Delete the Home Assistant entities of every configured station and exit.

    Publishes empty retained discovery configs (and clears the station's retained
    forecast, status and stats when its daemon is not running). Run it before removing
    edgecast from a box; stop the daemon first, or Home Assistant gets the entities back
    at its next connect.

    \b
    Example:
      edgecast discovery remove --config /etc/edgecast/edgecast.toml
    """
    remove_discovery_of(_load_for_run(config_path))


def _reset_correction(sc) -> str:
    """Rewrite one station's state file (atomically) with a fresh correction and fresh skill
    scores: the scores were made by the correction (the guard reads them). A running daemon
    would overwrite the file at its next hour, hence: stop it first."""
    from .correction import Correction
    from .skill import Skill
    from .state import FORMAT, load, save, state_path
    path = state_path(sc.state_dir, sc.station.id)
    found: dict = {}
    if not load(path, found.update):
        return f"station {sc.station.id}: no usable state file at {path}: nothing to reset"
    skill = Skill()
    try:
        skill.load_dict(found["skill"])
    except (KeyError, ValueError, TypeError):
        pass  # a missing or damaged section: the daemon starts it afresh anyway
    skill.records, skill.guarding = skill.records[:0], False
    skill.drop_curves()
    found.pop("format", FORMAT)
    found["skill"], found["correction"] = skill.to_dict(), Correction().to_dict()
    try:
        save(path, found)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    return f"station {sc.station.id}: on-box correction and its skill scores reset in {path}"


def _speed_factor(speed: str) -> float | None:
    """--speed as a factor, None for 'max'."""
    if speed == "max":
        return None
    try:
        factor = float(speed)
    except ValueError:
        factor = math.nan
    if not factor > 0:
        raise click.BadParameter("a positive number or 'max'", param_hint="--speed")
    return factor


# --- replay ---------------------------------------------------------------------------------
@click.command()
@data_option()
@_broker_options
@click.option("--start", default=None, help="First reading time, ISO 8601 (default: the file's first row).")
@click.option("--hours", type=float, default=None, help="How many hours of rows to send (default: all).")
@click.option("--speed", default="max", show_default=True,
              help="Event-time speed-up factor (60 = an hour per minute), or 'max'.")
@click.option("--pace", type=click.Choice(["auto", "daemon", "broker"]), default="auto", show_default=True,
              help="daemon: stay at most 500 readings ahead of what the station's daemon has counted "
                   "(its stats topic), so a broker's queue limit (mosquitto: 1000) never drops any; "
                   "broker: open loop, broker acknowledgements only (benchmarks); auto: daemon when "
                   "the daemon is online, else broker with a warning.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def replay(data_paths, config_path, host, port, station, start, hours, speed, pace, quiet):
    """Publish real Jena rows as the sensor would: one JSON reading per row, QoS 1.

    Returns when the broker has acknowledged every reading and (paced by the daemon)
    the daemon has counted every one.

    \b
    Example:
      edgecast replay --config /etc/edgecast/edgecast.toml --data weather.csv.xz --start 2020-10-02 --speed 3600
    """
    factor = _speed_factor(speed)
    cfg = _client_config(config_path, host, port, station)
    from .. import replay as replay_mod
    try:
        replay_mod.check_hours(hours)  # before the file is read: a bad --hours is said at once
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--hours") from None
    series = load_data(data_paths)
    try:
        first, end = replay_mod.select_rows(series.times, start, hours)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--hours" if "--hours" in str(exc) else "--start") from None
    if end <= first:
        raise click.ClickException("no rows in the chosen period")
    topic = cfg.topic("readings")
    client = _connect(cfg, replay_mod.new_client_id())
    progress = None
    if pace != "broker":
        progress = replay_mod.DaemonProgress(cfg.topic("status"), cfg.topic("stats"))
        progress.attach(client)
        if not progress.online(wait=5.0):
            if pace == "daemon":
                raise click.ClickException(f"no daemon online for station {cfg.station.id} "
                                           f"({cfg.topic('status')}): start `edgecast run`, or use --pace broker")
            click.echo(f"warning: no daemon online for station {cfg.station.id}: not paced; a broker drops "
                       "QoS 1 readings beyond its queue limit (mosquitto: max_queued_messages 1000)", err=True)
            progress = None
    log = (lambda n: click.echo(f"{n} readings sent", err=True)) if not quiet else None
    try:
        acked = replay_mod.replay(client, topic, series.times[first:end], series.values[first:end], factor,
                                  qos=cfg.mqtt.qos, progress=log, pace=progress)
    except replay_mod.ReplayStalled as exc:
        raise click.ClickException(str(exc)) from None
    client.disconnect()
    client.loop_stop()
    if not quiet:
        click.echo(f"{acked} readings published to {topic} ({series.times[first]} .. {series.times[end - 1]})",
                   err=True)
    if acked != end - first:
        raise click.ClickException(f"only {acked} of {end - first} readings were acknowledged by the broker")


# --- watch ----------------------------------------------------------------------------------
@click.command()
@_broker_options
@click.option("--json", "as_json", is_flag=True, help="Print each forecast payload as JSON.")
@click.option("--count", type=int, default=0, help="Exit after this many forecasts (0 = run until Ctrl-C).")
def watch(config_path, host, port, station, as_json, count):
    """Print forecasts as they arrive, and each one's actual temperature once it is known.

    One line per forecast: when it was issued, the temperature now, the next 24 hours'
    lowest and highest (UTC hour), the +24 h forecast, its source (model or naive, and why
    naive) and FROST while the frost warning is on. Once the hour 24 h later has been read,
    a second line gives the actual temperature and the error.

    \b
    Example:
      edgecast watch --config /etc/edgecast/edgecast.toml --count 3
    """
    cfg = _client_config(config_path, host, port, station)
    from ..watch import Watcher, new_client_id
    watcher = Watcher(click.echo, as_json)
    handlers = {cfg.topic("forecast"): watcher.on_forecast, cfg.topic("readings"): watcher.on_reading}

    def on_connect(client, userdata, flags, reason_code, properties):
        for topic in handlers:
            client.subscribe(topic, qos=1)

    def on_message(client, userdata, msg):
        try:
            if msg.topic in handlers:
                handlers[msg.topic](msg.payload)
        except Exception as exc:  # any payload: an exception here would end paho's thread, and watch would hang
            click.echo(f"ignored a message on {msg.topic} that cannot be read ({type(exc).__name__})", err=True)
        if count and watcher.forecasts >= count:
            client.disconnect()

    client = _connect(cfg, new_client_id(), on_connect=on_connect, on_message=on_message)
    try:
        # paho's loop thread reconnects (and on_connect resubscribes) if the broker goes away.
        while not (count and watcher.forecasts >= count):
            if not getattr(client, "_thread", None) or not client._thread.is_alive():
                raise click.ClickException("the MQTT network thread ended")
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    client.disconnect()
    client.loop_stop()
