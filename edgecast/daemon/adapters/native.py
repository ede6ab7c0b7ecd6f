"""The daemon's own JSON format (docs/daemon.md, "Reading"): ``time`` plus channels keyed
by Jena name or alias. ``[input] map`` renames other keys (with a unit) into channels,
e.g. ``temperature_f = "T degF"``, for a sensor that sends its own JSON with a time."""

from __future__ import annotations

from ...readings import Rejection, decode, from_values, parse, parse_time
from .base import Adapter, bad_time, register
from .units import convert


@register
class NativeAdapter(Adapter):
    name = "native"

    def convert(self, topic, payload, received, retained):
        if not self.mapping:
            return parse(payload, self.max_bytes)
        obj = decode(payload, self.max_bytes)
        if isinstance(obj, Rejection):
            return obj
        time = parse_time(obj.get("time"))
        if time is None:
            return bad_time("time", obj.get("time"))
        values = dict(obj)
        for key, (alias, unit) in self.mapping.items():
            if key in obj:
                values[alias] = convert(alias, obj[key], unit)  # units were validated at start
        return from_values(time, values)
