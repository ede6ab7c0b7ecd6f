"""Home Assistant friction: the dashboard examples of docs/daemon.md are YAML the cards
accept (parsed, every key checked against the card's options, every entity id one the
default station's discovery creates), `edgecast discovery remove` lets Home Assistant
unsubscribe before it empties the state topics (real mosquitto), and the frost log line
tells the expected minimum from the threshold."""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import yaml

from edgecast.daemon.config import Config, parse
from edgecast.daemon.homeassistant import REMOVAL_PAUSE_SECONDS, STATION_TOPICS, configs
from edgecast.daemon.station import apart
from harness.offline import offline_station
from harness.processes import EDGECAST, free_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "daemon.md"

# What the cards accept: Home Assistant's entities card and its rows, the history-graph
# card, and apexcharts-card's options (its README: "Main Options", "header", "span", "now",
# "series"); apexcharts-card rejects a card with any other key.
ENTITIES_CARD = {"type", "title", "entities", "show_header_toggle", "state_color", "theme", "icon", "header",
                 "footer"}
ENTITY_ROW = {"entity", "name", "icon", "image", "secondary_info", "format", "state_color", "tap_action",
              "hold_action", "double_tap_action"}
SECONDARY_INFO = {"entity-id", "last-changed", "last-updated", "last-triggered", "position", "tilt-position",
                  "brightness"}
ATTRIBUTE_ROW = {"type", "entity", "attribute", "name", "icon", "prefix", "suffix", "format"}
HISTORY_GRAPH = {"type", "title", "entities", "hours_to_show", "logarithmic_scale", "min_y_axis", "max_y_axis",
                 "fit_y_data"}
VERTICAL_STACK = {"type", "title", "cards"}
APEX_MAIN = {"type", "series", "config_templates", "color_list", "all_series_config", "chart_type",
             "update_interval", "update_delay", "graph_span", "span", "show", "hours_12", "cache", "stacked",
             "layout", "header", "now", "yaxis", "apex_config", "experimental", "locale", "brush"}
APEX_HEADER = {"show", "title", "title_actions", "floating", "show_states", "colorize_states", "standard_format",
               "disable_actions"}
APEX_SPAN = {"start", "end", "offset"}
APEX_NOW = {"show", "color", "label"}
APEX_SERIES = {"entity", "attribute", "name", "color", "opacity", "stroke_width", "type", "curve", "extend_to",
               "unit", "float_precision", "fill_raw", "group_by", "invert", "transform", "data_generator",
               "statistics", "offset", "time_delta", "min", "max", "color_threshold", "yaxis_id", "show",
               "header_actions"}


def dashboard_cards() -> list[dict]:
    """The YAML blocks of the section "A dashboard card for the next day", parsed."""
    text = DOCS.read_text()
    section = text[text.index("**A dashboard card for the next day.**"):]
    section = section[:section.index("\n## ")]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def default_entities() -> dict[str, dict]:
    """entity id -> discovery config, as Home Assistant names them (device name + entity name)."""
    out = {}
    for topic, config in configs(Config()).items():
        component = topic.split("/")[1]
        out[f"{component}.{_slug(config['device']['name'] + ' ' + config['name'])}"] = config
    return out


def _check_keys(what: str, found: dict, allowed: set) -> None:
    assert isinstance(found, dict), (what, found)
    extra = set(found) - allowed
    assert not extra, f"{what}: keys the card does not accept: {sorted(extra)}"


def test_the_dashboard_examples_are_cards_home_assistant_accepts():
    entities = default_entities()
    stack, apex = dashboard_cards()
    _check_keys("vertical-stack", stack, VERTICAL_STACK)
    rows_card, graph = stack["cards"]
    _check_keys("entities card", rows_card, ENTITIES_CARD)
    _check_keys("history-graph", graph, HISTORY_GRAPH)
    used = list(graph["entities"])
    for row in rows_card["entities"]:
        if row.get("type") == "attribute":
            _check_keys("attribute row", row, ATTRIBUTE_ROW)
            template = entities[row["entity"]]["json_attributes_template"]
            assert f"'{row['attribute']}'" in template, f"{row['entity']} has no attribute {row['attribute']}"
        else:
            _check_keys("entity row", row, ENTITY_ROW)
            assert row.get("secondary_info", "entity-id") in SECONDARY_INFO, row
        used.append(row["entity"])
    _check_keys("apexcharts-card", apex, APEX_MAIN)
    _check_keys("apexcharts-card header", apex["header"], APEX_HEADER)
    assert apex["header"]["title"] == "Temperature, next 24 hours"
    _check_keys("apexcharts-card span", apex["span"], APEX_SPAN)
    _check_keys("apexcharts-card now", apex["now"], APEX_NOW)
    for series in apex["series"]:
        _check_keys("apexcharts-card series", series, APEX_SERIES)
        used.append(series["entity"])
    missing = sorted(set(used) - set(entities))
    assert not missing, f"no such entity for the default station {Config().station.id!r}: {missing}"


def test_removal_clears_the_state_topics_after_a_pause(broker, tmp_path):
    """Empty discovery configs first; the station's state topics only once Home Assistant
    has had REMOVAL_PAUSE_SECONDS to unsubscribe (the daemon is stopped)."""
    config = tmp_path / "edgecast.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n[station]\nid = "jena"\n')
    cfg = parse(config.read_text())
    discovery, state = set(configs(cfg)), {cfg.topic(name) for name in STATION_TOPICS}
    arrived: list[tuple[float, str]] = []
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        if msg.payload == b"":
            with lock:
                arrived.append((time.monotonic(), msg.topic))
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-ha-{free_port()}")
    client.on_message = on_message
    client.connect("127.0.0.1", broker.port)
    client.subscribe([("homeassistant/#", 1), ("edgecast/jena/+", 1)])
    client.loop_start()
    try:
        time.sleep(0.5)  # subscribed
        out = subprocess.run(EDGECAST + ["discovery", "remove", "--config", str(config)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and {t for _, t in arrived} != discovery | state:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    assert {t for _, t in arrived} == discovery | state
    last_config = max(at for at, topic in arrived if topic in discovery)
    first_state = min(at for at, topic in arrived if topic in state)
    # a lower bound the daemon's sleep guarantees, not a speed: the broker forwards at once
    assert first_state - last_config >= REMOVAL_PAUSE_SECONDS * 0.5, (first_state - last_config)


def test_the_frost_line_tells_the_minimum_from_the_threshold(tmp_path, caplog):
    assert apart(0.973, 1.0) == ("0.97", "1.00")
    assert apart(-2.34, 1.0) == ("-2.3", "1.0")
    assert apart(0.9996, 1.0) == ("1.000", "1.000")  # beyond 3 decimals: the same to the eye
    station = offline_station(parse(f'[station]\nid = "jena"\n[state]\ndir = "{tmp_path}"\n'))
    forecast = {"min_c": 0.973, "min_at": "2020-01-24T05:00:00Z", "hourly_source": "model"}
    with caplog.at_level(logging.INFO, logger="edgecast"):
        station._frost_alert(SimpleNamespace(payload=forecast, frost="on"))
    assert "frost warning on: 0.97 °C expected at 2020-01-24T05:00:00Z (model curve, warns below 1.00 °C)" \
        in caplog.text
