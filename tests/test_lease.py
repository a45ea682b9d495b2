"""The lease lock (`lease.hold`): a dead holder on this machine is broken at once, a holder
elsewhere is honoured while it lasts, and the lock is gone after the block."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aim_artifacts import lease
from aim_artifacts.location import resolve


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _held_by(lock: Path, token: str) -> None:
    lock.mkdir()
    (lock / token).write_bytes(b"")


def test_a_holder_whose_process_is_gone_is_broken_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "lock"
    _held_by(lock, f"{socket.gethostname()}:{_dead_pid()}:0000")
    monkeypatch.setattr(lease.time, "sleep", _no_waiting)
    storage = resolve(tmp_path).storage
    with lease.hold(storage, str(lock)) as exclusive:
        assert exclusive
        assert len(os.listdir(lock)) == 1  # our token only: the dead holder's is gone
    assert not lock.exists()


def test_a_holder_elsewhere_is_waited_for_then_the_lock_is_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "lock"
    foreign = "another-host:1:abcd"
    _held_by(lock, foreign)
    waits = []

    def wait(_: float) -> None:  # the holder finishes after our third wait
        waits.append(os.listdir(lock))
        if len(waits) == 3:
            (lock / foreign).unlink()
            lock.rmdir()

    monkeypatch.setattr(lease.time, "sleep", wait)
    with lease.hold(resolve(tmp_path).storage, str(lock)) as exclusive:
        assert exclusive
    assert waits == [[foreign]] * 3  # honoured while it held the lock
    assert not lock.exists()


def test_a_holder_that_outlives_its_lease_is_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "lock"
    _held_by(lock, "another-host:1:abcd")
    monkeypatch.setattr(lease, "LEASE", -1.0)  # every lease has run out
    monkeypatch.setattr(lease.time, "sleep", _no_waiting)
    with lease.hold(resolve(tmp_path).storage, str(lock)) as exclusive:
        assert exclusive
        assert "another-host:1:abcd" not in os.listdir(lock)


def test_a_failure_in_the_block_releases_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with pytest.raises(KeyError), lease.hold(resolve(tmp_path).storage, str(lock)):
        raise KeyError("boom")
    assert not lock.exists()


def _no_waiting(_: float) -> None:
    msg = "the lock was waited for"
    raise AssertionError(msg)
