"""Listing a store: pages newest first, cursors, search, summaries from one listing; each
on a store with the runs index and on one from before it (full listings)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from aim_artifacts import InvalidCursorError, Run, RunSummary, Store
from aim_artifacts.journal import JOURNAL_DIR
from aim_artifacts.runindex import INDEX_DIR, OPEN_DIR
from tests.servers import Middleware

URIS = {"memory": "memory://store", "path": None}  # None: a local path below tmp_path


def predate_the_index(uri: str, **options: Any) -> None:
    """Make the store at `uri` one whose runs the index does not know (as one written before
    it existed): its index removed, a file left beside the runs (so it is not new)."""
    fs, root = fsspec.core.url_to_fs(uri, **(options or {"auto_mkdir": True}))
    fs.invalidate_cache()
    for folder in (INDEX_DIR, OPEN_DIR):
        if fs.exists(f"{root}/{folder}"):
            fs.rm(f"{root}/{folder}", recursive=True)
    fs.pipe_file(f"{root}/notes.txt", b"written before the runs index")


@pytest.fixture(params=[(u, indexed) for u in sorted(URIS) for indexed in ("indexed", "before")])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    name, indexed = request.param
    uri = URIS[name] or str(tmp_path / "store")
    if indexed == "before":
        predate_the_index(uri)
    return uri


def counted(store: Store, count: int) -> int | None:
    """The `total` a page of `store` says without a search: not counted from the index."""
    fs, root = fsspec.core.url_to_fs(store.uri)
    return None if fs.exists(f"{root}/{INDEX_DIR}/.complete") else count


def log_runs(uri: str, tmp_path: Path, count: int, **options: Any) -> list[str]:
    """`count` runs of 1 and 2 artifacts, one after another; their hashes, oldest first."""
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 100)
    hashes = []
    for i in range(count):
        with Run(artifacts_uri=uri, **options) as run:
            for n in range(1 + i % 2):
                run.log_artifact(src, name=f"dir/a{n}.bin")
        hashes.append(run.hash)
    return hashes


def all_pages(store: Store, limit: int, search: str = "") -> Iterator[list[str]]:
    after = None
    while True:
        page = store.page(search, after=after, limit=limit)
        yield [s.hash for s in page.runs]
        if page.next is None:
            return
        after = page.next


def test_pages_newest_first_without_gaps_or_duplicates(uri: str, tmp_path: Path) -> None:
    hashes = log_runs(uri, tmp_path, 7)
    store = Store(uri)
    assert store.page(limit=3).total == counted(store, 7)
    pages = list(all_pages(store, limit=3))
    assert pages == [hashes[6:3:-1], hashes[3:0:-1], hashes[:1]]
    assert [s.hash for s in store.summaries()] == hashes[::-1]
    assert store.runs() == sorted(hashes)


def test_a_run_stored_meanwhile_does_not_shift_later_pages(uri: str, tmp_path: Path) -> None:
    hashes = log_runs(uri, tmp_path, 4)
    store = Store(uri)
    first = store.page(limit=2)
    newer = log_runs(uri, tmp_path, 1)
    second = store.page(after=first.next, limit=2)
    assert [s.hash for s in second.runs] == hashes[1::-1]
    assert second.next is None and second.total == counted(store, 5)
    assert store.page(limit=1).runs[0].hash == newer[0]


def test_search_by_part_of_the_hash_ignoring_case(uri: str, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"x")
    for run_hash in ("alpha-01", "beta-02", "Alphabet-03"):
        with Run(run_hash, artifacts_uri=uri) as run:
            run.log_artifact(src)
    store = Store(uri)
    assert {s.hash for s in store.summaries("ALPHA")} == {"alpha-01", "Alphabet-03"}
    assert [s.hash for s in store.page("02").runs] == ["beta-02"]
    assert list(all_pages(store, limit=1, search="alpha")) == [["Alphabet-03"], ["alpha-01"]]
    nothing = store.page("zzz")
    assert (nothing.runs, nothing.total, nothing.next) == ((), 0, None)


def summary_of(run: Run) -> RunSummary:
    records = list(run.artifacts.values())
    times = [a.created_at for a in records]
    return RunSummary(run.hash, min(times), max(times), len(records), sum(a.size for a in records))


def check_unfolded_journal_counts(uri: str, tmp_path: Path, **options: Any) -> None:
    """A run with a sidecar plus unfolded entries (one adds, one deletes) is summarised
    as its records say."""
    (tmp_path / "big.bin").write_bytes(b"y" * 5000)
    (tmp_path / "small.bin").write_bytes(b"z" * 10)
    with Run(artifacts_uri=uri, **options) as run:
        run.log_artifact(tmp_path / "big.bin", name="folded.bin")
        run.log_artifact(tmp_path / "small.bin", name="gone.bin")
    run = Run(run.hash, artifacts_uri=uri, **options)
    run.log_artifact(tmp_path / "big.bin", name="unfolded/new.bin", block=True)
    run.delete_artifact("gone.bin")
    try:
        fs, root = fsspec.core.url_to_fs(f"{uri}/{run.hash}/{JOURNAL_DIR}", **options)
        fs.invalidate_cache()
        assert len(fs.ls(root)) == 2  # both changes are journal entries, not folded yet
        (summary,) = Store(uri, **options).summaries()
        assert summary == summary_of(run)
        assert (summary.count, summary.size) == (2, 10_000)
    finally:
        run.close()
    assert Store(uri, **options).summaries() == [summary_of(run)]


def test_unfolded_journal_entries_count(uri: str, tmp_path: Path) -> None:
    check_unfolded_journal_counts(uri, tmp_path)


def test_unfolded_journal_entries_count_on_s3(s3: dict[str, Any], tmp_path: Path) -> None:
    check_unfolded_journal_counts("s3://artifacts/unfolded", tmp_path, **s3)


def test_only_run_directories_with_records_are_runs(uri: str, tmp_path: Path) -> None:
    (hashes,) = [log_runs(uri, tmp_path, 1)]
    fs, root = fsspec.core.url_to_fs(uri, auto_mkdir=True)
    fs.pipe_file(f"{root}/stray.txt", b"not a run")
    fs.pipe_file(f"{root}/not a hash/.aim-artifacts.json", b"{}")
    fs.pipe_file(f"{root}/uploading0123/model.bin", b"no record yet")
    fs.pipe_file(f"{root}/{hashes[0]}/{JOURNAL_DIR}/notes.txt", b"not an entry")
    store = Store(uri)
    assert store.runs() == hashes
    assert [(s.hash, s.count) for s in store.summaries()] == [(hashes[0], 1)]


def test_a_cursor_or_limit_that_is_wrong_is_refused(uri: str, tmp_path: Path) -> None:
    log_runs(uri, tmp_path, 1)
    store = Store(uri)
    for cursor in ("nope", "12.", ".abc", "12.a/b", "-1.abc", "i", "i.complete", "ia/b"):
        with pytest.raises(InvalidCursorError, match="is not a cursor of a page of runs"):
            store.page(after=cursor)
    with pytest.raises(ValueError, match="limit must be at least 1, not 0"):
        store.page(limit=0)


def requests_of(s3_requests: Middleware) -> list[str]:
    """The requests made since the last call, as ``"GET list"`` / ``"GET object"``."""
    made = [
        f"{r.method} {'list' if 'list-type' in r.query else 'object'}" for r in s3_requests.requests
    ]
    s3_requests.requests.clear()
    return sorted(made)


@pytest.mark.parametrize("indexed", [True, False])
def test_s3_listing_requests_do_not_grow_with_runs(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path, indexed: bool
) -> None:
    uri = "s3://artifacts/many"
    if not indexed:
        predate_the_index(uri, **s3)
    counted = []
    for more in (3, 27):
        log_runs(uri, tmp_path, more, **s3)
        requests_of(s3_requests)
        store = Store(uri, **s3)
        assert len(store.runs()) == len(counted) * 3 + more
        runs_requests = requests_of(s3_requests)
        assert len(store.page(limit=2).runs) == 2
        counted.append((runs_requests, requests_of(s3_requests)))
    # runs(): one listing of the index (under 1,000 keys: one request); from before the
    # index, its first name (no `.complete`), then one listing of the store. A page: from
    # the index, a listing of its first names and one of the runs flagged open (none: all
    # closed), then the shown runs' sidecars; from before the index, the index's first
    # name, one listing of the store, then the sidecars.
    runs = ["GET list"] * (1 if indexed else 2)
    page = ["GET list"] * 2 + ["GET object"] * 2
    expected = (runs, page)
    assert counted == [expected, expected]


def test_a_page_reload_reads_only_what_changed(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path
) -> None:
    uri = "s3://artifacts/reload"
    predate_the_index(uri, **s3)
    hashes = log_runs(uri, tmp_path, 3, **s3)
    store = Store(uri, **s3)
    first = store.page()
    requests_of(s3_requests)
    assert store.page(max_age=60) == first
    assert requests_of(s3_requests) == []  # the listing is reused, summaries too
    assert store.page() == first
    assert requests_of(s3_requests) == ["GET list"] * 2  # the index, then the store
    with Run(hashes[0], artifacts_uri=uri, **s3) as run:
        run.log_artifact(tmp_path / "a.bin", name="more.bin")
    requests_of(s3_requests)
    counts = {s.hash: s.count for s in store.page().runs}
    assert requests_of(s3_requests) == ["GET list"] * 2 + ["GET object"]  # that run's sidecar
    assert counts == {hashes[0]: 2, hashes[1]: 2, hashes[2]: 1}


def test_a_store_pickles_as_its_location(uri: str, tmp_path: Path) -> None:
    hashes = log_runs(uri, tmp_path, 2)
    store = Store(uri)
    store.page()
    copy = pickle.loads(pickle.dumps(store))
    assert (copy.uri, [s.hash for s in copy.summaries()]) == (store.uri, hashes[::-1])


@pytest.mark.slow  # 1,200 objects stored, 601 runs read: about 20 s
def test_s3_pages_across_listing_pages_and_equal_times(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path
) -> None:
    """600 more runs (copies of a real one, stored within a few seconds: many share the
    second S3 lists times to): 1,202 keys, two listing requests; pages of 250 hold every
    run once, in the order of `summaries()`."""
    uri = "s3://artifacts/wide"
    (template,) = log_runs(uri, tmp_path, 1, **s3)
    predate_the_index(uri, **s3)  # the copies below have no marker
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3)
    sidecar = fs.cat_file(f"artifacts/wide/{template}/.aim-artifacts.json")
    copies = {f"{template[:-3]}{n:03d}" for n in range(600)} - {template}
    fs.pipe(
        {
            f"artifacts/wide/{h}/{name}": sidecar.replace(template.encode(), h.encode())
            for h in copies
            for name in (".aim-artifacts.json", "dir/a0.bin")
        }
    )
    requests_of(s3_requests)
    store = Store(uri, **s3)
    everyone = [s.hash for s in store.summaries()]
    assert sorted(everyone) == sorted({template} | copies)
    requests_of(s3_requests)
    pages = list(all_pages(store, limit=250))
    assert [len(p) for p in pages] == [250, 250, len(everyone) - 500]
    assert [h for page in pages for h in page] == everyone
    made = requests_of(s3_requests)
    assert made.count("GET list") == 2 * len(pages) + 1  # 1,000 keys a request; the index
    assert made.count("GET object") == 0  # every summary was read by summaries() already
