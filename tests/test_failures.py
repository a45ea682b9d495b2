"""Failed uploads are raised, never swallowed, and leave no record."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from aim_artifacts import Run, SourceChangedError, UploadError
from aim_artifacts.location import resolve
from aim_artifacts.transfer import store_file


def failing_run(kind: str, tmp_path: Path, s3: Any = None) -> Run:
    run = Run()
    if kind == "local":  # the run's directory is a file: nothing can be stored in it
        (tmp_path / "base").mkdir()
        (tmp_path / "base" / run.hash).write_text("not a directory")
        run.set_artifacts_uri(tmp_path / "base")
    else:
        run.set_artifacts_uri("s3://no-such-bucket/base", **s3)
    return run


@pytest.fixture(params=["local", "s3"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def maybe_s3(kind: str, request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("s3") if kind == "s3" else None


def test_background_failure_is_raised_by_wait_and_close(
    kind: str, maybe_s3: Any, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a")
    run = failing_run(kind, tmp_path, maybe_s3)
    run.log_artifact(tmp_path / "a.txt", name="first")
    run.log_artifact(tmp_path / "a.txt", name="second")

    with pytest.raises(UploadError, match="2 artifact") as info:
        run.wait()
    assert sorted(info.value.failures) == ["first", "second"]
    assert all(isinstance(e, OSError) for e in info.value.failures.values())
    if kind == "s3":
        assert "bucket 'no-such-bucket' does not exist" in str(info.value)
    assert run.artifacts == {}
    run.wait()  # reported once


def test_close_raises_pending_failure(kind: str, maybe_s3: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    run = failing_run(kind, tmp_path, maybe_s3)
    run.log_artifact(tmp_path / "a.txt")
    with pytest.raises(UploadError, match=r"'a\.txt'"):
        run.close()
    assert run.artifacts == {}


def test_blocking_failure_raises_the_cause(kind: str, maybe_s3: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    run = failing_run(kind, tmp_path, maybe_s3)
    # The backend's own error, not a wrapper: a missing bucket or a file where a dir should be.
    expected = FileNotFoundError if kind == "s3" else NotADirectoryError
    with pytest.raises(expected) as info:
        run.log_artifact(tmp_path / "a.txt", block=True)
    assert not isinstance(info.value, UploadError)
    assert run.artifacts == {}
    run.close()  # raised once, to the caller that waited for it


def test_blocking_directory_failure_lists_each_file(
    kind: str, maybe_s3: Any, tmp_path: Path
) -> None:
    for name in ("x", "y"):
        (tmp_path / "d" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "d" / name).write_text(name)
    run = failing_run(kind, tmp_path, maybe_s3)
    with pytest.raises(UploadError) as info:
        run.log_artifacts(tmp_path / "d", block=True)
    assert sorted(info.value.failures) == ["d/x", "d/y"]
    run.close()  # raised once


class GrowingFile:
    """A source that grows while it is read (a writer still appending to it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def progress(self, _: int) -> None:
        with open(self.path, "ab") as f:
            f.write(b"more")


def test_source_changed_while_stored_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "log.txt"
    src.write_bytes(b"x" * 20_000_000)  # large: read in chunks, progress between them
    location = resolve(tmp_path / "store")
    target = location.join("log.txt")
    with pytest.raises(SourceChangedError, match="changed while it was stored"):
        store_file(str(src), location, target, progress=GrowingFile(src).progress)
    assert not (tmp_path / "store" / "log.txt").exists()
    assert list((tmp_path / "store").iterdir()) == []  # no temp file left


def test_source_unchanged_stores_exact_hash(tmp_path: Path) -> None:
    data = bytes(range(256)) * 80_000
    (tmp_path / "big").write_bytes(data)
    location = resolve(tmp_path / "store")
    stored = store_file(str(tmp_path / "big"), location, location.join("big"))
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "store" / "big").read_bytes() == data
