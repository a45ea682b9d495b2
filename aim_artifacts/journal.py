"""A run's metadata on storage: the sidecar snapshot plus a journal of small entries.

Logging writes one small journal entry per call (O(1), whatever the run's size); compaction
folds the entries into the sidecar and removes them. Because merging is order-free
(`RunState`), readers take ``entries + sidecar`` and never miss a change. Compaction removes
entries only where the sidecar update is exclusive:

- local and mounted file systems: a lock (``fcntl.lockf``, honoured over NFS) held while the
  sidecar is replaced;
- S3 servers that honour conditional writes (``If-Match``, probed): compare-and-swap,
  retried on conflict;
- any other backend: the sidecar is rewritten but entries are kept, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from .errors import ConcurrentUpdateError
from .location import Location
from .names import RESERVED_PREFIX
from .records import Artifact
from .sidecar import (
    RunState,
    decode_entry,
    decode_sidecar,
    encode_entry,
    encode_sidecar,
    new_revision,
)
from .transfer import store_bytes

__all__ = ["JOURNAL_DIR", "SIDECAR_NAME", "Journal"]

log = logging.getLogger(__name__)

SIDECAR_NAME = f"{RESERVED_PREFIX}.json"
JOURNAL_DIR = f"{RESERVED_PREFIX}.d"
LOCK_NAME = f"{RESERVED_PREFIX}.lock"
_ENTRY = re.compile(r"\d{20}-[0-9a-f]{12}\.json")
_CAS_ATTEMPTS = 50


class Journal:
    """Reads and updates the metadata of the run stored at `location`."""

    def __init__(self, location: Location, run_hash: str) -> None:
        self.location = location
        self.run_hash = run_hash
        self.sidecar_path = location.join(SIDECAR_NAME)
        self.journal_path = location.join(JOURNAL_DIR)
        self._lines: dict[tuple[str, str], str] = {}  # encoded sidecar lines, reused by folds

    def record(
        self, records: Iterable[Artifact] = (), deleted: Iterable[str] = ()
    ) -> tuple[str, RunState]:
        """Store one entry with these changes; return its revision and them as a state."""
        raw = {r.name: r.to_dict() for r in records}
        deleted = list(deleted)
        revision = new_revision()
        data = encode_entry(self.run_hash, revision, raw, deleted)
        store_bytes(self.location, f"{self.journal_path}/{revision}.json", data)
        state = RunState()
        state.apply(revision, raw, deleted)
        return revision, state

    def exists(self) -> bool:
        """True if the run has a sidecar or journal entries."""
        fs = self.location.fs
        fs.invalidate_cache(self.location.path)
        return fs.exists(self.sidecar_path) or bool(self._entry_paths())

    def load(self) -> RunState:
        """The run's state: journal entries first, then the sidecar (which a concurrent
        compaction writes before it removes entries, so nothing falls between)."""
        state = self._read_entries()[1]
        state.merge(self._read_sidecar())
        return state

    def compact(self, known: RunState | None = None, mine: Collection[str] = ()) -> RunState:
        """Fold the journal into the sidecar; return the resulting state.

        Args:
            known: changes the caller holds already (merged in; merging is idempotent).
            mine: revisions of entries whose changes are in `known`: not read again.
        """
        if self.location.is_local:
            with _file_lock(self.location.join(LOCK_NAME)):
                paths, state = self._read_entries(known, mine)
                state.merge(self._read_sidecar())
                store_bytes(self.location, self.sidecar_path, self._encode(state))
                self._remove(paths)
                return state
        from . import s3  # noqa: PLC0415 - only loaded with s3fs

        if s3.has_conditional_writes(self.location.fs, self.location.path):
            return self._compact_cas(s3, known, mine)
        state = self._read_entries(known, mine)[1]
        state.merge(self._read_sidecar())
        store_bytes(self.location, self.sidecar_path, self._encode(state))
        return state

    def _compact_cas(self, s3: Any, known: RunState | None, mine: Collection[str]) -> RunState:
        fs = self.location.fs
        for attempt in range(_CAS_ATTEMPTS):
            paths, state = self._read_entries(known, mine)
            try:
                data, etag = s3.read_with_etag(fs, self.sidecar_path)
                if data is not None:
                    state.merge(self._decode_sidecar(data))
                s3.put_if(fs, self.sidecar_path, self._encode(state), etag)
            except s3.Conflict:
                log.debug("sidecar %s changed under us (attempt %d)", self.sidecar_path, attempt)
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                continue
            self._remove(paths)
            return state
        msg = f"{self.location.uri}: the sidecar kept changing; gave up after {_CAS_ATTEMPTS} tries"
        raise ConcurrentUpdateError(msg)

    def _encode(self, state: RunState) -> bytes:
        lines = self._lines
        if len(lines) > 2 * len(state.changes) + 1024:  # drop lines of replaced revisions
            lines.clear()
        return encode_sidecar(self.run_hash, state, lines)

    def _decode_sidecar(self, data: bytes) -> RunState:
        return decode_sidecar(data, where=self.sidecar_path)

    def _read_sidecar(self) -> RunState:
        try:
            data = self.location.fs.cat_file(self.sidecar_path)
        except FileNotFoundError:
            return RunState()
        return self._decode_sidecar(data)

    def _entry_paths(self) -> list[str]:
        fs = self.location.fs
        fs.invalidate_cache(self.journal_path)
        try:
            paths = fs.ls(self.journal_path, detail=False)
        except FileNotFoundError:
            return []
        return sorted(p for p in paths if _ENTRY.fullmatch(p.rsplit("/", 1)[-1]))

    def _read_entries(
        self, known: RunState | None = None, mine: Collection[str] = ()
    ) -> tuple[list[str], RunState]:
        """The journal's entries as (paths, their state merged with `known`). Entries named
        in `mine` are not read (`known` has them); entries removed meanwhile by another
        fold are skipped (the sidecar has them)."""
        paths = self._entry_paths()
        state = RunState()
        if known is not None:
            state.merge(known)
        mine = {f"{revision}.json" for revision in mine}
        ours = [p for p in paths if p.rsplit("/", 1)[-1] in mine]
        others = [p for p in paths if p.rsplit("/", 1)[-1] not in mine]
        contents = self.location.fs.cat(others, on_error="omit") if others else {}
        for path, data in contents.items():
            state.merge(decode_entry(data, where=path))
        return ours + list(contents), state

    def _remove(self, paths: list[str]) -> None:
        if not paths:
            return
        fs = self.location.fs
        try:
            fs.rm(paths)
        except FileNotFoundError:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(path)
        fs.invalidate_cache(self.journal_path)


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()
# A lock held by another thread at fork time would never be released in the child.
os.register_at_fork(after_in_child=_thread_locks.clear)
os.register_at_fork(before=_thread_locks_guard.acquire, after_in_parent=_thread_locks_guard.release)
os.register_at_fork(after_in_child=_thread_locks_guard.release)


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """Exclusive across threads (a lock per path) and processes (``lockf`` on `path`)."""
    import fcntl  # noqa: PLC0415 - POSIX only

    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(path, threading.Lock())
    with thread_lock:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a+b") as f:
            fcntl.lockf(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(f, fcntl.LOCK_UN)
