"""A run's artifacts as the page browses them: one folder level at a time (sub-folders with
their counts and sizes), or a flat list sorted by name, size or time; a name filter; pages
that continue from a cursor (the last row's sort key), so a run of any size opens at once."""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .. import Artifact
from ..formatting import format_time

__all__ = ["PAGE", "SORTS", "Folder", "IndexCache", "Page", "RunIndex"]

PAGE = 200  # rows a page holds unless asked otherwise
SORTS = ("name", "size", "created_at")
Key = tuple[Any, str]


@attrs.frozen
class Folder:
    """A folder of artifact names: its path (no trailing slash) and what it holds."""

    path: str
    count: int
    size: int


@attrs.frozen
class Page:
    """One page of a listing: `total` artifacts match (in the folder, or in the run when
    flat), `folders` (on the first page of a folder level) and the `artifacts` of this page;
    `next` is the cursor of the page after it, or None."""

    folders: list[Folder]
    artifacts: list[Artifact]
    total: int
    next: str | None


class RunIndex:
    """The records of one run, in name order, with totals (count, size, first and last
    logged) and, built on first use, the same records in each other sort order."""

    def __init__(self, artifacts: Iterable[Artifact]) -> None:
        self.records: list[Artifact] = sorted(artifacts, key=lambda a: a.name)
        self._names = [a.name for a in self.records]
        self.count: int = len(self.records)
        self._sizes = [0, *itertools.accumulate(a.size for a in self.records)]  # sums so far
        self.size: int = self._sizes[-1]
        times = [a.created_at for a in self.records]
        self.created: dt.datetime | None = min(times, default=None)
        self.last_logged: dt.datetime | None = max(times, default=None)
        self._sorted: dict[str, list[Artifact]] = {"name": self.records}
        self._lock = threading.Lock()

    def get(self, name: str) -> Artifact | None:
        """The record of artifact `name`, or None."""
        at = bisect.bisect_left(self._names, name)
        return self.records[at] if at < self.count and self._names[at] == name else None

    def page(
        self,
        *,
        folder: str | None = None,
        query: str = "",
        sort: str = "name",
        descending: bool = False,
        cursor: str | None = None,
        limit: int = PAGE,
    ) -> Page:
        """A page of the artifacts whose names contain `query` (any case): those directly
        in `folder` (``""`` is the top level) with its matching sub-folders, or, when
        `folder` is None, all of them.

        Raises:
            ValueError: an unknown `sort`, a `limit` below 1 or a cursor this index did not make.
        """
        if sort not in SORTS or limit < 1:
            msg = f"sort must be one of {', '.join(SORTS)} and limit at least 1"
            raise ValueError(msg)
        needle = query.lower()
        folders: list[Folder] = []
        if folder is None:
            rows = self._by(sort)
            if needle:
                rows = [a for a in rows if needle in a.name.lower()]
        else:
            folders, rows = self._level(folder.strip("/"), needle)
            if sort != "name":
                rows.sort(key=_KEYS[sort])
        start, stop = _window(rows, _KEYS[sort], cursor, descending, limit)
        chosen = rows[start:stop]
        if descending:
            chosen.reverse()
        more = (start > 0) if descending else (stop < len(rows))
        next_cursor = _encode(_KEYS[sort](chosen[-1])) if more and chosen else None
        total = len(rows) + sum(f.count for f in folders)
        return Page(folders if cursor is None else [], chosen, total, next_cursor)

    def _by(self, sort: str) -> list[Artifact]:
        with self._lock:
            if sort not in self._sorted:
                self._sorted[sort] = sorted(self.records, key=_KEYS[sort])
            return self._sorted[sort]

    def _level(self, folder: str, needle: str) -> tuple[list[Folder], list[Artifact]]:
        """The matching sub-folders of `folder` (with counts and sizes) and its own files."""
        prefix = f"{folder}/" if folder else ""
        start = bisect.bisect_left(self._names, prefix)
        stop = bisect.bisect_right(self._names, prefix, key=lambda n: n[: len(prefix)])
        if not needle:
            return self._subtree(prefix, start, stop)
        counts: dict[str, list[int]] = {}
        files = []
        for record in self.records[start:stop]:
            if needle not in record.name.lower():
                continue
            head, slash, _ = record.name[len(prefix) :].partition("/")
            if slash:
                totals = counts.setdefault(prefix + head, [0, 0])
                totals[0] += 1
                totals[1] += record.size
            else:
                files.append(record)
        folders = [Folder(path, count, size) for path, (count, size) in sorted(counts.items())]
        return folders, files

    def _subtree(self, prefix: str, start: int, stop: int) -> tuple[list[Folder], list[Artifact]]:
        """`_level` unfiltered: the records ``start:stop`` (those under `prefix`) stepped
        through a folder at a time, its count and size read off without visiting its rows."""
        folders, files = [], []
        at = start
        while at < stop:
            head, slash, _ = self._names[at][len(prefix) :].partition("/")
            if not slash:
                files.append(self.records[at])
                at += 1
                continue
            path = prefix + head
            end = bisect.bisect_left(self._names, f"{path}0", at, stop)  # '0' follows '/'
            folders.append(Folder(path, end - at, self._sizes[end] - self._sizes[at]))
            at = end
        folders.sort(key=lambda f: f.path)
        return folders, files


_KEYS: dict[str, Callable[[Artifact], Key]] = {
    "name": lambda a: ("", a.name),
    "size": lambda a: (a.size, a.name),
    "created_at": lambda a: (format_time(a.created_at), a.name),
}


def _window(
    rows: list[Artifact],
    key: Callable[[Artifact], Key],
    cursor: str | None,
    descending: bool,
    limit: int,
) -> tuple[int, int]:
    """The slice of `rows` (ascending by `key`) that the page after `cursor` holds."""
    if cursor is None:
        return (max(0, len(rows) - limit), len(rows)) if descending else (0, limit)
    after = _decode(cursor)
    try:
        if descending:
            stop = bisect.bisect_left(rows, after, key=key)
            return max(0, stop - limit), stop
        start = bisect.bisect_right(rows, after, key=key)
    except TypeError as exc:  # a cursor of another sort order
        msg = f"not a cursor of this listing: {cursor!r}"
        raise ValueError(msg) from exc
    return start, start + limit


def _encode(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode(cursor: str) -> Key:
    try:
        value, name = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error) as exc:
        msg = f"not a cursor of this listing: {cursor!r}"
        raise ValueError(msg) from exc
    if not isinstance(name, str) or not isinstance(value, (str, int)):
        msg = f"not a cursor of this listing: {cursor!r}"
        raise ValueError(msg)
    return value, name


class IndexCache:
    """Each run's `RunIndex`, kept `ttl` seconds or five times what reading the run took,
    whichever is longer: the page and the requests it makes after share one read, and a
    run that takes seconds to read is not read again on every click."""

    def __init__(
        self,
        load: Callable[[str], Iterable[Artifact]],
        ttl: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, RunIndex]] = {}  # hash -> (expiry, index)
        self._lock = threading.Lock()

    def get(self, run_hash: str) -> RunIndex:
        """The index of `run_hash`, read again once it expired."""
        with self._lock:
            entry = self._entries.get(run_hash)
        if entry is not None and self._clock() < entry[0]:
            return entry[1]
        start = self._clock()
        index = RunIndex(self._load(run_hash))
        now = self._clock()
        expiry = now + max(self._ttl, 5 * (now - start))
        with self._lock:
            self._entries = {h: e for h, e in self._entries.items() if now < e[0]}
            self._entries[run_hash] = (expiry, index)
        return index
