"""SIGHUP onto a configuration file that cannot be read keeps the running one: the daemon
(a real process, a real mosquitto) logs one line and serves on. A TOML file nested
100,000 deep made the parser raise RecursionError, which escaped Service.reload and
ended the daemon without flushing its state."""

from __future__ import annotations

import signal
import subprocess

import pytest

from harness.processes import EDGECAST, replay, wait_until

START = "2020-03-01T00:00:00"
NO_MODEL = '[model]\npath = "{dir}/no-such-model.tflite"\n'
TOPICS = ["edgecast/jena/forecast", "edgecast/jena/status"]

UNREADABLE = {
    "nested_arrays": "a = " + "[" * 100_000,
    "nested_inline_tables": "a = " + "{b = " * 100_000,
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_sighup_onto_an_unreadable_config_keeps_the_running_one(broker, daemons, subscriber, tmp_path,
                                                                 jena_2020_path, case):
    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
    sub.wait_online()
    replay(broker, jena_2020_path, START, 2)
    sub.wait_for("edgecast/jena/forecast", 2)
    good = daemon.config.read_text()
    daemon.config.write_text(UNREADABLE[case])
    daemon.send(signal.SIGHUP)
    wait_until(lambda: "keeping the running configuration" in daemon.log(), 15, what="refused reload")
    assert daemon.proc.poll() is None, daemon.log()
    assert "nested deeper than the parser goes" in daemon.log() and "Traceback" not in daemon.log()
    replay(broker, jena_2020_path, "2020-03-01T02:00:00", 2)
    assert len(sub.wait_for("edgecast/jena/forecast", 4)) >= 4  # it serves on with what it ran
    daemon.config.write_text(good)  # and a good file is taken again
    daemon.send(signal.SIGHUP)
    wait_until(lambda: "reloaded" in daemon.log(), 15, what="reload")
    assert daemon.stop() == 0


@pytest.mark.slow  # spawns `edgecast run --check`
def test_check_refuses_a_nested_config_with_one_line(tmp_path):
    config = tmp_path / "edgecast.toml"
    config.write_text(UNREADABLE["nested_arrays"])
    out = subprocess.run(EDGECAST + ["run", "--check", "--config", str(config)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "not valid TOML (nested deeper than the parser goes)" in out.stderr
