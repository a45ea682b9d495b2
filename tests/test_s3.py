"""S3 done right, against real moto servers over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from botocore.config import Config

from aim_artifacts import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InvalidCredentialsError,
    Run,
    S3ArtifactStorage_clientconfig,
    SourceChangedError,
    UploadError,
)
from aim_artifacts.location import resolve
from aim_artifacts.s3 import has_conditional_writes
from aim_artifacts.transfer import part_size, store_file
from conftest import AWS_KEY, AWS_SECRET, BUCKET, Bucket, s3_client
from tests.servers import free_port, moto_process

MiB = 2**20


def boto3_kwargs(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "aws_access_key_id": AWS_KEY,
        "aws_secret_access_key": AWS_SECRET,
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        **extra,
    }


def small_file(tmp_path: Path, name: str = "c.yaml", data: bytes = b"a: 1") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- S3ArtifactStorage_clientconfig -----------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"retries": {"max_attempts": 2, "mode": "standard"}, "connect_timeout": 7},
        Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=7),
    ],
    ids=["dict", "Config"],
)
def test_clientconfig_reaches_the_server(
    s3: dict[str, Any], s3_server: str, tmp_path: Path, config: Any
) -> None:
    S3ArtifactStorage_clientconfig(**boto3_kwargs(s3_server, config=config))
    run = Run()
    run.set_artifacts_uri(f"s3://{BUCKET}/aim")  # no storage options: all from the config
    art = run.log_artifact(small_file(tmp_path), block=True)

    options = run.location.storage_options  # type: ignore[union-attr]
    assert options["config_kwargs"]["retries"] == {"max_attempts": 2, "mode": "standard"}
    assert options["config_kwargs"]["connect_timeout"] == 7
    assert options["config_kwargs"]["read_timeout"] == 60  # boto3's, not s3fs's 15 s
    assert options["client_kwargs"] == {"region_name": "us-east-1"}
    body = s3_client(s3_server).get_object(Bucket=BUCKET, Key=f"aim/{run.hash}/c.yaml")
    assert body["Body"].read() == b"a: 1"
    assert art.sha256 == hashlib.sha256(b"a: 1").hexdigest()


def test_clientconfig_applies_to_runs_reopened_later(
    s3: dict[str, Any], s3_server: str, tmp_path: Path
) -> None:
    S3ArtifactStorage_clientconfig(**boto3_kwargs(s3_server))
    with Run(artifacts_uri=f"s3://{BUCKET}/aim") as run:
        run.log_artifact(small_file(tmp_path))
    assert list(Run(run.hash, artifacts_uri=f"s3://{BUCKET}/aim").artifacts) == ["c.yaml"]


def test_later_call_replaces_earlier(s3: dict[str, Any], s3_server: str, tmp_path: Path) -> None:
    S3ArtifactStorage_clientconfig(**boto3_kwargs(s3_server, region_name="eu-west-1"))
    S3ArtifactStorage_clientconfig(**boto3_kwargs(s3_server))
    run = Run(artifacts_uri=f"s3://{BUCKET}/aim")
    assert run.location.storage_options["client_kwargs"]["region_name"] == "us-east-1"  # type: ignore[union-attr]


def test_storage_options_win_over_clientconfig(
    s3: dict[str, Any], s3_server: str, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    S3ArtifactStorage_clientconfig(**boto3_kwargs(dead, config={"connect_timeout": 1}))
    run = Run(artifacts_uri=f"s3://{BUCKET}/aim", endpoint_url=s3_server)
    run.log_artifact(small_file(tmp_path), block=True)
    options = run.location.storage_options  # type: ignore[union-attr]
    assert options["endpoint_url"] == s3_server
    assert options["key"] == AWS_KEY  # from the client config, not overridden


def test_unknown_argument_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="cannot honour the argument 'service_name'"):
        S3ArtifactStorage_clientconfig(service_name="s3")
    with pytest.raises(TypeError, match="config must be a dict or a botocore Config"):
        S3ArtifactStorage_clientconfig(config=42)


def test_callers_dicts_are_never_mutated(
    s3: dict[str, Any], s3_server: str, tmp_path: Path
) -> None:
    config = {"retries": {"max_attempts": 3}}
    kwargs = boto3_kwargs(s3_server, config=config)
    options = {"client_kwargs": {"region_name": "us-east-1"}}
    before = json.dumps([kwargs, options], sort_keys=True)
    S3ArtifactStorage_clientconfig(**kwargs)
    run = Run(artifacts_uri=f"s3://{BUCKET}/aim", **options)
    run.log_artifact(small_file(tmp_path), block=True)
    run.close()
    assert json.dumps([kwargs, options], sort_keys=True) == before


def test_clientconfig_leaves_other_backends_alone(s3_server: str, tmp_path: Path) -> None:
    S3ArtifactStorage_clientconfig(**boto3_kwargs(s3_server))
    assert resolve(tmp_path).fs.storage_options == {}
    assert "key" not in resolve("memory://x").fs.storage_options


def test_chained_url_completes_the_s3_layer(s3_server: str) -> None:
    S3ArtifactStorage_clientconfig(**boto3_kwargs(s3_server))
    fs = resolve(f"simplecache::s3://{BUCKET}/x").fs
    assert fs.storage_options["target_options"]["endpoint_url"] == s3_server


def test_connection_pool_matches_concurrency(s3: dict[str, Any]) -> None:
    run = Run(artifacts_uri=f"s3://{BUCKET}/aim", max_concurrency=32, **s3)
    assert run.location.storage_options["config_kwargs"]["max_pool_connections"] == 32  # type: ignore[union-attr]
    run = Run(artifacts_uri=f"s3://{BUCKET}/aim", **s3)  # 16 uploads at once by default
    assert run.location.storage_options["config_kwargs"]["max_pool_connections"] == 16  # type: ignore[union-attr]
    run = Run(artifacts_uri=f"s3://{BUCKET}/aim", max_concurrency=2, **s3)
    assert run.location.storage_options["config_kwargs"]["max_pool_connections"] == 10  # type: ignore[union-attr]


# -- credentials from the standard places -----------------------------------------------------


def test_environment_only(
    s3: dict[str, Any], s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    run = Run(artifacts_uri=f"s3://{BUCKET}/env")
    run.log_artifact(small_file(tmp_path), block=True)
    run.close()
    assert run.location.storage_options.get("key") is None  # type: ignore[union-attr]
    assert list(Run(run.hash, artifacts_uri=f"s3://{BUCKET}/env").artifacts) == ["c.yaml"]


def test_aws_profile(
    s3: dict[str, Any], s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(
        f"[train]\naws_access_key_id = {AWS_KEY}\naws_secret_access_key = {AWS_SECRET}\n"
    )
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile train]\nregion = us-east-1\nendpoint_url = {s3_server}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "train")
    run = Run(artifacts_uri=f"s3://{BUCKET}/profile")
    run.log_artifact(small_file(tmp_path), block=True)
    assert s3_client(s3_server).head_object(Bucket=BUCKET, Key=f"profile/{run.hash}/c.yaml")


# -- large files ------------------------------------------------------------------------------


def test_64_mib_file_goes_multipart_and_round_trips(
    s3: dict[str, Any], s3_server: str, tmp_path: Path
) -> None:
    data = os.urandom(64 * MiB)
    src = small_file(tmp_path, "model.bin", data)
    run = Run(artifacts_uri=f"s3://{BUCKET}/big", **s3)
    art = run.log_artifact(src, block=True)

    head = s3_client(s3_server).head_object(Bucket=BUCKET, Key=f"big/{run.hash}/model.bin")
    etag = head["ETag"].strip('"')
    assert etag.endswith("-8"), etag  # a multipart ETag: 8 parts of 8 MiB, sent side by side
    assert art.sha256 == hashlib.sha256(data).hexdigest() != etag
    out = run.download_artifacts(tmp_path / "out")
    assert Path(out[0]).read_bytes() == data


def test_part_size_keeps_any_file_under_the_part_limit() -> None:
    assert part_size(0) == part_size(64 * MiB) == 16 * MiB
    huge = 5 * 2**40  # S3's largest object
    assert huge / part_size(huge) <= 10_000


def test_failed_multipart_upload_is_aborted(
    s3: dict[str, Any], s3_server: str, tmp_path: Path
) -> None:
    src = small_file(tmp_path, "growing.bin", os.urandom(60 * MiB))

    def grow(_: int) -> None:  # a writer still appending: detected after the parts went up
        with open(src, "ab") as f:
            f.write(b"x")

    location = resolve(f"s3://{BUCKET}/abort", **s3)
    with pytest.raises(SourceChangedError):
        store_file(str(src), location, f"{BUCKET}/abort/growing.bin", progress=grow)

    client = s3_client(s3_server)
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


# -- errors that say what happened --------------------------------------------------------------


def test_missing_bucket_names_it(s3: dict[str, Any], tmp_path: Path) -> None:
    run = Run(artifacts_uri="s3://no-such-bucket/aim", **s3)
    with pytest.raises(BucketNotFoundError, match="bucket 'no-such-bucket' does not exist") as info:
        run.log_artifact(small_file(tmp_path), block=True)
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.__cause__ is not None
    run.log_artifact(small_file(tmp_path))
    with pytest.raises(UploadError) as failed:
        run.close()
    assert isinstance(failed.value.failures["c.yaml"], BucketNotFoundError)
    assert run.artifacts == {}


def test_dead_endpoint_names_it(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    run = Run(
        artifacts_uri=f"s3://{BUCKET}/aim",
        key=AWS_KEY,
        secret=AWS_SECRET,
        endpoint_url=dead,
        config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2},
    )
    with pytest.raises(EndpointUnreachableError, match=f"cannot reach the S3 endpoint {dead}"):
        run.log_artifact(small_file(tmp_path), block=True)
    assert run.artifacts == {}


POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::open", "arn:aws:s3:::open/*"],
        }
    ],
}


@pytest.fixture(scope="module")
def s3_with_auth() -> Iterator[tuple[str, dict[str, str]]]:
    """A moto server that checks credentials: a user allowed on bucket `open` only.

    Its first 5 requests (the set-up below) are not checked; every later one is.
    """
    import boto3

    with moto_process(INITIAL_NO_AUTH_ACTION_COUNT="5") as url:
        kwargs = boto3_kwargs(url)
        iam = boto3.client("iam", **kwargs)
        iam.create_user(UserName="trainer")
        key = iam.create_access_key(UserName="trainer")["AccessKey"]
        iam.put_user_policy(UserName="trainer", PolicyName="p", PolicyDocument=json.dumps(POLICY))
        admin = boto3.client("s3", **kwargs)
        admin.create_bucket(Bucket="open")
        admin.create_bucket(Bucket="closed")
        yield url, {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def auth_options(url: str, **creds: str) -> dict[str, Any]:
    return {"endpoint_url": url, "client_kwargs": {"region_name": "us-east-1"}, **creds}


def test_allowed_user_logs(s3_with_auth: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, creds = s3_with_auth
    with Run(artifacts_uri="s3://open/aim", **auth_options(url, **creds)) as run:
        run.log_artifact(small_file(tmp_path), block=True)
    assert list(run.artifacts) == ["c.yaml"]


def test_access_denied(s3_with_auth: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, creds = s3_with_auth
    run = Run(artifacts_uri="s3://closed/aim", **auth_options(url, **creds))
    with pytest.raises(AccessDeniedError, match="access denied to s3://closed/aim/") as info:
        run.log_artifact(small_file(tmp_path), block=True)
    assert isinstance(info.value, PermissionError)
    assert run.artifacts == {}


@pytest.mark.parametrize(
    "creds",
    [{"key": "AKIANOSUCHKEY", "secret": "unknown-key-secret"}, {"secret": "wrong-secret"}],
    ids=["unknown-key", "wrong-secret"],
)
def test_bad_credentials(
    s3_with_auth: tuple[str, dict[str, str]], tmp_path: Path, creds: dict[str, str]
) -> None:
    url, good = s3_with_auth
    options = auth_options(url, **{**good, **creds})
    run = Run(artifacts_uri="s3://open/aim", **options)
    with pytest.raises(InvalidCredentialsError, match="rejected the credentials") as info:
        run.log_artifact(small_file(tmp_path), block=True)
    assert creds["secret"] not in str(info.value)
    run.log_artifact(small_file(tmp_path))
    with pytest.raises(UploadError) as failed:
        run.close()
    assert isinstance(failed.value.failures["c.yaml"], InvalidCredentialsError)


def test_repair_aborts_unfinished_multipart_uploads(
    s3: dict[str, Any], s3_server: str, tmp_path: Path
) -> None:
    run = Run(artifacts_uri=f"s3://{BUCKET}/crash", **s3)
    client = s3_client(s3_server)
    key = f"crash/{run.hash}/model.bin"
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)  # as a killed process
    client.upload_part(
        Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * MiB
    )
    other = client.create_multipart_upload(Bucket=BUCKET, Key="elsewhere/keep.bin")

    assert run.repair() == [f"{BUCKET}/{key}"]
    uploads = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [other["UploadId"]]  # other runs untouched


def test_secrets_never_reach_logs_errors_or_records(
    s3: dict[str, Any], s3_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    S3ArtifactStorage_clientconfig(**boto3_kwargs(s3_server))
    run = Run(artifacts_uri=f"s3://{BUCKET}/secret", **s3)
    run.log_artifact(small_file(tmp_path), block=True)
    run.log_artifact(small_file(tmp_path, "b.txt"), metadata={"note": "x"})
    run.close()
    failing = Run(artifacts_uri="s3://no-such-bucket/x", **s3)
    with pytest.raises(BucketNotFoundError) as info:
        failing.log_artifact(small_file(tmp_path), block=True)

    seen = [caplog.text, repr(run), repr(failing), str(info.value), repr(info.value)]
    seen += [repr(a) for a in run.artifacts.values()]
    seen += [repr(run.location), str(run.verify())]
    client = s3_client(s3_server)
    for obj in client.list_objects_v2(Bucket=BUCKET)["Contents"]:
        seen.append(client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode())
    assert all(AWS_SECRET not in text for text in seen)


def test_conditional_writes_are_probed_not_assumed(s3: dict[str, Any], s3rver: Bucket) -> None:
    """moto refuses a stale If-Match / If-None-Match PUT; s3rver ignores both and overwrites.
    The sidecar's compare-and-swap is used only where the server was seen to honour them."""
    moto_fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3)
    s3rver_fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3rver.options)
    assert has_conditional_writes(moto_fs, f"{BUCKET}/base/run")
    assert not has_conditional_writes(s3rver_fs, f"{s3rver.name}/base/run")
    assert moto_fs.find(BUCKET) == []  # the probes leave nothing behind
    assert s3rver_fs.find(s3rver.name) == []


def test_server_without_conditional_writes_keeps_the_journal(
    s3rver: Bucket, tmp_path: Path
) -> None:
    """Without compare-and-swap no fold may remove entries: two runs folding the same run
    would each drop what the other wrote. Entries stay; reads merge them with the sidecar."""
    uri = f"s3://{s3rver.name}/base"
    first = Run()
    first.set_artifacts_uri(uri, **s3rver.options)
    second = Run(first.hash, artifacts_uri=uri, **s3rver.options)
    for i, run in enumerate((first, second, first, second)):
        (tmp_path / f"{i}.txt").write_text(str(i))
        run.log_artifact(tmp_path / f"{i}.txt", block=True)
    second.close()
    first.close()
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3rver.options)
    assert len(fs.ls(f"{s3rver.name}/base/{first.hash}/.aim-artifacts.d")) == 4
    reopened = Run(first.hash, artifacts_uri=uri, **s3rver.options)
    assert sorted(reopened.artifacts) == ["0.txt", "1.txt", "2.txt", "3.txt"]
