"""Every station file through the real daemon: what a new roof would get.

For each station file of ``--data-dir``/stations (and Jena 2022 as ``jena_2022``): a
private mosquitto and `edgecast run` from an empty state directory with the default
configuration (plus ``[station] latitude/longitude`` from stations.json when the daemon
accepts those keys; probed once with `edgecast run --check`), every hourly row of the
file published as the native JSON reading a sensor would send (``time``, ``p``, ``T``,
``rh``, ``wv``; finite values only) at full speed, paced by the daemon's stats so the
broker's queue never drops one; every published forecast collected.

Each forecast's +24 h value is scored against the temperature measured at its
``valid_at`` (only hours the file observed, the daemon's hourly rule): served
(``temperature_c``), naive (``naive_c``), the model's own (``model_c``; where the daemon
computed none, naive's value stands in and ``model_null`` counts those hours) and the
on-box correction (``corrected_c``, where not null; the correction's naive on the same
hours beside it), for the first 30 days of forecasts (issued_at before the first
forecast's + 30 days), after them, and overall.

    python -m benchmarks.stations_daemon [--data-dir ../shared/data] [--only id,id] [--model PATH]
        [--jobs 2] [--out runs/stations_daemon.json] [--plot docs/stations_daemon.png]

A station that fails is reported (``error`` in the JSON, a line in the table), the others go on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from edgecast.data import load
from edgecast.places import role_of
from edgecast.replay import MAX_OUTSTANDING, DaemonProgress, ReplayStalled, count_acks
from edgecast.resample import OBSERVED
from edgecast.schema import CHANNEL_INDEX, TARGET_INDEX
from edgecast.solar import Location
from harness.processes import EDGECAST, Broker, Daemon, Subscriber, wait_until

FIRST_DAYS = 30
# What a sensor box sends: short aliases, the channels of the default model.
SENT = (("p", CHANNEL_INDEX["p (mbar)"]), ("T", CHANNEL_INDEX["T (degC)"]), ("rh", CHANNEL_INDEX["rh (%)"]),
        ("wv", CHANNEL_INDEX["wv (m/s)"]))
# Readings ahead of the daemon's count, as `edgecast replay`. Not more: the broker's PUBACKs
# for the daemon's own forecasts queue behind the readings sent to it (BENCHMARKS.md), and
# with 5,000 ahead the daemon's stats stopped arriving for over a minute.
PACE_WINDOW = 500
# The state file is fsynced every completed hour; on a RAM disk that costs nothing, which
# changes no forecast and keeps a loaded disk from setting the pace.
TMP_ROOT = "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None
JENA_2022 = ("jena_2022", "mpi_roof_2022_hourly.csv.xz", Location(50.911, 11.5675))
ROLE_ORDER = {"train": 0, "val": 1, "test": 2, None: 3}


def role(station: str) -> str | None:
    return role_of("jena" if station == JENA_2022[0] else station)


# --- what to run ----------------------------------------------------------------------------
def stations(data_dir: Path, only: list[str] | None) -> list[tuple[str, Path, Location | None]]:
    """(id, file, location or None = from stations.json) of every station file, plus Jena 2022."""
    found = [(p.name.split(".")[0], p, None) for p in sorted((data_dir / "stations").glob("*.csv.xz"))]
    jena = data_dir / JENA_2022[1]
    if jena.exists():
        found.append((JENA_2022[0], jena, JENA_2022[2]))
    if only:
        known = {s for s, _, _ in found}
        missing = [s for s in only if s not in known]
        if missing:
            raise SystemExit(f"--only: no station file for {', '.join(missing)} (have: {', '.join(sorted(known))})")
        found = [f for f in found if f[0] in only]
    return sorted(found, key=lambda f: (ROLE_ORDER[role(f[0])], f[0]))


def payloads(series) -> list[bytes]:
    """One native JSON reading per row with any finite sent channel, in file order."""
    stamps = np.datetime_as_string(series.times.astype("datetime64[s]"), unit="s")
    out = []
    for t, row in zip(stamps, series.values):
        reading = {"time": t + "Z"}
        for alias, i in SENT:
            v = float(row[i])
            if math.isfinite(v):
                reading[alias] = v
        if len(reading) > 1:
            out.append(json.dumps(reading, separators=(",", ":")).encode())
    return out


def config_text(station: str, port: int, state_dir: Path, model: str, location: Location | None) -> str:
    where = f"latitude = {location.latitude!r}\nlongitude = {location.longitude!r}\n" if location else ""
    return (f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nclient_id = "edgecast-bench-{station}"\n'
            f"reconnect_max_delay = 2\n"
            f'[station]\nid = "{station}"\n{where}'
            f"[state]\ndir = {json.dumps(str(state_dir))}\n"
            f"[stats]\ninterval_seconds = 1\n"
            f"[homeassistant]\ndiscovery = false\n"
            + (f"[model]\npath = {json.dumps(model)}\n" if model else ""))


def location_accepted(model: str, command: list[str] = EDGECAST) -> tuple[bool, str]:
    """Whether `edgecast run --check` accepts [station] latitude/longitude (and the model)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "probe.toml"
        cfg.write_text(config_text("probe", 1883, Path(tmp) / "state", model, JENA_2022[2]))
        out = subprocess.run(command + ["run", "--check", "--config", str(cfg)], capture_output=True, text=True,
                             timeout=120)
        if out.returncode == 0:
            return True, out.stdout.strip()
        cfg.write_text(config_text("probe", 1883, Path(tmp) / "state", model, None))
        plain = subprocess.run(command + ["run", "--check", "--config", str(cfg)], capture_output=True, text=True,
                               timeout=120)
        if plain.returncode != 0:
            raise SystemExit(f"`edgecast run --check` refuses the configuration: {plain.stderr.strip()}")
        return False, (out.stderr.strip() or out.stdout.strip()).splitlines()[-1]


