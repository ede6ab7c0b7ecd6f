"""`run --check` says what `run` will do, and `run` either serves or ends: MQTT settings
have their real bounds (a keepalive or session expiry paho cannot pack killed its network
thread while the process went on logging "serving"), TLS files are loaded by `--check`
as by `run` (one function, make_client), a model that cannot serve fails `--check`, and
a network thread that dies ends the process with one line and exit status 1 (systemd
restarts it). Real mosquitto and real daemon processes where a broker is involved."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from edgecast.daemon import config as config_mod
from harness.processes import EDGECAST, replay, wait_until

START = "2020-03-01T00:00:00"
NO_MODEL = '[model]\npath = "{dir}/no-such-model.tflite"\n'

BEYOND = {  # a value just past the field MQTT carries it in, and the key's message
    "keepalive = 70000": "mqtt.keepalive: must be 5..65535",
    "keepalive = 65536": "mqtt.keepalive: must be 5..65535",
    "session_expiry = 4294967296": "mqtt.session_expiry: must be 0..4294967295",
    "reconnect_max_delay = 1000000": "mqtt.reconnect_max_delay: must be mqtt.reconnect_min_delay..86400",
    'user = "' + "u" * 65536 + '"': "mqtt.user: must be a user name of 1..65535 bytes",
    'host = "broker .lan"': "mqtt.host: must be a host name of 1..253 bytes",
}


@pytest.mark.parametrize("line", list(BEYOND), ids=lambda line: line[:30])
def test_mqtt_settings_beyond_their_real_bounds_are_refused(line):
    with pytest.raises(config_mod.ConfigError) as caught:
        config_mod.parse(f'[mqtt]\nprotocol = "5"\n{line}\n')
    assert BEYOND[line] in str(caught.value)


def _run(args, timeout=30):
    """``edgecast run …``: (exit status, output); a process still running after
    ``timeout`` (serving, or looking as if) is stopped and counts as status None."""
    proc = subprocess.Popen(EDGECAST + ["run", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.kill()
        return None, proc.communicate()[0]


def test_run_refuses_a_keepalive_paho_cannot_send(broker, tmp_path):
    config = tmp_path / "edgecast.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nprotocol = "5"\nkeepalive = 70000\n'
                      f'[state]\ndir = "{tmp_path / "state"}"\n' + NO_MODEL.format(dir=tmp_path))
    rc, out = _run(["--config", str(config)], timeout=20)
    assert rc == 1 and "configuration: mqtt.keepalive: must be 5..65535" in out and "Traceback" not in out, out


def test_the_bounds_themselves_serve(broker, daemons, subscriber, tmp_path, jena_2020_path):
    """The largest values the bounds let through connect on MQTT 5 and forecast (so the
    bounds are MQTT's, not tighter)."""
    sub = subscriber(broker, ["edgecast/jena/forecast", "edgecast/jena/status"])
    daemon = daemons(broker, mqtt=f'[mqtt]\nport = {broker.port}\nhost = "127.0.0.1"\nprotocol = "5"\n'
                                  'keepalive = 65535\nsession_expiry = 4294967295\n',
                     extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    replay(broker, jena_2020_path, START, 2)
    assert len(sub.wait_for("edgecast/jena/forecast", 2)) == 2
    assert daemon.stop() == 0


def _tls_config(tmp_path, lines: str) -> str:
    config = tmp_path / "edgecast.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = 1\n{lines}\n[state]\ndir = "{tmp_path / "state"}"\n'
                      '[model]\npath = "default"\n')
    return str(config)


TLS = {
    "missing_ca": ('tls_ca_certs = "{dir}/no-such-ca.pem"', "configuration: mqtt.tls_ca_certs: cannot read "),
    "ca_not_pem": ('tls_ca_certs = "{dir}/junk.pem"', "configuration: mqtt.tls_ca_certs: "),
    "client_cert_not_pem": ('tls_client_cert = "{dir}/junk.pem"\ntls_client_key = "{dir}/junk.pem"',
                            "configuration: mqtt.tls_client_cert / mqtt.tls_client_key: "),
    "missing_client_key": ('tls_client_cert = "{dir}/junk.pem"\ntls_client_key = "{dir}/no-such.key"',
                           "configuration: mqtt.tls_client_key: cannot read "),
}


@pytest.mark.slow  # spawns `edgecast run`
@pytest.mark.parametrize("case", list(TLS))
@pytest.mark.parametrize("mode", ["--check", "run"])
def test_a_tls_file_that_does_not_load_ends_check_and_run_with_one_line(tmp_path, case, mode):
    (tmp_path / "junk.pem").write_text("this is not a certificate\n")
    lines, expected = TLS[case]
    config = _tls_config(tmp_path, lines.format(dir=tmp_path))
    rc, out = _run((["--check"] if mode == "--check" else []) + ["--config", config], timeout=20)
    assert rc == 1 and expected in out and "Traceback" not in out, out


@pytest.mark.slow  # spawns `edgecast run --check`
def test_check_fails_when_the_model_cannot_serve(tmp_path):
    config = tmp_path / "edgecast.toml"
    config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n' + NO_MODEL.format(dir=tmp_path))
    rc, out = _run(["--check", "--config", str(config)])
    assert rc == 1 and "the model cannot serve (model file" in out and "does not exist" in out, out
    config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n[model]\npath = "default"\n')
    rc, out = _run(["--check", "--config", str(config)])
    assert rc == 0 and "model: compact_lstm" in out, out


# paho's network thread dies as it did on keepalive = 70000: struct.error packing CONNECT.
# Injected into the real daemon process (the settings no longer let such a value through).
DYING_THREAD = (
    "import struct, sys\n"
    "import paho.mqtt.client as c\n"
    "def dies(self, keepalive):\n"
    "    raise struct.error('ushort format requires 0 <= number <= (0x7fff * 2 + 1)')\n"
    "c.Client._send_connect = dies\n"
    "from edgecast.cli import main\n"
    "sys.exit(main())\n"
)


def test_a_dead_network_thread_ends_the_process_with_one_line(broker, daemons, tmp_path):
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path), command=[sys.executable, "-c", DYING_THREAD])
    daemon.start()
    try:
        rc = daemon.proc.wait(30)
    except subprocess.TimeoutExpired:
        daemon.send(signal.SIGKILL)
        pytest.fail("the daemon went on running without its network thread:\n" + daemon.log())
    log = daemon.log()
    assert rc == 1, log
    assert ("station jena: its MQTT network thread ended (error: ushort format requires" in log
            and "exiting with status 1 so that systemd restarts edgecast" in log), log
    assert "Traceback" not in log and wait_until(lambda: daemon.state_file.exists(), 5)
