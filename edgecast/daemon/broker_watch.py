"""What the broker refuses, made visible: failed connection attempts (TLS verification,
unreachable host), denied publishes (an ACL; MQTT 5 reports it in the PUBACK) and denied
subscriptions (SUBACK failure). paho retries connections silently and drops a denied
publish without a word; here each becomes a rate-limited log line and a counter in the
stats topic, never an exception or a reconnect loop.

The paho callbacks themselves belong to mqtt_link.MqttLink, which reports here.
"""

from __future__ import annotations

import sys
from collections import Counter


class BrokerWatch:
    def __init__(self, limiter):
        self.limiter = limiter  # logs.RateLimitedLog
        self.refused: Counter = Counter()  # "connect_failed", "publish_denied", "subscribe_denied"
        self.last_error: str | None = None

    def note(self, what: str, detail: str) -> None:
        self.refused[what] += 1
        self.last_error = detail
        self.limiter.event("broker", what, detail)

    def connect_failed(self, host: str, port: int) -> None:
        # paho calls on_connect_fail inside its `except OSError` around the connect: the
        # cause is the exception being handled (ssl.SSLCertVerificationError, ConnectionRefused …).
        exc = sys.exc_info()[1]
        why = f"{type(exc).__name__}: {exc}" if exc else "unknown cause"
        self.note("connect_failed", f"cannot connect to {host}:{port} ({why}); retrying with backoff")

    def published(self, reason_code) -> None:
        if reason_code.is_failure:  # MQTT 5 PUBACK; MQTT 3.1.1 brokers drop denied publishes silently
            self.note("publish_denied", f"the broker refused a publish: {reason_code} (check its ACL)")

    def subscribed(self, reason_codes) -> None:
        for rc in reason_codes:
            if rc.is_failure:
                self.note("subscribe_denied", f"the broker refused the subscription: {rc} (check its ACL); "
                                               "no readings will arrive")

    def stats(self) -> dict:
        return {"refused": dict(self.refused), "last_error": self.last_error}
