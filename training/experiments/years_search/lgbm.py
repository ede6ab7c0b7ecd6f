"""LightGBM peer on engineered features; target T(t+24) - T(t); rounds chosen by val early stopping.

python lgbm.py [default|bme280 ...]
"""
import json
import os
import sys
import time

import lightgbm as lgb
import numpy as np

import common as C

T, P, RH, WV, TD, VPD, SH = ("T (degC)", "p (mbar)", "rh (%)", "wv (m/s)", "Tdew (degC)", "VPdef (mbar)",
                             "sh (g/kg)")
SETS = {"default": [T, P, RH, TD, VPD, SH, WV] + C.TIME, "bme280": [T, P, RH, TD, VPD, SH] + C.TIME}


def features(proto, part, feats):
    """Raw (un-normalised) engineered features for issue indices of `part`."""
    i = proto.parts[part]
    M = proto.M
    col = {f: M[:, feats.index(f)] for f in feats}
    t = col[T]
    out, names = [], []

    def add(n, v):
        names.append(n)
        out.append(v)
    for lag in (0, 1, 2, 3, 6, 9, 12, 18, 23, 24, 25, 36, 47, 48, 72, 96, 119):
        add(f"T_lag{lag}", t[i - lag])
    w24 = t[i[:, None] - np.arange(24)]
    add("T24_min", w24.min(1)), add("T24_max", w24.max(1)), add("T24_mean", w24.mean(1))
    w120 = t[i[:, None] - np.arange(120)]
    add("T120_mean", w120.mean(1))
    for f in (P, RH, TD, VPD, SH, WV):
        if f in col:
            v = col[f]
            add(f"{f}_0", v[i])
            add(f"{f}_d3", v[i] - v[i - 3])
            add(f"{f}_d12", v[i] - v[i - 12])
            add(f"{f}_d24", v[i] - v[i - 24])
            add(f"{f}_mean24", v[i[:, None] - np.arange(24)].mean(1))
    for f in C.TIME:
        add(f, col[f][i])
    return np.stack(out, 1), names


def run(name):
    feats = SETS[name]
    res = {"model": "lightgbm", "features": name}
    for pn in ("years", "seed"):
        proto = C.years_protocol(feats) if pn == "years" else C.seed_protocol(feats)
        t0 = time.time()
        Xtr, names = features(proto, "train", feats)
        Xva, _ = features(proto, "val", feats)
        Xte, _ = features(proto, "test", feats)
        rtr = proto.y("train") - proto.tlast("train")
        rva = proto.y("val") - proto.tlast("val")
        params = dict(objective="huber", alpha=1.0, learning_rate=0.05, num_leaves=31, min_data_in_leaf=100,
                      feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0,
                      num_threads=2, verbose=-1, seed=0, metric="l1")
        dtr = lgb.Dataset(Xtr, rtr, feature_name=[n.replace(" ", "_").replace("(", "").replace(")", "")
                                                   .replace("/", "_").replace("%", "pct") for n in names])
        dva = lgb.Dataset(Xva, rva, reference=dtr)
        bst = lgb.train(params, dtr, 2000, valid_sets=[dva], callbacks=[lgb.early_stopping(100, verbose=False)])
        rv = C.report(proto, "val", proto.tlast("val") + bst.predict(Xva, num_iteration=bst.best_iteration))
        rt = C.report(proto, "test", proto.tlast("test") + bst.predict(Xte, num_iteration=bst.best_iteration))
        print(f"lightgbm {name} {pn} rounds={bst.best_iteration} ({time.time() - t0:.0f}s)\n"
              f"  val  {C.fmt(rv)}\n  test {C.fmt(rt)}", flush=True)
        res[pn] = {"rounds": bst.best_iteration, "val": rv, "test": rt, "secs": time.time() - t0}
    with open(os.path.join(C.RESULTS, "results_peers.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    for n in (sys.argv[1:] or SETS):
        run(n)
