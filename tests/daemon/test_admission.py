"""A message's way through a station: one Verdict, counted once, a rule list that is open."""

from __future__ import annotations

import json

from edgecast.daemon import config as config_mod
from edgecast.daemon.admission import RULES, Admission
from edgecast.daemon.ordering import EventClock
from edgecast.readings import Reading, Rejection
from edgecast.schema import TARGET_INDEX
from harness.offline import offline_station


def station(tmp_path):
    return offline_station(config_mod.parse(f'[station]\nid = "s"\n[state]\ndir = "{tmp_path}"\n'
                                            f'[model]\npath = "{tmp_path}/none.tflite"\n'))


def reading(when: str, t: float = 1.0) -> bytes:
    return json.dumps({"time": when + "Z", "T": t}).encode()


def test_a_new_reading_rule_plugs_in_with_one_entry(tmp_path):
    s = station(tmp_path)

    def too_hot(r: Reading, admission) -> Rejection | None:
        return Rejection("implausible", "T above 50 °C") if r.values.get(TARGET_INDEX, 0) > 50 else None
    s.admission.rules = [*RULES, too_hot]
    for when in ("2020-03-01T00:00:00", "2020-03-01T00:10:00", "2020-03-01T00:20:00"):
        s.on_payload(reading(when))
    s.on_payload(reading("2020-03-01T00:30:00", 55.0))
    stats = s.stats()["readings"]
    assert (stats["accepted"], stats["rejected"], stats["held"]) == (3, {"implausible": 1}, 0)


def test_held_readings_are_counted_once_when_their_fate_is_known(tmp_path):
    """Held readings are neither accepted nor rejected while they wait (``held`` says how
    many); confirmed they are accepted, given up they are rejected — never both."""
    s = station(tmp_path)
    s.on_payload(reading("2031-01-01T00:00:00"))  # a stray first stamp after an empty state
    s.on_payload(reading("2020-03-01T00:00:00"))
    s.on_payload(reading("2020-03-01T00:10:00"))
    assert (s.counters["accepted"], dict(s.counters["rejected"]), s.stats()["readings"]["held"]) == (0, {}, 3)
    s.on_payload(reading("2020-03-01T00:20:00"))  # the third agreeing one: the real line is taken
    assert (s.counters["accepted"], dict(s.counters["rejected"]), s.stats()["readings"]["held"]) == \
        (3, {"unconfirmed": 1}, 0)


def test_out_of_order_inside_the_open_hour_is_late_not_rejected():
    clock = EventClock(6 * 3600, 1, newest=1_583_020_800.0 + 1200)
    admission = Admission(clock, in_open_hour=lambda t: t >= 1_583_020_800.0)
    late = admission.admit(Reading(1_583_020_800.0 + 600, {1: 2.0}))
    old = admission.admit(Reading(1_583_020_800.0 - 600, {1: 2.0}))
    assert (late.kind, old.kind, old.reason) == ("late", "rejected", "out_of_order")
