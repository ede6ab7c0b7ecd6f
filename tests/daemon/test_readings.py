"""Reading payloads: every kind of bad input is rejected or repaired with a named reason."""

import json
import math
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecast.daemon.ordering import EventClock
from edgecast.readings import DROP_REASONS, REJECT_REASONS, Reading, Rejection, parse, parse_time
from edgecast.schema import CHANNEL_INDEX, CHANNELS

GOOD = {"time": "2020-03-01T12:00:00", "p (mbar)": 990.5, "T (degC)": 7.25, "rh (%)": 81.0, "wv (m/s)": 2.5}


def payload(**changes) -> bytes:
    d = {**GOOD, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


def test_a_good_reading():
    r = parse(payload())
    assert isinstance(r, Reading)
    assert r.time == datetime(2020, 3, 1, 12, tzinfo=timezone.utc).timestamp()
    assert r.values == {CHANNEL_INDEX["p (mbar)"]: 990.5, CHANNEL_INDEX["T (degC)"]: 7.25,
                        CHANNEL_INDEX["rh (%)"]: 81.0, CHANNEL_INDEX["wv (m/s)"]: 2.5}
    assert r.dropped == {}


def test_aliases_and_the_jena_name_wins():
    r = parse(json.dumps({"time": "2020-03-01T12:00:00Z", "T": 1.0, "p": 1000, "max_wv": 3.0, "battery": 3.3}).encode())
    assert r.values == {CHANNEL_INDEX["T (degC)"]: 1.0, CHANNEL_INDEX["p (mbar)"]: 1000.0,
                        CHANNEL_INDEX["max. wv (m/s)"]: 3.0}
    r = parse(json.dumps({"time": "2020-03-01T12:00:00Z", "T": 1.0, "T (degC)": 2.0}).encode())
    assert r.values == {CHANNEL_INDEX["T (degC)"]: 2.0}
    assert {c.alias for c in CHANNELS} >= {"p", "T", "rh", "wv", "wd"}


@pytest.mark.parametrize("text, expected", [
    ("2020-03-01T12:00:00", "2020-03-01T12:00:00+00:00"),  # no offset = UTC
    ("2020-03-01T12:00:00Z", "2020-03-01T12:00:00+00:00"),
    ("2020-03-01T13:00:00+01:00", "2020-03-01T12:00:00+00:00"),
    ("2020-03-01 12:00:00.500", "2020-03-01T12:00:00.500000+00:00"),
])
def test_times(text, expected):
    assert parse_time(text) == datetime.fromisoformat(expected).timestamp()


@pytest.mark.parametrize("raw, reason", [
    (b"x" * 5000, "oversized"),
    (b"{not json", "malformed_json"),
    (b"\xff\xfe{}", "malformed_json"),
    (b"[" * 3000, "malformed_json"),
    (b"[1, 2]", "not_object"),
    (b"42", "not_object"),
    (payload(time=...), "bad_time"),
    (payload(time=1583064000), "bad_time"),
    (payload(time="yesterday"), "bad_time"),
    (payload(time="2020-02-30T00:00:00"), "bad_time"),
    (json.dumps({"time": "2020-03-01T12:00:00", "battery": 3.1}).encode(), "no_channels"),
    (json.dumps({"time": "2020-03-01T12:00:00", "T": "warm"}).encode(), "non_numeric"),
    (b'{"time": "2020-03-01T12:00:00", "T": NaN}', "non_finite"),
    (b'{"time": "2020-03-01T12:00:00", "T": Infinity}', "non_finite"),
    (b'{"time": "2020-03-01T12:00:00", "T": 1e999}', "non_finite"),
    (json.dumps({"time": "2020-03-01T12:00:00", "T": -9999}).encode(), "sentinel"),
    (json.dumps({"time": "2020-03-01T12:00:00", "T": 85.0}).encode(), "impossible"),
])
def test_rejections(raw, reason):
    r = parse(raw, max_bytes=4096)
    assert isinstance(r, Rejection), r
    assert r.reason == reason
    assert r.reason in REJECT_REASONS + DROP_REASONS


@pytest.mark.parametrize("value, reason", [
    ("3.2", "non_numeric"), (True, "non_numeric"), (None, "non_numeric"), ([1], "non_numeric"),
    (-9999.0, "sentinel"), (-999, "sentinel"), (-3.0, "impossible"), (120.0, "impossible"),
])
def test_a_bad_value_is_dropped_and_the_rest_kept(value, reason):
    r = parse(payload(**{"wv (m/s)": value}))
    assert isinstance(r, Reading)
    assert CHANNEL_INDEX["wv (m/s)"] not in r.values
    assert CHANNEL_INDEX["T (degC)"] in r.values
    assert r.dropped == {reason: 1}


def test_limits_are_the_schema_limits():
    for channel in CHANNELS:
        for value, ok in ((channel.low, True), (channel.high, True),
                          (channel.low - 1, False), (channel.high + 1, False)):
            r = parse(json.dumps({"time": "2020-03-01T12:00:00", channel.name: value}).encode())
            assert isinstance(r, Reading) == ok, (channel.name, value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CHANNELS), st.floats(allow_nan=False, allow_infinity=False, min_value=-2e4, max_value=2e4)
       | st.sampled_from([-9999.0, -999.0, -8888.0]))
