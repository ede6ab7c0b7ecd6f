"""Disk faults: a full or read-only state directory must not stop the forecasts; the
problem is reported (stats ``state.error``, systemd STATUS) and clears itself once a
write succeeds again. Real kernel errors: a tiny tmpfs the test mounts when it may
(root), else a temp file that is a symlink to /dev/full (ENOSPC)."""

from __future__ import annotations

import json

import pytest

from edgecast.daemon import state

from tests.daemon.daemon_harness import replay, wait_until
from tests.reliability.faults import (NO_MODEL, InProcess, fill, full_via_dev_full, payloads, remount,
                                      stats_of, try_mount_tmpfs, umount)

START = "2020-03-01T00:00:00"


def test_a_full_disk_keeps_forecasting_and_is_reported(tmp_path, series_2020, caplog):
    run = InProcess(tmp_path)
    items = payloads(series_2020, START, 6)
    run.feed(items[:12])  # hours 00 and 01 completed and saved
    full_via_dev_full(run.station.state_file.parent)
    run.feed(items[12:24])
    s = run.station.stats()
    assert s["state"]["error"] and "No space left on device" in s["state"]["error"], s["state"]
    assert s["state"]["write_failures"] == 2 and s["state"]["saved_hour"] == "2020-03-01T01:00:00Z"
    assert "STATE NOT SAVED" in run.station.status_text()
    assert [f["issued_at"][11:13] for f in run.forecasts()] == ["00", "01", "02", "03"]
    assert sum("No space left" in r.getMessage() for r in caplog.records) == 1  # rate-limited
    # The disk recovers: the next completed hour is written and the error clears.
    (run.station.state_file.parent / ".jena.state.json.tmp").unlink()
    run.feed(items[24:])
    s = run.station.stats()
    assert s["state"]["error"] is None and s["state"]["saved_hour"] == "2020-03-01T05:00:00Z"
    assert len(json.loads(run.station.state_file.read_text())["buffer"]["hours"]) == 6
    assert run.station.stop() is None


def test_an_unreadable_or_unmovable_state_file_does_not_stop_the_start(tmp_path):
    state_dir = tmp_path / "inproc-state"
    (state_dir / "jena.state.json").mkdir(parents=True)  # read_bytes() -> IsADirectoryError
    run = InProcess(tmp_path)
    assert len(run.station.buffer.hours) == 0


def test_daemon_on_a_tmpfs_that_goes_read_only_then_full(broker, daemons, subscriber, tmp_path, jena_2020_path):
    sub = subscriber(broker, ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"])
    state_dir = tmp_path / "state"
    mounted = try_mount_tmpfs(state_dir, "256k")
    try:
        daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
        sub.wait_online()
        replay(broker, jena_2020_path, START, 2)
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 2, 20, what="2 forecasts")
        if mounted:
            remount(state_dir, "ro")  # EROFS
            expect = "Read-only file system"
        else:  # no mount allowed here: ENOSPC through /dev/full instead
            full_via_dev_full(state_dir)
            expect = "No space left on device"
        replay(broker, jena_2020_path, "2020-03-01T02:00:00", 2)
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 4, 20, what="forecasts from memory")
        stats = wait_until(lambda: (s := stats_of(sub)).get("state", {}).get("error") and s, 20,
                           what="the state error in stats")
        assert expect in stats["state"]["error"] and stats["state"]["saved_hour"] == "2020-03-01T01:00:00Z"
        if mounted:
            remount(state_dir, "rw")
            filler = fill(state_dir)
            replay(broker, jena_2020_path, "2020-03-01T04:00:00", 1)
            wait_until(lambda: "No space left" in str(stats_of(sub).get("state")), 20, what="ENOSPC reported")
            filler.unlink()
        else:
            (state_dir / ".jena.state.json.tmp").unlink()
            replay(broker, jena_2020_path, "2020-03-01T04:00:00", 1)
        replay(broker, jena_2020_path, "2020-03-01T05:00:00", 1)
        wait_until(lambda: stats_of(sub).get("state", {}).get("error", "x") is None, 20, what="error cleared")
        assert [f["issued_at"][11:13] for f in sub.get("edgecast/jena/forecast")] == \
            ["00", "01", "02", "03", "04", "05"]
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
        assert json.loads(daemon.state_file.read_text())["buffer"]["hours"][-1] % 3600 == 0
    finally:
        if mounted:
            umount(state_dir)


@pytest.mark.parametrize("bug", [AttributeError("'NoneType' object has no attribute 'hours'"),
                                 IndexError("list index out of range")])
def test_a_bug_in_restore_code_does_not_set_real_state_aside(tmp_path, bug):
    """Only a file that is not a state file (JSON or format errors) is set aside; a bug in
    the restore code must not throw away five days of window (issue 14, row 10)."""
    path = tmp_path / "jena.state.json"
    state.save(path, {"station": "jena", "newest": None, "buffer": {}})
    before = path.read_bytes()

    def restore(data):
        raise bug
    with pytest.raises(type(bug)):
        state.load(path, restore)
    assert path.read_bytes() == before and not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.parametrize("content", [b"", b"{trunc", b"[1, 2]", b'{"format": "other/1"}', b"\xff\xfe"])
def test_a_corrupt_state_file_is_set_aside(tmp_path, content):
    path = tmp_path / "jena.state.json"
    path.write_bytes(content)
    assert state.load(path, lambda data: None) is False
    assert not path.exists() and len(list(tmp_path.glob("jena.state.json.corrupt-*"))) == 1
