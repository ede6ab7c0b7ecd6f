"""A gateway with many stations under the shipped unit's TasksMax: the daemon's thread
count does not grow with its stations (one network thread runs every connection and
every timer, netloop.py), and a Home Assistant birth message brings back the discovery
of every station. Real mosquitto, real daemon subprocess."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from edgecast.daemon.config import parse
from edgecast.daemon.homeassistant import configs
from harness.processes import free_port, wait_until
from tests.conftest import require
from tests.daemon.test_ecosystem import NO_MODEL, publish

REPO = Path(__file__).resolve().parents[2]
MANY = 64


def tasks_max() -> int:
    """deploy/edgecast.service's TasksMax."""
    return int(re.search(r"^TasksMax=(\d+)$", (REPO / "deploy" / "edgecast.service").read_text(), re.M)[1])


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _stations(n: int) -> str:
    return "".join(f'[[stations]]\nid = "st{i:02d}"\ninput = {{ topic = "sensors/{i}" }}\n' for i in range(n))


def _serve(daemons, broker, tmp_path, n: int, sub_dir: str):
    directory = tmp_path / sub_dir
    directory.mkdir()
    extra = NO_MODEL.format(dir=tmp_path) + "[homeassistant]\nrepublish_delay_seconds = 1\n"
    daemon = daemons(broker, station=f"gw{n}", extra=extra, stations=_stations(n))
    daemon.dir = directory  # its own state directory and logs
    daemon.config = directory / "gw.toml"
    daemon.config.write_text((tmp_path / f"gw{n}.toml").read_text().replace(str(tmp_path / "state"),
                                                                             str(directory / "state")))
    return daemon.start()


class Collector:
    """Every retained-or-not message under homeassistant/ and edgecast/+/status."""

    def __init__(self, broker):
        self.got: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-ha-{free_port()}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([("homeassistant/+/+/config", 1),
                                                                     ("edgecast/+/status", 1)])
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def topics(self, since: int = 0) -> set[str]:
        return {t for t, _ in self.got[since:]}

    def online(self) -> set[str]:
        return {t for t, p in self.got if t.endswith("/status") and p == b"online"}

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_64_stations_use_the_threads_of_one_and_all_republish_discovery(broker, daemons, tmp_path):
    seen = Collector(broker)
    try:
        one = _serve(daemons, broker, tmp_path, 1, "one")
        wait_until(lambda: "edgecast/st00/status" in seen.online(), 30, what="the single station online")
        time.sleep(1)
        threads_one = threads(one.proc.pid)
        assert one.stop() == 0

        many = _serve(daemons, broker, tmp_path, MANY, "many")
        expected = {t for sc in parse(many.config.read_text()).station_configs() for t in configs(sc)}
        wait_until(lambda: len(seen.online()) == MANY, 60, what=f"{MANY} stations online")
        wait_until(lambda: expected <= seen.topics(), 60, what="every station's discovery")
        threads_many = threads(many.proc.pid)
        print(f"threads: 1 station {threads_one}, {MANY} stations {threads_many}")
        assert threads_many == threads_one <= 4, (threads_one, threads_many)
        assert threads_many < tasks_max()

        mark = len(seen.got)
        publish(broker, [("homeassistant/status", "online")])  # Home Assistant restarted
        wait_until(lambda: expected <= seen.topics(mark), 60, what="every station's discovery again")
        assert threads(many.proc.pid) == threads_one  # the republish timers took no thread either
        log = many.log()
        assert "can't start new thread" not in log and "Traceback" not in log
        assert many.stop() == 0
    finally:
        seen.close()


def _pids_root() -> Path | None:
    """Where this machine lets us make a pids cgroup: cgroup v1's pids hierarchy, or v2
    with the pids controller delegated to children; None elsewhere."""
    v1 = Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
        return v1
    v2 = Path("/sys/fs/cgroup")
    control = v2 / "cgroup.subtree_control"
    if control.exists() and "pids" in control.read_text().split() and os.access(v2, os.W_OK):
        return v2
    return None


def test_64_stations_serve_in_a_pids_cgroup_of_tasks_max(broker, daemons, tmp_path):
    """TasksMax as systemd enforces it: a pids cgroup whose pids.max is the unit's TasksMax."""
    root = _pids_root()
    require(root is not None, "no writable pids cgroup (cgroup v1 pids, or v2 with pids delegated)")
    group = root / f"edgecast-test-{os.getpid()}-{free_port()}"
    group.mkdir()
    seen = Collector(broker)
    try:
        (group / "pids.max").write_text(str(tasks_max()))
        # the daemon enters the cgroup before it execs, so every thread it starts counts
        launcher = ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$0" "$@"', sys.executable, "-m",
                    "edgecast.cli"]
        daemon = daemons(broker, station="gw", extra=NO_MODEL.format(dir=tmp_path), stations=_stations(MANY),
                         command=launcher).start()
        wait_until(lambda: len(seen.online()) == MANY, 60, what=f"{MANY} stations online under pids.max")
        print(f"pids.current {(group / 'pids.current').read_text().strip()} of pids.max {tasks_max()}")
        assert int((group / "pids.current").read_text()) <= tasks_max()
        assert (group / "pids.events").read_text().split() == ["max", "0"]  # no thread was ever refused
        log = daemon.log()
        assert "can't start new thread" not in log and "Traceback" not in log
        assert daemon.stop() == 0
    finally:
        seen.close()
        group.rmdir()
