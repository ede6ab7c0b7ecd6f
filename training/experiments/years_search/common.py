"""Shared data code: hourly grid, the `years` and `seed` protocols, metrics.

python common.py   -> builds /work/research/cache/grid.npz and prints the naive figures.
"""
from __future__ import annotations

import csv
import io
import lzma
import os
from datetime import datetime, timezone

import numpy as np

DATA = "/work/shared/data"
CACHE = "/work/research/cache"
# the raw result lines, kept in the repository outside the importable package
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "results", "years_search")
os.makedirs(CACHE, exist_ok=True)

# grid channels (Jena names); derived ones come from p/T/rh via Magnus when a file lacks them
CH = ["p (mbar)", "T (degC)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "wv (m/s)",
      "VPact (mbar)", "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "Tpot (K)"]
TIME = ["hour_sin", "hour_cos", "doy_sin", "doy_cos"]
ALL_FEATURES = CH + TIME



from edgecast.physics import derive  # noqa: E402  (the product's formulas, on arrays)


def _epoch(s: str) -> int:
    s = s.strip().strip('"')
    if "-" in s[:5]:
        d = datetime.strptime(s, "%Y-%m-%d %H:%M:%S")
    else:
        d = datetime.strptime(s, "%d.%m.%Y %H:%M:%S")
    return int(d.replace(tzinfo=timezone.utc).timestamp())


def read_file(name: str):
    """-> epoch seconds (n,), dict channel -> float array (NaN for missing / -9999)."""
    raw = lzma.open(os.path.join(DATA, name)).read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = list(csv.reader(io.StringIO(text)))
    head = [h.strip().strip('"') for h in rows[0]]
    rows = [r for r in rows[1:] if r]
    t = np.array([_epoch(r[0]) for r in rows], np.int64)
    out = {}
    for j, h in enumerate(head[1:], 1):
        if h in CH:
            v = np.array([float(r[j]) for r in rows])
            v[v <= -9998] = np.nan
            out[h] = v
    return t, out


FILES = ["jena_climate_2009_2016_hourly.csv.xz", "mpi_roof_2017b.csv.xz", "weather.csv.xz",
         "mpi_roof_2021_hourly.csv.xz", "mpi_roof_2022_hourly.csv.xz"]
T0 = int(datetime(2009, 1, 1, tzinfo=timezone.utc).timestamp())
T1 = int(datetime(2022, 12, 31, 23, tzinfo=timezone.utc).timestamp())


def time_features(epoch_s):
    e = np.asarray(epoch_s, np.float64)
    day = (e / 86400.0) % 1.0
    year = (e / 86400.0 / 365.2425) % 1.0
    return np.stack([np.sin(2 * np.pi * day), np.cos(2 * np.pi * day),
                     np.sin(2 * np.pi * year), np.cos(2 * np.pi * year)], 1)


def fill_derived(vals: dict, n: int):
    p, t, rh = (vals.get(k, np.full(n, np.nan)) for k in ("p (mbar)", "T (degC)", "rh (%)"))
    d = derive(p, t, rh)
    for k in CH:
        if k not in vals:
            vals[k] = d[k] if k in d else np.full(n, np.nan)
        elif k in d:  # measured wins; derive only where missing
            vals[k] = np.where(np.isfinite(vals[k]), vals[k], d[k])
    return vals


def build_grid():
    path = os.path.join(CACHE, "grid.npz")
    if os.path.exists(path):
        z = np.load(path)
        return z["hours"], z["G"]
    hours = np.arange(T0, T1 + 1, 3600, dtype=np.int64)
    G = np.full((len(hours), len(CH)), np.nan)
    for name in FILES:
        t, vals = read_file(name)
        order = np.argsort(t, kind="stable")
        t = t[order]
        vals = {k: v[order] for k, v in vals.items()}
        step = int(np.median(np.diff(t)))
        maxage = max(1800, step)
        sel = (hours >= t[0]) & (hours <= t[-1] + maxage)
        H = hours[sel]
        fv = {}
        for k, v in vals.items():
            ok = np.isfinite(v)
            tk, vk = t[ok], v[ok]
            idx = np.searchsorted(tk, H, side="right") - 1
            good = idx >= 0
            age = np.where(good, H - tk[np.clip(idx, 0, None)], 10**9)
            fv[k] = np.where(good & (age <= maxage), vk[np.clip(idx, 0, None)], np.nan)
        fv = fill_derived(fv, len(H))
        block = np.stack([fv[k] for k in CH], 1)
        cur = G[sel]
        G[sel] = np.where(np.isfinite(cur), cur, block)
        print(f"{name}: step {step}s maxage {maxage}s, {len(t)} rows -> {sel.sum()} hours, "
              f"T valid {np.isfinite(block[:, 1]).sum()}")
    np.savez(path, hours=hours, G=G)
    return hours, G


def load_seed_file():
    """The raw 2009–2016 hourly file by rows, with derived channels -> (epoch, (n, len(CH)))."""
    t, vals = read_file(FILES[0])
    vals = fill_derived(vals, len(t))
    return t, np.stack([vals[k] for k in CH], 1)


def feature_matrix(base, epoch, features):
    """(n, len(CH)) channels + epoch -> (n, len(features)) in the requested order."""
    tf = time_features(epoch)
    cols = []
    for f in features:
        cols.append(base[:, CH.index(f)] if f in CH else tf[:, TIME.index(f)])
    return np.stack(cols, 1).astype(np.float64)


WIN, HORIZON = 120, 24
TI = CH.index("T (degC)")


class Protocol:
    """Holds per-part window end indices (issue index i: inputs i-119..i, target i+24)."""

    def __init__(self, name, epoch, M, Tser, parts, stat_rows):
        self.name, self.epoch, self.M, self.T = name, epoch, M, Tser
        self.parts = parts  # dict part -> issue indices
        self.mean = np.nanmean(M[stat_rows], 0)
        self.std = np.nanstd(M[stat_rows], 0)
        self.std[self.std == 0] = 1.0
        self.Mn = ((M - self.mean) / self.std).astype(np.float32)

    def X(self, part, stride=1):
        idx = self.parts[part][::stride]
        return self.Mn[idx[:, None] + np.arange(-WIN + 1, 1)[None, :]]

    def y(self, part, stride=1):
        return self.T[self.parts[part][::stride] + HORIZON]

    def tlast(self, part, stride=1):
        return self.T[self.parts[part][::stride]]

    def quarters(self, part):
        ts = self.epoch[self.parts[part] + HORIZON].astype("datetime64[s]")
        months = ts.astype("datetime64[M]").astype(int) % 12
        return months // 3 + 1


def years_protocol(features):
    hours, G = build_grid()
    M = feature_matrix(G, hours, features)
    Tser = G[:, TI]
    bad = ~np.isfinite(M).all(1)
    cbad = np.concatenate([[0], np.cumsum(bad)])
    i = np.arange(WIN - 1, len(hours) - HORIZON)
    ok = (cbad[i + 1] - cbad[i + 1 - WIN] == 0) & np.isfinite(Tser[i + HORIZON])
    i = i[ok]
    tt = hours[i + HORIZON]
    y2021 = int(datetime(2021, 1, 1, tzinfo=timezone.utc).timestamp())
    y2022 = int(datetime(2022, 1, 1, tzinfo=timezone.utc).timestamp())
    parts = {"train": i[tt < y2021], "val": i[(tt >= y2021) & (tt < y2022)], "test": i[tt >= y2022]}
    stat_rows = np.isfinite(M).all(1) & (hours < y2021)
    return Protocol("years", hours, M, Tser, parts, stat_rows)


def seed_protocol(features):
    t, base = load_seed_file()
    M = feature_matrix(base, t, features)
    n = len(t)
    ntr, nva = int(0.5 * n), int(0.25 * n)
    delay = WIN + HORIZON - 1  # 143
    # window start s: inputs s..s+119; issue index i = s+119; target s+143
    tr = np.arange(0, ntr - WIN + 1) + WIN - 1
    va = np.arange(ntr, ntr + nva - WIN + 1) + WIN - 1
    te = np.arange(ntr + nva, n - delay - WIN + 1) + WIN - 1
    parts = {"train": tr, "val": va, "test": te}
    stat_rows = np.arange(ntr)
    return Protocol("seed", t, M, base[:, TI], parts, stat_rows)


def mae(a, b):
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))


