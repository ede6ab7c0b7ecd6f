"""Real parts for the daemon tests and benchmarks: a mosquitto broker on a free loopback
port, the daemon as a subprocess, `edgecast replay` on real 2020 rows, a paho subscriber.
(The pytest fixtures around them live in tests/daemon/conftest.py.)"""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from edgecast.local_broker import EDGECAST, MOSQUITTO, free_port, wait_for_port

__all__ = ["EDGECAST", "MOSQUITTO", "Broker", "Daemon", "Subscriber", "free_port", "replay", "wait_until"]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Broker:
    """mosquitto with persistence (so its queued QoS 1 messages survive its restart)."""

    def __init__(self, directory: Path, listeners: str = ""):
        """``listeners``: extra mosquitto listener blocks (per_listener_settings is on)."""
        self.dir = directory
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text("per_listener_settings true\n"
                             f"persistence true\npersistence_location {directory}/\n"
                             "max_queued_messages 100000\n"
                             # started as root, mosquitto would switch to user "mosquitto",
                             # which cannot write its database into our temp directory
                             f"user {getpass.getuser()}\n"
                             f"listener {self.port} 127.0.0.1\nallow_anonymous true\n" + listeners)
        self.proc = None

    def start(self) -> None:
        self.log = open(self.dir / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            self.proc.wait(10)
        self.log.close()

    def restart(self, pause: float = 0.5) -> None:
        self.stop()
        time.sleep(pause)
        self.start()



class Daemon:
    """`edgecast run` as a subprocess with its own config and state directory."""

    def __init__(self, tmp_path: Path, broker: Broker, station: str = "jena", extra: str = "", env=None,
                 mqtt: str = "", stations: str = "", command: list[str] | None = None):
        """``stations``: [[stations]] tables serving several stations (then ``station`` only
        names the config file); ``command``: what starts edgecast (default EDGECAST; a
        benchmark names another interpreter or a launcher)."""
        self.command = command or EDGECAST
        self.dir = tmp_path
        self.station = station
        self.config = tmp_path / f"{station}.toml"
        self.config.write_text((mqtt or f'[mqtt]\nport = {broker.port}\nhost = "127.0.0.1"\n') +
                               f'client_id = "edgecast-test-{station}"\nreconnect_max_delay = 2\n' +
                               ("" if stations else f'[station]\nid = "{station}"\n') +
                               f'[state]\ndir = "{tmp_path / "state"}"\n'
                               f'[stats]\ninterval_seconds = 1\n' + extra + stations)
        self.env = {**os.environ, **(env or {})}
        self.proc = None
        self.logs = []

    @property
    def state_file(self) -> Path:
        return self.dir / "state" / f"{self.station}.state.json"

    def start(self) -> "Daemon":
        self.log_path = self.dir / f"daemon-{len(self.logs)}.log"
        self.logs.append(self.log_path)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command + ["run", "--config", str(self.config)], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=self.env)
        return self

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs)

    def wait_serving(self, timeout: float = 30) -> "Daemon":
        """Until this start's process has installed its signal handlers and serves (a SIGTERM
        before that ends it with the default action, -15, not a clean stop)."""
        deadline = time.monotonic() + timeout
        while "serving station" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the daemon did not start serving:\n{self.log()[-2000:]}")
            time.sleep(0.05)
        return self

    def send(self, sig) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._log.close()
        return rc



def replay(broker: Broker, data: Path, start: str, hours: float, station: str = "jena", timeout: float = 60):
    """Run `edgecast replay` to completion (it waits for the broker's acknowledgements)."""
    out = subprocess.run(EDGECAST + ["replay", "--data", str(data), "--host", "127.0.0.1", "--port",
                                     str(broker.port), "--station", station, "--start", start,
                                     "--hours", str(hours), "--speed", "max", "--quiet"],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out


class Subscriber:
    """A real paho subscriber collecting JSON payloads per topic (QoS 1, persistent)."""

    def __init__(self, broker: Broker, topics: list[str]):
        self.messages: dict[str, list] = {t: [] for t in topics}
        self.retained: dict[str, list] = {t: [] for t in topics}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{free_port()}",
                                  clean_session=False)
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in topics]
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        wait_until(self.client.is_connected, 10, what="subscriber connection")

    def _on_message(self, client, userdata, msg):
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = msg.payload.decode(errors="replace")
        with self.lock:
            (self.retained if msg.retain else self.messages)[msg.topic].append(payload)

    def get(self, topic: str) -> list:
        with self.lock:
            return list(self.messages[topic])

    def wait_online(self, station: str = "jena", timeout: float = 15.0) -> None:
        """Until the daemon of ``station`` has announced itself (its retained-status topic)."""
        wait_until(lambda: "online" in self.get(f"edgecast/{station}/status"), timeout, what=f"{station} online")

    def wait_for(self, topic: str, n: int, timeout: float = 20.0) -> list:
        """Until ``topic`` has at least ``n`` (non-retained) messages; returns them all."""
        return wait_until(lambda: (m := self.get(topic)) and len(m) >= n and m, timeout,
                          what=f"{n} messages on {topic}")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()
