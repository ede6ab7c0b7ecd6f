"""A sensor that stops, and a broker ACL that lets the daemon subscribe but not read:
the real daemon and mosquitto, ``[readings] stale_after_minutes`` shortened to seconds.

- after the silence the status topic says ``stale`` (Home Assistant's availability
  template maps it to unavailable), stats say so, the frost warning is withdrawn, and a
  restart does not re-assert it from the hours-old state; readings bring ``online`` back;
- with no read permission on the readings topic (mosquitto grants the subscription and
  drops every message) the warning names the topic and stats show ``input_silent``."""

from __future__ import annotations

import json
import subprocess

from edgecast.daemon import config as config_mod
from edgecast.daemon.homeassistant import configs
from harness.processes import Broker, free_port, replay, wait_until
from tests.reliability.faults import NO_MODEL, payloads, publish_all

TOPICS = ["edgecast/jena/status", "edgecast/jena/alert", "edgecast/jena/stats", "edgecast/jena/forecast"]
STALE = '[readings]\nstale_after_minutes = 0.1\n'  # 6 s
READINGS = "edgecast/jena/readings"


def alerts(sub) -> list[dict]:
    return [a for a in sub.get("edgecast/jena/alert") if isinstance(a, dict)]


def test_a_silent_sensor_makes_the_station_stale_and_withdraws_the_frost_warning(tmp_path, series_2020, broker,
                                                                                 daemons, subscriber,
                                                                                 jena_2020_path):
    rows = payloads(series_2020, "2020-01-22T00:00:00", 6)  # naive forecasts -3 °C: frost warning on
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path) + STALE).start()
    sub.wait_online()
    publish_all(broker.port, READINGS, rows)
    wait_until(lambda: any(a["frost"] for a in alerts(sub)), 20, what="the frost warning")
    # the sensor stops: 6 s later the station is stale and the warning is withdrawn
    wait_until(lambda: "stale" in sub.get("edgecast/jena/status"), 20, what="status stale")
    last = wait_until(lambda: alerts(sub)[-1]["frost"] is False and alerts(sub)[-1], 10, what="the withdrawal")
    assert last["stale"].startswith("no reading for")
    stats = wait_until(lambda: (s := sub.get("edgecast/jena/stats")) and s[-1]["silence"]["stale"] and s[-1], 10,
                       what="stats saying stale")
    assert stats["frost_alert"]["on"] is False and stats["silence"]["input_silent"] is False
    assert "no reading accepted for" in daemon.log()
    assert daemon.stop() == 0

    # A restart with the hours-old state: no frost warning re-asserted, stale at once.
    n_alerts, n_status = len(alerts(sub)), len(sub.get("edgecast/jena/status"))
    daemon.start()
    wait_until(lambda: sub.get("edgecast/jena/status")[n_status:][-1:] == ["stale"], 20, what="stale after restart")
    assert all(not a["frost"] for a in alerts(sub)[n_alerts:])

    # The sensor is back (`edgecast replay` takes "stale" for a running daemon): online
    # again, and the next forecasts decide the warning afresh.
    replay(broker, jena_2020_path, "2020-01-22T06:00:00", 2)
    wait_until(lambda: sub.get("edgecast/jena/status")[-1] == "online", 20, what="online again")
    wait_until(lambda: alerts(sub)[-1]["frost"] is True and "stale" not in alerts(sub)[-1], 20,
               what="the warning from fresh readings")
    assert daemon.stop() == 0


def test_home_assistant_counts_stale_as_unavailable():
    cfg = config_mod.parse('[station]\nid = "jena"\n')
    for topic, payload in configs(cfg).items():
        assert payload["availability_topic"] == "edgecast/jena/status", topic
        template = payload["availability_template"]
        # HA renders it with ``value`` = the status payload; what is not "online" is "offline"
        assert template == "{{ 'online' if value == 'online' else 'offline' }}", topic


def test_an_acl_without_read_on_the_readings_topic_is_a_warning_naming_it(tmp_path, daemons, subscriber):
    d = tmp_path / "acl"
    d.mkdir()
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(d / "passwd"), "edgecast", "s3cret"], check=True,
                   capture_output=True)
    # The daemon may publish its topics, and the readings topic, but read nothing.
    (d / "acl").write_text("user edgecast\ntopic write edgecast/jena/#\n")
    port = free_port()
    broker = Broker(d, listeners=f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {d / 'passwd'}\n"
                                 f"acl_file {d / 'acl'}\nlog_type all\n")
    broker.start()
    try:
        pw = tmp_path / "password"
        pw.write_text("s3cret\n")
        sub = subscriber(broker, TOPICS)  # on the broker's open listener
        daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path) + STALE,
                         mqtt=f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nuser = "edgecast"\n'
                              f'password_file = "{pw}"\n').start()
        sub.wait_online("jena", 20)
        publish_all(broker.port, READINGS, [json.dumps({"time": "2020-01-22T00:00:00Z", "T": 1.0}).encode()] * 3)
        wait_until(lambda: "no message at all on edgecast/jena/readings" in daemon.log(), 30,
                   what="the warning naming the topic")
        stats = wait_until(lambda: (s := sub.get("edgecast/jena/stats")) and s[-1]["silence"]["input_silent"]
                           and s[-1], 10, what="stats saying input_silent")
        assert stats["readings"]["accepted"] == 0 and stats["silence"]["messages_since_connect"] == 0
        assert "stale" in sub.get("edgecast/jena/status")
        assert daemon.stop() == 0
    finally:
        broker.stop()
