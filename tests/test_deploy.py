"""deploy/: the systemd unit passes systemd's own checks; install.sh works into a root prefix."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgecast.daemon import config
from tests.conftest import REPO, require

DEPLOY = REPO / "deploy"


def test_example_config_is_the_defaults_and_names_every_key():
    text = (DEPLOY / "edgecast.toml").read_text()
    assert config.parse(text, "deploy/edgecast.toml") == config.Config()  # the comments tell the truth
    for section in dataclasses.fields(config.Config):
        assert f"[{section.name}]" in text
        for key in dataclasses.fields(section.default_factory()):
            assert re.search(rf"^{key.name} = ", text, re.M), f"{section.name}.{key.name} missing from the example"


def test_unit_passes_systemd_verify(tmp_path):
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze not installed")
    # verify checks that ExecStart exists: point it at this checkout's edgecast.
    unit = tmp_path / "edgecast.service"
    unit.write_text((DEPLOY / "edgecast.service").read_text().replace(
        "/opt/edgecast/venv/bin/edgecast", str(Path(sys.executable).parent / "edgecast")))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_unit_security_rating_is_ok_or_better():
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze not installed")
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", str(DEPLOY / "edgecast.service")],
                         capture_output=True, text=True, check=True).stdout
    level = re.search(r"Overall exposure level for edgecast.service: ([\d.]+) (\w+)", out)
    assert level, out[-500:]
    assert level.group(2) in ("OK", "SAFE", "PERFECT") and float(level.group(1)) < 2.0, level.group(0)


@pytest.mark.slow
def test_install_into_root_prefix_is_idempotent_and_has_no_tensorflow(tmp_path):
    root = tmp_path / "box"
    script = DEPLOY / "install.sh"
    run = lambda *args: subprocess.run(["bash", str(script), "--root", str(root), *args],  # noqa: E731
                                       capture_output=True, text=True, timeout=900)
    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    venv = root / "opt/edgecast/venv"
    packages = subprocess.run([str(venv / "bin/python"), "-m", "pip", "list", "--format=freeze"],
                              capture_output=True, text=True, check=True).stdout.lower()
    assert "ai-edge-litert" in packages or "ai_edge_litert" in packages
    assert "tensorflow" not in packages and "keras" not in packages
    assert (root / "etc/systemd/system/edgecast.service").exists()
    conf = root / "etc/edgecast/edgecast.toml"
    conf.write_text(conf.read_text().replace('id = "default"', 'id = "roof1"'))  # the user's edit

    second = run()
    assert second.returncode == 0, second.stdout + second.stderr
    assert 'id = "roof1"' in conf.read_text() and (conf.parent / "edgecast.toml.new").exists()

    state = root / "var/lib/edgecast"
    state.mkdir(parents=True)
    (state / "roof1.state.json").write_text("{}")
    assert run("--uninstall").returncode == 0
    assert not venv.exists() and not (root / "etc/systemd/system/edgecast.service").exists()
    assert conf.exists() and (state / "roof1.state.json").exists()
    assert run("--uninstall", "--purge").returncode == 0
    assert not conf.exists() and not state.exists()
