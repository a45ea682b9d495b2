"""The real `aim.Run` (Aim 3.29.1) storing its artifacts through aim-artifacts."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
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
    IntegrityError,
    InvalidCredentialsError,
    InvalidNameError,
    SourceNotDirectoryError,
    SourceNotFoundError,
    UploadError,
)
from aim_artifacts import s3 as aim_artifacts_s3
from conftest import AWS_KEY, AWS_SECRET, BUCKET, Bucket, s3_client
from tests.servers import moto_process

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
    from aim.storage.artifacts import registry, s3_storage
    from aim.storage.artifacts.s3_storage import S3ArtifactStorage_clientconfig as aims_config

    from aim_artifacts.integrations import aim as integration


AIMS_OWN = {
    "clientconfig": s3_storage.S3ArtifactStorage_clientconfig,
    "factory": s3_storage.S3ArtifactStorage_factory,
}


@pytest.fixture
def aims_registry() -> Iterator[None]:
    """Aim's artifact registry as it was, after the test (Aim keeps a client config there)."""
    saved = dict(registry.registry)
    yield
    registry.registry.clear()
    registry.registry.update(saved)


@pytest.fixture(autouse=True)
def enabled(aims_registry: None) -> Iterator[None]:
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
    run.log_artifacts(str(write(tmp_path / "ckpt" / "m.bin", b"m").parent))  # so is this
    assert set(run.artifacts) == {"c.yaml", "ckpt/m.bin"}  # Aim lists them when called
    with pytest.raises(UploadError) as failed:
        run.close()
    assert set(failed.value.failures) == {"c.yaml", "ckpt/m.bin"}
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
    with pytest.raises(UploadError, match="failed to upload") as failed:
        run.log_artifacts(str(write(tmp_path / "ckpt" / "m.bin", b"m").parent), block=True)
    assert isinstance(failed.value.failures["ckpt/m.bin"], BucketNotFoundError)
    assert run.artifacts == {}
    run.close()  # raised once, from log_artifact(s)


def test_missing_source_raises_from_log_artifact(repo: str, tmp_path: Path) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(str(tmp_path / "store"))
    with pytest.raises(SourceNotFoundError, match="no such file or directory"):
        run.log_artifact(str(tmp_path / "gone.bin"))
    assert run.artifacts == {}
    run.close()


def test_unsupported_scheme_is_aims_value_error(repo: str, tmp_path: Path) -> None:
    source = write(tmp_path / "c.yaml", b"a: 1")
    run = aim.Run(repo=repo)
    message = "'nosuch' is not supported artifact storage scheme: .*fsspec knows no protocol"
    with pytest.raises(ValueError, match=message) as raised:
        run.set_artifacts_uri("nosuch://bucket/aim")  # before Aim records it
    assert isinstance(raised.value, BackendUnavailableError)
    assert isinstance(raised.value, integration.UnsupportedSchemeError)
    assert run.artifacts_uri is None
    integration.disable()
    run.set_artifacts_uri("nosuch://bucket/aim")  # recorded by Aim alone
    integration.enable()
    with pytest.raises(ValueError, match=message):  # where Aim raises it: the first upload
        run.log_artifact(str(source))
    with pytest.raises(ValueError, match=message):
        run.log_artifacts(str(tmp_path))
    assert run.artifacts == {}
    run.close()


def test_artifacts_uri_is_set_once_per_run(repo: str, tmp_path: Path) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(str(tmp_path / "one"))
    run.set_artifacts_uri(str(tmp_path / "two"))  # nothing stored yet: changed, as in Aim
    run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")), block=True)
    run.set_artifacts_uri(str(tmp_path / "two"))  # the same again: fine
    with pytest.raises(ArtifactsURIAlreadySetError, match="set once per run"):
        run.set_artifacts_uri(str(tmp_path / "three"))
    assert run.artifacts_uri == f"file://{tmp_path}/two/{run.hash}"
    run.close()
    assert set(aim_artifacts.Run(run.hash, artifacts_uri=str(tmp_path / "two")).artifacts) == {
        "c.yaml"
    }


