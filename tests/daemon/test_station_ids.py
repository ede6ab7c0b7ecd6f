"""Station ids are display names: any visible text is allowed, and where only
``[a-zA-Z0-9_-]`` will do (Home Assistant's discovery topics and unique ids, the state
file name) the daemon uses the id's key (topics.station_key). Ids nobody can see are
refused with the rule named. The daemon cases go through a real mosquitto."""

from __future__ import annotations

import json
import re

import paho.mqtt.client as mqtt
import pytest

from edgecast.daemon.config import ConfigError, parse
from edgecast.daemon.homeassistant import configs
from edgecast.daemon.state import state_path
from edgecast.daemon.topics import station_key
from harness.processes import free_port, wait_until

# Home Assistant's discovery topic pattern (homeassistant/components/mqtt/discovery.py):
# a topic that does not match is ignored, entity by entity, without a word in its log.
HA_DISCOVERY_TOPIC = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?"
                                r"(?P<object_id>[a-zA-Z0-9_-]+)/config")
EMOJI_60 = "\U0001F321" * 60  # 🌡 ×60: 240 bytes of UTF-8, within the 64-character limit
UNSAFE = ["roof.north", "garden shed", "Dach-Süd", "st:1", EMOJI_60]


@pytest.mark.parametrize("sid", UNSAFE)
def test_every_id_gets_discovery_topics_home_assistant_accepts(sid):
    cfg = parse(f'[station]\nid = "{sid}"\n')
    found = configs(cfg)
    assert len(found) >= 9
    for topic, config in found.items():
        assert HA_DISCOVERY_TOPIC.fullmatch(topic.removeprefix("homeassistant/")), topic
        assert re.fullmatch(r"[a-zA-Z0-9_-]+", config["unique_id"])
        assert config["device"]["name"] == f"edgecast {sid}"  # the display name stays the id
    assert len(state_path(cfg.state_dir, sid).name.encode()) <= 255


def test_keys_keep_safe_ids_and_separate_lookalikes():
    assert station_key("jena") == "jena" and station_key("roof-1_a") == "roof-1_a"
    assert station_key("roof.north").startswith("roof_north_")
    assert station_key("roof.north") != station_key("roof north") != station_key("roof_north")
    assert station_key("Dach-Süd").startswith("Dach-Sud_")
    assert re.fullmatch(r"[0-9a-f]{8}", station_key(EMOJI_60))


@pytest.mark.parametrize("sid", [" ", "\u3164", "\u2800", "\u034f", "   ", "\u3164\u034f", " roof", "roof "])
def test_invisible_ids_are_refused_with_the_rule(sid):
    with pytest.raises(ConfigError) as err:
        parse(f'[station]\nid = "{sid}"\n')
    assert str(err.value).startswith("station.id") and "visible character" in str(err.value)


def test_two_ids_with_one_key_are_refused():
    key = station_key("roof.north")
    with pytest.raises(ConfigError, match="would share the key"):
        parse(f'[[stations]]\nid = "roof.north"\n[[stations]]\nid = "{key}"\n')


def _stations(ids) -> str:
    return "".join(f'[[stations]]\nid = "{sid}"\ninput = {{ topic = "sensors/{n}" }}\n' for n, sid in enumerate(ids))


def test_daemon_publishes_accepted_discovery_and_saves_state_for_free_ids(broker, daemons, tmp_path):
    got: dict[str, bytes] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-ha-{free_port()}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("homeassistant/#", qos=1)
    client.on_message = lambda c, u, m: got.__setitem__(m.topic, m.payload)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        model = f'[model]\npath = "{tmp_path}/no-such-model.tflite"\n'
        daemon = daemons(broker, station="ids", extra=model, stations=_stations(UNSAFE)).start()
        expected = {t for sc in parse(daemon.config.read_text()).station_configs() for t in configs(sc)}
        wait_until(lambda: expected <= set(got), 30, what="discovery of every station")
        assert daemon.stop() == 0
    finally:
        client.disconnect()
        client.loop_stop()
    assert all(HA_DISCOVERY_TOPIC.fullmatch(t.removeprefix("homeassistant/")) for t in got), sorted(got)
    devices = {json.loads(p)["device"]["name"] for p in got.values()}
    assert devices == {f"edgecast {sid}" for sid in UNSAFE}
    for sid in UNSAFE:  # every state was written, under the key (the emoji id's raw name is > 255 bytes)
        saved = json.loads((tmp_path / "state" / f"{station_key(sid)}.state.json").read_text())
        assert saved["station"] == sid
    assert "state not saved" not in daemon.log().lower()


def test_a_state_file_under_the_raw_id_is_adopted(broker, daemons, tmp_path):
    first = daemons(broker, station="roof.north").start()
    wait_until(lambda: "serving station" in first.log(), 20, what="the daemon to serve")
    assert first.stop() == 0
    keyed = tmp_path / "state" / f"{station_key('roof.north')}.state.json"
    raw = tmp_path / "state" / "roof.north.state.json"
    keyed.rename(raw)  # as a version before station keys left it
    second = daemons(broker, station="roof.north").start()
    wait_until(lambda: "renamed to" in second.log(), 20, what="the old state file to be adopted")
    assert second.stop() == 0
    assert keyed.exists() and not raw.exists()
    assert "resumed" in second.log() or "unusable" not in second.log()
