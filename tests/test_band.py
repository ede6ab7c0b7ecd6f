"""The band: per-hour quantiles -> CDF -> frost probability (edgecast.band), and a band
bundle's (1, H, Q) output through the real LiteRT runtime and the Forecaster."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest

from edgecast import band
from edgecast.bundle import BundleError, read_bundle
from edgecast.forecaster import DEFAULT_BUNDLE, ModelCannotServe, load_forecaster
from edgecast.solar import JENA

LEVELS = [0.1, 0.5, 0.9]


def test_cdf_passes_through_the_quantiles_linear_between_normal_beyond():
    q = np.array([[0.0, 1.0, 3.0]])  # asymmetric: a longer warm side
    at = band.cdf(np.repeat(q, 3, axis=0), LEVELS, np.array([0.0, 1.0, 3.0]))
    np.testing.assert_allclose(at, LEVELS, atol=1e-12)
    assert band.cdf(q, LEVELS, 0.5)[0] == pytest.approx(0.3)  # halfway between knots: halfway in level
    assert band.cdf(q, LEVELS, 2.0)[0] == pytest.approx(0.7)
    # below the 10 % quantile a normal tail centred on the median, sigma = 1 / 1.2816 on the cold side
    assert band.cdf(q, LEVELS, -1.0)[0] == pytest.approx(0.5 * (1 + math.erf(-2 * 1.2815516 / 2 ** 0.5)), abs=1e-6)
    # the warm side is twice as wide: the same z needs twice the distance
    assert band.cdf(q, LEVELS, 5.0)[0] == pytest.approx(1 - band.cdf(q, LEVELS, -1.0)[0], abs=1e-6)
    x = np.linspace(-10, 10, 401)
    f = band.cdf(np.repeat(q, len(x), axis=0), LEVELS, x)
    assert (np.diff(f) >= 0).all() and f[0] < 1e-6 and f[-1] > 1 - 1e-6  # a CDF: monotone, 0 … 1


def test_a_zero_width_band_is_a_step_not_a_division_by_zero():
    q = np.array([[2.0, 2.0, 2.0]])
    assert band.cdf(q, LEVELS, 1.99)[0] < 1e-6 and band.cdf(q, LEVELS, 2.01)[0] > 1 - 1e-6


def test_frost_probability_between_the_correlated_and_independent_bounds():
    # three hours: the middle one is the coldest
    q = np.array([[2.0, 4.0, 6.0], [-1.0, 1.0, 3.0], [1.0, 3.0, 5.0]])
    hourly = band.cdf(q, LEVELS, 0.0)
    assert band.frost_probability(q, LEVELS, 0.0, "max", ab=None) == pytest.approx(hourly.max())
    assert band.frost_probability(q, LEVELS, 0.0, "independent", ab=None) == pytest.approx(1 - np.prod(1 - hourly))
    assert band.frost_probability(q, LEVELS, 0.0) == band.frost_probability(q, LEVELS, 0.0, band.FROST_COMBINE)
    assert band.frost_probability(q, LEVELS, -20.0) < 1e-6 and band.frost_probability(q, LEVELS, 20.0) > 1 - 1e-6
    with pytest.raises(ValueError, match="unknown rule"):
        band.frost_probability(q, LEVELS, 0.0, "mean")


def test_recalibration_is_bolder_keeps_order_and_the_ends():
    p = np.linspace(0.0, 1.0, 101)
    r = band.recalibrate(p)
    assert (np.diff(r) > 0).all() and r[0] < 1e-9 and r[-1] > 1 - 1e-9  # order kept, 0 and 1 stay
    a, b = band.FROST_RECALIBRATION
    assert a > 1  # the validation parts' "max" probability was too timid: bolder
    assert band.recalibrate(0.15) < 0.15 and band.recalibrate(0.65) > 0.65
    np.testing.assert_array_equal(band.recalibrate(p, None), p)
    q = np.array([[-1.0, 1.0, 3.0]])
    raw = band.frost_probability(q, LEVELS, 0.0, ab=None)
    assert band.frost_probability(q, LEVELS, 0.0) == pytest.approx(float(band.recalibrate(raw)))


@pytest.mark.parametrize("levels, reason", [([0.1, 0.9], "median"), ([0.5, 0.1, 0.9], "ascending"),
                                            ([0.0, 0.5, 1.0], "inside"), ("abc", "numbers"), ([0.5], "two")])
def test_bad_levels_are_refused_by_name(levels, reason):
    with pytest.raises(ValueError, match=reason):
        band.check_levels(levels)


def test_crossing_is_detected():
    assert not band.crossing(np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]))
    assert band.crossing(np.array([[0.0, 1.0, 2.0], [1.0, 0.9, 1.5]]))


def test_a_point_bundle_has_no_band():
    forecaster = load_forecaster(DEFAULT_BUNDLE)
    assert read_bundle(DEFAULT_BUNDLE).quantiles is None and forecaster.quantiles is None
    with pytest.raises(ModelCannotServe, match="no band"):
        forecaster.forecast_quantiles(np.zeros((120, 14)), np.zeros(120, "datetime64[s]"), JENA)


# --- a real (1, 24, 3) graph through LiteRT: made with TensorFlow, so in the slow tier ------
tf_missing = importlib.util.find_spec("tensorflow") is None


def _band_bundle(path, column_offsets, levels=LEVELS):
    """A bundle with the shipped default's schema whose graph outputs, for each hour, the
    window's last temperature (normalised) + ``column_offsets``: (1, 24, len(offsets))."""
    import keras

    from training.export import _convert, _embed
    meta = dict(read_bundle(DEFAULT_BUNDLE).meta)
    n_features = len(meta["schema"]["features"])
    window = keras.Input((120, n_features), batch_size=1)
    last = keras.layers.Flatten()(keras.layers.Cropping1D((119, 0))(window))
    dense = keras.layers.Dense(24 * len(column_offsets))
    out = keras.layers.Reshape((24, len(column_offsets)))(dense(last))
    model = keras.Model(window, out)
    kernel = np.zeros((n_features, 24 * len(column_offsets)), np.float32)
    kernel[0, :] = 1.0
    dense.set_weights([kernel, np.tile(np.asarray(column_offsets, np.float32), 24)])
    meta.pop("sha256", None)
    meta |= {"quantiles": levels} if levels is not None else {}
    path.write_bytes(_embed(_convert(model, "none", None), meta))
    return path


