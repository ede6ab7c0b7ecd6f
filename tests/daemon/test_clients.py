"""The user's side of the daemon: `edgecast replay` and `edgecast watch` against what a
configuration or a stranger on the broker can throw at them, the stats a dashboard reads,
and a SIGHUP after the station was renamed. Real mosquitto, real daemon subprocess, real
2020 rows."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from click.testing import CliRunner

from edgecast.cli import main
from harness.processes import EDGECAST, replay, wait_until
from tests.daemon.test_ecosystem import NO_MODEL, publish

TOPICS = [f"edgecast/jena/{kind}" for kind in ("forecast", "stats", "status")]


def _set(daemon, old: str, new: str) -> None:
    text = daemon.config.read_text()
    assert old in text
    daemon.config.write_text(text.replace(old, new))


def test_replay_finishes_against_a_long_stats_interval(broker, daemons, subscriber, tmp_path, jena_2020_path):
    """5.5 hours end 3 readings after the last completed hour: the final count reaches the
    replay only through a stats message that is not a forecast's."""
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path))
    _set(daemon, "interval_seconds = 1", "interval_seconds = 300")
    daemon.start()
    sub.wait_online()
    replay(broker, jena_2020_path, "2020-01-01", 5.5, timeout=150)  # rc 0: counted all 33, no stall
    assert sub.get("edgecast/jena/stats")[-1]["readings"]["accepted"] == 33
    assert daemon.stop() == 0


def test_stats_show_the_outbox_emptied_by_the_pubacks(broker, daemons, subscriber, tmp_path, jena_2020_path):
    """The replay's last reading completes an hour: its forecast (and a stats message counting
    it as pending) is the last thing the daemon publishes; the PUBACK must still reach the stats."""
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    replay(broker, jena_2020_path, "2020-01-01", 24)
    sub.wait_for("edgecast/jena/forecast", 24)
    wait_until(lambda: (s := sub.get("edgecast/jena/stats")) and s[-1]["readings"]["accepted"] == 24 * 6
               and s[-1]["outbox"]["pending"] == 0, 15, what="stats with an empty outbox")
    assert daemon.stop() == 0


DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = json.dumps({"issued_at": "2020-01-01T00:00:00Z", "valid_at": "2020-01-02T00:00:00Z", "source": "naive",
                   "temperature_c": 1.0, "naive_c": 1}).replace('"naive_c": 1', '"naive_c": ' + "9" * 400).encode()
GOOD = json.dumps({"issued_at": "2020-01-01T01:00:00Z", "valid_at": "2020-01-02T01:00:00Z", "source": "naive",
                   "temperature_c": 2.5, "naive_c": 2.5}).encode()


@pytest.mark.parametrize("bad", [DEEP, HUGE], ids=["100000-deep", "400-digits"])
def test_watch_skips_a_forecast_it_cannot_read(broker, bad):
    publish(broker, [("edgecast/jena/forecast", bad)], retain=True)  # the first thing watch receives
    command = ["watch", "--host", "127.0.0.1", "--port", str(broker.port), "--station", "jena", "--count", "1"]
    watch = subprocess.Popen(EDGECAST + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while watch.poll() is None and time.monotonic() < deadline:
            publish(broker, [("edgecast/jena/forecast", GOOD)])  # until watch, subscribed, has one
            time.sleep(0.5)
        assert watch.poll() == 0, "watch --count 1 did not exit"
        out, err = watch.communicate(timeout=10)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert out.startswith("2020-01-01T01:00:00Z") and "+24 h   2.50" in out, out
    assert "Traceback" not in err


@pytest.mark.parametrize("hours", ["inf", "nan", "-1", "0", "1e300"])
def test_replay_hours_out_of_range_is_one_line(hours, jena_2020_path):
    # In-process: the check is click's option parsing and replay's own error, not a process.
    out = CliRunner().invoke(main, ["replay", "--data", str(jena_2020_path), "--port", "1", "--hours", hours])
    assert out.exc_info is None or out.exc_info[0] is SystemExit, out.exc_info  # no traceback
    if hours == "1e300":  # more than the file holds: all of it (here: no broker on port 1)
        assert "cannot reach the broker" in out.stderr, out.stderr
    else:
        assert out.exit_code == 2 and "--hours" in out.stderr and "positive number" in out.stderr, out.stderr


@pytest.mark.parametrize("speed", ["0", "-3", "nan", "fast"])
def test_replay_speed_not_a_positive_factor_is_one_line(speed, jena_2020_path):
    out = CliRunner().invoke(main, ["replay", "--data", str(jena_2020_path), "--port", "1", "--speed", speed])
    assert out.exit_code == 2 and "--speed" in out.stderr and "a positive number or 'max'" in out.stderr, out.stderr


def test_sighup_after_renaming_the_station_applies_its_model(broker, daemons, subscriber, tmp_path):
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path) + "[gaps]\ncarry_forward_hours = 6\n").start()
    sub.wait_online()
    wait_until(lambda: sub.get("edgecast/jena/stats"), 15, what="stats")
    assert sub.get("edgecast/jena/stats")[-1]["model"] is None
    _set(daemon, 'id = "jena"', 'id = "jena-roof"')
    _set(daemon, NO_MODEL.format(dir=tmp_path), "")  # the bundled model
    _set(daemon, "carry_forward_hours = 6", "carry_forward_hours = 2")
    daemon.send(signal.SIGHUP)
    wait_until(lambda: sub.get("edgecast/jena/stats")[-1]["model"] is not None, 30,
               what="the renamed station's new model")
    assert "station.id changed; it takes effect at the next restart" in daemon.log()
    assert daemon.stop() == 0
