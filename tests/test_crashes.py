"""SIGKILL in the middle of an upload and of a sidecar update: nothing partial is visible,
nothing acknowledged is lost, and repair() cleans up. Exit hooks finish pending uploads."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import attrs
import fsspec
import pytest

from aim_artifacts import Run
from conftest import s3_client
from tests import workers

pytestmark = pytest.mark.slow  # child processes killed mid-write, 128 MiB uploads at exit

MiB = 2**20


@attrs.frozen
class Target:
    uri: str
    options: dict[str, Any]
    fs: Any  # a raw view of the store
    root: str  # `uri` as a path of `fs`

    def __iter__(self) -> Any:
        return iter((self.uri, self.options))


def make_target(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if name == "s3":
        options = request.getfixturevalue("s3")
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
        return Target("s3://artifacts/crash", options, fs, "artifacts/crash")
    if name == "path":
        root = str(tmp_path / "store")
        return Target(root, {}, fsspec.filesystem("file"), root)
    if name in {"gcs", "azure"}:  # a new bucket or container on an emulator
        bucket = request.getfixturevalue(name)
        fs = fsspec.filesystem(bucket.protocol, skip_instance_cache=True, **bucket.options)
        uri = f"{bucket.protocol}://{bucket.name}/crash"
        return Target(uri, bucket.options, fs, f"{bucket.name}/crash")
    server = request.getfixturevalue(name)
    fs = fsspec.filesystem(server.protocol, skip_instance_cache=True, **server.options)
    return Target(server.url_root, server.options, fs, server.root)


@pytest.fixture(params=["path", "s3", "sftp", "ftp", "smb", "webdav"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return make_target(request.param, request, tmp_path)


@pytest.fixture(params=["path", "s3"])
def local_or_s3(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return make_target(request.param, request, tmp_path)


def kill_in_the_middle(target: Any, args: tuple[Any, ...]) -> None:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    assert parent.poll(300), "the child never reached the middle"
    assert parent.recv() == "in the middle"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=60)
    assert proc.exitcode == -signal.SIGKILL


def kill_a_relog(target: Target, tmp_path: Path, size: int, after: int) -> tuple[Run, Path]:
    """Log ``model.bin`` (11 bytes), then kill a process logging it again from a file of
    `size` bytes once `after` bytes have moved; the run reopened (its record and object
    checked to be the first version's, and `verify` clean) and that file."""
    uri, options = target
    (tmp_path / "v1.bin").write_bytes(b"version one")
    with Run(artifacts_uri=uri, **options) as run:
        v1 = run.log_artifact(tmp_path / "v1.bin", name="model.bin", block=True)
    big = tmp_path / "v2.bin"
    with open(big, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))

    kill_in_the_middle(workers.log_until_killed, (run.hash, uri, options, str(big), after))

    again = Run(run.hash, artifacts_uri=uri, **options)
    assert again.artifacts == {"model.bin": again.artifacts["model.bin"]}
    assert again.artifacts["model.bin"].sha256 == v1.sha256  # no record of the killed upload
    assert Path(again.artifacts["model.bin"].download(tmp_path / "out")).read_bytes() == (
        b"version one"
    )
    assert again.verify().ok  # leftovers are never artifacts
    return again, big


def test_killed_upload_leaves_the_earlier_version_intact(target: Target, tmp_path: Path) -> None:
    uri, options = target
    again, big = kill_a_relog(target, tmp_path, 256 * MiB, 64 * MiB)
    if uri.startswith("s3://") or "://" not in uri:
        assert again.repair() == []  # the killed upload can be resumed: kept a while
    removed = again.repair(keep_resumable=dt.timedelta(0))
    assert len(removed) == 1
    if uri.startswith("s3://"):
        client = s3_client(options["endpoint_url"])
        assert client.list_multipart_uploads(Bucket="artifacts").get("Uploads", []) == []
    else:
        target.fs.invalidate_cache()
        stored = target.fs.find(f"{target.root}/{again.hash}")
        assert [p for p in stored if p.rsplit("/", 1)[-1].startswith(".aim-artifacts-tmp-")] == []

    v2 = again.log_artifact(big, name="model.bin", block=True)  # the next process can log it
    assert v2.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()


@pytest.fixture(params=["gcs", "azure"])
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return make_target(request.param, request, tmp_path)


