"""The daemon tests' fixtures (real mosquitto, daemon subprocesses, subscribers), reused."""

from tests.daemon.conftest import broker, daemons, subscriber, tls_broker  # noqa: F401  (pytest fixtures)
