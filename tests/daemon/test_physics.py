"""Derived channels against the real 2020 rows, where the station recorded both."""

import numpy as np
import pytest

from edgecast.physics import DERIVED, derive, fill_missing
from edgecast.data.clean import invalid_mask
from edgecast.schema import CHANNEL_INDEX

# Measured max |error| on every valid 2020 row (52,695 of 52,696): Tpot 0.020 K,
# Tdew 0.010 °C, VPmax/VPact 0.0085, VPdef 0.0068 hPa, sh 0.0069 g/kg,
# H2OC 0.0085 mmol/mol, rho 0.087 g/m³. The file rounds inputs and outputs to 0.01,
# so most of that is rounding; the limits below leave a small margin.
MAX_ERROR = {"Tpot (K)": 0.025, "Tdew (degC)": 0.012, "VPmax (mbar)": 0.01, "VPact (mbar)": 0.01,
             "VPdef (mbar)": 0.01, "sh (g/kg)": 0.01, "H2OC (mmol/mol)": 0.01, "rho (g/m**3)": 0.1}


def test_derived_channels_match_the_station(series_2020):
    values = series_2020.values[~invalid_mask(series_2020.values).any(axis=1)]
    p, t, rh = (values[:, CHANNEL_INDEX[n]] for n in ("p (mbar)", "T (degC)", "rh (%)"))
    derived = [derive(*row) for row in zip(p, t, rh)]
    errors = {}
    for name in DERIVED:
        ours = np.array([d[name] for d in derived])
        errors[name] = float(np.max(np.abs(ours - values[:, CHANNEL_INDEX[name]])))
    print("max abs error per channel over", len(values), "rows:", {k: round(v, 4) for k, v in errors.items()})
    for name, limit in MAX_ERROR.items():
        assert errors[name] <= limit, (name, errors[name])


def test_fill_missing_keeps_measured_values_and_needs_p_t_rh():
    i = CHANNEL_INDEX
    values = {i["p (mbar)"]: 1000.0, i["T (degC)"]: 10.0, i["rh (%)"]: 50.0, i["Tdew (degC)"]: -1.0}
    added = fill_missing(values)
    assert "Tdew (degC)" not in added and values[i["Tdew (degC)"]] == -1.0
    assert len(added) == 7 and values[i["VPmax (mbar)"]] == pytest.approx(12.294, abs=0.001)
    assert fill_missing({i["T (degC)"]: 10.0}) == []
    dry = {i["p (mbar)"]: 1000.0, i["T (degC)"]: 10.0, i["rh (%)"]: 0.0}
    fill_missing(dry)
    assert all(np.isfinite(v) for v in dry.values())
