"""The documented repair of raw station rows, applied before features are computed.

Rule: a value that is a station missing-value code (-9999 …) or outside the channel's
physically possible range (schema.CHANNELS) is treated as missing and replaced by linear
interpolation between the nearest valid values of the same channel, in row order
(held constant at the ends). A channel with no value at all (a file that lacks it) stays
NaN: the protocols refuse a model that reads it. The targets are never repaired: MAE
is always measured against the raw temperature, as published figures are.
"""

from __future__ import annotations

import numpy as np

from ..schema import CHANNELS, SENTINELS


def invalid_mask(values: np.ndarray) -> np.ndarray:
    low = np.array([c.low for c in CHANNELS])
    high = np.array([c.high for c in CHANNELS])
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(values) | np.isin(values, SENTINELS) | (values < low) | (values > high)


def repair(values: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Return (repaired copy, {channel name: values repaired})."""
    bad = invalid_mask(values)
    out = values.copy()
    counts = {}
    rows = np.arange(len(values))
    for j, channel in enumerate(CHANNELS):
        n = int(bad[:, j].sum())
        good = ~bad[:, j]
        if not n or not good.any():
            continue
        counts[channel.name] = n
        out[bad[:, j], j] = np.interp(rows[bad[:, j]], rows[good], values[good, j])
    return out, counts
