"""`Store`: a base URI holding many runs; listed newest first, a page at a time.

A page without a search comes from the runs index (`runindex`) where the store has a
complete one: a listing of the index's first names and one of the runs flagged open, then
the shown runs' records (the sidecar alone for a run no writer has open), several at a
time; how many runs there are is then not known (`RunsPage.total` is None).
Otherwise listing costs what the backend's listing of the base costs, not a request per run:
the runs, their order and their metadata files come from one recursive listing (`listing`);
a page's summaries are read several runs at a time and reused while those files are unchanged.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from .errors import InvalidCursorError, InvalidNameError, RunNotFoundError, SidecarError
from .formatting import format_time, parse_time
from .journal import Journal
from .listing import Listed, list_runs, load_states
from .location import Location, resolve
from .names import check_run_hash
from .run import Run
from .runindex import (
    Marker,
    declare_complete,
    flag_open,
    list_page,
    open_runs,
    write_marker,
)
from .sidecar import RunState
from .storage import SHARED_WORKERS

__all__ = ["PAGE_SIZE", "RunSummary", "RunsPage", "Store"]

PAGE_SIZE = 50  # runs on a page of the web page and `/api/runs`, unless asked otherwise
_FROM_INDEX = "i"  # starts the cursors of pages read from the runs index (never a digit)
_NOT_IN_CURSOR = re.compile(r"[\x00-\x1f\x7f/]")


@attrs.frozen
class RunSummary:
    """One line about a run: what the runs page and ``aim-artifacts runs`` show."""

    hash: str
    created: dt.datetime | None  # when its first artifact was logged (None: it has none)
    last_logged: dt.datetime | None
    count: int
    size: int  # bytes, all artifacts together

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``aim-artifacts runs --json`` and ``/api/runs`` (times as in the
        sidecar, None for a run without artifacts)."""
        return {
            "hash": self.hash,
            "created": format_time(self.created) if self.created else None,
            "last_logged": format_time(self.last_logged) if self.last_logged else None,
            "count": self.count,
            "size": self.size,
        }


@attrs.frozen
class RunsPage:
    """A page of runs, newest first: their summaries, how many runs matched in all (None:
    not counted, for a page read from the runs index), and the cursor of the next page
    (None on the last)."""

    runs: tuple[RunSummary, ...]
    total: int | None
    next: str | None