def test_a_value_is_kept_exactly_when_the_training_repair_keeps_it(channel, value):
    """The parser checks ranges in plain Python (speed); the rule is the training data's."""
    import numpy as np
    from edgecast.data.clean import invalid_mask
    row = np.zeros((1, len(CHANNELS)))
    row[0, CHANNEL_INDEX[channel.name]] = value
    kept = not invalid_mask(row)[0, CHANNEL_INDEX[channel.name]]
    r = parse(json.dumps({"time": "2020-03-01T12:00:00", channel.name: value}).encode())
    assert isinstance(r, Reading) == kept, (channel.name, value)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_parser_never_raises_on_arbitrary_bytes(raw):
    assert isinstance(parse(raw), (Reading, Rejection))


json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4),
                           max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["time", "T", "p", "rh", "T (degC)", "wd (deg)", "x"]), json_values, max_size=7))
def test_parser_never_raises_on_arbitrary_json_objects(obj):
    r = parse(json.dumps(obj).encode(), max_bytes=1 << 16)
    assert isinstance(r, (Reading, Rejection))
    if isinstance(r, Reading):
        assert all(math.isfinite(v) for v in r.values.values())


def _reading(t):
    return Reading(t, {1: 5.0})


def outcome(verdict):
    """(kind, reason, accepted times, reasons given up) of a Verdict."""
    return (verdict.kind, verdict.reason, [r.time for r in verdict.readings],
            [g.reason for g in verdict.given_up])


def test_ordering_duplicates_out_of_order_and_far_future():
    clock = EventClock(max_future_seconds=6 * 3600, confirm=3, newest=400.0)
    assert outcome(clock.admit(_reading(1000.0))) == ("accepted", "", [1000.0], [])
    assert outcome(clock.admit(_reading(1000.0)))[:2] == ("rejected", "duplicate")
    assert outcome(clock.admit(_reading(400.0)))[:2] == ("rejected", "out_of_order")
    assert outcome(clock.admit(_reading(1000.0 + 86400 * 365 * 80)))[:2] == ("held", "far_future")  # year 2100
    assert clock.held == 1
    # an in-range reading: accepted, and the held stray given up (counted as rejected now, once)
    assert outcome(clock.admit(_reading(1600.0))) == ("accepted", "", [1600.0], ["far_future"])
    assert clock.newest == 1600.0 and clock.held == 0


def test_a_genuine_time_jump_is_accepted_once_confirmed():
    clock = EventClock(max_future_seconds=6 * 3600, confirm=3, newest=0.0)
    day = 86400.0
    assert outcome(clock.admit(_reading(2 * day)))[:2] == ("held", "far_future")
    assert outcome(clock.admit(_reading(2 * day + 600)))[:2] == ("held", "far_future")
    verdict = clock.admit(_reading(2 * day + 1200))
    assert outcome(verdict) == ("accepted", "", [2 * day, 2 * day + 600, 2 * day + 1200], [])
    assert verdict.confirmed == "far_future" and clock.newest == 2 * day + 1200


def test_with_no_reference_the_first_readings_wait_for_agreement():
    """An empty state: a stray first stamp (2031) must not become the reference."""
    clock = EventClock(max_future_seconds=6 * 3600, confirm=3)
    stray, real = 1.9e9, 1.6e9
    assert outcome(clock.admit(_reading(stray))) == ("held", "unconfirmed", [], [])
    assert outcome(clock.admit(_reading(real))) == ("held", "unconfirmed", [], [])  # disagrees: a line of its own
    assert outcome(clock.admit(_reading(real)))[:2] == ("rejected", "duplicate")  # a redelivery is no disagreement
    assert outcome(clock.admit(_reading(real + 600))) == ("held", "unconfirmed", [], [])
    verdict = clock.admit(_reading(real + 1200))
    assert outcome(verdict) == ("accepted", "", [real, real + 600, real + 1200], ["unconfirmed"])  # the stray
    assert verdict.confirmed == "unconfirmed"
    assert outcome(EventClock(6 * 3600, confirm=1).admit(_reading(real))) == ("accepted", "", [real], [])


def test_a_candidate_line_pushed_out_is_given_up_once():
    clock = EventClock(max_future_seconds=600, confirm=3)
    lines = [1.6e9 + k * 1e6 for k in range(5)]  # five strays, none agreeing with another
    verdicts = [clock.admit(_reading(t)) for t in lines]
    assert [outcome(v)[3] for v in verdicts] == [[], [], [], [], ["unconfirmed"]]  # four lines are held at once
    assert clock.held == 4


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59", "0001-01-01T00:00:00+14:00", "9999-12-30T00:00:00Z"])
def test_times_outside_the_usable_range_are_bad_time(text):
    r = parse(json.dumps({"time": text, "T": 1.0}).encode())
    assert isinstance(r, Rejection) and r.reason == "bad_time" and "9999-12-30" in r.detail
    assert parse_time("0001-01-01T00:00:00Z") is not None and parse_time("0001-01-01T00:00:00-01:00") is not None


def test_strays_between_the_first_readings_do_not_cost_the_real_ones():
    """A stray in the middle of the first readings (or of a jump being confirmed) starts a
    candidate of its own instead of discarding the readings held so far."""
    clock = EventClock(max_future_seconds=6 * 3600, confirm=3)
    real, stray = 1.6e9, 1.9e9
    for t in (real, stray, real + 600, stray - 1e8):
        assert outcome(clock.admit(_reading(t)))[:2] == ("held", "unconfirmed")
    verdict = clock.admit(_reading(real + 1200))
    assert outcome(verdict) == ("accepted", "", [real, real + 600, real + 1200], ["unconfirmed"] * 2)
    assert clock.newest == real + 1200 and outcome(clock.admit(_reading(stray + 600)))[:2] == ("held", "far_future")
