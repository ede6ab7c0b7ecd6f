"""Fault-injection parts shared by the quick suite (tests/reliability/test_*.py) and the
full run (``python -m tests.reliability.full_run``). The broker, daemon subprocess,
replay and subscriber are harness/processes.py's, the in-process link harness/offline.py's;
this adds what faults need: an uninterrupted in-process reference run, a SIGKILL trial, a cuttable TCP link, and
real disk faults (a tiny tmpfs: mounting needs root; the state writer's random temp
names leave no fixed path to point at /dev/full)."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from edgecast.daemon import config as config_mod
from edgecast.daemon import state
from edgecast.daemon.hourly import HourlyBuffer
from edgecast.replay import reading_payload, select_rows

from harness.offline import offline_station
from harness.processes import EDGECAST, wait_until

NO_MODEL = '[model]\npath = "{dir}/no-such-model.tflite"\n'


def payloads(series, start: str, hours: float) -> list[bytes]:
    """The exact payloads `edgecast replay` publishes for these rows."""
    first, end = select_rows(series.times, start, hours)
    return [reading_payload(t, v) for t, v in zip(series.times[first:end], series.values[first:end])]


class InProcess:
    """One daemon Station without a broker: payloads in, published messages recorded.

    An uninterrupted run to compare a faulted one with (same code, same config rules)."""

    def __init__(self, tmp_path: Path, extra: str = "", station: str = "jena"):
        text = f'[station]\nid = "{station}"\n[state]\ndir = "{tmp_path / "inproc-state"}"\n'
        self.cfg = config_mod.parse(text + (extra or NO_MODEL.format(dir=tmp_path)))
        self.station = offline_station(self.cfg)
        self.published = self.station.link.published

    def feed(self, items) -> "InProcess":
        for p in items:
            self.station.on_payload(p)
        return self

    def forecasts(self) -> list[dict]:
        return forecasts_of(self.published)


def forecasts_of(published: list[tuple[str, object]]) -> list[dict]:
    return [p for name, p in published if name == "forecast"]


def check_state_file(path: Path, station: str = "jena") -> int:
    """The state file parses and restores into a buffer; returns its buffered hours."""
    data = json.loads(path.read_bytes())
    assert data["format"] == state.FORMAT and data["station"] == station
    buffer = HourlyBuffer(carry_forward_hours=3)
    buffer.load_dict(data["buffer"])
    return len(buffer.hours)


def publish_all(port: int, topic: str, items, qos: int = 1, client_id: str | None = None) -> None:
    """Publish and wait for every acknowledgement (a bad sensor, a flood)."""
    import paho.mqtt.client as mqtt
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"fault-pub-{random.random()}")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for p in items:
        infos.append(client.publish(topic, p, qos=qos))
        if len(infos) % 500 == 0:  # keep the in-flight window bounded (16-bit message ids)
            for info in infos[-500:]:
                info.wait_for_publish(30)
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def forecasts_by_hour(forecasts: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in forecasts:
        out.setdefault(f["issued_at"], []).append(f)
    return out


def compare_forecasts(got: list[dict], reference: list[dict]) -> dict:
    """Hours missing, hours with a differing forecast, and duplicate copies (identical)."""
    by_hour = forecasts_by_hour(got)
    ref = {f["issued_at"]: f for f in reference}
    missing = sorted(set(ref) - set(by_hour))
    differing = sorted(h for h, fs in by_hour.items() if h in ref and any(f != ref[h] for f in fs))
    extra = sorted(set(by_hour) - set(ref))
    duplicates = sum(len(fs) - 1 for fs in by_hour.values())
    return {"missing": missing, "differing": differing, "extra": extra, "duplicates": duplicates}


def sigkill_trials(daemon, sub, items: list[bytes], broker_port: int, kills: int, rng: random.Random,
                   forecast_topic: str = "edgecast/jena/forecast", timeout: float = 60) -> dict:
    """Queue ``items`` for the daemon, then SIGKILL it ``kills`` times at random moments
    while it works through them, restarting it each time; check the state file after
    every kill. The daemon must be stopped on entry (its session is known to the broker)."""
    publish_all(broker_port, f"edgecast/{daemon.station}/readings", items)
    readable = 0
    for _ in range(kills):
        daemon.start()
        seen = len(sub.get(forecast_topic))
        # Kill after a random number of new forecasts (mid-stream), plus a random few ms.
        target = seen + rng.randint(1, 8)
        try:
            wait_until(lambda: len(sub.get(forecast_topic)) >= target, timeout, interval=0.002,
                       what="forecasts before the kill")
        except AssertionError:
            pass  # the queue ran dry first: the kill then lands in the idle daemon
        time.sleep(rng.uniform(0, 0.02))
        daemon.stop(signal.SIGKILL)
        if daemon.state_file.exists():
            check_state_file(daemon.state_file, daemon.station)
            readable += 1
        corrupt = list(daemon.state_file.parent.glob("*.corrupt-*"))
        assert not corrupt, corrupt
    daemon.start()
    # serving (its signal handlers set) before the caller may stop it: the queue may have run
    # dry before the last kill, and a SIGTERM during the imports ends it by the signal (-15)
    wait_until(lambda: "serving station" in daemon.log_path.read_text(errors="replace"), timeout,
               what="the daemon to serve again")
    return {"kills": kills, "state_readable": readable}


class CuttableLink:
    """A TCP forwarder between the daemon and the broker that the test can cut (Wi-Fi down):
    cut() closes every connection and refuses new ones until mend()."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.up = True
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                conn.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                conn.close()
                continue
            with self.lock:
                self.pairs.append((conn, upstream))
            threading.Thread(target=self._pump, args=(conn, upstream), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        socks = [a, b]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], 0.5)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        raise OSError
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        self.up = False
        with self.lock:
            for a, b in self.pairs:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self.pairs.clear()

    def mend(self):
        self.up = True

    def close(self):
        self.closed = True
        self.cut()
        self.server.close()


# --- disk faults ---------------------------------------------------------------------------
def try_mount_tmpfs(path: Path, size: str = "256k") -> bool:
    """Mount a tiny tmpfs at ``path`` (root, and a kernel that lets us); False otherwise."""
    path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                         capture_output=True)
    return out.returncode == 0


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path: Path) -> Path:
    """Fill the file system holding ``path`` (ENOSPC for the next write)."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def replay_cmd(port: int, data: Path, start: str, hours: float, speed: str = "max", station: str = "jena"):
    return EDGECAST + ["replay", "--data", str(data), "--host", "127.0.0.1", "--port", str(port), "--station",
                       station, "--start", start, "--hours", str(hours), "--speed", speed, "--quiet"]


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def stats_of(sub, station: str = "jena") -> dict:
    stats = sub.get(f"edgecast/{station}/stats")
    return stats[-1] if stats else {}

