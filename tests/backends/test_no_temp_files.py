"""log_bytes / log_text / log_dict / open_artifact: same records and guarantees, no files."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from aim_artifacts import Run

from .conftest import Backend, is_library_file


def new_run(backend: Backend) -> Run:
    return Run(artifacts_uri=backend.uri, **backend.options)


def test_log_bytes_text_and_dict(backend: Backend) -> None:
    run = new_run(backend)
    art = run.log_bytes(b"\x00\x01", "raw/data.bin", metadata={"k": 1})
    assert art.sha256 == hashlib.sha256(b"\x00\x01").hexdigest() and art.size == 2
    run.log_text("héllo", "notes.txt")
    run.log_dict({"lr": 0.1, "layers": [1, 2]}, "config.json")
    run.log_dict({"lr": 0.1}, "config.yaml")
    run.close()

    assert backend.read(f"{run.hash}/raw/data.bin") == b"\x00\x01"
    assert backend.read(f"{run.hash}/notes.txt").decode() == "héllo"
    assert json.loads(backend.read(f"{run.hash}/config.json")) == {"lr": 0.1, "layers": [1, 2]}
    assert yaml.safe_load(backend.read(f"{run.hash}/config.yaml")) == {"lr": 0.1}
    reopened = Run(run.hash, artifacts_uri=backend.uri, **backend.options).artifacts
    assert sorted(reopened) == ["config.json", "config.yaml", "notes.txt", "raw/data.bin"]
    assert reopened["raw/data.bin"].metadata == {"k": 1}


def test_open_artifact_streams_hashes_and_records(backend: Backend) -> None:
    run = new_run(backend)
    chunks = [bytes([i]) * 100_000 for i in range(50)]  # 5 MB in many writes
    with run.open_artifact("ckpt/model.pt") as f:
        for chunk in chunks:
            f.write(chunk)
        assert "ckpt/model.pt" not in run.artifacts  # not before the block ends
    data = b"".join(chunks)
    assert f.artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert run.artifacts["ckpt/model.pt"] == f.artifact
    assert backend.read(f"{run.hash}/ckpt/model.pt") == data


def test_open_artifact_that_raises_stores_and_records_nothing(backend: Backend) -> None:
    run = new_run(backend)
    with pytest.raises(RuntimeError, match="training crashed"), run.open_artifact("half.pt") as f:  # noqa: PT012
        f.write(b"x" * 1000)
        raise RuntimeError("training crashed")
    assert run.artifacts == {}
    run.close()
    assert [p for p in backend.files() if not is_library_file(p)] == []


def test_bad_names_and_modes_are_refused_before_anything(backend: Backend) -> None:
    run = new_run(backend)
    with pytest.raises(ValueError, match="'\\.\\.' part"):
        run.log_bytes(b"x", "../escape")
    with pytest.raises(ValueError, match="mode must be 'wb'"), run.open_artifact("a", "w"):
        pass
    run.close()
    assert backend.files() == []
