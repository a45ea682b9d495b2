"""verify(), checked downloads and repair(), on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from aim_artifacts import IntegrityError, Run

from .conftest import Backend


def logged_run(backend: Backend, tmp_path: Path) -> Run:
    run = Run()
    run.set_artifacts_uri(backend.uri, **backend.options)
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(name * 10)
        run.log_artifact(tmp_path / name, name=f"d/{name}", block=True)
    run.close()
    return Run(run.hash, artifacts_uri=backend.uri, **backend.options)


def test_verify_clean_run(backend: Backend, tmp_path: Path) -> None:
    report = logged_run(backend, tmp_path).verify()
    assert report.ok
    assert report.verified == ["d/a.txt", "d/b.txt", "d/c.txt"]


def test_verify_reports_missing_changed_and_unrecorded(backend: Backend, tmp_path: Path) -> None:
    run = logged_run(backend, tmp_path)
    base = f"{backend.root}/{run.hash}"
    backend.fs.rm_file(f"{base}/d/a.txt")
    backend.fs.pipe_file(f"{base}/d/b.txt", b"tampered")
    backend.fs.pipe_file(f"{base}/stray.bin", b"?")
    report = run.verify()
    assert not report.ok
    assert (report.missing, report.changed, report.verified) == (
        ["d/a.txt"],
        ["d/b.txt"],
        ["d/c.txt"],
    )
    assert report.unrecorded == ["stray.bin"]


def test_download_refuses_changed_bytes_and_leaves_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    run = logged_run(backend, tmp_path)
    backend.fs.pipe_file(f"{backend.root}/{run.hash}/d/b.txt", b"tampered")
    dest = tmp_path / "out"
    if backend.name == "chained":  # reads come from the local cache, which holds the logged
        path = run.artifacts["d/b.txt"].download(dest)  # bytes: still verified, still right
        assert Path(path).read_text() == "b.txt" * 10
        return
    with pytest.raises(IntegrityError, match="do not match the record"):
        run.artifacts["d/b.txt"].download(dest)
    assert not (dest / "d" / "b.txt").exists()
    assert [p.name for p in (dest / "d").iterdir()] == []  # no temp file either


def test_repair_removes_leftover_temp_files(backend: Backend, tmp_path: Path) -> None:
    run = logged_run(backend, tmp_path)
    leftover = f"{backend.root}/{run.hash}/d/.aim-artifacts-tmp-0123456789abcdef"
    backend.fs.pipe_file(leftover, b"half a checkpoint")
    assert run.verify().ok  # never listed as an artifact, nor as unrecorded
    assert run.repair() == ["d/.aim-artifacts-tmp-0123456789abcdef"]
    assert not backend.fs.exists(leftover)
    assert sorted(run.artifacts) == ["d/a.txt", "d/b.txt", "d/c.txt"]
