"""Every JSON the daemon publishes goes through ``to_json``: strict JSON only.

Python's json writes NaN and Infinity as bare ``NaN``/``Infinity``, which no JSON parser
accepts (Home Assistant's templates, jq, JSON.parse): a subscriber would lose the whole
message. Nothing the daemon computes should be non-finite (the state file is checked on
load, the model's output before it serves); should one slip through anyway it goes out
as ``null``, with a warning, rather than as a message nobody can read.
"""

from __future__ import annotations

import json
import logging
import math

log = logging.getLogger("edgecast.daemon")


def to_json(payload, ensure_ascii: bool = True, repair: bool = True) -> str:
    """``payload`` as compact, strict JSON; non-finite numbers become null (``repair``)
    or raise ValueError (``repair=False``: a check, e.g. of a state file's forecasts)."""
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=ensure_ascii, allow_nan=False)
    except ValueError:
        if not repair:
            raise
    log.warning("a message held a non-finite number (NaN or infinity): it goes out as null")
    return json.dumps(_finite(payload), separators=(",", ":"), ensure_ascii=ensure_ascii, allow_nan=False)


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x
