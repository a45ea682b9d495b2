"""Shared fixtures: a real S3 server (moto, over HTTP on 127.0.0.1), isolation, stores."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from aim_artifacts import S3ArtifactStorage_clientconfig, uploader
from tests.server_ftp_webdav import ftp_server, webdav_server
from tests.server_sftp_smb import sftp_server, smb_server
from tests.servers import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    FileServer,
    Middleware,
    S3Server,
    azurite_process,
    fake_gcs_process,
    free_port,
    s3rver_process,
)

# gcsfs reads this at import: without it, gcsfs probes the emulator over gRPC.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

AWS_KEY = "testing-key-id"
AWS_SECRET = "testing-secret-key-do-not-leak"
BUCKET = "artifacts"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No cloud credentials or endpoints from the developer's shell; no ~/.aws config."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AIM_ARTIFACTS_", "AZURE_STORAGE_", "STORAGE_EMULATOR_")):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("aws-home")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    S3ArtifactStorage_clientconfig()  # no client config from an earlier test


def _clear_fsspec() -> None:
    classes = [fsspec.AbstractFileSystem]
    while classes:  # every filesystem class keeps its own instance cache
        cls = classes.pop()
        cls.clear_instance_cache()
        classes.extend(cls.__subclasses__())
    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs[:] = [""]


@pytest.fixture(autouse=True)
def clean_fsspec() -> Iterator[None]:
    """Fresh fsspec instance caches and an empty memory store around each test."""
    _clear_fsspec()
    yield
    _clear_fsspec()


@pytest.fixture(autouse=True)
def forget_open_runs() -> Iterator[None]:
    """Runs a test left open are not closed at interpreter exit, when the servers they were
    stored on are gone (a GCS client then retries a dead port and prints its traceback)."""
    yield
    uploader._open_at_exit.clear()  # the exit hook's set, emptied between tests


@pytest.fixture(scope="session")
def s3_moto() -> Iterator[S3Server]:
    """A moto S3 server (ThreadedMotoServer) on a free 127.0.0.1 port, one per session."""
    server = S3Server(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(s3_moto: S3Server) -> str:
    """The S3 server's URL."""
    return s3_moto.url


@pytest.fixture
def s3_requests(s3_moto: S3Server, s3: dict[str, Any]) -> Middleware:
    """The S3 server's request log (and latency / fault knobs), empty at the test's start."""
    s3_moto.middleware.reset()
    return s3_moto.middleware


def s3_client(endpoint: str) -> Any:
    """A boto3 client for inspecting the test server directly."""
    import boto3

    return boto3.session.Session().client(  # a fresh session: env and config files as now
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AWS_KEY,
        aws_secret_access_key=AWS_SECRET,
        region_name="us-east-1",
    )


@pytest.fixture
def s3(s3_moto: S3Server, s3_server: str) -> dict[str, Any]:
    """The S3 server reset to one empty bucket, ``artifacts``; returns s3fs storage options."""
    import requests

    s3_moto.middleware.reset()  # first: no faults left by a test that failed
    requests.post(f"{s3_server}/moto-api/reset", timeout=10).raise_for_status()
    s3_client(s3_server).create_bucket(Bucket=BUCKET)
    return {
        "key": AWS_KEY,
        "secret": AWS_SECRET,
        "endpoint_url": s3_server,
        "client_kwargs": {"region_name": "us-east-1"},
    }


# -- emulators: each started once per session, a fresh bucket or container per test ------------


@attrs.frozen
class Bucket:
    """A fresh, empty bucket (or Azure container) on an emulator, and options to reach it."""

    protocol: str
    name: str
    options: dict[str, Any]
    secret: str | None = None  # the credential in `options`, which must never be written


def _new_bucket(protocol: str, options: dict[str, Any], secret: str | None = None) -> Bucket:
    bucket = Bucket(protocol, f"t{uuid.uuid4().hex[:20]}", options, secret)
    fsspec.filesystem(protocol, skip_instance_cache=True, **options).mkdir(bucket.name)
    return bucket


@contextlib.contextmanager
def _emulator(server: Any) -> Iterator[str]:
    """Start an npm-installed emulator, or explain why not: a failure in CI, a skip elsewhere."""
    try:
        with server as url:
            yield url
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[str]:
    """Azurite's blob endpoint (the Azure Storage emulator) on 127.0.0.1."""
    with _emulator(azurite_process()) as url:
        yield url


