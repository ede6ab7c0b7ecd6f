"""The largest change of each channel between consecutive readings in the real station
records: the figures behind the daemon's plausibility rule (edgecast/daemon/plausibility.py).

    python -m benchmarks.plausibility [--data DIR ...] [--quantile 0.99999]

For every file of ../shared/data/*.csv.xz and ../shared/data/stations/*.csv.xz (Jena's roof
at 10 minutes and hourly, Beijing, Brazil, US cities, Szeged) it takes each channel's
consecutive valid values (missing codes and values outside the physical range dropped,
as the daemon drops them), their time gap and |change|, and prints per channel and gap
class the largest change, the file it happened in, and a high quantile (the records'
own glitches sit above it). Wind direction's change is the shorter way round the circle.
Last, how many of the real consecutive pairs the daemon's limits (STEP_LIMITS, scaled
with the gap) would call implausible, per channel and file.
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np

from edgecast.data.clean import invalid_mask
from edgecast.data.jena import read_file
from edgecast.daemon.plausibility import STEP_LIMITS, STEP_SECONDS
from edgecast.schema import CHANNELS

SHARED = Path(__file__).resolve().parent.parent / ".." / "shared" / "data"
# Gap classes, upper bounds in minutes: a 10-minute sensor, an hourly one, gaps.
GAPS = (10, 60, 180, 360, 720, 1440)


def changes(times: np.ndarray, column: np.ndarray, circular: bool) -> tuple[np.ndarray, np.ndarray]:
    """(gap minutes, |change|) between consecutive valid values of one channel."""
    ok = np.isfinite(column)
    t = times[ok].astype("datetime64[s]").astype(np.int64)
    v = column[ok]
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    gap = np.diff(t) / 60.0
    d = np.abs(np.diff(v))
    if circular:
        d = np.minimum(d, 360.0 - d)
    keep = gap > 0
    return gap[keep], d[keep]


def survey(paths: list[Path], quantile: float) -> None:
    found: dict[tuple[int, int], list[tuple[np.ndarray, str]]] = {}
    beyond: dict[str, list[tuple[int, int, str]]] = {}  # channel -> (pairs beyond the limit, pairs, file)
    for path in paths:
        series = read_file(path)
        values = np.where(invalid_mask(series.values), np.nan, series.values)
        for j, channel in enumerate(CHANNELS):
            if np.isnan(values[:, j]).all() or channel.name in series.files[0].derived:
                continue  # absent, or computed by the reader (not a sensor's own value)
            gap, d = changes(series.times, values[:, j], channel.alias == "wd")
            if channel.name in STEP_LIMITS:
                allowed = STEP_LIMITS[channel.name] * np.sqrt(np.maximum(gap * 60, STEP_SECONDS) / STEP_SECONDS)
                beyond.setdefault(channel.alias, []).append((int((d > allowed).sum()), len(d), path.name))
            low = 0
            for bound in GAPS:
                sel = (gap > low) & (gap <= bound)
                if sel.any():
                    found.setdefault((j, bound), []).append((d[sel], path.name))
                low = bound
    print(f"{len(paths)} files; |change| between consecutive valid readings, by gap (minutes)")
    print(f"{'channel':10s} {'gap<=':>6s} {'pairs':>9s} {'q' + str(quantile):>10s} {'max':>9s}  where")
    for j, channel in enumerate(CHANNELS):
        for bound in GAPS:
            parts = found.get((j, bound))
            if not parts:
                continue
            d = np.concatenate([p for p, _ in parts])
            top = max(parts, key=lambda p: p[0].max())
            print(f"{channel.alias:10s} {bound:6d} {len(d):9d} {np.quantile(d, quantile):10.2f} "
                  f"{d.max():9.2f}  {top[1]}")
    print("\nreal pairs beyond the daemon's limits (edgecast/daemon/plausibility.py STEP_LIMITS):")
    for alias, parts in beyond.items():
        n, total = sum(p[0] for p in parts), sum(p[1] for p in parts)
        worst = ", ".join(f"{f} {k}" for k, _, f in sorted(parts, reverse=True)[:3] if k)
        print(f"{alias:10s} {n:6d} of {total:9d}  {worst}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="*", default=[str(SHARED / "*.csv.xz"), str(SHARED / "stations" / "*.csv.xz")])
    ap.add_argument("--quantile", type=float, default=0.99999)
    args = ap.parse_args(argv)
    paths = sorted(Path(p) for pattern in args.data for p in glob.glob(pattern))
    if not paths:
        raise SystemExit(f"no files match {args.data}")
    survey(paths, args.quantile)


if __name__ == "__main__":
    main()