def _window():
    times = np.datetime64("2020-01-01T00:00:00") + np.arange(120) * np.timedelta64(3600, "s")
    values = np.full((120, 14), 5.0)
    values[:, 0], values[:, 4], values[:, 11] = 1000.0, 80.0, 2.0  # p, rh, wind speed
    return values, times


@pytest.mark.slow
@pytest.mark.skipif(tf_missing, reason="the [train] extra is not installed")
def test_a_band_bundle_serves_its_quantiles_and_the_median_as_the_point(tmp_path):
    forecaster = load_forecaster(_band_bundle(tmp_path / "band.tflite", [-1.5, 0.0, 2.0]))
    assert forecaster.quantiles == LEVELS and forecaster.runner.output_shape == (1, 24, 3)
    assert "quantiles 0.1/0.5/0.9" in forecaster.describe()
    values, times = _window()
    q = forecaster.forecast_quantiles(values, times, JENA)
    assert q.shape == (24, 3)
    np.testing.assert_allclose(q - q[:, 1:2], np.tile([-1.5, 0.0, 2.0], (24, 1)), atol=1e-4)
    np.testing.assert_allclose(forecaster.forecast(values, times, JENA), q[:, 1])  # the point = the median
    assert 0.0 <= band.frost_probability(q, LEVELS, 0.0) <= 1.0


@pytest.mark.slow
@pytest.mark.skipif(tf_missing, reason="the [train] extra is not installed")
def test_crossing_quantiles_are_refused_and_a_mismatched_bundle_does_not_load(tmp_path):
    crossing = load_forecaster(_band_bundle(tmp_path / "crossing.tflite", [1.0, 0.0, -1.0]))
    values, times = _window()
    for method in (crossing.forecast, crossing.forecast_quantiles):
        with pytest.raises(ModelCannotServe, match="quantiles cross"):
            method(values, times, JENA)
    with pytest.raises(BundleError, match="quantile"):  # a (1, 24, 3) output without levels
        load_forecaster(_band_bundle(tmp_path / "no_levels.tflite", [-1.0, 0.0, 1.0], levels=None))
    with pytest.raises(BundleError, match="median"):  # levels the reader refuses
        read_bundle(_band_bundle(tmp_path / "bad_levels.tflite", [-1.0, 0.0, 1.0], levels=[0.1, 0.4, 0.9]))
    assert json.loads(json.dumps(read_bundle(tmp_path / "crossing.tflite").quantiles)) == LEVELS
