"""How sure: the 10–90 % band and the frost probability, scored offline as the box makes them.

    python -m training.scripts.band_scores                       # the test parts (BENCHMARKS.md)
    python -m training.scripts.band_scores --part val            # the choices: GAMMA, combine rule, threshold
    python -m training.scripts.band_scores --prior               # calibration.PRIOR from the validation parts
    python -m training.scripts.band_scores --recalibration       # band.FROST_RECALIBRATION, likewise
    python -m training.scripts.band_scores --reliability docs/frost_reliability.png

The shipped bundle (or ``--bundle``) forecasts every window of each part through LiteRT
(Forecaster.on_layout, the device runtime); then each place's hours are replayed in time
order through edgecast.daemon.calibration.Calibration, the code the daemon runs: at each
hour, first the forecasts meeting it at +1 … +24 h are verified (where the hour's
temperature was observed), then the band of the forecast issued at that hour is made with
the offsets of that moment. So every band is out of sample, as on the box.

Parts (DESIGN.md's protocols, the loading code of plot_horizons.py and frost.py):
validation: Jena 2021 (``years`` val) and the validation places (edgecast.places ROLES
"val"); test: Jena 2022 (``years`` test, also per quarter), ``seed`` test, the test places.
(The shipped bundle was fitted on Jena's years before 2021 including the rows of the seed
test part: its point forecast there is in-sample, the band's calibration is not.)

Scores: coverage of the band (and the share below / above); mean pinball loss over the
three quantiles at +24 h beside the naive reference (persistence plus its own error
quantiles at +24 h, fitted on the protocol's train part); frost (the next 24 measured hours
go below 0 °C): the Brier score of ``frost_probability`` and its skill against the naive
curve's empirical error distribution (persistence plus the train part's 24-hour error
vectors) and against today's margin rule as 0/1 (edgecast.alerts.FrostRule); the
probability alert's hit rate and false alarms; a reliability table (and diagram).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgecast import band, protocol
from edgecast.alerts import FrostRule
from edgecast.daemon import calibration
from edgecast.data import load
from edgecast.forecaster import load_forecaster
from edgecast.naive import HORIZONS

CACHE = Path("/tmp/edgecast-band-cache")
FROST_C = FrostRule.threshold_c
PARTS = {"val": ("Jena 2021", "validation places"), "test": ("Jena 2022", "seed test", "test places")}


# --- the forecasts of each part ---------------------------------------------------------------
def _part(layout, starts: np.ndarray, predict, train_starts: np.ndarray) -> dict:
    rows = layout.last_step_rows(starts)
    group = layout.station[rows] if layout.station is not None else np.full(len(starts), "jena", object)
    train_now = layout.naive(train_starts).astype(float)
    return {"rows": rows, "times": layout.times[rows].astype("datetime64[s]").astype(np.int64),
            "group": group.astype(str), "point": np.asarray(predict(starts), float),
            "actual": protocol.curve_targets(layout, starts), "now": layout.naive(starts).astype(float),
            "fallback": protocol.fallback_curve(layout, starts),
            # the naive reference's fit: persistence's error vectors on the train part
            "train_residual": protocol.curve_targets(layout, train_starts) - train_now[:, None]}


def load_parts(bundle: Path | None, data_dir: Path, names) -> dict[str, dict]:
    """{part name: arrays} for the named parts, cached in /tmp by bundle sha and name."""
    forecaster = load_forecaster(bundle)
    out, todo = {}, []
    for name in names:
        key = hashlib.sha256(f"{forecaster.identity['sha256']}|{data_dir.resolve()}|{name}".encode()).hexdigest()[:16]
        path = CACHE / f"{key}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                out[name] = dict(z)
        else:
            todo.append((name, path))
    if not todo:
        return out
    from edgecast.places import load_places
    needs = {n for n, _ in todo}
    layouts = {}
    if needs & {"Jena 2021", "Jena 2022"}:
        layouts["years"] = forecaster.on_layout("years", load([data_dir / f for f in protocol.YEARS_FILES]))
    if "seed test" in needs:
        layouts["seed"] = forecaster.on_layout("seed", load([data_dir / protocol.SEED_FILE]))
    if needs & {"validation places", "test places"}:
        layouts["stations"] = forecaster.on_layout("stations", load_places(data_dir, log=lambda *_: None))
    where = {"Jena 2021": ("years", "val"), "Jena 2022": ("years", "test"), "seed test": ("seed", "test"),
             "validation places": ("stations", "val"), "test places": ("stations", "test")}
    CACHE.mkdir(exist_ok=True)
    for name, path in todo:
        proto, part = where[name]
        layout, predict = layouts[proto]
        out[name] = _part(layout, layout.starts(part), predict, layout.starts("train"))
        np.savez(path, **out[name])
    return out


# --- the daemon's calibration, replayed ------------------------------------------------------
def replay(p: dict, gamma: float = calibration.GAMMA, prior: np.ndarray | None = None,
           scale: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(p10, p90) (n, 24) for the forecasts of a part: each place from a fresh Calibration,
    hour by hour in order (verify the forecasts meeting this hour, then issue this one's band).
    ``scale`` (n, 1 or 24): each band's offsets multiplied so (an experiment's; None: as the box)."""
    n = len(p["rows"])
    p10, p90 = np.full((n, 24), np.nan), np.full((n, 24), np.nan)
    for g in np.unique(p["group"]):
        idx = np.flatnonzero(p["group"] == g)
        idx = idx[np.argsort(p["rows"][idx])]
        rows = p["rows"][idx]
        first = rows[0]
        pos = np.full(rows[-1] - first + 25, -1)
        pos[rows - first] = idx
        cal = calibration.Calibration(gamma=gamma, prior=prior)
        for r in range(first, rows[-1] + 1):
            back = r - first - HORIZONS
            ok = back >= 0
            js = np.where(ok, pos[np.maximum(back, 0)], -1)
            hs = HORIZONS[js >= 0]
            js = js[js >= 0]
            if len(js):
                actual = p["actual"][js, hs - 1]
                seen = np.isfinite(actual)
                if seen.any():
                    i0 = js[seen][0]
                    valid = int(p["times"][i0]) + 3600 * int(hs[seen][0])
                    cal.verify(valid, hs[seen], np.zeros(int(seen.sum()), int), p10[js[seen], hs[seen] - 1],
                               p90[js[seen], hs[seen] - 1], float(actual[seen][0]))
            i = pos[r - first]
            if i >= 0:
                p10[i], p90[i] = cal.band(p["point"][i], "model")
                if scale is not None:
                    p10[i], p90[i] = p["point"][i] - (p["point"][i] - p10[i]) * scale[i], \
                        p["point"][i] + (p90[i] - p["point"][i]) * scale[i]
    return p10, p90