def test_killed_upload_to_an_object_store_leaves_the_earlier_version(
    object_store: Target, tmp_path: Path
) -> None:
    """GCS and Azure are learned to be object stores: small objects are written in place,
    large ones by the backend's own upload to a temp name, then moved. A killed upload
    leaves the earlier version and record; `repair` removes at most the temp object (adlfs
    reports progress only once its upload is committed, so the kill comes after that)."""
    again, big = kill_a_relog(object_store, tmp_path, 96 * MiB, 32 * MiB)
    assert again.location is not None
    assert again.location.storage.direct  # its mkdir made no directory: objects appear whole
    removed = again.repair(keep_resumable=dt.timedelta(0))
    assert all(name.startswith(".aim-artifacts-tmp-") for name in removed)
    assert len(removed) <= 1
    object_store.fs.invalidate_cache()
    stored = object_store.fs.find(f"{object_store.root}/{again.hash}")
    names = [p.split(f"{again.hash}/", 1)[1] for p in stored]
    assert [n for n in names if not n.startswith(".aim-artifacts")] == ["model.bin"]
    assert [n for n in names if ".aim-artifacts-tmp-" in n] == []
    v2 = again.log_artifact(big, name="model.bin", block=True)  # the next process can log it
    assert v2.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()


def test_killed_directory_upload_shows_and_records_nothing(target: Target, tmp_path: Path) -> None:
    uri, options = target
    with Run(artifacts_uri=uri, **options) as run:
        run.log_bytes(b"x", "warmup")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for i in range(12):  # enough to be staged where files are renamed into place
        (ckpt / f"shard-{i:02d}.bin").write_bytes(os.urandom(MiB))

    kill_in_the_middle(workers.log_until_killed, (run.hash, uri, options, str(ckpt), 4 * MiB))

    again = Run(run.hash, artifacts_uri=uri, **options)
    assert list(again.artifacts) == ["warmup"]
    target.fs.invalidate_cache()
    # none where files are staged; elsewhere only whole ones
    for path in target.fs.find(f"{target.root}/{run.hash}/ckpt"):
        assert target.fs.cat_file(path) == (ckpt / path.rsplit("/", 1)[1]).read_bytes()
    again.repair()
    target.fs.invalidate_cache()
    found = target.fs.find(f"{target.root}/{run.hash}", withdirs=True)
    names = [p.split(f"{run.hash}/", 1)[1] for p in found if f"{run.hash}/" in p]
    assert [n for n in names if ".aim-artifacts-tmp-" in n] == []  # files and folders gone
    arts = again.log_artifacts(ckpt, block=True)  # the next process can log it
    assert len(arts) == 12 and again.verify().ok


def test_killed_sidecar_update_loses_no_record(target: Target, tmp_path: Path) -> None:
    uri, options = target
    (tmp_path / "early.txt").write_text("early")
    with Run(artifacts_uri=uri, **options) as run:
        run.log_artifact(tmp_path / "early.txt", block=True)

    kill_in_the_middle(workers.fold_until_killed, (run.hash, uri, options, str(tmp_path)))

    again = Run(run.hash, artifacts_uri=uri, **options)
    fs, sidecar = target.fs, f"{target.root}/{run.hash}/.aim-artifacts.json"
    fs.invalidate_cache()
    assert list(json.loads(fs.cat_file(sidecar))["artifacts"]) == ["early.txt"]  # parses
    expected = sorted(["early.txt", *(f"late-{i}.txt" for i in range(10))])
    assert sorted(again.artifacts) == expected  # the journal still has every record
    removed = again.repair()  # any unrenamed sidecar temp file, then a fresh fold
    assert all(name.startswith(".aim-artifacts-tmp-") for name in removed)
    assert len(removed) == (0 if uri.startswith("s3://") else 1)
    fs.invalidate_cache()
    assert len(json.loads(fs.cat_file(sidecar))["artifacts"]) == 11


EXIT_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from aim_artifacts import Run
    run = Run()
    run.set_artifacts_uri(sys.argv[1])
    with open(sys.argv[2], "wb") as f:
        for _ in range(int(sys.argv[3])):
            f.write(os.urandom(2**20))
    run.log_artifact(sys.argv[2], name="big.bin")  # block=False: still pending at exit
    print(run.hash)
    """
)


def s3_env(endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_pending_upload_is_finished_at_interpreter_exit(
    local_or_s3: Target, tmp_path: Path
) -> None:
    uri, options = local_or_s3
    env = s3_env(options["endpoint_url"]) if options else None
    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, uri, str(tmp_path / "big.bin"), "128"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    run_hash = out.stdout.strip()
    again = Run(run_hash, artifacts_uri=uri, **options)
    record = again.artifacts["big.bin"]
    assert record.size == 128 * MiB
    assert record.sha256 == hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest()
    local_or_s3.fs.invalidate_cache()
    assert local_or_s3.fs.exists(f"{local_or_s3.root}/{run_hash}/.aim-artifacts.json")


def test_failure_at_exit_is_reported_on_stderr(tmp_path: Path, s3_server: str) -> None:
    env = s3_env(s3_server)
    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, "s3://no-such-bucket/x", str(tmp_path / "b"), "1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "bucket 'no-such-bucket' does not exist" in out.stderr
    assert "'big.bin'" in out.stderr
