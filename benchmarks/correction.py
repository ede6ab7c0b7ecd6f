"""The on-box correction's cost per completed hour: budget ≤ 1 ms, ≤ 1 MB, state ≤ 200 KB.

    python -m benchmarks.correction [--repeats 7] [--hours 2000]

Per completed hour the daemon does, for the correction: verify the pending curves meeting
this hour (skill.Skill.verify → Correction.verify: record 24 prequential errors, one
batched RLS update of 24 horizons), apply the weights to the new curve, the per-horizon
gate, and the figures of the payload. This times exactly those calls over ``--hours``
hours of a 24-horizon curve (median per hour of each run; printed: the median of
``--repeats`` runs), and prints the size of the correction's state as JSON and of the
pending curves the skill keeps for it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc

import numpy as np

from edgecast.daemon.correction import DAY, Correction
from edgecast.daemon.skill import Skill
from edgecast.resample import HOUR


def one_run(hours: int, rng) -> tuple[float, Skill, Correction]:
    skill, correction = Skill(), Correction("0123456789ab", range(1, 25), -115.137)
    h0 = 20000 * DAY
    times = []
    for n in range(hours):
        hour = h0 + n * HOUR
        actual = 20 + 8 * np.sin(2 * np.pi * n / 24) + rng.normal()
        curve = actual + 3 + rng.normal(0, 2, 24)
        start = time.perf_counter()
        skill.verify(hour, float(actual), correction)  # learn from the pending curves meeting this hour
        corrected = correction.apply(curve, float(actual), hour)
        served = np.where(correction.active(), corrected, curve)
        figures = correction.figures()
        skill.issued(hour, {"temperature_c": float(served[-1]), "source": "model", "model_c": float(curve[-1]),
                            "naive_c": float(actual), "correction": figures}, float(served[-1]), curve, corrected)
        times.append(time.perf_counter() - start)
    return statistics.median(times), skill, correction


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--hours", type=int, default=2000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(args.repeats):
        seconds, skill, correction = one_run(args.hours, rng)
        runs.append(seconds)
    tracemalloc.start()
    _, skill, correction = one_run(200, rng)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    state = len(json.dumps(correction.to_dict(), separators=(",", ":")))
    pending = len(json.dumps(skill.to_dict()["pending"], separators=(",", ":")))
    print(f"correction per completed hour (skill verify + RLS update of 24 horizons + apply + gate), "
          f"median of {args.repeats} runs of {args.hours} hours: {statistics.median(runs) * 1e3:.3f} ms "
          f"(runs: {', '.join(f'{r * 1e3:.3f}' for r in runs)} ms)")
    print(f"state: correction section {state / 1000:.1f} kB, the skill's pending forecasts with their curves "
          f"{pending / 1000:.1f} kB; weights + P + 15 days of per-horizon error sums in memory: "
          f"{(correction.w.nbytes + correction.P.nbytes + correction.sums.nbytes) / 1000:.1f} kB; "
          f"peak traced allocation over 200 hours {peak / 1e6:.2f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