# --- scores ------------------------------------------------------------------------------------
def coverage(p10, p90, actual, sel=None) -> dict:
    ok = np.isfinite(actual) if sel is None else np.isfinite(actual) & sel[:, None]
    y, lo, hi = actual[ok], p10[ok], p90[ok]
    return {"n": int(ok.sum()), "coverage": float(np.mean((y >= lo) & (y <= hi))),
            "below": float(np.mean(y < lo)), "above": float(np.mean(y > hi))}


def pinball(quantiles: np.ndarray, y: np.ndarray, levels=calibration.LEVELS) -> float:
    """Mean over the levels and cases of the pinball loss; ``quantiles`` (n, Q)."""
    d = y[:, None] - quantiles
    tau = np.asarray(levels)[None, :]
    return float(np.mean(np.maximum(tau * d, (tau - 1) * d)))


def naive_quantiles(p: dict, h: int = 24) -> np.ndarray:
    r = p["train_residual"][:, h - 1]
    q = np.nanquantile(r, calibration.LEVELS)
    return p["now"][:, None] + q[None, :]


def naive_frost(p: dict, frost_c: float = FROST_C) -> np.ndarray:
    """P(min of the next 24 h < frost_c) under persistence plus the train part's error vectors."""
    r = p["train_residual"]
    lows = np.sort(np.min(r[np.isfinite(r).all(axis=1)], axis=1))
    return np.searchsorted(lows, frost_c - p["now"], side="left") / len(lows)