def test_storage_options_are_set_before_the_first_upload(
    s3: dict[str, Any], repo: str, tmp_path: Path
) -> None:
    uri = f"s3://{BUCKET}/aim"
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(uri, **{**s3, "endpoint_url": "http://127.0.0.1:1"})
    run.set_artifacts_uri(uri, **s3)  # nothing opened yet: these replace them
    run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")), block=True)
    run.set_artifacts_uri(uri, **s3)  # the same again: fine
    with pytest.raises(ArtifactsURIAlreadySetError, match="with other storage options"):
        run.set_artifacts_uri(uri)  # not silently ignored
    run.close()
    assert set(aim_artifacts.Run(run.hash, artifacts_uri=uri, **s3).artifacts) == {"c.yaml"}


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
    for method in (aim.Run.close, aim.Run.set_artifacts_uri, aim.Run.log_artifacts):
        assert method.__module__ == "aim.sdk.run"
    assert s3_storage.S3ArtifactStorage_clientconfig is AIMS_OWN["clientconfig"]
    assert s3_storage.S3ArtifactStorage_factory is AIMS_OWN["factory"]

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


# -- Aim's S3 client config: two S3 servers, the environment on A ------------------------------


@pytest.fixture(scope="module")
def s3_b() -> Iterator[str]:
    """A second moto server, in its own process (moto's state is per process)."""
    with moto_process() as url:
        yield url


@pytest.fixture
def endpoints(
    s3: dict[str, Any], s3_server: str, s3_b: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str, str]:
    """(A, B, bucket): a new bucket of one name on both servers; boto3's environment on A."""
    bucket = f"b{uuid.uuid4().hex[:16]}"
    for endpoint in (s3_server, s3_b):
        s3_client(endpoint).create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server, s3_b, bucket


B_SECRET = "secret-of-endpoint-b-do-not-leak"


def to_b(b: str) -> dict[str, Any]:
    """Aim's documented client config, for endpoint B."""
    return {
        "aws_access_key_id": "key-of-b",
        "aws_secret_access_key": B_SECRET,
        "endpoint_url": b,
        "region_name": "us-east-1",
        "config": {"retries": {"max_attempts": 3}},
    }


def objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    client = s3_client(endpoint)
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


@pytest.mark.parametrize(
    "when", ["before enable()", "after enable()", "after set_artifacts_uri", "Aim's module"]
)
def test_aims_clientconfig_is_honoured(
    when: str, endpoints: tuple[str, str, str], repo: str, tmp_path: Path
) -> None:
    a, b, bucket = endpoints
    src = tmp_path / "ckpt"
    write(src / "model.bin", b"weights")
    write(src / "opt" / "state.bin", b"state")
    if when == "before enable()":
        integration.disable()
        aims_config(**to_b(b))  # imported from Aim before enable(), as users do
        integration.enable()
    elif when == "after enable()":
        aims_config(**to_b(b))
    elif when == "Aim's module":
        s3_storage.S3ArtifactStorage_clientconfig(**to_b(b))
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(f"s3://{bucket}/aim")
    if when == "after set_artifacts_uri":
        aims_config(**to_b(b))
    run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")), block=True)
    run.log_artifacts(str(src))
    storage = registry.get_storage(run.artifacts_uri)
    run.close()

    on_b = objects(b, bucket)
    prefix = f"aim/{run.hash}"
    index = {k for k in on_b if k.startswith("aim/.aim-artifacts-runs/")}
    assert sorted(k.rsplit("/", 1)[1][13:] for k in index) == ["", f"-{run.hash}"]  # .complete
    assert {k for k in set(on_b) - index if not k.startswith(f"{prefix}/.aim-artifacts.d/")} == {
        f"{prefix}/c.yaml",
        f"{prefix}/ckpt/model.bin",
        f"{prefix}/ckpt/opt/state.bin",
        f"{prefix}/.aim-artifacts.json",  # the sidecar too
    }
    assert objects(a, bucket) == {}
    b_options = {"key": "key-of-b", "secret": B_SECRET, "endpoint_url": b}
    stored = aim_artifacts.Run(run.hash, artifacts_uri=f"s3://{bucket}/aim", **b_options)
    assert stored.artifacts["ckpt/model.bin"].sha256 == sha256(b"weights")
    # The credentials stay in memory: not in a stored object, Aim's repo, or a repr.
    assert all(B_SECRET.encode() not in data for data in on_b.values())
    for path in Path(repo).rglob("*"):
        assert not path.is_file() or B_SECRET.encode() not in path.read_bytes()
    assert B_SECRET not in repr(storage) + repr(storage.run) + repr(storage.run.location)


