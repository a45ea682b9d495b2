"""The runs index: one tiny marker per run, named to sort newest first, kept by the writers.

A store's first page of runs comes from the first keys of one folder, not from a listing of
every object (S3 lists 1,000 keys a request: 10,000 runs of a few files are 20+ requests):

- ``<base>/.aim-artifacts-runs/<inverted creation ms, 13 digits>-<run hash>``: written by
  a run's writer before the run's first record (`mark`), so every run with records has
  one; it holds the run hash only. A marker whose run has no records yet (still uploading,
  or its writer died) is skipped by readers.
- ``<base>/.aim-artifacts-runs/.complete``: every run in the store has a marker. Written
  when the first run of a new store is marked, or by `Store.reindex` after marking the runs
  of a store written before the index existed. Without it readers list the whole store.
  Runs written by versions before the index never get a marker: reindex after using one.
- ``<base>/.aim-artifacts-open/<run hash>.<token>``: a writer process's open flag, from its
  first record until it closes the run with its journal folded; a writer that died leaves
  it. Only the runs flagged can have journal entries their sidecar lacks, so a page reads
  the journals of those runs alone (one listing of this folder, instead of one per run).

S3 lists the folder a page at a time from a start key (`s3.list_names`); other backends list
it whole (a listing of the folder, not of the store).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import functools
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from . import s3
from .location import Location
from .names import RESERVED_PREFIX, is_run_hash

__all__ = [
    "COMPLETE",
    "INDEX_DIR",
    "OPEN_DIR",
    "IndexPage",
    "Marker",
    "RunEntry",
    "declare_complete",
    "list_page",
    "mark",
    "write_marker",
]

INDEX_DIR = f"{RESERVED_PREFIX}-runs"  # never a run hash: those start with a letter or digit
OPEN_DIR = f"{RESERVED_PREFIX}-open"
COMPLETE = ".complete"  # sorts before every marker ('.' < '0'): the first key listed
log: logging.Logger = logging.getLogger(__name__)
_LATEST = 10**13 - 1  # ms since the epoch that fit 13 digits (until the year 2286)
_MARKER = re.compile(r"(\d{13})-(.+)")
_REFUSED = frozenset({errno.EPERM, errno.EACCES, errno.EEXIST})  # SMB: the file is in use


@attrs.frozen
class Marker:
    """A run's entry in the index."""

    hash: str
    created_ms: int  # when the run was marked: ms since the epoch

    @property
    def name(self) -> str:
        """Its file name: newest first in name order."""
        return f"{_LATEST - self.created_ms:013d}-{self.hash}"

    @classmethod
    def parse(cls, name: str) -> Marker | None:
        """The marker named `name`, or None if that is not a marker's name."""
        match = _MARKER.fullmatch(name)
        if match is None or not is_run_hash(match[2]):
            return None
        return cls(match[2], _LATEST - int(match[1]))


@attrs.frozen
class IndexPage:
    """A page of the index: its markers in name order (newest first), whether more follow,
    the name to continue after, and (first page only) whether the index is complete."""

    markers: tuple[Marker, ...]
    more: bool
    last: str | None  # the last name listed (a marker's or not): where the next page starts
    complete: bool


