"""Disk faults: a full or read-only state directory must not stop the forecasts; the
problem is reported (stats ``state.error``, systemd STATUS) and clears itself once a
write succeeds again. Real kernel errors: a tiny tmpfs the test mounts (root; skipped
without, failed in CI with EDGECAST_REQUIRE_ALL=1). Also: a state file that is corrupt,
no regular file (FIFO, symlink, directory), or a symlink planted at a temp name."""

from __future__ import annotations

import json
import os

import pytest

from edgecast import atomic
from edgecast.daemon import state

from harness.processes import Subscriber, replay, wait_until
from tests.conftest import require
from tests.reliability.faults import (NO_MODEL, InProcess, fill, payloads, remount, stats_of, try_mount_tmpfs,
                                      umount)

START = "2020-03-01T00:00:00"


@pytest.fixture
def tiny_state_dir(tmp_path):
    """The in-process station's state directory on a 256 kB tmpfs (real ENOSPC, EROFS)."""
    state_dir = tmp_path / "inproc-state"
    require(try_mount_tmpfs(state_dir, "256k"), "mounting a tmpfs needs root")
    yield state_dir
    umount(state_dir)


def test_a_full_disk_keeps_forecasting_and_is_reported(tmp_path, tiny_state_dir, series_2020, caplog):
    run = InProcess(tmp_path)
    items = payloads(series_2020, START, 6)
    run.feed(items[:12])  # hours 00 and 01 completed and saved
    filler = fill(tiny_state_dir)
    run.feed(items[12:24])
    s = run.station.stats()
    assert s["state"]["error"] and "No space left on device" in s["state"]["error"], s["state"]
    assert s["state"]["write_failures"] == 2 and s["state"]["saved_hour"] == "2020-03-01T01:00:00Z"
    assert "STATE NOT SAVED" in run.station.status_text()
    assert [f["issued_at"][11:13] for f in run.forecasts()] == ["00", "01", "02", "03"]
    assert sum("No space left" in r.getMessage() for r in caplog.records) == 1  # rate-limited
    assert sorted(p.name for p in tiny_state_dir.iterdir()) == ["filler", "jena.state.json"]  # no temp left
    # The disk recovers: the next completed hour is written and the error clears.
    filler.unlink()
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
    require(try_mount_tmpfs(state_dir, "256k"), "mounting a tmpfs needs root")
    try:
        daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path)).start()
        sub.wait_online()
        replay(broker, jena_2020_path, START, 2)
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 2, 20, what="2 forecasts")
        remount(state_dir, "ro")  # EROFS
        replay(broker, jena_2020_path, "2020-03-01T02:00:00", 2)
        wait_until(lambda: len(sub.get("edgecast/jena/forecast")) == 4, 20, what="forecasts from memory")
        stats = wait_until(lambda: (s := stats_of(sub)).get("state", {}).get("error") and s, 20,
                           what="the state error in stats")
        assert "Read-only file system" in stats["state"]["error"]
        assert stats["state"]["saved_hour"] == "2020-03-01T01:00:00Z"
        remount(state_dir, "rw")
        filler = fill(state_dir)
        replay(broker, jena_2020_path, "2020-03-01T04:00:00", 1)
        wait_until(lambda: "No space left" in str(stats_of(sub).get("state")), 20, what="ENOSPC reported")
        filler.unlink()
        replay(broker, jena_2020_path, "2020-03-01T05:00:00", 1)
        wait_until(lambda: stats_of(sub).get("state", {}).get("error", "x") is None, 20, what="error cleared")
        assert [f["issued_at"][11:13] for f in sub.get("edgecast/jena/forecast")] == \
            ["00", "01", "02", "03", "04", "05"]
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
        assert json.loads(daemon.state_file.read_text())["buffer"]["hours"][-1] % 3600 == 0
    finally:
        umount(state_dir)


@pytest.mark.parametrize("bug", [AttributeError("'NoneType' object has no attribute 'hours'"),
                                 IndexError("list index out of range")])
def test_a_bug_in_restore_code_does_not_set_real_state_aside(tmp_path, bug):
    """Only a file that is not a state file (JSON or format errors) is set aside; a bug in
    the restore code must not throw away five days of window."""
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


# --- planted files: symlinks and guessable temp names ----------------------------------
def test_a_symlink_planted_at_the_old_temp_name_is_not_followed(tmp_path, series_2020):
    """Before: the state writer opened ``.jena.state.json.tmp`` with O_TRUNC, following a
    symlink an attacker (or a stale file) put there: the link's target got the state JSON."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state_dir = tmp_path / "inproc-state"
    state_dir.mkdir()
    (state_dir / ".jena.state.json.tmp").symlink_to(victim)
    run = InProcess(tmp_path).feed(payloads(series_2020, START, 3))
    assert run.station.stats()["state"]["error"] is None
    assert victim.read_text() == "precious\n"
    assert json.loads(run.station.state_file.read_text())["station"] == "jena"
    assert not run.station.state_file.is_symlink() and run.station.state_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in state_dir.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()] == []


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_a_state_file_that_is_no_regular_file_is_set_aside_without_blocking(broker, daemons, tmp_path, kind):
    """Before: a FIFO in place of the state file blocked the start for good, without a word."""
    daemon = daemons(broker, extra=NO_MODEL.format(dir=tmp_path))
    daemon.state_file.parent.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text('{"format": "edgecast-state/1"}')
    {"fifo": lambda p: os.mkfifo(p), "symlink": lambda p: p.symlink_to(victim),
     "directory": lambda p: p.mkdir()}[kind](daemon.state_file)
    sub = Subscriber(broker, ["edgecast/jena/status"])
    try:
        daemon.start()
        sub.wait_online("jena", 20)
    finally:
        sub.close()
    assert "is not a regular file" in daemon.log()
    assert len(list(daemon.state_file.parent.glob("jena.state.json.corrupt-*"))) == 1
    assert daemon.stop() == 0
    assert json.loads(daemon.state_file.read_text())["station"] == "jena"  # a regular file again
    assert victim.read_text() == '{"format": "edgecast-state/1"}'


def test_the_atomic_writer_leaves_the_old_file_or_the_new_one(tmp_path):
    """edgecast.atomic: the one writer of state, data downloads and training outputs."""
    target = tmp_path / "deep" / "out.json"
    atomic.write(target, "old\n")
    assert target.read_text() == "old\n" and target.stat().st_mode & 0o777 == 0o644

    def broken(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        atomic.write(target, broken)
    assert target.read_text() == "old\n" and [p.name for p in target.parent.iterdir()] == ["out.json"]
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "deep" / "link"
    link.symlink_to(victim)
    atomic.write(link, b"new", mode=0o600)  # a symlink at the target is replaced, not followed
    assert victim.read_text() == "precious" and not link.is_symlink() and link.read_bytes() == b"new"
