"""Reference models for the ``stations`` protocol: what a new roof should beat.

Per station, the MAE of the temperature 24 h after the last input hour of

1. ``naive``: the temperature now;
2. ``lgbm``: one LightGBM pooled over the ``train`` places on *site-free* features (below),
   its number of trees chosen by early stopping on the ``val`` places' windows only;
   scored on every window of every place (the train places in-sample, marked so);
3. ``ridge``: a ridge regression fitted on each place's own first year (the site-free
   features plus the absolute temperature, which is the station's own), its L2 chosen by a
   time-ordered holdout inside that year, scored on the rest of that place. Places with
   less than a year and two months of windows are fitted on their first 6 months instead
   (``ridge_fit`` says which), without the temperature level: half a year of it is one
   season's mean, and reverting towards it the next half year was worse than naive
   (Rio Branco 2.4 ×, Cuiabá 3.7 × naive). Inputs are clipped to the fit period's range.

Both predict the 24-hour change T(+24 h) − T(now) and add it to T(now).

Site-free features of a window (``FEATURES``; computed at its last input hour): the sun's
(local solar time from the longitude, sun elevation, day length and its 30-day trend and
the noon sun from the latitude — never the UTC clock or day of year, which were Jena's),
temperature changes and anomalies over the 120 input hours, pressure tendencies,
humidity, dew-point depression and wind speed. No absolute level of T or p enters the
pooled model. The window holds 120 hours, so "T 120 h ago" is its oldest hour, 119 h
before the last one.

Run: python -m training.scripts.station_references --data ../shared/data --out runs/station_references.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edgecast import protocol
from edgecast.features import compute_columns
from edgecast.physics import derive
from edgecast.schema import CHANNEL_INDEX, SITE_FEATURES, TARGET_INDEX, WINDOW_STEPS
from edgecast.solar import Location, declination

# --- the site-free features ------------------------------------------------------------------
T_LAGS = (1, 3, 6, 12, 24, 48, 72, WINDOW_STEPS - 1)  # hours before the last input hour
P_LAGS = (3, 6, 12, 24)
FEATURES = (
    *SITE_FEATURES, "noon_sun",
    *(f"dT_{h}h" for h in T_LAGS), "T_minus_mean120", "T_minus_mean24", "min24_minus_T", "max24_minus_T",
    *(f"dp_{h}h" for h in P_LAGS), "p_minus_mean120",
    "rh", "drh_24h", "dewpoint_depression", "d_dewpoint_depression_24h",
    "wv", "wv_mean24",
)
RIDGE_FEATURES = (*FEATURES, "T")  # plus the station's own temperature level
# The layout asks for the temperature only: the other channels may be missing in a
# window (LightGBM routes NaN; ridge imputes the fit period's mean), so every place keeps
# every window the naive forecast is scored on.
CHANNELS = ("T (degC)",)

_T, _P, _RH, _TDEW, _WV = (CHANNEL_INDEX[c] for c in ("T (degC)", "p (mbar)", "rh (%)", "Tdew (degC)", "wv (m/s)"))


def _trailing(x: np.ndarray, hours: int, reduce: str) -> np.ndarray:
    """Per row i: the mean/min/max of the finite values among x[i-hours+1 … i] (NaN when none,
    and before the first full span)."""
    out = np.full(len(x), np.nan)
    if len(x) < hours:
        return out
    finite = np.isfinite(x)
    if reduce == "mean":
        total = np.concatenate([[0.0], np.cumsum(np.where(finite, x, 0.0))])
        count = np.concatenate([[0], np.cumsum(finite)])
        n = count[hours:] - count[:-hours]
        with np.errstate(all="ignore"):
            out[hours - 1:] = np.where(n > 0, (total[hours:] - total[:-hours]) / np.maximum(n, 1), np.nan)
        return out
    pick = np.fmin if reduce == "min" else np.fmax  # NaN-ignoring
    acc = x[hours - 1:].copy()
    for k in range(1, hours):
        acc = pick(acc, x[hours - 1 - k:len(x) - k])
    out[hours - 1:] = acc
    return out


class _quiet:
    """Silence numpy's 'all-NaN slice' warnings (a missing channel gives NaN, as intended)."""

    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def _per_row(location: Location, rows: np.ndarray) -> Location:
    lat, lon = np.asarray(location.latitude, float), np.asarray(location.longitude, float)
    if lat.ndim == 0:
        return Location(np.full(len(rows), float(lat)), np.full(len(rows), float(lon)))
    return Location(lat[rows], lon[rows])


