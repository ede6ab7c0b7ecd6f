"""Every command's --help: one real example of that command, each command's own --protocol
choices, an honest --data, lines that do not run together; and the old `run` flags as
aliases that name their new command."""

from __future__ import annotations

import re
import shlex

import click
import pytest
from click.testing import CliRunner

from edgecast.cli import main


def _commands(group=main, path=()):
    ctx = click.Context(group)  # list_commands: the top group registers its lazy commands
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


COMMANDS = sorted(_commands(), key=lambda pc: pc[0])


def _help(path) -> str:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def _examples(text: str, path) -> list[list[str]]:
    """The example command lines of a help text (continuation lines joined), as arguments."""
    lines, examples, current = text.splitlines(), [], ""
    for line in lines:
        line = line.strip()
        if current:
            current += " " + line
        elif line.startswith("edgecast " + " ".join(path)):
            current = line
        if current and not current.endswith("\\"):
            examples.append(current.split("  (")[0])  # a remark after the command, in parentheses
            current = ""
        current = current[:-1] if current.endswith("\\") else current
    return [shlex.split(e, comments=True) for e in examples]


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_help_shows_a_real_example_of_its_command(path, command):
    examples = _examples(_help(path), path)
    assert examples, f"`edgecast {' '.join(path)} --help` shows no example of itself"
    for args in examples:
        args = args[1 + len(path):]
        if isinstance(command, click.Group):  # a group's example runs one of its commands
            assert args and args[0] in command.commands, args
            command, args = command.commands[args[0]], args[1:]
        known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        unknown = [a for a in args if a.startswith("-") and a.split("=")[0] not in known]
        assert not unknown, f"{' '.join(path)}: the example's {unknown} are not options of the command"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_no_help_line_runs_together(path):
    """Before: an unescaped backslash in `evaluate`'s docstring joined three example lines into one."""
    too_long = [line for line in _help(path).splitlines() if len(line) > 110]
    assert not too_long, too_long


def _option(path, name):
    command = main
    for part in path:
        command = command.commands[part]
    return next(p for p in command.params if p.name == name)


@pytest.mark.parametrize("path", [("evaluate",), ("train",)])
def test_protocol_help_describes_the_commands_own_choices(path):
    option = _option(path, "protocol_name")
    described = set(re.findall(r"(?:^|\. )(\w+):", option.help))  # "seed: … years: …"
    assert described == set(option.type.choices), (described, option.type.choices)


def test_data_is_required_but_may_come_from_the_environment(tmp_path):
    text = _help(("evaluate",))
    data_help = text[text.index("--data"):text.index("--latitude")]
    assert "[required]" not in data_help and "Default: $EDGECAST_DATA" not in " ".join(data_help.split())
    assert "$EDGECAST_DATA" in data_help
    missing = CliRunner().invoke(main, ["evaluate", "naive"], env={"EDGECAST_DATA": None})
    assert missing.exit_code == 2 and "--data" in missing.output and "EDGECAST_DATA" in missing.output
    absent = tmp_path / "absent.csv"
    from_env = CliRunner().invoke(main, ["data", "check"], env={"EDGECAST_DATA": str(absent)})
    assert from_env.exit_code == 1 and str(absent) in from_env.output, from_env.output


@pytest.mark.parametrize("old, new", [
    (["run", "--print-config"], ["config", "print"]),
    (["run", "--check"], ["config", "check"]),
])
def test_old_run_flags_still_work_and_name_the_new_command(old, new, tmp_path):
    config = [] if "print" in new else ["--config", str(_config(tmp_path))]
    before, after = CliRunner().invoke(main, old + config), CliRunner().invoke(main, new + config)
    assert before.exit_code == after.exit_code == 0, (before.output, after.output)
    assert before.stdout == after.stdout
    assert f"is now `edgecast {' '.join(new + config)}`" in before.stderr, before.stderr
    assert "is now" not in after.stderr


@pytest.mark.parametrize("flag", ["--remove-discovery", "--uninstall"])
def test_remove_discovery_flag_names_the_new_command(flag, tmp_path):
    """No broker listens on the configured port: both spellings fail the same way, the old one
    after saying what it is now called."""
    config = _config(tmp_path, port=1)
    before = CliRunner().invoke(main, ["run", flag, "--config", str(config)])
    after = CliRunner().invoke(main, ["discovery", "remove", "--config", str(config)])
    assert before.exit_code == after.exit_code == 1 and "cannot reach the broker" in after.stderr
    assert f"is now `edgecast discovery remove --config {config}`" in before.stderr, before.stderr


def _config(tmp_path, port=1883):
    config = tmp_path / "edgecast.toml"
    config.write_text(f'[mqtt]\nport = {port}\n[state]\ndir = "{tmp_path}"\n')
    return config
