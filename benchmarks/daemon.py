"""The daemon on this box, measured through real parts: mosquitto, `edgecast run` as a
process, real 2020 rows, a paho subscriber (harness/processes.py).

Every figure is a median of ``--repeats`` fresh runs (a new broker, daemon and state
directory each time); ratios are taken between figures of the same invocation.

    python -m benchmarks.daemon rss        steady-state and peak RSS: LiteRT, tflite-runtime,
                                           tf.lite from full TensorFlow, naive only (+ ratio)
    python -m benchmarks.daemon coldstart  process start -> READY=1 with a persisted 120-hour
                                           window (our own NOTIFY_SOCKET), per runtime
    python -m benchmarks.daemon latency    reading that completes an hour -> forecast at a
                                           subscriber, p50/p99 over many hours
    python -m benchmarks.daemon backlog    readings/s with zero loss: live replay at max speed,
                                           and a queued backlog delivered after an outage
    python -m benchmarks.daemon profile    py-spy flame data of the daemon during a backlog
    python -m benchmarks.daemon stations   RSS and threads of one daemon serving 1, 2, 4, 8
                                           stations ([[stations]]), each fed real rows

Run from the repository root with the .venv interpreter (it has TensorFlow, LiteRT and
the harness package); ``--tflite-python`` names the tflite-runtime interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edgecast.data import load
from edgecast.replay import new_client_id, replay, select_rows
from harness.processes import Broker, Daemon, Subscriber, wait_until

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = str(Path(__file__).resolve().parent / "_launch.py")
DATA = Path(os.environ.get("EDGECAST_DATA") or ROOT.parent / "shared" / "data" / "weather.csv.xz")
STATION = "jena"
TOPICS = [f"edgecast/{STATION}/forecast", f"edgecast/{STATION}/stats"]

# runtime name -> (python, environment for the launcher)
def runtimes(tflite_python: str | None) -> dict[str, tuple[str, dict]]:
    found = {"litert": (sys.executable, {}),
             "tensorflow": (sys.executable, {"EDGECAST_BENCH_RUNTIME": "tensorflow"})}
    if tflite_python:
        found["tflite-runtime"] = (tflite_python, {})
    return found


def chosen(variants: dict, args) -> list:
    """The variants named by --runtime (comma-separated), else all."""
    if not args.runtime:
        return list(variants.items())
    names = [n.strip() for n in args.runtime.split(",")]
    return [(n, v) for n, v in variants.items() if n in names or n.split()[-1] in names]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM etc. of a live process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "VmSize"):
                out[key] = int(rest.split()[0]) * 1024
    return out


class TimedSubscriber(Subscriber):
    """The harness subscriber, also noting when each message arrived (perf_counter)."""

    def __init__(self, broker, topics):
        self.arrivals: list[tuple[float, str, object]] = []
        self.event = threading.Event()
        super().__init__(broker, topics)

    def _on_message(self, client, userdata, msg):
        now = time.perf_counter()
        super()._on_message(client, userdata, msg)
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = None
        with self.lock:
            self.arrivals.append((now, msg.topic, payload))
        self.event.set()

    def processed(self) -> tuple[int, float | None]:
        """Readings the daemon has counted (accepted + rejected) in its latest stats, and when."""
        with self.lock:
            for t, topic, p in reversed(self.arrivals):
                if topic.endswith("/stats") and isinstance(p, dict):
                    r = p["readings"]
                    return r["accepted"] + sum(r["rejected"].values()), t
        return 0, None


class Rig:
    """A broker, one daemon (on a chosen runtime / interpreter) and a NOTIFY_SOCKET we bind."""

    def __init__(self, runtime: str, python: str, env: dict, extra: str = "", broker_nodelay: bool = False,
                 stations: str = ""):
        self.tmp = tempfile.TemporaryDirectory(prefix="edgecast-bench-")
        self.dir = Path(self.tmp.name)
        (self.dir / "broker").mkdir()
        # set_tcp_nodelay is a global mosquitto option: the harness appends it to its config
        self.broker = Broker(self.dir / "broker", listeners="set_tcp_nodelay true\n" if broker_nodelay else "")
        self.broker.start()
        self.notify_path = str(self.dir / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.python = python
        self.daemon = Daemon(self.dir, self.broker, station=STATION, extra=extra, stations=stations,
                             env={**env, "NOTIFY_SOCKET": self.notify_path}, command=[python, LAUNCH])
        self.runtime = runtime
        self.sub = None

    def start_daemon(self, timeout: float = 60) -> float:
        """Start `edgecast run`; seconds from Popen to the READY=1 datagram."""
        self.notify.settimeout(timeout)
        t0 = time.perf_counter()
        self.daemon.start()
        while True:
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                raise RuntimeError(f"no READY=1 within {timeout}s:\n{self.daemon.log()[-2000:]}") from None
            if "READY=1" in msg.split("\n"):
                return time.perf_counter() - t0

    def subscribe(self) -> TimedSubscriber:
        self.sub = TimedSubscriber(self.broker, TOPICS)
        return self.sub

    def wait_connected(self) -> None:
        wait_until(lambda: "connected (session present" in self.daemon.log(), 20, what="daemon connect")

    def stop(self) -> None:
        if self.sub:
            self.sub.close()
        if self.daemon.proc and self.daemon.proc.poll() is None:
            self.daemon.stop()
        self.broker.stop()
        self.notify.close()
        self.tmp.cleanup()


def publisher(rig: Rig):
    import paho.mqtt.client as mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=new_client_id())
    c.connect("127.0.0.1", rig.broker.port)
    c.loop_start()
    wait_until(c.is_connected, 10, what="publisher connection")
    return c


_SERIES = None


def series():
    global _SERIES
    if _SERIES is None:
        _SERIES = load([DATA])
    return _SERIES


def rows(start: str, hours: float):
    """Rows from ``start`` for ``hours``; starting at :10 makes the last row an H:00 one,
    so the last reading completes an hour and the last stats message counts everything."""
    s = series()
    first, end = select_rows(s.times, start, hours)
    return s.times[first:end], s.values[first:end]


def feed(rig: Rig, start: str, hours: float, timeout: float = 600) -> dict:
    """Replay at max speed into a running daemon; wait until it has counted every reading."""
    times, values = rows(start, hours)
    client = publisher(rig)
    t0 = time.perf_counter()
    acked = replay(client, f"edgecast/{STATION}/readings", times, values, None, timeout=timeout)
    t_published = time.perf_counter()
    client.disconnect()
    client.loop_stop()
    n = len(times)
    wait_until(lambda: rig.sub.processed()[0] >= n, timeout, 0.02, what=f"daemon to count {n} readings")
    done_at = rig.sub.processed()[1]
    return {"readings": n, "acked": acked, "seconds": done_at - t0, "publish_seconds": t_published - t0}


def last_stats(rig: Rig) -> dict:
    with rig.sub.lock:
        for _, topic, p in reversed(rig.sub.arrivals):
            if topic.endswith("/stats") and isinstance(p, dict):
                return p
    return {}


def outbox_max(rig: Rig) -> int:
    """The most forecasts the daemon held unacknowledged (each is in every state write)."""
    with rig.sub.lock:
        return max((p.get("outbox", {}).get("pending", 0) for _, topic, p in rig.sub.arrivals
                    if topic.endswith("/stats") and isinstance(p, dict)), default=0)


# --- rss ----------------------------------------------------------------------------------------
def bench_rss(args) -> dict:
    variants = dict(runtimes(args.tflite_python))
    variants["litert MALLOC_ARENA_MAX=2"] = (sys.executable, {"MALLOC_ARENA_MAX": "2"})
    variants["naive only (no model)"] = (sys.executable, {})
    models = {}
    for path in args.model or ():  # other export variants, in LiteRT
        variants[f"litert {Path(path).name}"] = (sys.executable, {})
        models[f"litert {Path(path).name}"] = str(Path(path).resolve())
    results = {}
    for name, (python, env) in chosen(variants, args):
        extra = '[model]\npath = "/nonexistent.tflite"\n' if name.startswith("naive") else ""
        if name in models:
            extra = f'[model]\npath = "{models[name]}"\n'
        runs = []
        for _ in range(args.repeats):
            rig = Rig(name, python, env, extra)
            try:
                rig.start_daemon()
                rig.subscribe()
                rig.wait_connected()
                ready = proc_status(rig.daemon.proc.pid)
                feed(rig, "2020-03-01T00:10", args.hours)
                time.sleep(1.0)
                after = proc_status(rig.daemon.proc.pid)
                st = last_stats(rig)
                runs.append({"ready_rss": ready["VmRSS"], "rss": after["VmRSS"], "hwm": after["VmHWM"],
                             "anon": after["RssAnon"], "forecasts": st.get("forecasts", {})})
            finally:
                rig.stop()
        results[name] = {k: median([r[k] for r in runs]) for k in ("ready_rss", "rss", "hwm", "anon")}
        results[name]["forecasts"] = runs[-1]["forecasts"]
        if not name.startswith("naive") and not runs[-1]["forecasts"].get("model"):
            print(f"WARNING: {name}: the model never served (see the daemon log); this is a naive-only figure")
        print(f"{name:32s} ready {results[name]['ready_rss'] / 2**20:6.1f} MiB  steady "
              f"{results[name]['rss'] / 2**20:6.1f} MiB  peak {results[name]['hwm'] / 2**20:6.1f} MiB  "
              f"anon {results[name]['anon'] / 2**20:6.1f} MiB  {results[name]['forecasts']}", flush=True)
    base = results.get("litert")
    for name, r in results.items() if base else ():
        print(f"  {name:32s} steady {r['rss'] / base['rss']:.2f}x  peak {r['hwm'] / base['hwm']:.2f}x  (vs litert)")
    return results


# --- several stations ------------------------------------------------------------------------------
def bench_stations(args) -> dict:
    """What each further station costs one daemon: its own MQTT connection and paho thread,
    interpreter, buffer and adapter (the process, Python, NumPy and LiteRT are shared)."""
    results = {}
    times, values = rows("2020-03-01T00:10", args.hours)
    for n in (1, 2, 4, 8):
        ids = [f"s{i}" for i in range(n)]
        runs = []
        for _ in range(args.repeats):
            rig = Rig("litert", sys.executable, {}, stations="".join(f'[[stations]]\nid = "{i}"\n' for i in ids))
            try:
                rig.start_daemon()
                wait_until(lambda: rig.daemon.log().count("connected (session present") == n, 20,
                           what=f"{n} station connections")
                sub = Subscriber(rig.broker, [f"edgecast/{i}/stats" for i in ids])
                client = publisher(rig)
                for i in ids:
                    replay(client, f"edgecast/{i}/readings", times, values, None)
                client.disconnect()
                client.loop_stop()
                for i in ids:
                    wait_until(lambda i=i: (m := sub.get(f"edgecast/{i}/stats")) and
                               m[-1]["readings"]["accepted"] == len(times) and m[-1]["forecasts"].get("model"),
                               300, 0.05, what=f"station {i} to count {len(times)} readings and serve the model")
                sub.close()
                time.sleep(1.0)
                status = proc_status(rig.daemon.proc.pid)
                threads = int(Path(f"/proc/{rig.daemon.proc.pid}/status").read_text().split("Threads:")[1].split()[0])
                runs.append({"rss": status["VmRSS"], "hwm": status["VmHWM"], "threads": threads})
            finally:
                rig.stop()
        results[n] = {k: median([r[k] for r in runs]) for k in ("rss", "hwm", "threads")}
        extra = (results[n]["rss"] - results[1]["rss"]) / (n - 1) if n > 1 else 0
        print(f"{n} station{'s' if n > 1 else ' '}  steady {results[n]['rss'] / 2**20:6.1f} MiB  peak "
              f"{results[n]['hwm'] / 2**20:6.1f} MiB  threads {results[n]['threads']:3.0f}  "
              + (f"+{extra / 2**20:.2f} MiB per further station  ({results[n]['rss'] / results[1]['rss']:.2f}x "
                 "one station)" if n > 1 else ""), flush=True)
    return results


# --- cold start -----------------------------------------------------------------------------------
def bench_coldstart(args) -> dict:
    results = {}
    for name, (python, env) in chosen(runtimes(args.tflite_python), args):
        rig = Rig(name, python, env)
        times = []
        try:
            rig.start_daemon()
            rig.subscribe()
            rig.wait_connected()
            feed(rig, "2020-03-01T00:10", 125)
            rig.daemon.stop()  # SIGTERM: the 120-hour window is flushed to the state file
            for _ in range(args.repeats):
                times.append(rig.start_daemon())
                wait_until(lambda: "resumed 120 buffered hours" in rig.daemon.log(), 20, what="resume")
                rig.daemon.stop()
        finally:
            rig.stop()
        results[name] = {"median_s": median(times), "min_s": min(times), "max_s": max(times)}
        print(f"{name:16s} start -> READY=1 (120 h resumed): median {median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} starts)", flush=True)
    return results


IMPORTS = {
    "python -c pass": "",
    "numpy": "import numpy",
    "paho-mqtt": "import paho.mqtt.client",
    "edgecast daemon (no runtime)": "import edgecast.daemon.service",
    "litert": "import ai_edge_litert.interpreter",
    "tflite-runtime": "import tflite_runtime.interpreter",
    "tensorflow (tf.lite)": "import tensorflow.lite.python.interpreter",
}


def bench_imports(args) -> dict:
    """Wall time of a fresh interpreter that imports X (minus a bare start), median of runs."""
    code = "import time; t=time.perf_counter(); {stmt}; print(time.perf_counter()-t)"
    results = {}
    for name, stmt in IMPORTS.items():
        python = args.tflite_python if name == "tflite-runtime" else sys.executable
        if not python:
            continue
        inner, wall = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = subprocess.run([python, "-c", code.format(stmt=stmt or "pass")], capture_output=True,
                                 text=True, cwd=ROOT)
            wall.append(time.perf_counter() - t0)
            if out.returncode:
                raise RuntimeError(out.stderr)
            inner.append(float(out.stdout.strip()))
        results[name] = {"import_s": median(inner), "process_s": median(wall)}
        print(f"{name:30s} import {median(inner) * 1e3:8.1f} ms   whole process {median(wall) * 1e3:8.1f} ms",
              flush=True)
    return results


# --- latency --------------------------------------------------------------------------------------
def bench_latency(args) -> dict:
    results = {}
    names = args.runtime.split(",") if args.runtime else ["litert"]
    for name, nodelay in [(n, d) for n in names for d in (False, True)]:
        python, env = runtimes(args.tflite_python)[name]
        rig = Rig(name, python, env, broker_nodelay=nodelay)
        label = f"{name}, mosquitto set_tcp_nodelay {'true' if nodelay else 'false (default)'}"
        lat, sources = [], {}
        try:
            rig.start_daemon()
            sub = rig.subscribe()
            rig.wait_connected()
            feed(rig, "2020-03-01T00:10", 121)  # the window is full: the model serves
            times, values = rows("2020-03-06T01:10", args.hours)
            client = publisher(rig)
            topic = f"edgecast/{STATION}/readings"
            from edgecast.replay import reading_payload
            for t, v in zip(times, values):
                payload = reading_payload(t, v)
                on_hour = int(t.astype("datetime64[s]").astype(np.int64)) % 3600 == 0
                if not on_hour:
                    client.publish(topic, payload, qos=1).wait_for_publish(5)
                    continue
                time.sleep(0.02)  # the daemon has handled the hour's other readings
                issued = str(t.astype("datetime64[s]")) + "Z"
                mark = len(sub.arrivals)
                t0 = time.perf_counter()
                client.publish(topic, payload, qos=1)

                def arrived():
                    with sub.lock:
                        for at, tp, p in sub.arrivals[mark:]:
                            if tp.endswith("/forecast") and isinstance(p, dict) and p["issued_at"] == issued:
                                return at, p
                got = wait_until(arrived, 10, 0.0005, what=f"forecast for {issued}")
                lat.append(got[0] - t0)
                sources[got[1]["source"]] = sources.get(got[1]["source"], 0) + 1
            client.disconnect()
            client.loop_stop()
        finally:
            rig.stop()
        ms = np.array(lat) * 1e3
        results[label] = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                          "max_ms": float(ms.max()), "hours": len(ms), "sources": sources}
        r = results[label]
        print(f"{label}: reading -> forecast at subscriber: p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
              f"max {r['max_ms']:.2f} ms over {len(ms)} hours {sources}", flush=True)
    return results


# --- backlog --------------------------------------------------------------------------------------
def bench_backlog(args) -> dict:
    python, env = runtimes(args.tflite_python)[args.runtime or "litert"]
    live, queued = [], []
    for i in range(args.repeats):
        # live: the daemon is up, the replay publishes as fast as the broker acknowledges
        rig = Rig("litert", python, env)
        try:
            rig.start_daemon()
            rig.subscribe()
            rig.wait_connected()
            r = feed(rig, "2020-01-01T00:10", args.hours)
            st = last_stats(rig)
            r["rate"] = r["readings"] / r["seconds"]
            r["publish_rate"] = r["readings"] / r["publish_seconds"]
            r["forecasts"] = sum(st["forecasts"].values())
            r["rejected"] = st["readings"]["rejected"]
            r["accepted"] = st["readings"]["accepted"]
            r["outbox_max"] = outbox_max(rig)
            live.append(r)
            print(f"live   run {i + 1}: {r['readings']} readings in {r['seconds']:.2f} s = {r['rate']:.0f}/s "
                  f"(replay alone {r['publish_rate']:.0f}/s); accepted {r['accepted']}, rejected {r['rejected']}, "
                  f"{r['forecasts']} forecasts, at most {r['outbox_max']} awaiting their PUBACK", flush=True)
        finally:
            rig.stop()
        # queued: readings published while the daemon was down, delivered at once when it starts
        rig = Rig("litert", python, env)
        try:
            rig.start_daemon()
            rig.wait_connected()
            rig.daemon.stop()  # the broker keeps the persistent session and queues for it
            times, values = rows("2020-01-01T00:10", args.hours)
            client = publisher(rig)
            replay(client, f"edgecast/{STATION}/readings", times, values, None, timeout=600)
            client.disconnect()
            client.loop_stop()
            rig.subscribe()
            ready = rig.start_daemon()
            t_ready = time.perf_counter()
            n = len(times)
            wait_until(lambda: rig.sub.processed()[0] >= n, 600, 0.02, what="the queued backlog")
            seconds = rig.sub.processed()[1] - t_ready
            st = last_stats(rig)
            q = {"readings": n, "seconds": seconds, "rate": n / seconds, "ready_s": ready,
                 "forecasts": sum(st["forecasts"].values()), "accepted": st["readings"]["accepted"],
                 "rejected": st["readings"]["rejected"]}
            queued.append(q)
            print(f"queued run {i + 1}: {n} readings in {seconds:.2f} s after READY = {q['rate']:.0f}/s; "
                  f"accepted {q['accepted']}, rejected {q['rejected']}, {q['forecasts']} forecasts", flush=True)
        finally:
            rig.stop()
    out = {"live_rate": median([r["rate"] for r in live]), "publish_rate": median([r["publish_rate"] for r in live]),
           "queued_rate": median([q["rate"] for q in queued]), "readings": live[0]["readings"],
           "loss": [r["readings"] - r["accepted"] - sum(r["rejected"].values()) for r in live + queued]}
    print(f"median: live {out['live_rate']:.0f} readings/s (replay alone {out['publish_rate']:.0f}/s), "
          f"queued backlog {out['queued_rate']:.0f} readings/s; uncounted readings per run {out['loss']}")
    return out


# --- profile --------------------------------------------------------------------------------------
def bench_profile(args) -> dict:
    """py-spy samples the daemon (its own process) while a live backlog goes through."""
    pyspy = Path(sys.executable).parent / "py-spy"
    python, env = runtimes(args.tflite_python)[args.runtime or "litert"]
    rig = Rig("litert", python, env)
    out = Path(args.out)
    try:
        rig.start_daemon()
        rig.subscribe()
        rig.wait_connected()
        spy = subprocess.Popen([str(pyspy), "record", "--pid", str(rig.daemon.proc.pid), "--rate", "250",
                                "--format", "raw", "--output", str(out), "--threads", "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        r = feed(rig, "2020-01-01T00:10", args.hours)
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    finally:
        rig.stop()
    print(f"{r['readings']} readings in {r['seconds']:.2f} s = {r['readings'] / r['seconds']:.0f}/s (under py-spy)")
    summarize_profile(out, args.top)
    return r


def summarize_profile(path: Path, top: int) -> None:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    inclusive, own, total = {}, {}, 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        n = int(n)
        frames = stack.split(";")
        if not any("on_payload" in f or "_forecast" in f or "_handle_publish" in f for f in frames):
            continue  # only paho's network thread while it handles messages
        total += n
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    print(f"{total} samples in message handling; inclusive share:")
    for f, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("self share:")
    for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["rss", "coldstart", "imports", "latency", "backlog", "profile", "stations",
                                    "all"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--hours", type=float, default=None, help="hours of 10-minute rows to replay")
    p.add_argument("--runtime", default=None, help="litert (default), tflite-runtime or tensorflow")
    p.add_argument("--tflite-python", default=os.environ.get("EDGECAST_TFLITE_PYTHON")
                   or (str(ROOT / ".venv-tflite/bin/python") if (ROOT / ".venv-tflite/bin/python").exists() else None))
    p.add_argument("--model", action="append", help="rss: also measure the daemon serving this bundle (LiteRT)")
    p.add_argument("--out", default="/tmp/edgecast-daemon.pyspy.txt", help="profile: py-spy output")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    defaults = {"rss": 150, "latency": 200, "backlog": 1000, "profile": 1000, "stations": 150}
    todo = ["imports", "coldstart", "rss", "latency", "backlog"] if args.what == "all" else [args.what]
    hours = args.hours
    for what in todo:
        args.hours = hours or defaults.get(what)
        print(f"== {what} ==", flush=True)
        globals()[f"bench_{what}"](args)


if __name__ == "__main__":
    main()
