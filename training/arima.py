"""Step 3 of the story: the classical baseline — a seasonal ARIMA on the hourly temperature.

Fitted ONCE (maximum likelihood) on the train part's hourly temperature, then run as a
Kalman filter with those fixed parameters through the whole file. The filter is causal,
so the state after hour k only uses data up to hour k; the 24-step forecast from every
hour is then one matrix product: y(k+24 | k) = d + Z (T^23 a(k+1|k) + sum_j T^j c).
That makes the whole val+test part a matter of seconds instead of one re-fit per window.

Phases: a protocol window starts at every 10-minute row, and its hourly steps are rows
s, s+6, …, so its hours lie on one of 6 phases (row mod 6). Each phase is its own hourly
series (rows p, p+6, …), filtered with the same parameters; a window with last input
row L is forecast from hour (L - p) / 6 of phase p = L mod 6.

Inputs are the repaired values (a -9999 would wreck the filter); the MAE is measured
against the raw temperature by edgecast.protocol.evaluate, like every other model.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from edgecast import protocol
from edgecast.schema import HORIZON_HOURS, TARGET_INDEX

DESCRIPTION = "seasonal ARIMA on the hourly temperature (statsmodels), fitted once, then Kalman-filtered forward"
ORDER = (2, 0, 1)  # AR(2), MA(1) on …
SEASONAL_ORDER = (0, 1, 1, 24)  # … the day-over-day difference: a learned correction to "same hour yesterday"


def _keep_predicted_state() -> int:
    from statsmodels.tsa.statespace import kalman_filter as kf
    return (kf.MEMORY_NO_FORECAST_COV | kf.MEMORY_NO_FILTERED | kf.MEMORY_NO_PREDICTED_COV
            | kf.MEMORY_NO_SMOOTHING | kf.MEMORY_NO_STD_FORECAST | kf.MEMORY_NO_GAIN)


def _model(y: np.ndarray, order, seasonal_order):
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    return SARIMAX(y, order=tuple(order), seasonal_order=tuple(seasonal_order), trend="n")


def fit(temperature: np.ndarray, train_end: int, rows_per_step: int, order=ORDER,
        seasonal_order=SEASONAL_ORDER) -> dict:
    """Fit on the hourly (every ``rows_per_step``-th row) temperature of rows [0, train_end)."""
    y = temperature[0:train_end:rows_per_step]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the fit is checked by its MAE
        result = _model(y, order, seasonal_order).fit(disp=False)
    return {"order": list(order), "seasonal_order": list(seasonal_order),
            "params": [float(p) for p in result.params], "param_names": list(result.model.param_names),
            "fit_seconds": round(time.perf_counter() - t0, 1), "aic": float(result.aic),
            "train_hours": int(len(y))}


def _forecast_every_hour(y: np.ndarray, fitted: dict, horizon: int) -> np.ndarray:
    """f[k] = forecast of y[k + horizon] from data y[0..k], for every hour k."""
    model = _model(y, fitted["order"], fitted["seasonal_order"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # keep only the predicted states: storing the covariances costs 5x the time
        fr = model.filter(np.asarray(fitted["params"]), conserve_memory=_keep_predicted_state()).filter_results
    Z, T = fr.design[:, :, 0], fr.transition[:, :, 0]
    c, d = fr.state_intercept[:, 0], fr.obs_intercept[:, 0]
    Tpow = np.linalg.matrix_power(T, horizon - 1)
    drift = sum((np.linalg.matrix_power(T, j) @ c for j in range(horizon - 1)), np.zeros_like(c))
    a_next = fr.predicted_state[:, 1:]  # a(k+1 | k) for k = 0 … n-1
    return (Z @ (Tpow @ a_next + drift[:, None]) + d[:, None])[0]


def predictor(layout: protocol.Layout, fitted: dict):
    """``predict(starts) -> °C`` for edgecast.protocol.evaluate."""
    rps = layout.rows_per_step
    temperature = layout.clean[:, TARGET_INDEX]
    per_phase = [_forecast_every_hour(temperature[p::rps], fitted, HORIZON_HOURS) for p in range(rps)]

    def predict(starts: np.ndarray) -> np.ndarray:
        last = layout.last_step_rows(starts)
        phase, hour = last % rps, last // rps
        out = np.empty(len(starts))
        for p in range(rps):
            sel = phase == p
            out[sel] = per_phase[p][hour[sel]]
        return out
    return predict


def run(layout: protocol.Layout, fitted: dict | None = None) -> tuple[dict, dict]:
    """Fit on the train rows (unless ``fitted`` is given) and evaluate: (fitted, result).

    A row protocol only: the Kalman filter runs over a gap-free hourly series.
    """
    if layout.protocol not in protocol.ROW_PROTOCOLS:
        raise ValueError(f"arima runs on the row protocols ({', '.join(protocol.ROW_PROTOCOLS)}): its filter "
                         f"needs a gap-free series, and the {layout.protocol} grid has gaps between files")
    if fitted is None:
        fitted = fit(layout.clean[:, TARGET_INDEX], layout.train_rows.stop, layout.rows_per_step)
    t0 = time.perf_counter()
    result = protocol.evaluate(layout, predictor(layout, fitted))
    result["filter_seconds"] = round(time.perf_counter() - t0, 1)
    return fitted, result
