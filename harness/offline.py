"""A stand-in for mqtt_link.MqttLink that never connects: what a Station publishes is
recorded in this process (text payloads JSON-decoded as a subscriber would), and the broker's
acknowledgements come when the caller says so. ``offline_station(cfg)``: a started
Station with it; every other part stays real."""

from __future__ import annotations

import json
from types import SimpleNamespace

from edgecast.daemon.jsontext import to_json


def offline_station(cfg):
    """A real Station, started (its state file restored), whose link never connects: what
    it publishes is in ``.link.published`` as (topic name, payload)."""
    from edgecast.daemon.wiring import build_station
    station = build_station(cfg, link=OfflineLink(cfg))
    station.start()
    return station


class OfflineLink:
    def __init__(self, cfg):
        self.topics = cfg.topic_map()
        self.published: list[tuple[str, object]] = []  # (topic name, or the topic for publish_to; payload)
        self.unacked: list[int] = []  # message ids the "broker" has not acknowledged yet
        self.listener = None
        self.connected = False
        self.stopping = False
        self.connects = 0
        self.alive = True

    def attach(self, listener) -> None:
        self.listener = listener

    def publish(self, name: str, payload, retain: bool = True, qos: int | None = None):
        """What MqttLink.publish does, minus the socket: the JSON is built all the same."""
        text = payload if isinstance(payload, (str, bytes)) else to_json(payload)
        self.published.append((name, payload if text is not payload else json.loads(text)))
        self.unacked.append(len(self.published))
        return SimpleNamespace(mid=len(self.published), topic=self.topics[name], payload=text)

    def publish_to(self, topic: str, payload, retain: bool = True, qos: int = 1):
        text = payload if isinstance(payload, (str, bytes)) else to_json(payload, ensure_ascii=False)
        self.published.append((topic, payload if text is not payload else json.loads(text) if text else text))
        return SimpleNamespace(mid=None, topic=topic, payload=text)

    def acknowledge(self) -> None:
        """The broker's PUBACK for everything published so far, as if instant."""
        for mid in self.unacked:
            self.listener.on_ack(mid)
        self.unacked.clear()

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping = True
