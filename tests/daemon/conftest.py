"""Fixtures for the daemon tests (the parts themselves are in harness/processes.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.processes import MOSQUITTO, Broker, Daemon, Subscriber, free_port


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


PASSWORD = "s3cret-Pa55word"


def _sh(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_broker(tmp_path):
    d = tmp_path / "tls"
    d.mkdir()
    # A throwaway CA and a server certificate for localhost / 127.0.0.1.
    _sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=edgecast test CA", cwd=d)
    _sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost", cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=d)
    _sh("mosquitto_passwd", "-b", "-c", str(d / "passwd"), "edgecast", PASSWORD, cwd=d)
    tls_port = free_port()
    broker = Broker(d, listeners=(f"listener {tls_port} 127.0.0.1\nallow_anonymous false\n"
                                  f"password_file {d / 'passwd'}\ncafile {d / 'ca.crt'}\n"
                                  f"certfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"))
    broker.tls_port = tls_port
    broker.start()
    yield broker
    broker.stop()