class RunEntry:
    """A run's part in its store's index, as one writer keeps it: its marker (written once,
    before its first record, unless it has one) and this process's open flag (from its
    first record until the run is closed with its journal folded). Pickles without them:
    another process flags the run open itself."""

    def __init__(self, run_hash: str, *, marked: bool = False) -> None:
        self.run_hash = run_hash
        self._marked = marked
        self._flag: tuple[int, str] | None = None  # (pid, path) of this process's open flag
        self._lock = threading.Lock()
        self._closed = False  # a flag written ahead of a batch (`Run`) comes too late now

    @property
    def done(self) -> bool:
        """True once this process has marked the run and flagged it open."""
        return self._marked and self._flagged()

    def before_record(self, run: Location, has_marker: Callable[[], bool]) -> None:
        """Mark the run stored at `run` unless `has_marker()`, and flag it open."""
        if self.done:
            return
        with self._lock:
            if self._closed:
                return
            calls: list[Callable[[], object]] = []
            if not self._marked and not has_marker():
                calls.append(functools.partial(mark, run, self.run_hash))
            flag = None
            if not self._flagged():
                flag = f"{_parent(run).join(OPEN_DIR)}/{self.run_hash}.{secrets.token_hex(6)}"
                calls.append(functools.partial(run.storage.create, flag))  # read by name alone
            try:
                run.storage.together(*calls)  # at once on object stores
            except BaseException:
                if flag is not None:  # written or not: a flag left would only cost readers
                    with contextlib.suppress(Exception):
                        run.storage.remove([flag])
                raise
            self._marked = True
            if flag is not None:
                self._flag = (os.getpid(), flag)

    def closed(self, run: Location) -> None:
        """Remove this process's open flag: its records are all in the sidecar."""
        with self._lock:
            flag, self._flag, self._closed = self._flag, None, True
            if flag is not None and flag[0] == os.getpid():
                run.storage.remove([flag[1]])

    def clear_stale_flags(self, run: Location) -> None:
        """Remove the open flags of the run stored at `run` but this process's own (`repair`:
        the processes that wrote them were killed, and the journal was folded since)."""
        base = _parent(run)
        path = base.join(OPEN_DIR)
        own = self._flag[1] if self._flagged() and self._flag else None
        stale = [f"{path}/{n}" for n in _flag_names(base) if n.split(".", 1)[0] == self.run_hash]
        run.storage.remove([p for p in stale if p != own])

    def _flagged(self) -> bool:
        return self._flag is not None and self._flag[0] == os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        return {"run_hash": self.run_hash, "marked": self._marked}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["run_hash"], marked=state["marked"])  # type: ignore[misc]


def open_runs(base: Location) -> set[str]:
    """The runs of the store at `base` that a writer flagged open: only these can have
    journal entries their sidecar lacks (one listing, of the flags alone)."""
    return {name.split(".", 1)[0] for name in _flag_names(base)}


def _flag_names(base: Location) -> list[str]:
    """The names of the open flags of the store at `base` (one listing)."""
    path = base.join(OPEN_DIR)
    listed = _s3_names(base, path, None, None) if base.is_s3 else None
    return list(listed[0]) if listed is not None else base.storage.names(path)


def flag_open(base: Location, run_hash: str, token: str) -> None:
    """Flag the run `run_hash` open (`Store.reindex`: a journal left by an older writer)."""
    base.storage.create(f"{base.join(OPEN_DIR)}/{run_hash}.{token}")


def _index_dir(base: Location) -> str:
    """The path of the index folder of the store at `base`."""
    return base.join(INDEX_DIR)


def mark(run: Location, run_hash: str) -> None:
    """Write the marker of the run stored at `run` (``<base>/<run_hash>``), before its first
    record; the first run of a new store also declares the index complete. On S3: a PUT and,
    at the same time, a listing of one key (and, until the index is complete, a listing of
    up to 100 names)."""
    base = _parent(run)

    def complete() -> bool | None:
        """Whether the index is complete; None if that could not be told."""
        try:
            return _is_complete(base)
        except Exception as exc:  # noqa: BLE001 - an index not declared complete is still right
            _left_incomplete(base, exc)
            return None

    marker = Marker(run_hash, int(time.time() * 1000))
    _, known = base.storage.together(functools.partial(write_marker, base, marker), complete)
    try:
        if known is False and _is_new(base, run_hash):
            declare_complete(base)
    except Exception as exc:  # noqa: BLE001 - as above
        _left_incomplete(base, exc)


def _left_incomplete(base: Location, exc: Exception) -> None:
    """Readers then list the whole store, as for one written before the index (s3rver
    answers InternalError to listings while another process writes beside them)."""
    log.warning("%s: runs index left incomplete: %s", base.uri, exc)


