"""The daemon's footprint against what it cannot go below, and a forecast's cost, in one run.

    python -m benchmarks.footprint [--bundle B.tflite] [--baseline B0.tflite] [--repeats 5]
                                   [--hours 150] [--env NAME=VALUE ...] [--smaps]

1. The import floor: fresh interpreters that import exactly NumPy, paho-mqtt and the LiteRT
   interpreter (what any Python daemon serving a LiteRT model over MQTT loads) and read their
   own VmRSS; the median of ``--repeats`` processes.
2. The daemon: ``edgecast run`` (the real CLI, a real mosquitto, the bundle under test) fed
   ``--hours`` of real 2020 Jena rows until the model has served, VmRSS one second after the
   last stats message; the median of ``--repeats`` fresh daemons. ``--env`` sets variables
   in the daemon's environment only (e.g. MALLOC_ARENA_MAX=2 to try an allocator setting).
3. Floor, daemon, difference and ratio; ``--smaps`` adds where the difference lives
   (/proc/PID/smaps of one floor process and one daemon, by mapping).
4. One forecast in LiteRT: ``Runner.predict_one`` and ``invoke()`` medians (benchmarks.invoke,
   a fresh process per bundle) for the bundle and the baseline, alternating, each the median
   of ``--repeats`` runs of 2,000 calls.

MB here is 10^6 bytes (the unit of the footprint target); MiB figures are printed beside.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks.daemon import STATION, Rig, last_stats, proc_status, publisher, rows
from edgecast.replay import replay
from harness.processes import wait_until

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "edgecast" / "models" / "default.tflite"
BASELINE = ROOT / "edgecast" / "models" / "jena.tflite"
HEADROOM_MB = 3.0  # the target: the daemon's RSS at most the floor plus this

# What the floor process imports: the runtime parts, nothing of edgecast.
FLOOR_IMPORTS = "import numpy, paho.mqtt.client; from ai_edge_litert.interpreter import Interpreter"


def smaps(pid: int | str = "self") -> Counter:
    """Resident bytes by mapping name ([anon], [heap], a library's path) of one process."""
    by_name, name = Counter(), "[anon]"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                name = parts[5] if len(parts) > 5 else "[anon]"
            elif line.startswith("Rss:"):
                by_name[name] += int(line.split()[1]) * 1024
    return by_name


def floor_process() -> dict:
    """One fresh interpreter with the floor's imports, read from outside while it waits."""
    child = subprocess.Popen([sys.executable, "-c", f"{FLOOR_IMPORTS}\nimport sys\nprint('ready', flush=True)\n"
                              "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the floor process failed: {FLOOR_IMPORTS}")
        return {"rss": proc_status(child.pid)["VmRSS"], "smaps": smaps(child.pid)}
    finally:
        child.stdin.close()
        child.wait(10)


def drain(sock) -> None:
    """Read and drop datagrams until the socket is closed (as systemd reads them)."""
    sock.settimeout(None)
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass


def daemon_run(bundle: Path, hours: float, env: dict, reading_ms: float) -> dict:
    """One fresh broker + `edgecast run` serving ``bundle``, fed real rows one every
    ``reading_ms`` (0: as fast as the broker acknowledges), then VmRSS and smaps."""
    rig = Rig("litert", sys.executable, env, f'[model]\npath = "{bundle}"\n')
    try:
        rig.start_daemon()
        # the daemon's STATUS=/WATCHDOG=1 datagrams block it once the socket's queue is full
        threading.Thread(target=drain, args=(rig.notify,), daemon=True).start()
        rig.subscribe()
        rig.wait_connected()
        times, values = rows("2020-03-01T00:10", hours)
        client = publisher(rig)
        speed = 600 / (reading_ms / 1e3) if reading_ms else None  # the rows are 10 minutes apart
        replay(client, f"edgecast/{STATION}/readings", times, values, speed, timeout=600)
        client.disconnect()
        client.loop_stop()
        wait_until(lambda: rig.sub.processed()[0] >= len(times), 600, 0.02, what="the daemon to count the rows")
        time.sleep(1.0)
        pid = rig.daemon.proc.pid
        status = proc_status(pid)
        threads = int(Path(f"/proc/{pid}/status").read_text().split("Threads:")[1].split()[0])
        return {"rss": status["VmRSS"], "hwm": status["VmHWM"], "threads": threads,
                "forecasts": last_stats(rig).get("forecasts", {}), "smaps": smaps(pid)}
    finally:
        rig.stop()


def latency(bundle: Path, repeats: int) -> dict:
    """benchmarks.invoke's measurement of one bundle in LiteRT, in a fresh process."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.invoke", "--child", "--bundle", str(bundle),
                          "--runtime", "litert", "--repeats", str(repeats)], capture_output=True, text=True,
                         cwd=ROOT, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def mb(n: float) -> str:
    return f"{n / 1e6:5.1f} MB ({n / 2**20:5.1f} MiB)"


def print_smaps(floor: Counter, daemon: Counter, top: int = 12) -> None:
    """Mappings by how much more the daemon holds resident than the floor process."""
    short = lambda name: name.rsplit("/", 1)[-1]  # noqa: E731
    diff = Counter({n: daemon[n] - floor[n] for n in set(floor) | set(daemon)})
    print(f"  {'mapping':44s} {'floor':>9s} {'daemon':>9s} {'more':>9s}  (MiB)")
    for name, more in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top]:
        print(f"  {short(name)[:44]:44s} {floor[name] / 2**20:9.2f} {daemon[name] / 2**20:9.2f} {more / 2**20:+9.2f}")
    rest = sum(diff.values()) - sum(v for _, v in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top])
    print(f"  {'everything else':44s} {'':9s} {'':9s} {rest / 2**20:+9.2f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", type=Path, default=DEFAULT, help="the bundle under test (default: the shipped one)")
    p.add_argument("--baseline", type=Path, default=BASELINE, help="the bundle timed beside it")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--hours", type=float, default=150, help="hours of 10-minute rows replayed into each daemon")
    p.add_argument("--reading-ms", type=float, default=20,
                   help="one reading every this many ms (0: as fast as the broker acknowledges)")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE in the daemon's environment")
    p.add_argument("--smaps", action="store_true", help="where the difference lives, by mapping")
    args = p.parse_args(argv)
    bundle, baseline = args.bundle.resolve(), args.baseline.resolve()
    env = dict(kv.split("=", 1) for kv in args.env)
    print(f"load average {os.getloadavg()[0]:.2f}; bundle {bundle.name} ({bundle.stat().st_size:,} B); "
          f"daemon env {env or '{}'}", flush=True)

    floors = [floor_process() for _ in range(args.repeats)]
    daemons = [daemon_run(bundle, args.hours, env, args.reading_ms) for _ in range(args.repeats)]
    if not all(d["forecasts"].get("model") for d in daemons):
        print(f"WARNING: the model did not serve in every run: {[d['forecasts'] for d in daemons]}")
    floor = statistics.median(f["rss"] for f in floors)
    daemon = statistics.median(d["rss"] for d in daemons)
    print(f"import floor (python + numpy + paho + LiteRT interpreter): {mb(floor)}  "
          f"median of {len(floors)} processes")
    print(f"daemon (edgecast run, {bundle.name}, {args.hours:g} h replayed, {daemons[-1]['threads']} threads, "
          f"forecasts {daemons[-1]['forecasts']}): {mb(daemon)}  median of {len(daemons)} daemons "
          f"[{', '.join(format(d['rss'] / 1e6, '.1f') for d in daemons)} MB]")
    verdict = "met" if daemon - floor <= HEADROOM_MB * 1e6 else "MISSED"
    print(f"daemon - floor: {(daemon - floor) / 1e6:+.1f} MB ({(daemon - floor) / 2**20:+.1f} MiB); "
          f"daemon / floor {daemon / floor:.3f}x; target floor + {HEADROOM_MB:g} MB: {verdict}", flush=True)
    if args.smaps:
        print_smaps(Counter(floors[-1]["smaps"]), daemons[-1]["smaps"])

    runs = {bundle: [], baseline: []}
    for _ in range(3):  # alternate, so a change in the machine's load falls on both
        for b in runs:
            runs[b].append(latency(b, args.repeats))
    for b, rs in runs.items():
        print(f"one forecast in LiteRT, {b.name} ({b.stat().st_size:,} B): predict_one "
              f"{statistics.median(r['predict_us'] for r in rs):6.1f} µs, invoke "
              f"{statistics.median(r['invoke_us'] for r in rs):6.1f} µs  (median of {len(rs)} processes x "
              f"{args.repeats} runs x 2,000 calls; {rs[0]['runtime']})")
    ratio = (statistics.median(r["predict_us"] for r in runs[bundle])
             / statistics.median(r["predict_us"] for r in runs[baseline]))
    print(f"{bundle.name} / {baseline.name}: {ratio:.2f}x per forecast")


if __name__ == "__main__":
    main()
