"""`edgecast demo`: the whole product on one screen in about a minute.

A private mosquitto on a free loopback port, the daemon with the bundled model and a
throw-away state directory, `edgecast watch`, and `edgecast replay` of real Jena rows:
first five days at full speed (the window fills), then two days at one hour per second,
so forecasts appear live and, from the second day on, beside the temperature that came.
Every part is the real command a user would run on a box; the demo only wires them up.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from .local_broker import EDGECAST, MOSQUITTO, BrokerError, free_port, wait_for_port


class DemoError(Exception):
    pass


def run_demo(data: list[Path], start: str, live_hours: int, speed: float, echo=print) -> int:
    if not Path(MOSQUITTO).exists():
        raise DemoError("the demo needs the mosquitto broker: apt-get install mosquitto (or `make setup`)")
    with tempfile.TemporaryDirectory(prefix="edgecast-demo-") as tmp:
        tmp = Path(tmp)
        port = free_port()
        # max_queued_messages 0: the full-speed warm-up outruns the daemon for a moment and
        # mosquitto would otherwise drop queued QoS 1 readings beyond 1,000 (docs/daemon.md).
        (tmp / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                                            "max_queued_messages 0\n"
                                            + ("user root\n" if os.geteuid() == 0 else ""))
        (tmp / "edgecast.toml").write_text(f'[mqtt]\nport = {port}\n[station]\nid = "demo"\n'
                                           f'[state]\ndir = "{tmp / "state"}"\n')
        common = ["--port", str(port), "--station", "demo"]
        data_args = [arg for path in data for arg in ("--data", str(path))]
        procs = []
        try:
            broker = subprocess.Popen([MOSQUITTO, "-c", str(tmp / "mosquitto.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(broker)
            wait_for_port(port, broker)
            echo(f"• broker: mosquitto on 127.0.0.1:{port}")
            daemon_log = open(tmp / "daemon.log", "w")
            daemon = subprocess.Popen([*EDGECAST, "run", "--config", str(tmp / "edgecast.toml")],
                                      stdout=daemon_log, stderr=subprocess.STDOUT)
            procs.append(daemon)
            echo("• daemon: edgecast run (bundled model, station 'demo')")
            echo(f"• warm-up: replaying 5 days of real readings from {start} at full speed …")
            subprocess.run([*EDGECAST, "replay", *data_args, *common, "--start", start, "--hours", "119",
                            "--quiet"], check=True)
            _wait_for_forecast(port, _shift(start, 118), daemon)
            watch = subprocess.Popen([*EDGECAST, "watch", *common])
            procs.append(watch)
            time.sleep(1.0)
            echo(f"• live: {live_hours} more hours at {speed:g}× (one forecast per completed hour; "
                 "actual temperatures appear from the second day on)\n")
            replay_start = _shift(start, 119)
            subprocess.run([*EDGECAST, "replay", *data_args, *common, "--start", replay_start,
                            "--hours", str(live_hours), "--speed", str(speed), "--quiet"], check=True)
            time.sleep(2.0)
            if daemon.poll() is not None:
                raise DemoError(f"the daemon exited: {(tmp / 'daemon.log').read_text()[-2000:]}")
            echo("\n• done. On a box: `edgecast run --config /etc/edgecast/edgecast.toml` (README: Deploy).")
            return 0
        except subprocess.CalledProcessError as exc:
            raise DemoError(f"{' '.join(map(str, exc.cmd[2:5]))} … failed (exit {exc.returncode})") from None
        except BrokerError as exc:
            raise DemoError(str(exc)) from None
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()


def _wait_for_forecast(port: int, issued_at: str, daemon: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until the daemon has worked through the warm-up backlog (its forecast for ``issued_at``)."""
    import json

    import paho.mqtt.client as mqtt

    wanted = issued_at[:19] + "Z"
    seen = {"done": False}

    def on_message(client, userdata, msg):
        try:
            seen["done"] = json.loads(msg.payload).get("issued_at", "") >= wanted
        except ValueError:
            pass

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgecast-demo-wait")
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("edgecast/demo/forecast", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        while not seen["done"]:
            if daemon.poll() is not None:
                raise DemoError(f"the daemon exited with code {daemon.returncode}")
            if time.monotonic() > deadline:
                raise DemoError(f"the daemon did not work through the warm-up within {timeout:.0f} s")
            time.sleep(0.1)
    finally:
        client.disconnect()
        client.loop_stop()


def _shift(start: str, hours: int) -> str:
    import datetime as dt
    t = dt.datetime.fromisoformat(start if len(start) > 10 else start + "T00:00:00")
    return (t + dt.timedelta(hours=hours)).isoformat()