def feature_rows(values: np.ndarray, times: np.ndarray, location: Location, last: np.ndarray,
                 with_level: bool = False) -> np.ndarray:
    """(n, len(FEATURES)) site-free features of the windows whose last input hour is row ``last``.

    ``values``/``times``: an hourly grid (rows, 14 channels in schema order); ``location``:
    one place or one per row. ``with_level`` appends the absolute temperature (ridge).
    """
    last = np.asarray(last, dtype=np.int64)
    if len(last) and (last.min() < WINDOW_STEPS - 1 or last.max() >= len(values)):
        raise ValueError("a window's 120 input hours must lie inside the rows")
    t, p, rh, wv = (values[:, j].astype(np.float64) for j in (_T, _P, _RH, _WV))
    tdew = values[:, _TDEW].astype(np.float64)
    gap = ~np.isfinite(tdew) & np.isfinite(t) & np.isfinite(rh) & np.isfinite(p)
    if gap.any():  # Tdew is derivable from T and rh where a file did not carry it
        tdew = np.where(gap, derive(p, t, rh)["Tdew (degC)"], tdew)
    dewdep = t - tdew

    where = _per_row(location, last)
    sun = compute_columns(list(SITE_FEATURES), values[last], times[last], where)
    lat = np.deg2rad(np.asarray(where.latitude, float))
    noon = np.cos(lat - declination(times[last]))  # sine of the sun's elevation at local noon

    now = t[last]
    cols = [*sun.T, noon]
    cols += [now - t[last - h] for h in T_LAGS]
    cols += [now - _trailing(t, WINDOW_STEPS, "mean")[last], now - _trailing(t, 24, "mean")[last],
             _trailing(t, 24, "min")[last] - now, _trailing(t, 24, "max")[last] - now]
    cols += [p[last] - p[last - h] for h in P_LAGS]
    cols += [p[last] - _trailing(p, WINDOW_STEPS, "mean")[last]]
    cols += [rh[last], rh[last] - rh[last - 24], dewdep[last], dewdep[last] - dewdep[last - 24]]
    cols += [wv[last], _trailing(wv, 24, "mean")[last]]
    if with_level:
        cols.append(now)
    return np.stack(cols, 1)


def layout_features(layout: protocol.Layout, starts: np.ndarray, with_level: bool = False) -> np.ndarray:
    if layout.rows_per_step != 1:
        raise ValueError("the site-free features read an hourly grid (the grid and stations protocols)")
    return feature_rows(layout.clean, layout.times, layout.location, layout.last_step_rows(starts), with_level)


# --- the pooled LightGBM ------------------------------------------------------------------------
LGBM_PARAMS = dict(objective="huber", alpha=1.0, learning_rate=0.1, num_leaves=31, min_data_in_leaf=100,
                   feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0, num_threads=2,
                   verbose=-1, metric="l1")  # training.peers' LightGBM settings, at twice its learning rate (time)
LGBM_MAX_ROUNDS, LGBM_EARLY_STOP = 2000, 50
TRAIN_EVERY = 3  # every 3rd training window: neighbouring windows are nearly the same


def _change(layout, starts) -> np.ndarray:
    return layout.targets(starts).astype(np.float64) - layout.clean[layout.last_step_rows(starts), TARGET_INDEX]


