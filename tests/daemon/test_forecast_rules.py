"""Model vs naive: every fallback rule, with a stand-in forecaster (the real bundle is
tested in test_model.py), and the notify protocol in-process."""

import os
import socket
import uuid

import numpy as np
import pytest

from edgecast.daemon.forecast import decide, needed_channels
from edgecast.daemon.hourly import CARRIED, MISSING, OBSERVED, HourlyBuffer
from edgecast.resample import HOUR
from edgecast.daemon.notify import Notifier
from edgecast.readings import Reading
from edgecast.forecaster import ModelCannotServe
from edgecast.schema import CHANNEL_INDEX, TARGET_INDEX, FeatureSchema

T = TARGET_INDEX
ALL = list(range(14))


class StandIn:
    identity = {"kind": "stand-in", "sha256": "0123456789ab"}

    def __init__(self, features, result=21.5):
        """``result``: +24 h °C, 24 values for a curve bundle, or the exception to raise."""
        self.schema = FeatureSchema(features=features)
        self.result = result
        self.horizons = list(range(1, 25)) if np.ndim(result) else [24]
        self.calls = []

    def forecast(self, values, times, location=None):
        self.calls.append((values.copy(), times.copy()))
        if isinstance(self.result, Exception):
            raise self.result
        return np.atleast_1d(np.asarray(self.result, float))


def full_buffer(hours=120, channels=ALL, start=1000):
    b = HourlyBuffer(carry_forward_hours=3)
    for h in range(start, start + hours):
        b.add(Reading(h * HOUR, {c: 5.0 + (c == T) * h % 7 for c in channels}))
    return b


def test_model_serves_a_complete_window():
    b = full_buffer()
    model = StandIn(["T (degC)", "p (mbar)", "hour_sin"])
    f = decide(b.window(), model, None, "s", 0.75).payload
    assert (f["source"], f["reason"], f["temperature_c"]) == ("model", None, 21.5)
    assert f["model"] == StandIn.identity
    values, times = model.calls[0]
    assert values.shape == (120, 14) and np.isfinite(values).all()
    assert times[-1] == np.datetime64((1000 + 119) * HOUR, "s") and len(times) == 120


def test_a_box_without_wind_serves_a_model_that_does_not_read_wind():
    b = full_buffer(channels=[CHANNEL_INDEX[n] for n in ("p (mbar)", "T (degC)", "rh (%)")])
    assert decide(b.window(), StandIn(["T (degC)", "p (mbar)", "rh (%)"]), None, "s", 0.75).payload["source"] == "model"
    f = decide(b.window(), StandIn(["T (degC)", "wind_x"]), None, "s", 0.75).payload
    assert f["source"] == "naive" and "the readings carry no wv (m/s), wd (deg)" in f["reason"]
    assert needed_channels(["max_wind_y", "doy_cos"]) == sorted([CHANNEL_INDEX["max. wv (m/s)"],
                                                                 CHANNEL_INDEX["wd (deg)"]])


def test_warming_up_is_naive_with_the_reason():
    f = decide(full_buffer(hours=50).window(), StandIn(["T (degC)"]), None, "s", 0.75).payload
    assert f["source"] == "naive" and f["reason"] == "warming up: 50 of 120 hours buffered"
    assert f["temperature_c"] == f["naive_c"]


def test_a_gap_beyond_the_carry_forward_limit_is_naive_with_the_reason():
    b = HourlyBuffer(carry_forward_hours=2)
    for h in list(range(1000, 1050)) + list(range(1056, 1126)):
        b.add(Reading(h * HOUR, {c: 5.0 for c in ALL}))
    f = decide(b.window(), StandIn(["T (degC)", "p (mbar)"]), None, "s", 0.5).payload
    assert f["source"] == "naive"
    assert f["reason"] == ("window incomplete: 4 of 120 hours lack p (mbar), T (degC) "
                           "(a gap longer than the carry-forward limit)")
    assert f["window"]["carried_cells"] == 4 and f["window"]["missing_hours"] == 4


def test_model_cannot_serve_is_naive_with_its_reason():
    f = decide(full_buffer().window(), StandIn(["T (degC)"], ModelCannotServe("model output is not finite (nan)")),
               None, "s", 0.75).payload
    assert (f["source"], f["reason"]) == ("naive", "model output is not finite (nan)")


def test_too_much_carried_data_is_naive():
    b = full_buffer()
    w = b.window()
    w.status[::2] = CARRIED  # half the hours carried forward
    f = decide(w, StandIn(["T (degC)"]), None, "s", 0.75).payload
    assert f["source"] == "naive" and "50% of cells observed" in f["reason"]
    assert decide(w, StandIn(["T (degC)"]), None, "s", 0.5).payload["source"] == "model"


def test_no_temperature_publishes_nothing():
    w = full_buffer().window()
    w.values[-1, T], w.status[-1, T] = np.nan, MISSING
    assert decide(w, StandIn(["T (degC)"]), None, "s", 0.75) is None
    assert OBSERVED != MISSING


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_datagrams(tmp_path, abstract):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"edgecast-test-{uuid.uuid4().hex}"
        sock.bind("\0" + name)
        env = {"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    else:
        sock.bind(str(tmp_path / "n.sock"))
        env = {"NOTIFY_SOCKET": str(tmp_path / "n.sock"), "WATCHDOG_USEC": "4000000"}
    sock.settimeout(2)
    n = Notifier(env)
    assert n.watchdog_interval == 2.0
    n.ready("serving")
    n.watchdog()
    n.status("12 h buffered")
    n.stopping()
    got = [sock.recv(100).decode() for _ in range(4)]
    assert got == ["READY=1\nSTATUS=serving", "WATCHDOG=1", "STATUS=12 h buffered", "STOPPING=1"]
    n.close()
    sock.close()


def test_notify_is_a_no_op_without_the_variable():
    n = Notifier({})
    assert not n.enabled and n.watchdog_interval is None
    n.ready()
    n.watchdog()
    n.stopping()
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval is None


def test_notify_never_blocks_on_a_reader_that_stopped_reading(tmp_path):
    """A notify socket whose queue is full (nobody reads it) must not stall the daemon."""
    import threading
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "n.sock"))
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "n.sock")})
    done = threading.Event()

    def flood():
        for _ in range(5000):  # far beyond the kernel's datagram queue (max_dgram_qlen, ~512)
            n.status("x" * 200)
        done.set()

    threading.Thread(target=flood, daemon=True).start()
    assert done.wait(30), "Notifier.send blocked on a full socket queue"
    n.close()
    sock.close()
