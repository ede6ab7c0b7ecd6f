"""The real parts of one station, made from its configuration.

Station takes its collaborators through its constructor; this is the one place that
builds them for the daemon. Tests and benchmarks call ``build_station`` with a stand-in
``link`` (harness/offline.py: publishes recorded, nothing connects) and keep every
other part real.
"""

from __future__ import annotations

import logging

from . import adapters
from .broker_watch import BrokerWatch
from .config import Config
from .homeassistant import Discovery
from .hourly import HourlyBuffer
from .logs import LastProblem, RateLimitedLog, StationLog
from .mqtt_link import MqttLink
from .netloop import NetLoop
from .ordering import EventClock
from .outbox import Outbox
from .station import Station, load_model


def build_station(cfg: Config, last_problem: LastProblem | None = None, several: bool = False,
                  link=None, netloop: NetLoop | None = None) -> Station:
    """``cfg``: one station's complete configuration (Config.station_configs());
    ``several``: the daemon serves more than one station (log lines get a prefix);
    ``link``: a stand-in for the MQTT link (default: a real one, not yet started);
    ``netloop``: the process's one network and timer thread, shared by all stations."""
    log = StationLog(logging.getLogger("edgecast.daemon"), cfg.station.id, prefix=several)
    limiter = RateLimitedLog.from_config(cfg, log=log)
    watch = BrokerWatch(limiter)
    adapter = adapters.make(cfg)
    if link is None:
        subscriptions = adapter.topics()
        if cfg.homeassistant.discovery:
            subscriptions.append(f"{cfg.homeassistant.prefix}/status")
        link = MqttLink(cfg, subscriptions, watch, log.child("edgecast.mqtt"), netloop)
    timers = {"call_later": netloop.call_later} if netloop is not None else {}  # else a thread per republish
    discovery = Discovery(cfg, link, log.child("edgecast.homeassistant"), **timers) \
        if cfg.homeassistant.discovery else None
    return Station(cfg, link=link, adapter=adapter,
                   buffer=HourlyBuffer.from_config(cfg), clock=EventClock.from_config(cfg),
                   outbox=Outbox(), model=load_model(cfg, log), log=log, limiter=limiter, broker_watch=watch,
                   discovery=discovery, last_problem=last_problem)
