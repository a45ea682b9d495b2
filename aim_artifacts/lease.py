"""`hold`: exclusion across processes and machines on any storage where ``mkdir`` is atomic.

The lock is a directory: making it is atomic at the server on every file protocol (local,
NFS, SFTP, FTP, WebDAV, SMB); object stores make no directories, which the storage learns
from its first ``mkdir`` (`Storage.learn_directories`, once per process and filesystem).
The holder writes a token naming its host and process into it; a holder that is gone (same
host, no such process) or that kept the lock unchanged for `LEASE` seconds is broken.
Advisory locks (``lockf``, ``flock``) are never used: many mounts grant them to everyone.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import socket
import time
from collections.abc import Iterator

from .errors import is_missing
from .storage import Storage

__all__ = ["LEASE", "hold"]

LEASE = 60.0  # seconds a lock held by another machine is honoured without change
RELEASE_ATTEMPTS = 20  # tries to remove the lock while others briefly have it open
_HOST = socket.gethostname()


@contextlib.contextmanager
def hold(storage: Storage, lock: str) -> Iterator[bool]:
    """Hold the lock directory `lock` for the block; yields False, holding nothing, where
    ``mkdir`` is not exclusive (object stores)."""
    if storage.exclusive_mkdir is False:
        yield False
        return
    fs = storage.fs
    token = f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"
    seen: tuple[float, list[str]] | None = None  # when these holders were first seen
    attempt = waits = 0
    while True:
        try:
            fs.mkdir(lock, create_parents=False)
            break
        except Exception:
            holders = _holders(storage, lock)
            if holders is None:  # not held: a missing run directory, or a real failure
                attempt += 1
                if attempt > 3 or not storage.make_dirs(lock.rsplit("/", 1)[0]):
                    raise
                continue
            if seen is None or seen[1] != holders:
                seen = (time.monotonic(), holders)
            if _abandoned(holders) or time.monotonic() - seen[0] > LEASE:
                _release(storage, lock)
                continue
            attempt = 0
            waits += 1
            time.sleep(random.uniform(0.002, 0.01) * min(waits, 20))
    if storage.exclusive_mkdir is None:
        storage.learn_directories(lock)
    if not storage.exclusive_mkdir:
        yield False
        return
    try:
        with contextlib.suppress(Exception):
            storage.create(f"{lock}/{token}")  # the holder's name helps others, no more
        yield True
    finally:
        _release(storage, lock, [token])


def _holders(storage: Storage, lock: str) -> list[str] | None:
    """The tokens in lock directory `lock`, or None if it does not exist."""
    fs = storage.fs
    fs.invalidate_cache()  # FTP answers isdir from its listing of the parent
    if not fs.isdir(lock):
        return None
    return sorted(storage.names(lock))


def _release(storage: Storage, lock: str, tokens: list[str] | None = None) -> None:
    """Remove lock directory `lock` and the `tokens` in it (listed if not given)."""
    fs = storage.fs
    for token in storage.names(lock) if tokens is None else tokens:
        with contextlib.suppress(Exception):
            fs.rm_file(f"{lock}/{token}")
    for attempt in range(RELEASE_ATTEMPTS):
        try:
            fs.rmdir(lock)
            break
        except Exception as exc:
            if is_missing(exc):
                break
            if attempt == RELEASE_ATTEMPTS - 1:
                raise
            # Another process may be listing the lock to see who holds it: SMB refuses to
            # remove a directory that someone has open. Its listing is brief.
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    fs.invalidate_cache(lock)


def _abandoned(holders: list[str]) -> bool:
    """True if a lock's holder ran on this machine and its process is gone."""
    for token in holders:
        host, _, rest = token.partition(":")
        pid = rest.partition(":")[0]
        if host != _HOST or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            continue
    return False
