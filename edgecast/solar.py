"""Where a box stands, and what the sun does there (numpy only).

A model that reads the raw clock and day of year learns one place: Jena's time zone and
Jena's seasons. What drives the daily and yearly temperature cycle everywhere is the sun,
so the site-free features are the sun's: local solar time from the longitude, the sun's
elevation, and the day length and its trend from the latitude (southern summers and the
tropics' near-constant days come out right by themselves).

Accuracy: mean solar time (no equation of time, ±16 min) and a sine-law declination
(±0.5°): well inside one hourly step, and the same on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_DAY = 86400.0
_YEAR_DAYS = 365.2425
_OBLIQUITY = np.deg2rad(23.44)
# 1970-01-01 is day 0; the March equinox falls ~79.3 days into a year.
_EQUINOX_DAY = 79.3


@dataclass(frozen=True)
class Location:
    """Decimal degrees, north and east positive; arrays of the same length are allowed
    (one location per row, e.g. several stations laid end to end for training)."""

    latitude: float | np.ndarray
    longitude: float | np.ndarray

    def __post_init__(self) -> None:
        lat, lon = np.asarray(self.latitude, float), np.asarray(self.longitude, float)
        if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
            raise ValueError("latitude and longitude must be finite numbers")
        if (np.abs(lat) > 90).any():
            raise ValueError(f"latitude must lie in -90 … 90 (north positive), got {self.latitude}")
        if (np.abs(lon) > 180).any():
            raise ValueError(f"longitude must lie in -180 … 180 (east positive), got {self.longitude}")

    def describe(self) -> str:
        lat, lon = float(self.latitude), float(self.longitude)
        return f"{abs(lat):.3f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.3f}° {'E' if lon >= 0 else 'W'}"

    def as_dict(self) -> dict:
        return {"latitude": float(self.latitude), "longitude": float(self.longitude)}


# The Max Planck Institute's roof in Jena, where the Jena record was measured: what a
# file without a stated location, and a box without one, are taken to be.
JENA = Location(50.9110, 11.5675)


def _days(times: np.ndarray) -> np.ndarray:
    return times.astype("datetime64[s]").astype(np.int64).astype(np.float64) / _DAY


def solar_hour_angle(times: np.ndarray, longitude) -> np.ndarray:
    """Radians, 0 at local solar noon: the UTC clock shifted by the longitude (15° an hour)."""
    day_fraction = (_days(times) + np.asarray(longitude, float) / 360.0) % 1.0
    return 2 * np.pi * (day_fraction - 0.5)


def declination(times: np.ndarray) -> np.ndarray:
    """The sun's declination in radians (north positive)."""
    year_angle = 2 * np.pi * ((_days(times) - _EQUINOX_DAY) / _YEAR_DAYS)
    return np.arcsin(np.sin(_OBLIQUITY) * np.sin(year_angle))


def sun_elevation_sine(times: np.ndarray, location: Location) -> np.ndarray:
    """sin(elevation of the sun): negative at night, 1 with the sun overhead."""
    lat = np.deg2rad(np.asarray(location.latitude, float))
    dec = declination(times)
    return np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(solar_hour_angle(times, location.longitude))


def daylight(times: np.ndarray, latitude) -> np.ndarray:
    """The fraction of the day the sun is up (0 polar night … 1 midnight sun)."""
    lat = np.deg2rad(np.asarray(latitude, float))
    cos_half_day = np.clip(-np.tan(lat) * np.tan(declination(times)), -1.0, 1.0)
    return np.arccos(cos_half_day) / np.pi


def daylight_trend(times: np.ndarray, latitude) -> np.ndarray:
    """Change of ``daylight`` per 30 days: positive while days lengthen (spring, wherever)."""
    month = np.timedelta64(15 * 86400, "s")
    t = times.astype("datetime64[s]")
    return daylight(t + month, latitude) - daylight(t - month, latitude)