def report(proto, part, pred):
    """-> dict overall + q1..q4 (years) MAE and naive."""
    y, tl = proto.y(part), proto.tlast(part)
    out = {"mae": mae(pred, y), "naive": mae(tl, y)}
    if proto.name == "years":
        q = proto.quarters(part)
        for k in range(1, 5):
            m = q == k
            out[f"q{k}"] = mae(pred[m], y[m])
            out[f"naive_q{k}"] = mae(tl[m], y[m])
    return out


def fmt(r):
    s = f"{r['mae']:.3f} (naive {r['naive']:.3f}, {100 * (1 - r['mae'] / r['naive']):+.1f}%)"
    if "q1" in r:
        s += " | " + " ".join(f"Q{k} {r[f'q{k}']:.3f}/{r[f'naive_q{k}']:.3f} "
                               f"({100 * (1 - r[f'q{k}'] / r[f'naive_q{k}']):+.0f}%)" for k in range(1, 5))
    return s


if __name__ == "__main__":
    hours, G = build_grid()
    print("grid", G.shape, "T valid hours", np.isfinite(G[:, TI]).sum())
    for feats in (["T (degC)"], ["p (mbar)", "T (degC)", "rh (%)", "wv (m/s)"]):
        yp = years_protocol(feats)
        print(feats, {k: len(v) for k, v in yp.parts.items()})
        for part in ("val", "test"):
            print(" years", part, fmt(report(yp, part, yp.tlast(part))))
    sp = seed_protocol(["T (degC)"])
    print("seed", {k: len(v) for k, v in sp.parts.items()})
    for part in ("val", "test"):
        print(" seed", part, fmt(report(sp, part, sp.tlast(part))))
