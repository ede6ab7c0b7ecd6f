"""Two peers a user would try before a neural network, measured exactly like one.

- ``ridge``: linear regression on the whole normalised window (120 steps × 16 columns),
  closed form, its regularisation chosen on the validation part;
- ``lightgbm``: gradient-boosted trees on engineered features (temperature lags, 24 h
  min/max/mean, tendencies, the clock), rounds chosen by early stopping on validation.

Both predict the 24-hour *change* of temperature and add it to the last input step's
temperature: the naive forecast is their starting point, so they learn corrections to it.
They use the same windows, normalisation (training.dataset.prepare) and scoring
(edgecast.protocol.evaluate) as every other kind; neither becomes a TFLite bundle.

Ported from training/experiments/years_search/{ridge,lgbm}.py. Importing this module
imports neither TensorFlow nor LightGBM (training.kinds lists the peers from PEERS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgecast import protocol
from edgecast.schema import TARGET, TARGET_INDEX, FeatureSchema

from .models import BOOK_CHANNELS, CLOCK

RIDGE_FEATURES = [*BOOK_CHANNELS, *CLOCK]
RIDGE_ALPHAS = (0.1, 1, 10, 100, 1000, 10000, 100000)
LGBM_FEATURES = ["T (degC)", "p (mbar)", "rh (%)", "Tdew (degC)", "VPdef (mbar)", "sh (g/kg)", "wv (m/s)", *CLOCK]
T_LAGS = (0, 1, 2, 3, 6, 9, 12, 18, 23, 24, 25, 36, 47, 48, 72, 96, 119)  # hours before the last step
TENDENCY_HOURS = (3, 12, 24)
LGBM_PARAMS = dict(objective="huber", alpha=1.0, learning_rate=0.05, num_leaves=31, min_data_in_leaf=100,
                   feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0, num_threads=2,
                   verbose=-1, metric="l1")
LGBM_MAX_ROUNDS, LGBM_EARLY_STOP = 2000, 100
CHUNK = 4096  # windows gathered at a time: 82k years windows at once would be ~0.9 GB


def _last_temperature(layout: protocol.Layout, starts: np.ndarray) -> np.ndarray:
    # repaired (row protocols) / grid value: the base the correction is added to; a raw
    # -9999 would make it nonsense
    return layout.clean[layout.last_step_rows(starts), TARGET_INDEX]


def _rows(prep, starts: np.ndarray, engineer) -> np.ndarray:
    """engineer(windows) for every start, chunk by chunk, concatenated (rows: windows)."""
    return np.concatenate([engineer(w) for w in prep.layout.batches(prep.columns, starts, CHUNK)])


# --- ridge -----------------------------------------------------------------------------------
def _flat(windows: np.ndarray) -> np.ndarray:
    """(n, 120, F) -> (n, 120·F + 1): the window and an intercept column."""
    x = windows.reshape(len(windows), -1).astype(np.float64)
    return np.hstack([x, np.ones((len(x), 1))])


def _fit_ridge(prep, log) -> tuple[dict, dict]:
    starts = prep.trainable_starts("train")
    change = prep.targets(starts).astype(np.float64) - _last_temperature(prep.layout, starts)
    d = prep.schema.window_steps * prep.schema.n_features + 1
    gram, moment = np.zeros((d, d)), np.zeros(d)
    for i in range(0, len(starts), CHUNK):  # X'X and X'y without holding X
        x = _flat(prep.layout.windows(prep.columns, starts[i:i + CHUNK]))
        gram += x.T @ x
        moment += x.T @ change[i:i + CHUNK]
    val = prep.trainable_starts("val")
    x_val = _rows(prep, val, _flat)
    base_val, actual_val = _last_temperature(prep.layout, val), prep.targets(val)
    tried, best = {}, None
    for alpha in RIDGE_ALPHAS:
        penalty = alpha * np.eye(d)
        penalty[-1, -1] = 0.0  # the intercept is not shrunk
        coef = np.linalg.solve(gram + penalty, moment)
        tried[str(alpha)] = protocol.mae(base_val + x_val @ coef, actual_val)
        if best is None or tried[str(alpha)] < tried[str(best[0])]:
            best = (alpha, coef)
    alpha, coef = best
    log(f"ridge: alpha {alpha:g} chosen on {len(val)} val windows (val MAE by alpha: "
        + ", ".join(f"{a} {m:.3f}" for a, m in tried.items()) + ")")
    return {"coefficients": coef}, {"alpha": alpha, "val_mae_by_alpha": tried, "alphas": list(RIDGE_ALPHAS),
                                    "features": RIDGE_FEATURES}


def _ridge_predictor(prep, fitted: dict):
    coef = np.asarray(fitted["coefficients"])
    return lambda starts: _last_temperature(prep.layout, starts) + _rows(prep, starts, lambda w: _flat(w) @ coef)


# --- LightGBM --------------------------------------------------------------------------------
def _engineered(features: list[str]):
    """engineer(windows) -> (n, k): the research harness's features, from normalised windows.

    Trees split on order, so normalised inputs give the same trees as raw ones.
    """
    t = features.index(TARGET)
    others = [features.index(f) for f in features if f != TARGET and f not in CLOCK]
    clock = [features.index(f) for f in CLOCK]

    def engineer(w: np.ndarray) -> np.ndarray:
        last = w.shape[1] - 1
        day = w[:, -24:, :]
        cols = [w[:, last - lag, t] for lag in T_LAGS]
        cols += [day[:, :, t].min(1), day[:, :, t].max(1), day[:, :, t].mean(1), w[:, :, t].mean(1)]
        for j in others:  # level now, tendencies (pressure tendency among them), 24 h mean
            cols += [w[:, last, j], *(w[:, last, j] - w[:, last - h, j] for h in TENDENCY_HOURS),
                     day[:, :, j].mean(1)]
        cols += [w[:, last, j] for j in clock]
        return np.stack(cols, 1).astype(np.float64)
    return engineer


def _lightgbm():
    try:
        import lightgbm
    except ImportError:
        raise ImportError("lightgbm is not installed: it comes with the peers extra, "
                          "pip install 'edgecast[peers]'") from None
    return lightgbm


def _fit_lightgbm(prep, log, seed: int) -> tuple[dict, dict]:
    lgb = _lightgbm()
    engineer = _engineered(prep.schema.features)
    data = {}
    for part in ("train", "val"):
        starts = prep.trainable_starts(part)
        change = prep.targets(starts).astype(np.float64) - _last_temperature(prep.layout, starts)
        data[part] = (_rows(prep, starts, engineer), change)
    train = lgb.Dataset(*data["train"])
    val = lgb.Dataset(*data["val"], reference=train)
    booster = lgb.train(LGBM_PARAMS | {"seed": seed}, train, LGBM_MAX_ROUNDS, valid_sets=[val],
                        callbacks=[lgb.early_stopping(LGBM_EARLY_STOP, verbose=False)])
    trees = int(booster.best_iteration)
    text = booster.model_to_string(num_iteration=trees)
    leaves = sum(t["num_leaves"] for t in booster.dump_model(num_iteration=trees)["tree_info"])
    log(f"lightgbm: {trees} trees ({leaves} leaves) chosen by early stopping on {len(data['val'][1])} val windows, "
        f"{data['train'][0].shape[1]} engineered features")
    return {"model_text": text}, {"trees": trees, "leaves": leaves, "max_rounds": LGBM_MAX_ROUNDS,
                                  "early_stopping_rounds": LGBM_EARLY_STOP, **LGBM_PARAMS, "seed": seed,
                                  "lightgbm": lgb.__version__, "t_lags": list(T_LAGS),
                                  "tendency_hours": list(TENDENCY_HOURS), "features": LGBM_FEATURES}


def _lightgbm_predictor(prep, fitted: dict):
    booster = _lightgbm().Booster(model_str=fitted["model_text"])
    engineer = _engineered(prep.schema.features)
    return lambda starts: _last_temperature(prep.layout, starts) + booster.predict(_rows(prep, starts, engineer))


# --- each peer, and its model directory ----------------------------------------------------
def _save_ridge(fitted: dict, path: Path) -> None:
    np.savez(path, coefficients=fitted["coefficients"])


def _ridge_size(fitted: dict, chosen: dict) -> tuple[int, str, str]:
    return len(fitted["coefficients"]), "coefficients", f"closed form, alpha {chosen['alpha']:g} on val"


def _lightgbm_size(fitted: dict, chosen: dict) -> tuple[int, str, str]:
    return chosen["leaves"], "leaves", f"{chosen['trees']} trees, early stopping on val"


@dataclass(frozen=True)
class Peer:
    """One peer: what it reads, how it is fitted, saved, loaded and counted."""

    description: str
    features: list[str]
    chooses: str  # what it picks on the validation part
    file: str  # its fitted model, beside metadata.json
    fit: Callable  # fit(prep, log, seed) -> (fitted, chosen hyper-parameters)
    predictor: Callable  # predictor(prep, fitted) -> predict(starts) in °C
    save: Callable  # save(fitted, path)
    load: Callable  # load(path) -> fitted
    size: Callable  # size(fitted, chosen) -> (count, unit, how it was fitted)
    requires: Callable = lambda: None  # raises ImportError when its extra is missing


PEERS: dict[str, Peer] = {
    "ridge": Peer("ridge regression on the flattened normalised window (12 channels + clock), "
                  "alpha chosen on validation; predicts the 24 h change", RIDGE_FEATURES, "alpha", "ridge.npz",
                  lambda prep, log, seed: _fit_ridge(prep, log), _ridge_predictor, _save_ridge,
                  lambda path: {"coefficients": np.load(path)["coefficients"]}, _ridge_size),
    "lightgbm": Peer("LightGBM on engineered features (T lags, 24 h min/max/mean, tendencies, clock), "
                     "rounds by early stopping on validation; needs the [peers] extra", LGBM_FEATURES, "rounds",
                     "lightgbm.txt", _fit_lightgbm, _lightgbm_predictor,
                     lambda fitted, path: path.write_text(fitted["model_text"]),
                     lambda path: {"model_text": path.read_text()}, _lightgbm_size, _lightgbm),
}


def train(kind: str, series, out_dir: Path, *, seed: int, protocol_name: str, log=print) -> dict:
    """Fit ``kind`` on the protocol's train part, choose on val, save the model; its metadata."""
    from . import dataset  # imports Keras (its batch feed); only when a peer is trained
    peer = PEERS[kind]
    peer.requires()  # a missing extra is said before any data work
    prep = dataset.prepare(series, peer.features, protocol_name=protocol_name)
    if "val" not in prep.layout.parts:
        raise ValueError(f"{kind} chooses its {peer.chooses} on a validation part; "
                         f"the {protocol_name} protocol has none (use seed, reference or years)")
    log(f"{kind}: {protocol_name} protocol, {len(prep.trainable_starts('train'))} train windows, "
        f"{len(prep.trainable_starts('val'))} val windows")
    t0 = time.perf_counter()
    fitted, chosen = peer.fit(prep, log, seed)
    train_seconds = time.perf_counter() - t0
    peer.save(fitted, out_dir / peer.file)
    result = protocol.evaluate(prep.layout, peer.predictor(prep, fitted))
    count, unit, fit = peer.size(fitted, chosen)
    return {"kind": kind, "schema": prep.schema.to_dict(), "hyperparameters": chosen,
            "data": prep.layout.data_range(), **result,
            "parameters": count, "trainable_parameters": count, "parameters_unit": unit, "fit": fit,
            "model_file": peer.file, "epochs_run": None, "best_epoch": None,
            "train_seconds": round(train_seconds, 1)}


def evaluate(path: Path, meta: dict, series, protocol_name: str) -> dict:
    """Re-score a peer's model directory on ``series`` with its trained statistics."""
    from . import dataset
    schema = FeatureSchema.from_dict(meta["schema"])
    prep = dataset.prepare(series, schema.features, schema=schema, protocol_name=protocol_name)
    peer = PEERS[meta["kind"]]
    return protocol.evaluate(prep.layout, peer.predictor(prep, peer.load(Path(path) / peer.file)))
