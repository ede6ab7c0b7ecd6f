"""The skill guard on the `years` test year, through real parts.

2021-12-20 .. 2022-12-31 (hourly files; the December days warm the window up) replayed at
full speed through a real `edgecast run` with the bundled model and mosquitto, once per
guard setting. Each published forecast whose valid hour lies in 2022 and was observed
(the `years` protocol's test targets) is scored: the MAE of what was published, of naive,
and of the model's own value (``model_c``, also when the guard served naive).

    python -m benchmarks.skill_guard [--data-dir ../shared/data] [--model runs/years/compact_lstm.tflite]

``--sweep`` adds guard settings simulated in-process on the guard-off run's forecasts: the
model's values (``model_c``) do not depend on the guard, so feeding them hour by hour
through skill.Skill reproduces a daemon with that setting (checked: equal to the daemon
runs' figures).

The honest model for 2022 is the `years` one (trained before 2021, `make protocol-figures`);
the shipped default bundle was fitted on all files, 2022 included.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from edgecast.data import load
from edgecast.resample import OBSERVED
from edgecast.schema import TARGET_INDEX
from harness.processes import EDGECAST, Broker, Daemon, Subscriber, wait_until

START, END = "2021-12-20T00:00:00", "2023-01-01T00:00:00"
SETTINGS = {
    "off": "skill_guard = false\n",
    "on (defaults: 7 days, margin 0.25)": "",
    "on (margin 0.1)": "skill_guard = true\nskill_guard_margin = 0.1\n",
}


def run(files: list[Path], extra: str, model: str) -> tuple[list[dict], dict]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "broker").mkdir()
        broker = Broker(tmp / "broker")
        broker.start()
        sub = Subscriber(broker, ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"])
        model_key = f"path = {json.dumps(model)}\n" if model else ""
        daemon = Daemon(tmp, broker, extra="[homeassistant]\ndiscovery = false\n[model]\n" + model_key + extra).start()
        try:
            sub.wait_online()
            hours = (np.datetime64(END) - np.datetime64(START)) / np.timedelta64(1, "h")
            args = sum((["--data", str(f)] for f in files), [])
            out = subprocess.run(EDGECAST + ["replay", *args, "--host", "127.0.0.1", "--port", str(broker.port),
                                             "--station", "jena", "--start", START, "--hours", str(hours),
                                             "--speed", "max", "--quiet"], capture_output=True, text=True,
                                 timeout=1800)
            assert out.returncode == 0, out.stderr
            last = wait_until(lambda: (s := sub.get("edgecast/jena/stats")) and s[-1]["last_issued_at"]
                              and s[-1]["last_issued_at"] >= "2022-12-31T23" and s[-1], 60, what="last stats")
            time.sleep(1)
            return sub.get("edgecast/jena/forecast"), last
        finally:
            daemon.stop()
            sub.close()
            broker.stop()


def score(forecasts: list[dict], grid) -> dict:
    index = {str(t): i for i, t in enumerate(grid.times)}
    t, observed = grid.values[:, TARGET_INDEX], grid.status[:, TARGET_INDEX] == OBSERVED
    rows = []
    for f in forecasts:
        i = index.get(f["valid_at"][:-1])
        if i is None or not observed[i] or not f["valid_at"].startswith("2022"):
            continue
        model = f["model_c"] if f["model_c"] is not None else f["naive_c"]
        rows.append((f["temperature_c"] - t[i], f["naive_c"] - t[i], model - t[i],
                     f["source"] == "naive" and (f["reason"] or "").startswith("skill guard")))
    r = np.array(rows, dtype=float)
    return {"forecasts": len(r), "published_mae": round(float(np.abs(r[:, 0]).mean()), 4),
            "naive_mae": round(float(np.abs(r[:, 1]).mean()), 4), "model_mae": round(float(np.abs(r[:, 2]).mean()), 4),
            "guarded_hours": int(r[:, 3].sum())}


def simulate(forecasts: list[dict], grid, min_days: int, margin: float) -> list[dict]:
    """What a daemon with this guard setting publishes, from the guard-off run's forecasts."""
    from edgecast.daemon.skill import Skill
    by_hour = {f["issued_at"][:-1]: f for f in forecasts}
    t, observed = grid.values[:, TARGET_INDEX], grid.status[:, TARGET_INDEX] == OBSERVED
    times = [str(x) for x in grid.times]
    skill, out = Skill(), []
    for i in range(times.index(START), len(times)):  # the daemon's order: verify, guard, issue
        hour = int(grid.hours[i])
        skill.verify(hour, float(t[i]) if observed[i] else None)
        guard = skill.guard(True, min_days, margin)
        f = by_hour.get(times[i])
        if f is None:
            continue
        if guard and f["model_c"] is not None:
            f = dict(f, temperature_c=f["naive_c"], source="naive", reason="skill guard (simulated)")
        skill.issued(hour, f)
        out.append(f)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--model", default="", help="[model] path (default: the bundled model)")
    parser.add_argument("--sweep", action="store_true", help="also simulate more guard settings (below)")
    args = parser.parse_args()
    files = [args.data_dir / "mpi_roof_2021_hourly.csv.xz", args.data_dir / "mpi_roof_2022_hourly.csv.xz"]
    grid = load(files).hourly(3)
    for name, extra in SETTINGS.items():
        started = time.monotonic()
        forecasts, stats = run(files, extra, args.model)
        result = score(forecasts, grid)
        result |= {"seconds": round(time.monotonic() - started), "sources": stats["forecasts"],
                   "skill_days_30_at_end": stats["skill"]["days_30"]}
        print(f"model {stats['model']['sha256']} guard {name}: {json.dumps(result)}", flush=True)
        if name == "off":
            off = forecasts
    if args.sweep:
        for min_days in (7, 14, 30):
            for margin in (0.0, 0.1, 0.15, 0.2, 0.25):
                print(f"simulated guard min_days {min_days} margin {margin}: "
                      f"{json.dumps(score(simulate(off, grid, min_days, margin), grid))}", flush=True)


if __name__ == "__main__":
    main()
