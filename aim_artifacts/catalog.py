"""`Catalog`: what a run holds, as this process knows it: the records, built once per
revision, and the journal entries this process wrote, folded into the sidecar by a rule."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .download import RunDownloader
from .errors import ArtifactsURIAlreadySetError
from .gcpause import paused
from .journal import SIDECAR_NAME, Journal
from .location import Location
from .records import Artifact, Artifacts, from_stored
from .sidecar import RunState

__all__ = ["COMPACT_EVERY", "Catalog"]

COMPACT_EVERY = 256  # fewest journal entries a process writes before it folds them


class Catalog:
    """A run's records; bound to where the run stores once its URI is known. Pickles as
    its records and location (another process writes entries of its own)."""

    def __init__(self, run_hash: str, changes: dict[str, Any] | None = None) -> None:
        self.run_hash = run_hash
        self.location: Location | None = None
        self.journal: Journal | None = None
        self.downloader: RunDownloader | None = None
        self._state = RunState(changes or {})  # raw records, as stored
        self._built: dict[str, tuple[str, Artifact]] = {}  # name -> (revision, record)
        self._live: Artifacts | None = None  # the live records, until the state changes
        self._written: set[str] = set()  # revisions of the entries this process wrote
        self._pid = os.getpid()
        self._lock = threading.RLock()

    def bind(self, location: Location, *, load: bool) -> None:
        """Read and write the run at `location`; `load`: read what it holds (every record
        is checked now, not on first use).

        Raises:
            ArtifactsURIAlreadySetError: the catalog is bound to another location, or to
                this one with other storage options.
        """
        with self.lock:
            if self.location is not None:
                if self.location.uri != location.uri:
                    msg = (
                        f"run {self.run_hash} already stores artifacts at "
                        f"{self.location.uri}; the artifacts URI is set once per run"
                    )
                    raise ArtifactsURIAlreadySetError(msg)
                if self.location.storage_options != location.storage_options:
                    msg = (
                        f"run {self.run_hash} already stores artifacts at {self.location.uri}"
                        " with other storage options; the artifacts URI and its options are"
                        " set once per run"
                    )
                    raise ArtifactsURIAlreadySetError(msg)
                return
            journal = Journal(location, self.run_hash)
            if load:
                with location.storage_errors():
                    self._merge(journal.load())
            self.location, self.journal = location, journal
            self.downloader = RunDownloader(location)
            if load:
                self.artifacts()

    @property
    def lock(self) -> threading.RLock:
        """This process's lock (a forked child gets a new one: the parent's may be held)."""
        if self._pid != os.getpid():
            self._pid, self._lock, self._written = os.getpid(), threading.RLock(), set()
        return self._lock

    @property
    def unfolded(self) -> bool:
        """True if this process wrote entries that are not folded yet."""
        return bool(self._written)

    def artifacts(self) -> Artifacts:
        """The live records by name (a copy, in name order)."""
        with self.lock:
            if self._live is None:
                with paused():
                    self._live = Artifacts(
                        (name, self._build(name, revision, raw))
                        for name, (revision, raw) in self._state.live().items()
                    )
            return Artifacts(self._live)

    def record(self, name: str) -> Artifact | None:
        """The live record of `name`, or None."""
        with self.lock:
            revision, raw = self._state.changes.get(name, ("", None))
            return None if raw is None else self._build(name, revision, raw)

    def has(self, name: str) -> bool:
        """True if the run has artifact `name`, reading storage if this process has not
        seen it."""
        with self.lock:
            if not self._state.is_live(name) and self.journal is not None:
                with self.journal.location.storage_errors():
                    self._merge(self.journal.load())
            return self._state.is_live(name)

    def commit(self, records: Sequence[Artifact] = (), deleted: Sequence[str] = ()) -> None:
        """Record these changes in one journal entry; fold when this process has written a
        fixed share of the run's records since the last fold."""
        journal = self._bound()
        with journal.location.storage_errors():
            revision, changes = journal.record(records, deleted)
        with self.lock:
            self._merge(changes)
            self._built.update((r.name, (revision, r)) for r in records)
            self._written.add(revision)
            # Geometric: folding costs O(records), so fold after a fixed share of them and
            # the cost per artifact stays constant however large the run grows.
            fold = len(self._written) >= max(COMPACT_EVERY, len(self._state.changes) // 8)
        if fold:
            self.fold()

    def fold(self, then: Callable[[], object] | None = None) -> None:
        """Fold the journal into the sidecar, passing what this process already holds;
        `then` is called once the sidecar is stored (`Journal.compact`)."""
        journal = self._bound()
        with self.lock:
            known, mine = RunState(dict(self._state.changes)), set(self._written)
        with journal.location.storage_errors():
            folded = journal.compact(known, mine, then=then)
        with self.lock:
            self._merge(folded)
            self._written -= mine

    def __getstate__(self) -> dict[str, Any]:
        with self.lock:
            changes = self._state.changes.copy()
        return {"run_hash": self.run_hash, "changes": changes, "location": self.location}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["run_hash"], state["changes"])  # type: ignore[misc]
        if state["location"] is not None:
            self.bind(state["location"], load=False)

    def _bound(self) -> Journal:
        if self.journal is None:  # pragma: no cover - the Run binds before it records
            msg = f"run {self.run_hash} has no storage yet"
            raise RuntimeError(msg)
        return self.journal

    def _merge(self, changes: RunState) -> None:
        """Take the newer of `changes`; hold the lock."""
        self._state.merge(changes)
        self._live = None

    def _build(self, name: str, revision: str, raw: dict[str, Any]) -> Artifact:
        """The record of `name` at `revision`, built once; hold the lock."""
        built = self._built.get(name)
        if built is None or built[0] != revision:
            sidecar = f"{self._bound().location.uri}/{SIDECAR_NAME}"
            record = from_stored(raw, sidecar=sidecar, downloader=self.downloader)
            built = self._built[name] = (revision, record)
        return built[1]
