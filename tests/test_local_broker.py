"""The private broker that `edgecast demo` and the test harness share (edgecast/local_broker.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgecast.daemon.config import MqttConfig
from edgecast.daemon.outbox import LIMIT
from edgecast.local_broker import BrokerError, free_port, wait_for_port


def test_a_broker_that_exits_is_said_at_once_not_waited_for():
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(BrokerError, match="exited with code 3"):
        wait_for_port(free_port(), proc, timeout=30)


def test_the_harness_takes_the_shared_helpers_from_the_package():
    import harness.processes as processes
    import edgecast.local_broker as local_broker
    assert processes.free_port is local_broker.free_port and processes.EDGECAST is local_broker.EDGECAST


def test_the_outbox_keeps_as_many_hours_as_the_default_session_lasts():
    assert LIMIT * 3600 == MqttConfig().session_expiry
