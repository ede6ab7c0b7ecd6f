"""Compact residual RNN recipes, trained on the `years` and/or `seed` protocol.

python nn.py '<json recipe>' [--test]
  recipe keys (defaults in DEFAULT): feats, full, pooled, pool, static, units, cell, mode,
  hidden, head_bias, members, loss, lr, batch, epochs, patience, stride, protos, name
  --test also prints/stores test figures (only for the chosen recipes).
Each run appends one JSON line to results_nn.jsonl.
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np

import common as C

DEFAULT = dict(
    name="compact", feats=["T (degC)"], full=["T (degC)"], pooled=[], pool=6, static=[],
    units=8, cell="LSTM", mode="daily", hidden=0, head_bias=False, members=1, loss="huber",
    lr=3e-3, batch=128, epochs=20, patience=4, stride=3, protos=["years", "seed"], seed=0, hourly=[],
    hours=24, hunits=8,
)


def build(k, cfg, n_steps=120):
    """Functional model (batch, 120, F) normalised -> (batch, 1) °C. Plain layers only.

    Fixed (non-trainable) layers: selectors (channel picks, Dense without bias) and the
    de-normalisation of the last temperature; their weights are returned in `fixed`
    and set after construction.
    """
    feats = cfg["feats"]
    F = len(feats)
    members = cfg["members"]
    ti = feats.index("T (degC)")
    window = k.Input(shape=(n_steps, F), name="window")
    last = k.layers.Flatten(name="last_step")(k.layers.Cropping1D((n_steps - 1, 0), name="crop_last")(window))
    anom = k.layers.Subtract(name="anomalies")([window, k.layers.RepeatVector(n_steps, name="repeat_last")(last)])
    fixed = []

    def select(x, names, tag):
        if list(names) == list(feats):
            return x
        layer = k.layers.Dense(len(names), use_bias=False, trainable=False, name=f"select_{tag}")
        w = np.zeros((F, len(names)), np.float32)
        for j, nme in enumerate(names):
            w[feats.index(nme), j] = 1.0
        fixed.append((layer, [w]))
        return layer(x)

    days = n_steps // 24
    if cfg["mode"] == "daily":
        parts = []
        if cfg["full"]:
            parts.append(k.layers.Reshape((days, 24 * len(cfg["full"])), name="days_full")(
                select(anom, cfg["full"], "full")))
        if cfg["pooled"]:
            p = cfg["pool"]
            pooled = k.layers.AveragePooling1D(p, name="pool")(select(anom, cfg["pooled"], "pooled"))
            parts.append(k.layers.Reshape((days, 24 // p * len(cfg["pooled"])), name="days_pooled")(pooled))
        seq = parts[0] if len(parts) == 1 else k.layers.Concatenate(name="days")(parts)
    else:  # hourly steps of anomalies of the `full` channels
        seq = select(anom, cfg["full"], "full")
    hseq = None
    if cfg.get("hourly"):  # extra: hourly steps over the last `hours` hours of the `hourly` channels' anomalies
        hx = select(anom, cfg["hourly"], "hourly")
        hseq = k.layers.Cropping1D((n_steps - cfg["hours"], 0), name="crop_recent")(hx)
    stat = select(last, cfg["static"], "static") if cfg["static"] else None
    rnn = getattr(k.layers, cfg["cell"])
    outs = []
    for i in range(members):
        h = rnn(cfg["units"], name=f"rnn_{i}")(seq)
        if hseq is not None:
            h = k.layers.Concatenate(name=f"both_{i}")([h, rnn(cfg["hunits"], name=f"hrnn_{i}")(hseq)])
        if stat is not None:
            h = k.layers.Concatenate(name=f"head_in_{i}")([h, stat])
        if cfg["hidden"]:
            h = k.layers.Dense(cfg["hidden"], activation="tanh", name=f"hidden_{i}")(h)
        outs.append(k.layers.Dense(1, use_bias=cfg["head_bias"], name=f"correction_{i}")(h))
    corr = outs[0] if members == 1 else k.layers.Average(name="ensemble")(outs)
    denorm = k.layers.Dense(1, trainable=False, name="last_temperature")
    out = k.layers.Add(name="celsius")([denorm(last), corr])
    model = k.Model(window, out)
    return model, fixed, denorm, ti


def make(k, cfg, proto):
    model, fixed, denorm, ti = build(k, cfg)
    for layer, w in fixed:
        layer.set_weights(w)
    kern = np.zeros((len(cfg["feats"]), 1), np.float32)
    kern[ti, 0] = proto.std[ti]
    denorm.set_weights([kern, np.array([proto.mean[ti]], np.float32)])
    return model


def train_member(cfg, proto, seed):
    import keras as k
    k.utils.set_random_seed(seed)
    m1 = dict(cfg, members=1)
    model = make(k, m1, proto)
    Xtr, ytr = proto.X("train", cfg["stride"]), proto.y("train", cfg["stride"]).astype(np.float32)
    Xva, yva = proto.X("val"), proto.y("val").astype(np.float32)
    steps = int(np.ceil(len(Xtr) / cfg["batch"]))
    sched = k.optimizers.schedules.CosineDecay(cfg["lr"], decay_steps=steps * cfg["epochs"], alpha=0.0)
    loss = {"huber": k.losses.Huber(1.0), "mae": "mae", "mse": "mse"}[cfg["loss"]]
    model.compile(optimizer=k.optimizers.Adam(sched), loss=loss, metrics=["mae"])
    es = k.callbacks.EarlyStopping(monitor="val_mae", patience=cfg["patience"], restore_best_weights=True)
    hist = model.fit(Xtr, ytr, validation_data=(Xva, yva), batch_size=cfg["batch"], epochs=cfg["epochs"],
                     callbacks=[es], verbose=0, shuffle=True)
    return model, len(hist.history["loss"])


def run(cfg, test=False):
    import keras as k
    res = {"cfg": cfg}
    for pn in cfg["protos"]:
        proto = C.years_protocol(cfg["feats"]) if pn == "years" else C.seed_protocol(cfg["feats"])
        t0 = time.time()
        preds = {"val": [], "test": []}
        ep = []
        for m in range(cfg["members"]):
            model, n_ep = train_member(cfg, proto, cfg["seed"] + 1000 * m)
            ep.append(n_ep)
            for part in preds:
                preds[part].append(model.predict(proto.X(part), batch_size=4096, verbose=0)[:, 0])
        secs = time.time() - t0
        full = make(k, cfg, proto)
        r = {"secs": round(secs, 1), "epochs": ep, "params": int(full.count_params()),
             "val": C.report(proto, "val", np.mean(preds["val"], 0))}
        r["val_members"] = [C.report(proto, "val", p)["mae"] for p in preds["val"]]
        line = f"[{cfg['name']}] {pn} params={r['params']} {secs:.0f}s ep={ep}\n  val  {C.fmt(r['val'])}"
        if cfg["members"] > 1:
            line += f"\n  members val {' '.join(f'{v:.3f}' for v in r['val_members'])}"
        if test:
            r["test"] = C.report(proto, "test", np.mean(preds["test"], 0))
            line += f"\n  TEST {C.fmt(r['test'])}"
        print(line, flush=True)
        res[pn] = r
    with open(os.path.join(C.RESULTS, "results_nn.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")
    return res


if __name__ == "__main__":
    cfg = dict(DEFAULT, **json.loads(sys.argv[1]))
    run(cfg, test="--test" in sys.argv)
