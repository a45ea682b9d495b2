"""The core contract, written once and run on every backend (see conftest.ALL)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import fsspec.config
import pytest
from fsspec.core import split_protocol

from aim_artifacts import (
    ArtifactNotFoundError,
    BucketNotFoundError,
    InvalidMetadataError,
    InvalidNameError,
    NoArtifactsURIError,
    Run,
    RunClosedError,
    RunNotFoundError,
    SourceIsDirectoryError,
    SourceNotDirectoryError,
    SourceNotFoundError,
    Store,
    UploadError,
)

from .conftest import BUCKETED, Backend, is_library_file

SIDECAR = ".aim-artifacts.json"
OBJECT_STORES = (*BUCKETED, "upath-s3")


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def new_run(backend: Backend) -> Run:
    run = Run()
    run.set_artifacts_uri(backend.uri, **backend.options)
    return run


@pytest.fixture
def checkpoint_dir(tmp_path: Path) -> Path:
    root = tmp_path / "ckpt"
    write(root / "model.bin", os.urandom(3000))
    write(root / "optim" / "state.bin", os.urandom(100))
    write(root / "optim" / "deep" / "extra.json", '{"step": 7}')
    return root


def test_log_artifact_stores_bytes_and_full_record(backend: Backend, tmp_path: Path) -> None:
    data = b"lr: 0.001\nepochs: 3\n"
    src = write(tmp_path / "config.yaml", data)
    run = new_run(backend)
    before = dt.datetime.now(dt.timezone.utc)

    art = run.log_artifact(src, name="run-config", block=True, metadata={"stage": "train"})

    assert run.artifacts_uri == f"{str(backend.uri).rstrip('/')}/{run.hash}"
    assert art.name == "run-config"
    assert art.uri == f"{run.artifacts_uri}/run-config"
    assert art.path == src.as_posix()
    assert art.size == len(data)
    assert art.sha256 == hashlib.sha256(data).hexdigest()
    assert art.created_at.tzinfo is not None and art.created_at.utcoffset() == dt.timedelta(0)
    assert before <= art.created_at <= dt.datetime.now(dt.timezone.utc)
    assert art.metadata == {"stage": "train"}
    assert run.artifacts == {"run-config": art}
    assert backend.read(f"{run.hash}/run-config") == data


def test_name_defaults_to_basename_and_may_be_nested(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    src = write(tmp_path / "best.ckpt", b"weights")
    assert run.log_artifact(src, block=True).name == "best.ckpt"
    run.log_artifact(src, name="models/epoch-3/best.ckpt", block=True)
    assert backend.read(f"{run.hash}/models/epoch-3/best.ckpt") == b"weights"
    assert sorted(run.artifacts) == ["best.ckpt", "models/epoch-3/best.ckpt"]


def test_content_type_is_guessed_from_the_name(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    assert run.log_artifact(write(tmp_path / "a.json", "{}"), block=True).content_type == (
        "application/json"
    )
    art = run.log_artifact(write(tmp_path / "w.ckpt", b"x"), block=True)
    assert art.content_type == "application/octet-stream"


def test_background_upload_appears_after_wait(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    src = write(tmp_path / "eval.bin", data)
    run = new_run(backend)

    pending = run.log_artifact(src)
    assert pending.sha256 is None and pending.size == len(data)
    run.wait()

    stored = run.artifacts["eval.bin"]
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert backend.read(f"{run.hash}/eval.bin") == data


def test_logging_a_name_again_replaces_object_and_record(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    run.log_artifact(write(tmp_path / "v1", b"first"), name="model", block=True)
    second = run.log_artifact(write(tmp_path / "v2", b"second!"), name="model", block=True)
    run.close()

    assert backend.read(f"{run.hash}/model") == b"second!"
    reopened = Run(run.hash, artifacts_uri=backend.uri, **backend.options)
    assert reopened.artifacts["model"].sha256 == second.sha256
    assert reopened.artifacts["model"].size == 7


@pytest.mark.parametrize("block", [True, False])
def test_log_artifacts_names_files_like_aim(
    backend: Backend, checkpoint_dir: Path, block: bool
) -> None:
    run = new_run(backend)
    arts = run.log_artifacts(checkpoint_dir, block=block)
    run.wait()

    expected = ["ckpt/model.bin", "ckpt/optim/deep/extra.json", "ckpt/optim/state.bin"]
    assert sorted(a.name for a in arts) == expected
    assert sorted(run.artifacts) == expected
    for name in expected:
        source = checkpoint_dir / name.removeprefix("ckpt/")
        assert backend.read(f"{run.hash}/{name}") == source.read_bytes()
        assert run.artifacts[name].sha256 == hashlib.sha256(source.read_bytes()).hexdigest()


@pytest.fixture
def many_files_dir(tmp_path: Path) -> Path:
    """More files than a batch needs to be staged, in nested folders."""
    root = tmp_path / "many"
    for i in range(12):
        write(root / f"d{i % 3}" / f"f{i:02d}.bin", os.urandom(100 + i))
    return root


def test_log_artifacts_into_a_new_directory_lands_whole(
    backend: Backend, many_files_dir: Path
) -> None:
    run = new_run(backend)
    arts = run.log_artifacts(many_files_dir, block=True)
    run.close()

    sources = sorted(p for p in many_files_dir.rglob("*") if p.is_file())
    expected = sorted(f"many/{p.relative_to(many_files_dir).as_posix()}" for p in sources)
    assert sorted(a.name for a in arts) == expected
    stored = [f for f in backend.files() if not is_library_file(f)]
    assert stored == [f"{run.hash}/{name}" for name in expected]  # no temp file or folder left
    for name in expected:
        assert backend.read(f"{run.hash}/{name}") == (many_files_dir / name[5:]).read_bytes()
    assert Run(run.hash, artifacts_uri=backend.uri, **backend.options).verify().ok


def test_a_staged_directory_lands_file_by_file_when_its_name_was_taken_meanwhile(
    backend: Backend,
) -> None:
    run = new_run(backend)
    run.log_bytes(b"x", "warmup")  # the run directory exists
    run.wait()
    assert run.location is not None
    storage, target = run.location.storage, run.location.join("ckpt")
    stage = storage.stage(target)
    assert (stage is None) == (storage.direct or storage.local)  # those write in place
    if stage is None:
        return
    storage.write(f"{stage}/a.bin", b"ours a")
    storage.write(f"{stage}/sub/b.bin", b"ours b")
    storage.write(target + "/other.bin", b"theirs")  # another writer made the directory

    storage.unstage(stage, target, ["a.bin", "sub/b.bin"])

    assert backend.read(f"{run.hash}/ckpt/a.bin") == b"ours a"
    assert backend.read(f"{run.hash}/ckpt/sub/b.bin") == b"ours b"
    assert backend.read(f"{run.hash}/ckpt/other.bin") == b"theirs"
    assert not [f for f in backend.files() if ".aim-artifacts-tmp-" in f]


def test_a_small_file_is_created_in_place_with_its_missing_directories(backend: Backend) -> None:
    run = new_run(backend)
    run.log_bytes(b"x", "warmup")  # the run directory exists
    run.wait()
    assert run.location is not None
    storage = run.location.storage
    storage.create(run.location.join("new/deeper/marker"), b"hash")  # directories missing
    storage.create(run.location.join("new/deeper/marker"), b"again")  # overwritten

    assert backend.read(f"{run.hash}/new/deeper/marker") == b"again"
    assert not [f for f in backend.files() if ".aim-artifacts-tmp-" in f]


def test_objects_are_written_in_place_only_where_they_appear_whole(backend: Backend) -> None:
    """Learned, not looked up by class: a store whose mkdir makes no directory is an object
    store (GCS, Azure; S3 by its protocol), written in place; a store with directories (the
    memory filesystem too: it shows a file while it is written) gets a temp file renamed."""
    run = new_run(backend)
    run.log_bytes(b"x", "first")  # the run's directory made: the store has told
    assert run.location is not None
    assert run.location.storage.direct == (backend.name in OBJECT_STORES)


def test_log_artifacts_with_name_and_twice_does_not_nest(
    backend: Backend, checkpoint_dir: Path
) -> None:
    run = new_run(backend)
    run.log_artifacts(checkpoint_dir, name="step-10", block=True)
    run.log_artifacts(checkpoint_dir, name="step-10", block=True)
    run.log_artifacts(checkpoint_dir, name="", block=True)
    run.close()

    stored = [f for f in backend.files() if not is_library_file(f)]
    assert stored == sorted(
        f"{run.hash}/{prefix}{rel}"
        for prefix in ("step-10/", "")
        for rel in ("model.bin", "optim/deep/extra.json", "optim/state.bin")
    )


def test_empty_directory_logs_nothing(backend: Backend, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = new_run(backend)
    assert run.log_artifacts(tmp_path / "empty", block=True) == []
    assert run.artifacts == {}


def test_sidecar_json_is_as_specified(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    art = run.log_artifact(write(tmp_path / "c.yaml", "a: 1"), block=True, metadata={"k": [1]})
    run.close()

    doc = json.loads(backend.read(f"{run.hash}/{SIDECAR}"))
    assert doc["format"] == "aim-artifacts/1"
    assert doc["run"] == run.hash
    record = doc["artifacts"]["c.yaml"]
    assert {k: record[k] for k in art.to_dict()} == {
        "name": "c.yaml",
        "path": art.path,
        "uri": f"{run.artifacts_uri}/c.yaml",
        "size": 4,
        "sha256": hashlib.sha256(b"a: 1").hexdigest(),
        "created_at": art.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "content_type": art.content_type,
        "metadata": {"k": [1]},
    }
    assert record["created_at"].endswith("Z")


def test_no_credential_is_written(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    run.log_artifact(write(tmp_path / "c.yaml", "a: 1"), block=True)
    run.log_artifact(write(tmp_path / "d.yaml", "b: 2"))
    run.close()
    secret = backend.secret
    for relative in backend.files():
        assert secret.encode() not in backend.read(relative), relative
    assert secret not in repr(run)
    assert all(secret not in repr(a) for a in run.artifacts.values())


def test_reopen_sees_records_and_logs_more(backend: Backend, tmp_path: Path) -> None:
    first = new_run(backend)
    first.log_artifact(write(tmp_path / "a.txt", "a"), block=True)
    first.close()

    again = Run(first.hash, artifacts_uri=backend.uri, **backend.options)
    assert list(again.artifacts) == ["a.txt"]
    again.log_artifact(write(tmp_path / "b.txt", "b"), block=True)
    again.close()

    store = Store(backend.uri, **backend.options)
    assert store.runs() == [first.hash]
    assert sorted(store.run(first.hash).artifacts) == ["a.txt", "b.txt"]


def test_unclosed_run_is_readable_from_its_journal(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    run.log_artifact(write(tmp_path / "a.txt", "a"), block=True)

    assert Store(backend.uri, **backend.options).runs() == [run.hash]
    assert list(Run(run.hash, artifacts_uri=backend.uri, **backend.options).artifacts) == ["a.txt"]
    run.close()


def test_store_lists_runs_and_refuses_unknown(backend: Backend, tmp_path: Path) -> None:
    store = Store(backend.uri, **backend.options)
    assert store.runs() == []
    hashes = []
    for i in range(3):
        with new_run(backend) as run:
            run.log_artifact(write(tmp_path / f"{i}.txt", str(i)))
        hashes.append(run.hash)
    assert store.runs() == sorted(hashes)
    with pytest.raises(RunNotFoundError, match="no run 'ffffffffffffffffffffffff'"):
        store.run("f" * 24)


def test_download_keeps_relative_paths_and_checks_bytes(
    backend: Backend, checkpoint_dir: Path, tmp_path: Path
) -> None:
    run = new_run(backend)
    run.log_artifacts(checkpoint_dir, block=True)
    run.log_artifact(write(tmp_path / "c.yaml", "a: 1"), block=True)

    dest = tmp_path / "out"
    paths = run.download_artifacts(dest, prefix="ckpt/optim/")
    assert paths == [
        str(dest / "ckpt/optim/deep/extra.json"),
        str(dest / "ckpt/optim/state.bin"),
    ]
    assert Path(paths[1]).read_bytes() == (checkpoint_dir / "optim/state.bin").read_bytes()
    assert len(run.download_artifacts(dest)) == 4
    assert sorted(p.name for p in dest.iterdir()) == ["c.yaml", "ckpt"]

    one = run.artifacts["c.yaml"].download()
    assert Path(one).read_text() == "a: 1" and Path(one).name == "c.yaml"


def test_upath_reads_the_stored_object(backend: Backend, checkpoint_dir: Path) -> None:
    run = new_run(backend)
    run.log_artifacts(checkpoint_dir, block=True)
    path = (
        Run(run.hash, artifacts_uri=backend.uri, **backend.options)
        .artifacts["ckpt/optim/deep/extra.json"]
        .upath
    )
    assert path.read_text() == '{"step": 7}'
    with path.open("rb") as f:
        assert f.read(3) == b'{"s'


def test_delete_removes_object_and_record(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    run.log_artifact(write(tmp_path / "a.txt", "a"), block=True)
    run.log_artifact(write(tmp_path / "b.txt", "b"), block=True)

    run.delete_artifact("a.txt")
    assert list(run.artifacts) == ["b.txt"]
    run.close()

    assert f"{run.hash}/a.txt" not in backend.files()
    assert list(Run(run.hash, artifacts_uri=backend.uri, **backend.options).artifacts) == ["b.txt"]
    with pytest.raises(ArtifactNotFoundError, match=r"no artifact 'a\.txt'"):
        Run(run.hash, artifacts_uri=backend.uri, **backend.options).delete_artifact("a.txt")


def test_threads_sharing_one_run_lose_nothing(backend: Backend, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    run = new_run(backend)

    def work(t: int) -> None:
        for i in range(10):
            run.log_artifact(write(tmp_path / f"t{t}" / f"{i}.txt", f"{t}-{i}"), f"t{t}/{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    run.close()

    reopened = Run(run.hash, artifacts_uri=backend.uri, **backend.options)
    assert len(reopened.artifacts) == 80


def test_run_pickles_and_logs_after_unpickling(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    run.log_artifact(write(tmp_path / "a.txt", "a"), block=True)

    clone = pickle.loads(pickle.dumps(run))
    assert clone.hash == run.hash and list(clone.artifacts) == ["a.txt"]
    clone.log_artifact(write(tmp_path / "b.txt", "b"), block=True)
    clone.close()
    run.close()
    assert sorted(Run(run.hash, artifacts_uri=backend.uri, **backend.options).artifacts) == [
        "a.txt",
        "b.txt",
    ]


# -- bad input: a clear error, nothing stored, nothing recorded -----------------------------


def assert_nothing_stored(backend: Backend, run: Run) -> None:
    run.close()
    assert [f for f in backend.files() if not f.startswith(f"{run.hash}/.aim-artifacts")] == []
    assert Run(run.hash, artifacts_uri=backend.uri, **backend.options).artifacts == {}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../escape", "'..' part"),
        ("a/../../escape", "'..' part"),
        ("/abs/path", "must be relative"),
        ("a//b", "empty part"),
        ("dir/", "empty part"),
        ("a\\b", "not '\\\\'"),
        ("", "it is empty"),
        ("./x", "'.' part"),
        (".aim-artifacts.json", "reserved"),
        ("x/.aim-artifacts.d/y", "reserved"),
    ],
)
def test_bad_names_are_refused(backend: Backend, tmp_path: Path, name: str, problem: str) -> None:
    run = new_run(backend)
    src = write(tmp_path / "f.txt", "x")
    with pytest.raises(InvalidNameError, match=problem) as info:
        run.log_artifact(src, name=name, block=True)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidNameError):
        run.log_artifacts(src.parent, name=name or "../x", block=True)
    assert_nothing_stored(backend, run)


def test_missing_source(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    with pytest.raises(SourceNotFoundError, match="no such file") as info:
        run.log_artifact(tmp_path / "missing.txt")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        run.log_artifacts(tmp_path / "missing-dir")
    assert_nothing_stored(backend, run)


def test_directory_to_log_artifact_points_to_log_artifacts(
    backend: Backend, checkpoint_dir: Path
) -> None:
    run = new_run(backend)
    with pytest.raises(SourceIsDirectoryError, match=r"use run\.log_artifacts"):
        run.log_artifact(checkpoint_dir)
    with pytest.raises(SourceNotDirectoryError, match=r"use run\.log_artifact\("):
        run.log_artifacts(checkpoint_dir / "model.bin")
    assert_nothing_stored(backend, run)


@pytest.mark.parametrize("metadata", [{"x": object()}, ["not", "a", "dict"], {"nan": float("nan")}])
def test_bad_metadata(backend: Backend, tmp_path: Path, metadata: Any) -> None:
    run = new_run(backend)
    with pytest.raises(InvalidMetadataError):
        run.log_artifact(write(tmp_path / "f.txt", "x"), metadata=metadata)
    assert_nothing_stored(backend, run)


def test_closed_run_takes_nothing(backend: Backend, tmp_path: Path) -> None:
    run = new_run(backend)
    run.close()
    with pytest.raises(RunClosedError, match=f"run {run.hash} is closed"):
        run.log_artifact(write(tmp_path / "f.txt", "x"))
    assert_nothing_stored(backend, run)


def test_uri_from_environment(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment carries no storage options: S3 is reached through AWS_* variables,
    # other backends through fsspec's configuration (files or FSSPEC_<PROTOCOL>_* variables).
    options = backend.options or getattr(backend.uri, "storage_options", {})
    options = options.get("s3", options)
    if "key" in options:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", options["key"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", options["secret"])
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", options["endpoint_url"])
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    elif options:
        monkeypatch.setitem(fsspec.config.conf, split_protocol(backend.uri)[0], options)
    uri = str(backend.uri).rstrip("/")
    monkeypatch.setenv("AIM_ARTIFACTS_URI", uri)
    run = Run()
    run.log_artifact(write(tmp_path / "f.txt", "x"), block=True)
    assert run.artifacts_uri == f"{uri}/{run.hash}"
    assert backend.read(f"{run.hash}/f.txt") == b"x"


def test_missing_bucket_is_a_clear_error(bucketed_backend: Backend, tmp_path: Path) -> None:
    bucket = bucketed_backend.root.split("/", 1)[0]
    uri = str(bucketed_backend.uri).replace(f"://{bucket}/", "://no-such-bucket-0/")
    run = Run()
    run.set_artifacts_uri(uri, **bucketed_backend.options)
    missing = "bucket 'no-such-bucket-0' does not exist"
    with pytest.raises(BucketNotFoundError, match=missing):
        run.log_artifact(write(tmp_path / "a.txt", "a"), block=True)
    with pytest.raises(BucketNotFoundError, match=missing):
        run.log_bytes(b"b", "b.bin")
    with pytest.raises(BucketNotFoundError, match=missing), run.open_artifact("c.bin") as f:
        f.write(b"c")
    run.log_artifact(tmp_path / "a.txt")  # in the background: raised by close()
    with pytest.raises(UploadError, match=missing):
        run.close()
    assert run.artifacts == {}


def test_no_uri_at_all(tmp_path: Path) -> None:
    run = Run()
    with pytest.raises(NoArtifactsURIError, match=r"call run\.set_artifacts_uri\(uri\) or set AIM"):
        run.log_artifact(write(tmp_path / "f.txt", "x"))
    assert run.artifacts_uri is None


def test_large_file_round_trips(backend: Backend, tmp_path: Path) -> None:
    # Over 8 MiB: streamed in parts (S3), through the backend's own transfer (SFTP, WebDAV,
    # SMB, GCS, Azure) or through open() (FTP, memory), hashed on the way; re-logged over itself.
    data = os.urandom(9 * 2**20 + 1)
    src = write(tmp_path / "model.bin", data)
    run = new_run(backend)
    first = run.log_artifact(src, block=True, progress=True)
    src.write_bytes(data[::-1])
    second = run.log_artifact(src, block=True)
    run.close()

    assert first.size == second.size == len(data)
    assert second.sha256 == hashlib.sha256(data[::-1]).hexdigest() != first.sha256
    assert backend.read(f"{run.hash}/model.bin") == data[::-1]
    again = Run(run.hash, artifacts_uri=backend.uri, **backend.options)
    assert again.artifacts["model.bin"].sha256 == second.sha256
    assert [f for f in backend.files() if ".aim-artifacts-tmp-" in f] == []


def test_a_store_whose_parents_are_missing_is_made_on_first_write(
    backend: Backend, tmp_path: Path
) -> None:
    """As ``mkdir -p`` would (never a bucket: object stores take the one named)."""
    uri = backend.uri / "deep/er/store" if not isinstance(backend.uri, str) else None
    uri = uri or f"{backend.uri.rstrip('/')}/deep/er/store"
    source = write(tmp_path / "model.bin", os.urandom(3000))
    with Run(artifacts_uri=uri, **backend.options) as run:
        run.log_bytes(b"lr: 0.1\n", "config.yaml")
        run.log_artifact(source, block=True)
    again = Store(uri, must_exist=True, **backend.options).run(run.hash)
    assert sorted(again.artifacts) == ["config.yaml", "model.bin"]
    assert again.verify().ok
