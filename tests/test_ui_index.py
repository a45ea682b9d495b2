"""The run page's index (pure: records in memory): folder levels, sort orders, the filter,
and pages that follow a cursor without losing or repeating a row."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from aim_artifacts import Artifact
from aim_artifacts.ui.index import SORTS, IndexCache, RunIndex

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NAMES = ["a", "a-b/x", "a/b/c", "a/b/d", "a/e", "a/\U0010ffffz", "b/a", "ab", "A/z"]


def record(name: str, size: int, minute: int) -> Artifact:
    uri = f"memory://s/r/{name}"
    created = T0 + dt.timedelta(minutes=minute)
    return Artifact(name, name, uri, size, "0" * 64, created)


def index() -> RunIndex:
    # sizes and times repeat, so ties are broken by name
    return RunIndex(record(n, i % 3, i % 2) for i, n in enumerate(NAMES))


def test_a_folder_level_holds_its_files_and_sub_folders_with_totals() -> None:
    top = index().page(folder="")
    assert [a.name for a in top.artifacts] == ["a", "ab"]
    assert [(f.path, f.count) for f in top.folders] == [("A", 1), ("a", 4), ("a-b", 1), ("b", 1)]
    level = index().page(folder="a")
    assert [a.name for a in level.artifacts] == ["a/e", "a/\U0010ffffz"]
    assert [(f.path, f.count, f.size) for f in level.folders] == [("a/b", 2, 2 + 0)]
    assert level.total == 4


@pytest.mark.parametrize("folder", ["", "a", "a/b", "A", "b", "missing"])
def test_folder_totals_are_those_of_counting_every_row(folder: str) -> None:
    """An unfiltered level steps over its folders' rows: it adds up as visiting them does."""
    prefix = f"{folder}/" if folder else ""
    counted: dict[str, tuple[int, int]] = {}
    for a in index().records:
        head, slash, _ = a.name.removeprefix(prefix).partition("/")
        if a.name.startswith(prefix) and slash:
            count, size = counted.get(prefix + head, (0, 0))
            counted[prefix + head] = (count + 1, size + a.size)
    level = index().page(folder=folder).folders
    assert [(f.path, f.count, f.size) for f in level] == sorted((p, *t) for p, t in counted.items())


def test_the_filter_ignores_case_and_counts_what_matches() -> None:
    assert index().page(query="B/").total == 4  # a/b/c, a/b/d, b/a, a-b/x
    matched = index().page(folder="", query="Z")
    assert matched.total == 2 and [f.path for f in matched.folders] == ["A", "a"]
    assert index().page(query="nothing").artifacts == []


@pytest.mark.parametrize(
    ("sort", "descending", "limit"), list(itertools.product(SORTS, (False, True), (1, 2, 4, 100)))
)
def test_pages_cover_every_row_once_in_order(sort: str, descending: bool, limit: int) -> None:
    idx = index()
    seen, cursor = [], None
    while True:
        page = idx.page(sort=sort, descending=descending, cursor=cursor, limit=limit)
        seen += page.artifacts
        if page.next is None:
            break
        cursor = page.next
    key = {"name": lambda a: a.name, "size": lambda a: (a.size, a.name)}.get(
        sort, lambda a: (a.created_at, a.name)
    )
    assert seen == sorted(idx.records, key=key, reverse=descending)


def test_bad_requests_are_value_errors() -> None:
    idx = index()
    cursor = idx.page(sort="size", limit=1).next
    assert cursor is not None
    for kwargs in ({"sort": "colour"}, {"limit": 0}, {"cursor": "!!"}, {"cursor": cursor}):
        with pytest.raises(ValueError, match=r"sort must be|not a cursor"):
            idx.page(**kwargs)  # type: ignore[arg-type]


def test_the_cache_keeps_a_run_ttl_seconds_or_five_reads_long() -> None:
    now = [0.0]
    reads = []

    def load(run_hash: str) -> list[Artifact]:
        reads.append(run_hash)
        now[0] += 4.0  # reading the run takes 4 s: it is kept 20 s, not 10
        return [record("x", 1, 0)]

    cache = IndexCache(load, ttl=10, clock=lambda: now[0])
    first = cache.get("r")
    now[0] += 19
    assert cache.get("r") is first and reads == ["r"]
    now[0] += 1
    assert cache.get("r") is not first and reads == ["r", "r"]
