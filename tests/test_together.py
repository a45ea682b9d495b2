"""Where one client serves every thread (object stores), requests that do not depend on each
other go at once: seen at the S3 server, whose requests wait for each other at a barrier
(sent one after another, the first would wait alone and fail)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from aim_artifacts import Run, runindex
from aim_artifacts.journal import Journal

STORE = "s3://artifacts/store"


@pytest.fixture
def first(s3: dict[str, Any]) -> Run:
    """A closed run: the store and its runs index made, its conditional writes probed."""
    with Run(artifacts_uri=STORE, **s3) as run:
        run.log_bytes(b"x", "first")
    return run


@contextlib.contextmanager
def meeting(s3_moto: Any, methods: set[str], parties: int) -> Iterator[None]:
    """The next `parties` requests of these `methods` wait for each other at the server."""
    s3_moto.middleware.meet = (frozenset(methods), threading.Barrier(parties, timeout=20))
    try:
        yield
    finally:
        s3_moto.middleware.meet = None


def test_a_runs_marker_completeness_check_and_open_flag_arrive_together(
    s3_moto: Any, s3: dict[str, Any], first: Run
) -> None:
    run = Run(artifacts_uri=STORE, **s3)
    assert run.location is not None
    # the marker (PUT), whether the index is complete (a listing: GET), the open flag (PUT)
    with meeting(s3_moto, {"PUT", "GET"}, 3):
        runindex.RunEntry(run.hash).before_record(run.location, lambda: False)
    names = {r.path.rsplit("/", 1)[-1] for r in s3_moto.middleware.requests}
    assert any(name.endswith(run.hash) for name in names)  # the marker
    assert any(name.startswith(f"{run.hash}.") for name in names)  # the flag


def test_a_fold_lists_the_journal_and_reads_the_sidecar_together(
    s3_moto: Any, s3: dict[str, Any], first: Run
) -> None:
    run = Run(first.hash, artifacts_uri=STORE, **s3)
    run.log_bytes(b"x", "model.bin")
    assert run.location is not None
    with meeting(s3_moto, {"GET"}, 2):
        state = Journal(run.location, run.hash).compact()
    assert sorted(state.live()) == ["first", "model.bin"]
    run.close()


def test_closing_removes_the_folded_entry_and_the_open_flag_together(
    s3_moto: Any, s3: dict[str, Any], first: Run
) -> None:
    run = Run(first.hash, artifacts_uri=STORE, **s3)
    run.log_bytes(b"x", "model.bin")  # one journal entry, and this process's open flag
    with meeting(s3_moto, {"DELETE"}, 2):
        run.close()
    deleted = [r.path for r in s3_moto.middleware.requests if r.method == "DELETE"]
    assert any("/.aim-artifacts.d/" in path for path in deleted)
    assert any(f"/.aim-artifacts-open/{run.hash}." in path for path in deleted)
    assert Run(run.hash, artifacts_uri=STORE, **s3).artifacts.keys() == {"first", "model.bin"}
