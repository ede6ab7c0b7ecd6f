"""TLS with certificate verification, username + password file, MQTT 5 persistent session."""

from __future__ import annotations

import subprocess

from harness.processes import EDGECAST, wait_until
from tests.daemon.conftest import PASSWORD

def _mqtt(broker, password_file, protocol="5"):
    return (f'[mqtt]\nhost = "localhost"\nport = {broker.tls_port}\nprotocol = "{protocol}"\n'
            f'tls_ca_certs = "{broker.dir / "ca.crt"}"\nuser = "edgecast"\npassword_file = "{password_file}"\n')


def test_tls_password_and_mqtt5_session(tls_broker, daemons, subscriber, tmp_path, jena_2020_path):
    pw = tmp_path / "password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    sub = subscriber(tls_broker, ["edgecast/jena/forecast", "edgecast/jena/status"])  # plain listener
    daemon = daemons(tls_broker, mqtt=_mqtt(tls_broker, pw), extra=f'[model]\npath = "{tmp_path}/none.tflite"\n')
    daemon.start()
    sub.wait_online("jena", 20)

    def replay(start, hours):
        out = subprocess.run(EDGECAST + ["replay", "--config", str(daemon.config), "--data", str(jena_2020_path),
                                         "--start", start, "--hours", str(hours), "--quiet"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    replay("2020-03-01T00:00:00", 2)
    wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 2, 20, what="2 forecasts")
    # MQTT 5 persistent session (clean_start=False + session expiry): readings sent
    # while the daemon is down arrive after its restart.
    assert daemon.stop() == 0
    replay("2020-03-01T02:00:00", 2)
    daemon.start()
    forecasts = sub.wait_for("edgecast/jena/forecast", 4, 20)
    assert [f["issued_at"][11:13] for f in forecasts] == ["00", "01", "02", "03"]
    assert daemon.stop() == 0
    log = daemon.log()
    assert "TLS" in log and "user edgecast" in log and PASSWORD not in log


def test_wrong_password_is_reported_and_not_logged(tls_broker, daemons, tmp_path):
    pw = tmp_path / "password"
    pw.write_text("not-the-password\n")
    daemon = daemons(tls_broker, mqtt=_mqtt(tls_broker, pw, protocol="3.1.1")).start()
    wait_until(lambda: "refused the connection" in daemon.log(), 20, what="the refusal in the log")
    assert daemon.proc.poll() is None  # it keeps retrying with backoff
    assert daemon.stop() == 0
    assert "not-the-password" not in daemon.log()
