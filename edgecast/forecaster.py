"""The forecaster: a verified bundle in a TFLite runtime, and the naive fallback.

The daemon hands over raw hourly channel values; everything model-specific (which
features, which statistics) comes from the bundle's schema via edgecast.features, the
same code training used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import band
from .band import MEDIAN
from .bundle import Bundle, BundleError, read_bundle
from .features import compute_columns, needs_location, normalise
from .runtime import Runner, RuntimeUnavailable
from .schema import CHANNELS, WINDOW_STEPS

BUNDLED = Path(__file__).resolve().parent / "models"
# compact_lstm_anyroof (+ its curve): T, p, rh, wind speed and the sun at the box's location
DEFAULT_BUNDLE = BUNDLED / "default.tflite"
# Also shipped: "bme280" (compact_lstm_anyroof_bme280: pressure, temperature, humidity, no
# wind) and "jena" (compact_lstm: the Jena-only recipe, best at the Jena station itself).
# A bare name selects a bundled model: `[model] path = "bme280"`.


class ModelCannotServe(Exception):
    """The model gave no usable forecast this hour; str(exc) is the reason."""


class Forecaster:
    quantiles: list[float] | None = None  # levels of a band bundle (set from the bundle), else None

    def __init__(self, bundle: Bundle, runtime: str = "auto"):
        self.bundle = bundle
        self.schema = bundle.schema
        try:
            self.runner = Runner(bundle.model_bytes, runtime, quantiles=bundle.quantiles)
        except RuntimeUnavailable as exc:
            raise BundleError(str(exc)) from None
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{bundle.path.name}: the runtime cannot load it ({exc})") from None
        expected = (1, self.schema.window_steps, self.schema.n_features)
        if self.runner.input_shape != expected:
            raise BundleError(f"{bundle.path.name}: model input {self.runner.input_shape} does not fit "
                              f"its schema {expected}")
        self.horizons = bundle.horizons
        self.quantiles = bundle.quantiles
        if self.runner.outputs != len(self.horizons):
            raise BundleError(f"{bundle.path.name}: the model has {self.runner.outputs} outputs, its metadata "
                              f"names {len(self.horizons)} horizons")
        self.identity = {**bundle.identity, "runtime": f"{self.runner.runtime} {self.runner.version}"}

    def describe(self) -> str:
        """One line for logs and `edgecast run --check`."""
        m = self.identity
        weights = "float32" if m.get("quantization") in (None, "none") else m["quantization"]
        hours = "+1 … +24 h" if len(self.horizons) > 1 else "+24 h only"
        if self.quantiles:
            hours += ", quantiles " + "/".join(f"{q:g}" for q in self.quantiles)
        return (f"{m.get('kind')} ({hours}, {m.get('graph_form')} graph, {weights} weights, sha256 {m.get('sha256')}, "
                f"{m['runtime']}, {self.bundle.path.name})")

    def on_layout(self, protocol_name: str, series, quantiles: bool = False):
        """(layout, starts -> (n, outputs) °C): this bundle over a protocol's windows of
        ``series`` (edgecast.protocol), as evaluate, the plots and the frost figures read it;
        with ``quantiles`` (a band bundle) starts -> (n, H, Q) °C."""
        from . import protocol
        from .features import layout_columns, required_channels
        layout = protocol.layout(protocol_name, series, required_channels(self.schema.features))
        columns = layout_columns(self.schema, layout)
        predict = self.runner.predict_quantile_curves if quantiles else self.runner.predict_curves
        return layout, lambda starts: predict(layout.windows(columns, starts))

    def _run(self, predict, hourly_values: np.ndarray, hourly_times: np.ndarray, location) -> np.ndarray:
        """``predict(normalised window)`` on the daemon's hourly window, or ModelCannotServe."""
        if hourly_values.shape != (WINDOW_STEPS, len(CHANNELS)) or not np.isfinite(hourly_values).all():
            raise ModelCannotServe("window is not 120 complete hours")
        if location is None and needs_location(self.schema.features):
            raise ModelCannotServe("the model reads the sun's position: the box's location is not known")
        window = normalise(self.schema, compute_columns(self.schema.features, hourly_values, hourly_times,
                                                        location))
        try:
            values = predict(window)
        except (ValueError, RuntimeError) as exc:
            raise ModelCannotServe(f"interpreter error: {exc}") from None
        if not np.isfinite(values).all():
            raise ModelCannotServe(f"model output is not finite ({values[~np.isfinite(values)][0]})")
        return values

    def forecast(self, hourly_values: np.ndarray, hourly_times: np.ndarray, location=None) -> np.ndarray:
        """°C at each of ``self.horizons`` (the last is +24 h) after the window's last hour:
        the point forecast (a band bundle's median). ``location`` (edgecast.solar.Location):
        where the box stands; a bundle whose schema reads the sun's features
        (features.needs_location) cannot serve without it."""
        if self.quantiles is not None:  # the same checks as the band, crossing included
            return self.forecast_quantiles(hourly_values, hourly_times, location)[:, self.quantiles.index(MEDIAN)]
        return self._run(lambda w: self.runner.predict_curve_one(w), hourly_values, hourly_times, location)

    def forecast_quantiles(self, hourly_values: np.ndarray, hourly_times: np.ndarray, location=None) -> np.ndarray:
        """(H, Q) °C: for each horizon the quantiles at ``self.quantiles`` (a band bundle
        only). Quantiles that cross (a broken model) are refused like a non-finite output."""
        if self.quantiles is None:
            raise ModelCannotServe(f"{self.bundle.path.name} forecasts no band (a point bundle)")
        values = self._run(lambda w: self.runner.predict_quantiles_one(w), hourly_values, hourly_times, location)
        if band.crossing(values):
            raise ModelCannotServe("model quantiles cross (a lower quantile above a higher one)")
        return values


def bundle_path(path: str | Path | None) -> Path:
    """A bundle file, a bundled model's name ("default", "bme280", "jena"), or None for the default."""
    if not path:
        return DEFAULT_BUNDLE
    if "/" not in str(path) and not str(path).endswith(".tflite") and (BUNDLED / f"{path}.tflite").exists():
        return BUNDLED / f"{path}.tflite"
    return Path(path)


def load_forecaster(path: str | Path | None = None, runtime: str = "auto") -> Forecaster:
    """Load and verify a bundle (default: the one shipped in the package)."""
    return Forecaster(read_bundle(bundle_path(path)), runtime)
