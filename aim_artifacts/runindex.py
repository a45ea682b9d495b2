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

S3 lists the folder a page at a time from a start key (`s3.list_names`); other backends list
it whole (a listing of the folder, not of the store).
"""

from __future__ import annotations

import bisect
import re
import time

import attrs

from . import s3
from .location import Location
from .names import RESERVED_PREFIX, is_run_hash

__all__ = [
    "COMPLETE",
    "INDEX_DIR",
    "IndexPage",
    "Marker",
    "declare_complete",
    "list_page",
    "mark",
    "write_marker",
]

INDEX_DIR = f"{RESERVED_PREFIX}-runs"  # never a run hash: those start with a letter or digit
COMPLETE = ".complete"  # sorts before every marker ('.' < '0'): the first key listed
_LATEST = 10**13 - 1  # ms since the epoch that fit 13 digits (until the year 2286)
_MARKER = re.compile(r"(\d{13})-(.+)")


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


def _index_dir(base: Location) -> str:
    """The path of the index folder of the store at `base`."""
    return base.join(INDEX_DIR)


def mark(run: Location, run_hash: str) -> None:
    """Write the marker of the run stored at `run` (``<base>/<run_hash>``), before its first
    record; the first run of a new store also declares the index complete. On S3: a PUT and
    a listing of one key (and, until the index is complete, a listing of three names)."""
    base = _parent(run)
    write_marker(base, Marker(run_hash, int(time.time() * 1000)))
    if not _is_complete(base) and _is_new(base, run_hash):
        declare_complete(base)


def write_marker(base: Location, marker: Marker) -> None:
    """Write `marker` into the index of the store at `base`."""
    base.storage.write(f"{_index_dir(base)}/{marker.name}", marker.hash.encode())


def declare_complete(base: Location) -> None:
    """Record that every run of the store at `base` has a marker."""
    base.storage.write(f"{_index_dir(base)}/{COMPLETE}", b"")


def list_page(base: Location, after: str | None, limit: int | None) -> IndexPage:
    """Up to `limit` markers (None: all) after the name `after` (None: from the first).
    On S3 one request (the first page asks for one key more: `COMPLETE` sorts first; all
    markers: a request per 1,000); elsewhere one listing of the folder."""
    path = _index_dir(base)
    want = None if limit is None else limit + (after is None)
    listed = None
    if base.is_s3:
        listed = _s3_names(base, path, after, want)
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
    """True if the store at `base` holds nothing but this run and the library's own files
    (asked with at most three names on S3, one listing of the base elsewhere)."""
    listed = None
    if base.is_s3:
        listed = s3.list_names(base.storage.origin, base.path, after=None, limit=3, folders=True)
    if listed is None:
        listed = (base.storage.names(base.path), False)
    names, more = listed
    return not more and all(n == run_hash or n.startswith(RESERVED_PREFIX) for n in names)


def _parent(run: Location) -> Location:
    """The store that holds the run at `run`."""
    return Location(
        run.uri.rsplit("/", 1)[0],
        run.path.rsplit("/", 1)[0],
        run.storage,
        protocols=run.protocols,
        rooted=run.rooted,
    )