def frost_cases(p: dict, frost_c: float = FROST_C) -> tuple[np.ndarray, np.ndarray]:
    """(scored rows: all 24 hours measured, frost happened) per forecast."""
    scored = np.isfinite(p["actual"]).all(axis=1)
    with np.errstate(invalid="ignore"):
        return scored, np.fmin.reduce(p["actual"], axis=1) < frost_c


def alerts(p: dict, rule: FrostRule | None = None, prob: np.ndarray | None = None) -> np.ndarray:
    """The daemon's alert (FrostRule.states) over each place's forecasts in time order: the
    margin rule by default, the probability rule with ``prob``."""
    rule = rule or FrostRule()
    out = np.zeros(len(p["rows"]), bool)
    for g in np.unique(p["group"]):
        idx = np.flatnonzero(p["group"] == g)
        idx = idx[np.argsort(p["rows"][idx])]
        out[idx] = rule.states(p["point"][idx].min(axis=1), None if prob is None else prob[idx])
    return out


def brier(prob, event) -> float:
    return float(np.mean((np.asarray(prob, float) - event) ** 2))


def alert_scores(alert, frost) -> dict:
    hits = int((alert & frost).sum())
    return {"alerts": int(alert.sum()), "frosts": int(frost.sum()), "hits": hits,
            "hit_rate": hits / max(int(frost.sum()), 1),
            "false_alarm_ratio": int((alert & ~frost).sum()) / max(int(alert.sum()), 1),
            "csi": hits / max(int((alert | frost).sum()), 1)}


def reliability(prob, event, bins: int = 10) -> list[dict]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(prob, edges) - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append({"bin": f"{edges[b]:.1f}–{edges[b + 1]:.1f}", "n": int(sel.sum()),
                        "forecast": float(np.mean(prob[sel])), "observed": float(np.mean(event[sel]))})
    return out


def score(p: dict, gamma: float = calibration.GAMMA, combine: str = band.FROST_COMBINE,
          rule: FrostRule | None = None) -> dict:
    p10, p90 = replay(p, gamma)
    q = np.stack([p10, p["point"], p90], axis=-1)
    prob = band.frost_probabilities(q, calibration.LEVELS, FROST_C, combine)
    scored, frost = frost_cases(p)
    y24 = p["actual"][:, -1]
    ok24 = np.isfinite(y24)
    months = p["times"].astype("datetime64[s]").astype("datetime64[M]")
    by_month = {str(m): coverage(p10, p90, p["actual"], months == m)["coverage"] for m in np.unique(months)}
    quarters = (months.astype(int) % 12) // 3 + 1
    by_quarter = {f"Q{k}": coverage(p10, p90, p["actual"], quarters == k) for k in (1, 2, 3, 4)}
    out = {"coverage": coverage(p10, p90, p["actual"]), "by_month": by_month, "by_quarter": by_quarter,
           "by_horizon": [coverage(p10[:, [h]], p90[:, [h]], p["actual"][:, [h]])["coverage"] for h in range(24)],
           "pinball_24": pinball(q[ok24, -1], y24[ok24]),
           "naive_pinball_24": pinball(naive_quantiles(p)[ok24], y24[ok24]),
           "pinball_all": float(np.mean([pinball(q[np.isfinite(p["actual"][:, h]), h],
                                                 p["actual"][np.isfinite(p["actual"][:, h]), h]) for h in range(24)])),
           "frost": {"forecasts": int(scored.sum()), "frosts": int(frost[scored].sum())}}
    ev = frost[scored].astype(float)
    fp, naive_p, margin = prob[scored], naive_frost(p)[scored], alerts(p)[scored].astype(float)
    out["frost"] |= {"brier": brier(fp, ev), "brier_naive": brier(naive_p, ev), "brier_margin": brier(margin, ev),
                     "reliability": reliability(fp, ev), "margin_alerts": alert_scores(margin > 0, ev > 0)}
    if rule is not None:
        out["frost"]["probability_alerts"] = alert_scores(alerts(p, rule, prob)[scored], ev > 0)
    out["prob"], out["scored"], out["event"] = prob, scored, frost
    return out


