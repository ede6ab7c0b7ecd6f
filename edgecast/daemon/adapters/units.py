"""Unit conversion into the units of the feature schema (edgecast.schema.CHANNELS).

Each channel belongs to one dimension; a value arrives in one of that dimension's
units and leaves in the channel's own unit. Only numbers are converted: anything else
passes through unchanged so that the reading validation (readings.from_values) counts
it (``non_numeric``) instead of an adapter inventing a reason of its own.
"""

from __future__ import annotations

from ...schema import ALIASES, CHANNEL_INDEX, CHANNELS

# unit spelling (lower case) -> (dimension, function into the dimension's base unit)
_TEMPERATURE = {"c": lambda x: x, "degc": lambda x: x, "°c": lambda x: x, "celsius": lambda x: x,
                "f": lambda x: (x - 32.0) * 5.0 / 9.0, "degf": lambda x: (x - 32.0) * 5.0 / 9.0,
                "°f": lambda x: (x - 32.0) * 5.0 / 9.0, "fahrenheit": lambda x: (x - 32.0) * 5.0 / 9.0,
                "k": lambda x: x - 273.15, "kelvin": lambda x: x - 273.15}  # -> °C
_PRESSURE = {"hpa": 1.0, "mbar": 1.0, "pa": 0.01, "kpa": 10.0, "bar": 1000.0, "inhg": 33.8639,
             "mmhg": 1.333224, "psi": 68.94757}  # -> hPa
_SPEED = {"m/s": 1.0, "ms": 1.0, "km/h": 1 / 3.6, "kmh": 1 / 3.6, "kph": 1 / 3.6, "mph": 0.44704,
          "mi/h": 0.44704, "kn": 0.514444, "kt": 0.514444, "knots": 0.514444, "ft/s": 0.3048,
          "yd/s": 0.9144}  # -> m/s

# channel unit (schema) -> dimension
_DIMENSION = {"°C": "temperature", "K": "temperature", "hPa": "pressure", "m/s": "speed"}


def dimension(alias: str) -> str | None:
    """'temperature', 'pressure', 'speed', or None (a unit of its own: %, deg, g/kg …)."""
    return _DIMENSION.get(CHANNELS[CHANNEL_INDEX[ALIASES[alias]]].unit)


def known_unit(alias: str, unit: str) -> bool:
    return _converter(alias, unit) is not None


def units_for(alias: str) -> list[str]:
    dim = dimension(alias)
    table = {"temperature": _TEMPERATURE, "pressure": _PRESSURE, "speed": _SPEED}.get(dim)
    return sorted(table) if table else [CHANNELS[CHANNEL_INDEX[ALIASES[alias]]].unit]


def _converter(alias: str, unit: str):
    channel = CHANNELS[CHANNEL_INDEX[ALIASES[alias]]]
    u = unit.strip().lower()
    if not u or u == channel.unit.lower():
        return lambda x: x
    dim = _DIMENSION.get(channel.unit)
    if dim == "temperature" and u in _TEMPERATURE:
        to_c = _TEMPERATURE[u]
        return (lambda x: to_c(x) + 273.15) if channel.unit == "K" else to_c
    if dim == "pressure" and u in _PRESSURE:
        factor = _PRESSURE[u]
        return lambda x: x * factor
    if dim == "speed" and u in _SPEED:
        factor = _SPEED[u]
        return lambda x: x * factor
    if channel.unit == "%" and u in ("%", "%rh"):
        return lambda x: x
    if channel.unit == "deg" and u in ("°", "deg", "degrees"):
        return lambda x: x
    return None


def convert(alias: str, value, unit: str = ""):
    """``value`` (in ``unit``; "" = the channel's own) in the unit of channel ``alias``.

    Raises ValueError for a unit that does not fit the channel (config validation
    catches those at start; a unit named in a payload, e.g. Tasmota's TempUnit, ends
    here at run time and the adapter turns it into a rejection).
    """
    fn = _converter(alias, unit)
    if fn is None:
        raise ValueError(f"unit {unit!r} does not fit channel {alias} (known: {', '.join(units_for(alias))})")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    try:
        return fn(float(value))
    except OverflowError:
        return float("inf")


def parse_mapping(text: str) -> tuple[str, str]:
    """A mapping-table entry ``"T"`` or ``"T degF"`` -> (alias, unit); ValueError if unusable."""
    parts = text.split()
    if not 1 <= len(parts) <= 2 or parts[0] not in ALIASES:
        raise ValueError(f"{text!r} must be a channel alias ({', '.join(ALIASES)}), optionally followed "
                         "by a unit, e.g. \"T degF\"")
    alias, unit = parts[0], parts[1] if len(parts) == 2 else ""
    if not known_unit(alias, unit):
        raise ValueError(f"{text!r}: unit {unit!r} does not fit {alias} (known: {', '.join(units_for(alias))})")
    return alias, unit
