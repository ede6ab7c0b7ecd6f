"""Footprint measurements of a bundle on this box: latency and memory, as figures.

Used by ``edgecast inspect`` and the benchmark scripts. Memory is measured in a fresh
child process so the figure is what a daemon that loads this model would pay, not what
the measuring process already held.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, sys
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
from edgecast.forecaster import load_forecaster
import numpy as np
from edgecast.runtime import resolve
resolve(sys.argv[2])  # import the runtime before the baseline reading
before = hwm()
f = load_forecaster(sys.argv[1], runtime=sys.argv[2])
f.runner.predict_one(np.zeros(f.runner.input_shape, np.float32))
print(json.dumps({"peak_rss_bytes": hwm(), "runtime_baseline_bytes": before}))
"""


def latency_ms(runner, repeats: int = 200, warmup: int = 20) -> dict:
    """Median and p99 of one invoke on a real-shaped input, in milliseconds."""
    window = np.random.default_rng(0).standard_normal(runner.input_shape).astype(np.float32)
    for _ in range(warmup):
        runner.predict_one(window)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.predict_one(window)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)), "runs": repeats}


def peak_rss(bundle_path: Path, runtime: str = "auto", python: str | None = None) -> dict:
    """Peak RSS of a fresh process that imports the runtime, loads the bundle and forecasts once."""
    out = subprocess.run([python or sys.executable, "-c", _CHILD, str(bundle_path), runtime],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["model_share_bytes"] = result["peak_rss_bytes"] - result["runtime_baseline_bytes"]
    return result
