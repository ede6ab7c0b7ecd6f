"""`edgecast run`'s modes (--check, --print-config, --remove-discovery) are exclusive: a
combination is refused with a one-line usage error (exit 2) instead of one flag winning."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgecast.cli import main


@pytest.mark.parametrize("flags", [
    ["--check", "--print-config"],
    ["--check", "--remove-discovery"],
    ["--print-config", "--uninstall"],
    ["--check", "--print-config", "--remove-discovery"],
])
def test_run_modes_cannot_be_combined(flags, tmp_path):
    result = CliRunner().invoke(main, ["run", *flags])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "cannot be combined" in errors[0], result.output
    for flag in flags:
        assert (flag if flag != "--uninstall" else "--remove-discovery") in errors[0]


def test_print_config_reads_no_config_file(tmp_path):
    config = tmp_path / "edgecast.toml"
    config.write_text('[station]\nid = "roof"\n')
    result = CliRunner().invoke(main, ["run", "--print-config", "--config", str(config)])
    assert result.exit_code == 2 and "config check --config FILE" in result.output, result.output


def test_each_mode_alone_still_works(tmp_path):
    assert CliRunner().invoke(main, ["run", "--print-config"]).exit_code == 0
    config = tmp_path / "edgecast.toml"
    config.write_text(f'[state]\ndir = "{tmp_path}"\n[model]\npath = "default"\n')
    result = CliRunner().invoke(main, ["run", "--check", "--config", str(config)])
    assert result.exit_code == 0 and "configuration ok" in result.output, result.output
