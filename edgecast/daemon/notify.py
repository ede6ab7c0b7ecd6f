"""The systemd notify protocol, without libsystemd: datagrams to $NOTIFY_SOCKET.

``Type=notify`` units expect READY=1 once the service works, WATCHDOG=1 more often
than WatchdogSec= (we ping at half of $WATCHDOG_USEC, as sd_watchdog_enabled(3)
advises), STATUS=<text> for `systemctl status`, and STOPPING=1 on the way out.
Without $NOTIFY_SOCKET (a terminal, a test, a container) every call is a no-op.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, environ=os.environ):
        address = environ.get("NOTIFY_SOCKET", "")
        # "@name" is Linux's abstract namespace: a leading NUL byte in the address.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process the watchdog is meant for; another process ignores it.
        enabled = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_interval = int(usec) / 2e6 if enabled else None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            # MSG_DONTWAIT: a reader that stopped reading (a full queue) must not block the daemon
            self._sock.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, self.address)
        except OSError:
            pass  # systemd gone or socket full: never let notification kill the service

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def reloading(self) -> None:
        self.send("RELOADING=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
