"""The daemon's MQTT client (paho-mqtt 2.x), behind a small interface.

Conventions MQTT users expect (Zigbee2MQTT, Frigate):

- a persistent session under a stable client id (clean_session=False in MQTT 3.1.1,
  clean_start=False plus a session expiry in MQTT 5) and a QoS 1 subscription, so
  readings the sensor sent while the daemon was down or reconnecting are queued by the
  broker and delivered later;
- availability: ``online`` retained on every connect, ``offline`` retained as the last
  will (the broker sends it when we vanish) and on a clean stop;
- the forecast is published retained, QoS 1: a dashboard that connects later still
  gets the latest one;
- reconnects with exponential backoff, re-subscribing and re-announcing ``online`` each
  time (netloop.py: one network thread for every station's link);
- TLS with certificate verification unless ``tls_insecure``; username and a password
  read from ``password_file``. Credentials are never logged.

This module is the one owner of the paho callbacks: MqttLink reports what the broker
refuses to a broker_watch.BrokerWatch and every event of interest to the station
attached as its listener (``on_message``, ``on_connect``, ``on_ack``). Messages are
handled on the network thread (netloop.py); paho acknowledges a QoS 1 message only after
``on_message`` returns, so a reading is never lost between receipt and use.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .broker_watch import BrokerWatch
from .config import Config, ConfigError, read_password
from .netloop import NetLoop
from .jsontext import to_json

log = logging.getLogger("edgecast.mqtt")


def uses_tls(m) -> bool:
    """TLS is on when asked for, or implied by a CA file or a client certificate ([mqtt])."""
    return bool(m.tls or m.tls_ca_certs or m.tls_client_cert)


def make_client(cfg: Config, client_id: str, persistent: bool) -> mqtt.Client:
    """A paho client configured from [mqtt] (credentials, TLS, protocol, backoff)."""
    m = cfg.mqtt
    v5 = m.protocol == "5"
    kwargs = {"protocol": mqtt.MQTTv5} if v5 else {"protocol": mqtt.MQTTv311, "clean_session": not persistent}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, **kwargs)
    if m.user:
        client.username_pw_set(m.user, read_password(m))
    if uses_tls(m):
        client.tls_set_context(tls_context(m))
        client.tls_insecure_set(m.tls_insecure)
    client.reconnect_delay_set(m.reconnect_min_delay, m.reconnect_max_delay)
    client.on_socket_open = _no_delay
    return client


def tls_context(m) -> ssl.SSLContext:
    """[mqtt]'s TLS as paho's tls_set makes it, every file loaded here: a missing or
    unreadable file, or one that holds no PEM certificate (key), is a ConfigError naming
    its key — for `run` and `run --check` alike (both build the client with make_client),
    where it was a traceback from deep inside paho. An encrypted key is refused, never
    prompted for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if m.tls_client_cert:
        keys = [("tls_client_cert", m.tls_client_cert)] + ([("tls_client_key", m.tls_client_key)]
                                                           if m.tls_client_key else [])
        _load(keys, "a PEM certificate" + (" and its unencrypted key" if m.tls_client_key else " with its key"),
              lambda: context.load_cert_chain(m.tls_client_cert, m.tls_client_key or None, password=""))
    if m.tls_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if m.tls_ca_certs:
        _load([("tls_ca_certs", m.tls_ca_certs)], "PEM CA certificates",
              lambda: context.load_verify_locations(m.tls_ca_certs))
    else:
        context.load_default_certs()
    return context


def _load(keys: list[tuple[str, str]], what: str, load) -> None:
    for key, path in keys:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"mqtt.{key}: cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    try:
        load()
    except (ssl.SSLError, ValueError) as exc:
        names = " / ".join(f"mqtt.{key}" for key, _ in keys)
        raise ConfigError(f"{names}: {', '.join(p for _, p in keys)} is not {what} "
                          f"({getattr(exc, 'reason', None) or exc})") from None


