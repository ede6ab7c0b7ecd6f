"""The configuration schema: every key declared once, and what is derived from it
(validation, live reload, --print-config, the table in docs/daemon.md) follows it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import fields
from pathlib import Path

import pytest

from edgecast.daemon import adapters, config
from edgecast.daemon.settings import settings_of, subsections_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "daemon.md"
BEGIN, END = "<!-- config table: generated", "<!-- end of the generated config table -->"


def every_key():
    for name, cls in config.SECTIONS.items():
        for f in settings_of(cls):
            yield name, f
        for sub in subsections_of(cls):
            for f in settings_of(sub.default_factory):
                yield f"{name}.{sub.name}", f


def test_every_key_has_a_doc_line_and_a_live_or_restart_flag():
    for section, f in every_key():
        assert isinstance(f.metadata.get("doc"), str) and f.metadata["doc"].strip(), f"{section}.{f.name}: no doc"
        assert "\n" not in f.metadata["doc"], f"{section}.{f.name}: the doc is one line"
        assert f.metadata.get("live") in (True, False), f"{section}.{f.name}: live or restart?"


def _documented_table() -> str:
    text = DOCS.read_text()
    start = text.index("\n", text.index(BEGIN)) + 1
    return text[start:text.index(END)].strip()


def test_the_docs_table_is_the_generated_one():
    assert _documented_table() == config.docs_table(), \
        "docs/daemon.md's config table is stale: run `python -m tests.daemon.test_config_schema`"


def test_print_config_shows_every_key_under_its_doc_line():
    text = config.default_toml()
    assert config.parse(text) == config.Config()
    for section, f in every_key():
        applies = "live" if f.metadata["live"] else "restart"
        # a key unset by default, or of an input format other than the default, is shown commented out
        unset = "# " if f.default is None or section.startswith("input.") and section != "input.native" else ""
        assert re.search(rf"^# {re.escape(f.metadata['doc'])} \[{applies}\]\n{unset}{f.name} = ", text, re.M), f.name


def test_reload_applies_live_keys_and_names_the_others():
    running = config.parse('[station]\nid = "a"\n[input]\nformat = "esphome"\n')
    log_section = running.log
    new = config.parse('[station]\nid = "a"\n[mqtt]\nport = 1884\n[gaps]\ncarry_forward_hours = 5\n'
                       '[log]\nlevel = "debug"\n[input]\nformat = "esphome"\n[input.esphome]\nmax_age_seconds = 60\n')
    restart = config.apply_live(running, new)
    assert restart == ["mqtt.port", "input.esphome.max_age_seconds"]
    assert (running.gaps.carry_forward_hours, running.log.level) == (5, "debug")
    assert (running.mqtt.port, running.input.esphome.max_age_seconds) == (1883, 300)
    assert log_section.level == "info"  # replaced, not edited: stations share the process's sections


def test_each_adapter_module_registers_itself():
    found = {}
    for module in pkgutil.iter_modules(adapters.__path__):
        mod = importlib.import_module(f"{adapters.__name__}.{module.name}")
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if issubclass(cls, adapters.Adapter) and cls is not adapters.Adapter and cls.__module__ == mod.__name__:
                found[cls.name] = cls
    assert found == adapters.REGISTRY
    assert set(found) == {"native", "esphome", "tasmota", "rtl_433"}
    # ... and each one's own keys are its table [input.<section>], with their checks
    tables = {f.name: f.default_factory for f in subsections_of(adapters.InputConfig)}
    for cls in found.values():
        assert {f.name for f in fields(tables[cls.table()])} == set(cls.settings)
    with pytest.raises(config.ConfigError, match="^input.esphome.max_age_seconds: must be >= 1"):
        config.parse('[input]\nformat = "esphome"\n[input.esphome]\nmax_age_seconds = 0\n')


def test_a_registered_format_is_accepted_and_built():
    @adapters.register
    class Probe(adapters.Adapter):
        name = "probe"
        default_topic = "probe/{station}"
    try:
        cfg = config.parse('[input]\nformat = "probe"\n')
        adapter = adapters.make(cfg)
        assert isinstance(adapter, Probe) and adapter.topics() == ["probe/default"]
    finally:
        del adapters.REGISTRY["probe"]
    with pytest.raises(config.ConfigError, match="^input.format: 'probe' must be one of"):
        config.parse('[input]\nformat = "probe"\n')


if __name__ == "__main__":  # rewrite the table in docs/daemon.md from the declarations
    text = DOCS.read_text()
    start = text.index("\n", text.index(BEGIN)) + 1
    DOCS.write_text(text[:start] + config.docs_table() + "\n" + text[text.index(END):])
    print(f"rewrote the config table in {DOCS}")
