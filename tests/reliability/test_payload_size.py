"""A huge message on the readings topic. Counting it as ``oversized``
is not enough: paho reads the whole packet into memory first (a 100 MB message took the
daemon to 375 MB, above its unit's MemoryMax=256M), and a QoS 1 message the daemon never
acknowledged comes back from the persistent session after every restart — a crash loop
made of one message. On MQTT 5, the default, the daemon announces a Maximum Packet Size in CONNECT, so
the broker never sends it a larger packet; on MQTT 3.1.1 only the broker's
``max_packet_size`` can (docs/daemon.md, "Payload size")."""

from __future__ import annotations

import re
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from harness.processes import replay, wait_until
from tests.reliability.faults import NO_MODEL, rss_kb, stats_of

REPO = Path(__file__).resolve().parents[2]
TOPICS = ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"]


def memory_max_kb() -> int:
    """The unit's MemoryMax (deploy/edgecast.service), in kB."""
    value = re.search(r"^MemoryMax=(\d+)([KMG]?)$", (REPO / "deploy" / "edgecast.service").read_text(), re.M)
    return int(value[1]) * {"": 1 / 1024, "K": 1, "M": 1024, "G": 1024 ** 2}[value[2]]


def publish_big(port: int, topic: str, size: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="big-publisher", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    info = client.publish(topic, b"{" + b" " * (size - 2) + b"}", qos=1, properties=Properties(PacketTypes.PUBLISH))
    info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def test_a_100_mb_message_on_the_default_setup_stays_under_memory_max_and_causes_no_restart_loop(
        broker, daemons, subscriber, tmp_path, jena_2020_path):
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()  # no [mqtt] protocol: the default
    sub.wait_online()
    assert "(MQTT 5)" in daemon.log() and "refuses MQTT 5" not in daemon.log()
    replay(broker, jena_2020_path, "2020-03-01T00:00:00", 2)
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 2, 20, what="2 forecasts")
    _, before_kb = rss_kb(daemon.proc.pid)
    publish_big(broker.port, "edgecast/jena/readings", 100 * 2**20)
    time.sleep(3)  # what the broker would deliver has arrived by now
    _, peak_kb = rss_kb(daemon.proc.pid)
    limit = memory_max_kb()
    assert peak_kb < limit, f"peak RSS {peak_kb} kB, the unit allows {limit} kB"
    assert peak_kb - before_kb < 10 * 1024, (before_kb, peak_kb)  # the message never reached it
    # A restart (the persistent session) brings nothing back that could kill it again.
    assert daemon.stop() == 0
    daemon.start()
    wait_until(lambda: sub.get("edgecast/jena/status").count("online") >= 2, 20, what="the restart")
    replay(broker, jena_2020_path, "2020-03-01T02:00:00", 2)
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 4, 20, what="forecasts after the restart")
    time.sleep(2)
    assert daemon.proc.poll() is None and rss_kb(daemon.proc.pid)[1] < limit
    assert stats_of(sub)["connects"] == 1  # no disconnect/reconnect cycle either
    assert daemon.stop() == 0