@pytest.fixture(scope="session")
def s3rver_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """s3rver, a second S3 implementation (no conditional writes), on 127.0.0.1."""
    with _emulator(s3rver_process(str(tmp_path_factory.mktemp("s3rver")))) as url:
        yield url


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[str]:
    """fake-gcs-server on 127.0.0.1."""
    with fake_gcs_process() as url:
        yield url


@pytest.fixture
def azure(azurite_server: str) -> Bucket:
    """A new container on Azurite; options for adlfs (a connection string, as users pass)."""
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={azurite_server};"
    )
    return _new_bucket("az", {"connection_string": connection_string}, AZURITE_KEY)


@pytest.fixture
def s3rver(s3rver_server: str) -> Bucket:
    """A new bucket on s3rver; s3fs options."""
    options = {"key": "S3RVER", "secret": "S3RVER", "endpoint_url": s3rver_server}
    return _new_bucket("s3", options, "S3RVER")


@pytest.fixture
def gcs(gcs_server: str) -> Bucket:
    """A new bucket on fake-gcs-server; gcsfs options (anonymous: no secret)."""
    options = {"endpoint_url": gcs_server, "token": "anon", "project": "aim-artifacts-tests"}
    return _new_bucket("gs", options)


# -- file servers: each started once per session, a fresh directory per test --------------------


@pytest.fixture(scope="session")
def file_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Started on first use: SFTP (OpenSSH), SMB (Samba), FTP (pyftpdlib), WebDAV (wsgidav)."""
    starters = {"sftp": sftp_server, "smb": smb_server, "ftp": ftp_server, "webdav": webdav_server}
    with contextlib.ExitStack() as stack:

        def start(name: str) -> FileServer:
            workdir = str(tmp_path_factory.mktemp(name))
            return stack.enter_context(_emulator(starters[name](workdir)))

        yield {"start": start, "running": {}}


def _fresh_dir(file_servers: dict[str, Any], name: str) -> FileServer:
    running = file_servers["running"]
    if name not in running:
        running[name] = file_servers["start"](name)
    server: FileServer = running[name]
    leaf = f"t{uuid.uuid4().hex[:12]}"  # made by the library on first write
    return attrs.evolve(server, root=f"{server.root}/{leaf}", url_root=f"{server.url_root}/{leaf}")


def _directory_fixture(name: str) -> Any:
    @pytest.fixture(name=name)
    def fresh_directory(file_servers: dict[str, Any]) -> FileServer:
        return _fresh_dir(file_servers, name)

    fresh_directory.__doc__ = f"A new directory on the {name} server (made on first write)."
    return fresh_directory


sftp = _directory_fixture("sftp")
smb = _directory_fixture("smb")
ftp = _directory_fixture("ftp")
webdav = _directory_fixture("webdav")


# -- the quick loop: `python -m pytest -m "not slow"` -------------------------------------------

# Fixtures that start a server in another process (the in-process moto server is not one of
# them), and the parameters that reach such a fixture through request.getfixturevalue: the
# backends, crash targets and Aim base URIs named after them.
SLOW_FIXTURES = frozenset(
    {"file_servers", "sftp", "smb", "ftp", "webdav", "s3_with_auth"}
    | {"azurite_server", "azure", "gcs_server", "gcs", "s3rver_server", "s3rver"}
)
SLOW_PARAMS = SLOW_FIXTURES | {"gs://", "az://"}
# The contract suite on S3 through moto (about 0.1 s a request here: 130 s of the quick loop).
# S3 stays in the quick loop through tests/test_s3.py and the S3 cases of the other modules.
BACKEND_FIXTURES = ("backend", "shared_backend", "bucketed_backend")
SLOW_BACKENDS = frozenset({"s3", "chained", "upath-s3"})


def _is_slow(item: pytest.Item) -> bool:
    if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return False
    params = callspec.params
    if any(isinstance(value, str) and value in SLOW_PARAMS for value in params.values()):
        return True
    return any(params.get(name) in SLOW_BACKENDS for name in BACKEND_FIXTURES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` the tests that need a server in another process, and the contract suite on
    S3; test modules mark the rest (browser, crashes, stress)."""
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
