"""Ridge regression peer: flattened normalised 120-step window -> T(t+24) - T(t), closed form.

python ridge.py            (alpha chosen on each protocol's validation part; test printed once)
"""
import json
import os
import sys
import time

import numpy as np

import common as C

SETS = {
    "T": ["T (degC)"],
    "T+time": ["T (degC)"] + C.TIME,
    "bme280": ["p (mbar)", "T (degC)", "rh (%)", "Tdew (degC)", "VPmax (mbar)", "VPact (mbar)", "VPdef (mbar)",
               "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "Tpot (K)"] + C.TIME,
    "default": C.CH + C.TIME,
}
ALPHAS = [0.1, 1, 10, 100, 1000, 10000, 100000]


def gram(proto, part, chunk=8192):
    idx = proto.parts[part]
    d = C.WIN * proto.Mn.shape[1] + 1
    A = np.zeros((d, d))
    b = np.zeros(d)
    for s in range(0, len(idx), chunk):
        sub = idx[s:s + chunk]
        X = proto.Mn[sub[:, None] + np.arange(-C.WIN + 1, 1)].reshape(len(sub), -1).astype(np.float64)
        X = np.hstack([X, np.ones((len(sub), 1))])
        r = proto.T[sub + C.HORIZON] - proto.T[sub]
        A += X.T @ X
        b += X.T @ r
    return A, b


def predict(proto, part, w):
    X = proto.X(part).reshape(len(proto.parts[part]), -1).astype(np.float64)
    return proto.tlast(part) + np.hstack([X, np.ones((len(X), 1))]) @ w


def run(name, feats, protos=("years", "seed")):
    res = {"model": "ridge", "features": name}
    for pn in protos:
        if pn == "seed" and any(f not in C.CH[:6] + C.TIME and f not in C.CH for f in feats):
            continue
        proto = C.years_protocol(feats) if pn == "years" else C.seed_protocol(feats)
        t0 = time.time()
        A, b = gram(proto, "train")
        best = None
        for a in ALPHAS:
            reg = a * np.eye(len(b))
            reg[-1, -1] = 0
            w = np.linalg.solve(A + reg, b)
            r = C.report(proto, "val", predict(proto, "val", w))
            if best is None or r["mae"] < best[1]["mae"]:
                best = (a, r, w)
        a, rv, w = best
        rt = C.report(proto, "test", predict(proto, "test", w))
        print(f"ridge {name} {pn} alpha={a} ({time.time() - t0:.0f}s)\n  val  {C.fmt(rv)}\n  test {C.fmt(rt)}",
              flush=True)
        res[pn] = {"alpha": a, "val": rv, "test": rt}
    with open(os.path.join(C.RESULTS, "results_peers.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    for name in (sys.argv[1:] or SETS):
        run(name, SETS[name])
