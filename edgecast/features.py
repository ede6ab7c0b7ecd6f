"""Turn raw channel values and timestamps into model input columns (numpy only).

Training applies this to whole files; the daemon applies it to its 120-hour buffer.
Both call the same function, so a window is built identically on both sides.
"""

from __future__ import annotations

import numpy as np

from .schema import CHANNEL_INDEX, SITE_FEATURES, FeatureSchema
from .solar import Location, daylight, daylight_trend, solar_hour_angle, sun_elevation_sine

_SECONDS_PER_DAY = 86400.0
_DAYS_PER_YEAR = 365.2425


# The raw channels each derived feature reads; time features read only the clock.
_SOURCES: dict[str, tuple[str, ...]] = {
    "wind_x": ("wv (m/s)", "wd (deg)"), "wind_y": ("wv (m/s)", "wd (deg)"),
    "max_wind_x": ("max. wv (m/s)", "wd (deg)"), "max_wind_y": ("max. wv (m/s)", "wd (deg)"),
    "hour_sin": (), "hour_cos": (), "doy_sin": (), "doy_cos": (),
    **{name: () for name in SITE_FEATURES},
}


def required_channels(features) -> list[str]:
    """The raw channels (schema order) a feature list reads — what a window must hold."""
    names = set()
    for f in features:
        names.update((f,) if f in CHANNEL_INDEX else _SOURCES[f])
    return sorted(names, key=CHANNEL_INDEX.__getitem__)


def _wind(values: np.ndarray, speed: str) -> tuple[np.ndarray, np.ndarray]:
    # Direction in degrees is discontinuous at 0/360 and meaningless at calm; the
    # vector (speed·cos, speed·sin) is neither.
    rad = np.deg2rad(values[:, CHANNEL_INDEX["wd (deg)"]])
    v = values[:, CHANNEL_INDEX[speed]]
    return v * np.cos(rad), v * np.sin(rad)


def _time_parts(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    seconds = times.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    day_fraction = (seconds % _SECONDS_PER_DAY) / _SECONDS_PER_DAY
    year_fraction = (seconds / _SECONDS_PER_DAY / _DAYS_PER_YEAR) % 1.0
    return day_fraction, year_fraction


def needs_location(features) -> bool:
    """True when a feature list reads the sun, so the place must be known."""
    return any(f in SITE_FEATURES for f in features)


def _sun(times: np.ndarray, location: Location) -> dict[str, np.ndarray]:
    angle = solar_hour_angle(times, location.longitude)
    return {"solar_hour_sin": np.sin(angle), "solar_hour_cos": np.cos(angle),
            "sun_elevation": sun_elevation_sine(times, location),
            "daylight": daylight(times, location.latitude),
            "daylight_trend": daylight_trend(times, location.latitude)}


def compute_columns(features: list[str], values: np.ndarray, times: np.ndarray,
                    location: Location | None = None) -> np.ndarray:
    """Raw (rows, 14) channel values + (rows,) datetime64 -> (rows, len(features)) float64.

    ``location`` (one place, or one per row) is needed by the sun features only.
    """
    out = np.empty((values.shape[0], len(features)), dtype=np.float64)
    cache: dict[str, np.ndarray] = {}
    if needs_location(features):
        if location is None:
            raise ValueError("these features read the sun's position: the location must be given")
        cache.update(_sun(times, location))

    def derived(name: str) -> np.ndarray:
        if "wind_x" not in cache:
            cache["wind_x"], cache["wind_y"] = _wind(values, "wv (m/s)")
            cache["max_wind_x"], cache["max_wind_y"] = _wind(values, "max. wv (m/s)")
            day, year = _time_parts(times)
            cache["hour_sin"], cache["hour_cos"] = np.sin(2 * np.pi * day), np.cos(2 * np.pi * day)
            cache["doy_sin"], cache["doy_cos"] = np.sin(2 * np.pi * year), np.cos(2 * np.pi * year)
        return cache[name]

    for j, name in enumerate(features):
        out[:, j] = values[:, CHANNEL_INDEX[name]] if name in CHANNEL_INDEX else derived(name)
    return out


def fit_statistics(schema: FeatureSchema, columns: np.ndarray) -> FeatureSchema:
    """Return the schema with mean/std fitted on ``columns`` (the training part only)."""
    mean = np.nanmean(columns, axis=0)
    std = np.nanstd(columns, axis=0)
    std[std < 1e-6] = 1.0  # a constant column must not divide by zero
    return FeatureSchema(**{**schema.to_dict(), "mean": mean.tolist(), "std": std.tolist()})


def normalise(schema: FeatureSchema, columns: np.ndarray) -> np.ndarray:
    return ((columns - np.asarray(schema.mean)) / np.asarray(schema.std)).astype(np.float32)


def layout_columns(schema: FeatureSchema, layout) -> np.ndarray:
    """Normalised model input columns for every row of a protocol layout.

    This is how both the training pipeline and device-side evaluation see the data:
    repaired rows for the row protocols, the hourly grid for the grid protocols
    (edgecast.protocol).
    """
    return normalise(schema, compute_columns(schema.features, layout.clean, layout.times, layout.location))