def skill(b, ref) -> float:
    return 1 - b / ref if ref else float("nan")


# --- the report ------------------------------------------------------------------------------
def prior(parts: dict[str, dict]) -> dict[str, list[list[float]]]:
    """calibration.PRIOR from the validation parts: q90 of (point − actual) and of (actual − point)."""
    out = {}
    for name, key in (("model", "point"), ("naive", "fallback")):
        e = np.concatenate([p[key] - p["actual"] for p in parts.values()])
        out[name] = [np.round(np.nanquantile(e, 1 - calibration.MISS, axis=0), 2).tolist(),
                     np.round(np.nanquantile(-e, 1 - calibration.MISS, axis=0), 2).tolist()]
    return out


def fit_recalibration(p, event) -> tuple[float, float]:
    """(a, b) of ``band.recalibrate`` with the least Brier score of ``p`` against ``event`` (0/1):
    Gauss-Newton on the logistic curve, from the identity (1, 0)."""
    x = band.logit(p)
    y = np.asarray(event, np.float64)
    theta = np.array([1.0, 0.0])
    for _ in range(100):
        f = 1.0 / (1.0 + np.exp(-(theta[0] * x + theta[1])))
        jac = (f * (1 - f))[:, None] * np.stack([x, np.ones_like(x)], axis=1)
        step = np.linalg.lstsq(jac, y - f, rcond=None)[0]
        theta += step
        if np.abs(step).max() < 1e-9:
            break
    return float(theta[0]), float(theta[1])


def recalibration(parts: dict[str, dict], gamma: float = calibration.GAMMA) -> tuple[float, float]:
    """band.FROST_RECALIBRATION from the validation parts: the fit over their forecasts pooled."""
    probs, events = [], []
    for p in parts.values():
        p10, p90 = replay(p, gamma)
        raw = band.frost_probabilities(np.stack([p10, p["point"], p90], axis=-1), calibration.LEVELS, FROST_C,
                                       ab=None)
        scored, frost = frost_cases(p)
        probs.append(raw[scored])
        events.append(frost[scored])
    return fit_recalibration(np.concatenate(probs), np.concatenate(events))


