"""The real `aim.Run` (Aim 3.29.1) storing its artifacts through aim-artifacts."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec.config
import pytest

import aim_artifacts
from aim_artifacts import (
    ArtifactsURIAlreadySetError,
    BackendUnavailableError,
    BucketNotFoundError,
    InvalidNameError,
    SourceNotFoundError,
    UploadError,
)
from conftest import AWS_KEY, AWS_SECRET, BUCKET, Bucket

with warnings.catch_warnings():
    # Aim 3.29.1 imports SQLAlchemy's declarative_base() from where SQLAlchemy 1.x had it.
    warnings.filterwarnings("ignore", message=r"The ``declarative_base\(\)`` function is now")
    if os.environ.get("CI"):  # CI installs the [aim] extra: a missing Aim must fail there
        import aim
    else:
        aim = pytest.importorskip(
            "aim", reason="the Aim integration needs: pip install -e '.[aim]'"
        )
    from aim.sdk.index_manager import RepoIndexManager
    from aim.storage.artifacts import registry

    from aim_artifacts.integrations import aim as integration


@pytest.fixture(autouse=True)
def enabled() -> Iterator[None]:
    integration.enable()
    yield
    integration.disable()


@pytest.fixture(scope="session")
def empty_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty Aim repository, made once: Aim migrates its database in each new one (1.5 s)."""
    path = tmp_path_factory.mktemp("aim") / "empty"
    aim.Repo.from_path(str(path), init=True)
    return path


@pytest.fixture
def repo(empty_repo: Path, tmp_path: Path) -> str:
    """A new Aim repository: a copy of the empty one."""
    shutil.copytree(empty_repo, tmp_path / "aimrepo")
    return str(tmp_path / "aimrepo")


@pytest.fixture
def s3_clientconfig(s3: dict[str, Any], s3_server: str) -> None:
    """The moto server configured as Aim users do (their readers have no storage options)."""
    aim_artifacts.S3ArtifactStorage_clientconfig(
        aws_access_key_id=AWS_KEY,
        aws_secret_access_key=AWS_SECRET,
        endpoint_url=s3_server,
        region_name="us-east-1",
    )


@pytest.fixture(params=["path", "file://", "memory://", "s3://", "gs://", "az://"])
def base_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """(the URI given to set_artifacts_uri, the URI Aim records for it)."""
    if request.param == "path":
        return str(tmp_path / "store"), f"file://{tmp_path}/store"
    if request.param == "file://":
        return f"file://{tmp_path}/store", f"file://{tmp_path}/store"
    if request.param == "memory://":
        return "memory://store/aim", "memory://store/aim"
    if request.param == "s3://":
        request.getfixturevalue("s3_clientconfig")
        return f"s3://{BUCKET}/aim", f"s3://{BUCKET}/aim"
    # GCS and Azure emulators, configured as Aim users without code would: fsspec's config
    protocol = request.param.removesuffix("://")
    bucket: Bucket = request.getfixturevalue({"gs": "gcs", "az": "azure"}[protocol])
    monkeypatch.setitem(fsspec.config.conf, protocol, bucket.options)
    uri = f"{protocol}://{bucket.name}/aim"
    return uri, uri


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def aim_ui_run(repo: str, run_hash: str) -> Any:
    """The run as Aim's UI reads it: read-only, from the repo's index, once indexed."""
    aim_repo = aim.Repo(repo)
    RepoIndexManager(aim_repo).index(run_hash)  # what `aim up` does in the background
    run = aim_repo.get_run(run_hash)
    assert run is not None
    return run


def storage_of(artifact: Any) -> dict[str, Any]:
    """What Aim stores for an artifact."""
    return dict(artifact.storage.items())


# -- through aim.Run, read back both ways -------------------------------------------------------


