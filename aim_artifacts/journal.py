"""A run's metadata on storage: the sidecar snapshot plus a journal of small entries.

Logging writes one small journal entry per call (O(1), whatever the run's size); compaction
folds the entries into the sidecar and removes them. Because merging is order-free
(`RunState`), readers take ``entries + sidecar`` and never miss a change. Compaction removes
entries only where the sidecar update is exclusive:

- S3 servers that honour conditional writes (``If-Match``, probed): compare-and-swap,
  retried on conflict;
- file systems where ``mkdir`` is exclusive (local, NFS, SFTP, FTP, WebDAV, SMB, memory): a
  lock directory held while the sidecar is replaced (`lease.hold`, a lease a dead holder
  cannot keep; advisory locks are not trusted: many mounts grant them to everyone);
- any other backend: the sidecar is rewritten but entries are kept, so nothing is lost.

No entry is ever dropped unread: one that cannot be read is an error naming it, unless it
was removed by a concurrent fold (then the sidecar has it).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Collection, Iterable

from . import lease, s3
from .errors import ConcurrentUpdateError, SidecarError, is_missing
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

__all__ = ["JOURNAL_DIR", "SIDECAR_NAME", "Journal", "is_entry"]

log: logging.Logger = logging.getLogger(__name__)

SIDECAR_NAME = f"{RESERVED_PREFIX}.json"
JOURNAL_DIR = f"{RESERVED_PREFIX}.d"
LOCK_NAME = f"{RESERVED_PREFIX}.lease"  # a directory (not the .lock file of 0.1)
_ENTRY = re.compile(r"\d{20}-[0-9a-f]{12}\.json")
_CAS_ATTEMPTS = 50


def is_entry(name: str) -> bool:
    """True if `name` (the last part of a path in `JOURNAL_DIR`) is a journal entry's."""
    return bool(_ENTRY.fullmatch(name))


class Journal:
    """Reads and updates the metadata of the run stored at `location`."""

    def __init__(self, location: Location, run_hash: str) -> None:
        self.location = location
        self.run_hash = run_hash
        self.sidecar_path: str = location.join(SIDECAR_NAME)
        self.journal_path: str = location.join(JOURNAL_DIR)
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

    def load(self, entries: list[str] | None = None) -> RunState:
        """The run's state: journal entries first, then the sidecar (which a concurrent
        compaction writes before it removes entries, so nothing falls between).

        Args:
            entries: the paths of the journal's entries, where the caller listed them
                already (one listing for many runs); else they are listed now.
        """
        journal = self._read_entries(listed=entries)[1]
        state = self._read_sidecar()  # the larger: merged into, not copied
        state.merge(journal)
        return state

    def compact(
        self,
        known: RunState | None = None,
        mine: Collection[str] = (),
        *,
        then: Callable[[], object] | None = None,
    ) -> RunState:
        """Fold the journal into the sidecar; return the resulting state.

        Args:
            known: changes the caller holds already (merged in; merging is idempotent).
            mine: revisions of entries whose changes are in `known`: not read again.
            then: called once the sidecar is stored, beside the folded entries' removal
                (at once on object stores).
        """
        if self.location.is_s3 and s3.has_conditional_writes(self.location.fs, self.location.path):
            return self._compact_cas(known, mine, then)
        storage = self.location.storage
        with lease.hold(storage, self.location.join(LOCK_NAME)) as exclusive:
            # at once (object stores): under the lock, or where no fold removes entries,
            # nothing can fall between the two reads
            (paths, state), sidecar = storage.together(
                lambda: self._read_entries(known, mine), self._read_sidecar
            )
            state.merge(sidecar)
            store_bytes(self.location, self.sidecar_path, self._encode(state))
            self._after_stored(paths if exclusive else [], then)
            return state

    def _after_stored(self, paths: list[str], then: Callable[[], object] | None) -> None:
        """Remove the folded entries at `paths`, and call `then` beside it."""
        storage = self.location.storage
        calls: list[Callable[[], object]] = [lambda: storage.remove(paths)]
        if then is not None:
            calls.append(then)
        storage.together(*calls)

    def _compact_cas(
        self, known: RunState | None, mine: Collection[str], then: Callable[[], object] | None
    ) -> RunState:
        fs = self.location.fs
        for attempt in range(_CAS_ATTEMPTS):
            # at once: a sidecar read before another fold replaced it (and removed entries
            # listed here as gone) fails the conditional write below, and is read again
            (paths, state), (data, etag) = self.location.storage.together(
                lambda: self._read_entries(known, mine),
                lambda: s3.read_with_etag(fs, self.sidecar_path),
            )
            try:
                if data is not None:
                    state.merge(self._decode_sidecar(data))
                s3.put_if(fs, self.sidecar_path, self._encode(state), etag)
            except s3.Conflict:
                log.debug("sidecar %s changed under us (attempt %d)", self.sidecar_path, attempt)
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                continue
            self._after_stored(paths, then)
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
        data = self.location.storage.read(self.sidecar_path)
        return RunState() if data is None else self._decode_sidecar(data)

    def _entry_paths(self) -> list[str]:
        names = self.location.storage.names(self.journal_path)
        return sorted(f"{self.journal_path}/{n}" for n in names if is_entry(n))

    def _read_entries(
        self,
        known: RunState | None = None,
        mine: Collection[str] = (),
        listed: list[str] | None = None,
    ) -> tuple[list[str], RunState]:
        """The journal's entries (those `listed`, else listed now) as (paths, their state
        merged with `known`). Entries named in `mine` are not read (`known` has them);
        entries removed meanwhile by another fold are skipped (the sidecar has them)."""
        paths = self._entry_paths() if listed is None else sorted(listed)
        state = RunState()
        if known is not None:
            state.merge(known)
        mine = {f"{revision}.json" for revision in mine}
        ours = [p for p in paths if p.rsplit("/", 1)[-1] in mine]
        others = [p for p in paths if p.rsplit("/", 1)[-1] not in mine]
        contents = self._read_all(others)
        for path, data in contents.items():
            state.merge(decode_entry(data, where=path))
        return ours + list(contents), state

    def _read_all(self, paths: list[str]) -> dict[str, bytes]:
        """The bytes of these entries; those removed meanwhile by a fold are left out.

        Raises:
            SidecarError: an entry that is still there cannot be read.
        """
        if not paths:
            return {}
        got = self.location.storage.origin.cat(paths, on_error="return")
        failed = {p: v for p, v in got.items() if isinstance(v, BaseException)}
        if failed:
            listed = set(self._entry_paths())
            for path, exc in failed.items():
                if path in listed or not is_missing(exc):
                    msg = f"journal entry {path} cannot be read: {type(exc).__name__}: {exc}"
                    raise SidecarError(msg) from exc
        return {p: v for p, v in got.items() if p not in failed}
