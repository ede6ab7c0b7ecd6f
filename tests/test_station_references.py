"""The site-free features of training/scripts/station_references.py, on a short real slice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgecast import protocol
from edgecast.solar import Location
from training.scripts import station_references as refs

from .conftest import DATA_DIR

STATION = "inmet_a701_sao_paulo"
HOURS = 2000


@pytest.fixture(scope="module")
def slice_layout():
    path = DATA_DIR / "stations" / f"{STATION}.csv.xz"
    if not path.exists():
        pytest.fail(f"the real station file is required at {path} (../shared/data beside the clone)")
    from edgecast.data import load
    series = load(path)
    return protocol.layout("whole", series.slice(0, HOURS), refs.CHANNELS)


def test_shapes_and_no_nan_where_inputs_complete(slice_layout):
    layout = slice_layout
    starts = layout.starts("all")
    assert len(starts) > 1000
    x = refs.layout_features(layout, starts)
    assert x.shape == (len(starts), len(refs.FEATURES))
    assert refs.layout_features(layout, starts[:5], with_level=True).shape == (5, len(refs.RIDGE_FEATURES))
    # windows whose 120 hours hold every channel the features read give finite features
    rows = protocol.step_rows(starts, layout.rows_per_step)
    cols = [refs._T, refs._P, refs._RH, refs._WV]
    complete = np.isfinite(layout.clean[rows][:, :, cols]).all(axis=(1, 2))
    assert complete.sum() > 1000
    assert np.isfinite(x[complete]).all()
    # the temperature changes are what they say: T now − T 24 h before
    last = layout.last_step_rows(starts)
    t = layout.clean[:, refs._T]
    np.testing.assert_allclose(x[:, refs.FEATURES.index("dT_24h")], t[last] - t[last - 24])
    np.testing.assert_allclose(x[:, refs.FEATURES.index("dT_119h")], t[last] - t[starts])
    np.testing.assert_allclose(x[:, refs.FEATURES.index("max24_minus_T")],
                               np.max(t[last[:, None] - np.arange(24)], axis=1) - t[last])
    # no absolute temperature or pressure level among the pooled features
    assert "T" not in refs.FEATURES and "p" not in refs.FEATURES


def test_solar_features_follow_the_longitude(slice_layout):
    layout = slice_layout
    starts = layout.starts("all")[:500]
    lat = float(layout.location.latitude)
    here = refs.layout_features(dataclasses.replace(layout, location=Location(lat, 0.0)), starts)
    there = refs.layout_features(dataclasses.replace(layout, location=Location(lat, 180.0)), starts)
    cos, sin = refs.FEATURES.index("solar_hour_cos"), refs.FEATURES.index("solar_hour_sin")
    np.testing.assert_allclose(there[:, cos], -here[:, cos], atol=1e-9)  # 12 h of solar time apart
    np.testing.assert_allclose(there[:, sin], -here[:, sin], atol=1e-9)
    assert np.ptp(here[:, cos]) > 1.5  # and it turns with the hours
    # the data-driven columns do not depend on where the sun is
    data_cols = [j for j, f in enumerate(refs.FEATURES) if f not in refs.SITE_FEATURES and f != "noon_sun"]
    np.testing.assert_array_equal(here[:, data_cols], there[:, data_cols])


def test_ridge_split_rules():
    t0 = np.datetime64("2025-01-01T00", "s")
    one_year = t0 + np.arange(0, 364 * 24) * np.timedelta64(3600, "s")
    fit, rule = refs.ridge_split(one_year)
    assert rule == "first 6 months" and 0.45 < fit.mean() < 0.55
    two_years = t0 + np.arange(0, 730 * 24) * np.timedelta64(3600, "s")
    fit, rule = refs.ridge_split(two_years)
    assert rule == "first year" and fit[:365 * 24].all() and not fit[365 * 24:].any()


def test_ridge_does_not_extrapolate_beyond_its_fit_range():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (500, 2))
    y = 3 * x[:, 0] - x[:, 1] + rng.normal(0, 0.01, 500)
    model, alpha, tried = refs.fit_ridge(x, y)
    assert alpha in refs.RIDGE_ALPHAS and len(tried) == len(refs.RIDGE_ALPHAS)
    edge, beyond = model.predict(np.array([[1.0, 0.0], [5.0, -4.0]]))
    assert abs(edge - 3) < 0.1 and beyond == pytest.approx(edge)
    assert np.isfinite(model.predict(np.array([[np.nan, 0.5]]))).all()  # NaN -> the fit mean