class Store:
    """The runs stored under one base URI (what ``set_artifacts_uri`` was given)."""

    def __init__(self, base_uri: Any, *, must_exist: bool = False, **storage_options: Any) -> None:
        """
        Args:
            base_uri: as for `Run.set_artifacts_uri`.
            must_exist: check now that the URI names an existing directory (one request).
            **storage_options: options for the filesystem.

        Raises:
            BackendUnavailableError: unknown protocol, or the package serving it is missing.
            StoreNotFoundError: `must_exist` and nothing exists at the URI.
            NotAStoreError: the URI names a file.
        """
        self._base: Location = resolve(base_uri, pool_size=SHARED_WORKERS, **storage_options)
        self._lock = threading.Lock()
        self._listing: tuple[float, list[Listed]] = (-float("inf"), [])
        self._summaries: dict[str, tuple[tuple[tuple[str, str], ...], RunSummary]] = {}
        # pages read from the index (None: the store has no complete index)
        self._pages: dict[tuple[str | None, int], tuple[float, RunsPage | None]] = {}
        self._pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, readers)
        if must_exist or self._base.storage.local:  # local: free to ask, and a common mistake
            self._base.check_store(must_exist=must_exist)

    @property
    def uri(self) -> str:
        """The base URI, without a trailing slash."""
        return self._base.uri

    def check(self) -> None:
        """Ask the store once, before anything is stored there: its server answers (within
        10 s, ``$AIM_ARTIFACTS_FIRST_ANSWER_TIMEOUT``), the credentials are accepted and the
        URI is not a file; it need not exist yet.

        Raises:
            EndpointUnreachableError: no answer within that time.
            InvalidCredentialsError: the credentials are refused.
            NotAStoreError: the URI names a file.
        """
        self._base.check_store(must_exist=False)

    def runs(self) -> list[str]:
        """The hashes of the runs stored here, sorted: from a complete runs index, every
        run marked (one whose first record is not stored yet too), one listing of the
        index; else one listing of the store."""
        with self._base.storage_errors():
            index = list_page(self._base, None, None)
        if index.complete:
            return sorted({m.hash for m in index.markers})
        return sorted(r.hash for r in self._list(max_age=0.0))

    def summaries(self, search: str = "") -> list[RunSummary]:
        """A summary of every run stored here (whose hash contains `search`, ignoring
        case), newest first: by the earliest time the backend lists among its files."""
        return list(self.page(search, limit=None).runs)

    def page(
        self,
        search: str = "",
        *,
        after: str | None = None,
        limit: int | None = PAGE_SIZE,
        max_age: float = 0.0,
    ) -> RunsPage:
        """Up to `limit` runs (None: all), newest first, whose hash contains `search`
        (ignoring case), after the cursor `after` (a `RunsPage.next`); only these runs'
        records are read. Runs stored meanwhile never shift a later page: a cursor names
        where the previous page ended. With a `limit` and no search, where the store has a
        complete runs index, the page costs a listing of the index's first names and one of
        the runs flagged open, not of the store; newest first is then by when each run was
        started, and `total` is None.

        Args:
            max_age: seconds a listing of the store (or a page of the index) may be reused
                (0: list it now).

        Raises:
            InvalidCursorError: `after` is not a cursor of this method.
            ValueError: `limit` is below 1.
        """
        if limit is not None and limit < 1:
            msg = f"limit must be at least 1, not {limit}"
            raise ValueError(msg)
        indexed = after is not None and after.startswith(_FROM_INDEX)
        if not search and limit is not None and (after is None or indexed):
            page = self._index_page(_index_cursor(after), limit, max_age)
            if page is not None:
                return page
        if indexed:
            msg = f"{after!r} is not a cursor of a page of runs matching {search!r}"
            raise InvalidCursorError(msg)
        needle = search.lower()
        runs = [r for r in self._list(max_age) if needle in r.hash.lower()]
        start = 0
        if after is not None:
            key = _cursor_key(after)
            start = next((i for i, r in enumerate(runs) if r.key < key), len(runs))
        end = len(runs) if limit is None else start + limit
        chosen = runs[start:end]
        cursor = _cursor(chosen[-1]) if chosen and end < len(runs) else None
        return RunsPage(tuple(self._summarise(chosen)), len(runs), cursor)

    def _index_page(self, after: str | None, limit: int, max_age: float) -> RunsPage | None:
        """Up to `limit` runs after the index name `after`, from the runs index; None if the
        store has no complete index. Markers whose run has no records yet are skipped (more
        are listed to fill the page), as is a run marked twice within a page."""
        with self._lock:
            listed_at, cached = self._pages.get((after, limit), (-float("inf"), None))
        if time.monotonic() - listed_at <= max_age:
            return cached
        page = self._read_index_page(after, limit)
        with self._lock:
            if len(self._pages) > 64:
                self._pages.clear()
            self._pages[after, limit] = (time.monotonic(), page)
        return page

    def _read_index_page(self, after: str | None, limit: int) -> RunsPage | None:
        """`_index_page`, read now."""
        rows: list[RunSummary] = []
        seen: set[str] = set()
        cursor = after
        with self._base.storage_errors():
            flagged: set[str] | None = None
            while len(rows) < limit:
                index = list_page(self._base, cursor, limit - len(rows))
                if after is None and cursor is None and not index.complete:
                    return None
                flagged = open_runs(self._base) if flagged is None else flagged
                fresh = []
                for marker in index.markers:
                    if marker.hash not in seen:
                        seen.add(marker.hash)
                        fresh.append(marker)
                # a run no writer has open has every record in its sidecar
                wanted: list[tuple[str, list[str] | None]] = [
                    (m.hash, None if m.hash in flagged else []) for m in fresh
                ]
                states = load_states(self._base, wanted, self._readers())
                rows += [
                    _summary(m.hash, state, where=self._base.child(m.hash).uri)
                    for m, state in zip(fresh, states, strict=True)
                    if state.changes
                ]
                cursor = index.last
                if not index.more:
                    cursor = None
                    break
        return RunsPage(tuple(rows), None, cursor and f"{_FROM_INDEX}{cursor}")

    def reindex(self) -> list[str]:
        """Build the runs index of a store written before it existed (or by a version
        before it): a marker for every run without one, dated by the earliest time its
        files list, then the index is declared complete, so that a page of the newest runs
        costs a listing of the index, not of the store; a run whose journal holds entries
        (its writer died, or is older) is flagged open, so pages read them. One listing of
        the store, then a write per run marked (several at a time).

        Returns:
            The hashes of the runs marked, sorted.

        Raises:
            StorageError: the backend failed (run it again: what was marked stays).
        """
        with self._base.storage_errors():
            runs = list_runs(self._base)
            marked = {m.hash for m in list_page(self._base, None, None).markers}
            missing = [Marker(r.hash, r.stored // 1_000_000) for r in runs if r.hash not in marked]
            writes = [functools.partial(write_marker, self._base, m) for m in missing]
            writes += [
                functools.partial(flag_open, self._base, r.hash, "reindex")
                for r in runs
                if r.entries
            ]
            pool = self._readers()
            if pool is None:
                for write in writes:
                    write()
            else:
                list(pool.map(lambda write: write(), writes))
            declare_complete(self._base)
        with self._lock:
            self._pages.clear()
        return sorted(m.hash for m in missing)

    def _list(self, max_age: float) -> list[Listed]:
        """The runs, newest first, from a listing at most `max_age` seconds old."""
        with self._lock:
            listed_at, runs = self._listing
        if time.monotonic() - listed_at <= max_age:
            return runs
        with self._base.storage_errors():
            runs = list_runs(self._base)
        with self._lock:
            self._listing = (time.monotonic(), runs)
            hashes = {r.hash for r in runs}
            for gone in self._summaries.keys() - hashes:
                del self._summaries[gone]
        return runs

    def _summarise(self, runs: list[Listed]) -> list[RunSummary]:
        """The summaries of `runs`, reading only those whose metadata files changed since
        they were last read."""
        with self._lock:
            known = {r.hash: self._summaries.get(r.hash) for r in runs}
        stale = [r for r in runs if (k := known[r.hash]) is None or k[0] != r.version]
        states = load_states(self._base, [(r.hash, r.entries) for r in stale], self._readers())
        fresh = {
            r.hash: (r.version, _summary(r.hash, state, where=self._base.child(r.hash).uri))
            for r, state in zip(stale, states, strict=True)
        }
        with self._lock:
            self._summaries.update(fresh)
        summaries = {h: k[1] for h, k in (known | fresh).items() if k is not None}
        return [summaries[r.hash] for r in runs]

    def _readers(self) -> ThreadPoolExecutor | None:
        """The threads that read runs' records, kept for the store's life (a file server's
        client logs in once per thread); None where one thread reads fastest (local)."""
        workers = self._base.storage.workers
        if workers <= 1:
            return None
        with self._lock:
            if self._pool is None or self._pool[0] != os.getpid():  # none after a fork
                pool = ThreadPoolExecutor(workers, thread_name_prefix="aim-artifacts-listing")
                self._pool = (os.getpid(), pool)
            return self._pool[1]

    def run(self, run_hash: str) -> Run:
        """Open a stored run.

        Raises:
            InvalidNameError: `run_hash` is not a valid run hash.
            RunNotFoundError: no run of that hash is stored here.
        """
        check_run_hash(run_hash)
        with self._base.storage_errors():
            found = Journal(self._base.child(run_hash), run_hash).exists()
        if not found:
            msg = f"no run {run_hash!r} in {self.uri}{self._did_you_mean(run_hash)}"
            raise RunNotFoundError(msg)
        return Run(run_hash, artifacts_uri=self._base)

    def _did_you_mean(self, run_hash: str) -> str:
        """``"; did you mean 'x'?"`` naming the stored run closest to a mistyped hash."""
        try:
            hashes = self.runs()
        except Exception:  # noqa: BLE001 - a hint only: the error being raised matters
            return ""
        close = [h for h in hashes if h.startswith(run_hash) or run_hash.startswith(h)]
        close = close or difflib.get_close_matches(run_hash, hashes, n=1, cutoff=0.8)
        return f"; did you mean {close[0]!r}?" if close else ""

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"base": self._base}  # what was listed and read is this process's

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["base"])  # type: ignore[misc]