def _no_delay(client, userdata, sock) -> None:
    """TCP_NODELAY: MQTT packets are small and the daemon answers in bursts (PUBACK,
    forecast, stats); with Nagle's algorithm the later ones of a burst waited for the
    broker's delayed ACK (measured: +40-60 ms from reading to forecast, benchmarks/daemon.py
    latency). paho-mqtt does not set it."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (a unix socket, a websocket wrapper)
        pass


UNSUPPORTED_PROTOCOL_VERSION = 132  # CONNACK reason; paho maps a 3.1.1 broker's return code 1 to it


def fall_back_to_311(client: mqtt.Client, reason_code, persistent: bool, logger) -> bool:
    """A broker that refused MQTT 5 gets 3.1.1 on paho's next (backed-off) attempt; True
    when that happened. paho fixes the protocol when the client is made and itself
    downgrades 3.1.1 to 3.1 this way, by switching the attributes it sends CONNECT from."""
    if client._protocol != mqtt.MQTTv5 or reason_code != UNSUPPORTED_PROTOCOL_VERSION:
        return False
    client._protocol = mqtt.MQTTv311
    client._clean_session = not persistent
    client._connect_properties = None  # session expiry and Maximum Packet Size are MQTT 5 only
    logger.warning("the broker refuses MQTT 5 (%s): connecting with MQTT 3.1.1, where no Maximum Packet Size "
                   "can be announced: only the broker's max_packet_size keeps huge messages out (or set "
                   'mqtt.protocol = "3.1.1" to skip this attempt)', reason_code)
    return True


# What a PUBLISH packet carries besides its payload: fixed header, topic (at most 65,535
# bytes), packet id, properties. Generous: it only has to keep 100 MB out, not 1 kB.
PACKET_HEADROOM = 65535 + 1024


def connect_args(cfg: Config, persistent: bool, bounded: bool = False) -> dict:
    """paho connect() arguments. ``bounded`` (the daemon): on MQTT 5, announce a Maximum
    Packet Size of ``max_payload_bytes`` + headroom, so the broker never sends a larger
    message. paho reads a whole packet into memory before anyone can look at its size: a
    100 MB reading took the daemon past its unit's MemoryMax, and as a QoS 1 message of
    the persistent session it came back after every restart. MQTT 3.1.1
    has no such field: there the broker's ``max_packet_size`` is the only bound."""
    if cfg.mqtt.protocol != "5":
        return {}
    props = Properties(PacketTypes.CONNECT)
    if persistent:
        props.SessionExpiryInterval = cfg.mqtt.session_expiry
    if bounded:
        props.MaximumPacketSize = cfg.readings.max_payload_bytes + PACKET_HEADROOM
    return {"clean_start": not persistent, "properties": props}


class Listener(Protocol):
    """What a link reports to its station (on paho's thread)."""

    def on_message(self, payload: bytes, topic: str, retained: bool) -> None: ...

    def on_connect(self) -> None: ...

    def on_ack(self, mid: int) -> None: ...