# --- one station through broker + daemon ----------------------------------------------------
class ForecastSubscriber(Subscriber):
    """The harness subscriber, keeping of each forecast only what is scored (a 96,000-hour
    station's full payloads would hold hundreds of MB)."""

    FIELDS = ("issued_at", "valid_at", "temperature_c", "naive_c", "model_c", "corrected_c", "source", "reason")

    def _on_message(self, client, userdata, msg):
        if msg.topic.endswith("/forecast") and not msg.retain:
            try:
                f = json.loads(msg.payload)
                keep = {k: f.get(k) for k in self.FIELDS}  # a daemon without the correction: corrected_c None
                keep["correction_active"] = bool((f.get("correction") or {}).get("active", False))
            except (ValueError, AttributeError):
                keep = {"unreadable": msg.payload[:200].decode(errors="replace")}
            with self.lock:
                self.messages[msg.topic].append(keep)
            return
        super()._on_message(client, userdata, msg)

    def latest(self, topic: str):
        with self.lock:
            m = self.messages[topic]
            return m[-1] if m else None


def publish(port: int, station: str, readings: list[bytes], progress=None, timeout: float = 120.0) -> int:
    """Publish the readings QoS 1, at most PACE_WINDOW ahead of what the daemon has counted;
    return once the broker acknowledged and the daemon counted them all."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edgecast-bench-pub-{station}")
    acked = count_acks(client)
    pace = DaemonProgress(f"edgecast/{station}/status", f"edgecast/{station}/stats")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        wait_until(client.is_connected, 10, what="publisher connection")
        pace.attach(client)
        if not pace.online(30.0):
            raise RuntimeError(f"the daemon of {station} is not online (no status/stats within 30 s)")
        topic = f"edgecast/{station}/readings"
        for sent, payload in enumerate(readings):
            while sent - acked[0] >= MAX_OUTSTANDING:
                time.sleep(0.002)
            if sent - pace.counted() >= PACE_WINDOW:
                pace.wait_until(lambda counted, sent=sent: sent - counted < PACE_WINDOW, sent)
            client.publish(topic, payload, qos=1)
            if progress and (sent + 1) % 1000 == 0:
                progress(sent + 1)
        deadline = time.monotonic() + timeout
        while acked[0] < len(readings) and time.monotonic() < deadline:
            time.sleep(0.01)
        pace.wait_until(lambda counted: counted >= len(readings), len(readings))
        return acked[0]
    finally:
        client.disconnect()
        client.loop_stop()


def run_station(station: str, series, model: str = "", location: Location | None = None, log=print,
                keep_dir: Path | None = None, command: list[str] | None = None) -> dict:
    """Replay ``series`` through a private broker and daemon; the forecasts and the daemon's last stats.

    ``location``: written as [station] latitude/longitude (None: left out)."""
    readings = payloads(series)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"stations-daemon-{station}-", dir=TMP_ROOT) as tmp:
        tmp = Path(keep_dir or tmp)
        (tmp / "broker").mkdir(parents=True, exist_ok=True)
        broker = Broker(tmp / "broker")
        topics = [f"edgecast/{station}/{t}" for t in ("forecast", "stats", "status")]
        sub = daemon = None
        try:
            broker.start()
            sub = ForecastSubscriber(broker, topics)
            daemon = Daemon(tmp, broker, station=station, command=command)
            daemon.config.write_text(config_text(station, broker.port, tmp / "state", model, location))
            daemon.start()

            def progress(n):
                log(f"  {station}: {n}/{len(readings)} hours replayed, {time.monotonic() - started:.0f} s")
            try:
                acked = publish(broker.port, station, readings, progress)
            except (ReplayStalled, RuntimeError, AssertionError) as exc:
                raise RuntimeError(f"{exc}; daemon log tail:\n{daemon.log()[-2000:]}") from None
            replayed = time.monotonic() - started
            # The daemon has counted every reading; wait for the forecasts its stats announce.
            stats_topic, fc_topic = topics[1], topics[0]

            def settled():
                s = sub.latest(stats_topic)
                if not isinstance(s, dict):
                    return None
                issued = sum(n for k, n in s.get("forecasts", {}).items() if not k.startswith("skipped"))
                return s if len(sub.get(fc_topic)) >= issued else None
            stats = wait_until(settled, 120, what=f"{station}'s announced forecasts")
            time.sleep(0.5)
            stats = sub.latest(stats_topic)
            forecasts = sub.get(fc_topic)
            cpu = cpu_seconds(daemon.proc.pid)
            rc = daemon.stop()
            log(f"  {station}: done, {len(readings)} hours replayed, {len(forecasts)} forecasts, "
                f"{time.monotonic() - started:.0f} s")
            return {"forecasts": forecasts, "stats": stats, "readings": len(readings), "acked": acked,
                    "replay_seconds": round(replayed, 1), "seconds": round(time.monotonic() - started, 1),
                    "daemon_cpu_seconds": cpu, "daemon_exit": rc}
        finally:
            if daemon is not None and daemon.proc is not None and daemon.proc.poll() is None:
                daemon.stop()
            if sub is not None:
                sub.close()
            if broker.proc is not None:
                broker.stop()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (Linux), None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)
    except (OSError, IndexError, ValueError):
        return None


# --- scoring ----------------------------------------------------------------------------------
def _epoch(iso: str) -> int:
    return int(np.datetime64(iso.rstrip("Z"), "s").astype(np.int64))


def score(forecasts: list[dict], grid, first_days: int = FIRST_DAYS) -> dict:
    """MAE of each forecast's +24 h values against the observed temperature at valid_at."""
    t, observed = grid.values[:, TARGET_INDEX], grid.status[:, TARGET_INDEX] == OBSERVED
    first_hour = int(grid.hours[0])
    rows = []
    good = [f for f in forecasts if "valid_at" in f]
    if not good:
        return {"all": None, "first": None, "after": None, "forecasts": 0, "unreadable": len(forecasts)}
    start = min(_epoch(f["issued_at"]) for f in good)
    for f in good:
        i = (_epoch(f["valid_at"]) - first_hour) // 3600
        if not 0 <= i < len(t) or not observed[i]:
            continue
        actual = float(t[i])
        model_null = f["model_c"] is None
        model = f["naive_c"] if model_null else f["model_c"]
        corrected = f.get("corrected_c")
        rows.append((_epoch(f["issued_at"]) - start < first_days * 86400,
                     f["temperature_c"] - actual, f["naive_c"] - actual, model - actual, model_null,
                     np.nan if corrected is None else corrected - actual, f["source"] == "model",
                     bool(f.get("correction_active"))))
    r = np.array(rows, dtype=float).reshape(-1, 8)
    return {"forecasts": len(forecasts), "scored": len(r),
            "first": _period(r[r[:, 0] == 1]), "after": _period(r[r[:, 0] == 0]), "all": _period(r)}