def test_logs_through_aim_and_reads_back_both_ways(
    base_uri: tuple[str, str], repo: str, tmp_path: Path
) -> None:
    given, recorded = base_uri
    files = {
        "config.yaml": b"lr: 0.1\n",
        "ckpt/model.bin": os.urandom(300_000),
        "ckpt/epoch-1/opt.bin": b"\x00" * 1000,
        "eval/report.md": b"# ok\n",
    }
    src = tmp_path / "src"
    for name, data in files.items():
        write(src / name, data)

    run = aim.Run(repo=repo)
    run.set_artifacts_uri(given)
    assert run.artifacts_uri == f"{recorded}/{run.hash}"
    run.log_artifact(str(src / "config.yaml"))  # background, as Aim's default
    run.log_artifact(str(src / "eval/report.md"), name="eval/report.md", block=True)
    run.log_artifacts(str(src / "ckpt"))
    run.close()

    base = f"{recorded}/{run.hash}"
    paths = {name: (src / name).as_posix() for name in files}
    # Aim's run.artifacts, from Aim's UI index: what Aim 3.29.1 itself records.
    listed = aim_ui_run(repo, run.hash).artifacts
    assert {name: storage_of(a) for name, a in listed.items()} == {
        name: {"name": name, "path": paths[name], "base_uri": base, "uri": f"{base}/{name}"}
        for name in files
    }
    # aim_artifacts.Run: size and sha256 in the sidecar.
    stored = aim_artifacts.Run(run.hash, artifacts_uri=given).artifacts
    assert {n: (a.size, a.sha256, a.uri) for n, a in stored.items()} == {
        n: (len(data), sha256(data), f"{base}/{n}") for n, data in files.items()
    }
    # Aim's Artifact.download, through aim-artifacts (sha256 checked; relative path kept).
    resumed = aim.Run(run.hash, repo=repo)
    for name, artifact in resumed.artifacts.items():
        local = artifact.download(str(tmp_path / "dl"))
        assert local == str(tmp_path / "dl" / name)
        assert Path(local).read_bytes() == files[name]
    resumed.close()


def test_records_what_aim_itself_records(repo: str, tmp_path: Path) -> None:
    source = write(tmp_path / "a" / "c.yaml", b"a: 1")

    def log_one(store: str) -> tuple[type, dict[str, Any]]:
        run = aim.Run(repo=repo)
        run.set_artifacts_uri(store)
        run.log_artifact(str(source), name="cfg/c.yaml", block=True)
        assert run.meta_run_tree["artifacts_uri"] == store
        [artifact] = run.artifacts.values()
        run.close()
        base = f"{store}/{run.hash}"
        storage = {k: v.replace(base, "<base>") for k, v in storage_of(artifact).items()}
        return type(artifact), storage

    integration.disable()
    by_aim = log_one(f"file://{tmp_path}/by-aim")
    integration.enable()
    through_us = log_one(f"file://{tmp_path}/through-us")
    assert through_us == by_aim
    assert through_us[1] == {
        "name": "cfg/c.yaml",
        "path": source.as_posix(),
        "base_uri": "<base>",
        "uri": "<base>/cfg/c.yaml",
    }


def test_artifacts_aim_logged_itself_still_download(repo: str, tmp_path: Path) -> None:
    integration.disable()
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(f"file://{tmp_path}/store")
    run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")), name="cfg/c.yaml")
    run.close()
    integration.enable()
    resumed = aim.Run(run.hash, repo=repo)
    local = resumed.artifacts["cfg/c.yaml"].download(str(tmp_path / "dl"))
    assert local == str(tmp_path / "dl" / "c.yaml")  # Aim's own way: flattened
    assert Path(local).read_bytes() == b"a: 1"
    with pytest.raises(aim_artifacts.ArtifactNotFoundError, match="no stored artifact 'nope'"):
        integration.AimArtifactsStorage("memory://store/aim/" + run.hash).download_artifact("nope")
    resumed.close()


# -- failures are raised, never dropped ---------------------------------------------------------


def test_failed_background_upload_raises_from_close(
    s3_clientconfig: None, repo: str, tmp_path: Path
) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri("s3://no-such-bucket/aim")
    run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")))  # queued: returns at once
    assert set(run.artifacts) == {"c.yaml"}  # Aim lists it when called, as Aim does
    with pytest.raises(UploadError) as failed:
        run.close()
    assert isinstance(failed.value.failures["c.yaml"], BucketNotFoundError)
    assert aim_artifacts.Run(run.hash, artifacts_uri="s3://no-such-bucket/aim").artifacts == {}
    # Aim closed the run all the same (end time set) and unlisted the artifact.
    closed = aim_ui_run(repo, run.hash)
    assert closed.end_time is not None
    assert closed.artifacts == {}


def test_failed_blocking_upload_raises_from_log_artifact(
    s3_clientconfig: None, repo: str, tmp_path: Path
) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri("s3://no-such-bucket/aim")
    with pytest.raises(BucketNotFoundError, match="bucket 'no-such-bucket' does not exist"):
        run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")), block=True)
    assert run.artifacts == {}
    run.close()  # raised once, from log_artifact


