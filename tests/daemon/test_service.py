"""`edgecast run` as a subprocess against a real mosquitto, driven by `edgecast replay`
on real 2020 rows, observed by a real subscriber."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import paho.mqtt.client as mqtt

from edgecast import protocol
from edgecast.schema import TARGET_INDEX

from harness.processes import EDGECAST, replay, wait_until

START = "2020-03-01T00:00:00"  # a stretch without the file's duplicate, gap or -9999 rows
NO_MODEL = '[model]\npath = "{dir}/no-such-model.tflite"\n'
TOPICS = ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"]


def hour_row(series, iso: str) -> int:
    return int(np.searchsorted(series.times, np.datetime64(iso.rstrip("Z"), "s")))


def latest_stats(sub):
    stats = sub.get("edgecast/jena/stats")
    return stats[-1] if stats else {}


def test_one_naive_forecast_per_hour_equal_to_the_protocol(broker, daemons, subscriber, tmp_path,
                                                           jena_2020_path, series_2020):
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    replay(broker, jena_2020_path, START, 126)
    forecasts = sub.wait_for("edgecast/jena/forecast", 126, 30)
    assert len(forecasts) == 126  # hours 00:00 .. +125 h, one each
    issued = [np.datetime64(f["issued_at"].rstrip("Z"), "s") for f in forecasts]
    assert np.all(np.diff(issued) == np.timedelta64(3600, "s"))
    assert all(f["source"] == "naive" and f["reason"].startswith("no model: model file") for f in forecasts)
    assert [f["window"]["missing_hours"] for f in forecasts[:3]] == [119, 118, 117]
    full = [f for f in forecasts if f["window"]["missing_cells"] == 0]
    assert len(full) == 7 and full[0]["issued_at"] == "2020-03-05T23:00:00Z"  # the 120th hour

    # Same windows through the reference protocol: same forecasts, same MAE.
    last_rows = np.array([hour_row(series_2020, f["issued_at"]) for f in full])
    starts = last_rows - protocol.span_rows()
    expected = series_2020.values[protocol.last_step_rows(starts), TARGET_INDEX]
    got = np.array([f["temperature_c"] for f in full])
    np.testing.assert_allclose(got, expected, atol=5e-4)
    actual = series_2020.values[protocol.target_rows(starts), TARGET_INDEX]
    assert [hour_row(series_2020, f["valid_at"]) for f in full] == list(protocol.target_rows(starts))
    assert abs(protocol.mae(got, actual) - protocol.mae(expected, actual)) < 5e-4

    stats = wait_until(lambda: latest_stats(sub).get("readings", {}).get("accepted") == 756 and latest_stats(sub),
                       15, what="stats with every reading")
    assert stats["readings"]["rejected"] == {} and stats["forecasts"] == {"naive": 126}
    assert daemon.stop() == 0
    assert sub.get("edgecast/jena/status")[-1] == "offline"


def test_restart_keeps_the_window_and_sigterm_flushes_state(broker, daemons, subscriber, tmp_path,
                                                            jena_2020_path):
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    replay(broker, jena_2020_path, START, 100)
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 100, 30, what="100 forecasts")
    assert daemon.stop(signal.SIGTERM) == 0
    saved = json.loads(daemon.state_file.read_text())
    assert len(saved["buffer"]["hours"]) == 100
    assert saved["newest"] == np.datetime64("2020-03-05T03:50:00").astype("datetime64[s]").astype(int)

    # Readings sent while the daemon is down wait in its persistent session.
    replay(broker, jena_2020_path, "2020-03-05T04:00:00", 22)
    daemon.start()
    forecasts = sub.wait_for("edgecast/jena/forecast", 122, 30)
    after = forecasts[100:]
    assert after[0]["issued_at"] == "2020-03-05T04:00:00Z"  # the next completed hour, no warm-up
    assert after[0]["window"]["missing_hours"] == 19 and after[-1]["window"]["missing_hours"] == 0

    # kill -9: no flush, yet the state of the last completed hour is on disk.
    daemon.stop(signal.SIGKILL)
    replay(broker, jena_2020_path, "2020-03-06T02:00:00", 2)
    daemon.start()
    forecasts = wait_until(lambda: (f := sub.get("edgecast/jena/forecast")) and
                           f[-1]["issued_at"] == "2020-03-06T03:00:00Z" and f, 30, what="forecasts after kill -9")
    assert forecasts[-1]["window"]["missing_cells"] == 0
    # The forecasts not yet acknowledged at the kill (at least the last saved hour's) come
    # again from the state file's outbox: identical copies, before the new hours.
    by_hour = {}
    for f in forecasts:
        by_hour.setdefault(f["issued_at"], []).append(f)
    assert all(f == fs[0] for fs in by_hour.values() for f in fs)
    assert [h for h in by_hour if h >= "2020-03-06T02:00:00Z"] == ["2020-03-06T02:00:00Z", "2020-03-06T03:00:00Z"]
    assert len(by_hour) == 124
    assert daemon.stop() == 0


def test_broker_restart_loses_no_qos1_readings(broker, daemons, subscriber, tmp_path, jena_2020_path):
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    # 12 hours of rows at 7,200x (12 readings a second, 6 seconds); the broker restarts
    # mid-stream, with readings in flight.
    sender = subprocess.Popen(EDGECAST + ["replay", "--data", str(jena_2020_path), "--host", "127.0.0.1",
                                          "--port", str(broker.port), "--station", "jena", "--start", START,
                                          "--hours", "12", "--speed", "7200", "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) >= 3, 20, what="the stream to be under way")
    broker.restart()
    _, err = sender.communicate(timeout=90)
    assert sender.returncode == 0, err  # every reading acknowledged by the (restarted) broker
    try:
        stats = wait_until(lambda: latest_stats(sub).get("readings", {}).get("accepted") == 72 and latest_stats(sub),
                           30, what="all 72 readings accepted")
    except AssertionError:
        raise AssertionError(f"{latest_stats(sub)}\n{daemon.log()}\n{err}") from None
    # At-least-once: a resent reading may arrive twice; it is then a counted duplicate.
    assert set(stats["readings"]["rejected"]) <= {"duplicate"}, stats
    assert stats["connects"] >= 2 and stats["hours_completed"] == 12
    issued = [f["issued_at"] for f in sub.get("edgecast/jena/forecast")]
    assert issued == [f"2020-03-01T{h:02d}:00:00Z" for h in range(12)]
    assert sub.get("edgecast/jena/status")[-1] == "online"
    assert daemon.stop() == 0


def _publish_all(broker, topic, payloads):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-bad-sensor")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_bad_payloads_are_counted_and_it_keeps_serving(broker, daemons, subscriber, tmp_path, jena_2020_path):
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    replay(broker, jena_2020_path, START, 3)  # newest reading: 02:50
    ok = {"time": "2020-03-01T02:55:00Z", "T": 5.1, "p": 972.6, "rh": 77.0}  # believable after 02:50
    bad = [
        b"x" * 5000,
        b"{not json",
        b"\xff\x00\x01",
        b"[1, 2, 3]",
        json.dumps({**ok, "time": "soon"}).encode(),
        json.dumps({"time": "2020-03-01T02:56:00Z", "battery": 3.1}).encode(),
        json.dumps({"time": "2020-03-01T02:57:00Z", "T": "warm"}).encode(),
        b'{"time": "2020-03-01T02:58:00Z", "T": NaN}',
        json.dumps({"time": "2020-03-01T02:59:00Z", "T": -9999}).encode(),
        json.dumps({"time": "2020-03-01T02:59:30Z", "T": 99.0}).encode(),
        json.dumps({**ok, "time": "2020-03-01T02:50:00Z"}).encode(),  # duplicate of the last replayed row
        json.dumps({**ok, "time": "2020-03-01T01:00:00Z"}).encode(),  # out of order
        json.dumps({**ok, "time": "2031-01-01T00:00:00Z"}).encode(),  # far future (one stray stamp)
    ]
    # ... and one good reading from a BME280-class box: p, T, rh only, short aliases.
    _publish_all(broker, "edgecast/jena/readings", bad + bad + [json.dumps(ok).encode()])
    replay(broker, jena_2020_path, "2020-03-01T03:00:00", 3)
    wait_until(lambda: latest_stats(sub).get("readings", {}).get("accepted") == 37, 20, what="37 accepted")
    wait_until(lambda: sum(latest_stats(sub)["readings"]["rejected"].values()) == 26, 20, what="rejections")
    stats = latest_stats(sub)
    assert stats["readings"]["derived"] == 1
    assert stats["readings"]["rejected"] == {
        "oversized": 2, "malformed_json": 4, "not_object": 2, "bad_time": 2, "no_channels": 2,
        "non_numeric": 2, "non_finite": 2, "sentinel": 2, "impossible": 2, "duplicate": 3,
        "out_of_order": 2, "far_future": 1}, stats  # the 2nd identical stray: a duplicate of the held one
    forecasts = sub.get("edgecast/jena/forecast")
    assert [f["issued_at"][11:13] for f in forecasts] == ["00", "01", "02", "03", "04", "05"]
    assert all(np.isfinite(f["temperature_c"]) for f in forecasts)
    log = daemon.log()
    for reason in ("oversized", "duplicate", "far_future", "sentinel"):
        assert log.count(f"reading rejected: {reason}:") == 1, reason  # logged once, counted always
    # the stats topic also says how long it runs, its memory, and what went wrong last
    assert stats["uptime_s"] > 0 and 10 * 2**20 < stats["rss_bytes"] < 1 << 30
    assert stats["last_problem"]["level"] == "warning" and "reading rejected" in stats["last_problem"]["message"]
    assert daemon.stop() == 0


def test_systemd_notify_protocol(broker, daemons, tmp_path, jena_2020_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(15)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path),
                     env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}).start()
    messages = []

    def receive_until(pred):
        while not any(pred(m) for m in messages):
            messages.append(sock.recv(4096).decode())
    receive_until(lambda m: "READY=1" in m.split("\n"))
    receive_until(lambda m: m == "WATCHDOG=1")
    t0 = time.monotonic()
    n = messages.count("WATCHDOG=1")
    receive_until(lambda m: messages.count("WATCHDOG=1") >= n + 2)
    assert time.monotonic() - t0 < 3  # every half WATCHDOG_USEC
    replay(broker, jena_2020_path, START, 2)
    receive_until(lambda m: m.startswith("STATUS=") and "12 readings accepted" in m)
    daemon.send(signal.SIGTERM)
    receive_until(lambda m: m == "STOPPING=1")
    assert daemon.stop() == 0
    ready = next(m for m in messages if "READY=1" in m)
    assert "STATUS=" in ready
    sock.close()


def test_sighup_reloads_config_and_a_broken_model_is_reported(broker, daemons, subscriber, tmp_path,
                                                              jena_2020_path):
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    replay(broker, jena_2020_path, START, 2)
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 2, 20, what="2 forecasts")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00" * 64)
    daemon.config.write_text(daemon.config.read_text().replace("no-such-model.tflite", "broken.tflite"))
    daemon.send(signal.SIGHUP)
    wait_until(lambda: "reloaded" in daemon.log(), 15, what="reload")
    # An invalid config on reload is refused and the daemon keeps running.
    daemon.config.write_text(daemon.config.read_text() + "\n[gaps]\ncarry_forward_hour = 2\n")
    daemon.send(signal.SIGHUP)
    wait_until(lambda: "keeping the running configuration: gaps.carry_forward_hour" in daemon.log(), 15,
               what="refused reload")
    replay(broker, jena_2020_path, "2020-03-01T02:00:00", 2)
    forecasts = sub.wait_for("edgecast/jena/forecast", 4, 20)
    assert "does not exist" in forecasts[1]["reason"]
    assert "not a TFLite flatbuffer" in forecasts[-1]["reason"] and forecasts[-1]["source"] == "naive"
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0


def test_the_device_side_never_imports_tensorflow():
    code = ("import sys\n"
            "from edgecast.cli import main\n"
            "import edgecast.daemon.service, edgecast.daemon.station, edgecast.replay, edgecast.forecaster\n"
            "from edgecast.daemon.config import Config\n"
            "edgecast.daemon.station.load_model(Config())\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
            "assert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_broker_down_at_start_and_at_stop(broker, daemons, subscriber, tmp_path):
    broker.stop()
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    time.sleep(1.5)
    assert daemon.proc.poll() is None  # it waits for the broker with backoff, it does not fail
    broker.start()
    sub = subscriber(broker, TOPICS)
    sub.wait_online()
    sub.close()
    broker.stop()
    t0 = time.monotonic()
    assert daemon.stop() == 0 and time.monotonic() - t0 < 10
    assert daemon.state_file.exists()
    broker.start()  # for the fixture's teardown


def test_one_malloc_arena_unless_the_environment_says(monkeypatch):
    """`run` asks glibc for one malloc arena (0.45 MB less resident); a MALLOC_ARENA_MAX the
    operator set is left to glibc."""
    from edgecast.daemon import service
    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1
    monkeypatch.setattr(service.ctypes, "CDLL", lambda name: Libc())
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    service.one_malloc_arena()
    assert calls == [(service.M_ARENA_MAX, 1)]
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    service.one_malloc_arena()
    assert calls == [(service.M_ARENA_MAX, 1)]