def _mae(e) -> float | None:
    return round(float(np.abs(e).mean()), 4) if len(e) else None


def _ratio(a, b) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def _period(r: np.ndarray) -> dict | None:
    if not len(r):
        return None
    has = np.isfinite(r[:, 5])
    out = {"n": len(r), "served_mae": _mae(r[:, 1]), "naive_mae": _mae(r[:, 2]), "model_mae": _mae(r[:, 3]),
           "model_null": int(r[:, 4].sum()), "served_model": int(r[:, 6].sum()),
           "corrected_n": int(has.sum()), "corrected_mae": _mae(r[has, 5]),
           "corrected_naive_mae": _mae(r[has, 2]), "correction_active": int(r[:, 7].sum())}
    out["served_over_naive"] = _ratio(out["served_mae"], out["naive_mae"])
    out["model_over_naive"] = _ratio(out["model_mae"], out["naive_mae"])
    out["corrected_over_naive"] = _ratio(out["corrected_mae"], out["corrected_naive_mae"])
    return out


# --- reporting -------------------------------------------------------------------------------
def _f(x, digits=2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def table(results: list[dict]) -> str:
    head = ("| station | role | hours | forecasts | served 0–30 d | naive 0–30 d | model 0–30 d | served/naive 0–30 d "
            "| served >30 d | naive >30 d | model >30 d | corrected >30 d (n) | served/naive >30 d "
            "| served all | naive all | model all | served/naive all | s/station |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        if r.get("error"):
            lines.append(f"| {r['station']} | {r['role']} | failed: {r['error'].splitlines()[0][:80]} |")
            continue
        s = r["score"]
        cells = [r["station"], r["role"] or "–", str(r["readings"]), str(s["forecasts"])]
        for key in ("first", "after", "all"):
            p = s[key] or {}
            cells += [_f(p.get("served_mae")), _f(p.get("naive_mae")), _f(p.get("model_mae"))]
            if key == "after":
                cells.append(f"{_f(p.get('corrected_mae'))} ({p.get('corrected_n', 0)})")
            cells.append(_f(p.get("served_over_naive"), 3))
        cells.append(f"{r['seconds']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(results: list[dict]) -> dict:
    ok = [r for r in results if not r.get("error")]

    def med(rs):
        v = [r["score"]["after"]["served_over_naive"] for r in rs
             if r["score"]["after"] and r["score"]["after"]["served_over_naive"] is not None]
        return {"median": round(float(np.median(v)), 4) if v else None, "stations": len(v)}

    def count(key):
        v = [r["score"][key]["served_mae"] <= r["score"][key]["naive_mae"] for r in ok if r["score"][key]]
        return {"served_le_naive": int(sum(v)), "of": len(v)}
    return {"served_over_naive_after_30d": {"all": med(ok), "val": med([r for r in ok if r["role"] == "val"]),
                                            "test": med([r for r in ok if r["role"] == "test"])},
            "first_30d": count("first"), "after_30d": count("after"),
            "failed": [r["station"] for r in results if r.get("error")]}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    ok = [r for r in results if not r.get("error")]
    colors = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green", None: "tab:gray"}
    x = np.arange(len(ok))
    after = [((r["score"]["after"] or {}).get("served_over_naive") or np.nan) for r in ok]
    first = [((r["score"]["first"] or {}).get("served_over_naive") or np.nan) for r in ok]
    fig, ax = plt.subplots(figsize=(max(6, 0.42 * len(ok) + 2), 4.8))
    c = [colors[r["role"]] for r in ok]
    ax.bar(x - 0.2, first, 0.4, color=c, alpha=0.4, edgecolor=c, hatch="//")
    ax.bar(x + 0.2, after, 0.4, color=c)
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_xticks(x, [r["station"] for r in ok], rotation=70, ha="right", fontsize=8)
    ax.set_ylabel("served MAE / naive MAE (+24 h)")
    ax.set_title("edgecast run on each station from an empty state: served / naive MAE\n"
                 "(+24 h; hatched: first 30 days, solid: after; below 1 = better than naive)", fontsize=10)
    handles = [Patch(color=colors[k], label=k) for k in ("train", "val", "test") if any(r["role"] == k for r in ok)]
    handles += [Patch(facecolor="white", edgecolor="gray", hatch="//", label="first 30 days"),
                Patch(color="gray", label="after 30 days")]
    ax.legend(handles=handles, fontsize=8, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main ----------------------------------------------------------------------------------------
def one(station: str, path: Path, location: Location | None, model: str, with_location: bool, log) -> dict:
    result = {"station": station, "role": role(station), "file": str(path)}
    try:
        series = load(path, location)
        result["location"] = {"latitude": series.location.latitude, "longitude": series.location.longitude}
        result |= run_station(station, series, model, series.location if with_location else None, log)
        forecasts = result.pop("forecasts")
        result["score"] = score(forecasts, series.hourly(3))
        stats = result.pop("stats") or {}
        result["daemon"] = {k: stats.get(k) for k in ("forecasts", "readings", "hours_completed", "model",
                                                        "model_error", "skill")}
        result["sources"] = stats.get("forecasts")
    except Exception as exc:  # reported, the others go on
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
        log(f"  {station}: FAILED {result['error'].splitlines()[0]}")
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--only", default="", help="comma-separated station ids (jena_2022 for Jena's 2022 file)")
    parser.add_argument("--model", default="", help="[model] path (default: the bundled model)")
    parser.add_argument("--jobs", type=int, default=2, help="stations run at once")
    parser.add_argument("--out", type=Path, default=Path("runs/stations_daemon.json"))
    parser.add_argument("--plot", type=Path, default=Path("docs/stations_daemon.png"))
    args = parser.parse_args(argv)
    todo = stations(args.data_dir, [s for s in args.only.split(",") if s] or None)
    with_location, said = location_accepted(args.model)
    if with_location:
        print("`edgecast run --check` accepts [station] latitude/longitude: each station gets its own; "
              + "; ".join(line.strip() for line in said.splitlines() if line.strip().startswith("model:")), flush=True)
    else:
        print(f"note: the daemon's configuration does not accept [station] latitude/longitude yet ({said}); "
              "the stations run without them", flush=True)
    print(f"{len(todo)} stations, {args.jobs} at a time; model {args.model or 'bundled default'}; "
          "model_c null (no model value) counts as naive's value in the model MAE", flush=True)
    lock = threading.Lock()

    def log(text):
        with lock:
            print(text, flush=True)
    started = time.monotonic()
    results = []
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        # the longest files first (szeged: 95,000 hours), so the last ones to finish are short
        futures = [pool.submit(one, s, p, loc, args.model, with_location, log)
                   for s, p, loc in sorted(todo, key=lambda t: -t[1].stat().st_size)]
        for fut in as_completed(futures):
            results.append(fut.result())
    results.sort(key=lambda r: (ROLE_ORDER[r["role"]], r["station"]))
    print()
    print(table(results))
    summ = summary(results)
    print()
    m = summ["served_over_naive_after_30d"]
    print("median served/naive after 30 days: " + ", ".join(
        f"{k} {_f(v['median'], 3)} ({v['stations']} stations)" for k, v in m.items()))
    print(f"served ≤ naive: first 30 days {summ['first_30d']['served_le_naive']} of {summ['first_30d']['of']}, "
          f"after {summ['after_30d']['served_le_naive']} of {summ['after_30d']['of']}")
    if summ["failed"]:
        print(f"FAILED: {', '.join(summ['failed'])} (errors in the JSON)")
    print(f"total {time.monotonic() - started:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": args.model or "bundled default", "location_keys": with_location,
                                    "first_days": FIRST_DAYS, "model_null_counts_as_naive": True,
                                    "summary": summ, "stations": results}, indent=1) + "\n")
    print(f"wrote {args.out}")
    if any(not r.get("error") for r in results):
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    if summ["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
