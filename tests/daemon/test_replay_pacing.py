"""`edgecast replay` paced by the daemon against a stock broker queue (mosquitto: 1000 queued)."""

from __future__ import annotations

import signal
import subprocess
import time

from edgecast.data import load
from edgecast.replay import select_rows
from harness.processes import EDGECAST, Broker, wait_until

START, HOURS = "2020-03-01T00:00:00", 500  # 3,000 ten-minute rows: three times mosquitto's default queue
NO_MODEL = '[model]\npath = "{dir}/no-such-model.tflite"\n'


def counted(sub) -> int:
    stats = sub.get("edgecast/jena/stats")
    r = stats[-1]["readings"] if stats else {"accepted": 0, "rejected": {}}
    return r["accepted"] + sum(r["rejected"].values())


def test_a_replay_paced_by_the_daemon_loses_nothing_at_the_default_queue_limit(
        tmp_path, daemons, subscriber, jena_2020_path):
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(directory)
    # mosquitto as installed: max_queued_messages 1000, beyond which QoS 1 messages are dropped
    broker.conf.write_text(broker.conf.read_text().replace("max_queued_messages 100000\n", ""))
    broker.start()
    try:
        sub = subscriber(broker, ["edgecast/jena/stats", "edgecast/jena/status"])
        daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
        sub.wait_online()
        wait_until(lambda: sub.get("edgecast/jena/stats"), 10, what="the daemon's first stats")
        series = load(jena_2020_path)
        first, end = select_rows(series.times, START, HOURS)
        daemon.send(signal.SIGSTOP)  # a daemon that falls behind (a slow box, a busy disk)
        sender = subprocess.Popen(EDGECAST + ["replay", "--data", str(jena_2020_path), "--host", "127.0.0.1",
                                              "--port", str(broker.port), "--station", "jena", "--start", START,
                                              "--hours", str(HOURS), "--speed", "max", "--quiet"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        daemon.send(signal.SIGCONT)
        out, err = sender.communicate(timeout=120)
        assert sender.returncode == 0, err
        # the replay returned only once the daemon had counted every reading
        wait_until(lambda: counted(sub) >= end - first, 15, what="every reading counted")
        assert counted(sub) == end - first == 3000
    finally:
        broker.stop()


def test_replay_without_a_daemon_warns_that_it_is_not_paced(broker, jena_2020_path):
    out = subprocess.run(EDGECAST + ["replay", "--data", str(jena_2020_path), "--host", "127.0.0.1", "--port",
                                     str(broker.port), "--station", "nobody", "--start", START, "--hours", "1",
                                     "--quiet"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "no daemon online for station nobody: not paced" in out.stderr
    strict = subprocess.run(EDGECAST + ["replay", "--data", str(jena_2020_path), "--host", "127.0.0.1", "--port",
                                        str(broker.port), "--station", "nobody", "--start", START, "--hours", "1",
                                        "--pace", "daemon"], capture_output=True, text=True, timeout=60)
    assert strict.returncode == 1 and "no daemon online for station nobody" in strict.stderr


def test_daemon_progress_counts_across_a_daemon_restart_and_ignores_foreign_payloads():
    import json

    from edgecast.replay import DaemonProgress

    def stats(accepted, **rejected):
        return json.dumps({"readings": {"accepted": accepted, "rejected": rejected}}).encode()
    p = DaemonProgress("s/status", "s/stats")
    p._on_status(b"online")
    p._on_stats(stats(100, duplicate=5))  # the count before the replay: the base
    assert p.online(0) and p.counted() == 0
    p._on_stats(stats(300, duplicate=5, bad_json=10))
    assert p.counted() == 210
    p._on_stats(b"not json")
    p._on_stats(json.dumps({"readings": "?"}).encode())
    assert p.counted() == 210
    p._on_stats(stats(40))  # a restarted daemon counts from 0 again
    assert p.counted() == 250
    p._on_stats(stats(90, duplicate=1))
    assert p.counted() == 301
