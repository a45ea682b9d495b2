"""Shared fixtures: a real S3 server (moto, over HTTP on 127.0.0.1), isolation, stores."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

AWS_KEY = "testing-key-id"
AWS_SECRET = "testing-secret-key-do-not-leak"
BUCKET = "artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No AWS_* / AIM_ARTIFACTS_* from the developer's shell; no ~/.aws config."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AIM_ARTIFACTS_")):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("aws-home")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def clean_fsspec() -> Iterator[None]:
    """Fresh fsspec instance caches and an empty memory store around each test."""
    fsspec.AbstractFileSystem.clear_instance_cache()
    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs.clear()
    MemoryFileSystem.pseudo_dirs.append("")
    yield
    fsspec.AbstractFileSystem.clear_instance_cache()
    MemoryFileSystem.store.clear()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on a free 127.0.0.1 port, one per test session; yields its URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server: str) -> Iterator[dict[str, object]]:
    """A reset S3 server with bucket ``artifacts``; yields the storage options to reach it."""
    import requests

    requests.post(f"{s3_server}/moto-api/reset", timeout=10).raise_for_status()
    options = {
        "key": AWS_KEY,
        "secret": AWS_SECRET,
        "endpoint_url": s3_server,
        "client_kwargs": {"region_name": "us-east-1"},
    }
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    fs.mkdir(BUCKET)
    yield options