def test_clientconfig_is_one_setting_and_disable_restores_aims(
    endpoints: tuple[str, str, str], repo: str, tmp_path: Path
) -> None:
    a, b, bucket = endpoints
    source = write(tmp_path / "c.yaml", b"a: 1")
    aims_config(**to_b(b))  # Aim's call configures aim-artifacts' own Run as well
    with aim_artifacts.Run(artifacts_uri=f"s3://{bucket}/ours") as ours:
        ours.log_artifact(str(source), block=True)
    assert f"ours/{ours.hash}/c.yaml" in objects(b, bucket)
    assert aim_artifacts_s3.client_config()["endpoint_url"] == b

    aim_artifacts.S3ArtifactStorage_clientconfig(endpoint_url=a)  # ours: Aim's as well
    integration.disable()
    assert s3_storage.S3ArtifactStorage_clientconfig is AIMS_OWN["clientconfig"]
    assert s3_storage.S3ArtifactStorage_factory is AIMS_OWN["factory"]
    aims_config(**to_b(b))  # Aim's own again: aim-artifacts keeps its setting
    assert aim_artifacts_s3.client_config() == {"endpoint_url": a}
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(f"s3://{bucket}/plain")
    run.log_artifact(str(source), block=True)  # plain Aim, through its own S3 storage
    run.close()
    assert f"plain/{run.hash}/c.yaml" in objects(b, bucket)
    assert not [k for k in objects(b, bucket) if k.startswith(f"plain/{run.hash}/.aim")]


# -- Aim's errors and Aim's registry ----------------------------------------------------------


@pytest.mark.parametrize("block", [False, True])
def test_missing_credentials_raise_from_log_artifact(
    block: bool, s3: dict[str, Any], s3_server: str, repo: str, tmp_path: Path
) -> None:
    aims_config(endpoint_url=s3_server, region_name="us-east-1")  # and no credentials anywhere
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(f"s3://{BUCKET}/aim")  # no request yet, as in Aim
    with pytest.raises(InvalidCredentialsError, match="no usable S3 credentials"):
        run.log_artifact(str(write(tmp_path / "c.yaml", b"a: 1")), block=block)
    assert run.artifacts == {}
    run.close()


def test_registry_keeps_aims_lru_cache(s3_clientconfig: None, repo: str, tmp_path: Path) -> None:
    registry.get_storage.cache_clear()
    run = aim.Run(repo=repo)
    run.set_artifacts_uri("s3://no-such-bucket/aim")
    run.log_artifact(str(write(tmp_path / "a.yaml", b"a: 1")))
    run.log_artifact(str(write(tmp_path / "b.yaml", b"b: 1")))
    info = registry.get_storage.cache_info()
    assert (info.hits, info.misses, info.maxsize, info.currsize) == (1, 1, 100, 1)
    registry.get_storage.cache_clear()
    assert registry.get_storage.cache_info().currsize == 0
    with pytest.raises(UploadError) as failed:  # the run's uploads were not forgotten
        run.close()
    assert set(failed.value.failures) == {"a.yaml", "b.yaml"}


# -- log_artifacts: Aim's names, one batch ------------------------------------------------------


