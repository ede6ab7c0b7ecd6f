"""A band bundle beside the shipped one on the validation parts, through LiteRT.

    python -m training.scripts.band_graph --data ../shared/data \
        --bundle edgecast/models/default.tflite --bundle runs/stations/band.tflite

For each bundle and validation part (the validation places of edgecast.places and Jena
2021, the ``years`` protocol's validation year; never a test part: these figures decide
whether a bundle ships): the point forecast's MAE (a band bundle's median) per horizon
group of the daemon's stats (calibration.GROUPS), each bundle on the same windows, and
the change from the first bundle; for a band bundle the coverage of its own 10–90 % band
(no box calibration) and its mean pinball loss at +24 h. Windows scored: those whose 24
hours were all measured, as the curve kinds are fitted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgecast import protocol
from edgecast.daemon.calibration import GROUPS
from edgecast.data import load
from edgecast.forecaster import load_forecaster
from training.scripts.band_scores import coverage, pinball

PARTS = {"validation places": "stations", "Jena 2021": "years"}


def forecasts(bundle: str, data_dir: Path, loaded: dict) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """{part: (point (n, 24), quantiles (n, 24, Q) or None)} of ``bundle`` on each validation part."""
    forecaster = load_forecaster(bundle, "litert")
    out = {}
    for name, proto in PARTS.items():
        if proto not in loaded:
            if proto == "stations":
                from edgecast.places import load_places
                loaded[proto] = load_places(data_dir, log=lambda *_: None)
            else:
                loaded[proto] = load([data_dir / f for f in protocol.YEARS_FILES])
        layout, predict = forecaster.on_layout(proto, loaded[proto], quantiles=bool(forecaster.quantiles))
        starts = layout.starts("val")
        values = predict(starts)
        actual = protocol.curve_targets(layout, starts)
        if forecaster.quantiles:
            point = values[..., forecaster.quantiles.index(0.5)]
            out[name] = (point, values, actual, forecaster.quantiles)
        else:
            out[name] = (values, None, actual, None)
    return out


def report(bundles: list[str], results: list[dict]) -> str:
    head = " | ".join(f"+{a}…{b} h" for a, b in GROUPS)
    lines = [f"| part | bundle | {head} | +24 h | band coverage 10–90 % | pinball +24 h |",
             "|---|---|" + "---|" * (len(GROUPS) + 3)]
    for part in PARTS:
        actual = results[0][part][2]
        ok = np.isfinite(actual).all(axis=1)
        for r in results:
            ok &= np.isfinite(r[part][0]).all(axis=1)
        first = None
        for bundle, r in zip(bundles, results):
            point, q, actual, levels = r[part]
            err = np.abs(point[ok] - actual[ok])  # (n, 24)
            groups = [float(err[:, a - 1:b].mean()) for a, b in GROUPS] + [float(err[:, -1].mean())]
            cells = [f"{g:.3f}" if first is None else f"{g:.3f} ({g - f:+.3f})" for g, f in
                     zip(groups, first or groups)]
            first = first or groups
            cov = pin = "—"
            if q is not None:
                c = coverage(q[ok][..., 0], q[ok][..., -1], actual[ok])
                cov = f"{100 * c['coverage']:.1f} % (below {100 * c['below']:.1f}, above {100 * c['above']:.1f})"
                pin = f"{pinball(q[ok][:, -1, :], actual[ok][:, -1], levels):.3f}"
            lines.append(f"| {part} ({int(ok.sum())} windows) | {Path(bundle).name} | {' | '.join(cells)} "
                         f"| {cov} | {pin} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--bundle", action="append", required=True, help="a bundle; the first is the reference")
    args = ap.parse_args(argv)
    loaded: dict = {}
    results = [forecasts(b, args.data, loaded) for b in args.bundle]
    print(report(args.bundle, results))


if __name__ == "__main__":
    main()