def fit_lgbm(layout, x: dict, y: dict, seed: int, log):
    import lightgbm as lgb
    train = lgb.Dataset(x["train"], y["train"], feature_name=list(FEATURES), free_raw_data=False)
    val = lgb.Dataset(x["val"], y["val"], reference=train)
    t0 = time.perf_counter()
    booster = lgb.train(LGBM_PARAMS | {"seed": seed}, train, LGBM_MAX_ROUNDS, valid_sets=[val],
                        callbacks=[lgb.early_stopping(LGBM_EARLY_STOP, verbose=False),
                                   lgb.log_evaluation(200)])
    log(f"lightgbm: {booster.best_iteration} trees chosen on {len(y['val'])} val windows "
        f"(val L1 of the change {booster.best_score['valid_0']['l1']:.4f}) in {time.perf_counter() - t0:.0f} s")
    return booster


# --- the per-place ridge --------------------------------------------------------------------------
RIDGE_ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # L2 per window, on standardised features
HOLDOUT = 0.2  # the last fifth of the fit period (by target time) chooses alpha
YEAR = np.timedelta64(365, "D")
HALF_YEAR = np.timedelta64(182, "D")
MIN_SCORED = np.timedelta64(60, "D")  # less rest than this after a first year -> fit on 6 months


class Ridge:
    """Least squares with an L2 on standardised features; NaN -> the fit period's mean, and
    inputs clipped to the fit period's range (a straight line is not extrapolated)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, alpha: float):
        with _quiet():
            self.mean = np.nanmean(x, 0)
            self.std = np.nanstd(x, 0)
            self.low, self.high = np.nanmin(x, 0), np.nanmax(x, 0)
        self.mean = np.where(np.isfinite(self.mean), self.mean, 0.0)
        self.std = np.where(np.isfinite(self.std) & (self.std > 1e-9), self.std, 1.0)
        z = self._design(x)
        penalty = alpha * len(z) * np.eye(z.shape[1])
        penalty[-1, -1] = 0.0  # the intercept is not shrunk
        self.coef = np.linalg.solve(z.T @ z + penalty, z.T @ y)

    def _design(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            x = np.clip(x, np.where(np.isfinite(self.low), self.low, -np.inf),
                        np.where(np.isfinite(self.high), self.high, np.inf))
        z = np.nan_to_num((x - self.mean) / self.std, nan=0.0)
        return np.hstack([z, np.ones((len(z), 1))])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._design(x) @ self.coef


def fit_ridge(x: np.ndarray, y: np.ndarray) -> tuple[Ridge, float, dict]:
    """Alpha by a time-ordered holdout (rows are in time order), then refit on all rows."""
    cut = int(len(y) * (1 - HOLDOUT))
    tried = {a: protocol.mae(Ridge(x[:cut], y[:cut], a).predict(x[cut:]), y[cut:]) for a in RIDGE_ALPHAS}
    alpha = min(tried, key=tried.get)
    return Ridge(x, y, alpha), alpha, {str(a): round(m, 4) for a, m in tried.items()}


def ridge_split(target_times: np.ndarray) -> tuple[np.ndarray, str]:
    """(fit mask, rule): the first year of targets, or the first 6 months when too short."""
    first, last = target_times.min(), target_times.max()
    if last - (first + YEAR) >= MIN_SCORED:
        return target_times < first + YEAR, "first year"
    return target_times < first + HALF_YEAR, "first 6 months"


# --- the run ------------------------------------------------------------------------------------
def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.median(values)), 4) if values else None


def run(data_dir: Path, seed: int = 0, log=print) -> dict:
    from edgecast.places import ROLES, load_places, role_of
    t0 = time.perf_counter()
    log(f"loading places from {data_dir}")
    places = load_places(data_dir, log=log)
    layout = protocol.layout("stations", places, CHANNELS)
    log(f"layout: {len(layout.times)} rows; windows " + ", ".join(f"{k} {len(v)}" for k, v in layout.parts.items())
        + f" ({time.perf_counter() - t0:.0f} s)")

    every = np.sort(np.concatenate(list(layout.parts.values())))
    station = layout.station[layout.last_step_rows(every)]
    x_all = layout_features(layout, every, with_level=True)  # the level column is ridge's only
    y_all = _change(layout, every)
    actual = layout.targets(every).astype(np.float64)
    now = layout.clean[layout.last_step_rows(every), TARGET_INDEX]
    naive = layout.naive(every).astype(np.float64)
    times = layout.target_times(every)
    log(f"features: {x_all.shape[0]} windows × {x_all.shape[1] - 1} site-free (+ T level for ridge), "
        f"{np.isnan(x_all).mean() * 100:.2f} % NaN ({time.perf_counter() - t0:.0f} s)")

    role = np.array([role_of(s) for s in station])
    train_sel = np.flatnonzero(role == "train")[::TRAIN_EVERY]
    val_sel = np.flatnonzero(role == "val")
    booster = fit_lgbm(layout, {"train": x_all[train_sel, :-1], "val": x_all[val_sel, :-1]},
                       {"train": y_all[train_sel], "val": y_all[val_sel]}, seed, log)
    lgbm = now + booster.predict(x_all[:, :-1], num_iteration=booster.best_iteration)
    log(f"lightgbm predicted {len(lgbm)} windows ({time.perf_counter() - t0:.0f} s)")

    stations = {}
    for name in (s for ids in ROLES.values() for s in ids):
        sel = np.flatnonzero(station == name)
        if not len(sel):
            log(f"  {name}: no window")
            continue
        fit, rule = ridge_split(times[sel])
        fit_rows, score_rows = sel[fit], sel[~fit]
        # the level is the station's own, but half a year of it is one season's mean: the
        # 6-month fits leave it out (with it, Jan–Jun fits reverted Jul–Dec towards summer)
        cols = slice(None) if rule == "first year" else slice(0, len(FEATURES))
        model, alpha, tried = fit_ridge(x_all[fit_rows, cols], y_all[fit_rows])
        ridge = now[score_rows] + model.predict(x_all[score_rows, cols])
        r = role_of(name)
        naive_mae = protocol.mae(naive[sel], actual[sel])
        lgbm_mae = protocol.mae(lgbm[sel], actual[sel])
        ridge_naive = protocol.mae(naive[score_rows], actual[score_rows]) if len(score_rows) else None
        ridge_mae = protocol.mae(ridge, actual[score_rows]) if len(score_rows) else None
        lgbm_scored = protocol.mae(lgbm[score_rows], actual[score_rows]) if len(score_rows) else None
        stations[name] = {
            "role": r, "lgbm_in_sample": r == "train", "windows": int(len(sel)),
            "first_target": str(times[sel].min()), "last_target": str(times[sel].max()),
            "naive_mae": round(naive_mae, 4), "lgbm_mae": round(lgbm_mae, 4),
            "lgbm_ratio": round(lgbm_mae / naive_mae, 4),
            "ridge_fit": rule, "ridge_uses_T_level": rule == "first year",
            "ridge_fit_windows": int(len(fit_rows)), "ridge_scored_windows": int(len(score_rows)),
            "ridge_scored_from": str(times[score_rows].min()) if len(score_rows) else None,
            "ridge_alpha": alpha, "ridge_holdout_mae_by_alpha": tried,
            "ridge_mae": None if ridge_mae is None else round(ridge_mae, 4),
            "naive_mae_ridge_windows": None if ridge_naive is None else round(ridge_naive, 4),
            "ridge_ratio": None if ridge_mae is None else round(ridge_mae / ridge_naive, 4),
            "lgbm_mae_ridge_windows": None if lgbm_scored is None else round(lgbm_scored, 4),
            "lgbm_ratio_ridge_windows": None if lgbm_scored is None else round(lgbm_scored / ridge_naive, 4),
        }
        s = stations[name]
        log(f"  {name} ({r}): naive {s['naive_mae']:.3f}, lgbm {s['lgbm_mae']:.3f} ({s['lgbm_ratio']:.3f}), "
            f"ridge [{rule}, alpha {alpha:g}] {s['ridge_mae']} ({s['ridge_ratio']}) on {len(score_rows)} windows")

    medians = {}
    for group, roles in (("val", ("val",)), ("test", ("test",)), ("val+test", ("val", "test")),
                         ("all", ("train", "val", "test"))):
        members = [s for s in stations.values() if s["role"] in roles]
        medians[group] = {"places": len(members),
                          **{k: _median(s[k] for s in members)
                             for k in ("lgbm_ratio", "ridge_ratio", "lgbm_ratio_ridge_windows")}}
    importance = booster.feature_importance("gain")
    return {
        "protocol": "stations", "horizon_hours": 24, "metric": "MAE °C of T(+24 h)",
        "features": list(FEATURES), "ridge_features": list(RIDGE_FEATURES),
        "lgbm": {**LGBM_PARAMS, "seed": seed, "trees": int(booster.best_iteration),
                 "max_rounds": LGBM_MAX_ROUNDS, "early_stopping_rounds": LGBM_EARLY_STOP,
                 "train_windows": int(len(train_sel)), "train_every": TRAIN_EVERY, "val_windows": int(len(val_sel)),
                 "gain_share": {f: round(float(g / importance.sum()), 4)
                                for f, g in sorted(zip(FEATURES, importance), key=lambda fg: -fg[1])}},
        "ridge": {"alphas": list(RIDGE_ALPHAS), "holdout": HOLDOUT,
                  "rule": "fit on the windows whose target lies in the place's first 365 days (first 182 days when "
                          "fewer than 60 days would remain), alpha by the last 20 % of that period, refit on all of "
                          "it, scored on every later window; inputs clipped to the fit period's range; the absolute "
                          "T level only in first-year fits"},
        "stations": stations, "medians": medians, "seconds": round(time.perf_counter() - t0, 1),
    }


def table(result: dict) -> str:
    order = {"train": 0, "val": 1, "test": 2}
    lines = ["| place | role | windows | naive | LightGBM (ratio) | ridge fit | ridge windows | naive there "
             "| ridge (ratio) | LightGBM there (ratio) |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|---:|"]

    def fmt(mae, ratio):
        return "–" if mae is None else f"{mae:.3f} ({ratio:.3f})"
    for name, s in sorted(result["stations"].items(), key=lambda kv: order[kv[1]["role"]]):
        role = s["role"] + (" (in-sample)" if s["lgbm_in_sample"] else "")
        there = s["naive_mae_ridge_windows"]
        lines.append(f"| {name} | {role} | {s['windows']} | {s['naive_mae']:.3f} | "
                     f"{fmt(s['lgbm_mae'], s['lgbm_ratio'])} | {s['ridge_fit']} | {s['ridge_scored_windows']} | "
                     f"{'–' if there is None else format(there, '.3f')} | "
                     f"{fmt(s['ridge_mae'], s['ridge_ratio'])} | "
                     f"{fmt(s['lgbm_mae_ridge_windows'], s['lgbm_ratio_ridge_windows'])} |")
    lines += ["", "| median ratio to naive | places | LightGBM (all windows) | ridge (its scored windows) "
              "| LightGBM (ridge's windows) |", "|---|---:|---:|---:|---:|"]
    for group, m in result["medians"].items():
        label = group + (" (train in-sample)" if group == "all" else "")
        lines.append(f"| {label} | {m['places']} | {m['lgbm_ratio']} | {m['ridge_ratio']} | "
                     f"{m['lgbm_ratio_ridge_windows']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="folder with Jena's files and stations/ (stations.json beside them)")
    parser.add_argument("--out", type=Path, default=Path("runs/station_references.json"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, flush=True)
    result = run(args.data, args.seed, log)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    log(f"wrote {args.out} ({result['seconds']:.0f} s)")
    print(table(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
