"""Bad input at scale, property-based: the reading parser, the hourly resampler and the
whole service pipeline never let an exception escape, and every payload ends either
accepted or rejected under a counted reason. (tests/daemon/test_readings.py holds the
named cases; here hypothesis generates thousands.)"""

from __future__ import annotations

import pytest

import json
import math
import os
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecast.daemon.hourly import MISSING, OBSERVED, CARRIED, HourlyBuffer
from edgecast.resample import HOUR, LIVE_MAX_AGE as MAX_AGE
from edgecast.readings import DROP_REASONS, REJECT_REASONS, Reading, Rejection, parse
from edgecast.schema import ALIASES, CHANNELS, CHANNEL_INDEX

from tests.reliability.faults import InProcess

# The full run (python -m tests.reliability.full_run) multiplies every example count.
SCALE = int(os.environ.get("EDGECAST_FUZZ_SCALE", "1"))
REASONS = set(REJECT_REASONS + DROP_REASONS)
KEYS = ["time", *CHANNEL_INDEX, *ALIASES]
LIMITS = {CHANNEL_INDEX[c.name]: (c.low, c.high) for c in CHANNELS}

huge_numbers = st.one_of(st.integers(min_value=-10**400, max_value=10**400), st.floats(),
                         st.sampled_from([1e308, -1e308, 5e-324, -9999, -999, -8888, 0, -0.0]))
json_scalars = st.none() | st.booleans() | huge_numbers | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=10), c,
                                                                                                max_size=5),
                           max_leaves=25)
aware_times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                           timezones=st.timezones() | st.just(timezone.utc) |
                           st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439)))
naive_times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
time_texts = st.one_of(
    aware_times.map(lambda d: d.isoformat()),
    st.tuples(naive_times, st.sampled_from(["T", " "])).map(lambda x: x[0].isoformat(sep=x[1])),
    st.text(max_size=45),
)
# Around the Berlin DST changes: 02:30 on the spring day does not exist, on the autumn day twice.
dst_edges = st.builds(lambda day, minute, fold: datetime(2020, *day, 1, 0, tzinfo=ZoneInfo("Europe/Berlin"))
                      .replace(fold=fold) + timedelta(minutes=minute),
                      st.sampled_from([(3, 29), (10, 25)]), st.integers(0, 240), st.integers(0, 1))

readings_objects = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=12), json_values, max_size=10)


def _check(result, payload: bytes):
    assert isinstance(result, (Reading, Rejection))
    if isinstance(result, Rejection):
        assert result.reason in REASONS, result
    else:
        assert result.values and math.isfinite(result.time)
        for index, value in result.values.items():
            low, high = LIMITS[index]
            assert math.isfinite(value) and low <= value <= high, (index, value)
        assert set(result.dropped) <= set(DROP_REASONS)


@pytest.mark.slow  # a long in-process run (weeks of hours, or fuzz at scale)
@settings(max_examples=800 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readings_objects, time_texts)
def test_parser_on_random_objects_huge_numbers_unicode_keys_and_any_time(obj, when):
    if "time" not in obj or obj["time"] is None:
        obj["time"] = when
    payload = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    _check(parse(payload, max_bytes=1 << 20), payload)


@settings(max_examples=600 * SCALE, deadline=None)
@given(aware_times | dst_edges, st.floats(-40, 40))
def test_any_time_from_year_1_to_9999_with_any_offset_is_its_instant(when, temperature):
    text = when.isoformat()
    r = parse(json.dumps({"time": text, "T": temperature}).encode())
    expected = when.timestamp()
    if isinstance(r, Reading):
        assert r.time == expected
    else:  # only the last days whose forecast (24 h later) would be past year 9999 are refused
        assert r.reason == "bad_time" and when >= datetime(9999, 12, 30, tzinfo=timezone.utc)


def test_the_last_representable_hours_do_not_crash_the_forecast(tmp_path):
    # Before the fix: hour 9999-12-31T23:00 completed, its valid_at (year 10000) raised
    # ValueError out of on_payload, mid-way through the buffer update.
    run = InProcess(tmp_path)
    for when in ("9999-12-29T22:40:00", "9999-12-29T22:50:00", "9999-12-29T23:10:00", "9999-12-31T22:50:00",
                 "9999-12-31T23:10:00"):  # the first three agree: the start's time is confirmed
        run.station.on_payload(json.dumps({"time": when, "T": 1.0}).encode())
    c = run.station.counters
    assert (c["accepted"], dict(c["rejected"])) == (3, {"bad_time": 2})
    assert [f["valid_at"] for f in run.forecasts()] == ["9999-12-30T23:00:00Z"]


@settings(max_examples=40 * SCALE, deadline=None)
@given(st.integers(1, 200_000), st.sampled_from([b"[", b'{"a":', b"[{\"x\":"]))
def test_deep_nesting_is_malformed_json_not_a_crash(depth, opener):
    r = parse(opener * depth, max_bytes=1 << 20)
    assert isinstance(r, Rejection) and r.reason in ("malformed_json", "oversized")


