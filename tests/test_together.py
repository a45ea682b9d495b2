"""Where one client serves every thread (object stores), requests that do not depend on each
other go at once: seen at the S3 server, whose requests wait for each other at a barrier
(sent one after another, the first would wait alone and fail)."""

from __future__ import annotations

import threading
from typing import Any

from aim_artifacts import Run, runindex
from aim_artifacts.journal import Journal


def test_a_runs_marker_completeness_check_and_open_flag_arrive_together(
    s3_moto: Any, s3: dict[str, Any]
) -> None:
    with Run(artifacts_uri="s3://artifacts/store", **s3) as first:  # the store and its index
        first.log_bytes(b"x", "first")
    run = Run(artifacts_uri="s3://artifacts/store", **s3)
    assert run.location is not None
    # the marker (PUT), whether the index is complete (a listing: GET), the open flag (PUT)
    s3_moto.middleware.meet = (frozenset({"PUT", "GET"}), threading.Barrier(3, timeout=20))
    try:
        runindex.RunEntry(run.hash).before_record(run.location, lambda: False)
    finally:
        s3_moto.middleware.meet = None
    names = {r.path.rsplit("/", 1)[-1] for r in s3_moto.middleware.requests}
    assert any(name.endswith(run.hash) for name in names)  # the marker
    assert any(name.startswith(f"{run.hash}.") for name in names)  # the flag


def test_a_fold_lists_the_journal_and_reads_the_sidecar_together(
    s3_moto: Any, s3: dict[str, Any]
) -> None:
    with Run(artifacts_uri="s3://artifacts/store", **s3) as first:  # folded once: probed
        first.log_bytes(b"x", "first")
    run = Run(first.hash, artifacts_uri="s3://artifacts/store", **s3)
    run.log_bytes(b"x", "model.bin")
    assert run.location is not None
    journal = Journal(run.location, run.hash)
    s3_moto.middleware.meet = (frozenset({"GET"}), threading.Barrier(2, timeout=20))
    try:
        state = journal.compact()
    finally:
        s3_moto.middleware.meet = None
    assert sorted(state.live()) == ["first", "model.bin"]
    run.close()


def test_closing_removes_the_folded_entry_and_the_open_flag_together(
    s3_moto: Any, s3: dict[str, Any]
) -> None:
    with Run(artifacts_uri="s3://artifacts/store", **s3) as first:  # folded once: probed
        first.log_bytes(b"x", "first")
    run = Run(first.hash, artifacts_uri="s3://artifacts/store", **s3)
    run.log_bytes(b"x", "model.bin")  # one journal entry, and this process's open flag
    s3_moto.middleware.meet = (frozenset({"DELETE"}), threading.Barrier(2, timeout=20))
    try:
        run.close()
    finally:
        s3_moto.middleware.meet = None
    deleted = [r.path for r in s3_moto.middleware.requests if r.method == "DELETE"]
    assert any("/.aim-artifacts.d/" in path for path in deleted)
    assert any(f"/.aim-artifacts-open/{run.hash}." in path for path in deleted)
    assert Run(run.hash, artifacts_uri="s3://artifacts/store", **s3).artifacts.keys() == {
        "first",
        "model.bin",
    }
