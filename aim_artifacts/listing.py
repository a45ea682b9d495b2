"""The runs under a base directory from one listing of it, without a request per run.

One recursive listing of the base (object stores: a paginated listing, 1,000 keys a
request) shows every run's metadata files (its sidecar and unfolded journal entries) and
when its files were stored. A run's records are then read only for the runs asked for,
several at a time, each the way `Journal.load` reads it (entries, then the sidecar), so a
run whose journal is not folded yet still counts every artifact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor

import attrs

from . import s3
from .journal import JOURNAL_DIR, SIDECAR_NAME, Journal, is_entry
from .location import Location
from .names import is_run_hash
from .sidecar import RunState
from .storage import FileInfo

__all__ = ["Listed", "list_runs", "load_states"]


@attrs.frozen
class Listed:
    """A run as the listing shows it."""

    hash: str
    stored: int  # ns since the epoch: the earliest time listed among its files (0: none)
    metadata: tuple[FileInfo, ...]  # its sidecar and journal entries

    @property
    def key(self) -> tuple[int, str]:
        """The sort key: newest first is descending."""
        return (self.stored, self.hash)

    @property
    def version(self) -> tuple[tuple[str, str], ...]:
        """What changes whenever the run's records may have: its metadata files' tags."""
        return tuple((f.path, f.tag) for f in self.metadata)

    @property
    def entries(self) -> list[str]:
        """The paths of its unfolded journal entries."""
        return [f.path for f in self.metadata if not f.path.endswith(f"/{SIDECAR_NAME}")]


def list_runs(base: Location) -> list[Listed]:
    """The runs stored under `base`, newest first (by `Listed.key`): directories named
    like a run hash that hold a sidecar or journal entries."""
    prefix = base.path.rstrip("/")
    files: dict[str, list[tuple[str, FileInfo]]] = defaultdict(list)
    for file in base.storage.files(base.path):
        relative = file.path[len(prefix) :].lstrip("/") if file.path.startswith(prefix) else ""
        run_hash, _, rest = relative.partition("/")
        if rest:
            files[run_hash].append((rest, file))
    runs = [_listed(run_hash, found) for run_hash, found in files.items() if is_run_hash(run_hash)]
    return sorted((r for r in runs if r.metadata), key=lambda r: r.key, reverse=True)


def load_states(
    base: Location, runs: Sequence[tuple[str, list[str] | None]], pool: Executor | None
) -> list[RunState]:
    """The records of each of `runs` (in order), read on `pool`'s threads (None: here).

    Args:
        runs: (run hash, the paths of its journal entries as listed, or None: list them).
    """

    def load(run: tuple[str, list[str] | None]) -> RunState:
        run_hash, entries = run
        journal = Journal(base.child(run_hash), run_hash)
        if entries is None:
            entries = _entries(base, journal.journal_path)
        return journal.load(entries=entries)

    with base.storage_errors():
        if pool is None or len(runs) <= 1:
            return [load(run) for run in runs]
        return list(pool.map(load, runs))


def _entries(base: Location, journal: str) -> list[str] | None:
    """The paths of the entries in the journal folder `journal` from one request where the
    backend lists a folder's first names so (S3: s3fs's own listing of an empty folder lists
    its parent too), else None (the journal lists them)."""
    if not base.is_s3:
        return None
    listed = s3.list_names(base.storage.origin, journal, after=None, limit=1000)
    if listed is None or listed[1]:
        return None
    return [f"{journal}/{name}" for name in listed[0] if is_entry(name)]


def _listed(run_hash: str, found: Iterable[tuple[str, FileInfo]]) -> Listed:
    found = list(found)
    times = [f.modified for _, f in found if f.modified is not None]
    metadata = tuple(f for rest, f in found if _is_metadata(rest))
    return Listed(run_hash, round(min(times) * 1e9) if times else 0, metadata)


def _is_metadata(relative: str) -> bool:
    """True for a run's sidecar and journal entries (paths relative to the run)."""
    if relative == SIDECAR_NAME:
        return True
    directory, _, name = relative.partition("/")
    return directory == JOURNAL_DIR and is_entry(name)
