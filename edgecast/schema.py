"""The feature schema: the single source of truth shared by training and serving.

Everything that decides what a model sees is defined here: the channels and their
order, units, physical limits, how a 10-minute stream becomes one value per hour, the
window length and the horizon. Training fits normalisation statistics with this
module and writes them into the model artifact; the daemon reads them back from the
artifact, so no statistic is ever hard-coded on the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# --- Time geometry (the reference protocol, edgecast.protocol) ---------------------------
ROW_MINUTES = 10  # the Jena station writes one row every 10 minutes
ROWS_PER_STEP = 6  # one model step per hour: every 6th row (Keras sampling_rate=6)
WINDOW_STEPS = 120  # 5 days of hourly steps in
HORIZON_HOURS = 24  # temperature 24 hours after the last input step
CURVE_HORIZONS = tuple(range(1, HORIZON_HOURS + 1))  # a curve's hours ahead: +1 … +24 h

# How a stream becomes one value per hour. The reference protocol point-samples every
# 6th row, so the hourly value for hour H is the reading stamped H:00. Live sensors do
# not report exactly on the hour, so the daemon takes the latest reading at or before
# H that is at most this old; none -> the hour is missing (see the gap policy).
HOURLY_SAMPLE_MAX_AGE_MINUTES = 30

# Station missing-value codes (the Jena files use -9999).
SENTINELS = (-9999.0, -999.0, -8888.0)


@dataclass(frozen=True)
class Channel:
    name: str  # the Jena column name, also the key in native JSON readings
    alias: str  # short name accepted in readings
    unit: str
    low: float  # physically possible range at a ground station; outside = rejected
    high: float


# The 14 channels of the Keras file, in file order. Models index channels by position.
CHANNELS: tuple[Channel, ...] = (
    Channel("p (mbar)", "p", "hPa", 800.0, 1100.0),
    Channel("T (degC)", "T", "°C", -60.0, 60.0),
    Channel("Tpot (K)", "Tpot", "K", 200.0, 350.0),
    Channel("Tdew (degC)", "Tdew", "°C", -80.0, 50.0),
    Channel("rh (%)", "rh", "%", 0.0, 100.0),
    Channel("VPmax (mbar)", "VPmax", "hPa", 0.0, 200.0),
    Channel("VPact (mbar)", "VPact", "hPa", 0.0, 200.0),
    Channel("VPdef (mbar)", "VPdef", "hPa", 0.0, 200.0),
    Channel("sh (g/kg)", "sh", "g/kg", 0.0, 100.0),
    Channel("H2OC (mmol/mol)", "H2OC", "mmol/mol", 0.0, 150.0),
    Channel("rho (g/m**3)", "rho", "g/m³", 900.0, 1500.0),
    Channel("wv (m/s)", "wv", "m/s", 0.0, 75.0),
    Channel("max. wv (m/s)", "max_wv", "m/s", 0.0, 100.0),
    Channel("wd (deg)", "wd", "deg", 0.0, 360.0),
)
CHANNEL_NAMES: tuple[str, ...] = tuple(c.name for c in CHANNELS)
CHANNEL_INDEX: dict[str, int] = {c.name: i for i, c in enumerate(CHANNELS)}
ALIASES: dict[str, str] = {c.alias: c.name for c in CHANNELS}
TARGET = "T (degC)"
TARGET_INDEX = CHANNEL_INDEX[TARGET]

# Features computed from the timestamp and the place (edgecast.solar): they mean the same
# thing on every roof, unlike the UTC clock and the calendar (hour_*, doy_*), which were
# Jena's and are kept for the models trained on them.
SITE_FEATURES = ("solar_hour_sin", "solar_hour_cos", "sun_elevation", "daylight", "daylight_trend")
# Features computed from the raw channels and the timestamp (see edgecast.features).
DERIVED_FEATURES = ("wind_x", "wind_y", "max_wind_x", "max_wind_y",
                    "hour_sin", "hour_cos", "doy_sin", "doy_cos", *SITE_FEATURES)


@dataclass
class FeatureSchema:
    """What a model's input window is made of; travels inside every model artifact.

    ``features`` lists the model's input columns in order: raw channel names from
    CHANNELS and/or names from DERIVED_FEATURES. ``mean``/``std`` normalise each
    column; they are fitted on the training part only.
    """

    features: list[str]
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    window_steps: int = WINDOW_STEPS
    step_minutes: int = ROW_MINUTES * ROWS_PER_STEP
    horizon_hours: int = HORIZON_HOURS
    target: str = TARGET
    hourly_rule: str = (
        f"point sample: the latest reading at or before the top of the hour, "
        f"at most {HOURLY_SAMPLE_MAX_AGE_MINUTES} min old"
    )

    def __post_init__(self) -> None:
        unknown = [f for f in self.features if f not in CHANNEL_INDEX and f not in DERIVED_FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {list(CHANNEL_NAMES + DERIVED_FEATURES)}")
        if self.mean and (len(self.mean) != len(self.features) or len(self.std) != len(self.features)):
            raise ValueError("mean/std must have one entry per feature")

    @property
    def n_features(self) -> int:
        return len(self.features)

    def to_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": [float(m) for m in self.mean],
            "std": [float(s) for s in self.std],
            "window_steps": self.window_steps,
            "step_minutes": self.step_minutes,
            "horizon_hours": self.horizon_hours,
            "target": self.target,
            "hourly_rule": self.hourly_rule,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSchema":
        """A schema read from a file (a bundle, a training run's metadata): every field's
        type and shape is checked here, so a malformed one is refused with the field's
        name rather than raising later, in the middle of a forecast."""
        _check_fields(d)
        schema = cls(**d)
        if (schema.window_steps, schema.step_minutes, schema.horizon_hours, schema.target) != (
            WINDOW_STEPS, ROW_MINUTES * ROWS_PER_STEP, HORIZON_HOURS, TARGET
        ):
            raise ValueError(
                "schema geometry does not match this edgecast "
                f"(window {schema.window_steps}×{schema.step_minutes} min, horizon {schema.horizon_hours} h, "
                f"target {schema.target!r}; expected {WINDOW_STEPS}×{ROW_MINUTES * ROWS_PER_STEP} min, "
                f"{HORIZON_HOURS} h, {TARGET!r})"
            )
        return schema


def _finite_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_statistics(d: dict, n_features: int) -> None:
    for key in ("mean", "std"):
        values = d.get(key, [])
        if not isinstance(values, list):
            raise ValueError(f"schema.{key} must be a list of numbers, not a {type(values).__name__}")
        if values and len(values) != n_features:
            raise ValueError(f"schema.{key} has {len(values)} entries for {n_features} features")
        for i, x in enumerate(values):
            if not _finite_number(x) or (key == "std" and x <= 0):
                wanted = "a positive finite number" if key == "std" else "a finite number"
                raise ValueError(f"schema.{key}[{i}] is {str(x)[:40]!r}, not {wanted}")
    if bool(d.get("mean")) != bool(d.get("std")):
        raise ValueError("schema.mean and schema.std must both be given (or neither)")


def _check_fields(d) -> None:
    """ValueError naming the first field of a schema dict that is not of its type and shape."""
    if not isinstance(d, dict):
        raise ValueError(f"schema is a {type(d).__name__}, not an object")
    unknown = sorted(set(d) - set(FeatureSchema.__dataclass_fields__))
    if unknown:
        raise ValueError(f"schema has unknown field(s) {unknown[:5]}")
    features = d.get("features")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise ValueError(f"schema.features must be a non-empty list of names, not {str(features)[:60]}")
    _check_statistics(d, len(features))
    for key in ("window_steps", "step_minutes", "horizon_hours"):
        if key in d and (not isinstance(d[key], int) or isinstance(d[key], bool)):
            raise ValueError(f"schema.{key} must be a whole number, not {str(d[key])[:40]!r}")
    for key in ("target", "hourly_rule"):
        if key in d and not isinstance(d[key], str):
            raise ValueError(f"schema.{key} must be text, not {str(d[key])[:40]!r}")
