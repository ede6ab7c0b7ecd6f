"""MQTT 5 is the default (only there can the daemon announce a Maximum Packet Size); a
broker that knows only 3.1.1 refuses it with *Unsupported protocol version*, and then the
daemon, `replay` and `watch` connect with 3.1.1, with a warning. The refusing broker is a
real one: aedes (Node), a 3.1.1-only broker, installed by `make setup` into build/aedes
(mosquitto 2.0 accepts 5 on every listener and has no setting to refuse it; amqtt, the
Python 3.1.1 broker, never answers an MQTT 5 CONNECT that carries a will)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from harness.processes import EDGECAST, Subscriber, free_port, replay, wait_until
from tests.conftest import require
from tests.daemon.test_ecosystem import NO_MODEL

REPO = Path(__file__).resolve().parents[2]
AEDES_MODULES = Path(os.environ.get("EDGECAST_AEDES_MODULES", REPO / "build" / "aedes" / "node_modules"))
SCRIPT = Path(__file__).with_name("brokers") / "aedes_broker.js"
TOPICS = [f"edgecast/jena/{kind}" for kind in ("forecast", "stats", "status")]


class Broker311:
    """aedes on a free loopback port, anonymous: the `port` is all Daemon and replay need."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.log = open(directory / "aedes.log", "wb")
        self.proc = subprocess.Popen([shutil.which("node") or "node", str(SCRIPT), str(self.port)], stdout=self.log,
                                     stderr=subprocess.STDOUT, env={**os.environ, "NODE_PATH": str(AEDES_MODULES)})

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def broker311(tmp_path):
    require(shutil.which("node") is not None and (AEDES_MODULES / "aedes").is_dir(),
            "node and aedes (a 3.1.1-only broker: `make build/aedes/.installed`) are needed")
    b = Broker311(tmp_path)

    def accepting():
        try:
            socket.create_connection(("127.0.0.1", b.port), timeout=0.2).close()
            return True
        except OSError:
            return False
    try:
        wait_until(accepting, 20, what="amqtt to listen")
    except AssertionError:
        b.stop()
        raise
    yield b
    b.stop()


def test_a_broker_refusing_mqtt5_gets_311_with_a_warning(broker311, daemons, tmp_path, jena_2020_path):
    sub = Subscriber(broker311, TOPICS)  # paho's default: 3.1.1
    try:
        daemon = daemons(broker311, extra=NO_MODEL.format(dir=tmp_path)).start()  # no [mqtt] protocol: 5
        sub.wait_online(timeout=30)
        log = daemon.log()
        assert "(MQTT 5" in log and "the broker refuses MQTT 5 (Unsupported protocol version)" in log, log
        out = replay(broker311, jena_2020_path, "2020-03-01T00:00:00", 2)  # replay's own client falls back too
        assert "refuses MQTT 5" in out.stderr
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) >= 2, 30, what="2 forecasts over 3.1.1")
        watch = subprocess.run(EDGECAST + ["watch", "--host", "127.0.0.1", "--port", str(broker311.port),
                                           "--station", "jena", "--count", "1"],
                               capture_output=True, text=True, timeout=60)  # the retained forecast
        assert watch.returncode == 0 and watch.stdout.startswith("2020-03-01T0"), watch.stderr
        assert daemon.stop() == 0
    finally:
        sub.close()