def write_marker(base: Location, marker: Marker) -> None:
    """Write `marker` into the index of the store at `base`. Two writers of one run that
    mark it in the same millisecond write the same marker: where the second is refused
    (SMB: the file is in use), the first one's stands."""
    path = f"{_index_dir(base)}/{marker.name}"
    try:
        base.storage.create(path, marker.hash.encode())
    except OSError as exc:
        refused = isinstance(exc, PermissionError | FileExistsError) or exc.errno in _REFUSED
        if not refused or not _stands(base, path):
            raise


def _stands(base: Location, path: str) -> bool:
    """True if the file `path` is there (an error asking counts as no)."""
    try:
        return base.storage.kind(path) == "file"
    except OSError:
        return False


def declare_complete(base: Location) -> None:
    """Record that every run of the store at `base` has a marker."""
    base.storage.create(f"{_index_dir(base)}/{COMPLETE}")


def list_page(base: Location, after: str | None, limit: int | None) -> IndexPage:
    """Up to `limit` markers (None: all) after the name `after` (None: from the first).
    On S3 one request (the first page asks for one key more: `COMPLETE` sorts first; all
    markers: a request per 1,000); elsewhere one listing of the folder."""
    path = _index_dir(base)
    want = None if limit is None else limit + (after is None)
    listed = None
    if base.is_s3:
        try:
            listed = _s3_names(base, path, after, want)
        except OSError as exc:  # s3rver fails a listing it must truncate: list it whole
            log.debug("%s: paged listing refused (%s); listing the index whole", base.uri, exc)
    if listed is None:
        names = sorted(base.storage.names(path))
        start = 0 if after is None else bisect.bisect_right(names, after)
        end = len(names) if want is None else start + want
        listed = (names[start:end], end < len(names))
    names, more = listed
    complete = after is None and COMPLETE in names
    markers = tuple(m for n in names if (m := Marker.parse(n)) is not None)
    return IndexPage(markers, more, names[-1] if names else after, complete)


def _s3_names(
    base: Location, path: str, after: str | None, want: int | None
) -> tuple[list[str], bool] | None:
    """Up to `want` names (None: all, 1,000 a request) in the S3 folder `path` after
    `after`, and whether more follow; None where the filesystem is not s3fs."""
    names: list[str] = []
    while True:
        ask = 1000 if want is None else want - len(names)
        listed = s3.list_names(base.storage.origin, path, after=after, limit=ask)
        if listed is None:
            return None
        names += listed[0]
        if not listed[1] or not listed[0] or want is not None:
            return names, listed[1]
        after = names[-1]


def _is_complete(base: Location) -> bool:
    """True if the index of the store at `base` is declared complete (on S3 a listing of
    one key, elsewhere a look at one file)."""
    if base.is_s3:
        return list_page(base, None, 0).complete
    return base.storage.kind(f"{_index_dir(base)}/{COMPLETE}") is not None


def _is_new(base: Location, run_hash: str) -> bool:
    """True if the store at `base` holds nothing but runs with markers (this one's was just
    written) and the library's own files: asked with at most 100 names of it on S3 (one
    listing elsewhere), then, if it holds other runs, a listing of the index."""
    listed = None
    if base.is_s3:
        listed = s3.list_names(base.storage.origin, base.path, after=None, limit=100, folders=True)
    names, more = listed if listed is not None else (base.storage.names(base.path), False)
    others = {n for n in names if not n.startswith(RESERVED_PREFIX)} - {run_hash}
    if more or not all(is_run_hash(n) for n in others):
        return False
    return not others or others <= {m.hash for m in list_page(base, None, None).markers}


def _parent(run: Location) -> Location:
    """The store that holds the run at `run`."""
    return Location(
        run.uri.rsplit("/", 1)[0],
        run.path.rsplit("/", 1)[0] if "/" in run.path else "",  # "": a layer's root (dir::)
        run.storage,
        protocols=run.protocols,
        rooted=run.rooted,
    )