def _summary(run_hash: str, state: RunState, *, where: str) -> RunSummary:
    """The summary of the run `run_hash` whose records are `state`.

    Raises:
        SidecarError: a record without a valid size or time (`where` says whose).
    """
    times, size = [], 0
    for name, (_, record) in state.live().items():
        try:
            times.append(parse_time(record["created_at"]))
            size += int(record["size"])
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{where}: artifacts[{name!r}]: no valid size and created_at ({exc})"
            raise SidecarError(msg) from exc
    return RunSummary(
        run_hash, min(times, default=None), max(times, default=None), len(times), size
    )


def _index_cursor(cursor: str | None) -> str | None:
    """The index name a cursor of a page from the runs index continues after (None: the
    first page).

    Raises:
        InvalidCursorError: not such a cursor.
    """
    if cursor is None:
        return None
    name = cursor[len(_FROM_INDEX) :]
    if not name or name.startswith(".") or _NOT_IN_CURSOR.search(name):
        msg = f"{cursor!r} is not a cursor of a page of runs"
        raise InvalidCursorError(msg)
    return name


def _cursor(run: Listed) -> str:
    return f"{run.stored}.{run.hash}"


def _cursor_key(cursor: str) -> tuple[int, str]:
    """The sort key a cursor names.

    Raises:
        InvalidCursorError: not a cursor.
    """
    stored, _, run_hash = cursor.partition(".")
    try:
        check_run_hash(run_hash)
    except InvalidNameError:
        stored = ""
    if not stored.isdigit():
        msg = f"{cursor!r} is not a cursor of a page of runs"
        raise InvalidCursorError(msg)
    return (int(stored), run_hash)
