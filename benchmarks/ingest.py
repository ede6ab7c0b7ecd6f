"""The daemon's own work per reading, without the network: real 2020 payloads through
``Station.on_payload`` (parse, physics, event clock, hourly buffer, forecast, state write
with fsync) in this process. The MQTT link is harness/offline.py's stand-in: its publish
builds each payload's JSON, as the real one does, and keeps it; PUBACKs come at once.

    python -m benchmarks.ingest [--hours 1000] [--repeats 5] [--profile] [--state-dir DIR]

Prints readings/s (median of runs) and, with --profile, where the time goes (cProfile,
cumulative). The through-the-broker figure is ``python -m benchmarks.daemon backlog``;
this one is its ceiling on this machine.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from edgecast.daemon import config as config_mod
from edgecast.daemon.station import Station
from edgecast.replay import reading_payload
from harness.offline import offline_station

from .daemon import rows


def make_station(state_dir: Path) -> Station:
    cfg = config_mod.Config()
    cfg.station.id = "jena"
    cfg.state.dir = str(state_dir)
    config_mod.validate(cfg)
    return offline_station(cfg)  # publishes build their JSON, then stay here


def run_once(payloads: list[bytes], state_dir: Path, profile: cProfile.Profile | None = None) -> float:
    station = make_station(state_dir)
    t0 = time.perf_counter()
    if profile:
        profile.enable()
    for p in payloads:
        station.on_payload(p)
        station.link.acknowledge()  # the broker's PUBACKs, as if instant
    if profile:
        profile.disable()
    seconds = time.perf_counter() - t0
    c = station.counters
    assert c["accepted"] + sum(c["rejected"].values()) == len(payloads), c
    return seconds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=1000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--state-dir", default=None, help="where state is written (default: a temp dir on /tmp's disk)")
    args = p.parse_args(argv)
    times, values = rows("2020-01-01T00:10", args.hours)
    payloads = [reading_payload(t, v) for t, v in zip(times, values)]
    rates = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="edgecast-ingest-", dir=args.state_dir) as d:
            prof = cProfile.Profile() if args.profile and i == args.repeats - 1 else None
            s = run_once(payloads, Path(d), prof)
        rates.append(len(payloads) / s)
        print(f"run {i + 1}: {len(payloads)} readings in {s:.3f} s = {rates[-1]:.0f} readings/s "
              f"({1e6 * s / len(payloads):.0f} µs each)", flush=True)
    print(f"median {statistics.median(rates):.0f} readings/s in-process")
    if args.profile:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