class MqttLink:
    def __init__(self, cfg: Config, subscriptions: list[str], watch: BrokerWatch,
                 logger: logging.Logger | logging.LoggerAdapter = log, netloop: NetLoop | None = None):
        """``subscriptions``: what to subscribe to on every connect; ``watch``: where the
        broker's refusals go; ``logger``: the station's (logs.StationLog); ``netloop``: the
        process's one network thread (netloop.py), shared by every station's link."""
        self.cfg = cfg
        self.netloop = netloop or NetLoop()
        self.log = logger
        self.qos = cfg.mqtt.qos
        self.topics = cfg.topic_map()
        self.subscriptions = list(subscriptions)
        self.watch = watch
        self.listener: Listener | None = None
        self.connected = False
        self.stopping = False
        self.connects = 0
        self._answered = False  # a CONNACK (success or refusal) came on this connection
        self.thread = None  # paho's network thread, once started
        self.client = make_client(cfg, cfg.client_id, persistent=True)
        self.client.will_set(self.topics["status"], "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe

    def attach(self, listener: Listener) -> None:
        """The station that gets this link's messages, connects and acknowledgements."""
        self.listener = listener

    def start(self) -> None:
        m = self.cfg.mqtt
        self.log.info("connecting to %s:%d as %s (MQTT %s%s%s)", m.host, m.port, self.cfg.client_id,
                      m.protocol, ", TLS" if self.tls else "",
                      f", user {m.user}" if m.user else "")
        # connect_async: a broker that is down at boot is retried by the loop thread
        # with backoff instead of failing the start.
        self.client.connect_async(m.host, m.port, m.keepalive, **connect_args(self.cfg, persistent=True, bounded=True))
        self.netloop.add(self.client, lambda: self.watch.connect_failed(m.host, m.port), m.reconnect_min_delay,
                         m.reconnect_max_delay)
        self.netloop.start()
        self.thread = self.netloop.thread  # Service asks what ended it

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._answered = True
        if fall_back_to_311(client, reason_code, True, self.log):
            return
        if reason_code.is_failure:
            self.log.error("broker refused the connection: %s", reason_code)
            return
        self.connected = True
        self.connects += 1
        self.log.info("connected (session present: %s); subscribing to %s", flags.session_present,
                      ", ".join(self.subscriptions))
        for topic in self.subscriptions:
            client.subscribe(topic, qos=self.qos)
        client.publish(self.topics["status"], "online", qos=1, retain=True)
        if self.listener is not None:
            self.listener.on_connect()

    def _on_connect_fail(self, client, userdata) -> None:
        self.watch.connect_failed(client.host, client.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected and not self.stopping:
            self.log.warning("disconnected from the broker (%s); reconnecting with backoff", reason_code)
        elif not self.stopping and not self._answered:
            # Closed before any CONNACK: plain MQTT against a TLS port (the broker drops the
            # "wrong version number" handshake), or no MQTT broker there. paho says nothing.
            self.watch.note("connect_failed", self._closed_before_connack(reason_code))
        self.connected = self._answered = False

    def _closed_before_connack(self, reason_code) -> str:
        m = self.cfg.mqtt
        hint = ("is it a plain MQTT port, or does it refuse our client certificate?" if self.tls else
                "is it a TLS port (then set mqtt.tls = true or mqtt.tls_ca_certs) or no MQTT broker?")
        return (f"cannot connect to {m.host}:{m.port}: the connection closed before the broker answered "
                f"CONNECT ({reason_code}); {hint} Retrying with backoff")

    @property
    def tls(self) -> bool:
        return uses_tls(self.cfg.mqtt)

    def _on_message(self, client, userdata, message) -> None:
        if self.listener is None:
            return
        try:
            self.listener.on_message(message.payload, message.topic, bool(message.retain))
        except Exception:  # a bug must not kill paho's thread and with it the daemon
            self.log.exception("unexpected error while handling a reading")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if self.listener is not None:  # answered, even if refused: publishing it again would not help
            self.listener.on_ack(mid)
        self.watch.published(reason_code)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.watch.subscribed(reason_codes)

    def publish(self, name: str, payload, retain: bool = True, qos: int | None = None) -> mqtt.MQTTMessageInfo:
        """Queue a publish; the returned info's ``mid`` is what on_publish reports on PUBACK."""
        if not isinstance(payload, (str, bytes)):
            payload = to_json(payload)
        return self.client.publish(self.topics[name], payload, qos=self.qos if qos is None else qos, retain=retain)

    def publish_to(self, topic: str, payload, retain: bool = True, qos: int = 1):
        """Publish to a topic outside the station's set (Home Assistant discovery)."""
        if not isinstance(payload, (str, bytes)):
            payload = to_json(payload, ensure_ascii=False)
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Announce offline (a clean disconnect does not fire the will), then disconnect."""
        self.stopping = True
        if self.connected:
            info = self.client.publish(self.topics["status"], "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()  # the network thread sends DISCONNECT and closes the socket
        deadline, pause = time.monotonic() + timeout, threading.Event()
        while self.client.socket() is not None and self.netloop.alive and time.monotonic() < deadline:
            pause.wait(0.01)  # not time.sleep: under libfaketime its clock_nanosleep fails with EINVAL
        self.netloop.remove(self.client)
