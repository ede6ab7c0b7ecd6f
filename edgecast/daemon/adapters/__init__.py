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
subscription and its own ``[input]`` keys (declared with settings.setting, like every
key); this package imports every module in it, so adding a firmware is adding a module.
``[input] format`` picks the adapter; docs/daemon.md describes each format.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import make_dataclass

from ..settings import default_of
from .base import (COMMON_SETTINGS, REGISTRY, Adapter, Ignored, bad_time, event_time, input_source, input_topic,
                   make, number, register, same_sensor)

__all__ = ["REGISTRY", "Adapter", "Ignored", "InputConfig", "bad_time", "event_time", "input_source", "input_topic",
           "make", "number", "register", "same_sensor"]


def _discover() -> None:
    """Import every module of this package: each adapter registers itself (base and
    units register nothing)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def _input_config_class() -> type:
    declared = dict(COMMON_SETTINGS)
    for cls in REGISTRY.values():
        for name, f in cls.settings.items():
            if name in declared:
                raise TypeError(f"adapter {cls.name!r} redeclares [input] {name}")
            declared[name] = f
    return make_dataclass("InputConfig", [(name, type(default_of(f)), f) for name, f in declared.items()])


_discover()
InputConfig = _input_config_class()
