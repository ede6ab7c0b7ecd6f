"""Crash and network faults against the real daemon and a real mosquitto:

- SIGKILL at random moments while the daemon works through a queue of real rows,
  restarted each time: the state file is always readable, and the forecasts equal an
  uninterrupted (in-process, same code) run's, hour for hour;
- the link cut (Wi-Fi down) and the broker restarted meanwhile: QoS 1 readings published
  while the daemon was disconnected arrive after it reconnects, one forecast per hour.
The full run (python -m tests.reliability.full_run) repeats these with larger counts."""

from __future__ import annotations

import json
import random
import signal
import time

from harness.processes import replay, wait_until
from tests.reliability.faults import (NO_MODEL, CuttableLink, InProcess, compare_forecasts, payloads,
                                      sigkill_trials, stats_of)

TOPICS = ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"]
START = "2020-03-01T00:00:00"


def test_sigkill_at_random_moments_loses_no_forecast(broker, daemons, subscriber, tmp_path, series_2020):
    items = payloads(series_2020, START, 40)
    reference = InProcess(tmp_path).feed(items).forecasts()
    assert len(reference) == 40
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    assert daemon.stop() == 0  # its persistent session now queues the readings
    result = sigkill_trials(daemon, sub, items, broker.port, kills=5, rng=random.Random(6))
    assert result["state_readable"] == 5
    wait_until(lambda: reference[-1]["issued_at"] in {f["issued_at"] for f in sub.get("edgecast/jena/forecast")},
               30, what="the last hour forecast after the kills")
    diff = compare_forecasts(sub.get("edgecast/jena/forecast"), reference)
    # Every hour was forecast (before the outbox, a kill between the state write and paho's
    # socket write lost that hour for good), and every copy that went out, including the
    # at-least-once repeats after a kill, equals the uninterrupted run's forecast.
    assert diff["missing"] == [], diff
    assert diff["differing"] == diff["extra"] == [], diff
    stats = stats_of(sub)
    assert stats["outbox"]["dropped"] == 0
    assert daemon.wait_serving().stop() == 0
    assert not json.loads(daemon.state_file.read_text())["outbox"]  # all acknowledged before the clean stop


def test_link_cut_and_broker_restart_deliver_queued_readings_once(broker, daemons, subscriber, tmp_path,
                                                                  jena_2020_path):
    link = CuttableLink(broker.port)
    try:
        sub = subscriber(broker, TOPICS)
        daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path),
                         mqtt=f'[mqtt]\nhost = "127.0.0.1"\nport = {link.port}\nkeepalive = 5\n').start()
        sub.wait_online()
        replay(broker, jena_2020_path, START, 2)
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 2, 20, what="2 forecasts")
        link.cut()
        wait_until(lambda: "disconnected from the broker" in daemon.log(), 20, what="the daemon to notice")
        replay(broker, jena_2020_path, "2020-03-01T02:00:00", 2)  # while it is away
        broker.restart()  # persistence on: the queued readings survive it
        replay(broker, jena_2020_path, "2020-03-01T04:00:00", 2)
        assert len(sub.get("edgecast/jena/forecast")) == 2
        link.mend()
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) >= 6, 30, what="forecasts after reconnect")
        stats = wait_until(lambda: (s := stats_of(sub)).get("readings", {}).get("accepted") == 36 and s, 20,
                           what="all 36 readings accepted")
        assert [f["issued_at"][11:13] for f in sub.get("edgecast/jena/forecast")] == \
            ["00", "01", "02", "03", "04", "05"]  # each hour once
        assert set(stats["readings"]["rejected"]) <= {"duplicate"} and stats["connects"] >= 2
        assert daemon.stop() == 0
    finally:
        link.close()


def test_sigkill_after_acknowledged_forecasts_resends_none(broker, daemons, subscriber, tmp_path, jena_2020_path):
    """Before: the outbox on disk was only rewritten at the next completed hour, so after a
    kill -9 the last forecast(s) went out again although the broker had acknowledged them
    long before (a real Home Assistant showed old values at the current time)."""
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    for hour in range(3):  # live pacing: an hour of readings, its forecast, a pause
        replay(broker, jena_2020_path, f"2020-03-01T0{hour}:00:00", 1)
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == hour + 1, 20, what="the hour's forecast")
        time.sleep(1.5)
    daemon.stop(signal.SIGKILL)
    daemon.start()
    wait_until(lambda: sub.get("edgecast/jena/status").count("online") >= 2, 20, what="the restart")
    replay(broker, jena_2020_path, "2020-03-01T03:00:00", 1)  # and it goes on serving
    wait_until(lambda: "2020-03-01T03:00:00Z" in [f["issued_at"] for f in sub.get("edgecast/jena/forecast")],
               20, what="the next hour's forecast")
    time.sleep(1.5)  # a re-sent copy would have arrived first
    got = [f["issued_at"][11:13] for f in sub.get("edgecast/jena/forecast")]
    assert got == ["00", "01", "02", "03"], got  # each once: nothing acknowledged was re-sent
    assert "republished" not in daemon.log()
    assert daemon.stop() == 0