def test_missing_source_raises_from_log_artifact(repo: str, tmp_path: Path) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(str(tmp_path / "store"))
    with pytest.raises(SourceNotFoundError, match="no such file or directory"):
        run.log_artifact(str(tmp_path / "gone.bin"))
    assert run.artifacts == {}
    run.close()


def test_unknown_protocol_fails_before_aim_records_the_uri(repo: str) -> None:
    run = aim.Run(repo=repo)
    with pytest.raises(BackendUnavailableError, match="fsspec knows no protocol 'nosuch'"):
        run.set_artifacts_uri("nosuch://bucket/aim")
    assert run.artifacts_uri is None
    run.close()


def test_artifacts_uri_is_set_once_per_run(repo: str, tmp_path: Path) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(str(tmp_path / "one"))
    run.set_artifacts_uri(str(tmp_path / "one"))  # the same again: fine
    with pytest.raises(ArtifactsURIAlreadySetError, match="set once per run"):
        run.set_artifacts_uri(str(tmp_path / "two"))
    assert run.artifacts_uri == f"file://{tmp_path}/one/{run.hash}"
    run.close()


@pytest.mark.parametrize(
    "name", ["../escaped.txt", "a/../../escaped.txt", "/tmp/escaped.txt", ".aim-artifacts.json"]
)
def test_name_escaping_the_run_is_refused(name: str, repo: str, tmp_path: Path) -> None:
    source = write(tmp_path / "src" / "c.yaml", b"a: 1")
    store = tmp_path / "store"
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(str(store))
    with pytest.raises(InvalidNameError, match="invalid artifact name"):
        run.log_artifact(str(source), name=name, block=True)
    with pytest.raises(InvalidNameError, match="invalid artifact name"):
        run.log_artifact(str(source), name=name)
    with pytest.raises(InvalidNameError, match="invalid artifact name '\\.\\./c\\.yaml'"):
        run.log_artifacts(str(source.parent), name="..")
    assert run.artifacts == {}
    run.close()
    assert aim_artifacts.Run(run.hash, artifacts_uri=str(store)).artifacts == {}
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith(("aimrepo/", f"store/{run.hash}/.aim"))] == [
        "src/c.yaml"
    ]


# -- enable and disable -------------------------------------------------------------------------


def test_disable_restores_aims_behaviour(repo: str, tmp_path: Path) -> None:
    integration.enable()  # idempotent
    assert integration.is_enabled()
    integration.disable()
    integration.disable()  # idempotent
    assert not integration.is_enabled()
    assert "get_storage" not in vars(registry)
    assert aim.Run.close.__module__ == aim.Run.set_artifacts_uri.__module__ == "aim.sdk.run"

    run = aim.Run(repo=repo)
    with pytest.warns(UserWarning, match="artifacts_uri must start with a scheme"):
        run.set_artifacts_uri(str(tmp_path / "plain"))  # Aim's own: warns, records it as is
    assert run.artifacts_uri == f"{tmp_path}/plain/{run.hash}"
    run.set_artifacts_uri("memory://store/aim")
    with pytest.raises(ValueError, match="'memory' is not supported artifact storage scheme"):
        run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")))
    run.close()

    integration.enable()
    run = aim.Run(repo=repo)
    run.set_artifacts_uri("memory://store/aim")
    run.log_artifact(str(tmp_path / "c.yaml"), block=True)
    run.close()
    assert set(aim_artifacts.Run(run.hash, artifacts_uri="memory://store/aim").artifacts) == {
        "c.yaml"
    }


def test_run_closed_after_disable_finishes_uploads_and_logs_failures(
    s3_clientconfig: None, repo: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri("s3://no-such-bucket/aim")
    run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")))
    integration.disable()
    with caplog.at_level(logging.ERROR, logger=integration.__name__):
        run.close()  # Aim's own close: nothing raised, but the failure is said
    assert "failed to upload" in caplog.text
    assert "c.yaml" in caplog.text
    assert aim_ui_run(repo, run.hash).artifacts == {}


def test_storage_options_are_used_and_never_recorded(
    s3: dict[str, Any], repo: str, tmp_path: Path
) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(f"s3://{BUCKET}/aim", **s3)
    run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")), block=True)
    assert run.meta_run_tree["artifacts_uri"] == f"s3://{BUCKET}/aim"
    run.close()
    stored = aim_artifacts.Run(run.hash, artifacts_uri=f"s3://{BUCKET}/aim", **s3).artifacts
    assert stored["c.yaml"].sha256 == sha256(b"a: 1")
    for path in Path(repo).rglob("*"):
        assert not path.is_file() or AWS_SECRET.encode() not in path.read_bytes()
