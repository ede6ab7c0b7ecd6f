"""Input adapters: what a sensor firmware publishes -> one validated Reading.

One small module per firmware, all behind one interface:

- ``topics()``: the subscriptions (may hold MQTT wildcards);
- ``convert(topic, payload, received, retained)``: a payload and its receive time
  (epoch seconds, wall clock) -> ``Reading`` (edgecast.readings), ``Rejection``
  (counted under ``readings.rejected``), ``Ignored`` (traffic that is expected but is not
  a reading for this station: another rtl_433 device, a retained ESPHome state of
  unknown age; counted under ``readings.ignored``) or ``None`` (held: an ESPHome value
  waiting to be combined into the next reading).

Every adapter ends in ``readings.from_values`` (native JSON in ``readings.parse``), so
value checks (non-numeric, non-finite, sentinel, impossible) are the same for all
formats. Units are converted first (adapters/units.py).

Each adapter module registers itself (``@register``) with its name, its default
subscription and its own table of keys, ``[input.<section>]``, declared with
settings.setting like every key; this package imports every module in it and builds the
``[input]`` section from the registry: ``format`` (which adapter), ``topic`` and ``map``
(read by all), then one table per format. Adding a firmware is adding a module.
docs/daemon.md describes each format.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import make_dataclass

from ..settings import default_of, setting, subsection
from .base import (REGISTRY, Adapter, Ignored, bad_time, event_time, flat_keys_error, foreign_tables_error,
                   format_problem, input_source, input_topic, make, map_problem, number, register, same_sensor,
                   topic_problem)

__all__ = ["REGISTRY", "Adapter", "Ignored", "InputConfig", "bad_time", "event_time", "flat_keys_error",
           "foreign_tables_error",
           "input_source", "input_topic", "make", "number", "register", "same_sensor"]


def _discover() -> None:
    """Import every module of this package: each adapter registers itself (base and
    units register nothing)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    ordered = sorted(REGISTRY.items(), key=lambda item: (item[0] != "native", item[0]))  # the default first
    REGISTRY.clear()
    REGISTRY.update(ordered)


def _common_settings() -> dict:
    """The [input] keys every format reads; their docs list the registered formats."""
    formats = ", ".join(f"`{cls.name}`" for cls in REGISTRY.values())
    defaults = ", ".join(f"{cls.name} `{cls.default_topic or 'topics.readings'}`" for cls in REGISTRY.values())
    return {
        "format": setting("native", f"what the sensor publishes: {formats}; its own keys go in "
                          "`[input.<format>]` (below)", check=format_problem),
        "topic": setting("", "subscription; may use `{station}` and `+`/`#`", check=topic_problem,
                         empty=f"the format's default: {defaults}"),
        "map": setting({}, 'more fields: `source key = "alias [unit]"`, e.g. `{ wind_speed = "wv km/h" }`',
                       check=map_problem),
    }


def _where(key: str, but: str = "") -> str | None:
    """Which format tables hold ``key`` (for the error of a key in the wrong table)."""
    owners = [f"[input.{cls.table()}] (format = {cls.name!r})" for cls in REGISTRY.values()
              if key in cls.settings and cls.table() != but]
    return f"a key of {' and '.join(owners)}" if owners else None


def _format_table(cls) -> type:
    table = cls.table()
    return make_dataclass(f"{table.capitalize()}Input",
                          [(name, type(default_of(f)), f) for name, f in cls.settings.items()],
                          namespace={"misplaced": staticmethod(lambda key: _where(key, but=table))})


def _input_config_class() -> type:
    declared = [(name, type(default_of(f)), f) for name, f in _common_settings().items()]
    for cls in REGISTRY.values():
        if cls.table() in dict.fromkeys(n for n, _, _ in declared):
            raise TypeError(f"adapter {cls.name!r}: [input.{cls.table()}] clashes with a key of [input]")
        declared.append((cls.table(), object, subsection(
            _format_table(cls), f'the keys of format = "{cls.name}"' if cls.settings
            else f'format = "{cls.name}" has no keys of its own',
            when=lambda section, name=cls.name: section.format == name)))
    return make_dataclass("InputConfig", declared, namespace={"misplaced": staticmethod(_where)})


_discover()
InputConfig = _input_config_class()