@settings(max_examples=25 * SCALE, deadline=None)
@given(st.integers((1 << 20) - 64, (1 << 20) + 64), st.sampled_from(["pad", "T", "list"]))
def test_one_megabyte_payloads(size, kind):
    head = b'{"time": "2020-03-01T00:00:00Z", "T": 5.0, "pad": "'
    if kind == "pad":
        payload = head + b"x" * max(0, size - len(head) - 2) + b'"}'
    elif kind == "T":
        payload = b'{"time": "2020-03-01T00:00:00Z", "T": ' + b"9" * max(1, size - 40) + b"}"
    else:
        payload = b"[" + b"1," * (size // 2) + b"1]"
    r = parse(payload, max_bytes=1 << 20)
    _check(r, payload)
    if len(payload) > 1 << 20:
        assert r.reason == "oversized"
    else:
        assert parse(payload).reason == "oversized"  # the default limit, 4096


# --- the hourly resampler against a brute-force statement of its rule ---------------------
def reference_window(readings, hours, carry_hours, steps=120):
    """Value of channel c at hour H: latest sample at or before H if at most MAX_AGE old
    (observed), else the last observed hourly value if at most carry_hours old (carried)."""
    values = np.full((len(hours), 14), np.nan)
    status = np.full((len(hours), 14), MISSING)
    last_obs = {}
    for i, h in enumerate(hours):
        for c in range(14):
            times = [r.time for r in readings if c in r.values and r.time <= h]
            if times and h - max(times) <= MAX_AGE:
                r = max((r for r in readings if c in r.values and r.time <= h), key=lambda r: r.time)
                values[i, c], status[i, c] = r.values[c], OBSERVED
                last_obs[c] = (h, r.values[c])
            elif c in last_obs and h - last_obs[c][0] <= carry_hours * HOUR:
                values[i, c], status[i, c] = last_obs[c][1], CARRIED
    return values[-steps:], status[-steps:]


steps_strategy = st.lists(st.tuples(st.integers(1, 5400),  # seconds to the next reading (up to 1.5 h)
                                    st.sets(st.integers(0, 13), min_size=1, max_size=4),
                                    st.floats(-30, 30)), min_size=1, max_size=60)


@settings(max_examples=300 * SCALE, deadline=None)
@given(st.integers(-62_000_000_000 // HOUR, 253_000_000_000 // HOUR), st.integers(0, 3599), steps_strategy,
       st.integers(0, 6), st.integers(2, 12))
def test_buffer_equals_the_rule_for_any_irregular_stream(start_hour, offset, steps, carry, window):
    b = HourlyBuffer(carry_forward_hours=carry, steps=window)
    t = start_hour * HOUR + offset
    readings, completed = [], []
    for gap, channels, value in steps:
        t += gap
        r = Reading(float(t), {c: value + c for c in channels})
        readings.append(r)
        completed += b.add(r)
    assert completed == sorted(set(completed)) and all(h % HOUR == 0 for h in completed)
    assert np.all(np.diff(completed) == HOUR)  # every hour once, none skipped (gaps < window)
    if not completed:
        return
    w = b.window()
    values, status = reference_window(readings, completed, carry, window)
    n = len(values)
    np.testing.assert_array_equal(w.status[-n:], status)
    np.testing.assert_array_equal(w.values[-n:], values)
    assert int(w.times[-1].astype(np.int64)) == completed[-1]
    # ... and it survives its own persistence.
    again = HourlyBuffer(carry_forward_hours=carry, steps=window)
    again.load_dict(json.loads(json.dumps(b.to_dict())))
    np.testing.assert_array_equal(again.window().values, w.values)


@settings(max_examples=60 * SCALE, deadline=None)
@given(st.lists(st.integers(1, 400 * 24 * HOUR), min_size=1, max_size=8))
def test_jumps_longer_than_the_window_are_bounded(gaps):
    b = HourlyBuffer(carry_forward_hours=3)
    t = 1_583_020_800
    for gap in gaps:
        t += gap
        done = b.add(Reading(float(t), {1: 5.0}))
        assert len(done) <= 122
    assert len(b.hours) <= 120


# --- the whole pipeline: every payload accepted or counted ----------------------------------
pipeline_payloads = st.lists(st.one_of(
    readings_objects.map(lambda o: json.dumps(o).encode()),
    st.builds(lambda when, t, p, rh: json.dumps({"time": when, "T": t, "p": p, "rh": rh}).encode(),
              time_texts | aware_times.map(lambda d: d.isoformat()), st.floats(-50, 50), st.floats(800, 1100),
              st.floats(0, 100)),
    st.binary(max_size=64),
), min_size=1, max_size=40)


def test_a_confirmed_time_jump_is_counted_once(tmp_path):
    # Each reading counted once: the held ones accepted when confirmed (not first counted as
    # far_future), the last stray held (not yet rejected: nothing has given it up).
    run = InProcess(tmp_path)
    for when in ("2020-03-01T00:00", "2020-03-01T00:10", "2020-03-01T00:20", "2020-03-03T00:00",
                 "2020-03-03T00:10", "2020-03-03T00:20", "2031-01-01T00:00"):
        run.station.on_payload(json.dumps({"time": when + ":00Z", "T": 1.0}).encode())
    c = run.station.counters
    assert (c["accepted"], dict(c["rejected"]), c["time_jumps"], run.station.clock.held) == (6, {}, 1, 1)
    run.station.on_payload(json.dumps({"time": "2020-03-03T00:30:00Z", "T": 1.0}).encode())
    assert (c["accepted"], dict(c["rejected"]), run.station.clock.held) == (7, {"far_future": 1}, 0)


@settings(max_examples=80 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pipeline_payloads)
def test_service_counts_every_payload_and_never_raises(tmp_path, items):
    run = InProcess(tmp_path / uuid.uuid4().hex)  # a fresh state dir per example
    for p in items:
        run.station.on_payload(p)  # an exception here would be paho's "unexpected error"
    c = run.station.counters
    assert c["accepted"] + sum(c["rejected"].values()) + run.station.clock.held == len(items)
    assert set(c["rejected"]) <= REASONS
    assert all(np.isfinite(f["temperature_c"]) for f in run.forecasts())
    json.dumps(run.station.stats())
