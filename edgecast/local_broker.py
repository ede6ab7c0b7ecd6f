"""A private mosquitto on a free loopback port, and the command line of this edgecast:
what `edgecast demo` and the tests' and benchmarks' harness (harness/processes.py) share.

It lives in the package because the demo ships in the wheel; harness/ imports it from here.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

# `edgecast` as this interpreter runs it: the same code whether installed or in a checkout.
EDGECAST = [sys.executable, "-m", "edgecast.cli"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
LISTEN_TIMEOUT_S = 10.0  # a mosquitto starting on a loaded box listens well within this


class BrokerError(Exception):
    """The private broker did not come up; str(exc) says how."""


def free_port() -> int:
    """A free TCP port on loopback (for a private broker, or a unique client id)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = LISTEN_TIMEOUT_S) -> None:
    """Until the broker ``proc`` accepts connections on ``port``; BrokerError when it exits
    first or does not listen within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"mosquitto exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"mosquitto did not listen on port {port} within {timeout:.0f} s")
