"""Listing a store on every backend: every run once across pages (from the runs index, and
from a listing of the store), summaries as its records."""

from __future__ import annotations

from pathlib import Path

from aim_artifacts import Run, Store
from tests.backends.conftest import Backend


def test_pages_hold_every_run_once_summarised_as_its_records(
    backend: Backend, tmp_path: Path
) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 300)
    with Run(artifacts_uri=backend.uri, **backend.options) as folded:
        folded.log_artifact(tmp_path / "a.bin", name="nested/dir/a.bin")
    unfolded = Run(artifacts_uri=backend.uri, **backend.options)
    try:
        unfolded.log_artifact(tmp_path / "a.bin", name="one.bin", block=True)
        unfolded.log_artifact(tmp_path / "a.bin", name="two.bin", block=True)
        store = Store(backend.uri, **backend.options)
        assert store.runs() == sorted([folded.hash, unfolded.hash])
        first = store.page(limit=1)
        second = store.page(after=first.next, limit=1)
        assert (first.total, second.total, second.next) == (None, None, None)  # the index's
        summaries = {s.hash: s for s in first.runs + second.runs}
        # a listing of the store summarises them alike (its order: by times the backend
        # lists, to the second on some, where the index orders by each run's start)
        assert {s.hash: s for s in store.summaries()} == summaries
        assert {h: (s.count, s.size) for h, s in summaries.items()} == {
            folded.hash: (1, 300),
            unfolded.hash: (2, 600),
        }
        records = unfolded.artifacts.values()
        assert summaries[unfolded.hash].created == min(a.created_at for a in records)
        assert summaries[unfolded.hash].last_logged == max(a.created_at for a in records)
    finally:
        unfolded.close()