def plot_reliability(results: dict[str, dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, label="perfect")
    ax.fill_between([0, 1], [-0.1, 0.9], [0.1, 1.1], color="0.9", label="±0.1")
    for name, r in results.items():
        rows = r["frost"]["reliability"]
        ax.plot([x["forecast"] for x in rows], [x["observed"] for x in rows], "o-", ms=4, label=name)
        for x in rows:
            ax.annotate(str(x["n"]), (x["forecast"], x["observed"]), fontsize=6, xytext=(3, -8),
                        textcoords="offset points")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="frost_probability (bin mean)",
           ylabel="observed frequency of frost in the next 24 h",
           title="Frost probability reliability (numbers: cases per bin)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


def report(results: dict[str, dict], rule: FrostRule) -> str:
    pct = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    lines = ["| part | hours verified | coverage 10–90 % | below p10 | above p90 | months (min – max) |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        c = r["coverage"]
        months = [v for m, v in r["by_month"].items() if r["month_n"][m] >= 7 * 24 * 24]
        lines.append(f"| {name} | {c['n']} | **{pct(c['coverage'])}** | {pct(c['below'])} | {pct(c['above'])} "
                     f"| {pct(min(months))} – {pct(max(months))} |")
        if name.startswith("Jena 20"):
            for q, cq in r["by_quarter"].items():
                lines.append(f"| {name} {q} | {cq['n']} | **{pct(cq['coverage'])}** | {pct(cq['below'])} "
                             f"| {pct(cq['above'])} | |")
    lines += ["", "| part | pinball +24 h: band | naive (persistence + train-part error quantiles) | change "
              "| pinball, mean of +1 … +24 h |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['pinball_24']:.3f} | {r['naive_pinball_24']:.3f} "
                     f"| {100 * (r['pinball_24'] / r['naive_pinball_24'] - 1):+.1f} % | {r['pinball_all']:.3f} |")
    lines += ["", "| part | forecasts | frosts | Brier | naive | margin rule 0/1 | skill vs naive | skill vs margin "
              "| worst reliability gap (bins ≥ 50) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        f = r["frost"]
        gaps = [abs(x["observed"] - x["forecast"]) for x in f["reliability"] if x["n"] >= 50]
        lines.append(f"| {name} | {f['forecasts']} | {f['frosts']} | {f['brier']:.4f} | {f['brier_naive']:.4f} "
                     f"| {f['brier_margin']:.4f} | **{skill(f['brier'], f['brier_naive']):.3f}** "
                     f"| {skill(f['brier'], f['brier_margin']):.3f} | {max(gaps) if gaps else float('nan'):.3f} |")
    lines += ["", "| part | alert rule | alerts | hits | hit rate | false-alarm ratio | CSI |",
              "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for label, a in (("margin (default)", r["frost"]["margin_alerts"]),
                         (f"probability ≥ {rule.probability_on:g} (−{rule.probability_hysteresis:g})",
                          r["frost"]["probability_alerts"])):
            lines.append(f"| {name} | {label} | {a['alerts']} | {a['hits']} | {a['hit_rate']:.3f} "
                         f"| {a['false_alarm_ratio']:.3f} | {a['csi']:.3f} |")
    lines += ["", "| part | probability bin | cases | mean forecast | observed | gap |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        for x in r["frost"]["reliability"]:
            gap = x["observed"] - x["forecast"]
            flag = " (over 0.1)" if x["n"] >= 50 and abs(gap) > 0.1 else ""
            lines.append(f"| {name} | {x['bin']} | {x['n']} | {x['forecast']:.3f} | {x['observed']:.3f} "
                         f"| {gap:+.3f}{flag} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=None, help="default: the shipped bundle")
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--part", choices=list(PARTS), default="test", help="choose on val, report on test")
    ap.add_argument("--gamma", type=float, default=calibration.GAMMA, help="the calibration step (validation only)")
    ap.add_argument("--combine", choices=band.COMBINE_RULES, default=band.FROST_COMBINE)
    ap.add_argument("--prior", action="store_true", help="print calibration.PRIOR from the validation parts")
    ap.add_argument("--recalibration", action="store_true",
                    help="print band.FROST_RECALIBRATION from the validation parts")
    ap.add_argument("--reliability", type=Path, default=None, help="write the reliability diagram (PNG) here")
    args = ap.parse_args(argv)
    if args.prior:
        print(prior(load_parts(args.bundle, args.data_dir, PARTS["val"])))
        return
    if args.recalibration:
        a, b = recalibration(load_parts(args.bundle, args.data_dir, PARTS["val"]), args.gamma)
        print(f"FROST_RECALIBRATION = ({a:.3g}, {b:.3g})")
        return
    parts = load_parts(args.bundle, args.data_dir, PARTS[args.part])
    rule = FrostRule(mode="probability")
    results = {}
    for name in PARTS[args.part]:
        r = score(parts[name], args.gamma, args.combine, rule)
        months = parts[name]["times"].astype("datetime64[s]").astype("datetime64[M]")
        r["month_n"] = {str(m): int(np.isfinite(parts[name]["actual"][months == m]).sum()) for m in np.unique(months)}
        results[name] = r
    print(f"gamma {args.gamma:g}, combine {args.combine!r}, frost below {FROST_C:g} °C")
    print(report(results, rule))
    if args.reliability:
        plot_reliability(results, args.reliability)
        print(f"wrote {args.reliability}")


if __name__ == "__main__":
    main()
