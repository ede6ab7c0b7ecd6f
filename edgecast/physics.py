"""Derive the Jena station's humidity and pressure channels from p, T and rh.

A BME280-class box measures only pressure, temperature and relative humidity; the
other eight thermodynamic channels of the Jena file are functions of those three.
The formulas are the ones the Max Planck Institute's roof station uses (Magnus-type
saturation vapour pressure over water with 6.1078 hPa, 17.08085, 234.175 °C), checked
against every valid row of the 2020 file in tests/daemon/test_physics.py.

One implementation serves both sides: the daemon derives a reading's missing channels
(``fill_missing``), and the file loader derives the channels a file lacks (the 2009–2016
hourly copy has six) with ``derive`` on whole columns — the formulas accept floats and
NumPy arrays alike.
"""

from __future__ import annotations

import numpy as np

from .schema import CHANNEL_INDEX

P, T, RH = (CHANNEL_INDEX[n] for n in ("p (mbar)", "T (degC)", "rh (%)"))
DERIVED = ("Tpot (K)", "Tdew (degC)", "VPmax (mbar)", "VPact (mbar)", "VPdef (mbar)",
           "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)")
DERIVED_INDEX = tuple(CHANNEL_INDEX[n] for n in DERIVED)

_A, _B, _C = 6.1078, 17.08085, 234.175  # Magnus: E = A·exp(B·t / (C + t)), hPa, °C
_KELVIN = 273.15
_KAPPA = 0.286  # R/cp of dry air, potential temperature exponent
_EPSILON = 0.622  # Rd/Rv
_RD, _RV = 287.058, 461.495  # J/(kg·K), dry air and water vapour


def derive(p, t, rh) -> dict:
    """The eight derived channels (Jena units) from p (hPa), T (°C), rh (%): floats or arrays."""
    vp_max = _A * np.exp(_B * t / (_C + t))
    vp_act = rh / 100.0 * vp_max
    # Dew point: invert Magnus at the actual vapour pressure; rh = 0 has none, so clamp
    # to the lowest value the schema allows rather than -inf.
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(np.where(vp_act > 0, vp_act, _A) / _A)
    t_dew = np.where(vp_act > 0, _C * x / (_B - x), -80.0)
    if np.ndim(t_dew) == 0:
        t_dew = float(t_dew)
    t_k = t + _KELVIN
    return {
        "Tpot (K)": t_k * (1000.0 / p) ** _KAPPA,
        "Tdew (degC)": t_dew,
        "VPmax (mbar)": vp_max,
        "VPact (mbar)": vp_act,
        "VPdef (mbar)": vp_max - vp_act,
        "sh (g/kg)": 1000.0 * _EPSILON * vp_act / (p - (1.0 - _EPSILON) * vp_act),
        "H2OC (mmol/mol)": 1000.0 * vp_act / p,
        # moist air = dry part + vapour part (ideal gases), kg/m³ -> g/m³
        "rho (g/m**3)": 1000.0 * ((p - vp_act) * 100.0 / (_RD * t_k) + vp_act * 100.0 / (_RV * t_k)),
    }


def fill_missing(values: dict[int, float]) -> list[str]:
    """Add derivable channels that a reading lacks (in place); return their names.

    Measured values always win: only absent channels are derived, and only when
    p, T and rh are all present.
    """
    if not all(i in values for i in (P, T, RH)):
        return []
    missing = [(name, i) for name, i in zip(DERIVED, DERIVED_INDEX) if i not in values]
    if not missing:
        return []
    derived = derive(values[P], values[T], values[RH])
    for name, i in missing:
        values[i] = float(derived[name])
    return [name for name, _ in missing]
