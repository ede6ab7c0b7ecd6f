"""The outbox of unacknowledged forecasts: bounded, oldest dropped first, each drop reported."""

from edgecast.daemon.outbox import Outbox


def forecast(hour: int) -> dict:
    return {"issued_at": f"2020-01-01T{hour:02d}:00:00Z", "temperature_c": float(hour)}


def test_bounded_oldest_first_and_every_drop_reported():
    reports = []
    box = Outbox(limit=3, on_drop=lambda n, issued: reports.append((n, issued)))
    for hour in range(5):
        box.add(forecast(hour), mid=100 + hour)
    assert [p["issued_at"][11:13] for p in box.to_list()] == ["02", "03", "04"]
    assert box.dropped == 2 and reports == [(1, "2020-01-01T00:00:00Z"), (1, "2020-01-01T01:00:00Z")]
    box.acked(103)  # the broker's PUBACK for hour 3; other message ids are not ours
    box.acked(999)
    assert [p["issued_at"][11:13] for p in box.to_list()] == ["02", "04"] and len(box) == 2


def test_restored_forecasts_are_owed_until_published_again():
    box = Outbox(limit=3)
    box.load_list([forecast(h) for h in range(5)])  # a state file from a longer-limit build
    owed = box.unpublished()
    assert [p["issued_at"][11:13] for p in owed] == ["02", "03", "04"]
    box.set_mid(owed[0], 7)
    assert len(box.unpublished()) == 2
    box.acked(7)
    assert len(box) == 2


def test_an_acknowledgement_owes_the_state_file_a_rewrite():
    box = Outbox(limit=5)
    box.add({"issued_at": "h0"}, 7)
    box.add({"issued_at": "h1"}, 8)
    assert box.snapshot() == [{"issued_at": "h0"}, {"issued_at": "h1"}] and not box.unsaved_acks
    assert box.acked(99) is False and not box.unsaved_acks  # not ours (a reading's PUBACK, stats …)
    assert box.acked(7) is True and box.unsaved_acks
    assert box.snapshot() == [{"issued_at": "h1"}] and not box.unsaved_acks
