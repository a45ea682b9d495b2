"""The runs index: markers written before a run's first record, pages read from it, stores
from before it listed whole until `reindex`, and the first page of 10,000 runs on S3 in a
fixed number of requests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import fsspec
import pytest
from click.testing import CliRunner

from aim_artifacts import InvalidCursorError, Run, Store
from aim_artifacts.cli import main
from aim_artifacts.location import resolve
from aim_artifacts.runindex import INDEX_DIR, OPEN_DIR, Marker, write_marker
from tests.servers import Middleware
from tests.test_listing import URIS, log_runs, predate_the_index, requests_of


@pytest.fixture(params=sorted(URIS))
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return URIS[request.param] or str(tmp_path / "store")


def index_names(uri: str, folder: str = INDEX_DIR, **options: Any) -> list[str]:
    fs, root = fsspec.core.url_to_fs(uri, **options)
    fs.invalidate_cache()
    if not fs.exists(f"{root}/{folder}"):
        return []
    return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/{folder}", detail=False))


def hashes_of(page: Any) -> list[str]:
    return [s.hash for s in page.runs]


def test_a_run_is_marked_before_its_first_record(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path
) -> None:
    uri = "s3://artifacts/marked"
    (run_hash,) = log_runs(uri, tmp_path, 1, **s3)
    puts = [r.path for r in s3_requests.requests if r.method == "PUT"]
    marker = next(i for i, p in enumerate(puts) if f"/{INDEX_DIR}/" in p and run_hash in p)
    assert all(f"/{run_hash}/.aim-artifacts" not in p for p in puts[:marker])  # no record
    names = index_names(uri, **s3)
    assert names[0] == ".complete"  # a new store: its first run declares the index complete
    assert [Marker.parse(n).hash for n in names[1:]] == [run_hash]  # type: ignore[union-attr]
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3)
    assert fs.cat_file(f"artifacts/marked/{INDEX_DIR}/{names[1]}") == run_hash.encode()


def test_markers_sort_newest_first_and_name_their_run() -> None:
    older, newer = Marker("abc-1", 1_700_000_000_000), Marker("abc-2", 1_700_000_000_001)
    assert newer.name < older.name and len(newer.name) == 13 + 1 + 5
    assert Marker.parse(older.name) == older
    for name in (".complete", "123-abc", "0000000000001-../x", "0000000000001-", "x" * 13 + "-a"):
        assert Marker.parse(name) is None, name


def test_a_store_that_held_files_before_is_not_declared_complete(uri: str, tmp_path: Path) -> None:
    predate_the_index(uri)
    hashes = log_runs(uri, tmp_path, 3)
    assert ".complete" not in index_names(uri)  # its runs have markers, but maybe not all
    page = Store(uri).page(limit=2)
    assert (hashes_of(page), page.total) == (hashes[:0:-1], 3)  # the full listing: counted


def test_runs_started_together_declare_a_new_store_complete_once_all_are_marked(
    uri: str, tmp_path: Path
) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    fs, root = fsspec.core.url_to_fs(uri, auto_mkdir=True)
    fs.pipe_file(f"{root}/second-run/model.bin", b"uploading, not recorded yet")
    with Run(artifacts_uri=uri) as first:
        first.log_artifact(tmp_path / "a.bin")
    assert index_names(uri)[0] != ".complete"  # "second-run" is not marked yet
    with Run("second-run", artifacts_uri=uri) as second:
        second.log_artifact(tmp_path / "a.bin", name="recorded.bin")
    assert index_names(uri)[0] == ".complete"  # every run the store holds is marked
    assert Store(uri).page().total is None


def test_reindex_builds_the_index_of_a_store_from_before_it(uri: str, tmp_path: Path) -> None:
    hashes = log_runs(uri, tmp_path, 4)
    predate_the_index(uri)  # as if written by a version without the index
    store = Store(uri)
    before = store.page(limit=3)
    assert before.total == 4
    assert store.reindex() == sorted(hashes)
    after = store.page(limit=3)
    assert after.total is None  # read from the index: not counted
    assert hashes_of(after) == hashes_of(before) == hashes[:0:-1]
    assert hashes_of(store.page(after=after.next, limit=3)) == hashes[:1]
    assert store.reindex() == []  # every run has its marker
    result = CliRunner().invoke(main, ["reindex", uri])
    assert (result.exit_code, result.output) == (0, "indexed 0 runs\n")


def test_a_marker_whose_run_has_no_records_is_skipped(uri: str, tmp_path: Path) -> None:
    hashes = log_runs(uri, tmp_path, 3)
    base = resolve(uri)
    now = int(time.time() * 1000)
    write_marker(base, Marker("died-before-its-first-record", now + 10))  # newest
    write_marker(base, Marker(hashes[1], now + 5))  # a second marker of a run
    store = Store(uri)
    first = store.page(limit=2)
    assert hashes_of(first) == [hashes[1], hashes[2]]  # the page filled past the dead one
    assert hashes_of(store.page(limit=10)) == [hashes[1], hashes[2], hashes[0]]  # once a page
    assert store.runs() == sorted([*hashes, "died-before-its-first-record"])  # the index's


def test_a_run_reopened_with_records_writes_no_second_marker(uri: str, tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    with Run("given-hash", artifacts_uri=uri) as run:  # a new run with a hash of its own
        run.log_artifact(tmp_path / "a.bin")
    with Run("given-hash", artifacts_uri=uri) as run:
        run.log_artifact(tmp_path / "a.bin", name="b.bin")
    assert [Marker.parse(n).hash for n in index_names(uri)[1:]] == ["given-hash"]  # type: ignore[union-attr]
    assert [(s.hash, s.count) for s in Store(uri).page().runs] == [("given-hash", 2)]


def test_an_open_run_counts_its_unfolded_records_until_it_is_closed(
    uri: str, tmp_path: Path
) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 10)
    run = Run(artifacts_uri=uri)
    run.log_artifact(tmp_path / "a.bin", name="one.bin", block=True)
    run.log_artifact(tmp_path / "a.bin", name="two.bin", block=True)
    (flag,) = index_names(uri, OPEN_DIR)  # its records are journal entries, not folded yet
    assert flag.startswith(f"{run.hash}.")
    assert [(s.hash, s.count) for s in Store(uri).page().runs] == [(run.hash, 2)]
    run.close()
    assert index_names(uri, OPEN_DIR) == []  # all in the sidecar: pages read only that
    assert [(s.hash, s.count) for s in Store(uri).page().runs] == [(run.hash, 2)]


def test_repair_removes_the_open_flags_killed_writers_left(uri: str, tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    dead = Run(artifacts_uri=uri)
    dead.log_artifact(tmp_path / "a.bin", block=True)  # flagged open, then it "is killed"
    (stale,) = index_names(uri, OPEN_DIR)
    repairing = Run(dead.hash, artifacts_uri=uri)
    repairing.log_artifact(tmp_path / "a.bin", name="b.bin", block=True)  # flags it too
    assert repairing.repair() == []  # no object or upload: the flag is the index's own
    (own,) = index_names(uri, OPEN_DIR)  # a writer's own flag stays while it writes
    assert own != stale
    assert [(s.hash, s.count) for s in Store(uri).page().runs] == [(dead.hash, 2)]
    repairing.close()
    assert index_names(uri, OPEN_DIR) == []
    dead.close()  # a writer that outlived the repair closes without an error


def test_reindex_flags_runs_whose_journal_an_older_writer_left(uri: str, tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    run = Run(artifacts_uri=uri)
    run.log_artifact(tmp_path / "a.bin", block=True)  # an entry, never folded: it "died"
    predate_the_index(uri)
    store = Store(uri)
    assert store.reindex() == [run.hash]
    assert index_names(uri, OPEN_DIR) == [f"{run.hash}.reindex"]
    page = store.page()
    assert (page.total, [(s.hash, s.count) for s in page.runs]) == (None, [(run.hash, 1)])
    run.close()


def test_an_index_cursor_is_refused_with_a_search(uri: str, tmp_path: Path) -> None:
    log_runs(uri, tmp_path, 2)
    store = Store(uri)
    cursor = store.page(limit=1).next
    assert cursor is not None
    with pytest.raises(InvalidCursorError, match="is not a cursor of a page of runs matching"):
        store.page("a", after=cursor)


@pytest.mark.slow  # 20,000 objects stored directly: about two minutes on moto
def test_s3_first_page_of_10000_runs_costs_a_fixed_number_of_requests(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path
) -> None:
    """10,000 runs (copies of a real one's sidecar, each with its marker): the first page
    is one listing of the index, one of the runs flagged open, and a read of each shown
    run's sidecar; the store itself (20,000 keys: 20 listing requests) is never listed."""
    uri = "s3://artifacts/big"
    (template,) = log_runs(uri, tmp_path, 1, **s3)
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3)
    sidecar = fs.cat_file(f"artifacts/big/{template}/.aim-artifacts.json")
    now = int(time.time() * 1000)
    objects = {}
    for n in range(9_999):
        run_hash = f"{template[:-4]}{n:04d}"
        objects[f"artifacts/big/{run_hash}/.aim-artifacts.json"] = sidecar.replace(
            template.encode(), run_hash.encode()
        )
        marker = Marker(run_hash, now - n)
        objects[f"artifacts/big/{INDEX_DIR}/{marker.name}"] = run_hash.encode()
    fs.pipe(objects, batch_size=64)
    requests_of(s3_requests)
    store = Store(uri, **s3)
    page = store.page(limit=50)
    made = requests_of(s3_requests)
    assert page.total is None and len(page.runs) == 50 and page.next is not None
    assert all(s.count == 1 for s in page.runs)
    # the index's first 51 names, the runs flagged open (none), and 50 sidecars
    assert made == ["GET list"] * 2 + ["GET object"] * 50
    second = store.page(after=page.next, limit=50)
    assert not {s.hash for s in second.runs} & {s.hash for s in page.runs}
    assert requests_of(s3_requests).count("GET list") == 2