def test_log_artifacts_is_one_batch_with_aims_names(
    repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    files = {"model.bin": b"w", "opt/state.bin": b"s", "opt/.hidden": b"h", "a/b/c.txt": b"c"}
    for name, data in files.items():
        write(tmp_path / "ckpt" / name, data)

    def log_dir(store: str, name: str | None) -> tuple[dict[str, Any], list[str]]:
        run = aim.Run(repo=repo)
        run.set_artifacts_uri(store)
        run.log_artifacts("ckpt", name=name, block=True)  # a relative path, as Aim records it
        entries = sorted(os.listdir(f"{store.removeprefix('file://')}/{run.hash}"))
        listed = {n: storage_of(a) for n, a in run.artifacts.items()}
        run.close()
        base = f"{store}/{run.hash}"
        return {
            n: {k: v.replace(base, "<base>") for k, v in a.items()} for n, a in listed.items()
        }, entries

    for name in (None, "weights"):
        integration.disable()
        by_aim, _ = log_dir(f"file://{tmp_path}/by-aim", name)
        integration.enable()
        through_us, entries = log_dir(f"file://{tmp_path}/through-us", name)
        assert through_us == by_aim
        prefix = name or "ckpt"
        assert set(through_us) == {f"{prefix}/{n}" for n in files}
        assert through_us[f"{prefix}/opt/state.bin"]["path"] == "ckpt/opt/state.bin"
        assert [e for e in entries if e.startswith(".aim")] == [".aim-artifacts.d"]


def test_log_artifacts_journal_has_one_entry(repo: str, tmp_path: Path) -> None:
    for name in ("a.bin", "b/c.bin", "b/d.bin"):
        write(tmp_path / "ckpt" / name, name.encode())
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(str(tmp_path / "store"))
    run.log_artifacts(str(tmp_path / "ckpt"), block=True)
    journal = tmp_path / "store" / run.hash / ".aim-artifacts.d"
    assert len(list(journal.iterdir())) == 1  # one entry for the whole directory
    run.close()
    stored = aim_artifacts.Run(run.hash, artifacts_uri=str(tmp_path / "store")).artifacts
    assert {n: a.sha256 for n, a in stored.items()} == {
        f"ckpt/{n}": sha256(n.encode()) for n in ("a.bin", "b/c.bin", "b/d.bin")
    }


def test_log_artifacts_refuses_what_aim_ignores(repo: str, tmp_path: Path) -> None:
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(str(tmp_path / "store"))
    with pytest.raises(SourceNotFoundError, match="no such file or directory"):
        run.log_artifacts(str(tmp_path / "missing"))
    with pytest.raises(SourceNotDirectoryError, match="is not a directory"):
        run.log_artifacts(str(write(tmp_path / "c.yaml", b"a: 1")))
    assert run.artifacts == {}
    run.close()


# -- reopened in another process ----------------------------------------------------------------

CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
import aim
from aim_artifacts.integrations import aim as integration
repo, run_hash, path, mode = sys.argv[1:]
if not mode.startswith("plain aim"):
    integration.enable()
if mode == "log":
    run = aim.Run(repo=repo)
    run.set_artifacts_uri(run_hash)
    run.log_artifact(path + "/c.yaml")
    run.log_artifacts(path + "/ckpt")
    run.close()
    print(json.dumps(run.hash))
    sys.exit()
if mode.endswith("read-only"):  # as `aim up` does: what read-only runs read is indexed
    from aim.sdk.index_manager import RepoIndexManager
    RepoIndexManager(aim.Repo(repo)).index(run_hash)
run = aim.Run(run_hash, repo=repo, read_only=mode.endswith("read-only"))
listed = {name: dict(a.storage.items()) for name, a in run.artifacts.items()}
downloads = {}
for name, artifact in run.artifacts.items():
    if not mode.startswith("plain aim"):
        try:
            downloads[name] = artifact.download(path)
        except Exception as exc:
            downloads[name] = type(exc).__name__
print(json.dumps({"listed": listed, "downloads": downloads}))
"""


def in_new_process(repo: str, run_hash: str, path: Path, mode: str) -> Any:
    """What `aim.Run(run_hash)` lists and downloads (to `path`) in a new process (`mode`:
    "[plain aim ]read-only" or "[plain aim ]writable"); or, for "log", the hash of a run
    logging `path`'s files to the URI given as `run_hash`, the integration enabled."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, repo, run_hash, str(path), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_reopened_in_another_process_lists_as_aim_and_checks_downloads(
    endpoints: tuple[str, str, str], repo: str, tmp_path: Path
) -> None:
    a, _, bucket = endpoints  # the environment on A: the children inherit it
    files = {"c.yaml": b"a: 1", "ckpt/model.bin": os.urandom(10_000), "ckpt/x/y.bin": b"y"}
    for name, data in files.items():
        write(tmp_path / "src" / name, data)
    run_hash = in_new_process(repo, f"s3://{bucket}/aim", tmp_path / "src", "log")

    for mode in ("read-only", "writable"):
        plain = in_new_process(repo, run_hash, tmp_path / "plain", f"plain aim {mode}")
        assert set(plain["listed"]) == set(files)
        seen = in_new_process(repo, run_hash, tmp_path / mode, mode)
        assert seen["listed"] == plain["listed"]
        assert {n: Path(p).read_bytes() for n, p in seen["downloads"].items()} == files
        assert seen["downloads"]["ckpt/x/y.bin"] == str(tmp_path / mode / "ckpt/x/y.bin")
    # Same size, other bytes: the download is refused.
    s3_client(a).put_object(Bucket=bucket, Key=f"aim/{run_hash}/c.yaml", Body=b"a: 2")
    tampered = in_new_process(repo, run_hash, tmp_path / "tampered", "read-only")
    assert tampered["downloads"]["c.yaml"] == IntegrityError.__name__
    assert not (tmp_path / "tampered" / "c.yaml").exists()


def test_aims_safe_mode_covers_log_artifacts(
    repo: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from aim.ext.exception_resistant import disable_safe_mode, enable_safe_mode

    run = aim.Run(repo=repo)
    run.set_artifacts_uri(str(tmp_path / "store"))
    enable_safe_mode()
    try:
        run.log_artifacts(str(tmp_path / "missing"))  # logged, as Aim's tracking calls are
    finally:
        disable_safe_mode()
    assert "no such file or directory" in caplog.text
    run.close()
