"""Security under fault: TLS verification on by default with a clear error when it fails,
a broker ACL that denies the daemon's publish (logged and in stats, no crash loop), and
credentials never in the logs (even at debug) or /proc/<pid>/cmdline and environ.
(tests/daemon/test_tls_auth.py covers TLS + password file + MQTT 5 session and a wrong
password; test_config.py the topic/station-id rules. Reused here: its tls_broker.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.processes import Broker, replay, wait_until
from tests.daemon.conftest import PASSWORD, _sh
from tests.reliability.faults import NO_MODEL

TOPICS = ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"]


def _tls_mqtt(broker, ca: Path, pw: Path, extra: str = "") -> str:
    return (f'[mqtt]\nhost = "localhost"\nport = {broker.tls_port}\ntls_ca_certs = "{ca}"\n'
            f'user = "edgecast"\npassword_file = "{pw}"\n' + extra)


def test_tls_verification_failure_is_a_clear_logged_error(tls_broker, daemons, tmp_path):
    other = tmp_path / "other-ca"
    other.mkdir()
    _sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=not the broker's CA", cwd=other)
    pw = tmp_path / "password"
    pw.write_text(PASSWORD + "\n")
    daemon = daemons(tls_broker, mqtt=_tls_mqtt(tls_broker, other / "ca.crt", pw),
                     extra=NO_MODEL.format(dir=tmp_path)).start()
    wait_until(lambda: "certificate verify failed" in daemon.log(), 20, what="the verification error in the log")
    assert daemon.proc.poll() is None  # it retries with backoff: the CA may be fixed by a reload
    assert daemon.stop() == 0
    log = daemon.log()
    assert log.count("certificate verify failed") <= 3  # said, not spammed every second
    assert PASSWORD not in log


def test_tls_is_verified_by_default_and_credentials_stay_secret(tls_broker, daemons, tmp_path, jena_2020_path,
                                                                 subscriber):
    # tls = true with no CA file: the system store, which does not know the test CA.
    pw = tmp_path / "password"
    pw.write_text(PASSWORD + "\n")
    daemon = daemons(tls_broker, extra=NO_MODEL.format(dir=tmp_path) + '[log]\nlevel = "debug"\n',
                     mqtt=(f'[mqtt]\nhost = "localhost"\nport = {tls_broker.tls_port}\ntls = true\n'
                           f'user = "edgecast"\npassword_file = "{pw}"\n')).start()
    wait_until(lambda: "certificate verify failed" in daemon.log(), 20, what="verification against system CAs")
    cmdline = Path(f"/proc/{daemon.proc.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{daemon.proc.pid}/environ").read_bytes()
    assert PASSWORD.encode() not in cmdline and PASSWORD.encode() not in environ
    assert daemon.stop() == 0
    # With the right CA it serves, at debug level, and the password is still nowhere.
    sub = subscriber(tls_broker, TOPICS)
    ca = tls_broker.dir / "ca.crt"
    daemon.config.write_text(daemon.config.read_text().replace("tls = true", f'tls_ca_certs = "{ca}"'))
    daemon.start()
    sub.wait_online("jena", 20)
    replay(tls_broker, jena_2020_path, "2020-03-01T00:00:00", 1)
    wait_until(lambda: sub.get("edgecast/jena/forecast"), 20, what="a forecast over TLS")
    assert PASSWORD.encode() not in Path(f"/proc/{daemon.proc.pid}/cmdline").read_bytes()
    assert daemon.stop() == 0
    assert PASSWORD not in daemon.log() and "DEBUG" in daemon.log()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_an_acl_denying_the_forecast_is_reported_not_a_crash_loop(tmp_path, daemons, jena_2020_path, subscriber,
                                                                  protocol):
    """MQTT 5: the PUBACK says "Not authorized": one log line, a stats counter. MQTT 3.1.1 has
    no way to say it (MQTT-3.3.5-2: acknowledge positively or close the connection);
    mosquitto 2.0 acknowledges, so the denial is invisible to the daemon — and it must not
    turn into a reconnect loop either (docs/daemon.md, "Broker ACLs")."""
    d = tmp_path / "acl"
    d.mkdir()
    _sh("mosquitto_passwd", "-b", "-c", str(d / "passwd"), "edgecast", PASSWORD, cwd=d)
    # The daemon may read readings and announce its status, but not publish forecasts or stats.
    (d / "acl").write_text("user edgecast\ntopic read edgecast/jena/readings\ntopic write edgecast/jena/status\n")
    from harness.processes import free_port
    port = free_port()
    broker = Broker(d, listeners=f"listener {port} 127.0.0.1\nallow_anonymous true\npassword_file {d / 'passwd'}\n"
                                 f"acl_file {d / 'acl'}\nlog_type all\n")  # "Denied PUBLISH" lines
    broker.start()
    try:
        pw = tmp_path / "password"
        pw.write_text(PASSWORD + "\n")
        broker.tls_port = port  # the ACL listener
        daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path),
                         mqtt=f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nprotocol = "{protocol}"\n'
                              f'user = "edgecast"\npassword_file = "{pw}"\n').start()
        sub = subscriber(broker, TOPICS)
        sub.wait_online("jena", 20)
        replay(broker, jena_2020_path, "2020-03-01T00:00:00", 3)
        if protocol == "5":
            wait_until(lambda: "not authorized" in daemon.log().lower(), 20, what="the denial in the log")
        else:
            wait_until(lambda: "Denied PUBLISH" in (d / "mosquitto.log").read_text(), 20, what="the broker's denial")
            time.sleep(3)  # time for a disconnect/reconnect cycle to show
        assert sub.get("edgecast/jena/forecast") == []  # the broker really denied them
        assert daemon.proc.poll() is None
        log = daemon.log()
        assert log.lower().count("not authorized") <= 3  # logged once per reason, not per message
        assert log.count("connected (session present") == 1 and "disconnected from" not in log  # no loop
        assert daemon.stop() == 0
    finally:
        broker.stop()


def test_plain_tcp_against_a_tls_port_is_a_clear_logged_error(tls_broker, daemons, tmp_path):
    """Before: no error line at all, never connected, silently."""
    pw = tmp_path / "password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    daemon = daemons(tls_broker, extra=NO_MODEL.format(dir=tmp_path),
                     mqtt=f'[mqtt]\nhost = "localhost"\nport = {tls_broker.tls_port}\nkeepalive = 5\n'
                          f'user = "edgecast"\npassword_file = "{pw}"\n').start()
    wait_until(lambda: "connect_failed" in daemon.log(), 30, what="the failed connection in the log")
    log = daemon.log()
    assert "TLS" in log and "tls" in log  # says what is likely wrong and which key fixes it
    assert daemon.proc.poll() is None  # retries with backoff
    assert daemon.stop() == 0
    assert PASSWORD not in daemon.log()
