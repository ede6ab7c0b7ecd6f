"""deploy/: the systemd unit passes systemd's own checks; install.sh works into a root prefix."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgecast.daemon import config
from edgecast.daemon.settings import settings_of, subsections_of
from tests.conftest import REPO, require

DEPLOY = REPO / "deploy"


def test_example_config_is_the_defaults_and_names_every_key():
    text = (DEPLOY / "edgecast.toml").read_text()
    assert config.parse(text, "deploy/edgecast.toml") == config.Config()  # the comments tell the truth
    for name, cls in config.SECTIONS.items():
        assert f"[{name}]" in text
        for key in settings_of(cls):
            unset = "# " if key.default is None else ""  # a key unset by default: commented out
            assert re.search(rf"^{unset}{key.name} = ", text, re.M), f"{name}.{key.name} missing from the example"
        for sub in subsections_of(cls):  # the input formats' own tables: commented out, but there
            if not settings_of(sub.default_factory):
                continue
            table = text[text.index(f"# [{name}.{sub.name}]"):]
            for key in settings_of(sub.default_factory):
                assert re.search(rf"^# {key.name} = ", table, re.M), f"{name}.{sub.name}.{key.name} missing"
    # the commented gateway example is a valid configuration once uncommented
    example = text[text.index("# [[stations]]"):]
    gateway = "\n".join(line[2:] for line in example.splitlines())
    stations = config.parse(gateway, "the [[stations]] example").station_configs()
    assert [(s.station.id, s.input.format, s.model.path) for s in stations] == [
        ("roof", "native", ""), ("garden", "rtl_433", ""), ("shed", "tasmota", "bme280")]


def test_unit_passes_systemd_verify(tmp_path):
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze not installed")
    # verify checks that ExecStart exists: point it at this checkout's edgecast.
    unit = tmp_path / "edgecast.service"
    unit.write_text((DEPLOY / "edgecast.service").read_text().replace(
        "/opt/edgecast/venv/bin/edgecast", str(Path(sys.executable).parent / "edgecast")))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_unit_security_rating_is_ok_or_better():
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze not installed")
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", str(DEPLOY / "edgecast.service")],
                         capture_output=True, text=True, check=True).stdout
    level = re.search(r"Overall exposure level for edgecast.service: ([\d.]+) (\w+)", out)
    assert level, out[-500:]
    assert level.group(2) in ("OK", "SAFE", "PERFECT") and float(level.group(1)) < 2.0, level.group(0)


@pytest.mark.slow
def test_install_into_root_prefix_is_idempotent_and_has_no_tensorflow(tmp_path):
    root = tmp_path / "box"
    script = DEPLOY / "install.sh"
    run = lambda *args: subprocess.run(["bash", str(script), "--root", str(root), *args],  # noqa: E731
                                       capture_output=True, text=True, timeout=900)
    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    venv = root / "opt/edgecast/venv"
    packages = subprocess.run([str(venv / "bin/python"), "-m", "pip", "list", "--format=freeze"],
                              capture_output=True, text=True, check=True).stdout.lower()
    assert "ai-edge-litert" in packages or "ai_edge_litert" in packages
    assert "tensorflow" not in packages and "keras" not in packages
    assert (root / "etc/systemd/system/edgecast.service").exists()
    conf = root / "etc/edgecast/edgecast.toml"
    conf.write_text(conf.read_text().replace('id = "default"', 'id = "roof1"'))  # the user's edit

    second = run()
    assert second.returncode == 0, second.stdout + second.stderr
    assert 'id = "roof1"' in conf.read_text() and (conf.parent / "edgecast.toml.new").exists()

    state = root / "var/lib/edgecast"
    state.mkdir(parents=True)
    (state / "roof1.state.json").write_text("{}")
    # Home Assistant entities of the daemon that ran: --uninstall deletes them on its broker
    from harness.processes import Broker
    from edgecast.daemon.homeassistant import configs
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker")
    broker.start()
    try:
        conf.write_text(conf.read_text().replace("port = 1883 ", f"port = {broker.port} "))
        topics = list(configs(config.load(conf)))
        retained_messages(broker.port, topics, publish=True)
        assert len(retained_messages(broker.port, topics)) == len(topics) == 11
        uninstall = run("--uninstall")
        assert uninstall.returncode == 0, uninstall.stdout + uninstall.stderr
        assert ("removed 11 Home Assistant discovery configs of station roof1 and its retained forecast, stats, "
                "status, alert") in uninstall.stdout
        assert retained_messages(broker.port, topics) == {}
    finally:
        broker.stop()
    assert not venv.exists() and not (root / "etc/systemd/system/edgecast.service").exists()
    assert conf.exists() and (state / "roof1.state.json").exists()
    assert run("--uninstall", "--purge").returncode == 0
    assert not conf.exists() and not state.exists()


def retained_messages(port: int, topics: list[str], publish: bool = False) -> dict:
    """The retained messages on ``topics`` (or, with publish, retain a config on each first)."""
    import time
    import paho.mqtt.client as mqtt
    got = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.__setitem__(m.topic, m.payload) if m.retain else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    if publish:
        for topic in topics:
            client.publish(topic, b'{"name": "from the daemon that ran"}', qos=1, retain=True).wait_for_publish(5)
    for topic in topics:
        client.subscribe(topic, qos=1)
    time.sleep(1.0)  # retained messages arrive right after the SUBACK
    client.disconnect()
    client.loop_stop()
    return got
