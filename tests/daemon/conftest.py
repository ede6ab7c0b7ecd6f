"""Fixtures for the daemon tests (the parts themselves are in harness/processes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.processes import MOSQUITTO, Broker, Daemon, Subscriber


@pytest.fixture
def broker(tmp_path):
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is required (apt-get install mosquitto)")
    d = tmp_path / "broker"
    d.mkdir()
    b = Broker(d)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def daemons(tmp_path):
    started = []

    def make(broker, **kwargs) -> Daemon:
        d = Daemon(tmp_path, broker, **kwargs)
        started.append(d)
        return d
    yield make
    for d in started:
        if d.proc and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


@pytest.fixture
def subscriber():
    made = []

    def make(broker, topics):
        s = Subscriber(broker, topics)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()
